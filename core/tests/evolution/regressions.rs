//! Regression cases for what the property tests and the issue found, each a short history
//! run through the same oracle (in both dialects), plus the checks the oracle does not
//! make: `ON CONFLICT ON CONSTRAINT`, identities continuing, what the database refuses.

use super::{Databases, Stats, Step, run};
use crate::common::{Mode, TestDb};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::Mutex;

fn step(source: &str, allow_drop: &[&str], rows: &[&str]) -> Step {
    Step {
        source: source.to_owned(),
        allow_drop: allow_drop.iter().map(|s| (*s).to_owned()).collect(),
        rows: rows.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Runs the history in both dialects through the oracle; then `after` on each evolved
/// database.
fn both(steps: &[Step], after: impl AsyncFn(Mode, &mut PgConnection)) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for mode in [Mode::Postgres, Mode::DsqlGuarded] {
        tokio.block_on(async {
            let stats = Mutex::new(Stats::default());
            let dbs = Databases::new(mode).await;
            run(mode, steps, &stats, &dbs)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                stats.lock().unwrap().refusals.is_empty(),
                "{mode:?}: refused"
            );
            let mut conn = PgConnection::connect(&dbs.evolved.url).await.unwrap();
            after(mode, &mut conn).await;
        });
    }
}

async fn scalar(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn exec(conn: &mut PgConnection, sql: &str) -> Result<(), String> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

const AUTHORS_AND_BOOKS: &str = r#"
#[derive(Table)]
#[table(name = "authors")]
pub struct Author {
    #[column(primary_key)]
    pub id: i64,
}

#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    #[column(references = "authors.id")]
    pub author_id: Option<i64>,
    #[column(sql_type = "varchar(20)")]
    pub title: String,
}
"#;

const BOOK_ROWS: &[&str] = &[
    "INSERT INTO authors (id) SELECT g FROM generate_series(1, 5) g",
    "INSERT INTO books (id, author_id, title) SELECT g, 1 + g % 5, 'b' || g FROM generate_series(1, 40) g",
];

/// The referenced table goes with the foreign key pointing at it, while the referencing
/// table is rebuilt on DSQL (its title widens): the key is dropped before the table.
#[test]
fn a_referenced_table_dropped_with_its_foreign_key() {
    let after = r#"
#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    pub author_id: Option<i64>,
    #[column(sql_type = "varchar(40)")]
    pub title: String,
}
"#;
    both(
        &[
            step(AUTHORS_AND_BOOKS, &[], BOOK_ROWS),
            step(after, &["authors"], &[]),
        ],
        async |_, conn| {
            assert_eq!(scalar(conn, "SELECT count(*) FROM books").await, 40);
        },
    );
}

/// A referencing table dropped while the table it references is rebuilt (DSQL): the
/// rebuild does not touch the dropped table.
#[test]
fn a_table_dropped_while_the_table_it_references_is_rebuilt() {
    let after = r#"
#[derive(Table)]
#[table(name = "authors")]
pub struct Author {
    #[column(primary_key)]
    pub id: i64,
    #[column(fill = "'unknown'")]
    pub name: String,
}
"#;
    both(
        &[
            step(AUTHORS_AND_BOOKS, &[], BOOK_ROWS),
            step(after, &["books"], &[]),
        ],
        async |_, conn| {
            assert_eq!(
                scalar(conn, "SELECT count(*) FROM authors WHERE name = 'unknown'").await,
                5
            );
        },
    );
}

/// Precisions of the time types, spelled as `format_type()` does, and a widening.
#[test]
fn time_precisions() {
    let source = |ts: &str| {
        format!(
            r#"
#[derive(Table)]
#[table(name = "events")]
pub struct Event {{
    #[column(primary_key)]
    pub id: i64,
    #[column(sql_type = "{ts}")]
    pub at: DateTime<Utc>,
    #[column(sql_type = "timestamp(0)")]
    pub local: NaiveDateTime,
    #[column(sql_type = "time(2)")]
    pub clock: Option<NaiveTime>,
    #[column(sql_type = "timetz(4)")]
    pub zoned: Option<NaiveTime>,
    #[column(sql_type = "float(10)")]
    pub ratio: Option<f32>,
}}
"#
        )
    };
    let rows =
        ["INSERT INTO events (id, at, local) SELECT g, now(), now() FROM generate_series(1, 10) g"];
    both(
        &[
            step(&source("timestamptz(3)"), &[], &rows),
            step(&source("timestamptz(6)"), &[], &rows[..0]),
        ],
        async |_, conn| {
            let types: Vec<String> = sqlx::query_scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'events'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attname")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            assert_eq!(
                types,
                [
                    "timestamp(6) with time zone",
                    "time(2) without time zone",
                    "bigint",
                    "timestamp(0) without time zone",
                    "real",
                    "time(4) with time zone"
                ]
            );
        },
    );
}

const TAGS: &str = r#"
#[derive(Table)]
#[table(name = "tags")]
UNIQUE
pub struct Tag {
    #[column(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    #[column(sql_type = "NAME_TYPE")]
    pub name: String,
}
"#;

fn tags(unique: bool, name_type: &str) -> String {
    TAGS.replace(
        "UNIQUE",
        if unique {
            "#[unique(columns(tenant_id, name))]"
        } else {
            ""
        },
    )
    .replace("NAME_TYPE", name_type)
}

const TAG_ROWS: &[&str] = &[
    "INSERT INTO tags (id, tenant_id, name) SELECT g, g % 3, 't' || g FROM generate_series(1, 30) g",
];

/// `ON CONFLICT ON CONSTRAINT` needs a constraint, which the structs' `#[unique]` is.
async fn upsert_by_constraint_works(conn: &mut PgConnection) {
    let constraint = scalar(conn, "SELECT count(*) FROM pg_constraint WHERE conname = 'tags_tenant_id_name_key' AND contype = 'u'").await;
    assert_eq!(
        constraint, 1,
        "tags_tenant_id_name_key is a UNIQUE constraint"
    );
    exec(conn, "INSERT INTO tags (id, tenant_id, name) VALUES (1000, 1, 't1') ON CONFLICT ON CONSTRAINT tags_tenant_id_name_key DO NOTHING").await.unwrap();
    assert_eq!(
        scalar(
            conn,
            "SELECT count(*) FROM tags WHERE tenant_id = 1 AND name = 't1'"
        )
        .await,
        1
    );
}

/// A UNIQUE added to a table with rows is a constraint afterwards, in both dialects.
#[test]
fn a_unique_added_to_an_existing_table_is_a_constraint() {
    both(
        &[
            step(&tags(false, "varchar(20)"), &[], TAG_ROWS),
            step(&tags(true, "varchar(20)"), &[], &[]),
        ],
        async |_, conn| {
            upsert_by_constraint_works(conn).await;
        },
    );
}

/// A DSQL rebuild (the name widens) keeps the table's UNIQUE constraint.
#[test]
fn a_rebuild_keeps_unique_constraints() {
    both(
        &[
            step(&tags(true, "varchar(20)"), &[], TAG_ROWS),
            step(&tags(true, "varchar(40)"), &[], &[]),
        ],
        async |_, conn| {
            upsert_by_constraint_works(conn).await;
        },
    );
}

/// A table with an identity column is rebuilt on DSQL, and new rows get ids past every id
/// the old table handed out.
#[test]
fn an_identity_table_is_rebuilt_and_its_ids_continue() {
    let source = |t: &str| {
        format!(
            r#"
#[derive(Table)]
#[table(name = "customers")]
pub struct Customer {{
    #[column(primary_key, identity)]
    pub id: i64,
    #[column(sql_type = "{t}")]
    pub name: String,
}}
"#
        )
    };
    // The last five rows are deleted: their ids were handed out and stay retired.
    let rows = [
        "INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 25) g",
        "DELETE FROM customers WHERE id > 20",
    ];
    both(
        &[
            step(&source("varchar(20)"), &[], &rows),
            step(&source("varchar(40)"), &[], &[]),
        ],
        async |mode, conn| {
            assert_eq!(
                scalar(conn, "SELECT max(id) FROM customers").await,
                20,
                "{mode:?}"
            );
            let next = scalar(
                conn,
                "INSERT INTO customers (name) VALUES ('new') RETURNING id",
            )
            .await;
            assert!(
                next > 25,
                "{mode:?}: a new row got id {next}, not past the 25 handed out"
            );
        },
    );
}

/// Index names swapped between two columns, then one index taking the name of another
/// that goes: drops run before the renames and creations that reuse the names.
#[test]
fn index_names_swapped_and_reused() {
    let source = |indexes: &str| {
        format!(
            r#"
#[derive(Table)]
#[table(name = "notes")]
{indexes}
pub struct Note {{
    #[column(primary_key)]
    pub id: i64,
    pub a: i64,
    pub b: i64,
}}
"#
        )
    };
    let rows = ["INSERT INTO notes (id, a, b) SELECT g, g, -g FROM generate_series(1, 10) g"];
    both(
        &[
            step(
                &source(
                    "#[index(columns(a), name = \"ix_a\")]\n#[index(columns(b), name = \"ix_b\")]",
                ),
                &[],
                &rows,
            ),
            step(
                &source(
                    "#[index(columns(b), name = \"ix_a\")]\n#[index(columns(a), name = \"ix_b\")]",
                ),
                &[],
                &[],
            ),
            step(&source("#[index(columns(b), name = \"ix_b\")]"), &[], &[]),
        ],
        async |_, conn| {
            let definition: String =
                sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_b'")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
            assert!(definition.ends_with("(b)"), "{definition}");
            assert_eq!(
                scalar(
                    conn,
                    "SELECT count(*) FROM pg_indexes WHERE tablename = 'notes'"
                )
                .await,
                2
            );
        },
    );
}

/// `generate --custom` writes a template whose header mentions the breakpoint; it runs as
/// is, and a breakpoint inside a string does not cut a statement.
#[test]
fn a_custom_template_runs_as_written() {
    use tablewright_core::generate::{self, GenerateOptions};
    use tablewright_core::project::folder::MigrationFolder;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for mode in [Mode::Postgres, Mode::DsqlGuarded] {
        let dir = tempfile::tempdir().unwrap();
        let config = super::project(dir.path(), mode);
        let desired = super::desired(&tags(false, "text")).unwrap();
        for (k, custom) in [false, true].into_iter().enumerate() {
            let folder = MigrationFolder::load(&config.out).unwrap();
            let options = GenerateOptions {
                now_ms: 1_700_000_000_000 + k as u64,
                custom,
                ..Default::default()
            };
            let migration = generate::plan_migration(&config, &desired, &folder, &options)
                .unwrap()
                .unwrap();
            generate::write(Some(&migration), None).unwrap();
        }
        let custom = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("_custom.sql"))
            .unwrap();
        let template = std::fs::read_to_string(&custom).unwrap();
        assert!(
            template.contains("--> statement-breakpoint"),
            "the header names the breakpoint: {template}"
        );
        tokio.block_on(async {
            let db = TestDb::for_mode("custom", mode).await;
            let report = super::migrate(mode, &db.url, dir.path()).await.unwrap();
            assert_eq!(report.applied.len(), 2, "{mode:?}: the template applies as written");
            // Written into the template: a string holding the breakpoint stays one statement.
            std::fs::write(&custom, format!("{template}INSERT INTO tags (id, tenant_id, name) VALUES (1, 1, '--> statement-breakpoint');\n")).unwrap();
            let db = TestDb::for_mode("custom_edited", mode).await;
            // The edit's hash recorded, as `tablewright rehash` does.
            let rehashed = MigrationFolder::load(dir.path()).unwrap().rehash(&[]).unwrap();
            assert_eq!(rehashed.len(), 1, "{rehashed:?}");
            super::migrate(mode, &db.url, dir.path()).await.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
            let mut conn = PgConnection::connect(&db.url).await.unwrap();
            let name: String = sqlx::query_scalar("SELECT name FROM tags").fetch_one(&mut conn).await.unwrap();
            assert_eq!(name, "--> statement-breakpoint");
        });
    }
}

fn scan_errors(source: &str) -> Vec<String> {
    let mut scanned = tablewright_core::schema::scan::Scan::default();
    let mut errors = Vec::new();
    tablewright_core::schema::scan::scan_source(
        std::path::Path::new("app.rs"),
        source,
        &mut scanned,
        &mut errors,
        &tablewright_core::schema::sql_text::ParsedFragments,
    );
    errors
        .iter()
        .map(|e| format!("{}: {}", e.location, e.message))
        .collect()
}

/// SQL in attributes is parsed: what is not exactly one expression or one type is refused,
/// on the attribute's line and column.
#[test]
fn attribute_sql_that_is_not_one_expression_or_type_is_refused_with_its_place() {
    let cases = [
        (
            "#[check(name = \"c\", expr = \"id > 0)); DROP TABLE victim; CREATE TABLE zz (x int CHECK (x > 0\")]",
            "pub other: i64,",
            "app.rs:4:28: bad check `expr`",
        ),
        (
            "",
            "#[column(default = \"E'\\\\''); DROP TABLE victim; SELECT ('\")]\n    pub note: Option<String>,",
            "app.rs:7:24: bad `default`",
        ),
        (
            "",
            "#[column(sql_type = \"bigint references victim on delete cascade\")]\n    pub other: i64,",
            "app.rs:7:25: invalid `sql_type`",
        ),
        (
            "",
            "#[column(sql_type = \"text not null\")]\n    pub other: String,",
            "app.rs:7:25: invalid `sql_type`",
        ),
        (
            "",
            "#[column(fill = \"1 2\")]\n    pub other: i64,",
            "app.rs:7:21: bad `fill`",
        ),
    ];
    for (struct_attr, field, expected) in cases {
        let source = format!(
            "\n#[derive(Table)]\n#[table(name = \"t\")]\n{struct_attr}\npub struct T {{\n    #[column(primary_key)]\n    pub id: i64,\n    {field}\n}}\n"
        );
        let source = source.replacen("\n\npub struct", "\npub struct", 1);
        let errors = scan_errors(&source);
        assert!(
            errors.len() == 1 && errors[0].starts_with(expected),
            "{source}\nexpected `{expected}..`, got {errors:#?}"
        );
    }
    // A breakpoint inside a string is refused too: drizzle-kit's migrator would cut there.
    let errors = scan_errors(
        "#[derive(Table)]\npub struct T {\n    #[column(primary_key)]\n    pub id: i64,\n    #[column(default = \"'--> statement-breakpoint'\")]\n    pub note: Option<String>,\n}\n",
    );
    assert!(
        errors.len() == 1
            && errors[0].starts_with("app.rs:5:24: bad `default`")
            && errors[0].contains("drizzle-kit"),
        "{errors:?}"
    );
    // `NOT NULL` after a value would be read as a constraint after DEFAULT.
    let errors = scan_errors(
        "#[derive(Table)]\npub struct T {\n    #[column(primary_key)]\n    pub id: i64,\n    #[column(default = \"'x' NOT NULL\")]\n    pub note: Option<String>,\n}\n",
    );
    assert!(
        errors.len() == 1 && errors[0].contains("`NOT NULL`"),
        "{errors:?}"
    );
}

/// Index and constraint names are per schema: the same name on two tables is refused
/// before anything is written.
#[test]
fn a_name_used_by_two_tables_is_refused() {
    let source = r#"
#[derive(Table)]
#[table(name = "a")]
#[index(columns(x), unique, name = "by_x")]
pub struct A {
    #[column(primary_key)]
    pub id: i64,
    pub x: i64,
}

#[derive(Table)]
#[table(name = "b")]
#[index(columns(x), name = "by_x")]
pub struct B {
    #[column(primary_key)]
    pub id: i64,
    pub x: i64,
}
"#;
    let desired = super::desired(source).unwrap();
    let error =
        tablewright_core::compile::diff::diff(&Default::default(), &desired, &Default::default())
            .unwrap_err()
            .to_string();
    let problems = match tablewright_core::compile::diff::diff(
        &Default::default(),
        &desired,
        &Default::default(),
    ) {
        Err(tablewright_core::compile::diff::DiffError::Problems(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(problems.len(), 1, "{error}: {problems:?}");
    assert!(
        problems[0]
            .message
            .contains("index `by_x` of `b` has the name of index `by_x` of `a`"),
        "{problems:?}"
    );
    assert_eq!(
        problems[0].location.as_ref().map(|l| l.line),
        Some(14),
        "{problems:?}"
    );
}
