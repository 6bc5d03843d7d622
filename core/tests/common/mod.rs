//! Helpers shared by the database and scenario tests.
#![allow(dead_code)] // each test binary uses a different subset

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use tablewright_core::dialect::Dialect;
use tablewright_core::runner::introspect;
use tablewright_core::schema::compare;
use tablewright_core::schema::desired::DesiredSchema;
use tablewright_core::schema::scan::{self, Scan};
use tablewright_core::sql::emulate;

/// The server the database tests use. They never skip: an unreachable server fails them.
pub fn admin_url() -> String {
    std::env::var("TABLEWRIGHT_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Reads Rust source text the way the CLI does.
pub fn desired_from_source(label: &str, text: &str) -> DesiredSchema {
    let mut scanned = Scan::default();
    let mut errors = Vec::new();
    scan::scan_source(
        Path::new(label),
        text,
        &mut scanned,
        &mut errors,
        &tablewright_core::schema::sql_text::ParsedFragments,
    );
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

/// The tablespace the test databases are made in when the server has it (`scripts/test`
/// makes it on /dev/shm). A test server is never crashed, so it needs no disk; and a
/// test run creates and deletes hundreds of thousands of relation files, which a
/// journal-less ext4 (this machine's) pays for in a search of its inode tables per new
/// file: about a quarter of the CPU of the property tests.
pub const TEST_TABLESPACE: &str = "tablewright_test";

/// What the test databases are copies of: made once per server and reused by every run
/// (their names carry a hash of what they hold, so a changed guard gets new ones).
struct Templates {
    plain: String,
    guarded: String,
    /// `STRATEGY FILE_COPY` where the server has it (15+): it copies the template's files
    /// instead of writing every page of it to the WAL, and is the faster for small ones.
    strategy: &'static str,
    /// 15+ owns `public` by `pg_database_owner` with USAGE for all; 14 and older by the
    /// bootstrap superuser with CREATE and USAGE for all. [`TestDb::reset`] puts it back so.
    public_owner: String,
    public_grant: &'static str,
}

/// Bump when the templates hold something new other than through the guard's text.
const TEMPLATE_LAYOUT: u32 = 1;

static TEMPLATES: tokio::sync::OnceCell<Templates> = tokio::sync::OnceCell::const_new();

async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(drop)
}

async fn templates() -> &'static Templates {
    TEMPLATES
        .get_or_init(|| async {
            let mut conn = admin().await;
            let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::integer").fetch_one(&mut conn).await.unwrap();
            // Used only while its folder is there: a reboot empties /dev/shm and leaves the
            // catalog entry behind until scripts/test makes it again.
            let tablespace: Option<String> = sqlx::query_scalar(
                "SELECT oid::text FROM pg_tablespace WHERE spcname = $1 AND pg_stat_file(pg_tablespace_location(oid), true) IS NOT NULL",
            )
            .bind(TEST_TABLESPACE)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
            execute(
                &mut conn,
                format!("DO $$ BEGIN CREATE ROLE {GUARDED_ROLE} LOGIN NOSUPERUSER CREATEROLE; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"),
            )
            .await
            .unwrap();
            // The tablespace's oid is in the key: one made again (after a reboot emptied
            // /dev/shm) gets new templates rather than copies of vanished files.
            let key = tablewright_core::project::hash::sha256_hex(format!("{TEMPLATE_LAYOUT}\n{tablespace:?}\n{}", tablewright_core::runner::DSQL_GUARD_SQL).as_bytes());
            let key = &key[..12];
            let plain = ensure_template(&mut conn, &format!("tablewright_template_plain_{key}"), tablespace.is_some(), false).await;
            let guarded = ensure_template(&mut conn, &format!("tablewright_template_guarded_{key}"), tablespace.is_some(), true).await;
            // Templates of another key (an earlier guard, another checkout) are not dropped
            // here: a run of that checkout may be copying them. scripts/test sweeps them
            // when no test run is connected.
            let public_owner = if version >= 150000 {
                "pg_database_owner".to_owned()
            } else {
                sqlx::query_scalar("SELECT quote_ident(rolname) FROM pg_roles WHERE oid = 10").fetch_one(&mut conn).await.unwrap()
            };
            Templates {
                plain,
                guarded,
                strategy: if version >= 150000 { " STRATEGY FILE_COPY" } else { "" },
                public_owner,
                public_grant: if version >= 150000 { "USAGE" } else { "ALL" },
            }
        })
        .await
}

/// Makes template `name` unless the server has it. Race-free across test processes: each
/// builds under a name of its own and renames it into place; the loser drops its copy.
async fn ensure_template(
    conn: &mut PgConnection,
    name: &str,
    in_tablespace: bool,
    guard: bool,
) -> String {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    if exists {
        return name.to_owned();
    }
    let building = format!(
        "{name}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let tablespace = if in_tablespace {
        format!(" TABLESPACE {TEST_TABLESPACE}")
    } else {
        String::new()
    };
    execute(conn, format!("CREATE DATABASE \"{building}\"{tablespace}")).await.unwrap_or_else(|e| {
        panic!("creating a test template in tablespace `{TEST_TABLESPACE}`: {e}. If its folder is gone (a reboot empties /dev/shm), run scripts/test, which makes it again")
    });
    if guard {
        let mut inside = PgConnection::connect(&database_url(&building))
            .await
            .unwrap();
        sqlx::raw_sql(tablewright_core::runner::DSQL_GUARD_SQL)
            .execute(&mut inside)
            .await
            .unwrap();
        inside.close().await.unwrap();
    }
    // Nobody connects to a template: a session in it would make every copy fail.
    execute(
        conn,
        format!("ALTER DATABASE \"{building}\" WITH ALLOW_CONNECTIONS false"),
    )
    .await
    .unwrap();
    match execute(
        conn,
        format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\""),
    )
    .await
    {
        Ok(()) => {}
        // Another process got there first: `duplicate_database` when its rename had
        // committed, a unique violation when both were committing at once.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {
            execute(conn, format!("DROP DATABASE \"{building}\""))
                .await
                .unwrap();
        }
        Err(e) => panic!("renaming test template {building} to {name}: {e}"),
    }
    name.to_owned()
}

/// The admin URL with another database.
fn database_url(database: &str) -> String {
    tablewright_core::runner::scratch::with_database(&admin_url(), database)
}

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
        let templates = templates().await;
        match mode {
            Mode::Postgres => TestDb::copy(label, &templates.plain, None).await,
            Mode::DsqlGuarded => {
                let mut db = TestDb::copy(label, &templates.guarded, Some(GUARDED_ROLE)).await;
                let guarded = url_with_user(&db.url, GUARDED_ROLE);
                db.admin_db_url = Some(std::mem::replace(&mut db.url, guarded));
                db
            }
        }
    }

    /// A connection for setting up states the guard would refuse: the guard is switched
    /// off for this session, and objects it creates belong to the role under test.
    pub async fn connect_setup(&self) -> PgConnection {
        let mut conn = PgConnection::connect(self.admin_db_url.as_deref().unwrap_or(&self.url))
            .await
            .unwrap();
        sqlx::raw_sql("SET session_replication_role = replica")
            .execute(&mut conn)
            .await
            .unwrap();
        if self.admin_db_url.is_some() {
            sqlx::raw_sql(AssertSqlSafe(format!("SET ROLE {GUARDED_ROLE}")))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn
    }

    /// A plain database (a superuser's, no guard).
    pub async fn create(label: &str) -> TestDb {
        TestDb::copy(label, &templates().await.plain, None).await
    }

    async fn copy(label: &str, template: &str, owner: Option<&str>) -> TestDb {
        let unique = format!(
            "{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut name: String = format!("tw_{label}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        name.truncate(63 - unique.len() - 1);
        let name = format!("{name}_{unique}");
        let strategy = templates().await.strategy;
        let owner = owner.map(|o| format!(" OWNER {o}")).unwrap_or_default();
        let mut conn = admin().await;
        // A database of an earlier run whose process had this id and was killed.
        execute(
            &mut conn,
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        )
        .await
        .unwrap();
        execute(
            &mut conn,
            format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"{owner}{strategy}"),
        )
        .await
        .unwrap_or_else(|e| panic!("copying test template {template}: {e}"));
        let _ = conn.close().await;
        TestDb {
            url: database_url(&name),
            name,
            admin_db_url: None,
        }
    }

    /// Empties the database for another run, as a new copy of its template would be: every
    /// session in it ended, every schema but the guard's dropped (the runner's history and
    /// everything in `public` with them), `public` made again with its owner and grants.
    /// Much cheaper than dropping and creating a database; loops that need a fresh database
    /// per pass use it.
    pub async fn reset(&self) {
        let templates = templates().await;
        let mut conn = PgConnection::connect(self.admin_db_url.as_deref().unwrap_or(&self.url))
            .await
            .unwrap();
        // A session the test lost track of (a killed runner's, a cut connection's) could
        // still hold locks or commit into the next pass.
        let ended: Vec<bool> = sqlx::query_scalar("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(
            ended.iter().all(|e| *e),
            "resetting test database {}: a session in it did not end within 10 s",
            self.name
        );
        // A lock nobody releases (a prepared transaction) fails the test instead of hanging it.
        let sql = format!(
            r#"SET session_replication_role = replica;
SET lock_timeout = '30s';
DO $$
DECLARE s name;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname NOT IN ('information_schema', 'dsql_guard') LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', s);
    END LOOP;
END $$;
CREATE SCHEMA public AUTHORIZATION {owner};
GRANT {grant} ON SCHEMA public TO PUBLIC;
COMMENT ON SCHEMA public IS 'standard public schema';"#,
            owner = templates.public_owner,
            grant = templates.public_grant,
        );
        execute(&mut conn, sql)
            .await
            .unwrap_or_else(|e| panic!("resetting test database {}: {e}", self.name));
        let _ = conn.close().await;
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
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
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
        if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(&mut *conn)
            .await
        {
            panic!("statement failed on PostgreSQL: {e}\n{sql}");
        }
    }
}

/// Fails with every difference between the database and the expected schema.
pub async fn assert_database_matches(
    conn: &mut PgConnection,
    expected: &tablewright_core::schema::model::Schema,
    what: &str,
) {
    // Every schema holding tables, so a table made in the wrong one is seen.
    let schemas = introspect::application_schemas(
        conn,
        &[
            "dsql_guard".to_owned(),
            "tablewright".to_owned(),
            "drizzle".to_owned(),
        ],
    )
    .await
    .unwrap();
    let found = introspect::introspect(conn, &schemas).await.unwrap();
    assert!(
        found.invalid_indexes.is_empty(),
        "{what}: invalid indexes {:?}",
        found.invalid_indexes
    );
    let diffs = compare::differences(expected, &found.schema);
    assert!(
        diffs.is_empty(),
        "{what}: the database differs from the snapshot:\n  {}",
        diffs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// Every statement passes dsql-lint (the pinned version) with no diagnostic.
pub fn assert_dsql_lint_clean(statements: &[String], what: &str) {
    for statement in statements {
        let diagnostics = dsql_lint::lint_sql(statement);
        assert!(
            diagnostics.is_empty(),
            "{what}: dsql-lint flags\n{statement}\n{:#?}",
            diagnostics
                .iter()
                .map(|d| format!("{:?}: {}", d.rule, d.message))
                .collect::<Vec<_>>()
        );
    }
}

/// A migrations folder generated from `versions` (Rust sources) for `dialect`, one
/// migration per version, and the last version's schema.
pub fn generated(
    dialect: Dialect,
    versions: &[&str],
) -> (tempfile::TempDir, tablewright_core::schema::model::Schema) {
    use tablewright_core::generate::{self, GenerateOptions};
    use tablewright_core::project::config::Config;
    use tablewright_core::project::folder::MigrationFolder;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &dir.path().join("tablewright.toml"),
        &format!("dialect = \"{dialect}\"\nschema = [\"x.rs\"]\nout = \".\"\n"),
    )
    .unwrap();
    let mut last = tablewright_core::schema::model::Schema::default();
    for (i, source) in versions.iter().enumerate() {
        let desired = desired_from_source(&format!("v{i}.rs"), source);
        let folder = MigrationFolder::load(&config.out).unwrap();
        let migration = generate::plan_migration(
            &config,
            &desired,
            &folder,
            &GenerateOptions {
                now_ms: 1_700_000_000_000 + i as u64,
                ..Default::default()
            },
        )
        .unwrap();
        generate::write(
            Some(&migration.unwrap_or_else(|| panic!("version {i} changes nothing"))),
            None,
        )
        .unwrap();
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
        Mode::Postgres => tablewright_core::runner::Target::Postgres {
            url: url.to_owned(),
        },
        Mode::DsqlGuarded => tablewright_core::runner::Target::DsqlEmulated {
            url: url.to_owned(),
        },
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
    table_v2().replace(
        "pub code: String,",
        "pub code: String,\n    #[column(default = \"'fresh'\")]\n    pub note: Option<String>,",
    )
}

/// Runs `sql` on a connection of its own from a thread of its own, and waits for it: for
/// failpoint callbacks, which are not async and run inside the runner's runtime.
pub fn execute_blocking(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let mut c = PgConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            })
    })
    .join()
    .unwrap();
}
