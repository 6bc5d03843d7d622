//! `meta/_journal.json`, in drizzle-kit 0.x's layout, plus the SHA-256 of each SQL file.

use serde::{Deserialize, Serialize};

/// The journal header's `version` (drizzle-kit 0.x layout).
pub const JOURNAL_VERSION: &str = "7";
/// The journal header's `dialect` (drizzle-kit's name for PostgreSQL; DSQL speaks it).
pub const JOURNAL_DIALECT: &str = "postgresql";

/// The journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Journal {
    /// Layout version.
    pub version: String,
    /// SQL family.
    pub dialect: String,
    /// One entry per migration, in order.
    pub entries: Vec<JournalEntry>,
    /// Set by `import`: the other tool whose history records what it applied of these
    /// migrations. Only such a folder ever reads that history; a squash drops it.
    #[serde(default, rename = "importedFrom", skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<ImportedFrom>,
}

/// The tool a folder was imported from, and where its history lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ImportedFrom {
    /// `drizzle-kit`.
    pub tool: String,
    /// Its history table, `schema.table` (drizzle's default: `drizzle.__drizzle_migrations`).
    pub history: String,
}

impl Default for Journal {
    fn default() -> Self {
        Journal { version: JOURNAL_VERSION.to_owned(), dialect: JOURNAL_DIALECT.to_owned(), entries: Vec::new(), imported_from: None }
    }
}

/// One migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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

impl JournalEntry {
    /// The 4-digit prefix shared by the SQL file and the snapshot.
    pub fn prefix(&self) -> String {
        format!("{:04}", self.idx)
    }
}
