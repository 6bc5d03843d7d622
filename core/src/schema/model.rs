//! The schema model: what a database should contain, independent of dialect.
//!
//! The same types are produced by the attribute grammar (from Rust structs), stored in
//! snapshots (as JSON) and read back by introspection, so "equal" means the same thing
//! everywhere. Child objects live in `BTreeMap`s keyed by name so that serialisation is
//! byte-stable; columns keep declaration order because `CREATE TABLE` shows it.

pub use crate::schema::sql_text::{SqlExpr, SqlType};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A whole database schema: every table, keyed by its SQL name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Tables keyed by SQL name.
    pub tables: BTreeMap<String, Table>,
    /// Enum types keyed by name (`schema.name` outside `public`, as tables are).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enums: BTreeMap<String, EnumType>,
}

/// An enum type (`CREATE TYPE .. AS ENUM`), declared by `#[derive(Enum)]`. A column of it
/// has the type's quoted name as its type ([`EnumType::sql_type`]); on DSQL, which has no
/// enum types, such a column is `text` with a CHECK of the values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EnumType {
    /// Its name (`schema.name` outside `public`).
    pub name: String,
    /// The values, in the type's order.
    pub values: Vec<String>,
}

impl EnumType {
    /// The column type that names it: `"mood"`, `"auth"."mood"`.
    pub fn sql_type(&self) -> String {
        enum_sql_type(&self.name)
    }
}

/// The column type naming the enum `name` (see [`EnumType::sql_type`]).
pub(crate) fn enum_sql_type(name: &str) -> String {
    crate::sql::ident::quote_table(name)
}

impl Schema {
    /// The enum a column type names, if it names one of this schema's.
    pub fn enum_of(&self, sql_type: &str) -> Option<&EnumType> {
        if !sql_type.starts_with('"') && !sql_type.contains(".\"") {
            return None;
        }
        self.enums.values().find(|e| e.sql_type() == sql_type)
    }

    /// The database schemas its tables are in, `public` always among them.
    pub fn namespaces(&self) -> Vec<String> {
        let mut out: BTreeSet<&str> = self
            .tables
            .keys()
            .chain(self.enums.keys())
            .map(|t| table_schema(t))
            .collect();
        out.insert(DEFAULT_SCHEMA);
        out.into_iter().map(str::to_owned).collect()
    }

    /// Tables ordered so that each comes after the tables its foreign keys reference, for
    /// writing rows. A cycle (a self-reference included) cannot be ordered: its tables come
    /// in name order where the cycle is met, and the caller must cope with rows whose
    /// parents are not there yet.
    ///
    /// A depth-first walk with a stack of its own: a snapshot is input, and a chain of
    /// 100,000 foreign keys must not overflow the thread's stack.
    pub fn tables_parents_first(&self) -> Vec<&Table> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::with_capacity(self.tables.len());
        for root in self.tables.values() {
            if !seen.insert(root.name.as_str()) {
                continue;
            }
            // Each table with the parents it has still to visit.
            let mut stack = vec![(root, root.foreign_keys.values())];
            while let Some((table, parents)) = stack.last_mut() {
                match parents.next() {
                    Some(fk) => {
                        if let Some(parent) = self.tables.get(&fk.references_table)
                            && seen.insert(parent.name.as_str())
                        {
                            stack.push((parent, parent.foreign_keys.values()));
                        }
                    }
                    None => {
                        out.push(*table);
                        stack.pop();
                    }
                }
            }
        }
        out
    }
}

/// One table with its columns, keys, indexes and constraints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Table {
    /// SQL name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// The primary key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<PrimaryKey>,
    /// Unique constraints keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uniques: BTreeMap<String, Unique>,
    /// Secondary indexes keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub indexes: BTreeMap<String, Index>,
    /// Foreign keys keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub foreign_keys: BTreeMap<String, ForeignKey>,
    /// Check constraints keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
}

impl Table {
    /// The column called `name`, if there is one.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Column {
    /// SQL name.
    pub name: String,
    /// Canonical SQL type, as PostgreSQL's `format_type` prints it (see [`crate::schema::types`]).
    #[serde(rename = "type")]
    pub sql_type: SqlType,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Default expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<SqlExpr>,
    /// `GENERATED .. AS IDENTITY`, with its kind and sequence options. Written `true` when
    /// it is `BY DEFAULT` with PostgreSQL's default options, as snapshots always had it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "identity_format"
    )]
    #[cfg_attr(feature = "json-schema", schemars(with = "Option<IdentityFile>"))]
    pub identity: Option<Identity>,
    /// `COLLATE ".."` (PostgreSQL only), when not the type's default collation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
}

impl Column {
    /// Whether it is an identity column.
    pub fn is_identity(&self) -> bool {
        self.identity.is_some()
    }
}

/// An identity column's kind and sequence options; `None` is PostgreSQL's default (start
/// 1, increment 1, cache 1), so that a declaration and a catalog say it the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// `GENERATED ALWAYS` (inserts cannot give the column a value) rather than `BY DEFAULT`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub always: bool,
    /// `START WITH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// `INCREMENT BY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increment: Option<i64>,
    /// `CACHE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<i64>,
}

impl Identity {
    /// The same identity with PostgreSQL's defaults spelled as `None`.
    pub(crate) fn normalized(mut self) -> Identity {
        if self.increment == Some(1) {
            self.increment = None;
        }
        if self.cache == Some(1) {
            self.cache = None;
        }
        if self.start == Some(self.default_start()) {
            self.start = None;
        }
        self
    }

    /// Whether the sequence counts down (a negative increment).
    pub fn counts_down(&self) -> bool {
        self.increment.is_some_and(|i| i < 0)
    }

    /// Where the sequence starts when no `start` is given: 1 counting up, -1 counting down.
    pub(crate) fn default_start(&self) -> i64 {
        if self.counts_down() { -1 } else { 1 }
    }

    /// The starts a sequence with PostgreSQL's default bounds takes for a column of
    /// `sql_type`: 1 up to the type's largest counting up, its negation up to -1 counting down.
    pub(crate) fn start_range(&self, sql_type: &str) -> std::ops::RangeInclusive<i64> {
        let max = match sql_type {
            "smallint" => i64::from(i16::MAX),
            "integer" => i64::from(i32::MAX),
            _ => i64::MAX,
        };
        if self.counts_down() {
            -max..=-1
        } else {
            1..=max
        }
    }

    /// The options in `CREATE TABLE`'s and `ALTER COLUMN`'s words, with `cache` when the
    /// caller needs one written even at its default (DSQL requires one).
    pub fn sequence_options(&self, cache: Option<i64>) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(start) = self.start {
            out.push(format!("START WITH {start}"));
        }
        if let Some(increment) = self.increment {
            out.push(format!("INCREMENT BY {increment}"));
        }
        if let Some(cache) = self.cache.or(cache) {
            out.push(format!("CACHE {cache}"));
        }
        out
    }

    /// `ALWAYS` or `BY DEFAULT`.
    pub fn generation(&self) -> &'static str {
        if self.always { "ALWAYS" } else { "BY DEFAULT" }
    }
}

/// How a snapshot writes [`Column::identity`]: `true`, or the options.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
enum IdentityFile {
    /// `BY DEFAULT` with the default options (`false` is no identity).
    Flag(bool),
    /// Anything else.
    Options(Identity),
}

mod identity_format {
    use super::{Identity, IdentityFile};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    // (`Deserialize` is used for `Identity` itself.)

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Identity>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(identity) if *identity == Identity::default() => {
                IdentityFile::Flag(true).serialize(serializer)
            }
            Some(identity) => IdentityFile::Options(identity.clone()).serialize(serializer),
            None => IdentityFile::Flag(false).serialize(serializer),
        }
    }

    /// Read without buffering (as `untagged` would): a bool, or the options.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Identity>, D::Error> {
        struct IdentityVisitor;
        impl<'de> serde::de::Visitor<'de> for IdentityVisitor {
            type Value = Option<Identity>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`true`, `false`, or {\"always\", \"start\", \"increment\", \"cache\"}")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Option<Identity>, E> {
                Ok(v.then(Identity::default))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Option<Identity>, A::Error> {
                Identity::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|i| Some(i.normalized()))
            }
        }
        deserializer.deserialize_any(IdentityVisitor)
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PrimaryKey {
    /// Constraint name.
    pub name: String,
    /// Key columns in order.
    pub columns: Vec<String>,
}

/// A unique constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Unique {
    /// Constraint name.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<String>,
}

/// A secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// Keys in order: a column's name, or a key with an expression or options.
    pub columns: Vec<IndexKey>,
    /// `UNIQUE` index.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// The access method; `None` is `btree` (a snapshot's `"btree"` is read as `None`, so
    /// that it is never written out: DSQL refuses even `USING btree`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "method_not_btree"
    )]
    pub method: Option<IndexMethod>,
    /// `INCLUDE (..)` columns, stored but not keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// `WHERE ..`: a partial index.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub predicate: Option<SqlExpr>,
}

fn method_not_btree<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<IndexMethod>, D::Error> {
    Ok(Option::<IndexMethod>::deserialize(deserializer)?.and_then(IndexMethod::unless_btree))
}

impl Index {
    /// A plain btree index on `columns`.
    pub fn plain(name: &str, columns: &[String], unique: bool) -> Index {
        Index {
            name: name.to_owned(),
            columns: columns.iter().map(IndexKey::column).collect(),
            unique,
            method: None,
            include: Vec::new(),
            predicate: None,
        }
    }

    /// The key columns, when every key is a plain column in ascending order with no
    /// options (what a foreign key can lean on, and what a unique constraint is).
    pub fn plain_columns(&self) -> Option<Vec<String>> {
        self.columns
            .iter()
            .map(|k| k.plain_column().map(str::to_owned))
            .collect()
    }

    /// Every column it names by name (keys, then INCLUDE).
    pub fn named_columns(&self) -> impl Iterator<Item = &String> {
        self.columns
            .iter()
            .filter_map(|k| match &k.target {
                KeyTarget::Column(c) => Some(c),
                KeyTarget::Expression(_) => None,
            })
            .chain(&self.include)
    }

    /// Its SQL text: the expression keys, then the predicate.
    pub fn expressions(&self) -> impl Iterator<Item = &SqlExpr> {
        self.columns
            .iter()
            .filter_map(|k| match &k.target {
                KeyTarget::Expression(e) => Some(e),
                KeyTarget::Column(_) => None,
            })
            .chain(&self.predicate)
    }

    /// Every column it names by name (keys, then INCLUDE), for renames.
    pub fn named_columns_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.columns
            .iter_mut()
            .filter_map(|k| match &mut k.target {
                KeyTarget::Column(c) => Some(c),
                KeyTarget::Expression(_) => None,
            })
            .chain(self.include.iter_mut())
    }
}

/// One key of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(into = "IndexKeyFile")]
pub struct IndexKey {
    /// What is indexed.
    pub target: KeyTarget,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST` or `NULLS LAST` when it is not the order's default (`NULLS LAST`
    /// ascending, `NULLS FIRST` descending); `None` is the default.
    pub nulls_first: Option<bool>,
    /// The operator class, when not the type's default.
    pub opclass: Option<String>,
    /// `COLLATE ".."`, when not the column's.
    pub collation: Option<String>,
}

impl IndexKey {
    /// A plain ascending key on `column`.
    pub fn column(column: impl Into<String>) -> IndexKey {
        IndexKey {
            target: KeyTarget::Column(column.into()),
            descending: false,
            nulls_first: None,
            opclass: None,
            collation: None,
        }
    }

    /// The column, when the key is a plain column without options.
    pub(crate) fn plain_column(&self) -> Option<&str> {
        match &self.target {
            KeyTarget::Column(c)
                if !self.descending
                    && self.nulls_first.is_none()
                    && self.opclass.is_none()
                    && self.collation.is_none() =>
            {
                Some(c)
            }
            _ => None,
        }
    }

    /// The same key with `NULLS ..` dropped when it is the order's default.
    pub(crate) fn normalized(mut self) -> IndexKey {
        if self.nulls_first == Some(self.descending) {
            self.nulls_first = None;
        }
        self
    }
}

/// What an index key indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum KeyTarget {
    /// A column, by name.
    Column(String),
    /// An expression (`lower(email)`).
    Expression(SqlExpr),
}

/// How a snapshot writes an [`IndexKey`]: the column's name alone, or an object.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
enum IndexKeyFile {
    /// A plain column.
    Column(String),
    /// Anything else.
    Detailed(IndexKeyDetail),
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct IndexKeyDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expression: Option<SqlExpr>,
    #[serde(default, skip_serializing_if = "is_false")]
    descending: bool,
    #[serde(
        default,
        rename = "nullsFirst",
        skip_serializing_if = "Option::is_none"
    )]
    nulls_first: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opclass: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    collation: Option<String>,
}

/// Read without buffering (as `untagged` would): a string is a column, a map the rest.
impl<'de> Deserialize<'de> for IndexKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<IndexKey, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = IndexKeyFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a column's name, or a key {\"column\" or \"expression\", \"descending\", \"nullsFirst\", \"opclass\", \"collation\"}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IndexKeyFile, E> {
                Ok(IndexKeyFile::Column(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<IndexKeyFile, A::Error> {
                IndexKeyDetail::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(IndexKeyFile::Detailed)
            }
        }
        deserializer.deserialize_any(KeyVisitor).map(IndexKey::from)
    }
}

impl From<IndexKeyFile> for IndexKey {
    fn from(file: IndexKeyFile) -> IndexKey {
        match file {
            IndexKeyFile::Column(c) => IndexKey::column(c),
            IndexKeyFile::Detailed(d) => IndexKey {
                // A key with both or neither is refused by `Snapshot::check_names`; an
                // empty column name is what it reports.
                target: match (d.column, d.expression) {
                    (Some(c), None) => KeyTarget::Column(c),
                    (None, Some(e)) => KeyTarget::Expression(e),
                    _ => KeyTarget::Column(String::new()),
                },
                descending: d.descending,
                nulls_first: d.nulls_first,
                opclass: d.opclass,
                collation: d.collation,
            }
            .normalized(),
        }
    }
}

impl From<IndexKey> for IndexKeyFile {
    fn from(key: IndexKey) -> IndexKeyFile {
        if let Some(c) = key.plain_column() {
            return IndexKeyFile::Column(c.to_owned());
        }
        let (column, expression) = match key.target {
            KeyTarget::Column(c) => (Some(c), None),
            KeyTarget::Expression(e) => (None, Some(e)),
        };
        IndexKeyFile::Detailed(IndexKeyDetail {
            column,
            expression,
            descending: key.descending,
            nulls_first: key.nulls_first,
            opclass: key.opclass,
            collation: key.collation,
        })
    }
}

/// An index access method other than `btree`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum IndexMethod {
    /// `btree`, written only when a catalog or a user spells it.
    Btree,
    /// `hash`
    Hash,
    /// `gin`
    Gin,
    /// `gist`
    Gist,
    /// `brin`
    Brin,
    /// `spgist`
    Spgist,
}

impl IndexMethod {
    /// The operator class PostgreSQL uses for a key of `sql_type` under this method when
    /// none is named (the types the Rust mapping gives; `None` where this does not know).
    pub(crate) fn default_opclass(self, sql_type: &str) -> Option<&'static str> {
        match self {
            IndexMethod::Gin if crate::schema::types::base_name(sql_type) == "jsonb" => {
                Some("jsonb_ops")
            }
            IndexMethod::Btree | IndexMethod::Hash => {
                crate::schema::types::default_btree_opclass(sql_type)
            }
            _ => None,
        }
    }

    /// Every method with its SQL name.
    pub const ALL: &'static [(&'static str, IndexMethod)] = &[
        ("btree", IndexMethod::Btree),
        ("hash", IndexMethod::Hash),
        ("gin", IndexMethod::Gin),
        ("gist", IndexMethod::Gist),
        ("brin", IndexMethod::Brin),
        ("spgist", IndexMethod::Spgist),
    ];

    /// Its SQL name.
    pub fn sql(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(s, _)| *s)
            .unwrap_or("btree")
    }

    /// Parses an SQL name, case-insensitively; `None` for a method it does not know.
    pub fn parse(text: &str) -> Option<IndexMethod> {
        let wanted = text.trim().to_ascii_lowercase();
        Self::ALL
            .iter()
            .find(|(s, _)| *s == wanted)
            .map(|(_, m)| *m)
    }

    /// The model's spelling: `None` for `btree`, the default.
    pub(crate) fn unless_btree(self) -> Option<IndexMethod> {
        (self != IndexMethod::Btree).then_some(self)
    }
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub references_table: String,
    /// Referenced columns.
    pub references_columns: Vec<String>,
    /// `ON DELETE` action; `None` is `NO ACTION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<ReferentialAction>,
    /// `ON UPDATE` action; `None` is `NO ACTION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<ReferentialAction>,
    /// `MATCH FULL` (a partly NULL key is refused) rather than `MATCH SIMPLE`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub match_full: bool,
    /// `DEFERRABLE`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deferrable: bool,
    /// `INITIALLY DEFERRED` (only with `deferrable`): checked at commit.
    #[serde(default, skip_serializing_if = "is_false")]
    pub initially_deferred: bool,
}

impl ForeignKey {
    /// Whether two keys have the same definition, whatever their names.
    pub fn same_definition(&self, other: &ForeignKey) -> bool {
        ForeignKey {
            name: String::new(),
            ..self.clone()
        } == ForeignKey {
            name: String::new(),
            ..other.clone()
        }
    }

    /// The clause after `FOREIGN KEY (..) REFERENCES t (..)`: actions, match and deferral,
    /// in the order PostgreSQL prints them.
    pub fn options_sql(&self) -> String {
        let mut out = String::new();
        if self.match_full {
            out.push_str(" MATCH FULL");
        }
        if let Some(action) = self.on_update {
            out.push_str(" ON UPDATE ");
            out.push_str(action.sql());
        }
        if let Some(action) = self.on_delete {
            out.push_str(" ON DELETE ");
            out.push_str(action.sql());
        }
        if self.deferrable {
            out.push_str(" DEFERRABLE");
            if self.initially_deferred {
                out.push_str(" INITIALLY DEFERRED");
            }
        }
        out
    }
}

/// What a foreign key does when the referenced row changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferentialAction {
    /// `CASCADE`
    Cascade,
    /// `RESTRICT`
    Restrict,
    /// `SET NULL`
    SetNull,
    /// `SET DEFAULT`
    SetDefault,
    /// `NO ACTION`
    NoAction,
}

impl ReferentialAction {
    /// The spellings accepted in `on_delete = ".."`, with their meaning.
    pub(crate) const SPELLINGS: &'static [(&'static str, ReferentialAction)] = &[
        ("cascade", ReferentialAction::Cascade),
        ("restrict", ReferentialAction::Restrict),
        ("set null", ReferentialAction::SetNull),
        ("set default", ReferentialAction::SetDefault),
        ("no action", ReferentialAction::NoAction),
    ];

    /// Parses a user spelling, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', " ");
        Self::SPELLINGS
            .iter()
            .find(|(s, _)| *s == wanted)
            .map(|(_, a)| *a)
    }

    /// SQL keywords.
    pub fn sql(self) -> &'static str {
        match self {
            ReferentialAction::Cascade => "CASCADE",
            ReferentialAction::Restrict => "RESTRICT",
            ReferentialAction::SetNull => "SET NULL",
            ReferentialAction::SetDefault => "SET DEFAULT",
            ReferentialAction::NoAction => "NO ACTION",
        }
    }
}

/// A check constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Constraint name.
    pub name: String,
    /// Boolean SQL expression.
    pub expression: SqlExpr,
}

/// The schema PostgreSQL resolves unqualified names in, and the one a table's name leaves
/// unsaid: a table in it is `users`, a table elsewhere is `auth.users`, so a snapshot of
/// tables all in `public` reads as it did before schemas could be declared.
pub(crate) const DEFAULT_SCHEMA: &str = "public";

/// A table's name split into its schema (`None` for `DEFAULT_SCHEMA`) and its name in the
/// schema. Neither part can hold a `.` (the grammar and the snapshot reader refuse one).
pub fn split_table_name(name: &str) -> (Option<&str>, &str) {
    match name.split_once('.') {
        Some((schema, bare)) => (Some(schema), bare),
        None => (None, name),
    }
}

/// The schema a table named `name` lives in.
pub(crate) fn table_schema(name: &str) -> &str {
    split_table_name(name).0.unwrap_or(DEFAULT_SCHEMA)
}

/// A table's name in its schema: what PostgreSQL's `relname` holds, what constraint and
/// index names are made from, and what `RENAME TO` takes.
pub fn bare_table_name(name: &str) -> &str {
    split_table_name(name).1
}

/// The model's name of table `bare` in `schema`: qualified unless the schema is
/// `DEFAULT_SCHEMA`.
pub fn qualified_table_name(schema: &str, bare: &str) -> String {
    if schema == DEFAULT_SCHEMA {
        bare.to_owned()
    } else {
        format!("{schema}.{bare}")
    }
}

/// The model's name of a referenced table written `table` or `schema.table`: `None` when a
/// part is empty or there are more than two; `public.t` is `t`.
pub(crate) fn table_reference(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.trim().split('.').map(str::trim).collect();
    match parts.as_slice() {
        [bare] if !bare.is_empty() => Some((*bare).to_owned()),
        [schema, bare] if !schema.is_empty() && !bare.is_empty() => {
            Some(qualified_table_name(schema, bare))
        }
        _ => None,
    }
}

/// Suffix of a rebuilt table's new copy while it is filled; reserved, so no struct may
/// name a table with it.
pub const NEW_SUFFIX: &str = "__tw_new";
/// Suffix of a rebuilt table's old copy between the swap's two renames; reserved too.
pub const OLD_SUFFIX: &str = "__tw_old";

/// PostgreSQL truncates identifiers longer than this many bytes (the structs' own names
/// are refused instead; names read from a database or drizzle are kept truncated).
pub(crate) const MAX_IDENTIFIER_BYTES: usize = 63;

/// Why a name cannot be one this tool writes; the grammar and the snapshot reader each say
/// it in their own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameProblem {
    #[allow(missing_docs)] // the variant's name says it all
    Empty,
    /// Longer than [`MAX_IDENTIFIER_BYTES`].
    TooLong,
    /// Holds a `"` or a control character.
    QuoteOrControl,
}

/// What is wrong with `name`, if anything.
pub(crate) fn name_problem(name: &str) -> Option<NameProblem> {
    if name.is_empty() {
        Some(NameProblem::Empty)
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        Some(NameProblem::TooLong)
    } else if name.contains('"') || name.chars().any(char::is_control) {
        Some(NameProblem::QuoteOrControl)
    } else {
        None
    }
}

/// The name PostgreSQL gives a constraint or index the DDL leaves unnamed: `<table>_<cols>_<suffix>`
/// (`ChooseConstraintName`, `ChooseIndexName`), shortened as [`make_object_name`] does.
pub(crate) fn default_name(table: &str, columns: &[String], suffix: &str) -> String {
    make_object_name(bare_table_name(table), Some(&columns.join("_")), suffix)
}

/// The name PostgreSQL gives the sequence of an identity column of `table`.
pub fn identity_sequence_name(table: &str, column: &str) -> String {
    make_object_name(bare_table_name(table), Some(column), "seq")
}

/// PostgreSQL's `makeObjectName`: `<name1>[_<name2>]_<label>`, the longer of the two
/// names shortened a byte at a time until the whole fits in 63 bytes, then each cut back
/// to a character boundary (`pg_mbcliplen`). (When the name is taken PostgreSQL appends a
/// digit, but a *later* `CREATE .. IF NOT EXISTS` of that name would meet the other object
/// and do nothing: generate refuses clashes instead.)
pub(crate) fn make_object_name(name1: &str, name2: Option<&str>, label: &str) -> String {
    let overhead = label.len() + 1 + usize::from(name2.is_some());
    let available = MAX_IDENTIFIER_BYTES - overhead;
    let (mut first, mut second) = (name1.len(), name2.map_or(0, str::len));
    while first + second > available {
        if first > second {
            first -= 1;
        } else {
            second -= 1;
        }
    }
    let clip = |text: &str, mut at: usize| {
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    match name2 {
        Some(name2) => format!(
            "{}_{}_{label}",
            &name1[..clip(name1, first)],
            &name2[..clip(name2, second)]
        ),
        None => format!("{}_{label}", &name1[..clip(name1, first)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sequences_are_named_as_postgresql_names_them() {
        assert_eq!(identity_sequence_name("items", "id"), "items_id_seq");
        let long = "t".repeat(60);
        let name = identity_sequence_name(&long, "identifier");
        assert_eq!(name.len(), 63);
        assert_eq!(name, format!("{}_identifier_seq", "t".repeat(48)));
        let name = identity_sequence_name(&"é".repeat(31), "id");
        assert!(name.len() <= 63 && name.ends_with("_id_seq"), "{name}");
    }

    /// Names PostgreSQL 15 gave unnamed constraints, read from its catalog.
    #[test]
    fn unnamed_constraints_are_named_as_postgresql_names_them() {
        let table = "a_table_name_that_is_quite_long_indeed";
        let columns = [
            "first_column_of_the_key".to_owned(),
            "second_column".to_owned(),
        ];
        assert_eq!(
            default_name(table, &columns, "fkey"),
            "a_table_name_that_is_quite_lo_first_column_of_the_key_seco_fkey"
        );
        assert_eq!(
            default_name(&format!("{table}2"), &columns, "key"),
            "a_table_name_that_is_quite_lo_first_column_of_the_key_secon_key"
        );
        assert_eq!(
            default_name(&format!("{table}2"), &columns, "idx"),
            "a_table_name_that_is_quite_lo_first_column_of_the_key_secon_idx"
        );
        assert_eq!(
            make_object_name(&"p".repeat(70), None, "pkey"),
            format!("{}_pkey", "p".repeat(58))
        );
    }

    fn table(name: &str, parents: &[&str]) -> Table {
        let id = Column {
            name: "id".into(),
            sql_type: SqlType::parse("bigint").unwrap(),
            not_null: true,
            default: None,
            identity: None,
            collation: None,
        };
        let foreign_keys = parents
            .iter()
            .map(|p| {
                let fk = ForeignKey {
                    name: format!("{name}_{p}_fkey"),
                    columns: vec!["id".into()],
                    references_table: (*p).into(),
                    references_columns: vec!["id".into()],
                    on_delete: None,
                    on_update: None,
                    match_full: false,
                    deferrable: false,
                    initially_deferred: false,
                };
                (fk.name.clone(), fk)
            })
            .collect();
        Table {
            name: name.into(),
            columns: vec![id],
            primary_key: None,
            uniques: BTreeMap::new(),
            indexes: BTreeMap::new(),
            foreign_keys,
            checks: BTreeMap::new(),
        }
    }

    fn schema(tables: Vec<Table>) -> Schema {
        Schema {
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn parents_come_first_and_cycles_in_name_order() {
        let s = schema(vec![
            table("a_child", &["c_parent", "b_other"]),
            table("b_other", &["c_parent"]),
            table("c_parent", &[]),
            table("d_self", &["d_self"]),
            table("e", &["f"]),
            table("f", &["e"]),
        ]);
        let order: Vec<&str> = s
            .tables_parents_first()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(
            order,
            ["c_parent", "b_other", "a_child", "d_self", "f", "e"]
        );
    }

    /// A snapshot is input: a chain of 100,000 foreign keys is walked on a small stack.
    #[test]
    fn a_long_chain_of_foreign_keys_does_not_overflow_the_stack() {
        let n = 100_000;
        let tables = (0..n)
            .map(|i| {
                if i == 0 {
                    table("t0", &[])
                } else {
                    table(&format!("t{i}"), &[&format!("t{}", i - 1)])
                }
            })
            .collect();
        let s = schema(tables);
        let order = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                s.tables_parents_first()
                    .iter()
                    .map(|t| t.name.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(order.len(), n);
        assert_eq!(order.first().map(String::as_str), Some("t0"));
        assert_eq!(
            order.last().map(String::as_str),
            Some(format!("t{}", n - 1).as_str())
        );
    }
}
