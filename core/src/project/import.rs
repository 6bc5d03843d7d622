//! `import drizzle`: a drizzle-kit 0.x folder (PostgreSQL) becomes this tool's migrations
//! folder. The SQL files are kept byte for byte, so their SHA-256 is the one drizzle's
//! migrator recorded in `drizzle.__drizzle_migrations`, and `migrate` recognises what
//! drizzle applied.
//!
//! drizzle-kit's own snapshots are not converted. Each snapshot of the new folder is what
//! its migration left in a scratch database the history is replayed into
//! ([`crate::runner::scratch::replay_each`], by the runner, as `migrate` will run it): so
//! it holds what the SQL made — hand-written migrations, names PostgreSQL truncated or
//! folded to lower case, entries drizzle-kit wrote no snapshot for — in the catalog's own
//! spelling, the one `drift` compares in. This module reads the folder and lays out the
//! files; the replay is the runner's.

use crate::dialect::Dialect;
use crate::project::hash;
use crate::project::journal::{ImportedFrom, Journal, JournalEntry};
use crate::project::snapshot::{ORIGIN_ID, SNAPSHOT_VERSION, Snapshot, to_pretty_json};
use crate::schema::model::Schema;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why a drizzle folder cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("{}: {source}", .path.display())]
    #[allow(missing_docs)] // the field names say what they hold
    Io {
        /// The file, or the folder whose listing failed.
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file is not what drizzle-kit writes.
    #[error("{}: {message}", .path.display())]
    Format {
        /// The file or folder at fault: the journal, a SQL file, a drizzle-kit v1 migration
        /// folder, or `--from` itself.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The migrations folder already has migrations.
    #[error("{}: already holds migrations; import into a project without any (move them aside first)", .0.display())]
    NotEmpty(PathBuf),
}

/// A drizzle-kit folder as read: its migrations in journal order.
#[derive(Debug, Clone)]
pub struct DrizzleFolder {
    /// The migrations, in journal order.
    pub migrations: Vec<DrizzleMigration>,
    /// SQL files beside them that the journal does not name (drizzle's migrator never ran
    /// them), by file name.
    pub unlisted: Vec<String>,
}

/// One migration of a drizzle-kit folder.
#[derive(Debug, Clone)]
pub struct DrizzleMigration {
    /// Its tag: the SQL file's stem, whatever prefix drizzle-kit gave it.
    pub tag: String,
    /// The journal's `when` (drizzle's migrator records it as `created_at`).
    pub when: u64,
    /// The file, byte for byte.
    pub sql: Vec<u8>,
}

/// The folder laid out for this tool, ready to be written.
#[derive(Debug, Clone)]
pub struct DrizzleImport {
    /// The files: SQL (verbatim), snapshots, the journal last.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// The tags, in order.
    pub migrations: Vec<String>,
    /// The last snapshot's schema.
    pub schema: Schema,
}

#[derive(Deserialize)]
struct DrizzleJournal {
    version: String,
    dialect: String,
    entries: Vec<DrizzleEntry>,
}

#[derive(Deserialize)]
struct DrizzleEntry {
    idx: u32,
    when: u64,
    tag: String,
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_owned(),
        source,
    })
}

/// drizzle's migrator's default history table.
pub const DRIZZLE_HISTORY: &str = "drizzle.__drizzle_migrations";

/// Reads the drizzle-kit folder `from`: drizzle-kit 0.x's (`meta/_journal.json` and the
/// SQL files it names; any tag prefix drizzle-kit writes, `index`, `timestamp`, `unix`,
/// `supabase` or `none`), or v1's (one folder per migration, no journal). Snapshots are
/// not read.
pub fn read_drizzle_folder(from: &Path) -> Result<DrizzleFolder, ImportError> {
    let journal_path = from.join("meta").join("_journal.json");
    if !journal_path.exists() {
        return read_v1_folder(from);
    }
    let journal: DrizzleJournal =
        serde_json::from_slice(&read(&journal_path)?).map_err(|e| ImportError::Format {
            path: journal_path.clone(),
            message: format!("not a drizzle-kit journal: {e}"),
        })?;
    // Versions 5 to 7 of the journal share the fields read here; 5 and 6 said `pg`.
    if !matches!(journal.dialect.as_str(), "postgresql" | "pg")
        || !matches!(journal.version.as_str(), "5" | "6" | "7")
    {
        return Err(ImportError::Format {
            path: journal_path,
            message: format!(
                "journal version `{}` for `{}`: import reads drizzle-kit 0.x journals (versions 5 to 7) for postgresql",
                journal.version, journal.dialect
            ),
        });
    }
    let mut migrations = Vec::new();
    for (position, entry) in journal.entries.iter().enumerate() {
        if entry.idx as usize != position {
            return Err(ImportError::Format {
                path: journal_path.clone(),
                message: format!(
                    "entry `{}` has idx {} at position {position}; the journal's entries must be numbered from 0 in order",
                    entry.tag, entry.idx
                ),
            });
        }
        // The tag names a file to read here and one to write in the project.
        crate::project::journal::check_tag(&entry.tag).map_err(|why| ImportError::Format {
            path: journal_path.clone(),
            message: format!("entries[{position}].tag: {why}"),
        })?;
        if migrations
            .iter()
            .any(|m: &DrizzleMigration| m.tag == entry.tag)
        {
            return Err(ImportError::Format {
                path: journal_path.clone(),
                message: format!(
                    "entries[{position}].tag: `{}` appears twice (a bad merge?); keep one",
                    entry.tag
                ),
            });
        }
        let sql_path = from.join(format!("{}.sql", entry.tag));
        let sql = read(&sql_path)?;
        if std::str::from_utf8(&sql).is_err() {
            return Err(ImportError::Format {
                path: sql_path,
                message: "is not UTF-8".to_owned(),
            });
        }
        migrations.push(DrizzleMigration {
            tag: entry.tag.clone(),
            when: entry.when,
            sql,
        });
    }
    if migrations.is_empty() {
        return Err(ImportError::Format {
            path: journal_path,
            message: "the journal has no migrations".to_owned(),
        });
    }
    let listing = std::fs::read_dir(from).map_err(|source| ImportError::Io {
        path: from.to_owned(),
        source,
    })?;
    let mut unlisted: Vec<String> = listing
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| {
            f.strip_suffix(".sql")
                .is_some_and(|tag| !migrations.iter().any(|m| m.tag == tag))
        })
        .collect();
    unlisted.sort();
    Ok(DrizzleFolder {
        migrations,
        unlisted,
    })
}

/// drizzle-kit v1 (the 1.0 release candidates) writes no journal: each migration is a
/// folder `<YYYYMMDDHHMMSS>_<name>/` holding `migration.sql` (and `snapshot.json`). Its
/// migrator applies them in the folders' name order, records the SHA-256 of
/// `migration.sql`, the folder's name, and as `created_at` the folder's timestamp read as
/// UTC to the second (drizzle-orm's `migrator.ts` on the v1 line); the tag here is the
/// folder's name.
fn read_v1_folder(from: &Path) -> Result<DrizzleFolder, ImportError> {
    let listing = std::fs::read_dir(from).map_err(|source| ImportError::Io {
        path: from.to_owned(),
        source,
    })?;
    let mut folders: Vec<String> = listing
        .flatten()
        .filter(|e| e.path().join("migration.sql").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if folders.is_empty() {
        return Err(ImportError::Format {
            path: from.to_owned(),
            message: "neither meta/_journal.json (drizzle-kit 0.x) nor `<timestamp>_<name>/migration.sql` folders (drizzle-kit v1) are here; --from names drizzle-kit's `out` folder".to_owned(),
        });
    }
    folders.sort();
    let mut migrations = Vec::new();
    for folder in folders {
        let at = from.join(&folder);
        crate::project::journal::check_tag(&folder).map_err(|why| ImportError::Format {
            path: at.clone(),
            message: why,
        })?;
        let when = folder.get(..14).and_then(utc_millis).ok_or_else(|| ImportError::Format {
            path: at.clone(),
            message: "the folder's name does not start with the UTC timestamp drizzle-kit v1 gives it (YYYYMMDDHHMMSS), which its migrator records".to_owned(),
        })?;
        let sql_path = at.join("migration.sql");
        let sql = read(&sql_path)?;
        if std::str::from_utf8(&sql).is_err() {
            return Err(ImportError::Format {
                path: sql_path,
                message: "is not UTF-8".to_owned(),
            });
        }
        migrations.push(DrizzleMigration {
            tag: folder,
            when,
            sql,
        });
    }
    Ok(DrizzleFolder {
        migrations,
        unlisted: Vec::new(),
    })
}

/// `YYYYMMDDHHMMSS` read as UTC, in milliseconds since the epoch, as JavaScript's
/// `Date.UTC` reads it; `None` when it is not such a time. (The days are counted with the
/// civil-calendar formula of Howard Hinnant's `days_from_civil`: a date crate for this
/// one conversion would sit on `generate`'s build path.)
fn utc_millis(stamp: &str) -> Option<u64> {
    if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |from: usize, to: usize| stamp[from..to].parse::<i64>().ok();
    let (year, month, day) = (part(0, 4)?, part(4, 6)?, part(6, 8)?);
    let (hour, minute, second) = (part(8, 10)?, part(10, 12)?, part(12, 14)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(((days * 24 + hour) * 60 + minute) * 60 + second)
        .ok()
        .map(|seconds| seconds * 1000)
}

/// The journal of the imported folder: drizzle's tags and times, each file's hash, and
/// where drizzle's migrator kept its history (`schema.table`), so that `migrate` reads it.
pub fn journal(folder: &DrizzleFolder, history: &str) -> Journal {
    let entries = folder
        .migrations
        .iter()
        .enumerate()
        .map(|(idx, m)| JournalEntry {
            idx: idx as u32,
            version: SNAPSHOT_VERSION.to_owned(),
            when: m.when,
            tag: m.tag.clone(),
            breakpoints: true,
            hash: hash::migration_hash(&m.sql),
        })
        .collect();
    Journal {
        entries,
        imported_from: Some(ImportedFrom {
            tool: "drizzle-kit".to_owned(),
            history: history.to_owned(),
            migrations: Some(folder.migrations.len()),
        }),
        ..Journal::default()
    }
}

/// Lays out the import into the migrations folder `out`: the SQL files verbatim, one
/// snapshot per migration (`schemas`, what each left, in order), the journal last.
pub fn plan_drizzle_import(
    folder: &DrizzleFolder,
    schemas: Vec<Schema>,
    out: &Path,
    dialect: Dialect,
    history: &str,
) -> Result<DrizzleImport, ImportError> {
    if out.join("meta").join("_journal.json").exists() {
        return Err(ImportError::NotEmpty(out.to_owned()));
    }
    assert_eq!(
        schemas.len(),
        folder.migrations.len(),
        "one schema per migration"
    );
    let mut files = Vec::new();
    let mut prev_id = ORIGIN_ID.to_owned();
    let mut last = Schema::default();
    for (idx, (m, schema)) in folder.migrations.iter().zip(schemas).enumerate() {
        crate::project::snapshot::check_names(&schema).map_err(|e| ImportError::Format {
            path: PathBuf::from(format!("{}.sql", m.tag)),
            message: format!("what it leaves cannot be a snapshot: {e}"),
        })?;
        let snapshot = Snapshot::new(dialect, &prev_id, &m.tag, schema.clone());
        prev_id = snapshot.id.clone();
        files.push((out.join(format!("{}.sql", m.tag)), m.sql.clone()));
        files.push((
            out.join("meta").join(format!("{idx:04}_snapshot.json")),
            snapshot.to_json().into_bytes(),
        ));
        last = schema;
    }
    files.push((
        out.join("meta").join("_journal.json"),
        to_pretty_json(&journal(folder, history)).into_bytes(),
    ));
    Ok(DrizzleImport {
        files,
        migrations: folder.migrations.iter().map(|m| m.tag.clone()).collect(),
        schema: last,
    })
}

impl crate::error::Classified for ImportError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        match self {
            ImportError::Io { .. } => "io",
            _ => "import",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with(journal: serde_json::Value, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("meta")).unwrap();
        std::fs::write(dir.path().join("meta/_journal.json"), journal.to_string()).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn every_prefix_drizzle_kit_writes_is_read_and_snapshots_are_not_needed() {
        let journal = serde_json::json!({"version": "7", "dialect": "postgresql", "entries": [
            {"idx": 0, "version": "7", "when": 1700000000000u64, "tag": "20231114221320_init", "breakpoints": true},
            {"idx": 1, "version": "7", "when": 1700000000001u64, "tag": "1700000000_unix", "breakpoints": true},
            {"idx": 2, "version": "7", "when": 1700000000002u64, "tag": "plain_name", "breakpoints": false}]});
        let dir = folder_with(
            journal,
            &[
                ("20231114221320_init.sql", "CREATE TABLE a (id int);"),
                ("1700000000_unix.sql", "SELECT 1;"),
                ("plain_name.sql", "SELECT 2;"),
                ("0003_forgotten.sql", "SELECT 3;"),
            ],
        );
        let folder = read_drizzle_folder(dir.path()).unwrap();
        assert_eq!(
            folder.unlisted,
            ["0003_forgotten.sql"],
            "a file the journal does not name is said, not imported"
        );
        assert_eq!(
            folder
                .migrations
                .iter()
                .map(|m| m.tag.as_str())
                .collect::<Vec<_>>(),
            ["20231114221320_init", "1700000000_unix", "plain_name"]
        );
        let journal = super::journal(&folder, DRIZZLE_HISTORY);
        assert_eq!(journal.entries[1].when, 1700000000001);
        assert_eq!(
            journal.entries[0].hash,
            hash::migration_hash(b"CREATE TABLE a (id int);")
        );
    }

    #[test]
    fn drizzle_kit_v1_folders_are_read_in_name_order_with_their_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        for (folder, sql) in [
            ("20251120153629_exotic_eternals", "CREATE TABLE a (id int);"),
            ("20240229000001_leap", "SELECT 1;"),
        ] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
            std::fs::write(dir.path().join(folder).join("migration.sql"), sql).unwrap();
            std::fs::write(dir.path().join(folder).join("snapshot.json"), "{}").unwrap();
        }
        let folder = read_drizzle_folder(dir.path()).unwrap();
        let read: Vec<(&str, u64)> = folder
            .migrations
            .iter()
            .map(|m| (m.tag.as_str(), m.when))
            .collect();
        // Date.UTC(2024, 1, 29, 0, 0, 1) and Date.UTC(2025, 10, 20, 15, 36, 29).
        assert_eq!(
            read,
            [
                ("20240229000001_leap", 1_709_164_801_000),
                ("20251120153629_exotic_eternals", 1_763_652_989_000)
            ]
        );
        std::fs::create_dir_all(dir.path().join("not_a_time")).unwrap();
        std::fs::write(dir.path().join("not_a_time/migration.sql"), "SELECT 1;").unwrap();
        assert!(
            read_drizzle_folder(dir.path())
                .unwrap_err()
                .to_string()
                .contains("YYYYMMDDHHMMSS")
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(
            read_drizzle_folder(empty.path())
                .unwrap_err()
                .to_string()
                .contains("neither meta/_journal.json")
        );
    }

    #[test]
    fn a_folder_that_is_not_drizzle_kit_s_is_refused_naming_the_file() {
        let mysql = folder_with(
            serde_json::json!({"version": "7", "dialect": "mysql", "entries": []}),
            &[],
        );
        assert!(
            read_drizzle_folder(mysql.path())
                .unwrap_err()
                .to_string()
                .contains("for `mysql`")
        );
        let escaping = folder_with(
            serde_json::json!({"version": "7", "dialect": "postgresql", "entries": [{"idx": 0, "when": 1, "tag": "../x", "breakpoints": true}]}),
            &[],
        );
        assert!(
            read_drizzle_folder(escaping.path())
                .unwrap_err()
                .to_string()
                .contains("outside the migrations folder")
        );
        let missing = folder_with(
            serde_json::json!({"version": "7", "dialect": "postgresql", "entries": [{"idx": 0, "when": 1, "tag": "0000_x", "breakpoints": true}]}),
            &[],
        );
        assert!(
            read_drizzle_folder(missing.path())
                .unwrap_err()
                .to_string()
                .contains("0000_x.sql")
        );
        let twice = folder_with(
            serde_json::json!({"version": "7", "dialect": "postgresql", "entries": [{"idx": 0, "when": 1, "tag": "a", "breakpoints": true}, {"idx": 1, "when": 2, "tag": "a", "breakpoints": true}]}),
            &[("a.sql", "SELECT 1;")],
        );
        assert!(
            read_drizzle_folder(twice.path())
                .unwrap_err()
                .to_string()
                .contains("appears twice")
        );
    }
}
