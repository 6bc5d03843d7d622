//! The evolution scenarios (one folder per case under `tests/scenarios/`: `before.rs`,
//! which may be absent for an empty database, `after.rs`, an optional `allow_drop` file
//! of one `table` or `table.column` per line, and the expected migration per dialect in
//! `dsql.snap` and `postgres.snap`), planned as `generate` plans them. Two test binaries
//! read them: `scenarios` checks the SQL (snapshots, dsql-lint) without a database, and
//! `scenarios_applied` applies it to PostgreSQL.
#![allow(dead_code)] // each of the two binaries uses a part

use crate::common::desired_from_source;
use std::path::{Path, PathBuf};
use tablewright_core::compile::diff::DiffError;
use tablewright_core::compile::lower;
use tablewright_core::compile::plan::{self, PlanError};
use tablewright_core::dialect::Dialect;
use tablewright_core::schema::desired::{AllowDrops, DesiredSchema};
use tablewright_core::schema::model::Schema;

/// Calls `$then!(case, ..)` with every case.
macro_rules! with_cases {
    ($then:ident) => {
        $then!(
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
            composite_foreign_key,
            new_constructs,
            postgres_only_constructs,
            alter_identity,
            make_column_identity,
            change_collation,
            add_partial_index,
            dsql_rebuild_refuses_always_identity,
            identity_counts_down,
            tables_in_schemas,
            enum_values,
            enum_value_removed,
        );
    };
}
pub(crate) use with_cases;

pub fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(case)
}

/// A case planned for one dialect.
pub struct Planned {
    /// The statements that build `before.rs` from an empty database.
    pub setup: Vec<String>,
    /// The migration from `before.rs` to `after.rs`, or a readable account of why there is none.
    pub migration: Result<Vec<String>, String>,
    /// `after.rs`.
    pub after: DesiredSchema,
    /// `after.rs` as the dialect stores it (enums as text with a CHECK on DSQL).
    pub expected: Schema,
}

/// Plans `case` for `dialect`; every plan's SQL says what the planner knew.
pub fn plan_case(case: &str, dialect: Dialect) -> Planned {
    let dir = case_dir(case);
    let before = read_source(&dir, "before.rs").unwrap_or_default();
    let after =
        read_source(&dir, "after.rs").unwrap_or_else(|| panic!("{case}: after.rs is missing"));
    let allow_lines: Vec<String> = std::fs::read_to_string(dir.join("allow_drop"))
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let allow = AllowDrops::parse(&allow_lines);
    let (setup_ops, setup_next) =
        lower::diff_for(&Schema::default(), &before, &AllowDrops::default(), dialect)
            .expect("before.rs must diff from empty");
    let setup = plan::plan(&setup_ops, &setup_next, dialect)
        .unwrap_or_else(|e| panic!("{case}: before.rs must plan on {dialect}: {e}"));
    let migration = lower::diff_for(&before.schema, &after, &allow, dialect)
        .map_err(|e| explain_diff(&e))
        .and_then(|(changes, next)| {
            plan::plan(&changes, &next, dialect).map_err(|e| explain_plan(&e))
        });
    for planned in std::iter::once(&setup).chain(migration.as_ref().ok()) {
        let disagreements = plan::text_disagreements(planned);
        assert!(
            disagreements.is_empty(),
            "{case} on {dialect}: {disagreements:#?}"
        );
    }
    let expected = lower::for_dialect(&after.schema, dialect).into_owned();
    Planned {
        setup: setup.sql(),
        migration: migration.map(|p| p.sql()),
        after,
        expected,
    }
}

fn read_source(dir: &Path, file: &str) -> Option<DesiredSchema> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .ok()
        .map(|text| desired_from_source(file, &text))
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
