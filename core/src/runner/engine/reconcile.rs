//! The one policy: from the local migrations and the history rows, the state of every
//! migration ([`State`], what happened) and what a run does with it ([`Action`]: nothing,
//! run from k, settle k, resume k's batches, refuse). `migrate`, `--dry-run`,
//! `--single-transaction`, `status`, `verify` and `mark-applied` all decide from
//! [`reconcile`]; nothing else reads the history's meaning.
//!
//! | history row | file | state |
//! |---|---|---|
//! | none | any | pending: runs from statement 1 |
//! | applied | same hash | applied |
//! | applied | other hash | edited: the run is refused (exit 1) |
//! | marked | any | applied (it was never run, so edits do not matter) |
//! | running at k | statements before k unchanged | in progress: resumes at k |
//! | executing k | statements up to k unchanged | interrupted: k's outcome is settled from the catalog first |
//! | failed at k | statements before k unchanged | failed: k runs again (it took no effect), fixed or not |
//! | running, executing or failed | a statement that ran changed | edited in progress: refused (exit 1) |
//! | running, from a release that recorded no statement hashes | same hash | interrupted at k |
//! | running, from such a release | other hash | edited in progress: refused |
//!
//! History rows whose tag is not in the folder are unknown, and refuse the run (exit 1).

use super::history::{HistoryRow, Status, statement_hashes};
use crate::runner::base::error::RunError;
use crate::runner::source::LocalMigration;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a batched directive (a copy or a backfill) stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct BatchProgress {
    /// Rows copied or filled so far.
    pub rows: i64,
}

/// The state of one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Not started.
    Pending,
    /// Done: run, or recorded by `mark-applied` (`marked`).
    Applied {
        /// Recorded without running.
        marked: bool,
        /// When it was applied, as the database prints a `timestamptz`
        /// (`2025-03-01 12:00:00.123456+00`); `None` if the history row holds no time.
        applied_at: Option<String>,
    },
    /// Stopped between statements: those before `next` (0-based) are done.
    InProgress {
        /// The next statement.
        next: usize,
        /// A directive's progress at `next`.
        #[serde(skip_serializing_if = "Option::is_none")]
        batch: Option<BatchProgress>,
    },
    /// Stopped inside statement `next`, whose outcome is not recorded: a run settles it
    /// from the database before anything else.
    Interrupted {
        /// The statement it stopped inside (0-based).
        next: usize,
        /// The PostgreSQL session that ran it, which a run waits out first.
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        /// A directive's progress at `next`.
        #[serde(skip_serializing_if = "Option::is_none")]
        batch: Option<BatchProgress>,
    },
    /// Statement `statement` (0-based) failed and took no effect; statements before `next`
    /// are done (on PostgreSQL the failed transaction began at `next`). A run starts again
    /// at `next`.
    Failed {
        /// The next statement to run.
        next: usize,
        /// The statement that failed.
        statement: usize,
        /// Its SQLSTATE.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// The database's message.
        message: String,
    },
    /// Applied, and the file has changed since.
    Edited {
        /// Hash recorded when applied.
        applied: String,
        /// Hash of the file now.
        current: String,
    },
    /// Stopped halfway, and the part that ran has changed.
    EditedInProgress {
        /// Statements done.
        done: usize,
        /// What changed.
        what: String,
    },
}

impl State {
    /// What the last run left, in words, for a run that resumes.
    pub fn previous(&self) -> Option<String> {
        match self {
            State::Interrupted { next, .. } => {
                Some(format!("statement {} was interrupted", next + 1))
            }
            State::Failed {
                statement, code, ..
            } => Some(format!(
                "statement {} failed{}",
                statement + 1,
                code.as_ref()
                    .map(|c| format!(" (SQLSTATE {c})"))
                    .unwrap_or_default()
            )),
            _ => None,
        }
    }
}

/// What a run does with one migration: the decision `migrate`, `--dry-run`,
/// `--single-transaction`, `status` and `mark-applied` read, so that none of them works out
/// the history's meaning on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing: it is applied, or recorded by `mark-applied`.
    Nothing,
    /// Run its statements from `from` (0-based) on. `fresh`: nothing of it ran or is
    /// recorded as running (no history row, or a failure that left nothing), so it may
    /// share one transaction with others.
    Run {
        /// The first statement to run.
        from: usize,
        /// Nothing of it ran.
        fresh: bool,
    },
    /// Statement `statement` was in flight and its outcome is not recorded: wait out the
    /// session that ran it, settle the outcome from the catalog, then run on from it (no
    /// effect) or from the one after (it took effect).
    Settle {
        /// The statement in flight (0-based).
        statement: usize,
        /// The PostgreSQL session that ran it (`pid@backend_start`).
        session: Option<String>,
    },
    /// Statement `statement` is a batched directive (a rebuild's copy, a backfill) that
    /// stopped between batches: wait out the session that ran it, then go on after its
    /// last committed batch.
    Resume {
        /// The directive (0-based).
        statement: usize,
        /// The PostgreSQL session that ran it.
        session: Option<String>,
    },
    /// Refused before anything runs: the file changed under what the history says ran
    /// (`Reconciled::blocking` gives the error).
    Refuse,
}

impl Action {
    /// The statement a run starts at (a settled or resumed one included), or `None` when
    /// nothing runs.
    pub(crate) fn runs_from(&self) -> Option<usize> {
        match self {
            Action::Run { from, .. } => Some(*from),
            Action::Settle { statement, .. } | Action::Resume { statement, .. } => Some(*statement),
            Action::Nothing | Action::Refuse => None,
        }
    }

    /// What follows from `state` for `m`.
    fn of(m: &LocalMigration, state: &State) -> Action {
        match state {
            State::Applied { .. } => Action::Nothing,
            State::Edited { .. } | State::EditedInProgress { .. } => Action::Refuse,
            State::Pending => Action::Run {
                from: 0,
                fresh: true,
            },
            State::Failed { next, .. } => Action::Run {
                from: *next,
                fresh: *next == 0,
            },
            State::InProgress { next, .. } => Action::Run {
                from: *next,
                fresh: false,
            },
            State::Interrupted { next, session, .. } => {
                let directive = m
                    .statements
                    .get(*next)
                    .is_some_and(|s| crate::sql::directive::parse(s).ok().flatten().is_some());
                if directive {
                    Action::Resume {
                        statement: *next,
                        session: session.clone(),
                    }
                } else {
                    Action::Settle {
                        statement: *next,
                        session: session.clone(),
                    }
                }
            }
        }
    }
}

/// One migration and its state.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The local migration.
    pub migration: &'a LocalMigration,
    /// Its place in the local migrations (0-based).
    pub index: usize,
    /// Its history row, if any.
    pub row: Option<&'a HistoryRow>,
    /// What that adds up to.
    pub state: State,
    /// What a run does with it.
    pub action: Action,
}

/// The state of every migration, in journal order, and the history's unknown tags.
#[derive(Debug, Clone)]
pub struct Reconciled<'a> {
    /// Local migrations, in order.
    pub entries: Vec<Entry<'a>>,
    /// Tags in the history that the local migrations do not have.
    pub unknown: Vec<String>,
}

impl Reconciled<'_> {
    /// What stops a run before anything runs: an edited migration (applied, or the part of
    /// one that ran), or history the folder does not know.
    pub(crate) fn blocking(&self, origin: &str) -> Option<RunError> {
        for e in &self.entries {
            let m = e.migration;
            match &e.state {
                State::Edited { applied, current } => {
                    return Some(RunError::Edited {
                        tag: m.tag.clone(),
                        file: m.origin.clone(),
                        applied: applied.clone(),
                        current: current.clone(),
                    });
                }
                State::EditedInProgress { done, what } => {
                    return Some(RunError::EditedExecuted {
                        tag: m.tag.clone(),
                        file: m.origin.clone(),
                        done: *done,
                        total: m.statements.len(),
                        what: what.clone(),
                    });
                }
                _ => {}
            }
        }
        if !self.unknown.is_empty() {
            return Some(RunError::UnknownApplied {
                origin: origin.to_owned(),
                tags: self.unknown.clone(),
            });
        }
        None
    }

    /// The migrations a run would work on, in order.
    pub(crate) fn to_run(&self) -> impl Iterator<Item = &Entry<'_>> {
        self.entries
            .iter()
            .filter(|e| e.action.runs_from().is_some())
    }
}

/// Decides the state of every local migration from its history row.
pub fn reconcile<'a>(local: &'a [LocalMigration], rows: &'a [HistoryRow]) -> Reconciled<'a> {
    let by_tag: BTreeMap<&str, &HistoryRow> = rows.iter().map(|r| (r.tag.as_str(), r)).collect();
    let entries = local
        .iter()
        .enumerate()
        .map(|(index, m)| {
            let row = by_tag.get(m.tag.as_str()).copied();
            let state = row.map(|r| state_of(m, r)).unwrap_or(State::Pending);
            Entry {
                migration: m,
                index,
                row,
                action: Action::of(m, &state),
                state,
            }
        })
        .collect();
    let unknown = rows
        .iter()
        .filter(|r| !local.iter().any(|m| m.tag == r.tag))
        .map(|r| r.tag.clone())
        .collect();
    Reconciled { entries, unknown }
}

fn state_of(m: &LocalMigration, row: &HistoryRow) -> State {
    let next = row.cursor();
    let batch = row.copied_rows.map(|rows| BatchProgress { rows });
    match row.status {
        Status::Marked => {
            return State::Applied {
                marked: true,
                applied_at: row.applied_at.clone(),
            };
        }
        Status::Applied if row.hash == m.hash => {
            return State::Applied {
                marked: false,
                applied_at: row.applied_at.clone(),
            };
        }
        Status::Applied => {
            return State::Edited {
                applied: row.hash.clone(),
                current: m.hash.clone(),
            };
        }
        _ => {}
    }
    let Some(recorded) = &row.statement_hashes else {
        // Written by a release that recorded neither statement hashes nor whether the
        // statement at the cursor had been sent: the file must be as it was, and that
        // statement's outcome is unknown.
        if row.hash != m.hash {
            return State::EditedInProgress {
                done: next,
                what: "the file has changed since it started (the history row predates per-statement hashes, so which statements changed cannot be told)".into(),
            };
        }
        return State::Interrupted {
            next,
            session: None,
            batch,
        };
    };
    let local = statement_hashes(m);
    for (j, hash) in recorded.iter().enumerate() {
        let ran = if row.status == Status::Executing && j == recorded.len() - 1 {
            "was interrupted and may have taken effect"
        } else {
            "ran"
        };
        match local.get(j) {
            None => {
                return State::EditedInProgress {
                    done: next,
                    what: format!("statement {}, which {ran}, is no longer in the file", j + 1),
                };
            }
            Some(h) if h != hash => {
                return State::EditedInProgress {
                    done: next,
                    what: format!("statement {}, which {ran}, has changed", j + 1),
                };
            }
            Some(_) => {}
        }
    }
    match row.status {
        Status::Executing => State::Interrupted {
            next,
            session: row.session.clone(),
            batch,
        },
        Status::Failed => State::Failed {
            next,
            statement: row
                .error_statement
                .map(|s| s.max(0) as usize)
                .unwrap_or(next),
            code: row.error_code.clone(),
            message: row.error_message.clone().unwrap_or_default(),
        },
        _ => State::InProgress {
            next: next.min(m.statements.len()),
            batch,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::hash;

    fn migration(statements: &[&str]) -> LocalMigration {
        let text = statements.join("\n--> statement-breakpoint\n");
        LocalMigration {
            tag: "0001_m".into(),
            when: 0,
            hash: hash::migration_hash(text.as_bytes()),
            statements: statements.iter().map(|s| (*s).to_owned()).collect(),
            origin: "0001_m.sql".into(),
        }
    }

    const ORIGINAL: [&str; 3] = [
        "CREATE TABLE a (x int)",
        "INSERT INTO a VALUES (1)",
        "ALTER TABLE a ADD COLUMN y text",
    ];

    /// The history row a run of ORIGINAL leaves in `status` with `next` statements done.
    fn row(status: Status, next: usize) -> HistoryRow {
        let m = migration(&ORIGINAL);
        let hashes = statement_hashes(&m);
        let recorded = match status {
            Status::Executing => next + 1,
            Status::Applied | Status::Marked => 3,
            _ => next,
        };
        HistoryRow {
            tag: m.tag.clone(),
            hash: m.hash.clone(),
            created_at: 0,
            status,
            next_statement: next as i32,
            statements: 3,
            applied_at: None,
            copy_cursor: None,
            copied_rows: None,
            statement_hashes: Some(hashes[..recorded].to_vec()),
            error_statement: (status == Status::Failed).then_some(next as i32),
            error_code: (status == Status::Failed).then(|| "42P01".into()),
            error_message: (status == Status::Failed)
                .then(|| "relation \"b\" does not exist".into()),
            session: None,
        }
    }

    /// How the file looks now, relative to ORIGINAL.
    #[derive(Debug, Clone, Copy)]
    enum File {
        Same,
        /// Statement `n` (0-based) changed.
        Changed(usize),
        /// A statement inserted before statement `n`.
        Inserted(usize),
        /// Cut after `n` statements.
        Truncated(usize),
    }

    fn file(f: File) -> LocalMigration {
        let mut s: Vec<String> = ORIGINAL.iter().map(|s| (*s).to_owned()).collect();
        match f {
            File::Same => {}
            File::Changed(n) => s[n] = format!("{} -- edited", s[n]),
            File::Inserted(n) => s.insert(n, "SELECT 1".into()),
            File::Truncated(n) => s.truncate(n),
        }
        migration(&s.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn state(row: Option<HistoryRow>, f: File) -> State {
        let local = [file(f)];
        let rows: Vec<HistoryRow> = row.into_iter().collect();
        reconcile(&local, &rows).entries[0].state.clone()
    }

    fn kind(s: &State) -> &'static str {
        match s {
            State::Pending => "pending",
            State::Applied { marked: false, .. } => "applied",
            State::Applied { marked: true, .. } => "marked",
            State::InProgress { .. } => "in_progress",
            State::Interrupted { .. } => "interrupted",
            State::Failed { .. } => "failed",
            State::Edited { .. } => "edited",
            State::EditedInProgress { .. } => "edited_in_progress",
        }
    }

    /// Every recorded state against every kind of file change: the state, and where a run
    /// would start.
    #[test]
    fn every_history_state_against_every_file_change() {
        use File::*;
        /// The row (status, statements done), the file, the state, where a run starts.
        type Case = (Option<(Status, usize)>, File, &'static str, Option<usize>);
        let cases: &[Case] = &[
            // No row: pending whatever the file says.
            (None, Same, "pending", Some(0)),
            (None, Changed(0), "pending", Some(0)),
            // Applied: the file must not change at all.
            (Some((Status::Applied, 3)), Same, "applied", None),
            (Some((Status::Applied, 3)), Changed(2), "edited", None),
            (Some((Status::Applied, 3)), Truncated(2), "edited", None),
            // Marked: never ran, so edits do not matter.
            (Some((Status::Marked, 3)), Same, "marked", None),
            (Some((Status::Marked, 3)), Changed(0), "marked", None),
            // Between statements (2 done): what ran is frozen, the rest may change.
            (Some((Status::Running, 2)), Same, "in_progress", Some(2)),
            (
                Some((Status::Running, 2)),
                Changed(2),
                "in_progress",
                Some(2),
            ),
            (
                Some((Status::Running, 2)),
                Truncated(2),
                "in_progress",
                Some(2),
            ),
            (
                Some((Status::Running, 2)),
                Changed(1),
                "edited_in_progress",
                None,
            ),
            (
                Some((Status::Running, 2)),
                Changed(0),
                "edited_in_progress",
                None,
            ),
            (
                Some((Status::Running, 2)),
                Inserted(1),
                "edited_in_progress",
                None,
            ),
            (
                Some((Status::Running, 2)),
                Inserted(2),
                "in_progress",
                Some(2),
            ),
            (
                Some((Status::Running, 2)),
                Truncated(1),
                "edited_in_progress",
                None,
            ),
            (
                Some((Status::Running, 0)),
                Changed(0),
                "in_progress",
                Some(0),
            ),
            // Interrupted in statement 2 (1 done): statement 2 may have run, so it is frozen too.
            (Some((Status::Executing, 1)), Same, "interrupted", Some(1)),
            (
                Some((Status::Executing, 1)),
                Changed(1),
                "edited_in_progress",
                None,
            ),
            (
                Some((Status::Executing, 1)),
                Changed(0),
                "edited_in_progress",
                None,
            ),
            (
                Some((Status::Executing, 1)),
                Changed(2),
                "interrupted",
                Some(1),
            ),
            (
                Some((Status::Executing, 1)),
                Truncated(1),
                "edited_in_progress",
                None,
            ),
            // Failed at statement 2: it took no effect, so fixing it is the way out.
            (Some((Status::Failed, 1)), Same, "failed", Some(1)),
            (Some((Status::Failed, 1)), Changed(1), "failed", Some(1)),
            (Some((Status::Failed, 1)), Changed(2), "failed", Some(1)),
            (Some((Status::Failed, 1)), Inserted(1), "failed", Some(1)),
            (
                Some((Status::Failed, 1)),
                Changed(0),
                "edited_in_progress",
                None,
            ),
            (Some((Status::Failed, 0)), Changed(0), "failed", Some(0)),
        ];
        for (recorded, f, expected, from) in cases {
            let local = [file(*f)];
            let rows: Vec<HistoryRow> = recorded.map(|(s, n)| row(s, n)).into_iter().collect();
            let entry = &reconcile(&local, &rows).entries[0];
            let (got, action) = (&entry.state, &entry.action);
            assert_eq!(
                (kind(got), action.runs_from()),
                (*expected, *from),
                "row {recorded:?}, file {f:?}: {got:?}"
            );
            // The action each state comes to (ORIGINAL holds no directive).
            let follows = match got {
                State::Pending => {
                    action
                        == &Action::Run {
                            from: 0,
                            fresh: true,
                        }
                }
                State::Applied { .. } => action == &Action::Nothing,
                State::Edited { .. } | State::EditedInProgress { .. } => action == &Action::Refuse,
                State::InProgress { next, .. } => {
                    action
                        == &Action::Run {
                            from: *next,
                            fresh: false,
                        }
                }
                State::Failed { next, .. } => {
                    action
                        == &Action::Run {
                            from: *next,
                            fresh: *next == 0,
                        }
                }
                State::Interrupted { next, .. } => {
                    action
                        == &Action::Settle {
                            statement: *next,
                            session: None,
                        }
                }
            };
            assert!(
                follows,
                "row {recorded:?}, file {f:?}: {got:?} came to {action:?}"
            );
        }
    }

    /// A directive stopped between batches resumes after its last committed batch: there
    /// is nothing to settle, only the old session to wait out.
    #[test]
    fn an_interrupted_directive_resumes_and_other_statements_settle() {
        let statements = [
            "CREATE TABLE t (c int)",
            "-- tablewright:backfill \"t\".\"c\"\nUPDATE \"t\" SET \"c\" = 1 WHERE \"c\" IS NULL;",
        ];
        let m = migration(&statements);
        let executing_at = |next: usize| HistoryRow {
            status: Status::Executing,
            next_statement: next as i32,
            statement_hashes: Some(statement_hashes(&m)[..=next].to_vec()),
            session: Some("42@2026-12-06".into()),
            ..row(Status::Running, 0)
        };
        let action = |next| {
            let rows = [HistoryRow {
                tag: m.tag.clone(),
                hash: m.hash.clone(),
                ..executing_at(next)
            }];
            reconcile(std::slice::from_ref(&m), &rows).entries[0]
                .action
                .clone()
        };
        assert_eq!(
            action(1),
            Action::Resume {
                statement: 1,
                session: Some("42@2026-12-06".into())
            }
        );
        assert_eq!(
            action(0),
            Action::Settle {
                statement: 0,
                session: Some("42@2026-12-06".into())
            }
        );
    }

    #[test]
    fn a_row_from_a_release_without_statement_hashes_is_interrupted_at_its_cursor() {
        let mut legacy = row(Status::Running, 1);
        legacy.statement_hashes = None;
        assert_eq!(
            state(Some(legacy.clone()), File::Same),
            State::Interrupted {
                next: 1,
                session: None,
                batch: None
            }
        );
        // Without per-statement hashes any change is a change to what ran.
        assert_eq!(
            kind(&state(Some(legacy), File::Changed(2))),
            "edited_in_progress"
        );
    }

    #[test]
    fn a_failure_keeps_its_statement_code_and_message() {
        let State::Failed {
            next,
            statement,
            code,
            message,
        } = state(Some(row(Status::Failed, 1)), File::Same)
        else {
            panic!("failed")
        };
        assert_eq!((next, statement, code.as_deref()), (1, 1, Some("42P01")));
        assert!(message.contains("does not exist"));
        assert_eq!(
            state(Some(row(Status::Failed, 1)), File::Same)
                .previous()
                .as_deref(),
            Some("statement 2 failed (SQLSTATE 42P01)")
        );
    }

    #[test]
    fn edits_name_the_statement_that_ran() {
        let State::EditedInProgress { done, what } =
            state(Some(row(Status::Running, 2)), File::Changed(1))
        else {
            panic!("edited")
        };
        assert_eq!(done, 2);
        assert_eq!(what, "statement 2, which ran, has changed");
        let State::EditedInProgress { what, .. } =
            state(Some(row(Status::Executing, 1)), File::Changed(1))
        else {
            panic!("edited")
        };
        assert_eq!(
            what,
            "statement 2, which was interrupted and may have taken effect, has changed"
        );
    }

    #[test]
    fn unknown_rows_and_edits_block_a_run_in_that_order() {
        let local = [file(File::Changed(2))];
        let mut stranger = row(Status::Applied, 3);
        stranger.tag = "0009_elsewhere".into();
        let rows = [row(Status::Applied, 3), stranger];
        let r = reconcile(&local, &rows);
        assert_eq!(r.unknown, ["0009_elsewhere"]);
        assert!(matches!(
            r.blocking("migrations"),
            Some(RunError::Edited { .. })
        ));
        let clean = [file(File::Same)];
        assert!(matches!(
            reconcile(&clean, &rows).blocking("migrations"),
            Some(RunError::UnknownApplied { .. })
        ));
        assert!(
            reconcile(&clean, &rows[..1])
                .blocking("migrations")
                .is_none()
        );
    }
}
