//! The planner: dialect-neutral operations → SQL statements legal on the target dialect.
//!
//! Every decision comes from [`crate::compile::rules`]; this module only renders. It never writes a
//! statement the target rejects: what the dialect cannot do is refused here, at generate
//! time, with the alternative.

use crate::compile::diff::{Changes, Op};
use crate::schema::model::{Column, ForeignKey, Index, Schema, Table};
use crate::sql::directive;
use crate::sql::ident::{quote, quote_list};
use crate::compile::recreate;
use crate::compile::rules::{self, ChangeKind, Dialect, Strategy};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

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


/// Plans `changes` (towards `next`) for `dialect`. All refusals are collected before
/// returning.
pub fn plan(changes: &Changes, next: &Schema, dialect: Dialect) -> Result<Vec<String>, PlanError> {
    let ops = &changes.ops;
    // Tables this dialect must rebuild: every other change to them is part of the rebuild.
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
        // A rebuilt table's renames run first, so the copy reads the columns under their new
        // names; its dropped constraints and indexes go where drops go, before any table
        // is dropped (one of them may reference it) and before the rebuild.
        let before_rebuild = matches!(op, Op::RenameTable { .. } | Op::RenameColumn { .. } | Op::DropForeignKey { .. } | Op::DropCheck { .. } | Op::DropIndex { .. } | Op::DropUnique { .. });
        if rebuilt.contains(op.table()) && !before_rebuild {
            if rules::strategy(kind, dialect) == Strategy::Recreate && planned_rebuilds.insert(op.table()) {
                match rebuild(changes, next, op.table(), dialect) {
                    Ok(steps) => statements.extend(steps),
                    Err(reason) => refusals.push(Refusal { change: op.to_string(), kind, reason }),
                }
            }
            continue;
        }
        // A column that becomes NOT NULL gives its existing NULLs its `fill`, else its
        // default (the recreation on DSQL does the same in its copy).
        if let Op::SetNotNull { table, column } = op
            && let Some(value) = changes.fill_value(next, table, column)
        {
            statements.push(format!("UPDATE {} SET {} = {value} WHERE {} IS NULL;", quote(table), quote(column), quote(column)));
        }
        // A NOT NULL column added with a `fill` other than its default: the fill is the
        // default while the column is added (filling the existing rows), then the real one.
        if let Op::AddColumn { table, column } = op
            && column.not_null
            && rules::strategy(kind, dialect) == Strategy::Plain
            && let Some(fill) = changes.fill(table, &column.name).filter(|f| Some(*f) != column.default.as_deref())
        {
            let filled = Column { default: Some(fill.to_owned()), ..column.clone() };
            statements.push(format!("ALTER TABLE {} ADD COLUMN {};", quote(table), column_definition(&filled, dialect)));
            statements.push(match &column.default {
                Some(default) => alter_column(table, &column.name, &format!("SET DEFAULT {default}")),
                None => alter_column(table, &column.name, "DROP DEFAULT"),
            });
            continue;
        }
        match rules::strategy(kind, dialect) {
            Strategy::NotYetSupported => refusals.push(Refusal { change: op.to_string(), kind, reason: not_yet_reason(dialect) }),
            Strategy::AddThenBackfill if next.tables.get(op.table()).is_none_or(|t| t.primary_key.is_none()) => refusals.push(Refusal {
                change: op.to_string(),
                kind,
                reason: format!(
                    "`{}` has no primary key to backfill its rows in batches by; give it one in an earlier migration, or add the column without a default",
                    op.table()
                ),
            }),
            Strategy::Unsupported => refusals.push(Refusal { change: op.to_string(), kind, reason: format!("{dialect} cannot do this") }),
            strategy => statements.extend(render(op, strategy, dialect)),
        }
    }
    if refusals.is_empty() { Ok(statements) } else { Err(PlanError::Refused { dialect, refusals }) }
}

/// Foreign keys of tables other than `table` that reference it: `(their table, key)`.
fn referencing<'a>(schema: &'a Schema, table: &'a str) -> impl Iterator<Item = (&'a str, &'a ForeignKey)> {
    schema
        .tables
        .values()
        .filter(move |u| u.name != table)
        .flat_map(move |u| u.foreign_keys.values().filter(move |fk| fk.references_table == table).map(move |fk| (u.name.as_str(), fk)))
}

/// The recreation of `table` (see [`crate::compile::recreate`]), placed where its first change
/// needing it stood; or why it cannot be planned.
fn rebuild(changes: &Changes, next: &Schema, table: &str, dialect: Dialect) -> Result<Vec<String>, String> {
    let (Some(from), Some(to)) = (changes.previous.tables.get(table), next.tables.get(table)) else {
        return Err(format!("`{table}` is not in both the last snapshot and the code"));
    };
    let Some(old_key) = &from.primary_key else {
        return Err(format!("`{table}` has no primary key to copy its rows in batches by; give it one in an earlier migration, then make this change"));
    };
    let new_table = format!("{table}{}", recreate::NEW_SUFFIX);
    let old_table = format!("{table}{}", recreate::OLD_SUFFIX);
    if new_table.len() > recreate::MAX_IDENTIFIER {
        return Err(format!("`{table}` is too long a name to rebuild beside itself (`{new_table}` exceeds {} bytes)", recreate::MAX_IDENTIFIER));
    }

    // Columns the copy writes, and from what; new columns take their `fill`, else their
    // default from the INSERT itself.
    let (mut columns, mut expressions) = (Vec::new(), Vec::new());
    for column in &to.columns {
        let Some(old) = from.column(&column.name) else {
            if let Some(fill) = changes.fill(table, &column.name) {
                columns.push(quote(&column.name));
                expressions.push(fill.to_owned());
            } else if column.not_null && column.default.is_none() {
                return Err(format!(
                    "`{table}.{}` is added as NOT NULL without a default, so the existing rows have no value for it; give it a `default`, or a `fill` for the existing rows",
                    column.name
                ));
            }
            continue;
        };
        let mut expr = quote(&column.name);
        if old.sql_type != column.sql_type {
            expr = format!("{expr}::{}", column.sql_type);
        }
        // A column that becomes NOT NULL gives its existing NULLs its fill or default.
        if column.not_null && !old.not_null
            && let Some(value) = changes.fill_value(next, table, &column.name)
        {
            expr = format!("COALESCE({expr}, {value})");
        }
        columns.push(quote(&column.name));
        expressions.push(expr);
    }

    let mut steps: Vec<(String, String)> = Vec::new();
    // Other tables' keys pointing at the old table would stop it from being dropped.
    let mut dropped = BTreeSet::new();
    // (A referencing table dropped by this migration is gone by now.)
    for (u, fk) in referencing(&changes.previous, table).filter(|(u, _)| next.tables.contains_key(*u)).chain(referencing(next, table)) {
        if dropped.insert((u, fk.name.as_str())) {
            steps.push((
                format!("drop foreign key {} of {}", quote(&fk.name), quote(u)),
                format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(u), quote(&fk.name)),
            ));
        }
    }
    // The key's and the uniques' names are index names, unique per schema: the old table's
    // move aside so the new table can take them. (Uniques dropped by this migration are
    // gone already.)
    let dropped_uniques: BTreeSet<&str> = changes.ops.iter().filter_map(|op| match op {
        Op::DropUnique { table: t, name } if t == table => Some(name.as_str()),
        _ => None,
    }).collect();
    let mut parked = Vec::new();
    if to.primary_key.is_some() {
        parked.push(("the key's", old_key.name.as_str()));
    }
    parked.extend(from.uniques.keys().filter(|u| !dropped_uniques.contains(u.as_str())).map(|u| ("a unique's", u.as_str())));
    for (whose, name) in parked {
        let aside = format!("{name}{}", recreate::OLD_SUFFIX);
        if aside.len() > recreate::MAX_IDENTIFIER {
            return Err(format!("`{name}` on `{table}` is too long a name to move aside while the table is rebuilt (`{aside}` exceeds {} bytes); rename it in an earlier migration", recreate::MAX_IDENTIFIER));
        }
        steps.push((
            format!("free {whose} name for the new table"),
            format!("ALTER TABLE {} RENAME CONSTRAINT {} TO {};", quote(table), quote(name), quote(&aside)),
        ));
    }
    // A key referencing the table itself would follow the old table, so it is added last.
    let mut shape = to.clone();
    shape.name = new_table.clone();
    let self_references: Vec<String> = to.foreign_keys.values().filter(|fk| fk.references_table == table).map(|fk| fk.name.clone()).collect();
    steps.push(("create the new table".into(), create_table(&shape, &self_references, dialect)));
    steps.push((
        "copy the rows in batches, check the counts, copy the grants".into(),
        directive::copy_statement(table, &new_table, &columns, &expressions),
    ));
    steps.push(("swap: move the old table aside".into(), format!("ALTER TABLE {} RENAME TO {};", quote(table), quote(&old_table))));
    steps.push(("swap: put the new table in its place".into(), format!("ALTER TABLE {} RENAME TO {};", quote(&new_table), quote(table))));
    steps.push(("drop the old table".into(), format!("DROP TABLE IF EXISTS {};", quote(&old_table))));
    for i in to.indexes.values() {
        steps.push(("recreate an index".into(), create_index(table, &i.name, &i.columns, i.unique, Strategy::IndexAsync)));
    }
    let added_anyway = |u: &str, name: &str| {
        changes.ops.iter().any(|op| match op {
            Op::AddForeignKey { table, foreign_key } => table == u && foreign_key.name == name,
            Op::CreateTable { table, deferred_fks } => table.name == u && deferred_fks.iter().any(|d| d == name),
            _ => false,
        })
    };
    let self_keys = to.foreign_keys.values().filter(|fk| fk.references_table == table).map(|fk| (table, fk));
    for (u, fk) in self_keys.chain(referencing(next, table).filter(|(u, fk)| !added_anyway(u, &fk.name))) {
        let [add, validate] = add_constraint_not_valid(u, &fk.name, &foreign_key_clause(fk), dialect);
        steps.push((format!("add back foreign key {} of {}", quote(&fk.name), quote(u)), add));
        steps.push((format!("validate foreign key {} of {}", quote(&fk.name), quote(u)), validate));
    }
    Ok(recreate::label_steps(table, steps))
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

fn not_yet_reason(dialect: Dialect) -> String {
    format!(
        "not supported on {dialect} yet: Aurora DSQL cannot change this in place, and tablewright does not build it yet. \
         Keep the old definition, or add a new column or table and move the data in a custom migration (`generate --custom`)"
    )
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
fn add_constraint_not_valid(table: &str, name: &str, body: &str, dialect: Dialect) -> [String; 2] {
    let validate_mode = if dialect == Dialect::Dsql { " ASYNC" } else { "" };
    [
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
        Op::AddColumn { column, .. } => match (&column.default, strategy) {
            (Some(default), Strategy::AddThenBackfill) => {
                let bare = Column { default: None, ..column.clone() };
                vec![
                    format!("ALTER TABLE {} ADD COLUMN {};", quote(t), column_definition(&bare, dialect)),
                    alter_column(t, &column.name, &format!("SET DEFAULT {default}")),
                    directive::backfill_statement(t, &column.name, default),
                ]
            }
            _ => vec![format!("ALTER TABLE {} ADD COLUMN {};", quote(t), column_definition(column, dialect))],
        },
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
        Op::AddUnique { unique, .. } => vec![
            create_index(t, &unique.name, &unique.columns, true, Strategy::IndexConcurrently),
            format!("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {};", quote(t), quote(&unique.name), quote(&unique.name)),
        ],
        // Earlier versions added a unique to an existing table as a bare unique index;
        // the second statement removes such an index, and is a no-op otherwise.
        Op::DropUnique { name, .. } => vec![
            format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(t), quote(name)),
            format!("DROP INDEX IF EXISTS {};", quote(name)),
        ],
        Op::DropIndex { name, .. } => vec![format!("DROP INDEX IF EXISTS {};", quote(name))],
        Op::AddCheck { check, .. } => add_constraint_not_valid(t, &check.name, &format!("CHECK ({})", check.expression), dialect).into(),
        Op::AddForeignKey { foreign_key, .. } => add_constraint_not_valid(t, &foreign_key.name, &foreign_key_clause(foreign_key), dialect).into(),
        Op::DropCheck { name, .. } | Op::DropForeignKey { name, .. } => {
            vec![format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(t), quote(name))]
        }
        Op::RenameConstraint { from, to, .. } => vec![format!("ALTER TABLE {} RENAME CONSTRAINT {} TO {};", quote(t), quote(from), quote(to))],
        Op::RenameIndex { from, index, .. } if strategy == Strategy::RecreateIndexAsync => vec![
            format!("DROP INDEX IF EXISTS {};", quote(from)),
            create_index(t, &index.name, &index.columns, index.unique, Strategy::IndexAsync),
        ],
        Op::RenameIndex { from, index, .. } => vec![format!("ALTER INDEX {} RENAME TO {};", quote(from), quote(&index.name))],
    }
}

