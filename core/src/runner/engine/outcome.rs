//! Deciding what an interrupted statement did, from the database alone.
//!
//! A statement is interrupted when the runner stopped between sending it and recording its
//! outcome (a crash, a lost connection, a timeout, a lock lost to another runner). Before
//! anything else runs, the session that ran it is ended and waited out (PostgreSQL), so
//! what it did is final; then the catalog is read: if the statement's effect is in place it
//! took effect, if the state before it is in place it did not, and otherwise the run stops
//! and says so. An error code is never taken as proof either way.

use super::Migrator;
use super::effect::{self, Effect, Fact};
use super::input::Work;
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::target::{Conn, Session};
use crate::sql::statement::{self, StatementKind};
use std::time::{Duration, Instant};

/// How long a session that ran an interrupted statement may take to end.
const SESSION_GRACE: Duration = Duration::from_secs(60);

impl Migrator {
    /// Ends `session` (terminating it when the role may) and waits until the server has
    /// let it go, so that whatever it was doing is committed or rolled back for good.
    pub(crate) async fn end_session(&self, session: &Session) -> Result<(), String> {
        let mut conn = self.connector.connect().await.map_err(|e| e.to_string())?;
        // Another role's session shows its pid but not its start (without
        // pg_read_all_stats): a live pid with a hidden start counts as the session.
        let alive = "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND (backend_start IS NULL OR extract(epoch FROM backend_start)::text = $2)";
        let is_alive = async |conn: &mut Conn| -> Result<bool, String> {
            let found: Option<i32> = sqlx::query_scalar(alive)
                .bind(session.pid)
                .bind(&session.started)
                .fetch_optional(conn.pg())
                .await
                .map_err(|e| e.to_string())?;
            Ok(found.is_some())
        };
        if !is_alive(&mut conn).await? {
            conn.close().await;
            return Ok(());
        }
        // Not permitted (another role's session, without pg_signal_backend): then it is
        // waited for, and the run stops if it does not end.
        let _ = sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(session.pid)
            .execute(conn.pg())
            .await;
        let started = Instant::now();
        while started.elapsed() < SESSION_GRACE {
            if !is_alive(&mut conn).await? {
                conn.close().await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        conn.close().await;
        Err(format!(
            "the server session that ran it (pid {}) is still there after {}s and this role may not end it",
            session.pid,
            SESSION_GRACE.as_secs()
        ))
    }

    /// Whether statement `k` of `work`, interrupted by an earlier run (or by a lost
    /// connection in this one), took effect. `session` is the server session that ran it.
    pub(crate) async fn settle(
        &self,
        conn: &mut Conn,
        work: &Work<'_>,
        k: usize,
        session: Option<&Session>,
        events: &dyn Fn(Event),
    ) -> Result<bool, RunError> {
        let m = work.m;
        let statement = &work.statements[k];
        let unknown = |detail: String| RunError::UnknownOutcome {
            tag: m.tag.clone(),
            number: k + 1,
            statement: m.statements[k].clone(),
            detail,
        };
        if let Some(session) = session.filter(|_| self.target().has_sessions()) {
            self.end_session(session).await.map_err(unknown)?;
        }
        let dsql = self.target().dsql_rules();
        let info = statement::classify(statement);
        if work.skip.contains(&k)
            || crate::sql::directive::parse(statement)
                .ok()
                .flatten()
                .is_some()
        {
            // Skipped statements do nothing; a directive resumes after its last committed
            // batch.
            return Ok(false);
        }
        let (took_effect, how) = if !dsql && !info.non_transactional {
            (false, "on PostgreSQL it runs in one transaction with its history write, which did not commit".to_owned())
        } else if matches!(info.kind, StatementKind::Dml | StatementKind::Query) {
            return Err(unknown(
                "it changes data, which the catalog cannot show; this history row was written by an earlier release, which committed data changes apart from the cursor".into(),
            ));
        } else {
            match effect::of(statement) {
                Effect::Idempotent => (
                    false,
                    "running it again gives the same result as running it once".to_owned(),
                ),
                Effect::Unknown(why) => return Err(unknown(why)),
                Effect::Changes(changes) => {
                    let mut after = Vec::new();
                    let mut before = Vec::new();
                    let mut neither = Vec::new();
                    for change in &changes {
                        match self.holds(conn, &change.fact).await? {
                            Some(holds) if holds != change.before => after.push(&change.fact),
                            Some(_) => before.push(&change.fact),
                            None => neither.push(&change.fact),
                        }
                    }
                    let list = |facts: &[&Fact]| {
                        facts
                            .iter()
                            .map(|f| f.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    // How each fact stands now, in words: "table `t`", "no column `t.c`".
                    let now = |facts: &[&Fact], holds: &dyn Fn(&Fact) -> bool| {
                        facts
                            .iter()
                            .map(|f| {
                                if holds(f) {
                                    f.to_string()
                                } else {
                                    format!("no {f}")
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let was_before = |f: &Fact| changes.iter().any(|c| &c.fact == f && c.before);
                    if neither.is_empty() && before.is_empty() {
                        (
                            true,
                            format!(
                                "the catalog shows its effect: {}",
                                now(&after, &|f| !was_before(f))
                            ),
                        )
                    } else if neither.is_empty() && after.is_empty() {
                        (
                            false,
                            format!(
                                "the catalog shows the state before it: {}",
                                now(&before, &was_before)
                            ),
                        )
                    } else {
                        let mut detail = Vec::new();
                        if !after.is_empty() {
                            detail.push(format!("in place: {}", list(&after)));
                        }
                        if !before.is_empty() {
                            detail.push(format!("not in place: {}", list(&before)));
                        }
                        if !neither.is_empty() {
                            detail.push(format!("there in another shape: {}", list(&neither)));
                        }
                        return Err(unknown(format!(
                            "the catalog shows part of its effect ({})",
                            detail.join("; ")
                        )));
                    }
                }
            }
        };
        events(Event::Settled {
            tag: m.tag.clone(),
            number: k + 1,
            took_effect,
            how,
        });
        Ok(took_effect)
    }

    /// Whether `fact` holds: `Some(true)` or `Some(false)`, `None` for a column that is
    /// there with another type.
    async fn holds(&self, conn: &mut Conn, fact: &Fact) -> Result<Option<bool>, RunError> {
        let (connector, policy) = (&self.connector, &self.options.retry);
        let reading = |e: crate::runner::base::retry::Exhausted| {
            RunError::db(&format!("reading the catalog for {fact}"), e.error)
        };
        let exists = |found: Option<i32>| Some(found.is_some());
        match fact {
            Fact::Table { schema, name } => {
                let sql = "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')";
                crate::runner::base::retry::retrying(conn, connector, policy, async |c| {
                    sqlx::query_scalar::<_, i32>(sql)
                        .bind(schema)
                        .bind(name)
                        .fetch_optional(c)
                        .await
                })
                .await
                .map(exists)
                .map_err(reading)
            }
            Fact::Index { schema, name } => {
                let sql = "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('i', 'I')";
                crate::runner::base::retry::retrying(conn, connector, policy, async |c| {
                    sqlx::query_scalar::<_, i32>(sql)
                        .bind(schema)
                        .bind(name)
                        .fetch_optional(c)
                        .await
                })
                .await
                .map(exists)
                .map_err(reading)
            }
            Fact::Constraint {
                schema,
                table,
                name,
            } => {
                let sql = "SELECT 1 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                           WHERE n.nspname = $1 AND c.relname = $2 AND k.conname = $3";
                crate::runner::base::retry::retrying(conn, connector, policy, async |c| {
                    sqlx::query_scalar::<_, i32>(sql)
                        .bind(schema)
                        .bind(table)
                        .bind(name)
                        .fetch_optional(c)
                        .await
                })
                .await
                .map(exists)
                .map_err(reading)
            }
            Fact::Column {
                schema,
                table,
                column,
                sql_type,
            } => {
                let sql = "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                           WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped";
                let found: Option<String> =
                    crate::runner::base::retry::retrying(conn, connector, policy, async |c| {
                        sqlx::query_scalar(sql)
                            .bind(schema)
                            .bind(table)
                            .bind(column)
                            .fetch_optional(c)
                            .await
                    })
                    .await
                    .map_err(reading)?;
                Ok(match (found, sql_type) {
                    (None, _) => Some(false),
                    (Some(found), Some(expected)) if &found != expected => None,
                    (Some(_), _) => Some(true),
                })
            }
        }
    }
}
