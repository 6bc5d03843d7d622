//! Runner overhead: apply N single-table migrations to an empty local database with
//! `tablewright`'s runner, against `psql -1 -f` of the same statements in one transaction
//! (the floor: no bookkeeping, no lock, one commit). Also the DSQL-emulated mode, which
//! pays one transaction per statement plus one per history write, by DSQL's rules.
//!
//! `cargo bench -p cli --bench migrate [-- N ROUNDS]` runs against a private PostgreSQL on
//! tmpfs with fsync off (started from the machine's server binaries), so that the
//! disk's noise stays out of the ratio; `BENCH_SERVER=shared` uses the server at
//! TABLEWRIGHT_TEST_ADMIN_URL (default 127.0.0.1:5432) instead. Needs `psql` on PATH.
//! Numbers: benches/README.md.

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tablewright_core::project::hash;
use tablewright_core::project::journal::{Journal, JournalEntry};
use tablewright_core::project::snapshot::to_pretty_json;
use tablewright_core::runner::scratch::with_database;
use tablewright_core::runner::{EmbeddedPostgres, MigrationSet, Migrator, MigratorOptions, Target};

fn shared_admin_url() -> String {
    std::env::var("TABLEWRIGHT_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn statement(i: usize) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS \"t{i:04}\" (\n\t\"id\" bigint NOT NULL,\n\t\"name\" text,\n\tCONSTRAINT \"t{i:04}_pkey\" PRIMARY KEY (\"id\")\n);"
    )
}

fn write_folder(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("meta")).unwrap();
    let mut journal = Journal::default();
    for i in 0..n {
        let tag = format!("{i:04}_t{i:04}");
        let sql = format!("{}\n", statement(i));
        std::fs::write(dir.join(format!("{tag}.sql")), &sql).unwrap();
        journal.entries.push(JournalEntry {
            idx: i as u32,
            version: "1".into(),
            when: i as u64,
            tag,
            breakpoints: true,
            hash: hash::migration_hash(sql.as_bytes()),
        });
    }
    std::fs::write(dir.join("meta/_journal.json"), to_pretty_json(&journal)).unwrap();
}

async fn fresh_database(admin: &mut PgConnection, admin_url: &str, name: &str) -> String {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut *admin)
    .await
    .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut *admin)
        .await
        .unwrap();
    with_database(admin_url, name)
}

async fn runner(set: &MigrationSet, url: String, dsql: bool, single_transaction: bool) -> Duration {
    let target = if dsql {
        Target::DsqlEmulated { url }
    } else {
        Target::Postgres { url }
    };
    let migrator = Migrator::new(
        target,
        set.clone(),
        MigratorOptions {
            single_transaction,
            ..MigratorOptions::default()
        },
    )
    .await
    .unwrap();
    let started = Instant::now();
    let report = migrator.run(&|_| {}).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.applied.len(), set.migrations.len());
    elapsed
}

/// `psql -f`, in one transaction (`-1`, the floor) or one per statement (autocommit).
fn psql(file: &Path, url: &str, one_transaction: bool) -> Duration {
    let started = Instant::now();
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    if one_transaction {
        cmd.arg("-1");
    }
    let status = cmd
        .arg("-f")
        .arg(file)
        .arg(url)
        .status()
        .expect("psql on PATH");
    assert!(status.success());
    started.elapsed()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(500);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("migrations");
    write_folder(&folder, n);
    let all = dir.path().join("all.sql");
    std::fs::write(&all, (0..n).map(statement).collect::<Vec<_>>().join("\n")).unwrap();
    let set = MigrationSet::from_folder(&folder).unwrap();

    let shared = std::env::var("BENCH_SERVER").is_ok_and(|v| v == "shared");
    let embedded = if shared {
        None
    } else {
        Some(EmbeddedPostgres::start().await.unwrap())
    };
    let admin_url = embedded
        .as_ref()
        .map(|e| e.url("postgres"))
        .unwrap_or_else(shared_admin_url);
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    let (mut floor, mut autocommit, mut postgres, mut single, mut dsql) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Every variant gets a fresh database; the order rotates each round so that none
        // always runs right after another's checkpoint.
        for k in 0..5 {
            match (k + round) % 5 {
                0 => floor.push(psql(
                    &all,
                    &fresh_database(&mut admin, &admin_url, "tw_bench").await,
                    true,
                )),
                1 => autocommit.push(psql(
                    &all,
                    &fresh_database(&mut admin, &admin_url, "tw_bench").await,
                    false,
                )),
                2 => postgres.push(
                    runner(
                        &set,
                        fresh_database(&mut admin, &admin_url, "tw_bench").await,
                        false,
                        false,
                    )
                    .await,
                ),
                3 => single.push(
                    runner(
                        &set,
                        fresh_database(&mut admin, &admin_url, "tw_bench").await,
                        false,
                        true,
                    )
                    .await,
                ),
                _ => dsql.push(
                    runner(
                        &set,
                        fresh_database(&mut admin, &admin_url, "tw_bench").await,
                        true,
                        false,
                    )
                    .await,
                ),
            }
        }
        eprintln!(
            "round {}: psql -1 {:?}, psql autocommit {:?}, postgres {:?}, postgres --single-transaction {:?}, dsql-emulated {:?}",
            round + 1,
            floor[round],
            autocommit[round],
            postgres[round],
            single[round],
            dsql[round]
        );
    }
    for name in ["tw_bench"] {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    let (f, a, p, s, d) = (
        median(floor),
        median(autocommit),
        median(postgres),
        median(single),
        median(dsql),
    );
    let server = match &embedded {
        Some(e) => format!("private PostgreSQL {} on tmpfs, fsync off", e.version),
        None => format!(
            "shared server {}",
            tablewright_core::runner::redact_url(&admin_url)
        ),
    };
    println!("{n} single-table migrations, median of {rounds} rounds, {server}");
    println!(
        "  psql -1 -f (floor)        {:>8.1} ms",
        f.as_secs_f64() * 1e3
    );
    println!(
        "  psql -f, autocommit       {:>8.1} ms   ratio {:.2}x",
        a.as_secs_f64() * 1e3,
        a.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "  tablewright, postgres     {:>8.1} ms   ratio {:.2}x",
        p.as_secs_f64() * 1e3,
        p.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "  tablewright, postgres -1  {:>8.1} ms   ratio {:.2}x",
        s.as_secs_f64() * 1e3,
        s.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "  tablewright, dsql rules   {:>8.1} ms   ratio {:.2}x",
        d.as_secs_f64() * 1e3,
        d.as_secs_f64() / f.as_secs_f64()
    );
}
