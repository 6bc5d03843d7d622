//! `review`: what the migrations added since an earlier revision of the folder do, for a
//! pull request's comment. For each new migration: its statements and how each runs on the
//! folder's dialect, its warnings, and the changes that break the code deployed before it
//! (with the two-deploy way); then the permissions added or revoked, and a diagram of the
//! tables the migrations touch.
//!
//! The earlier revision is given as its journal and permissions file (the CLI reads them
//! with git); the migrations' changes are derived again from their snapshots, each
//! against the one before it. A rename is read from the migration's own `RENAME`
//! statement (a snapshot does not say which column became which); a table rebuild's own
//! renames (to and from its `__tw_new`/`__tw_old` names) are not renames.

use crate::compile::renames::{Direction, with_renames};
use crate::compile::warnings::{Warning, breaking_changes, removed_enum_values, warnings};
use crate::compile::{lower, plan};
use crate::dialect::Dialect;
use crate::project::folder::{FolderError, MigrationFolder};
use crate::project::journal::Journal;
use crate::schema::desired::{AllowDrops, DesiredSchema};
use crate::schema::diagram::Diagram;
use crate::schema::model::Schema;
use crate::sql::directive::{self, Directive};
use crate::sql::statement::{self, IndexMode};
use crate::sql::tokens;
use serde::Serialize;
use std::collections::BTreeSet;

/// The earlier revision, as the review compares with it.
#[derive(Debug, Clone, Default)]
pub struct Before {
    /// Its journal; `None` when the folder had none (every migration is new).
    pub journal: Option<Journal>,
    /// Its permissions file; `None` when it had none.
    pub permissions: Option<String>,
}

/// What the new migrations do.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Review {
    /// The dialect the folder is planned for.
    pub dialect: Dialect,
    /// The migrations the earlier journal does not have, in journal order.
    pub migrations: Vec<ReviewedMigration>,
    /// GRANT and REVOKE lines of the permissions file that changed.
    pub permissions: PermissionChanges,
    /// The tables the migrations touch that still exist, and their neighbours; `None` when
    /// they touch none.
    pub diagram: Option<Diagram>,
}

/// One new migration.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ReviewedMigration {
    /// Its journal tag.
    pub tag: String,
    /// Hand-written SQL (`generate --custom`): its snapshot equals the one before, so what
    /// it does can only be read in its statements.
    pub custom: bool,
    /// Its statements and how each runs.
    pub statements: Vec<ReviewedStatement>,
    /// Warnings: drops, narrowing type changes, renames, table rebuilds.
    pub warnings: Vec<Warning>,
    /// What breaks the code deployed before it, each with the two-deploy way.
    pub breaking_changes: Vec<Warning>,
    /// Why its changes could not be derived again from the snapshots, when they could not.
    pub note: Option<String>,
}

/// One statement of a new migration.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ReviewedStatement {
    /// 1-based.
    pub number: usize,
    /// Its SQL, as in the file.
    pub sql: String,
    /// How the runner applies it.
    pub runs: Runs,
}

/// How the runner applies a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Runs {
    /// As it is: in a transaction with the history write.
    Plain,
    /// `CREATE INDEX ASYNC`: a DSQL job, awaited.
    AsyncIndex,
    /// `CREATE INDEX CONCURRENTLY`: outside a transaction.
    ConcurrentIndex,
    /// A constraint added `NOT VALID`: existing rows are checked by a later validation.
    NotValid,
    /// `VALIDATE CONSTRAINT`: the existing rows checked.
    Validate,
    /// A backfill directive: existing rows given the new column's value in batches.
    Backfill,
    /// A copy directive: a rebuilt table's rows copied in batches.
    RebuildCopy,
}

impl Runs {
    /// How it runs on `dialect`, for people.
    pub fn describe(self, dialect: Dialect) -> &'static str {
        match (self, dialect) {
            (Runs::Plain, Dialect::Dsql) => {
                "plain: its own transaction (DSQL allows one DDL per transaction)"
            }
            (Runs::Plain, Dialect::Postgres) => {
                "plain: in one transaction with the migration's other statements"
            }
            (Runs::AsyncIndex, _) => "async index: a DSQL job, awaited; the table stays writable",
            (Runs::ConcurrentIndex, _) => {
                "concurrent index: outside a transaction; the table stays writable"
            }
            (Runs::NotValid, _) => {
                "NOT VALID: new rows are checked at once, existing rows by the validation that follows"
            }
            (Runs::Validate, _) => "validate: the existing rows checked, without blocking writes",
            (Runs::Backfill, _) => {
                "backfill in batches: existing rows given the value, each batch its own transaction"
            }
            (Runs::RebuildCopy, _) => {
                "table rebuild: rows copied in batches into the new table, checked, then swapped in"
            }
        }
    }
}

/// Permission lines that changed, as statements.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct PermissionChanges {
    /// Statements the permissions file has now and did not have (granted by `migrate`).
    pub added: Vec<String>,
    /// Statements it had and no longer has (revoked by `migrate`, unless
    /// `revoke_undeclared = false`).
    pub removed: Vec<String>,
}

/// A folder the review cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// A migration's SQL file or snapshot did not read.
    #[error("review: {0}")]
    Folder(#[from] FolderError),
    /// The folder fails `check`.
    #[error(
        "review: the migrations folder is inconsistent ({0}); run `tablewright check` and fix it first"
    )]
    Inconsistent(String),
}

impl crate::error::Classified for ReviewError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        match self {
            ReviewError::Folder(_) => "folder",
            ReviewError::Inconsistent(_) => "inconsistent_folder",
        }
    }
}

/// Reviews the migrations of `folder` that `before`'s journal does not have;
/// `permissions` is the permissions file as it is now.
pub fn review(
    folder: &MigrationFolder,
    dialect: Dialect,
    before: &Before,
    permissions: Option<&str>,
) -> Result<Review, ReviewError> {
    // Each migration is compared with the one before it in the journal: on a folder that
    // `check` refuses (a branch fork, a missing snapshot) that comparison would be false.
    let blocking: Vec<String> = folder
        .inspect()?
        .problems
        .iter()
        .filter(|p| p.blocks_generate())
        .map(ToString::to_string)
        .collect();
    if !blocking.is_empty() {
        return Err(ReviewError::Inconsistent(blocking.join("; ")));
    }
    let known: BTreeSet<&str> = before
        .journal
        .iter()
        .flat_map(|j| j.entries.iter().map(|e| e.tag.as_str()))
        .collect();
    let entries = &folder.journal.entries;
    let mut migrations = Vec::new();
    let mut touched = BTreeSet::new();
    let mut last = Schema::default();
    for (i, entry) in entries.iter().enumerate() {
        let snapshot = folder.read_snapshot(entry)?;
        if known.contains(entry.tag.as_str()) {
            continue;
        }
        let prev = match i.checked_sub(1) {
            Some(p) => folder.read_snapshot(&entries[p])?.schema,
            None => Schema::default(),
        };
        let text = String::from_utf8_lossy(&folder.read_sql(entry)?).into_owned();
        let sql = crate::sql::split::split_statements(&text);
        let mut reviewed = ReviewedMigration {
            tag: entry.tag.clone(),
            custom: prev == snapshot.schema,
            statements: sql
                .iter()
                .enumerate()
                .map(|(k, s)| ReviewedStatement {
                    number: k + 1,
                    sql: s.clone(),
                    runs: runs(s),
                })
                .collect(),
            warnings: Vec::new(),
            breaking_changes: Vec::new(),
            note: None,
        };
        if !reviewed.custom {
            let desired = with_renames(&snapshot.schema, &sql, Direction::Forward);
            // Whatever the migration dropped, it was allowed to: columns, tables, and an
            // enum type's values (allowed as `type.value`).
            let allow = AllowDrops {
                tables: prev.tables.keys().cloned().collect(),
                columns: prev
                    .tables
                    .values()
                    .flat_map(|t| t.columns.iter().map(|c| (t.name.clone(), c.name.clone())))
                    .chain(
                        prev.enums
                            .values()
                            .flat_map(|e| e.values.iter().map(|v| (e.name.clone(), v.clone()))),
                    )
                    .collect(),
            };
            let desired = with_placeholder_fills(desired, &prev);
            match lower::diff_for(&prev, &desired, &allow, dialect) {
                Ok((changes, next)) => {
                    let rebuilds = match plan::plan(&changes, &next, dialect) {
                        Ok(p) => p.rebuilds,
                        Err(e) => {
                            reviewed.note = Some(format!(
                                "its plan could not be derived again ({e}), so a table rebuild it makes is not listed among its warnings; read its statements"
                            ));
                            Vec::new()
                        }
                    };
                    reviewed.warnings = warnings(&changes.ops, &rebuilds);
                    reviewed.breaking_changes = breaking_changes(&changes.ops);
                    reviewed
                        .breaking_changes
                        .extend(removed_enum_values(&prev, &snapshot.schema));
                    touched.extend(changes.ops.iter().map(|op| op.table().to_owned()));
                }
                Err(e) => {
                    reviewed.note = Some(format!(
                        "its changes could not be derived again from the snapshots ({e}); read its statements"
                    ));
                }
            }
        }
        migrations.push(reviewed);
        last = snapshot.schema;
    }
    if let Some(final_entry) = entries.last() {
        last = folder.read_snapshot(final_entry)?.schema;
    }
    let touched: Vec<String> = touched
        .into_iter()
        .filter(|t| last.tables.contains_key(t))
        .collect();
    let diagram = (!touched.is_empty())
        .then(|| Diagram::of(&last, &touched).ok())
        .flatten();
    Ok(Review {
        dialect,
        migrations,
        permissions: permission_changes(before.permissions.as_deref(), permissions),
        diagram,
    })
}

/// `desired` with a fill for every column the migration made NOT NULL without a default.
/// The planner refuses such a column without one (`#[column(fill)]`, which the snapshot
/// does not keep); the review only reads the plan's shape (its rebuilds), never its SQL,
/// so any value does.
fn with_placeholder_fills(mut desired: DesiredSchema, prev: &Schema) -> DesiredSchema {
    let Ok(placeholder) = crate::schema::model::SqlExpr::parse("fill", "NULL") else {
        return desired;
    };
    for table in desired.schema.tables.values() {
        for column in table
            .columns
            .iter()
            .filter(|c| c.not_null && c.default.is_none())
        {
            let was_not_null = prev
                .tables
                .get(&table.name)
                .and_then(|t| t.column(&column.name))
                .is_some_and(|c| c.not_null);
            if !was_not_null {
                desired
                    .sources
                    .entry(table.name.clone())
                    .or_default()
                    .column_fills
                    .insert(column.name.clone(), placeholder.clone());
            }
        }
    }
    desired
}

/// How the runner applies `sql`.
fn runs(sql: &str) -> Runs {
    match directive::parse(sql) {
        Ok(Some(Directive::Copy(_))) => return Runs::RebuildCopy,
        Ok(Some(Directive::Backfill(_))) => return Runs::Backfill,
        _ => {}
    }
    let info = statement::classify(sql);
    if let Some(index) = &info.index {
        return match index.mode {
            IndexMode::Async => Runs::AsyncIndex,
            IndexMode::Concurrently => Runs::ConcurrentIndex,
            IndexMode::Plain => Runs::Plain,
        };
    }
    if info.validation.is_some() {
        return Runs::Validate;
    }
    let not_valid = tokens::lex(sql).is_ok_and(|lexemes| {
        let words: Vec<&tokens::Lexeme> = lexemes.iter().filter(|l| !l.is_blank()).collect();
        words
            .windows(2)
            .any(|w| w[0].is_word("NOT") && w[1].is_word("VALID"))
    });
    if info.adds_constraint.is_some() && not_valid {
        return Runs::NotValid;
    }
    Runs::Plain
}

/// The statements of a permissions file: its lines without comments, blank lines dropped.
fn permission_statements(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| match line.find("; --") {
            Some(at) => &line[..=at],
            None => line,
        })
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("--"))
        .map(str::to_owned)
        .collect()
}

fn permission_changes(before: Option<&str>, now: Option<&str>) -> PermissionChanges {
    let before = permission_statements(before.unwrap_or(""));
    let now = permission_statements(now.unwrap_or(""));
    PermissionChanges {
        added: now
            .iter()
            .filter(|s| !before.contains(s))
            .cloned()
            .collect(),
        removed: before
            .iter()
            .filter(|s| !now.contains(s))
            .cloned()
            .collect(),
    }
}

/// A code fence for `content`: longer than any run of backticks in it, so that nothing in
/// a migration (a string holding a fence) can close the block and write its own Markdown.
fn fence(content: &str) -> String {
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

impl Review {
    /// The review as Markdown for a pull request's comment: `since` names the revision.
    pub fn markdown(&self, since: &str) -> String {
        let mut out = format!("## tablewright: migrations since `{since}`\n\n");
        if self.migrations.is_empty() {
            out.push_str("No new migration.\n");
        } else {
            out.push_str(&format!(
                "{} new migration(s), planned for {}.\n",
                self.migrations.len(),
                match self.dialect {
                    Dialect::Dsql => "Aurora DSQL",
                    Dialect::Postgres => "PostgreSQL",
                }
            ));
        }
        let breaking: usize = self
            .migrations
            .iter()
            .map(|m| m.breaking_changes.len())
            .sum();
        if breaking > 0 {
            out.push_str(&format!(
                "\n> [!WARNING]\n> {breaking} change(s) break the code deployed before them: see **Breaking changes** below.\n"
            ));
        }
        for m in &self.migrations {
            out.push_str(&format!("\n### `{}`\n\n", m.tag));
            if m.custom {
                out.push_str("Hand-written SQL (`generate --custom`): its snapshot equals the one before, so what it does is only in its statements below.\n\n");
            }
            if m.statements.is_empty() {
                out.push_str("_No statement._\n\n");
            }
            for s in &m.statements {
                // A list item's blocks are indented to its text: past `10. `, four columns.
                let indent = " ".repeat(s.number.to_string().len() + 2);
                let fence = fence(&s.sql);
                out.push_str(&format!(
                    "{}. {}\n\n{indent}{fence}sql\n{}\n{indent}{fence}\n\n",
                    s.number,
                    s.runs.describe(self.dialect),
                    s.sql
                        .lines()
                        .map(|l| format!("{indent}{l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ));
            }
            if !m.warnings.is_empty() {
                out.push_str("**Warnings**\n\n");
                for w in &m.warnings {
                    out.push_str(&format!("- `{}` {}: {}\n", w.id, w.change, w.message));
                }
                out.push('\n');
            }
            if !m.breaking_changes.is_empty() {
                out.push_str("**Breaking changes** for the code deployed before\n\n");
                for w in &m.breaking_changes {
                    out.push_str(&format!("- {}: {}\n", w.change, w.message));
                }
                out.push('\n');
            }
            if let Some(note) = &m.note {
                out.push_str(&format!("_Note: {note}._\n\n"));
            }
        }
        if !self.permissions.added.is_empty() || !self.permissions.removed.is_empty() {
            out.push_str("\n### Permissions\n\nThe permissions file changes. `migrate` applies its new lines; with `revoke_undeclared` (the default) it also revokes, from the roles the file still names, what no line grants any more.\n\n```diff\n");
            for s in &self.permissions.removed {
                out.push_str(&format!("-{s}\n"));
            }
            for s in &self.permissions.added {
                out.push_str(&format!("+{s}\n"));
            }
            out.push_str("```\n");
        }
        if let Some(diagram) = &self.diagram {
            let text = diagram.mermaid();
            let fence = fence(&text);
            out.push_str(&format!(
                "\n### Tables touched\n\n{fence}mermaid\n{text}{fence}\n"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_of_running_is_told_apart() {
        assert_eq!(
            runs("CREATE INDEX ASYNC \"i\" ON \"t\" (\"a\")"),
            Runs::AsyncIndex
        );
        assert_eq!(
            runs("CREATE INDEX CONCURRENTLY \"i\" ON \"t\" (\"a\")"),
            Runs::ConcurrentIndex
        );
        assert_eq!(
            runs("ALTER TABLE \"t\" ADD CONSTRAINT \"c\" CHECK (a > 0) NOT VALID"),
            Runs::NotValid
        );
        assert_eq!(
            runs("ALTER TABLE \"t\" ADD CONSTRAINT \"c\" CHECK (a <> 'NOT VALID')"),
            Runs::Plain
        );
        assert_eq!(
            runs("ALTER TABLE \"t\" VALIDATE CONSTRAINT \"c\""),
            Runs::Validate
        );
        assert_eq!(runs("ALTER TABLE \"t\" ADD COLUMN \"x\" text"), Runs::Plain);
    }

    #[test]
    fn a_fence_is_longer_than_any_backticks_it_holds() {
        assert_eq!(fence("SELECT 1"), "```");
        assert_eq!(fence("SELECT '\n```\n# fake'"), "````");
        assert_eq!(fence("`````"), "``````");
    }

    #[test]
    fn permission_lines_are_compared_without_their_comments() {
        let before = "-- header\nGRANT SELECT ON \"a\" TO \"r\"; -- src/h.rs f\nGRANT SELECT ON \"b\" TO \"r\"; -- src/h.rs g\n";
        let now = "-- header\nGRANT SELECT ON \"a\" TO \"r\"; -- src/other.rs f\nGRANT INSERT ON \"c\" TO \"r\"; -- src/h.rs h\n";
        let changes = permission_changes(Some(before), Some(now));
        assert_eq!(changes.added, ["GRANT INSERT ON \"c\" TO \"r\";"]);
        assert_eq!(changes.removed, ["GRANT SELECT ON \"b\" TO \"r\";"]);
    }
}
