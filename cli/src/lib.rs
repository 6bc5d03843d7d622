//! `tablewright`: the command line over tablewright-core. A library so that its tests
//! reach the reports (and their JSON Schemas); the binary is `main.rs`.
//!
//! Each command is a module of [`commands`] (its flags, its run, its typed report);
//! [`output`] prints a report as text or as one JSON document and maps the error's class to
//! the exit code: 0 success; 1 a check found a problem; 2 bad input or usage; 3 the
//! database refused a statement or the run failed (it can be resumed). It never prompts
//! and never reads stdin.

pub mod commands;
mod connect;
pub mod output;

use clap::{Parser, Subcommand};
use commands::*;
use output::{Format, finish};
use std::path::PathBuf;
use std::process::ExitCode;
use tablewright_core::project::config::DEFAULT_CONFIG;

const AFTER_HELP: &str = "\
Examples (`tablewright COMMAND --help` shows each command's):
  tablewright generate                    # write the next migration for the changed structs
  tablewright generate --check            # in CI: exit 1 when a migration is due
  tablewright check --format json         # journal, files, snapshots and hashes agree?
  tablewright migrate                     # apply pending migrations (DATABASE_URL or DSQL_ENDPOINT)
  tablewright status --exit-code          # exit 1 while anything is not applied
  tablewright drift                       # exit 1 when production was changed by hand
  tablewright verify --with-rows 1000     # replay migrations/ into a scratch database
  tablewright permissions validate --strict

Exit codes: 0 ok, 1 a check found a problem, 2 usage or input error,
3 the database refused a statement or the run failed (rerun to resume).";

/// Schema-as-code compiler and migration runner for Aurora DSQL and PostgreSQL.
#[derive(Parser)]
#[command(name = "tablewright", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Path to tablewright.toml; other paths are relative to it.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Output for people (text) or machines (json: one document on stdout, events as JSON
    /// lines on stderr).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Log what the runner does on stderr: -v retries (with their SQLSTATE), reconnects
    /// and DSQL job waits; -vv also lease renewals. RUST_LOG (`info`,
    /// `tablewright_core=debug`) overrides. Never a secret.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Compare the structs with the last snapshot and write the next migration.
    #[command(after_help = generate::EXAMPLES)]
    Generate(generate::Args),
    /// Verify the migrations folder: journal ↔ SQL files ↔ snapshots ↔ hashes, and branch forks.
    #[command(after_help = check::EXAMPLES)]
    Check(check::Args),
    /// Record the current hash of hand-edited migrations in the journal (for a
    /// `generate --custom` file, or any migration no database has applied yet).
    #[command(after_help = rehash::EXAMPLES)]
    Rehash(rehash::Args),
    /// Fold every migration into one baseline, `0000_<name>`, built from the last
    /// snapshot; the old files go to `<out>/archive/<last tag>/`.
    #[command(after_help = squash::EXAMPLES)]
    Squash(squash::Args),
    /// Apply pending migrations, once each, under a lock; resumes an interrupted run.
    #[command(after_help = migrate::EXAMPLES)]
    Migrate(migrate::Args),
    /// Classify every statement of SQL files for Aurora DSQL: OK, INDEX (rewritten to
    /// ASYNC), STRIP (skipped), RECREATION, ERROR. Default: the migrations folder.
    #[command(name = "check-dsql", after_help = check_dsql::EXAMPLES)]
    CheckDsql(check_dsql::Args),
    /// Apply the permissions file, or check it against the live catalog.
    Permissions {
        #[command(subcommand)]
        action: permissions::Action,
    },
    /// Compare a live database with what its applied migrations make (replayed in a scratch
    /// database) and with the permissions file; exit 1 when they differ, naming each
    /// difference. Reads only.
    #[command(after_help = drift::EXAMPLES)]
    Drift(drift::Args),
    /// Bring another tool's migrations folder (and its applied history) along.
    Import {
        #[command(subcommand)]
        source: import::Source,
    },
    /// Development only: change a live database to match the structs directly (the same
    /// planner and drop rules as `generate`), writing no file and recording no history.
    #[command(after_help = push::EXAMPLES)]
    Push(push::Args),
    /// Copy a database's schema and rows (DSQL or PostgreSQL) into a local PostgreSQL, to
    /// rehearse pending migrations on real data.
    #[command(after_help = clone::EXAMPLES)]
    Clone(clone::Args),
    /// Read a database's tables and write them as entity structs in the schema language.
    #[command(after_help = pull::EXAMPLES)]
    Pull(pull::Args),
    /// What the migrations added since a git revision do, as Markdown for a pull request:
    /// statements and how each runs, warnings, breaking changes, permissions, a diagram.
    #[command(after_help = review::EXAMPLES)]
    Review(review::Args),
    /// Draw the structs' schema as a Mermaid entity-relationship diagram (`erDiagram`):
    /// columns with types and key marks, foreign keys with their cardinality.
    #[command(after_help = diagram::EXAMPLES)]
    Diagram(diagram::Args),
    /// List applied, in-progress, pending, edited and unknown migrations (exit 1 on edited
    /// or unknown ones; with --exit-code also while any is pending, in progress or failed).
    #[command(after_help = status::EXAMPLES)]
    Status(status::Args),
    /// Record a migration as applied without running it.
    #[command(name = "mark-applied", after_help = mark_applied::EXAMPLES)]
    MarkApplied(mark_applied::Args),
    /// Replay all migrations into a scratch database and compare with the last snapshot.
    #[command(after_help = verify::EXAMPLES)]
    Verify(verify::Args),
}

/// What every command gets besides its own flags.
pub struct Context {
    /// `--config`.
    pub config: PathBuf,
    /// `--format`.
    pub format: Format,
}

impl Context {
    /// A note on stderr: `note: ..` in text, an event line under JSON.
    pub fn note(&self, note: &str) {
        match self.format {
            Format::Text => output::emit_err(&format!("note: {note}\n")),
            Format::Json => output::emit_err(&format!(
                "{}\n",
                serde_json::json!({"event": "note", "message": note})
            )),
        }
    }

    /// The migrations folder `out` for writing: waits (saying so) while another command
    /// writes it.
    pub fn lock_for_writing(
        &self,
        out: &std::path::Path,
    ) -> Result<tablewright_core::project::fsio::FolderLock, output::CliError> {
        Ok(tablewright_core::project::fsio::FolderLock::acquire(
            out,
            || {
                self.note(&format!(
                    "waiting for another tablewright command writing {} to finish",
                    out.display()
                ))
            },
        )?)
    }
}

/// Runs the command line.
pub fn main() -> ExitCode {
    // Test builds only (the `failpoints` feature): the crash tests stop the runner here.
    #[cfg(feature = "failpoints")]
    tablewright_core::runner::configure_failpoints_from_env();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    logs(cli.verbose);
    let cx = Context {
        config: cli.config,
        format: cli.format,
    };
    let format = cx.format;
    match cli.command {
        Command::Generate(args) => finish("generate", format, generate::run(&cx, args)),
        Command::Check(args) => finish("check", format, check::run(&cx, args)),
        Command::Rehash(args) => finish("rehash", format, rehash::run(&cx, args)),
        Command::Squash(args) => finish("squash", format, squash::run(&cx, args)),
        Command::Migrate(args) => finish("migrate", format, migrate::run(&cx, args)),
        Command::CheckDsql(args) => finish("check-dsql", format, check_dsql::run(&cx, args)),
        Command::Permissions {
            action: permissions::Action::Apply(args),
        } => finish("permissions apply", format, permissions::apply(&cx, args)),
        Command::Permissions {
            action: permissions::Action::Validate(args),
        } => finish(
            "permissions validate",
            format,
            permissions::validate(&cx, args),
        ),
        Command::Drift(args) => finish("drift", format, drift::run(&cx, args)),
        Command::Import {
            source: import::Source::Drizzle(args),
        } => finish("import drizzle", format, import::drizzle(&cx, args)),
        Command::Push(args) => finish("push", format, push::run(&cx, args)),
        Command::Clone(args) => finish("clone", format, clone::run(&cx, args)),
        Command::Pull(args) => finish("pull", format, pull::run(&cx, args)),
        Command::Diagram(args) => finish("diagram", format, diagram::run(&cx, args)),
        Command::Review(args) => finish("review", format, review::run(&cx, args)),
        Command::Status(args) => finish("status", format, status::run(&cx, args)),
        Command::MarkApplied(args) => finish("mark-applied", format, mark_applied::run(&cx, args)),
        Command::Verify(args) => finish("verify", format, verify::run(&cx, args)),
    }
}

/// Whether the log writes to stderr (set once, by [`logs`]).
static LOGGING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the log writes to stderr: then nothing else may draw there.
fn logging() -> bool {
    LOGGING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The log on stderr: off unless asked for with -v/-vv or RUST_LOG (a bad RUST_LOG is
/// said once, then ignored).
fn logs(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let ours = |level| {
        Targets::new()
            .with_target("tablewright_core", level)
            .with_target("tablewright", level)
    };
    let filter = match std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(spec) => spec
            .parse::<Targets>()
            .inspect(|_| LOGGING.store(true, std::sync::atomic::Ordering::Relaxed))
            .unwrap_or_else(|e| {
                output::emit_err(&format!("warning: RUST_LOG ignored: {e}\n"));
                ours(LevelFilter::OFF)
            }),
        None if verbose > 0 => {
            LOGGING.store(true, std::sync::atomic::Ordering::Relaxed);
            ours(if verbose == 1 {
                LevelFilter::INFO
            } else {
                LevelFilter::DEBUG
            })
        }
        None => ours(LevelFilter::OFF),
    };
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_target(false)
                .with_filter(filter),
        )
        .try_init();
}

/// A command line clap refuses: its message and exit 2, as one JSON document when the
/// line asks for JSON (`--format json` is read from the raw arguments, since the line did
/// not parse), so that a machine reading stdout always gets one. Help and version print
/// as clap prints them.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    // As the OS gave them: an argument that is not UTF-8 is a usage error, not a panic.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json");
    if !json
        || matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        )
    {
        // As clap's `exit` would, except that a failed write (`--help > /dev/full`) is a
        // failed run, not a success.
        let code = u8::try_from(e.exit_code()).unwrap_or(output::EXIT_INPUT);
        return match e
            .print()
            .and_then(|()| std::io::Write::flush(&mut std::io::stdout()))
        {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                let _ = std::io::Write::write_fmt(
                    &mut std::io::stderr(),
                    format_args!("error: writing output: {err}\n"),
                );
                ExitCode::from(output::EXIT_RUN_FAILED)
            }
            _ => ExitCode::from(code),
        };
    }
    let message = e.render().to_string();
    let message = message.trim_end();
    output::usage_document(
        message
            .strip_prefix("error: ")
            .unwrap_or(message)
            .to_owned(),
    )
}

/// Now, in milliseconds since the epoch; SOURCE_DATE_EPOCH (seconds) makes output
/// reproducible, as for other build tools.
fn now_ms() -> u64 {
    if let Some(secs) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return secs * 1000;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The JSON Schema of every command's document, by its file's name (the command, a dash
/// for a space: `permissions-apply`), and of a command line that does not parse (`usage`).
#[cfg(feature = "json-schema")]
pub fn json_schemas() -> Vec<(String, schemars::Schema)> {
    use output::Document;
    // As the documents are written (every field present, null or not), not as they would
    // be read: every key is required.
    let settings = schemars::generate::SchemaSettings::draft2020_12().for_serialize();
    macro_rules! schema_for {
        ($t:ty) => {
            settings
                .clone()
                .into_generator()
                .into_root_schema_for::<$t>()
        };
    }
    let schemas = vec![
        (
            "generate",
            schema_for!(Document<generate::GenerateReport, generate::Status>),
        ),
        (
            "check",
            schema_for!(Document<check::CheckReport, check::Status>),
        ),
        (
            "rehash",
            schema_for!(Document<rehash::RehashReport, rehash::Status>),
        ),
        (
            "squash",
            schema_for!(Document<squash::SquashReport, squash::Status>),
        ),
        (
            "migrate",
            schema_for!(Document<migrate::MigrateReport, migrate::Status>),
        ),
        (
            "check-dsql",
            schema_for!(Document<check_dsql::CheckDsqlReport, check_dsql::Status>),
        ),
        (
            "permissions apply",
            schema_for!(Document<permissions::PermissionsReport, permissions::Status>),
        ),
        (
            "permissions validate",
            schema_for!(Document<permissions::PermissionsReport, permissions::Status>),
        ),
        (
            "drift",
            schema_for!(Document<drift::DriftReport, drift::Status>),
        ),
        (
            "import drizzle",
            schema_for!(Document<import::ImportReport, import::Status>),
        ),
        (
            "push",
            schema_for!(Document<push::PushReport, push::Status>),
        ),
        (
            "clone",
            schema_for!(Document<clone::CloneReport, clone::Status>),
        ),
        (
            "review",
            schema_for!(Document<review::ReviewReport, review::Status>),
        ),
        (
            "diagram",
            schema_for!(Document<diagram::DiagramReport, diagram::Status>),
        ),
        (
            "pull",
            schema_for!(Document<pull::PullReport, pull::Status>),
        ),
        (
            "status",
            schema_for!(Document<status::StatusReport, status::Status>),
        ),
        (
            "mark-applied",
            schema_for!(Document<mark_applied::MarkReport, mark_applied::Status>),
        ),
        (
            "verify",
            schema_for!(Document<verify::VerifyReport, verify::Status>),
        ),
        ("usage", schema_for!(Document<(), ()>)),
    ];
    // Each document names its own command and this version, and has no other key.
    schemas
        .into_iter()
        .map(|(command, mut schema)| {
            let name = command.replace(' ', "-");
            let command = if command == "usage" { serde_json::Value::Null } else { command.into() };
            schema.insert("additionalProperties".into(), false.into());
            if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
                properties.insert("command".into(), serde_json::json!({"description": "The command, as typed; null for a command line that did not parse.", "const": command}));
                properties.insert("format_version".into(), serde_json::json!({"description": "The version of the documents' shape.", "const": output::FORMAT_VERSION}));
            }
            (name, schema)
        })
        .collect()
}
