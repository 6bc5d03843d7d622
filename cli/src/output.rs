//! Everything the CLI prints at the end of a command, and its exit code: a command's typed
//! report, as text for people or as one JSON document of a fixed shape for machines, and
//! its error, whose class decides the exit code (here, and nowhere else).

use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use tablewright_core::error::{Classified, ErrorClass, ErrorItem};

/// The version of the JSON documents' shape, in every one of them: it changes when a
/// field is removed or changes meaning (fields may be added within a version). 2: the
/// fixed shape `{format_version, command, status, report, error}`, with error items.
pub const FORMAT_VERSION: u32 = 3;

/// The command ran to its end and found no problem.
pub const EXIT_OK: u8 = 0;
/// A check found a problem (`generate --check`, `check`, `drift`, `verify`, `status`
/// with edited or unknown migrations, ..).
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Bad input or usage: config, sources, flags, refused changes, files.
pub const EXIT_INPUT: u8 = 2;
/// The database refused a statement or the run failed; rerun to resume.
pub const EXIT_RUN_FAILED: u8 = 3;

/// The exit code of an error class: the one place they are mapped.
pub fn exit_code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Check => EXIT_CHECK_FAILED,
        ErrorClass::Input => EXIT_INPUT,
        ErrorClass::Run => EXIT_RUN_FAILED,
    }
}

/// Output style.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON document on stdout (events as JSON lines on stderr).
    Json,
}

/// Set when a write to stdout or stderr failed: the exit code then says the run failed,
/// whatever the command did (`tablewright status > /dev/full` is not a success).
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; a closed pipe (`tablewright check | head`) is not an error. Control
/// characters other than line ends and tabs are escaped: no value the text holds (a tag
/// from a database's history, a name from its catalog) writes to the terminal itself.
pub fn emit(text: &str) {
    write_or_record(&mut io::stdout().lock(), text);
}

/// [`emit`], to stderr: errors, notes and event lines.
pub fn emit_err(text: &str) {
    write_or_record(&mut io::stderr().lock(), text);
}

fn write_or_record(out: &mut dyn Write, text: &str) {
    let safe = tablewright_core::error::terminal_safe(text);
    if let Err(e) = out.write_all(safe.as_bytes()).and_then(|_| out.flush())
        && e.kind() != io::ErrorKind::BrokenPipe
        && !WRITE_FAILED.swap(true, Ordering::Relaxed)
    {
        // Said once, on stderr, if stderr still takes it.
        let _ = writeln!(io::stderr(), "error: writing output: {e}");
    }
}

/// What a command reports when it ran to its end.
pub trait Report: Serialize {
    /// Its one-word outcome, the document's `status`.
    type Status: Serialize;
    /// The outcome this report amounts to (the JSON document's `status`).
    fn status(&self) -> Self::Status;
    /// The report for people.
    fn text(&self) -> String;
}

/// A command that ran to its end: its report, and whether it found a problem (exit 1).
pub struct Done<R> {
    /// The report, printed as its text or as the JSON document's `report`.
    pub report: R,
    /// A check found a problem.
    pub found_problem: bool,
    /// The text was printed already, while the command ran (`clone` prints its report,
    /// then serves the throwaway server until a signal).
    pub text_shown: bool,
}

impl<R> Done<R> {
    /// A report that found no problem (exit 0).
    pub fn ok(report: R) -> Done<R> {
        Done {
            report,
            found_problem: false,
            text_shown: false,
        }
    }

    /// Success when `problem` is false; a check that found a problem otherwise.
    pub fn checked(report: R, problem: bool) -> Done<R> {
        Done {
            report,
            found_problem: problem,
            text_shown: false,
        }
    }
}

/// Every JSON document: the same five keys, whatever the outcome. `report` is the
/// command's report (null when the command failed before it had one), `error` null unless
/// it failed.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Document<R, S> {
    /// The version of the documents' shape (`FORMAT_VERSION`): 3.
    pub format_version: u32,
    /// The command, as typed (`generate`, `permissions apply`); null for a command line
    /// that did not parse.
    pub command: Option<String>,
    /// The command's outcome, or `error`.
    pub status: Outcome<S>,
    /// The command's report.
    pub report: Option<R>,
    /// Why it failed.
    pub error: Option<ErrorReport>,
}

/// A command's own outcome, or `error`.
#[derive(Serialize)]
#[serde(untagged)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub enum Outcome<S> {
    /// The command's outcome.
    Done(S),
    /// It failed: `error` says why.
    Failed(Failed),
}

/// The status of a failed command.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub enum Failed {
    /// See `error`.
    Error,
}

/// An error, for machines.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ErrorReport {
    /// A stable name: `config`, `source`, `decisions_required`, `statement_failed`, ..
    pub kind: String,
    /// Which exit code it has: `input` 2, `check` 1, `run` 3.
    pub class: ErrorClass,
    /// What failed, for people.
    pub message: String,
    /// What caused it, outermost first.
    pub causes: Vec<String>,
    /// The things it names, one each.
    pub items: Vec<ErrorItem>,
}

/// Why a command failed: the error of the library it came from, or the CLI's own.
#[derive(Debug)]
pub struct CliError(ErrorReport);

impl<E: Classified> From<E> for CliError {
    fn from(e: E) -> CliError {
        CliError(ErrorReport {
            kind: e.kind().to_owned(),
            class: e.class(),
            message: e.to_string(),
            causes: e.causes(),
            items: e.items(),
        })
    }
}

impl CliError {
    fn new(class: ErrorClass, kind: &str, message: impl Into<String>) -> CliError {
        CliError(ErrorReport {
            kind: kind.to_owned(),
            class,
            message: message.into(),
            causes: Vec::new(),
            items: Vec::new(),
        })
    }

    /// Bad input or usage (exit 2).
    pub fn input(kind: &str, message: impl Into<String>) -> CliError {
        CliError::new(ErrorClass::Input, kind, message)
    }

    /// A check found a problem (exit 1).
    pub fn check(kind: &str, message: impl Into<String>) -> CliError {
        CliError::new(ErrorClass::Check, kind, message)
    }

    /// The run failed (exit 3).
    pub fn run(kind: &str, message: impl Into<String>) -> CliError {
        CliError::new(ErrorClass::Run, kind, message)
    }

    /// A file that could not be read or written (exit 2).
    pub fn io(path: &std::path::Path, e: &io::Error) -> CliError {
        CliError::input("io", format!("{}: {e}", path.display()))
    }

    /// Its class, which decides the exit code ([`exit_code`]).
    pub fn class(&self) -> ErrorClass {
        self.0.class
    }

    /// The same error under a message that says what it means here; the old message
    /// becomes the first cause.
    pub fn context(mut self, message: impl Into<String>) -> CliError {
        let old = std::mem::replace(&mut self.0.message, message.into());
        self.0.causes.insert(0, old);
        self
    }
}

/// Prints the report or the error of `command` and returns the exit code.
pub fn finish<R: Report>(
    command: &str,
    format: Format,
    result: Result<Done<R>, CliError>,
) -> ExitCode {
    let code = match &result {
        Ok(done) if done.found_problem => EXIT_CHECK_FAILED,
        Ok(_) => EXIT_OK,
        Err(e) => exit_code(e.class()),
    };
    match format {
        Format::Text => match &result {
            Ok(done) if !done.text_shown => emit(&done.report.text()),
            Ok(_) => {}
            Err(e) => emit_err(&error_text(&e.0)),
        },
        Format::Json => {
            let document = match result {
                Ok(done) => Document {
                    format_version: FORMAT_VERSION,
                    command: Some(command.to_owned()),
                    status: Outcome::Done(done.report.status()),
                    report: Some(done.report),
                    error: None,
                },
                Err(e) => Document {
                    format_version: FORMAT_VERSION,
                    command: Some(command.to_owned()),
                    status: Outcome::Failed(Failed::Error),
                    report: None,
                    error: Some(e.0),
                },
            };
            emit_json(&document);
        }
    }
    if WRITE_FAILED.load(Ordering::Relaxed) {
        return ExitCode::from(code.max(EXIT_RUN_FAILED));
    }
    ExitCode::from(code)
}

/// A command line clap refused, as one JSON document (exit 2).
pub fn usage_document(message: String) -> ExitCode {
    let document: Document<(), ()> = Document {
        format_version: FORMAT_VERSION,
        command: None,
        status: Outcome::Failed(Failed::Error),
        report: None,
        error: Some(CliError::input("usage", message).0),
    };
    emit_json(&document);
    ExitCode::from(EXIT_INPUT)
}

fn emit_json(document: &impl Serialize) {
    let mut text = serde_json::to_string_pretty(document).expect("reports serialise");
    text.push('\n');
    emit(&text);
}

/// The readable form of an error: the items it names (with the source drawn under each
/// one that has a place, as rustc draws it) and what failed, then the causes.
fn error_text(e: &ErrorReport) -> String {
    let fixes = |item: &ErrorItem, text: &mut String| match item.fix.as_slice() {
        [] => {}
        [one] => text.push_str(&format!("      fix: {one}\n")),
        several => {
            for (i, way) in several.iter().enumerate() {
                text.push_str(&format!(
                    "      {} {way}\n",
                    if i == 0 { "either:" } else { "or:    " }
                ));
            }
        }
    };
    let mut text = String::new();
    if e.items.iter().any(|i| i.location.is_some()) {
        // As a compiler: each error at its place, then the summary.
        for item in &e.items {
            match (&item.location, &item.snippet) {
                (Some(at), Some(snippet)) => {
                    text.push_str(&snippet_text(&item.detail, at, snippet))
                }
                (Some(at), None) => text.push_str(&format!("{at}: error: {}\n", item.detail)),
                (None, _) => text.push_str(&format!("error: {}\n", item.detail)),
            }
            fixes(item, &mut text);
        }
        text.push_str(&format!("error: {}\n", e.message));
    } else if !e.items.is_empty() {
        // A message that ends in a statement's text takes no colon after it.
        text.push_str(&format!(
            "error: {}{}\n",
            e.message,
            if e.message.contains('\n') { "" } else { ":" }
        ));
        for item in &e.items {
            text.push_str(&format!("  - {}\n", item.detail));
            fixes(item, &mut text);
        }
    } else {
        text.push_str(&format!("error: {}\n", e.message));
    }
    let mut previous = e.message.clone();
    for cause in &e.causes {
        // Many messages already include their cause: say each thing once.
        if !previous.contains(cause.as_str()) {
            text.push_str(&format!("  caused by: {cause}\n"));
        }
        previous = cause.clone();
    }
    text
}

fn snippet_text(
    message: &str,
    at: &tablewright_core::error::Span,
    snippet: &tablewright_core::error::Snippet,
) -> String {
    use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
    let report = &[Level::ERROR.primary_title(message).element(
        Snippet::source(&snippet.lines)
            .line_start(at.line)
            .path(&at.file)
            .annotation(AnnotationKind::Primary.span(snippet.range.clone())),
    )];
    format!("{}\n", Renderer::plain().render(report))
}

/// An item of the library with its sentence for people beside its fields.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Described<T> {
    /// The item's fields.
    #[serde(flatten)]
    pub item: T,
    /// The item, for people.
    pub message: String,
}

impl<T: std::fmt::Display> Described<T> {
    /// `item` with its own sentence.
    pub fn new(item: T) -> Described<T> {
        Described {
            message: item.to_string(),
            item,
        }
    }
}
