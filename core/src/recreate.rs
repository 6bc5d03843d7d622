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

use crate::model::{ForeignKey, Table};
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
const MAX_IDENTIFIER: usize = 63;

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

/// A foreign key of another table that points at the table being rebuilt: it must be
/// dropped before the old table can go, and added back afterwards.
#[derive(Debug, Clone)]
pub struct Referencing<'a> {
    /// The table that holds it.
    pub table: &'a str,
    /// The key.
    pub foreign_key: &'a ForeignKey,
}

/// What the planner hands over for one rebuilt table.
pub struct Rebuild<'a> {
    /// The table as the database holds it before (renames applied).
    pub from: &'a Table,
    /// The table as the code declares it.
    pub to: &'a Table,
    /// Foreign keys of other tables that reference it before the rebuild (dropped first).
    pub referencing_before: Vec<Referencing<'a>>,
    /// Foreign keys of other tables that reference it afterwards (added back last),
    /// unless the migration adds them anyway.
    pub referencing_after: Vec<Referencing<'a>>,
    /// Renders a column definition (the planner's, so both agree).
    pub column_definition: &'a dyn Fn(&crate::model::Column) -> String,
    /// Renders a foreign key clause.
    pub foreign_key_clause: &'a dyn Fn(&ForeignKey) -> String,
}

/// The statements of one recreation, or why it cannot be planned.
pub fn render(r: &Rebuild<'_>) -> Result<Vec<String>, String> {
    let (from, to) = (r.from, r.to);
    let t = &to.name;
    let Some(old_key) = &from.primary_key else {
        return Err(format!("`{t}` has no primary key to copy its rows in batches by; give it one in an earlier migration, then make this change"));
    };
    if t.len() + NEW_SUFFIX.len() > MAX_IDENTIFIER {
        return Err(format!("`{t}` is too long a name to rebuild beside itself (`{t}{NEW_SUFFIX}` exceeds {MAX_IDENTIFIER} bytes)"));
    }
    if from.columns.iter().chain(&to.columns).any(|c| c.identity) {
        return Err(format!("`{t}` has an identity column, whose sequence a copy would not carry over; not supported on dsql yet"));
    }
    let new_table = format!("{t}{NEW_SUFFIX}");
    let old_table = format!("{t}{OLD_SUFFIX}");

    // Columns the copy writes, and what from.
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for column in &to.columns {
        match from.column(&column.name) {
            Some(old) => {
                let mut expr = quote(&column.name);
                if old.sql_type != column.sql_type {
                    expr = format!("{expr}::{}", column.sql_type);
                }
                // A column that becomes NOT NULL gives its existing NULLs its default.
                if column.not_null && !old.not_null
                    && let Some(default) = &column.default
                {
                    expr = format!("COALESCE({expr}, {default})");
                }
                targets.push(quote(&column.name));
                sources.push(expr);
            }
            // New columns take their default from the INSERT itself.
            None if column.not_null && column.default.is_none() => {
                return Err(format!(
                    "`{t}.{}` is added as NOT NULL without a default, so the existing rows have no value for it; give it a `default`",
                    column.name
                ));
            }
            None => {}
        }
    }

    let mut steps: Vec<(String, String)> = Vec::new();
    for fk in &r.referencing_before {
        steps.push((
            format!("drop foreign key {} of {}", quote(&fk.foreign_key.name), quote(fk.table)),
            format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(fk.table), quote(&fk.foreign_key.name)),
        ));
    }
    if to.primary_key.as_ref().is_some_and(|k| k.name == old_key.name) {
        let parked = format!("{}{OLD_SUFFIX}", old_key.name);
        steps.push((
            "free the key's name for the new table".into(),
            format!("ALTER TABLE {} RENAME CONSTRAINT {} TO {};", quote(t), quote(&old_key.name), quote(&parked)),
        ));
    }
    let mut lines: Vec<String> = to.columns.iter().map(|c| (r.column_definition)(c)).collect();
    if let Some(pk) = &to.primary_key {
        lines.push(format!("CONSTRAINT {} PRIMARY KEY ({})", quote(&pk.name), quote_all(&pk.columns)));
    }
    for c in to.checks.values() {
        lines.push(format!("CONSTRAINT {} CHECK ({})", quote(&c.name), c.expression));
    }
    let self_references: Vec<&ForeignKey> = to.foreign_keys.values().filter(|fk| fk.references_table == *t).collect();
    for fk in to.foreign_keys.values().filter(|fk| fk.references_table != *t) {
        lines.push(format!("CONSTRAINT {} {}", quote(&fk.name), (r.foreign_key_clause)(fk)));
    }
    steps.push(("create the new table".into(), format!("CREATE TABLE IF NOT EXISTS {} (\n\t{}\n);", quote(&new_table), lines.join(",\n\t"))));
    steps.push((
        "copy the rows in batches, check the counts, copy the grants".into(),
        format!(
            "{COPY_MARK}{} -> {}\nINSERT INTO {} ({}) SELECT {} FROM {};",
            quote(t),
            quote(&new_table),
            quote(&new_table),
            targets.join(", "),
            sources.join(", "),
            quote(t)
        ),
    ));
    steps.push(("swap: move the old table aside".into(), format!("ALTER TABLE {} RENAME TO {};", quote(t), quote(&old_table))));
    steps.push(("swap: put the new table in its place".into(), format!("ALTER TABLE {} RENAME TO {};", quote(&new_table), quote(t))));
    steps.push(("drop the old table".into(), format!("DROP TABLE IF EXISTS {};", quote(&old_table))));
    for u in to.uniques.values() {
        steps.push(("recreate a unique".into(), format!("CREATE UNIQUE INDEX ASYNC IF NOT EXISTS {} ON {} ({});", quote(&u.name), quote(t), quote_all(&u.columns))));
    }
    for i in to.indexes.values() {
        let unique = if i.unique { " UNIQUE" } else { "" };
        steps.push(("recreate an index".into(), format!("CREATE{unique} INDEX ASYNC IF NOT EXISTS {} ON {} ({});", quote(&i.name), quote(t), quote_all(&i.columns))));
    }
    let add_back = self_references.iter().map(|fk| (t.as_str(), *fk)).chain(r.referencing_after.iter().map(|x| (x.table, x.foreign_key)));
    for (table, fk) in add_back {
        steps.push((
            format!("add back foreign key {} of {}", quote(&fk.name), quote(table)),
            format!("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID;", quote(table), quote(&fk.name), (r.foreign_key_clause)(fk)),
        ));
        steps.push((
            format!("validate foreign key {} of {}", quote(&fk.name), quote(table)),
            format!("ALTER TABLE ASYNC {} VALIDATE CONSTRAINT {};", quote(table), quote(&fk.name)),
        ));
    }
    let n = steps.len();
    Ok(steps
        .into_iter()
        .enumerate()
        .map(|(k, (label, sql))| format!("{STEP_MARK}{} {}/{n}: {label}\n{sql}", quote(t), k + 1))
        .collect())
}

fn quote_all(idents: &[String]) -> String {
    idents.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
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
