//! The table rebuild around its copy: an empty source, the row-count check, identities
//! continued past the copied values, a discarded half-copy, and the grants carried over.

use super::Walked;
use super::catalog::primary_key;
use crate::runner::base::error::RunError;
use crate::runner::base::retry::retrying;
use crate::runner::base::target::Conn;
use crate::runner::engine::Migrator;
use crate::runner::engine::input::Work;
use crate::runner::engine::lock::Lock;
use crate::runner::source::LocalMigration;
use crate::schema::model::{bare_table_name, table_schema};
use crate::sql::directive::{CopyDirective, Directive};
use crate::sql::ident::{quote, quote_table};
use sqlx::AssertSqlSafe;

impl Migrator {
    /// Empties `table` (the copy's target, left with rows by an earlier attempt) in fenced
    /// transactions of at most 2,999 rows, by its primary key: DSQL has no TRUNCATE.
    pub(super) async fn empty_table(
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

    /// After the copy and its passes: both tables hold the same number of rows (else the
    /// copy is discarded), then the grants.
    pub(super) async fn check_copy(
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
    pub(super) async fn continue_identities(
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
    pub(super) async fn discard_copy(
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
    pub(super) async fn copy_grants(
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
