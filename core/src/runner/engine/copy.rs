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

use super::Migrator;
use super::input::Work;
use super::lock::Lock;
use super::state::{Transition, WriteError, check_fence};
use crate::dialect;
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::failpoint;
use crate::runner::base::retry::{self, retrying};
use crate::runner::base::target::Conn;
use crate::runner::source::LocalMigration;
use crate::schema::model::{bare_table_name, table_schema};
use crate::sql::directive::{BackfillDirective, CopyDirective, Directive};
use crate::sql::ident::{quote, quote_table};
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

/// A key column: name and type as `format_type` prints it.
struct KeyColumn {
    name: String,
    sql_type: String,
}

async fn primary_key(conn: &mut PgConnection, table: &str) -> Result<Vec<KeyColumn>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary \
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
    )
    .bind(table_schema(table))
    .bind(bare_table_name(table))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyColumn {
                name: r.try_get("name")?,
                sql_type: r.try_get("sql_type")?,
            })
        })
        .collect()
}

/// The rows of `table` as the catalog's statistics estimate them; none before the table
/// was ever analysed, or where the catalog has no estimate.
async fn estimated_rows(conn: &mut PgConnection, table: &str) -> Result<Option<u64>, sqlx::Error> {
    let estimate: Option<f64> = sqlx::query_scalar(
        "SELECT c.reltuples::float8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
    )
    .bind(table_schema(table))
    .bind(bare_table_name(table))
    .fetch_optional(conn)
    .await?;
    Ok(estimate.filter(|n| *n >= 1.0).map(|n| n.round() as u64))
}

/// An SQL expression for the bytes of one row of `table` (as `s`), cheap to evaluate: a
/// fixed-width column counts its width, a string or `bytea` its stored length, any other
/// column the length of its text. Turning every row into text to measure it cost as much
/// as the batch's write (benches/README.md).
async fn row_size(conn: &mut PgConnection, table: &str) -> Result<String, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.attname::text AS name, t.typlen::int AS width, (t.typcategory = 'S' OR t.typname = 'bytea') AS direct \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid \
         WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(table_schema(table))
    .bind(bare_table_name(table))
    .fetch_all(conn)
    .await?;
    let mut fixed = 0i64;
    let mut terms = Vec::new();
    for r in &rows {
        let (name, width, direct): (String, i32, bool) = (
            r.try_get("name")?,
            r.try_get("width")?,
            r.try_get("direct")?,
        );
        let column = format!("s.{}", quote(&name));
        match (width > 0, direct) {
            (true, _) => fixed += i64::from(width),
            (false, true) => terms.push(format!("coalesce(octet_length({column}), 0)")),
            (false, false) => terms.push(format!("coalesce(octet_length({column}::text), 0)")),
        }
    }
    terms.insert(0, fixed.to_string());
    Ok(terms.join(" + "))
}

/// A key range `(lower, upper]` of the walked table; `None` is the open end.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Range {
    lower: Option<Vec<String>>,
    upper: Option<Vec<String>>,
}

/// One batch as found: its last key, its rows, its size.
struct Bound {
    upper: Vec<String>,
    rows: i64,
    bytes: i64,
}

/// The SQL of the walk, given the key.
struct WalkSql {
    cols: String,
    key: Vec<KeyColumn>,
    statement: String,
    joiner: &'static str,
    table: String,
    /// The bytes of row `s` (see [`row_size`]).
    size: String,
    batch_rows: usize,
}

impl WalkSql {
    fn new(d: &Directive, key: Vec<KeyColumn>, size: String, batch_rows: usize) -> WalkSql {
        let (statement, joiner) = match d {
            Directive::Copy(c) => (c.insert.clone(), " WHERE "),
            Directive::Backfill(b) => (b.update.clone(), " AND "),
        };
        WalkSql {
            cols: key
                .iter()
                .map(|k| quote(&k.name))
                .collect::<Vec<_>>()
                .join(", "),
            key,
            statement,
            joiner,
            table: quote_table(d.table()),
            size,
            batch_rows,
        }
    }

    /// `(cols) > (lower) AND (cols) <= (upper)` over `cols` (the key, or its image in the
    /// new table), with parameters from `$from`.
    fn range_predicate(&self, cols: &str, range: &Range, from: usize) -> Option<String> {
        let params = |from: usize| {
            self.key
                .iter()
                .enumerate()
                .map(|(j, k)| format!("${}::{}", j + from, k.sql_type))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        let mut next = from;
        if range.lower.is_some() {
            parts.push(format!("({cols}) > ({})", params(next)));
            next += self.key.len();
        }
        if range.upper.is_some() {
            parts.push(format!("({cols}) <= ({})", params(next)));
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    fn bind<'q>(
        range: &Range,
        mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for v in range.lower.iter().chain(range.upper.iter()).flatten() {
            q = q.bind(v.clone());
        }
        q
    }

    /// The first `rows` rows within `range`: their last key, count and size, from one
    /// aggregate that reads no row's text. Every aggregate orders by the key: from
    /// PostgreSQL 16 (DSQL's base) the planner then sorts once for all of them, or not at
    /// all, since the rows come in key order.
    fn bound(&self, range: &Range, rows: usize) -> String {
        let filter = self
            .range_predicate(&self.cols, range, 1)
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        let cols = &self.cols;
        let last = self
            .key
            .iter()
            .map(|k| {
                format!(
                    "(array_agg({}::text ORDER BY {cols}))[count(*)::int]",
                    quote(&k.name)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {last}, count(*) AS rows, coalesce(sum({size}), 0)::bigint AS bytes FROM (SELECT * FROM {src}{filter} ORDER BY {cols} LIMIT {rows}) s",
            size = self.size,
            src = self.table,
        )
    }

    /// How many of the first `batch_rows` rows within `range` fit the size budget (at
    /// least one): asked only when they all together do not.
    fn rows_within_budget(&self, range: &Range) -> String {
        let filter = self
            .range_predicate(&self.cols, range, 1)
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        format!(
            "SELECT count(*) FROM (SELECT row_number() OVER o AS n, sum({size}) OVER o AS bytes FROM (SELECT * FROM {src}{filter} ORDER BY {cols} LIMIT {rows}) s \
             WINDOW o AS (ORDER BY {cols} ROWS UNBOUNDED PRECEDING)) w WHERE n = 1 OR bytes <= {BATCH_BYTES}",
            size = self.size,
            src = self.table,
            cols = self.cols,
            rows = self.batch_rows
        )
    }

    /// Carries the directive out on `range`.
    fn run(&self, range: &Range) -> String {
        match self.range_predicate(&self.cols, range, 1) {
            Some(p) => format!("{}{}{p}", self.statement, self.joiner),
            None => self.statement.clone(),
        }
    }

    /// The checksum of the source rows in `range`: taken when a batch is copied, and again
    /// by the verification pass. `ROW(s.*)` is the whole row even when a column is named
    /// `s` (which a bare `s` would mean).
    fn checksum(&self, range: &Range) -> String {
        let filter = self
            .range_predicate(&self.cols, range, 1)
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        format!(
            "SELECT md5(string_agg(ROW(s.*)::text, E'\\n' ORDER BY {cols})) FROM (SELECT * FROM {src}{filter}) s",
            cols = self.cols,
            src = self.table
        )
    }
}

/// How the source key appears in the copy's new table: for each key column, the target
/// column the copy fills from it (plainly or through a cast). `None` when a key column is
/// computed, so rows of a source range cannot be found in the new table.
fn key_in_target(copy: &CopyDirective, key: &[KeyColumn]) -> Option<String> {
    use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
    let statements = crate::sql::within_parse_budget(&copy.insert, |sql| {
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql).ok()
    })??;
    let [Statement::Insert(insert)] = statements.as_slice() else {
        return None;
    };
    let SetExpr::Select(select) = insert.source.as_ref()?.body.as_ref() else {
        return None;
    };
    let fold = |i: &sqlparser::ast::Ident| {
        if i.quote_style.is_some() {
            i.value.clone()
        } else {
            i.value.to_lowercase()
        }
    };
    let mut mapped = Vec::new();
    for k in key {
        let position = select.projection.iter().position(|item| {
            let SelectItem::UnnamedExpr(e) = item else {
                return false;
            };
            let e = match e {
                Expr::Cast { expr, .. } => expr.as_ref(),
                other => other,
            };
            matches!(e, Expr::Identifier(i) if fold(i) == k.name)
        })?;
        let column = insert.columns.get(position)?.0.last()?.as_ident()?;
        mapped.push(format!("{}::{}", quote(&fold(column)), k.sql_type));
    }
    Some(mapped.join(", "))
}

/// A copy's record of one copied range.
struct RangeRecord {
    id: String,
    range: Range,
    checksum: String,
    /// Set while the range is being copied again: the key copied up to.
    recopy_from: Option<Option<Vec<String>>>,
}

fn decode_key(text: Option<String>) -> Result<Option<Vec<String>>, sqlx::Error> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

fn encode_key(key: &Option<Vec<String>>) -> Option<String> {
    key.as_ref()
        .map(|k| serde_json::to_string(k).expect("strings serialise"))
}

/// A directive's walk.
struct Walk<'a> {
    sql: WalkSql,
    tag: &'a str,
    statement: usize,
    /// For a copy: the directive, and how its source key appears in the new table (see
    /// [`key_in_target`]).
    copy: Option<(&'a CopyDirective, Option<String>)>,
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
                Err(WriteError::Db(e)) => e,
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
    ) -> Result<Option<(Vec<String>, u64)>, WriteError> {
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
            return Err(WriteError::Moved);
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

    /// Records a copied range, its row count and checksum (in the copy's transaction).
    async fn insert_range(
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
    async fn ranges(&self, conn: &mut Conn, walk: &Walk<'_>) -> Result<Vec<RangeRecord>, Walked> {
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
    async fn sync_copy(
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
    async fn recopy(
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
                Err(WriteError::Db(e)) => return Err(e),
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
                WriteError::LockLost.into_run_error(m, "copying a changed range again"),
            )),
            Err(e) => Err(Walked::Rows(e.error)),
        }
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

    /// Empties `table` (the copy's target, left with rows by an earlier attempt) in fenced
    /// transactions of at most 2,999 rows, by its primary key: DSQL has no TRUNCATE.
    async fn empty_table(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        m: &LocalMigration,
        i: usize,
        table: &str,
    ) -> Result<(), RunError> {
        let key = retrying(conn, &self.connector, &self.options.retry, async |c| {
            primary_key(c, table).await
        })
        .await
        .map_err(|e| {
            RunError::db(
                &format!("{}: reading the primary key of `{table}`", m.tag),
                e.error,
            )
        })?;
        if key.is_empty() {
            return Err(RunError::Directive {
                tag: m.tag.clone(),
                number: i + 1,
                message: format!(
                    "`{table}` has no primary key to empty it by before the copy starts: drop it, then rerun"
                ),
            });
        }
        let cols = key
            .iter()
            .map(|k| quote(&k.name))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "DELETE FROM {t} WHERE ({cols}) IN (SELECT {cols} FROM {t} LIMIT 2999)",
            t = quote_table(table)
        );
        loop {
            let deleted = std::cell::Cell::new(0);
            self.in_fenced_tx(conn, lock, m, async |tx| {
                deleted.set(
                    sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                        .execute(tx)
                        .await?
                        .rows_affected(),
                );
                Ok(())
            })
            .await
            .map_err(|e| e.into_run_error(m, &format!("emptying `{table}`")))?;
            if deleted.get() == 0 {
                return Ok(());
            }
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

    /// After the copy and its passes: both tables hold the same number of rows (else the
    /// copy is discarded), then the grants.
    async fn check_copy(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        i: usize,
        d: &CopyDirective,
    ) -> Result<(), RunError> {
        let m = work.m;
        let (connector, policy) = (&self.connector, &self.options.retry);
        let count_sql = format!(
            "SELECT (SELECT count(*) FROM {}) AS source, (SELECT count(*) FROM {}) AS target",
            quote_table(&d.source),
            quote_table(&d.target)
        );
        let (source_rows, target_rows): (i64, i64) = retrying(conn, connector, policy, async |c| {
            sqlx::query_as(AssertSqlSafe(count_sql.clone()))
                .fetch_one(c)
                .await
        })
        .await
        .map_err(|e| RunError::db(&format!("{}: counting rows", m.tag), e.error))?;
        if source_rows != target_rows {
            let cause = Walked::Changed(format!(
                "after the copy `{}` holds {source_rows} rows and `{}` {target_rows}",
                d.source, d.target
            ));
            return Err(self
                .directive_failed(conn, lock, work, i, &Directive::Copy(d.clone()), cause)
                .await);
        }
        self.copy_grants(conn, m, d).await?;
        self.continue_identities(conn, lock, m, d).await
    }

    /// The new table's identity columns continue past the largest value copied and past
    /// what the old table's sequence handed out: the copy wrote the old values explicitly,
    /// so the new sequences still stand at their start. The values are read with `max()`
    /// and from the old sequence, and set with `ALTER COLUMN .. RESTART WITH`, which DSQL
    /// documents; a rerun sets it again.
    async fn continue_identities(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        m: &LocalMigration,
        d: &CopyDirective,
    ) -> Result<(), RunError> {
        let (connector, policy) = (&self.connector, &self.options.retry);
        let read = "SELECT a.attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                    WHERE n.nspname = $1 AND c.relname = $2 AND a.attidentity IN ('a', 'd') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
        let columns: Vec<String> = retrying(conn, connector, policy, async |c| {
            sqlx::query_scalar(read)
                .bind(table_schema(&d.target))
                .bind(bare_table_name(&d.target))
                .fetch_all(c)
                .await
        })
        .await
        .map_err(|e| {
            RunError::db(
                &format!("{}: reading the identity columns of `{}`", m.tag, d.target),
                e.error,
            )
        })?;
        for column in columns {
            let next_sql = format!(
                "SELECT (coalesce(max({}), 0) + 1)::bigint FROM {}",
                quote(&column),
                quote_table(&d.target)
            );
            let mut next: i64 = retrying(conn, connector, policy, async |c| {
                sqlx::query_scalar(AssertSqlSafe(next_sql.clone()))
                    .fetch_one(c)
                    .await
            })
            .await
            .map_err(|e| {
                RunError::db(
                    &format!("{}: reading the largest `{}.{column}`", m.tag, d.target),
                    e.error,
                )
            })?;
            // Past what the old table's own sequence handed out too (rows since deleted).
            let sequence: Option<String> = retrying(conn, connector, policy, async |c| {
                sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                    .bind(quote_table(&d.source))
                    .bind(&column)
                    .fetch_one(c)
                    .await
            })
            .await
            .map_err(|e| {
                RunError::db(
                    &format!("{}: finding the sequence of `{}.{column}`", m.tag, d.source),
                    e.error,
                )
            })?;
            if let Some(sequence) = sequence {
                // `pg_get_serial_sequence` returns the name quoted as needed.
                let handed_out = format!(
                    "SELECT (CASE WHEN is_called THEN last_value + 1 ELSE last_value END)::bigint FROM {sequence}"
                );
                let old_next: i64 = retrying(conn, connector, policy, async |c| {
                    sqlx::query_scalar(AssertSqlSafe(handed_out.clone()))
                        .fetch_one(c)
                        .await
                })
                .await
                .map_err(|e| {
                    RunError::db(
                        &format!("{}: reading the sequence of `{}.{column}`", m.tag, d.source),
                        e.error,
                    )
                })?;
                next = next.max(old_next);
            }
            lock.check_now(conn).await?;
            let restart = format!(
                "ALTER TABLE {} ALTER COLUMN {} RESTART WITH {next}",
                quote_table(&d.target),
                quote(&column)
            );
            retrying(conn, connector, policy, async |c| {
                sqlx::raw_sql(AssertSqlSafe(restart.clone()))
                    .execute(c)
                    .await
            })
            .await
            .map_err(|e| {
                RunError::db(
                    &format!("{}: continuing the identity `{}.{column}`", m.tag, d.target),
                    e.error,
                )
            })?;
        }
        Ok(())
    }

    /// Drops the half-filled new table (when the migration creates it again on the rerun;
    /// otherwise the rerun empties it) and forgets its ranges.
    async fn discard_copy(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        drop_table: bool,
        d: &CopyDirective,
    ) -> Result<(), RunError> {
        let m = work.m;
        if drop_table {
            lock.check_now(conn).await?;
            let drop = format!("DROP TABLE IF EXISTS {}", quote_table(&d.target));
            retrying(conn, &self.connector, &self.options.retry, async |c| {
                sqlx::raw_sql(AssertSqlSafe(drop.clone())).execute(c).await
            })
            .await
            .map_err(|e| RunError::db(&format!("{}: discarding `{}`", m.tag, d.target), e.error))?;
        }
        self.forget_ranges(conn, lock, m, None).await
    }

    /// Grants the new table what the old one grants (other than to its owner), one
    /// statement per transaction; GRANT is idempotent, so a rerun repeats them safely.
    async fn copy_grants(
        &self,
        conn: &mut Conn,
        m: &LocalMigration,
        d: &CopyDirective,
    ) -> Result<(), RunError> {
        let (connector, policy) = (&self.connector, &self.options.retry);
        let read = "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee \
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee \
                    WHERE n.nspname = $1 AND c.relname = $2 AND a.grantee <> c.relowner ORDER BY 2, 1";
        let grants: Vec<(String, String)> = retrying(conn, connector, policy, async |c| {
            sqlx::query_as(read)
                .bind(table_schema(&d.source))
                .bind(bare_table_name(&d.source))
                .fetch_all(c)
                .await
        })
        .await
        .map_err(|e| {
            RunError::db(
                &format!("{}: reading the grants of `{}`", m.tag, d.source),
                e.error,
            )
        })?;
        for (privilege, grantee) in grants {
            let grant = format!(
                "GRANT {privilege} ON {} TO {grantee}",
                quote_table(&d.target)
            );
            retrying(conn, connector, policy, async |c| {
                sqlx::raw_sql(AssertSqlSafe(grant.clone())).execute(c).await
            })
            .await
            .map_err(|e| {
                RunError::db(
                    &format!("{}: copying grants to `{}`", m.tag, d.target),
                    e.error,
                )
            })?;
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(names: &[&str]) -> Vec<KeyColumn> {
        names
            .iter()
            .map(|n| KeyColumn {
                name: (*n).into(),
                sql_type: "integer".into(),
            })
            .collect()
    }

    #[test]
    fn the_source_key_is_found_in_the_new_table_through_casts() {
        let copy = CopyDirective {
            source: "t".into(),
            target: "t__tw_new".into(),
            insert: "INSERT INTO \"t__tw_new\" (\"id\", \"pages\") SELECT \"id\"::bigint, \"pages\" FROM \"t\"".into(),
        };
        assert_eq!(
            key_in_target(&copy, &key(&["id"])).as_deref(),
            Some("\"id\"::integer")
        );
        let computed = CopyDirective {
            insert: "INSERT INTO \"t__tw_new\" (\"id\") SELECT \"id\" + 1 FROM \"t\"".into(),
            ..copy
        };
        assert_eq!(key_in_target(&computed, &key(&["id"])), None);
    }

    #[test]
    fn ranges_become_key_predicates() {
        let d = Directive::Copy(CopyDirective {
            source: "t".into(),
            target: "n".into(),
            insert: "INSERT INTO \"n\" (\"a\") SELECT \"a\" FROM \"t\"".into(),
        });
        let sql = WalkSql::new(&d, key(&["a", "b"]), "0".into(), 10);
        let both = Range {
            lower: Some(vec!["1".into(), "2".into()]),
            upper: Some(vec!["3".into(), "4".into()]),
        };
        assert_eq!(
            sql.range_predicate("\"a\", \"b\"", &both, 1).unwrap(),
            "(\"a\", \"b\") > ($1::integer, $2::integer) AND (\"a\", \"b\") <= ($3::integer, $4::integer)"
        );
        assert_eq!(
            sql.run(&Range {
                lower: None,
                upper: None
            }),
            "INSERT INTO \"n\" (\"a\") SELECT \"a\" FROM \"t\""
        );
        assert!(
            sql.run(&Range {
                lower: None,
                upper: Some(vec!["3".into(), "4".into()])
            })
            .ends_with(" WHERE (\"a\", \"b\") <= ($1::integer, $2::integer)")
        );
    }
}
