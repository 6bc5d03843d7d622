//! `rehash`: the current hash of hand-edited migrations, recorded in the journal.

use crate::Context;
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::{MigrationFolder, Rehashed};

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # after writing the SQL of `generate --custom --name backfill_prices`
  tablewright rehash --tag 0003_backfill_prices
  # every migration whose file changed (each must be one no database has applied)
  tablewright rehash --all

Exit codes: 0 ok, 2 input error (unknown tag, unreadable folder).";

/// `rehash`'s flags: `--tag` (repeatable) or `--all`, one of them, as the usage line says.
#[derive(clap::Args)]
#[group(id = "which", required = true, multiple = false)]
pub struct Args {
    /// The migration (its tag, `0003_backfill_prices`). Repeatable.
    #[arg(long = "tag", value_name = "TAG", group = "which")]
    tags: Vec<String>,
    /// Every migration whose file changed (each must be one no database has applied).
    #[arg(long, group = "which")]
    all: bool,
}

super::outcomes! {
    /// Every recorded hash already matched its file.
    Unchanged,
    /// New hashes were recorded.
    Rehashed,
}

/// What `rehash` recorded.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RehashReport {
    /// The journal's path (`<out>/meta/_journal.json`).
    pub journal: String,
    /// Each entry whose hash changed.
    pub rehashed: Vec<Rehashed>,
}

impl Report for RehashReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.rehashed.is_empty() {
            Status::Unchanged
        } else {
            Status::Rehashed
        }
    }

    fn text(&self) -> String {
        if self.rehashed.is_empty() {
            return format!(
                "{}: every recorded hash already matches its file.\n",
                self.journal
            );
        }
        let mut text = format!("Recorded new hashes in {}:\n", self.journal);
        for c in &self.rehashed {
            text.push_str(&format!("  {}  {} -> {}\n", c.tag, c.recorded, c.actual));
        }
        text.push_str("A database that applied an earlier version of these files still refuses them (`migrate` exits 1).\n");
        text
    }
}

/// Runs `rehash`.
pub fn run(cx: &Context, args: Args) -> Result<Done<RehashReport>, CliError> {
    let config = Config::load(&cx.config)?;
    let _lock = cx.lock_for_writing(&config.out)?;
    let mut folder = MigrationFolder::load(&config.out)?;
    let rehashed = folder.rehash(&args.tags)?;
    Ok(Done::ok(RehashReport {
        journal: folder.journal_path().display().to_string(),
        rehashed,
    }))
}
