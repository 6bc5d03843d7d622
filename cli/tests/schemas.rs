//! The JSON Schemas in cli/schemas/ are the reports' own (schemars, from the types the
//! CLI serialises), and they refuse what the reports never print.

mod documents;

/// Every committed schema equals the one the code derives; `TABLEWRIGHT_UPDATE_SCHEMAS=1`
/// writes them (review the diff: a removed or changed field raises FORMAT_VERSION).
#[test]
fn committed_schemas_are_the_reports_own() {
    let update = std::env::var_os("TABLEWRIGHT_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    let mut names = Vec::new();
    for (name, schema) in cli::json_schemas() {
        let path = documents::schema_dir().join(format!("{name}.json"));
        names.push(format!("{name}.json"));
        let text = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            if update {
                std::fs::create_dir_all(documents::schema_dir()).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "out of date (run with TABLEWRIGHT_UPDATE_SCHEMAS=1 and review): {stale:?}"
    );
    let mut committed: Vec<String> = std::fs::read_dir(documents::schema_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    names.sort();
    assert_eq!(committed, names, "a schema file no command has");
}

/// The schemas are not vacuous: a document of another shape fails them.
#[test]
fn schemas_refuse_documents_of_another_shape() {
    let good = serde_json::json!({"format_version": 3, "command": "check", "status": "ok", "report": {"folder": "migrations", "migrations": 2, "problems": []}, "error": null});
    documents::validate(&good).unwrap();
    for (field, value) in [
        ("status", serde_json::json!("up_to_date")),
        ("report", serde_json::json!({"folder": "migrations"})),
        ("error", serde_json::json!({"kind": "io"})),
        ("format_version", serde_json::json!("1")),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        assert!(documents::validate(&bad).is_err(), "{field}: {bad}");
    }
    let mut other_command = good.clone();
    other_command["command"] = "generate".into();
    assert!(
        documents::validate(&other_command).is_err(),
        "check.json is check's own: {other_command}"
    );
    let mut extra = good.clone();
    extra["extra"] = 1.into();
    assert!(
        documents::validate(&extra).is_err(),
        "no key beyond the five: {extra}"
    );
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("error");
    assert!(
        documents::validate(&missing).is_err(),
        "every key is required: {missing}"
    );
}
