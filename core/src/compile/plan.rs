//! The planner: dialect-neutral operations → a typed plan of SQL statements legal on the
//! target dialect.
//!
//! It decides, from [`crate::dialect`]'s rules: what the dialect cannot do is refused
//! here, at generate time, with the alternative; which strategy each operation takes
//! (plain, async index, `NOT VALID` then validate, backfill in batches, table rebuild);
//! where schemas are made, which fills the existing rows get, and the order of a
//! rebuild's steps. The SQL text of each decision is the writer's
//! ([`crate::compile::write`]). Each statement comes with what the planner knows about it
//! ([`PlannedStatement`]); the migration file holds the SQL, and the runner reads the same
//! facts back from it with the one tokenizer (a test holds the two equal).

use crate::compile::diff::Changes;
use crate::compile::ops::Op;
use crate::compile::recreate;
use crate::compile::write::{
    self, PlannedStatement, add_constraint_not_valid, create_index, create_table,
    foreign_key_clause,
};
use crate::dialect::{self, ChangeKind, Construct, Dialect, Strategy};
use crate::schema::model::{
    self, DEFAULT_SCHEMA, ForeignKey, Identity, IndexKey, KeyTarget, Schema, Table, Unique,
    bare_table_name, split_table_name, table_schema,
};
use crate::sql::directive;
use crate::sql::ident::{quote, quote_table};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// A table the plan rebuilds, for the `table-rebuild` warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Rebuild {
    /// The table, as the model names it (`books`, or `auth.books` outside `public`).
    pub table: String,
    /// The changes that need it.
    pub because: Vec<String>,
    /// How many statements it takes.
    pub steps: usize,
    /// Foreign keys of other tables dropped while it runs: `(table, name)`.
    pub foreign_keys_dropped: Vec<(String, String)>,
    /// A cheaper way to the same end, when there is one.
    pub alternative: Option<String>,
}

/// The statements of a migration, in order, and the tables it rebuilds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every statement, in the order they run, with what each does.
    pub statements: Vec<PlannedStatement>,
    /// The rebuilt tables.
    pub rebuilds: Vec<Rebuild>,
}

impl Plan {
    /// The SQL of each statement.
    pub fn sql(&self) -> Vec<String> {
        self.statements.iter().map(|s| s.sql.clone()).collect()
    }
}

/// A change the target dialect cannot carry out (yet), with what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Refusal {
    /// The change, for people.
    pub change: String,
    /// The table it changes.
    pub table: String,
    /// The column it changes, when one.
    pub column: Option<String>,
    /// Its rules-table row.
    pub kind: ChangeKind,
    /// Why, and the alternative.
    pub reason: String,
}

impl Refusal {
    /// `op`, refused for `reason`.
    fn of(op: &Op, reason: String) -> Refusal {
        Refusal {
            change: op.to_string(),
            table: op.table().to_owned(),
            column: op.column().map(str::to_owned),
            kind: op.kind(),
            reason,
        }
    }
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
    #[error("plan: {} change(s) cannot be carried out on {dialect}; nothing was written", .refusals.len())]
    Refused {
        /// The dialect the changes were planned for.
        dialect: Dialect,
        /// Each refused change.
        refusals: Vec<Refusal>,
    },
}

/// Plans `changes` (towards `next`) for `dialect`. All refusals are collected before
/// returning.
pub fn plan(changes: &Changes, next: &Schema, dialect: Dialect) -> Result<Plan, PlanError> {
    let ops = &changes.ops;
    // Tables this dialect must rebuild: every other change to them is part of the rebuild.
    let rebuilt: BTreeSet<&str> = ops
        .iter()
        .filter(|op| dialect::strategy(op.kind(), dialect) == Strategy::Recreate)
        .map(Op::table)
        .collect();
    let mut planned = Plan::default();
    let mut refusals = Vec::new();
    // Tables whose rebuild was refused: said once, not again for each change that needs it.
    let mut unbuildable: BTreeSet<&str> = BTreeSet::new();
    if dialect == Dialect::Dsql {
        let created: BTreeSet<&str> = ops
            .iter()
            .filter(|op| matches!(op, Op::CreateTable { .. }))
            .map(Op::table)
            .collect();
        for table in next.tables.values() {
            refusals.extend(dsql_construct_refusals(
                table,
                created.contains(table.name.as_str()),
            ));
        }
        let schemas: BTreeSet<&str> = next
            .tables
            .keys()
            .filter_map(|t| split_table_name(t).0)
            .collect();
        if schemas.len() > dialect::DSQL_MAX_SCHEMAS
            && let Some(table) = next.tables.keys().find(|t| {
                !changes
                    .previous
                    .tables
                    .keys()
                    .any(|p| table_schema(p) == table_schema(t))
            })
        {
            refusals.push(Refusal {
                change: format!("table `{table}` in a new schema"),
                table: table.clone(),
                column: None,
                kind: ChangeKind::CreateTable,
                reason: format!("DSQL holds at most {} schemas besides `public`, and the structs use {}: put tables of different schemas together", dialect::DSQL_MAX_SCHEMAS, schemas.len()),
            });
        }
    }
    // A schema no table of the last snapshot is in is created before its first table. (One
    // left empty by the last table's drop stays: it may hold what other tools made.)
    let mut schemas_made: BTreeSet<&str> = changes
        .previous
        .tables
        .keys()
        .chain(changes.previous.enums.keys())
        .map(|t| table_schema(t))
        .collect();
    schemas_made.insert(DEFAULT_SCHEMA);
    for op in ops {
        let kind = op.kind();
        let (table, statements) = (op.table(), &mut planned.statements);
        if let Op::CreateTable { .. } | Op::CreateEnum { .. } = op
            && schemas_made.insert(table_schema(table))
        {
            statements.push(PlannedStatement::new(
                write::create_schema(table_schema(table)),
                kind,
                table,
            ));
        }
        for (column, sql_type) in new_column_types(op) {
            if let Err(alternative) = check_column_type(sql_type, dialect) {
                refusals.push(Refusal {
                    change: format!("column `{table}.{column}` of type {sql_type}"),
                    table: table.to_owned(),
                    column: Some(column.to_owned()),
                    kind,
                    reason: alternative.to_owned(),
                });
            }
        }
        // A rebuilt table's renames run first, so the copy reads the columns under their new
        // names; its dropped constraints and indexes go where drops go, before any table
        // is dropped (one of them may reference it) and before the rebuild.
        let before_rebuild = matches!(
            op,
            Op::RenameTable { .. }
                | Op::RenameColumn { .. }
                | Op::DropForeignKey { .. }
                | Op::DropCheck { .. }
                | Op::DropIndex { .. }
                | Op::DropUnique { .. }
        );
        if rebuilt.contains(table) && !before_rebuild {
            if dialect::strategy(kind, dialect) == Strategy::Recreate
                && !planned.rebuilds.iter().any(|r| r.table == table)
                && !unbuildable.contains(table)
            {
                let rebuilt_before: BTreeSet<&str> =
                    planned.rebuilds.iter().map(|r| r.table.as_str()).collect();
                match rebuild(changes, next, table, dialect, &rebuilt_before) {
                    Ok((steps, rebuild)) => {
                        statements.extend(steps);
                        planned.rebuilds.push(rebuild);
                    }
                    // The rebuild is the table's, whichever change asked for it first.
                    Err(reason) => {
                        unbuildable.insert(table);
                        refusals.push(Refusal {
                            column: None,
                            ..Refusal::of(op, reason)
                        });
                    }
                }
            }
            continue;
        }
        // The rows already there would fail it at deploy (the recreation refuses it alike);
        // an identity column numbers them itself.
        if let Op::AddColumn { column, .. } = op
            && column.not_null
            && column.default.is_none()
            && !column.is_identity()
            && changes.fill(table, &column.name).is_none()
        {
            refusals.push(Refusal::of(op, not_null_without_value(table, &column.name)));
            continue;
        }
        let plain = |sql: String| PlannedStatement::new(sql, kind, table);
        // A column that becomes NOT NULL gives its existing NULLs its `fill`, else its
        // default (the recreation on DSQL does the same in its copy).
        if let Op::SetNotNull { column, .. } = op
            && let Some(value) = changes.fill_value(next, table, column)
        {
            statements.push(plain(write::fill_nulls(table, column, value)));
        }
        // A NOT NULL column added with a `fill` other than its default: the fill is the
        // default while the column is added (filling the existing rows), then the real one.
        if let Op::AddColumn { column, .. } = op
            && column.not_null
            && dialect::strategy(kind, dialect) == Strategy::Plain
            && let Some(fill) = changes
                .fill(table, &column.name)
                .filter(|f| Some(*f) != column.default.as_ref())
        {
            statements.extend(
                write::add_column_filled(table, column, fill, dialect)
                    .into_iter()
                    .map(plain),
            );
            continue;
        }
        match dialect::strategy(kind, dialect) {
            Strategy::NotYetSupported => refusals.push(Refusal::of(op, not_yet_reason(dialect))),
            Strategy::AddThenBackfill if next.tables.get(table).is_none_or(|t| t.primary_key.is_none()) => refusals.push(Refusal::of(
                op,
                format!(
                    "`{table}` has no primary key to backfill its rows in batches by; give it one in an earlier migration, or add the column without a default"
                ),
            )),
            // Said once: a construct the dialect lacks is already refused where it is used.
            Strategy::Unsupported if refusals.iter().any(|r| r.table == table && r.column.as_deref() == op.column()) => {}
            Strategy::Unsupported => refusals.push(Refusal::of(op, dialect::unsupported_reason(kind, dialect))),
            strategy => statements.extend(write::statements(op, strategy, dialect)),
        }
    }
    if refusals.is_empty() {
        Ok(planned)
    } else {
        Err(PlanError::Refused { dialect, refusals })
    }
}

/// Foreign keys of tables other than `table` that reference it: `(their table, key)`.
fn referencing<'a>(
    schema: &'a Schema,
    table: &'a str,
) -> impl Iterator<Item = (&'a str, &'a ForeignKey)> {
    schema
        .tables
        .values()
        .filter(move |u| u.name != table)
        .flat_map(move |u| {
            u.foreign_keys
                .values()
                .filter(move |fk| fk.references_table == table)
                .map(move |fk| (u.name.as_str(), fk))
        })
}

fn not_null_without_value(table: &str, column: &str) -> String {
    format!(
        "`{table}.{column}` is added as NOT NULL without a default, so the existing rows have no value for it; give it a `default`, or a `fill` for the existing rows"
    )
}

/// The recreation of `table` (see [`crate::compile::recreate`]), placed where its first change
/// needing it stood; or why it cannot be planned.
/// `rebuilt_before`: the tables whose rebuild this migration has already planned, ahead
/// of this one.
fn rebuild(
    changes: &Changes,
    next: &Schema,
    table: &str,
    dialect: Dialect,
    rebuilt_before: &BTreeSet<&str>,
) -> Result<(Vec<PlannedStatement>, Rebuild), String> {
    let (Some(from), Some(to)) = (changes.previous.tables.get(table), next.tables.get(table))
    else {
        return Err(format!(
            "`{table}` is not in both the last snapshot and the code"
        ));
    };
    if from.primary_key.is_none() {
        return Err(format!(
            "`{table}` has no primary key to copy its rows in batches by; give it one in an earlier migration, then make this change"
        ));
    }
    let new_table = format!("{table}{}", model::NEW_SUFFIX);
    let old_table = format!("{table}{}", model::OLD_SUFFIX);
    if bare_table_name(&new_table).len() > crate::schema::model::MAX_IDENTIFIER_BYTES {
        return Err(format!(
            "`{table}` is too long a name to rebuild beside itself (`{new_table}` exceeds {} bytes)",
            crate::schema::model::MAX_IDENTIFIER_BYTES
        ));
    }

    // Columns the copy writes, and from what; new columns take their `fill`, else their
    // default from the INSERT itself.
    let (mut columns, mut expressions) = (Vec::new(), Vec::new());
    for column in &to.columns {
        let Some(old) = from.column(&column.name) else {
            if let Some(fill) = changes.fill(table, &column.name) {
                columns.push(quote(&column.name));
                expressions.push(write::parenthesized(fill));
            } else if column.not_null && column.default.is_none() && !column.is_identity() {
                // (An identity column numbers the copied rows itself.)
                return Err(not_null_without_value(table, &column.name));
            }
            continue;
        };
        let cast = (old.sql_type != column.sql_type).then_some(&column.sql_type);
        // A column that becomes NOT NULL gives its existing NULLs its fill or default.
        let fill = (column.not_null && !old.not_null)
            .then(|| changes.fill_value(next, table, &column.name))
            .flatten();
        columns.push(quote(&column.name));
        expressions.push(write::copied_value(&column.name, cast, fill));
    }

    // The changes that call for the rebuild, and the cheaper way when there is one.
    let needing: Vec<&Op> = changes
        .ops
        .iter()
        .filter(|op| {
            op.table() == table && dialect::strategy(op.kind(), dialect) == Strategy::Recreate
        })
        .collect();
    let kind = needing
        .first()
        .map(|op| op.kind())
        .unwrap_or(ChangeKind::AlterColumnType);
    let plain = |sql: String| PlannedStatement::new(sql, kind, table);
    let mut steps: Vec<(String, PlannedStatement)> = Vec::new();
    // Other tables' keys pointing at the old table would stop it from being dropped.
    // (A referencing table dropped by this migration is gone by now.)
    let mut dropped = BTreeSet::new();
    for (u, fk) in referencing(&changes.previous, table)
        .filter(|(u, _)| next.tables.contains_key(*u))
        .chain(referencing(next, table))
    {
        if dropped.insert((u, fk.name.as_str())) {
            steps.push((
                format!("drop foreign key {} of {}", quote(&fk.name), quote_table(u)),
                plain(write::drop_constraint_if_exists(u, &fk.name)),
            ));
        }
    }
    // The key's and the uniques' names are index names, unique per schema, and the old
    // table keeps them (so `ON CONFLICT ON CONSTRAINT` keeps working) until it is dropped:
    // the new table's go by a temporary name until then.
    let mut shape = to.clone();
    shape.name = new_table.clone();
    let mut renamed_after = Vec::new();
    for name in to
        .primary_key
        .iter()
        .map(|k| &k.name)
        .chain(to.uniques.keys())
    {
        let temporary = format!("{name}{}", model::NEW_SUFFIX);
        if temporary.len() > crate::schema::model::MAX_IDENTIFIER_BYTES {
            return Err(format!(
                "`{name}` on `{table}` is too long a name for the rebuild's temporary `{temporary}` (over {} bytes); rename it in an earlier migration",
                crate::schema::model::MAX_IDENTIFIER_BYTES
            ));
        }
        renamed_after.push((temporary, name.clone()));
    }
    if let Some(k) = &mut shape.primary_key {
        k.name = format!("{}{}", k.name, model::NEW_SUFFIX);
    }
    // The copy writes the rows' own numbers, which an ALWAYS identity refuses; the copy's
    // INSERT cannot say `OVERRIDING SYSTEM VALUE`, and making it ALWAYS again afterwards
    // would need DSQL's `SET GENERATED`, which dsql-lint cannot read (dropping and adding
    // the identity would hand out the numbers of deleted rows again).
    if let Some(column) = to
        .columns
        .iter()
        .find(|c| c.identity.as_ref().is_some_and(|i| i.always) && from.column(&c.name).is_some())
    {
        return Err(format!(
            "`{table}.{}` is GENERATED ALWAYS, and a rebuild copies the rows' own numbers, which ALWAYS refuses (and DSQL's identity cannot be turned back to ALWAYS in a way dsql-lint checks): add a new column and move the data in a custom migration (`generate --custom`), or keep the old definition",
            column.name
        ));
    }
    shape.uniques = shape
        .uniques
        .into_values()
        .map(|u| {
            (
                format!("{}{}", u.name, model::NEW_SUFFIX),
                Unique {
                    name: format!("{}{}", u.name, model::NEW_SUFFIX),
                    ..u
                },
            )
        })
        .collect();
    // A key referencing the table itself would follow the old table, so it is added last.
    let self_references: Vec<String> = to
        .foreign_keys
        .values()
        .filter(|fk| fk.references_table == table)
        .map(|fk| fk.name.clone())
        .collect();
    steps.push((
        "create the new table".into(),
        plain(create_table(&shape, &self_references, dialect)),
    ));
    steps.push((
        "copy the rows in batches, check the counts, copy the grants".into(),
        PlannedStatement {
            batched: true,
            ..plain(directive::copy_statement(
                table,
                &new_table,
                &columns,
                &expressions,
            ))
        },
    ));
    steps.push((
        "swap: move the old table aside".into(),
        plain(write::rename_table(table, &old_table)),
    ));
    steps.push((
        "swap: put the new table in its place".into(),
        plain(write::rename_table(&new_table, table)),
    ));
    steps.push((
        "drop the old table".into(),
        plain(write::drop_table(&old_table)),
    ));
    for (temporary, name) in renamed_after {
        steps.push((
            "give the key or a unique its name".into(),
            plain(write::rename_constraint(table, &temporary, &name)),
        ));
    }
    for i in to.indexes.values() {
        steps.push((
            "recreate an index".into(),
            create_index(table, i, Strategy::IndexAsync, kind),
        ));
    }
    // A key this migration adds to another table is added by that change, after this
    // rebuild; unless that table was rebuilt before this one, its new key then already
    // made (and just dropped here).
    let added_anyway = |u: &str, name: &str| {
        !rebuilt_before.contains(u)
            && changes.ops.iter().any(|op| match op {
                Op::AddForeignKey { table, foreign_key } => table == u && foreign_key.name == name,
                Op::CreateTable {
                    table,
                    deferred_fks,
                } => table.name == u && deferred_fks.iter().any(|d| d == name),
                _ => false,
            })
    };
    let self_keys = to
        .foreign_keys
        .values()
        .filter(|fk| fk.references_table == table)
        .map(|fk| (table, fk));
    for (u, fk) in
        self_keys.chain(referencing(next, table).filter(|(u, fk)| !added_anyway(u, &fk.name)))
    {
        let [add, validate] =
            add_constraint_not_valid(u, &fk.name, &foreign_key_clause(fk), dialect, kind);
        steps.push((
            format!(
                "add back foreign key {} of {}",
                quote(&fk.name),
                quote_table(u)
            ),
            add,
        ));
        steps.push((
            format!(
                "validate foreign key {} of {}",
                quote(&fk.name),
                quote_table(u)
            ),
            validate,
        ));
    }

    let n = steps.len();
    let statements: Vec<PlannedStatement> = steps
        .into_iter()
        .enumerate()
        .map(|(k, (what, statement))| PlannedStatement {
            sql: format!(
                "{}{}\n{}",
                recreate::STEP_MARK,
                recreate::step_header(table, k + 1, n, &what),
                statement.sql
            ),
            rebuild_step: Some((table.to_owned(), k + 1, n)),
            ..statement
        })
        .collect();
    let rebuild = Rebuild {
        table: table.to_owned(),
        because: needing.iter().map(|op| op.to_string()).collect(),
        steps: n,
        foreign_keys_dropped: dropped
            .into_iter()
            .map(|(u, name)| (u.to_owned(), name.to_owned()))
            .collect(),
        alternative: cheaper_alternative(&needing),
    };
    Ok((statements, rebuild))
}

/// The constructs `table` uses that the rules table says a dialect may lack, each with
/// the column it is on, if any, and what it is.
pub fn constructs(table: &Table) -> Vec<(Construct, Option<&str>, String)> {
    let mut out = Vec::new();
    if let (Some(schema), _) = split_table_name(&table.name) {
        out.push((
            Construct::TableInSchema,
            None,
            format!("table `{}` in schema `{schema}`", table.name),
        ));
    }
    for column in &table.columns {
        let on = Some(column.name.as_str());
        if let Some(identity) = &column.identity {
            if identity.always {
                out.push((
                    Construct::IdentityAlways,
                    on,
                    format!("identity `{}.{}` GENERATED ALWAYS", table.name, column.name),
                ));
            }
            if *identity
                != (Identity {
                    always: identity.always,
                    ..Identity::default()
                })
            {
                out.push((
                    Construct::IdentityOptions,
                    on,
                    format!(
                        "identity `{}.{}` with sequence options",
                        table.name, column.name
                    ),
                ));
            }
        }
        if let Some(collation) = &column.collation {
            out.push((
                Construct::ColumnCollation,
                on,
                format!(
                    "column `{}.{}` COLLATE \"{collation}\"",
                    table.name, column.name
                ),
            ));
        }
    }
    for fk in table.foreign_keys.values() {
        let what = |w: &str| format!("foreign key `{}` on `{}`{w}", fk.name, table.name);
        if fk.columns.len() > 1 {
            out.push((Construct::CompositeForeignKey, None, what("")));
        }
        if fk.match_full {
            out.push((Construct::ForeignKeyMatchFull, None, what(" MATCH FULL")));
        }
        if fk.deferrable {
            out.push((Construct::DeferrableForeignKey, None, what(" DEFERRABLE")));
        }
    }
    for index in table.indexes.values() {
        let what = |w: &str| format!("index `{}` on `{}`{w}", index.name, table.name);
        if let Some(method) = index
            .method
            .filter(|m| *m != crate::schema::model::IndexMethod::Btree)
        {
            out.push((
                Construct::IndexMethod,
                None,
                what(&format!(" USING {}", method.sql())),
            ));
        }
        if index.predicate.is_some() {
            out.push((Construct::PartialIndex, None, what(" WHERE ..")));
        }
        if !index.include.is_empty() {
            out.push((Construct::IncludeColumns, None, what(" INCLUDE (..)")));
        }
        // Said once per index, whichever of its keys has it.
        type KeyConstruct = (fn(&IndexKey) -> bool, Construct, &'static str);
        let keys: [KeyConstruct; 5] = [
            (
                |k| matches!(k.target, KeyTarget::Expression(_)),
                Construct::ExpressionIndexKey,
                " with an expression key",
            ),
            (
                |k| k.descending,
                Construct::DescendingIndexKey,
                " with a DESC key",
            ),
            (
                |k| k.nulls_first.is_some(),
                Construct::NullsOrderIndexKey,
                " with a NULLS FIRST/LAST key",
            ),
            (
                |k| k.opclass.is_some(),
                Construct::OperatorClass,
                " with an operator class",
            ),
            (
                |k| k.collation.is_some(),
                Construct::IndexKeyCollation,
                " with a key collation",
            ),
        ];
        for (has, construct, words) in keys {
            if index.columns.iter().any(has) {
                out.push((construct, None, what(words)));
            }
        }
    }
    out
}

/// What DSQL refuses in `table`: the constructs the rules table says it lacks, with their
/// legal alternative, and the identity rules it adds (bigint only, CACHE 1 or ≥ 65536).
/// Each is said as the change that brings it: the table's creation when `new`.
fn dsql_construct_refusals(table: &Table, new: bool) -> Vec<Refusal> {
    let kind_of = |construct: Option<Construct>| match construct {
        _ if new => ChangeKind::CreateTable,
        Some(Construct::ColumnCollation) => ChangeKind::AlterCollation,
        Some(Construct::IdentityAlways | Construct::IdentityOptions) | None => {
            ChangeKind::AddIdentity
        }
        Some(
            Construct::CompositeForeignKey
            | Construct::ForeignKeyMatchFull
            | Construct::DeferrableForeignKey,
        ) => ChangeKind::AddForeignKey,
        Some(_) => ChangeKind::CreateIndex,
    };
    let refusal = |construct: Option<Construct>,
                   column: Option<&str>,
                   change: String,
                   reason: String| Refusal {
        change,
        table: table.name.clone(),
        column: column.map(str::to_owned),
        kind: kind_of(construct),
        reason,
    };
    let mut out: Vec<Refusal> = constructs(table)
        .into_iter()
        .filter_map(|(construct, column, change)| {
            dialect::construct_rule(construct)
                .dsql
                .err()
                .map(|alternative| refusal(Some(construct), column, change, alternative.to_owned()))
        })
        .collect();
    for column in &table.columns {
        let Some(identity) = &column.identity else {
            continue;
        };
        if column.sql_type != "bigint" {
            out.push(refusal(
                None,
                Some(&column.name),
                format!(
                    "identity column `{}.{}` of type {}",
                    table.name, column.name, column.sql_type
                ),
                "DSQL numbers only bigint identity columns: make the field `i64`".to_owned(),
            ));
        }
        if let Some(cache) = identity
            .cache
            .filter(|c| *c != 1 && *c < dialect::DSQL_MIN_LARGE_CACHE)
        {
            out.push(refusal(
                None,
                Some(&column.name),
                format!("identity `{}.{}` with CACHE {cache}", table.name, column.name),
                format!("DSQL takes CACHE 1 (strict order) or at least {} (unique, not ordered): write one of them", dialect::DSQL_MIN_LARGE_CACHE),
            ));
        }
    }
    out
}

/// What the team could write instead of a change that needs a rebuild.
fn cheaper_alternative(needing: &[&Op]) -> Option<String> {
    let alternatives: Vec<String> = needing
        .iter()
        .filter_map(|op| match op {
            Op::SetNotNull { column, .. } => Some(format!("keep `{column}` an `Option<T>` (nullable), and check for NULL in code")),
            Op::AddColumn { column, .. } => Some(format!("add `{}` as an `Option<T>` with a `default`: a bare column and a batched backfill, no rebuild", column.name)),
            Op::AlterColumnType { column, to, .. } => Some(format!("add a new column of type {to} and move `{column}`'s data in a custom migration (`generate --custom`)")),
            Op::AddUnique { unique, .. } => Some(format!(
                "a unique index, `#[index(columns({}), unique)]`, is built ASYNC without a rebuild (it enforces uniqueness, but `ON CONFLICT ON CONSTRAINT` needs the constraint)",
                unique.columns.join(", ")
            )),
            _ => None,
        })
        .collect();
    if alternatives.is_empty() {
        None
    } else {
        Some(alternatives.join("; "))
    }
}

/// Columns whose type the operation introduces.
fn new_column_types(op: &Op) -> Vec<(&str, &str)> {
    match op {
        Op::CreateTable { table, .. } => table
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.sql_type.as_str()))
            .collect(),
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

/// Where the SQL of `plan` says something other than what the planner knew, as the
/// runner reads it ([`crate::sql::statement::classify`], the step labels, the directives);
/// empty when they agree. Tests hold it empty for every plan they make.
pub fn text_disagreements(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for p in &plan.statements {
        let info = crate::sql::statement::classify(&p.sql);
        let label = recreate::step_label(&p.sql)
            .map(|(table, rest)| (table, rest.split(':').next().unwrap_or_default().to_owned()));
        let facts = [
            (
                "index",
                format!("{:?}", info.index),
                format!("{:?}", p.index),
            ),
            (
                "validation",
                format!("{:?}", info.validation),
                format!("{:?}", p.validation),
            ),
            (
                "added constraint",
                format!("{:?}", info.adds_constraint),
                format!("{:?}", p.adds_constraint),
            ),
            (
                "non-transactional",
                info.non_transactional.to_string(),
                p.non_transactional.to_string(),
            ),
            (
                "directive",
                matches!(directive::parse(&p.sql), Ok(Some(_))).to_string(),
                p.batched.to_string(),
            ),
            (
                "recreation step",
                format!("{label:?}"),
                format!(
                    "{:?}",
                    p.rebuild_step
                        .as_ref()
                        .map(|(table, k, n)| (table.clone(), format!("{k}/{n}")))
                ),
            ),
        ];
        for (what, read, known) in facts {
            if read != known {
                out.push(format!(
                    "{what}: the text says {read}, the plan {known}: {}",
                    p.sql
                ));
            }
        }
    }
    out
}

impl crate::error::Classified for PlanError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        "refused"
    }

    fn items(&self) -> Vec<crate::error::ErrorItem> {
        let PlanError::Refused { refusals, .. } = self;
        refusals
            .iter()
            .map(|r| crate::error::ErrorItem {
                table: Some(r.table.clone()),
                column: r.column.clone(),
                fix: vec![r.reason.clone()],
                ..crate::error::ErrorItem::new(r.kind.id(), &r.change)
            })
            .collect()
    }
}

/// `Err(alternative)` when `dialect` cannot store a column of this canonical type.
fn check_column_type(canonical: &str, dialect: Dialect) -> Result<(), &'static str> {
    if dialect == Dialect::Postgres {
        return Ok(());
    }
    if crate::schema::types::is_array(canonical) {
        return Err(dialect::ARRAY_ALTERNATIVE);
    }
    let base = crate::schema::types::base_name(canonical);
    if dialect::DSQL_COLUMN_TYPES.contains(&base.as_str()) {
        return Ok(());
    }
    Err(dialect::DSQL_TYPE_ALTERNATIVES
        .iter()
        .find(|(name, _)| *name == base)
        .map(|(_, alt)| *alt)
        .unwrap_or(dialect::USER_DEFINED_TYPE_ALTERNATIVE))
}

#[cfg(test)]
mod tests {
    use super::PlanError;
    use crate::compile::fixtures::{plan, statements};
    use crate::dialect::Dialect::{Dsql, Postgres};
    use crate::sql::statement::IndexMode;

    /// `books` keyed by `id`, with `fields` and struct `attributes`.
    fn books(attributes: &str, fields: &str) -> String {
        format!(
            "#[derive(Table)]\n#[table(name = \"books\")]\n{attributes}\npub struct Book {{\n    #[column(primary_key)]\n    pub id: i64,\n    pub title: String,\n{fields}\n}}\n"
        )
    }

    /// What DSQL lacks is refused as the change that brings it: a DESC index added to an
    /// existing table is an index's creation, the same in a new table the table's.
    #[test]
    fn dsql_refusals_name_the_change_that_brings_the_construct() {
        let desc = books("#[index(columns(title desc))]", "");
        let Err(PlanError::Refused { refusals, .. }) = plan(&books("", ""), &desc, &[], Dsql)
        else {
            panic!("refused")
        };
        assert_eq!(
            refusals.iter().map(|r| r.kind).collect::<Vec<_>>(),
            [crate::dialect::ChangeKind::CreateIndex]
        );
        assert!(
            refusals[0].reason.contains("drop `desc`"),
            "{}",
            refusals[0].reason
        );
        let Err(PlanError::Refused { refusals, .. }) = plan("", &desc, &[], Dsql) else {
            panic!("refused")
        };
        assert_eq!(
            refusals.iter().map(|r| r.kind).collect::<Vec<_>>(),
            [crate::dialect::ChangeKind::CreateTable]
        );
        assert!(plan(&books("", ""), &desc, &[], Postgres).is_ok());
    }

    /// A nullable column with a default: one statement on PostgreSQL; on DSQL a bare
    /// column, its default, and a batched backfill of the existing rows, in that order.
    #[test]
    fn a_column_with_a_default_is_backfilled_in_batches_on_dsql() {
        let (before, after) = (
            books("", ""),
            books(
                "",
                "    #[column(default = \"'x'\")]\n    pub note: Option<String>,",
            ),
        );
        let pg = plan(&before, &after, &[], Postgres).unwrap();
        assert_eq!(
            statements(&pg),
            [r#"ALTER TABLE "books" ADD COLUMN "note" text DEFAULT ('x');"#]
        );
        let dsql = plan(&before, &after, &[], Dsql).unwrap();
        let sql = statements(&dsql);
        assert_eq!(
            sql[..2],
            [
                r#"ALTER TABLE "books" ADD COLUMN "note" text;"#,
                r#"ALTER TABLE "books" ALTER COLUMN "note" SET DEFAULT ('x');"#
            ]
        );
        assert_eq!(
            dsql.statements
                .iter()
                .map(|s| s.batched)
                .collect::<Vec<_>>(),
            [false, false, true],
            "{sql:#?}"
        );
    }

    /// Indexes: on DSQL always ASYNC (a job the runner awaits); on PostgreSQL CONCURRENTLY,
    /// outside a transaction, unless the table is new in the same migration.
    #[test]
    fn indexes_are_built_without_blocking_writes_to_existing_tables() {
        let indexed = books("#[index(columns(title))]", "");
        for (before, dialect, mode, sql) in [
            (
                books("", ""),
                Postgres,
                IndexMode::Concurrently,
                r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "books_title_idx" ON "books" ("title");"#,
            ),
            (
                String::new(),
                Postgres,
                IndexMode::Plain,
                r#"CREATE INDEX IF NOT EXISTS "books_title_idx" ON "books" ("title");"#,
            ),
            (
                books("", ""),
                Dsql,
                IndexMode::Async,
                r#"CREATE INDEX ASYNC IF NOT EXISTS "books_title_idx" ON "books" ("title");"#,
            ),
            (
                String::new(),
                Dsql,
                IndexMode::Async,
                r#"CREATE INDEX ASYNC IF NOT EXISTS "books_title_idx" ON "books" ("title");"#,
            ),
        ] {
            let planned = plan(&before, &indexed, &[], dialect).unwrap();
            let last = planned.statements.last().unwrap();
            assert_eq!(
                statements(&planned).last().unwrap(),
                sql,
                "{dialect}, new table: {}",
                before.is_empty()
            );
            assert_eq!(last.index.as_ref().map(|i| i.mode), Some(mode));
            assert_eq!(last.non_transactional, mode == IndexMode::Concurrently);
        }
    }

    /// Constraints on existing tables never hold a long lock: checks and foreign keys are
    /// added NOT VALID and validated after (ASYNC on DSQL); a unique on PostgreSQL is an
    /// index built concurrently, then the constraint on it; on DSQL, a rebuild, with the
    /// unique index named as the cheaper way.
    #[test]
    fn constraints_on_existing_tables_are_added_then_validated() {
        let before = books("", "    pub isbn: String,\n    pub sequel_of: Option<i64>,");
        let after = books(
            "#[check(name = \"books_title_check\", expr = \"title <> ''\")]",
            "    pub isbn: String,\n    #[column(references = \"books.id\")]\n    pub sequel_of: Option<i64>,",
        );
        assert_eq!(
            statements(&plan(&before, &after, &[], Dsql).unwrap()),
            [
                r#"ALTER TABLE "books" ADD CONSTRAINT "books_sequel_of_fkey" FOREIGN KEY ("sequel_of") REFERENCES "books"("id") NOT VALID;"#,
                r#"ALTER TABLE ASYNC "books" VALIDATE CONSTRAINT "books_sequel_of_fkey";"#,
                r#"ALTER TABLE "books" ADD CONSTRAINT "books_title_check" CHECK (title <> '') NOT VALID;"#,
                r#"ALTER TABLE ASYNC "books" VALIDATE CONSTRAINT "books_title_check";"#,
            ]
        );
        let pg = plan(&before, &after, &[], Postgres).unwrap();
        assert_eq!(
            statements(&pg)[1],
            r#"ALTER TABLE "books" VALIDATE CONSTRAINT "books_sequel_of_fkey";"#
        );
        assert_eq!(
            pg.statements[1].validation.as_ref().map(|v| v.is_async),
            Some(false)
        );

        let unique = before.replace(
            "    pub isbn: String,",
            "    #[column(unique)]\n    pub isbn: String,",
        );
        assert_eq!(
            statements(&plan(&before, &unique, &[], Postgres).unwrap()),
            [
                r#"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "books_isbn_key" ON "books" ("isbn");"#,
                r#"ALTER TABLE "books" ADD CONSTRAINT "books_isbn_key" UNIQUE USING INDEX "books_isbn_key";"#,
            ]
        );
        let dsql = plan(&before, &unique, &[], Dsql).unwrap();
        assert_eq!(dsql.rebuilds.len(), 1);
        assert!(
            dsql.rebuilds[0]
                .alternative
                .as_deref()
                .is_some_and(|a| a.contains("#[index(columns(isbn), unique)]")),
            "{:?}",
            dsql.rebuilds
        );
    }

    /// A column that becomes NOT NULL gives its NULLs the `fill` first: an UPDATE before
    /// `SET NOT NULL` on PostgreSQL, a COALESCE in the rebuild's copy on DSQL. A NOT NULL
    /// column added with a fill other than its default has the fill as its default while
    /// it is added, then its own.
    #[test]
    fn existing_rows_get_the_fill() {
        let before = books("", "    pub pages: Option<i32>,");
        let after = books("", "    #[column(fill = \"0\")]\n    pub pages: i32,");
        assert_eq!(
            statements(&plan(&before, &after, &[], Postgres).unwrap()),
            [
                r#"UPDATE "books" SET "pages" = (0) WHERE "pages" IS NULL;"#,
                r#"ALTER TABLE "books" ALTER COLUMN "pages" SET NOT NULL;"#
            ]
        );
        let copy = statements(&plan(&before, &after, &[], Dsql).unwrap())
            .into_iter()
            .find(|s| s.contains("INSERT INTO"))
            .unwrap();
        assert!(copy.contains(r#"COALESCE("pages", (0))"#), "{copy}");

        let added = books(
            "",
            "    #[column(default = \"1\", fill = \"0\")]\n    pub pages: i32,",
        );
        assert_eq!(
            statements(&plan(&books("", ""), &added, &[], Postgres).unwrap()),
            [
                r#"ALTER TABLE "books" ADD COLUMN "pages" integer DEFAULT (0) NOT NULL;"#,
                r#"ALTER TABLE "books" ALTER COLUMN "pages" SET DEFAULT (1);"#
            ]
        );
    }

    /// Everything a dialect refuses is reported at once, each with its table and column.
    #[test]
    fn every_refusal_is_reported_together() {
        let after = books(
            "",
            "    #[column(sql_type = \"text[]\")]\n    pub tags: Option<String>,\n    pub isbn: String,\n    #[column(identity)]\n    pub n: i32,",
        );
        let Err(PlanError::Refused { refusals, .. }) = plan(&books("", ""), &after, &[], Dsql)
        else {
            panic!("DSQL refuses these")
        };
        assert_eq!(refusals.len(), 3, "{refusals:#?}");
        assert!(
            refusals
                .iter()
                .any(|r| r.column.as_deref() == Some("n") && r.reason.contains("bigint")),
            "{refusals:#?}"
        );
        assert!(
            refusals.iter().any(|r| r.column.as_deref() == Some("tags")),
            "{refusals:#?}"
        );
        // `isbn` and `n` both need the table rebuilt, which `isbn` (no value for the rows)
        // makes impossible: that is said once.
        assert!(
            refusals
                .iter()
                .any(|r| r.change == "add column `books.isbn` (text)"
                    && r.reason.contains("give it a `default`, or a `fill`")),
            "{refusals:#?}"
        );
    }

    /// A table DSQL must rebuild takes every change to it into the rebuild; its renames run
    /// before it, so the copy reads the new names; other tables' keys to it are dropped
    /// and added back NOT VALID, then validated.
    #[test]
    fn a_rebuild_takes_the_tables_changes_and_keeps_the_keys_to_it() {
        let reviews = "#[derive(Table)]\n#[table(name = \"reviews\")]\npub struct Review {\n    #[column(primary_key)]\n    pub id: i64,\n    #[column(references = \"books.id\")]\n    pub book_id: i64,\n}\n";
        let before = [
            books("", "    pub pages: i32,\n    pub blurb: Option<String>,"),
            reviews.to_owned(),
        ]
        .concat();
        let after = [books("#[index(columns(pages))]", "    pub pages: i64,\n    #[column(renamed_from = \"blurb\")]\n    pub summary: Option<String>,"), reviews.to_owned()].concat();
        let planned = plan(&before, &after, &[], Dsql).unwrap();
        let labels: Vec<String> = planned
            .statements
            .iter()
            .map(|s| match crate::compile::recreate::step_label(&s.sql) {
                Some((table, rest)) => format!("{table} {rest}"),
                None => statements(&super::Plan {
                    statements: vec![s.clone()],
                    rebuilds: Vec::new(),
                })
                .remove(0),
            })
            .collect();
        assert_eq!(
            labels,
            [
                r#"ALTER TABLE "books" RENAME COLUMN "blurb" TO "summary";"#,
                "books 1/10: drop foreign key \"reviews_book_id_fkey\" of \"reviews\"",
                "books 2/10: create the new table",
                "books 3/10: copy the rows in batches, check the counts, copy the grants",
                "books 4/10: swap: move the old table aside",
                "books 5/10: swap: put the new table in its place",
                "books 6/10: drop the old table",
                "books 7/10: give the key or a unique its name",
                "books 8/10: recreate an index",
                "books 9/10: add back foreign key \"reviews_book_id_fkey\" of \"reviews\"",
                "books 10/10: validate foreign key \"reviews_book_id_fkey\" of \"reviews\"",
            ]
        );
        assert_eq!(
            planned.rebuilds[0].foreign_keys_dropped,
            [("reviews".to_owned(), "reviews_book_id_fkey".to_owned())]
        );
        let copy = &planned.statements[3].sql;
        assert!(
            copy.contains(r#"SELECT "id", "title", "pages"::bigint, "summary" FROM "books""#),
            "{copy}"
        );
    }

    /// Dialect spellings: DSQL's identity takes an explicit cache; a key's or unique's
    /// rename is an index rename on PostgreSQL and a constraint rename on DSQL; an index
    /// rename on DSQL (no ALTER INDEX) is a drop and an ASYNC build.
    #[test]
    fn each_dialect_gets_its_own_spelling() {
        let counted = books("", "    #[column(identity)]\n    pub n: i64,");
        assert!(
            statements(&plan("", &counted, &[], Dsql).unwrap())[0]
                .contains(r#""n" bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 1) NOT NULL"#)
        );
        assert!(
            statements(&plan("", &counted, &[], Postgres).unwrap())[0]
                .contains(r#""n" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL"#)
        );

        let before = books(
            "#[index(columns(title), name = \"i1\")]\n#[unique(columns(title), name = \"u1\")]",
            "",
        );
        let after = books(
            "#[index(columns(title), name = \"i2\")]\n#[unique(columns(title), name = \"u2\")]",
            "",
        );
        assert_eq!(
            statements(&plan(&before, &after, &[], Postgres).unwrap()),
            [
                r#"ALTER INDEX "u1" RENAME TO "u2";"#,
                r#"ALTER INDEX "i1" RENAME TO "i2";"#
            ]
        );
        assert_eq!(
            statements(&plan(&before, &after, &[], Dsql).unwrap()),
            [
                r#"ALTER TABLE "books" RENAME CONSTRAINT "u1" TO "u2";"#,
                r#"DROP INDEX IF EXISTS "i1";"#,
                r#"CREATE INDEX ASYNC IF NOT EXISTS "i2" ON "books" ("title");"#,
            ]
        );
    }

    #[test]
    fn dsql_refuses_what_it_cannot_store_with_an_alternative() {
        use super::check_column_type;
        use crate::dialect::Dialect;
        assert!(
            check_column_type("integer[]", Dialect::Dsql)
                .unwrap_err()
                .contains("jsonb")
        );
        assert!(
            check_column_type("serial", Dialect::Dsql)
                .unwrap_err()
                .contains("identity")
        );
        assert!(
            check_column_type("mood", Dialect::Dsql)
                .unwrap_err()
                .contains("CHECK")
                || check_column_type("mood", Dialect::Dsql)
                    .unwrap_err()
                    .contains("check")
        );
        assert!(check_column_type("character varying(32)", Dialect::Dsql).is_ok());
        assert!(check_column_type("integer[]", Dialect::Postgres).is_ok());
    }
}
