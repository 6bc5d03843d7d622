//! Permissions from code, under DSQL's rules (the DSQL guard, a non-superuser runner):
//! after migrating the example and applying its permissions file, every role can do
//! exactly what its handlers declared on every table, and nothing else; `validate` finds
//! what goes missing or is granted out of band, changing nothing, and `apply` converges:
//! it grants the missing (once the table exists again) and revokes the undeclared.

mod common;

use common::{Mode, TestDb};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tablewright_core::compile::permissions::{self, Statement};
use tablewright_core::runner::introspect;
use tablewright_core::runner::permissions::{
    ApplyOptions, ColumnPrivileges, Excess, GapReason, apply, validate,
};
use tablewright_core::runner::{Connector, MigrationSet, Migrator, MigratorOptions, Target};
use tablewright_core::schema::grammar::Operation;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn statements() -> Vec<Statement> {
    permissions::parse(
        &std::fs::read_to_string(repo().join("permissions/permissions.sql")).unwrap(),
    )
    .unwrap()
}

/// A guarded database with the example migrated and its permissions applied.
async fn migrated() -> (TestDb, Connector) {
    migrated_in(Mode::DsqlGuarded).await
}

/// A database of `mode` with the example migrated (its migrations are DSQL's, run under
/// DSQL's rules) and its permissions applied on a `mode` target.
async fn migrated_in(mode: Mode) -> (TestDb, Connector) {
    let db = TestDb::for_mode("permissions", mode).await;
    Migrator::new(
        Target::DsqlEmulated {
            url: db.url.clone(),
        },
        MigrationSet::from_folder(&repo().join("migrations")).unwrap(),
        MigratorOptions::default(),
    )
    .await
    .unwrap()
    .run(&|_| {})
    .await
    .unwrap();
    let target = match mode {
        Mode::Postgres => Target::Postgres {
            url: db.url.clone(),
        },
        Mode::DsqlGuarded => Target::DsqlEmulated {
            url: db.url.clone(),
        },
    };
    let connector = Connector::new(target).await.unwrap();
    let applied = apply(
        &connector,
        "permissions.sql",
        &statements(),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        applied.gaps.is_empty() && applied.revoked.is_empty(),
        "{applied:?}"
    );
    (db, connector)
}

/// An operation that needs exactly one privilege, touches no row, and reads no column.
fn attempt(op: Operation, table: &str, column: &str) -> String {
    match op {
        Operation::Select => format!("SELECT 1 FROM \"{table}\" LIMIT 0"),
        Operation::Insert => {
            format!("INSERT INTO \"{table}\" (\"{column}\") SELECT NULL WHERE false")
        }
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
            Statement::IamGrant { .. } | Statement::SchemaUsage { .. } => {}
        }
    }
    assert_eq!(roles.len(), 3, "the example has three roles");
    let mut su = PgConnection::connect(db.admin_db_url.as_deref().unwrap())
        .await
        .unwrap();
    let schema = introspect::introspect(&mut su, &["public".to_owned()])
        .await
        .unwrap()
        .schema;
    let (mut allowed, mut denied) = (0, 0);
    for role in &roles {
        for table in schema.tables.values() {
            for (_, op) in Operation::ALL {
                let sql = format!(
                    "BEGIN; SET LOCAL ROLE \"{role}\"; {}; ROLLBACK",
                    attempt(*op, &table.name, &table.columns[0].name)
                );
                let result = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                    .execute(&mut su)
                    .await;
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut su).await;
                let expected = declared
                    .get(&(role.clone(), table.name.clone()))
                    .is_some_and(|ops| ops.contains(op));
                match (expected, result) {
                    (true, Ok(_)) => allowed += 1,
                    (false, Err(e))
                        if e.as_database_error().and_then(|d| d.code()).as_deref()
                            == Some("42501") =>
                    {
                        denied += 1
                    }
                    (expected, result) => panic!(
                        "{role} {op:?} on {}: expected {}, got {result:?}",
                        table.name,
                        if expected {
                            "success"
                        } else {
                            "permission denied"
                        }
                    ),
                }
            }
        }
    }
    assert_eq!(allowed, declared.values().map(BTreeSet::len).sum::<usize>());
    assert_eq!(allowed + denied, roles.len() * schema.tables.len() * 4);
}

/// The privileges a role holds on a table, from the catalog.
async fn privileges(conn: &mut PgConnection, table: &str, role: &str) -> Vec<String> {
    let sql = "SELECT a.privilege_type FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee \
               WHERE c.relname = $1 AND r.rolname = $2 ORDER BY 1";
    sqlx::query_scalar(sql)
        .bind(table)
        .bind(role)
        .fetch_all(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn validate_reports_gaps_and_changes_nothing_apply_repairs_them_once_the_table_exists() {
    let (db, connector) = migrated().await;
    let clean = validate(&connector, "permissions.sql", &statements())
        .await
        .unwrap();
    assert!(clean.is_clean(), "{clean:?}");

    let mut setup = db.connect_setup().await;
    sqlx::raw_sql("REVOKE SELECT ON \"books\" FROM \"storefront\"; DROP TABLE \"order_items\"")
        .execute(&mut setup)
        .await
        .unwrap();
    for _ in 0..2 {
        let report = validate(&connector, "permissions.sql", &statements())
            .await
            .unwrap();
        assert_eq!(report.gaps.len(), 2, "{:?}", report.gaps);
        let revoked = report.gaps.iter().find(|g| g.table == "books").unwrap();
        assert_eq!(
            (revoked.role.as_str(), revoked.reason),
            ("storefront", GapReason::NotGranted)
        );
        let gap = report
            .gaps
            .iter()
            .find(|g| g.table == "order_items")
            .unwrap();
        assert_eq!(
            (gap.role.as_str(), gap.reason),
            ("fulfillment", GapReason::TableMissing)
        );
        assert_eq!(gap.operations, [Operation::Select]);
        assert!(
            gap.file.starts_with("permissions.sql:")
                && gap.file.contains("handlers.rs mark_shipped"),
            "{}",
            gap.file
        );
        assert!(
            !privileges(&mut setup, "books", "storefront")
                .await
                .contains(&"SELECT".to_owned()),
            "validate granted nothing"
        );
    }
    let applied = apply(
        &connector,
        "permissions.sql",
        &statements(),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        applied.gaps.len(),
        1,
        "the missing table's grant waits: {:?}",
        applied.gaps
    );
    assert!(
        privileges(&mut setup, "books", "storefront")
            .await
            .contains(&"SELECT".to_owned()),
        "apply granted it again"
    );

    // The table comes back (say, restored): apply grants it again.
    let create = MigrationSet::from_folder(&repo().join("migrations"))
        .unwrap()
        .migrations[0]
        .statements
        .iter()
        .find(|s| s.contains("CREATE TABLE IF NOT EXISTS \"order_items\""))
        .unwrap()
        .clone();
    sqlx::raw_sql(AssertSqlSafe(create))
        .execute(&mut setup)
        .await
        .unwrap();
    assert_eq!(
        validate(&connector, "permissions.sql", &statements())
            .await
            .unwrap()
            .gaps
            .len(),
        1
    );
    apply(
        &connector,
        "permissions.sql",
        &statements(),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    let repaired = validate(&connector, "permissions.sql", &statements())
        .await
        .unwrap();
    assert!(repaired.is_clean(), "{repaired:?}");
}

/// Privileges granted by hand to a managed role, beyond what its handlers declare, are
/// reported by `validate` and revoked by `apply`; other roles are not touched, and with
/// `revoke_undeclared` off `apply` leaves them.
#[tokio::test]
async fn undeclared_privileges_of_managed_roles_are_reported_then_revoked() {
    let (db, connector) = migrated().await;
    let mut setup = db.connect_setup().await;
    let mut admin = PgConnection::connect(db.admin_db_url.as_deref().unwrap())
        .await
        .unwrap();
    sqlx::raw_sql("DO $$ BEGIN CREATE ROLE tw_unmanaged_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$").execute(&mut admin).await.unwrap();
    let hand = "GRANT DELETE, TRUNCATE ON \"books\" TO \"storefront\"; GRANT SELECT ON \"order_items\" TO \"storefront\"; GRANT SELECT ON \"books\" TO tw_unmanaged_reader";
    sqlx::raw_sql(hand).execute(&mut setup).await.unwrap();
    let expected = vec![
        Excess {
            table: "books".into(),
            role: "storefront".into(),
            privileges: vec!["DELETE".into(), "TRUNCATE".into()],
            grant_options: vec![],
            columns: vec![],
        },
        Excess {
            table: "order_items".into(),
            role: "storefront".into(),
            privileges: vec!["SELECT".into()],
            grant_options: vec![],
            columns: vec![],
        },
    ];
    let report = validate(&connector, "permissions.sql", &statements())
        .await
        .unwrap();
    assert_eq!(report.excess, expected);
    assert!(report.gaps.is_empty());

    let kept = apply(
        &connector,
        "permissions.sql",
        &statements(),
        ApplyOptions {
            revoke_undeclared: false,
        },
    )
    .await
    .unwrap();
    assert!(kept.revoked.is_empty());
    assert_eq!(
        validate(&connector, "permissions.sql", &statements())
            .await
            .unwrap()
            .excess,
        expected,
        "opted out: left as they are"
    );

    let applied = apply(
        &connector,
        "permissions.sql",
        &statements(),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(applied.revoked, expected);
    assert!(
        validate(&connector, "permissions.sql", &statements())
            .await
            .unwrap()
            .is_clean()
    );
    assert_eq!(
        privileges(&mut setup, "order_items", "storefront").await,
        Vec::<String>::new()
    );
    assert_eq!(
        privileges(&mut setup, "books", "tw_unmanaged_reader").await,
        ["SELECT"],
        "a role the file does not name is not touched"
    );
    // What the handlers declared is still there.
    assert!(
        !privileges(&mut setup, "books", "storefront")
            .await
            .is_empty()
    );
}

/// Grant options and column privileges are privileges too. A managed role given SELECT
/// on a table it declares, WITH GRANT OPTION, and UPDATE on one column: `validate` said
/// "0 undeclared" and the role could grant the table to anyone. Now both are reported,
/// and `apply` revokes them, and what the role passed on with the option (CASCADE).
async fn grant_options_and_column_privileges_are_reported_then_revoked(mode: Mode) {
    let (db, connector) = migrated_in(mode).await;
    let mut admin = PgConnection::connect(db.admin_db_url.as_deref().unwrap_or(&db.url))
        .await
        .unwrap();
    sqlx::raw_sql(
        "DO $$ BEGIN CREATE ROLE tw_passed_on; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let mut setup = db.connect_setup().await;
    sqlx::raw_sql("GRANT SELECT ON \"books\" TO \"storefront\" WITH GRANT OPTION; GRANT UPDATE (\"title\") ON \"books\" TO \"storefront\"; GRANT SELECT (\"title\") ON \"books\" TO \"storefront\" WITH GRANT OPTION").execute(&mut setup).await.unwrap();
    // The role uses its option.
    sqlx::raw_sql("SET session_replication_role = replica; SET ROLE storefront; GRANT SELECT ON \"books\" TO tw_passed_on; RESET ROLE").execute(&mut admin).await.unwrap();
    assert_eq!(
        privileges(&mut setup, "books", "tw_passed_on").await,
        ["SELECT"]
    );

    let expected = vec![Excess {
        table: "books".into(),
        role: "storefront".into(),
        privileges: vec![],
        grant_options: vec!["SELECT".into()],
        columns: vec![ColumnPrivileges {
            column: "title".into(),
            privileges: vec!["SELECT".into(), "UPDATE".into()],
            grant_options: vec!["SELECT".into()],
        }],
    }];
    let report = validate(&connector, "permissions.sql", &statements())
        .await
        .unwrap();
    assert_eq!(report.excess, expected, "{mode:?}");
    assert!(!report.is_clean());

    let applied = apply(
        &connector,
        "permissions.sql",
        &statements(),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(applied.revoked, expected, "{mode:?}");
    let after = validate(&connector, "permissions.sql", &statements())
        .await
        .unwrap();
    assert!(after.is_clean(), "{mode:?}: {after:?}");
    let grantable: Vec<bool> = sqlx::query_scalar("SELECT a.is_grantable FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee WHERE c.relname = 'books' AND r.rolname = 'storefront'")
        .fetch_all(&mut setup)
        .await
        .unwrap();
    assert_eq!(
        grantable,
        [false],
        "{mode:?}: SELECT stays, without its option"
    );
    let columns: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = '\"books\"'::regclass AND attacl IS NOT NULL").fetch_one(&mut setup).await.unwrap();
    assert_eq!(columns, 0, "{mode:?}: no column grant left");
    assert_eq!(
        privileges(&mut setup, "books", "tw_passed_on").await,
        Vec::<String>::new(),
        "{mode:?}: what it passed on went with the option"
    );
    let refused = sqlx::raw_sql("SET ROLE storefront; GRANT SELECT ON \"books\" TO tw_passed_on")
        .execute(&mut admin)
        .await;
    let _ = sqlx::raw_sql("RESET ROLE").execute(&mut admin).await;
    assert!(
        privileges(&mut setup, "books", "tw_passed_on")
            .await
            .is_empty(),
        "{mode:?}: {refused:?}"
    );
}

#[tokio::test]
async fn grant_options_and_column_privileges_are_reported_then_revoked_postgres() {
    grant_options_and_column_privileges_are_reported_then_revoked(Mode::Postgres).await;
}

#[tokio::test]
async fn grant_options_and_column_privileges_are_reported_then_revoked_dsql_guarded() {
    grant_options_and_column_privileges_are_reported_then_revoked(Mode::DsqlGuarded).await;
}
