//! `--single-transaction` on PostgreSQL: every pending migration, each with its history
//! row, in one transaction, so that the whole set lands or none of it does.

use super::Migrator;
use super::input::Work;
use super::lock::Lock;
use super::record::Transition;
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::target::Conn;
use crate::runner::{base::failpoint, base::retry};
use sqlx::{AssertSqlSafe, Connection as _};
use std::time::Instant;

impl Migrator {
    /// `--single-transaction` on PostgreSQL: every pending migration, each with its history
    /// row, in one transaction. A failure is recorded on the migration it happened in.
    pub(crate) async fn apply_postgres_together(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        works: &[Work<'_>],
        events: &dyn Fn(Event),
    ) -> Result<(), RunError> {
        let started = Instant::now();
        let policy = self.options.retry;
        let (mut conflicts, mut failures) = (0u32, 0u32);
        loop {
            let mut failed: Option<(usize, usize, sqlx::Error)> = None;
            let attempt = async {
                let mut tx = conn
                    .pg()
                    .begin()
                    .await
                    .map_err(super::record::RecordError::Db)?;
                for (k, w) in works.iter().enumerate() {
                    let expected = w.row.as_ref().map(|r| r.cursor());
                    self.write_in(
                        &mut tx,
                        lock.fence(),
                        w.m,
                        &w.hashes,
                        expected,
                        &Transition::advance(w.m.statements.len(), w.m.statements.len()),
                    )
                    .await?;
                    for (j, sql) in w.statements.iter().enumerate() {
                        if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                            .execute(&mut *tx)
                            .await
                        {
                            failed = Some((k, j, e));
                            return Err(super::record::RecordError::Db(sqlx::Error::Protocol(
                                "statement failed".into(),
                            )));
                        }
                    }
                }
                tx.commit().await.map_err(super::record::RecordError::Db)
            }
            .await;
            let error = match (attempt, failed) {
                (Ok(()), _) => break,
                (Err(_), Some((k, j, e)))
                    if retry::occ_code(&e).is_none() && !retry::is_transient(&e) =>
                {
                    let w = &works[k];
                    let expected = w.row.as_ref().map(|r| r.cursor());
                    self.record(
                        conn,
                        lock,
                        w.m,
                        &w.hashes,
                        expected,
                        &Transition::failed(
                            0,
                            j,
                            retry::sqlstate(&e),
                            crate::runner::base::error::database_message(&e),
                        ),
                    )
                    .await?;
                    return Err(RunError::statement(w.m, j, 0, e));
                }
                (Err(_), Some((_, _, e))) | (Err(super::record::RecordError::Db(e)), None) => e,
                (Err(w), None) => return Err(w.into_run_error(works[0].m, "recording progress")),
            };
            if let Some(wait) =
                policy.after_conflict(&error, &mut conflicts, &"the single transaction")
            {
                tokio::time::sleep(wait).await;
                continue;
            }
            if let Some(wait) =
                policy.after_lost_connection(&error, &mut failures, &"the single transaction")
            {
                let old = conn.session().cloned();
                tokio::time::sleep(wait).await;
                conn.reconnect(&self.connector).await?;
                if let Some(session) = old {
                    let last = works.last().expect("several migrations").m;
                    self.end_session(&session)
                        .await
                        .map_err(|detail| RunError::LostSession {
                            tag: last.tag.clone(),
                            detail,
                        })?;
                }
                let last = works.last().expect("several migrations").m;
                if self
                    .read_row(conn, &last.tag)
                    .await?
                    .is_some_and(|r| r.status.is_done())
                {
                    break;
                }
                continue;
            }
            return Err(RunError::db("committing the single transaction", error));
        }
        failpoint::hit("runner::after_cursor");
        let elapsed_ms = started.elapsed().as_millis() as u64;
        for w in works {
            events(Event::MigrationApplied {
                tag: w.m.tag.clone(),
                elapsed_ms,
            });
        }
        Ok(())
    }
}
