//! `squash`: every migration folded into one baseline built from the last snapshot.

use crate::output::{CliError, Done, Report};
use crate::{Context, now_ms};
use serde::Serialize;
use tablewright_core::generate;
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::MigrationFolder;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # fold the history into 0000_baseline; the old files move to migrations/archive/
  tablewright squash --name baseline
  # then, on every database that applied the last squashed migration
  tablewright mark-applied --file 0000_baseline --reset --yes

Exit codes: 0 ok, 2 input error (inconsistent folder, nothing to squash).";

/// `squash`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Name of the baseline (the part after `0000_`).
    #[arg(long, default_value = "baseline")]
    name: String,
}

super::outcomes! {
    /// The baseline was written and the old files archived.
    Squashed,
}

/// What `squash` wrote.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SquashReport {
    /// The baseline's tag.
    pub tag: String,
    /// The migrations folded into it, in order.
    pub squashed: Vec<String>,
    /// Statements in the baseline.
    pub statements: usize,
    /// Where the old files went.
    pub archive: String,
    /// The command to run on every database that applied the last squashed migration.
    pub mark_applied: String,
    /// Squashed migrations that changed no schema (hand-written data migrations?).
    pub data_only: Vec<String>,
}

impl Report for SquashReport {
    type Status = Status;

    fn status(&self) -> Status {
        Status::Squashed
    }

    fn text(&self) -> String {
        let first = self
            .squashed
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let last = self.squashed.last().map(String::as_str).unwrap_or_default();
        let mut text = format!(
            "Squashed {} migrations ({first} .. {last}) into {} ({} statement(s)); the old files are in {}.\n",
            self.squashed.len(),
            self.tag,
            self.statements,
            self.archive
        );
        for tag in &self.data_only {
            text.push_str(&format!(
                "warning: {tag} changed no schema (a hand-written data migration?): the baseline does not repeat what it did; new databases that need it need it in a new `generate --custom` migration\n"
            ));
        }
        text.push_str(&format!(
            "On every database that has applied {last} (where it has not, run `tablewright migrate --folder {}` first), record the baseline in place of the old history:\n  {} [connection flags]\nA new database gets the baseline from `migrate` as usual.\n",
            self.archive, self.mark_applied
        ));
        text
    }
}

/// Runs `squash`.
pub fn run(cx: &Context, args: Args) -> Result<Done<SquashReport>, CliError> {
    let config = Config::load(&cx.config)?;
    let _lock = cx.lock_for_writing(&config.out)?;
    let folder = MigrationFolder::load(&config.out)?;
    let squash = generate::plan_squash(&config, &folder, &args.name, now_ms())?;
    generate::write_squash(&squash)?;
    Ok(Done::ok(SquashReport {
        mark_applied: format!(
            "tablewright mark-applied --file {} --reset --yes",
            squash.tag
        ),
        tag: squash.tag,
        squashed: squash.squashed,
        statements: squash.statements,
        archive: squash.archive.display().to_string(),
        data_only: squash.data_only,
    }))
}
