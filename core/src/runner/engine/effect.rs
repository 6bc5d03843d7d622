//! What a schema statement changes in the catalog, read with the SQL parser, so that the
//! outcome of an interrupted statement is decided from the database and never from an
//! error code: each change is a fact (a table, column, index or constraint exists) that
//! is false before the statement and true after it, or the reverse.

use sqlparser::ast::{
    AlterColumnOperation, AlterIndexOperation, AlterTableOperation, Ident, ObjectName, ObjectType,
    RenameTableNameKind, Statement, TableConstraint,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// Something the catalog can say yes or no to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fact {
    /// A table (or view) `schema.name` exists.
    Table { schema: String, name: String },
    /// Column `column` of `schema.table` exists, with `sql_type` (canonical) when given.
    Column {
        schema: String,
        table: String,
        column: String,
        sql_type: Option<String>,
    },
    /// Index `schema.name` exists.
    Index { schema: String, name: String },
    /// Constraint `name` of `schema.table` exists.
    Constraint {
        schema: String,
        table: String,
        name: String,
    },
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fact::Table { schema, name } => write!(f, "table `{schema}.{name}`"),
            Fact::Column {
                table,
                column,
                sql_type: Some(t),
                ..
            } => write!(f, "column `{table}.{column}` of type {t}"),
            Fact::Column { table, column, .. } => write!(f, "column `{table}.{column}`"),
            Fact::Index { schema, name } => write!(f, "index `{schema}.{name}`"),
            Fact::Constraint { table, name, .. } => write!(f, "constraint `{name}` on `{table}`"),
        }
    }
}

/// One change a statement makes: `fact` goes from `before` to `!before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub fact: Fact,
    /// Whether the fact holds before the statement.
    pub before: bool,
}

/// What running a statement does to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Running it again gives the same database as running it once (`IF NOT EXISTS`,
    /// `IF EXISTS`, `SET DEFAULT`, `GRANT`, `VALIDATE CONSTRAINT`, a type change, ..).
    Idempotent,
    /// These changes, all or none (the statement is one transaction).
    Changes(Vec<Change>),
    /// Not a statement whose effect the runner can read off the catalog; why.
    Unknown(String),
}

/// The identifier as PostgreSQL folds it: quoted stays, unquoted goes lower case.
fn folded(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// `(schema, name)` of a possibly qualified name; unqualified names are in `public`.
fn qualified(name: &ObjectName) -> Option<(String, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(folded))
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [n] => Some(("public".into(), n.clone())),
        [s, n] => Some((s.clone(), n.clone())),
        _ => None,
    }
}

fn constraint_name(c: &TableConstraint) -> Option<&Ident> {
    match c {
        TableConstraint::Unique(u) => u.name.as_ref(),
        TableConstraint::PrimaryKey(p) => p.name.as_ref(),
        TableConstraint::ForeignKey(f) => f.name.as_ref(),
        TableConstraint::Check(c) => c.name.as_ref(),
        TableConstraint::PrimaryKeyUsingIndex(c) | TableConstraint::UniqueUsingIndex(c) => {
            c.name.as_ref()
        }
        _ => None,
    }
}

/// The canonical spelling of a column type, when the schema language knows it.
fn canonical_type(data_type: &sqlparser::ast::DataType) -> Option<String> {
    crate::schema::types::canonical_sql_type(&data_type.to_string()).ok()
}

/// `(schema, name)` of the index a `CREATE INDEX` statement builds, when it names one.
pub(crate) fn created_index(sql: &str) -> Option<(String, String)> {
    let statements = crate::sql::within_parse_budget(sql, |sql| {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()
    })??;
    let [Statement::CreateIndex(i)] = statements.as_slice() else {
        return None;
    };
    let name = i.name.as_ref()?;
    let (table_schema, _) = qualified(&i.table_name)?;
    let (schema, index) = qualified(name)?;
    Some((
        if name.0.len() == 2 {
            schema
        } else {
            table_schema
        },
        index,
    ))
}

/// What `sql` (one statement) does to the catalog.
pub(crate) fn of(sql: &str) -> Effect {
    let statements = match crate::sql::within_parse_budget(sql, |sql| Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| e.to_string())) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Effect::Unknown(format!("the statement does not parse ({e})")),
        None => return Effect::Unknown("the parser does not read the statement within its limits (a name of more than five parts, or 2 s)".to_owned()),
    };
    let [statement] = statements.as_slice() else {
        return Effect::Unknown(format!(
            "{} statements where one was expected",
            statements.len()
        ));
    };
    let unnamed =
        |what: &str| Effect::Unknown(format!("{what} without a name cannot be looked up"));
    let changes = match statement {
        Statement::CreateTable(t) if t.if_not_exists || t.or_replace => return Effect::Idempotent,
        Statement::CreateTable(t) => {
            let Some((schema, table)) = qualified(&t.name) else {
                return unnamed("a table");
            };
            let mut changes = vec![Change {
                fact: Fact::Table {
                    schema: schema.clone(),
                    name: table.clone(),
                },
                before: false,
            }];
            changes.extend(t.columns.iter().map(|c| Change {
                fact: Fact::Column {
                    schema: schema.clone(),
                    table: table.clone(),
                    column: folded(&c.name),
                    sql_type: canonical_type(&c.data_type),
                },
                before: false,
            }));
            changes
        }
        Statement::CreateIndex(i) if i.if_not_exists => return Effect::Idempotent,
        Statement::CreateIndex(_) => match created_index(sql) {
            Some((schema, name)) => vec![Change {
                fact: Fact::Index { schema, name },
                before: false,
            }],
            None => return unnamed("an index"),
        },
        Statement::Drop {
            if_exists: true, ..
        } => return Effect::Idempotent,
        Statement::Drop {
            object_type, names, ..
        } => {
            let mut changes = Vec::new();
            for name in names {
                let Some((schema, name)) = qualified(name) else {
                    return unnamed("an object");
                };
                let fact = match object_type {
                    ObjectType::Table | ObjectType::View => Fact::Table { schema, name },
                    ObjectType::Index => Fact::Index { schema, name },
                    other => {
                        return Effect::Unknown(format!(
                            "`DROP {other}` is not one the runner reads back"
                        ));
                    }
                };
                changes.push(Change { fact, before: true });
            }
            changes
        }
        Statement::AlterIndex {
            name,
            operation: AlterIndexOperation::RenameIndex { index_name },
        } => {
            let (Some((schema, from)), Some((_, to))) = (qualified(name), qualified(index_name))
            else {
                return unnamed("an index");
            };
            vec![
                Change {
                    fact: Fact::Index {
                        schema: schema.clone(),
                        name: from,
                    },
                    before: true,
                },
                Change {
                    fact: Fact::Index { schema, name: to },
                    before: false,
                },
            ]
        }
        Statement::AlterTable(alter) => {
            let Some((schema, table)) = qualified(&alter.name) else {
                return unnamed("a table");
            };
            let column = |c: &Ident, sql_type: Option<String>| Fact::Column {
                schema: schema.clone(),
                table: table.clone(),
                column: folded(c),
                sql_type,
            };
            let constraint = |c: &Ident| Fact::Constraint {
                schema: schema.clone(),
                table: table.clone(),
                name: folded(c),
            };
            let mut changes = Vec::new();
            for op in &alter.operations {
                match op {
                    AlterTableOperation::AddColumn {
                        if_not_exists: true,
                        ..
                    }
                    | AlterTableOperation::DropColumn {
                        if_exists: true, ..
                    }
                    | AlterTableOperation::DropConstraint {
                        if_exists: true, ..
                    }
                    | AlterTableOperation::ValidateConstraint { .. }
                    | AlterTableOperation::EnableRowLevelSecurity
                    | AlterTableOperation::DisableRowLevelSecurity => {}
                    AlterTableOperation::AlterColumn { op, .. } => match op {
                        AlterColumnOperation::SetNotNull
                        | AlterColumnOperation::DropNotNull
                        | AlterColumnOperation::SetDefault { .. }
                        | AlterColumnOperation::DropDefault
                        | AlterColumnOperation::DropIdentity { if_exists: true }
                        | AlterColumnOperation::DropExpression { if_exists: true }
                        | AlterColumnOperation::SetDataType { .. } => {}
                        other => {
                            return Effect::Unknown(format!(
                                "`ALTER COLUMN .. {other}` is not one the runner reads back"
                            ));
                        }
                    },
                    AlterTableOperation::AddColumn { column_def, .. } => changes.push(Change {
                        fact: column(&column_def.name, canonical_type(&column_def.data_type)),
                        before: false,
                    }),
                    AlterTableOperation::DropColumn { column_names, .. } => {
                        changes.extend(column_names.iter().map(|c| Change {
                            fact: column(c, None),
                            before: true,
                        }))
                    }
                    AlterTableOperation::RenameColumn {
                        old_column_name,
                        new_column_name,
                    } => {
                        changes.push(Change {
                            fact: column(old_column_name, None),
                            before: true,
                        });
                        changes.push(Change {
                            fact: column(new_column_name, None),
                            before: false,
                        });
                    }
                    AlterTableOperation::RenameTable {
                        table_name: RenameTableNameKind::To(to) | RenameTableNameKind::As(to),
                    } => {
                        let Some((_, to)) = qualified(to) else {
                            return unnamed("a table");
                        };
                        changes.push(Change {
                            fact: Fact::Table {
                                schema: schema.clone(),
                                name: table.clone(),
                            },
                            before: true,
                        });
                        changes.push(Change {
                            fact: Fact::Table {
                                schema: schema.clone(),
                                name: to,
                            },
                            before: false,
                        });
                    }
                    AlterTableOperation::RenameConstraint { old_name, new_name } => {
                        changes.push(Change {
                            fact: constraint(old_name),
                            before: true,
                        });
                        changes.push(Change {
                            fact: constraint(new_name),
                            before: false,
                        });
                    }
                    AlterTableOperation::AddConstraint { constraint: c, .. } => {
                        match constraint_name(c) {
                            Some(name) => changes.push(Change {
                                fact: constraint(name),
                                before: false,
                            }),
                            None => return unnamed("a constraint"),
                        }
                    }
                    AlterTableOperation::DropConstraint { name, .. } => changes.push(Change {
                        fact: constraint(name),
                        before: true,
                    }),
                    other => {
                        return Effect::Unknown(format!(
                            "`ALTER TABLE .. {other}` is not one the runner reads back"
                        ));
                    }
                }
            }
            changes
        }
        Statement::AlterType(t) if matches!(&t.operation, sqlparser::ast::AlterTypeOperation::AddValue(v) if v.if_not_exists) =>
        {
            return Effect::Idempotent;
        }
        Statement::CreateSchema {
            if_not_exists: true,
            ..
        }
        | Statement::Grant(_)
        | Statement::Revoke(_)
        | Statement::Comment { .. }
        | Statement::Analyze(_)
        | Statement::Query(_) => return Effect::Idempotent,
        Statement::CreateView(v) if v.or_replace => return Effect::Idempotent,
        Statement::CreateFunction(f) if f.or_replace => return Effect::Idempotent,
        other => {
            let keyword = other
                .to_string()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Effect::Unknown(format!(
                "`{keyword} ..` is not a statement the runner reads back from the catalog"
            ));
        }
    };
    if changes.is_empty() {
        Effect::Idempotent
    } else {
        Effect::Changes(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(sql: &str) -> Vec<(String, bool)> {
        match of(sql) {
            Effect::Changes(c) => c
                .into_iter()
                .map(|c| (c.fact.to_string(), c.before))
                .collect(),
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn generated_statements_that_are_safe_to_repeat_are_idempotent() {
        for sql in [
            "CREATE TABLE IF NOT EXISTS \"t\" (\"id\" integer NOT NULL)",
            "CREATE UNIQUE INDEX ASYNC IF NOT EXISTS \"t_a_key\" ON \"t\" (\"a\")",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_a_idx\" ON \"t\" (\"a\")",
            "DROP TABLE IF EXISTS \"t__tw_old\"",
            "DROP INDEX IF EXISTS \"i\"",
            "ALTER TABLE \"t\" DROP CONSTRAINT IF EXISTS \"c\"",
            "ALTER TABLE ASYNC \"t\" VALIDATE CONSTRAINT \"c\"",
            "ALTER TABLE \"t\" ALTER COLUMN \"a\" SET DEFAULT 'x'",
            "ALTER TABLE \"t\" ALTER COLUMN \"a\" DROP NOT NULL",
            "ALTER TABLE \"t\" ALTER COLUMN \"a\" TYPE bigint",
            "GRANT SELECT ON \"t\" TO r",
            "SELECT 1",
        ] {
            assert_eq!(of(sql), Effect::Idempotent, "{sql}");
        }
    }

    #[test]
    fn changes_read_off_the_statement() {
        assert_eq!(
            facts("ALTER TABLE \"Books\" ADD COLUMN \"note\" varchar(32)"),
            [(
                "column `Books.note` of type character varying(32)".into(),
                false
            )]
        );
        assert_eq!(
            facts("alter table books rename column a to B"),
            [
                ("column `books.a`".into(), true),
                ("column `books.b`".into(), false)
            ]
        );
        assert_eq!(
            facts("ALTER TABLE \"t\" RENAME TO \"t__tw_old\""),
            [
                ("table `public.t`".into(), true),
                ("table `public.t__tw_old`".into(), false)
            ]
        );
        assert_eq!(
            facts("ALTER TABLE \"t\" ADD CONSTRAINT \"t_a_check\" CHECK (a > 0) NOT VALID"),
            [("constraint `t_a_check` on `t`".into(), false)]
        );
        assert_eq!(
            facts("ALTER TABLE \"t\" RENAME CONSTRAINT \"a\" TO \"b\""),
            [
                ("constraint `a` on `t`".into(), true),
                ("constraint `b` on `t`".into(), false)
            ]
        );
        assert_eq!(
            facts("ALTER TABLE t DROP COLUMN a"),
            [("column `t.a`".into(), true)]
        );
        assert_eq!(facts("DROP TABLE app.t"), [("table `app.t`".into(), true)]);
        assert_eq!(facts("CREATE TABLE t (id integer, name text)").len(), 3);
        assert_eq!(
            facts("CREATE INDEX ASYNC i ON app.t (a)"),
            [("index `app.i`".into(), false)]
        );
        assert_eq!(
            created_index("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"T_a\" ON \"t\" (a)"),
            Some(("public".into(), "T_a".into()))
        );
    }

    #[test]
    fn what_cannot_be_read_back_says_why() {
        for sql in [
            "CREATE INDEX ON t (a)",
            "ALTER TABLE t ADD CHECK (a > 0)",
            "INSERT INTO t VALUES (1)",
            "CREATE TABLE (",
            "SELECT 1; SELECT 2",
        ] {
            assert!(
                matches!(of(sql), Effect::Unknown(_)),
                "{sql}: {:?}",
                of(sql)
            );
        }
    }
}
