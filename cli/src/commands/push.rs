//! `push`: a development database changed straight to the structs, no file, no history.

use crate::Context;
use crate::connect::{DbArgs, EventPrinter, block_on, history_of, input, read_schema};
use crate::output::{CliError, Done, Format, Report, emit};
use serde::Serialize;
use tablewright_core::dialect::Dialect;
use tablewright_core::generate::{Change, GenerateError};
use tablewright_core::project::config::Config;
use tablewright_core::runner::{self, MigrationSet, Migrator, MigratorOptions, RunError};

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # a development database straight to the structs: no files, no history
  tablewright push --connection-string postgres://localhost/dev
  # dropping a column's data is still asked for by name
  tablewright push --connection-string postgres://localhost/dev --allow-drop books.subtitle

Exit codes: 0 ok, 2 input error (nothing changed), 3 the database refused a statement.";

/// `push`'s flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Allow dropping a table (`books`) or column (`books.subtitle`) and its data. Repeatable.
    #[arg(long = "allow-drop", value_name = "TABLE[.COLUMN]")]
    allow_drop: Vec<String>,
    /// Push to a DSQL target too (refused without it: DSQL databases are rarely
    /// throwaway ones).
    #[arg(long)]
    allow_dsql: bool,
    /// Push even though the database's history records migrations.
    #[arg(long)]
    force: bool,
}

super::outcomes! {
    /// The database already matched the structs.
    UpToDate,
    /// The changes were applied.
    Pushed,
}

/// What `push` changed.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct PushReport {
    /// The database, its password masked (`postgres at postgres://app:***@db/app`).
    pub target: String,
    /// Tables the structs declare.
    pub tables: usize,
    /// One per operation applied.
    pub changes: Vec<Change>,
    /// The statements run.
    pub statements: Vec<String>,
}

impl Report for PushReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.changes.is_empty() {
            Status::UpToDate
        } else {
            Status::Pushed
        }
    }

    fn text(&self) -> String {
        match self.status() {
            Status::UpToDate => format!(
                "push: {} already matches the structs ({} table(s)); nothing to do.\n",
                self.target, self.tables
            ),
            Status::Pushed => format!(
                "push: done, {} statement(s); no file written, no history recorded.\n",
                self.statements.len()
            ),
        }
    }
}

/// Runs `push`.
pub fn run(cx: &Context, args: Args) -> Result<Done<PushReport>, CliError> {
    use tablewright_core::compile::plan;
    use tablewright_core::schema::{compare, desired::AllowDrops, scan};
    let config = Config::load(&cx.config)?;
    let target = args.db.target(cx)?;
    // Under DSQL's rules (Aurora DSQL, or its rules emulated, which stand for it) a push
    // is asked for by name.
    if target.dsql_rules() && !args.allow_dsql {
        return Err(input(format!(
            "push changes {target} directly, with no migration to review or replay; under DSQL's rules that needs --allow-dsql (a local PostgreSQL without them: --provider postgres; a shared database: `generate` and `migrate`)"
        )));
    }
    let scanned = scan::scan_files(
        &config.schema_files()?,
        &tablewright_core::schema::sql_text::ParsedFragments,
    )?;
    let history = history_of(&config);
    let format = cx.format;
    let printer = EventPrinter::new(format);
    block_on(None, async {
        let connector = runner::Connector::new(target.clone()).await?;
        // A database whose history records migrations is deployed by them, not pushed to.
        if !args.force {
            let empty = MigrationSet {
                migrations: Vec::new(),
                origin: "push".to_owned(),
                drizzle: None,
            };
            let recorded = Migrator::new(
                target.clone(),
                empty,
                MigratorOptions {
                    history: history.clone(),
                    lock: false,
                    ..MigratorOptions::default()
                },
            )
            .await?
            .status()
            .await?
            .unknown;
            if !recorded.is_empty() {
                return Err(input(format!(
                    "{target}: its history records {} migration(s) ({}), so `migrate` deploys it; push would change it behind that history. Use `generate` and `migrate`, or --force for a development database",
                    recorded.len(),
                    recorded.join(", ")
                )));
            }
        }
        // (What the structs cannot declare, a foreign key to another schema or an index
        // the model cannot hold, is not read, so it is left alone rather than dropped.)
        let dialect = if target.dsql_rules() {
            Dialect::Dsql
        } else {
            Dialect::Postgres
        };
        let mut live = read_schema(
            &connector,
            Some(&scanned.desired.schema.namespaces()),
            &history,
        )
        .await?
        .schema;
        // An enum type the structs never declared (a custom migration's) is left alone.
        live.enums
            .retain(|name, _| scanned.desired.schema.enums.contains_key(name));
        compare::adopt_spellings(
            &mut live,
            &tablewright_core::compile::lower::for_dialect(&scanned.desired.schema, dialect),
        );
        // Errors read as generate's do (the undecided drops with both ways out).
        let (changes, next) = tablewright_core::compile::lower::diff_for(
            &live,
            &scanned.desired,
            &AllowDrops::parse(&args.allow_drop),
            dialect,
        )
        .map_err(GenerateError::Diff)?;
        let mut report = PushReport {
            target: connector.target().to_string(),
            tables: scanned.desired.schema.tables.len(),
            changes: changes.ops.iter().map(Change::from).collect(),
            statements: Vec::new(),
        };
        if changes.ops.is_empty() {
            return Ok(Done::ok(report));
        }
        let planned = plan::plan(&changes, &next, dialect).map_err(GenerateError::Plan)?;
        let statements = planned.sql();
        if format == Format::Text {
            let mut text = format!(
                "push: {} change(s) to {}:\n",
                changes.ops.len(),
                connector.target()
            );
            for op in &changes.ops {
                text.push_str(&format!("  - {op}\n"));
            }
            emit(&text);
        }
        // Bookkeeping in `public`, which exists, so that no schema is created and left.
        runner::apply_unrecorded(target, "push", statements.clone(), "public", &|e| printer.print(e)).await.map_err(|e| {
            let stopped = matches!(e, RunError::Statement { .. });
            let failure = CliError::from(e);
            if stopped { failure.context("push stopped at this statement; the statements before it took effect. Fix the cause and push again: it plans from the database as it now is") } else { failure }
        })?;
        report.statements = statements;
        Ok(Done::ok(report))
    })
}
