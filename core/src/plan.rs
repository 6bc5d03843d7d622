//! The planner: dialect-neutral operations → SQL statements legal on the target dialect.
//!
//! Every decision comes from [`crate::rules`]; this module only renders. It never writes a
//! statement the target rejects: what the dialect cannot do is refused here, at generate
//! time, with the alternative.

use crate::diff::{Changes, Op};
use crate::model::{Column, ForeignKey, Index, Schema, Table};
use crate::recreate::{self, Rebuild, Referencing};
use crate::rules::{self, ChangeKind, Dialect, Strategy};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// The marker drizzle-kit puts between statements; runners split on it.
pub const BREAKPOINT: &str = "--> statement-breakpoint";

/// A change the target dialect cannot carry out (yet), with what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The change, for people.
    pub change: String,
    /// Its rules-table row.
    pub kind: ChangeKind,
    /// Why, and the alternative.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.change, self.reason)
    }
}

/// Why no statements were planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Changes the dialect refuses.
    #[error("plan: {} change(s) cannot be carried out on {dialect}", .refusals.len())]
    Refused {
        /// The target.
        dialect: Dialect,
        /// Each refused change.
        refusals: Vec<Refusal>,
    },
}

/// Quotes an identifier for PostgreSQL and DSQL.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn quote_list(idents: &[String]) -> String {
    idents.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
}

/// Plans `changes` (towards `next`) for `dialect`. All refusals are collected before
/// returning.
pub fn plan(changes: &Changes, next: &Schema, dialect: Dialect) -> Result<Vec<String>, PlanError> {
    let ops = &changes.ops;
    // Tables this dialect must rebuild: every other change to them is part of the rebuild,
    // except renames, which run first so the copy reads the columns under their new names.
    let rebuilt: BTreeSet<&str> = ops.iter().filter(|op| rules::strategy(op.kind(), dialect) == Strategy::Recreate).map(Op::table).collect();
    let mut planned_rebuilds = BTreeSet::new();
    let mut statements = Vec::new();
    let mut refusals = Vec::new();
    for op in ops {
        let kind = op.kind();
        for (column, sql_type) in new_column_types(op) {
            if let Err(alternative) = rules::check_column_type(sql_type, dialect) {
                refusals.push(Refusal {
                    change: format!("column `{}.{column}` of type {sql_type}", op.table()),
                    kind,
                    reason: alternative.to_owned(),
                });
            }
        }
        if rebuilt.contains(op.table()) && !matches!(op, Op::RenameTable { .. } | Op::RenameColumn { .. }) {
            if rules::strategy(kind, dialect) == Strategy::Recreate && planned_rebuilds.insert(op.table()) {
                match rebuild(changes, next, op.table(), dialect) {
                    Ok(steps) => statements.extend(steps),
                    Err(reason) => refusals.push(Refusal { change: op.to_string(), kind, reason }),
                }
            }
            continue;
        }
        // A column that becomes NOT NULL gives its existing NULLs its default (the
        // recreation on DSQL does the same in its copy).
        if let Op::SetNotNull { table, column } = op
            && let Some(default) = next.tables.get(table).and_then(|t| t.column(column)).and_then(|c| c.default.as_ref())
        {
            statements.push(format!("UPDATE {} SET {} = {default} WHERE {} IS NULL;", quote(table), quote(column), quote(column)));
        }
        match rules::strategy(kind, dialect) {
            Strategy::NotYetSupported => refusals.push(Refusal { change: op.to_string(), kind, reason: not_yet_reason(kind, dialect) }),
            Strategy::Unsupported => refusals.push(Refusal { change: op.to_string(), kind, reason: format!("{dialect} cannot do this") }),
            strategy => statements.extend(render(op, strategy, dialect)),
        }
    }
    if refusals.is_empty() { Ok(statements) } else { Err(PlanError::Refused { dialect, refusals }) }
}

/// The recreation of `table`, placed where its first change needing it stood.
fn rebuild(changes: &Changes, next: &Schema, table: &str, dialect: Dialect) -> Result<Vec<String>, String> {
    let (Some(from), Some(to)) = (changes.previous.tables.get(table), next.tables.get(table)) else {
        return Err(format!("`{table}` is not in both the last snapshot and the code"));
    };
    let referencing = |schema: &'_ Schema| -> Vec<(String, String)> {
        schema
            .tables
            .values()
            .filter(|u| u.name != table)
            .flat_map(|u| u.foreign_keys.values().filter(|fk| fk.references_table == table).map(|fk| (u.name.clone(), fk.name.clone())))
            .collect()
    };
    let mut before: Vec<Referencing<'_>> = Vec::new();
    let mut seen = BTreeSet::new();
    for schema in [&changes.previous, next] {
        for (u, name) in referencing(schema) {
            if seen.insert((u.clone(), name.clone())) {
                let fk = &schema.tables[&u].foreign_keys[&name];
                before.push(Referencing { table: &schema.tables[&u].name, foreign_key: fk });
            }
        }
    }
    let added_anyway = |u: &str, name: &str| {
        changes.ops.iter().any(|op| matches!(op, Op::AddForeignKey { table, foreign_key } if table == u && foreign_key.name == name))
            || changes.ops.iter().any(|op| matches!(op, Op::CreateTable { table: t, deferred_fks } if t.name == u && deferred_fks.iter().any(|d| d == name)))
    };
    let after: Vec<Referencing<'_>> = referencing(next)
        .into_iter()
        .filter(|(u, name)| !added_anyway(u, name))
        .map(|(u, name)| Referencing { table: &next.tables[&u].name, foreign_key: &next.tables[&u].foreign_keys[&name] })
        .collect();
    let column_definition = |c: &Column| column_definition(c, dialect);
    recreate::render(&Rebuild { from, to, referencing_before: before, referencing_after: after, column_definition: &column_definition, foreign_key_clause: &foreign_key_clause })
}

/// Columns whose type the operation introduces.
fn new_column_types(op: &Op) -> Vec<(&str, &str)> {
    match op {
        Op::CreateTable { table, .. } => table.columns.iter().map(|c| (c.name.as_str(), c.sql_type.as_str())).collect(),
        Op::AddColumn { column, .. } => vec![(column.name.as_str(), column.sql_type.as_str())],
        Op::AlterColumnType { column, to, .. } => vec![(column.as_str(), to.as_str())],
        _ => Vec::new(),
    }
}

fn not_yet_reason(kind: ChangeKind, dialect: Dialect) -> String {
    let how = match kind {
        ChangeKind::AddColumnWithDefault | ChangeKind::AddColumnNotNull => {
            "Aurora DSQL only adds bare nullable columns; this needs a batched backfill, which tablewright does not build yet. \
             For now declare the field as `Option<T>` without `default`, backfill it in a custom migration (`generate --custom`), \
             then add the default in a later change"
        }
        _ => {
            "Aurora DSQL cannot change this in place, and tablewright does not build it yet. \
             Keep the old definition, or add a new column or table and move the data in a custom migration (`generate --custom`)"
        }
    };
    format!("not supported on {dialect} yet: {how}")
}

/// `"name" type [identity] [DEFAULT ..] [NOT NULL]`.
fn column_definition(column: &Column, dialect: Dialect) -> String {
    let mut out = format!("{} {}", quote(&column.name), column.sql_type);
    if column.identity {
        out.push_str(match dialect {
            // DSQL requires an explicit CACHE of 1 or >= 65536.
            Dialect::Dsql => " GENERATED BY DEFAULT AS IDENTITY (CACHE 1)",
            Dialect::Postgres => " GENERATED BY DEFAULT AS IDENTITY",
        });
    }
    if let Some(default) = &column.default {
        out.push_str(" DEFAULT ");
        out.push_str(default);
    }
    if column.not_null {
        out.push_str(" NOT NULL");
    }
    out
}

fn foreign_key_clause(fk: &ForeignKey) -> String {
    let mut out = format!(
        "FOREIGN KEY ({}) REFERENCES {}({})",
        quote_list(&fk.columns),
        quote(&fk.references_table),
        quote_list(&fk.references_columns)
    );
    if let Some(action) = fk.on_delete {
        out.push_str(" ON DELETE ");
        out.push_str(action.sql());
    }
    if let Some(action) = fk.on_update {
        out.push_str(" ON UPDATE ");
        out.push_str(action.sql());
    }
    out
}

fn create_table(table: &Table, deferred_fks: &[String], dialect: Dialect) -> String {
    let mut lines: Vec<String> = table.columns.iter().map(|c| column_definition(c, dialect)).collect();
    if let Some(pk) = &table.primary_key {
        lines.push(format!("CONSTRAINT {} PRIMARY KEY ({})", quote(&pk.name), quote_list(&pk.columns)));
    }
    for u in table.uniques.values() {
        lines.push(format!("CONSTRAINT {} UNIQUE ({})", quote(&u.name), quote_list(&u.columns)));
    }
    for c in table.checks.values() {
        lines.push(format!("CONSTRAINT {} CHECK ({})", quote(&c.name), c.expression));
    }
    for fk in table.foreign_keys.values().filter(|fk| !deferred_fks.contains(&fk.name)) {
        lines.push(format!("CONSTRAINT {} {}", quote(&fk.name), foreign_key_clause(fk)));
    }
    format!("CREATE TABLE IF NOT EXISTS {} (\n\t{}\n);", quote(&table.name), lines.join(",\n\t"))
}

fn create_index(table: &str, name: &str, columns: &[String], unique: bool, strategy: Strategy) -> String {
    let mode = match strategy {
        Strategy::IndexAsync => " ASYNC",
        Strategy::IndexConcurrently => " CONCURRENTLY",
        _ => "",
    };
    let unique = if unique { " UNIQUE" } else { "" };
    format!("CREATE{unique} INDEX{mode} IF NOT EXISTS {} ON {} ({});", quote(name), quote(table), quote_list(columns))
}

/// `ADD CONSTRAINT .. NOT VALID` then the validation, in the dialect's form.
fn add_constraint_not_valid(table: &str, name: &str, body: &str, dialect: Dialect) -> Vec<String> {
    let validate_mode = if dialect == Dialect::Dsql { " ASYNC" } else { "" };
    vec![
        format!("ALTER TABLE {} ADD CONSTRAINT {} {body} NOT VALID;", quote(table), quote(name)),
        format!("ALTER TABLE{validate_mode} {} VALIDATE CONSTRAINT {};", quote(table), quote(name)),
    ]
}

fn alter_column(table: &str, column: &str, action: &str) -> String {
    format!("ALTER TABLE {} ALTER COLUMN {} {action};", quote(table), quote(column))
}

fn render(op: &Op, strategy: Strategy, dialect: Dialect) -> Vec<String> {
    let t = op.table();
    match op {
        Op::CreateTable { table, deferred_fks } => vec![create_table(table, deferred_fks, dialect)],
        Op::DropTable { table } => vec![format!("DROP TABLE IF EXISTS {};", quote(table))],
        Op::RenameTable { from, to } => vec![format!("ALTER TABLE {} RENAME TO {};", quote(from), quote(to))],
        Op::AddColumn { column, .. } => vec![format!("ALTER TABLE {} ADD COLUMN {};", quote(t), column_definition(column, dialect))],
        Op::DropColumn { column, .. } => vec![format!("ALTER TABLE {} DROP COLUMN {};", quote(t), quote(column))],
        Op::RenameColumn { from, to, .. } => vec![format!("ALTER TABLE {} RENAME COLUMN {} TO {};", quote(t), quote(from), quote(to))],
        Op::AlterColumnType { column, to, .. } => vec![alter_column(t, column, &format!("SET DATA TYPE {to} USING {}::{to}", quote(column)))],
        Op::SetNotNull { column, .. } => vec![alter_column(t, column, "SET NOT NULL")],
        Op::DropNotNull { column, .. } => vec![alter_column(t, column, "DROP NOT NULL")],
        Op::SetDefault { column, default, .. } => vec![alter_column(t, column, &format!("SET DEFAULT {default}"))],
        Op::DropDefault { column, .. } => vec![alter_column(t, column, "DROP DEFAULT")],
        Op::AddIdentity { column, .. } => vec![alter_column(t, column, "ADD GENERATED BY DEFAULT AS IDENTITY")],
        Op::DropIdentity { column, .. } => vec![alter_column(t, column, "DROP IDENTITY IF EXISTS")],
        Op::ChangePrimaryKey { from, to, .. } => {
            let mut out = Vec::new();
            if let Some(pk) = from {
                out.push(format!("ALTER TABLE {} DROP CONSTRAINT {};", quote(t), quote(&pk.name)));
            }
            if let Some(pk) = to {
                out.push(format!("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({});", quote(t), quote(&pk.name), quote_list(&pk.columns)));
            }
            out
        }
        Op::CreateIndex { index: Index { name, columns, unique }, .. } => vec![create_index(t, name, columns, *unique, strategy)],
        Op::AddUnique { unique, .. } => vec![create_index(t, &unique.name, &unique.columns, true, strategy)],
        // A unique is a constraint when it was made with its table, a bare unique index when
        // it was added later; the snapshot does not say which, so drop whichever exists.
        Op::DropUnique { name, .. } => vec![
            format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(t), quote(name)),
            format!("DROP INDEX IF EXISTS {};", quote(name)),
        ],
        Op::DropIndex { name, .. } => vec![format!("DROP INDEX IF EXISTS {};", quote(name))],
        Op::AddCheck { check, .. } => add_constraint_not_valid(t, &check.name, &format!("CHECK ({})", check.expression), dialect),
        Op::AddForeignKey { foreign_key, .. } => add_constraint_not_valid(t, &foreign_key.name, &foreign_key_clause(foreign_key), dialect),
        Op::DropCheck { name, .. } | Op::DropForeignKey { name, .. } => {
            vec![format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(t), quote(name))]
        }
        Op::RenameConstraint { from, to, .. } => vec![format!("ALTER TABLE {} RENAME CONSTRAINT {} TO {};", quote(t), quote(from), quote(to))],
        Op::RenameIndex { from, index, .. } if strategy == Strategy::RecreateIndexAsync => {
            let mut out = Vec::new();
            if index.unique {
                // A unique made with its table is a constraint; one added later is an index.
                out.push(format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(t), quote(from)));
            }
            out.push(format!("DROP INDEX IF EXISTS {};", quote(from)));
            out.push(create_index(t, &index.name, &index.columns, index.unique, Strategy::IndexAsync));
            out
        }
        // Renaming the index of a unique constraint renames the constraint too.
        Op::RenameIndex { from, index, .. } => vec![format!("ALTER INDEX {} RENAME TO {};", quote(from), quote(&index.name))],
    }
}

/// Lays statements out as a migration file: one statement per chunk, drizzle-kit's
/// breakpoint between chunks, a trailing newline.
pub fn migration_file(statements: &[String]) -> String {
    let mut out = statements.join(&format!("\n{BREAKPOINT}\n"));
    out.push('\n');
    out
}

/// Splits a migration file back into statements (the inverse of [`migration_file`]);
/// empty chunks and chunks holding only comments are dropped.
pub fn split_statements(file: &str) -> Vec<String> {
    file.split(BREAKPOINT)
        .map(str::trim)
        .filter(|chunk| chunk.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--")))
        .map(str::to_owned)
        .collect()
}
