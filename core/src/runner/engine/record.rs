//! The recorded state machine: each [`Transition`] of a history row's [`Status`] is written
//! before the runner enters the state it leads to. (Three words, three things: the
//! row's `Status` is what the history table holds; a `Transition` moves it, here; the
//! `State` of a migration is what [`super::reconcile`](mod@super::reconcile) makes of the
//! row and the file together.)
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
use super::history::{HistoryRow, Status};
use super::lock::{Fence, Lock};
use crate::runner::base::error::RunError;
use crate::runner::base::retry;
use crate::runner::base::target::Conn;
use crate::runner::source::LocalMigration;
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
        Transition {
            status: Status::Executing,
            next: k,
            hashes: k + 1,
            error: None,
            session,
            clear_batches: false,
        }
    }

    /// Statements before `to` are done; the migration is applied when that is all of them.
    pub(crate) fn advance(to: usize, total: usize) -> Transition {
        let status = if to >= total {
            Status::Applied
        } else {
            Status::Running
        };
        Transition {
            status,
            next: to,
            hashes: to,
            error: None,
            session: None,
            clear_batches: true,
        }
    }

    /// Statement `statement` failed; statements before `next` stay done.
    pub fn failed(
        next: usize,
        statement: usize,
        code: Option<String>,
        message: String,
    ) -> Transition {
        Transition {
            status: Status::Failed,
            next,
            hashes: next,
            error: Some((statement, code, message)),
            session: None,
            clear_batches: false,
        }
    }

    /// `mark-applied`: statements before `through` recorded as done without running;
    /// all of them makes the migration marked.
    pub fn mark(through: usize, total: usize) -> Transition {
        let status = if through >= total {
            Status::Marked
        } else {
            Status::Running
        };
        Transition {
            status,
            next: through,
            hashes: through,
            error: None,
            session: None,
            clear_batches: true,
        }
    }

    /// Whether `row` shows this transition committed.
    fn landed(&self, row: Option<&HistoryRow>) -> bool {
        row.is_some_and(|r| r.status == self.status && r.cursor() == self.next)
    }
}

/// One history write: the migration, its statement hashes, the statement its row must be
/// at (`None`: no row yet), and the transition.
struct Write<'a> {
    m: &'a LocalMigration,
    hashes: std::borrow::Cow<'a, [String]>,
    expected: Option<usize>,
    t: Transition,
}

/// Why a history write did not land.
#[derive(Debug)]
pub(crate) enum RecordError {
    /// The database failed.
    Db(sqlx::Error),
    /// The fence says another runner holds the lock now.
    LockLost,
    /// The row is not where this run left it.
    Moved,
}

impl From<sqlx::Error> for RecordError {
    fn from(e: sqlx::Error) -> Self {
        RecordError::Db(e)
    }
}

impl RecordError {
    pub(crate) fn into_run_error(self, m: &LocalMigration, doing: &str) -> RunError {
        match self {
            RecordError::Db(e) => RunError::db(&format!("{}: {doing}", m.tag), e),
            RecordError::LockLost => RunError::LockLost(format!(
                "another runner took it over before {} could record progress",
                m.tag
            )),
            RecordError::Moved => RunError::LockLost(format!(
                "the history row of {} changed under this run, so another runner is at work",
                m.tag
            )),
        }
    }
}

/// A value of a history write: bound as a parameter, or written as a literal.
enum Param {
    Text(Option<String>),
    Int(Option<i32>),
    BigInt(i64),
}

impl Param {
    /// The value as an SQL literal ([`crate::sql::ident::literal`] for text).
    fn literal(&self) -> String {
        match self {
            Param::Text(None) | Param::Int(None) => "NULL".to_owned(),
            Param::Text(Some(text)) => crate::sql::ident::literal(text),
            Param::Int(Some(n)) => n.to_string(),
            Param::BigInt(n) => n.to_string(),
        }
    }
}

/// The write that moves a migration's history row from cursor `expected` to a transition.
struct HistoryWrite {
    /// `$1` to `$11`.
    values: Vec<Param>,
    update: bool,
    clear_batches: bool,
    done: bool,
}

impl HistoryWrite {
    fn new(
        m: &LocalMigration,
        hashes: &[String],
        expected: Option<usize>,
        t: &Transition,
    ) -> HistoryWrite {
        let recorded = serde_json::to_string(&hashes[..t.hashes.min(hashes.len())])
            .expect("strings serialise");
        let (error_statement, error_code, error_message) = match &t.error {
            Some((s, code, message)) => (Some(*s as i32), code.clone(), Some(message.clone())),
            None => (None, None, None),
        };
        let values = vec![
            Param::Text(Some(m.tag.clone())),
            Param::Text(Some(m.hash.clone())),
            Param::Text(Some(t.status.as_str().to_owned())),
            Param::Int(Some(t.next as i32)),
            Param::Int(Some(m.statements.len() as i32)),
            Param::Text(Some(recorded)),
            Param::Int(error_statement),
            Param::Text(error_code),
            Param::Text(error_message),
            Param::Text(t.session.clone()),
            // The cursor it moves from, or the creation time of a new row.
            match expected {
                Some(from) => Param::Int(Some(from as i32)),
                None => Param::BigInt(m.when),
            },
        ];
        HistoryWrite {
            values,
            update: expected.is_some(),
            clear_batches: t.clear_batches,
            done: t.status.is_done(),
        }
    }

    /// The SQL on `table`, with parameters (`$n`) or, `inline`, literals.
    fn sql(&self, table: &str, inline: bool) -> String {
        let p = |n: usize| {
            if inline {
                self.values[n - 1].literal()
            } else {
                format!("${n}")
            }
        };
        let applied_at = if self.done { "now()" } else { "NULL" };
        if self.update {
            let batches = if self.clear_batches {
                "copy_cursor = NULL, copied_rows = NULL,"
            } else {
                ""
            };
            format!(
                "UPDATE {table} SET hash = {}, status = {}, next_statement = {}, statements = {}, statement_hashes = {}, error_statement = {}, \
                 error_code = {}, error_message = {}, session = {}, {batches} applied_at = {applied_at} WHERE tag = {} AND next_statement = {}",
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7),
                p(8),
                p(9),
                p(10),
                p(1),
                p(11)
            )
        } else {
            format!(
                "INSERT INTO {table} (tag, hash, created_at, status, next_statement, statements, statement_hashes, error_statement, error_code, error_message, session, applied_at) \
                 VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {applied_at})",
                p(1),
                p(2),
                p(11),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7),
                p(8),
                p(9),
                p(10)
            )
        }
    }
}

/// What a history write's outcome says: one row moved, or the row was not where this run
/// left it (another runner moved it, or created it first).
pub(crate) fn row_written(result: Result<u64, sqlx::Error>) -> Result<(), RecordError> {
    match result {
        Ok(1) => Ok(()),
        Ok(_) => Err(RecordError::Moved),
        Err(e) => Err(write_failed(e)),
    }
}

/// A history write the database refused: a new row whose tag exists was created first by
/// another runner.
pub(crate) fn write_failed(e: sqlx::Error) -> RecordError {
    if retry::sqlstate(&e).as_deref() == Some("23505") {
        RecordError::Moved
    } else {
        RecordError::Db(e)
    }
}

/// Inside an open transaction: checks the fence, when there is one.
pub(crate) async fn check_fence(
    c: &mut PgConnection,
    fence: Option<&Fence>,
) -> Result<(), RecordError> {
    match fence {
        Some(f) if !f.check(c).await? => Err(RecordError::LockLost),
        _ => Ok(()),
    }
}

impl Migrator {
    /// Inside an open transaction: checks the fence, then moves the row of `m` from cursor
    /// `expected` (`None`: there is no row yet) to `t`.
    pub(crate) async fn write_in(
        &self,
        c: &mut PgConnection,
        fence: Option<&Fence>,
        m: &LocalMigration,
        hashes: &[String],
        expected: Option<usize>,
        t: &Transition,
    ) -> Result<(), RecordError> {
        check_fence(c, fence).await?;
        self.write_row(c, m, hashes, expected, t).await
    }

    /// Inside an open transaction whose fence is checked: moves the row of `m` from cursor
    /// `expected` (`None`: there is no row yet) to `t`.
    pub(crate) async fn write_row(
        &self,
        c: &mut PgConnection,
        m: &LocalMigration,
        hashes: &[String],
        expected: Option<usize>,
        t: &Transition,
    ) -> Result<(), RecordError> {
        let write = HistoryWrite::new(m, hashes, expected, t);
        let mut query = sqlx::query(AssertSqlSafe(
            write.sql(&self.options.history.qualified(), false),
        ));
        for value in write.values {
            query = match value {
                Param::Text(v) => query.bind(v),
                Param::Int(v) => query.bind(v),
                Param::BigInt(v) => query.bind(v),
            };
        }
        row_written(
            query
                .execute(&mut *c)
                .await
                .map(|done| done.rows_affected()),
        )
    }

    /// The same write as [`Self::write_row`] with its values written out as literals, to
    /// travel in one message with other statements (see `commit_pipelined`); its outcome
    /// is read with [`row_written`].
    pub(crate) fn write_row_sql(
        &self,
        m: &LocalMigration,
        hashes: &[String],
        expected: Option<usize>,
        t: &Transition,
    ) -> String {
        HistoryWrite::new(m, hashes, expected, t).sql(&self.options.history.qualified(), true)
    }

    /// One write in its own transaction, retried on conflicts; after a lost connection the
    /// row is read back, and the write is repeated only if it did not land.
    pub(crate) async fn record(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        m: &LocalMigration,
        hashes: &[String],
        expected: Option<usize>,
        t: &Transition,
    ) -> Result<(), RunError> {
        self.record_all(
            conn,
            lock,
            &[Write {
                m,
                hashes: hashes.into(),
                expected,
                t: t.clone(),
            }],
            "recording progress",
        )
        .await
    }

    /// Records `migrations` as applied without running them, all in one transaction (for
    /// what drizzle-kit applied): every row lands or none does.
    pub(crate) async fn record_adopted(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        migrations: &[&LocalMigration],
    ) -> Result<(), RunError> {
        let writes: Vec<Write> = migrations
            .iter()
            .map(|m| Write {
                m,
                hashes: super::history::statement_hashes(m).into(),
                expected: None,
                t: Transition::mark(m.statements.len(), m.statements.len()),
            })
            .collect();
        self.record_all(conn, lock, &writes, "recording what drizzle-kit applied")
            .await
    }

    /// `writes` in one transaction, retried on conflicts; after a lost connection the rows
    /// are read back, and the transaction is repeated only if it did not land.
    async fn record_all(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        writes: &[Write<'_>],
        doing: &str,
    ) -> Result<(), RunError> {
        let policy = self.options.retry;
        let (mut conflicts, mut failures) = (0u32, 0u32);
        loop {
            let attempt = async {
                let mut tx = conn.pg().begin().await?;
                for w in writes {
                    self.write_in(&mut tx, lock.fence(), w.m, &w.hashes, w.expected, &w.t)
                        .await?;
                }
                tx.commit().await?;
                Ok::<(), RecordError>(())
            }
            .await;
            let error = match attempt {
                Ok(()) => return Ok(()),
                Err(RecordError::Db(e)) => e,
                Err(other) => {
                    // A write that found the row already moved may be our own, committed
                    // just before a lost connection: read it back.
                    if failures > 0
                        && matches!(other, RecordError::Moved)
                        && self.landed(conn, writes).await?
                    {
                        return Ok(());
                    }
                    return Err(other.into_run_error(writes[0].m, doing));
                }
            };
            let what = format!("{}: {doing}", writes[0].m.tag);
            if let Some(wait) = policy.after_conflict(&error, &mut conflicts, &what) {
                tokio::time::sleep(wait).await;
                continue;
            }
            if let Some(wait) = policy.after_lost_connection(&error, &mut failures, &what) {
                tokio::time::sleep(wait).await;
                conn.reconnect(&self.connector).await?;
                if self.landed(conn, writes).await? {
                    return Ok(());
                }
                continue;
            }
            return Err(RunError::db(
                &format!("{}: {doing}", writes[0].m.tag),
                error,
            ));
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
    pub(crate) async fn read_row(
        &self,
        conn: &mut Conn,
        tag: &str,
    ) -> Result<Option<HistoryRow>, RunError> {
        let history = &self.options.history;
        retry::retrying(conn, &self.connector, &self.options.retry, async |c| {
            history.row(c, tag).await
        })
        .await
        .map_err(|e| RunError::db(&format!("{tag}: reading its history row"), e.error))
    }
}

impl RunError {
    /// Statement `index` (0-based) of `m` failed; a rerun starts at `restart` (0-based).
    pub(crate) fn statement(
        m: &LocalMigration,
        index: usize,
        restart: usize,
        source: sqlx::Error,
    ) -> RunError {
        RunError::Statement {
            tag: m.tag.clone(),
            number: index + 1,
            total: m.statements.len(),
            resumes_at: restart.min(index) + 1,
            statement: m.statements[index].clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Param;

    #[test]
    fn literals_escape_quotes_backslashes_and_nul() {
        assert_eq!(
            Param::Text(Some(r"o'neil\n".to_owned())).literal(),
            r"E'o''neil\\n'"
        );
        assert_eq!(Param::Text(Some("a\0b".to_owned())).literal(), r"E'a\x00b'");
        assert_eq!(Param::Text(None).literal(), "NULL");
        assert_eq!(Param::Int(Some(-3)).literal(), "-3");
        assert_eq!(Param::BigInt(1_700_000_000_000).literal(), "1700000000000");
    }
}
