//! The runner's side of the [directives](crate::sql::directive): a table recreation's copy and a
//! new column's backfill walk their table in primary-key order, in batches that each commit
//! together with the cursor (and the fence), so a run killed midway resumes after the last
//! committed batch and touches no row twice.
//!
//! A copy also records, per batch, the source key range it copied with the range's row
//! count and checksum, read in the same snapshot as the copy. After the last batch every
//! range is read again: a range whose rows changed while the copy ran (an insert, update or
//! delete) is deleted from the new table and copied again, and rows added past the end are
//! copied too, until a pass finds nothing changed. Only then do the counts get compared and
//! the swap go ahead. What remains is the time between that last pass and the swap's first
//! rename: a write that commits in it is not carried over (the README says so).
//!
//! The batch engine and its cursor are here; the rest is split by job: [`catalog`] reads,
//! the walk's [`sql`], the copy's checked [`ranges`], and the table [`rebuild`] around it.

mod catalog;
mod ranges;
mod rebuild;
mod sql;

use crate::dialect;
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::failpoint;
use crate::runner::base::retry::{self, retrying};
use crate::runner::base::target::Conn;
use crate::runner::engine::Migrator;
use crate::runner::engine::input::Work;
use crate::runner::engine::lock::Lock;
use crate::runner::engine::record::{RecordError, Transition, check_fence};
use crate::runner::source::LocalMigration;
use crate::sql::directive::{BackfillDirective, CopyDirective, Directive};
use crate::sql::ident::quote_table;
use catalog::{estimated_rows, primary_key, row_size};
use ranges::{decode_key, encode_key};
use sql::{Bound, Range, WalkSql, key_in_target};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};
use std::time::{Duration, Instant};

/// DSQL caps a transaction at 10 MiB of changes; a batch stops at this many bytes of
/// column values (see [`row_size`]), well below it, since DSQL counts its own way (keys,
/// indexes and row overhead come on top).
const BATCH_BYTES: i64 = dialect::DSQL_MAX_TRANSACTION_BYTES / 5;

/// The most rows a batch may hold under DSQL's row limit: the batch's rows, the history
/// row and the copy's range record.
pub(crate) const MAX_BATCH_ROWS: usize = dialect::DSQL_MAX_ROWS_PER_TRANSACTION as usize - 2;

/// Passes over a copy's ranges before giving up on a table that keeps changing.
const MAX_COPY_PASSES: usize = 8;

/// A directive's walk.
struct Walk<'a> {
    sql: WalkSql,
    tag: &'a str,
    statement: usize,
    /// For a copy: the directive, and how its source key appears in the new table (see
    /// [`key_in_target`]).
    copy: Option<(&'a CopyDirective, Option<String>)>,
}

/// Why a walk stopped.
enum Walked {
    /// The runner cannot go on (lock lost, bookkeeping failed): report as is.
    Run(RunError),
    /// The database refused the rows (or kept failing).
    Rows(sqlx::Error),
    /// The source changed in a way the copy cannot carry over.
    Changed(String),
}

impl Walked {
    fn into_run_error(self, m: &LocalMigration, doing: &str) -> RunError {
        match self {
            Walked::Run(e) => e,
            Walked::Rows(e) => RunError::db(&format!("{}: {doing}", m.tag), e),
            Walked::Changed(why) => {
                RunError::db(&format!("{}: {doing}", m.tag), sqlx::Error::Protocol(why))
            }
        }
    }
}

impl From<RunError> for Walked {
    fn from(e: RunError) -> Self {
        Walked::Run(e)
    }
}

impl Migrator {
    /// Rows per batch: the configured number, within DSQL's limit.
    pub(crate) fn batch_rows_per_transaction(&self) -> usize {
        self.options.batch_rows.clamp(1, MAX_BATCH_ROWS)
    }

    /// The `BEGIN` of a batch: one snapshot for finding, checksumming and copying its rows
    /// (DSQL's transactions always are; PostgreSQL's must ask).
    fn batch_begin(&self) -> &'static str {
        if self.target().has_sessions() {
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        } else {
            "BEGIN"
        }
    }

    /// Carries out the directive of statement `i` in batches; for a copy, then the
    /// checksum passes, the row-count check and the grants.
    pub(crate) async fn run_directive(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        i: usize,
        d: &Directive,
        events: &dyn Fn(Event),
    ) -> Result<(), RunError> {
        let m = work.m;
        let fail = |message: String| RunError::Directive {
            tag: m.tag.clone(),
            number: i + 1,
            message,
        };
        let table = d.table();
        // The estimate only draws a progress bar: without one (or when it cannot be read)
        // the bar shows the rows and the rate.
        let (key, size, expected_rows) =
            retrying(conn, &self.connector, &self.options.retry, async |c| {
                let expected = match estimated_rows(c, table).await {
                    Ok(n) => n,
                    // A lost connection or a conflict is the retry's to handle, as for the others.
                    Err(e) if retry::is_transient(&e) || retry::occ_code(&e).is_some() => {
                        return Err(e);
                    }
                    Err(e) => {
                        tracing::debug!(table, error = %e, "no row estimate for the progress bar");
                        None
                    }
                };
                Ok((
                    primary_key(c, table).await?,
                    row_size(c, table).await?,
                    expected,
                ))
            })
            .await
            .map_err(|e| {
                RunError::db(
                    &format!("{}: reading the columns of `{table}`", m.tag),
                    e.error,
                )
            })?;
        if key.is_empty() {
            return Err(fail(format!(
                "`{table}` has no primary key (or does not exist), so its rows cannot be walked in batches"
            )));
        }
        let copy = match d {
            Directive::Copy(c) => Some((c, key_in_target(c, &key))),
            Directive::Backfill(_) => None,
        };
        let walk = Walk {
            sql: WalkSql::new(d, key, size, self.batch_rows_per_transaction()),
            tag: &m.tag,
            statement: i,
            copy,
        };
        let progress = |rows: u64, done: bool| match d {
            Directive::Copy(_) => Event::CopyProgress {
                tag: m.tag.clone(),
                table: table.to_owned(),
                rows,
                expected_rows,
                done,
            },
            Directive::Backfill(b) => Event::BackfillProgress {
                tag: m.tag.clone(),
                table: table.to_owned(),
                column: b.column.clone(),
                rows,
                expected_rows,
                done,
            },
        };
        let row = self.read_row(conn, &m.tag).await?;
        if let Some((copy, _)) = walk.copy
            && row.as_ref().is_none_or(|r| r.copy_cursor.is_none())
        {
            // A copy starting from the first row: nothing of an earlier attempt stays, in
            // the new table or in the ranges.
            self.forget_ranges(conn, lock, m, None).await?;
            self.empty_table(conn, lock, m, i, &copy.target).await?;
        }
        let mut done_rows = row.and_then(|r| r.copied_rows).unwrap_or(0) as u64;
        events(progress(done_rows, false));
        let walked = self
            .walk_to_end(conn, lock, work, &walk, &mut done_rows, &|rows| {
                events(progress(rows, false))
            })
            .await;
        if let Err(e) = walked {
            return Err(self.directive_failed(conn, lock, work, i, d, e).await);
        }
        if let Directive::Copy(copy) = d {
            let recopied = |ranges| {
                events(Event::RangesRecopied {
                    tag: m.tag.clone(),
                    table: table.to_owned(),
                    ranges,
                })
            };
            let synced = self
                .sync_copy(conn, lock, work, &walk, &mut done_rows, &recopied)
                .await;
            if let Err(e) = synced {
                return Err(self.directive_failed(conn, lock, work, i, d, e).await);
            }
            self.check_copy(conn, lock, work, i, copy).await?;
        }
        events(progress(done_rows, true));
        Ok(())
    }

    /// Batches from the cursor until no row is left; `report` every two seconds.
    async fn walk_to_end(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        walk: &Walk<'_>,
        done_rows: &mut u64,
        report: &dyn Fn(u64),
    ) -> Result<u64, Walked> {
        let mut reported = Instant::now();
        let mut cursor = self.read_cursor(conn, walk.tag).await?;
        let mut copied = 0;
        loop {
            lock.confirm(conn).await?;
            let range = Range {
                lower: cursor.clone(),
                upper: None,
            };
            match self.batch(conn, lock, work, walk, &range, None).await? {
                Some((upper, n)) => {
                    *done_rows += n;
                    copied += n;
                    cursor = Some(upper);
                    failpoint::hit("runner::after_batch");
                    if reported.elapsed() >= Duration::from_secs(2) {
                        report(*done_rows);
                        reported = Instant::now();
                    }
                }
                None => return Ok(copied),
            }
        }
    }

    /// The history's batch cursor of `tag`.
    async fn read_cursor(&self, conn: &mut Conn, tag: &str) -> Result<Option<Vec<String>>, Walked> {
        let row = self.read_row(conn, tag).await?;
        decode_key(row.and_then(|r| r.copy_cursor))
            .map_err(|e| Walked::Run(RunError::db(&format!("{tag}: reading the batch cursor"), e)))
    }

    /// One batch within `range`, retried on conflicts; after a lost connection the cursor
    /// is read back and the batch found again from there. For a range being copied again
    /// (`recopy`: its record's id), the record's progress moves instead of the history's.
    /// `None` when the range has no rows left.
    async fn batch(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        walk: &Walk<'_>,
        range: &Range,
        recopy: Option<&str>,
    ) -> Result<Option<(Vec<String>, u64)>, Walked> {
        let policy = self.options.retry;
        let (mut conflicts, mut failures) = (0u32, 0u32);
        let mut range = range.clone();
        loop {
            let attempt = self.batch_once(conn.pg(), lock, walk, &range, recopy).await;
            let error = match attempt {
                Ok(done) => return Ok(done),
                Err(RecordError::Db(e)) => e,
                Err(other) => {
                    return Err(Walked::Run(
                        other.into_run_error(work.m, "recording a batch"),
                    ));
                }
            };
            let doing = format!("{}: a batch of `{}`", work.m.tag, walk.sql.table);
            if let Some(wait) = policy.after_conflict(&error, &mut conflicts, &doing) {
                tokio::time::sleep(wait).await;
            } else if let Some(wait) = policy.after_lost_connection(&error, &mut failures, &doing) {
                let old = conn.session().cloned();
                tokio::time::sleep(wait).await;
                conn.reconnect(&self.connector).await?;
                if let Some(session) = old {
                    self.end_session(&session).await.map_err(|detail| {
                        Walked::Run(RunError::LostSession {
                            tag: work.m.tag.clone(),
                            detail,
                        })
                    })?;
                }
            } else {
                return Err(Walked::Rows(error));
            }
            // The batch may have committed (or another one): go on from what the database
            // says.
            range.lower = match recopy {
                None => self.read_cursor(conn, walk.tag).await?,
                Some(id) => self
                    .ranges(conn, walk)
                    .await?
                    .into_iter()
                    .find(|r| r.id == id)
                    .and_then(|r| r.recopy_from)
                    .unwrap_or(range.lower),
            };
        }
    }

    /// One batch. The cursor it starts from is locked and checked first, so that two
    /// batches can never both start from it (one waits, or conflicts, then finds it moved).
    async fn batch_once(
        &self,
        c: &mut PgConnection,
        lock: &Lock,
        walk: &Walk<'_>,
        range: &Range,
        recopy: Option<&str>,
    ) -> Result<Option<(Vec<String>, u64)>, RecordError> {
        let history = &self.options.history;
        let mut tx = c.begin_with(self.batch_begin()).await?;
        check_fence(&mut tx, lock.fence()).await?;
        let start = encode_key(&range.lower);
        let cursor: Option<Option<String>> = match recopy {
            None => {
                let sql = format!(
                    "SELECT copy_cursor FROM {} WHERE tag = $1 AND next_statement = $2 FOR UPDATE",
                    history.qualified()
                );
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(walk.tag)
                    .bind(walk.statement as i32)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            Some(id) => {
                let sql = format!(
                    "SELECT nullif(recopy_cursor, 'null') FROM {} WHERE tag = $1 AND id = $2 FOR UPDATE",
                    history.batches_qualified()
                );
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(walk.tag)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        if cursor != Some(start) {
            return Err(RecordError::Moved);
        }
        let mut found = self
            .find_batch(&mut tx, walk, range, walk.sql.batch_rows)
            .await?;
        if found.rows == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        if found.bytes > BATCH_BYTES && found.rows > 1 {
            let fit: i64 = WalkSql::bind(
                range,
                sqlx::query(AssertSqlSafe(walk.sql.rows_within_budget(range))),
            )
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            found = self.find_batch(&mut tx, walk, range, fit as usize).await?;
        }
        let batch = Range {
            lower: range.lower.clone(),
            upper: Some(found.upper.clone()),
        };
        // The copy's checksum, of the batch's rows only (in the batch's snapshot), by the
        // query the verification pass compares it with.
        let checksum: Option<String> = match walk.copy {
            Some(_) => WalkSql::bind(
                &batch,
                sqlx::query(AssertSqlSafe(walk.sql.checksum(&batch))),
            )
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?,
            None => None,
        };
        let rows = WalkSql::bind(&batch, sqlx::query(AssertSqlSafe(walk.sql.run(&batch))))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let upper = encode_key(&batch.upper);
        if walk.copy.is_some() {
            self.insert_range(
                &mut tx,
                walk,
                &batch,
                rows as i64,
                &checksum.unwrap_or_default(),
            )
            .await?;
        }
        match recopy {
            None => {
                let sql = format!(
                    "UPDATE {} SET copy_cursor = $1, copied_rows = coalesce(copied_rows, 0) + $2 WHERE tag = $3 AND next_statement = $4",
                    history.qualified()
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(&upper)
                    .bind(rows as i64)
                    .bind(walk.tag)
                    .bind(walk.statement as i32)
                    .execute(&mut *tx)
                    .await?
            }
            Some(id) => {
                let sql = format!(
                    "UPDATE {} SET recopy_cursor = $1 WHERE tag = $2 AND id = $3",
                    history.batches_qualified()
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(&upper)
                    .bind(walk.tag)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(Some((found.upper, rows)))
    }

    /// The batch of the first `rows` rows within `range` (see [`WalkSql::bound`]).
    async fn find_batch(
        &self,
        tx: &mut PgConnection,
        walk: &Walk<'_>,
        range: &Range,
        rows: usize,
    ) -> Result<Bound, sqlx::Error> {
        let row = WalkSql::bind(
            range,
            sqlx::query(AssertSqlSafe(walk.sql.bound(range, rows))),
        )
        .fetch_one(tx)
        .await?;
        let keys = walk.sql.key.len();
        let rows: i64 = row.try_get("rows")?;
        Ok(Bound {
            upper: if rows == 0 {
                Vec::new()
            } else {
                (0..keys)
                    .map(|j| row.try_get::<String, _>(j))
                    .collect::<Result<_, _>>()?
            },
            rows,
            bytes: row.try_get("bytes")?,
        })
    }

    /// `body` in a transaction that first checks the fence; retried whole on conflicts and
    /// lost connections (callers make `body` safe to repeat).
    async fn in_fenced_tx(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        m: &LocalMigration,
        body: impl AsyncFn(&mut PgConnection) -> Result<(), sqlx::Error>,
    ) -> Result<(), Walked> {
        let result = retrying(conn, &self.connector, &self.options.retry, async |c| {
            let mut tx = c.begin().await?;
            match check_fence(&mut tx, lock.fence()).await {
                Ok(()) => {}
                Err(RecordError::Db(e)) => return Err(e),
                Err(_) => return Ok(false),
            }
            body(&mut tx).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await;
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(Walked::Run(
                RecordError::LockLost.into_run_error(m, "copying a changed range again"),
            )),
            Err(e) => Err(Walked::Rows(e.error)),
        }
    }

    /// What a failed walk leaves, and what to say. A row the statement refuses (a failed
    /// cast, a NULL for a NOT NULL column, a duplicate under a new key, a value a CHECK
    /// rejects), or a copy whose source kept changing: a copy is discarded, leaving the old
    /// table untouched and nothing half-built; a backfill keeps the batches done, and a
    /// rerun resumes after them. The failure is recorded.
    async fn directive_failed(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        i: usize,
        d: &Directive,
        error: Walked,
    ) -> RunError {
        let m = work.m;
        let fail = |message: String| RunError::Directive {
            tag: m.tag.clone(),
            number: i + 1,
            message,
        };
        let (cause, code) = match error {
            Walked::Run(e) => return e,
            Walked::Rows(e)
                if !retry::sqlstate(&e)
                    .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
            {
                return RunError::db(
                    &format!(
                        "{}: walking `{}` in batches (rerun to resume after the last committed batch)",
                        m.tag,
                        d.table()
                    ),
                    e,
                );
            }
            Walked::Rows(e) => (
                format!(
                    "{e}{}{}",
                    crate::runner::base::error::sqlstate_suffix(&e),
                    crate::runner::base::error::detail_suffix(&e)
                ),
                retry::sqlstate(&e),
            ),
            Walked::Changed(why) => (why, None),
        };
        // The failure is recorded first, so that whatever the clean-up below leaves, the
        // next run starts where it must: a copy over again from the new table's creation (or
        // from its first row, the table emptied), a backfill after its last batch (its text
        // then frozen, as some rows have its value).
        let (transition, error) = match d {
            Directive::Copy(copy) => {
                let creates = format!("CREATE TABLE IF NOT EXISTS {} ", quote_table(&copy.target));
                let restart = work.statements[..i]
                    .iter()
                    .rposition(|s| s.contains(&creates))
                    .unwrap_or(i);
                let error = fail(format!(
                    "copying `{}` into `{}` failed: {cause}; the copy was discarded and `{}` is unchanged: fix the data or the change (or pause writes to `{}`), then rerun",
                    copy.source, copy.target, copy.source, copy.source
                ));
                (
                    Transition {
                        clear_batches: true,
                        ..Transition::failed(restart, i, code, error.to_string())
                    },
                    error,
                )
            }
            Directive::Backfill(BackfillDirective { table, column, .. }) => {
                let error = fail(format!(
                    "backfilling `{table}.{column}` failed: {cause}; the rows before this batch are filled and the rest are NULL: fix the data, then rerun to resume"
                ));
                (
                    Transition {
                        hashes: i + 1,
                        ..Transition::failed(i, i, code, error.to_string())
                    },
                    error,
                )
            }
        };
        if let Err(e) = self
            .record(conn, lock, m, &work.hashes, Some(i), &transition)
            .await
        {
            return e;
        }
        if let Directive::Copy(copy) = d
            && let Err(e) = self
                .discard_copy(conn, lock, work, transition.next < i, copy)
                .await
        {
            return e;
        }
        error
    }
}
