//! Every diagram `Diagram::mermaid` writes parses with Mermaid's own parser
//! (`tools/mermaid`, installed by `scripts/test`), whatever the tables are called: random
//! schemas with names Mermaid's lexer reads as keywords or key marks, quotes, `%`,
//! backslashes, spaces, non-ASCII letters, and types with spaces, brackets and quotes.
//!
//! The cases are drawn all at once and parsed by one Node process (it takes a second to
//! start); a failure prints the schema and its text. `TABLEWRIGHT_DIAGRAM_CASES` (default
//! 300) sets how many.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use tablewright_core::schema::diagram::Diagram;
use tablewright_core::schema::model::Schema;

/// Names chosen to trip Mermaid's lexer, and plain ones.
const NAMES: &[&str] = &[
    "id",
    "pk",
    "FK",
    "uk",
    "to",
    "tokens",
    "end",
    "class",
    "classes",
    "style",
    "one",
    "many",
    "u",
    "1",
    "2fa",
    "order items",
    "o\"neil",
    "50%",
    "back\\slash",
    "café",
    "with-dash",
    "a.b",
    "[x]",
    "erDiagram",
    "direction",
    "subgraph",
    "zero or more",
    "_",
];

const TYPES: &[&str] = &[
    "bigint",
    "text",
    "character varying(40)",
    "numeric(10,2)",
    "timestamp with time zone",
    "double precision",
    "text[]",
    "\"mood\"",
    "\"auth\".\"mood\"",
    "bit varying(8)",
];

/// A name: one of [`NAMES`], or random letters, digits and punctuation.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9_ .\"%\\\\é{}~()`-]{1,12}",
    ]
}

/// A schema as its snapshot JSON: tables whose first column is the primary key, some
/// columns unique, some of them foreign keys to another table's key.
fn schema() -> impl Strategy<Value = Value> {
    let column = (
        name(),
        proptest::sample::select(TYPES),
        any::<bool>(),
        any::<bool>(),
    );
    let table = (name(), proptest::collection::vec(column, 1..5));
    proptest::collection::vec(table, 1..6)
        .prop_flat_map(|tables| {
            let n = tables.len();
            let links = proptest::collection::vec((0..n, 0..n, 0..5usize), 0..6);
            (Just(tables), links)
        })
        .prop_map(|(tables, links)| {
            // Unique table names, unique column names within a table.
            let mut seen = std::collections::BTreeSet::new();
            let mut out = serde_json::Map::new();
            let mut names = Vec::new();
            for (i, (table, columns)) in tables.iter().enumerate() {
                let mut table = table.clone();
                while !seen.insert(table.clone()) {
                    table.push_str(&i.to_string());
                }
                let mut cols: Vec<(String, &str, bool, bool)> = Vec::new();
                for (j, (c, t, not_null, unique)) in columns.iter().enumerate() {
                    let mut c = c.clone();
                    while cols.iter().any(|(o, ..)| *o == c) {
                        c.push_str(&j.to_string());
                    }
                    cols.push((c, t, *not_null || j == 0, *unique));
                }
                names.push((table.clone(), cols.clone()));
                let uniques: serde_json::Map<String, Value> = cols
                    .iter()
                    .skip(1)
                    .filter(|c| c.3)
                    .map(|c| {
                        let key = format!("{table}_{}_key", c.0);
                        (key.clone(), json!({"name": key, "columns": [c.0]}))
                    })
                    .collect();
                out.insert(
                    table.clone(),
                    json!({
                        "name": table,
                        "columns": cols.iter().map(|(c, t, nn, _)| json!({"name": c, "type": t, "notNull": nn})).collect::<Vec<_>>(),
                        "primaryKey": {"name": format!("{table}_pkey"), "columns": [cols[0].0]},
                        "uniques": uniques,
                    }),
                );
            }
            for (k, (child, parent, column)) in links.into_iter().enumerate() {
                let (child_name, child_cols) = &names[child];
                let (parent_name, parent_cols) = &names[parent];
                let column = &child_cols[column % child_cols.len()].0;
                let fk = format!("fk{k}");
                let entry = out.get_mut(child_name).unwrap();
                let fks = entry
                    .as_object_mut()
                    .unwrap()
                    .entry("foreignKeys")
                    .or_insert_with(|| json!({}));
                fks[&fk] = json!({
                    "name": fk,
                    "columns": [column],
                    "referencesTable": parent_name,
                    "referencesColumns": [parent_cols[0].0],
                });
            }
            json!({"tables": out})
        })
}

/// Parses each text with Mermaid; the messages of those that fail, by index.
fn mermaid_failures(texts: &[String]) -> Vec<(usize, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/mermaid/parse.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs: scripts/test installs Node.js and tools/mermaid");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(texts.join("\0").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ERR_MODULE_NOT_FOUND"),
        "Mermaid is not installed: run scripts/test, or `npm ci` in tools/mermaid\n{stderr}"
    );
    let failures: Vec<(usize, String)> = stderr
        .split("\n#")
        .filter_map(|part| {
            let part = part.trim_start_matches('#');
            let (index, message) = part.split_once(": ")?;
            Some((index.parse().ok()?, message.to_owned()))
        })
        .collect();
    assert_eq!(
        out.status.success(),
        failures.is_empty(),
        "node's exit status and its messages disagree: {stderr}"
    );
    failures
}

#[test]
fn every_diagram_parses_with_mermaids_own_parser() {
    let cases: usize = std::env::var("TABLEWRIGHT_DIAGRAM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::deterministic();
    let strategy = schema();
    let mut schemas = Vec::new();
    let mut texts = Vec::new();
    for _ in 0..cases {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        let schema: Schema = serde_json::from_value(value.clone()).unwrap_or_else(|e| {
            panic!("{e}: {value:#}");
        });
        texts.push(Diagram::of(&schema, &[]).unwrap().mermaid());
        schemas.push(value);
    }
    // One text that must fail, so that a parser that accepts anything fails the test.
    texts.push("erDiagram\n    \"a\" {\n        bigint pk\n    }\n".to_owned());
    let failures = mermaid_failures(&texts);
    assert_eq!(
        failures.iter().map(|f| f.0).collect::<Vec<_>>(),
        [cases],
        "only the deliberately broken text may fail; the first other failure:\n{}",
        failures
            .iter()
            .find(|f| f.0 < cases)
            .map(|(i, m)| format!("{m}\n{}\n{:#}", texts[*i], schemas[*i]))
            .unwrap_or_default()
    );
}
