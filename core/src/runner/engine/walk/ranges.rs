//! A copy's ranges, stored with the history: each copied key range with its row count
//! and checksum, read again after the last batch so that rows changed during the copy
//! are copied again before the swap.

use super::sql::{Range, WalkSql};
use super::{MAX_COPY_PASSES, Walk, Walked};
use crate::runner::base::error::RunError;
use crate::runner::base::failpoint;
use crate::runner::base::retry::retrying;
use crate::runner::base::target::Conn;
use crate::runner::engine::Migrator;
use crate::runner::engine::input::Work;
use crate::runner::engine::lock::Lock;
use crate::runner::source::LocalMigration;
use crate::sql::ident::quote_table;
use sqlx::{AssertSqlSafe, PgConnection, Row as _};

/// A copy's record of one copied range.
pub(super) struct RangeRecord {
    pub(super) id: String,
    pub(super) range: Range,
    pub(super) checksum: String,
    /// Set while the range is being copied again: the key copied up to.
    pub(super) recopy_from: Option<Option<Vec<String>>>,
}

pub(super) fn decode_key(text: Option<String>) -> Result<Option<Vec<String>>, sqlx::Error> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

pub(super) fn encode_key(key: &Option<Vec<String>>) -> Option<String> {
    key.as_ref()
        .map(|k| serde_json::to_string(k).expect("strings serialise"))
}

impl Migrator {
    /// Records a copied range, its row count and checksum (in the copy's transaction).
    pub(super) async fn insert_range(
        &self,
        tx: &mut PgConnection,
        walk: &Walk<'_>,
        range: &Range,
        rows: i64,
        checksum: &str,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO {} (tag, statement, id, lower_key, upper_key, row_count, checksum) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self.options.history.batches_qualified()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(walk.tag)
            .bind(walk.statement as i32)
            .bind(format!("{:016x}", fastrand::u64(..)))
            .bind(encode_key(&range.lower))
            .bind(encode_key(&range.upper))
            .bind(rows)
            .bind(checksum)
            .execute(tx)
            .await?;
        Ok(())
    }

    /// The copy's recorded ranges.
    pub(super) async fn ranges(
        &self,
        conn: &mut Conn,
        walk: &Walk<'_>,
    ) -> Result<Vec<RangeRecord>, Walked> {
        let sql = format!(
            "SELECT id, lower_key, upper_key, checksum, recopy_cursor FROM {} WHERE tag = $1 AND statement = $2",
            self.options.history.batches_qualified()
        );
        let (tag, statement) = (walk.tag, walk.statement as i32);
        let rows = retrying(conn, &self.connector, &self.options.retry, async |c| {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(tag)
                .bind(statement)
                .fetch_all(c)
                .await
        })
        .await
        .map_err(|e| {
            Walked::Run(RunError::db(
                &format!("{tag}: reading the copied ranges"),
                e.error,
            ))
        })?;
        let read = |r: &sqlx::postgres::PgRow| -> Result<RangeRecord, sqlx::Error> {
            let recopy: Option<String> = r.try_get("recopy_cursor")?;
            Ok(RangeRecord {
                id: r.try_get("id")?,
                range: Range {
                    lower: decode_key(r.try_get("lower_key")?)?,
                    upper: decode_key(Some(r.try_get("upper_key")?))?,
                },
                checksum: r.try_get("checksum")?,
                // "null" marks a recopy that has deleted its rows and copied none yet.
                recopy_from: recopy
                    .map(|t| {
                        if t == "null" {
                            Ok(None)
                        } else {
                            decode_key(Some(t))
                        }
                    })
                    .transpose()?,
            })
        };
        rows.iter()
            .map(read)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                Walked::Run(RunError::db(
                    &format!("{tag}: reading the copied ranges"),
                    e,
                ))
            })
    }

    /// After the walk: compares every copied range with the source, copies changed ranges
    /// again and new rows past the end, until a pass finds nothing changed.
    pub(super) async fn sync_copy(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        walk: &Walk<'_>,
        done_rows: &mut u64,
        recopied: &dyn Fn(usize),
    ) -> Result<(), Walked> {
        let m = work.m;
        let Some((copy, target_key)) = &walk.copy else {
            return Ok(());
        };
        for _ in 0..MAX_COPY_PASSES {
            let mut changed = Vec::new();
            for record in self.ranges(conn, walk).await? {
                if record.recopy_from.is_some() {
                    changed.push(record);
                    continue;
                }
                let sql = walk.sql.checksum(&record.range);
                let range = record.range.clone();
                let now: Option<String> =
                    retrying(conn, &self.connector, &self.options.retry, async |c| {
                        WalkSql::bind(&range, sqlx::query(AssertSqlSafe(sql.clone())))
                            .fetch_one(c)
                            .await?
                            .try_get(0)
                    })
                    .await
                    .map_err(|e| {
                        Walked::Run(RunError::db(
                            &format!("{}: checking the copied rows of `{}`", m.tag, copy.source),
                            e.error,
                        ))
                    })?;
                if now.unwrap_or_default() != record.checksum {
                    changed.push(record);
                }
            }
            let tail = self
                .walk_to_end(conn, lock, work, walk, done_rows, &|_| {})
                .await?;
            failpoint::hit("runner::after_copy_pass");
            if changed.is_empty() && tail == 0 {
                return Ok(());
            }
            let Some(target_key) = target_key else {
                return Err(Walked::Changed(format!(
                    "rows of `{}` changed during the copy, and its primary key is computed in the copy, so the changed rows cannot be found in `{}`",
                    copy.source, copy.target
                )));
            };
            let ranges = changed.len();
            for record in changed {
                self.recopy(conn, lock, work, walk, target_key, record)
                    .await?;
            }
            if ranges > 0 {
                recopied(ranges);
            }
        }
        Err(Walked::Changed(format!(
            "`{}` kept changing during {MAX_COPY_PASSES} passes over the copy",
            copy.source
        )))
    }

    /// Copies one changed range again: its rows are deleted from the new table (with the
    /// record marked), copied anew in batches (each with a record of its own), and the old
    /// record removed. Resumable at every step.
    pub(super) async fn recopy(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        walk: &Walk<'_>,
        target_key: &str,
        record: RangeRecord,
    ) -> Result<(), Walked> {
        let Some((copy, _)) = walk.copy else {
            return Ok(());
        };
        let history = &self.options.history;
        let m = work.m;
        let mut from = match record.recopy_from.clone() {
            Some(from) => from,
            None => {
                let predicate = walk
                    .sql
                    .range_predicate(target_key, &record.range, 1)
                    .unwrap_or_else(|| "true".into());
                let delete = format!(
                    "DELETE FROM {} WHERE {predicate}",
                    quote_table(&copy.target)
                );
                let mark = format!(
                    "UPDATE {} SET recopy_cursor = $3 WHERE tag = $1 AND id = $2",
                    history.batches_qualified()
                );
                let range = record.range.clone();
                let start = encode_key(&range.lower).unwrap_or_else(|| "null".into());
                self.in_fenced_tx(conn, lock, m, async |tx| {
                    WalkSql::bind(&range, sqlx::query(AssertSqlSafe(delete.clone())))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(AssertSqlSafe(mark.clone()))
                        .bind(walk.tag)
                        .bind(&record.id)
                        .bind(&start)
                        .execute(&mut *tx)
                        .await?;
                    Ok(())
                })
                .await?;
                record.range.lower.clone()
            }
        };
        loop {
            let range = Range {
                lower: from.clone(),
                upper: record.range.upper.clone(),
            };
            match self
                .batch(conn, lock, work, walk, &range, Some(&record.id))
                .await?
            {
                Some((upper, _)) => from = Some(upper),
                None => break,
            }
        }
        // The new ranges end at the last row copied; the rest of the old range, empty now,
        // gets a record of its own, so a row inserted there later is found too.
        let rest = (from != record.range.upper).then(|| Range {
            lower: from.clone(),
            upper: record.range.upper.clone(),
        });
        let forget = format!(
            "DELETE FROM {} WHERE tag = $1 AND id = $2",
            history.batches_qualified()
        );
        self.in_fenced_tx(conn, lock, m, async |tx| {
            if let Some(rest) = &rest {
                self.insert_range(&mut *tx, walk, rest, 0, "").await?;
            }
            sqlx::query(AssertSqlSafe(forget.clone()))
                .bind(walk.tag)
                .bind(&record.id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
        .await?;
        failpoint::hit("runner::after_recopy");
        Ok(())
    }

    /// Deletes the copy ranges of `tag` (of statement `statement`, or all), in fenced
    /// transactions DSQL's row limit allows.
    pub(crate) async fn forget_ranges(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        m: &LocalMigration,
        statement: Option<usize>,
    ) -> Result<(), RunError> {
        let filter = if statement.is_some() {
            " AND statement = $2"
        } else {
            ""
        };
        let t = self.options.history.batches_qualified();
        let sql = format!(
            "DELETE FROM {t} WHERE tag = $1 AND id IN (SELECT id FROM {t} WHERE tag = $1{filter} LIMIT 2000)"
        );
        let statement = statement.map(|s| s as i32);
        loop {
            let deleted = std::cell::Cell::new(0);
            self.in_fenced_tx(conn, lock, m, async |tx| {
                let q = sqlx::query(AssertSqlSafe(sql.clone())).bind(&m.tag);
                let q = match statement {
                    Some(s) => q.bind(s),
                    None => q,
                };
                deleted.set(q.execute(tx).await?.rows_affected());
                Ok(())
            })
            .await
            .map_err(|e| e.into_run_error(m, "forgetting the copied ranges"))?;
            if deleted.get() == 0 {
                return Ok(());
            }
        }
    }
}
