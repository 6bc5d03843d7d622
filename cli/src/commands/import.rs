//! `import drizzle`: a drizzle-kit folder (and its applied history) brought along.

use crate::Context;
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use std::path::PathBuf;
use tablewright_core::compile::rules::Dialect;
use tablewright_core::generate;
use tablewright_core::project::config::Config;
use tablewright_core::project::import;
use tablewright_core::schema::desired::AllowDrops;
use tablewright_core::schema::scan;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # drizzle-kit's `out` folder, entity structs written to src/entities.rs
  tablewright import drizzle --from drizzle/ --structs src/entities.rs
  # drizzle's migrator kept its history elsewhere
  tablewright import drizzle --from drizzle/ --drizzle-history app.migrations

Exit codes: 0 ok, 2 input error (nothing written).";

/// Where to import from.
#[derive(clap::Subcommand)]
pub enum Source {
    /// A drizzle-kit 0.x folder (journal v7, postgresql): its SQL files kept byte for byte,
    /// its snapshots converted, entity structs written from the last one. `migrate` then
    /// takes what drizzle's migrator applied (drizzle.__drizzle_migrations) as applied.
    #[command(after_help = EXAMPLES)]
    Drizzle(Args),
}

/// `import drizzle`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The drizzle-kit output folder (holding meta/_journal.json).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Where to write the entity structs (default: the config's `schema` entry, when it
    /// names one file that does not exist yet).
    #[arg(long, value_name = "FILE")]
    structs: Option<PathBuf>,
    /// The table drizzle's migrator recorded applied migrations in, `schema.table`
    /// (drizzle's `migrationsSchema` and `migrationsTable`); kept in the journal.
    #[arg(long, value_name = "SCHEMA.TABLE", default_value = import::DRIZZLE_HISTORY)]
    drizzle_history: String,
}

super::outcomes! {
    /// The folder was imported.
    Imported,
}

/// What `import drizzle` wrote.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ImportReport {
    /// The migrations folder written.
    pub folder: String,
    /// The migrations imported, in order.
    pub migrations: Vec<String>,
    /// The entity structs' file.
    pub structs: String,
    /// What the structs and snapshots do not declare as drizzle had it.
    pub not_expressed: Vec<String>,
    /// The project's dialect.
    pub dialect: Dialect,
}

impl Report for ImportReport {
    type Status = Status;

    fn status(&self) -> Status {
        Status::Imported
    }

    fn text(&self) -> String {
        let mut text = format!(
            "Imported {} drizzle-kit migration(s) ({}) into {}, SQL files unchanged; entity structs in {}.\n",
            self.migrations.len(),
            self.migrations.join(", "),
            self.folder,
            self.structs
        );
        if !self.not_expressed.is_empty() {
            text.push_str(&format!("{} thing(s) the structs and snapshots do not declare as drizzle had them:\n", self.not_expressed.len()));
            for n in &self.not_expressed {
                text.push_str(&format!("  - {n}\n"));
            }
        }
        if self.dialect == Dialect::Dsql {
            text.push_str("The dialect is dsql: drizzle-kit's SQL was written for PostgreSQL; `tablewright check-dsql` lists what DSQL refuses.\n");
        }
        text.push_str("`tablewright migrate` records what drizzle's migrator applied (drizzle.__drizzle_migrations) as applied and runs only the rest; `tablewright generate` now numbers after the last drizzle migration.\n");
        text
    }
}

/// Runs `import drizzle`.
pub fn drizzle(cx: &Context, args: Args) -> Result<Done<ImportReport>, CliError> {
    let Args { from, structs, drizzle_history } = args;
    if !drizzle_history.split_once('.').is_some_and(|(s, t)| !s.is_empty() && !t.is_empty() && !t.contains('.')) {
        return Err(CliError::input("usage", format!("--drizzle-history `{drizzle_history}`: expected `schema.table`, as drizzle's migrationsSchema and migrationsTable (default {})", import::DRIZZLE_HISTORY)));
    }
    if !from.join("meta").join("_journal.json").is_file() {
        return Err(CliError::input("import", format!("{}: no meta/_journal.json here; --from names drizzle-kit's `out` folder (the one holding 0000_*.sql and meta/)", from.display())));
    }
    let config = Config::load(&cx.config)?;
    let _lock = cx.lock_for_writing(&config.out)?;
    let structs = match structs {
        Some(path) => path,
        None => match config.schema.as_slice() {
            [one] if !one.contains(['*', '?', '[']) => config.root.join(one),
            _ => return Err(CliError::input("usage", format!("{}: `schema` does not name one file; pass --structs FILE for the entity structs", config.path.display()))),
        },
    };
    if structs.exists() {
        return Err(CliError::input("usage", format!("{}: already exists; import writes new entity structs (pass another --structs FILE)", structs.display())));
    }
    let plan = import::plan_drizzle_import(&from, &config.out, config.dialect, &drizzle_history)?;
    let entities = tablewright_core::schema::codegen::entities(&plan.schema, &format!("the drizzle-kit folder {}", from.display()));
    let mut files = plan.files.clone();
    files.push((structs.clone(), entities.source.into_bytes()));
    tablewright_core::project::fsio::write_all_or_nothing(&files)?;
    // The permissions file follows the sources, as after any `generate` (no handler declares
    // anything yet, so it names no grant), so that `generate --check` passes at once.
    if let Ok(files) = config.schema_files()
        && let Ok(scanned) = scan::scan_files(&files, &tablewright_core::schema::sql_text::ParsedFragments)
        && let Some(permissions) = generate::plan_permissions(&config, &scanned)?
    {
        generate::write(None, Some(&permissions))?;
    }
    let mut notes = plan.notes.clone();
    notes.extend(entities.not_expressed);
    // drizzle-kit wrote PostgreSQL; on a dsql project, say now what DSQL cannot hold.
    if config.dialect == Dialect::Dsql {
        use tablewright_core::compile::{lower, plan};
        let desired = tablewright_core::schema::desired::DesiredSchema { schema: plan.schema.clone(), ..Default::default() };
        if let Ok((changes, next)) = lower::diff_for(&Default::default(), &desired, &AllowDrops::default(), config.dialect)
            && let Err(plan::PlanError::Refused { refusals, .. }) = plan::plan(&changes, &next, config.dialect)
        {
            notes.extend(refusals.iter().map(|r| format!("on dsql: {r}")));
        }
    }
    Ok(Done::ok(ImportReport { folder: config.out.display().to_string(), migrations: plan.migrations.clone(), structs: structs.display().to_string(), not_expressed: notes, dialect: config.dialect }))
}
