//! What the commands that talk to a database share: where to connect (flags, environment,
//! config), a runtime bounded by a timeout and stopped by signals, and the printing of the
//! runner's events as they come.

use crate::Context;
use crate::output::{CliError, Format, emit, emit_err};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tablewright_core::dialect::Dialect;
use tablewright_core::error::printable;
use tablewright_core::project::config::{Config, DEFAULT_CONFIG};
use tablewright_core::runner::{self, Event, HistoryTable, Target};

/// Where to connect and what to apply.
#[derive(Args, Clone)]
pub struct DbArgs {
    /// `postgres` or `dsql`. By default DSQL_ENDPOINT selects dsql; a PostgreSQL URL
    /// (DATABASE_URL or --connection-string) runs under the config's dialect: DSQL's rules,
    /// emulated, when it says `dialect = "dsql"`.
    #[arg(long, value_enum)]
    pub(crate) provider: Option<Provider>,
    /// PostgreSQL URL (default: DATABASE_URL). With `--provider dsql` it runs DSQL's rules
    /// against that PostgreSQL, translating only the syntax PostgreSQL lacks.
    #[arg(long, value_name = "URL")]
    pub(crate) connection_string: Option<String>,
    /// DSQL cluster endpoint (default: DSQL_ENDPOINT).
    #[arg(long)]
    pub(crate) endpoint: Option<String>,
    /// AWS region of the cluster (default: AWS_REGION, then AWS_DEFAULT_REGION).
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Migrations folder (default: `out` from the config).
    #[arg(long)]
    pub(crate) folder: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Provider {
    Postgres,
    Dsql,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Bad connection flags or environment (exit 2).
pub fn input(message: impl Into<String>) -> CliError {
    CliError::input("usage", message)
}

impl DbArgs {
    /// The target, from flags, then the environment, then (for a PostgreSQL URL) the
    /// dialect of the config, if it reads: a broken config is reported by the command that
    /// loads it.
    pub fn target(&self, cx: &Context) -> Result<Target, CliError> {
        let config_path = cx.config.as_path();
        // A PostgreSQL URL with no provider named: the config's dialect decides.
        let by_dialect = self.provider.is_none()
            && self.endpoint.is_none()
            && env("DSQL_ENDPOINT").is_none()
            && (self.connection_string.is_some() || env("DATABASE_URL").is_some())
            && Config::load(config_path).is_ok_and(|c| c.dialect == Dialect::Dsql);
        if by_dialect {
            // Said first, so that nobody takes the run for plain PostgreSQL's; under JSON as
            // one of the event lines on stderr.
            let note = format!(
                "{} says dialect = \"dsql\": DSQL's rules apply on this PostgreSQL (--provider postgres runs without them)",
                config_path.display()
            );
            cx.note(&note);
        }
        let provider = match self.provider {
            Some(p) => p,
            None if by_dialect => Provider::Dsql,
            None if self.endpoint.is_some() || env("DSQL_ENDPOINT").is_some() => Provider::Dsql,
            None if self.connection_string.is_some() || env("DATABASE_URL").is_some() => {
                Provider::Postgres
            }
            None => {
                return Err(input(
                    "no database named: set DATABASE_URL (PostgreSQL) or DSQL_ENDPOINT and AWS_REGION (Aurora DSQL), or pass --connection-string / --endpoint",
                ));
            }
        };
        let url = self.connection_string.clone().or_else(|| {
            if provider == Provider::Postgres || by_dialect {
                env("DATABASE_URL")
            } else {
                None
            }
        });
        match (provider, url) {
            (Provider::Postgres, Some(url)) => Ok(Target::Postgres { url }),
            (Provider::Postgres, None) => Err(input(
                "--provider postgres needs --connection-string or DATABASE_URL",
            )),
            (Provider::Dsql, Some(url)) => Ok(Target::DsqlEmulated { url }),
            (Provider::Dsql, None) => {
                let endpoint = self
                    .endpoint
                    .clone()
                    .or_else(|| env("DSQL_ENDPOINT"))
                    .ok_or_else(|| input("--provider dsql needs --endpoint or DSQL_ENDPOINT"))?;
                let region = self
                    .region
                    .clone()
                    .or_else(|| env("AWS_REGION"))
                    .or_else(|| env("AWS_DEFAULT_REGION"))
                    .ok_or_else(|| {
                        input("--provider dsql needs --region, AWS_REGION or AWS_DEFAULT_REGION")
                    })?;
                Ok(Target::Dsql { endpoint, region })
            }
        }
    }

    /// The config if there is one (a `--folder` makes it optional), the folder, the history.
    pub fn sources(
        &self,
        config_path: &Path,
    ) -> Result<(Option<Config>, PathBuf, HistoryTable), CliError> {
        let config = match Config::load(config_path) {
            Ok(c) => Some(c),
            Err(_) if self.folder.is_some() && config_path == Path::new(DEFAULT_CONFIG) => None,
            Err(e) => return Err(e.into()),
        };
        let folder = self
            .folder
            .clone()
            .or_else(|| config.as_ref().map(|c| c.out.clone()))
            .expect("a folder or a config");
        let history = config.as_ref().map(history_of).unwrap_or_default();
        Ok((config, folder, history))
    }
}

/// Completes on SIGINT, SIGTERM or SIGHUP. The handlers are installed by this call (inside a
/// runtime), so from then on those signals stop the work where it can be stopped cleanly,
/// instead of killing the process with a throwaway server or database left behind.
pub fn termination() -> impl std::future::Future<Output = ()> {
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
pub fn block_on<T>(
    timeout: Option<Duration>,
    work: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::run("io", format!("starting the async runtime: {e}")))?;
    runtime.block_on(async {
        match timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                Err(CliError::run(
                    "timeout",
                    format!("timed out after {}s; the run stopped between statements or inside one (rolled back by the server); rerun to resume", limit.as_secs()),
                ))
            }),
            None => work.await,
        }
    })
}

/// Prints events as they come: readable lines, or JSON lines on stderr. On a terminal,
/// a copy, a backfill or a DSQL job wait is a live bar on stderr (rows, rate, and an ETA
/// when the catalog estimates the rows) instead of a line every two seconds.
pub struct EventPrinter {
    format: Format,
    /// The bar being drawn; `None` inside when none is; `None` outside off a terminal.
    live: Option<std::sync::Mutex<Option<indicatif::ProgressBar>>>,
}

impl EventPrinter {
    pub fn new(format: Format) -> EventPrinter {
        use std::io::IsTerminal as _;
        // With a log on stderr (-v, RUST_LOG) its lines would be drawn over: lines then.
        let terminal = format == Format::Text
            && !crate::logging()
            && std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal();
        EventPrinter {
            format,
            live: terminal.then(|| std::sync::Mutex::new(None)),
        }
    }

    pub fn print(&self, event: Event) {
        if let Some(live) = &self.live {
            let mut bar = live.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match &event {
                Event::CopyProgress {
                    table,
                    rows,
                    expected_rows,
                    done: false,
                    ..
                } => return progress(&mut bar, format!("copying {table}"), *rows, *expected_rows),
                Event::BackfillProgress {
                    table,
                    column,
                    rows,
                    expected_rows,
                    done: false,
                    ..
                } => {
                    return progress(
                        &mut bar,
                        format!("backfilling {table}.{column}"),
                        *rows,
                        *expected_rows,
                    );
                }
                Event::WaitingForJob { job_id, .. } => {
                    return progress(
                        &mut bar,
                        format!("waiting for job {}", printable(job_id)),
                        0,
                        None,
                    );
                }
                // Any other event ends the bar, and is said as a line.
                _ => {
                    if let Some(done) = bar.take() {
                        done.finish_and_clear();
                    }
                }
            }
        }
        match self.format {
            Format::Json => {
                emit_err(&format!(
                    "{}\n",
                    serde_json::to_value(&event).expect("events serialise")
                ));
            }
            Format::Text => emit(&match event {
                Event::LockWaiting {
                    holder,
                    expires_at: Some(at),
                } => format!(
                    "waiting for the migration lock held by {} (lease expires {})\n",
                    printable(&holder),
                    printable(&at)
                ),
                Event::LockWaiting {
                    holder,
                    expires_at: None,
                } => format!(
                    "waiting for the migration lock held by {}\n",
                    printable(&holder)
                ),
                Event::LockAcquired { kind } => format!("lock acquired ({kind})\n"),
                Event::MigrationStarted {
                    tag,
                    statements,
                    resume_from: 0,
                    previous: None,
                } => format!("{tag}: {statements} statement(s)\n"),
                Event::MigrationStarted {
                    tag,
                    statements,
                    resume_from,
                    previous,
                } => format!(
                    "{tag}: resuming at statement {} of {statements}{}\n",
                    resume_from + 1,
                    previous
                        .map(|p| format!(" ({} last time)", printable(&p)))
                        .unwrap_or_default()
                ),
                Event::Settled {
                    number,
                    took_effect: true,
                    how,
                    ..
                } => format!("  [{number}] took effect before the interruption: {how}\n"),
                Event::Settled {
                    number,
                    took_effect: false,
                    how,
                    ..
                } => format!(
                    "  [{number}] did not take effect before the interruption ({how}): running it\n"
                ),
                Event::StatementDone {
                    number,
                    total,
                    elapsed_ms,
                    note,
                    ..
                } => {
                    format!(
                        "  [{number}/{total}] ok, {elapsed_ms} ms{}\n",
                        note.map(|n| format!(" ({n})")).unwrap_or_default()
                    )
                }
                Event::WaitingForJob {
                    job_id, elapsed_s, ..
                } => format!("  waiting for job {} ({elapsed_s}s)\n", printable(&job_id)),
                Event::RebuildingIndex { index, .. } => {
                    format!("  index {index} is INVALID: dropped, building it again\n")
                }
                Event::Removed { what, .. } => format!("  after the failure: {what}\n"),
                Event::Rewritten {
                    tag,
                    number,
                    sql,
                    reason,
                } => format!(
                    "warning: {tag} statement {number} rewritten for DSQL: {reason}\n  runs as: {sql}\n"
                ),
                Event::Skipped {
                    tag,
                    number,
                    reason,
                } => format!("warning: {tag} statement {number} skipped on DSQL: {reason}\n"),
                Event::MigrationApplied { tag, elapsed_ms } => {
                    format!("{tag}: applied in {elapsed_ms} ms\n")
                }
                Event::CopyProgress {
                    table,
                    rows,
                    done: false,
                    ..
                } => format!("  copying {table}: {rows} rows so far\n"),
                Event::CopyProgress {
                    table,
                    rows,
                    done: true,
                    ..
                } => format!("  copied {table}: {rows} rows, counts match, grants copied\n"),
                Event::RangesRecopied { table, ranges, .. } => format!(
                    "  {table} changed during the copy: {ranges} key range(s) copied again\n"
                ),
                Event::BackfillProgress {
                    table,
                    column,
                    rows,
                    done: false,
                    ..
                } => format!("  backfilling {table}.{column}: {rows} rows so far\n"),
                Event::BackfillProgress {
                    table,
                    column,
                    rows,
                    done: true,
                    ..
                } => format!("  backfilled {table}.{column}: {rows} rows\n"),
                Event::Adopted { tag } => format!(
                    "{tag}: applied by drizzle-kit (drizzle.__drizzle_migrations); recorded, not run\n"
                ),
                Event::SampleRows { before, tables } => {
                    let inserted: u64 = tables.iter().map(|t| t.inserted).sum();
                    let mut text = format!(
                        "verify: {inserted} sample row(s) in {} table(s) before {before}\n",
                        tables.len()
                    );
                    for t in tables.iter().filter(|t| t.skipped.is_some()) {
                        text.push_str(&format!("  warning: {} got {} sample row(s), fewer than asked, so the next migration meets less data there: {}\n", t.table, t.inserted, t.skipped.as_deref().unwrap_or_default()));
                    }
                    text
                }
            }),
        }
    }
}

/// Draws `what` at `rows` (of about `expected`) on the live bar, starting it if it is not
/// the one drawn.
fn progress(
    bar: &mut Option<indicatif::ProgressBar>,
    what: String,
    rows: u64,
    expected: Option<u64>,
) {
    use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
    if bar.as_ref().is_none_or(|b| b.message() != what) {
        if let Some(old) = bar.take() {
            old.finish_and_clear();
        }
        let (new, template) = match expected {
            Some(n) => (
                ProgressBar::new(n.max(rows)),
                "  {msg} [{wide_bar}] {human_pos}/{human_len} rows ({per_sec}, ETA {eta})",
            ),
            None if what.starts_with("waiting") => {
                (ProgressBar::no_length(), "  {spinner} {msg} ({elapsed})")
            }
            None => (
                ProgressBar::no_length(),
                "  {spinner} {msg}: {human_pos} rows ({per_sec})",
            ),
        };
        let style = ProgressStyle::with_template(template)
            .expect("the templates parse")
            .progress_chars("=> ");
        // A failure or a signal ends the run without another event: the bar is cleared
        // then, not left drawn full above the error.
        let new = new
            .with_style(style)
            .with_message(what)
            .with_finish(ProgressFinish::AndClear);
        // Rows an earlier, interrupted run copied are no part of this run's rate.
        new.set_position(rows);
        new.reset_eta();
        // Redrawn on its own between the runner's reports, which come every two seconds.
        new.enable_steady_tick(std::time::Duration::from_millis(100));
        *bar = Some(new);
    }
    if let Some(b) = bar.as_ref() {
        if let Some(n) = expected.filter(|n| *n > b.length().unwrap_or(0)) {
            b.set_length(n);
        }
        if b.length().is_some_and(|n| rows > n) {
            b.set_length(rows);
        }
        b.set_position(rows);
    }
}

/// The config when there is one: a missing default file is no config, a broken one an error.
pub fn optional_config(config_path: &Path) -> Result<Option<Config>, CliError> {
    if config_path == Path::new(DEFAULT_CONFIG) && !config_path.exists() {
        return Ok(None);
    }
    Ok(Some(Config::load(config_path)?))
}

/// Where the config keeps the history.
pub fn history_of(config: &Config) -> HistoryTable {
    HistoryTable {
        schema: config.history_schema.clone(),
        table: config.history_table.clone(),
    }
}

/// Reads the tables of the schemas `namespaces` (`None`: every schema that holds the
/// application's tables) into the model, leaving out the tool's own tables and the indexes
/// the model cannot hold.
pub async fn read_schema(
    connector: &runner::Connector,
    namespaces: Option<&[String]>,
    history: &HistoryTable,
) -> Result<runner::introspect::Introspected, CliError> {
    let mut conn = connector.connect().await?;
    let found = match namespaces {
        Some(namespaces) => read_schema_on(&mut conn, namespaces, history).await,
        None => match application_schemas(&mut conn, history).await {
            Ok(namespaces) => read_schema_on(&mut conn, &namespaces, history).await,
            Err(e) => Err(e),
        },
    };
    conn.close().await;
    found
}

/// The server a command's scratch or clone database goes on: the one named, else a
/// throwaway one started from this machine's PostgreSQL binaries, whose handle stops it
/// and removes its data when dropped (a signal ends the command's block, so then too).
/// Returns the handle and the URL of the server's `postgres` database; a signal while
/// the server starts is [`RunError::Interrupted`].
pub async fn named_or_throwaway<F: std::future::Future<Output = ()>>(
    named: Option<&str>,
    stop: &mut std::pin::Pin<&mut F>,
) -> Result<(Option<runner::EmbeddedPostgres>, String), runner::RunError> {
    if let Some(url) = named {
        return Ok((None, url.to_owned()));
    }
    tokio::select! {
        started = runner::EmbeddedPostgres::start() => {
            let server = started?;
            let url = server.url("postgres");
            Ok((Some(server), url))
        }
        () = stop.as_mut() => Err(runner::RunError::Interrupted { what: " while starting the throwaway server".to_owned() }),
    }
}

/// The schemas that hold tables, `public` always, apart from PostgreSQL's own and the
/// history schemas of tablewright (unless `public`) and drizzle-kit.
pub async fn application_schemas(
    conn: &mut runner::Conn,
    history: &HistoryTable,
) -> Result<Vec<String>, CliError> {
    Ok(runner::scratch::application_namespaces(conn.pg(), history).await?)
}

/// [`read_schema`] on a connection the caller holds (and reads more on).
pub async fn read_schema_on(
    conn: &mut runner::Conn,
    namespaces: &[String],
    history: &HistoryTable,
) -> Result<runner::introspect::Introspected, CliError> {
    Ok(runner::scratch::read_schemas(conn.pg(), namespaces, history).await?)
}
