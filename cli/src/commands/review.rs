//! `review`: the migrations added since a git revision, as Markdown for a pull request's
//! comment (or one JSON document).

use crate::Context;
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use std::path::Path;
use std::process::Command;
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::project::journal::Journal;
use tablewright_core::review::{self, Before, Review};

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # what this branch's migrations do, against the main branch
  tablewright review --since origin/main
  # the same as data, for a bot
  tablewright review --since origin/main --format json

Exit codes: 0 ok, 2 input error (a revision git does not know, a folder that does not read).";

/// `review`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The git revision to compare with (a branch, a tag, a commit): the migrations its
    /// journal does not have are reviewed.
    #[arg(long, value_name = "REF")]
    since: String,
}

super::outcomes! {
    /// The review (it may list no migration).
    Ok,
}

/// The review, as Markdown and as data.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ReviewReport {
    /// The revision compared with, as given.
    pub since: String,
    /// The review as Markdown (what the text output prints).
    pub markdown: String,
    /// What it says, as data.
    pub review: Review,
}

impl Report for ReviewReport {
    type Status = Status;

    fn status(&self) -> Status {
        Status::Ok
    }

    fn text(&self) -> String {
        self.markdown.clone()
    }
}

/// `path` (a file in a git work tree) as it was at `revision`; `None` when it did not
/// exist there.
fn at_revision(revision: &str, path: &Path) -> Result<Option<Vec<u8>>, CliError> {
    let absolute = std::path::absolute(path).map_err(|e| CliError::io(path, &e))?;
    let dir = absolute.parent().unwrap_or(Path::new("."));
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(|e| CliError::input("git", format!("review: running git: {e}")))
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if !top.status.success() {
        return Err(CliError::input(
            "git",
            format!(
                "review: {} is not in a git work tree: {}",
                dir.display(),
                String::from_utf8_lossy(&top.stderr).trim()
            ),
        ));
    }
    let commit = git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{revision}^{{commit}}"),
    ])?;
    if !commit.status.success() {
        return Err(CliError::input(
            "git",
            format!(
                "review: `{revision}` is not a revision git knows here (a branch, a tag or a commit; fetch it first in a shallow clone)"
            ),
        ));
    }
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    let top = std::path::PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let canonical_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let relative = canonical_dir
        .join(absolute.file_name().unwrap_or_default())
        .strip_prefix(&top)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .map_err(|_| {
            CliError::input(
                "git",
                format!(
                    "review: {} is outside the git work tree {}",
                    path.display(),
                    top.display()
                ),
            )
        })?;
    let shown = git(&["cat-file", "-e", &format!("{commit}:{relative}")])?;
    if !shown.status.success() {
        return Ok(None);
    }
    let shown = git(&["show", &format!("{commit}:{relative}")])?;
    if !shown.status.success() {
        return Err(CliError::input(
            "git",
            format!(
                "review: reading {relative} at `{revision}`: {}",
                String::from_utf8_lossy(&shown.stderr).trim()
            ),
        ));
    }
    Ok(Some(shown.stdout))
}

/// Runs `review`.
pub fn run(cx: &Context, args: Args) -> Result<Done<ReviewReport>, CliError> {
    let config = Config::load(&cx.config)?;
    let folder = MigrationFolder::load(&config.out)?;
    let journal = match at_revision(&args.since, &folder.journal_path())? {
        Some(bytes) => Some(Journal::parse(&bytes).map_err(|e| {
            CliError::input(
                "journal",
                format!("review: the journal at `{}` does not read: {e}", args.since),
            )
        })?),
        None => None,
    };
    let permissions_before = at_revision(&args.since, &config.permissions)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let permissions_now = std::fs::read_to_string(&config.permissions).ok();
    let review = review::review(
        &folder,
        config.dialect,
        &Before {
            journal,
            permissions: permissions_before,
        },
        permissions_now.as_deref(),
    )?;
    Ok(Done::ok(ReviewReport {
        markdown: review.markdown(&args.since),
        since: args.since,
        review,
    }))
}
