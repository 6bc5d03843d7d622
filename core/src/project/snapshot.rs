//! Snapshot files: the whole schema after a migration, chained by `id`/`prevId`.

use crate::dialect::Dialect;
use crate::project::hash;
use crate::schema::model::Schema;
use serde::{Deserialize, Serialize};

/// This crate's snapshot format version.
pub(crate) const SNAPSHOT_VERSION: &str = "1";
/// `prevId` of the first snapshot (drizzle-kit's origin UUID).
pub(crate) const ORIGIN_ID: &str = "00000000-0000-0000-0000-000000000000";

/// One `meta/NNNN_snapshot.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "SnapshotFile")]
pub struct Snapshot {
    /// Format version (`SNAPSHOT_VERSION`).
    pub version: String,
    /// The dialect the migrations were planned for.
    pub dialect: Dialect,
    /// This snapshot's id.
    pub id: String,
    /// The previous snapshot's id, or `ORIGIN_ID`.
    pub prev_id: String,
    /// The whole schema after this migration (its keys sit at the file's top level).
    #[serde(flatten)]
    pub schema: Schema,
}

/// How a snapshot is read: the same fields, the schema's spelled out. `flatten` would
/// make serde buffer the whole schema before reading it, which was most of the time spent
/// reading a 1,000-table snapshot (benches/README.md).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SnapshotFile {
    version: String,
    dialect: Dialect,
    id: String,
    prev_id: String,
    tables: std::collections::BTreeMap<String, crate::schema::model::Table>,
    #[serde(default)]
    enums: std::collections::BTreeMap<String, crate::schema::model::EnumType>,
}

impl From<SnapshotFile> for Snapshot {
    fn from(f: SnapshotFile) -> Snapshot {
        Snapshot {
            version: f.version,
            dialect: f.dialect,
            id: f.id,
            prev_id: f.prev_id,
            schema: Schema {
                tables: f.tables,
                enums: f.enums,
            },
        }
    }
}

/// Why a snapshot was not read.
#[derive(Debug, thiserror::Error)]
#[error("{}{error}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct SnapshotError {
    /// Where in the document, such as `tables.users.columns[2].default`; empty for the
    /// document as a whole.
    pub key: String,
    /// The parser's error, with line and column (in the message, so not a source).
    pub error: serde_json::Error,
}

impl SnapshotError {
    /// The file is not JSON at all (cut short, a merge's conflict markers), as opposed to
    /// JSON whose values are refused (an unknown key, SQL that is not one expression).
    pub(crate) fn is_syntax(&self) -> bool {
        !matches!(self.error.classify(), serde_json::error::Category::Data)
    }
}

/// Reads JSON as `T`, naming the key of a refused value; a leading UTF-8 byte-order mark is
/// accepted.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, SnapshotError> {
    let mut reader = serde_json::Deserializer::from_slice(crate::project::hash::without_bom(bytes));
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let key = e.path().to_string();
        SnapshotError {
            key: if key == "." { String::new() } else { key },
            error: e.into_inner(),
        }
    })?;
    reader.end().map_err(|error| SnapshotError {
        key: String::new(),
        error,
    })?;
    Ok(value)
}

/// Every table and named object sits under its own name (the planner reads names from
/// both places, so a snapshot whose key and `name` disagree would plan for one and run
/// for the other), and every name is one the grammar would accept: not empty, at most 63
/// bytes, no control character (a name ends up in the runner's `-- tablewright:` comment
/// lines, where a line end would end the comment).
pub(crate) fn check_names(schema: &Schema) -> Result<(), SnapshotError> {
    let refuse = |key: String, why: String| SnapshotError {
        key,
        error: serde::de::Error::custom(why),
    };
    use crate::schema::model::{MAX_IDENTIFIER_BYTES, NameProblem, name_problem};
    let bad_name = |name: &str| {
        name_problem(name).map(|problem| match problem {
            NameProblem::Empty => "is empty".to_owned(),
            NameProblem::TooLong => format!("is longer than {MAX_IDENTIFIER_BYTES} bytes"),
            NameProblem::QuoteOrControl => "holds a quote or a control character".to_owned(),
        })
    };
    for (key, e) in &schema.enums {
        let at = format!("enums.{key}");
        let (namespace, bare) = crate::schema::model::split_table_name(&e.name);
        if *key != e.name {
            return Err(refuse(
                format!("{at}.name"),
                format!("`{}` is not the key it is stored under", e.name),
            ));
        }
        if bare.contains('.') || namespace == Some(crate::schema::model::DEFAULT_SCHEMA) {
            return Err(refuse(
                format!("{at}.name"),
                format!(
                    "`{}` is not a type's name (`name`, or `schema.name` outside `public`)",
                    e.name
                ),
            ));
        }
        if let Some(why) = std::iter::once(bare).chain(namespace).find_map(bad_name) {
            return Err(refuse(
                format!("{at}.name"),
                format!("the name {:?} {why}", e.name),
            ));
        }
        if e.values.is_empty() {
            return Err(refuse(
                format!("{at}.values"),
                "an enum type has at least one value".to_owned(),
            ));
        }
        for (i, value) in e.values.iter().enumerate() {
            // A label is text: a quote is fine, a control character or 64 bytes are not.
            if value.len() > MAX_IDENTIFIER_BYTES
                || value.chars().any(char::is_control)
                || e.values[..i].contains(value)
            {
                return Err(refuse(
                    format!("{at}.values[{i}]"),
                    format!(
                        "{value:?} is not a value PostgreSQL takes once (at most 63 bytes, no control character, not repeated)"
                    ),
                ));
            }
        }
    }
    for (key, table) in &schema.tables {
        if *key != table.name {
            return Err(refuse(
                format!("tables.{key}.name"),
                format!("`{}` is not the key it is stored under", table.name),
            ));
        }
        // `schema.table` outside `public`, one `.` at most, and `public` left unsaid (the
        // model has one name for each table).
        let at = format!("tables.{key}.name");
        let (schema, bare) = crate::schema::model::split_table_name(&table.name);
        if bare.contains('.') {
            return Err(refuse(
                at,
                format!(
                    "`{}` holds more than one `.`: a table's name is `table` or `schema.table`",
                    table.name
                ),
            ));
        }
        if schema == Some(crate::schema::model::DEFAULT_SCHEMA) {
            return Err(refuse(
                at,
                format!(
                    "`{}`: a table in `public` is named without its schema (`{bare}`)",
                    table.name
                ),
            ));
        }
        let names = std::iter::once((at.clone(), bare))
            .chain(schema.map(|s| (at.clone(), s)))
            .chain(
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("tables.{key}.columns[{i}].name"), c.name.as_str())),
            )
            .chain(
                table
                    .primary_key
                    .iter()
                    .map(|k| (format!("tables.{key}.primaryKey.name"), k.name.as_str())),
            )
            .chain(table.uniques.values().map(|o| {
                (
                    format!("tables.{key}.uniques.{}.name", o.name),
                    o.name.as_str(),
                )
            }))
            .chain(table.indexes.values().map(|o| {
                (
                    format!("tables.{key}.indexes.{}.name", o.name),
                    o.name.as_str(),
                )
            }))
            .chain(table.foreign_keys.values().map(|o| {
                (
                    format!("tables.{key}.foreignKeys.{}.name", o.name),
                    o.name.as_str(),
                )
            }))
            .chain(table.checks.values().map(|o| {
                (
                    format!("tables.{key}.checks.{}.name", o.name),
                    o.name.as_str(),
                )
            }));
        // Names inside objects: columns they list, operator classes, collations.
        let mut inner: Vec<(String, &str)> = Vec::new();
        for (i, c) in table.columns.iter().enumerate() {
            inner.extend(
                c.collation
                    .as_deref()
                    .map(|n| (format!("tables.{key}.columns[{i}].collation"), n)),
            );
            if let Some(identity) = &c.identity {
                let at = format!("tables.{key}.columns[{i}].identity");
                if identity.increment == Some(0) {
                    return Err(refuse(at, "`increment` cannot be 0".to_owned()));
                }
                if identity.cache.is_some_and(|c| c < 1) {
                    return Err(refuse(at, "`cache` must be at least 1".to_owned()));
                }
            }
        }
        for index in table.indexes.values() {
            let at = |what: String| format!("tables.{key}.indexes.{}.{what}", index.name);
            for (i, k) in index.columns.iter().enumerate() {
                if let crate::schema::model::KeyTarget::Column(c) = &k.target {
                    inner.push((at(format!("columns[{i}].column")), c));
                }
                inner.extend(
                    k.opclass
                        .as_deref()
                        .map(|n| (at(format!("columns[{i}].opclass")), n)),
                );
                inner.extend(
                    k.collation
                        .as_deref()
                        .map(|n| (at(format!("columns[{i}].collation")), n)),
                );
            }
            inner.extend(
                index
                    .include
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (at(format!("include[{i}]")), c.as_str())),
            );
        }
        for fk in table.foreign_keys.values() {
            // The referenced table by the one name the model gives it.
            if crate::schema::model::table_reference(&fk.references_table).as_deref()
                != Some(fk.references_table.as_str())
                || fk
                    .references_table
                    .split('.')
                    .any(|part| bad_name(part).is_some())
            {
                return Err(refuse(
                    format!("tables.{key}.foreignKeys.{}.referencesTable", fk.name),
                    format!(
                        "`{}` is not a table's name (`table`, or `schema.table` outside `public`)",
                        fk.references_table
                    ),
                ));
            }
            if fk.initially_deferred && !fk.deferrable {
                return Err(refuse(
                    format!("tables.{key}.foreignKeys.{}.initiallyDeferred", fk.name),
                    "needs `deferrable` too".to_owned(),
                ));
            }
        }
        for (at, name) in names.chain(inner) {
            if let Some(why) = bad_name(name) {
                return Err(refuse(at, format!("the name {name:?} {why}")));
            }
        }
        let refuse = |key: String, name: &str| {
            refuse(
                format!("{key}.name"),
                format!("`{name}` is not the key it is stored under"),
            )
        };
        let objects = (table.uniques.iter().map(|(k, o)| ("uniques", k, &o.name)))
            .chain(table.indexes.iter().map(|(k, o)| ("indexes", k, &o.name)))
            .chain(
                table
                    .foreign_keys
                    .iter()
                    .map(|(k, o)| ("foreignKeys", k, &o.name)),
            )
            .chain(table.checks.iter().map(|(k, o)| ("checks", k, &o.name)));
        for (kind, object, name) in objects {
            if object != name {
                return Err(refuse(format!("tables.{key}.{kind}.{object}"), name));
            }
        }
    }
    Ok(())
}

impl Snapshot {
    /// Reads a snapshot file's bytes: every SQL-bearing value is checked as it is read
    /// ([`crate::schema::sql_text`]), and unknown keys are refused.
    pub fn parse(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let snapshot: Snapshot = from_json(bytes)?;
        check_names(&snapshot.schema)?;
        Ok(snapshot)
    }

    /// A snapshot following `prev_id`. Its id is derived from the parent and the content,
    /// not drawn at random, so generating the same change twice gives the same bytes.
    pub fn new(dialect: Dialect, prev_id: &str, tag: &str, schema: Schema) -> Snapshot {
        let body = serde_json::to_string(&schema).expect("a schema always serialises");
        let digest = hash::sha256_hex(format!("{prev_id}\n{tag}\n{body}").as_bytes());
        let id = format!(
            "{}-{}-{}-{}-{}",
            &digest[0..8],
            &digest[8..12],
            &digest[12..16],
            &digest[16..20],
            &digest[20..32]
        );
        Snapshot {
            version: SNAPSHOT_VERSION.to_owned(),
            dialect,
            id,
            prev_id: prev_id.to_owned(),
            schema,
        }
    }

    /// Pretty JSON with a trailing newline: the on-disk form.
    pub fn to_json(&self) -> String {
        to_pretty_json(self)
    }
}

/// Pretty JSON, tab-free two-space indent, trailing newline.
pub fn to_pretty_json<T: Serialize>(value: &T) -> String {
    let mut out = serde_json::to_string_pretty(value).expect("in-memory values always serialise");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written() -> serde_json::Value {
        let schema: Schema = serde_json::from_value(serde_json::json!({"tables": {"t": {"name": "t", "columns": [{"name": "id", "type": "bigint", "notNull": true}], "checks": {"c": {"name": "c", "expression": "id > 0"}}}}})).unwrap();
        serde_json::from_str(
            &Snapshot::new(Dialect::Postgres, ORIGIN_ID, "0000_x", schema).to_json(),
        )
        .unwrap()
    }

    fn refusal(value: serde_json::Value) -> String {
        Snapshot::parse(value.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn what_generate_writes_reads_back() {
        let bytes = written().to_string();
        assert_eq!(
            Snapshot::parse(bytes.as_bytes()).unwrap().to_json(),
            serde_json::from_str::<Snapshot>(&bytes).unwrap().to_json()
        );
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend(bytes.as_bytes());
        assert!(Snapshot::parse(&with_bom).is_ok());
    }

    #[test]
    fn refusals_name_their_key() {
        let mut v = written();
        v["tables"]["t"]["columns"][0]["default"] = "1; DROP TABLE t".into();
        assert!(refusal(v).starts_with("tables.t.columns[0].default: "));
        let mut v = written();
        v["tables"]["t"]["columns"][0]["type"] = "bigint, evil text".into();
        assert!(refusal(v).starts_with("tables.t.columns[0].type: "));
        let mut v = written();
        v["tables"]["t"]["checks"]["c"]["expression"] = "(SELECT true)".into();
        assert!(refusal(v).starts_with("tables.t.checks.c.expression: "));
        let mut v = written();
        v["tables"]["t"]["columns"][0]["generated"] = "always".into();
        assert!(refusal(v).contains("unknown field `generated`"));
        let mut v = written();
        v["tables"]["t"]["name"] = "u".into();
        assert!(refusal(v).starts_with("tables.t.name: "));
        let mut v = written();
        v["tables"]["t"]["checks"]["c"]["name"] = "d".into();
        assert!(refusal(v).starts_with("tables.t.checks.c.name: "));
        let mut v = written();
        v["tables"]["t"]["columns"][0]["name"] = "id\n-- tablewright:".into();
        assert!(refusal(v).starts_with("tables.t.columns[0].name: the name \"id\\n-- tablewright:\" holds a quote or a control character"));
        let mut v = written();
        v["tables"]["t"]["columns"][0]["name"] = "x".repeat(64).into();
        assert!(refusal(v).contains("longer than 63 bytes"));
        let mut v = written();
        v["tables"]["t"]["indexes"] = serde_json::json!({"i": {"name": "i", "columns": [{"expression": "lower(x)", "column": "x"}]}});
        assert!(
            refusal(v).starts_with("tables.t.indexes.i.columns[0].column: the name \"\" is empty")
        );
        let mut v = written();
        v["tables"]["t"]["indexes"] =
            serde_json::json!({"i": {"name": "i", "columns": [{"expression": "1; DROP TABLE t"}]}});
        let why = refusal(v);
        assert!(why.starts_with("tables.t.indexes.i.columns[0]"), "{why}");
        let mut v = written();
        v["tables"]["t"]["indexes"] = serde_json::json!({"i": {"name": "i", "columns": [{"column": "id", "opclass": "x\"y"}]}});
        assert!(refusal(v).starts_with("tables.t.indexes.i.columns[0].opclass: "));
        let mut v = written();
        v["tables"]["t"]["columns"][0]["identity"] = serde_json::json!({"increment": 0});
        assert!(refusal(v).starts_with("tables.t.columns[0].identity: "));
        // A table's name is `t` or `schema.t`, `public` unsaid.
        for (name, why) in [
            ("a.b.c", "more than one `.`"),
            ("public.t", "named without its schema"),
            (".t", "is empty"),
        ] {
            let mut v = written();
            v["tables"] = serde_json::json!({name: {"name": name, "columns": [{"name": "id", "type": "bigint", "notNull": true}]}});
            let refused = refusal(v);
            assert!(
                refused.starts_with(&format!("tables.{name}.name: ")) && refused.contains(why),
                "{name}: {refused}"
            );
        }
        // Enum types are read as strictly.
        for (e, why) in [
            (
                serde_json::json!({"m": {"name": "n", "values": ["a"]}}),
                "enums.m.name: ",
            ),
            (
                serde_json::json!({"m": {"name": "m", "values": []}}),
                "enums.m.values: ",
            ),
            (
                serde_json::json!({"m": {"name": "m", "values": ["a", "a"]}}),
                "enums.m.values[1]: ",
            ),
            (
                serde_json::json!({"m": {"name": "m", "values": ["a\nb"]}}),
                "enums.m.values[0]: ",
            ),
            (
                serde_json::json!({"public.m": {"name": "public.m", "values": ["a"]}}),
                "enums.public.m.name: ",
            ),
            (
                serde_json::json!({"m\"": {"name": "m\"", "values": ["a"]}}),
                "enums.m\".name: ",
            ),
        ] {
            let mut v = written();
            v["enums"] = e;
            let refused = refusal(v);
            assert!(refused.starts_with(why), "{why}: {refused}");
        }
        let mut v = written();
        v["surprise"] = true.into();
        assert!(refusal(v).contains("unknown field `surprise`"));
    }
}
