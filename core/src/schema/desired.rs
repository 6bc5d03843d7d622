//! The desired schema: the model the structs describe, plus what the diff needs to know
//! that is not schema (declared renames, allowed drops) and where each was written.

use crate::schema::model::Schema;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

/// A place in a source file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Location {
    /// The file, as given in the config's globs.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A `renamed_from` hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The old name.
    pub from: String,
    /// Where the hint was written.
    pub location: Option<Location>,
}

/// Non-schema facts about one table of the desired schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSource {
    /// The Rust struct.
    pub rust_name: String,
    /// Where the struct is.
    pub location: Option<Location>,
    /// `#[table(renamed_from)]`.
    pub renamed_from: Option<Hint>,
    /// `#[column(renamed_from)]` keyed by the column's new name.
    pub column_renames: BTreeMap<String, Hint>,
    /// `#[column(fill)]` keyed by the column's name: the value existing rows get when the
    /// column becomes NOT NULL (or is added NOT NULL); the column's `default` otherwise.
    pub column_fills: BTreeMap<String, crate::schema::model::SqlExpr>,
    /// `#[table(allow_drop(..))]`.
    pub allow_drop: BTreeSet<String>,
    /// Unique constraints declared over the primary key's columns, which the model leaves
    /// out as PostgreSQL does.
    pub absorbed_uniques: Vec<String>,
    /// Where each index and foreign key was declared, by name.
    pub object_locations: BTreeMap<String, Location>,
    /// `#[column(enum_type = "..")]`: the enum each such column names, with where.
    pub enum_columns: BTreeMap<String, Hint>,
}

impl TableSource {
    /// Where the object `name` was declared, else where the struct is.
    pub fn location_of(&self, name: &str) -> Option<Location> {
        self.object_locations
            .get(name)
            .cloned()
            .or_else(|| self.location.clone())
    }
}

/// The schema the code asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredSchema {
    /// The tables and enum types the code declares.
    pub schema: Schema,
    /// Per table (keyed like `schema.tables`).
    pub sources: BTreeMap<String, TableSource>,
    /// Per enum type (keyed like `schema.enums`).
    pub enum_sources: BTreeMap<String, EnumSource>,
}

/// Where an enum type is declared, and what its attributes ask of the diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnumSource {
    /// The Rust enum.
    pub rust_name: String,
    /// Where it is.
    pub location: Option<Location>,
    /// `#[value(renamed_from = "..")]`, keyed by the value's new name.
    pub value_renames: BTreeMap<String, Hint>,
    /// `#[enum_type(allow_drop(..))]`.
    pub allow_drop: BTreeSet<String>,
}

/// Drops allowed from the command line: `table`, `table.column`, and for a table outside
/// `public`, `schema.table` or `schema.table.column`. (`a.b` allows either the table `b` of
/// schema `a` or the column `b` of table `a`; the names say which exists.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowDrops {
    /// Whole tables.
    pub tables: BTreeSet<String>,
    /// `(table, column)`.
    pub columns: BTreeSet<(String, String)>,
}

impl AllowDrops {
    /// Parses `--allow-drop` values.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Self {
        let mut out = AllowDrops::default();
        for v in values {
            let v = v.as_ref();
            if let Some((t, c)) = v.rsplit_once('.') {
                out.columns.insert((t.to_owned(), c.to_owned()));
            }
            if v.matches('.').count() <= 1 {
                out.tables.insert(v.to_owned());
            }
        }
        out
    }
}

impl From<&Location> for crate::error::Span {
    fn from(l: &Location) -> crate::error::Span {
        crate::error::Span {
            file: l.file.display().to_string(),
            line: l.line,
            column: l.column,
            end_line: None,
            end_column: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_drop_names_a_table_or_a_column_of_either_schema() {
        let allow = AllowDrops::parse(&["old", "users.bio", "auth.sessions.token"]);
        assert!(allow.tables.contains("old") && allow.tables.contains("users.bio"));
        assert!(allow.columns.contains(&("users".into(), "bio".into())));
        assert!(
            allow
                .columns
                .contains(&("auth.sessions".into(), "token".into()))
        );
        assert!(
            !allow.tables.contains("auth.sessions.token"),
            "no table has a name of three parts"
        );
    }
}
