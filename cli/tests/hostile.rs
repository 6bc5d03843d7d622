//! Hostile input (issue 21): files, databases and flags a careless user, a bad merge or a
//! hostile database could hand the binary. Each probe is run as a process; what must hold
//! is that nothing it did not show runs, nothing outside the project is touched, and the
//! refusal names the file, the key and the fix with exit 2.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod documents;
mod process;

use common::{Mode, TestDb};
use process::{assert_exit, bin, files, hand_folder, provider, text};
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tablewright_core::project::folder::MigrationFolder;

const V1: &str = include_str!("../../core/tests/fixtures/v1.rs");
const V2: &str = include_str!("../../core/tests/fixtures/v2.rs");

/// What the snapshot probe puts in a default: it closes the column, adds a constraint and
/// two statements, and reopens a default so the rest of the line still parses.
const INJECTED_DEFAULT: &str = "'x') NOT NULL, CONSTRAINT x PRIMARY KEY (id)); DROP TABLE IF EXISTS victim; CREATE TABLE pwn (id uuid, a text DEFAULT ('y'";

/// A project in `<tmp>/project` whose two migrations the CLI generated from V1 then V2;
/// `<tmp>/outside` is a folder beside it that nothing may touch.
fn project(mode: Mode) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(root.path().join("outside")).unwrap();
    std::fs::write(
        dir.join("tablewright.toml"),
        format!(
            "dialect = \"{}\"\nschema = [\"schema.rs\"]\n",
            mode.dialect()
        ),
    )
    .unwrap();
    for source in [V1, V2] {
        std::fs::write(dir.join("schema.rs"), source).unwrap();
        let out = run(&dir, &["generate"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    root
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .env_remove("FAILPOINTS")
        .output()
        .unwrap()
}

fn migrate(dir: &Path, mode: Mode, db: &TestDb) -> Output {
    run(
        dir,
        &[
            "migrate",
            "--provider",
            provider(mode),
            "--connection-string",
            &db.url,
        ],
    )
}

/// The tables of `public`, by name.
async fn tables(db: &TestDb) -> Vec<String> {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

async fn make_victim(db: &TestDb) {
    let mut conn = db.connect_setup().await;
    sqlx::raw_sql("CREATE TABLE victim (id integer PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Exit 2, the JSON document says so, and `needles` are all in what it printed.
fn assert_refused(out: &Output, needles: &[&str], what: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for needle in needles {
        assert!(
            printed.contains(needle),
            "{what}: `{needle}` not in {printed}"
        );
    }
}

/// A journal tag holding `/..` names a file outside the project: `check`, `squash` and
/// `migrate` refuse the journal alike (exit 2, the key named), and nothing outside the
/// project, or in it, is written or removed.
async fn a_tag_that_leaves_the_folder_is_refused(mode: Mode) {
    let root = project(mode);
    let dir = root.path().join("project");
    let migrations = dir.join("migrations");
    // The probe's layout: the SQL the tag points at sits outside, and a folder with the
    // tag's first component exists, so the path resolves.
    let last = MigrationFolder::load(&migrations).unwrap().journal.entries[1]
        .tag
        .clone();
    std::fs::rename(
        migrations.join(format!("{last}.sql")),
        root.path().join("outside/sq.sql"),
    )
    .unwrap();
    std::fs::create_dir_all(migrations.join("0001_x")).unwrap();
    let journal_path = migrations.join("meta/_journal.json");
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    std::fs::write(
        &journal_path,
        journal.replace(&format!("\"{last}\""), "\"0001_x/../../../outside/sq\""),
    )
    .unwrap();
    let before = files(root.path());

    let db = TestDb::for_mode("hostile_tag", mode).await;
    for (args, what) in [
        (vec!["check"], "check"),
        (vec!["squash"], "squash"),
        (vec!["check", "--format", "json"], "check --format json"),
        (vec!["generate"], "generate"),
        (vec!["rehash", "--all"], "rehash"),
    ] {
        let out = run(&dir, &args);
        assert_refused(
            &out,
            &[
                "_journal.json",
                "entries[1].tag",
                "outside the migrations folder",
            ],
            what,
        );
        if what.contains("json") {
            let document = documents::parse(&out.stdout);
            assert_eq!(document["error"]["kind"], "folder", "{document}");
        }
    }
    let out = migrate(&dir, mode, &db);
    assert_refused(
        &out,
        &[
            "_journal.json",
            "entries[1].tag",
            "outside the migrations folder",
        ],
        "migrate",
    );
    assert_eq!(
        files(root.path()),
        before,
        "nothing inside or outside the project changed"
    );
    assert_eq!(tables(&db).await, Vec::<String>::new(), "nothing ran");
}

#[tokio::test]
async fn a_tag_that_leaves_the_folder_is_refused_postgres() {
    a_tag_that_leaves_the_folder_is_refused(Mode::Postgres).await;
}

#[tokio::test]
async fn a_tag_that_leaves_the_folder_is_refused_dsql_guarded() {
    a_tag_that_leaves_the_folder_is_refused(Mode::DsqlGuarded).await;
}

/// SQL smuggled into a snapshot's default: `check`, `squash`, `generate` and `migrate`
/// refuse the folder, naming the snapshot and the key; `victim` survives and `pwn` is
/// never made. Then the same in a check expression and a column type.
async fn sql_in_a_snapshot_is_refused(mode: Mode) {
    let root = project(mode);
    let dir = root.path().join("project");
    let snapshot_path = dir.join("migrations/meta/0001_snapshot.json");
    let pristine = std::fs::read_to_string(&snapshot_path).unwrap();
    let db = TestDb::for_mode("hostile_snapshot", mode).await;
    make_victim(&db).await;

    type Probe = (&'static str, fn(&mut serde_json::Value));
    let probes: [Probe; 3] = [
        ("tables.authors.columns[1].default", |s| {
            s["tables"]["authors"]["columns"][1]["default"] = INJECTED_DEFAULT.into()
        }),
        ("tables.authors.columns[1].type", |s| {
            s["tables"]["authors"]["columns"][1]["type"] = "text); DROP TABLE victim; --".into()
        }),
        ("tables.authors.checks.sneaky.expression", |s| {
            s["tables"]["authors"]["checks"] = serde_json::json!({"sneaky": {"name": "sneaky", "expression": "true); DROP TABLE victim; SELECT (1"}})
        }),
    ];
    for (key, poison) in probes {
        let mut snapshot: serde_json::Value = serde_json::from_str(&pristine).unwrap();
        poison(&mut snapshot);
        std::fs::write(
            &snapshot_path,
            serde_json::to_string_pretty(&snapshot).unwrap(),
        )
        .unwrap();
        let before = files(root.path());
        for args in [vec!["check"], vec!["squash"], vec!["generate"]] {
            assert_refused(
                &run(&dir, &args),
                &["0001_snapshot.json", key],
                &format!("{key}: {}", args[0]),
            );
        }
        assert_refused(
            &migrate(&dir, mode, &db),
            &["0001_snapshot.json", key],
            &format!("{key}: migrate"),
        );
        assert_eq!(files(root.path()), before, "{key}: nothing written");
        assert_eq!(tables(&db).await, ["victim"], "{key}: nothing ran");
    }
}

#[tokio::test]
async fn sql_in_a_snapshot_is_refused_postgres() {
    sql_in_a_snapshot_is_refused(Mode::Postgres).await;
}

#[tokio::test]
async fn sql_in_a_snapshot_is_refused_dsql_guarded() {
    sql_in_a_snapshot_is_refused(Mode::DsqlGuarded).await;
}

/// drizzle-kit's snapshots are not read by `import` (the history is replayed instead), so
/// SQL planted in one reaches neither the scratch database, the snapshots nor the structs.
#[test]
fn sql_in_a_drizzle_snapshot_goes_nowhere() {
    let from = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drizzle/drizzle");
    std::fs::create_dir_all(from.path().join("meta")).unwrap();
    for (path, bytes) in files(&fixture) {
        std::fs::write(
            from.path().join(path.strip_prefix(&fixture).unwrap()),
            bytes,
        )
        .unwrap();
    }
    let snapshot_path = from.path().join("meta/0001_snapshot.json");
    let mut snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&snapshot_path).unwrap()).unwrap();
    snapshot["tables"]["public.authors"]["columns"]["id"]["default"] = INJECTED_DEFAULT.into();
    std::fs::write(
        &snapshot_path,
        serde_json::to_string_pretty(&snapshot).unwrap(),
    )
    .unwrap();

    let project = process::entities_project("postgres");
    let out = run(
        project.path(),
        &[
            "import",
            "drizzle",
            "--from",
            from.path().to_str().unwrap(),
            "--connection-string",
            &common::admin_url(),
        ],
    );
    assert_exit(&out, 0);
    for (path, bytes) in files(project.path()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("pwn"),
            "{} holds the planted SQL",
            path.display()
        );
    }
}

/// A drizzle-kit file that fails when replayed stops the import (exit 3), naming the file
/// and its statement; nothing is written.
#[test]
fn a_drizzle_file_that_fails_in_the_replay_stops_the_import() {
    let from = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drizzle/drizzle");
    std::fs::create_dir_all(from.path().join("meta")).unwrap();
    for (path, bytes) in files(&fixture) {
        std::fs::write(
            from.path().join(path.strip_prefix(&fixture).unwrap()),
            bytes,
        )
        .unwrap();
    }
    std::fs::write(
        from.path().join("0001_reviews.sql"),
        "ALTER TABLE nowhere ADD COLUMN x int;",
    )
    .unwrap();
    let project = process::entities_project("postgres");
    let out = run(
        project.path(),
        &[
            "import",
            "drizzle",
            "--from",
            from.path().to_str().unwrap(),
            "--connection-string",
            &common::admin_url(),
        ],
    );
    assert_exit(&out, 3);
    assert!(
        text(&out.stderr).contains("0001_reviews") && text(&out.stderr).contains("nowhere"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !project.path().join("migrations").exists() && !project.path().join("src").exists(),
        "nothing written"
    );
}

/// Files saved by editors that write a UTF-8 byte-order mark are read as any other.
#[tokio::test]
async fn a_byte_order_mark_is_accepted_in_the_journal_and_snapshots() {
    let root = project(Mode::Postgres);
    let dir = root.path().join("project");
    for file in [
        "migrations/meta/_journal.json",
        "migrations/meta/0000_snapshot.json",
        "migrations/meta/0001_snapshot.json",
        "permissions/permissions.sql",
        "tablewright.toml",
    ] {
        let path = dir.join(file);
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(std::fs::read(&path).unwrap());
        std::fs::write(&path, bytes).unwrap();
    }
    let check = run(&dir, &["check"]);
    assert_exit(&check, 0);
    let generate = run(&dir, &["generate", "--check"]);
    assert_exit(&generate, 0);
    let db = TestDb::for_mode("hostile_bom", Mode::Postgres).await;
    let out = migrate(&dir, Mode::Postgres, &db);
    assert_exit(&out, 0);
    assert_eq!(tables(&db).await, ["authors", "books"]);
}

const AUDIT: &str = "CREATE TABLE IF NOT EXISTS \"audit\" (\"n\" bigint NOT NULL, CONSTRAINT \"audit_pkey\" PRIMARY KEY (\"n\"))";

/// Every way out of the runner's transaction is refused before anything runs, the
/// statement named: two-phase commit (which was reported applied while the server held
/// the transaction, and wedged every later run on its locks), alone in its chunk or not,
/// and the session-level settings a resumed run would not have.
async fn a_way_out_of_the_transaction_is_refused_before_anything_runs(mode: Mode) {
    let db = TestDb::for_mode("hostile_way_out", mode).await;
    for (chunk, reason) in [
        (
            "INSERT INTO \"audit\" VALUES (1);\nPREPARE TRANSACTION 'p1'",
            "transaction control",
        ),
        ("PREPARE TRANSACTION 'p1'", "transaction control"),
        ("COMMIT PREPARED 'p1'", "transaction control"),
        (
            "SELECT set_config('search_path', 'elsewhere', false)",
            "changes the session",
        ),
        (
            "SELECT set_config('search_path', 'elsewhere', 1 = 0)",
            "changes the session",
        ),
        ("PREPARE q AS SELECT 1", "changes the session"),
        (
            "SELECT pg_catalog.\"set_config\"('search_path', 'elsewhere', false)",
            "changes the session",
        ),
        (
            "DO $$ BEGIN PERFORM set_config('search_path', 'elsewhere', false); END $$",
            "changes the session",
        ),
        ("SELECT pg_advisory_lock(42)", "changes the session"),
        ("CREATE TEMP TABLE scratch (a int)", "changes the session"),
        ("LISTEN somewhere", "changes the session"),
    ] {
        let dir = hand_folder(&[("0000_audit", &[AUDIT]), ("0001_probe", &[chunk])]);
        let out = run(
            dir.path(),
            &[
                "migrate",
                "--folder",
                ".",
                "--provider",
                provider(mode),
                "--connection-string",
                &db.url,
                "--format",
                "json",
            ],
        );
        assert_refused(&out, &["0001_probe", reason], chunk);
        let document = documents::parse(&out.stdout);
        assert_eq!(document["error"]["kind"], "refused", "{chunk}: {document}");
        assert!(
            document["error"]["items"][0]["fix"][0]
                .as_str()
                .is_some_and(|f| f.contains("rehash --tag 0001_probe")),
            "{chunk}: {document}"
        );
        assert_eq!(
            tables(&db).await,
            Vec::<String>::new(),
            "{chunk}: nothing ran"
        );
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        let prepared: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_prepared_xacts")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(prepared, 0, "{chunk}: no prepared transaction left");
    }
    // A setting of the transaction is the runner's to allow.
    let dir = hand_folder(&[(
        "0000_audit",
        &[AUDIT, "SELECT set_config('statement_timeout', '0', true)"],
    )]);
    let out = run(
        dir.path(),
        &[
            "migrate",
            "--folder",
            ".",
            "--provider",
            provider(mode),
            "--connection-string",
            &db.url,
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(tables(&db).await, ["audit"]);
}

#[tokio::test]
async fn a_way_out_of_the_transaction_is_refused_before_anything_runs_postgres() {
    a_way_out_of_the_transaction_is_refused_before_anything_runs(Mode::Postgres).await;
}

#[tokio::test]
async fn a_way_out_of_the_transaction_is_refused_before_anything_runs_dsql_guarded() {
    a_way_out_of_the_transaction_is_refused_before_anything_runs(Mode::DsqlGuarded).await;
}

/// The SQL files of a migrations folder.
fn sql_files(migrations: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(migrations)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    out.sort();
    out
}

/// Four `generate`s at once after a struct change (three times over) leave one new
/// migration each time and a folder `check` accepts: the folder has one writer at a time,
/// and the others plan on top of what it wrote. A writer that finds the folder taken says
/// so and waits.
#[test]
fn concurrent_generates_write_exactly_one_migration() {
    let root = project(Mode::Postgres);
    let dir = root.path().join("project");
    let migrations = dir.join("migrations");
    for round in 0..3 {
        let mut source = std::fs::read_to_string(dir.join("schema.rs")).unwrap();
        source = source.replacen(
            "pub struct Author {\n",
            &format!("pub struct Author {{\n    pub note_{round}: Option<String>,\n"),
            1,
        );
        std::fs::write(dir.join("schema.rs"), source).unwrap();
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(bin())
                    .current_dir(&dir)
                    .args(["generate"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        for out in &outputs {
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        let wrote = outputs
            .iter()
            .filter(|o| text(&o.stdout).contains("Wrote migration"))
            .count();
        assert_eq!(
            wrote,
            1,
            "round {round}: {:?}",
            outputs.iter().map(|o| text(&o.stdout)).collect::<Vec<_>>()
        );
        assert_eq!(
            sql_files(&migrations).len(),
            3 + round,
            "round {round}: {:?}",
            sql_files(&migrations)
        );
        let check = run(&dir, &["check"]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "round {round}: {}",
            text(&check.stdout)
        );
    }

    let held = tablewright_core::project::fsio::FolderLock::acquire(&migrations, || {
        panic!("nobody else holds it")
    })
    .unwrap();
    let source = std::fs::read_to_string(dir.join("schema.rs"))
        .unwrap()
        .replacen(
            "pub struct Author {\n",
            "pub struct Author {\n    pub late: Option<String>,\n",
            1,
        );
    std::fs::write(dir.join("schema.rs"), source).unwrap();
    let mut waiting = Command::new(bin())
        .current_dir(&dir)
        .args(["generate"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "generate waits while the folder is held"
    );
    assert_eq!(
        sql_files(&migrations).len(),
        5,
        "and writes nothing meanwhile"
    );
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("waiting for another tablewright command writing migrations to finish"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(sql_files(&migrations).len(), 6);
}

/// A scanned file whose type nests 50,000 deep without brackets ended the process with
/// SIGSEGV and no JSON document; it is refused, with its line, exit 2, in both formats.
#[test]
fn a_type_nested_past_the_limit_is_refused_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tablewright.toml"),
        "dialect = \"postgres\"\nschema = [\"deep.rs\"]\n",
    )
    .unwrap();
    for (name, level, inner, close) in [
        ("option", "Option<", "i64", ">"),
        ("closure", "fn() -> ", "i64", ""),
        ("reference", "&'static ", "i64", ""),
    ] {
        let field = format!("{}{inner}{}", level.repeat(50_000), close.repeat(50_000));
        std::fs::write(dir.path().join("deep.rs"), format!("#[derive(Table)]\n#[table(name = \"deep\")]\npub struct Deep {{\n    #[column(primary_key)]\n    pub id: i64,\n    pub x: {field},\n}}\n")).unwrap();
        let out = run(dir.path(), &["generate", "--format", "json"]);
        assert_refused(&out, &["more than 1000 deep"], name);
        let document = documents::parse(&out.stdout);
        assert_eq!(
            document["error"]["items"][0]["location"]["line"], 6,
            "{name}: {document}"
        );
        let out = run(dir.path(), &["generate"]);
        assert_refused(&out, &["deep.rs:6:", "more than 1000 deep"], name);
        assert!(
            !dir.path().join("migrations").exists(),
            "{name}: nothing written"
        );
    }
}

/// A hostile database's history: a tag holding an OSC title sequence, a screen clear, a
/// line end and a forged summary. `status` and `migrate` print it escaped, in text: no
/// control byte reaches the terminal and no line of theirs is forged.
async fn escape_sequences_from_the_database_are_printed_escaped(mode: Mode) {
    let root = project(mode);
    let dir = root.path().join("project");
    let db = TestDb::for_mode("hostile_escapes", mode).await;
    let out = migrate(&dir, mode, &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let hostile = "0009_x\u{1b}]0;pwned\u{7}\u{1b}[2J\nDone: 0 applied\r\u{202e}\u{85}";
    let mut conn = db.connect_setup().await;
    sqlx::query("UPDATE tablewright.migrations SET tag = $1 WHERE tag = (SELECT max(tag) FROM tablewright.migrations)").bind(hostile).execute(&mut conn).await.unwrap();
    let status = run(
        &dir,
        &[
            "status",
            "--provider",
            provider(mode),
            "--connection-string",
            &db.url,
        ],
    );
    let again = migrate(&dir, mode, &db);
    assert_eq!(
        again.status.code(),
        Some(1),
        "an unknown applied migration: {}",
        text(&again.stderr)
    );
    // A table named the same way, as drift and pull report it.
    sqlx::query("UPDATE tablewright.migrations SET tag = '0001_back' WHERE tag = $1")
        .bind(hostile)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {} (id bigint PRIMARY KEY)",
        tablewright_core::sql::ident::quote(hostile)
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let drift = run(
        &dir,
        &[
            "drift",
            "--provider",
            provider(mode),
            "--connection-string",
            &db.url,
        ],
    );
    assert_exit(&drift, 1);
    let pull = run(
        &dir,
        &[
            "pull",
            "--provider",
            provider(mode),
            "--connection-string",
            &db.url,
            "--out",
            "pulled.rs",
        ],
    );
    // In JSON the same values are escaped as JSON escapes them: the documents stay valid
    // (and match their schemas) and read back to the database's text.
    let drift_json = run(
        &dir,
        &[
            "drift",
            "--provider",
            provider(mode),
            "--connection-string",
            &db.url,
            "--format",
            "json",
        ],
    );
    let document = documents::parse(&drift_json.stdout);
    assert!(
        document
            .to_string()
            .contains(&serde_json::to_string(hostile).unwrap()[1..20]),
        "{document}"
    );
    for (what, out) in [
        ("status", &status),
        ("migrate", &again),
        ("drift", &drift),
        ("pull", &pull),
    ] {
        let printed = [&out.stdout[..], &out.stderr[..]].concat();
        assert!(
            !printed.iter().any(|b| matches!(b, 0x1b | 0x07 | b'\r')),
            "{what}: a control byte got through: {:?}",
            text(&printed)
        );
        assert!(
            !text(&printed).contains(['\u{202e}', '\u{85}']),
            "{what}: a bidi mark or C1 control got through"
        );
        let printed = text(&printed);
        assert!(
            printed.contains(r"0009_x\u001b]0;pwned\u0007\u001b[2J\nDone: 0 applied\r\u202e\u0085"),
            "{what}: {printed}"
        );
        assert!(
            !printed
                .lines()
                .any(|l| l.trim_start().starts_with("Done: 0 applied")),
            "{what}: a forged line: {printed}"
        );
    }
}

#[tokio::test]
async fn escape_sequences_from_the_database_are_printed_escaped_postgres() {
    escape_sequences_from_the_database_are_printed_escaped(Mode::Postgres).await;
}

#[tokio::test]
async fn escape_sequences_from_the_database_are_printed_escaped_dsql_guarded() {
    escape_sequences_from_the_database_are_printed_escaped(Mode::DsqlGuarded).await;
}

/// Output to a full device is a failed run (exit 3), not a success, in both formats.
#[test]
fn a_failed_write_to_stdout_is_a_failed_run() {
    let root = project(Mode::Postgres);
    let dir = root.path().join("project");
    for args in [
        &["check"][..],
        &["check", "--format", "json"],
        &["generate", "--check"],
        &["--help"],
        &["--version"],
        &["migrate", "--help"],
    ] {
        let out = Command::new(bin())
            .current_dir(&dir)
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("error: writing output"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// `mark-applied --reset` after a squash, on a database whose applied files were edited
/// in the archive since: the refusal names them (it said "not done: " and nothing more).
#[tokio::test]
async fn a_reset_over_edited_archived_migrations_names_them() {
    let root = project(Mode::Postgres);
    let dir = root.path().join("project");
    let db = TestDb::for_mode("hostile_reset", Mode::Postgres).await;
    assert_eq!(migrate(&dir, Mode::Postgres, &db).status.code(), Some(0));
    let squash = run(&dir, &["squash", "--name", "baseline", "--format", "json"]);
    assert_eq!(squash.status.code(), Some(0), "{}", text(&squash.stderr));
    let report = documents::parse(&squash.stdout);
    let archive = PathBuf::from(report["report"]["archive"].as_str().unwrap());
    let archive = if archive.is_absolute() {
        archive
    } else {
        dir.join(archive)
    };
    let first = report["report"]["squashed"][0].as_str().unwrap().to_owned();
    let edited = archive.join(format!("{first}.sql"));
    let mut sql = std::fs::read_to_string(&edited).unwrap();
    sql.push_str("-- edited after it ran\n");
    std::fs::write(&edited, sql).unwrap();
    let out = run(
        &dir,
        &[
            "mark-applied",
            "--file",
            "0000_baseline",
            "--reset",
            "--yes",
            "--provider",
            "postgres",
            "--connection-string",
            &db.url,
        ],
    );
    assert_refused(
        &out,
        &[&first, "differ from what this database applied"],
        "mark-applied --reset",
    );
    assert!(
        !text(&out.stderr).contains("not done: ;") && !text(&out.stderr).contains("not done: )"),
        "{}",
        text(&out.stderr)
    );
}

/// `clone --rows` past the largest LIMIT is a usage error before anything is built.
#[test]
fn clone_rows_past_the_largest_limit_is_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "clone",
            "--from",
            "postgres://nobody@127.0.0.1:1/none",
            "--rows",
            "9223372036854775808",
            "--format",
            "json",
        ],
    );
    assert_exit(&out, 2);
    let document = documents::parse(&out.stdout);
    assert!(
        document["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--rows"),
        "{document}"
    );
    let out = run(
        dir.path(),
        &[
            "clone",
            "--from",
            "postgres://nobody@127.0.0.1:1/none",
            "--rows",
            "9223372036854775807",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "the largest LIMIT is taken (and the unreachable source fails the run): {}",
        text(&out.stdout)
    );
}

/// `rehash` needs `--tag` or `--all`, and its usage line says both.
#[test]
fn rehash_usage_names_tag_and_all() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["rehash"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Usage: tablewright rehash <--tag <TAG>|--all>"),
        "{}",
        text(&out.stderr)
    );
}

/// A check may name a quoted column holding `'`: the attribute's lexical check reads
/// quoted names through, and the table is created with its check.
#[tokio::test]
async fn a_check_names_a_quoted_column_holding_a_quote() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tablewright.toml"),
        "dialect = \"postgres\"\nschema = [\"s.rs\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("s.rs"),
        "#[derive(Table)]\n#[table(name = \"odd\")]\n#[check(name = \"odd_positive\", expr = \"\\\"it's\\\" > 0\")]\npub struct Odd {\n    #[column(primary_key)]\n    pub id: i64,\n    #[column(name = \"it's\")]\n    pub its: i32,\n}\n",
    )
    .unwrap();
    let out = run(dir.path(), &["generate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let db = TestDb::for_mode("hostile_quoted", Mode::Postgres).await;
    let out = migrate(dir.path(), Mode::Postgres, &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let refused = sqlx::raw_sql("INSERT INTO odd VALUES (1, 0)")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("odd_positive"), "{refused}");
}

/// `items` with an identity `id` and a table `items_id_seq`: PostgreSQL names the identity's
/// sequence `items_id_seq`, and `CREATE TABLE IF NOT EXISTS items_id_seq` then met it and did
/// nothing (generate and migrate exited 0; the table never existed). generate refuses it.
#[test]
fn a_table_named_like_an_identity_sequence_is_refused_by_generate() {
    for dialect in ["postgres", "dsql"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tablewright.toml"),
            format!("dialect = \"{dialect}\"\nschema = [\"s.rs\"]\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("s.rs"),
            "#[derive(Table)]\n#[table(name = \"items\")]\npub struct Item {\n    #[column(primary_key, identity)]\n    pub id: i64,\n}\n\n#[derive(Table)]\n#[table(name = \"items_id_seq\")]\npub struct Clash {\n    #[column(primary_key)]\n    pub id: i64,\n}\n",
        )
        .unwrap();
        let out = run(dir.path(), &["generate"]);
        assert_refused(&out, &["items_id_seq", "identity sequence"], dialect);
        assert!(
            !dir.path().join("migrations").exists(),
            "{dialect}: nothing written"
        );
    }
}

/// The sequence names the check predicts are the ones PostgreSQL gives, long and
/// multi-byte names included (cut to 63 bytes at a character boundary).
#[tokio::test]
async fn identity_sequence_names_are_the_ones_postgresql_gives() {
    let db = TestDb::for_mode("hostile_sequences", Mode::Postgres).await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let cases = [
        ("items", "id"),
        (&*"t".repeat(60), "identifier"),
        (&*"é".repeat(30), &*"ü".repeat(12)),
        ("orders", &*"c".repeat(63)),
        (&*"a".repeat(40), &*"é".repeat(20)),
    ];
    for (table, column) in cases {
        let quote = tablewright_core::sql::ident::quote;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {} ({} bigint GENERATED BY DEFAULT AS IDENTITY)",
            quote(table),
            quote(column)
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        let given: String = sqlx::query_scalar("SELECT s.relname::text FROM pg_depend d JOIN pg_class s ON s.oid = d.objid JOIN pg_class t ON t.oid = d.refobjid WHERE s.relkind = 'S' AND t.relname = $1")
            .bind(&table[..table.len().min(63)])
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            tablewright_core::schema::model::identity_sequence_name(table, column),
            given,
            "{table}.{column}"
        );
    }
}

/// What PostgreSQL prints for defaults, checks and types is read back whole by
/// introspection (the parser reads the catalog's text; `with time zone` is no subquery,
/// `COLLATE "C"` and `"char"` are read), so drift, verify and pull keep working on real
/// databases.
#[tokio::test]
async fn the_catalogs_own_spellings_are_read() {
    let db = TestDb::for_mode("hostile_catalog", Mode::Postgres).await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE probe (
            id bigint PRIMARY KEY,
            a timestamptz DEFAULT 'infinity', b timetz DEFAULT '12:00+00', d text DEFAULT ('x'::text COLLATE \"C\"),
            e character varying(10) DEFAULT 'v', g int[] DEFAULT '{1,2}', i interval DEFAULT '1 day', j bit(3) DEFAULT B'101',
            k timestamp DEFAULT (now() AT TIME ZONE 'utc'), l text[] DEFAULT ARRAY[]::text[], o boolean DEFAULT ((1 > 0) IS TRUE),
            q int DEFAULT -1, r text DEFAULT E'a\\\\b', v \"char\" DEFAULT 'a', y numeric(10,2) DEFAULT 0.00, z text DEFAULT CURRENT_USER,
            aa timestamp(3) DEFAULT LOCALTIMESTAMP(3), ab text DEFAULT ('a' || 'b')::varchar, ae bigint DEFAULT (2^40)::bigint,
            s int CHECK (s BETWEEN 1 AND 10), t text CHECK (t ~ '^[a-z]+$' AND t IN ('ab','cd')), u timestamptz CHECK (u > '2000-01-01'),
            af text CHECK (af LIKE 'a%' OR af ILIKE 'B%' OR af SIMILAR TO 'c%'), ag int CHECK (ag IS DISTINCT FROM 3),
            xm xml DEFAULT xmlelement(name foo)
        )",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let found = tablewright_core::runner::introspect::introspect(&mut conn, &["public".to_owned()])
        .await
        .unwrap();
    // Text the parser does not read is left out, and said, never a failure of the whole read.
    let unreadable: Vec<&str> = found
        .unmodelled
        .iter()
        .filter(|u| {
            matches!(
                u.kind,
                tablewright_core::runner::introspect::UnmodelledKind::Unreadable
            )
        })
        .map(|u| u.note.as_str())
        .collect();
    assert_eq!(unreadable.len(), 1, "{unreadable:#?}");
    assert!(
        unreadable[0]
            .starts_with("`probe.xm` has default `XMLELEMENT(NAME foo)`, which is left out"),
        "{unreadable:#?}"
    );
    let probe = &found.schema.tables["probe"];
    assert_eq!(probe.columns.len(), 25);
    assert_eq!(
        probe.columns.iter().filter(|c| c.default.is_some()).count(),
        18,
        "{:#?}",
        probe.columns
    );
    assert_eq!(probe.checks.len(), 5);
    assert_eq!(probe.column("v").unwrap().sql_type.as_str(), "\"char\"");
}

/// A drizzle-kit journal whose tag leaves its folder: `import` refuses it before reading
/// or writing any file by it.
#[test]
fn a_drizzle_tag_that_leaves_the_folder_is_refused_by_import() {
    let root = tempfile::tempdir().unwrap();
    let from = root.path().join("drizzle");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drizzle/drizzle");
    std::fs::create_dir_all(from.join("meta")).unwrap();
    for (path, bytes) in files(&fixture) {
        std::fs::write(from.join(path.strip_prefix(&fixture).unwrap()), bytes).unwrap();
    }
    let journal_path = from.join("meta/_journal.json");
    let journal = std::fs::read_to_string(&journal_path)
        .unwrap()
        .replace("\"0001_reviews\"", "\"0001_x/../../outside/sq\"");
    std::fs::write(&journal_path, journal).unwrap();
    std::fs::create_dir_all(root.path().join("outside")).unwrap();
    std::fs::copy(
        from.join("0001_reviews.sql"),
        root.path().join("outside/sq.sql"),
    )
    .unwrap();
    let project = root.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("tablewright.toml"),
        "dialect = \"postgres\"\nschema = [\"src/entities.rs\"]\n",
    )
    .unwrap();
    let before = files(root.path());
    let out = run(
        &project,
        &[
            "import",
            "drizzle",
            "--from",
            from.to_str().unwrap(),
            "--connection-string",
            &common::admin_url(),
        ],
    );
    assert_refused(
        &out,
        &[
            "_journal.json",
            "entries[1].tag",
            "outside the migrations folder",
        ],
        "import drizzle",
    );
    assert_eq!(files(root.path()), before, "nothing written");
}

/// The SQL parser backtracks on dotted names, twice the time per `.`: a name of 22 parts
/// in a WHERE took check-dsql a minute, and 30 in a snapshot's default hung `check`. Such
/// names are refused before the parser sees them, at once.
#[tokio::test]
async fn a_name_of_many_parts_is_refused_at_once() {
    let name = vec!["yyyy"; 30].join(".");
    let dir = hand_folder(&[(
        "0000_dots",
        &[&format!("SELECT 1 FROM pg_class WHERE {name}.* > 0")],
    )]);
    // Without the refusal the parser would take hours over 30 parts: the run's timeout
    // (.config/nextest.toml) would end this test.
    let out = run(dir.path(), &["check-dsql", "0000_dots.sql"]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stdout).contains("a name of more than 5 parts"),
        "{}",
        text(&out.stdout)
    );
    let db = TestDb::for_mode("hostile_dots", Mode::DsqlGuarded).await;
    let out = run(
        dir.path(),
        &[
            "migrate",
            "--folder",
            ".",
            "--provider",
            "dsql",
            "--connection-string",
            &db.url,
        ],
    );
    assert_refused(
        &out,
        &["0000_dots", "a name of more than 5 parts"],
        "migrate",
    );
}
