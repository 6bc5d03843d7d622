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
use tablewright_core::runner::{MigrationSet, Migrator, MigratorOptions, Target};

fn folder() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

#[test]
fn the_embedded_set_is_the_folder() {
    let embedded = MigrationSet::from_embedded(&migrate_bin::MIGRATIONS).unwrap();
    let on_disk = MigrationSet::from_folder(&folder()).unwrap();
    assert_eq!(embedded.migrations.len(), on_disk.migrations.len());
    for (e, d) in embedded.migrations.iter().zip(&on_disk.migrations) {
        assert_eq!((&e.tag, &e.hash, &e.statements), (&d.tag, &d.hash, &d.statements));
    }
}

#[tokio::test]
async fn the_embedded_migrations_apply_under_dsql_rules() {
    let db = TestDb::for_mode("embedded", Mode::DsqlGuarded).await;
    let set = MigrationSet::from_embedded(&migrate_bin::MIGRATIONS).unwrap();
    let migrator = Migrator::new(Target::DsqlEmulated { url: db.url.clone() }, set, MigratorOptions::default()).await.unwrap();
    let report = migrator.run(&|_| {}).await.unwrap();
    assert_eq!(report.applied.len(), MigrationFolder::load(&folder()).unwrap().journal.entries.len());
    let last = MigrationFolder::load(&folder()).unwrap().last_snapshot().unwrap().unwrap();
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    assert_database_matches(&mut conn, &last.schema, "embedded migrations").await;
}
