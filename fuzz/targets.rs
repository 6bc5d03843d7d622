#![allow(dead_code)] // each target binary uses one of these
//! The fuzz targets' bodies, shared by the libFuzzer binaries (`fuzz_targets/`) and the
//! corpus replay on stable (`core/tests/fuzz_corpus.rs`). Each reads bytes as the tool
//! reads a file or an attribute and holds a property, beyond "no panic, no overflow":
//! what is accepted reads back the same, and accepted SQL cannot add a statement.

use std::path::Path;
use tablewright_core::project::journal::Journal;
use tablewright_core::project::snapshot::Snapshot;
use tablewright_core::schema::model::SqlExpr;
use tablewright_core::schema::sql_text::{ParsedFragments, SqlFragments};
use tablewright_core::sql::split;

/// A journal or a snapshot: accepted ones write back and read back to the same value.
pub fn journal_and_snapshot(data: &[u8]) {
    if let Ok(journal) = Journal::parse(data) {
        let written = tablewright_core::project::snapshot::to_pretty_json(&journal);
        assert_eq!(
            Journal::parse(written.as_bytes()).expect("a journal read back"),
            journal
        );
    }
    if let Ok(snapshot) = Snapshot::parse(data) {
        let written = snapshot.to_json();
        assert_eq!(
            Snapshot::parse(written.as_bytes()).expect("a snapshot read back"),
            snapshot
        );
    }
}

/// A migration file: split into statements, each classified, its directive read and
/// judged as check-dsql and the runner under DSQL's rules judge it (dsql-lint's parser
/// included), and split again from what the split wrote without changing.
pub fn statements(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let statements = split::split_statements(text);
    for statement in &statements {
        let _ = tablewright_core::sql::statement::classify(statement);
        let _ = tablewright_core::sql::directive::parse(statement);
        let _ = split::statements_in(statement, 1);
        let _ = tablewright_core::sql::dsql_check::check_chunk(1, statement);
    }
    // A file the tokenizer reads is cut at its breakpoint comments, and the file written
    // from its chunks cuts the same way. (One it cannot read is cut at breakpoint lines,
    // as drizzle-kit cuts, and the server judges the SQL: joined again, the chunks may lex,
    // and a quote left open in one then runs into the next.)
    if tablewright_core::sql::tokens::lex(text).is_ok() {
        let rewritten = split::migration_file(&statements);
        assert_eq!(
            split::split_statements(&rewritten),
            statements,
            "a file written from its statements splits into them again"
        );
    }
}

/// A source file as `generate` scans it: the attribute grammar and the scanner, with the
/// SQL parser's checks.
pub fn attributes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut scan = tablewright_core::schema::scan::Scan::default();
    let mut errors = Vec::new();
    tablewright_core::schema::scan::scan_source(
        Path::new("fuzz.rs"),
        text,
        &mut scan,
        &mut errors,
        &ParsedFragments,
    );
}

/// One SQL expression: when accepted, it is exactly one statement wherever the DDL writer
/// puts it (in a column's DEFAULT, in a CHECK), so no accepted text adds a statement.
pub fn expression(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lexical = tablewright_core::schema::sql_text::LexicalChecks.expression("default", text);
    let Ok(expr) = SqlExpr::parse("default", text) else {
        return;
    };
    assert!(
        lexical.is_ok(),
        "the parser accepted what the derive refuses: {text:?}: {lexical:?}"
    );
    for statement in [
        format!("CREATE TABLE t (c text DEFAULT ({expr}));"),
        format!("ALTER TABLE t ADD CONSTRAINT c CHECK ({expr}) NOT VALID;"),
    ] {
        let file = split::migration_file(std::slice::from_ref(&statement));
        assert_eq!(
            split::split_statements(&file).len(),
            1,
            "{statement:?} is more than one statement"
        );
        assert_eq!(
            split::statements_in(&statement, 1).len(),
            1,
            "{statement:?} is more than one statement"
        );
    }
}
