//! Table recreation, for the changes Aurora DSQL cannot make in place (a column's type,
//! `SET NOT NULL`, the primary key, a NOT NULL column added to a table with rows).
//!
//! The planner writes a recreation as ordinary statements a reviewer can read, each
//! labelled `-- tablewright:recreate "t" k/n: what`, plus one directive the runner carries
//! out in batches:
//!
//! ```sql
//! -- tablewright:copy "books" -> "books__tw_new"
//! INSERT INTO "books__tw_new" ("id", "pages") SELECT "id", "pages"::bigint FROM "books";
//! ```
//!
//! The runner copies the rows in batches ordered by the source's primary key, each batch
//! and its cursor in one transaction, then checks that both tables hold the same number
//! of rows and copies the source's grants. Run as plain SQL (on PostgreSQL, or by any
//! other tool) the directive is an ordinary `INSERT .. SELECT`.
//!
//! The steps are ordered so that every state between two of them is recognisable from
//! the catalog and the next step is safe to run again:
//! referencing foreign keys dropped → old key constraint renamed out of the way → new
//! table created → rows copied → old table renamed to `t__tw_old` → new table renamed to
//! `t` → old table dropped → indexes and uniques created (`ASYNC`, awaited) → foreign keys
//! added back (`NOT VALID`, then validated).

use crate::plan::quote;

/// Suffix of the table being filled.
pub const NEW_SUFFIX: &str = "__tw_new";
/// Suffix of the old table between the two renames.
pub const OLD_SUFFIX: &str = "__tw_old";
/// First line of a copy directive.
pub const COPY_MARK: &str = "-- tablewright:copy ";
/// First line of every other recreation step (informational: `status` and `--dry-run`).
pub const STEP_MARK: &str = "-- tablewright:recreate ";

/// PostgreSQL truncates identifiers beyond 63 bytes.
pub const MAX_IDENTIFIER: usize = 63;

/// A parsed copy directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyDirective {
    /// The table rows come from (the old table).
    pub source: String,
    /// The table rows go to (the new table).
    pub target: String,
    /// The `INSERT .. SELECT .. FROM "source"` without its semicolon; the runner appends
    /// the key range of each batch as a `WHERE` clause.
    pub insert: String,
}

/// A copy directive that does not have the documented form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("copy directive: {0}")]
pub struct DirectiveError(pub String);

/// Parses `"name"` at the start of `text`; returns the name and the rest.
fn quoted_ident(text: &str) -> Option<(String, &str)> {
    let rest = text.strip_prefix('"')?;
    let mut name = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            if rest[i + 1..].starts_with('"') {
                name.push('"');
                chars.next();
                continue;
            }
            return Some((name, &rest[i + 1..]));
        }
        name.push(c);
    }
    None
}

/// The copy directive of `statement`, if it carries one. A statement that starts with the
/// directive but does not follow the form is an error, so `check` can report it before a
/// run does.
pub fn parse_copy(statement: &str) -> Result<Option<CopyDirective>, DirectiveError> {
    let Some(header_line) = statement.lines().map(str::trim).find(|l| l.starts_with(COPY_MARK)) else {
        return Ok(None);
    };
    let header = &header_line[COPY_MARK.len()..];
    let form = || DirectiveError(format!("expected `{COPY_MARK}\"source\" -> \"target\"`, found `{header_line}`"));
    let (source, rest) = quoted_ident(header.trim()).ok_or_else(form)?;
    let rest = rest.trim().strip_prefix("->").ok_or_else(form)?;
    let (target, rest) = quoted_ident(rest.trim()).ok_or_else(form)?;
    if !rest.trim().is_empty() {
        return Err(form());
    }
    let body: Vec<&str> = statement.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
    let insert = body.join("\n").trim().trim_end_matches(';').trim_end().to_owned();
    let expected_start = format!("INSERT INTO {} (", quote(&target));
    let expected_end = format!(" FROM {}", quote(&source));
    if !insert.starts_with(&expected_start) || !insert.ends_with(&expected_end) || insert.contains(';') {
        return Err(DirectiveError(format!(
            "the statement after `{header_line}` must be one `{expected_start}..) SELECT .. FROM {}`, without WHERE, ORDER BY or LIMIT (the runner adds the batch's key range)",
            quote(&source)
        )));
    }
    let upper = insert.to_ascii_uppercase();
    if [" WHERE ", " ORDER BY ", " LIMIT ", " GROUP BY ", " JOIN "].iter().any(|k| upper.contains(k)) {
        return Err(DirectiveError(format!("the copy after `{header_line}` must read the whole source table: no WHERE, ORDER BY, LIMIT, GROUP BY or JOIN")));
    }
    Ok(Some(CopyDirective { source, target, insert }))
}

/// `(table, "k/n: what")` of a statement labelled as a recreation step.
pub fn step_label(statement: &str) -> Option<(String, String)> {
    let line = statement.lines().map(str::trim).find(|l| l.starts_with(STEP_MARK))?;
    let rest = line.strip_prefix(STEP_MARK)?;
    let (table, rest) = quoted_ident(rest.trim())?;
    Some((table, rest.trim().to_owned()))
}

/// A copy directive over its `INSERT .. SELECT`: `columns` of `target` from
/// `expressions` over `source` (the form [`parse_copy`] reads back).
pub fn copy_statement(source: &str, target: &str, columns: &[String], expressions: &[String]) -> String {
    format!(
        "{COPY_MARK}{} -> {}\nINSERT INTO {} ({}) SELECT {} FROM {};",
        quote(source),
        quote(target),
        quote(target),
        columns.join(", "),
        expressions.join(", "),
        quote(source)
    )
}

/// Labels each statement of the recreation of `table` as step k of n (what
/// [`step_label`] reads back).
pub fn label_steps(table: &str, steps: Vec<(String, String)>) -> Vec<String> {
    let n = steps.len();
    steps.into_iter().enumerate().map(|(k, (what, sql))| format!("{STEP_MARK}{} {}/{n}: {what}\n{sql}", quote(table), k + 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_directive_round_trips_and_a_malformed_one_is_an_error() {
        let sql = "-- tablewright:copy \"bo\"\"oks\" -> \"books__tw_new\"\n-- note\nINSERT INTO \"books__tw_new\" (\"id\") SELECT \"id\" FROM \"bo\"\"oks\";";
        let d = parse_copy(sql).unwrap().unwrap();
        assert_eq!((d.source.as_str(), d.target.as_str()), ("bo\"oks", "books__tw_new"));
        assert_eq!(d.insert, "INSERT INTO \"books__tw_new\" (\"id\") SELECT \"id\" FROM \"bo\"\"oks\"");
        assert_eq!(parse_copy("INSERT INTO a SELECT 1").unwrap(), None);
        assert!(parse_copy("-- tablewright:copy \"a\" \"b\"\nINSERT INTO \"b\" (x) SELECT x FROM \"a\";").is_err());
        assert!(parse_copy("-- tablewright:copy \"a\" -> \"b\"\nINSERT INTO \"b\" (x) SELECT x FROM \"a\" WHERE x > 1;").is_err());
        assert!(parse_copy("-- tablewright:copy \"a\" -> \"b\"\nINSERT INTO \"b\" (x) SELECT x FROM \"c\";").is_err());
    }

    #[test]
    fn step_labels_name_the_table() {
        assert_eq!(step_label("-- tablewright:recreate \"books\" 3/7: swap\nALTER TABLE x"), Some(("books".into(), "3/7: swap".into())));
        assert_eq!(step_label("ALTER TABLE x"), None);
    }
}
