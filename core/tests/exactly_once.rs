//! The runner's exactly-once promise, state by state, in both modes (plain PostgreSQL, and
//! DSQL's rules under the DSQL guard as a non-superuser): a failed statement stays failed,
//! an edit to what ran is refused, an interrupted statement is settled from the catalog, a
//! lost lock stops the runner before its next write, a timeout cancels what is in flight,
//! DSQL's row limit holds in the emulation, bad input is refused before anything runs,
//! and `migrate`, `--dry-run` and `status` agree on every state.

mod common;

use common::{Mode, TestDb, hand, target};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tablewright_core::project::hash::sha256_hex;
use tablewright_core::runner::{
    Classified as _, ErrorClass, Event, LocalMigration, MigrationSet, Migrator, MigratorOptions,
    RunError,
};

fn set(migrations: Vec<LocalMigration>) -> MigrationSet {
    MigrationSet {
        migrations,
        origin: "test".into(),
        drizzle: None,
    }
}

fn options() -> MigratorOptions {
    MigratorOptions {
        lease: Duration::from_secs(2),
        ..MigratorOptions::default()
    }
}

async fn migrator(mode: Mode, db: &TestDb, migrations: Vec<LocalMigration>) -> Migrator {
    Migrator::new(target(mode, &db.url), set(migrations), options())
        .await
        .unwrap()
}

/// Records events so tests can assert on them.
#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Events {
    fn sink(&self) -> impl Fn(Event) + '_ {
        |e| self.0.lock().unwrap().push(e)
    }

    /// `(tag, first statement)` of every migration the run started.
    fn started(&self) -> BTreeMap<String, usize> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| {
                if let Event::MigrationStarted {
                    tag, resume_from, ..
                } = e
                {
                    Some((tag.clone(), *resume_from))
                } else {
                    None
                }
            })
            .collect()
    }

    fn find<T>(&self, f: impl Fn(&Event) -> Option<T>) -> Vec<T> {
        self.0.lock().unwrap().iter().filter_map(f).collect()
    }
}

async fn scalar(db: &TestDb, sql: &str) -> String {
    let mut conn = PgConnection::connect(db.admin_db_url.as_deref().unwrap_or(&db.url))
        .await
        .unwrap();
    sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(format!("SELECT ({sql})::text")))
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .unwrap_or_default()
}

/// An index built the way the mode builds indexes outside a transaction.
fn index_statement(mode: Mode, name: &str, table: &str, column: &str) -> String {
    let how = match mode {
        Mode::Postgres => "CONCURRENTLY",
        Mode::DsqlGuarded => "ASYNC",
    };
    format!("CREATE INDEX {how} IF NOT EXISTS \"{name}\" ON \"{table}\" (\"{column}\")")
}

const AUDIT: &str = "CREATE TABLE IF NOT EXISTS \"audit\" (\"n\" integer NOT NULL, CONSTRAINT \"audit_pkey\" PRIMARY KEY (\"n\"))";

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
    an_interrupted_index_build_is_checked_for_validity,
    a_failed_statement_stays_failed_until_the_file_is_fixed,
    an_edit_to_the_part_that_ran_is_refused_and_a_fix_of_the_failed_statement_resumes,
    bad_input_is_refused_before_anything_runs,
    a_timeout_cancels_the_data_statement_in_flight_and_a_rerun_applies_it_once,
    an_interrupted_statement_is_settled_from_the_catalog,
    migrate_dry_run_and_status_agree_on_every_state,
    mark_applied_on_a_stopped_migration_says_which_statements_never_ran,
    an_invalid_index_in_another_schema_is_left_alone,
);

/// A statement the database refuses (a typo in a table name, 42P01) fails the run and is
/// recorded as failed; every rerun fails the same way (it is never taken as applied);
/// after the fix the rerun runs each remaining statement once.
async fn a_failed_statement_stays_failed_until_the_file_is_fixed(mode: Mode) {
    let db = TestDb::for_mode("stays_failed", mode).await;
    let broken = hand(
        "0000_m",
        &[
            AUDIT,
            "INSERT INTO \"audti\" (\"n\") VALUES (1)",
            "INSERT INTO \"audit\" (\"n\") VALUES (2)",
        ],
    );
    // On PostgreSQL the failed transaction took statement 1 with it; on DSQL it stays done.
    let done = if mode == Mode::Postgres { 0 } else { 1 };
    let mut first_error = None;
    for attempt in ["first run", "rerun", "another rerun"] {
        let err = migrator(mode, &db, vec![broken.clone()])
            .await
            .run(&|_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RunError::Statement { number: 2, .. }),
            "{attempt}: {err}"
        );
        assert_eq!(err.class(), ErrorClass::Run, "{attempt}: exit 3");
        assert!(
            err.to_string().contains("SQLSTATE 42P01"),
            "{attempt}: {err}"
        );
        let text = err.to_string();
        assert_eq!(
            first_error.get_or_insert_with(|| text.clone()),
            &text,
            "{attempt}: the same error every time"
        );
        let status = migrator(mode, &db, vec![broken.clone()])
            .await
            .status()
            .await
            .unwrap();
        assert!(
            status.applied.is_empty() && status.pending.is_empty(),
            "{attempt}: {status:?}"
        );
        let failed = &status.failed[0];
        assert_eq!(
            (failed.statement, failed.done, failed.code.as_deref()),
            (2, done, Some("42P01")),
            "{attempt}: {status:?}"
        );
        assert!(failed.message.contains("audti"), "{attempt}: {failed:?}");
        let plan = migrator(mode, &db, vec![broken.clone()])
            .await
            .plan()
            .await
            .unwrap();
        assert_eq!(
            plan[0].resume_from, done,
            "{attempt}: the dry run starts where the run will"
        );
    }
    let exists = if mode == Mode::Postgres {
        "false"
    } else {
        "true"
    };
    assert_eq!(
        scalar(&db, "SELECT to_regclass('audit') IS NOT NULL").await,
        exists,
        "statement 1 ran once, or was rolled back"
    );

    let fixed = hand(
        "0000_m",
        &[
            AUDIT,
            "INSERT INTO \"audit\" (\"n\") VALUES (1)",
            "INSERT INTO \"audit\" (\"n\") VALUES (2)",
        ],
    );
    let events = Events::default();
    let report = migrator(mode, &db, vec![fixed.clone()])
        .await
        .run(&events.sink())
        .await
        .unwrap();
    assert_eq!(report.applied, ["0000_m"]);
    assert_eq!(
        events.started()["0000_m"],
        done,
        "the rerun starts at the failed statement's transaction"
    );
    let previous = events.find(|e| {
        if let Event::MigrationStarted { previous, .. } = e {
            previous.clone()
        } else {
            None
        }
    });
    assert_eq!(previous, ["statement 2 failed (SQLSTATE 42P01)"]);
    assert_eq!(
        scalar(&db, "SELECT count(*) || ' rows, sum ' || sum(n) FROM audit").await,
        "2 rows, sum 3",
        "each statement took effect once"
    );
    let status = migrator(mode, &db, vec![fixed])
        .await
        .status()
        .await
        .unwrap();
    assert_eq!(status.applied.len(), 1);
    assert!(status.failed.is_empty());
}

/// Statements that ran are frozen: an edit to one is refused before anything runs (exit
/// 1, naming the file and the statement). Statements from the failed one on may change,
/// and fixing the failed statement is how the migration goes on.
async fn an_edit_to_the_part_that_ran_is_refused_and_a_fix_of_the_failed_statement_resumes(
    mode: Mode,
) {
    let db = TestDb::for_mode("edit_ran", mode).await;
    let index = index_statement(mode, "audit_n_idx", "audit", "n");
    let version = |first: &str, third: &str| {
        hand(
            "0000_m",
            &[
                first,
                &index,
                third,
                "INSERT INTO \"audit\" (\"n\") VALUES (2)",
            ],
        )
    };
    let broken = version(AUDIT, "INSERT INTO \"audti\" (\"n\") VALUES (1)");
    let err = migrator(mode, &db, vec![broken.clone()])
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Statement { number: 3, .. }),
        "{err}"
    );
    let status = migrator(mode, &db, vec![broken])
        .await
        .status()
        .await
        .unwrap();
    assert_eq!(
        (status.failed[0].statement, status.failed[0].done),
        (3, 2),
        "{status:?}"
    );

    // Statement 1 ran: changing it is refused, and nothing runs.
    let edited_first = version(
        &AUDIT.replace(
            "\"n\" integer NOT NULL,",
            "\"n\" integer NOT NULL, \"note\" text,",
        ),
        "INSERT INTO \"audit\" (\"n\") VALUES (1)",
    );
    let err = migrator(mode, &db, vec![edited_first.clone()])
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(matches!(&err, RunError::EditedExecuted { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Check, "exit 1");
    let text = err.to_string();
    assert!(
        text.contains("0000_m.sql") && text.contains("statement 1, which ran, has changed"),
        "names the file and the statement: {text}"
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM audit").await,
        "0",
        "nothing ran"
    );
    let status = migrator(mode, &db, vec![edited_first])
        .await
        .status()
        .await
        .unwrap();
    assert_eq!(status.edited_in_progress.len(), 1, "{status:?}");
    assert!(status.has_problems());

    // The failed statement fixed: the run resumes there.
    let fixed = version(AUDIT, "INSERT INTO \"audit\" (\"n\") VALUES (1)");
    let events = Events::default();
    migrator(mode, &db, vec![fixed])
        .await
        .run(&events.sink())
        .await
        .unwrap();
    assert_eq!(events.started()["0000_m"], 2);
    assert_eq!(
        scalar(&db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM audit").await,
        "1,2"
    );
}

/// A duplicated journal entry, transaction control inside a chunk, and (under DSQL's
/// rules) two statements in one chunk stop the run before its first statement; a file
/// with a byte-order mark applies.
async fn bad_input_is_refused_before_anything_runs(mode: Mode) {
    let db = TestDb::for_mode("bad_input", mode).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("meta")).unwrap();
    let entry = |tag: &str| {
        format!(
            "{{\"idx\":0,\"version\":\"7\",\"when\":0,\"tag\":\"{tag}\",\"breakpoints\":true,\"hash\":\"\"}}"
        )
    };
    std::fs::write(
        dir.path().join("0000_a.sql"),
        "CREATE TABLE IF NOT EXISTS \"a\" (\"id\" integer NOT NULL)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("meta/_journal.json"),
        format!(
            "{{\"version\":\"7\",\"dialect\":\"postgresql\",\"entries\":[{},{}]}}",
            entry("0000_a"),
            entry("0000_a")
        ),
    )
    .unwrap();
    let err = MigrationSet::from_folder(dir.path()).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input, "exit 2");
    assert!(
        err.to_string().contains("entry `0000_a` appears 2 times"),
        "{err}"
    );

    let commit_inside = hand(
        "0000_c",
        &[
            "CREATE TABLE IF NOT EXISTS \"c\" (\"id\" integer NOT NULL);\nCOMMIT;\nINSERT INTO \"c\" VALUES (1)",
        ],
    );
    let err = migrator(mode, &db, vec![commit_inside])
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(matches!(&err, RunError::Refused { number: 1, .. }), "{err}");
    assert!(err.to_string().contains("transaction control"), "{err}");
    assert_eq!(err.class(), ErrorClass::Input);
    assert_eq!(
        scalar(&db, "SELECT to_regclass('c') IS NULL").await,
        "true",
        "nothing ran"
    );
    // `COMMIT` in a string or a comment is no transaction control.
    let quoted = hand(
        "0000_q",
        &[
            "CREATE TABLE IF NOT EXISTS \"q\" (\"note\" text DEFAULT 'COMMIT; ROLLBACK' NOT NULL) -- COMMIT",
        ],
    );
    migrator(mode, &db, vec![quoted.clone()])
        .await
        .run(&|_| {})
        .await
        .unwrap();

    // Session state would not survive a resumed run.
    let session = hand(
        "0001_session",
        &[
            "SET search_path TO app",
            "CREATE TABLE IF NOT EXISTS \"s\" (\"id\" integer NOT NULL)",
        ],
    );
    let err = migrator(mode, &db, vec![quoted.clone(), session])
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Refused { number: 1, .. })
            && err.to_string().contains("changes the session"),
        "{err}"
    );
    // What cannot run in a transaction needs a chunk of its own.
    let index = index_statement(mode, "q_note_idx", "q", "note");
    let crowded = hand("0001_crowded", &[&format!("{index};\nSELECT 1")]);
    let err = migrator(mode, &db, vec![quoted.clone(), crowded])
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(matches!(&err, RunError::Refused { .. }), "{err}");

    if mode == Mode::DsqlGuarded {
        let two = hand(
            "0001_two",
            &[
                "CREATE TABLE IF NOT EXISTS \"x\" (\"id\" integer NOT NULL); CREATE TABLE IF NOT EXISTS \"y\" (\"id\" integer NOT NULL)",
            ],
        );
        let err = migrator(mode, &db, vec![quoted.clone(), two])
            .await
            .run(&|_| {})
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("2 statements in one chunk"),
            "{err}"
        );
        assert_eq!(
            scalar(&db, "SELECT to_regclass('x') IS NULL").await,
            "true",
            "nothing ran"
        );
        // CONCURRENTLY runs as ASYNC, as check-dsql says, rather than being refused.
        let concurrently = hand(
            "0001_concurrently",
            &["CREATE INDEX CONCURRENTLY IF NOT EXISTS \"q_note_idx\" ON \"q\" (\"note\")"],
        );
        let events = Events::default();
        migrator(mode, &db, vec![quoted.clone(), concurrently])
            .await
            .run(&events.sink())
            .await
            .unwrap();
        let rewritten = events.find(|e| {
            if let Event::Rewritten { sql, .. } = e {
                Some(sql.clone())
            } else {
                None
            }
        });
        assert!(
            rewritten.len() == 1 && rewritten[0].contains("ASYNC"),
            "{rewritten:?}"
        );
        assert_eq!(
            scalar(
                &db,
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'q_note_idx'"
            )
            .await,
            "1"
        );
        return;
    }

    let bom = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bom.path().join("meta")).unwrap();
    std::fs::write(bom.path().join("0000_bom.sql"), "\u{feff}CREATE TABLE IF NOT EXISTS \"bom\" (\"id\" integer NOT NULL)\r\n--> statement-breakpoint\r\nINSERT INTO \"bom\" VALUES (1)\r\n").unwrap();
    std::fs::write(
        bom.path().join("meta/_journal.json"),
        format!(
            "{{\"version\":\"7\",\"dialect\":\"postgresql\",\"entries\":[{}]}}",
            entry("0000_bom")
        ),
    )
    .unwrap();
    let from_bom = MigrationSet::from_folder(bom.path()).unwrap();
    assert!(
        from_bom.migrations[0].statements[0].starts_with("CREATE"),
        "the BOM is not sent"
    );
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other.path().join("meta")).unwrap();
    std::fs::write(other.path().join("0000_bom.sql"), "CREATE TABLE IF NOT EXISTS \"bom\" (\"id\" integer NOT NULL)\n--> statement-breakpoint\nINSERT INTO \"bom\" VALUES (1)\n").unwrap();
    std::fs::copy(
        bom.path().join("meta/_journal.json"),
        other.path().join("meta/_journal.json"),
    )
    .unwrap();
    assert_eq!(
        MigrationSet::from_folder(other.path()).unwrap().migrations[0].hash,
        from_bom.migrations[0].hash,
        "BOM and CRLF do not change the hash"
    );
    let mut with_bom = set(vec![quoted]);
    with_bom.migrations.extend(from_bom.migrations);
    Migrator::new(target(mode, &db.url), with_bom, options())
        .await
        .unwrap()
        .run(&|_| {})
        .await
        .unwrap();
    assert_eq!(scalar(&db, "SELECT count(*) FROM bom").await, "1");
}

/// `--timeout` during a long data statement cancels it on the server and waits for it to
/// end before the lock is released; an immediate rerun applies it exactly once.
async fn a_timeout_cancels_the_data_statement_in_flight_and_a_rerun_applies_it_once(mode: Mode) {
    let db = TestDb::for_mode("timeout_once", mode).await;
    let slow = hand(
        "0000_slow",
        &[
            AUDIT,
            "INSERT INTO \"audit\" (\"n\") SELECT g FROM generate_series(1, 5) g WHERE pg_sleep(0.5) IS NOT NULL",
        ],
    );
    let bounded = MigratorOptions {
        timeout: Some(Duration::from_millis(1500)),
        ..options()
    };
    let started = std::time::Instant::now();
    let timed_out = Migrator::new(target(mode, &db.url), set(vec![slow.clone()]), bounded)
        .await
        .unwrap();
    let err = timed_out.run(&|_| {}).await.unwrap_err();
    assert!(
        matches!(&err, RunError::Timeout { what, .. } if what.contains("ended on the server")),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "the statement was cancelled, not waited for ({:?})",
        started.elapsed()
    );
    let status = timed_out.status().await.unwrap();
    if mode == Mode::DsqlGuarded {
        // Statement 1 committed alone: the timeout fell inside statement 2.
        assert_eq!(
            status.in_progress[0].done, 1,
            "the insert was in flight: {status:?}"
        );
    } else {
        assert_eq!(
            status.pending.len(),
            1,
            "the migration's transaction rolled back: {status:?}"
        );
    }
    assert_eq!(scalar(&db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep(0.5)%' AND pid <> pg_backend_pid()").await, "0", "nothing of it runs on");
    let events = Events::default();
    migrator(mode, &db, vec![slow])
        .await
        .run(&events.sink())
        .await
        .unwrap();
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM audit").await,
        "5",
        "applied once"
    );
}

/// The outcome of a statement a run was interrupted in is read off the catalog: its
/// effect in place means it took effect (it is not run again, and no "already exists" is
/// taken on trust), the state before it means it did not (it runs), and anything else
/// stops the run until `mark-applied --through` says which.
async fn an_interrupted_statement_is_settled_from_the_catalog(mode: Mode) {
    let db = TestDb::for_mode("settled", mode).await;
    let create = "CREATE TABLE IF NOT EXISTS \"t\" (\"id\" integer NOT NULL, \"a\" text, CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\"))";
    // Statements that commit alone: a rename under DSQL's rules, an index built
    // concurrently on PostgreSQL.
    let (second, third, effect) = match mode {
        Mode::DsqlGuarded => (
            "ALTER TABLE \"t\" RENAME COLUMN \"a\" TO \"b\"",
            "ALTER TABLE \"t\" ADD COLUMN \"c\" text",
            "ALTER TABLE t RENAME COLUMN a TO b",
        ),
        Mode::Postgres => (
            "CREATE INDEX CONCURRENTLY \"t_a_idx\" ON \"t\" (\"a\")",
            "CREATE INDEX CONCURRENTLY \"t_id_idx\" ON \"t\" (\"id\")",
            "CREATE INDEX t_a_idx ON t (a)",
        ),
    };
    let m = hand("0000_m", &[create, second, third]);
    let hashes: Vec<String> = m
        .statements
        .iter()
        .map(|s| sha256_hex(s.as_bytes()))
        .collect();
    // The session that ran it is still connected: the run must end it first.
    let mut victim = PgConnection::connect(&db.url).await.unwrap();
    let (pid, started): (i32, String) = sqlx::query_as("SELECT pid, extract(epoch FROM backend_start)::text FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetch_one(&mut victim).await.unwrap();
    let interrupt = async |at: usize| {
        let mut su = db.connect_setup().await;
        let recorded = serde_json::to_string(&hashes[..=at]).unwrap();
        sqlx::query("UPDATE tablewright.migrations SET status = 'executing', next_statement = $1, statement_hashes = $2, session = $3 WHERE tag = '0000_m'")
            .bind(at as i32)
            .bind(recorded)
            .bind(format!("{pid}@{started}"))
            .execute(&mut su)
            .await
            .unwrap();
    };
    // Statement 2 took effect before the interruption.
    migrator(mode, &db, vec![m.clone()])
        .await
        .mark_applied("0000_m", false, Some(1))
        .await
        .unwrap();
    let mut su = db.connect_setup().await;
    sqlx::raw_sql(AssertSqlSafe(format!("{create}; {effect}")))
        .execute(&mut su)
        .await
        .unwrap();
    interrupt(1).await;
    let status = migrator(mode, &db, vec![m.clone()])
        .await
        .status()
        .await
        .unwrap();
    assert!(status.in_progress[0].interrupted, "{status:?}");
    let events = Events::default();
    migrator(mode, &db, vec![m.clone()])
        .await
        .run(&events.sink())
        .await
        .unwrap();
    let settled = events.find(|e| {
        if let Event::Settled {
            number,
            took_effect,
            how,
            ..
        } = e
        {
            Some((*number, *took_effect, how.clone()))
        } else {
            None
        }
    });
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!((settled[0].0, settled[0].1), (2, true), "{settled:?}");
    assert!(
        settled[0].2.contains("the catalog shows its effect"),
        "{settled:?}"
    );
    assert!(
        sqlx::query("SELECT 1").execute(&mut victim).await.is_err(),
        "the session that ran it was ended first"
    );

    // Statement 3 did not take effect before the interruption: it runs, once.
    let db2 = TestDb::for_mode("settled_not", mode).await;
    let runner = migrator(mode, &db2, vec![m.clone()]).await;
    runner.mark_applied("0000_m", false, Some(2)).await.unwrap();
    let mut su = db2.connect_setup().await;
    sqlx::raw_sql(AssertSqlSafe(format!("{create}; {effect}")))
        .execute(&mut su)
        .await
        .unwrap();
    let mut su2 = db2.connect_setup().await;
    let recorded = serde_json::to_string(&hashes).unwrap();
    sqlx::query("UPDATE tablewright.migrations SET status = 'executing', next_statement = 2, statement_hashes = $1 WHERE tag = '0000_m'").bind(recorded).execute(&mut su2).await.unwrap();
    let events = Events::default();
    runner.run(&events.sink()).await.unwrap();
    let settled = events.find(|e| {
        if let Event::Settled {
            number,
            took_effect,
            ..
        } = e
        {
            Some((*number, *took_effect))
        } else {
            None
        }
    });
    assert_eq!(settled, [(3, false)]);
    let third_effect = match mode {
        Mode::DsqlGuarded => {
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'"
        }
        Mode::Postgres => "SELECT count(*) FROM pg_indexes WHERE indexname = 't_id_idx'",
    };
    assert_eq!(scalar(&db2, third_effect).await, "1");

    // Half of a statement's effect: the run stops and says how to resolve it.
    let db3 = TestDb::for_mode("settled_unknown", mode).await;
    let u = hand(
        "0000_u",
        &["CREATE TABLE \"u\" (\"x\" integer, \"y\" integer)"],
    );
    let runner = migrator(mode, &db3, vec![u.clone()]).await;
    runner.mark_applied("0000_u", false, Some(0)).await.unwrap();
    let mut su = db3.connect_setup().await;
    sqlx::raw_sql("CREATE TABLE u (x integer)")
        .execute(&mut su)
        .await
        .unwrap();
    let recorded = serde_json::to_string(&[sha256_hex(u.statements[0].as_bytes())]).unwrap();
    sqlx::query("UPDATE tablewright.migrations SET status = 'executing', statement_hashes = $1 WHERE tag = '0000_u'").bind(recorded).execute(&mut su).await.unwrap();
    if mode == Mode::Postgres {
        // On PostgreSQL only statements outside a transaction are ever interrupted; this
        // one's transaction would have recorded it, so it simply did not run.
        let err = runner.run(&|_| {}).await.unwrap_err();
        assert!(
            matches!(&err, RunError::Statement { number: 1, .. }),
            "{err}"
        );
        return;
    }
    let err = runner.run(&|_| {}).await.unwrap_err();
    assert!(
        matches!(&err, RunError::UnknownOutcome { number: 1, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(
            "in place: table `public.u`, column `u.x` of type integer; not in place: column `u.y`"
        ),
        "{text}"
    );
    assert!(
        text.contains("mark-applied --file 0000_u --through 1"),
        "{text}"
    );
    assert_eq!(err.class(), ErrorClass::Run);
    // Resolved by hand: the column added, the statement marked done.
    sqlx::raw_sql("ALTER TABLE u ADD COLUMN y integer")
        .execute(&mut su)
        .await
        .unwrap();
    runner.mark_applied("0000_u", false, Some(1)).await.unwrap();
    assert_eq!(runner.status().await.unwrap().applied.len(), 1);
}

/// For every state a migration can be in, `status` reports where a run starts, `--dry-run`
/// plans that, and `migrate` does it.
async fn migrate_dry_run_and_status_agree_on_every_state(mode: Mode) {
    let db = TestDb::for_mode("agree", mode).await;
    let ok = |tag: &str, table: &str| {
        hand(
            tag,
            &[
                &format!("CREATE TABLE IF NOT EXISTS \"{table}\" (\"id\" integer NOT NULL)"),
                &format!("INSERT INTO \"{table}\" VALUES (1)"),
            ],
        )
    };
    let failing = hand("0003_failing", &[AUDIT, "INSERT INTO \"audti\" VALUES (1)"]);
    let migrations = vec![
        ok("0000_applied", "a"),
        ok("0001_marked_part", "b"),
        ok("0002_interrupted", "c"),
        failing,
        ok("0004_pending", "d"),
    ];
    let runner = migrator(mode, &db, migrations.clone()).await;
    runner
        .mark_applied("0000_applied", false, None)
        .await
        .unwrap();
    runner
        .mark_applied("0001_marked_part", false, Some(1))
        .await
        .unwrap();
    runner
        .mark_applied("0002_interrupted", false, Some(0))
        .await
        .unwrap();
    runner
        .mark_applied("0003_failing", false, Some(1))
        .await
        .unwrap();
    let hash = sha256_hex(migrations[2].statements[0].as_bytes());
    let mut su = db.connect_setup().await;
    // What the marked statements would have made, an interrupted statement, a failure.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE b (id integer); {AUDIT}; \
         UPDATE tablewright.migrations SET status = 'executing', statement_hashes = '[\"{hash}\"]' WHERE tag = '0002_interrupted'; \
         UPDATE tablewright.migrations SET status = 'failed', error_statement = 1, error_code = '42P01', error_message = 'relation \"audti\" does not exist' WHERE tag = '0003_failing'"
    )))
    .execute(&mut su)
    .await
    .unwrap();

    for round in ["with a failed migration", "after the fix"] {
        let migrations = if round == "after the fix" {
            let mut fixed = migrations.clone();
            fixed[3] = hand("0003_failing", &[AUDIT, "INSERT INTO \"audit\" VALUES (1)"]);
            fixed
        } else {
            migrations.clone()
        };
        let runner = migrator(mode, &db, migrations).await;
        let status = runner.status().await.unwrap();
        let mut from_status: BTreeMap<String, usize> = BTreeMap::new();
        from_status.extend(status.pending.iter().map(|t| (t.clone(), 0)));
        from_status.extend(status.in_progress.iter().map(|p| (p.tag.clone(), p.done)));
        from_status.extend(status.failed.iter().map(|f| (f.tag.clone(), f.done)));
        let from_plan: BTreeMap<String, usize> = runner
            .plan()
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.tag, p.resume_from))
            .collect();
        assert_eq!(from_plan, from_status, "{round}: --dry-run and status");
        let events = Events::default();
        let outcome = runner.run(&events.sink()).await;
        if round == "with a failed migration" {
            assert_eq!(
                from_status.keys().map(String::as_str).collect::<Vec<_>>(),
                [
                    "0001_marked_part",
                    "0002_interrupted",
                    "0003_failing",
                    "0004_pending"
                ]
            );
            // The run stops at the failure, so it starts all but what follows it.
            assert!(
                matches!(outcome, Err(RunError::Statement { number: 2, .. })),
                "{outcome:?}"
            );
            from_status.remove("0004_pending");
        } else {
            outcome.unwrap();
        }
        assert_eq!(events.started(), from_status, "{round}: migrate and status");
    }
    let status = migrator(mode, &db, vec![]).await.status().await;
    assert!(status.is_ok());
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM tablewright.migrations WHERE status IN ('applied', 'marked')"
        )
        .await,
        "5"
    );
}

/// `mark-applied` on a migration that stopped halfway lists the statements no run
/// executed.
async fn mark_applied_on_a_stopped_migration_says_which_statements_never_ran(mode: Mode) {
    let db = TestDb::for_mode("mark_stopped", mode).await;
    let m = hand(
        "0000_m",
        &[
            AUDIT,
            "INSERT INTO \"audti\" VALUES (1)",
            "INSERT INTO \"audit\" VALUES (2)",
        ],
    );
    let runner = migrator(mode, &db, vec![m]).await;
    runner.run(&|_| {}).await.unwrap_err();
    let report = runner.mark_applied("0000_m", false, None).await.unwrap();
    let expected: &[usize] = if mode == Mode::Postgres {
        &[1, 2, 3]
    } else {
        &[2, 3]
    };
    assert_eq!(report.never_ran, expected);
    let status = runner.status().await.unwrap();
    assert!(
        status.applied[0].marked && status.failed.is_empty(),
        "{status:?}"
    );
    // Going back over statements recorded as done is refused.
    let err = runner
        .mark_applied("0000_m", false, Some(0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already ran"), "{err}");
}

/// An INVALID index of the same name in another schema is not the migration's index: the
/// valid one in `public` is neither dropped nor rebuilt.
async fn an_invalid_index_in_another_schema_is_left_alone(mode: Mode) {
    let db = TestDb::for_mode("other_schema_index", mode).await;
    let mut su = db.connect_setup().await;
    sqlx::raw_sql("CREATE SCHEMA other; CREATE TABLE other.t (a integer); INSERT INTO other.t VALUES (1), (1); CREATE TABLE t (a integer); INSERT INTO t VALUES (1), (2)")
        .execute(&mut su)
        .await
        .unwrap();
    assert!(
        sqlx::raw_sql("CREATE UNIQUE INDEX CONCURRENTLY t_a_key ON other.t (a)")
            .execute(&mut su)
            .await
            .is_err()
    );
    let how = if mode == Mode::Postgres {
        "CONCURRENTLY"
    } else {
        "ASYNC"
    };
    let m = hand(
        "0000_ix",
        &[&format!(
            "CREATE UNIQUE INDEX {how} IF NOT EXISTS \"t_a_key\" ON \"t\" (\"a\")"
        )],
    );
    for run in ["first run", "second run"] {
        let events = Events::default();
        migrator(mode, &db, vec![m.clone()])
            .await
            .run(&events.sink())
            .await
            .unwrap();
        assert!(
            events
                .find(|e| matches!(e, Event::RebuildingIndex { .. }).then_some(()))
                .is_empty(),
            "{run}: nothing rebuilt"
        );
        let valid = "SELECT string_agg(n.nspname || ':' || i.indisvalid, ',' ORDER BY n.nspname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 't_a_key'";
        assert_eq!(scalar(&db, valid).await, "other:false,public:true", "{run}");
    }
}

/// Under DSQL's rules on a plain PostgreSQL (no guard), a data change of more than 3,000
/// rows fails the run, names the limit, and changes nothing; 2,999 rows (with the history
/// row, 3,000) pass.
#[tokio::test]
async fn a_data_change_over_dsql_row_limit_fails_in_the_emulation_and_changes_nothing() {
    let db = TestDb::create("row_limit").await;
    let mut conn = db.connect().await;
    sqlx::raw_sql("CREATE TABLE t (id integer PRIMARY KEY, v integer NOT NULL); INSERT INTO t SELECT g, 0 FROM generate_series(1, 3500) g").execute(&mut conn).await.unwrap();
    let url = db.url.clone();
    let emulated = |migrations| {
        let url = url.clone();
        async move {
            Migrator::new(
                tablewright_core::runner::Target::DsqlEmulated { url },
                set(migrations),
                options(),
            )
            .await
            .unwrap()
        }
    };
    let too_many = hand("0000_bump", &["UPDATE \"t\" SET \"v\" = \"v\" + 1"]);
    let err = emulated(vec![too_many.clone()])
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RunError::RowLimit {
                number: 1,
                rows: 3501,
                limit: 3000,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("Aurora DSQL allows at most 3000") && text.contains("backfill directive"),
        "{text}"
    );
    assert_eq!(err.class(), ErrorClass::Run);
    assert_eq!(
        scalar(&db, "SELECT sum(v) FROM t").await,
        "0",
        "nothing changed"
    );
    let status = emulated(vec![too_many]).await.status().await.unwrap();
    assert_eq!(
        status.failed[0].code.as_deref(),
        Some("54000"),
        "{status:?}"
    );
    let fits = hand(
        "0000_bump",
        &["UPDATE \"t\" SET \"v\" = \"v\" + 1 WHERE \"id\" <= 2999"],
    );
    emulated(vec![fits]).await.run(&|_| {}).await.unwrap();
    assert_eq!(scalar(&db, "SELECT sum(v) FROM t").await, "2999");
}

/// A table recreation whose lease is taken over during the copy: the old holder stops at
/// its next batch (the fence refuses it), and the new one finishes from the last committed
/// batch, copying no row twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_over_during_a_copy_stops_the_old_holder_within_one_batch() {
    let mode = Mode::DsqlGuarded;
    let v2 = common::table_v2();
    let (dir, _) = common::generated(mode.dialect(), &[common::TABLE_V1, &v2]);
    let all = MigrationSet::from_folder(dir.path()).unwrap();
    let db = TestDb::for_mode("lease_copy", mode).await;
    Migrator::new(
        target(mode, &db.url),
        MigrationSet {
            migrations: all.migrations[..1].to_vec(),
            origin: "test".into(),
            drizzle: None,
        },
        options(),
    )
    .await
    .unwrap()
    .run(&|_| {})
    .await
    .unwrap();
    let mut su = db.connect_setup().await;
    sqlx::raw_sql("INSERT INTO t (id, pages, code) SELECT g, g % 500, md5(g::text) FROM generate_series(1, 10000) g").execute(&mut su).await.unwrap();
    let checksum = "SELECT count(*) || ':' || md5(string_agg(concat_ws('|', id, pages, code), ',' ORDER BY id)) FROM t";
    let before = scalar(&db, checksum).await;

    let batches = std::sync::Arc::new(AtomicUsize::new(0));
    let admin = db.admin_db_url.clone().unwrap();
    let seen = batches.clone();
    fail::cfg_callback("runner::after_batch", move || {
        if seen.fetch_add(1, Ordering::SeqCst) == 1 {
            // Another runner takes the lock over (its lease as if expired, for the test's
            // second runner to take it in turn).
            common::execute_blocking(&admin, "UPDATE tablewright.migrations_lock SET holder = 'usurper', generation = generation + 1, expires_at = now() - interval '1 second'");
        }
    })
    .unwrap();
    let old = Migrator::new(
        target(mode, &db.url),
        all.clone(),
        MigratorOptions {
            batch_rows: 1000,
            ..options()
        },
    )
    .await
    .unwrap();
    let err = old.run(&|_| {}).await.unwrap_err();
    fail::remove("runner::after_batch");
    assert!(matches!(err, RunError::LockLost(_)), "{err}");
    assert_eq!(
        batches.load(Ordering::SeqCst),
        2,
        "the old holder stopped at the batch after the takeover"
    );
    let status = old.status().await.unwrap();
    assert_eq!(
        status.in_progress[0]
            .recreation
            .as_ref()
            .and_then(|r| r.copied_rows),
        Some(2000),
        "{status:?}"
    );

    let events = Events::default();
    Migrator::new(target(mode, &db.url), all, options())
        .await
        .unwrap()
        .run(&events.sink())
        .await
        .unwrap();
    let copied = events.find(|e| {
        if let Event::CopyProgress {
            rows, done: true, ..
        } = e
        {
            Some(*rows)
        } else {
            None
        }
    });
    assert_eq!(copied, [10_000], "the new holder went on from 2,000");
    assert_eq!(scalar(&db, checksum).await, before, "every row once");
}

/// On PostgreSQL the advisory lock lives on a connection of its own. When that connection
/// dies mid-run and another runner takes the lock, the first one stops before its next
/// write, and every migration is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_advisory_lock_connection_stops_the_run_before_its_next_write() {
    let mode = Mode::Postgres;
    let db = TestDb::for_mode("lock_conn", mode).await;
    let mut migrations = vec![hand("0000_audit", &[AUDIT])];
    for n in 1..=4 {
        migrations.push(hand(
            &format!("000{n}_insert"),
            &[&format!("INSERT INTO \"audit\" VALUES ({n})")],
        ));
    }
    let url = db.url.clone();
    let all = migrations.clone();
    type Runner = std::thread::JoinHandle<Result<Vec<String>, String>>;
    let second: std::sync::Arc<Mutex<Option<Runner>>> = Default::default();
    let handle = second.clone();
    let commits = std::sync::Arc::new(AtomicUsize::new(0));
    fail::cfg_callback("runner::after_cursor", move || {
        if commits.fetch_add(1, Ordering::SeqCst) != 0 {
            return;
        }
        // After the first migration: the lock's connection dies, and a second runner
        // starts and takes the lock while the first goes on.
        let (url, all) = (url.clone(), all.clone());
        let (killer, watcher) = (url.clone(), url.clone());
        let killed = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let mut c = PgConnection::connect(&killer).await.unwrap();
                let sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
                sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut c).await.unwrap()
            })
        })
        .join()
        .unwrap();
        assert_eq!(killed, 1, "the lock's connection was found");
        let started = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let m = Migrator::new(target(Mode::Postgres, &url), set(all), options()).await.map_err(|e| e.to_string())?;
                m.run(&|_| {}).await.map(|r| r.applied).map_err(|e| e.to_string())
            })
        });
        *handle.lock().unwrap() = Some(started);
        // The first goes on only once the second holds the lock (a new generation).
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let mut c = PgConnection::connect(&watcher).await.unwrap();
                for _ in 0..600 {
                    let generation: Option<i64> = sqlx::query_scalar("SELECT generation FROM tablewright.migrations_lock WHERE id = 'migrate-fence'").fetch_optional(&mut c).await.unwrap().flatten();
                    if generation >= Some(2) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("the second runner never took the lock");
            })
        })
        .join()
        .unwrap();
    })
    .unwrap();
    let first = Migrator::new(target(mode, &db.url), set(migrations.clone()), options())
        .await
        .unwrap();
    let result = first.run(&|_| {}).await;
    fail::remove("runner::after_cursor");
    let err = result.unwrap_err();
    assert!(
        matches!(err, RunError::LockLost(_)),
        "the first runner stopped: {err}"
    );
    let second = second
        .lock()
        .unwrap()
        .take()
        .expect("the second runner started")
        .join()
        .unwrap()
        .expect("the second runner finished");
    assert_eq!(
        second,
        ["0001_insert", "0002_insert", "0003_insert", "0004_insert"],
        "the second runner did the rest"
    );
    assert_eq!(
        scalar(&db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM audit").await,
        "1,2,3,4",
        "each migration once"
    );
}

/// An index build interrupted after the index appeared (a crash, a lost connection, a DSQL
/// job still running or failed): its existence is not enough; an INVALID index is dropped
/// and built again before the migration goes on.
async fn an_interrupted_index_build_is_checked_for_validity(mode: Mode) {
    let db = TestDb::for_mode("interrupted_index", mode).await;
    let how = if mode == Mode::Postgres {
        "CONCURRENTLY"
    } else {
        "ASYNC"
    };
    let m = hand(
        "0000_ix",
        &[
            "CREATE TABLE IF NOT EXISTS \"t\" (\"a\" integer)",
            &format!("CREATE UNIQUE INDEX {how} \"t_a_key\" ON \"t\" (\"a\")"),
        ],
    );
    let runner = migrator(mode, &db, vec![m.clone()]).await;
    runner
        .mark_applied("0000_ix", false, Some(1))
        .await
        .unwrap();
    let mut su = db.connect_setup().await;
    // What an interrupted or failed build leaves: an INVALID index of that name.
    sqlx::raw_sql("CREATE TABLE t (a integer); INSERT INTO t VALUES (1), (1)")
        .execute(&mut su)
        .await
        .unwrap();
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
    let recorded = serde_json::to_string(
        &m.statements
            .iter()
            .map(|s| sha256_hex(s.as_bytes()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    sqlx::query("UPDATE tablewright.migrations SET status = 'executing', next_statement = 1, statement_hashes = $1 WHERE tag = '0000_ix'").bind(recorded).execute(&mut su).await.unwrap();
    let events = Events::default();
    runner.run(&events.sink()).await.unwrap();
    assert_eq!(
        events.find(|e| if let Event::Settled { took_effect, .. } = e {
            Some(*took_effect)
        } else {
            None
        }),
        [true]
    );
    assert_eq!(
        events.find(|e| if let Event::RebuildingIndex { index, .. } = e {
            Some(index.clone())
        } else {
            None
        }),
        ["t_a_key"]
    );
    assert_eq!(scalar(&db, "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 't_a_key'").await, "true");
}

/// A backfill that fails halfway keeps the rows it filled; its text is then frozen like
/// the statements before it (an edit would leave rows with two different values), and the
/// run resumes after its last batch once the data is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_that_failed_halfway_keeps_its_text_frozen() {
    let mode = Mode::DsqlGuarded;
    let db = TestDb::for_mode("backfill_frozen", mode).await;
    let mut su = db.connect_setup().await;
    sqlx::raw_sql("CREATE TABLE t (id integer PRIMARY KEY, d integer NOT NULL, c integer); INSERT INTO t SELECT g, CASE WHEN g = 2500 THEN 0 ELSE 1 END, NULL FROM generate_series(1, 4000) g")
        .execute(&mut su)
        .await
        .unwrap();
    let backfill = |value: &str| {
        hand(
            "0000_fill",
            &[&format!(
                "-- tablewright:backfill \"t\".\"c\"\nUPDATE \"t\" SET \"c\" = {value} WHERE \"c\" IS NULL"
            )],
        )
    };
    let original = backfill("100 / \"d\"");
    let runner = Migrator::new(
        target(mode, &db.url),
        set(vec![original.clone()]),
        MigratorOptions {
            batch_rows: 1000,
            ..options()
        },
    )
    .await
    .unwrap();
    let err = runner.run(&|_| {}).await.unwrap_err();
    assert!(err.to_string().contains("division by zero"), "{err}");
    assert_eq!(
        scalar(&db, "SELECT count(c) FROM t").await,
        "2000",
        "the two batches before the bad row are filled"
    );
    let edited = backfill("200 / \"d\"");
    let err = migrator(mode, &db, vec![edited])
        .await
        .run(&|_| {})
        .await
        .unwrap_err();
    assert!(matches!(&err, RunError::EditedExecuted { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("statement 1, which ran, has changed"),
        "{err}"
    );
    sqlx::raw_sql("UPDATE t SET d = 1 WHERE id = 2500")
        .execute(&mut su)
        .await
        .unwrap();
    let events = Events::default();
    runner.run(&events.sink()).await.unwrap();
    let filled = events.find(|e| {
        if let Event::BackfillProgress {
            rows, done: true, ..
        } = e
        {
            Some(*rows)
        } else {
            None
        }
    });
    assert_eq!(filled, [4000], "resumed after the 2,000 rows filled");
    assert_eq!(
        scalar(&db, "SELECT count(*) FILTER (WHERE c = 100) FROM t").await,
        "4000"
    );
}

/// `--single-transaction` applies all pending migrations or none, also after a failed
/// attempt; where that is impossible it says so rather than applying them one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_transaction_is_all_or_nothing_or_refused() {
    let mode = Mode::Postgres;
    let db = TestDb::for_mode("single_tx", mode).await;
    let together = MigratorOptions {
        single_transaction: true,
        ..options()
    };
    let ok = |tag: &str, n: i32| hand(tag, &[&format!("INSERT INTO \"audit\" VALUES ({n})")]);
    let first = hand("0000_audit", &[AUDIT]);
    let broken = hand("0003_broken", &["INSERT INTO \"audti\" VALUES (3)"]);
    let runner = |migrations: Vec<LocalMigration>| {
        Migrator::new(target(mode, &db.url), set(migrations), together.clone())
    };
    for attempt in ["first run", "rerun"] {
        let err = runner(vec![
            first.clone(),
            ok("0001_a", 1),
            ok("0002_b", 2),
            broken.clone(),
        ])
        .await
        .unwrap()
        .run(&|_| {})
        .await
        .unwrap_err();
        assert!(
            matches!(&err, RunError::Statement { .. }),
            "{attempt}: {err}"
        );
        assert_eq!(
            scalar(&db, "SELECT to_regclass('audit') IS NULL").await,
            "true",
            "{attempt}: nothing applied"
        );
    }
    let fixed = hand("0003_broken", &["INSERT INTO \"audit\" VALUES (3)"]);
    let report = runner(vec![
        first.clone(),
        ok("0001_a", 1),
        ok("0002_b", 2),
        fixed.clone(),
    ])
    .await
    .unwrap()
    .run(&|_| {})
    .await
    .unwrap();
    assert_eq!(report.applied.len(), 4);
    let concurrent = hand(
        "0004_index",
        &[&index_statement(mode, "audit_n_idx", "audit", "n")],
    );
    let err = runner(vec![
        first,
        ok("0001_a", 1),
        ok("0002_b", 2),
        fixed,
        concurrent,
        ok("0005_c", 5),
    ])
    .await
    .unwrap()
    .run(&|_| {})
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("--single-transaction cannot apply")
            && err.to_string().contains("0004_index"),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Input);
}

/// On PostgreSQL the history write travels as literal SQL with its statements (one round
/// trip fewer): a tag with quotes, backslashes, a newline and non-ASCII text, and a
/// statement ending in a line comment, are recorded exactly, and applied once.
#[tokio::test]
async fn history_values_survive_the_literal_write() {
    let db = TestDb::for_mode("literal_write", Mode::Postgres).await;
    let tags = [
        "0000_o'neil",
        "0001_back\\slash\\'; DROP TABLE audit; --",
        "0002_new\nline_é✓",
    ];
    let migrations = vec![
        hand(tags[0], &[AUDIT]),
        hand(
            tags[1],
            &["INSERT INTO \"audit\" (\"n\") VALUES (1) -- a trailing comment"],
        ),
        hand(
            tags[2],
            &[
                "INSERT INTO \"audit\" (\"n\") VALUES (2)",
                "INSERT INTO \"audit\" (\"n\") VALUES (3);",
            ],
        ),
    ];
    for _ in 0..2 {
        migrator(Mode::Postgres, &db, migrations.clone())
            .await
            .run(&|_| {})
            .await
            .unwrap();
    }
    assert_eq!(
        scalar(&db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM audit").await,
        "1,2,3",
        "each statement once"
    );
    // Every column as the bound write of the DSQL rules' path records it for the same
    // migrations (apart from the times).
    let bound = TestDb::for_mode("literal_write_bound", Mode::DsqlGuarded).await;
    migrator(Mode::DsqlGuarded, &bound, migrations.clone())
        .await
        .run(&|_| {})
        .await
        .unwrap();
    let columns = "SELECT string_agg(concat_ws(' | ', tag, hash, created_at, status, next_statement, statements, statement_hashes, \
                   coalesce(error_statement::text, 'NULL'), coalesce(error_code, 'NULL'), coalesce(error_message, 'NULL'), coalesce(session, 'NULL'), applied_at IS NOT NULL), E'\\n' ORDER BY tag) \
                   FROM tablewright.migrations";
    let literal = scalar(&db, columns).await;
    assert_eq!(literal, scalar(&bound, columns).await);
    assert!(
        literal.contains("0000_o'neil")
            && literal.contains("0002_new\nline_é✓")
            && literal.contains("applied"),
        "{literal}"
    );
}
