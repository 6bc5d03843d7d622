//! The DDL writer: turns the planner's decisions ([`crate::compile::plan`]) into SQL
//! text, one operation at a time, with the strategy the planner chose for the dialect.
//! It decides nothing: what may run, in which order and how is settled before it is
//! called. Names go through [`crate::sql::ident`]'s quoting, literals through its
//! `literal`, expressions and types are the model's parsed `SqlExpr`/`SqlType`.

use crate::compile::ops::Op;
use crate::dialect::{ChangeKind, Dialect, Strategy};
use crate::schema::model::{
    Column, ForeignKey, Identity, Index, IndexKey, KeyTarget, SqlExpr, SqlType, Table,
    bare_table_name, qualified_table_name, table_schema,
};
use crate::sql::directive;
use crate::sql::ident::{
    literal, quote, quote_beside_table, quote_list, quote_qualified, quote_table,
};
use crate::sql::statement::{IndexCreation, IndexMode, Validation};

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
    pub(crate) fn new(sql: String, change: ChangeKind, table: &str) -> PlannedStatement {
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

/// `"name" type [COLLATE ..] [identity] [DEFAULT ..] [NOT NULL]`.
pub(crate) fn column_definition(column: &Column, dialect: Dialect) -> String {
    let mut out = format!("{} {}", quote(&column.name), column.sql_type);
    if let Some(collation) = &column.collation {
        out.push_str(" COLLATE ");
        out.push_str(&quote_qualified(collation));
    }
    if let Some(identity) = &column.identity {
        out.push_str(&format!(" GENERATED {} AS IDENTITY", identity.generation()));
        let options = identity.sequence_options(dsql_cache(dialect));
        if !options.is_empty() {
            out.push_str(&format!(" ({})", options.join(" ")));
        }
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

/// DSQL requires an identity's CACHE written out, 1 or at least 65536; PostgreSQL's
/// default is 1.
pub(crate) fn dsql_cache(dialect: Dialect) -> Option<i64> {
    (dialect == Dialect::Dsql).then_some(1)
}

pub(crate) fn foreign_key_clause(fk: &ForeignKey) -> String {
    format!(
        "FOREIGN KEY ({}) REFERENCES {}({}){}",
        quote_list(&fk.columns),
        quote_table(&fk.references_table),
        quote_list(&fk.references_columns),
        fk.options_sql()
    )
}

/// One key of `CREATE INDEX`: the column or `(expression)`, then its options.
pub(crate) fn index_key(key: &IndexKey) -> String {
    let mut out = match &key.target {
        KeyTarget::Column(c) => quote(c),
        KeyTarget::Expression(e) => format!("({e})"),
    };
    if let Some(collation) = &key.collation {
        out.push_str(" COLLATE ");
        out.push_str(&quote_qualified(collation));
    }
    if let Some(opclass) = &key.opclass {
        out.push(' ');
        out.push_str(&quote_qualified(opclass));
    }
    if key.descending {
        out.push_str(" DESC");
    }
    match key.nulls_first {
        Some(true) => out.push_str(" NULLS FIRST"),
        Some(false) => out.push_str(" NULLS LAST"),
        None => {}
    }
    out
}

pub(crate) fn create_table(table: &Table, deferred_fks: &[String], dialect: Dialect) -> String {
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .map(|c| column_definition(c, dialect))
        .collect();
    if let Some(pk) = &table.primary_key {
        lines.push(format!(
            "CONSTRAINT {} PRIMARY KEY ({})",
            quote(&pk.name),
            quote_list(&pk.columns)
        ));
    }
    for u in table.uniques.values() {
        lines.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            quote(&u.name),
            quote_list(&u.columns)
        ));
    }
    for c in table.checks.values() {
        lines.push(format!(
            "CONSTRAINT {} CHECK ({})",
            quote(&c.name),
            c.expression
        ));
    }
    for fk in table
        .foreign_keys
        .values()
        .filter(|fk| !deferred_fks.contains(&fk.name))
    {
        lines.push(format!(
            "CONSTRAINT {} {}",
            quote(&fk.name),
            foreign_key_clause(fk)
        ));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n\t{}\n);",
        quote_table(&table.name),
        lines.join(",\n\t")
    )
}

pub(crate) fn create_index(
    table: &str,
    index: &Index,
    strategy: Strategy,
    change: ChangeKind,
) -> PlannedStatement {
    let (name, unique) = (index.name.as_str(), index.unique);
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
    let method = index
        .method
        .map(|m| format!(" USING {}", m.sql()))
        .unwrap_or_default();
    let keys: Vec<String> = index.columns.iter().map(index_key).collect();
    let include = if index.include.is_empty() {
        String::new()
    } else {
        format!(" INCLUDE ({})", quote_list(&index.include))
    };
    let predicate = index
        .predicate
        .as_ref()
        .map(|p| format!(" WHERE ({p})"))
        .unwrap_or_default();
    let sql = format!(
        "CREATE{unique_word} INDEX{keyword} IF NOT EXISTS {} ON {}{method} ({}){include}{predicate};",
        quote(name),
        quote_table(table),
        keys.join(", ")
    );
    PlannedStatement {
        index: Some(IndexCreation {
            name: Some(name.to_owned()),
            unique,
            mode,
        }),
        non_transactional: mode == IndexMode::Concurrently,
        ..PlannedStatement::new(sql, change, table)
    }
}

/// `ADD CONSTRAINT .. NOT VALID` then the validation, in the dialect's form.
pub(crate) fn add_constraint_not_valid(
    table: &str,
    name: &str,
    body: &str,
    dialect: Dialect,
    change: ChangeKind,
) -> [PlannedStatement; 2] {
    let is_async = dialect == Dialect::Dsql;
    let add = format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {body} NOT VALID;",
        quote_table(table),
        quote(name)
    );
    let validate = format!(
        "ALTER TABLE{} {} VALIDATE CONSTRAINT {};",
        if is_async { " ASYNC" } else { "" },
        quote_table(table),
        quote(name)
    );
    [
        PlannedStatement {
            adds_constraint: Some((Some(table.to_owned()), name.to_owned())),
            ..PlannedStatement::new(add, change, table)
        },
        PlannedStatement {
            validation: Some(Validation {
                table: Some(table.to_owned()),
                constraint: Some(name.to_owned()),
                is_async,
            }),
            ..PlannedStatement::new(validate, change, table)
        },
    ]
}

/// ` COLLATE ".."`, or nothing.
pub(crate) fn collate_clause(collation: Option<&str>) -> String {
    collation
        .map(|c| format!(" COLLATE {}", quote_qualified(c)))
        .unwrap_or_default()
}

/// `ADD GENERATED .. AS IDENTITY [(..)]`.
pub(crate) fn add_identity(identity: &Identity, dialect: Dialect) -> String {
    let options = identity.sequence_options(dsql_cache(dialect));
    let options = if options.is_empty() {
        String::new()
    } else {
        format!(" ({})", options.join(" "))
    };
    format!(
        "ADD GENERATED {} AS IDENTITY{options}",
        identity.generation()
    )
}

/// A sequence made for a column that has rows would hand out their values again: it
/// continues past the largest (the smallest, counting down), and never before its start.
pub(crate) fn continue_identity(table: &str, column: &str, identity: &Identity) -> String {
    let start = identity.start.unwrap_or(identity.default_start());
    let (bound, step) = if identity.counts_down() {
        ("least(min", "- 1")
    } else {
        ("greatest(max", "+ 1")
    };
    format!(
        "SELECT setval(pg_get_serial_sequence({}, {}), {bound}({}) {step}, {start}), false) FROM {};",
        literal(&quote_table(table)),
        literal(column),
        quote(column),
        quote_table(table)
    )
}

/// `SET GENERATED .. SET ..` for what changed, defaults written out for options removed.
pub(crate) fn alter_identity(from: &Identity, to: &Identity) -> String {
    let mut parts = Vec::new();
    if from.always != to.always {
        parts.push(format!("SET GENERATED {}", to.generation()));
    }
    if from.increment != to.increment {
        parts.push(format!("SET INCREMENT BY {}", to.increment.unwrap_or(1)));
    }
    if from.cache != to.cache {
        parts.push(format!("SET CACHE {}", to.cache.unwrap_or(1)));
    }
    if from.start != to.start {
        let start = to.start.unwrap_or(to.default_start());
        parts.push(format!("SET START WITH {start}"));
    }
    parts.join(" ")
}

pub(crate) fn alter_column(table: &str, column: &str, action: &str) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN {} {action};",
        quote_table(table),
        quote(column)
    )
}

pub(crate) fn statements(op: &Op, strategy: Strategy, dialect: Dialect) -> Vec<PlannedStatement> {
    let (t, kind) = (op.table(), op.kind());
    let p = |sql: String| PlannedStatement::new(sql, kind, t);
    let adds = |sql: String, name: &str| PlannedStatement {
        adds_constraint: Some((Some(t.to_owned()), name.to_owned())),
        ..p(sql)
    };
    match op {
        Op::CreateTable {
            table,
            deferred_fks,
        } => vec![p(create_table(table, deferred_fks, dialect))],
        Op::DropTable { table } => vec![p(drop_table(table))],
        Op::RenameTable { from, to } => vec![p(rename_table(from, to))],
        Op::AddColumn { column, .. } => match (&column.default, strategy) {
            (Some(default), Strategy::AddThenBackfill) => {
                let bare = Column {
                    default: None,
                    ..column.clone()
                };
                vec![
                    p(format!(
                        "ALTER TABLE {} ADD COLUMN {};",
                        quote_table(t),
                        column_definition(&bare, dialect)
                    )),
                    p(alter_column(
                        t,
                        &column.name,
                        &format!("SET DEFAULT ({default})"),
                    )),
                    PlannedStatement {
                        batched: true,
                        ..p(directive::backfill_statement(
                            t,
                            &column.name,
                            &format!("({default})"),
                        ))
                    },
                ]
            }
            _ => vec![p(format!(
                "ALTER TABLE {} ADD COLUMN {};",
                quote_table(t),
                column_definition(column, dialect)
            ))],
        },
        Op::DropColumn { column, .. } => vec![p(format!(
            "ALTER TABLE {} DROP COLUMN {};",
            quote_table(t),
            quote(column)
        ))],
        Op::RenameColumn { from, to, .. } => vec![p(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {};",
            quote_table(t),
            quote(from),
            quote(to)
        ))],
        Op::AlterColumnType {
            column,
            from,
            to,
            collation,
            ..
        } => {
            // Between an enum and another type only text converts (there is no cast
            // from one enum to another, or from one to an integer).
            let via_text = if [from, to]
                .iter()
                .any(|t| SqlType::is_defined_type_name(t.as_str()))
            {
                "::text"
            } else {
                ""
            };
            vec![p(alter_column(
                t,
                column,
                &format!(
                    "SET DATA TYPE {to}{} USING {}{via_text}::{to}",
                    collate_clause(collation.as_deref()),
                    quote(column)
                ),
            ))]
        }
        Op::AlterCollation {
            column,
            sql_type,
            collation,
            ..
        } => {
            vec![p(alter_column(
                t,
                column,
                &format!(
                    "SET DATA TYPE {sql_type}{}",
                    collate_clause(Some(collation.as_deref().unwrap_or("default")))
                ),
            ))]
        }
        Op::SetNotNull { column, .. } => vec![p(alter_column(t, column, "SET NOT NULL"))],
        Op::DropNotNull { column, .. } => vec![p(alter_column(t, column, "DROP NOT NULL"))],
        Op::SetDefault {
            column, default, ..
        } => vec![p(alter_column(
            t,
            column,
            &format!("SET DEFAULT ({default})"),
        ))],
        Op::DropDefault { column, .. } => vec![p(alter_column(t, column, "DROP DEFAULT"))],
        Op::AddIdentity {
            column, identity, ..
        } => vec![
            p(alter_column(t, column, &add_identity(identity, dialect))),
            p(continue_identity(t, column, identity)),
        ],
        Op::DropIdentity { column, .. } => {
            vec![p(alter_column(t, column, "DROP IDENTITY IF EXISTS"))]
        }
        // A sequence cannot turn round (its bounds and start are the old direction's): a
        // new one, continuing past the rows there.
        Op::AlterIdentity {
            column, from, to, ..
        } if from.counts_down() != to.counts_down() => vec![
            p(alter_column(t, column, "DROP IDENTITY IF EXISTS")),
            p(alter_column(t, column, &add_identity(to, dialect))),
            p(continue_identity(t, column, to)),
        ],
        Op::AlterIdentity {
            column, from, to, ..
        } => vec![p(alter_column(t, column, &alter_identity(from, to)))],
        Op::ChangePrimaryKey { from, to, .. } => {
            let mut out = Vec::new();
            if let Some(pk) = from {
                out.push(p(format!(
                    "ALTER TABLE {} DROP CONSTRAINT {};",
                    quote_table(t),
                    quote(&pk.name)
                )));
            }
            if let Some(pk) = to {
                out.push(adds(
                    format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({});",
                        quote_table(t),
                        quote(&pk.name),
                        quote_list(&pk.columns)
                    ),
                    &pk.name,
                ));
            }
            out
        }
        Op::CreateIndex { index, .. } => vec![create_index(t, index, strategy, kind)],
        Op::AddUnique { unique, .. } => vec![
            create_index(
                t,
                &Index::plain(&unique.name, &unique.columns, true),
                Strategy::IndexConcurrently,
                kind,
            ),
            adds(
                format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {};",
                    quote_table(t),
                    quote(&unique.name),
                    quote(&unique.name)
                ),
                &unique.name,
            ),
        ],
        // Earlier versions added a unique to an existing table as a bare unique index;
        // the second statement removes such an index, and is a no-op otherwise.
        Op::DropUnique { name, .. } => vec![
            p(drop_constraint_if_exists(t, name)),
            p(format!(
                "DROP INDEX IF EXISTS {};",
                quote_beside_table(t, name)
            )),
        ],
        Op::DropIndex { name, .. } => vec![p(format!(
            "DROP INDEX IF EXISTS {};",
            quote_beside_table(t, name)
        ))],
        Op::AddCheck { check, .. } => add_constraint_not_valid(
            t,
            &check.name,
            &format!("CHECK ({})", check.expression),
            dialect,
            kind,
        )
        .into(),
        Op::AddForeignKey { foreign_key, .. } => add_constraint_not_valid(
            t,
            &foreign_key.name,
            &foreign_key_clause(foreign_key),
            dialect,
            kind,
        )
        .into(),
        Op::DropCheck { name, .. } | Op::DropForeignKey { name, .. } => {
            vec![p(drop_constraint_if_exists(t, name))]
        }
        // On PostgreSQL a key's or unique's index is renamed, which renames the constraint
        // too, and also works where earlier versions left a bare unique index.
        Op::RenameConstraint {
            from,
            to,
            index_backed: true,
            ..
        } if dialect == Dialect::Postgres => {
            vec![p(format!(
                "ALTER INDEX {} RENAME TO {};",
                quote_beside_table(t, from),
                quote(to)
            ))]
        }
        Op::RenameConstraint { from, to, .. } => vec![p(rename_constraint(t, from, to))],
        Op::RenameIndex { from, index, .. } if strategy == Strategy::RecreateIndexAsync => vec![
            p(format!(
                "DROP INDEX IF EXISTS {};",
                quote_beside_table(t, from)
            )),
            create_index(t, index, Strategy::IndexAsync, kind),
        ],
        Op::RenameIndex { from, index, .. } => vec![p(format!(
            "ALTER INDEX {} RENAME TO {};",
            quote_beside_table(t, from),
            quote(&index.name)
        ))],
        Op::CreateEnum { enum_type } => vec![p(create_enum(&enum_type.name, &enum_type.values))],
        Op::DropEnum { name } => vec![p(format!("DROP TYPE IF EXISTS {};", quote_table(name)))],
        Op::AddEnumValue {
            name,
            value,
            before,
        } => {
            let position = before
                .as_ref()
                .map(|b| format!(" BEFORE {}", literal(b)))
                .unwrap_or_default();
            let sql = format!(
                "ALTER TYPE {} ADD VALUE IF NOT EXISTS {}{position};",
                quote_table(name),
                literal(value)
            );
            vec![PlannedStatement {
                non_transactional: strategy == Strategy::PlainOutsideTransaction,
                ..p(sql)
            }]
        }
        Op::RenameEnumValue { name, from, to } => vec![p(format!(
            "ALTER TYPE {} RENAME VALUE {} TO {};",
            quote_table(name),
            literal(from),
            literal(to)
        ))],
        Op::RecreateEnum {
            from,
            to,
            columns,
            leaving,
        } => {
            // The old type goes aside, the new one takes its name, each column moves over
            // through text (a removed value fails here, which the allow accepted), and
            // the old type goes. A default names the old type, so it goes first.
            let aside = format!("{}__tw_old", bare_table_name(&from.name));
            let old = qualified_table_name(table_schema(&from.name), &aside);
            let new_type = quote_table(&to.name);
            let mut out = vec![
                p(format!(
                    "ALTER TYPE {} RENAME TO {};",
                    quote_table(&from.name),
                    quote(&aside)
                )),
                p(create_enum(&to.name, &to.values)),
            ];
            for (table, column) in leaving {
                out.push(p(alter_column(table, column, "DROP DEFAULT")));
                out.push(p(alter_column(
                    table,
                    column,
                    &format!("SET DATA TYPE text USING {}::text", quote(column)),
                )));
            }
            for (table, column, default) in columns {
                out.push(p(alter_column(table, column, "DROP DEFAULT")));
                out.push(p(alter_column(
                    table,
                    column,
                    &format!(
                        "SET DATA TYPE {new_type} USING {}::text::{new_type}",
                        quote(column)
                    ),
                )));
                if let Some(default) = default {
                    out.push(p(alter_column(
                        table,
                        column,
                        &format!("SET DEFAULT ({default})"),
                    )));
                }
            }
            out.push(p(format!("DROP TYPE IF EXISTS {};", quote_table(&old))));
            out
        }
    }
}

/// `CREATE TYPE .. AS ENUM (..)`.
pub(crate) fn create_enum(name: &str, values: &[String]) -> String {
    format!(
        "CREATE TYPE {} AS ENUM ({});",
        quote_table(name),
        values
            .iter()
            .map(|v| literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `UPDATE .. SET column = (value) WHERE column IS NULL`: the existing NULLs of a column
/// that becomes NOT NULL get its fill or default.
pub(crate) fn fill_nulls(
    table: &str,
    column: &str,
    value: &crate::schema::model::SqlExpr,
) -> String {
    format!(
        "UPDATE {} SET {} = ({value}) WHERE {} IS NULL;",
        quote_table(table),
        quote(column),
        quote(column)
    )
}

/// A NOT NULL column added with a `fill` other than its default: added with the fill as
/// its default (which fills the existing rows), then given its own default or none.
pub(crate) fn add_column_filled(
    table: &str,
    column: &Column,
    fill: &SqlExpr,
    dialect: Dialect,
) -> [String; 2] {
    let filled = Column {
        default: Some(fill.clone()),
        ..column.clone()
    };
    [
        format!(
            "ALTER TABLE {} ADD COLUMN {};",
            quote_table(table),
            column_definition(&filled, dialect)
        ),
        match &column.default {
            Some(default) => alter_column(table, &column.name, &format!("SET DEFAULT ({default})")),
            None => alter_column(table, &column.name, "DROP DEFAULT"),
        },
    ]
}

/// `ALTER TABLE from RENAME TO to` (`to` in `from`'s schema).
pub(crate) fn rename_table(from: &str, to: &str) -> String {
    format!(
        "ALTER TABLE {} RENAME TO {};",
        quote_table(from),
        quote(bare_table_name(to))
    )
}

/// `DROP TABLE IF EXISTS table`.
pub(crate) fn drop_table(table: &str) -> String {
    format!("DROP TABLE IF EXISTS {};", quote_table(table))
}

/// `ALTER TABLE .. DROP CONSTRAINT IF EXISTS name`.
pub(crate) fn drop_constraint_if_exists(table: &str, name: &str) -> String {
    format!(
        "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
        quote_table(table),
        quote(name)
    )
}

/// `ALTER TABLE .. RENAME CONSTRAINT from TO to`.
pub(crate) fn rename_constraint(table: &str, from: &str, to: &str) -> String {
    format!(
        "ALTER TABLE {} RENAME CONSTRAINT {} TO {};",
        quote_table(table),
        quote(from),
        quote(to)
    )
}

/// `CREATE SCHEMA IF NOT EXISTS schema`.
pub(crate) fn create_schema(schema: &str) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {};", quote(schema))
}

/// What a rebuild's copy writes into a column the old table had: the old value, cast when
/// the type changes (`"pages"::bigint`), and with `fill` for its NULLs when it becomes
/// NOT NULL (`COALESCE("pages", (0))`).
pub(crate) fn copied_value(column: &str, cast: Option<&SqlType>, fill: Option<&SqlExpr>) -> String {
    let mut value = quote(column);
    if let Some(sql_type) = cast {
        value = format!("{value}::{sql_type}");
    }
    if let Some(fill) = fill {
        value = format!("COALESCE({value}, ({fill}))");
    }
    value
}

/// An expression in parentheses, as a value of its own (a new column's fill in a copy).
pub(crate) fn parenthesized(expr: &SqlExpr) -> String {
    format!("({expr})")
}
