//! `check`: the migrations folder's journal, SQL files, snapshots and hashes agree.

use crate::Context;
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use tablewright_core::error::ErrorItem;
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::MigrationFolder;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # journal, SQL files, snapshots and hashes agree, and no branch fork?
  tablewright check
  # the same, for a machine (each problem with its kind and its fix)
  tablewright check --format json

Exit codes: 0 ok, 1 the folder has a problem, 2 input error.";

/// `check` has no flags of its own.
#[derive(clap::Args)]
pub struct Args {}

super::outcomes! {
    /// Journal, files, snapshots and hashes agree.
    Ok,
    /// The folder has problems (exit 1).
    Problems,
}

/// What `check` found.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct CheckReport {
    /// The migrations folder.
    pub folder: String,
    /// Migrations in its journal.
    pub migrations: usize,
    /// Each problem, with its fix.
    pub problems: Vec<ErrorItem>,
}

impl Report for CheckReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.problems.is_empty() { Status::Ok } else { Status::Problems }
    }

    fn text(&self) -> String {
        if self.problems.is_empty() {
            return format!("{}: {} migration(s); journal, files, snapshots and hashes agree.\n", self.folder, self.migrations);
        }
        let mut text = format!("{}: {} problem(s):\n", self.folder, self.problems.len());
        for p in &self.problems {
            text.push_str(&format!("  - {}\n", p.detail));
            for fix in &p.fix {
                text.push_str(&format!("      fix: {fix}\n"));
            }
        }
        text
    }
}

/// Runs `check`.
pub fn run(cx: &Context, _: Args) -> Result<Done<CheckReport>, CliError> {
    let config = Config::load(&cx.config)?;
    let folder = MigrationFolder::load(&config.out)?;
    let problems = folder.verify()?;
    let report = CheckReport { folder: folder.dir.display().to_string(), migrations: folder.journal.entries.len(), problems: problems.iter().map(|p| p.item()).collect() };
    let found = !report.problems.is_empty();
    Ok(Done::checked(report, found))
}
