//! `check-dsql` over a corpus of hand-written files (`tests/check_dsql/*.sql`): the class
//! of every statement, with dsql-lint's reasons and rewrites, snapshotted (reviewed like
//! code; `INSTA_UPDATE=always` to regenerate).

use std::path::Path;
use tablewright_core::sql::dsql_check::{Summary, check_text, render_text};

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_dsql");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        9,
        "RLS, DO, plain index, SERIAL, ALTER TYPE, multi-DDL transaction, TRUNCATE, extension, and drizzle-kit's idioms"
    );
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let checked = check_text(&std::fs::read_to_string(&path).unwrap());
        let report = format!(
            "{}{}\n",
            render_text(&format!("{name}.sql"), &checked),
            Summary::of(&checked).line()
        );
        insta::with_settings!({ snapshot_path => &dir, prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, report);
        });
    }
}
