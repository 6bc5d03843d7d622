//! `import drizzle`: a drizzle-kit 0.x folder (journal v7, PostgreSQL snapshots) becomes
//! this tool's migrations folder. The SQL files are kept byte for byte, so their SHA-256
//! is the one drizzle's migrator recorded in `drizzle.__drizzle_migrations`, and `migrate`
//! recognises what drizzle applied. Each snapshot becomes a snapshot of the model; what the
//! model cannot hold is listed.

use crate::compile::rules::Dialect;
use crate::project::hash;
use crate::project::journal::{ImportedFrom, Journal, JournalEntry};
use crate::project::snapshot::{ORIGIN_ID, SNAPSHOT_VERSION, Snapshot, to_pretty_json};
use crate::schema::model::{DEFAULT_SCHEMA, EnumType, bare_table_name, qualified_table_name, Check, Column, ForeignKey, Identity, Index, IndexKey, IndexMethod, KeyTarget, PrimaryKey, ReferentialAction, Schema, SqlExpr, SqlType, Table, Unique};
use crate::schema::types;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Why a drizzle folder cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what drizzle-kit writes.
    #[error("{}: {message}", .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The migrations folder already has migrations.
    #[error("{}: already holds migrations; import into a project without any (move them aside first)", .0.display())]
    NotEmpty(PathBuf),
}

/// The converted folder, ready to be written.
#[derive(Debug, Clone)]
pub struct DrizzleImport {
    /// The files: SQL (verbatim), snapshots, the journal last.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// The tags, in order.
    pub migrations: Vec<String>,
    /// The last snapshot's schema.
    pub schema: Schema,
    /// What the model does not hold as drizzle's snapshots have it, one line each.
    pub notes: Vec<String>,
}

/// A JSON object's entries in file order (drizzle writes columns in declaration order,
/// and a table's column order is part of its schema).
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Entries<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, T>()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        deserializer.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// A table of a drizzle snapshot; the parts read as JSON values are those whose order
/// does not matter.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DrizzleTable {
    name: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    columns: Ordered<Value>,
    #[serde(default)]
    indexes: Value,
    #[serde(default)]
    foreign_keys: Value,
    #[serde(default)]
    composite_primary_keys: Value,
    #[serde(default)]
    unique_constraints: Value,
    #[serde(default)]
    check_constraints: Value,
    #[serde(default, rename = "isRLSEnabled")]
    rls_enabled: bool,
}

#[derive(Deserialize)]
struct DrizzleJournal {
    version: String,
    dialect: String,
    entries: Vec<DrizzleEntry>,
}

#[derive(Deserialize)]
struct DrizzleEntry {
    idx: u32,
    when: u64,
    tag: String,
    #[serde(default)]
    breakpoints: bool,
}

#[derive(Deserialize)]
struct DrizzleSnapshot {
    dialect: String,
    tables: Ordered<DrizzleTable>,
    #[serde(default)]
    enums: Option<Value>,
    #[serde(default)]
    sequences: Option<Value>,
    #[serde(default)]
    views: Option<Value>,
    #[serde(default)]
    policies: Option<Value>,
    #[serde(default)]
    roles: Option<Value>,
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Io { path: path.to_owned(), source })
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ImportError> {
    serde_json::from_slice(&read(path)?).map_err(|e| ImportError::Format { path: path.to_owned(), message: format!("not a drizzle-kit file: {e}") })
}

fn is_empty(value: &Option<Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn entries(value: &Value) -> Vec<&Value> {
    value.as_object().map(|m| m.values().collect()).unwrap_or_default()
}

fn action(value: &Value) -> Option<ReferentialAction> {
    value.as_str().and_then(ReferentialAction::parse).filter(|a| *a != ReferentialAction::NoAction)
}

/// A name from a drizzle snapshot as PostgreSQL stored it: names of 64 bytes and more are
/// cut to 63 (drizzle's default foreign-key names often are), said in a note.
fn pg_name(name: &str, what: &str, table: &str, notes: &mut Vec<String>) -> String {
    let stored = crate::schema::model::truncate_identifier(name);
    if stored.len() < name.len() {
        notes.push(format!("`{table}`: {what} `{name}` is longer than 63 bytes; PostgreSQL stored it as `{stored}`, and so does the snapshot"));
    }
    stored.to_owned()
}

/// One drizzle table as a model table, with notes for what the model does not hold.
fn table(name: &str, value: &DrizzleTable, enums: &Schema, path: &Path, notes: &mut Vec<String>) -> Result<Table, ImportError> {
    let bad = |message: String| ImportError::Format { path: path.to_owned(), message };
    let columns = &value.columns;
    let mut t = Table { name: name.to_owned(), columns: Vec::new(), primary_key: None, uniques: Default::default(), indexes: Default::default(), foreign_keys: Default::default(), checks: Default::default() };
    let mut pk_columns = Vec::new();
    for (key, c) in &columns.0 {
        let column = c.get("name").and_then(Value::as_str).unwrap_or(key).to_owned();
        let written = c.get("type").and_then(Value::as_str).ok_or_else(|| bad(format!("`{name}.{column}` has no type")))?;
        // A type the snapshot's enums declare (`typeSchema` says whose).
        let enum_type = enum_type_of(c, written, enums);
        let (sql_type, mut default) = match written {
            // SERIAL is integer + a sequence + its default; the model holds what the
            // catalog shows.
            "serial" | "smallserial" | "bigserial" => {
                notes.push(format!("`{name}.{column}` is {written}: its sequence is not declared in the structs; consider `#[column(identity)]`"));
                let base = match written { "serial" => "integer", "smallserial" => "smallint", _ => "bigint" };
                // (PostgreSQL prints the sequence qualified outside `public`, so does `name`.)
                (base.to_owned(), Some(format!("nextval('{name}_{column}_seq'::regclass)")))
            }
            _ if let Some(enum_type) = enum_type => (enum_type, None),
            _ => (types::canonical_sql_type(written).map_err(|e| bad(format!("`{name}.{column}`: type `{written}`: {e}")))?, None),
        };
        match c.get("default") {
            Some(Value::String(s)) => default = Some(s.clone()),
            Some(Value::Bool(b)) => default = Some(b.to_string()),
            Some(Value::Number(n)) => default = Some(n.to_string()),
            Some(Value::Null) | None => {}
            Some(other) => default = Some(other.to_string()),
        }
        let identity = c.get("identity").filter(|v| !v.is_null());
        // drizzle-kit writes the sequence options as strings.
        let option = |id: &Value, key: &str| id.get(key).and_then(|v| v.as_str().and_then(|s| s.parse::<i64>().ok()).or_else(|| v.as_i64()));
        let identity_model = identity.map(|id| {
            Identity { always: id.get("type").and_then(Value::as_str) == Some("always"), start: option(id, "startWith"), increment: option(id, "increment"), cache: option(id, "cache") }.normalized()
        });
        if c.get("generated").is_some_and(|g| !g.is_null()) {
            notes.push(format!("`{name}.{column}` is a generated column; the structs declare it as a plain column"));
        }
        if c.get("primaryKey").and_then(Value::as_bool) == Some(true) {
            pk_columns.push(column.clone());
        }
        // drizzle-kit before v7 kept single-column uniques on the column.
        if c.get("isUnique").and_then(Value::as_bool) == Some(true) {
            let unique = c.get("uniqueName").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| format!("{}_{column}_unique", bare_table_name(name)));
            t.uniques.insert(unique.clone(), Unique { name: unique, columns: vec![column.clone()] });
        }
        let not_null = c.get("notNull").and_then(Value::as_bool).unwrap_or(false) || identity.is_some();
        if identity.is_some() {
            default = None;
        }
        let sql_type = SqlType::parse(&sql_type).map_err(|e| bad(format!("`tables.{name}.columns.{column}.type`: {e}")))?;
        let default = default.map(|d| SqlExpr::parse("default", &d)).transpose().map_err(|e| bad(format!("`tables.{name}.columns.{column}.default`: {e}")))?;
        t.columns.push(Column { name: column, sql_type, not_null, default, identity: identity_model, collation: None });
    }
    if !pk_columns.is_empty() {
        t.primary_key = Some(PrimaryKey { name: format!("{}_pkey", bare_table_name(name)), columns: pk_columns });
    }
    for pk in entries(&value.composite_primary_keys) {
        let key = pk.get("name").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| format!("{}_pkey", bare_table_name(name)));
        t.primary_key = Some(PrimaryKey { name: key, columns: strings(pk.get("columns").unwrap_or(&Value::Null)) });
    }
    for u in entries(&value.unique_constraints) {
        let unique = pg_name(u.get("name").and_then(Value::as_str).unwrap_or_default(), "unique constraint", name, notes);
        if u.get("nullsNotDistinct").and_then(Value::as_bool) == Some(true) {
            notes.push(format!("`{name}`: unique `{unique}` is NULLS NOT DISTINCT; the structs declare a plain UNIQUE"));
        }
        t.uniques.insert(unique.clone(), Unique { name: unique, columns: strings(u.get("columns").unwrap_or(&Value::Null)) });
    }
    for ix in entries(&value.indexes) {
        let index = pg_name(ix.get("name").and_then(Value::as_str).unwrap_or_default(), "index", name, notes);
        let mut columns = Vec::new();
        for (i, c) in ix.get("columns").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let at = format!("`tables.{name}.indexes.{index}.columns[{i}]`");
            // v7 writes objects; earlier versions plain column names.
            let key = match c {
                Value::String(s) => IndexKey::column(s.clone()),
                _ => {
                    let text = c.get("expression").and_then(Value::as_str).unwrap_or_default();
                    let target = if c.get("isExpression").and_then(Value::as_bool) == Some(true) {
                        KeyTarget::Expression(SqlExpr::parse("columns", text).map_err(|e| bad(format!("{at}: {e}")))?)
                    } else {
                        KeyTarget::Column(text.to_owned())
                    };
                    let descending = c.get("asc").and_then(Value::as_bool) == Some(false);
                    let nulls_first = c.get("nulls").and_then(Value::as_str).map(|n| n == "first");
                    // drizzle writes the default class's name too (`text_ops`): kept only
                    // when it is not the default of the key's usual type.
                    let opclass = c.get("opclass").and_then(Value::as_str).filter(|o| !o.is_empty() && !types::is_a_default_opclass(o)).map(str::to_owned);
                    IndexKey { target, descending, nulls_first, opclass, collation: None }.normalized()
                }
            };
            columns.push(key);
        }
        let method = match ix.get("method").and_then(Value::as_str) {
            Some(m) => IndexMethod::parse(m).ok_or_else(|| bad(format!("`tables.{name}.indexes.{index}.method`: unknown index method `{m}`")))?.unless_btree(),
            None => None,
        };
        let predicate = match ix.get("where").and_then(Value::as_str) {
            Some(w) => Some(SqlExpr::parse("where", w).map_err(|e| bad(format!("`tables.{name}.indexes.{index}.where`: {e}")))?),
            None => None,
        };
        let unique = ix.get("isUnique").and_then(Value::as_bool).unwrap_or(false);
        t.indexes.insert(index.clone(), Index { name: index, columns, unique, method, include: Vec::new(), predicate });
    }
    for fk in entries(&value.foreign_keys) {
        let key = pg_name(fk.get("name").and_then(Value::as_str).unwrap_or_default(), "foreign key", name, notes);
        let schema_to = fk.get("schemaTo").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SCHEMA);
        let foreign = ForeignKey {
            name: key.clone(),
            columns: strings(fk.get("columnsFrom").unwrap_or(&Value::Null)),
            references_table: qualified_table_name(schema_to, fk.get("tableTo").and_then(Value::as_str).unwrap_or_default()),
            references_columns: strings(fk.get("columnsTo").unwrap_or(&Value::Null)),
            on_delete: fk.get("onDelete").and_then(action),
            on_update: fk.get("onUpdate").and_then(action),
            match_full: false,
            deferrable: false,
            initially_deferred: false,
        };
        t.foreign_keys.insert(key, foreign);
    }
    for check in entries(&value.check_constraints) {
        let key = check.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let expression = check.get("value").and_then(Value::as_str).unwrap_or_default();
        let expression = SqlExpr::parse("expr", expression).map_err(|e| bad(format!("`tables.{name}.checkConstraints.{key}.value`: {e}")))?;
        t.checks.insert(key.clone(), Check { name: key, expression });
    }
    // drizzle-kit writes uniques inside CREATE TABLE, where PostgreSQL keeps only the key
    // of a key and a unique over the same columns (`.primaryKey().unique()`), and an
    // unnamed key (a column's `primaryKey`) takes the unique's name.
    // (A unique added by a later ALTER TABLE is kept by PostgreSQL: not told apart here.)
    let unnamed_key = entries(&value.composite_primary_keys).is_empty();
    if let Some(pk) = &mut t.primary_key {
        let absorbed: Vec<String> = t.uniques.values().filter(|u| u.columns == pk.columns).map(|u| u.name.clone()).collect();
        if unnamed_key && let Some(first) = absorbed.first() {
            pk.name = first.clone();
        }
        t.uniques.retain(|name, _| !absorbed.contains(name));
    }
    if value.rls_enabled {
        notes.push(format!("`{name}` has row-level security enabled; tablewright does not manage it"));
    }
    Ok(t)
}

/// drizzle's enums: `{"public.mood": {"name", "schema", "values": [..]}}` (before v7,
/// `"values"` is an object of value to value).
fn drizzle_enums(value: Option<&Value>, path: &Path) -> Result<std::collections::BTreeMap<String, EnumType>, ImportError> {
    let mut out = std::collections::BTreeMap::new();
    for (key, e) in value.and_then(Value::as_object).into_iter().flatten() {
        let bare = e.get("name").and_then(Value::as_str).unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key));
        let schema = e.get("schema").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SCHEMA);
        let values: Vec<String> = match e.get("values") {
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            Some(Value::Object(o)) => o.values().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        if values.is_empty() || bare.contains('.') || schema.contains('.') {
            return Err(ImportError::Format { path: path.to_owned(), message: format!("`enums.{key}`: an enum needs a name without `.` and at least one value") });
        }
        let name = qualified_table_name(schema, bare);
        out.insert(name.clone(), EnumType { name, values });
    }
    Ok(out)
}

/// The column type of a drizzle column typed by one of the snapshot's enums.
fn enum_type_of(column: &Value, written: &str, enums: &Schema) -> Option<String> {
    let (base, array) = match written.strip_suffix("[]") {
        Some(base) => (base, "[]"),
        None => (written, ""),
    };
    let schema = column.get("typeSchema").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SCHEMA);
    let enum_type = enums.enums.get(&qualified_table_name(schema, base))?;
    Some(format!("{}{array}", enum_type.sql_type()))
}

/// The model schema of one drizzle snapshot.
fn schema(path: &Path, notes: &mut Vec<String>) -> Result<Schema, ImportError> {
    let snapshot: DrizzleSnapshot = parse(path)?;
    if snapshot.dialect != "postgresql" {
        return Err(ImportError::Format { path: path.to_owned(), message: format!("dialect `{}`: only drizzle-kit's postgresql snapshots can be imported", snapshot.dialect) });
    }
    let mut out = Schema::default();
    let enums = Schema { enums: drizzle_enums(snapshot.enums.as_ref(), path)?, ..Schema::default() };
    for (key, value) in &snapshot.tables.0 {
        let name = value.name.clone().unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key).to_owned());
        let namespace = value.schema.as_deref().filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SCHEMA);
        let name = qualified_table_name(namespace, &name);
        out.tables.insert(name.clone(), table(&name, value, &enums, path, notes)?);
    }
    out.enums = enums.enums;
    for (what, value) in [("sequences", &snapshot.sequences), ("views", &snapshot.views), ("policies", &snapshot.policies), ("roles", &snapshot.roles)] {
        if !is_empty(value) {
            notes.push(format!("the snapshot declares {what}; tablewright does not manage them (they stay as the SQL files made them)"));
        }
    }
    Ok(out)
}

/// drizzle's migrator's default history table.
pub const DRIZZLE_HISTORY: &str = "drizzle.__drizzle_migrations";

/// Plans the import of the drizzle-kit folder `from` into the migrations folder `out`;
/// `history` is where drizzle's migrator kept its history (`schema.table`), recorded in
/// the journal so that `migrate` reads it. Notes are per import, not per snapshot.
pub fn plan_drizzle_import(from: &Path, out: &Path, dialect: Dialect, history: &str) -> Result<DrizzleImport, ImportError> {
    let journal_path = from.join("meta").join("_journal.json");
    let journal: DrizzleJournal = parse(&journal_path)?;
    if journal.dialect != "postgresql" || journal.version != "7" {
        return Err(ImportError::Format {
            path: journal_path,
            message: format!("journal version `{}` for `{}`: import reads drizzle-kit 0.x's version 7 journals for postgresql (run drizzle-kit `up` first)", journal.version, journal.dialect),
        });
    }
    if out.join("meta").join("_journal.json").exists() {
        return Err(ImportError::NotEmpty(out.to_owned()));
    }
    let mut files = Vec::new();
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    let mut prev_id = ORIGIN_ID.to_owned();
    let mut last = Schema::default();
    for (position, entry) in journal.entries.iter().enumerate() {
        if entry.idx as usize != position {
            return Err(ImportError::Format { path: journal_path.clone(), message: format!("entry `{}` has idx {} at position {position}", entry.tag, entry.idx) });
        }
        let prefix = format!("{:04}", entry.idx);
        // The tag names a file to read here and one to write in the project.
        crate::project::journal::check_tag(&entry.tag).map_err(|why| ImportError::Format { path: journal_path.clone(), message: format!("entries[{position}].tag: {why}") })?;
        if !entry.tag.starts_with(&prefix) {
            return Err(ImportError::Format { path: journal_path.clone(), message: format!("tag `{}` does not start with {prefix}", entry.tag) });
        }
        if !entry.breakpoints {
            notes.push(format!("{}: written without statement breakpoints; it runs as one statement", entry.tag));
        }
        let sql_path = from.join(format!("{}.sql", entry.tag));
        let sql = read(&sql_path)?;
        let mut entry_notes = Vec::new();
        let snapshot_path = from.join("meta").join(format!("{prefix}_snapshot.json"));
        let schema = schema(&snapshot_path, &mut entry_notes)?;
        crate::project::snapshot::check_names(&schema).map_err(|e| ImportError::Format { path: snapshot_path.clone(), message: e.to_string() })?;
        if position + 1 == journal.entries.len() {
            notes.extend(entry_notes);
        }
        let snapshot = Snapshot::new(dialect, &prev_id, &entry.tag, schema.clone());
        prev_id = snapshot.id.clone();
        entries.push(JournalEntry { idx: entry.idx, version: SNAPSHOT_VERSION.to_owned(), when: entry.when, tag: entry.tag.clone(), breakpoints: true, hash: hash::migration_hash(&sql) });
        files.push((out.join(format!("{}.sql", entry.tag)), sql));
        files.push((out.join("meta").join(format!("{prefix}_snapshot.json")), snapshot.to_json().into_bytes()));
        last = schema;
    }
    if entries.is_empty() {
        return Err(ImportError::Format { path: journal_path, message: "the journal has no migrations".to_owned() });
    }
    let migrations = entries.iter().map(|e| e.tag.clone()).collect();
    let imported_from = Some(ImportedFrom { tool: "drizzle-kit".to_owned(), history: history.to_owned() });
    files.push((out.join("meta").join("_journal.json"), to_pretty_json(&Journal { entries, imported_from, ..Journal::default() }).into_bytes()));
    Ok(DrizzleImport { files, migrations, schema: last, notes })
}

impl crate::error::Classified for ImportError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        match self {
            ImportError::Io { .. } => "io",
            _ => "import",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::KeyTarget;

    /// A drizzle-kit v7 snapshot of what real apps hold: a composite foreign key with a
    /// default name over 63 bytes, partial and expression indexes, an ALWAYS identity with
    /// options, and `.primaryKey().unique()`.
    #[test]
    fn what_real_drizzle_snapshots_hold_is_converted() {
        let fk = "Suggestion_documentId_documentCreatedAt_Document_id_createdAt_fk";
        let snapshot = serde_json::json!({
            "id": "00000000-0000-0000-0000-000000000001", "prevId": "00000000-0000-0000-0000-000000000000",
            "version": "7", "dialect": "postgresql",
            "tables": {
                "public.Document": {"name": "Document", "schema": "", "columns": {
                    "id": {"name": "id", "type": "uuid", "primaryKey": false, "notNull": true},
                    "createdAt": {"name": "createdAt", "type": "timestamp", "primaryKey": false, "notNull": true},
                    "n": {"name": "n", "type": "bigint", "primaryKey": false, "notNull": true,
                          "identity": {"type": "always", "name": "Document_n_seq", "increment": "1", "minValue": "1", "maxValue": "9223372036854775807", "startWith": "100", "cache": "1", "cycle": false}},
                    "email": {"name": "email", "type": "text", "primaryKey": false, "notNull": false},
                    "deletedAt": {"name": "deletedAt", "type": "timestamp", "primaryKey": false, "notNull": false}},
                  "indexes": {
                    "doc_email_live": {"name": "doc_email_live", "columns": [{"expression": "email", "isExpression": false, "asc": true, "nulls": "last"}], "isUnique": true, "concurrently": false, "method": "btree", "with": {}, "where": "\"Document\".\"deletedAt\" IS NULL"},
                    "doc_email_lower": {"name": "doc_email_lower", "columns": [{"expression": "lower(\"email\")", "isExpression": true, "asc": false, "nulls": "last"}], "isUnique": false, "concurrently": false, "method": "btree", "with": {}}},
                  "foreignKeys": {}, "compositePrimaryKeys": {"Document_id_createdAt_pk": {"name": "Document_id_createdAt_pk", "columns": ["id", "createdAt"]}},
                  "uniqueConstraints": {"Document_id_createdAt_unique": {"name": "Document_id_createdAt_unique", "nullsNotDistinct": false, "columns": ["id", "createdAt"]}},
                  "checkConstraints": {}},
                "public.Suggestion": {"name": "Suggestion", "schema": "", "columns": {
                    "id": {"name": "id", "type": "uuid", "primaryKey": true, "notNull": true},
                    "documentId": {"name": "documentId", "type": "uuid", "primaryKey": false, "notNull": true},
                    "documentCreatedAt": {"name": "documentCreatedAt", "type": "timestamp", "primaryKey": false, "notNull": true}},
                  "indexes": {}, "compositePrimaryKeys": {}, "uniqueConstraints": {}, "checkConstraints": {},
                  "foreignKeys": {fk: {"name": fk, "tableFrom": "Suggestion", "tableTo": "Document", "columnsFrom": ["documentId", "documentCreatedAt"], "columnsTo": ["id", "createdAt"], "onDelete": "no action", "onUpdate": "no action"}}},
                "auth.Account": {"name": "Account", "schema": "auth", "columns": {
                    "id": {"name": "id", "type": "uuid", "primaryKey": true, "notNull": true},
                    "role": {"name": "role", "type": "DBRoleType", "typeSchema": "auth", "primaryKey": false, "notNull": true, "default": "'member'"},
                    "moods": {"name": "moods", "type": "mood[]", "typeSchema": "public", "primaryKey": false, "notNull": false}},
                  "indexes": {}, "compositePrimaryKeys": {}, "uniqueConstraints": {}, "checkConstraints": {},
                  "foreignKeys": {"Account_id_Document_id_fk": {"name": "Account_id_Document_id_fk", "tableFrom": "Account", "schemaTo": "public", "tableTo": "Document", "columnsFrom": ["id"], "columnsTo": ["id"], "onDelete": "cascade", "onUpdate": "no action"}}}
            },
            "enums": {"auth.DBRoleType": {"name": "DBRoleType", "schema": "auth", "values": ["member", "admin"]}, "public.mood": {"name": "mood", "schema": "public", "values": ["ok", "sad"]}}, "schemas": {}, "sequences": {}, "roles": {}, "policies": {}, "views": {}, "_meta": {"columns": {}, "schemas": {}, "tables": {}}
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0000_snapshot.json");
        std::fs::write(&path, snapshot.to_string()).unwrap();
        let mut notes = Vec::new();
        let schema = schema(&path, &mut notes).unwrap();
        let suggestion = &schema.tables["Suggestion"];
        let stored = &fk[..63];
        assert_eq!(suggestion.foreign_keys[stored].columns, ["documentId", "documentCreatedAt"]);
        assert!(notes.iter().any(|n| n.contains(&format!("PostgreSQL stored it as `{stored}`"))), "{notes:#?}");
        let document = &schema.tables["Document"];
        assert!(document.uniques.is_empty(), "absorbed by the key, as PostgreSQL absorbed it");
        assert_eq!(document.column("n").unwrap().identity, Some(crate::schema::model::Identity { always: true, start: Some(100), increment: None, cache: None }));
        let live = &document.indexes["doc_email_live"];
        assert!(live.unique && live.predicate.as_ref().is_some_and(|p| p.as_str() == "\"Document\".\"deletedAt\" IS NULL"));
        let lower = &document.indexes["doc_email_lower"];
        assert!(matches!(&lower.columns[0].target, KeyTarget::Expression(e) if e.as_str() == "lower(\"email\")") && lower.columns[0].descending);
        assert_eq!(document.primary_key.as_ref().map(|k| k.name.as_str()), Some("Document_id_createdAt_pk"), "a named key keeps its name");
        // pgEnums and tables of other schemas come over, named as the model names them.
        assert_eq!(schema.enums["auth.DBRoleType"].values, ["member", "admin"]);
        let account = &schema.tables["auth.Account"];
        assert_eq!(account.column("role").unwrap().sql_type, "\"auth\".\"DBRoleType\"");
        assert_eq!(account.column("moods").unwrap().sql_type, "\"mood\"[]");
        assert_eq!(account.foreign_keys["Account_id_Document_id_fk"].references_table, "Document");
        assert!(crate::project::snapshot::check_names(&schema).is_ok());
    }
}
