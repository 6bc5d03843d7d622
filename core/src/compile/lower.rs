//! Enum types on a dialect without them. Aurora DSQL has no `CREATE TYPE`: before the diff
//! and the plan for DSQL, and before a DSQL catalog is compared with the structs, each
//! column typed by an enum becomes `text` with a CHECK of the enum's values, named as
//! PostgreSQL names a column's check (`<table>_<column>_check`). The snapshot keeps the
//! enums, so one declaration serves both dialects; changing the values replaces the
//! CHECKs through the ordinary diff.

use crate::compile::diff::{self, Changes, DiffError, EnumChange};
use crate::compile::ops::Op;
use crate::dialect::Dialect;
use crate::schema::desired::{AllowDrops, DesiredSchema};
use crate::schema::model::{Check, Schema, SqlExpr, SqlType, default_name};
use crate::schema::validate::Problem;
use crate::sql::ident::{literal, quote};
use std::borrow::Cow;

/// `schema` as `dialect` stores it: on DSQL, enum columns as `text` with a CHECK, and no
/// enum types; unchanged elsewhere, or when it has no enums.
pub fn for_dialect(schema: &Schema, dialect: Dialect) -> Cow<'_, Schema> {
    if dialect == Dialect::Postgres || schema.enums.is_empty() {
        return Cow::Borrowed(schema);
    }
    let mut out = schema.clone();
    out.enums.clear();
    for table in out.tables.values_mut() {
        let table_name = table.name.clone();
        let mut checks = Vec::new();
        for column in &mut table.columns {
            let Some(enum_type) = schema.enum_of(column.sql_type.as_str()) else {
                continue;
            };
            column.sql_type = SqlType::parse("text").expect("`text` is a type");
            // (One that does not parse is refused by `diff_for` before a plan is made.)
            checks.extend(enum_check(&table_name, &column.name, &enum_type.values));
        }
        for check in checks {
            table.checks.insert(check.name.clone(), check);
        }
    }
    Cow::Owned(out)
}

/// The CHECK that stands for an enum on `table.column`, in the spelling PostgreSQL prints
/// an `IN` list in, so that a catalog reads it back as written.
pub(crate) fn enum_check(table: &str, column: &str, values: &[String]) -> Option<Check> {
    let array = values
        .iter()
        .map(|v| format!("{}::text", literal(v)))
        .collect::<Vec<_>>()
        .join(", ");
    let expression = format!("{} = ANY (ARRAY[{array}])", quote(column));
    Some(Check {
        name: enum_check_name(table, column),
        expression: SqlExpr::parse("expr", &expression).ok()?,
    })
}

/// The name of the CHECK that stands for an enum on `table.column`.
pub(crate) fn enum_check_name(table: &str, column: &str) -> String {
    default_name(table, &[column.to_owned()], "check")
}

/// The diff towards `desired` for `dialect`, and the schema the plan goes towards. On
/// DSQL with enums, the enums' own problems are found on the structs as declared (a
/// value removed needs its allow, a value cannot be renamed since rows hold its text),
/// then both sides are diffed as DSQL stores them.
pub fn diff_for<'a>(
    prev: &Schema,
    desired: &'a DesiredSchema,
    allow: &AllowDrops,
    dialect: Dialect,
) -> Result<(Changes, Cow<'a, Schema>), DiffError> {
    if dialect == Dialect::Postgres || (prev.enums.is_empty() && desired.schema.enums.is_empty()) {
        return Ok((
            diff::diff(prev, desired, allow)?,
            Cow::Borrowed(&desired.schema),
        ));
    }
    // The enums' own problems (a removal without its allow, a hint naming nothing), and
    // their renames, which DSQL cannot carry out.
    let mut problems = Vec::new();
    let enum_changes = diff::enum_changes(prev, desired, allow, &mut problems);
    let renames: Vec<Op> = enum_changes
        .into_iter()
        .flat_map(|change| match change {
            EnumChange::Alter { renames, .. } | EnumChange::Recreate { renames, .. } => renames,
            _ => Vec::new(),
        })
        .collect();
    problems.extend(renames
        .iter()
        .filter_map(|op| match op {
            Op::RenameEnumValue { name, from, to } => Some(Problem {
                message: format!(
                    "value `{from}` of enum type `{name}` is renamed to `{to}`: {}",
                    crate::dialect::unsupported_reason(crate::dialect::ChangeKind::RenameEnumValue, dialect)
                ),
                location: desired.enum_sources.get(name).and_then(|s| s.value_renames.get(to)).and_then(|h| h.location.clone()),
            }),
            _ => None,
        })
        .chain(desired.schema.tables.values().flat_map(|t| {
            let location = desired.sources.get(&t.name).and_then(|s| s.location.clone());
            let mut taken = std::collections::BTreeSet::new();
            t.columns.iter().filter_map(|c| Some((c, desired.schema.enum_of(c.sql_type.as_str())?))).filter_map(move |(c, e)| {
                let name = enum_check_name(&t.name, &c.name);
                let problem = if t.checks.contains_key(&name) || !taken.insert(name.clone()) {
                    format!("check `{name}` of `{}` has the name DSQL's CHECK for the enum column `{}` takes (PostgreSQL shortens long names to 63 bytes): name the check or the column otherwise", t.name, c.name)
                } else if enum_check(&t.name, &c.name, &e.values).is_none() {
                    format!("the values of enum type `{}` do not make a CHECK DSQL can run on `{}.{}`", e.name, t.name, c.name)
                } else {
                    return None;
                };
                Some(Problem { message: problem, location: location.clone() })
            })
        })));
    if !problems.is_empty() {
        return Err(DiffError::Problems(problems));
    }
    // (The columns name no enum any more: they are text.)
    let sources = desired
        .sources
        .iter()
        .map(|(t, s)| {
            (
                t.clone(),
                crate::schema::desired::TableSource {
                    enum_columns: Default::default(),
                    ..s.clone()
                },
            )
        })
        .collect();
    let lowered = DesiredSchema {
        schema: for_dialect(&desired.schema, dialect).into_owned(),
        sources,
        enum_sources: Default::default(),
    };
    let changes = diff::diff(&for_dialect(prev, dialect), &lowered, allow)?;
    Ok((changes, Cow::Owned(lowered.schema)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::fixtures::desired;

    const MOOD: &str = r#"
        #[derive(Enum)] enum Mood { Happy, Sad }
        #[derive(Table)] #[table(name = "people")] struct Person { #[column(primary_key)] id: i64, #[column(enum_type = "mood")] mood: Option<Mood> }
    "#;

    #[test]
    fn on_dsql_an_enum_column_is_text_with_a_check_of_the_values() {
        let declared = desired(MOOD);
        assert!(matches!(
            for_dialect(&declared.schema, Dialect::Postgres),
            Cow::Borrowed(_)
        ));
        let dsql = for_dialect(&declared.schema, Dialect::Dsql);
        assert!(dsql.enums.is_empty());
        let people = &dsql.tables["people"];
        assert_eq!(people.column("mood").unwrap().sql_type, "text");
        assert_eq!(
            people.checks["people_mood_check"].expression.as_str(),
            "\"mood\" = ANY (ARRAY['happy'::text, 'sad'::text])"
        );
    }

    #[test]
    fn a_renamed_value_is_refused_on_dsql_and_planned_on_postgres() {
        let before = desired(MOOD);
        let after =
            desired(&MOOD.replace("Happy, Sad", "Happy, #[value(renamed_from = \"sad\")] Blue"));
        let Err(DiffError::Problems(problems)) = diff_for(
            &before.schema,
            &after,
            &AllowDrops::default(),
            Dialect::Dsql,
        ) else {
            panic!("refused on DSQL")
        };
        assert!(
            problems[0]
                .message
                .contains("value `sad` of enum type `mood` is renamed to `blue`"),
            "{problems:?}"
        );
        let (changes, _) = diff_for(
            &before.schema,
            &after,
            &AllowDrops::default(),
            Dialect::Postgres,
        )
        .unwrap();
        assert_eq!(
            changes
                .ops
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["rename value `sad` of enum type `mood` to `blue`"]
        );
    }

    #[test]
    fn a_value_list_is_compared_by_its_values() {
        use crate::schema::compare::in_list_values;
        let ours = enum_check("people", "mood", &["happy".into(), "it's".into()]).unwrap();
        assert_eq!(
            in_list_values(&ours.expression),
            Some(vec!["happy".to_owned(), "it's".to_owned()])
        );
        // As PostgreSQL prints it back.
        assert_eq!(
            in_list_values("((mood = ANY (ARRAY['happy'::text, 'it''s'::text])))"),
            Some(vec!["happy".to_owned(), "it's".to_owned()])
        );
        assert_eq!(in_list_values("(price >= 0)"), None);
        assert_eq!(
            in_list_values("mood = ANY (ARRAY['a'::text]) OR true"),
            None
        );
    }

    #[test]
    fn a_rebuilt_enum_refuses_what_would_not_survive_it() {
        let before = desired(&MOOD.replace(
            "#[table(name = \"people\")]",
            "#[table(name = \"people\")] #[index(columns(id), where = \"mood = 'happy'\")]",
        ));
        let after = desired(&MOOD.replace("Happy, Sad", "Sad, Happy").replace(
            "#[table(name = \"people\")]",
            "#[table(name = \"people\")] #[index(columns(id), where = \"mood = 'happy'\")]",
        ));
        let Err(DiffError::Problems(problems)) = diff_for(
            &before.schema,
            &after,
            &AllowDrops::default(),
            Dialect::Postgres,
        ) else {
            panic!("refused")
        };
        assert!(
            problems[0]
                .message
                .contains("index `people_id_idx` of `people`"),
            "{problems:?}"
        );
        // DSQL replaces the CHECK: nothing is rebuilt there.
        assert!(
            diff_for(
                &before.schema,
                &after,
                &AllowDrops::default(),
                Dialect::Dsql
            )
            .is_ok()
        );
    }

    #[test]
    fn a_removed_value_needs_its_allow_on_both_dialects() {
        let before = desired(MOOD);
        let after = desired(&MOOD.replace("Happy, Sad", "Happy"));
        for dialect in [Dialect::Dsql, Dialect::Postgres] {
            let Err(DiffError::Problems(problems)) =
                diff_for(&before.schema, &after, &AllowDrops::default(), dialect)
            else {
                panic!("refused on {dialect}")
            };
            assert!(
                problems[0].message.contains("`--allow-drop mood.sad`"),
                "{problems:?}"
            );
            let (changes, _) = diff_for(
                &before.schema,
                &after,
                &AllowDrops::parse(&["mood.sad"]),
                dialect,
            )
            .unwrap();
            let ops: Vec<String> = changes.ops.iter().map(ToString::to_string).collect();
            match dialect {
                Dialect::Postgres => {
                    assert_eq!(ops, ["rebuild enum type `mood` with values (happy)"])
                }
                Dialect::Dsql => assert_eq!(
                    ops,
                    [
                        "drop check `people_mood_check` on `people`",
                        "add check `people_mood_check` on `people`"
                    ]
                ),
            }
        }
    }
}
