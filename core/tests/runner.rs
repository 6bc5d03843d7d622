//! The runner against a real PostgreSQL, in both modes: plain PostgreSQL, and DSQL's rules
//! under the DSQL guard as a non-superuser (so a runner that broke a DSQL rule would fail
//! here exactly as on DSQL).

mod common;

use common::{Mode, TestDb, assert_database_matches, hand, target};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tablewright_core::runner::introspect;
use tablewright_core::runner::{
    Event, LocalMigration, MigrationSet, Migrator, MigratorOptions, RunError, Target,
};
use tablewright_core::schema::model::Schema;

pub const V1: &str = include_str!("fixtures/v1.rs");

pub const V2: &str = include_str!("fixtures/v2.rs");

/// A migrations folder generated from `versions` for the mode's dialect.
pub fn fixture(mode: Mode, versions: &[&str]) -> (tempfile::TempDir, Schema) {
    common::generated(mode.dialect(), versions)
}

/// Records events so tests can assert on them.
#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Events {
    fn sink(&self) -> impl Fn(Event) + '_ {
        |e| self.0.lock().unwrap().push(e)
    }

    fn any(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.0.lock().unwrap().iter().any(f)
    }
}

async fn migrator(mode: Mode, db: &TestDb, set: MigrationSet) -> Migrator {
    Migrator::new(target(mode, &db.url), set, MigratorOptions::default())
        .await
        .unwrap()
}

async fn catalog(db: &TestDb) -> (Schema, bool) {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let schema = introspect::introspect(&mut conn, &["public".to_owned()])
        .await
        .unwrap()
        .schema;
    let history: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('tablewright.migrations')::text")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    (schema, history.is_some())
}

fn set(migrations: Vec<LocalMigration>) -> MigrationSet {
    MigrationSet {
        migrations,
        origin: "test".into(),
        drizzle: None,
    }
}

macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test]
                async fn postgres() {
                    super::$name(Mode::Postgres).await;
                }
                #[tokio::test]
                async fn dsql_guarded() {
                    super::$name(Mode::DsqlGuarded).await;
                }
            }
        )*
    };
}

in_both_modes!(
    applies_everything_then_nothing,
    refuses_an_edited_applied_migration,
    applies_a_migration_merged_late_from_a_branch,
    dry_run_changes_nothing,
    mark_applied_then_migrate_skips_it,
    rebuilds_an_invalid_index,
    migrate_to_stops_after_its_tag,
);

async fn applies_everything_then_nothing(mode: Mode) {
    let (dir, expected) = fixture(mode, &[V1, V2]);
    let db = TestDb::for_mode("applies_everything", mode).await;
    let m = migrator(mode, &db, MigrationSet::from_folder(dir.path()).unwrap()).await;
    let first = m.run(&|_| {}).await.unwrap();
    assert_eq!(
        first.applied,
        ["0000_init", "0001_rename_authors_full_name"]
    );
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    assert_database_matches(&mut conn, &expected, "after migrate").await;
    let second = m.run(&|_| {}).await.unwrap();
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, 2);
    drop(conn);
    drop(db);
}

async fn refuses_an_edited_applied_migration(mode: Mode) {
    let (dir, _) = fixture(mode, &[V1]);
    let db = TestDb::for_mode("edited", mode).await;
    migrator(mode, &db, MigrationSet::from_folder(dir.path()).unwrap())
        .await
        .run(&|_| {})
        .await
        .unwrap();
    let file = dir.path().join("0000_init.sql");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("\"pages\" integer", "\"pages\" bigint")).unwrap();
    let err = migrator(mode, &db, MigrationSet::from_folder(dir.path()).unwrap())
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Edited { tag, .. } if tag == "0000_init"),
        "{err}"
    );
    assert!(
        err.to_string().contains("0000_init.sql"),
        "names the file: {err}"
    );
    assert!(err.is_check_failure());
    drop(db);
}

async fn applies_a_migration_merged_late_from_a_branch(mode: Mode) {
    let db = TestDb::for_mode("branch_merge", mode).await;
    let base = hand(
        "0000_base",
        &[
            "CREATE TABLE IF NOT EXISTS \"a\" (\"id\" integer NOT NULL, CONSTRAINT \"a_pkey\" PRIMARY KEY (\"id\"))",
        ],
    );
    let mut from_branch = hand(
        "0001_branch",
        &[
            "CREATE TABLE IF NOT EXISTS \"b\" (\"id\" integer NOT NULL, CONSTRAINT \"b_pkey\" PRIMARY KEY (\"id\"))",
        ],
    );
    from_branch.when = 10; // generated before the mainline one: a high-water mark would skip it
    let mut mainline = hand("0002_main", &["ALTER TABLE \"a\" ADD COLUMN \"note\" text"]);
    mainline.when = 20;
    migrator(mode, &db, set(vec![base.clone(), mainline.clone()]))
        .await
        .run(&|_| {})
        .await
        .unwrap();
    let report = migrator(mode, &db, set(vec![base, from_branch, mainline]))
        .await
        .run(&|_| {})
        .await
        .unwrap();
    assert_eq!(report.applied, ["0001_branch"]);
    assert!(catalog(&db).await.0.tables.contains_key("b"));
    drop(db);
}

async fn migrate_to_stops_after_its_tag(mode: Mode) {
    let db = TestDb::for_mode("migrate_to", mode).await;
    let table = |tag: &str, name: &str| {
        hand(
            tag,
            &[&format!(
                "CREATE TABLE IF NOT EXISTS \"{name}\" (\"id\" integer NOT NULL, CONSTRAINT \"{name}_pkey\" PRIMARY KEY (\"id\"))"
            )],
        )
    };
    let all = vec![
        table("0000_a", "a"),
        table("0001_b", "b"),
        table("0002_c", "c"),
    ];
    let to = |tag: &str| MigratorOptions {
        to: Some(tag.to_owned()),
        ..MigratorOptions::default()
    };
    let tables = async || {
        let mut names: Vec<String> = catalog(&db).await.0.tables.into_keys().collect();
        names.sort();
        names
    };

    // A tag the folder does not have: refused before anything is created.
    let unknown = Migrator::new(target(mode, &db.url), set(all.clone()), to("0009_z"))
        .await
        .unwrap();
    let err = unknown.run(&|_| {}).await.unwrap_err();
    assert!(
        matches!(&err, RunError::Config(m) if m.contains("0009_z") && m.contains("0002_c")),
        "{err}"
    );
    assert!(unknown.plan().await.is_err());
    assert!(tables().await.is_empty());
    assert!(!catalog(&db).await.1, "not even the history is created");

    let m = Migrator::new(target(mode, &db.url), set(all.clone()), to("0001_b"))
        .await
        .unwrap();
    let plan: Vec<String> = m.plan().await.unwrap().into_iter().map(|p| p.tag).collect();
    assert_eq!(plan, ["0000_a", "0001_b"]);
    let report = m.run(&|_| {}).await.unwrap();
    assert_eq!(report.applied, ["0000_a", "0001_b"]);
    assert_eq!(report.held_back, ["0002_c"]);
    assert_eq!(tables().await, ["a", "b"]);
    let status = m.status().await.unwrap();
    assert_eq!(status.pending, ["0002_c"]);

    // Again: nothing to do up to the tag, the rest still held back.
    let again = m.run(&|_| {}).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(
        (again.already_applied, again.held_back),
        (2, vec!["0002_c".to_owned()])
    );

    // An earlier tag does not undo what is applied after it.
    let earlier = Migrator::new(target(mode, &db.url), set(all.clone()), to("0000_a"))
        .await
        .unwrap();
    let report = earlier.run(&|_| {}).await.unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.held_back, ["0002_c"]);
    assert_eq!(tables().await, ["a", "b"]);

    // Without --to, the rest.
    let rest = migrator(mode, &db, set(all))
        .await
        .run(&|_| {})
        .await
        .unwrap();
    assert_eq!(rest.applied, ["0002_c"]);
    assert!(rest.held_back.is_empty());
    assert_eq!(tables().await, ["a", "b", "c"]);
    drop(db);
}

async fn dry_run_changes_nothing(mode: Mode) {
    let (dir, _) = fixture(mode, &[V1, V2]);
    let db = TestDb::for_mode("dry_run", mode).await;
    let before = catalog(&db).await;
    let plan = migrator(mode, &db, MigrationSet::from_folder(dir.path()).unwrap())
        .await
        .plan()
        .await
        .unwrap();
    assert_eq!(plan.len(), 2);
    assert!(plan[0].statements.iter().all(|s| !s.how.is_empty()));
    assert_eq!(
        catalog(&db).await,
        before,
        "a dry run must not create tables, not even the history"
    );
    assert!(!before.1);
    drop(db);
}

async fn mark_applied_then_migrate_skips_it(mode: Mode) {
    let db = TestDb::for_mode("mark_applied", mode).await;
    let existing = hand(
        "0000_existing",
        &[
            "CREATE TABLE IF NOT EXISTS \"legacy\" (\"id\" integer NOT NULL, CONSTRAINT \"legacy_pkey\" PRIMARY KEY (\"id\"))",
        ],
    );
    let next = hand(
        "0001_next",
        &[
            "CREATE TABLE IF NOT EXISTS \"fresh\" (\"id\" integer NOT NULL, CONSTRAINT \"fresh_pkey\" PRIMARY KEY (\"id\"))",
        ],
    );
    let m = migrator(mode, &db, set(vec![existing, next])).await;
    m.mark_applied("0000_existing", false, None).await.unwrap();
    m.mark_applied("0000_existing", false, None).await.unwrap(); // idempotent
    let report = m.run(&|_| {}).await.unwrap();
    assert_eq!(report.applied, ["0001_next"]);
    let tables = catalog(&db).await.0.tables;
    assert!(
        !tables.contains_key("legacy"),
        "a marked migration is not run"
    );
    assert!(tables.contains_key("fresh"));
    // --reset: the history becomes that one row, so 0001 is pending again.
    m.mark_applied("0000_existing", true, None).await.unwrap();
    let status = m.status().await.unwrap();
    assert_eq!(status.applied.len(), 1);
    assert_eq!(status.pending, ["0001_next"]);
    drop(db);
}

async fn rebuilds_an_invalid_index(mode: Mode) {
    let db = TestDb::for_mode("invalid_index", mode).await;
    let mut su = db.connect_setup().await;
    sqlx::raw_sql("CREATE TABLE t (a integer); INSERT INTO t VALUES (1), (1)")
        .execute(&mut su)
        .await
        .unwrap();
    // A unique build that fails on the duplicates leaves an INVALID index behind, as a
    // failed or interrupted DSQL job does; `IF NOT EXISTS` would then accept it.
    assert!(
        sqlx::raw_sql("CREATE UNIQUE INDEX CONCURRENTLY t_a_key ON t (a)")
            .execute(&mut su)
            .await
            .is_err()
    );
    sqlx::raw_sql("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t)")
        .execute(&mut su)
        .await
        .unwrap();
    let statement = match mode {
        Mode::Postgres => {
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"t_a_key\" ON \"t\" (\"a\")"
        }
        Mode::DsqlGuarded => "CREATE UNIQUE INDEX ASYNC IF NOT EXISTS \"t_a_key\" ON \"t\" (\"a\")",
    };
    let events = Events::default();
    migrator(mode, &db, set(vec![hand("0000_ix", &[statement])]))
        .await
        .run(&events.sink())
        .await
        .unwrap();
    assert!(
        events.any(|e| matches!(e, Event::RebuildingIndex { index, .. } if index == "t_a_key"))
    );
    let found = introspect::introspect(&mut su, &["public".to_owned()])
        .await
        .unwrap();
    assert!(found.invalid_indexes.is_empty());
    assert!(found.schema.tables["t"].indexes["t_a_key"].unique);
    drop(db);
}

/// The guard catches what breaks DSQL's one-DDL rule, and advisory locks are gone.
#[tokio::test]
async fn the_guard_rejects_two_ddl_in_one_transaction() {
    let db = TestDb::for_mode("guard_two_ddl", Mode::DsqlGuarded).await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let err =
        sqlx::raw_sql("BEGIN; CREATE TABLE x (id integer); CREATE TABLE y (id integer); COMMIT")
            .execute(&mut conn)
            .await
            .unwrap_err();
    assert!(
        err.to_string()
            .contains("multiple ddl statements not supported in a transaction"),
        "{err}"
    );
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let advisory = sqlx::query("SELECT pg_try_advisory_lock(1)")
        .execute(&mut conn)
        .await;
    assert!(
        advisory.is_err(),
        "advisory locks are not available under the guard"
    );
    drop(db);
}

/// A lease left by a runner that died is taken over once it expires, and the waiting
/// runner says who it is waiting for.
#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let db = TestDb::for_mode("lease_takeover", Mode::DsqlGuarded).await;
    let m = Migrator::new(
        Target::DsqlEmulated { url: db.url.clone() },
        set(vec![hand("0000_a", &["CREATE TABLE IF NOT EXISTS \"a\" (\"id\" integer NOT NULL, CONSTRAINT \"a_pkey\" PRIMARY KEY (\"id\"))"])]),
        MigratorOptions { lease: Duration::from_secs(3), ..MigratorOptions::default() },
    )
    .await
    .unwrap();
    m.status().await.unwrap();
    m.mark_applied("0000_a", false, None).await.unwrap(); // creates the bookkeeping tables, and the lock row
    let mut su = db.connect_setup().await;
    sqlx::raw_sql("DELETE FROM tablewright.migrations; UPDATE tablewright.migrations_lock SET holder = 'dead-runner', expires_at = now() + interval '2 seconds'")
        .execute(&mut su)
        .await
        .unwrap();
    let events = Events::default();
    let started = std::time::Instant::now();
    let report = m.run(&events.sink()).await.unwrap();
    assert_eq!(report.applied, ["0000_a"]);
    assert!(
        events.any(|e| matches!(e, Event::LockWaiting { holder, .. } if holder == "dead-runner"))
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "took over before the lease expired"
    );
    drop(db);
}

#[test]
fn the_example_folder_reads_as_a_migration_set() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let set = MigrationSet::from_folder(&dir).unwrap();
    assert_eq!(set.migrations[0].tag, "0000_init");
    assert_eq!(set.migrations[0].statements.len(), 10);
}

/// Hand-written statements get check-dsql's treatment under DSQL's rules: a plain index is
/// rewritten to ASYNC, RLS and transaction control are skipped, each with a warning; an
/// ERROR statement is refused before anything runs.
#[tokio::test]
async fn dsql_rewrites_skips_and_refuses_hand_written_statements() {
    let db = TestDb::for_mode("treatment", Mode::DsqlGuarded).await;
    let written = hand(
        "0000_hand",
        &[
            "BEGIN",
            "CREATE TABLE IF NOT EXISTS \"t\" (\"id\" bigint NOT NULL, \"a\" text, CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\"))",
            "CREATE INDEX t_a_idx ON t (a)",
            "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
            "COMMIT",
        ],
    );
    let events = Events::default();
    migrator(Mode::DsqlGuarded, &db, set(vec![written.clone()]))
        .await
        .run(&events.sink())
        .await
        .unwrap();
    assert!(events.any(
        |e| matches!(e, Event::Rewritten { number: 3, sql, .. } if sql.contains("INDEX ASYNC"))
    ));
    let skipped: Vec<usize> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| {
            if let Event::Skipped { number, .. } = e {
                Some(*number)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(skipped, [1, 4, 5]);
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let rls: bool = sqlx::query_scalar("SELECT relrowsecurity FROM pg_class WHERE relname = 't'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!rls, "the RLS statement was skipped");
    assert!(
        catalog(&db).await.0.tables["t"]
            .indexes
            .contains_key("t_a_idx")
    );

    let refused = hand(
        "0001_bad",
        &[
            "CREATE TABLE IF NOT EXISTS \"u\" (\"id\" bigint NOT NULL)",
            "TRUNCATE \"t\"",
        ],
    );
    let err = migrator(Mode::DsqlGuarded, &db, set(vec![written, refused]))
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(matches!(&err, RunError::Refused { number: 2, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("TRUNCATE is not supported in DSQL"),
        "{err}"
    );
    assert!(
        !catalog(&db).await.0.tables.contains_key("u"),
        "nothing ran before the refusal"
    );
}

in_both_modes!(
    a_failed_unique_index_leaves_nothing_half_built,
    a_failed_validation_leaves_nothing_half_built
);

/// A unique index over duplicate rows fails the run with the offending key, and leaves
/// no index behind (PostgreSQL's CONCURRENTLY, like a failed DSQL job, would leave an
/// INVALID one that `IF NOT EXISTS` then accepts); after the fix, a rerun builds it.
async fn a_failed_unique_index_leaves_nothing_half_built(mode: Mode) {
    let db = TestDb::for_mode("unique_fails", mode).await;
    let mut su = db.connect_setup().await;
    sqlx::raw_sql("CREATE TABLE t (id integer PRIMARY KEY, code text); INSERT INTO t VALUES (1, 'x'), (2, 'x'), (3, 'y')").execute(&mut su).await.unwrap();
    let statement = match mode {
        Mode::Postgres => {
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"t_code_key\" ON \"t\" (\"code\")"
        }
        Mode::DsqlGuarded => {
            "CREATE UNIQUE INDEX ASYNC IF NOT EXISTS \"t_code_key\" ON \"t\" (\"code\")"
        }
    };
    let migrations = || {
        set(vec![hand(
            "0000_t",
            &["ALTER TABLE \"t\" ADD COLUMN \"note\" text", statement],
        )])
    };
    let index_exists = "SELECT count(*) FROM pg_class WHERE relname = 't_code_key'";
    for attempt in ["first run", "rerun over the same duplicates"] {
        let events = Events::default();
        let err = migrator(mode, &db, migrations())
            .await
            .run(&events.sink())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RunError::Statement { number: 2, .. }),
            "{attempt}: {err}"
        );
        assert!(
            err.to_string().contains("Key (code)=(x) is duplicated"),
            "{attempt}: the error names the duplicate: {err}"
        );
        let left: i64 = sqlx::query_scalar(index_exists)
            .fetch_one(&mut su)
            .await
            .unwrap();
        assert_eq!(left, 0, "{attempt}: no index is left behind");
        if mode == Mode::Postgres {
            assert!(
                events.any(
                    |e| matches!(e, Event::Removed { what, .. } if what.contains("t_code_key"))
                ),
                "{attempt}: the INVALID index was dropped"
            );
        }
    }
    sqlx::raw_sql("UPDATE t SET code = 'z' WHERE id = 2")
        .execute(&mut su)
        .await
        .unwrap();
    migrator(mode, &db, migrations())
        .await
        .run(&|_| {})
        .await
        .unwrap();
    let found = introspect::introspect(&mut su, &["public".to_owned()])
        .await
        .unwrap();
    assert!(found.invalid_indexes.is_empty());
    assert!(found.schema.tables["t"].indexes["t_code_key"].unique);
    drop(su);
    drop(db);
}

/// A CHECK or FOREIGN KEY that existing rows violate fails its validation with the
/// database's details; the constraint added NOT VALID just before is dropped again and
/// the migration set back to it, so a rerun after the fix adds and validates it anew.
async fn a_failed_validation_leaves_nothing_half_built(mode: Mode) {
    let db = TestDb::for_mode("validation_fails", mode).await;
    let mut su = db.connect_setup().await;
    sqlx::raw_sql(
        "CREATE TABLE p (id integer PRIMARY KEY); INSERT INTO p VALUES (1); \
         CREATE TABLE t (id integer PRIMARY KEY, pages integer, p_id integer); INSERT INTO t VALUES (1, 10, 1), (2, -1, 7)",
    )
    .execute(&mut su)
    .await
    .unwrap();
    let validate = if mode == Mode::DsqlGuarded {
        "ALTER TABLE ASYNC"
    } else {
        "ALTER TABLE"
    };
    let cases = [
        (
            "t_pages_check",
            "CHECK (\"pages\" > 0)",
            "violated by some row",
            "UPDATE t SET pages = 1 WHERE pages <= 0",
        ),
        (
            "t_p_id_fkey",
            "FOREIGN KEY (\"p_id\") REFERENCES \"p\"(\"id\")",
            "Key (p_id)=(7) is not present in table \"p\"",
            "INSERT INTO p VALUES (7)",
        ),
    ];
    let mut earlier: Vec<LocalMigration> = Vec::new();
    for (i, (name, body, detail, fix)) in cases.into_iter().enumerate() {
        let add = format!("ALTER TABLE \"t\" ADD CONSTRAINT \"{name}\" {body} NOT VALID");
        let check = format!("{validate} \"t\" VALIDATE CONSTRAINT \"{name}\"");
        let tag = format!("000{i}_{name}");
        let this = hand(&tag, &[&add, &check]);
        let migrations = || set(earlier.iter().cloned().chain([this.clone()]).collect());
        let events = Events::default();
        let err = migrator(mode, &db, migrations())
            .await
            .run(&events.sink())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RunError::Statement { number: 2, .. }),
            "{name}: {err}"
        );
        assert!(
            err.to_string().contains(detail),
            "{name}: the error has the details: {err}"
        );
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_constraint WHERE conname = $1")
            .bind(name)
            .fetch_one(&mut su)
            .await
            .unwrap();
        assert_eq!(
            left, 0,
            "{name}: the NOT VALID constraint is not left behind"
        );
        // Recorded as failed at the validation, with the rerun set to start at the
        // ADD CONSTRAINT: on PostgreSQL the transaction rolled both back, on DSQL the
        // constraint was dropped.
        let status = migrator(mode, &db, migrations())
            .await
            .status()
            .await
            .unwrap();
        assert_eq!(status.failed.len(), 1, "{name}: {status:?}");
        assert_eq!(
            (status.failed[0].statement, status.failed[0].done),
            (2, 0),
            "{name}: {status:?}"
        );
        if mode == Mode::DsqlGuarded {
            assert!(
                events.any(|e| matches!(e, Event::Removed { what, .. } if what.contains(name))),
                "{name}: the removal is reported"
            );
        }
        sqlx::raw_sql(AssertSqlSafe(fix))
            .execute(&mut su)
            .await
            .unwrap();
        migrator(mode, &db, migrations())
            .await
            .run(&|_| {})
            .await
            .unwrap_or_else(|e| panic!("{name}: rerun after the fix: {e}"));
        let validated: bool =
            sqlx::query_scalar("SELECT convalidated FROM pg_constraint WHERE conname = $1")
                .bind(name)
                .fetch_one(&mut su)
                .await
                .unwrap();
        assert!(validated, "{name}: added and validated on the rerun");
        earlier.push(this);
    }
    drop(su);
    drop(db);
}

in_both_modes!(a_history_table_from_before_the_batch_columns_is_upgraded);

/// A database migrated by a release whose history table had no batch-progress columns:
/// `status` reads it as it is (changing nothing), and the next `migrate` adds the columns.
async fn a_history_table_from_before_the_batch_columns_is_upgraded(mode: Mode) {
    let db = TestDb::for_mode("history_upgrade", mode).await;
    let first = hand(
        "0000_a",
        &[
            "CREATE TABLE IF NOT EXISTS \"a\" (\"id\" integer NOT NULL, CONSTRAINT \"a_pkey\" PRIMARY KEY (\"id\"))",
        ],
    );
    let second = hand(
        "0001_b",
        &[
            "CREATE TABLE IF NOT EXISTS \"b\" (\"id\" integer NOT NULL, CONSTRAINT \"b_pkey\" PRIMARY KEY (\"id\"))",
        ],
    );
    let mut su = db.connect_setup().await;
    // The bookkeeping as the earlier release made it, with 0000_a applied.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA tablewright; \
         CREATE TABLE tablewright.migrations (tag text NOT NULL, hash text NOT NULL, created_at bigint NOT NULL, status text NOT NULL, \
           next_statement integer NOT NULL, statements integer NOT NULL, started_at timestamp with time zone DEFAULT now() NOT NULL, \
           applied_at timestamp with time zone, CONSTRAINT migrations_pkey PRIMARY KEY (tag)); \
         CREATE TABLE tablewright.migrations_lock (id text NOT NULL, holder text NOT NULL, acquired_at timestamp with time zone NOT NULL, \
           expires_at timestamp with time zone NOT NULL, CONSTRAINT migrations_lock_pkey PRIMARY KEY (id)); \
         CREATE TABLE a (id integer NOT NULL, CONSTRAINT a_pkey PRIMARY KEY (id)); \
         INSERT INTO tablewright.migrations VALUES ('0000_a', '{}', 0, 'applied', 1, 1, now(), now())",
        first.hash
    )))
    .execute(&mut su)
    .await
    .unwrap();
    let columns = "SELECT count(*) FROM pg_attribute WHERE attrelid = 'tablewright.migrations'::regclass AND attname IN ('copy_cursor', 'copied_rows')";

    let status = migrator(mode, &db, set(vec![first.clone(), second.clone()]))
        .await
        .status()
        .await
        .unwrap();
    assert_eq!(
        (status.applied.len(), status.pending.as_slice()),
        (1, ["0001_b".to_owned()].as_slice())
    );
    assert_eq!(
        sqlx::query_scalar::<_, i64>(columns)
            .fetch_one(&mut su)
            .await
            .unwrap(),
        0,
        "status changes nothing"
    );

    let report = migrator(mode, &db, set(vec![first, second]))
        .await
        .run(&|_| {})
        .await
        .unwrap();
    assert_eq!(report.applied, ["0001_b"]);
    assert_eq!(
        sqlx::query_scalar::<_, i64>(columns)
            .fetch_one(&mut su)
            .await
            .unwrap(),
        2,
        "migrate added the batch columns"
    );
    drop(su);
    drop(db);
}

/// What a database holds outside the system schemas, and who may use it: the schemas with
/// their owners, grants and comments, every relation, function, type and extension, the
/// event triggers, and the database's own owner, grants and tablespace.
async fn fingerprint(db: &TestDb) -> String {
    let mut conn = PgConnection::connect(db.admin_db_url.as_deref().unwrap_or(&db.url))
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
            SELECT format('schema %s owner %s acl %s comment %s', nspname, nspowner::regrole, nspacl, obj_description(oid, 'pg_namespace')) FROM pg_namespace
            UNION ALL SELECT format('relation %s.%s %s', n.nspname, c.relname, c.relkind) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
            UNION ALL SELECT format('function %s acl %s', p.oid::regprocedure, p.proacl) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
            UNION ALL SELECT format('type %s.%s', n.nspname, t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
            UNION ALL SELECT format('advisory lock function %s acl %s', p.oid::regprocedure, p.proacl) FROM pg_proc p WHERE p.proname LIKE 'pg%advisory%'
            UNION ALL SELECT format('extension %s', extname) FROM pg_extension
            UNION ALL SELECT format('event trigger %s %s', evtname, evtenabled) FROM pg_event_trigger
            UNION ALL SELECT format('database owner %s acl %s tablespace %s', datdba::regrole, datacl, dattablespace) FROM pg_database WHERE datname = current_database()
        ) f(x)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// The loops that reuse a database (fault sweeps, crash passes, evolution histories) rely
/// on `reset` leaving it as a new copy of its template would be, whatever a pass left.
async fn a_reset_test_database_equals_a_new_one(mode: Mode) {
    let fresh = TestDb::for_mode("reset_fresh", mode).await;
    let used = TestDb::for_mode("reset_used", mode).await;
    let expected = fingerprint(&fresh).await;
    assert_eq!(
        fingerprint(&used).await,
        expected,
        "{mode:?}: two new copies of a template are alike"
    );
    let (dir, _) = fixture(mode, &[V1, V2]);
    migrator(mode, &used, MigrationSet::from_folder(dir.path()).unwrap())
        .await
        .run(&|_| {})
        .await
        .unwrap();
    let mut setup = used.connect_setup().await;
    sqlx::raw_sql("CREATE SCHEMA elsewhere; CREATE TABLE elsewhere.x (id integer); CREATE SEQUENCE public.s; CREATE TYPE public.mood AS ENUM ('ok'); REVOKE USAGE ON SCHEMA public FROM PUBLIC")
        .execute(&mut setup)
        .await
        .unwrap();
    // A session left behind holding a lock, as a killed runner's can be.
    let mut held = used.connect().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE books IN ACCESS EXCLUSIVE MODE")
        .execute(&mut held)
        .await
        .unwrap();
    assert_ne!(
        fingerprint(&used).await,
        expected,
        "{mode:?}: the migrations and the setup changed the database"
    );
    used.reset().await;
    assert_eq!(
        fingerprint(&used).await,
        expected,
        "{mode:?}: a reset database equals a new copy"
    );
    // And it works as a new one: the migrations apply again, under the guard's rules.
    let report = migrator(mode, &used, MigrationSet::from_folder(dir.path()).unwrap())
        .await
        .run(&|_| {})
        .await
        .unwrap();
    assert_eq!(report.applied.len(), 2, "{mode:?}: {report:?}");
    if mode == Mode::DsqlGuarded {
        let mut conn = used.connect().await;
        let two_ddl = sqlx::raw_sql(
            "BEGIN; CREATE TABLE a (id integer); CREATE TABLE b (id integer); COMMIT",
        )
        .execute(&mut conn)
        .await;
        assert!(
            two_ddl.is_err(),
            "the guard still refuses two DDL statements in one transaction"
        );
    }
}

in_both_modes!(a_reset_test_database_equals_a_new_one);

/// On a server without `pg_sequence` (DSQL does not document it), an identity's kind,
/// start and increment are read from `information_schema`, and what is not read is said.
#[tokio::test]
async fn identities_are_read_without_pg_sequence() {
    let db = TestDb::create("identity_without_pg_sequence").await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 5 INCREMENT BY 2 CACHE 65536) PRIMARY KEY, n bigint GENERATED BY DEFAULT AS IDENTITY)")
        .execute(&mut conn)
        .await
        .unwrap();
    let with = introspect::introspect(&mut conn, &["public".to_owned()])
        .await
        .unwrap();
    let without = introspect::introspect_with(&mut conn, &["public".to_owned()], false)
        .await
        .unwrap();
    let identity = |found: &introspect::Introspected, column: &str| {
        found.schema.tables["t"]
            .column(column)
            .unwrap()
            .identity
            .clone()
            .unwrap()
    };
    use tablewright_core::schema::model::Identity;
    assert_eq!(
        identity(&with, "id"),
        Identity {
            always: true,
            start: Some(5),
            increment: Some(2),
            cache: Some(65536)
        }
    );
    assert_eq!(
        identity(&without, "id"),
        Identity {
            always: true,
            start: Some(5),
            increment: Some(2),
            cache: None
        }
    );
    assert_eq!(identity(&without, "n"), Identity::default());
    assert!(
        without
            .unmodelled
            .iter()
            .any(|u| u.note.contains("no pg_sequence")),
        "{:?}",
        without.unmodelled
    );
    assert!(
        !with
            .unmodelled
            .iter()
            .any(|u| u.note.contains("no pg_sequence"))
    );
    let _ = conn.close().await;
}
