//! The commands that talk to a database: `migrate`, `status`, `mark-applied`, `verify`.

use crate::report::{Failure, Format, emit};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tablewright_core::compile::rules::Dialect;
use tablewright_core::project::config::{Config, DEFAULT_CONFIG};
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::compile::permissions::Statement;
use tablewright_core::runner::permissions::{ApplyOptions, PermissionsFile, ValidateReport};
use tablewright_core::runner::{self, ErrorClass, Event, HistoryTable, MigrationSet, Migrator, MigratorOptions, RunError, Target};

/// Where to connect and what to apply.
#[derive(Args, Clone)]
pub struct DbArgs {
    /// `postgres` or `dsql`. By default DSQL_ENDPOINT selects dsql; a PostgreSQL URL
    /// (DATABASE_URL or --connection-string) runs under the config's dialect: DSQL's rules,
    /// emulated, when it says `dialect = "dsql"`.
    #[arg(long, value_enum)]
    provider: Option<Provider>,
    /// PostgreSQL URL (default: DATABASE_URL). With `--provider dsql` it runs DSQL's rules
    /// against that PostgreSQL, translating only the syntax PostgreSQL lacks.
    #[arg(long, value_name = "URL")]
    connection_string: Option<String>,
    /// DSQL cluster endpoint (default: DSQL_ENDPOINT).
    #[arg(long)]
    endpoint: Option<String>,
    /// AWS region of the cluster (default: AWS_REGION, then AWS_DEFAULT_REGION).
    #[arg(long)]
    region: Option<String>,
    /// Migrations folder (default: `out` from the config).
    #[arg(long)]
    folder: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Provider {
    Postgres,
    Dsql,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn input(message: impl Into<String>) -> Failure {
    Failure::Error(anyhow::Error::new(RunError::Config(message.into())))
}

impl DbArgs {
    /// The target, from flags, then the environment, then (for a PostgreSQL URL) the
    /// dialect of the config at `config_path`, if it reads: a broken config is reported by
    /// the command that loads it.
    fn target(&self, config_path: &Path) -> Result<Target, Failure> {
        // A PostgreSQL URL with no provider named: the config's dialect decides.
        let by_dialect = self.provider.is_none()
            && self.endpoint.is_none()
            && env("DSQL_ENDPOINT").is_none()
            && (self.connection_string.is_some() || env("DATABASE_URL").is_some())
            && Config::load(config_path).is_ok_and(|c| c.dialect == Dialect::Dsql);
        if by_dialect {
            // Said first, so that nobody takes the run for plain PostgreSQL's.
            eprintln!("note: {} says dialect = \"dsql\": DSQL's rules apply on this PostgreSQL (--provider postgres runs without them)", config_path.display());
        }
        let provider = match self.provider {
            Some(p) => p,
            None if by_dialect => Provider::Dsql,
            None if self.endpoint.is_some() || env("DSQL_ENDPOINT").is_some() => Provider::Dsql,
            None if self.connection_string.is_some() || env("DATABASE_URL").is_some() => Provider::Postgres,
            None => {
                return Err(input(
                    "no database named: set DATABASE_URL (PostgreSQL) or DSQL_ENDPOINT and AWS_REGION (Aurora DSQL), or pass --connection-string / --endpoint",
                ));
            }
        };
        let url = self.connection_string.clone().or_else(|| if provider == Provider::Postgres || by_dialect { env("DATABASE_URL") } else { None });
        match (provider, url) {
            (Provider::Postgres, Some(url)) => Ok(Target::Postgres { url }),
            (Provider::Postgres, None) => Err(input("--provider postgres needs --connection-string or DATABASE_URL")),
            (Provider::Dsql, Some(url)) => Ok(Target::DsqlEmulated { url }),
            (Provider::Dsql, None) => {
                let endpoint = self.endpoint.clone().or_else(|| env("DSQL_ENDPOINT")).ok_or_else(|| input("--provider dsql needs --endpoint or DSQL_ENDPOINT"))?;
                let region = self
                    .region
                    .clone()
                    .or_else(|| env("AWS_REGION"))
                    .or_else(|| env("AWS_DEFAULT_REGION"))
                    .ok_or_else(|| input("--provider dsql needs --region, AWS_REGION or AWS_DEFAULT_REGION"))?;
                Ok(Target::Dsql { endpoint, region })
            }
        }
    }

    /// The config if there is one (a `--folder` makes it optional), the folder, the history.
    fn sources(&self, config_path: &Path) -> Result<(Option<Config>, PathBuf, HistoryTable), Failure> {
        let config = match Config::load(config_path) {
            Ok(c) => Some(c),
            Err(_) if self.folder.is_some() && config_path == Path::new(DEFAULT_CONFIG) => None,
            Err(e) => return Err(e.into()),
        };
        let folder = self.folder.clone().or_else(|| config.as_ref().map(|c| c.out.clone())).expect("a folder or a config");
        let history = config
            .as_ref()
            .map(history_of)
            .unwrap_or_default();
        Ok((config, folder, history))
    }
}

/// Completes on SIGINT, SIGTERM or SIGHUP. The handlers are installed by this call (inside a
/// runtime), so from then on those signals stop the work where it can be stopped cleanly,
/// instead of killing the process with a throwaway server or database left behind.
fn termination() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn received(handler: &mut Option<Signal>) {
        match handler {
            Some(h) => {
                h.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut hangup = signal(SignalKind::hangup()).ok();
    async move {
        tokio::select! {
            () = received(&mut interrupt) => {}
            () = received(&mut terminate) => {}
            () = received(&mut hangup) => {}
        }
    }
}

/// Runs a future on a fresh runtime, bounded by `timeout`.
fn block_on<T>(timeout: Option<Duration>, work: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        match timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                Err(Failure::Runtime(anyhow::anyhow!(
                    "timed out after {}s; the run stopped between statements or inside one (rolled back by the server); rerun to resume",
                    limit.as_secs()
                )))
            }),
            None => work.await,
        }
    })
}

fn run_error(e: RunError) -> Failure {
    match e.class() {
        ErrorClass::Check => Failure::CheckFailedWith(anyhow::Error::new(e)),
        ErrorClass::Input => Failure::Error(anyhow::Error::new(e)),
        ErrorClass::Run => Failure::Runtime(anyhow::Error::new(e)),
    }
}

/// Prints events as they come: readable lines, or JSON lines on stderr.
struct EventPrinter {
    format: Format,
}

impl EventPrinter {
    fn new(format: Format) -> EventPrinter {
        EventPrinter { format }
    }

    fn print(&self, event: Event) {
        match self.format {
            Format::Json => {
                eprintln!("{}", serde_json::to_value(&event).expect("events serialise"));
            }
            Format::Text => emit(&match event {
                Event::LockWaiting { holder, expires_at: Some(at) } => format!("waiting for the migration lock held by {holder} (lease expires {at})\n"),
                Event::LockWaiting { holder, expires_at: None } => format!("waiting for the migration lock held by {holder}\n"),
                Event::LockAcquired { kind } => format!("lock acquired ({kind})\n"),
                Event::MigrationStarted { tag, statements, resume_from: 0, previous: None } => format!("{tag}: {statements} statement(s)\n"),
                Event::MigrationStarted { tag, statements, resume_from, previous } => format!(
                    "{tag}: resuming at statement {} of {statements}{}\n",
                    resume_from + 1,
                    previous.map(|p| format!(" ({p} last time)")).unwrap_or_default()
                ),
                Event::Settled { number, took_effect: true, how, .. } => format!("  [{number}] took effect before the interruption: {how}\n"),
                Event::Settled { number, took_effect: false, how, .. } => format!("  [{number}] did not take effect before the interruption ({how}): running it\n"),
                Event::StatementDone { number, total, elapsed_ms, note, .. } => {
                    format!("  [{number}/{total}] ok, {elapsed_ms} ms{}\n", note.map(|n| format!(" ({n})")).unwrap_or_default())
                }
                Event::WaitingForJob { job_id, elapsed_s, .. } => format!("  waiting for job {job_id} ({elapsed_s}s)\n"),
                Event::RebuildingIndex { index, .. } => format!("  index {index} is INVALID: dropped, building it again\n"),
                Event::Removed { what, .. } => format!("  after the failure: {what}\n"),
                Event::Rewritten { tag, number, sql, reason } => format!("warning: {tag} statement {number} rewritten for DSQL: {reason}\n  runs as: {sql}\n"),
                Event::Skipped { tag, number, reason } => format!("warning: {tag} statement {number} skipped on DSQL: {reason}\n"),
                Event::MigrationApplied { tag, elapsed_ms } => format!("{tag}: applied in {elapsed_ms} ms\n"),
                Event::CopyProgress { table, rows, done: false, .. } => format!("  copying {table}: {rows} rows so far\n"),
                Event::CopyProgress { table, rows, done: true, .. } => format!("  copied {table}: {rows} rows, counts match, grants copied\n"),
                Event::RangesRecopied { table, ranges, .. } => format!("  {table} changed during the copy: {ranges} key range(s) copied again\n"),
                Event::BackfillProgress { table, column, rows, done: false, .. } => format!("  backfilling {table}.{column}: {rows} rows so far\n"),
                Event::BackfillProgress { table, column, rows, done: true, .. } => format!("  backfilled {table}.{column}: {rows} rows\n"),
                Event::Adopted { tag } => format!("{tag}: applied by drizzle-kit (drizzle.__drizzle_migrations); recorded, not run\n"),
                Event::SampleRows { before, tables } => {
                    let inserted: u64 = tables.iter().map(|t| t.inserted).sum();
                    let mut text = format!("verify: {inserted} sample row(s) in {} table(s) before {before}\n", tables.len());
                    for t in tables.iter().filter(|t| t.skipped.is_some()) {
                        text.push_str(&format!("  warning: {} got {} sample row(s), fewer than asked, so the next migration meets less data there: {}\n", t.table, t.inserted, t.skipped.as_deref().unwrap_or_default()));
                    }
                    text
                }
            }),
        }
    }
}

pub struct MigrateFlags {
    pub dry_run: bool,
    pub no_lock: bool,
    pub timeout: Option<Duration>,
    pub lock_lease: Duration,
    pub single_transaction: bool,
    pub permissions: bool,
    pub batch_rows: usize,
}

pub enum PermissionsMode {
    Apply,
    Validate { strict: bool, repair: bool },
}

fn gap_line(g: &runner::permissions::Gap) -> String {
    let ops: Vec<&str> = g.operations.iter().map(|o| o.privilege()).collect();
    let why = match g.reason {
        runner::permissions::GapReason::TableMissing => "table does not exist",
        runner::permissions::GapReason::RoleMissing => "role does not exist",
        runner::permissions::GapReason::NotGranted => "not granted",
    };
    format!("  warning: {} on {} for role {}: {why} — {}\n", ops.join(", "), g.table, g.role, g.file)
}

fn excess_line(e: &runner::permissions::Excess) -> String {
    format!("  warning: {} on {} for role {}: no handler declares it\n", e.privileges.join(", "), e.table, e.role)
}

/// The permissions file's statements.
fn read_permissions(path: &Path) -> Result<Vec<tablewright_core::compile::permissions::Statement>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| input(format!("{}: {e} (run `tablewright generate` to write it)", path.display())))?;
    tablewright_core::compile::permissions::parse(&text).map_err(|e| input(format!("{}: {e}", path.display())))
}

/// The permissions file, ready for `converge`.
fn permissions_file(path: &Path, options: ApplyOptions) -> Result<PermissionsFile, Failure> {
    Ok(PermissionsFile { name: path.display().to_string(), statements: read_permissions(path)?, options })
}

/// Prints what converging did (when it applied) and what validation found.
fn print_permissions(applied: Option<&runner::permissions::ApplyReport>, report: &ValidateReport, options: ApplyOptions, format: Format, out: &mut serde_json::Map<String, Value>) {
    if let Some(applied) = applied {
        match format {
            Format::Text => {
                let mut text = format!("permissions: {} role(s) created, {} grant(s) applied", applied.created_roles.len(), applied.granted);
                if applied.skipped_iam > 0 {
                    text.push_str(&format!(", {} AWS IAM GRANT(s) skipped (not DSQL)", applied.skipped_iam));
                }
                text.push_str(&format!(", {} undeclared privilege set(s) revoked\n", applied.revoked.len()));
                for e in &applied.revoked {
                    text.push_str(&format!("  revoked {} on {} from {}: no handler declares it\n", e.privileges.join(", "), e.table, e.role));
                }
                emit(&text);
            }
            Format::Json => {
                out.insert("permissions_applied".into(), serde_json::to_value(applied).expect("reports serialise"));
            }
        }
    }
    match format {
        Format::Text => {
            let mut text = format!(
                "permissions: {} grant(s) checked against pg_class.relacl, {} gap(s), {} undeclared privilege set(s)\n",
                report.checked,
                report.gaps.len(),
                report.excess.len()
            );
            for g in &report.gaps {
                text.push_str(&gap_line(g));
            }
            for e in &report.excess {
                text.push_str(&excess_line(e));
            }
            if !report.excess.is_empty() && !options.revoke_undeclared {
                text.push_str("  ([roles] revoke_undeclared = false: `permissions apply` leaves them)\n");
            } else if !report.excess.is_empty() {
                text.push_str("  (`permissions apply` or `permissions validate --repair` revokes them)\n");
            }
            emit(&text);
        }
        Format::Json => {
            out.insert("permissions".into(), serde_json::to_value(report).expect("reports serialise"));
        }
    }
}

/// Converges on the permissions file (for `Apply`, or `Validate` with `repair`) or only
/// validates it, printing both; returns what validation found.
async fn apply_and_validate(connector: &runner::Connector, path: &Path, options: ApplyOptions, mode: &PermissionsMode, format: Format, out: &mut serde_json::Map<String, Value>) -> Result<ValidateReport, Failure> {
    let file = permissions_file(path, options)?;
    if matches!(mode, PermissionsMode::Apply | PermissionsMode::Validate { repair: true, .. }) {
        let converged = runner::permissions::converge(connector, &file).await.map_err(run_error)?;
        print_permissions(Some(&converged.applied), &converged.validated, options, format, out);
        return Ok(converged.validated);
    }
    let report = runner::permissions::validate(connector, &file.name, &file.statements).await.map_err(run_error)?;
    print_permissions(None, &report, options, format, out);
    Ok(report)
}

pub fn permissions(config_path: &Path, format: Format, args: &DbArgs, mode: PermissionsMode, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    let target = args.target(config_path)?;
    let config = Config::load(config_path)?;
    let options = ApplyOptions { revoke_undeclared: config.revoke_undeclared };
    block_on(None, async {
        let connector = runner::Connector::new(target).await.map_err(run_error)?;
        let report = apply_and_validate(&connector, &config.permissions, options, &mode, format, out).await?;
        out.insert("status".into(), json!(if report.is_clean() { "ok" } else { "problems" }));
        match mode {
            PermissionsMode::Validate { strict: true, .. } if !report.is_clean() => Err(Failure::CheckFailed),
            _ => Ok(()),
        }
    })
}

pub fn migrate(config_path: &Path, format: Format, args: &DbArgs, flags: MigrateFlags, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    let target = args.target(config_path)?;
    let (config, folder, history) = args.sources(config_path)?;
    let permissions_options = ApplyOptions { revoke_undeclared: config.as_ref().is_none_or(|c| c.revoke_undeclared) };
    let permissions = match config.map(|c| c.permissions).filter(|p| flags.permissions && p.is_file()) {
        Some(path) => Some(permissions_file(&path, permissions_options)?),
        None => None,
    };
    // The dry run says what the permissions step would do; the run does it.
    let dry_permissions = if flags.dry_run { permissions.as_ref().map(|p| (p.name.clone(), p.statements.len(), p.options.revoke_undeclared)) } else { None };
    let permissions = if flags.dry_run { None } else { permissions };
    let set = MigrationSet::from_folder(&folder).map_err(run_error)?;
    let options = MigratorOptions {
        permissions,
        history,
        lock: !flags.no_lock,
        lease: flags.lock_lease,
        single_transaction: flags.single_transaction,
        timeout: flags.timeout,
        batch_rows: flags.batch_rows,
        ..MigratorOptions::default()
    };
    let printer = EventPrinter::new(format);
    // The migrator bounds a run itself (cancelling what is in flight before it releases
    // its lock); this bound covers the dry run.
    let outer = flags.timeout.filter(|_| flags.dry_run);
    block_on(outer, async {
        let migrator = Migrator::new(target, set, options).await.map_err(run_error)?;
        if flags.dry_run {
            let plan = migrator.plan().await.map_err(run_error)?;
            match format {
                Format::Text => {
                    let mut text = format!("Dry run on {}: {} migration(s) to run; nothing will change.\n", migrator.target(), plan.len());
                    for m in &plan {
                        let resume = if m.resume_from > 0 { format!(" (resumes at statement {})", m.resume_from + 1) } else { String::new() };
                        let previous = m.state.previous().map(|p| format!("; {p} last time")).unwrap_or_default();
                        text.push_str(&format!("{}{resume}{previous}\n", m.tag));
                        for s in &m.statements {
                            text.push_str(&format!("  [{}] {}\n      {}\n", s.number, s.how, s.sql.replace('\n', "\n      ")));
                        }
                    }
                    if let Some((file, statements, revoke)) = &dry_permissions {
                        text.push_str(&format!(
                            "Then the permissions: {file} ({statements} statement(s)): roles created, grants applied{}, then validated (--no-permissions skips it).\n",
                            if *revoke { ", privileges no handler declares revoked from the roles it names" } else { "" }
                        ));
                    }
                    emit(&text);
                }
                Format::Json => {
                    out.insert("status".into(), json!("dry_run"));
                    out.insert("target".into(), json!(migrator.target().to_string()));
                    out.insert("pending".into(), serde_json::to_value(&plan).expect("plans serialise"));
                    out.insert("permissions".into(), json!(dry_permissions.as_ref().map(|(file, statements, revoke)| json!({"file": file, "statements": statements, "revoke_undeclared": revoke}))));
                }
            }
            return Ok(());
        }
        if format == Format::Text {
            emit(&format!("Migrating {} from {}\n", migrator.target(), migrator.migrations().origin));
        }
        // SIGINT and SIGTERM stop the run the way --timeout does: the statement in flight
        // ended on the server, the lock released.
        let signal = termination();
        let report = migrator.run_until(&|e| printer.print(e), signal).await.map_err(run_error)?;
        if let Some(converged) = &report.permissions {
            print_permissions(Some(&converged.applied), &converged.validated, permissions_options, format, out);
        }
        match format {
            Format::Text => emit(&format!("Done: {} applied, {} already applied.\n", report.applied.len(), report.already_applied)),
            Format::Json => {
                out.insert("status".into(), json!("ok"));
                out.insert("target".into(), json!(migrator.target().to_string()));
                out.insert("applied".into(), json!(report.applied));
                out.insert("already_applied".into(), json!(report.already_applied));
            }
        }
        Ok(())
    })
}

pub fn drift(config_path: &Path, format: Format, args: &DbArgs, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    let target = args.target(config_path)?;
    let (config, folder, history) = args.sources(config_path)?;
    let migrations = MigrationFolder::load(&folder)?;
    if migrations.journal.entries.is_empty() {
        return Err(input(format!("{}: no snapshot yet, so nothing to compare with; run `tablewright generate` first", folder.display())));
    }
    let set = MigrationSet::from_folder(&folder).map_err(run_error)?;
    let permissions = match config.map(|c| c.permissions).filter(|p| p.is_file()) {
        Some(path) => Some((path.display().to_string(), read_permissions(&path)?)),
        None => None,
    };
    block_on(None, async {
        // The database is compared with what it has applied, not with the folder's last
        // snapshot: a migration not yet deployed is pending, not drift.
        let migrator = Migrator::new(target, set, MigratorOptions { history: history.clone(), ..MigratorOptions::default() }).await.map_err(run_error)?;
        let status = migrator.status().await.map_err(run_error)?;
        let applied: std::collections::BTreeSet<&str> = status.applied.iter().map(|a| a.tag.as_str()).collect();
        let last_applied = migrations.journal.entries.iter().rev().find(|e| applied.contains(e.tag.as_str()));
        let (tag, expected) = match last_applied {
            Some(entry) => (entry.tag.clone(), migrations.read_snapshot(entry)?.schema),
            None => ("(none applied)".to_owned(), Default::default()),
        };
        // A failure that left nothing done (on PostgreSQL a failed migration rolls back
        // whole) is as good as pending; one that left statements done is between snapshots.
        let unsettled: Vec<&str> = status.in_progress.iter().map(|p| p.tag.as_str()).chain(status.failed.iter().filter(|f| f.done > 0).map(|f| f.tag.as_str())).collect();
        if !unsettled.is_empty() {
            return Err(Failure::CheckFailedWith(anyhow::anyhow!(
                "drift: {} stopped halfway in {}; the schema is between two snapshots, so there is nothing to compare with: run `tablewright migrate` to finish it",
                unsettled.join(", "),
                migrator.target()
            )));
        }
        // Grants on tables a pending migration creates are pending too.
        let permissions = permissions.map(|(file, mut statements)| {
            statements.retain(|s| !matches!(s, Statement::Grant { grant, .. } if !expected.tables.contains_key(&grant.table)));
            (file, statements)
        });
        let connector = migrator.connector();
        let report = runner::drift(connector, &expected, &history, permissions.as_ref().map(|(f, s)| (f.as_str(), s.as_slice()))).await.map_err(run_error)?;
        let pending: Vec<String> = status.pending.iter().cloned().chain(status.failed.iter().filter(|f| f.done == 0).map(|f| format!("{} (failed, nothing done)", f.tag))).collect();
        let pending = &pending;
        let mut pending_note = if pending.is_empty() { String::new() } else { format!("{} migration(s) pending, not compared: {}\n", pending.len(), pending.join(", ")) };
        for n in &report.not_compared {
            pending_note.push_str(&format!("not compared (the structs cannot declare it): {n}\n"));
        }
        match format {
            Format::Text if report.is_clean() => emit(&format!(
                "drift: none — {} matches snapshot {} ({} table(s)){}.\n{pending_note}",
                connector.target(),
                tag,
                expected.tables.len(),
                if report.grants_checked > 0 { format!(" and the {} declared grant(s)", report.grants_checked) } else { String::new() }
            )),
            Format::Text => {
                let mut text = format!("drift: {} differs from snapshot {}, its last applied migration:\n", connector.target(), tag);
                for d in &report.differences {
                    text.push_str(&format!("  - {d}\n"));
                }
                for g in &report.missing_grants {
                    text.push_str(&gap_line(g));
                }
                for e in &report.excess_grants {
                    text.push_str(&excess_line(e));
                }
                text.push_str(&pending_note);
                text.push_str("Put intended changes in the structs and `generate` a migration; undo the others by hand (or `permissions apply` for grants).\n");
                emit(&text);
            }
            Format::Json => {
                out.insert("status".into(), json!(if report.is_clean() { "ok" } else { "drift" }));
                out.insert("target".into(), json!(connector.target().to_string()));
                out.insert("snapshot".into(), json!(last_applied.map(|e| e.tag.clone())));
                out.insert("pending".into(), json!(pending));
                out.insert("not_compared".into(), json!(report.not_compared));
                out.insert("differences".into(), Value::Array(report.differences.iter().map(|d| {
                    let mut v = serde_json::to_value(d).expect("differences serialise");
                    v["message"] = json!(d.to_string());
                    v
                }).collect()));
                out.insert("missing_grants".into(), serde_json::to_value(&report.missing_grants).expect("gaps serialise"));
                out.insert("excess_grants".into(), serde_json::to_value(&report.excess_grants).expect("excess serialises"));
            }
        }
        if report.is_clean() { Ok(()) } else { Err(Failure::CheckFailed) }
    })
}

/// The config when there is one: a missing default file is no config, a broken one an error.
fn optional_config(config_path: &Path) -> Result<Option<Config>, Failure> {
    if config_path == Path::new(DEFAULT_CONFIG) && !config_path.exists() {
        return Ok(None);
    }
    Ok(Some(Config::load(config_path)?))
}

/// Where the config keeps the history.
fn history_of(config: &Config) -> HistoryTable {
    HistoryTable { schema: config.history_schema.clone(), table: config.history_table.clone() }
}

/// Reads the tables of `namespace` into the model, leaving out the tool's own tables and
/// the indexes the model cannot hold.
async fn read_schema(connector: &runner::Connector, namespace: &str, history: &HistoryTable) -> Result<runner::introspect::Introspected, Failure> {
    let mut conn = connector.connect().await.map_err(run_error)?;
    // An index the model holds only in part is left out (and stays listed), so that no
    // command builds or drops it from a wrong picture.
    let mut found = runner::introspect::introspect(conn.pg(), namespace).await.map_err(|e| run_error(RunError::db("reading the catalog", e)))?.without_partial_indexes();
    conn.close().await;
    if history.schema == namespace {
        for own in history.own_tables() {
            found.schema.tables.remove(&own);
            found.unmodelled.retain(|u| u.table.as_deref() != Some(own.as_str()));
        }
    }
    Ok(found)
}

pub fn pull(config_path: &Path, format: Format, args: &DbArgs, namespace: &str, out_file: Option<&Path>, force: bool, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    let target = args.target(config_path)?;
    let history = optional_config(config_path)?.as_ref().map(history_of).unwrap_or_default();
    if let Some(path) = out_file
        && path.exists()
        && !force
    {
        return Err(input(format!("{}: already exists; pull writes a new file (choose another --out, or --force to replace it)", path.display())));
    }
    block_on(None, async {
        let connector = runner::Connector::new(target).await.map_err(run_error)?;
        let found = read_schema(&connector, namespace, &history).await?;
        if found.schema.tables.is_empty() {
            return Err(input(format!("{}: schema `{namespace}` holds no tables to pull", connector.target())));
        }
        let entities = tablewright_core::schema::codegen::entities(&found.schema, &format!("{} (schema `{namespace}`)", connector.target()));
        let mut not_expressed: Vec<String> = found.unmodelled.iter().map(|u| u.note.clone()).collect();
        not_expressed.extend(entities.not_expressed.iter().cloned());
        match out_file {
            Some(path) => tablewright_core::project::fsio::write_all_or_nothing(&[(path.to_path_buf(), entities.source.clone().into_bytes())]).map_err(|e| Failure::Error(anyhow::Error::new(e)))?,
            None if format == Format::Text => emit(&entities.source),
            None => {}
        }
        match format {
            Format::Text => {
                let mut text = String::new();
                if let Some(path) = out_file {
                    text.push_str(&format!("pull: wrote {} struct(s) from {} to {}\n", found.schema.tables.len(), connector.target(), path.display()));
                }
                if !not_expressed.is_empty() {
                    text.push_str(&format!("pull: {} thing(s) of the database the structs do not declare (change them by hand, or keep them out of tablewright):\n", not_expressed.len()));
                    for n in &not_expressed {
                        text.push_str(&format!("  - {n}\n"));
                    }
                }
                if out_file.is_some() {
                    emit(&text);
                } else {
                    eprint!("{text}");
                }
            }
            Format::Json => {
                out.insert("status".into(), json!("ok"));
                out.insert("target".into(), json!(connector.target().to_string()));
                out.insert("tables".into(), json!(found.schema.tables.keys().collect::<Vec<_>>()));
                out.insert("out".into(), json!(out_file.map(|p| p.display().to_string())));
                if out_file.is_none() {
                    out.insert("source".into(), json!(entities.source));
                }
                out.insert("not_expressed".into(), json!(not_expressed));
            }
        }
        Ok(())
    })
}

pub fn push(config_path: &Path, format: Format, args: &DbArgs, allow_drop: &[String], allow_dsql: bool, force: bool, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    use tablewright_core::compile::{diff, plan};
    use tablewright_core::schema::{compare, desired::AllowDrops, scan};
    let config = Config::load(config_path)?;
    let target = args.target(config_path)?;
    // Under DSQL's rules (Aurora DSQL, or its rules emulated, which stand for it) a push
    // is asked for by name.
    if target.dsql_rules() && !allow_dsql {
        return Err(input(format!(
            "push changes {target} directly, with no migration to review or replay; under DSQL's rules that needs --allow-dsql (a local PostgreSQL without them: --provider postgres; a shared database: `generate` and `migrate`)"
        )));
    }
    let scanned = scan::scan_files(&config.schema_files()?, &tablewright_core::sql::fragment::ParsedFragments)?;
    let history = history_of(&config);
    let printer = EventPrinter::new(format);
    block_on(None, async {
        let connector = runner::Connector::new(target.clone()).await.map_err(run_error)?;
        // A database whose history records migrations is deployed by them, not pushed to.
        if !force {
            let empty = MigrationSet { migrations: Vec::new(), origin: "push".to_owned(), drizzle: None };
            let recorded = Migrator::new(target.clone(), empty, MigratorOptions { history: history.clone(), lock: false, ..MigratorOptions::default() }).await.map_err(run_error)?.status().await.map_err(run_error)?.unknown;
            if !recorded.is_empty() {
                return Err(input(format!(
                    "{target}: its history records {} migration(s) ({}), so `migrate` deploys it; push would change it behind that history. Use `generate` and `migrate`, or --force for a development database",
                    recorded.len(),
                    recorded.join(", ")
                )));
            }
        }
        let mut live = read_schema(&connector, "public", &history).await?.schema;
        // What the structs cannot declare is left alone rather than dropped: a foreign key
        // over several columns (one to another schema is not read at all).
        for table in live.tables.values_mut() {
            table.foreign_keys.retain(|_, fk| fk.columns.len() == 1);
        }
        compare::adopt_spellings(&mut live, &scanned.desired.schema);
        // Errors read as generate's do (the undecided drops with both ways out).
        let changes = diff::diff(&live, &scanned.desired, &AllowDrops::parse(allow_drop)).map_err(tablewright_core::generate::GenerateError::Diff)?;
        if changes.ops.is_empty() {
            match format {
                Format::Text => emit(&format!("push: {} already matches the structs ({} table(s)); nothing to do.\n", connector.target(), scanned.desired.schema.tables.len())),
                Format::Json => {
                    out.insert("status".into(), json!("up_to_date"));
                    out.insert("statements".into(), json!([]));
                }
            }
            return Ok(());
        }
        let dialect = if target.dsql_rules() { Dialect::Dsql } else { Dialect::Postgres };
        let planned = plan::plan(&changes, &scanned.desired.schema, dialect).map_err(tablewright_core::generate::GenerateError::Plan)?;
        let statements = planned.sql();
        if format == Format::Text {
            let mut text = format!("push: {} change(s) to {}:\n", changes.ops.len(), connector.target());
            for op in &changes.ops {
                text.push_str(&format!("  - {op}\n"));
            }
            emit(&text);
        }
        // Bookkeeping in `public`, which exists, so that no schema is created and left.
        runner::apply_unrecorded(target, "push", statements.clone(), "public", &|e| printer.print(e)).await.map_err(|e| {
            let stopped = matches!(e, RunError::Statement { .. });
            let failure = run_error(e);
            match failure {
                Failure::Runtime(e) if stopped => Failure::Runtime(e.context("push stopped at this statement; the statements before it took effect. Fix the cause and push again: it plans from the database as it now is")),
                other => other,
            }
        })?;
        match format {
            Format::Text => emit(&format!("push: done, {} statement(s); no file written, no history recorded.\n", statements.len())),
            Format::Json => {
                out.insert("status".into(), json!("pushed"));
                out.insert("changes".into(), json!(changes.ops.iter().map(|o| o.to_string()).collect::<Vec<_>>()));
                out.insert("statements".into(), json!(statements));
            }
        }
        Ok(())
    })
}

/// Where `clone` reads from.
#[derive(Args, Clone)]
pub struct CloneSource {
    /// The source database's URL (PostgreSQL, or with --from-provider dsql a PostgreSQL
    /// under DSQL's rules).
    #[arg(long = "from", value_name = "URL", required_unless_present = "from_endpoint")]
    from: Option<String>,
    /// `postgres` (default) or `dsql`.
    #[arg(long = "from-provider", value_enum)]
    from_provider: Option<Provider>,
    /// A DSQL cluster endpoint to read from (IAM token, as for migrate).
    #[arg(long = "from-endpoint", value_name = "HOST", conflicts_with = "from")]
    from_endpoint: Option<String>,
    /// AWS region of --from-endpoint (default: AWS_REGION, then AWS_DEFAULT_REGION).
    #[arg(long)]
    region: Option<String>,
}

impl CloneSource {
    /// The source database; its provider is always named, so the config is never asked.
    fn target(&self, config_path: &Path) -> Result<Target, Failure> {
        let args = DbArgs { provider: self.from_provider.or(self.from_endpoint.as_ref().map(|_| Provider::Dsql)).or(Some(Provider::Postgres)), connection_string: self.from.clone(), endpoint: self.from_endpoint.clone(), region: self.region.clone(), folder: None };
        args.target(config_path)
    }
}

pub fn clone(config_path: &Path, format: Format, source: &CloneSource, to: Option<String>, rows: Option<u64>, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    use tablewright_core::compile::{diff, plan};
    use tablewright_core::schema::desired::{AllowDrops, DesiredSchema};
    let from = source.target(config_path)?;
    let config = optional_config(config_path)?;
    let history = config.as_ref().map(history_of).unwrap_or_default();
    // A folder imported from drizzle-kit: its history comes along too.
    let drizzle_history = match &config {
        Some(c) => MigrationSet::from_folder(&c.out).ok().and_then(|set| set.drizzle).map(|d| (d.schema, d.table)),
        None => None,
    }
    .or_else(|| Some(("drizzle".to_owned(), "__drizzle_migrations".to_owned())));
    let printer = EventPrinter::new(format);
    block_on(None, async {
        let stop = termination();
        let mut stop = std::pin::pin!(stop);
        let source = runner::Connector::new(from).await.map_err(run_error)?;
        let found = read_schema(&source, "public", &history).await?;
        let defined: Vec<String> = found.unmodelled.iter().filter(|u| matches!(u.kind, runner::introspect::UnmodelledKind::DefinedType { .. })).map(|u| u.note.clone()).collect();
        // SERIAL columns: their sequences are made before the tables that draw from them.
        let sequences: Vec<String> = found.unmodelled.iter().filter_map(|u| match &u.kind {
            runner::introspect::UnmodelledKind::Sequence { sequence } => Some(sequence.clone()),
            _ => None,
        }).collect();
        if !defined.is_empty() {
            return Err(input(format!("{}: clone cannot build every table: {}", source.target(), defined.join("; "))));
        }
        let mut source_conn = source.connect().await.map_err(run_error)?;
        let mut read_namespace = async |namespace: &str, table: &str| -> Result<Option<tablewright_core::schema::model::Table>, Failure> {
            Ok(runner::introspect::introspect(source_conn.pg(), namespace).await.map_err(|e| run_error(RunError::db(&format!("reading schema {namespace}"), e)))?.schema.tables.remove(table))
        };
        // The history comes along, and drizzle-kit's (after `import drizzle`), so that
        // `migrate` on the clone decides as it would on the source.
        let history_table = read_namespace(&history.schema, &history.table).await?;
        let drizzle_table = match &drizzle_history {
            Some((schema, table)) => read_namespace(schema, table).await?.map(|t| (schema.clone(), t)),
            None => None,
        };

        // No --to: a throwaway server that lives until a signal.
        let embedded = match &to {
            Some(_) => None,
            None => tokio::select! {
                started = runner::EmbeddedPostgres::start() => Some(started.map_err(run_error)?),
                () = &mut stop => return Err(Failure::Runtime(anyhow::Error::new(RunError::Interrupted { what: " while starting the throwaway server".to_owned() }))),
            },
        };
        let target_url = to.clone().unwrap_or_else(|| embedded.as_ref().expect("started above").url("postgres"));
        let clone_target = Target::Postgres { url: target_url.clone() };
        let connector = runner::Connector::new(clone_target.clone()).await.map_err(run_error)?;
        let existing = read_schema(&connector, "public", &HistoryTable::default()).await?;
        if !existing.schema.tables.is_empty() {
            return Err(input(format!("{clone_target} already has tables ({}); clone builds into an empty database", existing.schema.tables.keys().cloned().collect::<Vec<_>>().join(", "))));
        }

        // A signal stops the build and the copy where they are; what was built stays, and
        // the message says so.
        let work = async {
        // The source's schema, planned from nothing for PostgreSQL and applied by the runner.
        let desired = DesiredSchema { schema: found.schema.clone(), sources: Default::default() };
        let changes = diff::diff(&Default::default(), &desired, &AllowDrops::default()).map_err(tablewright_core::generate::GenerateError::Diff)?;
        let planned = plan::plan(&changes, &desired.schema, Dialect::Postgres).map_err(tablewright_core::generate::GenerateError::Plan)?;
        let statements: Vec<String> = sequences.iter().map(|s| runner::clone::create_sequence_statement(s)).chain(planned.sql()).collect();
        runner::apply_unrecorded(clone_target.clone(), "clone", statements, "public", &|e| if format == Format::Json { printer.print(e) }).await.map_err(run_error)?;
        // From here on a failure leaves tables behind in the target: say so.
        let partial = |e: Failure| match e {
            Failure::Runtime(e) => Failure::Runtime(e.context(format!("clone stopped after building the tables in {clone_target}: drop and recreate that database before cloning into it again"))),
            other => other,
        };
        let mut whole = Vec::new();
        if let Some(table) = &history_table {
            let empty = MigrationSet { migrations: Vec::new(), origin: "clone".to_owned(), drizzle: None };
            Migrator::new(clone_target.clone(), empty, MigratorOptions { history: history.clone(), lock: false, ..MigratorOptions::default() }).await.map_err(run_error).map_err(partial)?.run(&|_| {}).await.map_err(run_error).map_err(partial)?;
            whole.push((history.schema.as_str(), table));
        }
        let mut target_conn = connector.connect().await.map_err(run_error)?;
        if let Some((schema, table)) = &drizzle_table {
            runner::clone::create_drizzle_history(target_conn.pg(), schema, &table.name).await.map_err(run_error).map_err(partial)?;
            whole.push((schema.as_str(), table));
        }
        let copied = runner::clone::copy_rows(source_conn.pg(), target_conn.pg(), "public", &found.schema, &whole, rows).await.map_err(run_error).map_err(partial)?;
        target_conn.close().await;
        Ok::<_, Failure>(copied)
        };
        let copied = tokio::select! {
            copied = work => copied?,
            () = &mut stop => return Err(Failure::Runtime(anyhow::anyhow!("clone interrupted; {clone_target} may hold part of the clone: drop and recreate it before cloning into it again"))),
        };
        source_conn.close().await;
        let not_cloned: Vec<String> = found.unmodelled.iter().map(|u| u.note.clone()).collect();
        match format {
            Format::Text => {
                let total: u64 = copied.iter().filter(|c| found.schema.tables.contains_key(&c.table)).map(|c| c.copied).sum();
                let mut text = format!("clone: {} table(s) and {total} row(s) from {} into {clone_target}\n", found.schema.tables.len(), source.target());
                for c in &copied {
                    text.push_str(&format!("  {}: {} row(s){}\n", c.table, c.copied, if c.orphans_removed > 0 { format!(" ({} left out: their parent row was not copied)", c.orphans_removed) } else { String::new() }));
                }
                for n in &not_cloned {
                    text.push_str(&format!("  not cloned: {n}\n"));
                }
                emit(&text);
            }
            Format::Json => {
                out.insert("status".into(), json!("cloned"));
                out.insert("source".into(), json!(source.target().to_string()));
                out.insert("target".into(), json!(runner::redact_url(&target_url)));
                out.insert("tables".into(), serde_json::to_value(&copied).expect("reports serialise"));
                out.insert("not_cloned".into(), json!(not_cloned));
            }
        }
        if let Some(server) = &embedded {
            // The URL of a local, password-less server: nothing secret in it.
            let url = server.url("postgres");
            match format {
                Format::Text => emit(&format!("clone: ready at {url}\nThe throwaway server runs until this command gets Ctrl-C or SIGTERM; then it and its data are removed.\n")),
                Format::Json => {
                    // One line on stderr that a script can wait for; the document comes at the end.
                    eprintln!("{}", json!({"event": "clone_ready", "url": url}));
                }
            }
            stop.await;
        }
        Ok(())
    })
}

pub fn status(config_path: &Path, format: Format, args: &DbArgs, exit_code: bool, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    let target = args.target(config_path)?;
    let (_, folder, history) = args.sources(config_path)?;
    let set = MigrationSet::from_folder(&folder).map_err(run_error)?;
    block_on(None, async {
        let migrator = Migrator::new(target, set, MigratorOptions { history, ..MigratorOptions::default() }).await.map_err(run_error)?;
        let report = migrator.status().await.map_err(run_error)?;
        let problems = report.has_problems();
        match format {
            Format::Text => {
                let mut text = format!("{} — {}\n", migrator.target(), migrator.migrations().origin);
                for a in &report.applied {
                    let how = if a.marked { "marked applied" } else { "applied" };
                    let edited = if report.edited.contains(&a.tag) { "  EDITED since: the file no longer matches what was applied" } else { "" };
                    text.push_str(&format!("  {how:<15} {}  {}{edited}\n", a.tag, a.applied_at.as_deref().unwrap_or("")));
                }
                for p in &report.in_progress {
                    let how = if p.interrupted {
                        format!("stopped inside statement {}: `migrate` settles its outcome from the database, then resumes", p.done + 1)
                    } else {
                        "`migrate` resumes it".to_owned()
                    };
                    text.push_str(&format!("  {:<15} {}  {} of {} statements done; {how}\n", "in progress", p.tag, p.done, p.total));
                    if let Some(r) = &p.recreation {
                        let copied = r.copied_rows.map(|n| format!(", {n} rows copied")).unwrap_or_default();
                        text.push_str(&format!("  {:<15} recreation of {} in flight, next step {}{copied}\n", "", r.table, r.step));
                    }
                    if let Some(b) = &p.backfill {
                        let filled = b.filled_rows.map(|n| format!(", {n} rows filled so far")).unwrap_or_default();
                        text.push_str(&format!("  {:<15} backfill of {}.{} in flight{filled}\n", "", b.table, b.column));
                    }
                }
                for f in &report.failed {
                    let code = f.code.as_ref().map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default();
                    text.push_str(&format!(
                        "  {:<15} {}  statement {} of {} failed{code}: {}; it took no effect, and `migrate` runs it again (fix the file from statement {} on, or the data)\n",
                        "failed",
                        f.tag,
                        f.statement,
                        f.total,
                        f.message,
                        f.done + 1
                    ));
                }
                for e in &report.edited_in_progress {
                    text.push_str(&format!("  {:<15} {}  {}; `migrate` refuses it until that is reverted\n", "EDITED", e.tag, e.what));
                }
                for t in &report.pending {
                    text.push_str(&format!("  {:<15} {t}\n", "pending"));
                }
                for t in &report.unknown {
                    text.push_str(&format!("  {:<15} {t}  applied in the database, not in this folder\n", "unknown"));
                }
                text.push_str(&format!(
                    "{} applied, {} in progress, {} failed, {} pending, {} edited, {} unknown\n",
                    report.applied.len(),
                    report.in_progress.len(),
                    report.failed.len(),
                    report.pending.len(),
                    report.edited.len() + report.edited_in_progress.len(),
                    report.unknown.len()
                ));
                emit(&text);
            }
            Format::Json => {
                let up_to_date = !problems && report.pending.is_empty() && report.in_progress.is_empty() && report.failed.is_empty();
                out.insert("status".into(), json!(if problems { "problems" } else if up_to_date { "ok" } else { "behind" }));
                out.insert("target".into(), json!(migrator.target().to_string()));
                out.insert("migrations".into(), serde_json::to_value(&report).expect("reports serialise"));
            }
        }
        // --exit-code: anything still to do is a finding too, for CI.
        let behind = !report.pending.is_empty() || !report.in_progress.is_empty() || !report.failed.is_empty();
        if problems || (exit_code && behind) { Err(Failure::CheckFailed) } else { Ok(()) }
    })
}

#[allow(clippy::too_many_arguments)] // one per flag; the typed reports of the CLI issue replace this
pub fn mark_applied(config_path: &Path, format: Format, args: &DbArgs, file: &str, through: Option<usize>, reset: bool, yes: bool, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    if reset && !yes {
        return Err(input("--reset deletes the whole migration history but this one row; add --yes to confirm (tablewright never prompts)"));
    }
    let target = args.target(config_path)?;
    let (_, folder, history) = args.sources(config_path)?;
    let set = MigrationSet::from_folder(&folder).map_err(run_error)?;
    let tag = Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| file.to_owned());
    block_on(None, async {
        let migrator = Migrator::new(target.clone(), set, MigratorOptions { history: history.clone(), ..MigratorOptions::default() }).await.map_err(run_error)?;
        if reset {
            squashed_history_is_complete(&migrator, &target, &history, &folder, &tag).await?;
        }
        let report = migrator.mark_applied(&tag, reset, through).await.map_err(run_error)?;
        match format {
            Format::Text => {
                let what = match report.through {
                    n if n == report.total => "as applied".to_owned(),
                    0 => "with no statement done".to_owned(),
                    n => format!("with statements 1 to {n} done"),
                };
                let mut text = format!("Marked {tag} {what} on {}{}.\n", migrator.target(), if reset { "; the rest of the history was removed" } else { "" });
                if !report.never_ran.is_empty() {
                    let list = report.never_ran.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
                    text.push_str(&format!("Statement(s) {list} of {tag} never ran here: make sure the database already has their effect.\n"));
                }
                emit(&text);
            }
            Format::Json => {
                out.insert("status".into(), json!("ok"));
                out.insert("marked".into(), json!(tag));
                out.insert("through".into(), json!(report.through));
                out.insert("never_ran".into(), json!(report.never_ran));
                out.insert("reset".into(), json!(reset));
            }
        }
        Ok(())
    })
}

/// Before `--reset` replaces a history that `squash` folded into the baseline: the history
/// must be one archive's migrations, every one applied, or the database would never get
/// the ones it had not run. (Without archives, or with a history of only the baseline,
/// there is nothing to check.)
async fn squashed_history_is_complete(migrator: &Migrator, target: &Target, history: &HistoryTable, folder: &Path, baseline: &str) -> Result<(), Failure> {
    let status = migrator.status().await.map_err(run_error)?;
    if status.unknown.is_empty() && status.applied.is_empty() && status.in_progress.is_empty() && status.failed.is_empty() {
        return Err(input(format!(
            "--reset: {target} has no migration history, so there is nothing to replace; a new database gets `{baseline}` from `tablewright migrate`, and one built another way (by hand, `pull`, `push`) is recorded with `mark-applied --file {baseline}` without --reset"
        )));
    }
    let unknown = status.unknown;
    let archives = MigrationFolder::load(folder)?.archives();
    if unknown.is_empty() || archives.is_empty() {
        return Ok(());
    }
    let mut behind = Vec::new();
    for archive in &archives {
        let set = MigrationSet::from_folder(archive).map_err(run_error)?;
        let old = Migrator::new(target.clone(), set, MigratorOptions { history: history.clone(), ..MigratorOptions::default() }).await.map_err(run_error)?;
        let status = old.status().await.map_err(run_error)?;
        if status.unknown.iter().any(|t| t != baseline) {
            continue; // this archive does not explain the history
        }
        let unfinished: Vec<String> = status.pending.iter().cloned().chain(status.in_progress.iter().map(|m| m.tag.clone())).chain(status.failed.iter().map(|m| m.tag.clone())).collect();
        if unfinished.is_empty() && status.edited.is_empty() && status.edited_in_progress.is_empty() {
            return Ok(());
        }
        behind.push((archive.clone(), unfinished));
    }
    Err(match behind.into_iter().next() {
        Some((archive, unfinished)) => input(format!(
            "--reset: this database has not applied every squashed migration (not done: {}); run `tablewright migrate --folder {}` with the same connection flags first, then this again",
            unfinished.join(", "),
            archive.display()
        )),
        None => input(format!(
            "--reset: the history holds {} which no archive under {} accounts for; reset it only once you know the database has their effect (move the archives aside to skip this check)",
            unknown.join(", "),
            folder.join("archive").display()
        )),
    })
}

pub fn verify(config_path: &Path, format: Format, connection_string: Option<String>, folder: Option<PathBuf>, with_rows: Option<u64>, out: &mut serde_json::Map<String, Value>) -> Result<(), Failure> {
    let config = Config::load(config_path)?;
    let folder = folder.unwrap_or_else(|| config.out.clone());
    let named = connection_string.or_else(|| env("DATABASE_URL"));
    let set = MigrationSet::from_folder(&folder).map_err(run_error)?;
    let last = MigrationFolder::load(&folder)?.last_snapshot()?.ok_or_else(|| input(format!("{} has no migrations to verify", folder.display())))?;
    let dialect = config.dialect;
    let printer = EventPrinter::new(format);
    block_on(None, async {
        let stop = termination();
        let mut stop = std::pin::pin!(stop);
        let interrupted = || Failure::Runtime(anyhow::Error::new(RunError::Interrupted { what: " during verify; the throwaway server was stopped and its data removed".to_owned() }));
        // No server named: a throwaway one from the machine's PostgreSQL binaries. Its Drop
        // stops it and removes its data; a signal ends this block, so Drop runs then too.
        let embedded = match &named {
            Some(_) => None,
            None => tokio::select! {
                started = runner::EmbeddedPostgres::start() => Some(started.map_err(run_error)?),
                () = &mut stop => return Err(interrupted()),
            },
        };
        let admin_url = named.clone().unwrap_or_else(|| embedded.as_ref().expect("started above").url("postgres"));
        if format == Format::Text
            && let Some(server) = &embedded
        {
            emit(&format!("verify: no server named; started a throwaway PostgreSQL {} from this machine's binaries\n", server.version));
        }
        let options = runner::VerifyOptions { sample_rows: with_rows };
        // Text shows only the sample rows as they go in; JSON every event, on stderr.
        let report = runner::verify(&admin_url, dialect, set, &last.schema, options, &|e| {
            if format == Format::Json || matches!(e, Event::SampleRows { .. }) {
                printer.print(e)
            }
        }, stop)
        .await
        .map_err(run_error)?;
        let guard = match report.dsql_guard {
            Some(true) => ", DSQL rules enforced by the guard",
            Some(false) => ", DSQL rules enforced by the runner only (the guard needs a superuser)",
            None => "",
        };
        match format {
            Format::Text if report.differences.is_empty() => emit(&format!(
                "verify: ok — {} migration(s) replayed into a scratch database under {dialect} rules{guard}; the schema equals the last snapshot.\n",
                report.migrations
            )),
            Format::Text => {
                let mut text = format!("verify: the replayed schema differs from the last snapshot ({} difference(s)):\n", report.differences.len());
                for d in &report.differences {
                    text.push_str(&format!("  - {d}\n"));
                }
                text.push_str("A migration file no longer produces its snapshot: revert hand edits, or regenerate.\n");
                emit(&text);
            }
            Format::Json => {
                out.insert("status".into(), json!(if report.differences.is_empty() { "ok" } else { "different" }));
                out.insert("dialect".into(), json!(dialect));
                out.insert("report".into(), serde_json::to_value(&report).expect("reports serialise"));
            }
        }
        if report.differences.is_empty() { Ok(()) } else { Err(Failure::CheckFailed) }
    })
}
