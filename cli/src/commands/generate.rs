//! `generate`: the structs against the last snapshot, and the next migration written.

use crate::output::{CliError, Done, Report};
use crate::{Context, now_ms};
use serde::Serialize;
use tablewright_core::compile::warnings::Warning;
use tablewright_core::generate::{self, Change, GenerateOptions};
use tablewright_core::project::config::Config;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::schema::desired::AllowDrops;
use tablewright_core::schema::scan;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # write the next migration for the changed structs
  tablewright generate
  # in CI: exit 1 when the structs have changes not yet in migrations/
  tablewright generate --check --format json
  # drop a column (or a whole table: --allow-drop books) and its data
  tablewright generate --allow-drop books.subtitle
  # fail, writing nothing, when the migration would rebuild a table
  tablewright generate --deny table-rebuild
  # an empty SQL file, journal entry and snapshot for a hand-written data migration
  tablewright generate --custom --name backfill_prices

Exit codes: 0 ok, 1 a migration is due (--check), 2 input error (nothing written).";

/// `generate`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Name of the migration (the part after `NNNN_`).
    #[arg(long)]
    name: Option<String>,
    /// Write an empty SQL file (plus journal entry and snapshot) for hand-written SQL.
    #[arg(long)]
    custom: bool,
    /// Write nothing; exit 1 if a migration is due.
    #[arg(long)]
    check: bool,
    /// Allow dropping a table (`books`) or column (`books.subtitle`) and its data. Repeatable.
    #[arg(long = "allow-drop", value_name = "TABLE[.COLUMN]")]
    allow_drop: Vec<String>,
    /// Fail (exit 2, nothing written) when the migration would raise this warning:
    /// `table-rebuild`, `drop` (table or column), `drop-table`, `drop-column`,
    /// `narrowing-type-change`, `rename-table`, `rename-column`. Repeatable; adds to
    /// `[generate] deny` in the config.
    #[arg(long = "deny", value_name = "WARNING", value_parser = clap::builder::PossibleValuesParser::new(tablewright_core::project::config::deniable()))]
    deny: Vec<String>,
}

super::outcomes! {
    /// The migrations folder and the permissions file already say what the structs say.
    UpToDate,
    /// `--check`: a migration or a new permissions file is due (exit 1).
    Pending,
    /// The migration and/or the permissions file were written.
    Written,
}

/// What `generate` found or wrote.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct GenerateReport {
    #[serde(skip)]
    status: Status,
    /// The migrations folder.
    pub folder: String,
    /// Tables the structs declare.
    pub tables: usize,
    /// The migration due or written; null when the schema is unchanged.
    pub migration: Option<MigrationReport>,
    /// The permissions file, when it is due or was written; null when it is current.
    pub permissions: Option<PermissionsFileReport>,
}

/// A migration due or written.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct MigrationReport {
    /// `NNNN_name`.
    pub tag: String,
    /// One per operation.
    pub changes: Vec<Change>,
    /// Statements in its SQL file.
    pub statements: usize,
    /// Destructive or backward-incompatible changes, with stable ids.
    pub warnings: Vec<Warning>,
    /// The files written (empty with `--check`).
    pub files: Vec<String>,
}

/// The permissions file due or written.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct PermissionsFileReport {
    /// The permissions file's path (`permissions/permissions.sql` by default).
    pub file: String,
    /// Grants in it.
    pub grants: usize,
}

/// Warnings as text: `warning[drop-column]: ..`.
pub(crate) fn warning_lines(warnings: &[Warning]) -> String {
    warnings
        .iter()
        .map(|w| format!("warning[{}]: {}: {}\n", w.id, w.change, w.message))
        .collect()
}

impl Report for GenerateReport {
    type Status = Status;

    fn status(&self) -> Status {
        self.status
    }

    fn text(&self) -> String {
        let mut text = String::new();
        match self.status {
            Status::UpToDate => text.push_str(&format!(
                "No schema changes: {} matches the code ({} tables).\n",
                self.folder, self.tables
            )),
            Status::Pending => {
                if let Some(m) = &self.migration {
                    text.push_str(&format!("Schema changes not yet in {}:\n", self.folder));
                    for c in &m.changes {
                        text.push_str(&format!("  + {}\n", c.detail));
                    }
                    text.push_str(&warning_lines(&m.warnings));
                }
                if let Some(p) = &self.permissions {
                    text.push_str(&format!(
                        "{} is out of date with the #[requires_table] declarations.\n",
                        p.file
                    ));
                }
                // The same flags (an --allow-drop, a --deny) are needed to write them.
                text.push_str("Run the same command without --check to write them.\n");
            }
            Status::Written => {
                if let Some(m) = &self.migration {
                    text.push_str(&format!(
                        "Wrote migration {} ({} statement(s)):\n",
                        m.tag, m.statements
                    ));
                    for c in &m.changes {
                        text.push_str(&format!("  + {}\n", c.detail));
                    }
                    for file in &m.files {
                        text.push_str(&format!("  {file}\n"));
                    }
                    text.push_str(&warning_lines(&m.warnings));
                }
                if let Some(p) = &self.permissions {
                    text.push_str(&format!("Wrote {} ({} grant(s)).\n", p.file, p.grants));
                }
            }
        }
        text
    }
}

/// Runs `generate`.
pub fn run(cx: &Context, args: Args) -> Result<Done<GenerateReport>, CliError> {
    let config = Config::load(&cx.config)?;
    // Held from before the folder is read until it is written: a second generate then
    // plans on top of the first one's migration.
    let _lock = if args.check {
        None
    } else {
        Some(cx.lock_for_writing(&config.out)?)
    };
    let files = config.schema_files()?;
    // The migrations folder (every SQL file hashed and split, every snapshot parsed) is
    // read on a second thread while the sources are scanned; errors come in the same order.
    let (scanned, folder) = std::thread::scope(|s| {
        let folder = s.spawn(|| {
            MigrationFolder::load(&config.out).map(|folder| {
                let inspection = folder.inspect();
                (folder, inspection)
            })
        });
        let scanned =
            scan::scan_files(&files, &tablewright_core::schema::sql_text::ParsedFragments);
        (
            scanned,
            folder
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        )
    });
    let scanned = scanned?;
    let (folder, inspection) = folder?;
    let inspection = inspection.map_err(generate::GenerateError::from)?;
    let deny = config.deny.iter().chain(&args.deny).cloned().collect();
    let options = GenerateOptions {
        name: args.name,
        custom: args.custom,
        allow_drop: AllowDrops::parse(&args.allow_drop),
        now_ms: now_ms(),
        deny,
    };
    let migration =
        generate::plan_migration_after(&config, &scanned.desired, &folder, inspection, &options)?;
    let permissions = generate::plan_permissions(&config, &scanned)?;
    let status = match (&migration, &permissions) {
        (None, None) => Status::UpToDate,
        _ if args.check => Status::Pending,
        _ => {
            generate::write(migration.as_ref(), permissions.as_ref())?;
            Status::Written
        }
    };
    let written = status == Status::Written;
    let report = GenerateReport {
        status,
        folder: config.out.display().to_string(),
        tables: scanned.desired.schema.tables.len(),
        migration: migration.map(|m| MigrationReport {
            statements: m.plan.statements.len(),
            files: if written {
                m.files
                    .iter()
                    .map(|(p, _)| p.display().to_string())
                    .collect()
            } else {
                Vec::new()
            },
            tag: m.tag,
            changes: m.changes,
            warnings: m.warnings,
        }),
        permissions: permissions.map(|p| PermissionsFileReport {
            file: p.path.display().to_string(),
            grants: p.grants,
        }),
    };
    Ok(Done::checked(report, status == Status::Pending))
}
