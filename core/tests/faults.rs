//! The runner's exactly-once promise with connections cut at protocol boundaries by a
//! proxy between it and PostgreSQL (common/proxy.rs), in both modes, over migrations with
//! DDL, hand-written data changes, a table recreation's copy and a backfill.
//!
//! Each run through a cutting proxy is followed by one clean rerun; the rows of every
//! table (counts, sums, checksums) and the schema must then equal a run without cuts.
//! The default run takes a slice where there are many: every 3rd commit point, and 3
//! random seeds, per mode; `TABLEWRIGHT_FAULTS=full` takes every commit point and 25
//! seeds.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::{Mode, TABLE_V1, TestDb, generated, hand, table_v2, table_v3, target};
use proxy::{Cuts, Proxy};
use sqlx::{Connection, PgConnection};
use std::time::Duration;
use tablewright_core::runner::introspect;
use tablewright_core::runner::{MigrationSet, Migrator, MigratorOptions};
use tablewright_core::schema::model::Schema;

/// The migrations: generated ones for the table, with hand-written data migrations
/// between them.
fn migrations(mode: Mode) -> (tempfile::TempDir, MigrationSet) {
    let v2 = table_v2();
    let v3 = table_v3();
    let (dir, _) = generated(mode.dialect(), &[TABLE_V1, &v2, &v3]);
    let mut set = MigrationSet::from_folder(dir.path()).unwrap();
    let seed = hand(
        "0000_seed",
        &[
            "CREATE TABLE IF NOT EXISTS \"audit\" (\"id\" uuid DEFAULT gen_random_uuid() NOT NULL, \"n\" integer NOT NULL, CONSTRAINT \"audit_pkey\" PRIMARY KEY (\"id\"))",
            "INSERT INTO \"t\" (\"id\", \"pages\", \"code\") SELECT g, g % 500, md5(g::text) FROM generate_series(1, 2500) g",
            "INSERT INTO \"t\" (\"id\", \"pages\", \"code\") SELECT g, g % 500, md5(g::text) FROM generate_series(2501, 5000) g",
            "INSERT INTO \"audit\" (\"n\") SELECT g FROM generate_series(10, 20) g",
        ],
    );
    let data = hand(
        "0001_data",
        &[
            "UPDATE \"t\" SET \"pages\" = \"pages\" + 1 WHERE \"id\" <= 100",
            "INSERT INTO \"audit\" (\"n\") VALUES (1000)",
        ],
    );
    set.migrations.insert(1, seed);
    set.migrations.insert(3, data);
    (dir, set)
}

/// What a run leaves: the rows, and the schema.
#[derive(Debug, PartialEq)]
struct Outcome {
    table: String,
    audit: String,
    schema: Schema,
    unfinished: i64,
}

async fn outcome(url: &str) -> Outcome {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let table: String = sqlx::query_scalar("SELECT count(*)::text || ':' || md5(string_agg(concat_ws('|', id, pages, code, note), ',' ORDER BY id)) FROM t")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let audit: String =
        sqlx::query_scalar("SELECT count(*)::text || ' rows, sum ' || sum(n)::text FROM audit")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let unfinished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tablewright.migrations WHERE status <> 'applied'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let schema = introspect::introspect(&mut conn, &["public".to_owned()])
        .await
        .unwrap()
        .schema;
    Outcome {
        table,
        audit,
        schema,
        unfinished,
    }
}

/// `host:port` of the test server.
fn upstream() -> String {
    let url = common::admin_url();
    let after_at = url
        .rsplit_once('@')
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| url.split_once("://").map(|(_, rest)| rest).unwrap_or(&url));
    let host_port = after_at.split('/').next().unwrap_or(after_at);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

fn options() -> MigratorOptions {
    // A short lease, so a run that died holding one does not hold up the rerun long.
    MigratorOptions {
        lease: Duration::from_secs(2),
        ..MigratorOptions::default()
    }
}

/// One run through a proxy cutting at `cuts` into `db` (emptied first), then a clean rerun:
/// the cuts made, the commit points the proxy saw, and what the database holds.
async fn run_with_cuts(
    db: &TestDb,
    mode: Mode,
    set: &MigrationSet,
    cuts: Cuts,
) -> (usize, usize, Outcome) {
    db.reset().await;
    let proxy = Proxy::start(&upstream(), cuts.clone()).await;
    let through_proxy = Migrator::new(target(mode, &proxy.url(&db.url)), set.clone(), options())
        .await
        .unwrap();
    let _ = through_proxy.run(&|_| {}).await; // may fail: that is the point
    let (made, points) = (proxy.cuts_made(), proxy.commit_points());
    drop(proxy);
    let clean = Migrator::new(target(mode, &db.url), set.clone(), options())
        .await
        .unwrap();
    clean
        .run(&|_| {})
        .await
        .unwrap_or_else(|e| panic!("{mode:?}, {cuts:?}: the rerun after the cuts failed: {e}"));
    (made, points, outcome(&db.url).await)
}

/// A run without cuts into `db` (emptied first).
async fn reference(db: &TestDb, mode: Mode, set: &MigrationSet) -> Outcome {
    db.reset().await;
    Migrator::new(target(mode, &db.url), set.clone(), options())
        .await
        .unwrap()
        .run(&|_| {})
        .await
        .unwrap();
    let found = outcome(&db.url).await;
    assert_eq!(
        found.audit, "12 rows, sum 1165",
        "{mode:?}: the data migrations as written"
    );
    assert!(found.table.starts_with("5000:"));
    found
}

fn full() -> bool {
    std::env::var("TABLEWRIGHT_FAULTS").is_ok_and(|v| v == "full")
}

/// Cuts the connection right after each commit point (a slice of them by default),
/// before the runner hears the commit succeeded.
async fn cuts_at_commit_points(mode: Mode) {
    let (_dir, set) = migrations(mode);
    let db = TestDb::for_mode("faults", mode).await;
    let expected = reference(&db, mode, &set).await;
    let (_, points, _) = run_with_cuts(&db, mode, &set, Cuts::Never).await;
    assert!(
        points >= 10,
        "{mode:?}: the migrations have many commit points ({points})"
    );
    let step = if full() || points <= 30 { 1 } else { 3 };
    let (mut runs, mut made) = (0, 0);
    for nth in (0..points).step_by(step) {
        let (cuts, _, found) = run_with_cuts(&db, mode, &set, Cuts::AtCommit { nth }).await;
        assert_eq!(
            found, expected,
            "{mode:?}: cut after commit point {nth}: the database differs from a run without cuts"
        );
        runs += 1;
        made += cuts;
    }
    println!("{mode:?}: {points} commit points, {runs} runs cut at one of them, {made} cuts made");
    assert!(
        made * 10 >= runs * 9,
        "{mode:?}: most runs reached their cut ({made} of {runs})"
    );
}

/// Cuts at random: responses before or after the client hears them, requests before the
/// server sees them.
async fn random_cuts(mode: Mode) {
    let (_dir, set) = migrations(mode);
    let db = TestDb::for_mode("faults", mode).await;
    let expected = reference(&db, mode, &set).await;
    let seeds = if full() { 25 } else { 3 };
    let mut made = 0;
    for seed in 1..=seeds {
        let (cuts, _, found) =
            run_with_cuts(&db, mode, &set, Cuts::Random { seed, rate: 0.02 }).await;
        assert_eq!(
            found, expected,
            "{mode:?}: random cuts with seed {seed}: the database differs from a run without cuts"
        );
        made += cuts;
    }
    println!("{mode:?}: {seeds} runs with random cuts, {made} cuts made");
    assert!(made > 0, "{mode:?}: the random runs cut something");
}

/// The case a runner that replays blindly gets wrong: a data migration's commit lands,
/// the connection dies before the runner hears it.
async fn a_data_migration_cut_after_its_commit_applies_once(mode: Mode) {
    let (_dir, set) = migrations(mode);
    let db = TestDb::for_mode("faults", mode).await;
    let expected = reference(&db, mode, &set).await;
    let (made, _, found) = run_with_cuts(
        &db,
        mode,
        &set,
        Cuts::AtCommitOf {
            tag: "INSERT 0 11".into(),
        },
    )
    .await;
    assert_eq!(made, 1, "{mode:?}: the commit of the 11-row insert was cut");
    assert_eq!(
        found.audit, "12 rows, sum 1165",
        "{mode:?}: 11 rows, not 22"
    );
    assert_eq!(found, expected);
}

macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(Mode::Postgres).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn dsql_guarded() {
                    super::$name(Mode::DsqlGuarded).await;
                }
            }
        )*
    };
}

in_both_modes!(
    cuts_at_commit_points,
    random_cuts,
    a_data_migration_cut_after_its_commit_applies_once
);
