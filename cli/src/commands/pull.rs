//! `pull`: a database's tables written as entity structs.

use crate::Context;
use crate::connect::{
    DbArgs, application_schemas, block_on, history_of, input, optional_config, read_schema_on,
};
use crate::output::{CliError, Done, Format, Report, emit};
use serde::Serialize;
use std::path::PathBuf;
use tablewright_core::runner;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # write a hand-made database's tables as entity structs
  tablewright pull --connection-string postgres://localhost/app --out src/entities.rs
  # only the tables of schema billing, to standard output
  tablewright pull --connection-string postgres://localhost/app --schema billing

Exit codes: 0 ok, 2 input error (no tables, --out exists), 3 the database could not be read.";

/// `pull`'s flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Read only this schema (repeatable; default: every schema that holds tables, apart
    /// from PostgreSQL's own and the history schemas).
    #[arg(long = "schema", value_name = "NAME")]
    namespaces: Vec<String>,
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
    /// The database, its password masked (`postgres at postgres://app:***@db/app`).
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
            text.push_str(&format!(
                "pull: wrote {} struct(s) from {} to {path}\n",
                self.tables.len(),
                self.target
            ));
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
    let history = optional_config(&cx.config)?
        .as_ref()
        .map(history_of)
        .unwrap_or_default();
    if let Some(path) = &args.out
        && path.exists()
        && !args.force
    {
        return Err(input(format!(
            "{}: already exists; pull writes a new file (choose another --out, or --force to replace it)",
            path.display()
        )));
    }
    block_on(None, async {
        let connector = runner::Connector::new(target).await?;
        // One connection for the schemas read and the tables of the others, which a
        // narrowed pull lists rather than passes over.
        let mut conn = connector.connect().await?;
        let read = async |conn: &mut runner::Conn| {
            let namespaces = if args.namespaces.is_empty() {
                application_schemas(conn, &history).await?
            } else {
                args.namespaces.clone()
            };
            let found = read_schema_on(conn, &namespaces, &history).await?;
            let skip = [history.schema.clone(), "drizzle".to_owned()];
            let elsewhere = runner::introspect::tables_elsewhere(conn.pg(), &namespaces, &skip)
                .await
                .map_err(|e| runner::RunError::db("reading the catalog", e))?;
            Ok::<_, CliError>((namespaces, found, elsewhere))
        };
        let read = read(&mut conn).await;
        conn.close().await;
        let (namespaces, found, elsewhere) = read?;
        let described = namespaces
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if found.schema.tables.is_empty() {
            return Err(input(format!(
                "{}: schema(s) {described} hold no tables to pull",
                connector.target()
            )));
        }
        let entities = tablewright_core::schema::codegen::entities(
            &found.schema,
            &format!("{} (schema(s) {described})", connector.target()),
        );
        let mut not_expressed: Vec<String> =
            found.unmodelled.iter().map(|u| u.note.clone()).collect();
        not_expressed.extend(found.beside_notes());
        not_expressed.extend(entities.not_expressed.iter().cloned());
        not_expressed.extend(elsewhere.into_iter().map(|(schema, table)| {
            tablewright_core::error::printable(&format!("table `{schema}.{table}` is in schema `{schema}`, which this pull does not read (`--schema {schema}` adds it)")).into_owned()
        }));
        if let Some(path) = &args.out {
            tablewright_core::project::fsio::write_all_or_nothing(&[(
                path.clone(),
                entities.source.clone().into_bytes(),
            )])?;
        }
        let report = PullReport {
            target: connector.target().to_string(),
            tables: found.schema.tables.keys().cloned().collect(),
            out: args.out.as_ref().map(|p| p.display().to_string()),
            source: if args.out.is_none() {
                Some(entities.source)
            } else {
                None
            },
            not_expressed,
        };
        // To standard output, the structs are the output: the notes go to stderr.
        if cx.format == Format::Text
            && let Some(source) = &report.source
        {
            emit(source);
            crate::output::emit_err(&report.notes());
            return Ok(Done {
                report,
                found_problem: false,
                text_shown: true,
            });
        }
        Ok(Done::ok(report))
    })
}
