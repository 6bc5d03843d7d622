//! `check`: the migrations folder's journal, SQL files, snapshots and hashes agree.

use crate::Context;
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::{FolderProblem, MigrationFolder};

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
    pub problems: Vec<Problem>,
}

/// A problem of the folder: its kind and data, for people, and the fix.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Problem {
    /// The problem's kind and data.
    #[serde(flatten)]
    pub problem: FolderProblem,
    /// The problem, for people.
    pub message: String,
    /// What to do.
    pub fix: String,
}

impl Report for CheckReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.problems.is_empty() {
            Status::Ok
        } else {
            Status::Problems
        }
    }

    fn text(&self) -> String {
        if self.problems.is_empty() {
            return format!(
                "{}: {} migration(s); journal, files, snapshots and hashes agree.\n",
                self.folder, self.migrations
            );
        }
        let mut text = format!("{}: {} problem(s):\n", self.folder, self.problems.len());
        for p in &self.problems {
            text.push_str(&format!("  - {}\n      fix: {}\n", p.message, p.fix));
        }
        text
    }
}

/// Runs `check`.
pub fn run(cx: &Context, _: Args) -> Result<Done<CheckReport>, CliError> {
    let config = Config::load(&cx.config)?;
    let folder = MigrationFolder::load(&config.out)?;
    let problems = folder.verify()?;
    let report = CheckReport {
        folder: folder.dir.display().to_string(),
        migrations: folder.journal.entries.len(),
        problems: problems
            .into_iter()
            .map(|p| Problem {
                message: p.to_string(),
                fix: p.fix(),
                problem: p,
            })
            .collect(),
    };
    let found = !report.problems.is_empty();
    Ok(Done::checked(report, found))
}
