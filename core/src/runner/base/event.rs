//! What the runner reports as it goes.

use serde::Serialize;

/// Progress, as it happens.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Another runner holds the lock.
    LockWaiting {
        /// Who holds it: under DSQL's rules the lease's holder (`host:pid:random`);
        /// otherwise `PostgreSQL backend pid N`, or `another runner` when the pid cannot be
        /// read.
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
        /// The migration's journal tag (`0003_add_books`).
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
        /// The migration's journal tag (`0003_add_books`).
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
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// 1-based.
        number: usize,
        /// Statements in the migration.
        total: usize,
        /// Wall-clock time it took, in milliseconds; 0 for one that took effect before an
        /// interruption.
        elapsed_ms: u64,
        /// `skipped` for a statement DSQL does not support (check-dsql's STRIP class).
        note: Option<&'static str>,
    },
    /// Waiting for a DSQL job.
    WaitingForJob {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// The job's id, as the statement returned it (`sys.jobs.job_id`).
        job_id: String,
        /// Seconds so far.
        elapsed_s: u64,
    },
    /// A failed statement's leftover (an INVALID index, a NOT VALID constraint) was removed.
    Removed {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// What, and what a rerun does.
        what: String,
    },
    /// An INVALID index was dropped and is being built again.
    RebuildingIndex {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// The index's name, without its schema.
        index: String,
    },
    /// A backfill is under way (or done).
    BackfillProgress {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// The table being filled, as the model names it (`books`, or `auth.books` outside
        /// `public`).
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
        /// The migration's journal tag (`0003_add_books`).
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
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// The table being copied.
        table: String,
        /// Key ranges copied again in this pass.
        ranges: usize,
    },
    /// A hand-written statement rewritten for DSQL (check-dsql's INDEX class).
    Rewritten {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// 1-based.
        number: usize,
        /// What runs instead.
        sql: String,
        /// Why, in words: check-dsql's message, or that a drizzle-kit file's own `BEGIN` and
        /// `COMMIT` were left out.
        reason: String,
    },
    /// A statement DSQL does not support, skipped without loss (check-dsql's STRIP class).
    Skipped {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// 1-based.
        number: usize,
        /// Why, in words: check-dsql's message, or that a drizzle-kit file's own `BEGIN` and
        /// `COMMIT` were left out.
        reason: String,
    },
    /// A migration is done.
    MigrationApplied {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// Wall-clock time this run spent on it, in milliseconds (with `--single-transaction`,
        /// the whole transaction's).
        elapsed_ms: u64,
    },
    /// drizzle-kit had applied this migration (`drizzle.__drizzle_migrations`): it is
    /// recorded as applied, and not run.
    Adopted {
        /// The migration's journal tag (`0003_add_books`).
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
    /// The table, as the model names it (`books`, or `auth.books` outside `public`).
    pub table: String,
    /// Rows inserted (a conflicting row is skipped, so this may be less than asked).
    pub inserted: u64,
    /// Why the table got fewer rows than asked, or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}
