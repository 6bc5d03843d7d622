//! The planner: dialect-neutral operations → a typed plan of SQL statements legal on the
//! target dialect.
//!
//! Every decision comes from [`crate::compile::rules`]; this module only renders. It never writes a
//! statement the target rejects: what the dialect cannot do is refused here, at generate
//! time, with the alternative. Each statement comes with what the planner knows about it
//! ([`PlannedStatement`]); the migration file holds the SQL, and the runner reads the same
//! facts back from it with the one tokenizer (a test holds the two equal).

use crate::compile::diff::{Changes, Op};
use crate::compile::recreate;
use crate::compile::rules::{self, ChangeKind, Dialect, Strategy};
use crate::schema::model::{Column, ForeignKey, Index, Schema, Table, Unique};
use crate::sql::directive;
use crate::sql::ident::{quote, quote_list};
use crate::sql::statement::{IndexCreation, IndexMode, Validation};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// One statement of the plan, and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStatement {
    /// The SQL, as the migration file holds it (labels and directive headers included).
    pub sql: String,
    /// The rules-table row it carries out.
    pub change: ChangeKind,
    /// The table it is about.
    pub table: String,
    /// Step `k` of `n` of the recreation of a table: `(table, k, n)`.
    pub rebuild_step: Option<(String, usize, usize)>,
    /// The index it creates.
    pub index: Option<IndexCreation>,
    /// The constraint it validates.
    pub validation: Option<Validation>,
    /// The constraint it adds: `(table, name)`.
    pub adds_constraint: Option<(Option<String>, String)>,
    /// It must run outside a transaction.
    pub non_transactional: bool,
    /// A directive the runner carries out in batches.
    pub batched: bool,
}

impl PlannedStatement {
    fn new(sql: String, change: ChangeKind, table: &str) -> PlannedStatement {
        PlannedStatement {
            sql,
            change,
            table: table.to_owned(),
            rebuild_step: None,
            index: None,
            validation: None,
            adds_constraint: None,
            non_transactional: false,
            batched: false,
        }
    }
}

/// A table the plan rebuilds, for the `table-rebuild` warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Rebuild {
    /// The table.
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
    /// The statements.
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
        Refusal { change: op.to_string(), table: op.table().to_owned(), column: op.column().map(str::to_owned), kind: op.kind(), reason }
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
        /// The target.
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
    let rebuilt: BTreeSet<&str> = ops.iter().filter(|op| rules::strategy(op.kind(), dialect) == Strategy::Recreate).map(Op::table).collect();
    let mut planned = Plan::default();
    let mut refusals = Vec::new();
    if dialect == Dialect::Dsql {
        for table in next.tables.values() {
            for column in table.columns.iter().filter(|c| c.identity && c.sql_type != "bigint") {
                refusals.push(Refusal {
                    change: format!("identity column `{}.{}` of type {}", table.name, column.name, column.sql_type),
                    table: table.name.clone(),
                    column: Some(column.name.clone()),
                    kind: ChangeKind::CreateTable,
                    reason: "DSQL numbers only bigint identity columns: make the field `i64`".to_owned(),
                });
            }
        }
    }
    for op in ops {
        let kind = op.kind();
        let (table, statements) = (op.table(), &mut planned.statements);
        for (column, sql_type) in new_column_types(op) {
            if let Err(alternative) = rules::check_column_type(sql_type, dialect) {
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
        let before_rebuild = matches!(op, Op::RenameTable { .. } | Op::RenameColumn { .. } | Op::DropForeignKey { .. } | Op::DropCheck { .. } | Op::DropIndex { .. } | Op::DropUnique { .. });
        if rebuilt.contains(table) && !before_rebuild {
            if rules::strategy(kind, dialect) == Strategy::Recreate && !planned.rebuilds.iter().any(|r| r.table == table) {
                let rebuilt_before: BTreeSet<&str> = planned.rebuilds.iter().map(|r| r.table.as_str()).collect();
                match rebuild(changes, next, table, dialect, &rebuilt_before) {
                    Ok((steps, rebuild)) => {
                        statements.extend(steps);
                        planned.rebuilds.push(rebuild);
                    }
                    // The rebuild is the table's, whichever change asked for it first.
                    Err(reason) => refusals.push(Refusal { column: None, ..Refusal::of(op, reason) }),
                }
            }
            continue;
        }
        // The rows already there would fail it at deploy (the recreation refuses it alike);
        // an identity column numbers them itself.
        if let Op::AddColumn { column, .. } = op
            && column.not_null
            && column.default.is_none()
            && !column.identity
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
            statements.push(plain(format!("UPDATE {} SET {} = ({value}) WHERE {} IS NULL;", quote(table), quote(column), quote(column))));
        }
        // A NOT NULL column added with a `fill` other than its default: the fill is the
        // default while the column is added (filling the existing rows), then the real one.
        if let Op::AddColumn { column, .. } = op
            && column.not_null
            && rules::strategy(kind, dialect) == Strategy::Plain
            && let Some(fill) = changes.fill(table, &column.name).filter(|f| Some(*f) != column.default.as_deref())
        {
            let filled = Column { default: Some(fill.to_owned()), ..column.clone() };
            statements.push(plain(format!("ALTER TABLE {} ADD COLUMN {};", quote(table), column_definition(&filled, dialect))));
            statements.push(plain(match &column.default {
                Some(default) => alter_column(table, &column.name, &format!("SET DEFAULT ({default})")),
                None => alter_column(table, &column.name, "DROP DEFAULT"),
            }));
            continue;
        }
        match rules::strategy(kind, dialect) {
            Strategy::NotYetSupported => refusals.push(Refusal::of(op, not_yet_reason(dialect))),
            Strategy::AddThenBackfill if next.tables.get(table).is_none_or(|t| t.primary_key.is_none()) => refusals.push(Refusal::of(
                op,
                format!(
                    "`{table}` has no primary key to backfill its rows in batches by; give it one in an earlier migration, or add the column without a default"
                ),
            )),
            Strategy::Unsupported => refusals.push(Refusal::of(op, format!("{dialect} cannot do this"))),
            strategy => statements.extend(render(op, strategy, dialect)),
        }
    }
    if refusals.is_empty() { Ok(planned) } else { Err(PlanError::Refused { dialect, refusals }) }
}

/// Foreign keys of tables other than `table` that reference it: `(their table, key)`.
fn referencing<'a>(schema: &'a Schema, table: &'a str) -> impl Iterator<Item = (&'a str, &'a ForeignKey)> {
    schema
        .tables
        .values()
        .filter(move |u| u.name != table)
        .flat_map(move |u| u.foreign_keys.values().filter(move |fk| fk.references_table == table).map(move |fk| (u.name.as_str(), fk)))
}

fn not_null_without_value(table: &str, column: &str) -> String {
    format!("`{table}.{column}` is added as NOT NULL without a default, so the existing rows have no value for it; give it a `default`, or a `fill` for the existing rows")
}

/// The recreation of `table` (see [`crate::compile::recreate`]), placed where its first change
/// needing it stood; or why it cannot be planned.
/// `rebuilt_before`: the tables whose rebuild this migration has already planned, ahead
/// of this one.
fn rebuild(changes: &Changes, next: &Schema, table: &str, dialect: Dialect, rebuilt_before: &BTreeSet<&str>) -> Result<(Vec<PlannedStatement>, Rebuild), String> {
    let (Some(from), Some(to)) = (changes.previous.tables.get(table), next.tables.get(table)) else {
        return Err(format!("`{table}` is not in both the last snapshot and the code"));
    };
    if from.primary_key.is_none() {
        return Err(format!("`{table}` has no primary key to copy its rows in batches by; give it one in an earlier migration, then make this change"));
    }
    let new_table = format!("{table}{}", recreate::NEW_SUFFIX);
    let old_table = format!("{table}{}", recreate::OLD_SUFFIX);
    if new_table.len() > rules::MAX_IDENTIFIER_BYTES {
        return Err(format!("`{table}` is too long a name to rebuild beside itself (`{new_table}` exceeds {} bytes)", rules::MAX_IDENTIFIER_BYTES));
    }

    // Columns the copy writes, and from what; new columns take their `fill`, else their
    // default from the INSERT itself.
    let (mut columns, mut expressions) = (Vec::new(), Vec::new());
    for column in &to.columns {
        let Some(old) = from.column(&column.name) else {
            if let Some(fill) = changes.fill(table, &column.name) {
                columns.push(quote(&column.name));
                expressions.push(format!("({fill})"));
            } else if column.not_null && column.default.is_none() && !column.identity {
                // (An identity column numbers the copied rows itself.)
                return Err(not_null_without_value(table, &column.name));
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
            expr = format!("COALESCE({expr}, ({value}))");
        }
        columns.push(quote(&column.name));
        expressions.push(expr);
    }

    // The changes that call for the rebuild, and the cheaper way when there is one.
    let needing: Vec<&Op> = changes.ops.iter().filter(|op| op.table() == table && rules::strategy(op.kind(), dialect) == Strategy::Recreate).collect();
    let kind = needing.first().map(|op| op.kind()).unwrap_or(ChangeKind::AlterColumnType);
    let plain = |sql: String| PlannedStatement::new(sql, kind, table);
    let mut steps: Vec<(String, PlannedStatement)> = Vec::new();
    // Other tables' keys pointing at the old table would stop it from being dropped.
    // (A referencing table dropped by this migration is gone by now.)
    let mut dropped = BTreeSet::new();
    for (u, fk) in referencing(&changes.previous, table).filter(|(u, _)| next.tables.contains_key(*u)).chain(referencing(next, table)) {
        if dropped.insert((u, fk.name.as_str())) {
            steps.push((
                format!("drop foreign key {} of {}", quote(&fk.name), quote(u)),
                plain(format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(u), quote(&fk.name))),
            ));
        }
    }
    // The key's and the uniques' names are index names, unique per schema, and the old
    // table keeps them (so `ON CONFLICT ON CONSTRAINT` keeps working) until it is dropped:
    // the new table's go by a temporary name until then.
    let mut shape = to.clone();
    shape.name = new_table.clone();
    let mut renamed_after = Vec::new();
    for name in to.primary_key.iter().map(|k| &k.name).chain(to.uniques.keys()) {
        let temporary = format!("{name}{}", recreate::NEW_SUFFIX);
        if temporary.len() > rules::MAX_IDENTIFIER_BYTES {
            return Err(format!(
                "`{name}` on `{table}` is too long a name for the rebuild's temporary `{temporary}` (over {} bytes); rename it in an earlier migration",
                rules::MAX_IDENTIFIER_BYTES
            ));
        }
        renamed_after.push((temporary, name.clone()));
    }
    if let Some(k) = &mut shape.primary_key {
        k.name = format!("{}{}", k.name, recreate::NEW_SUFFIX);
    }
    shape.uniques = shape.uniques.into_values().map(|u| (format!("{}{}", u.name, recreate::NEW_SUFFIX), Unique { name: format!("{}{}", u.name, recreate::NEW_SUFFIX), ..u })).collect();
    // A key referencing the table itself would follow the old table, so it is added last.
    let self_references: Vec<String> = to.foreign_keys.values().filter(|fk| fk.references_table == table).map(|fk| fk.name.clone()).collect();
    steps.push(("create the new table".into(), plain(create_table(&shape, &self_references, dialect))));
    steps.push((
        "copy the rows in batches, check the counts, copy the grants".into(),
        PlannedStatement { batched: true, ..plain(directive::copy_statement(table, &new_table, &columns, &expressions)) },
    ));
    steps.push(("swap: move the old table aside".into(), plain(format!("ALTER TABLE {} RENAME TO {};", quote(table), quote(&old_table)))));
    steps.push(("swap: put the new table in its place".into(), plain(format!("ALTER TABLE {} RENAME TO {};", quote(&new_table), quote(table)))));
    steps.push(("drop the old table".into(), plain(format!("DROP TABLE IF EXISTS {};", quote(&old_table)))));
    for (temporary, name) in renamed_after {
        steps.push((
            "give the key or a unique its name".into(),
            plain(format!("ALTER TABLE {} RENAME CONSTRAINT {} TO {};", quote(table), quote(&temporary), quote(&name))),
        ));
    }
    for i in to.indexes.values() {
        steps.push(("recreate an index".into(), create_index(table, &i.name, &i.columns, i.unique, Strategy::IndexAsync, kind)));
    }
    // A key this migration adds to another table is added by that change, after this
    // rebuild; unless that table was rebuilt before this one, its new key then already
    // made (and just dropped here).
    let added_anyway = |u: &str, name: &str| {
        !rebuilt_before.contains(u) && changes.ops.iter().any(|op| match op {
            Op::AddForeignKey { table, foreign_key } => table == u && foreign_key.name == name,
            Op::CreateTable { table, deferred_fks } => table.name == u && deferred_fks.iter().any(|d| d == name),
            _ => false,
        })
    };
    let self_keys = to.foreign_keys.values().filter(|fk| fk.references_table == table).map(|fk| (table, fk));
    for (u, fk) in self_keys.chain(referencing(next, table).filter(|(u, fk)| !added_anyway(u, &fk.name))) {
        let [add, validate] = add_constraint_not_valid(u, &fk.name, &foreign_key_clause(fk), dialect, kind);
        steps.push((format!("add back foreign key {} of {}", quote(&fk.name), quote(u)), add));
        steps.push((format!("validate foreign key {} of {}", quote(&fk.name), quote(u)), validate));
    }

    let n = steps.len();
    let statements: Vec<PlannedStatement> = steps
        .into_iter()
        .enumerate()
        .map(|(k, (what, statement))| PlannedStatement {
            sql: format!("{}{}\n{}", recreate::STEP_MARK, recreate::step_header(table, k + 1, n, &what), statement.sql),
            rebuild_step: Some((table.to_owned(), k + 1, n)),
            ..statement
        })
        .collect();
    let rebuild = Rebuild {
        table: table.to_owned(),
        because: needing.iter().map(|op| op.to_string()).collect(),
        steps: n,
        foreign_keys_dropped: dropped.into_iter().map(|(u, name)| (u.to_owned(), name.to_owned())).collect(),
        alternative: cheaper_alternative(&needing),
    };
    Ok((statements, rebuild))
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
    if alternatives.is_empty() { None } else { Some(alternatives.join("; ")) }
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
        // In parentheses: the attribute's expression cannot run on into the column's
        // definition (`'x' NOT NULL`, `COLLATE ..`).
        out.push_str(" DEFAULT (");
        out.push_str(default);
        out.push(')');
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

fn create_index(table: &str, name: &str, columns: &[String], unique: bool, strategy: Strategy, change: ChangeKind) -> PlannedStatement {
    let mode = match strategy {
        Strategy::IndexAsync => IndexMode::Async,
        Strategy::IndexConcurrently => IndexMode::Concurrently,
        _ => IndexMode::Plain,
    };
    let keyword = match mode {
        IndexMode::Async => " ASYNC",
        IndexMode::Concurrently => " CONCURRENTLY",
        IndexMode::Plain => "",
    };
    let unique_word = if unique { " UNIQUE" } else { "" };
    let sql = format!("CREATE{unique_word} INDEX{keyword} IF NOT EXISTS {} ON {} ({});", quote(name), quote(table), quote_list(columns));
    PlannedStatement {
        index: Some(IndexCreation { name: Some(name.to_owned()), unique, mode }),
        non_transactional: mode == IndexMode::Concurrently,
        ..PlannedStatement::new(sql, change, table)
    }
}

/// `ADD CONSTRAINT .. NOT VALID` then the validation, in the dialect's form.
fn add_constraint_not_valid(table: &str, name: &str, body: &str, dialect: Dialect, change: ChangeKind) -> [PlannedStatement; 2] {
    let is_async = dialect == Dialect::Dsql;
    let add = format!("ALTER TABLE {} ADD CONSTRAINT {} {body} NOT VALID;", quote(table), quote(name));
    let validate = format!("ALTER TABLE{} {} VALIDATE CONSTRAINT {};", if is_async { " ASYNC" } else { "" }, quote(table), quote(name));
    [
        PlannedStatement { adds_constraint: Some((Some(table.to_owned()), name.to_owned())), ..PlannedStatement::new(add, change, table) },
        PlannedStatement {
            validation: Some(Validation { table: Some(table.to_owned()), constraint: Some(name.to_owned()), is_async }),
            ..PlannedStatement::new(validate, change, table)
        },
    ]
}

fn alter_column(table: &str, column: &str, action: &str) -> String {
    format!("ALTER TABLE {} ALTER COLUMN {} {action};", quote(table), quote(column))
}

fn render(op: &Op, strategy: Strategy, dialect: Dialect) -> Vec<PlannedStatement> {
    let (t, kind) = (op.table(), op.kind());
    let p = |sql: String| PlannedStatement::new(sql, kind, t);
    let adds = |sql: String, name: &str| PlannedStatement { adds_constraint: Some((Some(t.to_owned()), name.to_owned())), ..p(sql) };
    match op {
        Op::CreateTable { table, deferred_fks } => vec![p(create_table(table, deferred_fks, dialect))],
        Op::DropTable { table } => vec![p(format!("DROP TABLE IF EXISTS {};", quote(table)))],
        Op::RenameTable { from, to } => vec![p(format!("ALTER TABLE {} RENAME TO {};", quote(from), quote(to)))],
        Op::AddColumn { column, .. } => match (&column.default, strategy) {
            (Some(default), Strategy::AddThenBackfill) => {
                let bare = Column { default: None, ..column.clone() };
                vec![
                    p(format!("ALTER TABLE {} ADD COLUMN {};", quote(t), column_definition(&bare, dialect))),
                    p(alter_column(t, &column.name, &format!("SET DEFAULT ({default})"))),
                    PlannedStatement { batched: true, ..p(directive::backfill_statement(t, &column.name, &format!("({default})"))) },
                ]
            }
            _ => vec![p(format!("ALTER TABLE {} ADD COLUMN {};", quote(t), column_definition(column, dialect)))],
        },
        Op::DropColumn { column, .. } => vec![p(format!("ALTER TABLE {} DROP COLUMN {};", quote(t), quote(column)))],
        Op::RenameColumn { from, to, .. } => vec![p(format!("ALTER TABLE {} RENAME COLUMN {} TO {};", quote(t), quote(from), quote(to)))],
        Op::AlterColumnType { column, to, .. } => vec![p(alter_column(t, column, &format!("SET DATA TYPE {to} USING {}::{to}", quote(column))))],
        Op::SetNotNull { column, .. } => vec![p(alter_column(t, column, "SET NOT NULL"))],
        Op::DropNotNull { column, .. } => vec![p(alter_column(t, column, "DROP NOT NULL"))],
        Op::SetDefault { column, default, .. } => vec![p(alter_column(t, column, &format!("SET DEFAULT ({default})")))],
        Op::DropDefault { column, .. } => vec![p(alter_column(t, column, "DROP DEFAULT"))],
        // The new sequence starts at 1: it continues past the rows already there.
        Op::AddIdentity { column, .. } => vec![
            p(alter_column(t, column, "ADD GENERATED BY DEFAULT AS IDENTITY")),
            p(format!(
                "SELECT setval(pg_get_serial_sequence('{}', '{}'), coalesce(max({}), 0) + 1, false) FROM {};",
                quote(t).replace('\'', "''"),
                column.replace('\'', "''"),
                quote(column),
                quote(t)
            )),
        ],
        Op::DropIdentity { column, .. } => vec![p(alter_column(t, column, "DROP IDENTITY IF EXISTS"))],
        Op::ChangePrimaryKey { from, to, .. } => {
            let mut out = Vec::new();
            if let Some(pk) = from {
                out.push(p(format!("ALTER TABLE {} DROP CONSTRAINT {};", quote(t), quote(&pk.name))));
            }
            if let Some(pk) = to {
                out.push(adds(format!("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({});", quote(t), quote(&pk.name), quote_list(&pk.columns)), &pk.name));
            }
            out
        }
        Op::CreateIndex { index: Index { name, columns, unique }, .. } => vec![create_index(t, name, columns, *unique, strategy, kind)],
        Op::AddUnique { unique, .. } => vec![
            create_index(t, &unique.name, &unique.columns, true, Strategy::IndexConcurrently, kind),
            adds(format!("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {};", quote(t), quote(&unique.name), quote(&unique.name)), &unique.name),
        ],
        // Earlier versions added a unique to an existing table as a bare unique index;
        // the second statement removes such an index, and is a no-op otherwise.
        Op::DropUnique { name, .. } => vec![
            p(format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(t), quote(name))),
            p(format!("DROP INDEX IF EXISTS {};", quote(name))),
        ],
        Op::DropIndex { name, .. } => vec![p(format!("DROP INDEX IF EXISTS {};", quote(name)))],
        Op::AddCheck { check, .. } => add_constraint_not_valid(t, &check.name, &format!("CHECK ({})", check.expression), dialect, kind).into(),
        Op::AddForeignKey { foreign_key, .. } => add_constraint_not_valid(t, &foreign_key.name, &foreign_key_clause(foreign_key), dialect, kind).into(),
        Op::DropCheck { name, .. } | Op::DropForeignKey { name, .. } => {
            vec![p(format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};", quote(t), quote(name)))]
        }
        // On PostgreSQL a key's or unique's index is renamed, which renames the constraint
        // too, and also works where earlier versions left a bare unique index.
        Op::RenameConstraint { from, to, index_backed: true, .. } if dialect == Dialect::Postgres => {
            vec![p(format!("ALTER INDEX {} RENAME TO {};", quote(from), quote(to)))]
        }
        Op::RenameConstraint { from, to, .. } => vec![p(format!("ALTER TABLE {} RENAME CONSTRAINT {} TO {};", quote(t), quote(from), quote(to)))],
        Op::RenameIndex { from, index, .. } if strategy == Strategy::RecreateIndexAsync => vec![
            p(format!("DROP INDEX IF EXISTS {};", quote(from))),
            create_index(t, &index.name, &index.columns, index.unique, Strategy::IndexAsync, kind),
        ],
        Op::RenameIndex { from, index, .. } => vec![p(format!("ALTER INDEX {} RENAME TO {};", quote(from), quote(&index.name)))],
    }
}

/// Where the SQL of `plan` says something other than what the planner knew, as the
/// runner reads it ([`crate::sql::statement::classify`], the step labels, the directives);
/// empty when they agree. Tests hold it empty for every plan they make.
pub fn text_disagreements(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for p in &plan.statements {
        let info = crate::sql::statement::classify(&p.sql);
        let label = recreate::step_label(&p.sql).map(|(table, rest)| (table, rest.split(':').next().unwrap_or_default().to_owned()));
        let facts = [
            ("index", format!("{:?}", info.index), format!("{:?}", p.index)),
            ("validation", format!("{:?}", info.validation), format!("{:?}", p.validation)),
            ("added constraint", format!("{:?}", info.adds_constraint), format!("{:?}", p.adds_constraint)),
            ("non-transactional", info.non_transactional.to_string(), p.non_transactional.to_string()),
            ("directive", matches!(directive::parse(&p.sql), Ok(Some(_))).to_string(), p.batched.to_string()),
            ("recreation step", format!("{label:?}"), format!("{:?}", p.rebuild_step.as_ref().map(|(table, k, n)| (table.clone(), format!("{k}/{n}"))))),
        ];
        for (what, read, known) in facts {
            if read != known {
                out.push(format!("{what}: the text says {read}, the plan {known}: {}", p.sql));
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
        refusals.iter().map(|r| crate::error::ErrorItem { table: Some(r.table.clone()), column: r.column.clone(), fix: vec![r.reason.clone()], ..crate::error::ErrorItem::new(r.kind.id(), &r.change) }).collect()
    }
}
