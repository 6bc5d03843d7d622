//! Helpers shared by the database and scenario tests.
#![allow(dead_code)] // each test binary uses a different subset

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use tablewright_core::schema::desired::DesiredSchema;
use tablewright_core::compile::rules::Dialect;
use tablewright_core::schema::scan::{self, Scan};
use tablewright_core::runner::introspect;
use tablewright_core::schema::compare;
use tablewright_core::sql::emulate;

/// The server the database tests use. They never skip: an unreachable server fails them.
pub fn admin_url() -> String {
    std::env::var("TABLEWRIGHT_TEST_ADMIN_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Reads Rust source text the way the CLI does.
pub fn desired_from_source(label: &str, text: &str) -> DesiredSchema {
    let mut scanned = Scan::default();
    let mut errors = Vec::new();
    scan::scan_source(Path::new(label), text, &mut scanned, &mut errors, &tablewright_core::sql::fragment::ParsedFragments);
    assert!(errors.is_empty(), "{label} does not parse: {errors:#?}");
    scanned.desired
}

/// A database created for one test and dropped by [`TestDb::drop`].
pub struct TestDb {
    pub name: String,
    pub url: String,
    /// For guarded databases: the superuser URL of the same database.
    pub admin_db_url: Option<String>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

async fn admin() -> PgConnection {
    let url = admin_url();
    PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {url}: {e}. Start it (see README); database tests fail rather than skip"))
}

/// The two ways the runner's tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain PostgreSQL.
    Postgres,
    /// DSQL's rules on PostgreSQL, under the DSQL guard, as a non-superuser role.
    DsqlGuarded,
}

impl Mode {
    pub fn dialect(self) -> Dialect {
        match self {
            Mode::Postgres => Dialect::Postgres,
            Mode::DsqlGuarded => Dialect::Dsql,
        }
    }
}

/// The role the guarded tests run as: not a superuser, so the revoked advisory-lock
/// functions really are unavailable to it; CREATEROLE, as DSQL's `admin` can create roles.
pub const GUARDED_ROLE: &str = "tablewright_guarded";

/// `admin_url` with another user.
fn url_with_user(url: &str, user: &str) -> String {
    let rest = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[rest..].find('@') {
        Some(at) => format!("{}{user}{}", &url[..rest], &url[rest + at..]),
        None => format!("{}{user}@{}", &url[..rest], &url[rest..]),
    }
}

impl TestDb {
    /// A database for `mode`: plain, or owned by the guarded role with the guard installed;
    /// `url` connects the way the code under test must.
    pub async fn for_mode(label: &str, mode: Mode) -> TestDb {
        let mut db = TestDb::create(label).await;
        if mode == Mode::Postgres {
            return db;
        }
        let mut conn = admin().await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DO $$ BEGIN CREATE ROLE {GUARDED_ROLE} LOGIN NOSUPERUSER CREATEROLE; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("ALTER DATABASE \"{}\" OWNER TO {GUARDED_ROLE}", db.name))).execute(&mut conn).await.unwrap();
        let mut inside = PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(tablewright_core::runner::DSQL_GUARD_SQL).execute(&mut inside).await.unwrap();
        let guarded = url_with_user(&db.url, GUARDED_ROLE);
        db.admin_db_url = Some(std::mem::replace(&mut db.url, guarded));
        db
    }

    /// A connection for setting up states the guard would refuse: the guard is switched
    /// off for this session, and objects it creates belong to the role under test.
    pub async fn connect_setup(&self) -> PgConnection {
        let mut conn = PgConnection::connect(self.admin_db_url.as_deref().unwrap_or(&self.url)).await.unwrap();
        sqlx::raw_sql("SET session_replication_role = replica").execute(&mut conn).await.unwrap();
        if self.admin_db_url.is_some() {
            sqlx::raw_sql(AssertSqlSafe(format!("SET ROLE {GUARDED_ROLE}"))).execute(&mut conn).await.unwrap();
        }
        conn
    }

    pub async fn create(label: &str) -> TestDb {
        let unique = format!("{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut name: String = format!("tw_{label}").chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        name.truncate(63 - unique.len() - 1);
        let name = format!("{name}_{unique}");
        let mut conn = admin().await;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
        let base = admin_url();
        let url = match base.rfind('/') {
            Some(i) => format!("{}/{name}", &base[..i]),
            None => panic!("admin url {base} has no database part"),
        };
        TestDb { name, url, admin_db_url: None }
    }

    /// Empties the database for another run, as a new one would be (the runner's history
    /// and everything in `public` gone; the DSQL guard stays), which is much cheaper than
    /// dropping and creating a database.
    pub async fn reset(&self) {
        let mut conn = self.connect_setup().await;
        sqlx::raw_sql("DROP SCHEMA IF EXISTS tablewright CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public").execute(&mut conn).await.unwrap();
    }

    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }

}

/// Drops the database when the test ends, passed or panicked, so failures leave nothing
/// behind. (Synchronous, on its own thread and runtime, because `Drop` cannot await.)
impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut conn = admin().await;
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await
            })
        });
        if let Ok(Err(e)) = cleanup.join()
            && !std::thread::panicking()
        {
            panic!("dropping test database {}: {e}", self.name);
        }
    }
}

/// Runs statements one by one, outside any transaction (as `CREATE INDEX CONCURRENTLY`
/// needs); DSQL statements lose only the `ASYNC` PostgreSQL lacks.
pub async fn apply(conn: &mut PgConnection, statements: &[String], dialect: Dialect) {
    for statement in statements {
        let sql = match dialect {
            Dialect::Dsql => emulate::to_postgres(statement),
            Dialect::Postgres => statement.clone(),
        };
        if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(&mut *conn).await {
            panic!("statement failed on PostgreSQL: {e}\n{sql}");
        }
    }
}

/// Fails with every difference between the database and the expected schema.
pub async fn assert_database_matches(conn: &mut PgConnection, expected: &tablewright_core::schema::model::Schema, what: &str) {
    let found = introspect::introspect(conn, "public").await.unwrap();
    assert!(found.invalid_indexes.is_empty(), "{what}: invalid indexes {:?}", found.invalid_indexes);
    let diffs = compare::differences(expected, &found.schema);
    assert!(diffs.is_empty(), "{what}: the database differs from the snapshot:\n  {}", diffs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "));
}

/// Every statement passes dsql-lint (the pinned version) with no diagnostic.
pub fn assert_dsql_lint_clean(statements: &[String], what: &str) {
    for statement in statements {
        let diagnostics = dsql_lint::lint_sql(statement);
        assert!(
            diagnostics.is_empty(),
            "{what}: dsql-lint flags\n{statement}\n{:#?}",
            diagnostics.iter().map(|d| format!("{:?}: {}", d.rule, d.message)).collect::<Vec<_>>()
        );
    }
}

/// A migrations folder generated from `versions` (Rust sources) for `dialect`, one
/// migration per version, and the last version's schema.
pub fn generated(dialect: Dialect, versions: &[&str]) -> (tempfile::TempDir, tablewright_core::schema::model::Schema) {
    use tablewright_core::project::config::Config;
    use tablewright_core::project::folder::MigrationFolder;
    use tablewright_core::generate::{self, GenerateOptions};
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&dir.path().join("tablewright.toml"), &format!("dialect = \"{dialect}\"\nschema = [\"x.rs\"]\nout = \".\"\n")).unwrap();
    let mut last = tablewright_core::schema::model::Schema::default();
    for (i, source) in versions.iter().enumerate() {
        let desired = desired_from_source(&format!("v{i}.rs"), source);
        let folder = MigrationFolder::load(&config.out).unwrap();
        let migration = generate::plan_migration(&config, &desired, &folder, &GenerateOptions { now_ms: 1_700_000_000_000 + i as u64, ..Default::default() }).unwrap();
        generate::write(Some(&migration.unwrap_or_else(|| panic!("version {i} changes nothing"))), None).unwrap();
        last = desired.schema;
    }
    (dir, last)
}

/// A migration written by hand, as the runner reads one.
pub fn hand(tag: &str, statements: &[&str]) -> tablewright_core::runner::LocalMigration {
    let text = statements.join("\n--> statement-breakpoint\n");
    tablewright_core::runner::LocalMigration {
        tag: tag.into(),
        when: 0,
        hash: tablewright_core::project::hash::migration_hash(text.as_bytes()),
        statements: statements.iter().map(|s| (*s).to_owned()).collect(),
        origin: format!("{tag}.sql"),
    }
}

/// The runner's target for a test mode.
pub fn target(mode: Mode, url: &str) -> tablewright_core::runner::Target {
    match mode {
        Mode::Postgres => tablewright_core::runner::Target::Postgres { url: url.to_owned() },
        Mode::DsqlGuarded => tablewright_core::runner::Target::DsqlEmulated { url: url.to_owned() },
    }
}

/// The recreation fixture: a table with a unique column and an index.
pub const TABLE_V1: &str = r#"
#[derive(Table)]
#[table(name = "t")]
#[index(columns(pages))]
pub struct T {
    #[column(primary_key)]
    pub id: i32,
    pub pages: i32,
    #[column(unique)]
    pub code: String,
}
"#;

/// `TABLE_V1` with `pages` widened: a recreation on DSQL, an ALTER TYPE on PostgreSQL.
pub fn table_v2() -> String {
    TABLE_V1.replace("pub pages: i32", "pub pages: i64")
}

/// `table_v2` with a nullable column with a default: a backfill on DSQL.
pub fn table_v3() -> String {
    table_v2().replace("pub code: String,", "pub code: String,\n    #[column(default = \"'fresh'\")]\n    pub note: Option<String>,")
}

/// Runs `sql` on a connection of its own from a thread of its own, and waits for it: for
/// failpoint callbacks, which are not async and run inside the runner's runtime.
pub fn execute_blocking(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            let mut c = PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
        })
    })
    .join()
    .unwrap();
}
