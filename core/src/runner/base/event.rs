//! What the runner reports as it goes.

use serde::Serialize;

/// Progress, as it happens.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Another runner holds the lock.
    LockWaiting {
        /// Who.
        holder: String,
        /// When its lease runs out, if it is a lease.
        expires_at: Option<String>,
    },
    /// The lock is ours.
    LockAcquired {
        /// `advisory` or `lease`.
        kind: &'static str,
    },
    /// A migration starts (or resumes).
    MigrationStarted {
        /// The migration.
        tag: String,
        /// Statements in it.
        statements: usize,
        /// First statement to run (0-based), more than 0 when resuming.
        resume_from: usize,
        /// What the last run left, when it left something: "statement 2 failed (SQLSTATE
        /// 42P01)", "statement 3 was interrupted".
        #[serde(skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    /// The outcome of a statement a previous run was interrupted in was decided from the
    /// database, before anything else ran.
    Settled {
        /// The migration.
        tag: String,
        /// 1-based.
        number: usize,
        /// Whether it had taken effect.
        took_effect: bool,
        /// How that was decided.
        how: String,
    },
    /// A statement finished.
    StatementDone {
        /// The migration.
        tag: String,
        /// 1-based.
        number: usize,
        /// Statements in the migration.
        total: usize,
        /// Milliseconds.
        elapsed_ms: u64,
        /// `skipped` for a statement DSQL does not support (check-dsql's STRIP class).
        note: Option<&'static str>,
    },
    /// Waiting for a DSQL job.
    WaitingForJob {
        /// The migration.
        tag: String,
        /// The job.
        job_id: String,
        /// Seconds so far.
        elapsed_s: u64,
    },
    /// A failed statement's leftover (an INVALID index, a NOT VALID constraint) was removed.
    Removed {
        /// The migration.
        tag: String,
        /// What, and what a rerun does.
        what: String,
    },
    /// An INVALID index was dropped and is being built again.
    RebuildingIndex {
        /// The migration.
        tag: String,
        /// The index.
        index: String,
    },
    /// A backfill is under way (or done).
    BackfillProgress {
        /// The migration.
        tag: String,
        /// The table.
        table: String,
        /// The column being filled.
        column: String,
        /// Rows filled so far.
        rows: u64,
        /// The table's rows as the catalog's statistics estimate them (for a progress bar);
        /// none when they have none.
        expected_rows: Option<u64>,
        /// The backfill is finished.
        done: bool,
    },
    /// A table recreation's copy is under way (or done).
    CopyProgress {
        /// The migration.
        tag: String,
        /// The table being copied.
        table: String,
        /// Rows copied so far.
        rows: u64,
        /// The table's rows as the catalog's statistics estimate them (for a progress bar);
        /// none when they have none.
        expected_rows: Option<u64>,
        /// The copy is finished and checked.
        done: bool,
    },
    /// Rows of a recreated table changed while the copy ran; these key ranges were copied
    /// again before the swap.
    RangesRecopied {
        /// The migration.
        tag: String,
        /// The table being copied.
        table: String,
        /// Key ranges copied again in this pass.
        ranges: usize,
    },
    /// A hand-written statement rewritten for DSQL (check-dsql's INDEX class).
    Rewritten {
        /// The migration.
        tag: String,
        /// 1-based.
        number: usize,
        /// What runs instead.
        sql: String,
        /// Why.
        reason: String,
    },
    /// A statement DSQL does not support, skipped without loss (check-dsql's STRIP class).
    Skipped {
        /// The migration.
        tag: String,
        /// 1-based.
        number: usize,
        /// Why.
        reason: String,
    },
    /// A migration is done.
    MigrationApplied {
        /// The migration.
        tag: String,
        /// Milliseconds.
        elapsed_ms: u64,
    },
    /// drizzle-kit had applied this migration (`drizzle.__drizzle_migrations`): it is
    /// recorded as applied, and not run.
    Adopted {
        /// The migration.
        tag: String,
    },
    /// `verify --with-rows`: sample rows went in before a migration.
    SampleRows {
        /// The migration about to run on them.
        before: String,
        /// Per table.
        tables: Vec<SampleRows>,
    },
}

/// What one round of sample rows did to one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SampleRows {
    /// The table.
    pub table: String,
    /// Rows inserted (a conflicting row is skipped, so this may be less than asked).
    pub inserted: u64,
    /// Why the table got fewer rows than asked, or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}
