//! A migration's reversal (`generate::plan_reversal`, what `rollback` will run): planned by
//! the same planner from the migration's snapshot back to the one before it, applied to a
//! real database under the dialect's rules, and introspected: the database equals the
//! earlier snapshot, and a column the migration renamed keeps its rows (a rename is undone
//! as a rename, not as a drop and an add). What the reversal drops needs an allow, and a
//! hand-written migration needs its down file.

mod common;

use common::{Mode, TestDb, assert_database_matches, target};
use sqlx::{Connection, PgConnection};
use tablewright_core::generate::{GenerateError, down_file, plan_reversal};
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::runner::{MigrationSet, Migrator, MigratorOptions, apply_unrecorded};
use tablewright_core::schema::desired::AllowDrops;

const V1: &str = include_str!("fixtures/v1.rs");
const V2: &str = include_str!("fixtures/v2.rs");

/// Every table and column of `folder`'s snapshot `index`, allowed to be dropped.
fn allow_all(folder: &MigrationFolder, index: usize) -> AllowDrops {
    let schema = folder
        .read_snapshot(&folder.journal.entries[index])
        .unwrap()
        .schema;
    AllowDrops {
        tables: schema.tables.keys().cloned().collect(),
        columns: schema
            .tables
            .values()
            .flat_map(|t| t.columns.iter().map(|c| (t.name.clone(), c.name.clone())))
            .collect(),
    }
}

async fn a_reversal_takes_the_database_back_to_the_snapshot_before(mode: Mode) {
    let (dir, _) = common::generated(mode.dialect(), &[V1, V2]);
    let folder = MigrationFolder::load(dir.path()).unwrap();
    let db = TestDb::for_mode("reversal", mode).await;
    Migrator::new(
        target(mode, &db.url),
        MigrationSet::from_folder(dir.path()).unwrap(),
        MigratorOptions::default(),
    )
    .await
    .unwrap()
    .run(&|_| {})
    .await
    .unwrap();
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("INSERT INTO authors (id, full_name, email) VALUES (gen_random_uuid(), 'Ursula', 'u@example.com')")
        .execute(&mut conn)
        .await
        .unwrap();

    // What the reversal drops (the new columns) must be allowed.
    let refused = plan_reversal(&folder, 1, mode.dialect(), &AllowDrops::default()).unwrap_err();
    assert!(matches!(refused, GenerateError::Diff(_)), "{refused}");

    let reversal = plan_reversal(&folder, 1, mode.dialect(), &allow_all(&folder, 1)).unwrap();
    assert!(!reversal.from_down_file);
    assert!(
        reversal
            .statements
            .iter()
            .any(|s| s.contains("RENAME COLUMN \"full_name\" TO \"name\"")),
        "{:#?}",
        reversal.statements
    );
    apply_unrecorded(
        target(mode, &db.url),
        "rollback",
        reversal.statements.clone(),
        "public",
        &|_| {},
    )
    .await
    .unwrap();
    let before = folder
        .read_snapshot(&folder.journal.entries[0])
        .unwrap()
        .schema;
    assert_database_matches(&mut conn, &before, "after the reversal of 0001").await;
    let name: String = sqlx::query_scalar("SELECT name FROM authors")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(name, "Ursula", "the renamed column kept its rows");

    // The first migration's reversal drops everything it made.
    let first = plan_reversal(&folder, 0, mode.dialect(), &allow_all(&folder, 0)).unwrap();
    apply_unrecorded(
        target(mode, &db.url),
        "rollback",
        first.statements,
        "public",
        &|_| {},
    )
    .await
    .unwrap();
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(tables, 0);
}

#[tokio::test]
async fn a_reversal_takes_the_database_back_to_the_snapshot_before_postgres() {
    a_reversal_takes_the_database_back_to_the_snapshot_before(Mode::Postgres).await;
}

#[tokio::test]
async fn a_reversal_takes_the_database_back_to_the_snapshot_before_dsql_guarded() {
    a_reversal_takes_the_database_back_to_the_snapshot_before(Mode::DsqlGuarded).await;
}

#[test]
fn a_hand_written_migration_is_reversed_by_its_down_file_only() {
    let (dir, _) = common::generated(tablewright_core::Dialect::Postgres, &[V1]);
    // A custom migration: its snapshot equals the one before.
    let mut folder = MigrationFolder::load(dir.path()).unwrap();
    let first = folder.journal.entries[0].clone();
    let mut custom = first.clone();
    custom.idx = 1;
    custom.tag = "0001_custom".into();
    folder.journal.entries.push(custom);
    std::fs::copy(folder.snapshot_path("0000"), folder.snapshot_path("0001")).unwrap();
    std::fs::write(
        dir.path().join("0001_custom.sql"),
        "UPDATE books SET pages = 1;\n",
    )
    .unwrap();

    let err = plan_reversal(
        &folder,
        1,
        tablewright_core::Dialect::Postgres,
        &AllowDrops::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, GenerateError::NoDownFile { tag, .. } if tag == "0001_custom"),
        "{err}"
    );
    assert!(err.to_string().contains("0001_custom.down.sql"), "{err}");

    std::fs::write(
        down_file(&folder, "0001_custom"),
        "UPDATE books SET pages = 0;\n--> statement-breakpoint\nSELECT 1;\n",
    )
    .unwrap();
    let reversal = plan_reversal(
        &folder,
        1,
        tablewright_core::Dialect::Postgres,
        &AllowDrops::default(),
    )
    .unwrap();
    assert!(reversal.from_down_file);
    assert_eq!(reversal.statements.len(), 2, "{:#?}", reversal.statements);
}
