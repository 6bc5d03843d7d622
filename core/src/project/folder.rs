//! The migrations folder: SQL files, snapshots and the journal, read and checked together.

use crate::project::hash;
use crate::project::journal::{Journal, JournalEntry};
use crate::project::snapshot::{ORIGIN_ID, Snapshot};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// The folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// A file could not be read.
    #[error("read {}: {source}", path.display())]
    #[allow(missing_docs)] // the field names say what they hold
    Io {
        /// The journal, SQL file or snapshot.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A snapshot is not JSON, or holds a value this tool refuses to read.
    #[error("read {}: {problem}", path.display())]
    Snapshot {
        /// The snapshot file (`meta/NNNN_snapshot.json`).
        path: PathBuf,
        /// The key and what is wrong with it.
        problem: crate::project::snapshot::SnapshotError,
    },
    /// The journal is not one this tool wrote, or names a file it must not touch.
    #[error("read {}: {problem}", path.display())]
    Journal {
        /// The journal file (`meta/_journal.json`).
        path: PathBuf,
        /// The key and what is wrong with it.
        problem: crate::project::journal::JournalProblem,
    },
    /// `rehash --tag` named no journal entry.
    #[error("rehash: no journal entry `{tag}` in {}; `tablewright check` lists the entries", journal.display())]
    UnknownTag {
        /// The tag asked for.
        tag: String,
        /// The journal searched.
        journal: PathBuf,
    },
    /// The new journal could not be written (nothing was changed).
    #[error(transparent)]
    Write(#[from] crate::project::fsio::WriteError),
}

/// A journal entry whose recorded hash `rehash` replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Rehashed {
    /// The migration's journal tag (`0003_add_books`).
    pub tag: String,
    /// The hash the journal held.
    pub recorded: String,
    /// The hash of the file as it is now.
    pub actual: String,
}

/// A migrations folder.
#[derive(Debug, Clone)]
pub struct MigrationFolder {
    /// The folder (`out` in the config).
    pub dir: PathBuf,
    /// Its journal (empty when the file does not exist yet).
    pub journal: Journal,
}

/// An inconsistency between journal, SQL files and snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)] // variant fields are named for what they hold
pub enum FolderProblem {
    /// A journal entry without its SQL file.
    MissingSqlFile { tag: String, path: PathBuf },
    /// A journal entry without its snapshot.
    MissingSnapshot { tag: String, path: PathBuf },
    /// A SQL file no journal entry names.
    UnjournaledSql { path: PathBuf },
    /// A snapshot no journal entry names.
    UnjournaledSnapshot { path: PathBuf },
    /// A committed SQL file whose bytes no longer match the recorded hash.
    Edited {
        tag: String,
        path: PathBuf,
        recorded: String,
        actual: String,
    },
    /// A snapshot whose `prevId` is not the previous entry's snapshot id.
    BrokenChain {
        tag: String,
        expected_prev_id: String,
        found_prev_id: String,
    },
    /// Several snapshots follow the same parent: two branches each generated a migration.
    Fork {
        prev_id: String,
        snapshots: Vec<PathBuf>,
    },
    /// Journal entries out of sequence.
    BadIndex {
        tag: String,
        expected: u32,
        found: u32,
    },
    /// Two journal entries with the same tag (a bad merge): a runner would apply it twice.
    DuplicateTag { tag: String, positions: Vec<usize> },
    /// A snapshot that does not parse.
    BadSnapshot { path: PathBuf, error: String },
    /// A statement carries a runner directive that does not have the documented form.
    BadDirective {
        path: PathBuf,
        number: usize,
        error: String,
    },
}

impl FolderProblem {
    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            FolderProblem::MissingSqlFile { tag, .. } => format!("restore `{tag}.sql` from version control, or remove entry `{tag}` from meta/_journal.json together with its snapshot"),
            FolderProblem::MissingSnapshot { .. } => "restore the snapshot from version control; a migration without its snapshot breaks the chain".into(),
            FolderProblem::UnjournaledSql { .. } | FolderProblem::UnjournaledSnapshot { .. } => {
                "delete the file if it is left over from an interrupted or merged generate, or restore its journal entry".into()
            }
            FolderProblem::Edited { tag, .. } => format!(
                "if no database has applied `{tag}` yet (a `generate --custom` file being written), record its new hash with `tablewright rehash --tag {tag}`; otherwise revert `{tag}.sql` and put the change in a new migration (`generate`, or `generate --custom`)"
            ),
            FolderProblem::BrokenChain { .. } | FolderProblem::BadIndex { .. } => {
                "the journal and snapshots disagree: restore meta/ from version control".into()
            }
            FolderProblem::DuplicateTag { tag, .. } => {
                format!("keep one entry `{tag}` in meta/_journal.json (a merge took it twice), then run `check` again")
            }
            FolderProblem::Fork { .. } => "two branches each generated a migration on the same parent. Keep the one merged first; delete the other's SQL file, snapshot and journal entry, then run `generate` to re-create its change on top".into(),
            FolderProblem::BadSnapshot { .. } => "restore the snapshot from version control".into(),
            FolderProblem::BadDirective { .. } => {
                "write the directive in the form its error gives (README: \"Table recreation on DSQL\", \"Columns added with a DEFAULT on DSQL\"), or regenerate the migration".into()
            }
        }
    }

    /// True when generating on top of the folder would make things worse.
    pub(crate) fn blocks_generate(&self) -> bool {
        !matches!(self, FolderProblem::Edited { .. })
    }
}

impl fmt::Display for FolderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FolderProblem::MissingSqlFile { tag, path } => write!(
                f,
                "journal entry `{tag}` has no SQL file {}",
                path.display()
            ),
            FolderProblem::MissingSnapshot { tag, path } => write!(
                f,
                "journal entry `{tag}` has no snapshot {}",
                path.display()
            ),
            FolderProblem::UnjournaledSql { path } => {
                write!(f, "{} has no journal entry", path.display())
            }
            FolderProblem::UnjournaledSnapshot { path } => {
                write!(f, "{} has no journal entry", path.display())
            }
            FolderProblem::Edited {
                path,
                recorded,
                actual,
                ..
            } => {
                write!(
                    f,
                    "{} was edited after it was generated (recorded sha256 {recorded}, now {actual})",
                    path.display()
                )
            }
            FolderProblem::BrokenChain {
                tag,
                expected_prev_id,
                found_prev_id,
            } => {
                write!(
                    f,
                    "snapshot of `{tag}` follows {found_prev_id}, expected {expected_prev_id}"
                )
            }
            FolderProblem::Fork { prev_id, snapshots } => write!(
                f,
                "branch fork: {} all follow snapshot {prev_id}",
                snapshots
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            FolderProblem::BadIndex {
                tag,
                expected,
                found,
            } => write!(
                f,
                "journal entry `{tag}` has idx {found}, expected {expected}"
            ),
            FolderProblem::DuplicateTag { tag, positions } => write!(
                f,
                "journal entry `{tag}` appears {} times (entries {})",
                positions.len(),
                positions
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FolderProblem::BadSnapshot { path, error } => {
                write!(f, "{} does not parse: {error}", path.display())
            }
            FolderProblem::BadDirective {
                path,
                number,
                error,
            } => write!(f, "{}: statement {number}: {error}", path.display()),
        }
    }
}

/// What [`MigrationFolder::inspect`] found.
#[derive(Debug)]
pub struct Inspection {
    /// Every inconsistency, as [`MigrationFolder::verify`] returns them.
    pub problems: Vec<FolderProblem>,
    /// The last entry's snapshot, when it was there and parsed.
    pub last: Option<Snapshot>,
}

impl MigrationFolder {
    /// Reads the journal of `dir` (a missing folder or journal is an empty history).
    pub fn load(dir: &Path) -> Result<MigrationFolder, FolderError> {
        let path = dir.join("meta").join("_journal.json");
        let journal = match fs::read(&path) {
            Ok(bytes) => Journal::parse(&bytes).map_err(|problem| FolderError::Journal {
                path: path.clone(),
                problem,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Journal::default(),
            Err(source) => return Err(FolderError::Io { path, source }),
        };
        Ok(MigrationFolder {
            dir: dir.to_path_buf(),
            journal,
        })
    }

    /// `meta/_journal.json`.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("meta").join("_journal.json")
    }

    /// The SQL file of an entry.
    pub(crate) fn sql_path(&self, tag: &str) -> PathBuf {
        self.dir.join(format!("{tag}.sql"))
    }

    /// The snapshot of the entry with this 4-digit prefix.
    pub fn snapshot_path(&self, prefix: &str) -> PathBuf {
        self.dir
            .join("meta")
            .join(format!("{prefix}_snapshot.json"))
    }

    /// Reads one entry's snapshot.
    pub fn read_snapshot(&self, entry: &JournalEntry) -> Result<Snapshot, FolderError> {
        read_snapshot_file(&self.snapshot_path(&entry.prefix()))
    }

    /// The last entry's snapshot, or `None` for an empty history.
    pub fn last_snapshot(&self) -> Result<Option<Snapshot>, FolderError> {
        self.journal
            .entries
            .last()
            .map(|e| self.read_snapshot(e))
            .transpose()
    }

    /// Reads one entry's SQL file.
    pub fn read_sql(&self, entry: &JournalEntry) -> Result<Vec<u8>, FolderError> {
        let path = self.sql_path(&entry.tag);
        fs::read(&path).map_err(|source| FolderError::Io { path, source })
    }

    /// Where `squash` puts the folder it replaces: `<dir>/archive/<last tag>/`.
    pub(crate) fn archive_path(&self, last_tag: &str) -> PathBuf {
        self.dir.join("archive").join(last_tag)
    }

    /// Every earlier squash's archive (a folder with its own journal), sorted.
    pub fn archives(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(self.dir.join("archive"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join("meta").join("_journal.json").is_file())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Records the current hash of each SQL file (only `tags`, when given) in the journal:
    /// the way to accept hand edits to a migration that no database has applied, such as
    /// the file `generate --custom` wrote. A database that did apply the old bytes still
    /// refuses the edit (its history holds the old hash). Returns what changed; the journal
    /// is written only when something did.
    pub fn rehash(&mut self, tags: &[String]) -> Result<Vec<Rehashed>, FolderError> {
        for tag in tags {
            if !self.journal.entries.iter().any(|e| &e.tag == tag) {
                return Err(FolderError::UnknownTag {
                    tag: tag.clone(),
                    journal: self.journal_path(),
                });
            }
        }
        let mut journal = self.journal.clone();
        let mut changed = Vec::new();
        for entry in journal
            .entries
            .iter_mut()
            .filter(|e| tags.is_empty() || tags.contains(&e.tag))
        {
            let actual = hash::migration_hash(&self.read_sql(entry)?);
            if actual != entry.hash {
                changed.push(Rehashed {
                    tag: entry.tag.clone(),
                    recorded: std::mem::replace(&mut entry.hash, actual.clone()),
                    actual,
                });
            }
        }
        if !changed.is_empty() {
            crate::project::fsio::write_all_or_nothing(&[(
                self.journal_path(),
                crate::project::snapshot::to_pretty_json(&journal).into_bytes(),
            )])?;
            self.journal = journal;
        }
        Ok(changed)
    }

    /// Every inconsistency between journal, files, snapshots and hashes.
    pub fn verify(&self) -> Result<Vec<FolderProblem>, FolderError> {
        Ok(self.inspect()?.problems)
    }

    /// [`verify`](Self::verify), keeping the last entry's snapshot it read on the way: each
    /// snapshot file is parsed once, whatever asks for it next.
    pub fn inspect(&self) -> Result<Inspection, FolderError> {
        let mut problems = Vec::new();
        let mut last = None;
        let mut parents: BTreeMap<PathBuf, String> = BTreeMap::new();
        let mut journaled_sql = BTreeSet::new();
        let mut journaled_snapshots = BTreeSet::new();
        let mut prev_id = ORIGIN_ID.to_owned();
        let mut positions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (position, entry) in self.journal.entries.iter().enumerate() {
            positions.entry(&entry.tag).or_default().push(position);
        }
        for (tag, positions) in positions.into_iter().filter(|(_, p)| p.len() > 1) {
            problems.push(FolderProblem::DuplicateTag {
                tag: tag.to_owned(),
                positions,
            });
        }
        for (position, entry) in self.journal.entries.iter().enumerate() {
            if entry.idx as usize != position {
                problems.push(FolderProblem::BadIndex {
                    tag: entry.tag.clone(),
                    expected: position as u32,
                    found: entry.idx,
                });
            }
            let sql_path = self.sql_path(&entry.tag);
            journaled_sql.insert(sql_path.clone());
            match fs::read(&sql_path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    for (i, statement) in crate::sql::split::split_statements(&text)
                        .iter()
                        .enumerate()
                    {
                        if let Err(e) = crate::sql::directive::parse(statement) {
                            problems.push(FolderProblem::BadDirective {
                                path: sql_path.clone(),
                                number: i + 1,
                                error: e.to_string(),
                            });
                        }
                    }
                    let actual = hash::migration_hash(&bytes);
                    if actual != entry.hash {
                        problems.push(FolderProblem::Edited {
                            tag: entry.tag.clone(),
                            path: sql_path,
                            recorded: entry.hash.clone(),
                            actual,
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    problems.push(FolderProblem::MissingSqlFile {
                        tag: entry.tag.clone(),
                        path: sql_path,
                    })
                }
                Err(source) => {
                    return Err(FolderError::Io {
                        path: sql_path,
                        source,
                    });
                }
            }
            let snap_path = self.snapshot_path(&entry.prefix());
            journaled_snapshots.insert(snap_path.clone());
            match read_snapshot_file(&snap_path) {
                Ok(snapshot) => {
                    if snapshot.prev_id != prev_id {
                        problems.push(FolderProblem::BrokenChain {
                            tag: entry.tag.clone(),
                            expected_prev_id: prev_id.clone(),
                            found_prev_id: snapshot.prev_id.clone(),
                        });
                    }
                    parents.insert(snap_path.clone(), snapshot.prev_id.clone());
                    prev_id = snapshot.id.clone();
                    if position + 1 == self.journal.entries.len() {
                        last = Some(snapshot);
                    }
                }
                Err(FolderError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    problems.push(FolderProblem::MissingSnapshot {
                        tag: entry.tag.clone(),
                        path: snap_path,
                    })
                }
                // JSON that is cut short or holds a merge's conflict markers is a problem
                // to list; JSON whose values are refused (SQL that is not one expression,
                // an unknown key) is not read any further, by any command.
                Err(FolderError::Snapshot { problem, .. }) if problem.is_syntax() => {
                    problems.push(FolderProblem::BadSnapshot {
                        path: snap_path,
                        error: problem.to_string(),
                    })
                }
                Err(e) => return Err(e),
            }
        }

        // Files on disk that the journal does not know, and forks among all snapshots.
        for path in list(&self.dir, "sql")? {
            if !journaled_sql.contains(&path) {
                problems.push(FolderProblem::UnjournaledSql { path });
            }
        }
        let mut by_parent: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for path in list(&self.dir.join("meta"), "json")? {
            if !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("_snapshot.json"))
            {
                continue;
            }
            if !journaled_snapshots.contains(&path) {
                problems.push(FolderProblem::UnjournaledSnapshot { path: path.clone() });
            }
            // An unreadable journaled snapshot was reported above; an unjournaled one just now.
            let parent = match parents.remove(&path) {
                Some(parent) => Some(parent),
                None => read_snapshot_file(&path).ok().map(|s| s.prev_id),
            };
            if let Some(parent) = parent {
                by_parent.entry(parent).or_default().push(path);
            }
        }
        for (prev_id, snapshots) in by_parent {
            if snapshots.len() > 1 {
                problems.push(FolderProblem::Fork { prev_id, snapshots });
            }
        }
        Ok(Inspection { problems, last })
    }
}

/// Reads a snapshot file; every SQL-bearing value in it is checked as it is read.
pub(crate) fn read_snapshot_file(path: &Path) -> Result<Snapshot, FolderError> {
    let bytes = fs::read(path).map_err(|source| FolderError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Snapshot::parse(&bytes).map_err(|problem| FolderError::Snapshot {
        path: path.to_path_buf(),
        problem,
    })
}

/// Files in `dir` with extension `ext`, sorted; a missing folder has none.
fn list(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, FolderError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(FolderError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    Ok(out)
}

impl FolderProblem {
    /// The problem as an error item (`generate` refuses a folder that has it).
    pub fn item(&self) -> crate::error::ErrorItem {
        let kind = serde_json::to_value(self)
            .ok()
            .and_then(|v| v["kind"].as_str().map(str::to_owned))
            .unwrap_or_default();
        crate::error::ErrorItem {
            fix: vec![self.fix()],
            ..crate::error::ErrorItem::new(kind, self.to_string())
        }
    }
}

impl crate::error::Classified for FolderError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        match self {
            FolderError::Write(_) => "io",
            _ => "folder",
        }
    }

    fn items(&self) -> Vec<crate::error::ErrorItem> {
        match self {
            FolderError::Journal { path, problem } => vec![crate::error::ErrorItem {
                fix: vec![crate::project::journal::JournalProblem::FIX.to_owned()],
                ..crate::error::ErrorItem::new("journal", format!("{}: {problem}", path.display()))
            }],
            FolderError::Snapshot { path, problem } => vec![crate::error::ErrorItem {
                fix: vec!["restore the snapshot from version control; snapshots are written by `generate`, `squash` and `import`, not by hand".to_owned()],
                ..crate::error::ErrorItem::new("snapshot", format!("{}: {problem}", path.display()))
            }],
            _ => Vec::new(),
        }
    }
}
