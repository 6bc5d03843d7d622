//! The migrations a runner applies: read from a folder, or embedded in the binary by
//! `embed_migrations!`. Either way the journal and the SQL files must agree.

use crate::project::hash;
use crate::project::journal::Journal;
use crate::runner::base::error::RunError;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One migration, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMigration {
    /// Journal tag (`NNNN_name`).
    pub tag: String,
    /// Journal `when`.
    pub when: i64,
    /// SHA-256 of the file as it is now (normalised bytes, see [`crate::project::hash`]).
    pub hash: String,
    /// Statements, split on the breakpoints.
    pub statements: Vec<String>,
    /// Where it came from, for messages.
    pub origin: String,
}

/// Migrations compiled into a binary by `embed_migrations!`.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedMigrations {
    /// The folder it was read from, for messages.
    pub folder: &'static str,
    /// `meta/_journal.json`.
    pub journal: &'static str,
    /// Every `*.sql` file of the folder: `(file stem, contents)`.
    pub files: &'static [(&'static str, &'static str)],
    /// The permissions file, `(path as written, contents)`, when the macro names one.
    pub permissions: Option<(&'static str, &'static str)>,
}

/// All migrations in journal order.
#[derive(Debug, Clone, Default)]
pub struct MigrationSet {
    /// In journal order.
    pub migrations: Vec<LocalMigration>,
    /// Folder or binary they came from.
    pub origin: String,
    /// For a folder `import drizzle` made: where drizzle's migrator recorded what it applied.
    pub drizzle: Option<DrizzleHistory>,
}

/// drizzle-kit's history of an imported folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrizzleHistory {
    /// The table, `(schema, table)`.
    pub schema: String,
    /// The table's name.
    pub table: String,
    /// SHA-256 of each imported migration's file as it is, byte for byte (drizzle hashes
    /// the raw file; [`LocalMigration::hash`] is over the normalised bytes), in journal
    /// order: one for each of the folder's first migrations that came from drizzle-kit.
    pub raw_hashes: Vec<String>,
}

impl MigrationSet {
    /// Reads a migrations folder.
    pub fn from_folder(dir: &Path) -> Result<MigrationSet, RunError> {
        let journal_path = dir.join("meta").join("_journal.json");
        let journal_text = std::fs::read_to_string(&journal_path).map_err(|e| {
            RunError::Source(vec![format!(
                "{}: {e} (is --folder the folder `generate` writes to?)",
                journal_path.display()
            )])
        })?;
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| RunError::Source(vec![format!("{}: {e}", dir.display())]))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "sql") && path.is_file() {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let text = std::fs::read(&path)
                    .map_err(|e| RunError::Source(vec![format!("{}: {e}", path.display())]))?;
                files.push((stem, text, path));
            }
        }
        // The snapshots hold SQL (defaults, checks, types) that `squash` and `generate`
        // write into migrations: a folder holding one whose values are refused is not
        // run, whatever its SQL files say. (Text that is not JSON at all is `check`'s to
        // list; it cannot reach a migration.)
        let mut refused = Vec::new();
        for entry in std::fs::read_dir(dir.join("meta"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("_snapshot.json"))
            {
                match crate::project::folder::read_snapshot_file(&path) {
                    Err(crate::project::folder::FolderError::Snapshot { problem, .. }) if problem.is_syntax() => {}
                    Err(e) => refused.push(format!("{e}; restore it from version control (snapshots are written by `generate`, `squash` and `import`)")),
                    Ok(_) => {}
                }
            }
        }
        if !refused.is_empty() {
            refused.sort();
            return Err(RunError::Source(refused));
        }
        Self::build(
            &journal_text,
            &journal_path.display().to_string(),
            files,
            &dir.display().to_string(),
        )
    }

    /// Uses migrations embedded at compile time.
    pub fn from_embedded(embedded: &EmbeddedMigrations) -> Result<MigrationSet, RunError> {
        let files = embedded
            .files
            .iter()
            .map(|(stem, text)| {
                (
                    (*stem).to_owned(),
                    text.as_bytes().to_vec(),
                    PathBuf::from(format!("{}/{stem}.sql", embedded.folder)),
                )
            })
            .collect();
        Self::build(
            embedded.journal,
            &format!("{}/meta/_journal.json", embedded.folder),
            files,
            &format!("{} (embedded)", embedded.folder),
        )
    }

    /// Migrations held in memory: a journal and its SQL files, `(tag, bytes)` (the
    /// replay of `import drizzle`, before anything is written). `origin` names them in messages.
    pub fn from_memory(
        journal: &Journal,
        files: &[(String, Vec<u8>)],
        origin: &str,
    ) -> Result<MigrationSet, RunError> {
        let text = crate::project::snapshot::to_pretty_json(journal);
        let files = files
            .iter()
            .map(|(tag, bytes)| {
                (
                    tag.clone(),
                    bytes.clone(),
                    PathBuf::from(format!("{origin}/{tag}.sql")),
                )
            })
            .collect();
        Self::build(
            &text,
            &format!("{origin}/meta/_journal.json"),
            files,
            origin,
        )
    }

    fn build(
        journal_text: &str,
        journal_name: &str,
        files: Vec<(String, Vec<u8>, PathBuf)>,
        origin: &str,
    ) -> Result<MigrationSet, RunError> {
        let journal = Journal::parse(journal_text.as_bytes()).map_err(|e| {
            RunError::Source(vec![format!(
                "{journal_name}: {e}; {}",
                crate::project::journal::JournalProblem::FIX
            )])
        })?;
        let mut problems = Vec::new();
        let tags: BTreeSet<&str> = journal.entries.iter().map(|e| e.tag.as_str()).collect();
        for tag in &tags {
            let times = journal.entries.iter().filter(|e| e.tag == *tag).count();
            if times > 1 {
                problems.push(format!("{journal_name}: entry `{tag}` appears {times} times (a bad merge?); keep one, or it would be applied twice"));
            }
        }
        for (stem, _, path) in &files {
            if !tags.contains(stem.as_str()) {
                problems.push(format!(
                    "{} has no entry in {journal_name}: add it with `generate`, or delete the file",
                    path.display()
                ));
            }
        }
        let mut migrations = Vec::new();
        let mut raw_hashes = Vec::new();
        for entry in &journal.entries {
            match files.iter().find(|(stem, _, _)| *stem == entry.tag) {
                None => problems.push(format!(
                    "journal entry `{}` has no file {}.sql in {origin}",
                    entry.tag, entry.tag
                )),
                // The statements are cut from the bytes the hash covers (no BOM, LF line
                // ends), so what runs is exactly what was hashed.
                Some((_, bytes, path)) => match String::from_utf8(hash::normalized(bytes)) {
                    Err(_) => problems.push(format!("{} is not UTF-8", path.display())),
                    Ok(text) => migrations.push({
                        raw_hashes.push(hash::sha256_hex(bytes));
                        LocalMigration {
                            tag: entry.tag.clone(),
                            when: entry.when as i64,
                            hash: hash::migration_hash(bytes),
                            statements: crate::sql::split::split_statements(&text),
                            origin: path.display().to_string(),
                        }
                    }),
                },
            }
        }
        let drizzle = match &journal.imported_from {
            Some(from) if from.tool == "drizzle-kit" => match from.history.split_once('.') {
                Some((schema, table))
                    if !schema.is_empty() && !table.is_empty() && !table.contains('.') =>
                {
                    // Only the migrations that came from drizzle-kit can be in its history.
                    let mut raw_hashes = raw_hashes;
                    raw_hashes.truncate(from.migrations.unwrap_or(usize::MAX));
                    Some(DrizzleHistory {
                        schema: schema.to_owned(),
                        table: table.to_owned(),
                        raw_hashes,
                    })
                }
                _ => {
                    problems.push(format!(
                        "{journal_name}: importedFrom.history `{}` is not `schema.table`",
                        from.history
                    ));
                    None
                }
            },
            Some(from) => {
                problems.push(format!("{journal_name}: importedFrom.tool `{}` is not one this version reads (drizzle-kit)", from.tool));
                None
            }
            None => None,
        };
        if !problems.is_empty() {
            return Err(RunError::Source(problems));
        }
        Ok(MigrationSet {
            migrations,
            origin: origin.to_owned(),
            drizzle,
        })
    }
}
