//! Validation of the desired schema before any diff: what the structs declare must hang
//! together on its own (references name real keys of comparable types, names do not
//! clash in PostgreSQL's namespaces, index expressions name real columns, enum-typed
//! columns name a declared enum). Every problem is collected, each on the struct that
//! declares it.

use crate::schema::desired::{DesiredSchema, Hint, Location};
use serde::Serialize;
use std::collections::BTreeMap;

/// Something in the desired schema the diff cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Problem {
    /// What is wrong and what to do.
    pub message: String,
    /// Where, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Problem {
    /// A problem with what a hint (`renamed_from`, `enum_type`, ..) names, on the hint.
    pub fn at(hint: &Hint, message: String) -> Problem {
        Problem {
            message,
            location: hint.location.clone(),
        }
    }
}

/// Every problem of `desired`, in this order: references, enum-typed columns, names,
/// index columns.
pub fn problems(desired: &DesiredSchema) -> Vec<Problem> {
    let mut problems = validate_references(desired);
    // A column typed by an enum the structs do not declare would fail at deploy.
    for (table, source) in &desired.sources {
        for (column, hint) in &source.enum_columns {
            if !desired.schema.enums.contains_key(&hint.from) {
                problems.push(Problem::at(hint, format!("`enum_type = \"{}\"` on `{table}.{column}` names no `#[derive(Enum)]` (its `#[enum_type(name)]`, with `schema` outside `public`)", hint.from)));
            }
        }
    }
    problems.extend(validate_names(desired));
    problems.extend(validate_index_columns(desired));
    problems
}

/// Names across tables: tables, keys, uniques, indexes and identity columns' sequences
/// share one namespace per schema (a key or unique is backed by an index of its name, an
/// identity column by a sequence PostgreSQL names), so a clash would turn
/// `CREATE .. IF NOT EXISTS` into a silent no-op; each is an error, on the struct that
/// declares it. (The grammar checks one table's names and their lengths.) The
/// recreation's `__tw_new`/`__tw_old` table names are the runner's.
fn validate_names(desired: &DesiredSchema) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut relations: BTreeMap<(&str, &str), (&str, &str)> = BTreeMap::new(); // (schema, name) -> (what, table)
    // Relations PostgreSQL makes and names itself.
    let sequences: BTreeMap<&str, Vec<String>> = desired
        .schema
        .tables
        .values()
        .map(|t| {
            (
                t.name.as_str(),
                t.columns
                    .iter()
                    .filter(|c| c.is_identity())
                    .map(|c| crate::schema::model::identity_sequence_name(&t.name, &c.name))
                    .collect(),
            )
        })
        .collect();
    for table in desired.schema.tables.values() {
        let location = desired
            .sources
            .get(&table.name)
            .and_then(|s| s.location.clone());
        let mut problem = |message: String| {
            problems.push(Problem {
                message,
                location: location.clone(),
            })
        };
        let schema = crate::schema::model::table_schema(&table.name);
        let mut relation_names: Vec<(&str, &str)> =
            vec![("table", crate::schema::model::bare_table_name(&table.name))];
        relation_names.extend(
            table
                .primary_key
                .iter()
                .map(|k| ("primary key", k.name.as_str())),
        );
        relation_names.extend(
            table
                .uniques
                .keys()
                .map(|n| ("unique constraint", n.as_str())),
        );
        relation_names.extend(table.indexes.keys().map(|n| ("index", n.as_str())));
        relation_names.extend(
            sequences[table.name.as_str()]
                .iter()
                .map(|n| ("identity sequence", n.as_str())),
        );
        for (what, name) in relation_names {
            match relations.get(&(schema, name)) {
                Some((other, owner)) => problem(format!(
                    "{what} `{name}` of `{}` has the name of {other} `{name}`{}: tables, keys, uniques, indexes and sequences share one namespace per schema; give one of them another `name =`",
                    table.name,
                    if *owner == table.name {
                        String::new()
                    } else {
                        format!(" of `{owner}`")
                    }
                )),
                None => {
                    relations.insert((schema, name), (what, table.name.as_str()));
                }
            }
        }
        // A table is a type too (its rows'), in the same namespace as the enum types.
        if desired.schema.enums.contains_key(&table.name) {
            problem(format!(
                "table `{}` has the name of an enum type: a table's rows are a type of that name; rename one of them",
                table.name
            ));
        }
        if table.name.ends_with(crate::schema::model::NEW_SUFFIX)
            || table.name.ends_with(crate::schema::model::OLD_SUFFIX)
        {
            problem(format!(
                "table `{}`: names ending in `{}` or `{}` are the table recreation's",
                table.name,
                crate::schema::model::NEW_SUFFIX,
                crate::schema::model::OLD_SUFFIX
            ));
        }
    }
    problems
}

/// An index's expressions and predicate may name only the table's columns: the text is
/// the user's, and a rename does not rewrite it (`renamed_from` says which new name an
/// old one became).
fn validate_index_columns(desired: &DesiredSchema) -> Vec<Problem> {
    let mut problems = Vec::new();
    for table in desired.schema.tables.values() {
        let source = desired.sources.get(&table.name);
        for index in table.indexes.values() {
            let mut problem = |message: String| {
                problems.push(Problem {
                    message,
                    location: source.and_then(|s| s.location_of(&index.name)),
                })
            };
            for text in index.expressions() {
                for column in crate::schema::sql_text::expression_columns(text)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| table.column(c).is_none())
                {
                    let renamed = source
                        .and_then(|s| {
                            s.column_renames
                                .iter()
                                .find(|(_, hint)| hint.from == column)
                        })
                        .map(|(now, _)| {
                            format!(": it is `{now}` now; write that in the expression")
                        });
                    problem(format!(
                        "index `{}` on `{}`: `{text}` names `{column}`, which is not a column of the table{}",
                        index.name,
                        table.name,
                        renamed.unwrap_or_default()
                    ));
                }
            }
            for column in index.named_columns().filter(|c| table.column(c).is_none()) {
                problem(format!(
                    "index `{}` on `{}` names `{column}`, which is not a column of the table",
                    index.name, table.name
                ));
            }
        }
    }
    problems
}

/// Every foreign key must reference an existing table and its key or unique columns, from
/// columns of comparable types.
fn validate_references(desired: &DesiredSchema) -> Vec<Problem> {
    let mut problems = Vec::new();
    for table in desired.schema.tables.values() {
        let source = desired.sources.get(&table.name);
        for fk in table.foreign_keys.values() {
            let location = source.and_then(|s| s.location_of(&fk.name));
            let Some(target) = desired.schema.tables.get(&fk.references_table) else {
                problems.push(Problem {
                    message: format!(
                        "foreign key `{}` on `{}` references table `{}`, which no struct describes",
                        fk.name, table.name, fk.references_table
                    ),
                    location: location.clone(),
                });
                continue;
            };
            for (own, column) in fk.columns.iter().zip(&fk.references_columns) {
                let Some(referenced) = target.column(column) else {
                    problems.push(Problem {
                        message: format!("foreign key `{}` on `{}` references `{}.{column}`, which does not exist", fk.name, table.name, target.name),
                        location: location.clone(),
                    });
                    continue;
                };
                if let Some(own_column) = table.column(own)
                    && !crate::schema::types::key_compatible(
                        &own_column.sql_type,
                        &referenced.sql_type,
                    )
                {
                    problems.push(Problem {
                        message: format!(
                            "foreign key `{}` on `{}`: `{}.{own}` is {} but `{}.{column}` is {}, which PostgreSQL cannot compare for a key; give both columns the same type",
                            fk.name, table.name, table.name, own_column.sql_type, target.name, referenced.sql_type
                        ),
                        location: location.clone(),
                    });
                }
            }
            // PostgreSQL takes the referenced columns in any order that a key's are.
            let same_set = |columns: &[String]| {
                let (mut a, mut b) = (columns.to_vec(), fk.references_columns.clone());
                a.sort();
                b.sort();
                a == b
            };
            let keyed = target
                .primary_key
                .as_ref()
                .is_some_and(|pk| same_set(&pk.columns))
                || target.uniques.values().any(|u| same_set(&u.columns))
                || target.indexes.values().any(|i| {
                    i.unique
                        && i.predicate.is_none()
                        && i.plain_columns().is_some_and(|c| same_set(&c))
                });
            if !keyed
                && fk
                    .references_columns
                    .iter()
                    .all(|c| target.column(c).is_some())
            {
                problems.push(Problem {
                    message: format!(
                        "foreign key `{}` on `{}` references ({}) of `{}`, which is neither its primary key nor unique",
                        fk.name,
                        table.name,
                        fk.references_columns.join(", "),
                        target.name
                    ),
                    location: location.clone(),
                });
            }
        }
    }
    problems
}
