//! Evolution scenarios: one folder per case under `tests/scenarios/`, holding the Rust
//! source before and after a change (`before.rs` may be absent: an empty database), an
//! optional `allow_drop` file (one `table` or `table.column` per line), and the expected
//! migration for each dialect (`dsql.snap`, `postgres.snap`, reviewed like code).
//!
//! For each case and dialect the test (1) compares the planned SQL with the snapshot,
//! (2) runs every DSQL statement through dsql-lint, and (3) applies both migrations to a
//! fresh PostgreSQL database and checks that introspection equals the "after" schema.

mod common;

use common::{TestDb, apply, assert_database_matches, assert_dsql_lint_clean, desired_from_source};
use std::path::{Path, PathBuf};
use tablewright_core::schema::desired::{AllowDrops, DesiredSchema};
use tablewright_core::compile::diff::{self, DiffError};
use tablewright_core::schema::model::Schema;
use tablewright_core::compile::plan::{self, PlanError};
use tablewright_core::compile::rules::Dialect;

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(case)
}

fn read_source(dir: &Path, file: &str) -> Option<DesiredSchema> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).ok().map(|text| desired_from_source(file, &text))
}

/// The migration text, or a readable account of why there is none.
fn plan_text(result: &Result<Vec<String>, String>) -> String {
    match result {
        Ok(statements) => tablewright_core::sql::split::migration_file(statements),
        Err(message) => format!("-- no migration: {message}"),
    }
}

fn explain_diff(e: &DiffError) -> String {
    let mut out = format!("{e}\n");
    match e {
        DiffError::UnresolvedDrops(decisions) => {
            for d in decisions {
                out.push_str(&format!("--   {d}\n"));
                for way in d.ways_out() {
                    out.push_str(&format!("--     {way}\n"));
                }
            }
        }
        DiffError::Problems(problems) => {
            for p in problems {
                out.push_str(&format!("--   {}\n", p.message));
            }
        }
    }
    out
}

fn explain_plan(e: &PlanError) -> String {
    let PlanError::Refused { refusals, .. } = e;
    let mut out = format!("{e}\n");
    for r in refusals {
        out.push_str(&format!("--   {}: {}\n", r.change, r.reason));
    }
    out
}

async fn run(case: &str) {
    let dir = case_dir(case);
    let before = read_source(&dir, "before.rs").unwrap_or_default();
    let after = read_source(&dir, "after.rs").unwrap_or_else(|| panic!("{case}: after.rs is missing"));
    let allow_lines: Vec<String> = std::fs::read_to_string(dir.join("allow_drop"))
        .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let allow = AllowDrops::parse(&allow_lines);

    for dialect in [Dialect::Dsql, Dialect::Postgres] {
        let setup_ops = diff::diff(&Schema::default(), &before, &AllowDrops::default()).expect("before.rs must diff from empty");
        let setup = plan::plan(&setup_ops, &before.schema, dialect).unwrap_or_else(|e| panic!("{case}: before.rs must plan on {dialect}: {e}"));
        let result = diff::diff(&before.schema, &after, &allow)
            .map_err(|e| explain_diff(&e))
            .and_then(|changes| plan::plan(&changes, &after.schema, dialect).map_err(|e| explain_plan(&e)));
        for planned in std::iter::once(&setup).chain(result.as_ref().ok()) {
            let disagreements = plan::text_disagreements(planned);
            assert!(disagreements.is_empty(), "{case} on {dialect}: {disagreements:#?}");
        }
        let (setup, result) = (setup.sql(), result.map(|p| p.sql()));

        insta::with_settings!({ snapshot_path => &dir, prepend_module_to_snapshot => false, omit_expression => true, description => format!("{case} on {dialect}") }, {
            insta::assert_snapshot!(dialect.to_string(), plan_text(&result));
        });

        let Ok(statements) = result else { continue };
        if dialect == Dialect::Dsql {
            assert_dsql_lint_clean(&setup, &format!("{case} before.rs"));
            assert_dsql_lint_clean(&statements, &format!("{case} migration"));
        }
        let db = TestDb::create(&format!("{case}_{dialect}")).await;
        let mut conn = db.connect().await;
        apply(&mut conn, &setup, dialect).await;
        apply(&mut conn, &statements, dialect).await;
        assert_database_matches(&mut conn, &after.schema, &format!("{case} on {dialect}")).await;
        drop(conn);
        drop(db);
    }
}

macro_rules! scenarios {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                run(stringify!($case)).await;
            }
        )*
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

scenarios!(
    create_tables,
    add_nullable_column,
    add_column_with_default,
    add_not_null_column,
    add_not_null_column_with_fill,
    add_not_null_column_without_value,
    add_identity_column,
    drop_identity_set_default,
    change_type_with_default,
    set_not_null_with_fill,
    rename_column,
    rename_table,
    add_index,
    drop_index,
    add_unique,
    add_foreign_key,
    add_check,
    drop_column_allowed,
    drop_column_refused,
    drop_table_allowed,
    set_default,
    drop_default,
    drop_not_null,
    composite_primary_key,
    jsonb,
    identity,
    dsql_type_change_recreates,
    dsql_array_refused,
    unknown_rename_hint,
);

/// A case folder without a test would never run.
#[test]
fn every_case_folder_has_a_test() {
    let mut folders: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| (*c).to_owned()).collect();
    listed.sort();
    assert_eq!(folders, listed);
}
