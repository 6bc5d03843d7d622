//! Everything the CLI prints: readable lines or one JSON document, and the exit code.

use serde_json::{Value, json};
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use tablewright_core::project::config::{Config, ConfigError};
use tablewright_core::compile::diff::DiffError;
use tablewright_core::project::folder::{FolderError, FolderProblem, MigrationFolder};
use tablewright_core::generate::{GenerateError, Migration, PermissionsUpdate};
use tablewright_core::compile::plan::PlanError;
use tablewright_core::runner::RunError;
use tablewright_core::schema::scan::{ScanError, SourceError};

/// The version of the JSON documents' shape, in every one of them: it changes when a
/// field is removed or changes meaning (fields may be added within a version).
pub const FORMAT_VERSION: u32 = 1;

/// Output style.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Why a command did not succeed; decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// A check found a problem (exit 1); already reported.
    CheckFailed,
    /// A check found a problem (exit 1), described by the error.
    CheckFailedWith(anyhow::Error),
    /// Bad input or usage (exit 2).
    Error(anyhow::Error),
    /// The database refused or the run failed (exit 3).
    Runtime(anyhow::Error),
}

/// A command line that does not parse, as clap words it (usage included).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.trim_end().strip_prefix("error: ").unwrap_or(.0.trim_end()))]
pub struct Usage(pub String);

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Error(e.into())
    }
}

/// Collects output; text goes out as it comes, JSON as one document at the end.
pub struct Reporter {
    format: Format,
    json: serde_json::Map<String, Value>,
}

/// Writes to stdout; a closed pipe (`tablewright check | head`) is not an error.
pub fn emit(text: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("error: writing output: {e}");
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

impl Reporter {
    pub fn new(format: Format) -> Reporter {
        Reporter { format, json: serde_json::Map::new() }
    }

    fn set(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_owned(), value);
    }

    /// The output format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The JSON document being built, for commands that fill it themselves.
    pub fn json_mut(&mut self) -> &mut serde_json::Map<String, Value> {
        &mut self.json
    }

    pub fn up_to_date(&mut self, config: &Config, tables: usize) {
        match self.format {
            Format::Text => emit(&format!("No schema changes: {} matches the code ({tables} tables).\n", display(&config.out))),
            Format::Json => self.set("status", json!("up_to_date")),
        }
    }

    pub fn pending(&mut self, config: &Config, migration: Option<&Migration>, permissions: Option<&PermissionsUpdate>) {
        match self.format {
            Format::Text => {
                let mut text = String::new();
                if let Some(m) = migration {
                    text.push_str(&format!("Schema changes not yet in {}:\n", display(&config.out)));
                    for c in &m.changes {
                        text.push_str(&format!("  + {c}\n"));
                    }
                    text.push_str(&warning_lines(&m.warnings));
                }
                if let Some(p) = permissions {
                    text.push_str(&format!("{} is out of date with the #[requires_table] declarations.\n", display(&p.path)));
                }
                text.push_str("Run `tablewright generate` to write them.\n");
                emit(&text);
            }
            Format::Json => {
                self.set("status", json!("pending"));
                if let Some(m) = migration {
                    self.set("tag", json!(m.tag));
                    self.set("changes", json!(m.changes));
                    self.set("warnings", json!(m.warnings));
                }
                self.set("permissions_changed", json!(permissions.is_some()));
            }
        }
    }

    pub fn written(&mut self, migration: Option<&Migration>, permissions: Option<&PermissionsUpdate>) {
        let statements = migration.map(|m| m.plan.statements.len()).unwrap_or(0);
        match self.format {
            Format::Text => {
                let mut text = String::new();
                if let Some(m) = migration {
                    text.push_str(&format!("Wrote migration {} ({statements} statement(s)):\n", m.tag));
                    for c in &m.changes {
                        text.push_str(&format!("  + {c}\n"));
                    }
                    for (path, _) in &m.files {
                        text.push_str(&format!("  {}\n", display(path)));
                    }
                    text.push_str(&warning_lines(&m.warnings));
                }
                if let Some(p) = permissions {
                    text.push_str(&format!("Wrote {} ({} grant(s)).\n", display(&p.path), p.grants));
                }
                emit(&text);
            }
            Format::Json => {
                self.set("status", json!("written"));
                if let Some(m) = migration {
                    self.set("tag", json!(m.tag));
                    self.set("changes", json!(m.changes));
                    self.set("statements", json!(statements));
                    self.set("warnings", json!(m.warnings));
                    self.set("files", json!(m.files.iter().map(|(p, _)| display(p)).collect::<Vec<_>>()));
                }
                if let Some(p) = permissions {
                    self.set("permissions", json!(display(&p.path)));
                }
            }
        }
    }

    pub fn folder_report(&mut self, folder: &MigrationFolder, problems: &[FolderProblem]) {
        match self.format {
            Format::Text if problems.is_empty() => emit(&format!(
                "{}: {} migration(s); journal, files, snapshots and hashes agree.\n",
                display(&folder.dir),
                folder.journal.entries.len()
            )),
            Format::Text => {
                let mut text = format!("{}: {} problem(s):\n", display(&folder.dir), problems.len());
                for p in problems {
                    text.push_str(&format!("  - {p}\n      fix: {}\n", p.fix()));
                }
                emit(&text);
            }
            Format::Json => {
                self.set("status", json!(if problems.is_empty() { "ok" } else { "problems" }));
                self.set("migrations", json!(folder.journal.entries.len()));
                self.set(
                    "problems",
                    Value::Array(
                        problems
                            .iter()
                            .map(|p| {
                                let mut v = serde_json::to_value(p).expect("problems serialise");
                                v["message"] = json!(p.to_string());
                                v["fix"] = json!(p.fix());
                                v
                            })
                            .collect(),
                    ),
                );
            }
        }
    }

    pub fn squashed(&mut self, squash: &tablewright_core::generate::Squash) {
        let first = squash.squashed.first().map(String::as_str).unwrap_or_default();
        let last = squash.squashed.last().map(String::as_str).unwrap_or_default();
        let command = format!("tablewright mark-applied --file {} --reset --yes", squash.tag);
        match self.format {
            Format::Text => {
                let mut text = format!(
                    "Squashed {} migrations ({first} .. {last}) into {} ({} statement(s)); the old files are in {}.\n",
                    squash.squashed.len(),
                    squash.tag,
                    squash.statements,
                    display(&squash.archive)
                );
                for tag in &squash.data_only {
                    text.push_str(&format!(
                        "warning: {tag} changed no schema (a hand-written data migration?): the baseline does not repeat what it did; new databases that need it need it in a new `generate --custom` migration\n"
                    ));
                }
                text.push_str(&format!(
                    "On every database that has applied {last} (where it has not, run `tablewright migrate --folder {}` first), record the baseline in place of the old history:\n  {command} [connection flags]\nA new database gets the baseline from `migrate` as usual.\n",
                    display(&squash.archive)
                ));
                emit(&text);
            }
            Format::Json => {
                self.set("status", json!("squashed"));
                self.set("tag", json!(squash.tag));
                self.set("squashed", json!(squash.squashed));
                self.set("statements", json!(squash.statements));
                self.set("archive", json!(display(&squash.archive)));
                self.set("mark_applied", json!(command));
                self.set("data_only", json!(squash.data_only));
            }
        }
    }

    pub fn imported(&mut self, config: &Config, migrations: &[String], structs: &Path, notes: &[String]) {
        match self.format {
            Format::Text => {
                let mut text = format!(
                    "Imported {} drizzle-kit migration(s) ({}) into {}, SQL files unchanged; entity structs in {}.\n",
                    migrations.len(),
                    migrations.join(", "),
                    display(&config.out),
                    display(structs)
                );
                if !notes.is_empty() {
                    text.push_str(&format!("{} thing(s) the structs and snapshots do not declare as drizzle had them:\n", notes.len()));
                    for n in notes {
                        text.push_str(&format!("  - {n}\n"));
                    }
                }
                if config.dialect == tablewright_core::compile::rules::Dialect::Dsql {
                    text.push_str("The dialect is dsql: drizzle-kit's SQL was written for PostgreSQL; `tablewright check-dsql` lists what DSQL refuses.\n");
                }
                text.push_str("`tablewright migrate` records what drizzle's migrator applied (drizzle.__drizzle_migrations) as applied and runs only the rest; `tablewright generate` now numbers after the last drizzle migration.\n");
                emit(&text);
            }
            Format::Json => {
                self.set("status", json!("imported"));
                self.set("migrations", json!(migrations));
                self.set("structs", json!(display(structs)));
                self.set("not_expressed", json!(notes));
            }
        }
    }

    pub fn rehashed(&mut self, folder: &MigrationFolder, changed: &[tablewright_core::project::folder::Rehashed]) {
        match self.format {
            Format::Text if changed.is_empty() => emit(&format!("{}: every recorded hash already matches its file.\n", display(&folder.journal_path()))),
            Format::Text => {
                let mut text = format!("Recorded new hashes in {}:\n", display(&folder.journal_path()));
                for c in changed {
                    text.push_str(&format!("  {}  {} -> {}\n", c.tag, c.recorded, c.actual));
                }
                text.push_str("A database that applied an earlier version of these files still refuses them (`migrate` exits 1).\n");
                emit(&text);
            }
            Format::Json => {
                self.set("status", json!(if changed.is_empty() { "unchanged" } else { "rehashed" }));
                self.set("rehashed", json!(changed));
            }
        }
    }

    pub fn dsql_report(&mut self, reports: &[(String, Vec<tablewright_core::sql::dsql_check::CheckedStatement>)], summary: &tablewright_core::sql::dsql_check::Summary) {
        match self.format {
            Format::Text => {
                let mut text: String = reports.iter().map(|(file, checked)| tablewright_core::sql::dsql_check::render_text(file, checked)).collect();
                text.push_str(&summary.line());
                text.push('\n');
                emit(&text);
            }
            Format::Json => {
                self.set("status", json!(if summary.errors + summary.recreation == 0 { "ok" } else { "problems" }));
                self.set("files", json!(reports.iter().map(|(file, statements)| json!({"file": file, "statements": statements})).collect::<Vec<_>>()));
                self.set("summary", json!(summary));
            }
        }
    }

    /// Prints the final result and returns the exit code.
    pub fn finish(mut self, result: Result<(), Failure>) -> ExitCode {
        let code = match &result {
            Ok(()) => 0,
            Err(Failure::CheckFailed | Failure::CheckFailedWith(_)) => 1,
            Err(Failure::Error(_)) => 2,
            Err(Failure::Runtime(_)) => 3,
        };
        if let Err(Failure::Error(e) | Failure::CheckFailedWith(e) | Failure::Runtime(e)) = result {
            match self.format {
                Format::Text => eprint!("{}", error_text(&e)),
                Format::Json => {
                    self.set("status", json!("error"));
                    self.set("error", error_json(&e));
                }
            }
        }
        if self.format == Format::Json {
            self.set("format_version", json!(FORMAT_VERSION));
            let mut text = serde_json::to_string_pretty(&Value::Object(self.json)).expect("json serialises");
            text.push('\n');
            emit(&text);
        }
        ExitCode::from(code)
    }
}

fn warning_lines(warnings: &[tablewright_core::compile::warnings::Warning]) -> String {
    warnings.iter().map(|w| format!("warning[{}]: {}: {}\n", w.id, w.change, w.message)).collect()
}

fn source_error_text(e: &SourceError) -> String {
    use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
    let path = e.location.file.display().to_string();
    let report = &[Level::ERROR
        .primary_title(&e.message)
        .element(Snippet::source(&e.lines).line_start(e.location.line).path(&path).annotation(AnnotationKind::Primary.span(e.span_in_lines())))];
    format!("{}\n", Renderer::plain().render(report))
}

/// The readable form of an error: what failed, every item, and the ways out.
fn error_text(e: &anyhow::Error) -> String {
    if let Some(ScanError::Source(errors)) = e.downcast_ref::<ScanError>() {
        let mut text: String = errors.iter().map(source_error_text).collect();
        text.push_str(&format!("error: {} error(s) in the schema sources; nothing was written\n", errors.len()));
        return text;
    }
    if let Some(g) = e.downcast_ref::<GenerateError>() {
        match g {
            GenerateError::Diff(DiffError::UnresolvedDrops(decisions)) => {
                let mut text = format!("error: {} change(s) would drop data; nothing was written. Decide each one:\n", decisions.len());
                for d in decisions {
                    text.push_str(&format!("  - {d}\n"));
                    for (i, way) in d.ways_out().iter().enumerate() {
                        text.push_str(&format!("      {} {way}\n", if i == 0 { "either:" } else { "or:    " }));
                    }
                }
                return text;
            }
            GenerateError::Diff(DiffError::Problems(problems)) => {
                let mut text = String::new();
                for p in problems {
                    match &p.location {
                        Some(l) => text.push_str(&format!("{l}: error: {}\n", p.message)),
                        None => text.push_str(&format!("error: {}\n", p.message)),
                    }
                }
                text.push_str(&format!("error: {} problem(s) in the declared schema; nothing was written\n", problems.len()));
                return text;
            }
            GenerateError::Plan(PlanError::Refused { dialect, refusals }) => {
                let mut text = format!("error: {} change(s) cannot be carried out on {dialect}; nothing was written:\n", refusals.len());
                for r in refusals {
                    text.push_str(&format!("  - {}\n      {}\n", r.change, r.reason));
                }
                return text;
            }
            GenerateError::Denied(denied) => {
                let mut text = warning_lines(denied);
                text.push_str(&format!(
                    "error: {} change(s) denied by --deny or [generate] deny; nothing was written: make the change another way, or generate without the deny\n",
                    denied.len()
                ));
                return text;
            }
                        GenerateError::Permissions(problems) => {
                let mut text: String = problems.iter().map(|p| format!("{}: error: {}\n", p.location, p.message)).collect();
                text.push_str(&format!("error: {} problem(s) in #[requires_table]; nothing was written\n", problems.len()));
                return text;
            }
            GenerateError::Inconsistent(problems) => {
                let mut text = format!("error: the migrations folder has {} problem(s); fix them before generating:\n", problems.len());
                for p in problems {
                    text.push_str(&format!("  - {p}\n      fix: {}\n", p.fix()));
                }
                return text;
            }
            _ => {}
        }
    }
    let mut text = format!("error: {e}\n");
    let mut previous = e.to_string();
    for cause in e.chain().skip(1) {
        // Many messages already include their cause; say each thing once. The driver's
        // own rendering of a server error adds nothing but the server's C source line
        // ("at line 1188"), which reads as a line of the user's SQL: the message above
        // already holds the server's message, DETAIL and HINT.
        let cause = cause.to_string();
        if cause.starts_with("error returned from database: ") {
            continue;
        }
        if !previous.contains(&cause) {
            text.push_str(&format!("  caused by: {cause}\n"));
        }
        previous = cause;
    }
    text
}

/// The machine form of an error: a `kind` and the structured items.
fn error_json(e: &anyhow::Error) -> Value {
    if let Some(ScanError::Source(errors)) = e.downcast_ref::<ScanError>() {
        return json!({"kind": "source", "message": e.to_string(), "errors": errors});
    }
    if let Some(g) = e.downcast_ref::<GenerateError>() {
        match g {
            GenerateError::Diff(DiffError::UnresolvedDrops(decisions)) => {
                let items: Vec<Value> = decisions
                    .iter()
                    .map(|d| {
                        let mut v = serde_json::to_value(d).expect("decisions serialise");
                        v["message"] = json!(d.to_string());
                        v["ways_out"] = json!(d.ways_out());
                        v
                    })
                    .collect();
                return json!({"kind": "decisions_required", "message": e.to_string(), "decisions": items});
            }
            GenerateError::Diff(DiffError::Problems(problems)) => {
                return json!({"kind": "schema", "message": e.to_string(), "problems": problems});
            }
            GenerateError::Plan(PlanError::Refused { dialect, refusals }) => {
                return json!({"kind": "refused", "dialect": dialect, "message": e.to_string(), "refusals": refusals});
            }
            GenerateError::Inconsistent(problems) => {
                return json!({"kind": "folder", "message": e.to_string(), "problems": problems});
            }
            GenerateError::Denied(denied) => {
                return json!({"kind": "denied", "message": e.to_string(), "warnings": denied});
            }
                        GenerateError::Permissions(problems) => {
                return json!({"kind": "permissions", "message": e.to_string(), "problems": problems});
            }
            _ => {}
        }
    }
    let kind = if e.downcast_ref::<Usage>().is_some() {
        "usage"
    } else if e.downcast_ref::<ConfigError>().is_some() {
        "config"
    } else if e.downcast_ref::<FolderError>().is_some() {
        "folder"
    } else if let Some(r) = e.downcast_ref::<RunError>() {
        r.kind()
    } else {
        "io"
    };
    json!({"kind": kind, "message": e.to_string(), "causes": e.chain().skip(1).map(|c| c.to_string()).collect::<Vec<_>>()})
}
