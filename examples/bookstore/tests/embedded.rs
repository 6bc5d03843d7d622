//! The migrations compiled into the bookstore's migrator are exactly the folder's, and
//! they apply under DSQL's rules (emulated, under the DSQL guard).

#[path = "../../../core/tests/common/mod.rs"]
mod common;

#[path = "../src/bin/migrate.rs"]
#[allow(dead_code)]
mod migrate_bin;

use common::{Mode, TestDb, assert_database_matches};
use sqlx::{Connection, PgConnection};
use std::path::Path;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::runner::{MigrationSet, Migrator, Target};

fn folder() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

#[test]
fn the_embedded_set_is_the_folder() {
    let embedded = MigrationSet::from_embedded(&migrate_bin::MIGRATIONS).unwrap();
    let on_disk = MigrationSet::from_folder(&folder()).unwrap();
    assert_eq!(embedded.migrations.len(), on_disk.migrations.len());
    for (e, d) in embedded.migrations.iter().zip(&on_disk.migrations) {
        assert_eq!(
            (&e.tag, &e.hash, &e.statements),
            (&d.tag, &d.hash, &d.statements)
        );
    }
}

#[tokio::test]
async fn the_embedded_migrations_apply_under_dsql_rules() {
    let db = TestDb::for_mode("embedded", Mode::DsqlGuarded).await;
    let set = MigrationSet::from_embedded(&migrate_bin::MIGRATIONS).unwrap();
    let migrator = Migrator::new(
        Target::DsqlEmulated {
            url: db.url.clone(),
        },
        set,
        migrate_bin::options().unwrap(),
    )
    .await
    .unwrap();
    let report = migrator.run(&|_| {}).await.unwrap();
    assert_eq!(
        report.applied.len(),
        MigrationFolder::load(&folder())
            .unwrap()
            .journal
            .entries
            .len()
    );
    let last = MigrationFolder::load(&folder())
        .unwrap()
        .last_snapshot()
        .unwrap()
        .unwrap();
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    assert_database_matches(&mut conn, &last.schema, "embedded migrations").await;

    // The embedded permissions converged as the CLI's do: granted, then validated clean.
    let permissions = report.permissions.expect("the embedded permissions ran");
    assert!(
        permissions.applied.granted > 0 && permissions.validated.is_clean(),
        "{permissions:?}"
    );
    let mut setup = db.connect_setup().await;
    let can = |role: &str, table: &str, privilege: &str| {
        format!("SELECT has_table_privilege('{role}', '{table}', '{privilege}')")
    };
    let storefront_reads: bool =
        sqlx::query_scalar(sqlx::AssertSqlSafe(can("storefront", "books", "SELECT")))
            .fetch_one(&mut setup)
            .await
            .unwrap();
    assert!(storefront_reads);

    // A privilege granted by hand that no handler declares: the next deploy revokes it.
    sqlx::raw_sql("GRANT DELETE ON books TO storefront")
        .execute(&mut setup)
        .await
        .unwrap();
    let set = MigrationSet::from_embedded(&migrate_bin::MIGRATIONS).unwrap();
    let again = Migrator::new(
        Target::DsqlEmulated {
            url: db.url.clone(),
        },
        set,
        migrate_bin::options().unwrap(),
    )
    .await
    .unwrap()
    .run(&|_| {})
    .await
    .unwrap();
    assert!(again.applied.is_empty());
    let permissions = again.permissions.unwrap();
    assert_eq!(permissions.applied.revoked.len(), 1, "{permissions:?}");
    assert!(permissions.validated.is_clean());
    let storefront_deletes: bool =
        sqlx::query_scalar(sqlx::AssertSqlSafe(can("storefront", "books", "DELETE")))
            .fetch_one(&mut setup)
            .await
            .unwrap();
    assert!(!storefront_deletes);
}

/// The README's embedding section shows this migrator's code and dependencies: each of its
/// Rust blocks is a run of consecutive lines of src/bin/migrate.rs (which the workspace
/// compiles), and its dependency lines name the features this crate builds it with.
#[test]
fn the_readme_embedding_snippets_are_the_compiled_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    let source = std::fs::read_to_string(root.join("src/bin/migrate.rs")).unwrap();
    let section = readme
        .split("The library runs what `tablewright migrate` runs")
        .nth(1)
        .expect("the README has the embedding section");
    let section = section.split("\n## ").next().unwrap();
    let blocks = |lang: &str| -> Vec<String> {
        section
            .split(&format!("```{lang}\n"))
            .skip(1)
            .map(|b| b.split("```").next().unwrap().to_owned())
            .collect()
    };
    let rust = blocks("rust");
    assert_eq!(rust.len(), 2, "{section}");
    for block in &rust {
        assert!(
            source.contains(block.as_str()),
            "this README block is not in src/bin/migrate.rs as written:\n{block}"
        );
    }
    let toml = blocks("toml").concat();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        toml.contains("tablewright-core = {") && toml.contains("features = [\"dsql\"]"),
        "{toml}"
    );
    assert!(
        manifest.contains("tablewright-core = { workspace = true, features = [\"dsql\"] }"),
        "the example builds with the features the README names"
    );
    assert!(
        toml.contains("tablewright-derive = {") && toml.contains("\"macros\", \"rt-multi-thread\""),
        "{toml}"
    );
}
