//! `tablewright`: the command line over tablewright-core.
//!
//! Exit codes: 0 success; 1 a check found a problem (`generate --check` saw pending
//! changes, `check` found an inconsistent folder, `migrate` met an edited applied
//! migration, `verify` or `drift` found a difference); 2 bad input or usage (config, source errors,
//! undecided drops, refused changes, I/O); 3 the database refused a statement or the run
//! failed (it can be resumed). It never prompts and never reads stdin.

mod db;
mod report;

use clap::{Args, Parser, Subcommand, ValueEnum};
use report::{Failure, Format, Reporter};
use std::path::PathBuf;
use std::process::ExitCode;
use tablewright_core::project::config::{Config, DEFAULT_CONFIG};
use tablewright_core::schema::desired::AllowDrops;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::generate::{self, GenerateOptions};
use tablewright_core::schema::scan;

const AFTER_HELP: &str = "\
Examples:
  # write the next migration for the changed structs
  tablewright generate
  # in CI: exit 1 when the structs have changes not yet in migrations/
  tablewright generate --check
  # drop a column (or a whole table: --allow-drop books) and its data
  tablewright generate --allow-drop books.subtitle
  # an empty SQL file, journal entry and snapshot for a hand-written data migration
  tablewright generate --custom --name backfill_prices
  # after writing the SQL of a custom migration, record its hash
  tablewright rehash --tag 0003_backfill_prices
  # fold a long history into one baseline migration (then mark-applied --reset on databases)
  tablewright squash --name baseline
  # verify journal, SQL files, snapshots and hashes, for a machine
  tablewright check --format json
  # apply pending migrations to PostgreSQL (DATABASE_URL) or Aurora DSQL (DSQL_ENDPOINT)
  tablewright migrate
  # show what would run, changing nothing
  tablewright migrate --dry-run --connection-string postgres://localhost/app
  # run DSQL's rules against a local PostgreSQL
  tablewright migrate --provider dsql --connection-string postgres://localhost/app
  # has anyone changed the production schema or its grants by hand? (exit 1 if so)
  tablewright drift --format json
  # replay migrations/ into a scratch database, rows in every table between migrations
  tablewright verify --with-rows 1000
  # bring a drizzle-kit folder along (migrate then skips what drizzle applied)
  tablewright import drizzle --from drizzle/ --structs src/entities.rs
  # write a hand-made database's tables as entity structs
  tablewright pull --connection-string postgres://localhost/app --out src/entities.rs
  # a development database straight to the structs: no files, no history
  tablewright push --connection-string postgres://localhost/dev
  # production's schema, rows and history in a local database, to rehearse a deploy
  tablewright clone --from postgres://prod.example/app --to postgres://localhost/rehearsal --rows 10000
  # check the grants in permissions/permissions.sql against the live catalog, in CI
  tablewright permissions validate --strict
  # classify hand-written SQL for DSQL (exit 1 on ERROR or RECREATION)
  tablewright check-dsql legacy/*.sql

Exit codes: 0 ok, 1 a check found a problem, 2 usage or input error,
3 the database refused a statement or the run failed (rerun to resume).";

/// Schema-as-code compiler and migration runner for Aurora DSQL and PostgreSQL.
#[derive(Parser)]
#[command(name = "tablewright", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log what the runner does on stderr: -v retries (with their SQLSTATE), reconnects
    /// and DSQL job waits; -vv also lease renewals. RUST_LOG (`info`,
    /// `tablewright_core=debug`) overrides. Never a secret.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Args, Clone)]
struct Common {
    /// Path to tablewright.toml; other paths are relative to it.
    #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Output for people (text) or machines (json).
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
}

#[derive(Subcommand)]
enum PermissionsAction {
    /// Create the roles, run the GRANTs and revoke what no handler declares from the roles
    /// the file manages (idempotent; one statement per transaction).
    Apply {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: db::DbArgs,
    },
    /// Report declared grants missing from pg_class.relacl and privileges of the managed
    /// roles that no handler declares; changes nothing unless --repair.
    Validate {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: db::DbArgs,
        /// Exit 1 while anything is missing or undeclared.
        #[arg(long)]
        strict: bool,
        /// First apply the file (grant what is missing, revoke what is undeclared).
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand)]
enum ImportSource {
    /// A drizzle-kit 0.x folder (journal v7, postgresql): its SQL files kept byte for byte,
    /// its snapshots converted, entity structs written from the last one. `migrate` then
    /// takes what drizzle's migrator applied (drizzle.__drizzle_migrations) as applied.
    Drizzle {
        #[command(flatten)]
        common: Common,
        /// The drizzle-kit output folder (holding meta/_journal.json).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Where to write the entity structs (default: the config's `schema` entry, when it
        /// names one file that does not exist yet).
        #[arg(long, value_name = "FILE")]
        structs: Option<PathBuf>,
        /// The table drizzle's migrator recorded applied migrations in, `schema.table`
        /// (drizzle's `migrationsSchema` and `migrationsTable`); kept in the journal.
        #[arg(long, value_name = "SCHEMA.TABLE", default_value = tablewright_core::project::import::DRIZZLE_HISTORY)]
        drizzle_history: String,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Compare the structs with the last snapshot and write the next migration.
    #[command(after_help = AFTER_HELP)]
    Generate {
        #[command(flatten)]
        common: Common,
        /// Name of the migration (the part after `NNNN_`).
        #[arg(long)]
        name: Option<String>,
        /// Write an empty SQL file (plus journal entry and snapshot) for hand-written SQL.
        #[arg(long)]
        custom: bool,
        /// Write nothing; exit 1 if a migration is due.
        #[arg(long)]
        check: bool,
        /// Allow dropping a table (`books`) or column (`books.subtitle`) and its data. Repeatable.
        #[arg(long = "allow-drop", value_name = "TABLE[.COLUMN]")]
        allow_drop: Vec<String>,
        /// Fail (exit 2, nothing written) when the migration would raise this warning:
        /// `table-rebuild`, `drop` (table or column), `drop-table`, `drop-column`,
        /// `narrowing-type-change`, `rename-table`, `rename-column`. Repeatable; adds to
        /// `[generate] deny` in the config.
        #[arg(long = "deny", value_name = "WARNING", value_parser = clap::builder::PossibleValuesParser::new(tablewright_core::project::config::deniable()))]
        deny: Vec<String>,
    },
    /// Verify the migrations folder: journal ↔ SQL files ↔ snapshots ↔ hashes, and branch forks.
    #[command(after_help = AFTER_HELP)]
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Record the current hash of hand-edited migrations in the journal (for a
    /// `generate --custom` file, or any migration no database has applied yet).
    #[command(after_help = AFTER_HELP)]
    Rehash {
        #[command(flatten)]
        common: Common,
        /// The migration (its tag, `0003_backfill_prices`). Repeatable.
        #[arg(long = "tag", value_name = "TAG", required_unless_present = "all")]
        tags: Vec<String>,
        /// Every migration whose file changed (each must be one no database has applied).
        #[arg(long, conflicts_with = "tags")]
        all: bool,
    },
    /// Fold every migration into one baseline, `0000_<name>`, built from the last
    /// snapshot; the old files go to `<out>/archive/<last tag>/`.
    #[command(after_help = AFTER_HELP)]
    Squash {
        #[command(flatten)]
        common: Common,
        /// Name of the baseline (the part after `0000_`).
        #[arg(long, default_value = "baseline")]
        name: String,
    },
    /// Apply pending migrations, once each, under a lock; resumes an interrupted run.
    #[command(after_help = AFTER_HELP)]
    Migrate {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: db::DbArgs,
        /// Print each pending statement and how it will run; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Skip the migration lock (only when nothing else can run migrations).
        #[arg(long)]
        no_lock: bool,
        /// Give up after this long: seconds, or a duration such as `90s`, `5m`, `1h30m` (the
        /// run can be resumed; at most a year).
        #[arg(long, value_name = "DURATION", value_parser = duration_within(MAX_TIMEOUT_DAYS))]
        timeout: Option<std::time::Duration>,
        /// Length of the DSQL lock lease, renewed every third of it: seconds, or a duration
        /// such as `5m` (1 second to 24 hours).
        #[arg(long, value_name = "DURATION", default_value = "300", value_parser = duration_within(MAX_LOCK_LEASE_DAYS))]
        lock_lease: std::time::Duration,
        /// PostgreSQL: all pending migrations in one transaction, all or nothing (like
        /// `psql -1`). Ignored on DSQL, which allows one DDL per transaction.
        #[arg(long)]
        single_transaction: bool,
        /// Do not apply and validate the permissions file after the migrations.
        #[arg(long)]
        no_permissions: bool,
        /// Rows per transaction when a directive works in batches (a recreation's copy, a
        /// backfill; 1 to 2999: DSQL allows 3,000 changed rows per transaction, the
        /// progress row included).
        #[arg(long, value_name = "ROWS", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=2999))]
        batch_rows: u16,
    },
    /// Classify every statement of SQL files for Aurora DSQL: OK, INDEX (rewritten to
    /// ASYNC), STRIP (skipped), RECREATION, ERROR. Default: the migrations folder.
    #[command(name = "check-dsql", after_help = AFTER_HELP)]
    CheckDsql {
        #[command(flatten)]
        common: Common,
        /// SQL files (default: every .sql file in the migrations folder).
        files: Vec<PathBuf>,
    },
    /// Apply the permissions file, or check it against the live catalog.
    #[command(after_help = AFTER_HELP)]
    Permissions {
        #[command(subcommand)]
        action: PermissionsAction,
    },
    /// Compare a live database with the snapshot of its last applied migration and the
    /// permissions file; exit 1 when they differ, naming each difference. Reads only.
    #[command(after_help = AFTER_HELP)]
    Drift {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: db::DbArgs,
    },
    /// Bring another tool's migrations folder (and its applied history) along.
    #[command(after_help = AFTER_HELP)]
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Development only: change a live database to match the structs directly (the same
    /// planner and drop rules as `generate`), writing no file and recording no history.
    #[command(after_help = AFTER_HELP)]
    Push {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: db::DbArgs,
        /// Allow dropping a table (`books`) or column (`books.subtitle`) and its data. Repeatable.
        #[arg(long = "allow-drop", value_name = "TABLE[.COLUMN]")]
        allow_drop: Vec<String>,
        /// Push to a DSQL target too (refused without it: DSQL databases are rarely
        /// throwaway ones).
        #[arg(long)]
        allow_dsql: bool,
        /// Push even though the database's history records migrations.
        #[arg(long)]
        force: bool,
    },
    /// Copy a database's schema and rows (DSQL or PostgreSQL) into a local PostgreSQL, to
    /// rehearse pending migrations on real data.
    #[command(after_help = AFTER_HELP)]
    Clone {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        source: db::CloneSource,
        /// An empty local database to build the clone in (default: a throwaway server that
        /// lives until Ctrl-C or SIGTERM, its URL printed).
        #[arg(long, value_name = "URL")]
        to: Option<String>,
        /// At most this many rows per table (default: all); rows whose parent was not
        /// copied are left out, so the clone's foreign keys hold.
        #[arg(long, value_name = "N")]
        rows: Option<u64>,
    },
    /// Read a database's tables and write them as entity structs in the schema language.
    #[command(after_help = AFTER_HELP)]
    Pull {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: db::DbArgs,
        /// The database schema to read.
        #[arg(long = "schema", value_name = "NAME", default_value = "public")]
        namespace: String,
        /// The Rust file to write (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace --out if it exists.
        #[arg(long)]
        force: bool,
    },
    /// List applied, in-progress, pending, edited and unknown migrations (exit 1 on edited
    /// or unknown ones; with --exit-code also while any is pending, in progress or failed).
    #[command(after_help = AFTER_HELP)]
    Status {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: db::DbArgs,
        /// Exit 1 unless every migration is applied.
        #[arg(long)]
        exit_code: bool,
    },
    /// Record a migration as applied without running it.
    #[command(name = "mark-applied", after_help = AFTER_HELP)]
    MarkApplied {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: db::DbArgs,
        /// The migration: its tag or its .sql file.
        #[arg(long)]
        file: String,
        /// Record only statements 1..=N as done (the next `migrate` resumes after them):
        /// how a statement whose outcome could not be settled is resolved by hand.
        #[arg(long, value_name = "N")]
        through: Option<usize>,
        /// Replace the whole history with this one row.
        #[arg(long)]
        reset: bool,
        /// Confirm --reset.
        #[arg(long)]
        yes: bool,
    },
    /// Replay all migrations into a scratch database and compare with the last snapshot.
    #[command(after_help = AFTER_HELP)]
    Verify {
        #[command(flatten)]
        common: Common,
        /// A PostgreSQL server to create the scratch database on (default: DATABASE_URL,
        /// else a throwaway server started from this machine's PostgreSQL binaries).
        #[arg(long, value_name = "URL")]
        connection_string: Option<String>,
        /// Migrations folder (default: `out` from the config).
        #[arg(long)]
        folder: Option<PathBuf>,
        /// Before each migration after the first, insert this many rows into every table
        /// (foreign keys satisfied), so backfills, rebuild copies, unique validations and
        /// DSQL's row limits meet data.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        with_rows: Option<u64>,
    },
}

/// `--timeout`'s most: a year.
const MAX_TIMEOUT_DAYS: u64 = 365;
/// `--lock-lease`'s most: a day.
const MAX_LOCK_LEASE_DAYS: u64 = 1;

/// Reads a duration flag: bare seconds (`90`) or a humantime duration (`90s`, `5m`,
/// `1h30m`), from one second to `max_days`.
fn duration_within(max_days: u64) -> impl Fn(&str) -> Result<std::time::Duration, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let text = text.trim();
        let duration = match text.parse::<u64>() {
            Ok(secs) => std::time::Duration::from_secs(secs),
            Err(_) => humantime::parse_duration(text).map_err(|e| format!("{e}: write seconds, or a duration such as 90s, 5m or 1h30m"))?,
        };
        if duration < std::time::Duration::from_secs(1) || duration > std::time::Duration::from_secs(max_days * 86_400) {
            return Err(format!("`{text}` is out of range: from 1s to {max_days}d"));
        }
        Ok(duration)
    }
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Test builds only (the `failpoints` feature): the crash tests stop the runner here.
    tablewright_core::runner::configure_failpoints_from_env();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    logs(cli.verbose);
    let (common, result) = match cli.command {
        Command::Generate { common, name, custom, check, allow_drop, deny } => {
            let mut reporter = Reporter::new(common.format.into());
            let r = run_generate(&common, &mut reporter, name, custom, check, &allow_drop, &deny);
            (reporter, r)
        }
        Command::Check { common } => {
            let mut reporter = Reporter::new(common.format.into());
            let r = run_check(&common, &mut reporter);
            (reporter, r)
        }
        Command::Squash { common, name } => {
            let mut reporter = Reporter::new(common.format.into());
            let r = run_squash(&common, &name, &mut reporter);
            (reporter, r)
        }
        Command::Rehash { common, tags, all: _ } => {
            let mut reporter = Reporter::new(common.format.into());
            let r = run_rehash(&common, &tags, &mut reporter);
            (reporter, r)
        }
        Command::Migrate { common, db, dry_run, no_lock, timeout, lock_lease, single_transaction, no_permissions, batch_rows } => {
            let mut reporter = Reporter::new(common.format.into());
            let flags = db::MigrateFlags { dry_run, no_lock, timeout, lock_lease, single_transaction, permissions: !no_permissions, batch_rows: batch_rows.into() };
            let format = reporter.format();
            let r = db::migrate(&common.config, format, &db, flags, reporter.json_mut());
            (reporter, r)
        }
        Command::CheckDsql { common, files } => {
            let mut reporter = Reporter::new(common.format.into());
            let r = run_check_dsql(&common, files, &mut reporter);
            (reporter, r)
        }
        Command::Permissions { action: PermissionsAction::Apply { common, db } } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::permissions(&common.config, format, &db, db::PermissionsMode::Apply, reporter.json_mut());
            (reporter, r)
        }
        Command::Permissions { action: PermissionsAction::Validate { common, db, strict, repair } } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::permissions(&common.config, format, &db, db::PermissionsMode::Validate { strict, repair }, reporter.json_mut());
            (reporter, r)
        }
        Command::Drift { common, db } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::drift(&common.config, format, &db, reporter.json_mut());
            (reporter, r)
        }
        Command::Import { source: ImportSource::Drizzle { common, from, structs, drizzle_history } } => {
            let mut reporter = Reporter::new(common.format.into());
            let r = run_import_drizzle(&common, &from, structs, &drizzle_history, &mut reporter);
            (reporter, r)
        }
        Command::Push { common, db, allow_drop, allow_dsql, force } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::push(&common.config, format, &db, &allow_drop, allow_dsql, force, reporter.json_mut());
            (reporter, r)
        }
        Command::Clone { common, source, to, rows } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::clone(&common.config, format, &source, to, rows, reporter.json_mut());
            (reporter, r)
        }
        Command::Pull { common, db, namespace, out, force } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::pull(&common.config, format, &db, &namespace, out.as_deref(), force, reporter.json_mut());
            (reporter, r)
        }
        Command::Status { common, db, exit_code } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::status(&common.config, format, &db, exit_code, reporter.json_mut());
            (reporter, r)
        }
        Command::MarkApplied { common, db, file, through, reset, yes } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::mark_applied(&common.config, format, &db, &file, through, reset, yes, reporter.json_mut());
            (reporter, r)
        }
        Command::Verify { common, connection_string, folder, with_rows } => {
            let mut reporter = Reporter::new(common.format.into());
            let format = reporter.format();
            let r = db::verify(&common.config, format, connection_string, folder, with_rows, reporter.json_mut());
            (reporter, r)
        }
    };
    common.finish(result)
}

/// The log on stderr: off unless asked for with -v/-vv or RUST_LOG (a bad RUST_LOG is
/// said once, then ignored).
fn logs(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let ours = |level| Targets::new().with_target("tablewright_core", level).with_target("tablewright", level);
    let filter = match std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty()) {
        Some(spec) => spec.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("warning: RUST_LOG ignored: {e}");
            ours(LevelFilter::OFF)
        }),
        None => ours(match verbose {
            0 => LevelFilter::OFF,
            1 => LevelFilter::INFO,
            _ => LevelFilter::DEBUG,
        }),
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let _ = tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_target(false).with_filter(filter)).try_init();
}

/// A command line clap refuses: its message and exit 2, as one JSON document when the
/// line asks for JSON (`--format json` is read from the raw arguments, since the line did
/// not parse), so that a machine reading stdout always gets one. Help and version print
/// as clap prints them.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    // As the OS gave them: an argument that is not UTF-8 is a usage error, not a panic.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json = args.windows(2).any(|w| w[0] == "--format" && w[1] == "json") || args.iter().any(|a| a == "--format=json");
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        e.exit();
    }
    let message = e.render().to_string();
    Reporter::new(Format::Json).finish(Err(Failure::Error(report::Usage(message).into())))
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
        }
    }
}

fn now_ms() -> u64 {
    // SOURCE_DATE_EPOCH (seconds) makes output reproducible, as for other build tools.
    if let Some(secs) = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.parse::<u64>().ok()) {
        return secs * 1000;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn run_generate(common: &Common, out: &mut Reporter, name: Option<String>, custom: bool, check: bool, allow_drop: &[String], deny: &[String]) -> Result<(), Failure> {
    let config = Config::load(&common.config)?;
    let files = config.schema_files()?;
    // The migrations folder (every SQL file hashed and split, every snapshot parsed) is
    // read on a second thread while the sources are scanned; errors come in the same order.
    let (scanned, folder) = std::thread::scope(|s| {
        let folder = s.spawn(|| MigrationFolder::load(&config.out).map(|folder| {
            let inspection = folder.inspect();
            (folder, inspection)
        }));
        let scanned = scan::scan_files(&files, &tablewright_core::sql::fragment::ParsedFragments);
        (scanned, folder.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    let scanned = scanned?;
    let (folder, inspection) = folder?;
    let inspection = inspection.map_err(generate::GenerateError::from)?;
    let deny = config.deny.iter().chain(deny).cloned().collect();
    let options = GenerateOptions { name, custom, allow_drop: AllowDrops::parse(allow_drop), now_ms: now_ms(), deny };
    let migration = generate::plan_migration_after(&config, &scanned.desired, &folder, inspection, &options)?;
    let permissions = generate::plan_permissions(&config, &scanned)?;
    if migration.is_none() && permissions.is_none() {
        out.up_to_date(&config, scanned.desired.schema.tables.len());
        return Ok(());
    }
    if check {
        out.pending(&config, migration.as_ref(), permissions.as_ref());
        return Err(Failure::CheckFailed);
    }
    generate::write(migration.as_ref(), permissions.as_ref())?;
    out.written(migration.as_ref(), permissions.as_ref());
    Ok(())
}

fn run_check_dsql(common: &Common, files: Vec<PathBuf>, out: &mut Reporter) -> Result<(), Failure> {
    use tablewright_core::sql::dsql_check::{self, Summary};
    let files = if files.is_empty() {
        let config = Config::load(&common.config)?;
        let mut found: Vec<PathBuf> = std::fs::read_dir(&config.out)
            .map_err(|e| anyhow::anyhow!("{}: {e}", config.out.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        found.sort();
        found
    } else {
        files
    };
    let mut reports = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        reports.push((file.display().to_string(), dsql_check::check_text(&text)));
    }
    let summary = Summary::of(reports.iter().flat_map(|(_, c)| c));
    out.dsql_report(&reports, &summary);
    if summary.errors + summary.recreation > 0 { Err(Failure::CheckFailed) } else { Ok(()) }
}

fn run_squash(common: &Common, name: &str, out: &mut Reporter) -> Result<(), Failure> {
    let config = Config::load(&common.config)?;
    let folder = MigrationFolder::load(&config.out)?;
    let squash = generate::plan_squash(&config, &folder, name, now_ms())?;
    generate::write_squash(&squash)?;
    out.squashed(&squash);
    Ok(())
}

fn run_rehash(common: &Common, tags: &[String], out: &mut Reporter) -> Result<(), Failure> {
    let config = Config::load(&common.config)?;
    let mut folder = MigrationFolder::load(&config.out)?;
    let changed = folder.rehash(tags)?;
    out.rehashed(&folder, &changed);
    Ok(())
}

fn run_check(common: &Common, out: &mut Reporter) -> Result<(), Failure> {
    let config = Config::load(&common.config)?;
    let folder = MigrationFolder::load(&config.out)?;
    let problems = folder.verify()?;
    out.folder_report(&folder, &problems);
    if problems.is_empty() { Ok(()) } else { Err(Failure::CheckFailed) }
}

fn run_import_drizzle(common: &Common, from: &std::path::Path, structs: Option<PathBuf>, drizzle_history: &str, out: &mut Reporter) -> Result<(), Failure> {
    use tablewright_core::project::import;
    if !drizzle_history.split_once('.').is_some_and(|(s, t)| !s.is_empty() && !t.is_empty() && !t.contains('.')) {
        return Err(Failure::Error(anyhow::anyhow!("--drizzle-history `{drizzle_history}`: expected `schema.table`, as drizzle's migrationsSchema and migrationsTable (default {})", import::DRIZZLE_HISTORY)));
    }
    if !from.join("meta").join("_journal.json").is_file() {
        return Err(Failure::Error(anyhow::anyhow!("{}: no meta/_journal.json here; --from names drizzle-kit's `out` folder (the one holding 0000_*.sql and meta/)", from.display())));
    }
    let config = Config::load(&common.config)?;
    let structs = match structs {
        Some(path) => path,
        None => match config.schema.as_slice() {
            [one] if !one.contains(['*', '?', '[']) => config.root.join(one),
            _ => return Err(Failure::Error(anyhow::anyhow!("{}: `schema` does not name one file; pass --structs FILE for the entity structs", config.path.display()))),
        },
    };
    if structs.exists() {
        return Err(Failure::Error(anyhow::anyhow!("{}: already exists; import writes new entity structs (pass another --structs FILE)", structs.display())));
    }
    let plan = import::plan_drizzle_import(from, &config.out, config.dialect, drizzle_history).map_err(|e| Failure::Error(anyhow::Error::new(e)))?;
    let entities = tablewright_core::schema::codegen::entities(&plan.schema, &format!("the drizzle-kit folder {}", from.display()));
    let mut files = plan.files.clone();
    files.push((structs.clone(), entities.source.into_bytes()));
    tablewright_core::project::fsio::write_all_or_nothing(&files).map_err(|e| Failure::Error(anyhow::Error::new(e)))?;
    // The permissions file follows the sources, as after any `generate` (no handler declares
    // anything yet, so it names no grant), so that `generate --check` passes at once.
    if let Ok(files) = config.schema_files()
        && let Ok(scanned) = scan::scan_files(&files, &tablewright_core::sql::fragment::ParsedFragments)
        && let Some(permissions) = generate::plan_permissions(&config, &scanned)?
    {
        generate::write(None, Some(&permissions))?;
    }
    let mut notes = plan.notes.clone();
    notes.extend(entities.not_expressed);
    // drizzle-kit wrote PostgreSQL; on a dsql project, say now what DSQL cannot hold.
    if config.dialect == tablewright_core::compile::rules::Dialect::Dsql {
        use tablewright_core::compile::{diff, plan};
        let desired = tablewright_core::schema::desired::DesiredSchema { schema: plan.schema.clone(), sources: Default::default() };
        if let Ok(changes) = diff::diff(&Default::default(), &desired, &AllowDrops::default())
            && let Err(plan::PlanError::Refused { refusals, .. }) = plan::plan(&changes, &desired.schema, config.dialect)
        {
            notes.extend(refusals.iter().map(|r| format!("on dsql: {r}")));
        }
    }
    out.imported(&config, &plan.migrations, &structs, &notes);
    Ok(())
}
