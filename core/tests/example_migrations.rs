//! The repository's committed `migrations/` (the bookstore example's): every statement is
//! DSQL-legal by dsql-lint, and replaying them into an empty PostgreSQL, under the
//! config's dialect, gives exactly the last snapshot's schema.

mod common;

use common::{TestDb, apply, assert_database_matches, assert_dsql_lint_clean};
use std::path::Path;
use tablewright_core::dialect::Dialect;
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::sql::split;

fn repo_config() -> Config {
    Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tablewright.toml")).unwrap()
}

fn all_statements(folder: &MigrationFolder) -> Vec<(String, Vec<String>)> {
    folder
        .journal
        .entries
        .iter()
        .map(|e| {
            (
                e.tag.clone(),
                split::split_statements(&String::from_utf8(folder.read_sql(e).unwrap()).unwrap()),
            )
        })
        .collect()
}

#[test]
fn committed_migrations_are_consistent_and_dsql_lint_clean() {
    let config = repo_config();
    assert_eq!(config.dialect, Dialect::Dsql, "the example targets DSQL");
    let folder = MigrationFolder::load(&config.out).unwrap();
    assert!(
        !folder.journal.entries.is_empty(),
        "migrations/ has no journal entries"
    );
    assert_eq!(
        folder.verify().unwrap(),
        vec![],
        "migrations/ is inconsistent"
    );
    for (tag, statements) in all_statements(&folder) {
        assert!(!statements.is_empty(), "{tag} has no statements");
        assert_dsql_lint_clean(&statements, &tag);
    }
}

#[tokio::test]
async fn committed_migrations_replay_to_the_last_snapshot() {
    let config = repo_config();
    let folder = MigrationFolder::load(&config.out).unwrap();
    let db = TestDb::create("example_migrations").await;
    let mut conn = db.connect().await;
    for (_, statements) in all_statements(&folder) {
        apply(&mut conn, &statements, config.dialect).await;
    }
    let last = folder.last_snapshot().unwrap().unwrap();
    assert_database_matches(&mut conn, &last.schema, "migrations/ replayed").await;
    drop(conn);
    drop(db);
}
