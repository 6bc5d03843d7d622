//! Schemas for the compiler's unit tests, written as the structs a team writes and read by
//! the CLI's scanner.

use crate::compile::diff::{self, Changes, DiffError};
use crate::compile::plan::{self, Plan, PlanError};
use crate::dialect::Dialect;
use crate::schema::desired::{AllowDrops, DesiredSchema};
use std::path::Path;

/// The structs of `source`.
pub(crate) fn desired(source: &str) -> DesiredSchema {
    let mut scan = crate::schema::scan::Scan::default();
    let mut errors = Vec::new();
    crate::schema::scan::scan_source(
        Path::new("app.rs"),
        source,
        &mut scan,
        &mut errors,
        &crate::schema::sql_text::ParsedFragments,
    );
    assert!(errors.is_empty(), "the structs do not scan: {errors:#?}");
    scan.desired
}

/// The diff from the structs of `before` (a last snapshot; "" for none) to those of
/// `after`, with `allow` (`--allow-drop` values).
pub(crate) fn diff(before: &str, after: &str, allow: &[&str]) -> Result<Changes, DiffError> {
    let previous = if before.is_empty() {
        Default::default()
    } else {
        desired(before).schema
    };
    diff::diff(&previous, &desired(after), &AllowDrops::parse(allow))
}

/// The operations from `before` to `after`, as the messages name them.
pub(crate) fn ops(before: &str, after: &str, allow: &[&str]) -> Vec<String> {
    diff(before, after, allow)
        .unwrap_or_else(|e| panic!("the diff fails: {e:?}"))
        .ops
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The plan from `before` to `after` on `dialect`; a plan whose SQL says other than the
/// planner knew fails here.
pub(crate) fn plan(
    before: &str,
    after: &str,
    allow: &[&str],
    dialect: Dialect,
) -> Result<Plan, PlanError> {
    let changes = diff(before, after, allow).unwrap_or_else(|e| panic!("the diff fails: {e:?}"));
    let planned = plan::plan(&changes, &desired(after).schema, dialect)?;
    let disagreements = plan::text_disagreements(&planned);
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    Ok(planned)
}

/// Each statement of the plan without its recreation label, on one line.
pub(crate) fn statements(planned: &Plan) -> Vec<String> {
    planned
        .statements
        .iter()
        .map(|s| {
            s.sql
                .lines()
                .filter(|l| !l.starts_with(crate::compile::recreate::STEP_MARK))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}
