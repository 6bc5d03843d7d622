//! `verify`: every migration replayed into a scratch database, compared with the last
//! snapshot.

use crate::Context;
use crate::connect::{EventPrinter, block_on, input, named_or_throwaway, termination};
use crate::output::{CliError, Described, Done, Format, Report, emit};
use serde::Serialize;
use std::path::PathBuf;
use tablewright_core::dialect::Dialect;
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::runner::{self, Event, MigrationSet, RunError, SampleRound};
use tablewright_core::schema::compare::Difference;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # replay migrations/ into a throwaway server started from this machine's binaries
  tablewright verify
  # on a server of your own, with 1,000 rows in every table between migrations
  tablewright verify --connection-string postgres://localhost/postgres --with-rows 1000

Exit codes: 0 ok, 1 the replayed schema differs from the snapshot, 2 input error,
3 a migration failed on the scratch database.";

/// `verify`'s flags.
#[derive(clap::Args)]
pub struct Args {
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
}

super::outcomes! {
    /// The replayed schema equals the last snapshot.
    Ok,
    /// It differs (exit 1).
    Different,
}

/// What the replay found.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct VerifyReport {
    /// The rules the replay ran under.
    pub dialect: Dialect,
    /// The throwaway database.
    pub database: String,
    /// Migrations replayed.
    pub migrations: usize,
    /// Whether the DSQL guard enforced DSQL's rules during the replay (needs a superuser);
    /// null on PostgreSQL.
    pub dsql_guard: Option<bool>,
    /// Differences between the database and the snapshot; empty when they agree.
    pub differences: Vec<Described<Difference>>,
    /// With `--with-rows`: what each round inserted, by the migration it came before.
    pub sample_rows: Vec<SampleRound>,
}

impl Report for VerifyReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.differences.is_empty() {
            Status::Ok
        } else {
            Status::Different
        }
    }

    fn text(&self) -> String {
        let guard = match self.dsql_guard {
            Some(true) => ", DSQL rules enforced by the guard",
            Some(false) => ", DSQL rules enforced by the runner only (the guard needs a superuser)",
            None => "",
        };
        if self.differences.is_empty() {
            return format!(
                "verify: ok — {} migration(s) replayed into a scratch database under {} rules{guard}; the schema equals the last snapshot.\n",
                self.migrations, self.dialect
            );
        }
        let mut text = format!(
            "verify: the replayed schema differs from the last snapshot ({} difference(s)):\n",
            self.differences.len()
        );
        for d in &self.differences {
            text.push_str(&format!("  - {}\n", d.message));
        }
        text.push_str(
            "A migration file no longer produces its snapshot: revert hand edits, or regenerate.\n",
        );
        text
    }
}

/// Runs `verify`.
pub fn run(cx: &Context, args: Args) -> Result<Done<VerifyReport>, CliError> {
    let config = Config::load(&cx.config)?;
    let folder = args.folder.unwrap_or_else(|| config.out.clone());
    let named = args
        .connection_string
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty()));
    let set = MigrationSet::from_folder(&folder)?;
    let last = MigrationFolder::load(&folder)?
        .last_snapshot()?
        .ok_or_else(|| input(format!("{} has no migrations to verify", folder.display())))?;
    let dialect = config.dialect;
    let format = cx.format;
    let printer = EventPrinter::new(format);
    block_on(None, async {
        let stop = termination();
        let mut stop = std::pin::pin!(stop);
        let interrupted = || {
            CliError::from(RunError::Interrupted {
                what: " during verify; the throwaway server was stopped and its data removed"
                    .to_owned(),
            })
        };
        // No server named: a throwaway one from the machine's PostgreSQL binaries. Its Drop
        // stops it and removes its data; a signal ends this block, so Drop runs then too.
        let (embedded, admin_url) = named_or_throwaway(named.as_deref(), &mut stop)
            .await
            .map_err(|e| match e {
                RunError::Interrupted { .. } => interrupted(),
                e => e.into(),
            })?;
        if format == Format::Text
            && let Some(server) = &embedded
        {
            emit(&format!(
                "verify: no server named; started a throwaway PostgreSQL {} from this machine's binaries\n",
                server.version
            ));
        }
        let options = runner::VerifyOptions {
            sample_rows: args.with_rows,
        };
        // Text shows only the sample rows as they go in; JSON every event, on stderr.
        let found = runner::verify(
            &admin_url,
            dialect,
            set,
            &last.schema,
            options,
            &|e| {
                if format == Format::Json || matches!(e, Event::SampleRows { .. }) {
                    printer.print(e)
                }
            },
            stop,
        )
        .await?;
        let report = VerifyReport {
            dialect,
            database: found.database,
            migrations: found.migrations,
            dsql_guard: found.dsql_guard,
            differences: found.differences.into_iter().map(Described::new).collect(),
            sample_rows: found.sample_rows,
        };
        let problem = report.status() == Status::Different;
        Ok(Done::checked(report, problem))
    })
}
