//! Evolution scenarios, the SQL (no database): for each case and dialect the planned
//! migration equals the reviewed snapshot (`dsql.snap`, `postgres.snap`), and every DSQL
//! statement passes dsql-lint. `scenarios_applied` runs the same SQL on PostgreSQL.
//! The cases are described in `common/scenario.rs`.

mod common;
#[path = "common/scenario.rs"]
mod scenario;

use common::assert_dsql_lint_clean;
use std::path::Path;
use tablewright_core::dialect::Dialect;

/// The migration text, or a readable account of why there is none.
fn plan_text(result: &Result<Vec<String>, String>) -> String {
    match result {
        Ok(statements) => tablewright_core::sql::split::migration_file(statements),
        Err(message) => format!("-- no migration: {message}"),
    }
}

fn check_sql(case: &str) {
    for dialect in [Dialect::Dsql, Dialect::Postgres] {
        let planned = scenario::plan_case(case, dialect);
        insta::with_settings!({ snapshot_path => &scenario::case_dir(case), prepend_module_to_snapshot => false, omit_expression => true, description => format!("{case} on {dialect}") }, {
            insta::assert_snapshot!(dialect.to_string(), plan_text(&planned.migration));
        });
        if dialect == Dialect::Dsql
            && let Ok(statements) = &planned.migration
        {
            assert_dsql_lint_clean(&planned.setup, &format!("{case} before.rs"));
            assert_dsql_lint_clean(statements, &format!("{case} migration"));
        }
    }
}

macro_rules! sql_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                check_sql(stringify!($case));
            }
        )*
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

scenario::with_cases!(sql_tests);

/// A case folder without a test would never run.
#[test]
fn every_case_folder_has_a_test() {
    let mut folders: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    folders.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| (*c).to_owned()).collect();
    listed.sort();
    assert_eq!(folders, listed);
}
