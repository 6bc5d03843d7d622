//! The runner's side of the [directives](crate::directive): the copy of a table
//! recreation and the backfill of a new column walk their table in batches ordered by its
//! primary key, each batch committed together with its cursor, so a run killed midway
//! resumes after the last committed batch and touches no row twice.

use super::history::HistoryTable;
use super::retry::{self, retrying};
use super::target::{Conn, Connector};
use super::{Event, Migrator, RunError, halt_point};
use crate::plan::quote;
use crate::directive::{BackfillDirective, CopyDirective, Directive};
use crate::runner::source::LocalMigration;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};
use std::time::{Duration, Instant};

/// DSQL caps a transaction at 10 MiB of changes; stay well below it, since the size the
/// server counts is not exactly `pg_column_size`.
const BATCH_BYTES: i64 = 8 * 1024 * 1024;

/// The most rows a batch may hold under DSQL's 3,000-row limit, the cursor row included.
const MAX_BATCH_ROWS: usize = 2_999;

/// A key column: name and type as `format_type` prints it.
struct KeyColumn {
    name: String,
    sql_type: String,
}

async fn primary_key(conn: &mut PgConnection, table: &str) -> Result<Vec<KeyColumn>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type \
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
    )
    .bind(quote(table))
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok(KeyColumn { name: r.try_get("name")?, sql_type: r.try_get("sql_type")? })).collect()
}

/// The SQL of one batch, given the key.
struct BatchSql {
    /// Finds the last key of the next batch (within the row and byte budget).
    bound_first: String,
    bound_next: String,
    /// Carries the directive out on the rows up to and including that key.
    run_first: String,
    run_next: String,
}

impl BatchSql {
    fn new(d: &Directive, key: &[KeyColumn], batch_rows: usize) -> BatchSql {
        let cols = key.iter().map(|k| quote(&k.name)).collect::<Vec<_>>().join(", ");
        let texts = key.iter().map(|k| format!("{}::text", quote(&k.name))).collect::<Vec<_>>().join(", ");
        let params = |from: usize| key.iter().enumerate().map(|(j, k)| format!("${}::{}", j + from, k.sql_type)).collect::<Vec<_>>().join(", ");
        // The statement, and the connective that adds a key range to it.
        let (statement, joiner) = match d {
            Directive::Copy(c) => (&c.insert, " WHERE "),
            Directive::Backfill(b) => (&b.update, " AND "),
        };
        let after = format!("({cols}) > ({})", params(1));
        // The batch is the next key range, whatever the statement then does with its rows:
        // a filter here (a backfill's `IS NULL`) can make the planner, which has no
        // statistics for a new column, trade the key's index for a scan of the whole
        // table on every batch.
        let bound = |after: Option<&str>| {
            let filter = after.map(|a| format!(" WHERE {a}")).unwrap_or_default();
            format!(
                "SELECT {texts}, n FROM (SELECT {cols}, row_number() OVER (ORDER BY {cols}) AS n, sum(pg_column_size(s.*)) OVER (ORDER BY {cols}) AS bytes \
                 FROM (SELECT * FROM {src}{filter} ORDER BY {cols} LIMIT {batch_rows}) s) w WHERE n = 1 OR bytes <= {BATCH_BYTES} ORDER BY n DESC LIMIT 1",
                src = quote(d.table())
            )
        };
        let n = key.len();
        BatchSql {
            bound_first: bound(None),
            bound_next: bound(Some(&after)),
            run_first: format!("{statement}{joiner}({cols}) <= ({})", params(1)),
            run_next: format!("{statement}{joiner}{after} AND ({cols}) <= ({})", params(n + 1)),
        }
    }
}

/// One batch in one transaction: find its upper key, carry the directive out up to it,
/// move the cursor. `None` when no row is left.
async fn run_batch(c: &mut PgConnection, sql: &BatchSql, history: &HistoryTable, tag: &str, cursor: Option<&[String]>) -> Result<Option<(Vec<String>, u64)>, sqlx::Error> {
    let mut tx = c.begin().await?;
    let bound = match cursor {
        None => sqlx::query(AssertSqlSafe(sql.bound_first.clone())),
        Some(values) => values.iter().fold(sqlx::query(AssertSqlSafe(sql.bound_next.clone())), |q, v| q.bind(v.clone())),
    };
    let Some(row) = bound.fetch_optional(&mut *tx).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let upper: Vec<String> = (0..row.len() - 1).map(|j| row.try_get::<String, _>(j)).collect::<Result<_, _>>()?;
    let run = match cursor {
        None => sqlx::query(AssertSqlSafe(sql.run_first.clone())),
        Some(values) => values.iter().fold(sqlx::query(AssertSqlSafe(sql.run_next.clone())), |q, v| q.bind(v.clone())),
    };
    let rows = upper.iter().fold(run, |q, v| q.bind(v.clone())).execute(&mut *tx).await?.rows_affected();
    let cursor_json = serde_json::to_string(&upper).expect("strings serialize");
    history.record_batch(&mut tx, tag, &cursor_json, rows as i64).await?;
    tx.commit().await?;
    Ok(Some((upper, rows)))
}

impl Migrator {
    /// Rows per batch: the configured number, within DSQL's limit.
    pub(super) fn batch_rows_per_transaction(&self) -> usize {
        self.options.batch_rows.clamp(1, MAX_BATCH_ROWS)
    }

    /// Carries out the directive of statement `i` in batches; for a copy, then the
    /// row-count check and the grants.
    pub(super) async fn run_directive(&self, conn: &mut Conn, m: &LocalMigration, i: usize, d: &Directive, events: &dyn Fn(Event)) -> Result<(), RunError> {
        let fail = |message: String| RunError::Directive { tag: m.tag.clone(), number: i + 1, message };
        let connector: &Connector = &self.connector;
        let policy = &self.options.retry;
        let table = d.table();
        let key = retrying(conn, connector, policy, async |c| primary_key(c, table).await)
            .await
            .map_err(|e| RunError::db(&format!("{}: reading the primary key of `{table}`", m.tag), e.error))?;
        if key.is_empty() {
            return Err(fail(format!("`{table}` has no primary key (or does not exist), so its rows cannot be walked in batches")));
        }
        let history = &self.options.history;
        let row = retrying(conn, connector, policy, async |c| history.rows(c, true).await)
            .await
            .map_err(|e| RunError::db("reading the history", e.error))?
            .into_iter()
            .find(|r| r.tag == m.tag);
        let mut cursor: Option<Vec<String>> = match row.as_ref().and_then(|r| r.copy_cursor.as_deref()) {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| fail(format!("unreadable batch cursor {text:?}: {e}")))?),
            None => None,
        };
        let mut done_rows = row.and_then(|r| r.copied_rows).unwrap_or(0) as u64;
        let progress = |rows: u64, done: bool| match d {
            Directive::Copy(_) => Event::CopyProgress { tag: m.tag.clone(), table: table.to_owned(), rows, done },
            Directive::Backfill(b) => Event::BackfillProgress { tag: m.tag.clone(), table: table.to_owned(), column: b.column.clone(), rows, done },
        };
        let sql = BatchSql::new(d, &key, self.batch_rows_per_transaction());
        let mut reported = Instant::now();
        events(progress(done_rows, false));
        loop {
            let batch = retrying(conn, connector, policy, async |c| run_batch(c, &sql, history, &m.tag, cursor.as_deref()).await).await;
            match batch {
                Ok(Some((upper, n))) => {
                    done_rows += n;
                    cursor = Some(upper);
                    halt_point(&m.tag, i + 1, "after-batch");
                    if reported.elapsed() >= Duration::from_secs(2) {
                        events(progress(done_rows, false));
                        reported = Instant::now();
                    }
                }
                Ok(None) => break,
                Err(e) if !retry::sqlstate(&e.error).is_some_and(|c| c.starts_with("22") || c.starts_with("23")) => {
                    return Err(RunError::db(&format!("{}: walking `{table}` in batches (rerun to resume after the last committed batch)", m.tag), e.error));
                }
                Err(e) => return Err(self.refused_row(conn, m, i, d, e.error).await),
            }
        }
        if let Directive::Copy(copy) = d {
            self.check_copy(conn, m, i, copy).await?;
        }
        events(progress(done_rows, true));
        Ok(())
    }

    /// A row the statement refuses (a failed cast, a NULL for a NOT NULL column, a
    /// duplicate under a new key, a value a CHECK rejects). A copy is discarded, leaving
    /// the old table untouched and nothing half-built; a backfill keeps the batches done,
    /// and a rerun resumes after them.
    async fn refused_row(&self, conn: &mut Conn, m: &LocalMigration, i: usize, d: &Directive, error: sqlx::Error) -> RunError {
        let fail = |message: String| RunError::Directive { tag: m.tag.clone(), number: i + 1, message };
        let cause = format!("{error}{}{}", super::sqlstate_suffix(&error), super::detail_suffix(&error));
        match d {
            Directive::Copy(copy) => {
                if let Err(e) = self.discard_copy(conn, m, i, copy).await {
                    return e;
                }
                fail(format!(
                    "copying `{}` into `{}` failed: {cause}; the copy was discarded and `{}` is unchanged: fix the data or the change, then rerun",
                    copy.source, copy.target, copy.source
                ))
            }
            Directive::Backfill(BackfillDirective { table, column, .. }) => fail(format!(
                "backfilling `{table}.{column}` failed: {cause}; the rows before this batch are filled and the rest are NULL: fix the data, then rerun to resume"
            )),
        }
    }

    /// After a copy: both tables hold the same number of rows (else the copy is
    /// discarded), then the grants.
    async fn check_copy(&self, conn: &mut Conn, m: &LocalMigration, i: usize, d: &CopyDirective) -> Result<(), RunError> {
        let (connector, policy) = (&self.connector, &self.options.retry);
        let count_sql = format!("SELECT (SELECT count(*) FROM {}) AS source, (SELECT count(*) FROM {}) AS target", quote(&d.source), quote(&d.target));
        let (source_rows, target_rows): (i64, i64) = retrying(conn, connector, policy, async |c| sqlx::query_as(AssertSqlSafe(count_sql.clone())).fetch_one(c).await)
            .await
            .map_err(|e| RunError::db(&format!("{}: counting rows", m.tag), e.error))?;
        if source_rows != target_rows {
            self.discard_copy(conn, m, i, d).await?;
            return Err(RunError::Directive {
                tag: m.tag.clone(),
                number: i + 1,
                message: format!(
                    "after the copy `{}` holds {source_rows} rows and `{}` {target_rows}: something wrote to `{}` during the copy. \
                     Nothing was swapped and the copy was discarded; stop writes to `{}`, then rerun",
                    d.source, d.target, d.source, d.source
                ),
            });
        }
        self.copy_grants(conn, m, d).await
    }

    /// Drops the half-filled new table and moves the migration's cursor back to the
    /// statement that creates it, so the next run starts the copy over.
    async fn discard_copy(&self, conn: &mut Conn, m: &LocalMigration, i: usize, d: &CopyDirective) -> Result<(), RunError> {
        let creates = format!("CREATE TABLE IF NOT EXISTS {} ", quote(&d.target));
        let restart = m.statements[..i].iter().rposition(|s| s.contains(&creates)).unwrap_or(i);
        let drop = format!("DROP TABLE IF EXISTS {}", quote(&d.target));
        let (connector, policy, history) = (&self.connector, &self.options.retry, &self.options.history);
        if restart < i {
            retrying(conn, connector, policy, async |c| sqlx::raw_sql(AssertSqlSafe(drop.clone())).execute(c).await)
                .await
                .map_err(|e| RunError::db(&format!("{}: discarding `{}`", m.tag, d.target), e.error))?;
        }
        retrying(conn, connector, policy, async |c| history.rewind(c, &m.tag, restart).await)
            .await
            .map_err(|e| RunError::db(&format!("{}: resetting the copy", m.tag), e.error))?;
        Ok(())
    }

    /// Grants the new table what the old one grants (other than to its owner), one
    /// statement per transaction; GRANT is idempotent, so a rerun repeats them safely.
    async fn copy_grants(&self, conn: &mut Conn, m: &LocalMigration, d: &CopyDirective) -> Result<(), RunError> {
        let (connector, policy) = (&self.connector, &self.options.retry);
        let read = "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee \
                    FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee \
                    WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner ORDER BY 2, 1";
        let grants: Vec<(String, String)> = retrying(conn, connector, policy, async |c| sqlx::query_as(read).bind(quote(&d.source)).fetch_all(c).await)
            .await
            .map_err(|e| RunError::db(&format!("{}: reading the grants of `{}`", m.tag, d.source), e.error))?;
        for (privilege, grantee) in grants {
            let grant = format!("GRANT {privilege} ON {} TO {grantee}", quote(&d.target));
            retrying(conn, connector, policy, async |c| sqlx::raw_sql(AssertSqlSafe(grant.clone())).execute(c).await)
                .await
                .map_err(|e| RunError::db(&format!("{}: copying grants to `{}`", m.tag, d.target), e.error))?;
        }
        Ok(())
    }
}
