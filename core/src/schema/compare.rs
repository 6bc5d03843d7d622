//! Comparing two schemas the way a database would: check expressions are compared by name
//! (PostgreSQL rewrites their text), literal defaults lose their redundant casts, and
//! column order is not compared (`ADD COLUMN` appends; neither PostgreSQL nor DSQL can
//! place a column elsewhere, so a snapshot in declaration order is still "equal").
//! A unique constraint is not a unique index on the same columns: only a constraint serves
//! `ON CONFLICT ON CONSTRAINT`, so the two are compared apart.

use crate::schema::model::{Identity, Index, KeyTarget, Schema, SqlExpr, Table};
use crate::sql::tokens::Lexeme;
use serde::Serialize;
use sqlparser::tokenizer::Token;
use std::collections::BTreeMap;
use std::fmt;

/// `'pending'::character varying` → `'pending'`: PostgreSQL adds the cast when it stores a
/// literal default; the cast says nothing the column type does not.
pub(crate) fn normalize_default(default: &str) -> String {
    let d = default.trim();
    // A string literal (plain or `E'..'`) first, then `::`: the literal alone.
    let words = crate::sql::tokens::significant(d);
    if let [literal, cast, ..] = words.as_slice()
        && literal.bytes.start == 0
        && string_literal(literal).is_some()
        && cast.token == Token::DoubleColon
        && cast.bytes.start == literal.bytes.end
    {
        return d[..literal.bytes.end].to_owned();
    }
    d.to_owned()
}

/// The text of a string literal token (`'it''s'`, `E'a\\b'`), unescaped.
fn string_literal(lexeme: &Lexeme) -> Option<&str> {
    match &lexeme.token {
        Token::SingleQuotedString(text) | Token::EscapedStringLiteral(text) => Some(text),
        _ => None,
    }
}

/// Gives `actual` the spelling `expected` uses wherever the two mean the same, so that a
/// diff between a live database and the structs sees only real changes: a default that
/// differs by a redundant cast, a check with the same name (PostgreSQL rewrites its
/// expression, so checks are compared by name, as [`differences`] does), and an index whose
/// expressions and predicate read the same in the comparable spelling.
pub fn adopt_spellings(actual: &mut Schema, expected: &Schema) {
    for (name, table) in actual.tables.iter_mut() {
        let Some(wanted) = expected.tables.get(name) else {
            continue;
        };
        for column in &mut table.columns {
            if let (Some(found), Some(w)) = (
                &column.default,
                wanted.column(&column.name).and_then(|c| c.default.as_ref()),
            ) && normalize_default(found) == normalize_default(w)
            {
                column.default = Some(w.clone());
            }
        }
        for (check_name, check) in table.checks.iter_mut() {
            // (A list of values, as an enum's CHECK on DSQL is, must hold the same values.)
            if let Some(w) = wanted.checks.get(check_name)
                && in_list_values(&w.expression) == in_list_values(&check.expression)
            {
                check.expression = w.expression.clone();
            }
        }
        // An index whose expressions and predicate read the same in the comparable spelling.
        for (index_name, index) in table.indexes.iter_mut() {
            if let Some(w) = wanted.indexes.get(index_name)
                && comparable_index(index) == comparable_index(w)
            {
                *index = w.clone();
            }
        }
    }
}

fn normalized(table: &Table) -> Table {
    let mut t = table.clone();
    for c in &mut t.columns {
        // A literal without its cast is still one expression.
        c.default = c
            .default
            .take()
            .map(|d| SqlExpr::parse("default", &normalize_default(&d)).unwrap_or(d));
    }
    for index in t.indexes.values_mut() {
        *index = comparable_index(index);
    }
    t
}

/// The index with its expressions and predicate in the comparable spelling
/// (`comparable_expression`), in which PostgreSQL's and the structs' agree.
pub(crate) fn comparable_index(index: &Index) -> Index {
    #[cfg_attr(not(feature = "compiler"), allow(unused_mut))]
    let mut index = index.clone();
    #[cfg(feature = "compiler")]
    {
        let comparable = |e: &mut SqlExpr| {
            if let Some(text) = crate::schema::sql_text::comparable_expression(e)
                && let Ok(parsed) = SqlExpr::parse("columns", &text)
            {
                *e = parsed;
            }
        };
        if let Some(p) = index.predicate.as_mut() {
            comparable(p);
        }
        for key in &mut index.columns {
            if let KeyTarget::Expression(e) = &mut key.target {
                comparable(e);
            }
        }
    }
    index
}

/// The kind of a named object of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// The primary key constraint.
    PrimaryKey,
    /// A UNIQUE constraint.
    Unique,
    /// An index (unique or not) that backs no constraint.
    Index,
    /// A foreign key.
    ForeignKey,
    /// A CHECK constraint (compared by name: PostgreSQL rewrites the expression's text).
    Check,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::PrimaryKey => "primary key",
            ObjectKind::Unique => "unique constraint",
            ObjectKind::Index => "index",
            ObjectKind::ForeignKey => "foreign key",
            ObjectKind::Check => "check",
        })
    }
}

/// One way a database differs from what was expected of it (a snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)] // fields are named for what they hold
pub enum Difference {
    MissingEnum {
        name: String,
    },
    ExtraEnum {
        name: String,
    },
    EnumValues {
        name: String,
        expected: Vec<String>,
        found: Vec<String>,
    },
    MissingTable {
        table: String,
    },
    ExtraTable {
        table: String,
    },
    MissingColumn {
        table: String,
        column: String,
    },
    ExtraColumn {
        table: String,
        column: String,
    },
    ColumnType {
        table: String,
        column: String,
        expected: String,
        found: String,
    },
    Nullability {
        table: String,
        column: String,
        expected_not_null: bool,
        found_not_null: bool,
    },
    Default {
        table: String,
        column: String,
        expected: Option<String>,
        found: Option<String>,
    },
    Identity {
        table: String,
        column: String,
        expected: bool,
        found: bool,
    },
    /// An identity of another kind (`ALWAYS`, `BY DEFAULT`) or with other sequence options.
    IdentityOptions {
        table: String,
        column: String,
        expected: String,
        found: String,
    },
    /// Another collation; `None` is the type's default.
    Collation {
        table: String,
        column: String,
        expected: Option<String>,
        found: Option<String>,
    },
    MissingObject {
        table: String,
        object: ObjectKind,
        name: String,
        definition: String,
    },
    ExtraObject {
        table: String,
        object: ObjectKind,
        name: String,
        definition: String,
    },
    ChangedObject {
        table: String,
        object: ObjectKind,
        name: String,
        expected: String,
        found: String,
    },
    /// An index a failed build left INVALID.
    InvalidIndex {
        index: String,
    },
    /// A constraint or index whose definition, as the catalog prints it, is not the one
    /// the migrations make (`NOT VALID`, `DEFERRABLE`, `MATCH FULL`, a CHECK redefined
    /// under its name, an operator class or collation); see [`catalog_differences`].
    ChangedDefinition {
        table: String,
        name: String,
        expected: Option<String>,
        found: Option<String>,
    },
    /// Something beside the tables (row-level security, a policy, a trigger, a view, a
    /// function, a sequence, an extension) that the migrations do not make, or make otherwise.
    Beside {
        object: BesideKind,
        table: Option<String>,
        name: String,
        expected: Option<String>,
        found: Option<String>,
    },
    /// A managed table owned by another role than the one that owns the history.
    Owner {
        table: String,
        expected: String,
        found: String,
    },
}

/// What lives in a catalog beside the tables, which the model does not hold but a
/// comparison of two catalogs must.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BesideKind {
    /// `ENABLE` (and `FORCE`) ROW LEVEL SECURITY on a table.
    RowLevelSecurity,
    /// A row-level security policy.
    Policy,
    /// A trigger.
    Trigger,
    /// A view or materialized view.
    View,
    /// A function or procedure of an application schema.
    Function,
    /// A sequence no identity column owns.
    Sequence,
    /// An extension.
    Extension,
}

impl fmt::Display for BesideKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BesideKind::RowLevelSecurity => "row-level security",
            BesideKind::Policy => "policy",
            BesideKind::Trigger => "trigger",
            BesideKind::View => "view",
            BesideKind::Function => "function",
            BesideKind::Sequence => "sequence",
            BesideKind::Extension => "extension",
        })
    }
}

/// A catalog's own text of what the model holds in part or not at all: each constraint's
/// and index's definition as `pg_get_constraintdef` and `pg_get_indexdef` print it, and
/// what lives beside the tables. Two catalogs printed by the same kind of server compare
/// exactly on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogText {
    /// By `(table, constraint or index name)`.
    pub definitions: BTreeMap<(String, String), String>,
    /// By `(kind, table or "", name)`.
    pub beside: BTreeMap<(BesideKind, String, String), String>,
}

/// [`differences`] between two catalogs, and then what only their text shows: definitions
/// that differ where the model saw none, and what lives beside the tables. `expected` is
/// what the migrations make, built in a scratch database by the same kind of server, so
/// both sides are spelled alike and a freshly migrated database shows nothing.
pub fn catalog_differences(
    expected: &Schema,
    expected_text: &CatalogText,
    actual: &Schema,
    actual_text: &CatalogText,
) -> Vec<Difference> {
    let mut out = differences(expected, actual);
    // Where both catalogs print the object, their text says the change exactly.
    let printed_otherwise = |table: &String, name: &String| {
        let key = (table.clone(), name.clone());
        matches!((expected_text.definitions.get(&key), actual_text.definitions.get(&key)), (Some(e), Some(a)) if e != a)
    };
    out.retain(|d| !matches!(d, Difference::ChangedObject { table, name, .. } if printed_otherwise(table, name)));
    // An object on one side is said as its catalog prints it (a CHECK's expression, names
    // quoted where they need it), not in the model's shorthand.
    for d in &mut out {
        match d {
            Difference::MissingObject {
                table,
                name,
                definition,
                ..
            } => {
                if let Some(text) = expected_text
                    .definitions
                    .get(&(table.clone(), name.clone()))
                {
                    *definition = text.clone();
                }
            }
            Difference::ExtraObject {
                table,
                name,
                definition,
                ..
            } => {
                if let Some(text) = actual_text.definitions.get(&(table.clone(), name.clone())) {
                    *definition = text.clone();
                }
            }
            _ => {}
        }
    }
    let seen: std::collections::BTreeSet<(String, String)> = out
        .iter()
        .filter_map(|d| match d {
            Difference::MissingObject { table, name, .. }
            | Difference::ExtraObject { table, name, .. }
            | Difference::ChangedObject { table, name, .. } => Some((table.clone(), name.clone())),
            _ => None,
        })
        .collect();
    // On a table both sides have, every constraint and index as printed, those the model
    // holds only in part included (an index of another method, a key to another schema).
    let on_both =
        |table: &String| expected.tables.contains_key(table) && actual.tables.contains_key(table);
    let keys: std::collections::BTreeSet<&(String, String)> = expected_text
        .definitions
        .keys()
        .chain(actual_text.definitions.keys())
        .collect();
    for key in keys {
        let (wanted, found) = (
            expected_text.definitions.get(key),
            actual_text.definitions.get(key),
        );
        if wanted != found && !seen.contains(key) && on_both(&key.0) {
            out.push(Difference::ChangedDefinition {
                table: key.0.clone(),
                name: key.1.clone(),
                expected: wanted.cloned(),
                found: found.cloned(),
            });
        }
    }
    let named = |table: &String| (!table.is_empty()).then(|| table.clone());
    // What beside a missing table is missing with it is not said twice.
    let table_missing = |table: &String| {
        !table.is_empty()
            && !actual.tables.contains_key(table)
            && expected.tables.contains_key(table)
    };
    for ((object, table, name), wanted) in &expected_text.beside {
        match actual_text
            .beside
            .get(&(*object, table.clone(), name.clone()))
        {
            Some(found) if found == wanted => {}
            _ if table_missing(table) => {}
            found => out.push(Difference::Beside {
                object: *object,
                table: named(table),
                name: name.clone(),
                expected: Some(wanted.clone()),
                found: found.cloned(),
            }),
        }
    }
    for ((object, table, name), found) in &actual_text.beside {
        if !expected_text
            .beside
            .contains_key(&(*object, table.clone(), name.clone()))
            && (table.is_empty() || expected.tables.contains_key(table))
        {
            out.push(Difference::Beside {
                object: *object,
                table: named(table),
                name: name.clone(),
                expected: None,
                found: Some(found.clone()),
            });
        }
    }
    out
}

/// `text` with its runs of whitespace, line ends included, as one space.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn or_none(value: &Option<String>) -> String {
    value
        .as_deref()
        .map(|v| format!("`{v}`"))
        .unwrap_or_else(|| "none".into())
}

fn nullability(not_null: bool) -> &'static str {
    if not_null { "NOT NULL" } else { "nullable" }
}

impl fmt::Display for Difference {
    /// Names come from a database's catalog: the sentence is printed with its control
    /// characters escaped, so a table named with a line end cannot start a line of its own.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::error::printable(&self.sentence()))
    }
}

impl Difference {
    fn sentence(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let f = &mut out;
        let _ = match self {
            Difference::ChangedDefinition {
                table,
                name,
                expected,
                found,
            } => match (expected, found) {
                (Some(e), Some(f2)) => {
                    write!(f, "`{table}`: `{name}` is `{f2}`, the snapshot has `{e}`")
                }
                (Some(e), None) => write!(f, "`{table}`: `{name}` (`{e}`) is missing"),
                (None, Some(f2)) => {
                    write!(f, "`{table}`: `{name}` (`{f2}`) is not in the snapshot")
                }
                (None, None) => write!(f, "`{table}`: `{name}`"),
            },
            Difference::Beside {
                object,
                table,
                name,
                expected,
                found,
            } => {
                let on = table
                    .as_deref()
                    .map(|t| format!(" on `{t}`"))
                    .unwrap_or_default();
                // A view's text spans lines: said on one.
                let (expected, found) = (
                    expected.as_deref().map(one_line),
                    found.as_deref().map(one_line),
                );
                // Row-level security is one per table: the table names it.
                let name = if *object == BesideKind::RowLevelSecurity {
                    String::new()
                } else {
                    format!(" `{name}`")
                };
                match (expected, found) {
                    (Some(e), Some(f2)) => {
                        write!(f, "{object}{name}{on} is `{f2}`, the migrations make `{e}`")
                    }
                    (Some(_), None) => write!(f, "{object}{name}{on} is missing"),
                    (None, Some(f2)) => write!(
                        f,
                        "{object}{name}{on} (`{f2}`) is not made by the migrations"
                    ),
                    (None, None) => write!(f, "{object}{name}{on}"),
                }
            }
            Difference::Owner {
                table,
                expected,
                found,
            } => write!(
                f,
                "`{table}` is owned by `{found}`, the history by `{expected}`"
            ),
            Difference::MissingEnum { name } => write!(f, "enum type `{name}` is missing"),
            Difference::ExtraEnum { name } => {
                write!(f, "enum type `{name}` is not in the snapshot")
            }
            Difference::EnumValues {
                name,
                expected,
                found,
            } => write!(
                f,
                "enum type `{name}` has the values ({}), the snapshot ({})",
                found.join(", "),
                expected.join(", ")
            ),
            Difference::MissingTable { table } => write!(f, "table `{table}` is missing"),
            Difference::ExtraTable { table } => write!(f, "table `{table}` is not in the snapshot"),
            Difference::MissingColumn { table, column } => {
                write!(f, "`{table}.{column}` is missing")
            }
            Difference::ExtraColumn { table, column } => {
                write!(f, "`{table}.{column}` is not in the snapshot")
            }
            Difference::ColumnType {
                table,
                column,
                expected,
                found,
            } => write!(
                f,
                "`{table}.{column}` is {found}, the snapshot has {expected}"
            ),
            Difference::Nullability {
                table,
                column,
                expected_not_null,
                found_not_null,
            } => {
                write!(
                    f,
                    "`{table}.{column}` is {}, the snapshot has it {}",
                    nullability(*found_not_null),
                    nullability(*expected_not_null)
                )
            }
            Difference::Default {
                table,
                column,
                expected,
                found,
            } => write!(
                f,
                "`{table}.{column}` has default {}, the snapshot has {}",
                or_none(found),
                or_none(expected)
            ),
            Difference::Identity {
                table,
                column,
                expected,
                found,
            } => {
                let what = |identity: bool| {
                    if identity {
                        "an identity column"
                    } else {
                        "not an identity column"
                    }
                };
                write!(
                    f,
                    "`{table}.{column}` is {}, the snapshot has it {}",
                    what(*found),
                    what(*expected)
                )
            }
            Difference::IdentityOptions {
                table,
                column,
                expected,
                found,
            } => write!(
                f,
                "`{table}.{column}` is {found}, the snapshot has {expected}"
            ),
            Difference::Collation {
                table,
                column,
                expected,
                found,
            } => {
                write!(
                    f,
                    "`{table}.{column}` has collation {}, the snapshot has {}",
                    or_none(found),
                    or_none(expected)
                )
            }
            Difference::MissingObject {
                table,
                object,
                name,
                definition,
            } => write!(f, "`{table}`: {object} `{name}` ({definition}) is missing"),
            Difference::ExtraObject {
                table,
                object,
                name,
                definition,
            } => write!(
                f,
                "`{table}`: {object} `{name}` ({definition}) is not in the snapshot"
            ),
            Difference::ChangedObject {
                table,
                object,
                name,
                expected,
                found,
            } => write!(
                f,
                "`{table}`: {object} `{name}` is {found}, the snapshot has {expected}"
            ),
            Difference::InvalidIndex { index } => write!(
                f,
                "index `{index}` is INVALID: still being built, or its build failed"
            ),
        };
        out
    }
}

/// An index said in a line, unquoted: `UNIQUE INDEX USING gin (a DESC, (lower(b))) INCLUDE (c) WHERE ..`.
pub(crate) fn index_definition(i: &Index) -> String {
    let keys: Vec<String> = i
        .columns
        .iter()
        .map(|k| {
            let mut key = match &k.target {
                KeyTarget::Column(c) => c.clone(),
                KeyTarget::Expression(e) => format!("({e})"),
            };
            for (word, value) in [("COLLATE ", &k.collation), ("", &k.opclass)] {
                if let Some(v) = value {
                    key.push_str(&format!(" {word}{v}"));
                }
            }
            if k.descending {
                key.push_str(" DESC");
            }
            if let Some(first) = k.nulls_first {
                key.push_str(if first { " NULLS FIRST" } else { " NULLS LAST" });
            }
            key
        })
        .collect();
    let mut out = format!("{}INDEX", if i.unique { "UNIQUE " } else { "" });
    if let Some(method) = i.method {
        out.push_str(&format!(" USING {}", method.sql()));
    }
    out.push_str(&format!(" ({})", keys.join(", ")));
    if !i.include.is_empty() {
        out.push_str(&format!(" INCLUDE ({})", i.include.join(", ")));
    }
    if let Some(p) = &i.predicate {
        out.push_str(&format!(" WHERE {p}"));
    }
    out
}

/// An identity said in a line: `GENERATED ALWAYS AS IDENTITY (START WITH 10)`.
fn identity_definition(identity: &Identity) -> String {
    let options = identity.sequence_options(None);
    let options = if options.is_empty() {
        String::new()
    } else {
        format!(" ({})", options.join(" "))
    };
    format!("GENERATED {} AS IDENTITY{options}", identity.generation())
}

/// A table's named objects with a readable definition, by kind.
fn objects(t: &Table) -> BTreeMap<(ObjectKind, String), String> {
    let list = |columns: &[String]| columns.join(", ");
    let mut out = BTreeMap::new();
    if let Some(k) = &t.primary_key {
        out.insert(
            (ObjectKind::PrimaryKey, k.name.clone()),
            format!("PRIMARY KEY ({})", list(&k.columns)),
        );
    }
    for u in t.uniques.values() {
        out.insert(
            (ObjectKind::Unique, u.name.clone()),
            format!("UNIQUE ({})", list(&u.columns)),
        );
    }
    for i in t.indexes.values() {
        out.insert((ObjectKind::Index, i.name.clone()), index_definition(i));
    }
    for fk in t.foreign_keys.values() {
        let d = format!(
            "FOREIGN KEY ({}) REFERENCES {} ({}){}",
            list(&fk.columns),
            fk.references_table,
            list(&fk.references_columns),
            fk.options_sql()
        );
        out.insert((ObjectKind::ForeignKey, fk.name.clone()), d);
    }
    for (name, c) in &t.checks {
        let definition = match in_list_values(&c.expression) {
            Some(values) => format!("CHECK (IN {values:?})"),
            None => "CHECK".into(),
        };
        out.insert((ObjectKind::Check, name.clone()), definition);
    }
    out
}

/// The values of a CHECK that is one column against a list of text values, as DSQL's stand-in
/// for an enum is (`"c" = ANY (ARRAY['a'::text, ..])`, as PostgreSQL prints an `IN` list);
/// `None` for any other CHECK. Checks are otherwise compared by name (PostgreSQL rewrites
/// their text), but these must hold the same values.
pub(crate) fn in_list_values(expression: &str) -> Option<Vec<String>> {
    let mut text = expression.trim();
    while let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        text = inner.trim();
    }
    let (column, list) = text.split_once(" = ANY (ARRAY[")?;
    let list = list.strip_suffix("])")?;
    if column.trim().is_empty() || column.contains(' ') && !column.starts_with('"') {
        return None;
    }
    // `'a'::text, 'b'::text`: each value a string literal, cast to text or not.
    let mut values = Vec::new();
    let words = crate::sql::tokens::significant(list);
    let mut rest = words.as_slice();
    loop {
        let (value, after) = rest.split_first()?;
        values.push(string_literal(value)?.to_owned());
        rest = match after {
            [cast, text, tail @ ..] if cast.token == Token::DoubleColon && text.is_word("text") => {
                tail
            }
            _ => after,
        };
        match rest.split_first() {
            None => return Some(values),
            Some((comma, tail)) if comma.token == Token::Comma => rest = tail,
            Some(_) => return None,
        }
    }
}

/// Every difference between `expected` and `actual`, each named; empty when they agree.
pub fn differences(expected: &Schema, actual: &Schema) -> Vec<Difference> {
    let mut out = Vec::new();
    for (name, e) in &expected.enums {
        match actual.enums.get(name) {
            None => out.push(Difference::MissingEnum { name: name.clone() }),
            Some(a) if a.values != e.values => out.push(Difference::EnumValues {
                name: name.clone(),
                expected: e.values.clone(),
                found: a.values.clone(),
            }),
            Some(_) => {}
        }
    }
    out.extend(
        actual
            .enums
            .keys()
            .filter(|n| !expected.enums.contains_key(*n))
            .map(|name| Difference::ExtraEnum { name: name.clone() }),
    );
    for name in expected
        .tables
        .keys()
        .filter(|n| !actual.tables.contains_key(*n))
    {
        out.push(Difference::MissingTable {
            table: name.clone(),
        });
    }
    for name in actual
        .tables
        .keys()
        .filter(|n| !expected.tables.contains_key(*n))
    {
        out.push(Difference::ExtraTable {
            table: name.clone(),
        });
    }
    for (name, e) in &expected.tables {
        let Some(a) = actual.tables.get(name) else {
            continue;
        };
        let (e, a) = (normalized(e), normalized(a));
        let table = || name.clone();
        for ec in e.columns.iter().filter(|c| a.column(&c.name).is_none()) {
            out.push(Difference::MissingColumn {
                table: table(),
                column: ec.name.clone(),
            });
        }
        for ac in a.columns.iter().filter(|c| e.column(&c.name).is_none()) {
            out.push(Difference::ExtraColumn {
                table: table(),
                column: ac.name.clone(),
            });
        }
        for ec in &e.columns {
            let Some(ac) = a.column(&ec.name) else {
                continue;
            };
            let column = || ec.name.clone();
            if ac.sql_type != ec.sql_type {
                out.push(Difference::ColumnType {
                    table: table(),
                    column: column(),
                    expected: ec.sql_type.to_string(),
                    found: ac.sql_type.to_string(),
                });
            }
            if ac.not_null != ec.not_null {
                out.push(Difference::Nullability {
                    table: table(),
                    column: column(),
                    expected_not_null: ec.not_null,
                    found_not_null: ac.not_null,
                });
            }
            if ac.default != ec.default {
                out.push(Difference::Default {
                    table: table(),
                    column: column(),
                    expected: ec.default.as_deref().map(str::to_owned),
                    found: ac.default.as_deref().map(str::to_owned),
                });
            }
            match (&ec.identity, &ac.identity) {
                (Some(e), Some(a)) if e != a => out.push(Difference::IdentityOptions {
                    table: table(),
                    column: column(),
                    expected: identity_definition(e),
                    found: identity_definition(a),
                }),
                (e, a) if e.is_some() != a.is_some() => out.push(Difference::Identity {
                    table: table(),
                    column: column(),
                    expected: e.is_some(),
                    found: a.is_some(),
                }),
                _ => {}
            }
            if ac.collation != ec.collation {
                out.push(Difference::Collation {
                    table: table(),
                    column: column(),
                    expected: ec.collation.clone(),
                    found: ac.collation.clone(),
                });
            }
        }
        let (eo, ao) = (objects(&e), objects(&a));
        for ((object, oname), definition) in &eo {
            match ao.get(&(*object, oname.clone())) {
                None => out.push(Difference::MissingObject {
                    table: table(),
                    object: *object,
                    name: oname.clone(),
                    definition: definition.clone(),
                }),
                Some(found) if found != definition => out.push(Difference::ChangedObject {
                    table: table(),
                    object: *object,
                    name: oname.clone(),
                    expected: definition.clone(),
                    found: found.clone(),
                }),
                Some(_) => {}
            }
        }
        for ((object, oname), definition) in ao.iter().filter(|(k, _)| !eo.contains_key(*k)) {
            out.push(Difference::ExtraObject {
                table: table(),
                object: *object,
                name: oname.clone(),
                definition: definition.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Difference, ObjectKind, differences, normalize_default};
    use crate::schema::model::{Column, Schema, Table};

    fn table(columns: &[&str]) -> Schema {
        let columns = columns
            .iter()
            .map(|n| Column {
                name: (*n).into(),
                sql_type: crate::schema::model::SqlType::parse("text").unwrap(),
                not_null: false,
                default: None,
                identity: None,
                collation: None,
            })
            .collect();
        let t = Table {
            name: "t".into(),
            columns,
            primary_key: None,
            uniques: Default::default(),
            indexes: Default::default(),
            foreign_keys: Default::default(),
            checks: Default::default(),
        };
        Schema {
            tables: [("t".to_owned(), t)].into(),
            ..Default::default()
        }
    }

    #[test]
    fn column_order_is_not_a_difference_but_a_missing_column_is() {
        assert!(differences(&table(&["a", "b", "c"]), &table(&["a", "c", "b"])).is_empty());
        let found: Vec<String> = differences(&table(&["a", "b"]), &table(&["a"]))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found, ["`t.b` is missing"]);
    }

    #[test]
    fn a_unique_index_is_not_a_unique_constraint() {
        use crate::schema::model::{Index, Unique};
        let mut constraint = table(&["a"]);
        let t = constraint.tables.get_mut("t").unwrap();
        t.uniques.insert(
            "t_a_key".into(),
            Unique {
                name: "t_a_key".into(),
                columns: vec!["a".into()],
            },
        );
        let mut index = table(&["a"]);
        let t = index.tables.get_mut("t").unwrap();
        t.indexes.insert(
            "t_a_key".into(),
            Index::plain("t_a_key", &["a".into()], true),
        );
        let found = differences(&constraint, &index);
        assert_eq!(
            found,
            [
                Difference::MissingObject {
                    table: "t".into(),
                    object: ObjectKind::Unique,
                    name: "t_a_key".into(),
                    definition: "UNIQUE (a)".into()
                },
                Difference::ExtraObject {
                    table: "t".into(),
                    object: ObjectKind::Index,
                    name: "t_a_key".into(),
                    definition: "UNIQUE INDEX (a)".into()
                },
            ]
        );
    }

    #[test]
    fn literal_casts_are_dropped_but_expressions_kept() {
        assert_eq!(
            normalize_default("'pending'::character varying"),
            "'pending'"
        );
        assert_eq!(normalize_default("'it''s'::text"), "'it''s'");
        assert_eq!(normalize_default("'{}'::jsonb"), "'{}'");
        assert_eq!(normalize_default("now()"), "now()");
        assert_eq!(normalize_default("(0)::numeric"), "(0)::numeric");
        // An escape string keeps its backslashes and its quote (the old scanner stopped at
        // `\'` and kept the cast).
        assert_eq!(normalize_default(r"E'it\'s\\'::text"), r"E'it\'s\\'");
        assert_eq!(normalize_default("'a' || 'b'::text"), "'a' || 'b'::text");
        assert_eq!(normalize_default("'a' ::text"), "'a' ::text");
    }

    #[test]
    fn an_in_list_check_gives_its_values_and_anything_else_none() {
        use super::in_list_values;
        assert_eq!(
            in_list_values("((status = ANY (ARRAY['a'::text, 'it''s'::text])))"),
            Some(vec!["a".to_owned(), "it's".to_owned()])
        );
        assert_eq!(
            in_list_values(r#""Mood" = ANY (ARRAY[E'x\\y'::text, 'z'])"#),
            Some(vec![r"x\y".to_owned(), "z".to_owned()])
        );
        // The column is what PostgreSQL prints before ` = ANY`: an expression too.
        assert_eq!(
            in_list_values("(lower(code) = ANY (ARRAY['a'::text, 'b'::text]))"),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        for other in [
            "status = ANY (ARRAY['a'::text]) OR true",
            "status=ANY(ARRAY['a'::text])",
            "status = ANY (ARRAY['a'::character varying])",
            "status = ANY (ARRAY[lower('a')])",
            "status <> ANY (ARRAY['a'::text])",
            "status = ANY (ARRAY['a'::text, ])",
            "a + b = ANY (ARRAY['a'::text])",
        ] {
            assert_eq!(in_list_values(other), None, "{other}");
        }
    }
}
