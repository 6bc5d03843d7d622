//! Warnings at generate time: changes that are legal but destructive, or that break code
//! still running against the old schema during a deploy. Each has a stable id, for
//! people and for tools that match on it.

use crate::compile::ops::Op;
use crate::compile::plan::Rebuild;
use crate::schema::types::base_name;
use serde::Serialize;

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Warning {
    /// Stable id: `drop-table`, `drop-column`, `narrowing-type-change`, `rename-table`,
    /// `rename-column`, `table-rebuild`, `absorbed-unique`, `breaking-change`.
    pub id: &'static str,
    /// The table the change is about.
    pub table: String,
    /// The column, when the change is about one.
    pub column: Option<String>,
    /// The change, for people.
    pub change: String,
    /// What can go wrong.
    pub message: String,
}

/// Every warning id, for `--deny`.
pub(crate) const WARNING_IDS: &[&str] = &[
    "drop-table",
    "drop-column",
    "narrowing-type-change",
    "rename-table",
    "rename-column",
    "table-rebuild",
    "absorbed-unique",
    "breaking-change",
];

impl Warning {
    /// Whether `--deny <id>` covers it: its own id, or `drop` for both drops.
    pub(crate) fn is_denied_by(&self, id: &str) -> bool {
        self.id == id || (id == "drop" && self.id.starts_with("drop-"))
    }
}

fn int_rank(t: &str) -> Option<u8> {
    match t {
        "smallint" => Some(1),
        "integer" => Some(2),
        "bigint" => Some(3),
        _ => None,
    }
}

/// `(n)` or `(p,s)` of a canonical type.
fn modifiers(t: &str) -> Vec<i64> {
    t.find('(')
        .and_then(|open| t[open + 1..].split(')').next())
        .map(|inner| {
            inner
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a value of type `from` may not fit `to`.
pub(crate) fn is_narrowing(from: &str, to: &str) -> bool {
    let (bf, bt) = (base_name(from), base_name(to));
    if let (Some(a), Some(b)) = (int_rank(&bf), int_rank(&bt)) {
        return b < a;
    }
    match (bf.as_str(), bt.as_str()) {
        ("double precision", "real") => true,
        ("text", "character varying" | "character") => true,
        ("character varying", "character varying") | ("character", "character") => {
            match (modifiers(from).first(), modifiers(to).first()) {
                (None, Some(_)) => true,
                (Some(a), Some(b)) => b < a,
                _ => false,
            }
        }
        ("numeric", "numeric") => {
            let (f, t) = (modifiers(from), modifiers(to));
            match (f.as_slice(), t.as_slice()) {
                ([], [_, ..]) => true,
                ([p1, rest1 @ ..], [p2, rest2 @ ..]) => {
                    p2 < p1 || rest2.first().unwrap_or(&0) < rest1.first().unwrap_or(&0)
                }
                _ => false,
            }
        }
        (a, b) if a == b => false,
        // Between families (text → integer, ..): existing values may not convert.
        _ => !matches!(
            (bf.as_str(), bt.as_str()),
            (
                "smallint" | "integer" | "bigint" | "real",
                "double precision" | "numeric" | "text"
            ) | ("character varying" | "character", "text")
        ),
    }
}

/// The warnings for a list of operations and the rebuilds their plan needs.
pub fn warnings(ops: &[Op], rebuilds: &[Rebuild]) -> Vec<Warning> {
    let mut out = Vec::new();
    for op in ops {
        let (id, message) = match op {
            Op::DropTable { .. } => (
                "drop-table",
                "the table and all its rows are deleted".to_owned(),
            ),
            Op::DropColumn { .. } => (
                "drop-column",
                "the column's data is deleted; code still reading it fails until it is deployed"
                    .to_owned(),
            ),
            Op::AlterColumnType { from, to, .. } if is_narrowing(from, to) => (
                "narrowing-type-change",
                format!(
                    "values of {from} may not fit {to}: the change fails, or loses precision, on existing rows"
                ),
            ),
            Op::RenameTable { from, .. } => (
                "rename-table",
                format!("code still using `{from}` fails from this migration until it is deployed"),
            ),
            Op::RenameColumn { from, .. } => (
                "rename-column",
                format!("code still using `{from}` fails from this migration until it is deployed"),
            ),
            _ => continue,
        };
        out.push(Warning {
            id,
            table: op.table().to_owned(),
            column: op.column().map(str::to_owned),
            change: op.to_string(),
            message,
        });
    }
    for r in rebuilds {
        let mut message = format!(
            "rebuilt in {} steps: a new table, its rows copied in batches, then swapped in (pause writers to `{}` for the swap; a write between the last copy pass and the swap is not carried over)",
            r.steps, r.table
        );
        if !r.foreign_keys_dropped.is_empty() {
            let keys: Vec<String> = r
                .foreign_keys_dropped
                .iter()
                .map(|(t, k)| format!("`{t}.{k}`"))
                .collect();
            message.push_str(&format!(
                "; foreign keys not enforced until it is done: {}",
                keys.join(", ")
            ));
        }
        if let Some(alternative) = &r.alternative {
            message.push_str(&format!("; cheaper: {alternative}"));
        }
        out.push(Warning {
            id: "table-rebuild",
            table: r.table.clone(),
            column: None,
            change: format!("rebuild `{}` for: {}", r.table, r.because.join(", ")),
            message,
        });
    }
    out
}

/// The changes that break code deployed before the migration, which keeps running against
/// the new schema until the new code replaces it: a table or column it reads renamed or
/// dropped, a NOT NULL column it does not write added without a default (or a column it
/// may leave NULL made NOT NULL, or its default dropped), a column's type changed, a
/// column it writes made `GENERATED ALWAYS`. Each with the way to make the change in two
/// deploys (expand, then contract) instead. Enum values are [`removed_enum_values`]'s.
pub fn breaking_changes(ops: &[Op]) -> Vec<Warning> {
    let mut out = Vec::new();
    for op in ops {
        let message = match op {
            Op::DropTable { table } => format!(
                "code deployed before reads `{table}` and fails once this migration runs; in two deploys: first deploy code that no longer uses `{table}` (its struct and handlers removed, the table kept), then drop it in a later migration"
            ),
            Op::DropColumn { table, column } => format!(
                "code deployed before reads `{table}.{column}` (its struct selects every field) and fails once this migration runs; in two deploys: first deploy the struct without the field, then drop the column in a later migration"
            ),
            Op::RenameTable { from, to } => format!(
                "code deployed before reads `{from}` and fails from this migration until the new code is deployed; in two deploys: first add `{to}` beside `{from}` with code that writes both and reads `{from}`, copy the rows, then deploy code that uses only `{to}` and drop `{from}`"
            ),
            Op::RenameColumn { table, from, to } => format!(
                "code deployed before reads `{table}.{from}` and fails from this migration until the new code is deployed; in two deploys: first add `{to}` as an Option beside `{from}` with code that writes both, backfill it, then deploy code that uses only `{to}` and drop `{from}`"
            ),
            Op::AddColumn { table, column }
                if column.not_null && column.default.is_none() && !column.is_identity() =>
            {
                format!(
                    "code deployed before inserts into `{table}` without `{}`, and those inserts fail once this migration runs; in two deploys: first add it as `Option<..>` (or with a `default`) and deploy code that writes it, then make it NOT NULL in a later migration",
                    column.name
                )
            }
            Op::SetNotNull { table, column } => format!(
                "code deployed before may write NULL to `{table}.{column}`, and those writes fail once this migration runs; in two deploys: first deploy code that always writes a value (and fill the rows that hold NULL), then make it NOT NULL"
            ),
            Op::AlterColumnType {
                table,
                column,
                from,
                to,
                ..
            } => format!(
                "code deployed before reads and writes `{table}.{column}` as {from}, and a struct decoding {from} fails on {to}; in two deploys: first add a new column of type {to} beside it with code that writes both, backfill it, then deploy code that uses only the new one and drop the old"
            ),
            Op::DropDefault { table, column } => format!(
                "code deployed before may insert into `{table}` without `{column}`, relying on its default, and those inserts fail once this migration runs if it is NOT NULL; in two deploys: first deploy code that always writes it, then drop the default"
            ),
            Op::AddIdentity {
                table,
                column,
                identity,
                ..
            } if identity.always => format!(
                "code deployed before writes `{table}.{column}`, which GENERATED ALWAYS refuses; in two deploys: first deploy code that leaves it to the database, then make it an identity column"
            ),
            Op::AlterIdentity {
                table,
                column,
                from,
                to,
            } if to.always && !from.always => format!(
                "code deployed before may write `{table}.{column}`, which GENERATED ALWAYS refuses; in two deploys: first deploy code that leaves it to the database, then make it GENERATED ALWAYS"
            ),
            _ => continue,
        };
        out.push(Warning {
            id: "breaking-change",
            table: op.table().to_owned(),
            column: op.column().map(str::to_owned),
            change: op.to_string(),
            message,
        });
    }
    out
}

/// Enum values that `next` no longer has (removed or renamed, on either dialect: on DSQL an
/// enum is a `text` column with a CHECK, so no operation names the value): code deployed
/// before may still write them.
pub fn removed_enum_values(
    prev: &crate::schema::model::Schema,
    next: &crate::schema::model::Schema,
) -> Vec<Warning> {
    prev.enums
        .values()
        .filter_map(|old| {
            let new = next.enums.get(&old.name)?;
            let gone: Vec<String> = old
                .values
                .iter()
                .filter(|v| !new.values.contains(v))
                .map(|v| format!("`{v}`"))
                .collect();
            (!gone.is_empty()).then(|| Warning {
                id: "breaking-change",
                table: old.name.clone(),
                column: None,
                change: format!("enum type `{}` loses {}", old.name, gone.join(", ")),
                message: format!(
                    "code deployed before may write {} to columns of `{}`, and those writes fail once this migration runs; in two deploys: first deploy code that no longer writes them (and change the rows that hold them), then remove them in a later migration",
                    gone.join(", "),
                    old.name
                ),
            })
        })
        .collect()
}

/// A unique constraint declared over the primary key's columns, on a table the migration
/// touches: PostgreSQL keeps only the key, and so does the model.
pub(crate) fn absorbed_uniques(
    ops: &[Op],
    desired: &crate::schema::desired::DesiredSchema,
) -> Vec<Warning> {
    let touched: std::collections::BTreeSet<&str> = ops.iter().map(Op::table).collect();
    desired
        .sources
        .iter()
        .filter(|(table, _)| touched.contains(table.as_str()))
        .flat_map(|(table, source)| {
            source.absorbed_uniques.iter().map(move |name| Warning {
                id: "absorbed-unique",
                table: table.clone(),
                column: None,
                change: format!("unique constraint `{name}` on `{table}` is left out"),
                message: "it is over the primary key's columns, which are unique already; PostgreSQL keeps only the key, and so does the snapshot: remove the `unique`".to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_narrowing;

    #[test]
    fn an_enum_value_removed_or_renamed_breaks_the_deployed_code_on_both_dialects() {
        use crate::schema::model::{EnumType, Schema};
        let schema = |values: &[&str]| {
            let mut s = Schema::default();
            s.enums.insert(
                "mood".into(),
                EnumType {
                    name: "mood".into(),
                    values: values.iter().map(|v| v.to_string()).collect(),
                },
            );
            s
        };
        let found =
            super::removed_enum_values(&schema(&["happy", "sad"]), &schema(&["happy", "blue"]));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "breaking-change");
        assert_eq!(found[0].change, "enum type `mood` loses `sad`");
        assert!(found[0].message.contains("in two deploys"));
        // Added values, or a type dropped with its columns, are not this warning's.
        assert!(
            super::removed_enum_values(&schema(&["happy"]), &schema(&["happy", "sad"])).is_empty()
        );
        assert!(super::removed_enum_values(&schema(&["happy"]), &Schema::default()).is_empty());
    }

    #[test]
    fn narrowing_is_told_from_widening() {
        assert!(is_narrowing("bigint", "integer"));
        assert!(!is_narrowing("integer", "bigint"));
        assert!(is_narrowing(
            "character varying(64)",
            "character varying(32)"
        ));
        assert!(!is_narrowing("character varying(32)", "text"));
        assert!(is_narrowing("text", "character varying(32)"));
        assert!(is_narrowing("numeric(12,2)", "numeric(10,2)"));
        assert!(is_narrowing("numeric(12,4)", "numeric(12,2)"));
        assert!(!is_narrowing("numeric(10,2)", "numeric(12,2)"));
        assert!(is_narrowing("text", "integer"));
        assert!(!is_narrowing("integer", "text"));
    }
}
