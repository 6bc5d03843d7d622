//! Why a run stopped, and what class of problem that is.

use std::time::Duration;

use crate::error::Classified;
pub use crate::error::ErrorClass;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad configuration or arguments.
    #[error("{0}")]
    Config(String),
    /// The migrations folder (or embedded set) is inconsistent.
    #[error("migrations: {}", .0.join("; "))]
    Source(Vec<String>),
    /// Could not connect.
    #[error("connect to {target}: {}", database_message(.source))]
    Connect {
        /// Where (no secrets).
        target: String,
        /// The driver's error; a refusal from the server shows with its DETAIL and HINT.
        #[source]
        source: sqlx::Error,
    },
    /// A bookkeeping query failed.
    #[error("{context}: {}", database_message(.source))]
    Database {
        /// What the runner was doing.
        context: String,
        /// The driver's error; a refusal from the server shows with its DETAIL and HINT.
        #[source]
        source: sqlx::Error,
    },
    /// A migration statement failed; nothing of it took effect, and it is recorded as
    /// failed.
    #[error("{tag}: statement {number} of {total} failed{code}: {message}\n{statement}", code = sqlstate_suffix(.source), message = database_message(.source))]
    Statement {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// 1-based.
        number: usize,
        /// Statements in the migration.
        total: usize,
        /// The statement (1-based) a rerun starts from: `number`, or an earlier one when
        /// the failed statement's transaction took the statements before it back.
        resumes_at: usize,
        /// The SQL.
        statement: String,
        /// The database's error; the message shows its SQLSTATE, DETAIL and HINT.
        #[source]
        source: sqlx::Error,
    },
    /// The runner will not execute this statement under the target's rules.
    #[error("{tag}: statement {number} is refused: {reason}\n{statement}")]
    Refused {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// 1-based.
        number: usize,
        /// The SQL.
        statement: String,
        /// Why and what to do.
        reason: String,
    },
    /// An applied migration's file changed since.
    #[error(
        "{file}: migration `{tag}` was applied with sha256 {applied} but the file now hashes to {current}; revert the edit and put the change in a new migration"
    )]
    Edited {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// Its file.
        file: String,
        /// Hash recorded when applied.
        applied: String,
        /// Hash of the file now.
        current: String,
    },
    /// A migration that stopped halfway changed in the part that already ran.
    #[error("{file}: migration `{tag}` stopped after statement {done} of {total}, and {what}; revert that change (statements from {next} on may change, which is how a failed statement is fixed) and put other changes in a new migration", next = .done + 1)]
    EditedExecuted {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// Its file.
        file: String,
        /// Statements that ran.
        done: usize,
        /// Statements in the file now.
        total: usize,
        /// What changed: "statement 2, which ran, has changed".
        what: String,
    },
    /// The database has migrations this folder does not know.
    #[error("the database has migrations that are not in {origin}: {}; deploy from a branch that contains them", .tags.iter().map(|t| crate::error::printable(t)).collect::<Vec<_>>().join(", "))]
    UnknownApplied {
        /// Where the local migrations came from.
        origin: String,
        /// Tags in the history that the local migrations lack, in tag order.
        tags: Vec<String>,
    },
    /// drizzle-kit's history says what this folder cannot explain.
    #[error("{table}: {message}")]
    DrizzleHistory {
        /// drizzle's history table, `schema.table`.
        table: String,
        /// What it holds that the folder does not explain, and what to do.
        message: String,
    },
    /// An asynchronous DSQL job failed.
    #[error("{tag}: job {job_id} failed: {details}")]
    JobFailed {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// The job's id, as the statement returned it (`sys.jobs.job_id`).
        job_id: String,
        /// `sys.jobs.details`.
        details: String,
    },
    /// A directive (a recreation's copy, a backfill) could not go on.
    #[error("{tag}: statement {number}: {message}")]
    Directive {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// 1-based statement number.
        number: usize,
        /// What happened and what to do.
        message: String,
    },
    /// An index stayed INVALID after a rebuild.
    #[error(
        "{tag}: index `{index}` stayed INVALID after a rebuild and was dropped (for a unique index, look for duplicate rows); rerun after the fix"
    )]
    InvalidIndex {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// The index's name, without its schema.
        index: String,
    },
    /// A statement changed more rows in one transaction than Aurora DSQL allows; it was
    /// rolled back.
    #[error(
        "{tag}: statement {number} changes {rows} rows in one transaction (the runner's history row included) and Aurora DSQL allows at most {limit}; \
         it was rolled back and nothing changed. Walk the table in batches instead: for a new column's value, a backfill directive \
         (`-- tablewright:backfill \"table\".\"column\"` over `UPDATE .. SET column = value WHERE column IS NULL`); otherwise statements of at most {most} rows each\n{statement}",
        most = .limit - 1
    )]
    RowLimit {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// 1-based.
        number: usize,
        /// Rows the transaction changed.
        rows: i64,
        /// DSQL's limit.
        limit: i64,
        /// The SQL.
        statement: String,
    },
    /// An interrupted statement's outcome cannot be told from the database.
    #[error(
        "{tag}: statement {number} was interrupted (crash, lost connection or timeout) and whether it took effect cannot be confirmed: {detail}. \
         Look at the database; if the statement took effect run `tablewright mark-applied --file {tag} --through {number}`, if not `--through {previous}`, then rerun\n{statement}",
        previous = .number - 1
    )]
    UnknownOutcome {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// 1-based.
        number: usize,
        /// The SQL.
        statement: String,
        /// What the catalog showed.
        detail: String,
    },
    /// A connection was lost and the server session behind it could not be ended, so what
    /// it was doing may not be final yet.
    #[error(
        "{tag}: the connection was lost and its server session could not be ended ({detail}); nothing more was done: rerun, and the history decides"
    )]
    LostSession {
        /// The migration's journal tag (`0003_add_books`).
        tag: String,
        /// Why the session could not be ended.
        detail: String,
    },
    /// The lock was lost (its connection died, its lease ran out or was taken over).
    #[error(
        "lost the migration lock ({0}); stopped before the next write, which the lock's generation would have refused anyway; rerun to resume"
    )]
    LockLost(String),
    /// The run was stopped from outside (SIGINT, SIGTERM).
    #[error("interrupted{what}; rerun to resume")]
    Interrupted {
        /// What was under way, and what became of it.
        what: String,
    },
    /// The run took longer than allowed.
    #[error("timed out after {}s{what}; rerun to resume", .limit.as_secs())]
    Timeout {
        /// The time limit that passed (`--timeout`; it bounds the whole run, lock wait
        /// included).
        limit: Duration,
        /// What was under way, and what became of it.
        what: String,
    },
}

pub(crate) fn sqlstate_suffix(e: &sqlx::Error) -> String {
    sqlstate(e)
        .map(|c| format!(" (SQLSTATE {c})"))
        .unwrap_or_default()
}

/// PostgreSQL's DETAIL and HINT, which name the offending row (`Key (code)=(x) is
/// duplicated.`) and the way out. They quote the rows' data: escaped (a line end in a
/// value does not start a line of the output).
pub(crate) fn detail_suffix(e: &sqlx::Error) -> String {
    let Some(pg) = e
        .as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
    else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(detail) = pg.detail() {
        out.push_str(&format!(" [{}]", crate::error::printable(detail)));
    }
    if let Some(hint) = pg.hint() {
        out.push_str(&format!(" (hint: {})", crate::error::printable(hint)));
    }
    out
}

/// The SQLSTATE of a database error.
pub fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// What the database said, for the history: its message with DETAIL and HINT, without
/// the driver's decorations.
pub(crate) fn database_message(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(db) => format!(
            "{}{}",
            crate::error::printable(db.message()),
            detail_suffix(e)
        ),
        None => e.to_string(),
    }
}

impl RunError {
    /// A database error, with what was being done.
    pub fn db(context: &str, source: sqlx::Error) -> RunError {
        RunError::Database {
            context: context.to_owned(),
            source,
        }
    }

    /// True for problems a check finds (edited or unknown migrations), as opposed to bad
    /// input or a failed run.
    pub fn is_check_failure(&self) -> bool {
        self.class() == ErrorClass::Check
    }
}

impl Classified for RunError {
    /// Up to the driver's error for a server error, which with its own source only renders
    /// again what the message already holds (the server's words with DETAIL and HINT),
    /// adding the server's C source line ("at line 664"), which reads as a line of the
    /// user's SQL.
    fn causes(&self) -> Vec<String> {
        std::iter::successors(std::error::Error::source(self), |cause| cause.source())
            .take_while(|cause| {
                cause
                    .downcast_ref::<sqlx::Error>()
                    .is_none_or(|e| e.as_database_error().is_none())
            })
            .map(ToString::to_string)
            .collect()
    }

    fn items(&self) -> Vec<crate::error::ErrorItem> {
        match self {
            RunError::Statement {
                tag,
                number,
                resumes_at,
                statement,
                ..
            } => vec![crate::error::ErrorItem {
                fix: vec![if resumes_at < number {
                    let earlier = if *resumes_at > 1 {
                        " (the ones before it ran, and must stay as they are)"
                    } else {
                        ""
                    };
                    format!(
                        "statements {resumes_at} to {number} of {tag} ran in one transaction, which was rolled back, so they took no effect: fix the file from statement {resumes_at} on{earlier}, or the data, then run `migrate` again: it resumes at statement {resumes_at}; `rehash --tag {tag}` records the file's new hash"
                    )
                } else {
                    format!(
                        "fix statement {number} of {tag} or a later one (statements before it ran, and must stay as they are), or the data it meets, then run `migrate` again: it resumes at statement {number}; `rehash --tag {tag}` records the file's new hash"
                    )
                }],
                ..crate::error::ErrorItem::new(
                    "statement",
                    format!(
                        "statement {number} of `{tag}.sql`: {}",
                        statement.lines().next().unwrap_or_default()
                    ),
                )
            }],
            // Nothing ran: the file is what must change.
            RunError::Refused {
                tag,
                number,
                statement,
                reason,
            } => vec![crate::error::ErrorItem {
                fix: vec![format!(
                    "change statement {number} of `{tag}.sql` as the reason says; if no database has applied `{tag}`, `tablewright rehash --tag {tag}` records the new hash, otherwise put the change in a new migration"
                )],
                ..crate::error::ErrorItem::new(
                    "refused",
                    format!(
                        "statement {number} of `{tag}.sql`: {}: {reason}",
                        statement.lines().next().unwrap_or_default()
                    ),
                )
            }],
            _ => Vec::new(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            RunError::Config(_) | RunError::Source(_) | RunError::Refused { .. } => {
                ErrorClass::Input
            }
            RunError::Edited { .. }
            | RunError::EditedExecuted { .. }
            | RunError::UnknownApplied { .. }
            | RunError::DrizzleHistory { .. } => ErrorClass::Check,
            _ => ErrorClass::Run,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            RunError::Config(_) => "usage",
            RunError::Source(_) => "migrations",
            RunError::Connect { .. } | RunError::Database { .. } => "database",
            RunError::Statement { .. } => "statement_failed",
            RunError::Refused { .. } => "refused",
            RunError::Edited { .. } => "edited",
            RunError::EditedExecuted { .. } => "edited_in_progress",
            RunError::UnknownApplied { .. } => "unknown_applied",
            RunError::DrizzleHistory { .. } => "drizzle_history",
            RunError::JobFailed { .. } => "job_failed",
            RunError::Directive { .. } => "directive_failed",
            RunError::InvalidIndex { .. } => "invalid_index",
            RunError::RowLimit { .. } => "row_limit",
            RunError::UnknownOutcome { .. } => "unknown_outcome",
            RunError::LostSession { .. } => "lost_session",
            RunError::LockLost(_) => "lock_lost",
            RunError::Timeout { .. } => "timeout",
            RunError::Interrupted { .. } => "interrupted",
        }
    }
}
