//! `meta/_journal.json`, in drizzle-kit 0.x's layout, plus the SHA-256 of each SQL file.

use serde::{Deserialize, Serialize};

/// The journal header's `version` (drizzle-kit 0.x layout).
pub(crate) const JOURNAL_VERSION: &str = "7";
/// The journal header's `dialect` (drizzle-kit's name for PostgreSQL; DSQL speaks it).
pub(crate) const JOURNAL_DIALECT: &str = "postgresql";

/// A migrations folder's `meta/_journal.json`: every migration, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Layout version.
    pub version: String,
    /// SQL family.
    pub dialect: String,
    /// One entry per migration, in order.
    pub entries: Vec<JournalEntry>,
    /// Set by `import`: the other tool whose history records what it applied of these
    /// migrations. Only such a folder ever reads that history; a squash drops it.
    #[serde(
        default,
        rename = "importedFrom",
        skip_serializing_if = "Option::is_none"
    )]
    pub imported_from: Option<ImportedFrom>,
}

/// The tool a folder was imported from, and where its history lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportedFrom {
    /// `drizzle-kit`.
    pub tool: String,
    /// Its history table, `schema.table` (drizzle's default: `drizzle.__drizzle_migrations`).
    pub history: String,
    /// How many of the journal's first migrations came from it (the rest were generated
    /// here); absent in folders imported before it was recorded, where all count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations: Option<usize>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            version: JOURNAL_VERSION.to_owned(),
            dialect: JOURNAL_DIALECT.to_owned(),
            entries: Vec::new(),
            imported_from: None,
        }
    }
}

/// One migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JournalEntry {
    /// Position, from 0.
    pub idx: u32,
    /// Snapshot format version of this migration's snapshot.
    pub version: String,
    /// Milliseconds since the epoch at generation. Informational: pending migrations are
    /// found by membership, never by comparing this value.
    pub when: u64,
    /// File stem: `NNNN_name`.
    pub tag: String,
    /// Statements are separated by `--> statement-breakpoint` (always true).
    pub breakpoints: bool,
    /// SHA-256 of the SQL file's normalised bytes (see [`crate::project::hash`]).
    pub hash: String,
}

/// Why a journal was refused: the JSON does not have our layout, or a value in it could
/// not be used safely (a tag is a file name inside the folder, nothing more).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct JournalProblem {
    /// The JSON key, such as `entries[3].tag`; empty for the document as a whole.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl JournalProblem {
    /// What to do about it.
    pub(crate) const FIX: &'static str = "restore meta/_journal.json from version control; it is written by `generate`, `squash` and `import`, not by hand";
}

impl Journal {
    /// Reads a journal: a leading UTF-8 byte-order mark is accepted, unknown keys are not,
    /// and every tag must be a plain file name (`check_tag`).
    pub fn parse(bytes: &[u8]) -> Result<Journal, JournalProblem> {
        let journal: Journal =
            crate::project::snapshot::from_json(bytes).map_err(|e| JournalProblem {
                key: e.key,
                message: e.error.to_string(),
            })?;
        for (i, entry) in journal.entries.iter().enumerate() {
            check_tag(&entry.tag).map_err(|message| JournalProblem {
                key: format!("entries[{i}].tag"),
                message,
            })?;
        }
        Ok(journal)
    }
}

/// A tag names the files `<tag>.sql` and, through its entry, a snapshot, so it must be one
/// file name: not empty, no path separator, no `..`, no leading `.` (a hidden or relative
/// name), no control character (it is printed), at most 200 bytes.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    let why = if tag.is_empty() {
        "is empty"
    } else if tag.len() > 200 {
        "is longer than 200 bytes"
    } else if tag.contains(['/', '\\']) {
        "holds a path separator, so it would name a file outside the migrations folder"
    } else if tag.contains("..") || tag.starts_with('.') {
        "holds `..` or starts with `.`, so it would name a file outside the migrations folder or a hidden one"
    } else if tag.chars().any(|c| c.is_control()) {
        "holds a control character"
    } else if tag.contains(':') {
        "holds `:`, which is not a file-name character everywhere"
    } else {
        return Ok(());
    };
    Err(format!("tag {tag:?} {why}"))
}

impl JournalEntry {
    /// The 4-digit prefix shared by the SQL file and the snapshot.
    pub fn prefix(&self) -> String {
        format!("{:04}", self.idx)
    }
}
