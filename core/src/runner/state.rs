//! The recorded state machine. Every state a migration can be in (see [`super::reconcile`])
//! is written to its history row before the runner enters it:
//!
//! ```text
//! (no row) ─start─▶ running@k ─executing─▶ executing@k ─advance─▶ running@k+1 … ─advance─▶ applied
//!                          │                    │
//!                          └──────failed────────┴──▶ failed@j ─(rerun)─▶ executing@j / running@j+1
//! ```
//!
//! A failure records the statement, its SQLSTATE and message, and the cursor `j` a rerun
//! starts at: the failed statement, or an earlier one when what it needs must be made
//! again (a failed copy starts over at the new table's creation, a failed validation at
//! the constraint's `NOT VALID` addition; on PostgreSQL the failed transaction's first
//! statement). `mark-applied` moves the cursor forward without running anything.
//!
//! Each write is one transaction (or part of the migration's own, on PostgreSQL) that
//! first checks the lock's [`Fence`], then updates the row only if its cursor is where this
//! run left it. So no write lands twice or over another runner's, and when the outcome of a
//! commit is unknown (the connection broke) the row is read back to decide, never replayed
//! blindly.

use super::Migrator;
use super::error::RunError;
use super::history::{HistoryRow, Status};
use super::lock::{Fence, Lock};
use super::retry;
use super::source::LocalMigration;
use super::target::Conn;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

/// The state a write leaves a history row in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transition {
    /// The new status.
    pub status: Status,
    /// The new cursor: statements before it are done.
    pub next: usize,
    /// How many of the file's statement hashes to record (the executed prefix).
    pub hashes: usize,
    /// For `Failed`: the statement, its SQLSTATE and message.
    pub error: Option<(usize, Option<String>, String)>,
    /// For `Executing` on PostgreSQL: the session running the statement.
    pub session: Option<String>,
    /// Forget a directive's batch progress (the cursor moved, or a copy starts over).
    pub clear_batches: bool,
}

impl Transition {
    /// Statement `k` is about to be sent.
    pub fn executing(k: usize, session: Option<String>) -> Transition {
        Transition { status: Status::Executing, next: k, hashes: k + 1, error: None, session, clear_batches: false }
    }

    /// Statements before `to` are done; the migration is applied when that is all of them.
    pub fn advance(to: usize, total: usize) -> Transition {
        let status = if to >= total { Status::Applied } else { Status::Running };
        Transition { status, next: to, hashes: to, error: None, session: None, clear_batches: true }
    }

    /// Statement `statement` failed; statements before `next` stay done.
    pub fn failed(next: usize, statement: usize, code: Option<String>, message: String) -> Transition {
        Transition { status: Status::Failed, next, hashes: next, error: Some((statement, code, message)), session: None, clear_batches: false }
    }

    /// `mark-applied`: statements before `through` recorded as done without running;
    /// all of them makes the migration marked.
    pub fn mark(through: usize, total: usize) -> Transition {
        let status = if through >= total { Status::Marked } else { Status::Running };
        Transition { status, next: through, hashes: through, error: None, session: None, clear_batches: true }
    }

    /// Whether `row` shows this transition committed.
    fn landed(&self, row: Option<&HistoryRow>) -> bool {
        row.is_some_and(|r| r.status == self.status && r.next_statement as usize == self.next)
    }
}

/// Why a write did not land.
/// One history write: the migration, its statement hashes, the statement its row must be
/// at (`None`: no row yet), and the transition.
struct Write<'a> {
    m: &'a LocalMigration,
    hashes: std::borrow::Cow<'a, [String]>,
    expected: Option<usize>,
    t: Transition,
}

#[derive(Debug)]
pub(crate) enum WriteError {
    /// The database failed.
    Db(sqlx::Error),
    /// The fence says another runner holds the lock now.
    LockLost,
    /// The row is not where this run left it.
    Moved,
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        WriteError::Db(e)
    }
}

impl WriteError {
    pub(crate) fn into_run_error(self, m: &LocalMigration, doing: &str) -> RunError {
        match self {
            WriteError::Db(e) => RunError::db(&format!("{}: {doing}", m.tag), e),
            WriteError::LockLost => RunError::LockLost(format!("another runner took it over before {} could record progress", m.tag)),
            WriteError::Moved => RunError::LockLost(format!("the history row of {} changed under this run, so another runner is at work", m.tag)),
        }
    }
}

/// Inside an open transaction: checks the fence, when there is one.
pub(crate) async fn check_fence(c: &mut PgConnection, fence: Option<&Fence>) -> Result<(), WriteError> {
    match fence {
        Some(f) if !f.check(c).await? => Err(WriteError::LockLost),
        _ => Ok(()),
    }
}

impl Migrator {
    /// Inside an open transaction: checks the fence, then moves the row of `m` from cursor
    /// `expected` (`None`: there is no row yet) to `t`.
    pub(crate) async fn write_in(&self, c: &mut PgConnection, fence: Option<&Fence>, m: &LocalMigration, hashes: &[String], expected: Option<usize>, t: &Transition) -> Result<(), WriteError> {
        check_fence(c, fence).await?;
        self.write_row(c, m, hashes, expected, t).await
    }

    /// Inside an open transaction whose fence is checked: moves the row of `m` from cursor
    /// `expected` (`None`: there is no row yet) to `t`.
    pub(crate) async fn write_row(&self, c: &mut PgConnection, m: &LocalMigration, hashes: &[String], expected: Option<usize>, t: &Transition) -> Result<(), WriteError> {
        let table = self.options.history.qualified();
        let recorded = serde_json::to_string(&hashes[..t.hashes.min(hashes.len())]).expect("strings serialise");
        let (error_statement, error_code, error_message) = match &t.error {
            Some((s, code, message)) => (Some(*s as i32), code.clone(), Some(message.clone())),
            None => (None, None, None),
        };
        let applied_at = if t.status.is_done() { "now()" } else { "NULL" };
        let written = match expected {
            Some(from) => {
                let batches = if t.clear_batches { "copy_cursor = NULL, copied_rows = NULL," } else { "" };
                let sql = format!(
                    "UPDATE {table} SET hash = $2, status = $3, next_statement = $4, statements = $5, statement_hashes = $6, error_statement = $7, \
                     error_code = $8, error_message = $9, session = $10, {batches} applied_at = {applied_at} WHERE tag = $1 AND next_statement = $11"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(&m.tag)
                    .bind(&m.hash)
                    .bind(t.status.as_str())
                    .bind(t.next as i32)
                    .bind(m.statements.len() as i32)
                    .bind(recorded)
                    .bind(error_statement)
                    .bind(error_code)
                    .bind(error_message)
                    .bind(&t.session)
                    .bind(from as i32)
                    .execute(&mut *c)
                    .await
            }
            None => {
                let sql = format!(
                    "INSERT INTO {table} (tag, hash, created_at, status, next_statement, statements, statement_hashes, error_statement, error_code, error_message, session, applied_at) \
                     VALUES ($1, $2, $11, $3, $4, $5, $6, $7, $8, $9, $10, {applied_at})"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(&m.tag)
                    .bind(&m.hash)
                    .bind(t.status.as_str())
                    .bind(t.next as i32)
                    .bind(m.statements.len() as i32)
                    .bind(recorded)
                    .bind(error_statement)
                    .bind(error_code)
                    .bind(error_message)
                    .bind(&t.session)
                    .bind(m.when)
                    .execute(&mut *c)
                    .await
            }
        };
        match written {
            Ok(done) if done.rows_affected() == 1 => Ok(()),
            Ok(_) => Err(WriteError::Moved),
            Err(e) if retry::sqlstate(&e).as_deref() == Some("23505") => Err(WriteError::Moved),
            Err(e) => Err(WriteError::Db(e)),
        }
    }

    /// One write in its own transaction, retried on conflicts; after a lost connection the
    /// row is read back, and the write is repeated only if it did not land.
    pub(crate) async fn record(&self, conn: &mut Conn, lock: &Lock, m: &LocalMigration, hashes: &[String], expected: Option<usize>, t: &Transition) -> Result<(), RunError> {
        self.record_all(conn, lock, &[Write { m, hashes: hashes.into(), expected, t: t.clone() }], "recording progress").await
    }

    /// Records `migrations` as applied without running them, all in one transaction (for
    /// what drizzle-kit applied): every row lands or none does.
    pub(crate) async fn record_adopted(&self, conn: &mut Conn, lock: &Lock, migrations: &[&LocalMigration]) -> Result<(), RunError> {
        let writes: Vec<Write> = migrations
            .iter()
            .map(|m| Write { m, hashes: super::history::statement_hashes(m).into(), expected: None, t: Transition::mark(m.statements.len(), m.statements.len()) })
            .collect();
        self.record_all(conn, lock, &writes, "recording what drizzle-kit applied").await
    }

    /// `writes` in one transaction, retried on conflicts; after a lost connection the rows
    /// are read back, and the transaction is repeated only if it did not land.
    async fn record_all(&self, conn: &mut Conn, lock: &Lock, writes: &[Write<'_>], doing: &str) -> Result<(), RunError> {
        let policy = self.options.retry;
        let (mut conflicts, mut failures) = (0u32, 0u32);
        loop {
            let attempt = async {
                let mut tx = conn.pg().begin().await?;
                for w in writes {
                    self.write_in(&mut tx, lock.fence(), w.m, &w.hashes, w.expected, &w.t).await?;
                }
                tx.commit().await?;
                Ok::<(), WriteError>(())
            }
            .await;
            let error = match attempt {
                Ok(()) => return Ok(()),
                Err(WriteError::Db(e)) => e,
                Err(other) => {
                    // A write that found the row already moved may be our own, committed
                    // just before a lost connection: read it back.
                    if failures > 0 && matches!(other, WriteError::Moved) && self.landed(conn, writes).await? {
                        return Ok(());
                    }
                    return Err(other.into_run_error(writes[0].m, doing));
                }
            };
            if retry::occ_code(&error).is_some() && conflicts + 1 < policy.conflict_attempts {
                conflicts += 1;
                tokio::time::sleep(policy.delay(conflicts)).await;
                continue;
            }
            if retry::is_transient(&error) && failures + 1 < policy.connection_attempts {
                failures += 1;
                tokio::time::sleep(policy.delay(failures + 3)).await;
                conn.reconnect(&self.connector).await?;
                if self.landed(conn, writes).await? {
                    return Ok(());
                }
                continue;
            }
            return Err(RunError::db(&format!("{}: {doing}", writes[0].m.tag), error));
        }
    }

    /// Whether every write's row is as the write left it.
    async fn landed(&self, conn: &mut Conn, writes: &[Write<'_>]) -> Result<bool, RunError> {
        for w in writes {
            if !w.t.landed(self.read_row(conn, &w.m.tag).await?.as_ref()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The current row of `tag` (read after a lost connection, so retried itself).
    pub(crate) async fn read_row(&self, conn: &mut Conn, tag: &str) -> Result<Option<HistoryRow>, RunError> {
        let history = &self.options.history;
        retry::retrying(conn, &self.connector, &self.options.retry, async |c| history.row(c, tag).await)
            .await
            .map_err(|e| RunError::db(&format!("{tag}: reading its history row"), e.error))
    }
}
