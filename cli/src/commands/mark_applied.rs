//! `mark-applied`: a migration recorded as applied without running it.

use crate::Context;
use crate::connect::{DbArgs, block_on, input};
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use std::path::Path;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::runner::{HistoryTable, MigrationSet, Migrator, MigratorOptions, Target};

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # a database built another way (by hand, pull, push) gets the baseline recorded
  tablewright mark-applied --file 0000_baseline
  # after `squash`: replace the whole history with the baseline
  tablewright mark-applied --file 0000_baseline --reset --yes
  # a statement whose outcome could not be settled, resolved by hand: 1..=3 done
  tablewright mark-applied --file 0004_add_index --through 3

Exit codes: 0 ok, 2 input error, 3 the database could not be written.";

/// `mark-applied`'s flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// The migration: its tag or its .sql file.
    #[arg(long)]
    file: String,
    /// Record only statements 1..=N as done (the next `migrate` resumes after them):
    /// how a statement whose outcome could not be settled is resolved by hand.
    #[arg(long, value_name = "N")]
    through: Option<usize>,
    /// Replace the whole history with this one row.
    #[arg(long)]
    reset: bool,
    /// Confirm --reset.
    #[arg(long)]
    yes: bool,
}

super::outcomes! {
    /// The history now records the migration's statements through `through` as done.
    Ok,
}

/// What `mark-applied` recorded.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct MarkReport {
    /// The database, its password masked (`postgres at postgres://app:***@db/app`).
    pub target: String,
    /// The migration's journal tag (`0003_add_books`): `--file`'s stem.
    pub marked: String,
    /// Statements now recorded as done.
    pub through: usize,
    /// Statements in it.
    pub total: usize,
    /// Statements (1-based) recorded as done that no run executed.
    pub never_ran: Vec<usize>,
    /// The rest of the history was removed (`--reset`).
    pub reset: bool,
}

impl Report for MarkReport {
    type Status = Status;

    fn status(&self) -> Status {
        Status::Ok
    }

    fn text(&self) -> String {
        let what = match self.through {
            n if n == self.total => "as applied".to_owned(),
            0 => "with no statement done".to_owned(),
            n => format!("with statements 1 to {n} done"),
        };
        let mut text = format!(
            "Marked {} {what} on {}{}.\n",
            self.marked,
            self.target,
            if self.reset {
                "; the rest of the history was removed"
            } else {
                ""
            }
        );
        if !self.never_ran.is_empty() {
            let list = self
                .never_ran
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            text.push_str(&format!("Statement(s) {list} of {} never ran here: make sure the database already has their effect.\n", self.marked));
        }
        text
    }
}

/// Runs `mark-applied`.
pub fn run(cx: &Context, args: Args) -> Result<Done<MarkReport>, CliError> {
    if args.reset && !args.yes {
        return Err(input(
            "--reset deletes the whole migration history but this one row; add --yes to confirm (tablewright never prompts)",
        ));
    }
    let target = args.db.target(cx)?;
    let (_, folder, history) = args.db.sources(&cx.config)?;
    let set = MigrationSet::from_folder(&folder)?;
    let tag = Path::new(&args.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.file.clone());
    block_on(None, async {
        let migrator = Migrator::new(
            target.clone(),
            set,
            MigratorOptions {
                history: history.clone(),
                ..MigratorOptions::default()
            },
        )
        .await?;
        if args.reset {
            squashed_history_is_complete(&migrator, &target, &history, &folder, &tag).await?;
        }
        let marked = migrator
            .mark_applied(&tag, args.reset, args.through)
            .await?;
        Ok(Done::ok(MarkReport {
            target: migrator.target().to_string(),
            marked: tag,
            through: marked.through,
            total: marked.total,
            never_ran: marked.never_ran,
            reset: args.reset,
        }))
    })
}

/// Before `--reset` replaces a history that `squash` folded into the baseline: the history
/// must be one archive's migrations, every one applied, or the database would never get
/// the ones it had not run. (Without archives, or with a history of only the baseline,
/// there is nothing to check.)
async fn squashed_history_is_complete(
    migrator: &Migrator,
    target: &Target,
    history: &HistoryTable,
    folder: &Path,
    baseline: &str,
) -> Result<(), CliError> {
    let status = migrator.status().await?;
    if status.unknown.is_empty()
        && status.applied.is_empty()
        && status.in_progress.is_empty()
        && status.failed.is_empty()
    {
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
        let set = MigrationSet::from_folder(archive)?;
        let old = Migrator::new(
            target.clone(),
            set,
            MigratorOptions {
                history: history.clone(),
                ..MigratorOptions::default()
            },
        )
        .await?;
        let status = old.status().await?;
        if status.unknown.iter().any(|t| t != baseline) {
            continue; // this archive does not explain the history
        }
        let unfinished: Vec<String> = status
            .pending
            .iter()
            .cloned()
            .chain(status.in_progress.iter().map(|m| m.tag.clone()))
            .chain(status.failed.iter().map(|m| m.tag.clone()))
            .collect();
        let edited: Vec<String> = status
            .edited
            .iter()
            .cloned()
            .chain(status.edited_in_progress.iter().map(|m| m.tag.clone()))
            .collect();
        if unfinished.is_empty() && edited.is_empty() {
            return Ok(());
        }
        behind.push((archive.clone(), unfinished, edited));
    }
    Err(match behind.into_iter().next() {
        Some((archive, unfinished, edited)) if edited.is_empty() => input(format!(
            "--reset: this database has not applied every squashed migration (not done: {}); run `tablewright migrate --folder {}` with the same connection flags first, then this again",
            unfinished.join(", "),
            archive.display()
        )),
        Some((archive, unfinished, edited)) => input(format!(
            "--reset: {} in {} differ from what this database applied (edited after they ran){}; the baseline would stand for files the database never ran: restore them from version control, then this again",
            edited.join(", "),
            archive.display(),
            if unfinished.is_empty() {
                String::new()
            } else {
                format!(", and {} are not done", unfinished.join(", "))
            }
        )),
        None => input(format!(
            "--reset: the history holds {} which no archive under {} accounts for; reset it only once you know the database has their effect (move the archives aside to skip this check)",
            unknown.join(", "),
            folder.join("archive").display()
        )),
    })
}
