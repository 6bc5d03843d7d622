//! The one loop that applies a migration on both dialects ([`Migrator::apply`]), and what
//! it is made of: where a run starts ([`Migrator::start`]: the statement the last run left
//! in flight is settled first), and the two ways a statement is applied exactly once. The
//! dialect only decides how statements group into steps ([`super::rules`]).
//!
//! * [`Migrator::commit_with_cursor`]: statements that can share a transaction with the
//!   history write (data changes under DSQL's rules; every transactional statement on
//!   PostgreSQL) commit together with the cursor, so they take effect exactly when the
//!   cursor moves. After a lost connection the row is read back to learn whether that
//!   commit happened.
//! * [`Migrator::run_alone`]: a statement that must commit alone (DDL under DSQL's rules,
//!   `CONCURRENTLY` on PostgreSQL) is recorded as executing first, with the session that
//!   runs it, and the cursor moves after it. If its outcome is unknown, it is settled from
//!   the catalog ([`super::outcome`]).
//!
//! A statement the database refuses is recorded as failed at that statement, with its
//! SQLSTATE and message, and the run stops.

use super::Migrator;
use super::input::Work;
use super::lock::Lock;
use super::reconcile::Action;
use super::record::{RecordError, Transition, row_written, write_failed};
use super::rules::{Rules, Step};
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::failpoint;
use crate::runner::base::retry;
use crate::runner::base::target::{Conn, Session};
use crate::sql::statement;
use sqlx::{AssertSqlSafe, Connection as _, Row as _};
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::dialect::DSQL_MAX_ROWS_PER_TRANSACTION as DSQL_ROW_LIMIT;

/// Why a transaction with the cursor did not commit.
enum TxError {
    /// Statement `j` failed.
    Statement(usize, sqlx::Error),
    /// The database refused the commit (a deferred constraint, a conflict).
    Commit(sqlx::Error),
    /// The history write did not land.
    Write(RecordError),
    /// The transaction changed more rows than DSQL allows (the emulation counts them).
    RowLimit(usize, i64),
}

impl From<RecordError> for TxError {
    fn from(e: RecordError) -> Self {
        TxError::Write(e)
    }
}

impl From<sqlx::Error> for TxError {
    fn from(e: sqlx::Error) -> Self {
        TxError::Write(RecordError::Db(e))
    }
}

impl Migrator {
    /// Runs `work` from where its action says, step by step as `rules` group its
    /// statements; each step moves the cursor past what it ran, exactly once.
    pub(crate) async fn apply(
        &self,
        rules: &dyn Rules,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        events: &dyn Fn(Event),
    ) -> Result<(), RunError> {
        let m = work.m;
        let total = m.statements.len();
        let (mut i, mut cursor) = self.start(conn, lock, work, events).await?;
        let mut done = work.row.as_ref().is_some_and(|r| r.status.is_done());
        if cursor.is_none() && rules.records_before_first_statement() {
            self.record(
                conn,
                lock,
                m,
                &work.hashes,
                None,
                &Transition::advance(0, total),
            )
            .await?;
            failpoint::hit("runner::after_start");
            cursor = Some(0);
            done = total == 0;
        }
        if i >= total {
            // Nothing left to run, but not recorded as applied yet.
            if !done {
                self.commit_with_cursor(
                    conn,
                    lock,
                    work,
                    i..i,
                    cursor,
                    &Transition::advance(total, total),
                )
                .await?;
            }
            return Ok(());
        }
        while i < total {
            lock.confirm(conn).await?;
            if rules.connections_expire() {
                conn.refresh_if_old(&self.connector).await?;
            }
            let started = Instant::now();
            let step = rules.step(work, i)?;
            let end = step.end();
            let mut took = Vec::new();
            let mut note = None;
            match step {
                Step::WithCursor(range) => {
                    took = self
                        .commit_with_cursor(
                            conn,
                            lock,
                            work,
                            range,
                            cursor,
                            &Transition::advance(end, total),
                        )
                        .await?;
                    failpoint::hit("runner::after_cursor");
                }
                Step::Alone(_) => self.run_alone(conn, lock, work, i, cursor, events).await?,
                Step::Skip(_) => {
                    self.record(
                        conn,
                        lock,
                        m,
                        &work.hashes,
                        cursor,
                        &Transition::advance(end, total),
                    )
                    .await?;
                    failpoint::hit("runner::after_cursor");
                    note = Some("skipped");
                }
                Step::Walk(_, directive) => {
                    // Once a batch has committed the directive has partly run: recorded as
                    // executing, its text is frozen like the statements before it.
                    self.record(
                        conn,
                        lock,
                        m,
                        &work.hashes,
                        cursor,
                        &Transition::executing(i, None),
                    )
                    .await?;
                    self.run_directive(conn, lock, work, i, &directive, events)
                        .await?;
                    self.record(
                        conn,
                        lock,
                        m,
                        &work.hashes,
                        cursor,
                        &Transition::advance(end, total),
                    )
                    .await?;
                    failpoint::hit("runner::after_cursor");
                }
            }
            // Each statement's own time; the step's when a lost connection left only the
            // history to say that it committed.
            let whole = started.elapsed();
            for j in i..end {
                let elapsed = took.get(j - i).copied().unwrap_or(whole);
                events(Event::StatementDone {
                    tag: m.tag.clone(),
                    number: j + 1,
                    total,
                    elapsed_ms: elapsed.as_millis() as u64,
                    note,
                });
            }
            i = end;
            cursor = Some(end);
        }
        Ok(())
    }

    /// Where a run of `work` starts, the same for both dialects: announces the migration,
    /// then, when the last run left a statement in flight, waits out the session that ran
    /// it and settles its outcome from the catalog (a directive resumes after its last
    /// committed batch instead). Returns the first statement to run and the cursor the
    /// history row holds (`None`: no row yet).
    pub(crate) async fn start(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        events: &dyn Fn(Event),
    ) -> Result<(usize, Option<usize>), RunError> {
        let m = work.m;
        let total = m.statements.len();
        let from = work
            .action
            .runs_from()
            .expect("only migrations with something to run are applied");
        events(Event::MigrationStarted {
            tag: m.tag.clone(),
            statements: total,
            resume_from: from,
            previous: work.state.previous(),
        });
        let cursor = work.row.as_ref().map(|r| r.cursor());
        let (Action::Settle {
            statement: next,
            session,
        }
        | Action::Resume {
            statement: next,
            session,
        }) = &work.action
        else {
            return Ok((from, cursor));
        };
        let session = session.as_deref().and_then(Session::from_record);
        if !self
            .settle(conn, work, *next, session.as_ref(), events)
            .await?
        {
            return Ok((from, cursor));
        }
        // What it built must be valid (an index job may have failed, or still run).
        self.ensure_index_valid(conn, lock, work, *next, events)
            .await?;
        self.record(
            conn,
            lock,
            m,
            &work.hashes,
            cursor,
            &Transition::advance(next + 1, total),
        )
        .await?;
        events(Event::StatementDone {
            tag: m.tag.clone(),
            number: next + 1,
            total,
            elapsed_ms: 0,
            note: Some("took effect before the interruption"),
        });
        Ok((next + 1, Some(next + 1)))
    }

    /// The SQL sent for a statement: DSQL syntax translated when emulating on PostgreSQL.
    pub(crate) fn sql_for_target(&self, statement: &str) -> String {
        if self.target().translates() {
            crate::sql::emulate::to_postgres(statement)
        } else {
            statement.to_owned()
        }
    }

    /// Statements `range` of `work` and the history write `t` (from cursor `expected`) in
    /// one transaction. A failed statement is recorded as failed and returned as the error.
    /// Returns how long each statement took (the last one's time holds the commit), or
    /// nothing when a lost connection left only the history to say that it committed.
    pub(crate) async fn commit_with_cursor(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        range: Range<usize>,
        expected: Option<usize>,
        t: &Transition,
    ) -> Result<Vec<Duration>, RunError> {
        let m = work.m;
        let policy = self.options.retry;
        let count_rows = self.target().translates();
        let pipelined = matches!(
            self.target(),
            crate::runner::base::target::Target::Postgres { .. }
        );
        let (mut conflicts, mut failures) = (0u32, 0u32);
        loop {
            let attempt = if pipelined {
                self.commit_pipelined(conn.pg(), lock, work, range.clone(), expected, t)
                    .await
            } else {
                async {
                let mut tx = conn.pg().begin().await?;
                // The emulation's view of DSQL's row limit: every row this transaction
                // inserts, updates or deletes, in any table (cascades included). The
                // session's counters also hold earlier transactions' rows until the
                // server reports them, so the count is the growth from here.
                let changed = "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_xact_user_tables";
                let baseline: i64 = if count_rows { sqlx::query_scalar(changed).fetch_one(&mut *tx).await? } else { 0 };
                self.write_in(&mut tx, lock.fence(), m, &work.hashes, expected, t).await?;
                let mut took = Vec::with_capacity(range.len());
                for j in range.clone() {
                    let sql = self.sql_for_target(&work.statements[j]);
                    let started = Instant::now();
                    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(|e| TxError::Statement(j, e))?;
                    took.push(started.elapsed());
                    if count_rows {
                        let rows = sqlx::query_scalar::<_, i64>(changed).fetch_one(&mut *tx).await? - baseline;
                        if rows > DSQL_ROW_LIMIT {
                            return Err(TxError::RowLimit(j, rows));
                        }
                    }
                }
                let started = Instant::now();
                tx.commit().await.map_err(TxError::Commit)?;
                if let Some(last) = took.last_mut() {
                    *last += started.elapsed();
                }
                Ok::<_, TxError>(took)
            }
            .await
            };
            let landed = |row: Option<&super::history::HistoryRow>| {
                row.is_some_and(|r| r.status == t.status && r.cursor() == t.next)
            };
            let (error, statement) = match attempt {
                Ok(took) => return Ok(took),
                Err(TxError::Write(RecordError::Db(e))) => (e, None),
                // Our own commit, landed just before a lost connection, moved the row.
                Err(TxError::Write(RecordError::Moved))
                    if failures > 0 && landed(self.read_row(conn, &m.tag).await?.as_ref()) =>
                {
                    return Ok(Vec::new());
                }
                Err(TxError::Write(w)) => return Err(w.into_run_error(m, "recording progress")),
                Err(TxError::Statement(j, e)) => (e, Some(j)),
                // What the commit refuses, it refuses for the last statement it carried.
                Err(TxError::Commit(e)) => (
                    e,
                    Some(range.end.max(range.start + 1) - 1).filter(|j| *j < m.statements.len()),
                ),
                Err(TxError::RowLimit(j, rows)) => {
                    let message = format!(
                        "transaction row limit exceeded: {rows} rows changed, at most {DSQL_ROW_LIMIT}"
                    );
                    self.record(
                        conn,
                        lock,
                        m,
                        &work.hashes,
                        expected,
                        &Transition::failed(range.start, j, Some("54000".into()), message),
                    )
                    .await?;
                    return Err(RunError::RowLimit {
                        tag: m.tag.clone(),
                        number: j + 1,
                        rows,
                        limit: DSQL_ROW_LIMIT,
                        statement: m.statements[j].clone(),
                    });
                }
            };
            let doing = format!(
                "{}: committing statements {}..{}",
                m.tag,
                range.start + 1,
                range.end
            );
            if let Some(wait) = policy.after_conflict(&error, &mut conflicts, &doing) {
                tokio::time::sleep(wait).await;
                continue;
            }
            if let Some(wait) = policy.after_lost_connection(&error, &mut failures, &doing) {
                // The commit may have happened: the history row, written in the same
                // transaction, says whether it did.
                let old = conn.session().cloned();
                tokio::time::sleep(wait).await;
                conn.reconnect(&self.connector).await?;
                if let Some(session) = old.filter(|_| self.target().has_sessions()) {
                    self.end_session(&session)
                        .await
                        .map_err(|detail| RunError::LostSession {
                            tag: m.tag.clone(),
                            detail,
                        })?;
                }
                if landed(self.read_row(conn, &m.tag).await?.as_ref()) {
                    return Ok(Vec::new());
                }
                continue;
            }
            return Err(match statement {
                // A lost connection, retried to the end: the transaction did not commit (the
                // row says so), nothing is recorded, the next run starts it again.
                _ if retry::is_transient(&error) => RunError::db(
                    &format!("{}: lost the connection, and it did not come back", m.tag),
                    error,
                ),
                Some(j) => {
                    let code = retry::sqlstate(&error);
                    self.record(
                        conn,
                        lock,
                        m,
                        &work.hashes,
                        expected,
                        &Transition::failed(
                            range.start,
                            j,
                            code,
                            crate::runner::base::error::database_message(&error),
                        ),
                    )
                    .await?;
                    RunError::statement(m, j, range.start, error)
                }
                None => RunError::db(&format!("{}: committing", m.tag), error),
            });
        }
    }

    /// On PostgreSQL, the transaction of [`Self::commit_with_cursor`] in two round trips
    /// instead of five: `BEGIN`, the fence check and the history write travel together
    /// (the write's values as literals), then the statements, the last with `COMMIT`. A
    /// failure of the last statement or of its commit is the last statement's, as there.
    async fn commit_pipelined(
        &self,
        c: &mut sqlx::PgConnection,
        lock: &Lock,
        work: &Work<'_>,
        range: Range<usize>,
        expected: Option<usize>,
        t: &Transition,
    ) -> Result<Vec<Duration>, TxError> {
        let result = async {
            let fence = lock.fence();
            let write = format!(
                "{} RETURNING true AS written",
                self.write_row_sql(work.m, &work.hashes, expected, t)
            );
            let opening = match fence {
                Some(f) => format!("BEGIN;\n{};\n{write}", f.check_sql()),
                None => format!("BEGIN;\n{write}"),
            };
            // The fence row, then one row per history row written. An error is the write's
            // or the fence's, never a statement's.
            let rows = match sqlx::raw_sql(AssertSqlSafe(opening))
                .fetch_all(&mut *c)
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    // A new row refused as a duplicate: another runner wrote it, which it
                    // may only do holding the lock. Asked apart (this transaction is over),
                    // so that a lost lock is said as such.
                    let failed = write_failed(e);
                    if let (RecordError::Moved, Some(f)) = (&failed, fence) {
                        sqlx::raw_sql("ROLLBACK").execute(&mut *c).await?;
                        if !f.check_alone(&mut *c).await? {
                            return Err(TxError::Write(RecordError::LockLost));
                        }
                    }
                    return Err(TxError::Write(failed));
                }
            };
            let (written, fence_rows): (Vec<_>, Vec<_>) =
                rows.iter().partition(|r| r.columns().len() == 1);
            // The write ran even if the fence is no longer ours: the rollback below undoes it.
            if let Some(f) = fence {
                let read = fence_rows
                    .first()
                    .map(|r| {
                        Ok::<_, sqlx::Error>((
                            r.try_get::<String, _>(0)?,
                            r.try_get::<Option<i64>, _>(1)?,
                        ))
                    })
                    .transpose()?;
                if !f.holds(read) {
                    return Err(TxError::Write(RecordError::LockLost));
                }
            }
            row_written(Ok(written.len() as u64))?;
            let last = range.end.checked_sub(1).filter(|l| range.contains(l));
            let mut took = Vec::with_capacity(range.len());
            for j in range.clone() {
                let sql = self.sql_for_target(&work.statements[j]);
                // The newline ends a trailing line comment; a failed statement stops the
                // message before its COMMIT.
                let sql = if Some(j) == last {
                    format!("{sql}\n;\nCOMMIT")
                } else {
                    sql
                };
                let started = Instant::now();
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut *c)
                    .await
                    .map_err(|e| TxError::Statement(j, e))?;
                took.push(started.elapsed());
            }
            if last.is_none() {
                sqlx::raw_sql("COMMIT")
                    .execute(&mut *c)
                    .await
                    .map_err(TxError::Commit)?;
            }
            Ok(took)
        }
        .await;
        if result.is_err() {
            // Ends the failed transaction (after a lost connection there is none to end).
            let _ = sqlx::raw_sql("ROLLBACK").execute(c).await;
        }
        result
    }

    /// Statement `i` of `work` on its own (it cannot share a transaction with the history
    /// write), from cursor `expected`: recorded as executing, run, waited for (a DSQL job,
    /// an index's validity), then the cursor moved past it.
    pub(crate) async fn run_alone(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        i: usize,
        expected: Option<usize>,
        events: &dyn Fn(Event),
    ) -> Result<(), RunError> {
        let m = work.m;
        let total = m.statements.len();
        let policy = self.options.retry;
        let session = |conn: &Conn| conn.session().map(|s| s.to_record());
        self.record(
            conn,
            lock,
            m,
            &work.hashes,
            expected,
            &Transition::executing(i, session(conn)),
        )
        .await?;
        failpoint::hit("runner::after_marker");
        let info = statement::classify(&work.statements[i]);
        let sql = self.sql_for_target(&work.statements[i]);
        let (mut conflicts, mut failures) = (0u32, 0u32);
        let returned = loop {
            let error = match sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .fetch_optional(conn.pg())
                .await
            {
                Ok(row) => break row,
                Err(e) => e,
            };
            let doing = format!("{}: statement {}", m.tag, i + 1);
            if let Some(wait) = policy.after_conflict(&error, &mut conflicts, &doing) {
                tokio::time::sleep(wait).await;
                continue;
            }
            if let Some(wait) = policy.after_lost_connection(&error, &mut failures, &doing) {
                let old = conn.session().cloned();
                tokio::time::sleep(wait).await;
                conn.reconnect(&self.connector).await?;
                // The connection may have died because another runner took the lock and
                // ended this session: nothing more without the lock.
                lock.check_now(conn).await?;
                if self.settle(conn, work, i, old.as_ref(), events).await? {
                    break None;
                }
                // It did not take effect: run it again, recorded with the new session.
                self.record(
                    conn,
                    lock,
                    m,
                    &work.hashes,
                    Some(i),
                    &Transition::executing(i, session(conn)),
                )
                .await?;
                continue;
            }
            if retry::is_transient(&error) {
                // Its outcome is unknown: it stays recorded as executing, for the next run
                // to settle.
                return Err(RunError::db(
                    &format!(
                        "{}: lost the connection during statement {}, and it did not come back; the next run settles it",
                        m.tag,
                        i + 1
                    ),
                    error,
                ));
            }
            return Err(self
                .fail_alone(
                    conn,
                    lock,
                    work,
                    i,
                    RunError::statement(m, i, i, error),
                    events,
                )
                .await);
        };
        let finished = async {
            if self.target().has_jobs()
                && info.returns_job()
                && let Some(row) = returned
                && let Ok(job_id) = row.try_get::<String, _>("job_id")
            {
                self.wait_for_job(conn, &m.tag, &job_id, events).await?;
            }
            self.ensure_index_valid(conn, lock, work, i, events).await
        }
        .await;
        match finished {
            Ok(()) => {}
            // The statement's work failed (a job, an index that stays INVALID).
            Err(
                e @ (RunError::Statement { .. }
                | RunError::JobFailed { .. }
                | RunError::InvalidIndex { .. }),
            ) => {
                return Err(self.fail_alone(conn, lock, work, i, e, events).await);
            }
            // The runner could not find out (a lost connection, a lost lock): the
            // statement stays executing, for the next run to settle.
            Err(e) => return Err(e),
        }
        failpoint::hit("runner::after_statement");
        self.record(
            conn,
            lock,
            m,
            &work.hashes,
            Some(i),
            &Transition::advance(i + 1, total),
        )
        .await?;
        failpoint::hit("runner::after_cursor");
        Ok(())
    }

    /// Statement `i` failed on its own: what it left half-built is removed, and the
    /// failure recorded (at the statement a failed validation must start over from).
    /// Returns the error to report; a failure to record replaces it.
    async fn fail_alone(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        i: usize,
        error: RunError,
        events: &dyn Fn(Event),
    ) -> RunError {
        // Should the clean-up fail, a rerun still recovers: an INVALID index is rebuilt, a
        // NOT VALID constraint validated again.
        let restart = self
            .remove_half_built(conn, lock, work, i, events)
            .await
            .ok()
            .flatten()
            .unwrap_or(i);
        let (code, message) = match &error {
            RunError::Statement { source, .. } => (
                retry::sqlstate(source),
                crate::runner::base::error::database_message(source),
            ),
            other => (None, other.to_string()),
        };
        match self
            .record(
                conn,
                lock,
                work.m,
                &work.hashes,
                Some(i),
                &Transition::failed(restart, i, code, message),
            )
            .await
        {
            Ok(()) => error,
            Err(e) => e,
        }
    }
}
