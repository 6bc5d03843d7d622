//! check-dsql and the runner under DSQL's rules are one classifier: over one corpus of
//! chunks, what check-dsql classes OK runs as written, INDEX runs rewritten to ASYNC,
//! STRIP is skipped, and FOREIGN KEY, RECREATION or ERROR is refused before anything runs, by the
//! runner on the DSQL emulation (the guard, as a non-superuser).

mod common;

use common::{Mode, TestDb, hand, target};
use std::sync::Mutex;
use tablewright_core::dialect::DsqlClass;
use tablewright_core::runner::{Event, MigrationSet, Migrator, MigratorOptions, RunError};
use tablewright_core::sql::dsql_check;

const CORPUS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS x (id bigint PRIMARY KEY)",
    "INSERT INTO t (id, a) VALUES (1, 2)",
    "CREATE INDEX i1 ON t (a)",
    "CREATE INDEX CONCURRENTLY i2 ON t (a)",
    "CREATE INDEX  ASYNC i3 ON t (a)",
    "/* a note */ CREATE UNIQUE INDEX ASYNC i4 ON t (id, a)",
    "-- why\nCREATE INDEX ASYNC i5 ON t (a)",
    "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
    "BEGIN",
    "CREATE EXTENSION IF NOT EXISTS pgcrypto",
    "ALTER TABLE t ALTER COLUMN a TYPE bigint",
    "ALTER TABLE t ADD COLUMN b text NOT NULL DEFAULT 'x'",
    "DO $$ BEGIN PERFORM 1; END $$",
    "CREATE TABLE y (id bigint PRIMARY KEY); CREATE TABLE z (id bigint PRIMARY KEY)",
    "INSERT INTO t (id, a) VALUES (2, 3); INSERT INTO t (id, a) VALUES (3, 4)",
    "SELECT 'COMMIT; --> statement-breakpoint'",
    // drizzle-kit's own output: an index `USING btree`, a foreign key on an existing
    // table, plain and in the `duplicate_object` guard; and an index DSQL cannot build.
    "CREATE INDEX IF NOT EXISTS \"i6\" ON \"t\" USING btree (\"a\")",
    "ALTER TABLE \"t\" ADD CONSTRAINT \"t_a_fk\" FOREIGN KEY (\"a\") REFERENCES \"public\".\"t\"(\"id\") ON DELETE cascade ON UPDATE no action",
    "DO $$ BEGIN\n ALTER TABLE \"t\" ADD CONSTRAINT \"t_a_fk\" FOREIGN KEY (\"a\") REFERENCES \"public\".\"t\"(\"id\");\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;",
    "CREATE INDEX i7 ON t USING hash (a)",
];

#[tokio::test]
async fn check_dsql_and_the_runner_treat_every_chunk_alike() {
    let setup = hand(
        "0000_t",
        &["CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY, a integer)"],
    );
    let mut classes = Vec::new();
    let db = TestDb::for_mode("classify", Mode::DsqlGuarded).await;
    for chunk in CORPUS {
        let verdicts = dsql_check::check_chunk(1, chunk);
        let class = verdicts.iter().map(|v| v.class).max().expect("a statement");
        classes.push(class);
        db.reset().await;
        let migration = hand("0001_chunk", &[chunk]);
        let events = Mutex::new(Vec::new());
        let sink = |e: Event| events.lock().unwrap().push(e);
        let set = MigrationSet {
            migrations: vec![setup.clone(), migration],
            origin: "corpus".into(),
            drizzle: None,
        };
        let result = Migrator::new(
            target(Mode::DsqlGuarded, &db.url),
            set,
            MigratorOptions::default(),
        )
        .await
        .unwrap()
        .run(&sink)
        .await;
        let events = events.into_inner().unwrap();
        let rewritten = events.iter().any(|e| matches!(e, Event::Rewritten { .. }));
        let skipped = events.iter().any(|e| matches!(e, Event::Skipped { .. }));
        let what = format!(
            "{chunk:?}: check-dsql says {class:?}, the runner: {result:?}, rewritten {rewritten}, skipped {skipped}"
        );
        match class {
            DsqlClass::Ok => assert!(result.is_ok() && !rewritten && !skipped, "{what}"),
            DsqlClass::Index => assert!(result.is_ok() && rewritten && !skipped, "{what}"),
            DsqlClass::Strip => assert!(result.is_ok() && skipped && !rewritten, "{what}"),
            // A foreign key's rewrite is two statements, each a chunk of its own: the file
            // must say them so.
            DsqlClass::ForeignKey | DsqlClass::Recreation | DsqlClass::Error => {
                assert!(matches!(result, Err(RunError::Refused { .. })), "{what}")
            }
        }
    }
    // The corpus covers every class.
    for class in [
        DsqlClass::Ok,
        DsqlClass::Index,
        DsqlClass::Strip,
        DsqlClass::ForeignKey,
        DsqlClass::Recreation,
        DsqlClass::Error,
    ] {
        assert!(
            classes.contains(&class),
            "no {class:?} in the corpus: {classes:?}"
        );
    }
}
