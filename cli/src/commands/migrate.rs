//! `migrate`: pending migrations applied once each, under a lock; then the permissions.

use super::permissions::{applied_text, read_file, validated_text};
use crate::Context;
use crate::connect::{DbArgs, EventPrinter, block_on, termination};
use crate::output::{CliError, Done, Format, Report, emit};
use serde::Serialize;
use std::time::Duration;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::runner::DryRunMigration;
use tablewright_core::runner::permissions::{ApplyOptions, Convergence};
use tablewright_core::runner::{MigrationSet, Migrator, MigratorOptions, RunError};

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # apply pending migrations to PostgreSQL (DATABASE_URL) or Aurora DSQL (DSQL_ENDPOINT)
  tablewright migrate
  # show what would run, the permissions step included; change nothing
  tablewright migrate --dry-run --connection-string postgres://localhost/app
  # run DSQL's rules against a local PostgreSQL
  tablewright migrate --provider dsql --connection-string postgres://localhost/app
  # give up after five minutes (rerun to resume), with a one-minute lock lease
  tablewright migrate --timeout 5m --lock-lease 1m
  # PostgreSQL, all or nothing
  tablewright migrate --single-transaction
  # up to and including 0003_add_isbn, nothing after it
  tablewright migrate --to 0003_add_isbn

Exit codes: 0 ok, 1 an applied migration was edited (or unknown history),
2 input error, 3 the database refused a statement or the run failed (rerun to resume).";

/// `--timeout`'s most: a year.
const MAX_TIMEOUT_DAYS: u64 = 365;
/// `--lock-lease`'s most: a day.
const MAX_LOCK_LEASE_DAYS: u64 = 1;

/// `migrate`'s flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Print each pending statement and how it will run; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Skip the migration lock (only when nothing else can run migrations).
    #[arg(long)]
    no_lock: bool,
    /// Give up after this long: seconds, or a duration such as `90s`, `5m`, `1h30m` (the
    /// run can be resumed; at most a year).
    #[arg(long, value_name = "DURATION", value_parser = duration_within(MAX_TIMEOUT_DAYS))]
    timeout: Option<Duration>,
    /// Length of the DSQL lock lease, renewed every third of it: seconds, or a duration
    /// such as `5m` (1 second to 24 hours).
    #[arg(long, value_name = "DURATION", default_value = "300", value_parser = duration_within(MAX_LOCK_LEASE_DAYS))]
    lock_lease: Duration,
    /// PostgreSQL: all pending migrations in one transaction, all or nothing (like
    /// `psql -1`). Refused (exit 2) under DSQL's rules, where every statement is its own
    /// transaction, and when a pending migration is partly applied.
    #[arg(long)]
    single_transaction: bool,
    /// Do not apply and validate the permissions file after the migrations.
    #[arg(long)]
    no_permissions: bool,
    /// For a folder imported from drizzle-kit: run this migration, which drizzle's
    /// migrator skipped (its `when` older than a later one's) though it ran later ones
    /// (repeatable). Without it such a migration is refused: it may have been applied by
    /// hand (then `mark-applied --file TAG`).
    #[arg(long, value_name = "TAG")]
    run_skipped: Vec<String>,
    /// Rows per transaction when a directive works in batches (a recreation's copy, a
    /// backfill; 1 to 2999: DSQL allows 3,000 changed rows per transaction, the
    /// progress row included).
    #[arg(long, value_name = "ROWS", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=2999))]
    batch_rows: u16,
    /// Apply the pending migrations up to and including this one (a journal tag such as
    /// `0003_add_isbn`), nothing after it. The permissions file, which describes the
    /// schema after every migration, waits for the run that applies the rest.
    #[arg(long, value_name = "TAG")]
    to: Option<String>,
}

/// Reads a duration flag: bare seconds (`90`) or a humantime duration (`90s`, `5m`,
/// `1h30m`), from one second to `max_days`.
fn duration_within(
    max_days: u64,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let text = text.trim();
        let duration = match text.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => humantime::parse_duration(text).map_err(|e| {
                format!("{e}: write seconds, or a duration such as 90s, 5m or 1h30m")
            })?,
        };
        if duration < Duration::from_secs(1) || duration > Duration::from_secs(max_days * 86_400) {
            return Err(format!("`{text}` is out of range: from 1s to {max_days}d"));
        }
        Ok(duration)
    }
}

super::outcomes! {
    /// Every migration asked for is applied (`--to`: up to its tag); the permissions converged unless some are held back.
    Ok,
    /// `--dry-run`: what would run; nothing changed.
    DryRun,
}

/// What `migrate` did, or with `--dry-run` would do.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct MigrateReport {
    #[serde(skip)]
    status: Status,
    /// The database, its password masked (`postgres at postgres://app:***@db/app`).
    pub target: String,
    /// Where the migrations came from.
    pub origin: String,
    /// Migrations this run applied, in order (empty in a dry run).
    pub applied: Vec<String>,
    /// Migrations already applied before this run.
    pub already_applied: usize,
    /// `--to`: pending migrations after its tag, left for a later run (a dry run lists
    /// those it would leave).
    pub held_back: Vec<String>,
    /// `--dry-run`: each migration to run, its statements and how each runs.
    pub pending: Vec<DryRunMigration>,
    /// What converging on the permissions file did; null when there is none, with
    /// `--no-permissions`, and in a dry run.
    pub permissions: Option<Convergence>,
    /// `--dry-run`: the permissions step the run would take after the migrations; null
    /// when there is none.
    pub permissions_step: Option<PermissionsStep>,
    #[serde(skip)]
    revoke_undeclared: bool,
    /// A permissions file is configured (and not skipped): with migrations held back, it
    /// waits.
    #[serde(skip)]
    permissions_waiting: bool,
}

/// The permissions step of a run.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct PermissionsStep {
    /// The permissions file.
    pub file: String,
    /// Its statements.
    pub statements: usize,
    /// Whether privileges no handler declares are revoked from the roles it names.
    pub revoke_undeclared: bool,
}

impl Report for MigrateReport {
    type Status = Status;

    fn status(&self) -> Status {
        self.status
    }

    fn text(&self) -> String {
        let mut text = String::new();
        if self.status == Status::DryRun {
            text.push_str(&format!(
                "Dry run on {}: {} migration(s) to run; nothing will change.\n",
                self.target,
                self.pending.len()
            ));
            for m in &self.pending {
                let resume = if m.resume_from > 0 {
                    format!(" (resumes at statement {})", m.resume_from + 1)
                } else {
                    String::new()
                };
                let previous = m
                    .state
                    .previous()
                    .map(|p| format!("; {p} last time"))
                    .unwrap_or_default();
                text.push_str(&format!("{}{resume}{previous}\n", m.tag));
                for s in &m.statements {
                    text.push_str(&format!(
                        "  [{}] {}\n      {}\n",
                        s.number,
                        s.how,
                        s.sql.replace('\n', "\n      ")
                    ));
                }
            }
            text.push_str(&self.held_back_text());
            if let Some(step) = &self.permissions_step {
                text.push_str(&format!(
                    "Then the permissions: {} ({} statement(s)): roles created, grants applied{}, then validated (--no-permissions skips it).\n",
                    step.file,
                    step.statements,
                    if step.revoke_undeclared { ", privileges no handler declares revoked from the roles it names" } else { "" }
                ));
            }
            return text;
        }
        if let Some(converged) = &self.permissions {
            text.push_str(&applied_text(&converged.applied));
            text.push_str(&validated_text(
                &converged.validated,
                self.revoke_undeclared,
            ));
        }
        text.push_str(&format!(
            "Done: {} applied, {} already applied.\n",
            self.applied.len(),
            self.already_applied
        ));
        text.push_str(&self.held_back_text());
        text
    }
}

impl MigrateReport {
    /// What `--to` left pending, and that the permissions wait for it.
    fn held_back_text(&self) -> String {
        if self.held_back.is_empty() {
            return String::new();
        }
        let permissions = if self.permissions_waiting {
            "; the permissions file waits for the run that applies them"
        } else {
            ""
        };
        format!(
            "Left pending by --to: {} ({}){permissions}.\n",
            self.held_back.len(),
            self.held_back.join(", ")
        )
    }
}

/// A history this folder does not know, when `squash` archived it: the way out is the
/// baseline's `mark-applied --reset`, not another branch.
fn after_squash(e: RunError, folder: &std::path::Path) -> CliError {
    let squashed = matches!(e, RunError::UnknownApplied { .. })
        && MigrationFolder::load(folder).is_ok_and(|f| !f.archives().is_empty());
    let baseline = MigrationSet::from_folder(folder)
        .ok()
        .and_then(|set| set.migrations.first().map(|m| m.tag.clone()));
    match (squashed, baseline) {
        (true, Some(baseline)) => CliError::from(e).context(format!(
            "this database's history is the one `squash` archived under {}: once it has applied every archived migration (`migrate --folder` the archive first, if not), record the baseline in its place with `tablewright mark-applied --file {baseline} --reset --yes`",
            folder.join("archive").display()
        )),
        _ => CliError::from(e),
    }
}

/// Runs `migrate`.
pub fn run(cx: &Context, args: Args) -> Result<Done<MigrateReport>, CliError> {
    let target = args.db.target(cx)?;
    let (config, folder, history) = args.db.sources(&cx.config)?;
    let revoke_undeclared = config.as_ref().is_none_or(|c| c.revoke_undeclared);
    let permissions = match config
        .map(|c| c.permissions)
        .filter(|p| !args.no_permissions && p.is_file())
    {
        Some(path) => Some(read_file(&path, ApplyOptions { revoke_undeclared })?),
        None => None,
    };
    // The dry run says what the permissions step would do; the run does it.
    let permissions_step = if args.dry_run {
        permissions.as_ref().map(|p| PermissionsStep {
            file: p.name.clone(),
            statements: p.statements.len(),
            revoke_undeclared: p.options.revoke_undeclared,
        })
    } else {
        None
    };
    let permissions_waiting = permissions.is_some();
    let permissions = if args.dry_run { None } else { permissions };
    let set = MigrationSet::from_folder(&folder)?;
    let options = MigratorOptions {
        permissions,
        history,
        lock: !args.no_lock,
        lease: args.lock_lease,
        single_transaction: args.single_transaction,
        timeout: args.timeout,
        batch_rows: args.batch_rows.into(),
        run_skipped: args.run_skipped.clone(),
        to: args.to.clone(),
        ..MigratorOptions::default()
    };
    let format = cx.format;
    let printer = EventPrinter::new(format);
    // The migrator bounds a run itself (cancelling what is in flight before it releases
    // its lock); this bound covers the dry run.
    let outer = args.timeout.filter(|_| args.dry_run);
    block_on(outer, async {
        let migrator = Migrator::new(target, set, options).await?;
        let mut report = MigrateReport {
            status: Status::Ok,
            target: migrator.target().to_string(),
            origin: migrator.migrations().origin.clone(),
            applied: Vec::new(),
            already_applied: 0,
            held_back: Vec::new(),
            pending: Vec::new(),
            permissions: None,
            permissions_step,
            revoke_undeclared,
            permissions_waiting,
        };
        if args.dry_run {
            report.pending = migrator.plan().await?;
            let status = migrator.status().await?;
            report.already_applied = status.applied.len();
            if let Some(to) = &args.to {
                let after = migrator
                    .migrations()
                    .migrations
                    .iter()
                    .skip_while(|m| &m.tag != to)
                    .skip(1);
                report.held_back = after
                    .filter(|m| !status.applied.iter().any(|a| a.tag == m.tag))
                    .map(|m| m.tag.clone())
                    .collect();
            }
            if !report.held_back.is_empty() {
                report.permissions_step = None;
            }
            report.status = Status::DryRun;
            return Ok(Done::ok(report));
        }
        if format == Format::Text {
            emit(&format!(
                "Migrating {} from {}\n",
                report.target, report.origin
            ));
        }
        // SIGINT and SIGTERM stop the run the way --timeout does: the statement in flight
        // ended on the server, the lock released.
        let run = migrator
            .run_until(&|e| printer.print(e), termination())
            .await
            .map_err(|e| after_squash(e, &folder))?;
        report.applied = run.applied;
        report.already_applied = run.already_applied;
        report.held_back = run.held_back;
        report.permissions = run.permissions;
        Ok(Done::ok(report))
    })
}
