//! Every JSON document a CLI test reads goes through [`parse`]: it must carry the format
//! version and validate against the committed schema of its command (cli/schemas/), so
//! each command and outcome the tests reach checks the published shape.

#![allow(dead_code)] // each test crate uses part of it

use std::path::{Path, PathBuf};

/// The committed schemas.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// The schema file of `command` (`permissions apply` → `permissions-apply.json`; a
/// command line that did not parse, `usage.json`).
pub fn schema_file(command: Option<&str>) -> PathBuf {
    schema_dir().join(format!(
        "{}.json",
        command.unwrap_or("usage").replace(' ', "-")
    ))
}

/// Checks `document` against its command's committed schema; the errors, when any.
pub fn validate(document: &serde_json::Value) -> Result<(), String> {
    let command = document["command"].as_str();
    let path = schema_file(command);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let url = format!("file://{}", path.display());
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource(&url, schema)
        .map_err(|e| e.to_string())?;
    let index = compiler
        .compile(&url, &mut schemas)
        .map_err(|e| e.to_string())?;
    schemas
        .validate(document, index)
        .map_err(|e| format!("{e:#}"))
}

/// The one JSON document on a command's stdout, checked against its schema.
pub fn parse(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let document: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"));
    assert_eq!(document["format_version"], 3, "{document}");
    if let Err(e) = validate(&document) {
        panic!(
            "the document does not match {}:\n{e}\n{document:#}",
            schema_file(document["command"].as_str()).display()
        );
    }
    document
}
