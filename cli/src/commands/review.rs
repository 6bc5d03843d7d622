//! `review`: the migrations added since a git revision, as Markdown for a pull request's
//! comment (or one JSON document).

use crate::Context;
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use std::path::{Path, PathBuf};
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

/// `path` as it was at `revision`, git run from `base` (the config's folder); `None` when
/// it did not exist there. The file and its folder need not exist now.
fn at_revision(base: &Path, revision: &str, path: &Path) -> Result<Option<Vec<u8>>, CliError> {
    let fix = "run it inside the repository's work tree, with git installed";
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(base)
            .args(args)
            .output()
            .map_err(|e| CliError::input("git", format!("review: running git: {e}; {fix}")))
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if !top.status.success() {
        return Err(CliError::input(
            "git",
            format!(
                "review: {} is not in a git work tree ({}); {fix}",
                base.display(),
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
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    // The file's path with symbolic links resolved as far as it exists.
    let absolute = std::path::absolute(path).map_err(|e| CliError::io(path, &e))?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let resolved = loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            break rest
                .iter()
                .rev()
                .fold(real, |p: PathBuf, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break absolute.clone(),
        }
    };
    let relative = resolved
        .strip_prefix(&top)
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .map_err(|_| {
            CliError::input(
                "git",
                format!(
                    "review: {} is outside the git work tree {}; {fix}",
                    path.display(),
                    top.display()
                ),
            )
        })?;
    let object = format!("{commit}:{relative}");
    if !git(&["cat-file", "-e", &object])?.status.success() {
        return Ok(None);
    }
    let shown = git(&["show", &object])?;
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
    let base = match cx.config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let journal = match at_revision(&base, &args.since, &folder.journal_path())? {
        Some(bytes) => Some(Journal::parse(&bytes).map_err(|e| {
            CliError::input(
                "journal",
                format!("review: the journal at `{}` does not read: {e}", args.since),
            )
        })?),
        None => None,
    };
    let permissions_before = at_revision(&base, &args.since, &config.permissions)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    // Only a file that is not there is "none": one that does not read is an error, not a
    // reason to call every line revoked.
    let permissions_now = match std::fs::read_to_string(&config.permissions) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::io(&config.permissions, &e)),
    };
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
