//! `clone`: a database's schema, rows and history copied into a local PostgreSQL.

use crate::Context;
use crate::connect::{
    DbArgs, EventPrinter, Provider, block_on, history_of, input, named_or_throwaway,
    optional_config, read_schema, termination,
};
use crate::output::{CliError, Done, Format, Report, emit};
use serde::Serialize;
use tablewright_core::dialect::Dialect;
use tablewright_core::generate::GenerateError;
use tablewright_core::runner::clone::ClonedTable;
use tablewright_core::runner::{
    self, HistoryTable, MigrationSet, Migrator, MigratorOptions, RunError, Target,
};
use tablewright_core::schema::model::{Schema, Table};

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # production in a local database (10,000 rows a table), to rehearse a deploy
  tablewright clone --from \"$PROD_URL\" --to postgres://localhost/rehearsal --rows 10000
  # into a throwaway server that lives until Ctrl-C (its URL printed)
  tablewright clone --from-endpoint abc.dsql.us-east-1.on.aws --region us-east-1

Exit codes: 0 ok, 2 input error, 3 the copy failed.";

/// `clone`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The source database's URL (PostgreSQL, or with --from-provider dsql a PostgreSQL
    /// under DSQL's rules).
    #[arg(
        long = "from",
        value_name = "URL",
        required_unless_present = "from_endpoint"
    )]
    from: Option<String>,
    /// `postgres` (default) or `dsql`.
    #[arg(long = "from-provider", value_enum)]
    from_provider: Option<Provider>,
    /// A DSQL cluster endpoint to read from (IAM token, as for migrate).
    #[arg(long = "from-endpoint", value_name = "HOST", conflicts_with = "from")]
    from_endpoint: Option<String>,
    /// AWS region of --from-endpoint (default: AWS_REGION, then AWS_DEFAULT_REGION).
    #[arg(long)]
    region: Option<String>,
    /// An empty local database to build the clone in (default: a throwaway server that
    /// lives until Ctrl-C or SIGTERM, its URL printed).
    #[arg(long, value_name = "URL")]
    to: Option<String>,
    /// At most this many rows per table (default: all); rows whose parent was not
    /// copied are left out, so the clone's foreign keys hold. At most 2^63 - 1, the
    /// largest LIMIT PostgreSQL takes: checked before anything is built.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    rows: Option<u64>,
}

impl Args {
    /// The source database; its provider is always named, so the config is never asked.
    fn source(&self, cx: &Context) -> Result<Target, CliError> {
        let provider = self
            .from_provider
            .or(self.from_endpoint.as_ref().map(|_| Provider::Dsql))
            .or(Some(Provider::Postgres));
        let args = DbArgs {
            provider,
            connection_string: self.from.clone(),
            endpoint: self.from_endpoint.clone(),
            region: self.region.clone(),
            folder: None,
        };
        args.target(cx)
    }
}

super::outcomes! {
    /// The clone is built.
    Cloned,
}

/// What `clone` built.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct CloneReport {
    /// The source database.
    pub source: String,
    /// The clone (its URL, the password hidden).
    pub target: String,
    /// Tables of the source's schema.
    pub tables: usize,
    /// Each table copied (the history tables included), with its rows.
    pub copied: Vec<ClonedTable>,
    /// What could not be cloned.
    pub not_cloned: Vec<String>,
    /// The throwaway server's URL, when one was started; null with `--to`.
    pub server: Option<String>,
    #[serde(skip)]
    total_rows: u64,
}

impl Report for CloneReport {
    type Status = Status;

    fn status(&self) -> Status {
        Status::Cloned
    }

    fn text(&self) -> String {
        let mut text = format!(
            "clone: {} table(s) and {} row(s) from {} into {}\n",
            self.tables, self.total_rows, self.source, self.target
        );
        for c in &self.copied {
            let left_out = if c.orphans_removed > 0 {
                format!(
                    " ({} left out: their parent row was not copied)",
                    c.orphans_removed
                )
            } else {
                String::new()
            };
            text.push_str(&format!("  {}: {} row(s){left_out}\n", c.table, c.copied));
        }
        for n in &self.not_cloned {
            text.push_str(&format!("  not cloned: {n}\n"));
        }
        if let Some(url) = &self.server {
            text.push_str(&format!("clone: ready at {url}\nThe throwaway server runs until this command gets Ctrl-C or SIGTERM; then it and its data are removed.\n"));
        }
        text
    }
}

/// Runs `clone`.
pub fn run(cx: &Context, args: Args) -> Result<Done<CloneReport>, CliError> {
    use tablewright_core::compile::{diff, plan};
    use tablewright_core::schema::desired::{AllowDrops, DesiredSchema};
    let from = args.source(cx)?;
    let config = optional_config(&cx.config)?;
    let history = config.as_ref().map(history_of).unwrap_or_default();
    // A folder imported from drizzle-kit: its history comes along too.
    let drizzle_history = match &config {
        Some(c) => MigrationSet::from_folder(&c.out)
            .ok()
            .and_then(|set| set.drizzle)
            .map(|d| (d.schema, d.table)),
        None => None,
    }
    .or_else(|| Some(("drizzle".to_owned(), "__drizzle_migrations".to_owned())));
    let format = cx.format;
    let printer = EventPrinter::new(format);
    let Args { to, rows, .. } = args;
    block_on(None, async {
        let stop = termination();
        let mut stop = std::pin::pin!(stop);
        let source = runner::Connector::new(from).await?;
        let found = read_schema(&source, None, &history).await?;
        let defined: Vec<String> = found
            .unmodelled
            .iter()
            .filter(|u| {
                matches!(
                    u.kind,
                    runner::introspect::UnmodelledKind::DefinedType { .. }
                        | runner::introspect::UnmodelledKind::Unreadable
                )
            })
            .map(|u| u.note.clone())
            .collect();
        // SERIAL columns: their sequences are made before the tables that draw from them.
        let sequences: Vec<String> = found
            .unmodelled
            .iter()
            .filter_map(|u| match &u.kind {
                runner::introspect::UnmodelledKind::Sequence { sequence } => Some(sequence.clone()),
                _ => None,
            })
            .collect();
        if !defined.is_empty() {
            return Err(input(format!(
                "{}: clone cannot build every table: {}",
                source.target(),
                defined.join("; ")
            )));
        }
        let mut source_conn = source.connect().await?;
        let mut read_namespace =
            async |namespace: &str,
                   table: &str|
                   -> Result<Option<tablewright_core::schema::model::Table>, CliError> {
                let mut found =
                    runner::introspect::introspect(source_conn.pg(), &[namespace.to_owned()])
                        .await
                        .map_err(|e| RunError::db(&format!("reading schema {namespace}"), e))?;
                Ok(found.schema.tables.remove(
                    &tablewright_core::schema::model::qualified_table_name(namespace, table),
                ))
            };
        // The history comes along, and drizzle-kit's (after `import drizzle`), so that
        // `migrate` on the clone decides as it would on the source.
        let history_table = read_namespace(&history.schema, &history.table).await?;
        let drizzle_table = match &drizzle_history {
            Some((schema, table)) => read_namespace(schema, table)
                .await?
                .map(|t| (schema.clone(), t)),
            None => None,
        };

        // No --to: a throwaway server that lives until a signal.
        let (embedded, target_url) = named_or_throwaway(to.as_deref(), &mut stop).await?;
        let clone_target = Target::Postgres {
            url: target_url.clone(),
        };
        let connector = runner::Connector::new(clone_target.clone()).await?;
        let existing = read_schema(&connector, None, &HistoryTable::default()).await?;
        if !existing.schema.tables.is_empty() {
            return Err(input(format!(
                "{clone_target} already has tables ({}); clone builds into an empty database",
                existing
                    .schema
                    .tables
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }

        // A signal stops the build and the copy where they are; what was built stays, and
        // the message says so.
        let work = async {
            // The source's schema without its foreign keys, planned from nothing for
            // PostgreSQL and applied by the runner; the keys come after the rows.
            let plan_between = |from: &Schema, to: &Schema| -> Result<Vec<String>, CliError> {
                let desired = DesiredSchema {
                    schema: to.clone(),
                    ..Default::default()
                };
                let changes = diff::diff(from, &desired, &AllowDrops::default())
                    .map_err(GenerateError::Diff)?;
                Ok(plan::plan(&changes, &desired.schema, Dialect::Postgres)
                    .map_err(GenerateError::Plan)?
                    .sql())
            };
            let unkeyed = Schema {
                tables: found
                    .schema
                    .tables
                    .iter()
                    .map(|(name, t)| {
                        (
                            name.clone(),
                            Table {
                                foreign_keys: Default::default(),
                                ..t.clone()
                            },
                        )
                    })
                    .collect(),
                enums: found.schema.enums.clone(),
            };
            let mut statements = Vec::new();
            for sequence in &sequences {
                statements.extend(runner::clone::sequence_schema_statement(sequence));
                statements.push(runner::clone::create_sequence_statement(sequence).ok_or_else(|| input(format!("{}: a SERIAL default names `{sequence}`, which is not a sequence name clone reads", source.target())))?);
            }
            statements.extend(plan_between(&Schema::default(), &unkeyed)?);
            runner::apply_unrecorded(clone_target.clone(), "clone", statements, "public", &|e| {
                if format == Format::Json {
                    printer.print(e)
                }
            })
            .await?;
            // From here on a failure leaves tables behind in the target: say so.
            let partial = |e: RunError| {
                let e = CliError::from(e);
                if e.class() == tablewright_core::error::ErrorClass::Run {
                    e.context(format!("clone stopped after building the tables in {clone_target}: drop and recreate that database before cloning into it again"))
                } else {
                    e
                }
            };
            let mut whole = Vec::new();
            if let Some(table) = &history_table {
                let empty = MigrationSet {
                    migrations: Vec::new(),
                    origin: "clone".to_owned(),
                    drizzle: None,
                };
                Migrator::new(
                    clone_target.clone(),
                    empty,
                    MigratorOptions {
                        history: history.clone(),
                        lock: false,
                        ..MigratorOptions::default()
                    },
                )
                .await
                .map_err(partial)?
                .run(&|_| {})
                .await
                .map_err(partial)?;
                whole.push(table);
            }
            let mut target_conn = connector.connect().await?;
            if let Some((schema, table)) = &drizzle_table {
                runner::clone::create_drizzle_history(
                    target_conn.pg(),
                    schema,
                    tablewright_core::schema::model::bare_table_name(&table.name),
                )
                .await
                .map_err(partial)?;
                whole.push(table);
            }
            let copied = runner::clone::copy_rows(
                source_conn.pg(),
                target_conn.pg(),
                &found.schema,
                &whole,
                rows,
            )
            .await
            .map_err(partial)?;
            target_conn.close().await;
            // The foreign keys, over rows that now satisfy them.
            let keys = plan_between(&unkeyed, &found.schema)?;
            runner::apply_unrecorded(clone_target.clone(), "clone", keys, "public", &|e| {
                if format == Format::Json {
                    printer.print(e)
                }
            })
            .await
            .map_err(partial)?;
            Ok::<_, CliError>(copied)
        };
        let copied = tokio::select! {
            copied = work => copied?,
            () = &mut stop => return Err(CliError::run("interrupted", format!("clone interrupted; {clone_target} may hold part of the clone: drop and recreate it before cloning into it again"))),
        };
        source_conn.close().await;
        let report = CloneReport {
            source: source.target().to_string(),
            target: runner::redact_url(&target_url),
            tables: found.schema.tables.len(),
            total_rows: copied
                .iter()
                .filter(|c| found.schema.tables.contains_key(&c.table))
                .map(|c| c.copied)
                .sum(),
            copied,
            not_cloned: found.unmodelled.iter().map(|u| u.note.clone()).collect(),
            // The URL of a local, password-less server: nothing secret in it.
            server: embedded.as_ref().map(|server| server.url("postgres")),
        };
        let Some(server) = &report.server else {
            return Ok(Done::ok(report));
        };
        // The report is said now, while the server runs; on JSON, one line on stderr that
        // a script can wait for, the document at the end.
        match format {
            Format::Text => emit(&report.text()),
            Format::Json => crate::output::emit_err(&format!(
                "{}\n",
                serde_json::json!({"event": "clone_ready", "url": server})
            )),
        }
        stop.await;
        Ok(Done {
            report,
            found_problem: false,
            text_shown: format == Format::Text,
        })
    })
}
