//! What differs between the dialects when a migration is applied: how its statements are
//! grouped into steps, each of which the one loop ([`super::Migrator::apply`]) carries out
//! exactly once. Deciding the steps is pure, so both dialects' plans are unit-tested here
//! without a database.
//!
//! * [`DsqlRules`] (Aurora DSQL, and DSQL emulated on PostgreSQL): every statement is its
//!   own transaction. A data change commits together with its cursor; a schema change
//!   commits alone between an "executing" record and the cursor; a directive walks its
//!   table in batches; a statement check-dsql strips is skipped. The history row is
//!   written before the first statement runs.
//! * [`PostgresRules`]: each run of transactional statements commits in one transaction
//!   together with the history write, so a failure leaves nothing of it; a statement that
//!   cannot run in a transaction (`CONCURRENTLY`) commits alone.

use super::input::Work;
use crate::runner::base::error::RunError;
use crate::runner::base::target::Target;
use crate::sql::directive::{self, Directive};
use crate::sql::statement::{self, StatementKind};
use std::ops::Range;

/// One step of a migration's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Statements `range` commit in one transaction together with the cursor's move past
    /// them.
    WithCursor(Range<usize>),
    /// Statement `i` commits alone: recorded as executing first, the cursor moved after.
    Alone(usize),
    /// Statement `i` does not run on this target; the cursor moves past it.
    Skip(usize),
    /// Statement `i` is a directive, carried out in batches that commit with their cursor.
    Walk(usize, Directive),
}

impl Step {
    /// The first statement after the step.
    pub(crate) fn end(&self) -> usize {
        match self {
            Step::WithCursor(range) => range.end,
            Step::Alone(i) | Step::Skip(i) | Step::Walk(i, _) => i + 1,
        }
    }
}

/// How a dialect applies a migration's statements.
pub(crate) trait Rules: Sync {
    /// Whether the history row is written, at statement 0, before the first statement
    /// runs (otherwise the first step's own history write creates it).
    fn records_before_first_statement(&self) -> bool;

    /// Whether the server closes connections after a while (DSQL: an hour), so that the
    /// loop replaces its connection between steps well before.
    fn connections_expire(&self) -> bool;

    /// The step of `work` that starts at statement `i` (`i` < the statement count).
    fn step(&self, work: &Work<'_>, i: usize) -> Result<Step, RunError>;
}

/// The rules of the target's dialect.
pub(crate) fn for_target(target: &Target) -> &'static dyn Rules {
    if target.dsql_rules() {
        &DsqlRules
    } else {
        &PostgresRules
    }
}

/// Aurora DSQL's rules, on DSQL or emulated on PostgreSQL.
pub(crate) struct DsqlRules;

impl Rules for DsqlRules {
    fn records_before_first_statement(&self) -> bool {
        true
    }

    fn connections_expire(&self) -> bool {
        true
    }

    fn step(&self, work: &Work<'_>, i: usize) -> Result<Step, RunError> {
        if work.skip.contains(&i) {
            return Ok(Step::Skip(i));
        }
        let parsed = directive::parse(&work.statements[i]).map_err(|e| RunError::Directive {
            tag: work.m.tag.clone(),
            number: i + 1,
            message: e.to_string(),
        })?;
        if let Some(d) = parsed {
            return Ok(Step::Walk(i, d));
        }
        Ok(match statement::classify(&work.statements[i]).kind {
            StatementKind::Dml | StatementKind::Query => Step::WithCursor(i..i + 1),
            _ => Step::Alone(i),
        })
    }
}

/// PostgreSQL's rules.
pub(crate) struct PostgresRules;

impl Rules for PostgresRules {
    fn records_before_first_statement(&self) -> bool {
        false
    }

    fn connections_expire(&self) -> bool {
        false
    }

    /// A skipped statement (a drizzle-kit file's own `BEGIN`, left out) is a comment that
    /// runs inside its neighbours' transaction, so that the file stays one transaction.
    fn step(&self, work: &Work<'_>, i: usize) -> Result<Step, RunError> {
        let alone = |j: usize| statement::classify(&work.statements[j]).non_transactional;
        if alone(i) {
            return Ok(Step::Alone(i));
        }
        let end = (i..work.statements.len())
            .find(|&j| alone(j))
            .unwrap_or(work.statements.len());
        Ok(Step::WithCursor(i..end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::engine::reconcile::{Action, State};
    use crate::runner::source::LocalMigration;
    use std::collections::BTreeSet;

    fn migration(statements: &[&str]) -> LocalMigration {
        LocalMigration {
            tag: "0000_test".into(),
            when: 0,
            hash: String::new(),
            statements: statements.iter().map(|s| s.to_string()).collect(),
            origin: "test".into(),
        }
    }

    fn work<'a>(m: &'a LocalMigration, skip: &[usize]) -> Work<'a> {
        Work {
            m,
            statements: m.statements.clone(),
            skip: skip.iter().copied().collect::<BTreeSet<_>>(),
            hashes: Vec::new(),
            state: State::Pending,
            action: Action::Run {
                from: 0,
                fresh: true,
            },
            row: None,
        }
    }

    /// Every step from statement 0 to the end.
    fn plan(rules: &dyn Rules, work: &Work<'_>) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut i = 0;
        while i < work.statements.len() {
            let step = rules.step(work, i).expect("a valid migration");
            assert!(step.end() > i, "a step moves forward");
            i = step.end();
            steps.push(step);
        }
        steps
    }

    const MIXED: &[&str] = &[
        "CREATE TABLE a (id int PRIMARY KEY)",
        "INSERT INTO a VALUES (1)",
        "UPDATE a SET id = 2",
        "CREATE INDEX CONCURRENTLY a_id ON a (id)",
        "SELECT 1",
        "ALTER TABLE a ADD COLUMN b text",
    ];

    #[test]
    fn postgres_groups_transactional_runs_around_what_must_run_alone() {
        let m = migration(MIXED);
        assert_eq!(
            plan(&PostgresRules, &work(&m, &[])),
            vec![
                Step::WithCursor(0..3),
                Step::Alone(3),
                Step::WithCursor(4..6)
            ]
        );
        assert!(!PostgresRules.records_before_first_statement());
    }

    #[test]
    fn postgres_keeps_a_skipped_statement_inside_its_neighbours_transaction() {
        let m = migration(&[
            "INSERT INTO a VALUES (1)",
            "-- BEGIN/COMMIT left out",
            "SELECT 1",
        ]);
        assert_eq!(
            plan(&PostgresRules, &work(&m, &[1])),
            vec![Step::WithCursor(0..3)]
        );
    }

    #[test]
    fn dsql_runs_each_statement_alone_or_with_its_cursor() {
        let m = migration(MIXED);
        assert_eq!(
            plan(&DsqlRules, &work(&m, &[4])),
            vec![
                Step::Alone(0),
                Step::WithCursor(1..2),
                Step::WithCursor(2..3),
                Step::Alone(3),
                Step::Skip(4),
                Step::Alone(5),
            ]
        );
        assert!(DsqlRules.records_before_first_statement());
    }

    #[test]
    fn dsql_walks_a_directive_and_refuses_a_malformed_one() {
        let copy = "-- tablewright:copy \"a\" -> \"b\"\nINSERT INTO \"b\" (x) SELECT x FROM \"a\";";
        let m = migration(&[
            copy,
            "-- tablewright:copy \"a\" \"b\"\nINSERT INTO \"b\" (x) SELECT x FROM \"a\";",
        ]);
        let w = work(&m, &[]);
        match DsqlRules.step(&w, 0) {
            Ok(Step::Walk(0, Directive::Copy(_))) => {}
            other => panic!("expected a copy walk, got {other:?}"),
        }
        assert!(matches!(
            DsqlRules.step(&w, 1),
            Err(RunError::Directive { number: 2, .. })
        ));
        // PostgreSQL runs the statement itself, in a transaction.
        assert_eq!(PostgresRules.step(&w, 0).unwrap(), Step::WithCursor(0..2));
    }
}
