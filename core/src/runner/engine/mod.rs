//! The engine: applies pending migrations exactly once, under a lock, resumably. The
//! [`Migrator`] applies each through one loop ([`apply`]); what differs per dialect is how
//! statements group into steps ([`rules`]).
//!
//! * [`reconcile`](mod@reconcile) is the one policy: from the local migrations and the
//!   history it decides the state of every migration and what a run does with it (its
//!   action); `migrate`, `--dry-run`, `status`, `verify` and `mark-applied` all use it.
//! * Every migration starts the same way on both dialects ([`Migrator::start`]: what the
//!   last run left in flight is settled first).
//! * The history is a recorded state machine ([`record`]): every state is written before
//!   it is entered, each write checked against the lock's fence ([`lock`]).
//! * Statements that can share a transaction with the history write commit together with
//!   it; those that cannot are recorded as executing first and, if their outcome is
//!   unknown, settled from the catalog ([`outcome`]) — never replayed blindly, never
//!   judged by an error code ([`apply`]). `--single-transaction` on PostgreSQL puts every
//!   pending migration in one transaction ([`together`]).
//! * Before anything runs, what the target cannot take is refused ([`input`]).
//! * Directives walk tables in batches that commit with their cursor ([`walk`]); DSQL's
//!   jobs and INVALID indexes are waited for and repaired ([`jobs`]).
//! * A folder imported from drizzle-kit adopts drizzle's own history ([`drizzle`]); the
//!   permissions file converges under the same lock ([`permissions`]).

mod apply;
mod drizzle;
pub(crate) mod dry_run;
mod effect;
pub(crate) mod history;
mod input;
mod jobs;
mod lock;
mod outcome;
pub mod permissions;
pub mod reconcile;
mod record;
mod rules;
mod together;
mod walk;

use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::failpoint;
use crate::runner::base::retry::{self, RetryPolicy, retrying};
use crate::runner::base::target::{Conn, Connector, Target};
use crate::runner::source::{LocalMigration, MigrationSet};
use history::{Bookkeeping, HistoryRow, HistoryTable};
use lock::Lock;
use reconcile::{Action, State, reconcile};
use record::Transition;
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::time::{Duration, Instant};

/// SQL that makes a PostgreSQL database reject what Aurora DSQL rejects, for test suites
/// (see the file's header for what it enforces).
pub const DSQL_GUARD_SQL: &str = include_str!("dsql_guard.sql");

/// Applies `statements` as the runner applies a migration (DSQL's one DDL per
/// transaction, async indexes, rebuild copies), but keeps no history: its bookkeeping
/// lives in tables of its own in `bookkeeping_schema`, dropped afterwards whatever
/// happened. For `push` and `clone`, whose databases have no migration to record.
/// `label` names the work in messages (`push`, `clone`).
pub async fn apply_unrecorded(
    target: Target,
    label: &str,
    statements: Vec<String>,
    bookkeeping_schema: &str,
    events: &dyn Fn(Event),
) -> Result<(), RunError> {
    let bookkeeping = HistoryTable {
        schema: bookkeeping_schema.to_owned(),
        table: format!(
            "tablewright_{label}_{}_{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ),
    };
    let sql = crate::sql::split::migration_file(&statements);
    let migration = LocalMigration {
        tag: label.to_owned(),
        when: 0,
        hash: crate::project::hash::migration_hash(sql.as_bytes()),
        statements,
        origin: label.to_owned(),
    };
    let set = MigrationSet {
        migrations: vec![migration],
        origin: label.to_owned(),
        drizzle: None,
    };
    let migrator = Migrator::new(
        target,
        set,
        MigratorOptions {
            history: bookkeeping.clone(),
            lock: false,
            ..MigratorOptions::default()
        },
    )
    .await?;
    let result = migrator.run(events).await;
    let removed = drop_bookkeeping(migrator.connector(), &bookkeeping).await;
    result?;
    removed
}

/// Drops the bookkeeping tables of `history` (the history, the lock, the batches), one
/// statement each.
async fn drop_bookkeeping(connector: &Connector, history: &HistoryTable) -> Result<(), RunError> {
    let mut conn = connector.connect().await?;
    for table in history.own_tables() {
        let qualified = HistoryTable {
            schema: history.schema.clone(),
            table,
        }
        .qualified();
        sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE IF EXISTS {qualified}")))
            .execute(conn.pg())
            .await
            .map_err(|e| RunError::db(&format!("dropping {qualified}"), e))?;
    }
    conn.close().await;
    Ok(())
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
    /// Bound on the whole run, lock wait included. On expiry the statement in flight is
    /// cancelled on the server (PostgreSQL) and its session waited out, then the lock is
    /// released.
    pub timeout: Option<Duration>,
    /// Rows per transaction in a directive's batches (at most 2,998 under DSQL's
    /// 3,000-row limit, with the history row and the copy's range record).
    pub batch_rows: usize,
    /// A permissions file to converge on after the migrations, still under the lock:
    /// roles created, grants applied, undeclared privileges revoked, then validated.
    pub permissions: Option<permissions::PermissionsFile>,
    /// For a folder imported from drizzle-kit: migrations drizzle's migrator skipped
    /// (their `when` older than a later one's) that are to run now, by tag. Any other
    /// such migration is refused: it may have been applied by hand.
    pub run_skipped: Vec<String>,
    /// Apply the pending migrations up to and including this tag, nothing after it
    /// (`migrate --to`). The permissions file, which describes the schema after every
    /// migration, is left for the run that applies the rest.
    pub to: Option<String>,
}

impl Default for MigratorOptions {
    fn default() -> Self {
        MigratorOptions {
            history: HistoryTable::default(),
            lock: true,
            lease: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            single_transaction: false,
            timeout: None,
            batch_rows: 1000,
            permissions: None,
            run_skipped: Vec::new(),
            to: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RunReport {
    /// Migrations applied by this run, in order.
    pub applied: Vec<String>,
    /// Migrations that were already done.
    pub already_applied: usize,
    /// What converging on the permissions file did, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<permissions::Convergence>,
    /// Pending migrations after `to`'s tag, left for a later run, in order.
    pub held_back: Vec<String>,
}

/// The state of every migration, for `status`.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct MigrationsStatus {
    /// Run, recorded by `mark-applied`, or applied by drizzle-kit, in journal order; an
    /// edited one is listed in `edited` too.
    pub applied: Vec<AppliedMigration>,
    /// Not started.
    pub pending: Vec<String>,
    /// Started and stopped between statements, or inside one (`interrupted`).
    pub in_progress: Vec<InProgress>,
    /// Stopped at a statement the database refused.
    pub failed: Vec<FailedMigration>,
    /// Applied, and the file changed since.
    pub edited: Vec<String>,
    /// Stopped halfway, and the part that ran changed since.
    pub edited_in_progress: Vec<EditedInProgress>,
    /// In the database, unknown locally.
    pub unknown: Vec<String>,
}

impl MigrationsStatus {
    /// Something a check should fail on: edits, or history the folder does not know.
    pub fn has_problems(&self) -> bool {
        !self.edited.is_empty() || !self.edited_in_progress.is_empty() || !self.unknown.is_empty()
    }
}

/// A done migration.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct AppliedMigration {
    /// The migration's journal tag (`0003_add_books`).
    pub tag: String,
    /// When it was applied, as the database prints a `timestamptz`
    /// (`2025-03-01 12:00:00.123456+00`); `by drizzle-kit` for a migration drizzle-kit
    /// applied that the history does not record yet; `None` if the row holds no time.
    pub applied_at: Option<String>,
    /// Recorded by `mark-applied` rather than run.
    pub marked: bool,
}

/// A migration that stopped halfway.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct InProgress {
    /// The migration's journal tag (`0003_add_books`).
    pub tag: String,
    /// Statements done.
    pub done: usize,
    /// Statements in it.
    pub total: usize,
    /// It stopped inside statement `done + 1`, whose outcome the next run settles from the
    /// catalog first.
    pub interrupted: bool,
    /// When it stopped inside a table recreation: which table, which step, rows copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recreation: Option<RecreationInFlight>,
    /// When it stopped at a backfill: which column, rows filled so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillInFlight>,
}

/// A migration stopped by a failed statement.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct FailedMigration {
    /// The migration's journal tag (`0003_add_books`).
    pub tag: String,
    /// The statement that failed (1-based).
    pub statement: usize,
    /// Statements done (a rerun starts after them).
    pub done: usize,
    /// Statements in it.
    pub total: usize,
    /// SQLSTATE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The database's message.
    pub message: String,
}

/// A migration whose executed part was edited.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct EditedInProgress {
    /// The migration's journal tag (`0003_add_books`).
    pub tag: String,
    /// What changed.
    pub what: String,
}

/// A backfill that a run left halfway; the next `migrate` resumes it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct BackfillInFlight {
    /// The table being filled, as the model names it (`books`, or `auth.books` outside
    /// `public`).
    pub table: String,
    /// The column being filled.
    pub column: String,
    /// Rows filled so far (none before the first batch commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled_rows: Option<i64>,
}

/// A table recreation that a run left halfway; the next `migrate` finishes it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RecreationInFlight {
    /// The table being rebuilt.
    pub table: String,
    /// The next step, as its label says (`"5/8: copy the rows .."`).
    pub step: String,
    /// Rows copied so far, when the step is the copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied_rows: Option<i64>,
}

/// What `mark-applied` recorded.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Marked {
    /// The migration's journal tag (`0003_add_books`).
    pub tag: String,
    /// Statements now recorded as done.
    pub through: usize,
    /// Statements in it.
    pub total: usize,
    /// Statements (1-based) recorded as done that no run executed.
    pub never_ran: Vec<usize>,
    /// The rest of the history was removed.
    pub reset: bool,
}

/// Why a run was cut short from outside.
enum Cut {
    /// `--timeout` passed.
    Timeout(Duration),
    /// A signal (or whatever the caller's `stop` stands for).
    Stopped,
}

/// `work`, unless the deadline passes or `stop` completes first.
async fn within<T>(
    work: impl Future<Output = T>,
    deadline: Option<(tokio::time::Instant, Duration)>,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<T, Cut> {
    let expiry = async {
        match deadline {
            Some((at, _)) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        done = work => Ok(done),
        _ = expiry => Err(Cut::Timeout(deadline.map(|(_, limit)| limit).unwrap_or_default())),
        _ = stop.as_mut() => Err(Cut::Stopped),
    }
}

/// Applies a [`MigrationSet`] to a [`Target`].
pub struct Migrator {
    connector: Connector,
    set: MigrationSet,
    options: MigratorOptions,
}

impl Migrator {
    /// Prepares a migrator (for DSQL, loads AWS credentials).
    pub async fn new(
        target: Target,
        set: MigrationSet,
        options: MigratorOptions,
    ) -> Result<Migrator, RunError> {
        Ok(Migrator {
            connector: Connector::new(target).await?,
            set,
            options,
        })
    }

    /// The database it migrates, and under which rules (PostgreSQL or DSQL).
    pub fn target(&self) -> &Target {
        self.connector.target()
    }

    /// Its connector (for DSQL, with the credentials already loaded), for work beside the run.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// The migrations it applies, in journal order, and where they came from.
    pub fn migrations(&self) -> &MigrationSet {
        &self.set
    }

    async fn bookkeeping(&self, conn: &mut Conn) -> Result<Bookkeeping, RunError> {
        let history = &self.options.history;
        retrying(conn, &self.connector, &self.options.retry, async |c| {
            history.bookkeeping(c).await
        })
        .await
        .map_err(|e| RunError::db("looking for the history table", e.error))
    }

    /// Creates or upgrades the bookkeeping tables. Reading first keeps an up-to-date
    /// database free of DDL (no needless commits, and on DSQL no catalog change to
    /// invalidate other sessions' caches).
    async fn ensure_history(&self, conn: &mut Conn) -> Result<(), RunError> {
        let found = self.bookkeeping(conn).await?;
        for sql in self.options.history.setup_statements(&found) {
            // Concurrent runners may race to create these: PostgreSQL reports a duplicate
            // (23505 on the catalog index, 42P07 for the table, 42710 for its row type,
            // 42P06 for the schema, 42701 for a column), DSQL a conflict (retried); either
            // way the object exists afterwards. Each statement is idempotent in effect.
            let result = retrying(conn, &self.connector, &self.options.retry, async |c| {
                sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(c).await
            })
            .await;
            match result {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        retry::sqlstate(&e.error).as_deref(),
                        Some("23505" | "42P07" | "42710" | "42P06" | "42701")
                    ) => {}
                Err(e) => return Err(RunError::db("creating the history table", e.error)),
            }
        }
        Ok(())
    }

    /// The history rows (none when there is no history table), read as they are.
    async fn history_rows(&self, conn: &mut Conn) -> Result<Vec<HistoryRow>, RunError> {
        let found = self.bookkeeping(conn).await?;
        if !found.has_history() {
            return Ok(Vec::new());
        }
        let history = &self.options.history;
        retrying(conn, &self.connector, &self.options.retry, async |c| {
            history.rows(c, &found).await
        })
        .await
        .map_err(|e| RunError::db("reading the history", e.error))
    }

    /// How many of the set's migrations a run may work on: all of them, or, with
    /// [`MigratorOptions::to`], those up to and including its tag.
    fn through(&self) -> Result<usize, RunError> {
        let Some(tag) = &self.options.to else {
            return Ok(self.set.migrations.len());
        };
        match self.set.migrations.iter().position(|m| &m.tag == tag) {
            Some(at) => Ok(at + 1),
            None => Err(RunError::Config(format!(
                "--to {tag}: no migration `{tag}` in {}; the last is {}",
                self.set.origin,
                self.set.migrations.last().map_or(
                    "none (the folder is empty)".to_owned(),
                    |m| format!("`{}`", m.tag)
                )
            ))),
        }
    }

    /// Takes the lock (creating the bookkeeping as needed).
    async fn lock(&self, conn: &mut Conn, events: &dyn Fn(Event)) -> Result<Lock, RunError> {
        if !self.options.lock {
            self.ensure_history(conn).await?;
            return Ok(Lock::None);
        }
        if self.target().dsql_rules() {
            // The lease lives in a table, so the tables come first (idempotent, race-safe).
            self.ensure_history(conn).await?;
            return lock::lease(
                &self.connector,
                &self.options.history,
                self.options.lease,
                &self.options.retry,
                events,
            )
            .await;
        }
        let (lock_conn, key) =
            lock::advisory_session(&self.connector, &self.options.history, events).await?;
        self.ensure_history(conn).await?;
        lock::hold_advisory(lock_conn, key, &self.options.history, self.options.lease).await
    }

    /// Applies every pending migration.
    pub async fn run(&self, events: &dyn Fn(Event)) -> Result<RunReport, RunError> {
        self.run_until(events, std::future::pending()).await
    }

    /// Applies every pending migration, unless `stop` completes first (a signal): then the
    /// run stops as on a timeout, the statement in flight cancelled and the lock released.
    pub async fn run_until(
        &self,
        events: &dyn Fn(Event),
        stop: impl Future<Output = ()>,
    ) -> Result<RunReport, RunError> {
        // A wrong `--to` is refused before anything connects.
        self.through()?;
        let mut stop = std::pin::pin!(stop);
        let deadline = self
            .options
            .timeout
            .map(|t| (tokio::time::Instant::now() + t, t));
        let cut_short = |cut: Cut, what: &str| match cut {
            Cut::Timeout(limit) => RunError::Timeout {
                limit,
                what: what.to_owned(),
            },
            Cut::Stopped => RunError::Interrupted {
                what: what.to_owned(),
            },
        };
        let mut conn = within(self.connector.connect(), deadline, &mut stop)
            .await
            .map_err(|c| cut_short(c, " connecting"))??;
        let lock = match within(self.lock(&mut conn, events), deadline, &mut stop).await {
            Ok(lock) => lock?,
            Err(cut) => return Err(cut_short(cut, " waiting for the migration lock")),
        };
        let result = match within(
            self.run_locked(&mut conn, &lock, events),
            deadline,
            &mut stop,
        )
        .await
        {
            Ok(result) => {
                conn.close().await;
                result
            }
            Err(cut) => {
                // The statement in flight is abandoned mid-way: end its server session
                // (which rolls back whatever it had not committed) and wait until it is
                // gone, so that nothing of this run can commit once the lock is released.
                let ended = match conn.session().cloned() {
                    Some(session) => self.end_session(&session).await,
                    None => Ok(()),
                };
                drop(conn);
                let what = match (ended, self.target().has_sessions()) {
                    (Ok(()), true) => "; the statement in flight was ended on the server (what it had not committed rolled back), then the lock released".to_owned(),
                    (Ok(()), false) => "; the connection was closed (what it had not committed rolls back), then the lock released".to_owned(),
                    (Err(why), _) => format!("; the statement in flight could not be confirmed ended ({why}); the next run settles it"),
                };
                Err(cut_short(cut, &what))
            }
        };
        // The grants follow the schema, under the same lock, so that two deploys cannot
        // interleave their GRANTs and REVOKEs.
        let result = match (result, &self.options.permissions) {
            (Ok(mut report), Some(file)) if report.held_back.is_empty() => match within(
                permissions::converge(&self.connector, file),
                deadline,
                &mut stop,
            )
            .await
            {
                Ok(converged) => converged.map(|p| {
                    report.permissions = Some(p);
                    report
                }),
                // Each GRANT or REVOKE commits alone and is idempotent: a rerun finishes it.
                Err(cut) => Err(cut_short(
                    cut,
                    " while applying the permissions file (the migrations are done)",
                )),
            },
            (result, _) => result,
        };
        lock.release(&self.connector).await;
        result
    }

    /// For a folder imported from drizzle-kit: the migrations drizzle applied that this
    /// history (`rows`) has no row for, which the next run records as applied.
    pub(crate) async fn applied_by_drizzle(
        &self,
        conn: &mut Conn,
        rows: &[HistoryRow],
    ) -> Result<Vec<&LocalMigration>, RunError> {
        let Some(history) = &self.set.drizzle else {
            return Ok(Vec::new());
        };
        let own: Vec<String> = self.options.history.own_model_names().to_vec();
        // Reads only: a lost connection fails the run before anything is written, and the
        // rerun decides again.
        drizzle::to_adopt(
            conn.pg(),
            history,
            &self.set.migrations,
            rows,
            &own,
            &self.options.run_skipped,
        )
        .await
    }

    async fn run_locked(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        events: &dyn Fn(Event),
    ) -> Result<RunReport, RunError> {
        let mut rows = self.history_rows(conn).await?;
        // A folder imported from drizzle-kit: what drizzle's migrator applied and this
        // history lacks is recorded as applied, all in one transaction, before anything runs.
        let adopted = self.applied_by_drizzle(conn, &rows).await?;
        if !adopted.is_empty() {
            self.record_adopted(conn, lock, &adopted).await?;
            failpoint::hit("runner::after_adoption");
            for m in &adopted {
                events(Event::Adopted { tag: m.tag.clone() });
            }
            rows = self.history_rows(conn).await?;
        }
        let reconciled = reconcile(&self.set.migrations, &rows);
        if let Some(problem) = reconciled.blocking(&self.set.origin) {
            return Err(problem);
        }
        let through = self.through()?;
        let works = reconciled
            .to_run()
            .filter(|e| e.index < through)
            .map(|e| self.prepare(e, events))
            .collect::<Result<Vec<_>, _>>()?;
        let mut report = RunReport {
            applied: Vec::new(),
            already_applied: reconciled
                .entries
                .iter()
                .filter(|e| e.action.runs_from().is_none())
                .count(),
            permissions: None,
            held_back: reconciled
                .to_run()
                .filter(|e| e.index >= through)
                .map(|e| e.migration.tag.clone())
                .collect(),
        };
        let dsql = self.target().dsql_rules();
        // Nothing of them ran: no row, or a failure that left nothing (on PostgreSQL a
        // failed migration's transaction rolled back whole).
        let untouched = |w: &input::Work| matches!(w.action, Action::Run { fresh: true, .. });
        if self.options.single_transaction && works.len() > 1 {
            let why = if dsql {
                Some("under DSQL's rules every statement is its own transaction".to_owned())
            } else if let Some(w) = works.iter().find(|w| !untouched(w)) {
                Some(format!("{} is already partly applied", w.m.tag))
            } else {
                works
                    .iter()
                    .find(|w| w.statements.iter().any(|s| crate::sql::statement::classify(s).non_transactional))
                    .map(|w| format!("{} has a statement that cannot run inside a transaction (CONCURRENTLY)", w.m.tag))
            };
            if let Some(why) = why {
                return Err(RunError::Config(format!(
                    "--single-transaction cannot apply the pending migrations all or nothing: {why}; run without it"
                )));
            }
            self.apply_postgres_together(conn, lock, &works, events)
                .await?;
            report.applied = works.iter().map(|w| w.m.tag.clone()).collect();
            return Ok(report);
        }
        let rules = rules::for_target(self.target());
        for work in &works {
            let started = Instant::now();
            self.apply(rules, conn, lock, work, events).await?;
            if dsql
                && work
                    .statements
                    .iter()
                    .any(|s| s.contains(crate::sql::directive::COPY_MARK))
            {
                self.forget_ranges(conn, lock, work.m, None).await?;
            }
            events(Event::MigrationApplied {
                tag: work.m.tag.clone(),
                elapsed_ms: started.elapsed().as_millis() as u64,
            });
            report.applied.push(work.m.tag.clone());
        }
        Ok(report)
    }

    /// The state of every migration (read-only).
    pub async fn status(&self) -> Result<MigrationsStatus, RunError> {
        let mut conn = self.connector.connect().await?;
        let rows = self.history_rows(&mut conn).await?;
        let by_drizzle: Vec<String> = self
            .applied_by_drizzle(&mut conn, &rows)
            .await?
            .into_iter()
            .map(|m| m.tag.clone())
            .collect();
        conn.close().await;
        let reconciled = reconcile(&self.set.migrations, &rows);
        let mut report = MigrationsStatus {
            unknown: reconciled.unknown.clone(),
            ..MigrationsStatus::default()
        };
        for e in &reconciled.entries {
            let m = e.migration;
            let tag = m.tag.clone();
            let total = m.statements.len();
            match &e.state {
                // Applied by drizzle-kit: the next run records it, and runs nothing.
                State::Pending if by_drizzle.contains(&tag) => {
                    report.applied.push(AppliedMigration {
                        tag,
                        applied_at: Some("by drizzle-kit".to_owned()),
                        marked: true,
                    })
                }
                State::Pending => report.pending.push(tag),
                State::Applied { marked, applied_at } => report.applied.push(AppliedMigration {
                    tag,
                    applied_at: applied_at.clone(),
                    marked: *marked,
                }),
                State::Edited { .. } => {
                    report.edited.push(tag.clone());
                    report.applied.push(AppliedMigration {
                        tag,
                        applied_at: e.row.and_then(|r| r.applied_at.clone()),
                        marked: false,
                    });
                }
                State::EditedInProgress { what, .. } => {
                    report.edited_in_progress.push(EditedInProgress {
                        tag,
                        what: what.clone(),
                    })
                }
                State::InProgress { next, batch } | State::Interrupted { next, batch, .. } => {
                    let at = m.statements.get(*next);
                    let rows = batch.as_ref().map(|b| b.rows);
                    let recreation = at
                        .and_then(|s| crate::compile::recreate::step_label(s))
                        .map(|(table, step)| RecreationInFlight {
                            table,
                            step,
                            copied_rows: rows,
                        });
                    let backfill = match at.map(|s| crate::sql::directive::parse(s)) {
                        Some(Ok(Some(crate::sql::directive::Directive::Backfill(d)))) => {
                            Some(BackfillInFlight {
                                table: d.table,
                                column: d.column,
                                filled_rows: rows,
                            })
                        }
                        _ => None,
                    };
                    // A directive resumes after its last batch; nothing to settle.
                    let interrupted = matches!(e.action, Action::Settle { .. });
                    report.in_progress.push(InProgress {
                        tag,
                        done: *next,
                        total,
                        interrupted,
                        recreation,
                        backfill,
                    });
                }
                State::Failed {
                    next,
                    statement,
                    code,
                    message,
                } => report.failed.push(FailedMigration {
                    tag,
                    statement: statement + 1,
                    done: *next,
                    total,
                    code: code.clone(),
                    message: message.clone(),
                }),
            }
        }
        Ok(report)
    }

    /// Records `tag` as applied without running it: all of it, or its statements up to
    /// `through` (a migration then resumes after them). With `reset`, the rest of the
    /// history is removed. Takes the lock.
    pub async fn mark_applied(
        &self,
        tag: &str,
        reset: bool,
        through: Option<usize>,
    ) -> Result<Marked, RunError> {
        let m = self
            .set
            .migrations
            .iter()
            .find(|m| m.tag == tag)
            .ok_or_else(|| {
                RunError::Config(format!("no migration `{tag}` in {}", self.set.origin))
            })?;
        let total = m.statements.len();
        let through = through.unwrap_or(total);
        if through > total {
            return Err(RunError::Config(format!(
                "--through {through}: `{tag}` has {total} statement(s)"
            )));
        }
        let mut conn = self.connector.connect().await?;
        let lock = self.lock(&mut conn, &|_| {}).await?;
        let result = self.mark_locked(&mut conn, &lock, m, reset, through).await;
        conn.close().await;
        lock.release(&self.connector).await;
        result
    }

    async fn mark_locked(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        m: &LocalMigration,
        reset: bool,
        through: usize,
    ) -> Result<Marked, RunError> {
        let total = m.statements.len();
        // An edited migration is refused before anything is removed.
        let rows = self.history_rows(conn).await?;
        let before = reconcile(std::slice::from_ref(m), &rows);
        if before.entries[0].action == Action::Refuse {
            return Err(before.blocking(&self.set.origin).expect("an edit blocks"));
        }
        if reset {
            let history = &self.options.history;
            let sql = format!(
                "DELETE FROM {t} WHERE tag IN (SELECT tag FROM {t} WHERE tag <> $1 ORDER BY tag LIMIT 1000)",
                t = history.qualified()
            );
            loop {
                let deleted = retrying(conn, &self.connector, &self.options.retry, async |c| {
                    use sqlx::Connection as _;
                    let mut tx = c.begin().await?;
                    if let Some(fence) = lock.fence()
                        && !fence.check(&mut tx).await?
                    {
                        return Ok(None);
                    }
                    let n = sqlx::query(AssertSqlSafe(sql.clone()))
                        .bind(&m.tag)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    Ok(Some(n))
                })
                .await
                .map_err(|e| RunError::db("resetting the history", e.error))?;
                match deleted {
                    None => {
                        return Err(RunError::LockLost(
                            "another runner took it over during the reset".into(),
                        ));
                    }
                    Some(0) => break,
                    Some(_) => {}
                }
            }
        }
        let rows = self.history_rows(conn).await?;
        let reconciled = reconcile(std::slice::from_ref(m), &rows);
        let entry = &reconciled.entries[0];
        let done = match &entry.action {
            Action::Nothing => total,
            Action::Run { from: next, .. }
            | Action::Settle {
                statement: next, ..
            }
            | Action::Resume {
                statement: next, ..
            } => *next,
            Action::Refuse => {
                return Err(reconciled
                    .blocking(&self.set.origin)
                    .expect("an edit blocks"));
            }
        };
        if through < done {
            return Err(RunError::Config(format!(
                "--through {through}: statements 1 to {done} of `{}` already ran, and a run never undoes them",
                m.tag
            )));
        }
        let never_ran = (done + 1..=through).collect();
        if !(entry.action == Action::Nothing && through == total) {
            let hashes = history::statement_hashes(m);
            self.record(
                conn,
                lock,
                m,
                &hashes,
                entry.row.map(|r| r.cursor()),
                &Transition::mark(through, total),
            )
            .await?;
        }
        Ok(Marked {
            tag: m.tag.clone(),
            through,
            total,
            never_ran,
            reset,
        })
    }
}
