//! `status`: every migration's state in one database.

use crate::Context;
use crate::connect::{DbArgs, block_on};
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use tablewright_core::error::printable;
use tablewright_core::runner::{self, MigrationSet, Migrator, MigratorOptions};

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # applied, in progress, failed, pending, edited and unknown migrations
  tablewright status --connection-string postgres://localhost/app
  # in CI or a deploy script: exit 1 unless every migration is applied
  tablewright status --exit-code --format json

Exit codes: 0 ok, 1 edited or unknown migrations (with --exit-code also pending,
in progress or failed ones), 2 input error, 3 the database could not be read.";

/// `status`'s flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Exit 1 unless every migration is applied.
    #[arg(long)]
    exit_code: bool,
}

super::outcomes! {
    /// Every migration is applied.
    Ok,
    /// Some are pending, in progress or failed.
    Behind,
    /// Some are edited since they ran, or unknown to this folder (exit 1).
    Problems,
}

/// Every migration's state.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct StatusReport {
    /// The database, its password masked (`postgres at postgres://app:***@db/app`).
    pub target: String,
    /// Where the migrations came from.
    pub origin: String,
    /// The migrations by state.
    pub migrations: runner::MigrationsStatus,
}

impl Report for StatusReport {
    type Status = Status;

    fn status(&self) -> Status {
        let m = &self.migrations;
        if m.has_problems() {
            Status::Problems
        } else if m.pending.is_empty() && m.in_progress.is_empty() && m.failed.is_empty() {
            Status::Ok
        } else {
            Status::Behind
        }
    }

    fn text(&self) -> String {
        let report = &self.migrations;
        let mut text = format!("{} — {}\n", self.target, self.origin);
        for a in &report.applied {
            let how = if a.marked {
                "marked applied"
            } else {
                "applied"
            };
            let edited = if report.edited.contains(&a.tag) {
                "  EDITED since: the file no longer matches what was applied"
            } else {
                ""
            };
            // The history's text is the database's: printed escaped.
            text.push_str(&format!(
                "  {how:<15} {}  {}{edited}\n",
                printable(&a.tag),
                printable(a.applied_at.as_deref().unwrap_or(""))
            ));
        }
        for p in &report.in_progress {
            let how = if p.interrupted {
                format!(
                    "stopped inside statement {}: `migrate` settles its outcome from the database, then resumes",
                    p.done + 1
                )
            } else {
                "`migrate` resumes it".to_owned()
            };
            text.push_str(&format!(
                "  {:<15} {}  {} of {} statements done; {how}\n",
                "in progress",
                printable(&p.tag),
                p.done,
                p.total
            ));
            if let Some(r) = &p.recreation {
                let copied = r
                    .copied_rows
                    .map(|n| format!(", {n} rows copied"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "  {:<15} recreation of {} in flight, next step {}{copied}\n",
                    "", r.table, r.step
                ));
            }
            if let Some(b) = &p.backfill {
                let filled = b
                    .filled_rows
                    .map(|n| format!(", {n} rows filled so far"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "  {:<15} backfill of {}.{} in flight{filled}\n",
                    "", b.table, b.column
                ));
            }
        }
        for f in &report.failed {
            let code = f
                .code
                .as_ref()
                .map(|c| format!(" (SQLSTATE {})", printable(c)))
                .unwrap_or_default();
            text.push_str(&format!(
                "  {:<15} {}  statement {} of {} failed{code}: {}; it took no effect, and `migrate` runs it again (fix the file from statement {} on, or the data)\n",
                "failed",
                printable(&f.tag),
                f.statement,
                f.total,
                printable(&f.message),
                f.done + 1
            ));
        }
        for e in &report.edited_in_progress {
            text.push_str(&format!(
                "  {:<15} {}  {}; `migrate` refuses it until that is reverted\n",
                "EDITED",
                printable(&e.tag),
                e.what
            ));
        }
        for t in &report.pending {
            text.push_str(&format!("  {:<15} {t}\n", "pending"));
        }
        for t in &report.unknown {
            text.push_str(&format!(
                "  {:<15} {}  applied in the database, not in this folder\n",
                "unknown",
                printable(t)
            ));
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
        text
    }
}

/// Runs `status`.
pub fn run(cx: &Context, args: Args) -> Result<Done<StatusReport>, CliError> {
    let target = args.db.target(cx)?;
    let (_, folder, history) = args.db.sources(&cx.config)?;
    let set = MigrationSet::from_folder(&folder)?;
    block_on(None, async {
        let migrator = Migrator::new(
            target,
            set,
            MigratorOptions {
                history,
                ..MigratorOptions::default()
            },
        )
        .await?;
        let migrations = migrator.status().await?;
        let report = StatusReport {
            target: migrator.target().to_string(),
            origin: migrator.migrations().origin.clone(),
            migrations,
        };
        // --exit-code: anything still to do is a finding too, for CI.
        let problem = match report.status() {
            Status::Problems => true,
            Status::Behind => args.exit_code,
            Status::Ok => false,
        };
        Ok(Done::checked(report, problem))
    })
}
