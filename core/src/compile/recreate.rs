//! Table recreation, for the changes Aurora DSQL cannot make in place (a column's type,
//! `SET NOT NULL`, the primary key, a NOT NULL column added to a table with rows).
//!
//! The planner writes a recreation as ordinary statements a reviewer can read, each
//! labelled `-- tablewright:recreate "t" k/n: what`, plus one copy directive
//! ([`crate::sql::directive`]) the runner carries out in batches, after which it checks that
//! both tables hold the same number of rows and copies the source's grants.
//!
//! The steps are ordered so that every state between two of them is recognisable from
//! the catalog and the next step is safe to run again:
//! referencing foreign keys dropped → new table created (its key and UNIQUE constraints
//! under temporary `__tw_new` names, since the old table keeps the real ones) → rows
//! copied → old table renamed to `t__tw_old` → new table renamed to `t` → old table
//! dropped → key and uniques renamed to their names → indexes created (`ASYNC`, awaited)
//! → foreign keys added back (`NOT VALID`, then validated).

use crate::sql::ident::{quote, quoted_ident};

/// First line of each recreation step but the copy (informational: `status`, `--dry-run`).
pub(crate) const STEP_MARK: &str = "-- tablewright:recreate ";

/// `(table, "k/n: what")` of a statement labelled as a recreation step.
pub(crate) fn step_label(statement: &str) -> Option<(String, String)> {
    let line = statement
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(STEP_MARK))?;
    let rest = line.strip_prefix(STEP_MARK)?;
    let (table, rest) = quoted_ident(rest.trim())?;
    Some((table, rest.trim().to_owned()))
}

/// The label of step `k` of `n` of the recreation of `table`, after [`STEP_MARK`] (what
/// [`step_label`] reads back).
pub(crate) fn step_header(table: &str, k: usize, n: usize, what: &str) -> String {
    format!("{} {k}/{n}: {what}", quote(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_labels_name_the_table() {
        assert_eq!(
            step_label("-- tablewright:recreate \"books\" 3/7: swap\nALTER TABLE x"),
            Some(("books".into(), "3/7: swap".into()))
        );
        assert_eq!(step_label("ALTER TABLE x"), None);
    }
}
