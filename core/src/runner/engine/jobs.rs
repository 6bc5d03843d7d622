//! Work that finishes after its statement returns, and what a failed statement leaves:
//! DSQL's asynchronous jobs (`CALL sys.wait_for_job`), indexes left INVALID (by a failed
//! build, or a crash mid-build, which `IF NOT EXISTS` would accept), and the `NOT VALID`
//! constraint a failed validation leaves.

use super::Migrator;
use super::effect;
use super::input::Work;
use super::lock::Lock;
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::retry::retrying;
use crate::runner::base::target::Conn;
use crate::sql::ident::quote;
use crate::sql::statement::{self, IndexMode};
use sqlx::{AssertSqlSafe, Row as _};
use std::time::{Duration, Instant};

/// `(schema, name)` of the index statement `sql` builds asynchronously or concurrently.
fn async_index(sql: &str) -> Option<(String, String)> {
    let info = statement::classify(sql);
    let index = info.index.filter(|ix| ix.mode != IndexMode::Plain)?;
    effect::created_index(sql).or_else(|| index.name.map(|n| ("public".to_owned(), n)))
}

impl Migrator {
    /// Whether index `schema.name` is valid; `None` when there is no such index.
    async fn index_validity(
        &self,
        conn: &mut Conn,
        schema: &str,
        name: &str,
    ) -> Result<Option<bool>, RunError> {
        let sql = "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE n.nspname = $1 AND c.relname = $2";
        retrying(conn, &self.connector, &self.options.retry, async |c| {
            sqlx::query_scalar::<_, bool>(sql)
                .bind(schema)
                .bind(name)
                .fetch_optional(c)
                .await
        })
        .await
        .map_err(|e| RunError::db("checking index validity", e.error))
    }

    /// `CALL sys.wait_for_job` outside any transaction; a `false` answer is a failure
    /// whose reason is in `sys.jobs.details`.
    pub(crate) async fn wait_for_job(
        &self,
        conn: &mut Conn,
        tag: &str,
        job_id: &str,
        events: &dyn Fn(Event),
    ) -> Result<(), RunError> {
        if !job_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(RunError::JobFailed {
                tag: tag.to_owned(),
                job_id: job_id.to_owned(),
                details: "unexpected job id".into(),
            });
        }
        let started = Instant::now();
        tracing::info!(job_id, "{tag}: waiting for DSQL job");
        let call = format!("CALL sys.wait_for_job('{job_id}')");
        let outcome = {
            // Waiting changes nothing, so it is safe to repeat after a lost connection.
            let wait = retrying(conn, &self.connector, &self.options.retry, async |c| {
                sqlx::raw_sql(AssertSqlSafe(call.clone()))
                    .fetch_optional(c)
                    .await
            });
            tokio::pin!(wait);
            let mut ticker = tokio::time::interval(Duration::from_secs(10));
            ticker.tick().await;
            loop {
                tokio::select! {
                    outcome = &mut wait => break outcome,
                    _ = ticker.tick() => events(Event::WaitingForJob { tag: tag.to_owned(), job_id: job_id.to_owned(), elapsed_s: started.elapsed().as_secs() }),
                }
            }
        };
        let succeeded = outcome
            .map_err(|e| RunError::db(&format!("{tag}: waiting for job {job_id}"), e.error))?
            .and_then(|row| row.try_get::<bool, _>(0).ok())
            .unwrap_or(false);
        tracing::info!(
            job_id,
            succeeded,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "{tag}: DSQL job finished"
        );
        if succeeded {
            return Ok(());
        }
        let details: Option<String> =
            sqlx::query_scalar("SELECT coalesce(details, status) FROM sys.jobs WHERE job_id = $1")
                .bind(job_id)
                .fetch_optional(conn.pg())
                .await
                .ok()
                .flatten();
        Err(RunError::JobFailed {
            tag: tag.to_owned(),
            job_id: job_id.to_owned(),
            details: details.unwrap_or_else(|| "no details in sys.jobs".into()),
        })
    }

    /// After statement `i` built an index asynchronously or concurrently: an INVALID
    /// result is dropped and built again, once.
    pub(crate) async fn ensure_index_valid(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        i: usize,
        events: &dyn Fn(Event),
    ) -> Result<(), RunError> {
        let m = work.m;
        let Some((schema, name)) = async_index(&work.statements[i]) else {
            return Ok(());
        };
        if self.index_validity(conn, &schema, &name).await? != Some(false) {
            return Ok(());
        }
        // A drop cannot carry the fence: check it first.
        lock.check_now(conn).await?;
        events(Event::RebuildingIndex {
            tag: m.tag.clone(),
            index: name.clone(),
        });
        let drop = format!("DROP INDEX IF EXISTS {}.{}", quote(&schema), quote(&name));
        retrying(conn, &self.connector, &self.options.retry, async |c| {
            sqlx::raw_sql(AssertSqlSafe(drop.clone())).execute(c).await
        })
        .await
        .map_err(|e| RunError::db("dropping an invalid index", e.error))?;
        let sql = self.sql_for_target(&work.statements[i]);
        let rebuilt = retrying(conn, &self.connector, &self.options.retry, async |c| {
            sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .fetch_optional(c)
                .await
        })
        .await;
        match rebuilt {
            Ok(Some(row)) if self.target().has_jobs() => {
                if let Ok(job_id) = row.try_get::<String, _>("job_id") {
                    self.wait_for_job(conn, &m.tag, &job_id, events).await?;
                }
            }
            Ok(_) => {}
            Err(e) => return Err(RunError::statement(m, i, i, e.error)),
        }
        if self.index_validity(conn, &schema, &name).await? == Some(false) {
            return Err(RunError::InvalidIndex {
                tag: m.tag.clone(),
                index: name,
            });
        }
        Ok(())
    }

    /// After statement `i` failed: a failed index build (`CONCURRENTLY`, or a DSQL job)
    /// leaves an INVALID index, and a failed validation the constraint the statement just
    /// before it added `NOT VALID`. Both are removed, so nothing half-built stays; for the
    /// constraint that statement is returned, where the migration must start again. (A
    /// constraint added earlier, with other statements between, stays: starting over would
    /// run those again; the rerun validates it anew.)
    pub(crate) async fn remove_half_built(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        i: usize,
        events: &dyn Fn(Event),
    ) -> Result<Option<usize>, RunError> {
        let m = work.m;
        lock.check_now(conn).await?;
        let info = statement::classify(&work.statements[i]);
        let (connector, policy) = (&self.connector, &self.options.retry);
        let run = async |conn: &mut Conn, sql: String| {
            retrying(conn, connector, policy, async |c| {
                sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(c).await
            })
            .await
            .map(|_| ())
            .map_err(|e| {
                RunError::db(
                    &format!("{}: removing what statement {} left", m.tag, i + 1),
                    e.error,
                )
            })
        };
        if let Some((schema, name)) = async_index(&work.statements[i])
            && self.index_validity(conn, &schema, &name).await? == Some(false)
        {
            run(
                conn,
                format!("DROP INDEX IF EXISTS {}.{}", quote(&schema), quote(&name)),
            )
            .await?;
            events(Event::Removed {
                tag: m.tag.clone(),
                what: format!(
                    "the INVALID index `{name}` the failed build left was dropped; a rerun builds it again"
                ),
            });
        }
        if let Some(statement::Validation {
            table: Some(table),
            constraint: Some(constraint),
            ..
        }) = &info.validation
            && let Some(added_by) = i.checked_sub(1).filter(|&j| {
                statement::classify(&work.statements[j])
                    .adds_constraint
                    .is_some_and(|(t, c)| &c == constraint && t.is_none_or(|t| &t == table))
            })
        {
            run(
                conn,
                format!(
                    "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}",
                    crate::sql::ident::quote_table(table),
                    quote(constraint)
                ),
            )
            .await?;
            events(Event::Removed {
                tag: m.tag.clone(),
                what: format!(
                    "constraint `{constraint}` of `{table}`, added NOT VALID by statement {}, was dropped; a rerun adds and validates it again from there",
                    added_by + 1
                ),
            });
            return Ok(Some(added_by));
        }
        Ok(None)
    }
}
