//! The diff engine: previous snapshot + desired schema → dialect-neutral operations.
//!
//! Renames come only from `renamed_from` hints; anything missing without a hint is a drop,
//! and a drop needs an explicit allow. Every problem is collected before returning, so one
//! run shows all the decisions a user has to make.

use crate::compile::ops::Op;
use crate::schema::desired::{AllowDrops, DesiredSchema, Location};
use crate::schema::model::{EnumType, ForeignKey, Index, Schema, SqlExpr, Table};
use crate::schema::validate::{self, Problem};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A decision the diff will not take on its own: data would be dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// A table of the previous snapshot has no struct any more.
    DropTable {
        /// Its name.
        table: String,
    },
    /// A column of the previous snapshot has no field any more.
    DropColumn {
        /// Its table (new name).
        table: String,
        /// Its name.
        column: String,
        /// The struct, where `renamed_from` or `allow_drop` would go.
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<Location>,
    },
}

impl Decision {
    /// The two ways out, for people and machines.
    pub fn ways_out(&self) -> Vec<String> {
        match self {
            Decision::DropTable { table } => vec![
                format!(
                    "if a struct now describes this table under another name, add `#[table(renamed_from = \"{}\")]` to it",
                    crate::schema::model::bare_table_name(table)
                ),
                format!("to drop the table and its data, run `generate --allow-drop {table}`"),
            ],
            Decision::DropColumn { table, column, .. } => vec![
                format!(
                    "if a field now holds this column under another name, add `#[column(renamed_from = \"{column}\")]` to it"
                ),
                format!(
                    "to drop the column and its data, add `#[table(allow_drop({column}))]` to the struct or run `generate --allow-drop {table}.{column}`"
                ),
            ],
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::DropTable { table } => write!(
                f,
                "table `{table}` is in the last snapshot but no struct describes it"
            ),
            Decision::DropColumn { table, column, .. } => {
                write!(
                    f,
                    "column `{table}.{column}` is in the last snapshot but no field describes it"
                )
            }
        }
    }
}

/// Why the diff produced no operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// Hints or references that name nothing, or conflict.
    #[error("schema: {} problem(s) in the declared schema; nothing was written", .0.len())]
    Problems(Vec<Problem>),
    /// Drops that nobody allowed.
    #[error("schema: {} change(s) would drop data and need a decision; nothing was written", .0.len())]
    UnresolvedDrops(Vec<Decision>),
}

/// What [`diff`] found: the operations, and the previous schema with the declared renames
/// applied (what the database holds once the renames have run), which a planner needs
/// when it rebuilds a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// In the order they must run.
    pub ops: Vec<Op>,
    /// The previous schema under the new names.
    pub previous: Schema,
    /// `#[column(fill)]` values, by table and column.
    pub fills: BTreeMap<String, BTreeMap<String, SqlExpr>>,
}

impl Changes {
    /// The `#[column(fill)]` of `table.column`, if the code gives one.
    pub fn fill(&self, table: &str, column: &str) -> Option<&SqlExpr> {
        self.fills.get(table)?.get(column)
    }

    /// What the existing rows of `table.column` get when it becomes NOT NULL: its `fill`,
    /// else its default in `next`.
    pub(crate) fn fill_value<'a>(
        &'a self,
        next: &'a Schema,
        table: &str,
        column: &str,
    ) -> Option<&'a SqlExpr> {
        self.fill(table, column)
            .or_else(|| next.tables.get(table)?.column(column)?.default.as_ref())
    }
}

/// Computes the operations that turn `prev` into `desired`.
pub fn diff(
    prev: &Schema,
    desired: &DesiredSchema,
    allow: &AllowDrops,
) -> Result<Changes, DiffError> {
    let next = &desired.schema;
    let mut problems = validate::problems(desired);
    let mut decisions = Vec::new();

    // 1. Which previous table each desired table continues (by name or by declared rename).
    let mut table_origin: BTreeMap<String, String> = BTreeMap::new(); // new name -> prev name
    let mut renames = Vec::new();
    for name in next.tables.keys() {
        if prev.tables.contains_key(name) {
            table_origin.insert(name.clone(), name.clone());
            continue;
        }
        let source = desired.sources.get(name);
        if let Some(hint) = source.and_then(|s| s.renamed_from.as_ref()) {
            if next.tables.contains_key(&hint.from) {
                problems.push(Problem::at(
                    hint,
                    format!(
                        "`renamed_from = \"{}\"` on table `{name}`: a struct still describes `{}`",
                        hint.from, hint.from
                    ),
                ));
            } else if prev.tables.contains_key(&hint.from) {
                table_origin.insert(name.clone(), hint.from.clone());
                renames.push(Op::RenameTable {
                    from: hint.from.clone(),
                    to: name.clone(),
                });
            } else {
                problems.push(Problem::at(hint, format!(
                    "`renamed_from = \"{}\"` on table `{name}` names no table of the last snapshot; remove it or correct the name",
                    hint.from
                )));
            }
        }
    }
    let continued: BTreeSet<&String> = table_origin.values().collect();
    let dropped_tables: Vec<String> = prev
        .tables
        .keys()
        .filter(|t| !continued.contains(t))
        .cloned()
        .collect();
    for t in &dropped_tables {
        if !allow.tables.contains(t) {
            decisions.push(Decision::DropTable { table: t.clone() });
        }
    }

    // 2. Column origins per continued table, and the previous schema with every rename applied,
    //    so that the rest of the comparison is by name.
    let mut column_origin: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new(); // table -> new col -> prev col
    let mut column_ops = Vec::new();
    for (new_name, prev_name) in &table_origin {
        let (pt, nt) = (&prev.tables[prev_name], &next.tables[new_name]);
        let source = desired.sources.get(new_name);
        let mut origins = BTreeMap::new();
        for column in &nt.columns {
            if pt.column(&column.name).is_some() {
                origins.insert(column.name.clone(), column.name.clone());
                continue;
            }
            if let Some(hint) = source.and_then(|s| s.column_renames.get(&column.name)) {
                if pt.column(&hint.from).is_some() {
                    origins.insert(column.name.clone(), hint.from.clone());
                    column_ops.push(Op::RenameColumn {
                        table: new_name.clone(),
                        from: hint.from.clone(),
                        to: column.name.clone(),
                    });
                } else {
                    problems.push(Problem::at(hint, format!(
                        "`renamed_from = \"{}\"` on column `{new_name}.{}` names no column of `{prev_name}` in the last snapshot; remove it or correct the name",
                        hint.from, column.name
                    )));
                }
            }
        }
        let kept: BTreeSet<&String> = origins.values().collect();
        for column in pt.columns.iter().filter(|c| !kept.contains(&c.name)) {
            let allowed = allow
                .columns
                .contains(&(new_name.clone(), column.name.clone()))
                || allow
                    .columns
                    .contains(&(prev_name.clone(), column.name.clone()))
                || source.is_some_and(|s| s.allow_drop.contains(&column.name));
            if !allowed {
                decisions.push(Decision::DropColumn {
                    table: new_name.clone(),
                    column: column.name.clone(),
                    location: source.and_then(|s| s.location.clone()),
                });
            }
        }
        column_origin.insert(new_name.clone(), origins);
    }

    let enum_changes = enum_changes(prev, desired, allow, &mut problems);
    // A table's rows are a type of its name: a table and an enum cannot trade a name in
    // one migration (each would be made before the other goes).
    for name in next
        .enums
        .keys()
        .filter(|n| !prev.enums.contains_key(*n) && prev.tables.contains_key(*n))
    {
        problems.push(Problem { message: format!("enum type `{name}` takes the name of the table `{name}` of the last snapshot: drop or rename the table in an earlier migration"), location: desired.enum_sources.get(name).and_then(|s| s.location.clone()) });
    }
    for name in next
        .tables
        .keys()
        .filter(|n| !prev.tables.contains_key(*n) && prev.enums.contains_key(*n))
    {
        problems.push(Problem { message: format!("table `{name}` takes the name of the enum type `{name}` of the last snapshot: drop or rename the enum in an earlier migration"), location: desired.sources.get(name).and_then(|s| s.location.clone()) });
    }
    if !problems.is_empty() {
        return Err(DiffError::Problems(problems));
    }
    if !decisions.is_empty() {
        return Err(DiffError::UnresolvedDrops(decisions));
    }

    let renamed_prev = apply_renames(prev, &table_origin, &column_origin);
    let mut plan = Phases::default();
    for change in enum_changes {
        match change {
            EnumChange::Create(e) => plan.enums_first.push(Op::CreateEnum {
                enum_type: e.clone(),
            }),
            EnumChange::Drop(name) => plan.enums_last.push(Op::DropEnum { name }),
            EnumChange::Alter { renames, adds } => {
                plan.enums_first.extend(renames.into_iter().chain(adds))
            }
            EnumChange::Recreate { renames, from, to } => {
                let mut dependents = enum_dependents(&renamed_prev, next, &from.sql_type());
                // The old type waits under `<name>__tw_old` while the columns move.
                if crate::schema::model::bare_table_name(&to.name).len() + "__tw_old".len()
                    > crate::schema::model::MAX_IDENTIFIER_BYTES
                {
                    dependents.push(
                        "its name, with `__tw_old` added while it is rebuilt, exceeds 63 bytes and"
                            .to_owned(),
                    );
                }
                if !dependents.is_empty() {
                    let location = desired
                        .enum_sources
                        .get(&to.name)
                        .and_then(|s| s.location.clone());
                    return Err(DiffError::Problems(dependents.into_iter().map(|what| Problem {
                        message: format!("enum type `{}` is rebuilt (a value removed or the order changed), and {what} would not survive the columns' move to the new type: change or drop it in an earlier migration, or keep the values and their order", to.name),
                        location: location.clone(),
                    }).collect()));
                }
                plan.enums_first.extend(renames);
                let (columns, leaving) = enum_columns(&renamed_prev, next, &from.sql_type());
                plan.enums_rebuilt.push(Op::RecreateEnum {
                    from,
                    to: to.clone(),
                    columns,
                    leaving,
                });
            }
        }
    }
    plan.renames.extend(renames);
    plan.renames.extend(column_ops);
    for t in &dropped_tables {
        plan.drop_tables.push(t.clone());
    }

    // 3. Tables that continue: compare columns and constraints by name.
    for (name, nt) in &next.tables {
        match renamed_prev.tables.get(name) {
            Some(pt) if table_origin.contains_key(name) => diff_table(pt, nt, &mut plan),
            _ => plan.new_tables.push(nt.clone()),
        }
    }
    let ops = plan.into_ops(&renamed_prev);
    let fills = desired
        .sources
        .iter()
        .filter(|(_, s)| !s.column_fills.is_empty())
        .map(|(t, s)| (t.clone(), s.column_fills.clone()))
        .collect();
    Ok(Changes {
        ops,
        previous: renamed_prev,
        fills,
    })
}

/// What becomes of one enum type.
pub(crate) enum EnumChange<'a> {
    Create(&'a EnumType),
    Drop(String),
    /// Values renamed, then values added: the old values keep their order.
    Alter {
        renames: Vec<Op>,
        adds: Vec<Op>,
    },
    /// Values renamed on the old type, then the type rebuilt with the new values (some
    /// removed, or the order changed). `from` is the old type with the renames applied.
    Recreate {
        renames: Vec<Op>,
        from: EnumType,
        to: &'a EnumType,
    },
}

/// The enum types' changes, and the problems with them: a `renamed_from` naming no value,
/// a value removed without an allow (rows holding it would fail the change).
pub(crate) fn enum_changes<'a>(
    prev: &Schema,
    desired: &'a DesiredSchema,
    allow: &AllowDrops,
    problems: &mut Vec<Problem>,
) -> Vec<EnumChange<'a>> {
    let mut out = Vec::new();
    for (name, new) in &desired.schema.enums {
        let Some(old) = prev.enums.get(name) else {
            out.push(EnumChange::Create(new));
            continue;
        };
        if old == new {
            continue;
        }
        let source = desired.enum_sources.get(name);
        let location = source.and_then(|s| s.location.clone());
        let mut renames = Vec::new();
        let mut values = old.values.clone();
        for (to, hint) in source.map(|s| &s.value_renames).into_iter().flatten() {
            match values.iter().position(|v| *v == hint.from) {
                Some(at) if !old.values.contains(to) => {
                    values[at] = to.clone();
                    renames.push(Op::RenameEnumValue { name: name.clone(), from: hint.from.clone(), to: to.clone() });
                }
                // Already renamed in an earlier migration: the hint may stay.
                _ if old.values.contains(to) => {}
                _ => problems.push(Problem::at(hint, format!("`renamed_from = \"{}\"` on value `{to}` of enum type `{name}` names no value of the last snapshot; remove it or correct the name", hint.from))),
            }
        }
        let removed: Vec<&String> = values.iter().filter(|v| !new.values.contains(v)).collect();
        for value in &removed {
            let allowed = allow.columns.contains(&(name.clone(), (*value).clone()))
                || source.is_some_and(|s| s.allow_drop.contains(*value));
            if !allowed {
                problems.push(Problem {
                    message: format!(
                        "value `{value}` of enum type `{name}` is removed, and rows holding it would fail the change: allow it with `#[enum_type(allow_drop(\"{value}\"))]` or `--allow-drop {name}.{value}`, rename it with `#[value(renamed_from = \"{value}\")]`, or keep it"
                    ),
                    location: location.clone(),
                });
            }
        }
        let kept: Vec<&String> = new.values.iter().filter(|v| values.contains(v)).collect();
        if removed.is_empty() && kept.iter().copied().eq(values.iter()) {
            // Each new value goes before the next value that is already there.
            let adds = new
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| !values.contains(v))
                .map(|(i, v)| Op::AddEnumValue {
                    name: name.clone(),
                    value: v.clone(),
                    before: new.values[i + 1..]
                        .iter()
                        .find(|w| values.contains(w))
                        .cloned(),
                })
                .collect();
            out.push(EnumChange::Alter { renames, adds });
        } else {
            out.push(EnumChange::Recreate {
                renames,
                from: EnumType {
                    name: name.clone(),
                    values,
                },
                to: new,
            });
        }
    }
    out.extend(
        prev.enums
            .keys()
            .filter(|n| !desired.schema.enums.contains_key(*n))
            .map(|n| EnumChange::Drop(n.clone())),
    );
    out
}

/// What a rebuild of the enum `sql_type` would break: PostgreSQL re-creates a column's
/// checks and indexes after `ALTER COLUMN .. TYPE` from their text, which then names the
/// old type's values; a foreign key between two columns of it meets two types; an array
/// column of it is not moved. (What this migration drops goes before the rebuild; what it
/// adds comes after.)
fn enum_dependents(prev: &Schema, next: &Schema, sql_type: &str) -> Vec<String> {
    let mut out = Vec::new();
    for table in prev.tables.values() {
        let Some(kept) = next.tables.get(&table.name) else {
            continue;
        };
        let of_enum: Vec<&str> = table
            .columns
            .iter()
            .filter(|c| c.sql_type == sql_type)
            .map(|c| c.name.as_str())
            .collect();
        for c in table.columns.iter().filter(|c| {
            c.sql_type
                .as_str()
                .strip_prefix(sql_type)
                .is_some_and(|rest| rest.starts_with('['))
        }) {
            out.push(format!("the array column `{}.{}`", table.name, c.name));
        }
        if of_enum.is_empty() {
            continue;
        }
        let names = |text: &str| {
            crate::schema::sql_text::expression_columns(text)
                .unwrap_or_default()
                .into_iter()
                .any(|c| of_enum.contains(&c.as_str()))
        };
        for check in table
            .checks
            .values()
            .filter(|c| names(&c.expression) && kept.checks.contains_key(&c.name))
        {
            out.push(format!("check `{}` of `{}`", check.name, table.name));
        }
        for index in table
            .indexes
            .values()
            .filter(|i| kept.indexes.contains_key(&i.name))
        {
            if index.expressions().any(|e| names(e)) {
                out.push(format!(
                    "index `{}` of `{}` (an expression or `WHERE` over the column)",
                    index.name, table.name
                ));
            }
        }
        for fk in table.foreign_keys.values().filter(|fk| {
            fk.columns.iter().any(|c| of_enum.contains(&c.as_str()))
                && kept.foreign_keys.contains_key(&fk.name)
        }) {
            out.push(format!("foreign key `{}` of `{}`", fk.name, table.name));
        }
    }
    out
}

/// The columns of type `sql_type` in `prev` (renames applied): those that keep it in
/// `next`, with their default there, and those that leave it (dropped, or another type).
#[allow(clippy::type_complexity)]
fn enum_columns(
    prev: &Schema,
    next: &Schema,
    sql_type: &str,
) -> (
    Vec<(String, String, Option<SqlExpr>)>,
    Vec<(String, String)>,
) {
    let (mut keep, mut leave) = (Vec::new(), Vec::new());
    for table in prev.tables.values() {
        for column in table.columns.iter().filter(|c| c.sql_type == sql_type) {
            match next
                .tables
                .get(&table.name)
                .and_then(|t| t.column(&column.name))
                .filter(|c| c.sql_type == sql_type)
            {
                Some(kept) => keep.push((
                    table.name.clone(),
                    column.name.clone(),
                    kept.default.clone(),
                )),
                // A dropped table is gone before the type is rebuilt.
                None if next.tables.contains_key(&table.name) => {
                    leave.push((table.name.clone(), column.name.clone()))
                }
                None => {}
            }
        }
    }
    (keep, leave)
}

/// The previous schema as it looks after the declared renames: tables and columns under
/// their new names, and references following them.
fn apply_renames(
    prev: &Schema,
    tables: &BTreeMap<String, String>,
    columns: &BTreeMap<String, BTreeMap<String, String>>,
) -> Schema {
    let table_new_name: BTreeMap<&str, &str> = tables
        .iter()
        .map(|(n, p)| (p.as_str(), n.as_str()))
        .collect();
    let column_new_name = |prev_table: &str, col: &str| -> String {
        let Some(new_table) = table_new_name.get(prev_table) else {
            return col.to_owned();
        };
        columns
            .get(*new_table)
            .and_then(|m| {
                m.iter()
                    .find(|(_, p)| p.as_str() == col)
                    .map(|(n, _)| n.clone())
            })
            .unwrap_or_else(|| col.to_owned())
    };
    let mut out = Schema {
        enums: prev.enums.clone(),
        ..Schema::default()
    };
    for (prev_name, table) in &prev.tables {
        let mut t = table.clone();
        let rename_cols = |cols: &mut Vec<String>| {
            for c in cols.iter_mut() {
                *c = column_new_name(prev_name, c);
            }
        };
        t.name = table_new_name
            .get(prev_name.as_str())
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| prev_name.clone());
        for c in &mut t.columns {
            c.name = column_new_name(prev_name, &c.name);
        }
        if let Some(pk) = &mut t.primary_key {
            rename_cols(&mut pk.columns);
        }
        for u in t.uniques.values_mut() {
            rename_cols(&mut u.columns);
        }
        // An index's expressions follow the renames too, as PostgreSQL rewrites them.
        let renamed: BTreeMap<String, String> = table
            .columns
            .iter()
            .map(|c| (c.name.clone(), column_new_name(prev_name, &c.name)))
            .filter(|(old, new)| old != new)
            .collect();
        for i in t.indexes.values_mut() {
            for c in i.named_columns_mut() {
                *c = column_new_name(prev_name, c);
            }
            if renamed.is_empty() {
                continue;
            }
            let follow = |e: &mut SqlExpr| {
                if let Some(text) = crate::schema::sql_text::with_columns_renamed(e, &renamed)
                    && let Ok(parsed) = SqlExpr::parse("columns", &text)
                {
                    *e = parsed;
                }
            };
            for key in &mut i.columns {
                if let crate::schema::model::KeyTarget::Expression(e) = &mut key.target {
                    follow(e);
                }
            }
            if let Some(p) = &mut i.predicate {
                follow(p);
            }
        }
        for fk in t.foreign_keys.values_mut() {
            rename_cols(&mut fk.columns);
            let target_prev = fk.references_table.clone();
            for c in &mut fk.references_columns {
                *c = column_new_name(&target_prev, c);
            }
            if let Some(n) = table_new_name.get(target_prev.as_str()) {
                fk.references_table = (*n).to_owned();
            }
        }
        out.tables.insert(t.name.clone(), t);
    }
    out
}

/// Operations grouped by the phase they must run in; see [`Phases::into_ops`].
#[derive(Default)]
struct Phases {
    renames: Vec<Op>,
    name_changes: Vec<Op>,
    /// Enum types made, and values renamed and added, before any table needs them.
    enums_first: Vec<Op>,
    /// Enum types rebuilt once the tables that used them are dropped, before new columns
    /// take them.
    enums_rebuilt: Vec<Op>,
    /// Enum types dropped once no column uses them.
    enums_last: Vec<Op>,
    drop_constraints: Vec<Op>,
    drop_tables: Vec<String>,
    new_tables: Vec<Table>,
    add_columns: Vec<Op>,
    alter_columns: Vec<Op>,
    primary_keys: Vec<Op>,
    after_primary_keys: Vec<Op>,
    drop_columns: Vec<Op>,
    add_indexes: Vec<Op>,
    add_constraints: Vec<Op>,
}

/// Matches named objects of one kind: same name and definition → nothing; same definition
/// under another name → rename; the rest → drop and add.
fn match_named<'a, T>(
    prev: &'a BTreeMap<String, T>,
    next: &'a BTreeMap<String, T>,
    same: impl Fn(&T, &T) -> bool,
) -> (Vec<(String, String)>, Vec<&'a T>, Vec<&'a T>) {
    let mut renames = Vec::new();
    let mut dropped: Vec<(&String, &T)> = prev
        .iter()
        .filter(|(n, p)| !next.get(*n).is_some_and(|x| same(p, x)))
        .collect();
    let mut added = Vec::new();
    for (name, n) in next {
        if prev.get(name).is_some_and(|p| same(p, n)) {
            continue;
        }
        if let Some(pos) = dropped
            .iter()
            .position(|(pn, p)| same(p, n) && !next.contains_key(*pn))
        {
            let (pn, _) = dropped.remove(pos);
            renames.push((pn.clone(), name.clone()));
        } else {
            added.push(n);
        }
    }
    (
        renames,
        dropped.into_iter().map(|(_, p)| p).collect(),
        added,
    )
}

fn diff_table(pt: &Table, nt: &Table, plan: &mut Phases) {
    let table = nt.name.clone();

    // Columns.
    for column in &nt.columns {
        let Some(pc) = pt.column(&column.name) else {
            plan.add_columns.push(Op::AddColumn {
                table: table.clone(),
                column: column.clone(),
            });
            continue;
        };
        let col = column.name.clone();
        let type_changes = pc.sql_type != column.sql_type;
        if type_changes {
            // PostgreSQL keeps the old default's expression, cast, across a type change
            // (`'a'::text` on a varchar column), or refuses when no cast exists: the default
            // goes first and is set again after, as a new table would have it.
            if pc.default.is_some() {
                plan.alter_columns.push(Op::DropDefault {
                    table: table.clone(),
                    column: col.clone(),
                });
            }
            plan.alter_columns.push(Op::AlterColumnType {
                table: table.clone(),
                column: col.clone(),
                from: pc.sql_type.clone(),
                to: column.sql_type.clone(),
                collation: column.collation.clone(),
            });
        }
        let in_new_pk = nt
            .primary_key
            .as_ref()
            .is_some_and(|pk| pk.columns.contains(&col));
        let in_old_pk = pt
            .primary_key
            .as_ref()
            .is_some_and(|pk| pk.columns.contains(&col));
        // A primary key implies NOT NULL; the key change itself carries that.
        if !pc.not_null && column.not_null && !in_new_pk {
            plan.alter_columns.push(Op::SetNotNull {
                table: table.clone(),
                column: col.clone(),
            });
        }
        if pc.not_null && !column.not_null {
            let op = Op::DropNotNull {
                table: table.clone(),
                column: col.clone(),
            };
            // PostgreSQL refuses DROP NOT NULL on a key column, so wait for the key change.
            if in_old_pk {
                plan.after_primary_keys.push(op)
            } else {
                plan.alter_columns.push(op)
            }
        }
        // An identity column takes no default: the identity goes before a default is set,
        // and comes after the old default is dropped.
        if pc.is_identity() && !column.is_identity() {
            plan.alter_columns.push(Op::DropIdentity {
                table: table.clone(),
                column: col.clone(),
            });
        }
        if pc.collation != column.collation && !type_changes {
            plan.alter_columns.push(Op::AlterCollation {
                table: table.clone(),
                column: col.clone(),
                sql_type: column.sql_type.clone(),
                collation: column.collation.clone(),
            });
        }
        match (&pc.default, &column.default) {
            (a, Some(b)) if type_changes || a.as_ref() != Some(b) => {
                plan.alter_columns.push(Op::SetDefault {
                    table: table.clone(),
                    column: col.clone(),
                    default: b.clone(),
                })
            }
            (Some(_), None) if !type_changes => plan.alter_columns.push(Op::DropDefault {
                table: table.clone(),
                column: col.clone(),
            }),
            _ => {}
        }
        match (&pc.identity, &column.identity) {
            (None, Some(identity)) => plan.alter_columns.push(Op::AddIdentity {
                table: table.clone(),
                column: col.clone(),
                identity: identity.clone(),
            }),
            (Some(from), Some(to)) if from != to => plan.alter_columns.push(Op::AlterIdentity {
                table: table.clone(),
                column: col.clone(),
                from: from.clone(),
                to: to.clone(),
            }),
            _ => {}
        }
    }
    for pc in &pt.columns {
        if nt.column(&pc.name).is_none() {
            plan.drop_columns.push(Op::DropColumn {
                table: table.clone(),
                column: pc.name.clone(),
            });
        }
    }

    // Primary key: same columns under a new name is a rename; other columns is a change.
    match (&pt.primary_key, &nt.primary_key) {
        (Some(a), Some(b)) if a.columns == b.columns => {
            if a.name != b.name {
                plan.name_changes.push(Op::RenameConstraint {
                    table: table.clone(),
                    from: a.name.clone(),
                    to: b.name.clone(),
                    index_backed: true,
                });
            }
        }
        (None, None) => {}
        (from, to) => plan.primary_keys.push(Op::ChangePrimaryKey {
            table: table.clone(),
            from: from.clone(),
            to: to.clone(),
        }),
    }

    let (renames, dropped, added) =
        match_named(&pt.uniques, &nt.uniques, |a, b| a.columns == b.columns);
    for (from, to) in renames {
        // Renaming a unique constraint renames its index too.
        plan.name_changes.push(Op::RenameConstraint {
            table: table.clone(),
            from,
            to,
            index_backed: true,
        });
    }
    for u in dropped {
        plan.drop_constraints.push(Op::DropUnique {
            table: table.clone(),
            name: u.name.clone(),
        });
    }
    for u in added {
        plan.add_indexes.push(Op::AddUnique {
            table: table.clone(),
            unique: u.clone(),
        });
    }

    // Compared in the comparable spelling: an expression written another way, or followed
    // through a rename, is the same index.
    let same_index = |a: &Index, b: &Index| {
        let unnamed = |i: &Index| Index {
            name: String::new(),
            ..crate::schema::compare::comparable_index(i)
        };
        unnamed(a) == unnamed(b)
    };
    let (renames, dropped, added) = match_named(&pt.indexes, &nt.indexes, same_index);
    for (from, to) in renames {
        plan.name_changes.push(Op::RenameIndex {
            table: table.clone(),
            from,
            index: nt.indexes[&to].clone(),
        });
    }
    for i in dropped {
        plan.drop_constraints.push(Op::DropIndex {
            table: table.clone(),
            name: i.name.clone(),
        });
    }
    for i in added {
        plan.add_indexes.push(Op::CreateIndex {
            table: table.clone(),
            index: i.clone(),
            new_table: false,
        });
    }

    let (renames, dropped, added) = match_named(
        &pt.foreign_keys,
        &nt.foreign_keys,
        ForeignKey::same_definition,
    );
    for (from, to) in renames {
        plan.name_changes.push(Op::RenameConstraint {
            table: table.clone(),
            from,
            to,
            index_backed: false,
        });
    }
    for fk in dropped {
        plan.drop_constraints.push(Op::DropForeignKey {
            table: table.clone(),
            name: fk.name.clone(),
        });
    }
    for fk in added {
        plan.add_constraints.push(Op::AddForeignKey {
            table: table.clone(),
            foreign_key: fk.clone(),
        });
    }

    let (renames, dropped, added) =
        match_named(&pt.checks, &nt.checks, |a, b| a.expression == b.expression);
    for (from, to) in renames {
        plan.name_changes.push(Op::RenameConstraint {
            table: table.clone(),
            from,
            to,
            index_backed: false,
        });
    }
    for c in dropped {
        plan.drop_constraints.push(Op::DropCheck {
            table: table.clone(),
            name: c.name.clone(),
        });
    }
    for c in added {
        plan.add_constraints.push(Op::AddCheck {
            table: table.clone(),
            check: c.clone(),
        });
    }
}

impl Phases {
    /// Orders the phases so each statement only needs what earlier ones made: renames of
    /// tables and columns, drops of constraints and indexes (foreign keys first), dropped
    /// tables (dependents first), renames of constraints and indexes, new
    /// tables (dependencies first), column changes, key changes, dropped columns, and last
    /// the indexes and constraints that need the finished tables.
    fn into_ops(mut self, prev: &Schema) -> Vec<Op> {
        let mut ops = Vec::new();
        ops.append(&mut self.renames);
        ops.append(&mut self.enums_first);
        // Foreign keys go first: a dropped unique or key may be what one references.
        self.drop_constraints
            .sort_by_key(|op| !matches!(op, Op::DropForeignKey { .. }));
        ops.append(&mut self.drop_constraints);

        let dropped: BTreeMap<String, Table> = self
            .drop_tables
            .iter()
            .filter_map(|t| prev.tables.get(t).map(|x| (t.clone(), x.clone())))
            .collect();
        let mut drop_order = dependency_order(&dropped).0;
        drop_order.reverse();
        ops.extend(drop_order.into_iter().map(|table| Op::DropTable { table }));
        // After the drops, of constraints, indexes and whole tables, which may free the
        // names these take (`a` → `b` while `b` goes).
        ops.extend(order_name_changes(std::mem::take(&mut self.name_changes)));
        ops.append(&mut self.enums_rebuilt);

        let new_tables: BTreeMap<String, Table> = self
            .new_tables
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        let (create_order, cyclic) = dependency_order(&new_tables);
        let mut deferred = Vec::new();
        let mut new_table_indexes = Vec::new();
        for name in create_order {
            let table = new_tables[&name].clone();
            let deferred_fks: Vec<String> = table
                .foreign_keys
                .values()
                .filter(|fk| cyclic.contains(&(name.clone(), fk.name.clone())))
                .map(|fk| fk.name.clone())
                .collect();
            for fk_name in &deferred_fks {
                deferred.push(Op::AddForeignKey {
                    table: name.clone(),
                    foreign_key: table.foreign_keys[fk_name].clone(),
                });
            }
            new_table_indexes.extend(table.indexes.values().map(|i| Op::CreateIndex {
                table: name.clone(),
                index: i.clone(),
                new_table: true,
            }));
            ops.push(Op::CreateTable {
                table,
                deferred_fks,
            });
        }
        self.add_indexes.splice(0..0, new_table_indexes);
        ops.append(&mut self.add_columns);
        ops.append(&mut self.alter_columns);
        ops.append(&mut self.primary_keys);
        ops.append(&mut self.after_primary_keys);
        ops.append(&mut self.drop_columns);
        ops.append(&mut self.add_indexes);
        ops.append(&mut self.add_constraints);
        ops.extend(deferred);
        ops.append(&mut self.enums_last);
        ops
    }
}

/// The `(from, to)` names of a constraint or index rename.
fn rename_names(op: &Op) -> (&str, &str) {
    match op {
        Op::RenameConstraint { from, to, .. } => (from, to),
        Op::RenameIndex { from, index, .. } => (from, &index.name),
        _ => unreachable!("only renames of constraints and indexes are name changes"),
    }
}

/// Orders renames so that none takes a name another still holds (`b` → `c` before
/// `a` → `b`); a cycle (`a` ↔ `b`) goes through a temporary name.
fn order_name_changes(mut pending: Vec<Op>) -> Vec<Op> {
    let mut out = Vec::new();
    while !pending.is_empty() {
        let held: BTreeSet<String> = pending
            .iter()
            .map(|op| rename_names(op).0.to_owned())
            .collect();
        if let Some(i) = pending
            .iter()
            .position(|op| !held.contains(rename_names(op).1))
        {
            out.push(pending.remove(i));
            continue;
        }
        // Every target is still held: a cycle. Move the first one's name aside.
        let op = pending.remove(0);
        let from = rename_names(&op).0;
        let mut cut = from
            .len()
            .min(crate::schema::model::MAX_IDENTIFIER_BYTES - 8);
        while !from.is_char_boundary(cut) {
            cut -= 1;
        }
        let temporary = format!("{}__tw_tmp", &from[..cut]);
        let (aside, rest) = match op {
            Op::RenameConstraint {
                table,
                from,
                to,
                index_backed,
            } => (
                Op::RenameConstraint {
                    table: table.clone(),
                    from,
                    to: temporary.clone(),
                    index_backed,
                },
                Op::RenameConstraint {
                    table,
                    from: temporary,
                    to,
                    index_backed,
                },
            ),
            Op::RenameIndex { table, from, index } => (
                Op::RenameIndex {
                    table: table.clone(),
                    from,
                    index: Index {
                        name: temporary.clone(),
                        ..index.clone()
                    },
                },
                Op::RenameIndex {
                    table,
                    from: temporary,
                    index,
                },
            ),
            other => unreachable!("{other:?}"),
        };
        out.push(aside);
        pending.push(rest);
    }
    out
}

/// Orders tables so that referenced tables come first (a table may reference itself).
/// Returns the order and the foreign keys `(table, fk)` that close a cycle among these
/// tables; those must be added after every table exists.
fn dependency_order(tables: &BTreeMap<String, Table>) -> (Vec<String>, BTreeSet<(String, String)>) {
    let mut order = Vec::new();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut deferred = BTreeSet::new();
    let mut remaining: BTreeSet<String> = tables.keys().cloned().collect();
    while !remaining.is_empty() {
        let ready: Vec<String> = remaining
            .iter()
            .filter(|t| {
                tables[*t].foreign_keys.values().all(|fk| {
                    fk.references_table == **t
                        || !tables.contains_key(&fk.references_table)
                        || placed.contains(&fk.references_table)
                        || deferred.contains(&((*t).clone(), fk.name.clone()))
                })
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            // A cycle: defer the first table's unmet references and go on.
            let first = remaining
                .iter()
                .next()
                .expect("remaining is not empty")
                .clone();
            for fk in tables[&first].foreign_keys.values() {
                if fk.references_table != first && remaining.contains(&fk.references_table) {
                    deferred.insert((first.clone(), fk.name.clone()));
                }
            }
            continue;
        }
        for t in ready {
            remaining.remove(&t);
            placed.insert(t.clone());
            order.push(t);
        }
    }
    (order, deferred)
}

impl crate::error::Classified for DiffError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        match self {
            DiffError::Problems(_) => "schema",
            DiffError::UnresolvedDrops(_) => "decisions_required",
        }
    }

    fn items(&self) -> Vec<crate::error::ErrorItem> {
        use crate::error::ErrorItem;
        match self {
            DiffError::Problems(problems) => problems
                .iter()
                .map(|p| ErrorItem {
                    location: p.location.as_ref().map(Into::into),
                    ..ErrorItem::new("schema", &p.message)
                })
                .collect(),
            DiffError::UnresolvedDrops(decisions) => decisions
                .iter()
                .map(|d| {
                    let (kind, table, column, location) = match d {
                        Decision::DropTable { table } => ("drop_table", table, None, None),
                        Decision::DropColumn {
                            table,
                            column,
                            location,
                        } => (
                            "drop_column",
                            table,
                            Some(column.clone()),
                            location.as_ref().map(Into::into),
                        ),
                    };
                    ErrorItem {
                        table: Some(table.clone()),
                        column,
                        location,
                        fix: d.ways_out(),
                        ..ErrorItem::new(kind, d.to_string())
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Decision, DiffError};
    use crate::compile::fixtures::{diff, ops};

    /// A table `name` with an `i64` key `id` and the given fields and struct attributes.
    fn table(name: &str, attributes: &str, fields: &str) -> String {
        format!(
            "#[derive(Table)]\n#[table(name = \"{name}\")]\n{attributes}\npub struct T_{name} {{\n    #[column(primary_key)]\n    pub id: i64,\n{fields}\n}}\n"
        )
    }

    /// Every phase in one migration, each op after what it needs: renames first, then the
    /// drops (foreign keys before the uniques and indexes one may need, referencing tables
    /// before the tables they reference), renames of constraints, new tables, column
    /// changes, dropped columns, and last the indexes and constraints.
    #[test]
    fn phases_run_in_dependency_order() {
        let before = [
            table("authors", "#[index(columns(name))]", "    #[column(unique)]\n    pub name: String,\n    pub born: Option<i32>,\n    pub gone: String,"),
            table("shelves", "", ""),
            table("slots", "", "    #[column(references = \"shelves.id\")]\n    pub shelf_id: i64,"),
            table("zettels", "", "    #[column(references = \"authors.name\")]\n    pub author_name: String,"),
        ]
        .concat();
        let after = [
            r#"
#[derive(Table)]
#[table(name = "writers", renamed_from = "authors", allow_drop(gone))]
#[check(name = "writers_born_check", expr = "born > 0")]
pub struct Writer {
    #[column(primary_key)]
    pub id: i64,
    #[column(renamed_from = "name")]
    pub full_name: String,
    pub born: i32,
    #[column(references = "countries.code")]
    pub country_code: Option<String>,
}
"#
            .to_owned(),
            r#"
#[derive(Table)]
#[table(name = "countries")]
#[index(columns(name))]
pub struct Country {
    #[column(primary_key)]
    pub code: String,
    pub name: String,
}
"#
            .to_owned(),
            table("zettels", "", "    pub author_name: String,"),
        ]
        .concat();
        assert_eq!(
            ops(&before, &after, &["shelves", "slots"]),
            [
                "rename table `authors` to `writers`",
                "rename column `writers.name` to `full_name`",
                "drop foreign key `zettels_author_name_fkey` on `zettels`",
                "drop unique `authors_name_key` on `writers`",
                "drop index `authors_name_idx`",
                "drop table `slots`",
                "drop table `shelves`",
                "rename constraint `authors_pkey` to `writers_pkey` on `writers`",
                "create table `countries`",
                "add column `writers.country_code` (text)",
                "make `writers.born` NOT NULL",
                "drop column `writers.gone`",
                "create index `countries_name_idx` on `countries`",
                "add foreign key `writers_country_code_fkey` on `writers`",
                "add check `writers_born_check` on `writers`",
            ]
        );
    }

    /// A name a drop frees is taken after the drop; renames that would take a name another
    /// rename still holds wait for it; and a cycle goes through a temporary name.
    #[test]
    fn renames_of_constraints_and_indexes_never_take_a_held_name() {
        // The index `t_x_idx` goes; `custom` (same columns as the new `t_x_idx`) takes its name.
        let before = table(
            "t",
            "#[index(columns(x))]\n#[index(columns(y), name = \"custom\")]",
            "    pub x: i32,\n    pub y: i32,",
        );
        let after = table(
            "t",
            "#[index(columns(y), name = \"t_x_idx\")]",
            "    pub x: i32,\n    pub y: i32,",
        );
        assert_eq!(
            ops(&before, &after, &[]),
            ["drop index `t_x_idx`", "rename index `custom` to `t_x_idx`"]
        );

        // Across kinds: a unique `a` becomes `b` while the index `b` becomes `c`.
        let before = table(
            "t",
            "#[unique(columns(x), name = \"a\")]\n#[index(columns(y), name = \"b\")]",
            "    pub x: i32,\n    pub y: i32,",
        );
        let after = table(
            "t",
            "#[unique(columns(x), name = \"b\")]\n#[index(columns(y), name = \"c\")]",
            "    pub x: i32,\n    pub y: i32,",
        );
        assert_eq!(
            ops(&before, &after, &[]),
            [
                "rename index `b` to `c`",
                "rename constraint `a` to `b` on `t`"
            ]
        );

        // A swap: the unique `a` becomes `b` and the index `b` becomes `a`.
        let after = table(
            "t",
            "#[unique(columns(x), name = \"b\")]\n#[index(columns(y), name = \"a\")]",
            "    pub x: i32,\n    pub y: i32,",
        );
        assert_eq!(
            ops(&before, &after, &[]),
            [
                "rename constraint `a` to `a__tw_tmp` on `t`",
                "rename index `b` to `a`",
                "rename constraint `a__tw_tmp` to `b` on `t`"
            ]
        );
    }

    /// The same definition under a new name is a rename, for every kind; a changed one is a
    /// drop and an add.
    #[test]
    fn a_definition_kept_under_another_name_is_renamed() {
        let fields = "    pub x: i32,\n    #[column(references = \"t.id\", foreign_key_name = \"FK\")]\n    pub parent: Option<i64>,";
        let attributes = |suffix: &str| {
            format!(
                "#[unique(columns(x), name = \"u{suffix}\")]\n#[index(columns(parent), name = \"i{suffix}\")]\n#[check(name = \"c{suffix}\", expr = \"x > 0\")]"
            )
        };
        let before = table("t", &attributes("1"), &fields.replace("FK", "f1"));
        let after = table("t", &attributes("2"), &fields.replace("FK", "f2"));
        assert_eq!(
            ops(&before, &after, &[]),
            [
                "rename constraint `u1` to `u2` on `t`",
                "rename index `i1` to `i2`",
                "rename constraint `f1` to `f2` on `t`",
                "rename constraint `c1` to `c2` on `t`",
            ]
        );
        let changed = after.replace("x > 0", "x > 1").replace(
            "references = \"t.id\"",
            "references = \"t.id\", on_delete = \"cascade\"",
        );
        assert_eq!(
            ops(&before, &changed, &[]),
            [
                "drop foreign key `f1` on `t`",
                "drop check `c1` on `t`",
                "rename constraint `u1` to `u2` on `t`",
                "rename index `i1` to `i2`",
                "add foreign key `f2` on `t`",
                "add check `c2` on `t`",
            ]
        );
    }

    /// Column changes that depend on each other: a default goes before a type change and
    /// comes back after it; an identity is dropped before a default is set, and made after
    /// the default is dropped; a column leaving the key becomes nullable only after the key
    /// changes, and one joining it needs no `SET NOT NULL` of its own.
    #[test]
    fn column_changes_run_in_the_order_postgresql_accepts() {
        let before = table(
            "t",
            "",
            "    #[column(default = \"'x'\")]\n    pub code: String,",
        );
        let after = table(
            "t",
            "",
            "    #[column(sql_type = \"varchar(10)\", default = \"'x'\")]\n    pub code: String,",
        );
        assert_eq!(
            ops(&before, &after, &[]),
            [
                "drop default of `t.code`",
                "change type of `t.code` from text to character varying(10)",
                "set default of `t.code` to 'x'"
            ]
        );

        let before = table("t", "", "    #[column(default = \"0\")]\n    pub n: i64,");
        let after = table("t", "", "    #[column(identity)]\n    pub n: i64,");
        assert_eq!(
            ops(&before, &after, &[]),
            ["drop default of `t.n`", "make `t.n` an identity column"]
        );
        assert_eq!(
            ops(&after, &before, &[]),
            ["drop identity of `t.n`", "set default of `t.n` to 0"]
        );

        let before = table("t", "", "    pub code: Option<String>,");
        let after = "#[derive(Table)]\n#[table(name = \"t\")]\n#[primary_key(columns(code))]\npub struct T {\n    pub id: Option<i64>,\n    pub code: String,\n}\n";
        assert_eq!(
            ops(&before, after, &[]),
            [
                "change primary key of `t` to (code)",
                "make `t.id` nullable"
            ]
        );
    }

    /// New tables come after the tables they reference; a cycle among them is closed by a
    /// foreign key added once both exist.
    #[test]
    fn new_tables_come_after_what_they_reference_and_cycles_close_last() {
        let after = [
            table(
                "books",
                "",
                "    #[column(references = \"publishers.id\")]\n    pub publisher_id: i64,",
            ),
            table("publishers", "", ""),
            table(
                "a",
                "",
                "    #[column(references = \"b.id\")]\n    pub b_id: Option<i64>,",
            ),
            table(
                "b",
                "",
                "    #[column(references = \"a.id\")]\n    pub a_id: Option<i64>,",
            ),
        ]
        .concat();
        let changes = diff("", &after, &[]).unwrap();
        let found: Vec<String> = changes.ops.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "create table `publishers`",
                "create table `books`",
                "create table `a`",
                "create table `b`",
                "add foreign key `a_b_id_fkey` on `a`"
            ]
        );
        let super::Op::CreateTable { deferred_fks, .. } = &changes.ops[2] else {
            panic!("{:?}", changes.ops[2])
        };
        assert_eq!(
            deferred_fks,
            &["a_b_id_fkey"],
            "`a` is created without the key that closes the cycle"
        );
    }

    /// What the diff will not decide is reported all at once: every drop nobody allowed
    /// (allowed by the old name or the new one alike); and a schema with problems reports
    /// those, before any decision.
    /// PostgreSQL rewrites an index's expressions on RENAME COLUMN: the index is kept, not
    /// rebuilt, once the expression names the new column.
    #[test]
    fn an_index_expression_follows_a_column_rename() {
        let before = table(
            "t",
            "#[index(columns(\"lower(email)\"), unique, where = \"email IS NOT NULL\")]",
            "    pub email: String,",
        );
        let after = table(
            "t",
            "#[index(columns(\"LOWER(mail)\"), unique, where = \"(mail IS NOT NULL)\", name = \"t_lower_idx\")]",
            "    #[column(renamed_from = \"email\")]\n    pub mail: String,",
        );
        assert_eq!(
            ops(&before, &after, &[]),
            ["rename column `t.email` to `mail`"]
        );
    }

    /// PostgreSQL takes a key's columns in any order as the referenced ones.
    #[test]
    fn a_foreign_key_may_name_the_key_columns_in_another_order() {
        let source = "#[derive(Table)]\n#[table(name = \"p\")]\n#[primary_key(columns(a, b))]\npub struct P {\n    pub a: i64,\n    pub b: i64,\n}\n\n#[derive(Table)]\n#[table(name = \"c\")]\n#[foreign_key(columns(pb, pa), references = \"p(b, a)\")]\npub struct C {\n    #[column(primary_key)]\n    pub id: i64,\n    pub pa: i64,\n    pub pb: i64,\n}\n";
        assert!(diff("", source, &[]).is_ok());
        let not_a_key = source.replace("references = \"p(b, a)\"", "references = \"p(b, b)\"");
        assert!(matches!(
            diff("", &not_a_key, &[]),
            Err(DiffError::Problems(_))
        ));
    }

    /// An index expression is the user's text: after a rename it must name the new column.
    #[test]
    fn index_expressions_name_only_columns_of_the_table() {
        let before = table(
            "t",
            "#[index(columns(\"lower(email)\"), where = \"email IS NOT NULL\")]",
            "    pub email: String,",
        );
        let after = table(
            "t",
            "#[index(columns(\"lower(email)\"), where = \"email IS NOT NULL\")]",
            "    #[column(renamed_from = \"email\")]\n    pub mail: String,",
        );
        let Err(DiffError::Problems(problems)) = diff(&before, &after, &[]) else {
            panic!("refused")
        };
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].ends_with("names `email`, which is not a column of the table: it is `mail` now; write that in the expression"), "{}", messages[0]);
        // Said where the index is declared (line 3), not where the struct is.
        assert_eq!(problems[0].location.as_ref().map(|l| l.line), Some(3));
    }

    #[test]
    fn drops_need_a_decision_and_problems_come_first() {
        let before = [
            table("authors", "", "    pub name: String,\n    pub bio: String,"),
            table("old", "", ""),
        ]
        .concat();
        let after = table("writers", "", "    pub name: String,").replace(
            "#[table(name = \"writers\")]",
            "#[table(name = \"writers\", renamed_from = \"authors\")]",
        );
        let Err(DiffError::UnresolvedDrops(decisions)) = diff(&before, &after, &[]) else {
            panic!("drops need a decision")
        };
        assert_eq!(decisions.len(), 2, "{decisions:?}");
        assert_eq!(
            decisions[0],
            Decision::DropTable {
                table: "old".into()
            }
        );
        assert!(
            matches!(&decisions[1], Decision::DropColumn { table, column, .. } if table == "writers" && column == "bio"),
            "{decisions:?}"
        );
        for allowed in [["old", "writers.bio"], ["old", "authors.bio"]] {
            assert_eq!(
                ops(&before, &after, &allowed),
                [
                    "rename table `authors` to `writers`",
                    "drop table `old`",
                    "rename constraint `authors_pkey` to `writers_pkey` on `writers`",
                    "drop column `writers.bio`"
                ]
            );
        }
        let wrong_hint = after.replace("renamed_from = \"authors\"", "renamed_from = \"autors\"");
        let Err(DiffError::Problems(problems)) = diff(&before, &wrong_hint, &[]) else {
            panic!("a hint naming nothing is a problem")
        };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .message
                .contains("names no table of the last snapshot"),
            "{problems:?}"
        );
    }
}
