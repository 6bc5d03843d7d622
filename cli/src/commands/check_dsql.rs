//! `check-dsql`: every statement of SQL files classified for Aurora DSQL.

use crate::Context;
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use std::path::PathBuf;
use tablewright_core::project::config::Config;
use tablewright_core::sql::dsql_check::{self, CheckedStatement, Summary};

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # every .sql file of the migrations folder
  tablewright check-dsql
  # hand-written SQL, for a machine
  tablewright check-dsql legacy/*.sql --format json

Exit codes: 0 ok, 1 a statement is ERROR, RECREATION or FOREIGN KEY, 2 input error.";

/// `check-dsql`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// SQL files, or folders standing for their .sql files (default: the migrations folder).
    files: Vec<PathBuf>,
}

super::outcomes! {
    /// Every statement runs on DSQL (perhaps rewritten or skipped).
    Ok,
    /// A statement is ERROR or needs a RECREATION (exit 1).
    Problems,
}

/// Each file's statements, classified.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct CheckDsqlReport {
    /// Each file, in order.
    pub files: Vec<CheckedFile>,
    /// Counts over all of them.
    pub summary: Summary,
}

/// One file's statements.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct CheckedFile {
    /// The SQL file's path, as named on the command line or found in a folder.
    pub file: String,
    /// Its statements, classified.
    pub statements: Vec<CheckedStatement>,
}

impl Report for CheckDsqlReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.summary.errors + self.summary.recreation + self.summary.foreign_keys == 0 {
            Status::Ok
        } else {
            Status::Problems
        }
    }

    fn text(&self) -> String {
        let mut text: String = self
            .files
            .iter()
            .map(|f| dsql_check::render_text(&f.file, &f.statements))
            .collect();
        text.push_str(&self.summary.line());
        text.push('\n');
        text
    }
}

/// Runs `check-dsql`.
pub fn run(cx: &Context, args: Args) -> Result<Done<CheckDsqlReport>, CliError> {
    // A folder stands for its .sql files, in name order, or drizzle-kit v1's
    // `<name>/migration.sql` in each folder of it.
    let sql_files_in = |dir: &PathBuf| -> Result<Vec<PathBuf>, CliError> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| CliError::io(dir, &e))?
            .flatten()
            .map(|e| e.path())
            .filter_map(|p| {
                if p.is_dir() {
                    Some(p.join("migration.sql")).filter(|m| m.is_file())
                } else {
                    Some(p).filter(|p| p.extension().is_some_and(|x| x == "sql"))
                }
            })
            .collect();
        found.sort();
        Ok(found)
    };
    let files = if args.files.is_empty() {
        let config = Config::load(&cx.config)?;
        if !config.out.is_dir() {
            return Err(CliError::input(
                "usage",
                format!(
                    "{}: no migrations folder yet; name the SQL files or folders to check (`tablewright check-dsql drizzle/`)",
                    config.out.display()
                ),
            ));
        }
        sql_files_in(&config.out)?
    } else {
        let mut files = Vec::new();
        for path in args.files {
            if !path.is_dir() {
                files.push(path);
                continue;
            }
            let found = sql_files_in(&path)?;
            if found.is_empty() {
                return Err(CliError::input(
                    "usage",
                    format!(
                        "{}: no .sql file here (nor `<name>/migration.sql`)",
                        path.display()
                    ),
                ));
            }
            files.extend(found);
        }
        files
    };
    let mut checked = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| CliError::io(file, &e))?;
        checked.push(CheckedFile {
            file: file.display().to_string(),
            statements: dsql_check::check_text(&text),
        });
    }
    let summary = Summary::of(checked.iter().flat_map(|f| &f.statements));
    let report = CheckDsqlReport {
        files: checked,
        summary,
    };
    let problem = report.status() == Status::Problems;
    Ok(Done::checked(report, problem))
}
