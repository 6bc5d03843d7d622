//! The CLI's reader of Rust sources: finds `#[derive(Table)]` structs and
//! `#[requires_table]` functions with `syn::parse_file` and runs the same grammar the
//! derive runs. User code is never compiled.

use crate::schema::desired::{DesiredSchema, Hint, Location, TableSource};
use crate::schema::grammar::{self, Operation, RequiresTable};
use proc_macro2::Span;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// A handler's declared need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handler {
    /// The function's name.
    pub function: String,
    /// The entity type as written (last path segment).
    pub entity: String,
    /// The operations.
    pub operations: Vec<Operation>,
    /// `role = ".."`, when given.
    pub role: Option<String>,
    /// Where the attribute is.
    pub location: Location,
}

/// What the sources declare.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The tables.
    pub desired: DesiredSchema,
    /// The handlers.
    pub handlers: Vec<Handler>,
    /// Rust struct name → table name, for handlers.
    pub entities: Vec<(String, String)>,
    /// Each table's definition as the grammar returned it, in file order (for parity tests).
    pub definitions: Vec<(PathBuf, grammar::TableDef)>,
}

/// An error in a source file, at a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceError {
    /// Where.
    pub location: Location,
    /// What is wrong and what to do.
    pub message: String,
    /// The source line, for display.
    pub source_line: String,
    /// How many characters of that line to underline (at least 1).
    pub width: usize,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.location, self.message)
    }
}

/// Reading the sources failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A file could not be read.
    #[error("read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Errors in the sources, all of them.
    #[error("{} error(s) in the schema sources", .0.len())]
    Source(Vec<SourceError>),
}

/// Location of a span in `file`.
pub fn location(file: &Path, span: Span) -> Location {
    let start = span.start();
    Location { file: file.to_path_buf(), line: start.line, column: start.column + 1 }
}

struct Collector<'a> {
    file: &'a Path,
    text: &'a str,
    scan: &'a mut Scan,
    errors: &'a mut Vec<SourceError>,
}

impl Collector<'_> {
    fn error(&mut self, span: Span, message: String) {
        let location = location(self.file, span);
        let source_line = self.text.lines().nth(location.line.saturating_sub(1)).unwrap_or("").to_owned();
        let end = span.end();
        let width = if end.line == location.line { (end.column + 1).saturating_sub(location.column).max(1) } else { 1 };
        self.errors.push(SourceError { location, message, source_line, width });
    }

    fn syn_errors(&mut self, error: syn::Error) {
        for e in error {
            self.error(e.span(), e.to_string());
        }
    }

    fn requires(&mut self, function: &syn::Ident, attrs: &[syn::Attribute]) {
        for attr in attrs.iter().filter(|a| a.path().segments.last().is_some_and(|s| s.ident == "requires_table")) {
            match attr.parse_args::<RequiresTable>() {
                Ok(req) => self.scan.handlers.push(Handler {
                    function: function.to_string(),
                    entity: req.table.segments.last().map(|s| s.ident.to_string()).unwrap_or_default(),
                    operations: req.operations,
                    role: req.role.map(|r| r.value),
                    location: location(self.file, attr.pound_token.span),
                }),
                Err(e) => self.syn_errors(e),
            }
        }
    }
}

fn derives_table(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().filter(|a| a.path().is_ident("derive")).any(|a| {
        a.parse_args_with(syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
            .is_ok_and(|paths| paths.iter().any(|p| p.segments.last().is_some_and(|s| s.ident == "Table")))
    })
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        if !derives_table(&item.attrs) {
            return;
        }
        let input = syn::DeriveInput::from(item.clone());
        match grammar::parse_table(&input) {
            Ok(def) => {
                let name = def.table.name.clone();
                if let Some((other, _)) = self.scan.entities.iter().find(|(_, t)| *t == name) {
                    let message = format!("table `{name}` is already described by struct `{other}`: give one a different `#[table(name = \"..\")]`");
                    self.error(def.span, message);
                    return;
                }
                let file = self.file;
                let hint = |s: &grammar::Spanned<String>| Hint { from: s.value.clone(), location: Some(location(file, s.span)) };
                let source = TableSource {
                    rust_name: def.rust_name.to_string(),
                    location: Some(location(file, def.span)),
                    renamed_from: def.renamed_from.as_ref().map(hint),
                    column_renames: def.column_renames.iter().map(|(c, h)| (c.clone(), hint(h))).collect(),
                    column_fills: def.column_fills.clone(),
                    allow_drop: def.allow_drop.iter().map(|s| s.value.clone()).collect(),
                };
                self.scan.entities.push((def.rust_name.to_string(), name.clone()));
                self.scan.desired.schema.tables.insert(name.clone(), def.table.clone());
                self.scan.desired.sources.insert(name, source);
                self.scan.definitions.push((file.to_path_buf(), def));
            }
            Err(e) => self.syn_errors(e),
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.requires(&item.sig.ident, &item.attrs);
        syn::visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.requires(&item.sig.ident, &item.attrs);
        syn::visit::visit_impl_item_fn(self, item);
    }
}

/// Reads every file and collects tables and handlers; all errors of all files together.
pub fn scan_files(files: &[PathBuf]) -> Result<Scan, ScanError> {
    let mut scan = Scan::default();
    let mut errors = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| ScanError::Io { path: file.clone(), source })?;
        scan_source(file, &text, &mut scan, &mut errors);
    }
    if errors.is_empty() { Ok(scan) } else { Err(ScanError::Source(errors)) }
}

/// Scans one file's text (as if read from `file`) into `scan`.
pub fn scan_source(file: &Path, text: &str, scan: &mut Scan, errors: &mut Vec<SourceError>) {
    match syn::parse_file(text) {
        Ok(ast) => Collector { file, text, scan, errors }.visit_file(&ast),
        Err(e) => {
            let mut c = Collector { file, text, scan, errors };
            let span = e.span();
            c.error(span, format!("not valid Rust: {e}"));
        }
    }
}
