//! `migrate --dry-run`: what a run would do, from the same policy and the same
//! preparation as the run itself, changing nothing (not even creating the history table).

use super::Migrator;
use super::input::Work;
use super::reconcile::{Action, State, reconcile};
use crate::runner::base::error::RunError;
use crate::sql::directive::Directive;
use crate::sql::statement::{self, IndexMode, StatementKind};
use serde::Serialize;

/// One statement of a dry run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DryRunStatement {
    /// 1-based.
    pub number: usize,
    /// The SQL as it will be sent.
    pub sql: String,
    /// How it runs.
    pub how: String,
}

/// One migration of a dry run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DryRunMigration {
    /// The migration's journal tag (`0003_add_books`).
    pub tag: String,
    /// Its state now.
    pub state: State,
    /// First statement to run (0-based; more than 0 when a run resumes).
    pub resume_from: usize,
    /// Its statements from there.
    pub statements: Vec<DryRunStatement>,
}

impl Migrator {
    /// What `migrate` would do, changing nothing.
    pub async fn plan(&self) -> Result<Vec<DryRunMigration>, RunError> {
        let through = self.through()?;
        let mut conn = self.connector.connect().await?;
        let rows = self.history_rows(&mut conn).await?;
        // What drizzle-kit applied is recorded, not run, as `migrate` would do.
        let by_drizzle: Vec<String> = self
            .applied_by_drizzle(&mut conn, &rows)
            .await?
            .into_iter()
            .map(|m| m.tag.clone())
            .collect();
        conn.close().await;
        let reconciled = reconcile(&self.set.migrations, &rows);
        if let Some(problem) = reconciled.blocking(&self.set.origin) {
            return Err(problem);
        }
        let works = reconciled
            .to_run()
            .filter(|e| e.index < through && !by_drizzle.contains(&e.migration.tag))
            .map(|e| self.prepare(e, &|_| {}))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(works.iter().map(|w| self.plan_one(w)).collect())
    }

    fn plan_one(&self, work: &Work<'_>) -> DryRunMigration {
        let m = work.m;
        let from = work
            .action
            .runs_from()
            .expect("only migrations with something to run are planned");
        let statements = (from..m.statements.len())
            .map(|i| {
                let s = &work.statements[i];
                let mut how = if work.skip.contains(&i) {
                    "skipped: DSQL does not support it (see check-dsql)".to_owned()
                } else if s != &m.statements[i] {
                    format!("rewritten for DSQL from `{}`; {}", m.statements[i].lines().next().unwrap_or(""), self.describe_execution(s))
                } else {
                    self.describe_execution(s)
                };
                match (&work.action, &work.state) {
                    (Action::Resume { statement, .. }, _) if *statement == i => how = format!("resumes after its last committed batch; {how}"),
                    (Action::Settle { statement, .. }, _) if *statement == i => {
                        how = format!("interrupted last time: first its outcome is settled from the database (if it took effect it is not run again); {how}")
                    }
                    (_, State::Failed { statement, code, .. }) if *statement == i => {
                        how = format!("failed last time{}, and took no effect: runs again; {how}", code.as_ref().map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default())
                    }
                    _ => {}
                }
                DryRunStatement { number: i + 1, sql: self.sql_for_target(s), how }
            })
            .collect();
        DryRunMigration {
            tag: m.tag.clone(),
            state: work.state.clone(),
            resume_from: from,
            statements,
        }
    }

    fn describe_execution(&self, sql: &str) -> String {
        let info = statement::classify(sql);
        let target = self.target();
        match crate::sql::directive::parse(sql) {
            Ok(Some(Directive::Copy(d))) if target.dsql_rules() => {
                return format!(
                    "copy directive: rows of `{}` into `{}` in batches of at most {} ordered by its primary key, each batch committed with its cursor and \
                     the checksum of its key range; then every range compared with `{}` again and changed ranges copied again, row counts compared, grants copied",
                    d.source,
                    d.target,
                    self.batch_rows_per_transaction(),
                    d.source
                );
            }
            Ok(Some(Directive::Backfill(d))) if target.dsql_rules() => {
                return format!(
                    "backfill directive: `{}.{}` set where NULL, in batches of at most {} rows ordered by the primary key, each batch committed with its cursor",
                    d.table,
                    d.column,
                    self.batch_rows_per_transaction()
                );
            }
            Err(e) => return format!("REFUSED: {e}"),
            _ => {}
        }
        let mut how = if !target.dsql_rules() {
            if info.non_transactional {
                "alone, outside a transaction, recorded as executing first; index validity checked; then its cursor".to_owned()
            } else {
                "in one transaction with the migration's history write (applied exactly once)"
                    .to_owned()
            }
        } else if matches!(info.kind, StatementKind::Dml | StatementKind::Query) {
            let limit = if target.translates() {
                "; more than 3,000 changed rows fail it, as on DSQL"
            } else {
                ""
            };
            format!(
                "its own transaction, together with its history cursor (applied exactly once){limit}"
            )
        } else {
            "recorded as executing, then its own transaction, then its history cursor".to_owned()
        };
        if info.returns_job() {
            if target.has_jobs() {
                how.push_str("; waits for the ASYNC job (CALL sys.wait_for_job)");
            } else if target.translates() {
                how.push_str("; ASYNC dropped (PostgreSQL builds synchronously)");
            }
        }
        if info
            .index
            .as_ref()
            .is_some_and(|ix| ix.mode == IndexMode::Async)
        {
            how.push_str("; index validity checked");
        }
        how
    }
}
