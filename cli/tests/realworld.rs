//! Real teams' drizzle-kit histories (tests/fixtures/realworld/<owner>__<repo>/, each with
//! its SOURCE and LICENSE), taken the way a team adopts tablewright: import, check, migrate,
//! drift, half-way adoption from drizzle's own history, pull.
//!
//! Each corpus gets PostgreSQL servers of its own (throwaway ones from the machine's
//! binaries): histories that create roles cannot run twice on one server, and roles are
//! the server's, not a database's.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod process;

use process::{assert_exit, bin, text};
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tablewright_core::runner::EmbeddedPostgres;

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("FAILPOINTS")
        .output()
        .unwrap()
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/realworld")
        .join(name)
}

/// One journal entry of a drizzle-kit folder: its tag, `when`, and the file's bytes.
struct Entry {
    tag: String,
    when: u64,
    sql: Vec<u8>,
}

fn entries(folder: &Path) -> Vec<Entry> {
    let journal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("meta/_journal.json")).unwrap()).unwrap();
    journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let tag = e["tag"].as_str().unwrap().to_owned();
            Entry {
                sql: std::fs::read(folder.join(format!("{tag}.sql"))).unwrap(),
                when: e["when"].as_u64().unwrap(),
                tag,
            }
        })
        .collect()
}

/// Applies `entries` as drizzle-orm's migrator does (each file split on its breakpoints and
/// run in a transaction), recording each in `drizzle.__drizzle_migrations` as it does: the
/// SHA-256 of the file's bytes and the journal's `when`.
async fn as_drizzle_applies(url: &str, entries: &[Entry]) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql("CREATE SCHEMA IF NOT EXISTS drizzle; CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)")
        .execute(&mut conn)
        .await
        .unwrap();
    for entry in entries {
        let mut tx = conn.begin().await.unwrap();
        for statement in String::from_utf8(entry.sql.clone())
            .unwrap()
            .split("--> statement-breakpoint")
        {
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&mut *tx)
                .await
            {
                panic!(
                    "{}: drizzle's way does not apply it: {e}\n{statement}",
                    entry.tag
                );
            }
        }
        sqlx::query("INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ($1, $2)")
            .bind(tablewright_core::project::hash::sha256_hex(&entry.sql))
            .bind(entry.when as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let _ = conn.close().await;
}

/// A new database on `server`.
async fn database(server: &EmbeddedPostgres, name: &str) -> String {
    let mut admin = PgConnection::connect(&server.url("postgres"))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    server.url(name)
}

/// The schema as `pg_dump -s` prints it, without the histories (tablewright's and
/// drizzle's) and without the lines that name the dump rather than the schema.
fn dump(url: &str) -> String {
    let out = Command::new("pg_dump")
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-schema=tablewright",
            "--exclude-schema=drizzle",
            url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_dump: {}", text(&out.stderr));
    // (`\restrict` carries a random key of each dump.)
    let skip = |l: &&str| {
        l.starts_with("--")
            || l.starts_with("SET ")
            || l.starts_with("SELECT pg_catalog.set_config")
            || l.starts_with("\\restrict")
            || l.starts_with("\\unrestrict")
            || l.is_empty()
    };
    text(&out.stdout)
        .lines()
        .filter(|l| !skip(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails naming the first line where two dumps part.
fn assert_same_schema(found: &str, reference: &str, what: &str) {
    if found != reference {
        let (f, r): (Vec<&str>, Vec<&str>) = (found.lines().collect(), reference.lines().collect());
        let at = f
            .iter()
            .zip(&r)
            .position(|(a, b)| a != b)
            .unwrap_or(f.len().min(r.len()));
        panic!(
            "{what}: the schemas part at line {at}:\n  found:     {:?}\n  reference: {:?}",
            f.get(at..(at + 5).min(f.len())),
            r.get(at..(at + 5).min(r.len()))
        );
    }
}

/// The whole path of a team adopting tablewright for the corpus `name`.
async fn adopt(name: &str) {
    let from = corpus(name).join("migrations");
    let entries = entries(&from);
    assert!(
        corpus(name).join("SOURCE").is_file() && corpus(name).join("LICENSE").is_file(),
        "{name}: SOURCE and LICENSE are kept with the corpus"
    );

    // The reference: what drizzle's migrator makes of the history.
    let reference_server = EmbeddedPostgres::start().await.unwrap();
    let reference = database(&reference_server, "reference").await;
    as_drizzle_applies(&reference, &entries).await;

    // import, then the structs plan nothing.
    let dir = process::entities_project("postgres");
    let out = run(
        dir.path(),
        &["import", "drizzle", "--from", from.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: import: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // SQL files the journal does not name (drizzle never ran them) are said, not imported.
    for file in std::fs::read_dir(&from)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
    {
        if let Some(tag) = file.strip_suffix(".sql")
            && !entries.iter().any(|e| e.tag == tag)
        {
            assert!(
                text(&out.stdout).contains(&format!("{file} is not in the journal")),
                "{name}: {file}: {}",
                text(&out.stdout)
            );
            assert!(
                !dir.path().join("migrations").join(&file).exists(),
                "{name}: {file} was imported"
            );
        }
    }
    // What the structs do not carry is listed, never passed over.
    let history = entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.sql).to_uppercase())
        .collect::<String>();
    for (made_by, listed) in [
        ("CREATE POLICY", "policy `"),
        ("ENABLE ROW LEVEL SECURITY", "row-level security on `"),
        ("CREATE TRIGGER", "trigger `"),
        ("CREATE OR REPLACE FUNCTION", "function `"),
        ("CREATE VIEW", "view `"),
    ] {
        if history.contains(made_by) {
            assert!(
                text(&out.stdout).contains(listed),
                "{name}: the history runs {made_by}, and import does not list a {listed}..: {}",
                text(&out.stdout)
            );
        }
    }
    for command in [&["generate", "--check"][..], &["check"]] {
        let out = run(dir.path(), command);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {command:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    // migrate on an empty database equals drizzle's result; again, it does nothing; drift is clean.
    let server = EmbeddedPostgres::start().await.unwrap();
    let fresh = database(&server, "fresh").await;
    let on = |url: &str, args: &[&str]| {
        run(
            dir.path(),
            &[
                args,
                &["--provider", "postgres", "--connection-string", url],
            ]
            .concat(),
        )
    };
    let out = on(&fresh, &["migrate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: migrate: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let reference_schema = dump(&reference);
    assert_same_schema(
        &dump(&fresh),
        &reference_schema,
        &format!("{name}: migrate made another schema than drizzle's migrator"),
    );
    let out = on(&fresh, &["migrate"]);
    assert!(
        text(&out.stdout).contains(&format!(
            "Done: 0 applied, {} already applied.",
            entries.len()
        )),
        "{name}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = on(&fresh, &["drift"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: drift on a freshly migrated database: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // drizzle applied the first half: migrate records it and runs only the rest.
    let half = entries.len() / 2;
    let halfway_server = EmbeddedPostgres::start().await.unwrap();
    let halfway = database(&halfway_server, "halfway").await;
    as_drizzle_applies(&halfway, &entries[..half]).await;
    let out = on(&halfway, &["migrate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: migrate after drizzle: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let shown = text(&out.stdout);
    for (i, entry) in entries.iter().enumerate() {
        let (by_drizzle, applied) = (
            format!("{}: applied by drizzle-kit", entry.tag),
            format!("{}: applied in", entry.tag),
        );
        assert_eq!(
            (shown.contains(&by_drizzle), shown.contains(&applied)),
            (i < half, i >= half),
            "{name}: {}: {shown}",
            entry.tag
        );
    }
    assert_same_schema(
        &dump(&halfway),
        &reference_schema,
        &format!("{name}: half-way adoption made another schema"),
    );
    let out = on(&halfway, &["drift"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: drift after half-way adoption: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // pull of drizzle's database writes the structs import wrote: generate has nothing to do.
    let out = on(&reference, &["pull", "--out", "src/pulled.rs"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: pull: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    std::fs::rename(
        dir.path().join("src/pulled.rs"),
        dir.path().join("src/entities.rs"),
    )
    .unwrap();
    let out = run(dir.path(), &["generate", "--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: generate --check on pulled structs: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

macro_rules! corpora {
    ($($test:ident => $name:literal),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                adopt($name).await;
            }
        )+
    };
}

corpora! {
    dittofeed => "dittofeed__dittofeed",
    dorkos => "dork-labs__dorkos",
    homarr => "homarr-labs__homarr",
    kaneo => "usekaneo__kaneo",
    mail_0_zero => "Mail-0__Zero",
    morphic => "miurla__morphic",
    scorebrawl => "thor-coding-cowboys__scorebrawl",
    tambo => "tambo-ai__tambo",
    vercel_ai_chatbot => "vercel__ai-chatbot",
    wundergraph_cosmo => "wundergraph__cosmo",
}

/// lmnr's history makes what the structs cannot say (an identity with its own MAXVALUE,
/// unique constraints over a primary key's columns that `ALTER TABLE` added): import names
/// each and writes nothing, rather than structs whose next `generate` would drop them.
#[test]
fn lmnr_is_refused_naming_what_cannot_be_said() {
    let dir = process::entities_project("postgres");
    let from = corpus("lmnr-ai__lmnr").join("migrations");
    let out = run(
        dir.path(),
        &["import", "drizzle", "--from", from.to_str().unwrap()],
    );
    assert_exit(&out, 1);
    for needle in [
        "`subscription_tiers.id` is an identity with its own MINVALUE, MAXVALUE or CYCLE",
        "unique `unique_span_id_project_id` on `spans`",
        "unique `user_usage_workspace_id_key` on `workspace_usage`",
        "Nothing was written",
    ] {
        assert!(
            text(&out.stdout).contains(needle),
            "`{needle}` not said: {}",
            text(&out.stdout)
        );
    }
    assert!(
        !dir.path().join("migrations").exists() && !dir.path().join("src").exists(),
        "nothing written"
    );
}

/// drizzle-kit v1 writes one folder per migration and no journal; `drizzle-kit up` turns a
/// 0.x folder into it (each folder named by its journal time, UTC to the second, and its
/// tag without the index). vercel's history in that layout: imported, checked, migrated
/// to drizzle's schema, and adopted half-way from a v1 migrator's table (with its `name`
/// and `applied_at` columns).
#[tokio::test]
async fn vercel_ai_chatbot_in_drizzle_kit_v1_s_layout() {
    const V1_FOLDERS: [&str; 9] = [
        "20241010220702_keen_devos",
        "20241029130923_sparkling_blue_marvel",
        "20241104130026_wandering_riptide",
        "20241205125031_cloudy_glorian",
        "20241211192712_odd_slayback",
        "20250314064350_wooden_whistler",
        "20250501164926_marvelous_frog_thor",
        "20250908201933_flowery_ben_parker",
        "20260115121010_flat_forgotten_one",
    ];
    let entries = entries(&corpus("vercel__ai-chatbot").join("migrations"));
    let v1 = tempfile::tempdir().unwrap();
    for (entry, folder) in entries.iter().zip(V1_FOLDERS) {
        std::fs::create_dir_all(v1.path().join(folder)).unwrap();
        std::fs::write(v1.path().join(folder).join("migration.sql"), &entry.sql).unwrap();
        std::fs::write(
            v1.path().join(folder).join("snapshot.json"),
            "{\"version\": \"8\", \"dialect\": \"postgres\"}",
        )
        .unwrap();
    }
    let reference_server = EmbeddedPostgres::start().await.unwrap();
    let reference = database(&reference_server, "reference").await;
    as_drizzle_applies(&reference, &entries).await;

    let dir = process::entities_project("postgres");
    let out = run(
        dir.path(),
        &[
            "import",
            "drizzle",
            "--from",
            v1.path().to_str().unwrap(),
            "--connection-string",
            &reference_server.url("postgres"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "import: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(&format!(
            "Imported 9 drizzle-kit migration(s) ({}",
            V1_FOLDERS[0]
        )),
        "{}",
        text(&out.stdout)
    );
    let out = run(dir.path(), &["generate", "--check"]);
    assert_exit(&out, 0);
    // check-dsql reads the v1 folder's `migration.sql` files.
    let out = run(dir.path(), &["check-dsql", v1.path().to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains("Total: 26 |"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // A v1 migrator's table, the first five applied.
    let server = EmbeddedPostgres::start().await.unwrap();
    let halfway = database(&server, "halfway").await;
    as_drizzle_applies(&halfway, &entries[..5]).await;
    let mut conn = PgConnection::connect(&halfway).await.unwrap();
    sqlx::raw_sql("ALTER TABLE drizzle.__drizzle_migrations ADD COLUMN name text, ADD COLUMN applied_at timestamptz DEFAULT now()").execute(&mut conn).await.unwrap();
    for (id, folder) in V1_FOLDERS[..5].iter().enumerate() {
        sqlx::query("UPDATE drizzle.__drizzle_migrations SET name = $1 WHERE id = $2")
            .bind(folder)
            .bind(id as i32 + 1)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let _ = conn.close().await;
    let out = run(
        dir.path(),
        &[
            "migrate",
            "--provider",
            "postgres",
            "--connection-string",
            &halfway,
        ],
    );
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains(&format!("{}: applied by drizzle-kit", V1_FOLDERS[4]))
            && text(&out.stdout).contains(&format!("{}: applied in", V1_FOLDERS[5])),
        "{}",
        text(&out.stdout)
    );
    assert_same_schema(
        &dump(&halfway),
        &dump(&reference),
        "v1 layout, half-way adoption",
    );
}

/// drizzle's migrator skips a migration whose `when` is older than the newest row's:
/// kaneo's 0006 has an older `when` than 0005, so a database drizzle upgraded through 0005
/// and then again lacks 0006. Adopted by hash, not by position: refused until the operator
/// says 0006 never ran (`--run-skipped`); then the other rows are recorded, 0006 and what
/// drizzle never ran are run, and the schema is drizzle's fresh one.
#[tokio::test]
async fn kaneo_upgraded_twice_by_drizzle_is_adopted_around_the_migration_it_skipped() {
    let name = "usekaneo__kaneo";
    let from = corpus(name).join("migrations");
    let entries = entries(&from);
    assert!(
        entries[6].when < entries[5].when,
        "the journal's times go back at 0006"
    );
    let server = EmbeddedPostgres::start().await.unwrap();
    let reference = database(&server, "reference").await;
    as_drizzle_applies(&reference, &entries).await;
    let gap = database(&server, "gap").await;
    as_drizzle_applies(&gap, &entries[..6]).await;
    as_drizzle_applies(&gap, &entries[7..21]).await;

    let dir = process::entities_project("postgres");
    let out = run(
        dir.path(),
        &["import", "drizzle", "--from", from.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    // Skipped by drizzle, or applied by hand? Only the operator knows: refused, named.
    let out = run(
        dir.path(),
        &[
            "migrate",
            "--provider",
            "postgres",
            "--connection-string",
            &gap,
        ],
    );
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains(&format!(
            "tablewright migrate --run-skipped {}",
            entries[6].tag
        )),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        dir.path(),
        &[
            "migrate",
            "--provider",
            "postgres",
            "--connection-string",
            &gap,
            "--run-skipped",
            &entries[6].tag,
        ],
    );
    assert_exit(&out, 0);
    let shown = text(&out.stdout);
    for (i, entry) in entries.iter().enumerate() {
        let by_drizzle = i < 21 && i != 6;
        assert_eq!(
            shown.contains(&format!("{}: applied by drizzle-kit", entry.tag)),
            by_drizzle,
            "{}: {shown}",
            entry.tag
        );
        assert_eq!(
            shown.contains(&format!("{}: applied in", entry.tag)),
            !by_drizzle,
            "{}: {shown}",
            entry.tag
        );
    }
    assert_same_schema(&dump(&gap), &dump(&reference), "kaneo adopted around 0006");
}

/// On a dsql project, import says which of drizzle-kit's statements `migrate` would refuse
/// under DSQL's rules, and the way to a DSQL database from the history.
#[test]
fn a_dsql_project_is_told_what_of_the_history_dsql_refuses() {
    let dir = process::entities_project("dsql");
    let from = corpus("vercel__ai-chatbot").join("migrations");
    let out = run(
        dir.path(),
        &[
            "import",
            "drizzle",
            "--from",
            from.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_exit(&out, 0);
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs_otherwise: Vec<&str> = document["report"]["runs_otherwise"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(runs_otherwise.iter().any(|n| n.starts_with("on dsql, `migrate` refuses 14 statement(s) of these files (11 FOREIGN KEY, 3 RECREATION, 0 ERROR") && n.contains("`tablewright squash`")), "{runs_otherwise:#?}");
}
