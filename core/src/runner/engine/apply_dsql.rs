//! Applying a migration under Aurora DSQL's rules (on DSQL, or emulated on PostgreSQL):
//! every statement is its own transaction. A data change commits together with its cursor;
//! a schema change (DDL) commits alone between an "executing" record and the cursor; a
//! directive walks its table in batches, each committed with its cursor.

use super::Migrator;
use super::input::Work;
use super::lock::Lock;
use super::record::Transition;
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::failpoint;
use crate::runner::base::target::Conn;
use crate::sql::statement::{self, StatementKind};
use std::time::Instant;

impl Migrator {
    /// Runs `work` from where its action says, under DSQL's rules.
    pub(crate) async fn apply_dsql(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        events: &dyn Fn(Event),
    ) -> Result<(), RunError> {
        let m = work.m;
        let total = m.statements.len();
        let (from, mut cursor) = self.start(conn, lock, work, events).await?;
        if cursor.is_none() {
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
        }
        if from >= total {
            // Nothing left to run, but not recorded as applied yet.
            if work.row.as_ref().is_none_or(|r| !r.status.is_done()) && total > 0 {
                self.record(
                    conn,
                    lock,
                    m,
                    &work.hashes,
                    cursor,
                    &Transition::advance(total, total),
                )
                .await?;
            }
            return Ok(());
        }
        for i in from..total {
            lock.confirm(conn).await?;
            conn.refresh_if_old(&self.connector).await?;
            let started = Instant::now();
            let note = self.step_dsql(conn, lock, work, i, events).await?;
            events(Event::StatementDone {
                tag: m.tag.clone(),
                number: i + 1,
                total,
                elapsed_ms: started.elapsed().as_millis() as u64,
                note,
            });
        }
        Ok(())
    }

    /// Statement `i`, with the cursor at `i`; leaves the cursor at `i + 1`.
    async fn step_dsql(
        &self,
        conn: &mut Conn,
        lock: &Lock,
        work: &Work<'_>,
        i: usize,
        events: &dyn Fn(Event),
    ) -> Result<Option<&'static str>, RunError> {
        let m = work.m;
        let total = m.statements.len();
        if work.skip.contains(&i) {
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
            return Ok(Some("skipped"));
        }
        let directive =
            crate::sql::directive::parse(&work.statements[i]).map_err(|e| RunError::Directive {
                tag: m.tag.clone(),
                number: i + 1,
                message: e.to_string(),
            })?;
        if let Some(directive) = directive {
            // Once a batch has committed the directive has partly run: recorded as
            // executing, its text is frozen like the statements before it.
            self.record(
                conn,
                lock,
                m,
                &work.hashes,
                Some(i),
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
                Some(i),
                &Transition::advance(i + 1, total),
            )
            .await?;
            failpoint::hit("runner::after_cursor");
            return Ok(None);
        }
        match statement::classify(&work.statements[i]).kind {
            StatementKind::Dml | StatementKind::Query => {
                self.commit_with_cursor(
                    conn,
                    lock,
                    work,
                    i..i + 1,
                    Some(i),
                    &Transition::advance(i + 1, total),
                )
                .await?;
                failpoint::hit("runner::after_cursor");
            }
            _ => self.run_alone(conn, lock, work, i, Some(i), events).await?,
        }
        Ok(None)
    }
}
