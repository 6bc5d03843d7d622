//! The runner: applies pending migrations exactly once, under a lock, resumably.
//!
//! * Pending means "in the journal, not recorded as done": set membership, never a
//!   timestamp high-water mark, so a migration merged late from a branch still runs.
//! * An applied migration whose file changed is refused, naming the file.
//! * On PostgreSQL each migration runs in one transaction with its history row, except
//!   statements that cannot run in a transaction (`CONCURRENTLY`), which run alone.
//! * Under DSQL's rules (real DSQL, or a PostgreSQL URL emulating it) every statement is
//!   its own transaction and each history write is another. A cursor records the next
//!   statement; after a crash the run resumes there, re-running only the statement that
//!   may have committed without its history write, and accepting "already exists" /
//!   "does not exist" from that one statement as proof it had run.

mod copy;
mod embedded;
mod history;
mod lock;
pub mod permissions;
mod retry;
mod source;
mod target;
mod verify;

#[cfg(feature = "dsql")]
mod dsql;

pub use embedded::EmbeddedPostgres;
pub use history::{HistoryRow, HistoryTable, Status};
pub use retry::RetryPolicy;
pub use source::{EmbeddedMigrations, LocalMigration, MigrationSet};
pub use target::{Connector, Target, redact_url};
pub use verify::{VerifyReport, verify, with_database};

use crate::directive::Directive;
use crate::emulate;
use crate::statement::{self, IndexMode, StatementKind};
use lock::Lock;
use retry::{Exhausted, is_already_applied, retrying};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row as _};
use std::collections::{BTreeMap, BTreeSet};
use crate::rules::DsqlClass;
use std::time::{Duration, Instant};
use target::Conn;

/// SQL that makes a PostgreSQL database reject what Aurora DSQL rejects, for test suites
/// (see the file's header for what it enforces).
pub const DSQL_GUARD_SQL: &str = include_str!("dsql_guard.sql");

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad configuration or arguments.
    #[error("{0}")]
    Config(String),
    /// The migrations folder (or embedded set) is inconsistent.
    #[error("migrations: {}", .0.join("; "))]
    Source(Vec<String>),
    /// Could not connect.
    #[error("connect to {target}: {source}")]
    Connect {
        /// Where (no secrets).
        target: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// A bookkeeping query failed.
    #[error("{context}: {source}")]
    Database {
        /// What the runner was doing.
        context: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// A migration statement failed; nothing after it ran.
    #[error("{tag}: statement {number} of {total} failed{code}: {source}{detail}\n{statement}", code = sqlstate_suffix(.source), detail = detail_suffix(.source))]
    Statement {
        /// The migration.
        tag: String,
        /// 1-based.
        number: usize,
        /// Statements in the migration.
        total: usize,
        /// The SQL.
        statement: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// The runner will not execute this statement under the target's rules.
    #[error("{tag}: statement {number} is refused: {reason}\n{statement}")]
    Refused {
        /// The migration.
        tag: String,
        /// 1-based.
        number: usize,
        /// The SQL.
        statement: String,
        /// Why and what to do.
        reason: String,
    },
    /// An applied migration's file changed since.
    #[error("{file}: migration `{tag}` was applied with sha256 {applied} but the file now hashes to {current}; revert the edit and put the change in a new migration")]
    Edited {
        /// The migration.
        tag: String,
        /// Its file.
        file: String,
        /// Hash recorded when applied.
        applied: String,
        /// Hash of the file now.
        current: String,
    },
    /// The database has migrations this folder does not know.
    #[error("the database has applied migrations that are not in {origin}: {}; deploy from a branch that contains them", .tags.join(", "))]
    UnknownApplied {
        /// Where the local migrations came from.
        origin: String,
        /// The tags.
        tags: Vec<String>,
    },
    /// An asynchronous DSQL job failed.
    #[error("{tag}: job {job_id} failed: {details}")]
    JobFailed {
        /// The migration.
        tag: String,
        /// The job.
        job_id: String,
        /// `sys.jobs.details`.
        details: String,
    },
    /// A directive (a recreation's copy, a backfill) could not go on.
    #[error("{tag}: statement {number}: {message}")]
    Directive {
        /// The migration.
        tag: String,
        /// 1-based statement number.
        number: usize,
        /// What happened and what to do.
        message: String,
    },
    /// An index stayed INVALID after a rebuild.
    #[error("{tag}: index `{index}` stayed INVALID after a rebuild and was dropped (for a unique index, look for duplicate rows); rerun after the fix")]
    InvalidIndex {
        /// The migration.
        tag: String,
        /// The index.
        index: String,
    },
    /// The lease could not be renewed; another runner may take over.
    #[error("lost the migration lock (the lease could not be renewed); stopped before the next statement, rerun to resume")]
    LockLost,
    /// The run took longer than allowed.
    #[error("timed out after {}s; the statement in flight was abandoned (the server rolls back what did not commit); rerun to resume", .0.as_secs())]
    Timeout(Duration),
}

fn sqlstate_suffix(e: &sqlx::Error) -> String {
    retry::sqlstate(e).map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default()
}

/// PostgreSQL's DETAIL, which names the offending row (`Key (code)=(x) is duplicated.`).
fn detail_suffix(e: &sqlx::Error) -> String {
    let detail = e.as_database_error().and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()).and_then(|pg| pg.detail());
    detail.map(|d| format!(" [{d}]")).unwrap_or_default()
}

impl RunError {
    fn db(context: &str, source: sqlx::Error) -> RunError {
        RunError::Database { context: context.to_owned(), source }
    }

    /// Statement `index` (0-based) of `m` failed.
    fn statement(m: &LocalMigration, index: usize, source: sqlx::Error) -> RunError {
        RunError::Statement { tag: m.tag.clone(), number: index + 1, total: m.statements.len(), statement: m.statements[index].clone(), source }
    }

    /// True for problems a check finds (edited or unknown migrations), as opposed to bad
    /// input or a failed run.
    pub fn is_check_failure(&self) -> bool {
        matches!(self, RunError::Edited { .. } | RunError::UnknownApplied { .. })
    }

    /// True for bad input: configuration, arguments, inconsistent migrations, refused SQL.
    pub fn is_input_error(&self) -> bool {
        matches!(self, RunError::Config(_) | RunError::Source(_) | RunError::Refused { .. })
    }
}

/// Whether index `name` is valid; `None` when there is no such index.
async fn index_validity(conn: &mut Conn, name: &str) -> Result<Option<bool>, RunError> {
    sqlx::query_scalar::<_, bool>("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1 LIMIT 1")
        .bind(name)
        .fetch_optional(conn.pg())
        .await
        .map_err(|e| RunError::db("checking index validity", e))
}

/// Progress, as it happens.
#[derive(Debug, Clone, Serialize)]
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
        /// `already applied` when a resumed statement had committed before a crash.
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
        /// The copy is finished and checked.
        done: bool,
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
}

/// Runner settings.
#[derive(Debug, Clone)]
pub struct MigratorOptions {
    /// Where the history lives.
    pub history: HistoryTable,
    /// Take the migration lock (`--no-lock` turns it off).
    pub lock: bool,
    /// Lease length on DSQL; renewed every third of it.
    pub lease: Duration,
    /// Retry limits.
    pub retry: RetryPolicy,
    /// PostgreSQL only: apply all pending migrations, each with its history row, in one
    /// transaction (all or nothing, like `psql -1`). Ignored under DSQL's rules and when a
    /// pending statement cannot run in a transaction.
    pub single_transaction: bool,
    /// Bound on the whole run, lock wait included; the lock is released on expiry.
    pub timeout: Option<Duration>,
    /// Rows per transaction in a table recreation's copy (at most 2,999 under DSQL's
    /// 3,000-row limit, the cursor row included).
    pub batch_rows: usize,
}

impl Default for MigratorOptions {
    fn default() -> Self {
        MigratorOptions { history: HistoryTable::default(), lock: true, lease: Duration::from_secs(300), retry: RetryPolicy::default(), single_transaction: false, timeout: None, batch_rows: 1000 }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Migrations applied by this run, in order.
    pub applied: Vec<String>,
    /// Migrations that were already done.
    pub already_applied: usize,
}

/// One statement of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStatement {
    /// The SQL as it will be sent.
    pub sql: String,
    /// How it runs.
    pub how: String,
}

/// One migration of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedMigration {
    /// The migration.
    pub tag: String,
    /// First statement to run (more than 0 when a crashed run will resume).
    pub resume_from: usize,
    /// Its statements.
    pub statements: Vec<PlannedStatement>,
}

/// The state of every migration, for `status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusReport {
    /// Done: `(tag, applied_at, marked)`.
    pub applied: Vec<AppliedMigration>,
    /// Not done yet.
    pub pending: Vec<String>,
    /// Started and interrupted: `(tag, next statement, total)`.
    pub in_progress: Vec<InProgress>,
    /// Done, but the file changed since.
    pub edited: Vec<String>,
    /// Done in the database, unknown locally.
    pub unknown: Vec<String>,
}

/// A done migration.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedMigration {
    /// The migration.
    pub tag: String,
    /// When.
    pub applied_at: Option<String>,
    /// Recorded by `mark-applied` rather than run.
    pub marked: bool,
}

/// An interrupted migration.
#[derive(Debug, Clone, Serialize)]
pub struct InProgress {
    /// The migration.
    pub tag: String,
    /// Statements done.
    pub done: i32,
    /// Statements in it.
    pub total: i32,
    /// When it stopped inside a table recreation: which table, which step, rows copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recreation: Option<RecreationInFlight>,
    /// When it stopped at a backfill: which column, rows filled so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillInFlight>,
}

/// A backfill that a run left halfway; the next `migrate` resumes it.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillInFlight {
    /// The table.
    pub table: String,
    /// The column being filled.
    pub column: String,
    /// Rows filled so far (none before the first batch commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled_rows: Option<i64>,
}

/// A table recreation that a run left halfway; the next `migrate` finishes it.
#[derive(Debug, Clone, Serialize)]
pub struct RecreationInFlight {
    /// The table being rebuilt.
    pub table: String,
    /// The next step, as its label says (`"5/8: copy the rows .."`).
    pub step: String,
    /// Rows copied so far, when the step is the copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied_rows: Option<i64>,
}

/// Applies a [`MigrationSet`] to a [`Target`].
pub struct Migrator {
    connector: Connector,
    set: MigrationSet,
    options: MigratorOptions,
}

/// A testing hook: `TABLEWRIGHT_TEST_HALT=<tag>:<statement number>:<after-statement|after-cursor>`
/// makes the runner stop dead at that point (it prints a line to stderr and sleeps), so a
/// crash test can `kill -9` it at an exact statement boundary.
fn halt_point(tag: &str, number: usize, phase: &str) {
    if let Ok(spec) = std::env::var("TABLEWRIGHT_TEST_HALT")
        && spec == format!("{tag}:{number}:{phase}")
    {
        use std::io::Write;
        eprintln!("tablewright: halted at {spec}");
        let _ = std::io::stderr().flush();
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

impl Migrator {
    /// Prepares a migrator (for DSQL, loads AWS credentials).
    pub async fn new(target: Target, set: MigrationSet, options: MigratorOptions) -> Result<Migrator, RunError> {
        Ok(Migrator { connector: Connector::new(target).await?, set, options })
    }

    /// The target.
    pub fn target(&self) -> &Target {
        self.connector.target()
    }

    /// The migrations.
    pub fn migrations(&self) -> &MigrationSet {
        &self.set
    }

    async fn ensure_history(&self, conn: &mut Conn) -> Result<(), RunError> {
        // Reading first keeps an up-to-date database free of DDL (no needless commits, and
        // on DSQL no catalog change to invalidate other sessions' caches).
        let history = &self.options.history;
        let found = retrying(conn, &self.connector, &self.options.retry, async |c| history.bookkeeping(c).await)
            .await
            .map_err(|e| RunError::db("looking for the history table", e.error))?;
        let mut statements = Vec::new();
        if !(found.history && found.lock) {
            statements.extend(history.create_statements());
        }
        if found.history && !found.batch_columns {
            statements.extend(history.upgrade_statements());
        }
        for sql in statements {
            // Concurrent runners may race to create these: PostgreSQL reports a duplicate
            // (23505 on the catalog index, 42P07 for the table, 42710 for its row type,
            // 42P06 for the schema, 42701 for a column), DSQL a conflict (retried); either
            // way the object exists afterwards.
            let result = retrying(conn, &self.connector, &self.options.retry, async |c| sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(c).await).await;
            match result {
                Ok(_) => {}
                Err(e) if matches!(retry::sqlstate(&e.error).as_deref(), Some("23505" | "42P07" | "42710" | "42P06" | "42701")) => {}
                Err(e) => return Err(RunError::db("creating the history table", e.error)),
            }
        }
        Ok(())
    }

    /// The history by tag; `batch_columns` as [`HistoryTable::bookkeeping`] found it
    /// (true once [`Self::ensure_history`] ran).
    async fn history_rows(&self, conn: &mut Conn, batch_columns: bool) -> Result<BTreeMap<String, HistoryRow>, RunError> {
        let history = &self.options.history;
        let rows = retrying(conn, &self.connector, &self.options.retry, async |c| history.rows(c, batch_columns).await)
            .await
            .map_err(|e| RunError::db("reading the history", e.error))?;
        Ok(rows.into_iter().map(|r| (r.tag.clone(), r)).collect())
    }

    /// Refuses edited applied migrations and applied migrations unknown locally.
    fn verify_history(&self, rows: &BTreeMap<String, HistoryRow>) -> Result<(), RunError> {
        for m in &self.set.migrations {
            if let Some(row) = rows.get(&m.tag)
                && row.status.is_done()
                && row.status != Status::Marked
                && row.hash != m.hash
            {
                return Err(RunError::Edited { tag: m.tag.clone(), file: m.origin.clone(), applied: row.hash.clone(), current: m.hash.clone() });
            }
        }
        let unknown: Vec<String> = rows.keys().filter(|t| !self.set.migrations.iter().any(|m| &m.tag == *t)).cloned().collect();
        if !unknown.is_empty() {
            return Err(RunError::UnknownApplied { origin: self.set.origin.clone(), tags: unknown });
        }
        Ok(())
    }

    /// Applies every pending migration.
    pub async fn run(&self, events: &dyn Fn(Event)) -> Result<RunReport, RunError> {
        let deadline = self.options.timeout.map(|t| (tokio::time::Instant::now() + t, t));
        let mut conn = self.connector.connect().await?;
        let dsql = self.target().dsql_rules();
        let lock = if !self.options.lock {
            self.ensure_history(&mut conn).await?;
            Lock::None
        } else if dsql {
            // The lease lives in a table, so the tables come first (idempotent, race-safe).
            self.ensure_history(&mut conn).await?;
            let taking = lock::lease(&self.connector, &self.options.history, self.options.lease, &self.options.retry, events);
            match deadline {
                Some((at, limit)) => tokio::time::timeout_at(at, taking).await.map_err(|_| RunError::Timeout(limit))??,
                None => taking.await?,
            }
        } else {
            let taking = lock::advisory(&mut conn, &self.options.history, events);
            let lock = match deadline {
                Some((at, limit)) => tokio::time::timeout_at(at, taking).await.map_err(|_| RunError::Timeout(limit))??,
                None => taking.await?,
            };
            self.ensure_history(&mut conn).await?;
            lock
        };
        let work = self.run_locked(&mut conn, &lock, events);
        let result = match deadline {
            Some((at, limit)) => tokio::time::timeout_at(at, work).await.unwrap_or(Err(RunError::Timeout(limit))),
            None => work.await,
        };
        if matches!(result, Err(RunError::Timeout(_))) {
            // The connection may still be busy with the abandoned statement: end the
            // session (which also ends an advisory lock) rather than wait on it. A lease
            // is released over the heartbeat's own connection.
            if !matches!(lock, Lock::Advisory { .. }) {
                lock.release(&mut conn, &self.connector).await;
            }
            drop(conn);
        } else {
            lock.release(&mut conn, &self.connector).await;
            conn.close().await;
        }
        result
    }

    /// Under DSQL's rules, what check-dsql says of each statement: INDEX statements run
    /// rewritten, STRIP statements are skipped (their indexes are returned), ERROR and
    /// RECREATION statements are refused before anything runs.
    fn treat_for_dsql(&self, m: &LocalMigration, events: &dyn Fn(Event)) -> Result<(LocalMigration, BTreeSet<usize>), RunError> {
        let mut treated = m.clone();
        let mut skip = BTreeSet::new();
        for (i, statement) in m.statements.iter().enumerate() {
            let checked = crate::dsql_check::classify(i + 1, statement);
            let reason = checked.message.clone().unwrap_or_default();
            match checked.class {
                DsqlClass::Ok => {}
                DsqlClass::Index => {
                    let sql = checked.rewritten.clone().unwrap_or_else(|| statement.clone());
                    events(Event::Rewritten { tag: m.tag.clone(), number: i + 1, sql: sql.clone(), reason });
                    treated.statements[i] = sql;
                }
                DsqlClass::Strip => {
                    events(Event::Skipped { tag: m.tag.clone(), number: i + 1, reason });
                    skip.insert(i);
                }
                DsqlClass::Recreation | DsqlClass::Error => {
                    let suggestion = checked.suggestion.map(|s| format!("; {s}")).unwrap_or_default();
                    return Err(RunError::Refused { tag: m.tag.clone(), number: i + 1, statement: statement.clone(), reason: format!("{reason}{suggestion}") });
                }
            }
        }
        Ok((treated, skip))
    }

    /// Statements this target's rules do not allow, found before anything runs.
    fn refuse_statements(&self, m: &LocalMigration) -> Result<(), RunError> {
        let dsql = self.target().dsql_rules();
        for (i, statement) in m.statements.iter().enumerate() {
            let info = statement::classify(statement);
            let reason = if info.kind == StatementKind::TransactionControl && !dsql {
                Some("transaction control in a migration: the runner owns transactions (on DSQL every statement runs in its own); remove it")
            } else if dsql && info.index.as_ref().is_some_and(|ix| ix.mode == IndexMode::Concurrently) {
                Some("DSQL has no CREATE INDEX CONCURRENTLY: use CREATE INDEX ASYNC (generate with dialect = \"dsql\")")
            } else if !dsql && info.returns_job() {
                Some(
                    "ASYNC is Aurora DSQL syntax and this target is plain PostgreSQL: these migrations were generated for dialect \"dsql\"; \
                     run them with --provider dsql (with --connection-string to emulate DSQL on PostgreSQL)",
                )
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(RunError::Refused { tag: m.tag.clone(), number: i + 1, statement: statement.clone(), reason: reason.into() });
            }
        }
        Ok(())
    }

    async fn run_locked(&self, conn: &mut Conn, lock: &Lock, events: &dyn Fn(Event)) -> Result<RunReport, RunError> {
        let rows = self.history_rows(conn, true).await?;
        self.verify_history(&rows)?;
        let pending: Vec<&LocalMigration> = self.set.migrations.iter().filter(|m| !rows.get(&m.tag).is_some_and(|r| r.status.is_done())).collect();
        for m in &pending {
            self.refuse_statements(m)?;
        }
        let mut treated = BTreeMap::new();
        if self.target().dsql_rules() {
            for m in &pending {
                treated.insert(m.tag.clone(), self.treat_for_dsql(m, events)?);
            }
        }
        let mut report = RunReport { applied: Vec::new(), already_applied: self.set.migrations.len() - pending.len() };
        let all_transactional = pending.iter().all(|m| !rows.contains_key(&m.tag) && m.statements.iter().all(|s| !statement::classify(s).non_transactional));
        if self.options.single_transaction && !self.target().dsql_rules() && pending.len() > 1 && all_transactional {
            self.apply_postgres_together(conn, &pending, events).await?;
            report.applied = pending.iter().map(|m| m.tag.clone()).collect();
            return Ok(report);
        }
        for m in pending {
            let row = rows.get(&m.tag);
            let started = Instant::now();
            if let Some((m, skip)) = treated.get(&m.tag) {
                self.apply_dsql(conn, m, skip, row, lock, events).await?;
            } else {
                self.apply_postgres(conn, m, row, events).await?;
            }
            events(Event::MigrationApplied { tag: m.tag.clone(), elapsed_ms: started.elapsed().as_millis() as u64 });
            report.applied.push(m.tag.clone());
        }
        Ok(report)
    }

    fn sql_for_target(&self, statement: &str) -> String {
        if self.target().translates() { emulate::to_postgres(statement) } else { statement.to_owned() }
    }

    async fn record(&self, conn: &mut Conn, m: &LocalMigration, status: Status, next: usize) -> Result<(), RunError> {
        let history = &self.options.history;
        retrying(conn, &self.connector, &self.options.retry, async |c| history.record(c, m, status, next).await)
            .await
            .map_err(|e| RunError::db(&format!("{}: recording progress", m.tag), e.error))
    }

    /// DSQL's rules: each statement alone, each history write alone, cursor in between.
    async fn apply_dsql(&self, conn: &mut Conn, m: &LocalMigration, skip: &BTreeSet<usize>, row: Option<&HistoryRow>, lock: &Lock, events: &dyn Fn(Event)) -> Result<(), RunError> {
        let total = m.statements.len();
        let resume_from = row.map(|r| r.next_statement.max(0) as usize).unwrap_or(0).min(total);
        events(Event::MigrationStarted { tag: m.tag.clone(), statements: total, resume_from });
        if row.is_none() {
            self.record(conn, m, Status::Running, 0).await?;
        }
        for i in resume_from..total {
            if !lock.still_held() {
                return Err(RunError::LockLost);
            }
            conn.refresh_if_old(&self.connector).await?;
            let tolerate = row.is_some() && i == resume_from;
            let started = Instant::now();
            let note = if skip.contains(&i) { Some("skipped") } else { self.execute_alone(conn, m, i, tolerate, events).await? };
            halt_point(&m.tag, i + 1, "after-statement");
            if i + 1 < total {
                self.record(conn, m, Status::Running, i + 1).await?;
            } else {
                self.record(conn, m, Status::Applied, total).await?;
            }
            halt_point(&m.tag, i + 1, "after-cursor");
            events(Event::StatementDone { tag: m.tag.clone(), number: i + 1, total, elapsed_ms: started.elapsed().as_millis() as u64, note });
        }
        if total == 0 || resume_from == total {
            self.record(conn, m, Status::Applied, total).await?;
        }
        Ok(())
    }

    /// Runs statement `i` in its own transaction (autocommit), waits for its job, checks
    /// the index it builds. Returns a note when it had already been applied. When it
    /// fails, what it left half-built is removed first (see [`Self::remove_half_built`]).
    async fn execute_alone(&self, conn: &mut Conn, m: &LocalMigration, i: usize, tolerate: bool, events: &dyn Fn(Event)) -> Result<Option<&'static str>, RunError> {
        let outcome = self.execute_alone_once(conn, m, i, tolerate, events).await;
        if outcome.is_err() {
            // The statement's own error is the one to report; should the clean-up fail
            // too, a rerun still recovers (an INVALID index is rebuilt, a NOT VALID
            // constraint validated again).
            let _ = self.remove_half_built(conn, m, i, events).await;
        }
        outcome
    }

    /// After statement `i` failed: a failed index build (`CONCURRENTLY`, or a DSQL job)
    /// leaves an INVALID index, and a failed validation leaves the constraint that an
    /// earlier statement of the migration added `NOT VALID`. Both are removed, and for the
    /// constraint the migration is set back to the statement that adds it, so nothing
    /// half-built stays and a rerun (after the data is fixed) makes the change anew.
    async fn remove_half_built(&self, conn: &mut Conn, m: &LocalMigration, i: usize, events: &dyn Fn(Event)) -> Result<(), RunError> {
        let info = statement::classify(&m.statements[i]);
        let (connector, policy, history) = (&self.connector, &self.options.retry, &self.options.history);
        let run = async |conn: &mut Conn, sql: String| {
            retrying(conn, connector, policy, async |c| sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(c).await)
                .await
                .map(|_| ())
                .map_err(|e| RunError::db(&format!("{}: removing what statement {} left", m.tag, i + 1), e.error))
        };
        if let Some(name) = info.index.as_ref().and_then(|ix| ix.name.as_deref())
            && index_validity(conn, name).await? == Some(false)
        {
            run(conn, format!("DROP INDEX IF EXISTS {}", crate::plan::quote(name))).await?;
            events(Event::Removed { tag: m.tag.clone(), what: format!("the INVALID index `{name}` the failed build left was dropped; a rerun builds it again") });
        }
        if let Some(statement::Validation { table: Some(table), constraint: Some(constraint), .. }) = &info.validation
            && let Some(added_by) = (0..i).rev().find(|&j| {
                statement::classify(&m.statements[j]).adds_constraint.is_some_and(|(t, c)| &c == constraint && t.is_none_or(|t| &t == table))
            })
        {
            run(conn, format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}", crate::plan::quote(table), crate::plan::quote(constraint))).await?;
            retrying(conn, connector, policy, async |c| history.rewind(c, &m.tag, added_by).await)
                .await
                .map_err(|e| RunError::db(&format!("{}: setting the migration back to statement {}", m.tag, added_by + 1), e.error))?;
            events(Event::Removed {
                tag: m.tag.clone(),
                what: format!(
                    "constraint `{constraint}` of `{table}`, added NOT VALID by statement {}, was dropped; a rerun adds and validates it again from there",
                    added_by + 1
                ),
            });
        }
        Ok(())
    }

    async fn execute_alone_once(&self, conn: &mut Conn, m: &LocalMigration, i: usize, tolerate: bool, events: &dyn Fn(Event)) -> Result<Option<&'static str>, RunError> {
        let statement = &m.statements[i];
        if let Some(directive) = crate::directive::parse(statement).map_err(|e| RunError::Directive { tag: m.tag.clone(), number: i + 1, message: e.to_string() })? {
            self.run_directive(conn, m, i, &directive, events).await?;
            return Ok(None);
        }
        let info = statement::classify(statement);
        let sql = self.sql_for_target(statement);
        let result = retrying(conn, &self.connector, &self.options.retry, async |c| sqlx::raw_sql(AssertSqlSafe(sql.clone())).fetch_optional(c).await).await;
        let (returned, note) = match result {
            Ok(row) => (row, None),
            Err(Exhausted { error, reconnected, .. }) if (tolerate || reconnected) && is_already_applied(&error) => (None, Some("already applied")),
            Err(Exhausted { error, .. }) => {
                return Err(RunError::statement(m, i, error));
            }
        };
        if self.target().has_jobs() && info.returns_job()
            && let Some(row) = returned
            && let Ok(job_id) = row.try_get::<String, _>("job_id")
        {
            self.wait_for_job(conn, m, &job_id, events).await?;
        }
        if let Some(index) = info.index.as_ref().filter(|ix| ix.mode != IndexMode::Plain)
            && let Some(name) = &index.name
        {
            self.ensure_index_valid(conn, m, i, name, events).await?;
        }
        Ok(note)
    }

    /// `CALL sys.wait_for_job` outside any transaction; a `false` answer is a failure
    /// whose reason is in `sys.jobs.details`.
    async fn wait_for_job(&self, conn: &mut Conn, m: &LocalMigration, job_id: &str, events: &dyn Fn(Event)) -> Result<(), RunError> {
        if !job_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(RunError::JobFailed { tag: m.tag.clone(), job_id: job_id.to_owned(), details: "unexpected job id".into() });
        }
        let started = Instant::now();
        let call = format!("CALL sys.wait_for_job('{job_id}')");
        let outcome = {
            let wait = retrying(conn, &self.connector, &self.options.retry, async |c| sqlx::raw_sql(AssertSqlSafe(call.clone())).fetch_optional(c).await);
            tokio::pin!(wait);
            let mut ticker = tokio::time::interval(Duration::from_secs(10));
            ticker.tick().await;
            loop {
                tokio::select! {
                    outcome = &mut wait => break outcome,
                    _ = ticker.tick() => events(Event::WaitingForJob { tag: m.tag.clone(), job_id: job_id.to_owned(), elapsed_s: started.elapsed().as_secs() }),
                }
            }
        };
        let succeeded = outcome
            .map_err(|e| RunError::db(&format!("{}: waiting for job {job_id}", m.tag), e.error))?
            .and_then(|row| row.try_get::<bool, _>(0).ok())
            .unwrap_or(false);
        if succeeded {
            return Ok(());
        }
        let details: Option<String> = sqlx::query_scalar("SELECT coalesce(details, status) FROM sys.jobs WHERE job_id = $1")
            .bind(job_id)
            .fetch_optional(conn.pg())
            .await
            .ok()
            .flatten();
        Err(RunError::JobFailed { tag: m.tag.clone(), job_id: job_id.to_owned(), details: details.unwrap_or_else(|| "no details in sys.jobs".into()) })
    }

    /// An index left INVALID (a failed build, or a crash mid-build) would be accepted by
    /// `IF NOT EXISTS`; drop it and build it again, once.
    async fn ensure_index_valid(&self, conn: &mut Conn, m: &LocalMigration, i: usize, name: &str, events: &dyn Fn(Event)) -> Result<(), RunError> {
        if index_validity(conn, name).await? != Some(false) {
            return Ok(());
        }
        events(Event::RebuildingIndex { tag: m.tag.clone(), index: name.to_owned() });
        let drop = format!("DROP INDEX IF EXISTS {}", crate::plan::quote(name));
        retrying(conn, &self.connector, &self.options.retry, async |c| sqlx::raw_sql(AssertSqlSafe(drop.clone())).execute(c).await)
            .await
            .map_err(|e| RunError::db("dropping an invalid index", e.error))?;
        let sql = self.sql_for_target(&m.statements[i]);
        let rebuilt = retrying(conn, &self.connector, &self.options.retry, async |c| sqlx::raw_sql(AssertSqlSafe(sql.clone())).fetch_optional(c).await).await;
        match rebuilt {
            Ok(Some(row)) if self.target().has_jobs() => {
                if let Ok(job_id) = row.try_get::<String, _>("job_id") {
                    self.wait_for_job(conn, m, &job_id, events).await?;
                }
            }
            Ok(_) => {}
            Err(e) => return Err(RunError::statement(m, i, e.error)),
        }
        if index_validity(conn, name).await? == Some(false) {
            return Err(RunError::InvalidIndex { tag: m.tag.clone(), index: name.to_owned() });
        }
        Ok(())
    }

    /// PostgreSQL: runs of ordinary statements go in one transaction together with the
    /// history write; a statement that cannot run in a transaction runs alone, then its
    /// history write.
    async fn apply_postgres(&self, conn: &mut Conn, m: &LocalMigration, row: Option<&HistoryRow>, events: &dyn Fn(Event)) -> Result<(), RunError> {
        let total = m.statements.len();
        let resume_from = row.map(|r| r.next_statement.max(0) as usize).unwrap_or(0).min(total);
        events(Event::MigrationStarted { tag: m.tag.clone(), statements: total, resume_from });
        let mut i = resume_from;
        if total == 0 {
            return self.record(conn, m, Status::Applied, 0).await;
        }
        while i < total {
            if statement::classify(&m.statements[i]).non_transactional {
                let started = Instant::now();
                let note = self.execute_alone(conn, m, i, row.is_some() && i == resume_from, events).await?;
                halt_point(&m.tag, i + 1, "after-statement");
                let status = if i + 1 == total { Status::Applied } else { Status::Running };
                self.record(conn, m, status, i + 1).await?;
                halt_point(&m.tag, i + 1, "after-cursor");
                events(Event::StatementDone { tag: m.tag.clone(), number: i + 1, total, elapsed_ms: started.elapsed().as_millis() as u64, note });
                i += 1;
                continue;
            }
            let end = (i..total).find(|&j| statement::classify(&m.statements[j]).non_transactional).unwrap_or(total);
            let status = if end == total { Status::Applied } else { Status::Running };
            let record = self.options.history.record_literal(m, status, end);
            let started = Instant::now();
            let mut failed: Option<(usize, sqlx::Error)> = None;
            let outcome = retrying(conn, &self.connector, &self.options.retry, async |c| {
                // Two round trips fewer per migration than BEGIN/.../COMMIT apart: BEGIN
                // travels with the first statement, the history write with COMMIT. Each
                // statement is still its own message, so a failure names its statement.
                let result = async {
                    for j in i..end {
                        let sql = if j == i { format!("BEGIN;\n{}", m.statements[j]) } else { m.statements[j].clone() };
                        if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *c).await {
                            failed = Some((j, e));
                            return Err(sqlx::Error::Protocol("statement failed".into()));
                        }
                    }
                    sqlx::raw_sql(AssertSqlSafe(format!("{record};\nCOMMIT"))).execute(&mut *c).await.map(|_| ())
                }
                .await;
                if result.is_err() {
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *c).await;
                }
                result
            })
            .await;
            if let Some((j, source)) = failed.take() {
                return Err(RunError::statement(m, j, source));
            }
            outcome.map_err(|e| RunError::db(&format!("{}: committing", m.tag), e.error))?;
            halt_point(&m.tag, end, "after-cursor");
            let elapsed_ms = started.elapsed().as_millis() as u64;
            for j in i..end {
                events(Event::StatementDone { tag: m.tag.clone(), number: j + 1, total, elapsed_ms, note: None });
            }
            i = end;
        }
        Ok(())
    }

    /// `--single-transaction` on PostgreSQL: every pending migration, then their history
    /// rows, in one transaction. (One history insert at the end: interleaving DML between
    /// hundreds of DDL statements in one transaction made PostgreSQL twice as slow.)
    async fn apply_postgres_together(&self, conn: &mut Conn, pending: &[&LocalMigration], events: &dyn Fn(Event)) -> Result<(), RunError> {
        let started = Instant::now();
        let records: Vec<String> = pending.iter().map(|m| self.options.history.record_literal(m, Status::Applied, m.statements.len())).collect();
        let mut failed: Option<(usize, usize, sqlx::Error)> = None;
        let outcome = retrying(conn, &self.connector, &self.options.retry, async |c| {
            use sqlx::Connection;
            let mut tx = c.begin().await?;
            for (k, m) in pending.iter().enumerate() {
                for (j, statement) in m.statements.iter().enumerate() {
                    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(statement.clone())).execute(&mut *tx).await {
                        failed = Some((k, j, e));
                        return Err(sqlx::Error::Protocol("statement failed".into()));
                    }
                }
            }
            sqlx::raw_sql(AssertSqlSafe(records.join(";\n"))).execute(&mut *tx).await?;
            tx.commit().await
        })
        .await;
        if let Some((k, j, source)) = failed {
            return Err(RunError::statement(pending[k], j, source));
        }
        outcome.map_err(|e| RunError::db("committing the single transaction", e.error))?;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        for m in pending {
            events(Event::MigrationApplied { tag: m.tag.clone(), elapsed_ms });
        }
        Ok(())
    }

    /// The history (read-only; no table means nothing applied).
    async fn read_only_rows(&self, conn: &mut Conn) -> Result<BTreeMap<String, HistoryRow>, RunError> {
        let history = &self.options.history;
        let found = retrying(conn, &self.connector, &self.options.retry, async |c| history.bookkeeping(c).await)
            .await
            .map_err(|e| RunError::db("looking for the history table", e.error))?;
        if found.history { self.history_rows(conn, found.batch_columns).await } else { Ok(BTreeMap::new()) }
    }

    /// What `migrate` would do, changing nothing.
    pub async fn plan(&self) -> Result<Vec<PlannedMigration>, RunError> {
        let mut conn = self.connector.connect().await?;
        let rows = self.read_only_rows(&mut conn).await?;
        conn.close().await;
        self.verify_history(&rows)?;
        for m in self.set.migrations.iter().filter(|m| !rows.get(&m.tag).is_some_and(|r| r.status.is_done())) {
            self.refuse_statements(m)?;
        }
        let mut out = Vec::new();
        for m in &self.set.migrations {
            let row = rows.get(&m.tag);
            if row.is_some_and(|r| r.status.is_done()) {
                continue;
            }
            let (treated, skip) = if self.target().dsql_rules() { self.treat_for_dsql(m, &|_| {})? } else { (m.clone(), BTreeSet::new()) };
            let resume_from = row.map(|r| r.next_statement.max(0) as usize).unwrap_or(0);
            let statements = treated
                .statements
                .iter()
                .enumerate()
                .skip(resume_from)
                .map(|(i, s)| {
                    let how = if skip.contains(&i) {
                        "skipped: DSQL does not support it (see check-dsql)".to_owned()
                    } else if s != &m.statements[i] {
                        format!("rewritten for DSQL from `{}`; {}", m.statements[i].lines().next().unwrap_or(""), self.describe_execution(s))
                    } else {
                        self.describe_execution(s)
                    };
                    PlannedStatement { sql: self.sql_for_target(s), how }
                })
                .collect();
            out.push(PlannedMigration { tag: m.tag.clone(), resume_from, statements });
        }
        Ok(out)
    }

    fn describe_execution(&self, sql: &str) -> String {
        let info = statement::classify(sql);
        let target = self.target();
        match crate::directive::parse(sql) {
            Ok(Some(Directive::Copy(d))) if target.dsql_rules() => {
                return format!(
                    "copy directive: rows of `{}` into `{}` in batches of at most {} ordered by its primary key, each batch committed with its cursor; \
                     then row counts compared and grants copied",
                    d.source,
                    d.target,
                    self.batch_rows_per_transaction()
                );
            }
            Ok(Some(Directive::Backfill(d))) if target.dsql_rules() => {
                return format!(
                    "backfill directive: `{}.{}` set where NULL, in batches of at most {} rows ordered by the primary key, each batch committed with its cursor",
                    d.table,
                    d.column,
                    self.batch_rows_per_transaction()
                );
            }
            Err(e) => return format!("REFUSED: {e}"),
            _ => {}
        }
        let mut how = if !target.dsql_rules() {
            if info.non_transactional {
                "alone, outside a transaction; index validity checked; then its history write".to_owned()
            } else {
                "in the migration's transaction, committed with its history row".to_owned()
            }
        } else {
            "its own transaction; then the history cursor in another".to_owned()
        };
        if info.returns_job() {
            if target.has_jobs() {
                how.push_str("; waits for the ASYNC job (CALL sys.wait_for_job)");
            } else if target.translates() {
                how.push_str("; ASYNC dropped (PostgreSQL builds synchronously)");
            }
        }
        if info.index.as_ref().is_some_and(|ix| ix.mode == IndexMode::Async) {
            how.push_str("; index validity checked");
        }
        how
    }

    /// The state of every migration.
    pub async fn status(&self) -> Result<StatusReport, RunError> {
        let mut conn = self.connector.connect().await?;
        let rows = self.read_only_rows(&mut conn).await?;
        conn.close().await;
        let mut report = StatusReport::default();
        for m in &self.set.migrations {
            match rows.get(&m.tag) {
                None => report.pending.push(m.tag.clone()),
                Some(r) if r.status == Status::Running => {
                    let next = m.statements.get(r.next_statement.max(0) as usize);
                    let recreation = next.and_then(|s| crate::recreate::step_label(s)).map(|(table, step)| RecreationInFlight { table, step, copied_rows: r.copied_rows });
                    let backfill = match next.map(|s| crate::directive::parse(s)) {
                        Some(Ok(Some(Directive::Backfill(d)))) => Some(BackfillInFlight { table: d.table, column: d.column, filled_rows: r.copied_rows }),
                        _ => None,
                    };
                    report.in_progress.push(InProgress { tag: m.tag.clone(), done: r.next_statement, total: r.statements, recreation, backfill });
                }
                Some(r) => {
                    if r.status == Status::Applied && r.hash != m.hash {
                        report.edited.push(m.tag.clone());
                    }
                    report.applied.push(AppliedMigration { tag: m.tag.clone(), applied_at: r.applied_at.clone(), marked: r.status == Status::Marked });
                }
            }
        }
        report.unknown = rows.keys().filter(|t| !self.set.migrations.iter().any(|m| &m.tag == *t)).cloned().collect();
        Ok(report)
    }

    /// Records `tag` as applied without running it (idempotent). With `reset`, the history
    /// is replaced by that one row.
    pub async fn mark_applied(&self, tag: &str, reset: bool) -> Result<(), RunError> {
        let m = self
            .set
            .migrations
            .iter()
            .find(|m| m.tag == tag)
            .ok_or_else(|| RunError::Config(format!("no migration `{tag}` in {}", self.set.origin)))?;
        let mut conn = self.connector.connect().await?;
        self.ensure_history(&mut conn).await?;
        if reset {
            let history = &self.options.history;
            retrying(&mut conn, &self.connector, &self.options.retry, async |c| history.delete_all_but(c, tag).await)
                .await
                .map_err(|e| RunError::db("resetting the history", e.error))?;
        }
        self.record(&mut conn, m, Status::Marked, m.statements.len()).await?;
        conn.close().await;
        Ok(())
    }
}
