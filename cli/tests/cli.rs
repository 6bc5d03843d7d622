//! The `tablewright` binary on a copy of the repository's example: exit codes, what is
//! written (and what is not), and the text and JSON people and agents read.

mod documents;

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temporary copy of the config, the example's sources and its migrations.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fs::copy(
            repo().join("tablewright.toml"),
            dir.path().join("tablewright.toml"),
        )
        .unwrap();
        copy_dir(
            &repo().join("examples/bookstore/src"),
            &dir.path().join("examples/bookstore/src"),
        );
        copy_dir(&repo().join("migrations"), &dir.path().join("migrations"));
        copy_dir(&repo().join("permissions"), &dir.path().join("permissions"));
        Fixture { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        Command::cargo_bin("tablewright")
            .unwrap()
            .current_dir(self.dir.path())
            .env("SOURCE_DATE_EPOCH", "1767225600")
            .args(args)
            .assert()
    }

    /// Replaces `old` by `new` in an example source file (exactly once).
    fn edit(&self, rel: &str, old: &str, new: &str) {
        let path = self.path(rel);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches(old).count(),
            1,
            "`{old}` must occur once in {rel}"
        );
        fs::write(path, text.replacen(old, new, 1)).unwrap();
    }

    /// Every file under migrations/ with its bytes.
    fn migrations(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.insert(
                        p.strip_prefix(base).unwrap().to_string_lossy().into_owned(),
                        fs::read(&p).unwrap(),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.path("migrations"), &self.path("migrations"), &mut out);
        out
    }
}

const ENTITIES: &str = "examples/bookstore/src/entities.rs";

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stderr.clone()).unwrap()
}

#[test]
fn committed_example_is_up_to_date_and_generate_changes_nothing() {
    let f = Fixture::new();
    let before = f.migrations();
    let out = f.run(&["generate"]).code(0);
    assert!(
        stdout(&out).starts_with("No schema changes"),
        "{}",
        stdout(&out)
    );
    f.run(&["generate", "--check"]).code(0);
    f.run(&["check"]).code(0);
    assert_eq!(f.migrations(), before);
}

#[test]
fn a_new_column_is_pending_then_written_as_exactly_one_migration() {
    let f = Fixture::new();
    let before = f.migrations();
    f.edit(
        ENTITIES,
        "    pub subtitle: Option<String>,\n",
        "    pub subtitle: Option<String>,\n    pub blurb: Option<String>,\n",
    );

    let pending = f.run(&["generate", "--check"]).code(1);
    assert!(
        stdout(&pending).contains("+ add column `books.blurb` (text)"),
        "{}",
        stdout(&pending)
    );
    assert_eq!(f.migrations(), before, "--check writes nothing");

    f.run(&["generate"]).code(0);
    let after = f.migrations();
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let changed: Vec<&String> = before
        .keys()
        .filter(|k| after.get(*k) != before.get(*k))
        .collect();
    assert_eq!(
        added,
        ["0001_add_books_blurb.sql", "meta/0001_snapshot.json"]
    );
    assert_eq!(changed, ["meta/_journal.json"]);
    assert_eq!(
        String::from_utf8(after["0001_add_books_blurb.sql"].clone()).unwrap(),
        "ALTER TABLE \"books\" ADD COLUMN \"blurb\" text;\n"
    );
    let journal: serde_json::Value = serde_json::from_slice(&after["meta/_journal.json"]).unwrap();
    assert_eq!(journal["entries"].as_array().unwrap().len(), 2);
    assert_eq!(journal["entries"][1]["tag"], "0001_add_books_blurb");
    assert_eq!(journal["entries"][1]["when"], 1767225600000u64);

    // Byte-stable: generating again changes nothing, and the folder checks clean.
    f.run(&["generate"]).code(0);
    assert_eq!(f.migrations(), after);
    f.run(&["check"]).code(0);
}

#[test]
fn a_dropped_column_needs_a_decision_and_writes_nothing_until_given() {
    let f = Fixture::new();
    let before = f.migrations();
    f.edit(ENTITIES, "    pub subtitle: Option<String>,\n", "");

    let refused = f.run(&["generate"]).code(2);
    let err = stderr(&refused);
    assert!(
        err.contains("column `books.subtitle` is in the last snapshot but no field describes it"),
        "{err}"
    );
    assert!(
        err.contains("#[column(renamed_from = \"subtitle\")]"),
        "{err}"
    );
    assert!(err.contains("--allow-drop books.subtitle"), "{err}");
    assert_eq!(f.migrations(), before);

    let json = f.run(&["generate", "--format", "json"]).code(2);
    let v = documents::parse(&json.get_output().stdout);
    assert_eq!(v["status"], "error");
    assert_eq!(v["error"]["kind"], "decisions_required");
    assert_eq!(v["error"]["class"], "input");
    assert_eq!(v["error"]["items"][0]["kind"], "drop_column");
    assert_eq!(v["error"]["items"][0]["table"], "books");
    assert_eq!(v["error"]["items"][0]["column"], "subtitle");
    assert_eq!(v["error"]["items"][0]["fix"].as_array().unwrap().len(), 2);

    let allowed = f
        .run(&["generate", "--allow-drop", "books.subtitle"])
        .code(0);
    assert!(
        stdout(&allowed).contains(
            "warning[drop-column]: drop column `books.subtitle`: the column's data is deleted"
        ),
        "{}",
        stdout(&allowed)
    );
    let sql = String::from_utf8(f.migrations()["0001_drop_books_subtitle.sql"].clone()).unwrap();
    assert_eq!(sql, "ALTER TABLE \"books\" DROP COLUMN \"subtitle\";\n");
}

#[test]
fn a_rename_declared_in_code_is_a_rename() {
    let f = Fixture::new();
    f.edit(
        ENTITIES,
        "    pub subtitle: Option<String>,\n",
        "    #[column(renamed_from = \"subtitle\")]\n    pub tagline: Option<String>,\n",
    );
    let out = f
        .run(&["generate", "--name", "Tagline!", "--format", "json"])
        .code(0);
    let v = documents::parse(&out.get_output().stdout);
    assert_eq!(
        v["report"]["migration"]["warnings"][0]["id"],
        "rename-column"
    );
    assert_eq!(
        v["report"]["migration"]["changes"][0]["kind"],
        "rename_column"
    );
    assert_eq!(v["report"]["migration"]["changes"][0]["column"], "tagline");
    let sql = String::from_utf8(f.migrations()["0001_tagline.sql"].clone()).unwrap();
    assert_eq!(
        sql,
        "ALTER TABLE \"books\" RENAME COLUMN \"subtitle\" TO \"tagline\";\n"
    );
}

/// What breaks the code deployed before the migration is a `breaking-change` warning
/// naming the two-deploy way, each kind once; `--deny breaking-change` writes nothing.
#[test]
fn changes_that_break_the_deployed_code_are_warned_and_deniable() {
    let f = Fixture::new();
    let before = f.migrations();
    // A NOT NULL column the deployed code does not write, a rename and a drop.
    f.edit(
        ENTITIES,
        "    pub subtitle: Option<String>,\n",
        "    #[column(fill = \"1\")]\n    pub edition: i32,\n",
    );
    f.edit(
        ENTITIES,
        "    pub page_count: i32,",
        "    #[column(renamed_from = \"page_count\")]\n    pub pages: i32,",
    );
    let denied = f
        .run(&[
            "generate",
            "--allow-drop",
            "books.subtitle",
            "--deny",
            "breaking-change",
        ])
        .code(2);
    assert!(
        stderr(&denied).contains("warning[breaking-change]"),
        "{}",
        stderr(&denied)
    );
    assert_eq!(f.migrations(), before, "a denied change writes nothing");

    let out = f
        .run(&[
            "generate",
            "--allow-drop",
            "books.subtitle",
            "--format",
            "json",
        ])
        .code(0);
    let v = documents::parse(&out.get_output().stdout);
    let mut breaking: Vec<(String, String)> = v["report"]["migration"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["id"] == "breaking-change")
        .map(|w| {
            let message = w["message"].as_str().unwrap();
            assert!(message.contains("in two deploys"), "{message}");
            (
                w["column"].as_str().unwrap().to_owned(),
                message.split(';').next().unwrap().to_owned(),
            )
        })
        .collect();
    breaking.sort();
    assert_eq!(
        breaking,
        [
            (
                "edition".to_owned(),
                "code deployed before inserts into `books` without `edition`, and those inserts fail once this migration runs".to_owned()
            ),
            (
                "pages".to_owned(),
                "code deployed before reads `books.page_count` and fails from this migration until the new code is deployed".to_owned()
            ),
            (
                "subtitle".to_owned(),
                "code deployed before reads `books.subtitle` (its struct selects every field) and fails once this migration runs".to_owned()
            ),
        ]
    );
    // A nullable column, or one with a default, breaks nothing.
    let f = Fixture::new();
    f.edit(
        ENTITIES,
        "    pub subtitle: Option<String>,\n",
        "    pub subtitle: Option<String>,\n    pub edition: Option<i32>,\n    #[column(default = \"1\")]\n    pub printing: i32,\n",
    );
    let out = f.run(&["generate", "--format", "json"]).code(0);
    let v = documents::parse(&out.get_output().stdout);
    assert!(
        !v["report"]["migration"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == "breaking-change"),
        "{v:#}"
    );
}

#[test]
fn source_errors_name_file_line_and_column_all_at_once() {
    let f = Fixture::new();
    f.edit(
        ENTITIES,
        "    #[column(sql_type = \"varchar(32)\", unique)]\n    pub isbn: String,",
        "    #[column(sql_type = \"varchar(32)\", uniqe)]\n    pub isbn: String,",
    );
    f.edit(
        ENTITIES,
        "    pub page_count: i32,",
        "    pub page_count: u32,",
    );
    let out = f.run(&["generate"]).code(2);
    insta::assert_snapshot!(stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_change_dsql_cannot_make_is_refused_with_the_reason() {
    let f = Fixture::new();
    f.edit(ENTITIES, "    pub page_count: i32,", "    pub page_count: i32,\n    #[column(sql_type = \"inet\")]\n    pub origin: Option<String>,");
    let out = f.run(&["generate"]).code(2);
    let err = stderr(&out);
    assert!(err.contains("books.origin"), "{err}");
    assert!(
        err.contains("inet is not a column type on DSQL: use text"),
        "{err}"
    );
    let json = f.run(&["generate", "--format", "json"]).code(2);
    let v = documents::parse(&json.get_output().stdout);
    assert_eq!(v["error"]["kind"], "refused");
    assert_eq!(v["error"]["items"][0]["kind"], "add_column");
    assert!(
        f.migrations().keys().all(|name| !name.starts_with("0001_")),
        "nothing is written"
    );
}

#[test]
fn a_table_with_an_identity_column_is_rebuilt_on_dsql_and_its_ids_continue() {
    let f = Fixture::new();
    f.edit(
        ENTITIES,
        "    pub display_name: String,",
        "    #[column(sql_type = \"varchar(200)\")]\n    pub display_name: String,",
    );
    f.run(&["generate", "--name", "wider_name"]).code(0);
    let sql = String::from_utf8(f.migrations()["0001_wider_name.sql"].clone()).unwrap();
    assert!(
        sql.contains("-- tablewright:copy \"customers\" -> \"customers__tw_new\""),
        "{sql}"
    );
    assert!(
        sql.contains("GENERATED BY DEFAULT AS IDENTITY (CACHE 1)"),
        "{sql}"
    );
    f.run(&["check"]).code(0);
    f.run(&["verify"]).code(0);
}

#[test]
fn a_nullable_column_with_a_default_on_dsql_is_added_bare_then_backfilled() {
    let f = Fixture::new();
    f.edit(ENTITIES, "    pub page_count: i32,", "    pub page_count: i32,\n    #[column(default = \"'none'\")]\n    pub note: Option<String>,");
    f.run(&["generate", "--name", "note"]).code(0);
    let sql = String::from_utf8(f.migrations()["0001_note.sql"].clone()).unwrap();
    let statements: Vec<&str> = sql
        .split("--> statement-breakpoint")
        .map(str::trim)
        .collect();
    assert_eq!(
        statements,
        [
            "ALTER TABLE \"books\" ADD COLUMN \"note\" text;",
            "ALTER TABLE \"books\" ALTER COLUMN \"note\" SET DEFAULT ('none');",
            "-- tablewright:backfill \"books\".\"note\"\nUPDATE \"books\" SET \"note\" = ('none') WHERE \"note\" IS NULL;",
        ]
    );
    f.run(&["check"]).code(0);
    f.run(&["verify"]).code(0);
}

#[test]
fn a_type_change_on_dsql_is_planned_as_a_recreation() {
    let f = Fixture::new();
    f.edit(
        ENTITIES,
        "    pub page_count: i32,",
        "    pub page_count: i64,",
    );
    f.run(&["generate"]).code(0);
    let files = f.migrations();
    let (_, sql) = files
        .iter()
        .find(|(name, _)| name.starts_with("0001_"))
        .expect("a new migration");
    let sql = String::from_utf8(sql.clone()).unwrap();
    assert!(
        sql.contains(
            "-- tablewright:copy \"books\" -> \"books__tw_new\"\nINSERT INTO \"books__tw_new\""
        ),
        "{sql}"
    );
    assert!(sql.contains("\"page_count\"::bigint"), "{sql}");
    f.run(&["check"]).code(0);
    // Replayed from scratch (referencing foreign keys dropped and added back included),
    // the database equals the new snapshot.
    f.run(&["verify"]).code(0);
    // `check` reads the directive: a hand edit that breaks its form is reported.
    let (name, _) = files
        .iter()
        .find(|(name, _)| name.starts_with("0001_"))
        .unwrap();
    f.edit(
        &format!("migrations/{name}"),
        "FROM \"books\";",
        "FROM \"books\" WHERE true;",
    );
    let out = f.run(&["check"]).code(1);
    let err = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        err.contains(&format!("{name}: statement 4: copy directive: "))
            && err.contains("without WHERE"),
        "{err}"
    );
}

#[test]
fn custom_migration_is_an_empty_file_with_its_entry_and_snapshot() {
    let f = Fixture::new();
    f.run(&["generate", "--custom", "--name", "backfill_prices"])
        .code(0);
    let files = f.migrations();
    let sql = String::from_utf8(files["0001_backfill_prices.sql"].clone()).unwrap();
    assert!(sql.starts_with("-- Custom migration"), "{sql}");
    let s0: serde_json::Value = serde_json::from_slice(&files["meta/0000_snapshot.json"]).unwrap();
    let s1: serde_json::Value = serde_json::from_slice(&files["meta/0001_snapshot.json"]).unwrap();
    assert_eq!(s1["prevId"], s0["id"]);
    assert_eq!(s1["tables"], s0["tables"]);
    f.run(&["generate", "--check"]).code(0);
}

/// The custom migration's life: the template is consistent as written; once its SQL is
/// written `check` names `rehash` as the way out, and after `rehash` it is consistent again.
#[test]
fn a_custom_migration_is_written_then_rehashed() {
    let f = Fixture::new();
    f.run(&["generate", "--custom", "--name", "backfill_prices"])
        .code(0);
    f.run(&["check"]).code(0);
    let path = f.path("migrations/0001_backfill_prices.sql");
    let mut sql = fs::read_to_string(&path).unwrap();
    sql.push_str("UPDATE \"books\" SET \"title\" = upper(\"title\");\n");
    fs::write(&path, &sql).unwrap();
    let out = f.run(&["check"]).code(1);
    assert!(
        stdout(&out).contains("tablewright rehash --tag 0001_backfill_prices"),
        "{}",
        stdout(&out)
    );

    // A tag that is not in the journal changes nothing.
    let journal = fs::read(f.path("migrations/meta/_journal.json")).unwrap();
    let out = f.run(&["rehash", "--tag", "0001_backfill"]).code(2);
    assert!(
        stderr(&out).contains("no journal entry `0001_backfill`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read(f.path("migrations/meta/_journal.json")).unwrap(),
        journal
    );

    let out = f
        .run(&[
            "rehash",
            "--tag",
            "0001_backfill_prices",
            "--format",
            "json",
        ])
        .code(0);
    let v = documents::parse(&out.get_output().stdout);
    assert_eq!(v["status"], "rehashed");
    assert_eq!(v["report"]["rehashed"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["report"]["rehashed"][0]["tag"], "0001_backfill_prices");
    assert_eq!(
        v["report"]["rehashed"][0]["actual"],
        tablewright_core::project::hash::migration_hash(sql.as_bytes())
    );
    f.run(&["check"]).code(0);
    f.run(&["generate", "--check"]).code(0);
    f.run(&["rehash"]).code(2);
    let out = f.run(&["rehash", "--all"]).code(0);
    assert!(stdout(&out).contains("already matches"), "{}", stdout(&out));
}

#[test]
fn check_reports_an_edited_migration() {
    let f = Fixture::new();
    let path = f.path("migrations/0000_init.sql");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("-- sneaky edit\n");
    fs::write(&path, text).unwrap();
    let out = f.run(&["check"]).code(1);
    assert!(
        stdout(&out).contains("0000_init.sql was edited after it was generated"),
        "{}",
        stdout(&out)
    );
    let json = f.run(&["check", "--format", "json"]).code(1);
    let v = documents::parse(&json.get_output().stdout);
    assert_eq!(v["report"]["problems"][0]["kind"], "edited");
}

#[test]
fn check_accepts_crlf_checkouts() {
    let f = Fixture::new();
    let path = f.path("migrations/0000_init.sql");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace('\n', "\r\n")).unwrap();
    f.run(&["check"]).code(0);
}

#[test]
fn check_reports_a_branch_fork_with_what_to_do() {
    let f = Fixture::new();
    // Two branches each generate 0001 on top of 0000; after the merge one was renumbered.
    f.edit(
        ENTITIES,
        "    pub subtitle: Option<String>,\n",
        "    pub subtitle: Option<String>,\n    pub blurb: Option<String>,\n",
    );
    f.run(&["generate"]).code(0);
    let snapshot = fs::read(f.path("migrations/meta/0001_snapshot.json")).unwrap();
    let mut other: serde_json::Value = serde_json::from_slice(&snapshot).unwrap();
    other["id"] = "11111111-2222-3333-4444-555555555555".into();
    fs::write(
        f.path("migrations/meta/0002_snapshot.json"),
        serde_json::to_string_pretty(&other).unwrap(),
    )
    .unwrap();
    fs::write(
        f.path("migrations/0002_other_branch.sql"),
        "ALTER TABLE \"books\" ADD COLUMN \"x\" text;\n",
    )
    .unwrap();
    let out = f.run(&["check"]).code(1);
    let text = stdout(&out);
    assert!(text.contains("branch fork"), "{text}");
    assert!(text.contains("Keep the one merged first"), "{text}");
    // generate refuses to build on top of a forked folder.
    let gen_out = f.run(&["generate"]).code(2);
    assert!(
        stderr(&gen_out).contains("fix them before generating"),
        "{}",
        stderr(&gen_out)
    );
}

#[test]
fn a_missing_config_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("tablewright")
        .unwrap()
        .current_dir(dir.path())
        .args(["generate"])
        .assert()
        .code(2);
    assert!(
        stderr(&out).contains("config tablewright.toml"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--config PATH"), "{}", stderr(&out));
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let out = Command::cargo_bin("tablewright")
        .unwrap()
        .args(["--help"])
        .assert()
        .code(0);
    let text = stdout(&out);
    assert!(text.contains("Exit codes: 0 ok, 1 a check found a problem, 2 usage or input error,\n3 the database refused a statement or the run failed"), "{text}");
    // Each command's help shows that command's examples, and no other command's.
    for (command, example, other) in [
        (
            &["generate"][..],
            "tablewright generate --check",
            "tablewright migrate",
        ),
        (
            &["migrate"],
            "tablewright migrate --timeout 5m",
            "tablewright generate",
        ),
        (
            &["status"],
            "tablewright status --exit-code",
            "tablewright drift",
        ),
        (
            &["permissions", "validate"],
            "tablewright permissions validate --strict",
            "tablewright migrate",
        ),
        (
            &["import", "drizzle"],
            "tablewright import drizzle --from",
            "tablewright push",
        ),
    ] {
        let out = Command::cargo_bin("tablewright")
            .unwrap()
            .args(command)
            .arg("--help")
            .assert()
            .code(0);
        let text = stdout(&out);
        let examples = text
            .split_once("Examples:")
            .unwrap_or_else(|| panic!("{command:?}: {text}"))
            .1;
        assert!(
            examples.contains(example) && !examples.contains(other),
            "{command:?}: {examples}"
        );
        assert!(
            examples.contains("Exit codes: 0 ok"),
            "{command:?}: {examples}"
        );
    }
}

#[test]
fn secrets_never_appear_in_output() {
    let f = Fixture::new();
    for format in ["text", "json"] {
        let out = f
            .run(&[
                "migrate",
                "--format",
                format,
                "--connection-string",
                "postgres://app:hunter2-secret@127.0.0.1:1/x?password=other-secret",
            ])
            .code(3);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains("postgres://app:***@127.0.0.1:1/x"), "{all}");
        assert!(
            !all.contains("hunter2-secret") && !all.contains("other-secret"),
            "{all}"
        );
    }
    // Malformed on purpose (unencoded `/`, `?`, `@`, a password twice), through every
    // command that takes a connection, in both formats, also from DATABASE_URL.
    let urls = [
        ("postgres://app:slash/secret@127.0.0.1:1/x", "slash/secret"),
        ("postgres://app:quest?secret@127.0.0.1:1/x", "quest?secret"),
        ("postgres://app:at@secret@127.0.0.1:1/x", "at@secret"),
        (
            "postgres://127.0.0.1:1/x?password=first-secret&password=second-secret",
            "second-secret",
        ),
    ];
    for (url, secret) in urls {
        for command in [
            &["migrate"][..],
            &["status"],
            &["drift"],
            &["pull"],
            &["push"],
            &["permissions", "validate"],
            &["mark-applied", "--file", "0000_init"],
            &["clone", "--to", "postgres://127.0.0.1:1/y"],
        ] {
            for format in ["text", "json"] {
                let from_flag: Vec<&str> = if command[0] == "clone" {
                    vec!["--from", url]
                } else {
                    vec!["--connection-string", url]
                };
                let out = Command::cargo_bin("tablewright")
                    .unwrap()
                    .current_dir(f.dir.path())
                    .args(command)
                    .args(["--format", format])
                    .args(&from_flag)
                    .output()
                    .unwrap();
                let all = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(!all.contains(secret), "{command:?} {format}: {all}");
                assert_ne!(out.status.code(), Some(0), "{command:?}: {all}");
                if format == "json" {
                    let doc = documents::parse(&out.stdout);
                    assert_eq!(doc["status"], "error", "{command:?}: {doc}");
                }
            }
            if command[0] != "clone" {
                let out = Command::cargo_bin("tablewright")
                    .unwrap()
                    .current_dir(f.dir.path())
                    .args(command)
                    .env("DATABASE_URL", url)
                    .env_remove("DSQL_ENDPOINT")
                    .output()
                    .unwrap();
                let all = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    !all.contains(secret),
                    "{command:?} from DATABASE_URL: {all}"
                );
            }
        }
    }
    // DSQL: a token is signed from these credentials; neither it nor the key may show.
    let out = Command::cargo_bin("tablewright")
        .unwrap()
        .current_dir(f.dir.path())
        .env("DSQL_ENDPOINT", "abc.dsql.us-east-1.on.aws")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-very-secret")
        .env_remove("DATABASE_URL")
        .args(["migrate", "--dry-run"])
        .assert()
        .code(3);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("connect to dsql at abc.dsql.us-east-1.on.aws"),
        "{all}"
    );
    assert!(
        !all.contains("very-secret")
            && !all.contains("X-Amz-Signature")
            && !all.contains("DbConnectAdmin"),
        "{all}"
    );
}

const HANDLERS: &str = "examples/bookstore/src/handlers.rs";

#[test]
fn a_new_grant_is_pending_then_written_to_the_permissions_file_only() {
    let f = Fixture::new();
    let before = f.migrations();
    let path = f.path(HANDLERS);
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(
        "\n#[requires_table(Customer, delete, role = \"support\")]\npub fn forget_customer() {}\n",
    );
    fs::write(&path, text).unwrap();
    let pending = f.run(&["generate", "--check"]).code(1);
    assert!(
        stdout(&pending).contains("permissions/permissions.sql is out of date"),
        "{}",
        stdout(&pending)
    );
    f.run(&["generate"]).code(0);
    let permissions = fs::read_to_string(f.path("permissions/permissions.sql")).unwrap();
    assert!(
        permissions.contains("CREATE ROLE \"support\" WITH LOGIN;\n"),
        "{permissions}"
    );
    assert!(permissions.contains("GRANT DELETE ON \"customers\" TO \"support\"; -- examples/bookstore/src/handlers.rs forget_customer\n"), "{permissions}");
    assert_eq!(
        f.migrations(),
        before,
        "a permissions change writes no migration"
    );
    f.run(&["generate", "--check"]).code(0);
}

#[test]
fn a_handler_naming_no_entity_is_an_error_at_its_location() {
    let f = Fixture::new();
    f.edit(
        HANDLERS,
        "#[requires_table(Book, insert, role = \"catalog_writer\")]",
        "#[requires_table(Boook, insert, role = \"catalog_writer\")]",
    );
    let out = f.run(&["generate"]).code(2);
    let err = stderr(&out);
    assert!(err.contains("examples/bookstore/src/handlers.rs:9:1: error: `Boook` in #[requires_table] on `create_book` is not a #[derive(Table)] struct"), "{err}");
}

#[test]
fn durations_take_seconds_or_units_within_their_range() {
    // Out of range or unreadable: a usage error before anything connects, naming the range.
    for (flag, value, says) in [
        ("--timeout", "0", "from 1s to 365d"),
        ("--timeout", "366days", "from 1s to 365d"),
        ("--timeout", "18446744073709551615", "out of range"),
        ("--timeout", "5 fortnights", "write seconds, or a duration"),
        ("--lock-lease", "25h", "from 1s to 1d"),
        ("--lock-lease", "500ms", "from 1s to 1d"),
    ] {
        let out = Command::cargo_bin("tablewright")
            .unwrap()
            .args([
                "migrate",
                "--connection-string",
                "postgres://127.0.0.1:1/none",
                flag,
                value,
            ])
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
    }
    // Accepted, in either spelling: the run gets as far as connecting (nothing listens on
    // port 1), which is a run failure, not a usage error.
    for (flag, value) in [
        ("--timeout", "90"),
        ("--timeout", "1m30s"),
        ("--lock-lease", "5m"),
        ("--lock-lease", "300"),
    ] {
        let out = Command::cargo_bin("tablewright")
            .unwrap()
            .current_dir(repo())
            .args([
                "migrate",
                "--provider",
                "postgres",
                "--connection-string",
                "postgres://127.0.0.1:1/none",
                flag,
                value,
            ])
            .assert()
            .code(3);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            !stderr.contains("invalid value"),
            "{flag} {value}: {stderr}"
        );
    }
}

#[test]
fn usage_errors_are_one_json_document_when_json_is_asked_for() {
    for args in [
        &["migrate", "--format", "json", "--timeout", "5 fortnights"][..],
        &["generate", "--format=json", "--no-such-flag"],
        &["status", "--format", "json", "--provider", "oracle"],
    ] {
        let out = Command::cargo_bin("tablewright")
            .unwrap()
            .args(args)
            .assert()
            .code(2);
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        let doc = documents::parse(stdout.as_bytes());
        assert_eq!(doc["status"], "error", "{args:?}: {doc}");
        assert_eq!(doc["command"], serde_json::Value::Null, "{args:?}: {doc}");
        assert_eq!(doc["error"]["kind"], "usage", "{args:?}: {doc}");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(
            !message.starts_with("error:") && message.contains("--help"),
            "{args:?}: {message}"
        );
    }
    // Text stays clap's own, on stderr; help is no error.
    let out = Command::cargo_bin("tablewright")
        .unwrap()
        .args(["generate", "--no-such-flag"])
        .assert()
        .code(2);
    assert!(
        out.get_output().stdout.is_empty()
            && String::from_utf8_lossy(&out.get_output().stderr).contains("unexpected argument")
    );
    Command::cargo_bin("tablewright")
        .unwrap()
        .args(["generate", "--help", "--format", "json"])
        .assert()
        .code(0);
    // An argument that is not UTF-8 is refused, not a panic.
    use std::os::unix::ffi::OsStrExt as _;
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9");
    for format in ["text", "json"] {
        Command::cargo_bin("tablewright")
            .unwrap()
            .args(["generate", "--format", format, "--name"])
            .arg(latin1)
            .assert()
            .code(2);
    }
}

/// Source errors are drawn as rustc draws them (annotate-snippets): the underline sits
/// under the offending text when wide characters come before it, and a span over several
/// lines (a multi-line SQL string) is marked as one.
#[test]
fn diagnostics_underline_wide_characters_and_spans_over_several_lines() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("tablewright.toml"),
        "dialect = \"postgres\"\nschema = [\"src/*.rs\"]\nout = \"migrations\"\n",
    )
    .unwrap();
    fs::create_dir(dir.path().join("src")).unwrap();
    let source = "use tablewright_derive::Table;\n\n/// 書籍: 本の一覧\n#[derive(Table)]\n#[table(name = \"books\")]\npub struct Book {\n    #[column(primary_key)]\n    pub id: i64,\n    #[column(default = \"'本' ||\n        (\")]\n    pub title: String,\n    /* 価格 */ pub price: u32,\n}\n";
    fs::write(dir.path().join("src/books.rs"), source).unwrap();
    let out = Command::cargo_bin("tablewright")
        .unwrap()
        .current_dir(dir.path())
        .args(["generate"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    insta::assert_snapshot!(stderr);
    assert!(
        !dir.path().join("migrations").exists(),
        "nothing is written"
    );
}

/// Every command's JSON, in each outcome the folder alone can give (success, no-op,
/// check failure, input error, database failure), validates against its committed schema
/// and exits with the code of its outcome.
#[test]
fn every_json_document_matches_its_schema_and_its_exit_code() {
    let f = Fixture::new();
    let unreachable = [
        "--connection-string",
        "postgres://127.0.0.1:1/none",
        "--provider",
        "postgres",
    ];
    let run = |args: &[&str], code: i32, status: &str| {
        let out = f.run(args).code(code);
        let doc = documents::parse(&out.get_output().stdout);
        assert_eq!(doc["status"], status, "{args:?}: {doc}");
        assert_eq!(doc["error"].is_null(), status != "error", "{args:?}: {doc}");
        doc
    };
    run(&["generate", "--format", "json"], 0, "up_to_date");
    run(&["check", "--format", "json"], 0, "ok");
    run(&["check-dsql", "--format", "json"], 0, "ok");
    run(&["rehash", "--all", "--format", "json"], 0, "unchanged");
    run(&["generate", "--format", "json", "--bogus"], 2, "error");
    let bad_name = run(
        &["generate", "--format", "json", "--custom", "--name", "!!"],
        2,
        "error",
    );
    assert_eq!(bad_name["error"]["class"], "input");
    for command in [
        &["migrate"][..],
        &["status"],
        &["drift"],
        &["pull"],
        &["mark-applied", "--file", "0000_init"],
        &["permissions", "apply"],
        &["permissions", "validate"],
    ] {
        let args: Vec<&str> = command
            .iter()
            .copied()
            .chain(["--format", "json"])
            .chain(unreachable)
            .collect();
        let doc = run(&args, 3, "error");
        assert_eq!(
            doc["command"],
            command
                .iter()
                .take_while(|a| !a.starts_with('-'))
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            "{doc}"
        );
        assert_eq!(
            (
                doc["error"]["kind"].as_str(),
                doc["error"]["class"].as_str()
            ),
            (Some("database"), Some("run")),
            "{doc}"
        );
    }
    let push = run(
        &[
            "push",
            "--format",
            "json",
            "--connection-string",
            "postgres://127.0.0.1:1/none",
            "--provider",
            "dsql",
        ],
        2,
        "error",
    );
    assert_eq!(push["error"]["class"], "input");
    f.edit(
        ENTITIES,
        "    pub subtitle: Option<String>,\n",
        "    pub subtitle: Option<String>,\n    pub blurb: Option<String>,\n",
    );
    let text = f.run(&["generate", "--check"]).code(1);
    assert!(
        stdout(&text).contains("Run the same command without --check to write them."),
        "{}",
        stdout(&text)
    );
    let pending = run(&["generate", "--check", "--format", "json"], 1, "pending");
    assert_eq!(
        pending["report"]["migration"]["changes"][0]["kind"],
        "add_column"
    );
    assert_eq!(
        pending["report"]["migration"]["changes"][0]["table"],
        "books"
    );
    assert_eq!(
        pending["report"]["migration"]["changes"][0]["column"],
        "blurb"
    );
    let written = run(&["generate", "--format", "json"], 0, "written");
    assert_eq!(
        written["report"]["migration"]["files"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "{written}"
    );
    let dry = run(&["squash", "--format", "json"], 0, "squashed");
    assert_eq!(
        dry["report"]["squashed"].as_array().map(Vec::len),
        Some(2),
        "{dry}"
    );
}

/// No flag value panics the CLI: each numeric flag at its extremes (and past them) is a
/// usage error (2), or, when accepted, the run gets as far as the unreachable database
/// (3); never 101 or a signal.
#[test]
fn no_flag_value_at_its_extremes_panics() {
    let f = Fixture::new();
    let max = u64::MAX.to_string();
    let past = "340282366920938463463374607431768211456".to_owned();
    let unreachable = [
        "--provider",
        "postgres",
        "--connection-string",
        "postgres://127.0.0.1:1/none",
    ];
    let mut cases: Vec<Vec<String>> = Vec::new();
    for value in ["0", "-1", "1", &max, &past, "", "NaN", "1e9"] {
        for flag in ["--timeout", "--lock-lease", "--batch-rows"] {
            cases.push(
                ["migrate", flag, value]
                    .iter()
                    .chain(&unreachable)
                    .map(|s| s.to_string())
                    .collect(),
            );
        }
        cases.push(
            ["mark-applied", "--file", "0000_init", "--through", value]
                .iter()
                .chain(&unreachable)
                .map(|s| s.to_string())
                .collect(),
        );
        cases.push(
            [
                "clone",
                "--from",
                "postgres://127.0.0.1:1/a",
                "--to",
                "postgres://127.0.0.1:1/b",
                "--rows",
                value,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
        cases.push(
            [
                "verify",
                "--connection-string",
                "postgres://127.0.0.1:1/none",
                "--with-rows",
                value,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
    }
    for args in cases {
        for format in ["text", "json"] {
            let out = Command::cargo_bin("tablewright")
                .unwrap()
                .current_dir(f.dir.path())
                .args(&args)
                .args(["--format", format])
                .timeout(std::time::Duration::from_secs(60))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(1..=3)),
                "{args:?} {format}: {:?}\n{stderr}",
                out.status
            );
            assert!(!stderr.contains("panicked"), "{args:?} {format}: {stderr}");
            if format == "json" {
                documents::parse(&out.stdout);
            }
        }
    }
}

/// The diagram of the example: its exact text (insta), the same text in the README's
/// rendered block, Mermaid's own parser accepting it, and the JSON document's shape.
#[test]
fn the_examples_diagram_is_in_the_readme_and_parses() {
    let f = Fixture::new();
    let before = f.migrations();
    let out = f.run(&["diagram"]).code(0);
    let text = stdout(&out);
    insta::assert_snapshot!(text);
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```mermaid\n{text}```")),
        "README.md shows the example's diagram as `tablewright diagram` prints it:\n{text}"
    );
    let script = repo().join("tools/mermaid/parse.mjs");
    let parsed = std::process::Command::new("node")
        .arg(&script)
        .stdin(
            fs::File::open({
                let path = f.path("diagram.mmd");
                fs::write(&path, &text).unwrap();
                path
            })
            .unwrap(),
        )
        .output()
        .expect("node runs: scripts/test installs Node.js and tools/mermaid");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );

    let json = f
        .run(&["diagram", "--table", "book_covers", "--format", "json"])
        .code(0);
    let v = documents::parse(&json.get_output().stdout);
    let tables: Vec<(&str, bool)> = v["report"]["diagram"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["related_only"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(tables, [("book_covers", false), ("books", true)]);
    assert_eq!(
        v["report"]["diagram"]["relationships"][0]["child_cardinality"], "zero_or_one",
        "a cover's key is its book's: one cover at most per book"
    );

    let unknown = f
        .run(&["diagram", "--table", "nope", "--format", "json"])
        .code(2);
    let v = documents::parse(&unknown.get_output().stdout);
    assert_eq!(v["error"]["kind"], "unknown_table");
    assert_eq!(f.migrations(), before, "diagram writes nothing");
}

/// `review --since REF` in a repository the test makes with git: a branch adds a NOT NULL
/// column (a table rebuild on DSQL), renames and drops columns, widens a role's grant and
/// adds a custom migration. The Markdown shows each migration's statements and how they
/// run, the warnings, the breaking changes with the two-deploy way, the permissions and a
/// diagram Mermaid parses; the JSON document has the same; a revision git does not know
/// exits 2.
#[test]
fn review_shows_what_a_branchs_migrations_do() {
    let f = Fixture::new();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(f.dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "base"]);

    let none = f.run(&["review", "--since", "main"]).code(0);
    assert!(
        stdout(&none).contains("No new migration."),
        "{}",
        stdout(&none)
    );

    f.edit(
        ENTITIES,
        "    pub subtitle: Option<String>,\n",
        "    #[column(fill = \"1\")]\n    pub edition: i32,\n",
    );
    f.edit(
        ENTITIES,
        "    pub page_count: i32,",
        "    #[column(renamed_from = \"page_count\")]\n    pub pages: i32,",
    );
    f.edit(
        "examples/bookstore/src/handlers.rs",
        "#[requires_table(Book, insert, role = \"catalog_writer\")]",
        "#[requires_table(Book, select, insert, role = \"catalog_writer\")]",
    );
    f.run(&[
        "generate",
        "--allow-drop",
        "books.subtitle",
        "--name",
        "editions",
    ])
    .code(0);
    f.run(&["generate", "--custom", "--name", "backfill_prices"])
        .code(0);

    let out = f.run(&["review", "--since", "main"]).code(0);
    let markdown = stdout(&out);
    insta::assert_snapshot!(markdown);
    for expected in [
        "2 new migration(s), planned for Aurora DSQL.",
        "table rebuild: rows copied in batches",
        "`table-rebuild`",
        "**Breaking changes** for the code deployed before",
        "code deployed before reads `books.page_count`",
        "code deployed before inserts into `books` without `edition`",
        "in two deploys",
        "Hand-written SQL (`generate --custom`)",
        "-GRANT INSERT ON \"books\" TO \"catalog_writer\";\n+GRANT SELECT, INSERT ON \"books\" TO \"catalog_writer\";\n",
        "### Tables touched",
    ] {
        assert!(
            markdown.contains(expected),
            "`{expected}` missing:\n{markdown}"
        );
    }
    let diagram = markdown
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a mermaid block");
    let path = f.path("touched.mmd");
    fs::write(&path, diagram).unwrap();
    let parsed = std::process::Command::new("node")
        .arg(repo().join("tools/mermaid/parse.mjs"))
        .stdin(fs::File::open(&path).unwrap())
        .output()
        .expect("node runs: scripts/test installs Node.js and tools/mermaid");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );

    let json = f
        .run(&["review", "--since", "main", "--format", "json"])
        .code(0);
    let v = documents::parse(&json.get_output().stdout);
    let migrations = v["report"]["review"]["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 2);
    assert_eq!(migrations[1]["custom"], true);
    assert_eq!(
        migrations[0]["breaking_changes"].as_array().unwrap().len(),
        3,
        "{:#}",
        migrations[0]
    );

    let unknown = f.run(&["review", "--since", "no-such-branch"]).code(2);
    assert!(
        stderr(&unknown).contains("`no-such-branch` is not a revision git knows"),
        "{}",
        stderr(&unknown)
    );
}
