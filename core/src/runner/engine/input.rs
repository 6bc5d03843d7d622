//! What the runner refuses or rewrites before anything runs, so that a migration it cannot
//! carry out whole is stopped before its first statement:
//!
//! * transaction control anywhere in a chunk (the runner owns transactions: a `COMMIT`
//!   inside would commit half a migration); under DSQL's rules a chunk that is only
//!   `BEGIN`/`COMMIT` is skipped with a warning instead, as check-dsql says;
//! * two-phase commit (`PREPARE TRANSACTION`), which would leave the migration neither
//!   committed nor rolled back, holding its locks, while the runner reported it applied;
//! * session state (`SET` without `LOCAL`, `set_config(.., false)`, `RESET`, `SET ROLE`,
//!   `DISCARD`, `PREPARE`, `LISTEN`, a session-level advisory lock, a temporary table kept
//!   past COMMIT, a cursor WITH HOLD): a resumed run
//!   starts a new session without it, and it would carry into later migrations;
//! * a statement that cannot run in a transaction sharing its chunk with others;
//! * under DSQL's rules, a chunk holding more than one statement (DSQL runs one per
//!   transaction), and what check-dsql classes ERROR or RECREATION; INDEX statements
//!   (`CONCURRENTLY` included) run rewritten to `ASYNC`, STRIP statements are skipped;
//! * on plain PostgreSQL, DSQL's `ASYNC`.
//!
//! Chunks are split with the SQL tokenizer check-dsql uses, which knows strings, dollar
//! quotes and comments.

use super::Migrator;
use super::history::{HistoryRow, statement_hashes};
use super::reconcile::{Action, Entry, State};
use crate::dialect::DsqlClass;
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::source::LocalMigration;
use crate::sql::statement::{self, StatementKind};
use std::collections::BTreeSet;

/// A migration ready to run: its statements as they run under the target's rules.
#[derive(Debug, Clone)]
pub(crate) struct Work<'a> {
    /// The migration as in its file (hashes and messages use it).
    pub m: &'a LocalMigration,
    /// Each statement as it runs (check-dsql's rewrites applied), before the emulation's
    /// translation.
    pub statements: Vec<String>,
    /// Statements skipped on DSQL (check-dsql's STRIP class).
    pub skip: BTreeSet<usize>,
    /// SHA-256 of each statement of the file, as the history records them.
    pub hashes: Vec<String>,
    /// Its state before this run.
    pub state: State,
    /// What this run does with it.
    pub action: Action,
    /// Its history row before this run.
    pub row: Option<HistoryRow>,
}

impl Migrator {
    /// Refuses what the target cannot take and applies check-dsql's treatment; announces
    /// rewrites and skips through `events`.
    pub(crate) fn prepare<'a>(
        &self,
        entry: &Entry<'a>,
        events: &dyn Fn(Event),
    ) -> Result<Work<'a>, RunError> {
        let m = entry.migration;
        let dsql = self.target().dsql_rules();
        let mut work = Work {
            m,
            statements: m.statements.clone(),
            skip: BTreeSet::new(),
            hashes: statement_hashes(m),
            state: entry.state.clone(),
            action: entry.action.clone(),
            row: entry.row.cloned(),
        };
        for (i, chunk) in m.statements.iter().enumerate() {
            let refuse = |reason: String| RunError::Refused {
                tag: m.tag.clone(),
                number: i + 1,
                statement: chunk.clone(),
                reason,
            };
            let mut parts = crate::sql::split::statements_in(chunk, 1);
            // drizzle's migrator runs a whole file inside its own transaction, where a file's
            // `BEGIN` is a no-op and its `COMMIT` (or `END`) only ends that transaction early.
            // A file the import brought keeps its bytes (its hash is drizzle's record of it)
            // and runs without them, as one transaction: the same schema, and on a failure
            // nothing half done. (ROLLBACK, savepoints and two-phase commit change what a
            // file does: refused. A `BEGIN ATOMIC` body's `END` is inside its statement.)
            let imported = self.set.drizzle.as_ref().is_some_and(|d| {
                self.set
                    .migrations
                    .iter()
                    .position(|x| x.tag == m.tag)
                    .is_some_and(|at| at < d.raw_hashes.len())
            });
            if imported && parts.iter().any(|(_, p)| is_begin_or_commit(p)) {
                parts.retain(|(_, p)| !is_begin_or_commit(p));
                let reason = "drizzle-kit file: its own BEGIN/COMMIT are left out; the migration runs as one transaction".to_owned();
                if parts.is_empty() {
                    events(Event::Skipped {
                        tag: m.tag.clone(),
                        number: i + 1,
                        reason,
                    });
                    work.statements[i] = "-- BEGIN/COMMIT left out".to_owned();
                    work.skip.insert(i);
                    continue;
                }
                let sql = parts
                    .iter()
                    .map(|(_, p)| p.as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
                events(Event::Rewritten {
                    tag: m.tag.clone(),
                    number: i + 1,
                    sql: sql.clone(),
                    reason,
                });
                work.statements[i] = sql;
            }
            let chunk = &work.statements[i].clone();
            let control = parts
                .iter()
                .any(|(_, p)| statement::classify(p).kind == StatementKind::TransactionControl);
            let two_phase = parts.iter().any(|(_, p)| statement::classify(p).two_phase);
            if control && (parts.len() > 1 || !dsql || two_phase) {
                return Err(refuse(
                    "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION, ..) in a migration: the runner owns transactions \
                     (on PostgreSQL a migration is one transaction, on DSQL every statement is its own); remove it"
                        .into(),
                ));
            }
            if parts.len() > 1
                && parts
                    .iter()
                    .any(|(_, p)| statement::classify(p).non_transactional)
            {
                return Err(refuse(
                    "a statement that cannot run inside a transaction (CONCURRENTLY, VACUUM) shares its chunk with others: give it a chunk of its own, \
                     with a `--> statement-breakpoint` line before and after it"
                        .into(),
                ));
            }
            if let Some((_, session)) = parts
                .iter()
                .find(|(_, p)| statement::classify(p).kind == StatementKind::Session)
            {
                return Err(refuse(format!(
                    "`{}` changes the session, which a resumed run does not have (it starts a new one) and which would carry into the migrations after it: \
                     qualify names instead of setting search_path; for one transaction, use `SET LOCAL` or `set_config(name, value, true)`, \
                     `pg_advisory_xact_lock`, or a temporary table `ON COMMIT DROP` (PostgreSQL)",
                    session
                        .split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                )));
            }
            let info = statement::classify(chunk);
            if !dsql && info.returns_job() {
                return Err(refuse(
                    "ASYNC is Aurora DSQL syntax and this target is plain PostgreSQL: these migrations were generated for dialect \"dsql\"; \
                     run them with --provider dsql (with --connection-string to emulate DSQL on PostgreSQL)"
                        .into(),
                ));
            }
            if !dsql {
                continue;
            }
            // check-dsql's verdict, the same function: a chunk of several statements, or one
            // it classes ERROR or RECREATION, is refused.
            let verdicts = crate::sql::dsql_check::check_chunk(1, chunk);
            let Some(checked) = verdicts.iter().max_by_key(|c| c.class).cloned() else {
                continue;
            };
            let reason = checked.message.clone().unwrap_or_default();
            match checked.class {
                DsqlClass::Ok => {}
                DsqlClass::Index => {
                    let sql = checked.rewritten.clone().unwrap_or_else(|| chunk.clone());
                    events(Event::Rewritten {
                        tag: m.tag.clone(),
                        number: i + 1,
                        sql: sql.clone(),
                        reason,
                    });
                    work.statements[i] = sql;
                }
                DsqlClass::Strip => {
                    events(Event::Skipped {
                        tag: m.tag.clone(),
                        number: i + 1,
                        reason,
                    });
                    work.skip.insert(i);
                }
                DsqlClass::ForeignKey | DsqlClass::Recreation | DsqlClass::Error => {
                    let suggestion = checked
                        .suggestion
                        .map(|s| format!("; {s}"))
                        .unwrap_or_default();
                    return Err(refuse(format!(
                        "{}{suggestion}",
                        reason.trim_end_matches('.')
                    )));
                }
            }
        }
        Ok(work)
    }
}

/// `BEGIN`, `START TRANSACTION`, `COMMIT` or `END` (with their modes; not two-phase commit).
fn is_begin_or_commit(sql: &str) -> bool {
    let info = statement::classify(sql);
    let Some(first) = crate::sql::tokens::significant(sql).into_iter().next() else {
        return false;
    };
    info.kind == StatementKind::TransactionControl
        && !info.two_phase
        && ["BEGIN", "START", "COMMIT", "END"]
            .iter()
            .any(|w| first.is_word(w))
}
