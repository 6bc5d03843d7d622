//! Table recreation under DSQL's rules (the DSQL guard, as a non-superuser), each on a
//! table of 10,000 rows, beyond DSQL's 3,000-row transaction limit: the changes DSQL
//! cannot make in place are planned by `generate`, carried out by the runner in batches,
//! and leave every row, the indexes and the grants in place.

mod common;

use common::{Mode, TestDb, assert_database_matches, desired_from_source};
use sqlx::{AssertSqlSafe, PgConnection};
use tablewright_core::generate::{self, GenerateOptions};
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::runner::{MigrationSet, Migrator, MigratorOptions, Target};
use tablewright_core::schema::model::Schema;

const ROWS: i64 = 10_000;

/// A DSQL migrations folder with one migration per version.
fn folder(versions: &[&str]) -> (tempfile::TempDir, Schema) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &dir.path().join("tablewright.toml"),
        "dialect = \"dsql\"\nschema = [\"x.rs\"]\nout = \".\"\n",
    )
    .unwrap();
    let mut last = Schema::default();
    for (i, source) in versions.iter().enumerate() {
        let desired = desired_from_source(&format!("v{i}.rs"), source);
        let folder = MigrationFolder::load(&config.out).unwrap();
        let options = GenerateOptions {
            now_ms: 1_700_000_000_000 + i as u64,
            ..Default::default()
        };
        let migration = generate::plan_migration(&config, &desired, &folder, &options)
            .unwrap()
            .expect("each version changes something");
        generate::write(Some(&migration), None).unwrap();
        last = desired.schema;
    }
    (dir, last)
}

async fn migrate(db: &TestDb, dir: &std::path::Path, first: Option<usize>, batch_rows: usize) {
    let mut set = MigrationSet::from_folder(dir).unwrap();
    if let Some(n) = first {
        set.migrations.truncate(n);
    }
    let options = MigratorOptions {
        batch_rows,
        ..MigratorOptions::default()
    };
    let migrator = Migrator::new(
        Target::DsqlEmulated {
            url: db.url.clone(),
        },
        set,
        options,
    )
    .await
    .unwrap();
    migrator
        .run(&|_| {})
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
}

async fn scalar(conn: &mut PgConnection, sql: &str) -> String {
    sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(format!("SELECT ({sql})::text")))
        .fetch_one(conn)
        .await
        .unwrap()
        .unwrap_or_default()
}

struct Case {
    name: &'static str,
    before: &'static str,
    after: &'static str,
    /// Fills the "before" table with `ROWS` rows (run without the guard).
    seed: &'static str,
    /// Over the rows, in a form both versions print alike.
    checksum: &'static str,
}

async fn run(case: Case) {
    let (dir, after) = folder(&[case.before, case.after]);
    let sql = std::fs::read_to_string(
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains("0001_"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        sql.contains("-- tablewright:copy \"t\" -> \"t__tw_new\""),
        "{}: the change is a recreation:\n{sql}",
        case.name
    );

    let db = TestDb::for_mode(case.name, Mode::DsqlGuarded).await;
    migrate(&db, dir.path(), Some(1), 1000).await;
    let mut setup = db.connect_setup().await;
    sqlx::raw_sql(AssertSqlSafe(case.seed))
        .execute(&mut setup)
        .await
        .unwrap();
    let reader = format!("tw_reader_{}", case.name);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DO $$ BEGIN CREATE ROLE {reader}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; GRANT SELECT, INSERT ON t TO {reader}"
    )))
    .execute(&mut setup)
    .await
    .unwrap();
    let checksum = format!(
        "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT {} AS x FROM t) s",
        case.checksum
    );
    let before_sum = scalar(&mut setup, &checksum).await;
    assert_eq!(
        scalar(&mut setup, "SELECT count(*) FROM t").await,
        ROWS.to_string()
    );

    migrate(&db, dir.path(), None, 1000).await;

    let mut conn = db.connect().await;
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM t").await,
        ROWS.to_string(),
        "{}: row count",
        case.name
    );
    assert_eq!(
        scalar(&mut conn, &checksum).await,
        before_sum,
        "{}: checksum over all rows",
        case.name
    );
    let invalid = scalar(
        &mut conn,
        "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND NOT indisvalid",
    )
    .await;
    assert_eq!(invalid, "0", "{}: every index is valid", case.name);
    for privilege in ["SELECT", "INSERT"] {
        let has = scalar(
            &mut conn,
            &format!("SELECT has_table_privilege('{reader}', 't', '{privilege}')"),
        )
        .await;
        assert_eq!(
            has, "true",
            "{}: {reader} keeps {privilege} on t",
            case.name
        );
    }
    let leftovers = scalar(
        &mut conn,
        "SELECT string_agg(relname, ', ') FROM pg_class WHERE relname LIKE '%\\_\\_tw\\_%'",
    )
    .await;
    assert_eq!(
        leftovers, "",
        "{}: no temporary table or constraint is left",
        case.name
    );
    assert_database_matches(&mut conn, &after, case.name).await;
    drop(conn);
    drop(setup);
    drop(db);
}

const SEED_IDS: &str = "INSERT INTO t (id, pages, code) SELECT g, g % 700, lpad(g::text, 6, '0') FROM generate_series(1, 10000) g";

#[tokio::test]
async fn integer_to_bigint() {
    run(Case {
        name: "int_to_bigint",
        before: r#"
            #[derive(Table)] #[table(name = "t")] #[index(columns(pages))]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, #[column(unique)] pub code: String }"#,
        after: r#"
            #[derive(Table)] #[table(name = "t")] #[index(columns(pages))]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i64, #[column(unique)] pub code: String }"#,
        seed: SEED_IDS,
        checksum: "concat_ws('|', id, pages, code)",
    })
    .await;
}

#[tokio::test]
async fn varchar_to_text() {
    run(Case {
        name: "varchar_to_text",
        before: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, #[column(sql_type = "varchar(32)")] pub code: String }"#,
        after: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub code: String }"#,
        seed: SEED_IDS,
        checksum: "concat_ws('|', id, pages, code)",
    })
    .await;
}

#[tokio::test]
async fn text_to_integer_with_castable_data() {
    run(Case {
        name: "text_to_integer",
        before: r#"
            #[derive(Table)] #[table(name = "t")] #[index(columns(code))]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub code: String }"#,
        after: r#"
            #[derive(Table)] #[table(name = "t")] #[index(columns(code))]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub code: i32 }"#,
        seed: "INSERT INTO t (id, pages, code) SELECT g, g % 700, (g * 7)::text FROM generate_series(1, 10000) g",
        checksum: "concat_ws('|', id, pages, code)",
    })
    .await;
}

#[tokio::test]
async fn nullable_to_not_null_fills_nulls_with_the_default() {
    run(Case {
        name: "set_not_null",
        before: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: Option<i32>, pub code: String }"#,
        after: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, #[column(default = "0")] pub pages: i32, pub code: String }"#,
        seed: "INSERT INTO t (id, pages, code) SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE g END, g::text FROM generate_series(1, 10000) g",
        checksum: "concat_ws('|', id, coalesce(pages, 0), code)",
    })
    .await;
}

#[tokio::test]
async fn nullable_to_not_null_with_a_fill_value() {
    run(Case {
        name: "set_not_null_fill",
        before: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: Option<i32>, pub code: String }"#,
        after: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, #[column(fill = "-1")] pub pages: i32, pub code: String }"#,
        seed: "INSERT INTO t (id, pages, code) SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE g END, g::text FROM generate_series(1, 10000) g",
        checksum: "concat_ws('|', id, coalesce(pages, -1), code)",
    })
    .await;
}

#[tokio::test]
async fn primary_key_change() {
    run(Case {
        name: "primary_key_change",
        before: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, #[column(unique)] pub code: String }"#,
        after: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { pub id: i32, pub pages: i32, #[column(primary_key)] pub code: String }"#,
        seed: SEED_IDS,
        checksum: "concat_ws('|', id, pages, code)",
    })
    .await;
}

#[tokio::test]
async fn not_null_column_with_default_added() {
    run(Case {
        name: "add_not_null_default",
        before: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub code: String }"#,
        after: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub code: String, #[column(default = "'new'")] pub state: String }"#,
        seed: SEED_IDS,
        // Before the change every row counts as 'new'; after it every row must be.
        checksum: "concat_ws('|', id, pages, code, coalesce(to_jsonb(t.*) ->> 'state', 'new'))",
    })
    .await;
}

#[tokio::test]
async fn not_null_column_with_a_fill_added() {
    run(Case {
        name: "add_not_null_fill",
        before: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub code: String }"#,
        after: r#"
            #[derive(Table)] #[table(name = "t")]
            pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub code: String, #[column(fill = "'legacy'")] pub state: String }"#,
        seed: SEED_IDS,
        checksum: "concat_ws('|', id, pages, code, coalesce(to_jsonb(t.*) ->> 'state', 'legacy'))",
    })
    .await;
}

#[tokio::test]
async fn a_row_that_does_not_cast_fails_the_copy_and_leaves_the_old_table_alone() {
    let before = r#"
        #[derive(Table)] #[table(name = "t")]
        pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub code: String }"#;
    let (dir, _) = folder(&[before, &before.replace("pub code: String", "pub code: i32")]);
    let db = TestDb::for_mode("uncastable", Mode::DsqlGuarded).await;
    migrate(&db, dir.path(), Some(1), 1000).await;
    let mut setup = db.connect_setup().await;
    sqlx::raw_sql("INSERT INTO t (id, pages, code) SELECT g, g, CASE WHEN g = 7777 THEN 'seven' ELSE g::text END FROM generate_series(1, 10000) g")
        .execute(&mut setup)
        .await
        .unwrap();
    let set = MigrationSet::from_folder(dir.path()).unwrap();
    let migrator = Migrator::new(
        Target::DsqlEmulated {
            url: db.url.clone(),
        },
        set,
        MigratorOptions::default(),
    )
    .await
    .unwrap();
    let err = migrator
        .run(&|_| {})
        .await
        .expect_err("'seven' is not an integer")
        .to_string();
    assert!(
        err.contains("copying `t` into `t__tw_new` failed")
            && err.contains("22P02")
            && err.contains("`t` is unchanged"),
        "{err}"
    );
    let mut conn = db.connect().await;
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM t").await,
        ROWS.to_string()
    );
    assert_eq!(
        scalar(&mut conn, "SELECT to_regclass('t__tw_new')").await,
        "",
        "the half-filled table is dropped"
    );
    let next = scalar(
        &mut conn,
        "SELECT next_statement FROM tablewright.migrations WHERE tag LIKE '0001_%'",
    )
    .await;
    assert_eq!(
        next, "0",
        "the next run starts again at the table's creation (statement 1)"
    );
    drop(conn);
    drop(setup);
    drop(db);
}

/// Writes to the source while the copy runs (an update and a delete of copied rows, an
/// insert into a copied key range, an insert past the end, an update after the first
/// verification pass): each is carried over before the swap, found by the checksums of the
/// copied key ranges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_the_table_during_the_copy_are_carried_over() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use tablewright_core::runner::Event;
    let v2 = common::table_v2();
    let (dir, after) = folder(&[common::TABLE_V1, &v2]);
    let db = TestDb::for_mode("copy_writes", Mode::DsqlGuarded).await;
    migrate(&db, dir.path(), Some(1), 1000).await;
    let mut setup = db.connect_setup().await;
    // Even keys only, so rows can be inserted inside a copied range.
    sqlx::raw_sql("INSERT INTO t (id, pages, code) SELECT g * 2, g % 500, md5(g::text) FROM generate_series(1, 10000) g; CREATE TABLE expected AS SELECT * FROM t")
        .execute(&mut setup)
        .await
        .unwrap();
    // Each write goes to the table being copied and to `expected`, which the copy does
    // not touch.
    let write = |admin: String, sql: &'static str| {
        common::execute_blocking(
            &admin,
            &format!(
                "SET session_replication_role = replica; {sql}; {}",
                sql.replace(" t ", " expected ")
            ),
        );
    };
    let admin = db.admin_db_url.clone().unwrap();
    let batches = Arc::new(AtomicUsize::new(0));
    let (seen, admin_batch) = (batches.clone(), admin.clone());
    fail::cfg_callback("runner::after_batch", move || {
        if seen.fetch_add(1, Ordering::SeqCst) == 1 {
            // Batches 1 and 2 (keys 2..4000) are copied.
            write(
                admin_batch.clone(),
                "UPDATE t SET pages = pages + 7 WHERE id = 10; DELETE FROM t WHERE id = 20; DELETE FROM t WHERE id = 2000; \
                 INSERT INTO t VALUES (11, 1, 'inserted in a copied range'); INSERT INTO t VALUES (30001, 2, 'past the end')",
            );
        }
    })
    .unwrap();
    let passes = Arc::new(AtomicUsize::new(0));
    let (seen, admin_pass) = (passes.clone(), admin.clone());
    fail::cfg_callback("runner::after_copy_pass", move || {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            write(
                admin_pass.clone(),
                "UPDATE t SET code = 'changed after the first pass' WHERE id = 4000",
            );
        }
    })
    .unwrap();
    // After the first range is copied again (it now ends at key 1998, its last row): a row
    // in what is left of it, up to the old end 2000.
    let recopies = Arc::new(AtomicUsize::new(0));
    let (seen, admin_recopy) = (recopies.clone(), admin.clone());
    fail::cfg_callback("runner::after_recopy", move || {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            write(
                admin_recopy.clone(),
                "INSERT INTO t VALUES (1999, 3, 'inserted after the range was copied again')",
            );
        }
    })
    .unwrap();
    let events = Mutex::new(Vec::new());
    let set = MigrationSet::from_folder(dir.path()).unwrap();
    let migrator = Migrator::new(
        Target::DsqlEmulated {
            url: db.url.clone(),
        },
        set,
        MigratorOptions {
            batch_rows: 1000,
            ..MigratorOptions::default()
        },
    )
    .await
    .unwrap();
    migrator
        .run(&|e| events.lock().unwrap().push(e))
        .await
        .unwrap();
    fail::remove("runner::after_batch");
    fail::remove("runner::after_copy_pass");
    fail::remove("runner::after_recopy");

    let recopied: Vec<usize> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| {
            if let Event::RangesRecopied { ranges, .. } = e {
                Some(*ranges)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        recopied,
        [1, 2],
        "the range of keys 10, 11, 20 and 2000 (one batch); then that of 4000 and the rest of the first, 1999"
    );
    assert_eq!(
        passes.load(Ordering::SeqCst),
        3,
        "a third pass found nothing changed"
    );
    let rows = "SELECT count(*) || ':' || md5(string_agg(concat_ws('|', id, pages, code), ',' ORDER BY id)) FROM";
    let mut conn = db.connect().await;
    let got = scalar(&mut conn, &format!("{rows} t")).await;
    let expected = scalar(&mut setup, &format!("{rows} expected")).await;
    assert_eq!(
        got, expected,
        "every write made during the copy is in the new table"
    );
    assert!(got.starts_with("10001:"), "{got}");
    assert_eq!(recopies.load(Ordering::SeqCst), 3);
    sqlx::raw_sql("DROP TABLE expected")
        .execute(&mut setup)
        .await
        .unwrap();
    let leftovers = scalar(
        &mut conn,
        "SELECT count(*) FROM tablewright.migrations_batches",
    )
    .await;
    assert_eq!(
        leftovers, "0",
        "the copied ranges are forgotten once the migration is applied"
    );
    assert_database_matches(&mut conn, &after, "after the copy with writes").await;
}

/// A copy into a table that an earlier migration created (a hand-written directive) fails
/// on a row that does not cast: the rerun after the fix starts the copy over into the
/// emptied table, and copies every row once.
#[tokio::test]
async fn a_failed_copy_into_an_existing_table_starts_over_on_the_rerun() {
    let db = TestDb::for_mode("copy_existing", Mode::DsqlGuarded).await;
    let tables = common::hand(
        "0000_tables",
        &[
            "CREATE TABLE IF NOT EXISTS \"src\" (\"id\" integer NOT NULL, \"v\" text, CONSTRAINT \"src_pkey\" PRIMARY KEY (\"id\"))",
            "CREATE TABLE IF NOT EXISTS \"dst\" (\"id\" integer NOT NULL, \"v\" integer, CONSTRAINT \"dst_pkey\" PRIMARY KEY (\"id\"))",
        ],
    );
    let copy = common::hand(
        "0001_copy",
        &[
            "-- tablewright:copy \"src\" -> \"dst\"\nINSERT INTO \"dst\" (\"id\", \"v\") SELECT \"id\", \"v\"::integer FROM \"src\"",
        ],
    );
    let run = |migrations: Vec<tablewright_core::runner::LocalMigration>| {
        let url = db.url.clone();
        async move {
            let set = MigrationSet {
                migrations,
                origin: "test".into(),
                drizzle: None,
            };
            Migrator::new(
                Target::DsqlEmulated { url },
                set,
                MigratorOptions {
                    batch_rows: 1000,
                    ..MigratorOptions::default()
                },
            )
            .await
            .unwrap()
            .run(&|_| {})
            .await
        }
    };
    run(vec![tables.clone()]).await.unwrap();
    let mut setup = db.connect_setup().await;
    sqlx::raw_sql("INSERT INTO src SELECT g, g::text FROM generate_series(1, 3500) g; UPDATE src SET v = 'x' WHERE id = 2500").execute(&mut setup).await.unwrap();
    let err = run(vec![tables.clone(), copy.clone()]).await.unwrap_err();
    assert!(
        err.to_string().contains("22P02"),
        "the bad row fails the copy: {err}"
    );
    let mut conn = db.connect().await;
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM dst").await,
        "2000",
        "two batches had committed"
    );
    sqlx::raw_sql("UPDATE src SET v = '2500' WHERE id = 2500")
        .execute(&mut setup)
        .await
        .unwrap();
    run(vec![tables, copy]).await.unwrap();
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) || ':' || sum(v) FROM dst").await,
        "3500:6126750",
        "every row once"
    );
}

/// Rows far wider than the batch's row budget allows in one transaction: a batch stops at
/// the size budget (about 2 MiB of values, see runner/engine/walk/mod.rs), not at the row count, in a
/// copy and in the backfill that follows; every row arrives once.
#[tokio::test]
async fn wide_rows_are_copied_and_backfilled_in_batches_within_the_size_budget() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (dir, after) = folder(&[
        r#"#[derive(Table)] #[table(name = "t")] pub struct T { #[column(primary_key)] pub id: i32, pub pages: i32, pub body: String }"#,
        r#"#[derive(Table)] #[table(name = "t")] pub struct T { #[column(primary_key)] pub id: i32, pub pages: i64, pub body: String }"#,
        r#"#[derive(Table)] #[table(name = "t")] pub struct T { #[column(primary_key)] pub id: i32, pub pages: i64, pub body: String, #[column(default = "'fresh'")] pub note: Option<String> }"#,
    ]);
    let db = TestDb::for_mode("wide_rows", Mode::DsqlGuarded).await;
    migrate(&db, dir.path(), Some(1), 1000).await;
    let mut setup = db.connect_setup().await;
    // 60 rows of 200,000 bytes each (incompressible, so the stored size is near it too):
    // 10 fit the budget, so each walk takes 6 batches where the row count alone allows 1.
    sqlx::raw_sql("INSERT INTO t (id, pages, body) SELECT g, g, (SELECT string_agg(md5(g::text || '.' || i::text), '') FROM generate_series(1, 6250) i) FROM generate_series(1, 60) g")
        .execute(&mut setup)
        .await
        .unwrap();
    let rows = "SELECT count(*) || ':' || md5(string_agg(concat_ws('|', id, pages, body), ',' ORDER BY id)) FROM t";
    let before = scalar(&mut setup, rows).await;
    let batches = Arc::new(AtomicUsize::new(0));
    let seen = batches.clone();
    fail::cfg_callback("runner::after_batch", move || {
        seen.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    migrate(&db, dir.path(), Some(2), 1000).await;
    assert_eq!(
        batches.swap(0, Ordering::SeqCst),
        6,
        "the copy: 60 rows in batches of 10"
    );
    migrate(&db, dir.path(), None, 1000).await;
    assert_eq!(
        batches.load(Ordering::SeqCst),
        6,
        "the backfill: 60 rows in batches of 10"
    );
    fail::remove("runner::after_batch");
    let mut conn = db.connect().await;
    assert_eq!(
        scalar(&mut conn, rows).await,
        before,
        "every row, unchanged"
    );
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM t WHERE note = 'fresh'").await,
        "60",
        "every row backfilled"
    );
    assert_database_matches(&mut conn, &after, "wide rows").await;
}

/// A table with a column named `s` (the name the copy's queries give each row): a write to
/// another column of a copied row during the copy is still found by the verification pass
/// and carried over, since the checksum is over the whole row, not over that column.
#[tokio::test]
async fn a_column_named_like_the_row_alias_does_not_hide_changes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (dir, _) = folder(&[
        r#"#[derive(Table)] #[table(name = "t")] pub struct T { #[column(primary_key)] pub id: i32, pub s: i32, pub pages: i32 }"#,
        r#"#[derive(Table)] #[table(name = "t")] pub struct T { #[column(primary_key)] pub id: i32, pub s: i32, pub pages: i64 }"#,
    ]);
    let db = TestDb::for_mode("row_alias", Mode::DsqlGuarded).await;
    migrate(&db, dir.path(), Some(1), 1000).await;
    let mut setup = db.connect_setup().await;
    sqlx::raw_sql("INSERT INTO t (id, s, pages) SELECT g, 7, g FROM generate_series(1, 5000) g")
        .execute(&mut setup)
        .await
        .unwrap();
    let admin = db.admin_db_url.clone().unwrap();
    let batches = Arc::new(AtomicUsize::new(0));
    let seen = batches.clone();
    fail::cfg_callback("runner::after_batch", move || {
        if seen.fetch_add(1, Ordering::SeqCst) == 1 {
            common::execute_blocking(
                &admin,
                "SET session_replication_role = replica; UPDATE t SET pages = 123456 WHERE id = 10",
            );
        }
    })
    .unwrap();
    migrate(&db, dir.path(), None, 1000).await;
    fail::remove("runner::after_batch");
    let mut conn = db.connect().await;
    assert_eq!(
        scalar(&mut conn, "SELECT pages FROM t WHERE id = 10").await,
        "123456",
        "the change to a copied row was carried over"
    );
    assert_eq!(scalar(&mut conn, "SELECT count(*) FROM t").await, "5000");
}
