//! Permissions from code, under DSQL's rules (the DSQL guard, a non-superuser runner):
//! after migrating the example and applying its permissions file, every role can do
//! exactly what its handlers declared on every table, and nothing else; `validate` finds
//! what goes missing out of band and repairs it once the table exists again.

mod common;

use common::{Mode, TestDb};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tablewright_core::schema::grammar::Operation;
use tablewright_core::runner::introspect;
use tablewright_core::compile::permissions::{self, Statement};
use tablewright_core::runner::permissions::{GapReason, apply, validate};
use tablewright_core::runner::{Connector, MigrationSet, Migrator, MigratorOptions, Target};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn statements() -> Vec<Statement> {
    permissions::parse(&std::fs::read_to_string(repo().join("permissions/permissions.sql")).unwrap()).unwrap()
}

/// A guarded database with the example migrated and its permissions applied.
async fn migrated() -> (TestDb, Connector) {
    let db = TestDb::for_mode("permissions", Mode::DsqlGuarded).await;
    let target = Target::DsqlEmulated { url: db.url.clone() };
    Migrator::new(target.clone(), MigrationSet::from_folder(&repo().join("migrations")).unwrap(), MigratorOptions::default())
        .await
        .unwrap()
        .run(&|_| {})
        .await
        .unwrap();
    let connector = Connector::new(target).await.unwrap();
    let applied = apply(&connector, "permissions.sql", &statements()).await.unwrap();
    assert!(applied.gaps.is_empty(), "{:?}", applied.gaps);
    (db, connector)
}

/// An operation that needs exactly one privilege, touches no row, and reads no column.
fn attempt(op: Operation, table: &str, column: &str) -> String {
    match op {
        Operation::Select => format!("SELECT 1 FROM \"{table}\" LIMIT 0"),
        Operation::Insert => format!("INSERT INTO \"{table}\" (\"{column}\") SELECT NULL WHERE false"),
        Operation::Update => format!("UPDATE \"{table}\" SET \"{column}\" = NULL WHERE false"),
        Operation::Delete => format!("DELETE FROM \"{table}\" WHERE false"),
    }
}

#[tokio::test]
async fn each_role_can_do_exactly_what_its_handlers_declared() {
    let (db, _) = migrated().await;
    let mut declared: BTreeMap<(String, String), BTreeSet<Operation>> = BTreeMap::new();
    let mut roles = BTreeSet::new();
    for s in statements() {
        match s {
            Statement::CreateRole { role, .. } => {
                roles.insert(role);
            }
            Statement::Grant { grant, .. } => {
                declared.insert((grant.role, grant.table), grant.operations);
            }
            Statement::IamGrant { .. } => {}
        }
    }
    assert_eq!(roles.len(), 3, "the example has three roles");
    let mut su = PgConnection::connect(db.admin_db_url.as_deref().unwrap()).await.unwrap();
    let schema = introspect::introspect(&mut su, "public").await.unwrap().schema;
    let (mut allowed, mut denied) = (0, 0);
    for role in &roles {
        for table in schema.tables.values() {
            for (_, op) in Operation::ALL {
                let sql = format!("BEGIN; SET LOCAL ROLE \"{role}\"; {}; ROLLBACK", attempt(*op, &table.name, &table.columns[0].name));
                let result = sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(&mut su).await;
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut su).await;
                let expected = declared.get(&(role.clone(), table.name.clone())).is_some_and(|ops| ops.contains(op));
                match (expected, result) {
                    (true, Ok(_)) => allowed += 1,
                    (false, Err(e)) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42501") => denied += 1,
                    (expected, result) => panic!("{role} {op:?} on {}: expected {}, got {result:?}", table.name, if expected { "success" } else { "permission denied" }),
                }
            }
        }
    }
    assert_eq!(allowed, declared.values().map(BTreeSet::len).sum::<usize>());
    assert_eq!(allowed + denied, roles.len() * schema.tables.len() * 4);
}

#[tokio::test]
async fn validate_reports_gaps_and_repairs_them_once_the_table_exists() {
    let (db, connector) = migrated().await;
    let clean = validate(&connector, "permissions.sql", &statements()).await.unwrap();
    assert!(clean.gaps.is_empty() && clean.reapplied.is_empty());

    let mut setup = db.connect_setup().await;
    sqlx::raw_sql("REVOKE SELECT ON \"books\" FROM \"storefront\"; DROP TABLE \"order_items\"").execute(&mut setup).await.unwrap();
    let report = validate(&connector, "permissions.sql", &statements()).await.unwrap();
    assert_eq!(report.reapplied.len(), 1, "the revoked grant is granted again");
    assert_eq!((report.reapplied[0].table.as_str(), report.reapplied[0].role.as_str()), ("books", "storefront"));
    assert_eq!(report.gaps.len(), 1, "{:?}", report.gaps);
    let gap = &report.gaps[0];
    assert_eq!((gap.table.as_str(), gap.role.as_str(), gap.reason), ("order_items", "fulfillment", GapReason::TableMissing));
    assert_eq!(gap.operations, [Operation::Select]);
    assert!(gap.file.starts_with("permissions.sql:") && gap.file.contains("handlers.rs mark_shipped"), "{}", gap.file);

    // The table comes back (say, restored): validate grants it again.
    let create = MigrationSet::from_folder(&repo().join("migrations")).unwrap().migrations[0]
        .statements
        .iter()
        .find(|s| s.contains("CREATE TABLE IF NOT EXISTS \"order_items\""))
        .unwrap()
        .clone();
    sqlx::raw_sql(AssertSqlSafe(create)).execute(&mut setup).await.unwrap();
    let repaired = validate(&connector, "permissions.sql", &statements()).await.unwrap();
    assert!(repaired.gaps.is_empty(), "{:?}", repaired.gaps);
    assert_eq!(repaired.reapplied.len(), 1);
    assert_eq!(repaired.reapplied[0].table, "order_items");
}
