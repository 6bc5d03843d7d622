//! `pull`: a database's tables written as entity structs.

use crate::Context;
use crate::connect::{DbArgs, block_on, history_of, input, optional_config, read_schema_on};
use crate::output::{CliError, Done, Format, Report, emit};
use serde::Serialize;
use std::path::PathBuf;
use tablewright_core::runner;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # write a hand-made database's tables as entity structs
  tablewright pull --connection-string postgres://localhost/app --out src/entities.rs
  # another schema, to standard output
  tablewright pull --connection-string postgres://localhost/app --schema billing

Exit codes: 0 ok, 2 input error (no tables, --out exists), 3 the database could not be read.";

/// `pull`'s flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// The database schema to read.
    #[arg(long = "schema", value_name = "NAME", default_value = "public")]
    namespace: String,
    /// The Rust file to write (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
}

super::outcomes! {
    /// The structs were written.
    Ok,
}

/// What `pull` read and wrote.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct PullReport {
    /// The database.
    pub target: String,
    /// The tables read.
    pub tables: Vec<String>,
    /// The file written; null when the structs went to standard output (`source`).
    pub out: Option<String>,
    /// The structs, when no `--out` was given; null otherwise.
    pub source: Option<String>,
    /// What of the database the structs do not declare.
    pub not_expressed: Vec<String>,
}

impl Report for PullReport {
    type Status = Status;

    fn status(&self) -> Status {
        Status::Ok
    }

    fn text(&self) -> String {
        let mut text = String::new();
        if let Some(path) = &self.out {
            text.push_str(&format!("pull: wrote {} struct(s) from {} to {path}\n", self.tables.len(), self.target));
        }
        text.push_str(&self.notes());
        text
    }
}

impl PullReport {
    fn notes(&self) -> String {
        let mut text = String::new();
        if !self.not_expressed.is_empty() {
            text.push_str(&format!("pull: {} thing(s) of the database the structs do not declare (change them by hand, or keep them out of tablewright):\n", self.not_expressed.len()));
            for n in &self.not_expressed {
                text.push_str(&format!("  - {n}\n"));
            }
        }
        text
    }
}

/// Runs `pull`.
pub fn run(cx: &Context, args: Args) -> Result<Done<PullReport>, CliError> {
    let target = args.db.target(cx)?;
    let history = optional_config(&cx.config)?.as_ref().map(history_of).unwrap_or_default();
    if let Some(path) = &args.out
        && path.exists()
        && !args.force
    {
        return Err(input(format!("{}: already exists; pull writes a new file (choose another --out, or --force to replace it)", path.display())));
    }
    let namespace = &args.namespace;
    block_on(None, async {
        let connector = runner::Connector::new(target).await?;
        // One connection for the schema and, since the structs declare the tables of one
        // schema for now, the tables of the others, which are said rather than passed over.
        let mut conn = connector.connect().await?;
        let found = read_schema_on(&mut conn, namespace, &history).await;
        let skip = [history.schema.clone(), "drizzle".to_owned()];
        let elsewhere = match &found {
            Ok(_) => runner::introspect::tables_elsewhere(conn.pg(), namespace, &skip).await.map_err(|e| runner::RunError::db("reading the catalog", e)),
            Err(_) => Ok(Vec::new()),
        };
        conn.close().await;
        let (found, elsewhere) = (found?, elsewhere?);
        if found.schema.tables.is_empty() {
            return Err(input(format!("{}: schema `{namespace}` holds no tables to pull", connector.target())));
        }
        let entities = tablewright_core::schema::codegen::entities(&found.schema, &format!("{} (schema `{namespace}`)", connector.target()));
        let mut not_expressed: Vec<String> = found.unmodelled.iter().map(|u| u.note.clone()).collect();
        not_expressed.extend(entities.not_expressed.iter().cloned());
        not_expressed.extend(elsewhere.into_iter().map(|(schema, table)| {
            tablewright_core::error::printable(&format!("table `{schema}.{table}` is in schema `{schema}`, which this pull does not read: the structs declare the tables of one schema (`--schema {schema}` reads that one)")).into_owned()
        }));
        if let Some(path) = &args.out {
            tablewright_core::project::fsio::write_all_or_nothing(&[(path.clone(), entities.source.clone().into_bytes())])?;
        }
        let report = PullReport {
            target: connector.target().to_string(),
            tables: found.schema.tables.keys().cloned().collect(),
            out: args.out.as_ref().map(|p| p.display().to_string()),
            source: if args.out.is_none() { Some(entities.source) } else { None },
            not_expressed,
        };
        // To standard output, the structs are the output: the notes go to stderr.
        if cx.format == Format::Text
            && let Some(source) = &report.source
        {
            emit(source);
            crate::output::emit_err(&report.notes());
            return Ok(Done { report, found_problem: false, text_shown: true });
        }
        Ok(Done::ok(report))
    })
}
