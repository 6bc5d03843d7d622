//! Property-based differential tests of the compiler: random schema histories (several
//! changes per step, rows between steps), in both dialects. For every step:
//!
//! * `generate` plans it, or refuses with a reason (counted and reported);
//! * `migrate` applies it (DSQL's rules under the DSQL guard, as a non-superuser);
//! * the evolved database equals one built from scratch from the same structs: tables,
//!   columns (type, nullability, default, identity), keys, unique constraints, checks and
//!   foreign keys by name and definition, indexes by name and definition, all valid;
//! * it also equals the snapshot, every surviving table keeps its rows, and a second
//!   `migrate` does nothing.
//!
//! After the last step, `verify` replays the whole history and agrees.
//!
//! The histories come from proptest, as lists of numbers read as choices, so a failure
//! shrinks to a short history. Runs are seeded and reproducible; the seed and each
//! failing history's steps are printed, and written under `target/evolution-failures/`
//! to become a regression case in `tests/evolution/cases/<name>/` (`step_<k>.rs`, with its
//! `// allow-drop:` line, and `step_<k>.rows.sql`), which `regression_cases` replays.
//!
//! `TABLEWRIGHT_EVOLUTION=<n>` runs n times the default number of histories;
//! `TABLEWRIGHT_EVOLUTION_SEED=<n>` changes the seeds.

#[path = "../common/mod.rs"]
mod common;
mod history;
mod regressions;

use common::{Mode, TestDb, target};
use history::{Choices, Model};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use tablewright_core::compile::plan::PlanError;
use tablewright_core::dialect::Dialect;
use tablewright_core::generate::{self, GenerateError, GenerateOptions};
use tablewright_core::project::config::Config as ProjectConfig;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::runner::{self, MigrationSet, Migrator, MigratorOptions, introspect};
use tablewright_core::schema::compare;
use tablewright_core::schema::desired::{AllowDrops, DesiredSchema};
use tablewright_core::schema::model::Schema;

/// What the README lists as refused ("Not supported"), as the refusals word it.
const REFUSED_BY_README: &[&str] = &["has no primary key", "too long a name"];

/// Steps per history.
const STEPS: usize = 6;
/// Histories per seed by default (four seeds per dialect: 64 each).
const HISTORIES: u32 = 16;
/// Each seed's histories run as this many test functions, so that no one function is the
/// tail of the suite's run; the slices of a seed together run exactly its histories.
const SLICES: u32 = 2;

/// One step of a history, as files could hold it.
#[derive(Debug, Clone)]
struct Step {
    /// The structs.
    source: String,
    /// Tables this step drops (`--allow-drop`).
    allow_drop: Vec<String>,
    /// Rows to insert once the step is applied.
    rows: Vec<String>,
}

/// What the runs saw, for the report.
#[derive(Default)]
struct Stats {
    histories: usize,
    steps: usize,
    refusals: BTreeMap<String, usize>,
    /// Steps applied whose structs use each construct.
    constructs: BTreeMap<&'static str, usize>,
}

/// The constructs of the schema language the histories draw, and how each shows in the
/// structs: counted per applied step, so a report says how often each was exercised.
const CONSTRUCTS: &[(&str, &str)] = &[
    ("table in another schema", "schema = \""),
    ("enum column", "enum_type = "),
    ("enum value renamed", "renamed_from = \"v"),
    ("enum value removed", "allow_drop(\"v"),
    ("composite foreign key", "#[foreign_key("),
    ("MATCH FULL", "match_full"),
    ("deferrable foreign key", "deferrable"),
    ("expression index key", "\"lower("),
    ("partial index", "where = "),
    ("NULLS FIRST key", "nulls_first"),
    ("DESC key", " desc"),
    ("index method", "method = "),
    ("INCLUDE columns", "include("),
    ("ALWAYS identity", "identity(always"),
    ("identity options", "cache = 65536"),
    ("descending identity", "increment = -1"),
    ("column collation", "collation = "),
];

/// A history from choices: the models, rendered, with rows between steps (one table gets
/// more than 3,000 rows at one step, beyond one DSQL transaction).
fn history(choices: &[u32], mode: Mode) -> (Vec<Step>, Vec<Vec<String>>) {
    let mut c = Choices::new(choices);
    let big_step = c.below(STEPS);
    let mut models: Vec<Model> = vec![history::first(&mut c, mode == Mode::Postgres)];
    for _ in 1..STEPS {
        let next = history::next(models.last().expect("one model"), &mut c);
        models.push(next);
    }
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut changes = Vec::new();
    for (k, m) in models.iter().enumerate() {
        // Rows follow renames and drops.
        for t in &m.tables {
            if let Some(from) = &t.renamed_from
                && let Some(n) = counts.remove(from)
            {
                counts.insert(t.name.clone(), n);
            }
        }
        counts.retain(|name, _| m.tables.iter().any(|t| &t.name == name));
        let mut rows: BTreeMap<String, i64> = m
            .tables
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    if counts.contains_key(&t.name) { 5 } else { 20 },
                )
            })
            .collect();
        if k == big_step
            && let Some(t) = m.tables.first()
        {
            rows.insert(t.name.clone(), 3_100);
        }
        let inserts = history::inserts(m, &mut counts, &rows);
        steps.push(Step {
            source: history::render(m),
            allow_drop: m.dropped.clone(),
            rows: inserts,
        });
        changes.push(m.changes.clone());
    }
    (steps, changes)
}

fn describe(steps: &[Step], changes: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (k, s) in steps.iter().enumerate() {
        out.push_str(&format!(
            "--- step {k}: {}\n",
            changes.get(k).map(|c| c.join("; ")).unwrap_or_default()
        ));
        if !s.allow_drop.is_empty() {
            out.push_str(&format!("// allow-drop: {}\n", s.allow_drop.join(", ")));
        }
        out.push_str(&s.source);
    }
    out
}

/// The structs of `source`, as the CLI reads them.
fn desired(source: &str) -> Result<DesiredSchema, String> {
    let mut scanned = tablewright_core::schema::scan::Scan::default();
    let mut errors = Vec::new();
    tablewright_core::schema::scan::scan_source(
        Path::new("x.rs"),
        source,
        &mut scanned,
        &mut errors,
        &tablewright_core::schema::sql_text::ParsedFragments,
    );
    if errors.is_empty() {
        Ok(scanned.desired)
    } else {
        Err(format!("{errors:#?}"))
    }
}

fn project(dir: &Path, mode: Mode) -> ProjectConfig {
    ProjectConfig::parse(
        &dir.join("tablewright.toml"),
        &format!(
            "dialect = \"{}\"\nschema = [\"x.rs\"]\nout = \".\"\n",
            mode.dialect()
        ),
    )
    .unwrap()
}

/// Plans the step's migration into `dir`: `Ok(false)` when the dialect refuses it (the
/// reasons go to `refusals`).
fn plan(
    dir: &Path,
    mode: Mode,
    step: &Step,
    k: usize,
    refusals: &mut Vec<String>,
) -> Result<bool, String> {
    let config = project(dir, mode);
    let mut desired = desired(&step.source).map_err(|e| format!("the structs do not scan: {e}"))?;
    if k == 0 {
        // Built from scratch: the history's rename hints name nothing yet.
        for source in desired.sources.values_mut() {
            source.renamed_from = None;
            source.column_renames.clear();
        }
    }
    let folder = MigrationFolder::load(&config.out).map_err(|e| e.to_string())?;
    let allow_drop = AllowDrops {
        tables: step.allow_drop.iter().cloned().collect(),
        ..Default::default()
    };
    let options = GenerateOptions {
        now_ms: 1_700_000_000_000 + k as u64,
        allow_drop,
        ..Default::default()
    };
    match generate::plan_migration(&config, &desired, &folder, &options) {
        Ok(Some(migration)) => {
            let disagreements =
                tablewright_core::compile::plan::text_disagreements(&migration.plan);
            if !disagreements.is_empty() {
                return Err(format!(
                    "the SQL says other than the plan: {disagreements:#?}"
                ));
            }
            generate::write(Some(&migration), None).map_err(|e| e.to_string())?;
            Ok(true)
        }
        Ok(None) => Ok(true),
        Err(GenerateError::Plan(PlanError::Refused { refusals: r, .. })) => {
            refusals.extend(r.iter().map(|r| format!("{:?}: {}", r.kind, r.reason)));
            Ok(false)
        }
        Err(e) => Err(format!("generate failed: {e} {e:?}")),
    }
}

async fn migrate(mode: Mode, url: &str, dir: &Path) -> Result<runner::RunReport, String> {
    let set = MigrationSet::from_folder(dir).map_err(|e| e.to_string())?;
    let migrator = Migrator::new(
        target(mode, url),
        set,
        MigratorOptions {
            lock: false,
            ..MigratorOptions::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    migrator.run(&|_| {}).await.map_err(|e| e.to_string())
}

/// The schema as the database has it, columns sorted (`ADD COLUMN` appends, so their order
/// follows the history, which neither dialect can change).
async fn schema(url: &str) -> Result<(Schema, Vec<String>), String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let schemas = introspect::application_schemas(
        &mut conn,
        &[
            "dsql_guard".to_owned(),
            "tablewright".to_owned(),
            "drizzle".to_owned(),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    let found = introspect::introspect(&mut conn, &schemas)
        .await
        .map_err(|e| e.to_string())?;
    let mut schema = found.schema;
    for t in schema.tables.values_mut() {
        t.columns.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok((schema, found.invalid_indexes))
}

/// Each table's rows: count, and a checksum of its key, keyed by table.
async fn rows(url: &str, schema: &Schema) -> Result<BTreeMap<String, (i64, String)>, String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for t in schema.tables.values() {
        let key = t
            .primary_key
            .as_ref()
            .map(|k| {
                k.columns
                    .iter()
                    .map(|c| format!("\"{c}\"::text"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ")
            })
            .unwrap_or_else(|| "''".into());
        let sql = format!(
            "SELECT count(*), coalesce(md5(string_agg({key}, ',' ORDER BY {key})), '') FROM {}",
            history::sql_table(&t.name)
        );
        let row: (i64, String) = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        out.insert(t.name.clone(), row);
    }
    Ok(out)
}

/// Every difference between two introspected schemas.
fn differences(expected: &Schema, actual: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for (name, e) in &expected.tables {
        match actual.tables.get(name) {
            None => out.push(format!("table `{name}` is missing")),
            Some(a) if a != e => out.push(format!(
                "table `{name}` differs:\n  built from scratch: {e:?}\n  evolved:            {a:?}"
            )),
            Some(_) => {}
        }
    }
    for name in actual
        .tables
        .keys()
        .filter(|n| !expected.tables.contains_key(*n))
    {
        out.push(format!("table `{name}` should not be there"));
    }
    out
}

/// The two databases a history runs in: the one it evolves, and the one each step is built
/// in from scratch. Made once per test function and emptied for each history.
struct Databases {
    evolved: TestDb,
    fresh: TestDb,
}

impl Databases {
    async fn new(mode: Mode) -> Databases {
        Databases {
            evolved: TestDb::for_mode("evolve", mode).await,
            fresh: TestDb::for_mode("evolve_fresh", mode).await,
        }
    }
}

/// Runs a history in one dialect, in `dbs` (emptied first). `Err` describes the first thing
/// that broke; on success `dbs.evolved` holds the evolved database, for checks of the
/// caller's own.
async fn run(
    mode: Mode,
    steps: &[Step],
    stats: &Mutex<Stats>,
    dbs: &Databases,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    dbs.evolved.reset().await;
    let (db, fresh_db) = (&dbs.evolved, &dbs.fresh);
    let mut applied = 0;
    let mut previous: Option<(Schema, DesiredSchema)> = None;
    for (k, step) in steps.iter().enumerate() {
        let fail = |what: String| format!("step {k} ({mode:?}): {what}");
        let mut refusals = Vec::new();
        if !plan(dir.path(), mode, step, k, &mut refusals).map_err(fail)? {
            // Only what the README lists as refused may be (the generator gives every
            // table a key, so none of these should come up).
            if let Some(unlisted) = refusals
                .iter()
                .find(|r| !REFUSED_BY_README.iter().any(|listed| r.contains(listed)))
            {
                return Err(fail(format!(
                    "refused, and the README does not list it as refused: {unlisted}"
                )));
            }
            let mut s = stats.lock().unwrap();
            for r in refusals {
                *s.refusals.entry(r).or_default() += 1;
            }
            break;
        }
        let desired = desired(&step.source).map_err(fail)?;
        {
            let mut s = stats.lock().unwrap();
            for (construct, marker) in CONSTRUCTS {
                if step.source.contains(marker) {
                    *s.constructs.entry(construct).or_default() += 1;
                }
            }
        }
        let before = match &previous {
            Some((prev, _)) => Some(rows(&db.url, prev).await.map_err(fail)?),
            None => None,
        };
        migrate(mode, &db.url, dir.path())
            .await
            .map_err(|e| fail(format!("migrate failed: {e}\n{}", last_sql(dir.path()))))?;
        let (evolved, invalid) = schema(&db.url).await.map_err(fail)?;
        if !invalid.is_empty() {
            return Err(fail(format!("invalid indexes: {invalid:?}")));
        }

        // The same structs, built from scratch.
        let fresh_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut fresh_refusals = Vec::new();
        let fresh_step = Step {
            source: step.source.clone(),
            allow_drop: Vec::new(),
            rows: Vec::new(),
        };
        if !plan(fresh_dir.path(), mode, &fresh_step, 0, &mut fresh_refusals).map_err(fail)? {
            return Err(fail(format!(
                "the structs built from scratch are refused: {fresh_refusals:?}"
            )));
        }
        fresh_db.reset().await;
        migrate(mode, &fresh_db.url, fresh_dir.path())
            .await
            .map_err(|e| fail(format!("building from scratch failed: {e}")))?;
        let (fresh, _) = schema(&fresh_db.url).await.map_err(fail)?;
        let diffs = differences(&fresh, &evolved);
        if !diffs.is_empty() {
            return Err(fail(format!(
                "the evolved database differs from one built from scratch:\n{}\n{}",
                diffs.join("\n"),
                last_sql(dir.path())
            )));
        }
        let dialect = if mode == Mode::Postgres {
            Dialect::Postgres
        } else {
            Dialect::Dsql
        };
        let against_snapshot = compare::differences(
            &tablewright_core::compile::lower::for_dialect(&desired.schema, dialect),
            &evolved,
        );
        if !against_snapshot.is_empty() {
            return Err(fail(format!(
                "the database differs from the snapshot: {against_snapshot:?}"
            )));
        }

        // Rows: every table that goes on keeps its rows (under its new name).
        if let (Some(before), Some((prev_schema, _))) = (before, &previous) {
            let after = rows(&db.url, &evolved).await.map_err(fail)?;
            for (name, source) in &desired.sources {
                let old = source
                    .renamed_from
                    .as_ref()
                    .map(|h| h.from.clone())
                    .unwrap_or_else(|| name.clone());
                let (Some((n_before, key_before)), Some((n_after, key_after))) =
                    (before.get(&old), after.get(name))
                else {
                    continue;
                };
                if n_before != n_after {
                    return Err(fail(format!(
                        "`{name}` had {n_before} rows and has {n_after}"
                    )));
                }
                let same_key = prev_schema
                    .tables
                    .get(&old)
                    .and_then(|t| t.primary_key.as_ref())
                    .map(|k| k.columns.len())
                    == evolved
                        .tables
                        .get(name)
                        .and_then(|t| t.primary_key.as_ref())
                        .map(|k| k.columns.len());
                if same_key && key_before != key_after {
                    return Err(fail(format!("the keys of `{name}` changed")));
                }
            }
        }

        let again = migrate(mode, &db.url, dir.path()).await.map_err(fail)?;
        if !again.applied.is_empty() {
            return Err(fail(format!(
                "a second migrate applied {:?}",
                again.applied
            )));
        }
        if !step.rows.is_empty() {
            let mut conn = PgConnection::connect(&db.url)
                .await
                .map_err(|e| e.to_string())?;
            for sql in &step.rows {
                sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| fail(format!("inserting rows: {e}\n{sql}")))?;
            }
        }
        applied += 1;
        previous = Some((evolved, desired));
    }
    if applied > 0 {
        let last = MigrationFolder::load(dir.path())
            .map_err(|e| e.to_string())?
            .last_snapshot()
            .map_err(|e| e.to_string())?
            .ok_or("no snapshot")?;
        let set = MigrationSet::from_folder(dir.path()).map_err(|e| e.to_string())?;
        let report = runner::verify(
            &common::admin_url(),
            mode.dialect(),
            set,
            &last.schema,
            runner::VerifyOptions::default(),
            &|_| {},
            std::future::pending(),
        )
        .await
        .map_err(|e| format!("verify failed: {e}"))?;
        if !report.differences.is_empty() {
            return Err(format!(
                "verify ({mode:?}) finds differences: {:?}",
                report.differences
            ));
        }
    }
    let mut s = stats.lock().unwrap();
    s.histories += 1;
    s.steps += applied;
    Ok(())
}

/// The SQL of the last migration, for failure messages.
fn last_sql(dir: &Path) -> String {
    let folder = MigrationFolder::load(dir).ok();
    let entry = folder
        .as_ref()
        .and_then(|f| f.journal.entries.last().cloned());
    match (folder, entry) {
        (Some(f), Some(e)) => format!(
            "-- {}.sql:\n{}",
            e.tag,
            String::from_utf8_lossy(&f.read_sql(&e).unwrap_or_default())
        ),
        _ => String::new(),
    }
}

/// Writes a failing history where it can become a regression case.
fn keep(steps: &[Step], name: &str, why: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/evolution-failures")
        .join(name);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("failure.txt"), why);
    for (k, s) in steps.iter().enumerate() {
        let header = if s.allow_drop.is_empty() {
            String::new()
        } else {
            format!("// allow-drop: {}\n", s.allow_drop.join(", "))
        };
        let _ = std::fs::write(
            dir.join(format!("step_{k}.rs")),
            format!("{header}{}", s.source),
        );
        let _ = std::fs::write(dir.join(format!("step_{k}.rows.sql")), s.rows.join(";\n"));
    }
    dir.display().to_string()
}

/// The random number generator of seed `part` in `mode` (`TABLEWRIGHT_EVOLUTION_SEED`
/// moves every seed), and the seed.
fn seeded(mode: Mode, part: u64) -> (TestRng, u64) {
    let base: u64 = std::env::var("TABLEWRIGHT_EVOLUTION_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let seed = base * 1000 + part * 10 + if mode == Mode::Postgres { 1 } else { 2 };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    (TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes), seed)
}

/// The histories' raw choices.
fn choices() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(any::<u32>(), 40..200)
}

/// A runner for slice `slice` of seed `part`'s `per_slice * SLICES` histories: the
/// histories of the slices before it are drawn and set aside, so the runner goes on with
/// the same ones a single run over the whole seed would have met next.
fn slice_runner(mode: Mode, part: u64, slice: u32, per_slice: u32) -> (TestRunner, u64) {
    let (rng, seed) = seeded(mode, part);
    // Shrinking replays whole histories: bounded, so a failure reports within minutes.
    let config = Config {
        cases: per_slice,
        max_shrink_iters: 100,
        max_shrink_time: 180_000,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng);
    for _ in 0..slice * per_slice {
        // What proptest's runner does before each new case: reseed from its generator (the
        // seed it would persist), then draw the case. `the_slices_of_a_seed_are_its_histories`
        // holds this to the runner's own sequence.
        let reseed: [u8; 32] = runner.rng().random();
        *runner.rng() = TestRng::from_seed(RngAlgorithm::ChaCha, &reseed);
        choices()
            .new_tree(&mut runner)
            .expect("choices are never rejected");
    }
    (runner, seed)
}

fn histories(mode: Mode, part: u64, slice: u32) {
    let scale: u32 = std::env::var("TABLEWRIGHT_EVOLUTION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    assert_eq!(
        HISTORIES * scale % SLICES,
        0,
        "the slices must share the histories out exactly"
    );
    let (mut runner, seed) = slice_runner(mode, part, slice, HISTORIES * scale / SLICES);
    let stats = Mutex::new(Stats::default());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dbs = tokio.block_on(Databases::new(mode));
    let result = runner.run(&choices(), |choices| {
        let (steps, _) = history(&choices, mode);
        tokio
            .block_on(run(mode, &steps, &stats, &dbs))
            .map_err(TestCaseError::fail)
    });
    let s = stats.lock().unwrap();
    println!(
        "{mode:?}, seed {seed}, slice {} of {SLICES}: {} histories, {} steps applied, {} refusals",
        slice + 1,
        s.histories,
        s.steps,
        s.refusals.values().sum::<usize>()
    );
    for (reason, n) in &s.refusals {
        println!("  refused {n}x: {reason}");
    }
    for (construct, _) in CONSTRUCTS {
        println!(
            "  {construct}: in {} of the steps applied",
            s.constructs.get(construct).copied().unwrap_or(0)
        );
    }
    if let Err(e) = result {
        let detail = match &e {
            proptest::test_runner::TestError::Fail(why, choices) => {
                let (steps, changes) = history(choices, mode);
                format!(
                    "{why}\n\nthe shrunk history (kept in {}):\n{}",
                    keep(
                        &steps,
                        &format!("seed-{seed}-slice-{}", slice + 1),
                        &why.to_string()
                    ),
                    describe(&steps, &changes)
                )
            }
            other => other.to_string(),
        };
        panic!("{mode:?}, seed {seed}, slice {}: {detail}", slice + 1);
    }
}

/// The slices of a seed run exactly the histories one run over the whole seed runs, in the
/// same order: splitting the functions took none away and added none.
#[test]
fn the_slices_of_a_seed_are_its_histories() {
    let drawn = |runner: &mut TestRunner| {
        let seen = Mutex::new(Vec::new());
        runner
            .run(&choices(), |c| {
                seen.lock().unwrap().push(c);
                Ok(())
            })
            .unwrap();
        seen.into_inner().unwrap()
    };
    for mode in [Mode::Postgres, Mode::DsqlGuarded] {
        let (rng, _) = seeded(mode, 3);
        let mut whole = TestRunner::new_with_rng(
            Config {
                cases: HISTORIES,
                failure_persistence: None,
                ..Config::default()
            },
            rng,
        );
        let whole = drawn(&mut whole);
        let sliced: Vec<Vec<u32>> = (0..SLICES)
            .flat_map(|slice| drawn(&mut slice_runner(mode, 3, slice, HISTORIES / SLICES).0))
            .collect();
        assert_eq!(whole.len(), HISTORIES as usize);
        assert_eq!(sliced, whole, "{mode:?}");
    }
}

macro_rules! slices {
    ($($name:ident: $mode:expr, $part:expr, $slice:expr;)*) => {
        $(
            #[test]
            fn $name() {
                histories($mode, $part, $slice);
            }
        )*
    };
}

slices! {
    histories_postgres_1a: Mode::Postgres, 1, 0;
    histories_postgres_1b: Mode::Postgres, 1, 1;
    histories_postgres_2a: Mode::Postgres, 2, 0;
    histories_postgres_2b: Mode::Postgres, 2, 1;
    histories_postgres_3a: Mode::Postgres, 3, 0;
    histories_postgres_3b: Mode::Postgres, 3, 1;
    histories_postgres_4a: Mode::Postgres, 4, 0;
    histories_postgres_4b: Mode::Postgres, 4, 1;
    histories_dsql_1a: Mode::DsqlGuarded, 1, 0;
    histories_dsql_1b: Mode::DsqlGuarded, 1, 1;
    histories_dsql_2a: Mode::DsqlGuarded, 2, 0;
    histories_dsql_2b: Mode::DsqlGuarded, 2, 1;
    histories_dsql_3a: Mode::DsqlGuarded, 3, 0;
    histories_dsql_3b: Mode::DsqlGuarded, 3, 1;
    histories_dsql_4a: Mode::DsqlGuarded, 4, 0;
    histories_dsql_4b: Mode::DsqlGuarded, 4, 1;
}

/// Histories that once failed, kept as folders, replayed in both dialects (or those its
/// `dialects` file names)
/// (`TABLEWRIGHT_EVOLUTION_CASES=<dir>` replays the folders under another directory, such
/// as `target/evolution-failures`).
#[test]
fn regression_cases() {
    let root = std::env::var_os("TABLEWRIGHT_EVOLUTION_CASES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/evolution/cases"));
    let Ok(entries) = std::fs::read_dir(&root) else {
        return;
    };
    let mut cases: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let databases = [Mode::Postgres, Mode::DsqlGuarded]
        .map(|mode| (mode, tokio.block_on(Databases::new(mode))));
    let mut failures = Vec::new();
    for case in cases {
        let mut steps = Vec::new();
        for k in 0.. {
            let Ok(source) = std::fs::read_to_string(case.join(format!("step_{k}.rs"))) else {
                break;
            };
            let allow_drop = source
                .lines()
                .find_map(|l| l.strip_prefix("// allow-drop:"))
                .map(|l| {
                    l.split(',')
                        .map(|t| t.trim().to_owned())
                        .filter(|t| !t.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let rows = std::fs::read_to_string(case.join(format!("step_{k}.rows.sql")))
                .unwrap_or_default();
            let rows = rows
                .split(";\n")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            steps.push(Step {
                source,
                allow_drop,
                rows,
            });
        }
        // A `dialects` file names the dialects a case is for (it uses what DSQL lacks).
        let dialects = std::fs::read_to_string(case.join("dialects"))
            .unwrap_or_else(|_| "postgres dsql".into());
        for (mode, dbs) in &databases {
            let mode = *mode;
            if !dialects
                .split_whitespace()
                .any(|d| d == mode.dialect().to_string())
            {
                continue;
            }
            let stats = Mutex::new(Stats::default());
            if let Err(e) = tokio.block_on(run(mode, &steps, &stats, dbs)) {
                failures.push(format!("{}: {e}", case.display()));
                continue;
            }
            let s = stats.lock().unwrap();
            if !s.refusals.is_empty() || s.histories != 1 {
                failures.push(format!(
                    "{} ({mode:?}): refused {:?}",
                    case.display(),
                    s.refusals
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} regression case run(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
