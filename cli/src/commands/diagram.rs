//! `diagram`: the schema the structs declare, as a Mermaid entity-relationship diagram.

use crate::Context;
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use tablewright_core::project::config::Config;
use tablewright_core::schema::diagram::Diagram;
use tablewright_core::schema::scan;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # every table, as Mermaid (paste it into Markdown inside ```mermaid)
  tablewright diagram
  # two tables and the tables they are related to
  tablewright diagram --table books --table authors
  # the tables, columns and relationships as data
  tablewright diagram --format json

Exit codes: 0 ok, 2 input error (a source that does not read, an unknown --table).";

/// `diagram`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Only this table (its SQL name, `schema.name` outside `public`) and the tables it is
    /// related to, by name. Repeatable.
    #[arg(long = "table", value_name = "TABLE")]
    tables: Vec<String>,
}

super::outcomes! {
    /// The diagram.
    Ok,
}

/// The diagram, as Mermaid text and as data.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DiagramReport {
    /// The Mermaid `erDiagram` text.
    pub mermaid: String,
    /// The tables and relationships it draws.
    pub diagram: Diagram,
}

impl Report for DiagramReport {
    type Status = Status;

    fn status(&self) -> Status {
        Status::Ok
    }

    fn text(&self) -> String {
        self.mermaid.clone()
    }
}

/// Runs `diagram`.
pub fn run(cx: &Context, args: Args) -> Result<Done<DiagramReport>, CliError> {
    let config = Config::load(&cx.config)?;
    let files = config.schema_files()?;
    let scanned = scan::scan_files(&files, &tablewright_core::schema::sql_text::ParsedFragments)?;
    let diagram = Diagram::of(&scanned.desired.schema, &args.tables)?;
    Ok(Done::ok(DiagramReport {
        mermaid: diagram.mermaid(),
        diagram,
    }))
}
