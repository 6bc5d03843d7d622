//! The CLI's reader of Rust sources: finds `#[derive(Table)]` structs and
//! `#[requires_table]` functions with `syn::parse_file` and runs the same grammar the
//! derive runs. User code is never compiled.

use crate::schema::desired::{DesiredSchema, Hint, Location, TableSource};
use crate::schema::grammar::{self, Operation, RequiresTable, SqlFragments};
use proc_macro2::Span;
use quote::ToTokens;
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
    sql: &'a dyn SqlFragments,
    /// How many enclosing modules are behind `#[cfg(..)]`.
    cfg_gated: usize,
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

/// How deep brackets may nest in a scanned file. The parser recurses per level, so a
/// deeper file (generated code, say) is reported instead of overflowing the stack.
pub const MAX_NESTING: usize = 128;

/// The first group nested deeper than [`MAX_NESTING`], walked without recursion.
fn too_deep(tokens: proc_macro2::TokenStream) -> Option<Span> {
    let mut stack = vec![(tokens.into_iter(), 0usize)];
    while let Some((iter, depth)) = stack.last_mut() {
        let depth = *depth;
        match iter.next() {
            Some(proc_macro2::TokenTree::Group(g)) => {
                if depth + 1 > MAX_NESTING {
                    return Some(g.span_open());
                }
                stack.push((g.stream().into_iter(), depth + 1));
            }
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    None
}

/// Whether `tokens` hold `derive(.. Table ..)` anywhere (a macro's body, a `cfg_attr`).
fn mentions_derive_table(tokens: proc_macro2::TokenStream) -> bool {
    let mut stack = vec![tokens.into_iter()];
    let mut after_derive = false;
    while let Some(iter) = stack.last_mut() {
        match iter.next() {
            Some(proc_macro2::TokenTree::Ident(i)) => after_derive = i == "derive",
            Some(proc_macro2::TokenTree::Group(g)) => {
                if after_derive && g.stream().into_iter().any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "Table")) {
                    return true;
                }
                after_derive = false;
                stack.push(g.stream().into_iter());
            }
            Some(_) => after_derive = false,
            None => {
                stack.pop();
            }
        }
    }
    false
}

fn is_cfg(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("cfg")
}

fn derives_table(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().filter(|a| a.path().is_ident("derive")).any(|a| {
        a.parse_args_with(syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
            .is_ok_and(|paths| paths.iter().any(|p| p.segments.last().is_some_and(|s| s.ident == "Table")))
    })
}

impl Collector<'_> {
    /// A `#[derive(Table)]` the scanner cannot take as is: `Some(why)`.
    fn unreadable_table(&self, attrs: &[syn::Attribute]) -> Option<String> {
        if attrs.iter().any(|a| a.path().is_ident("cfg_attr") && mentions_derive_table(a.meta.to_token_stream())) {
            return Some("`#[derive(Table)]` under `#[cfg_attr(..)]`: the CLI does not know which features are on; derive it unconditionally".into());
        }
        if !derives_table(attrs) {
            return None;
        }
        if self.cfg_gated > 0 || attrs.iter().any(is_cfg) {
            return Some("a `#[derive(Table)]` struct behind `#[cfg(..)]`: the CLI does not know whether it is compiled; remove the `cfg`, or keep the struct out of the files `schema` lists".into());
        }
        None
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let gated = item.attrs.iter().any(is_cfg);
        self.cfg_gated += usize::from(gated);
        syn::visit::visit_item_mod(self, item);
        self.cfg_gated -= usize::from(gated);
    }

    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        if derives_table(&item.attrs) {
            self.error(item.ident.span(), format!("`#[derive(Table)]` works on structs only, and `{}` is an enum: describe the table with a struct", item.ident));
        }
    }

    fn visit_item_union(&mut self, item: &'ast syn::ItemUnion) {
        if derives_table(&item.attrs) {
            self.error(item.ident.span(), format!("`#[derive(Table)]` works on structs only, and `{}` is a union", item.ident));
        }
    }

    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        if mentions_derive_table(item.mac.tokens.clone()) {
            self.error(
                item.mac.path.segments.last().map(|s| s.ident.span()).unwrap_or_else(Span::call_site),
                "a `#[derive(Table)]` inside a macro: the CLI reads source, not macro expansions, so it cannot see this table; write the struct out".into(),
            );
        }
    }

    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        if let Some(why) = self.unreadable_table(&item.attrs) {
            self.error(item.ident.span(), why);
            return;
        }
        if !derives_table(&item.attrs) {
            return;
        }
        // The compiler drops a `cfg`-gated field before the derive sees it; the CLI cannot
        // tell whether it would.
        let gated: Vec<&syn::Field> = item.fields.iter().filter(|f| f.attrs.iter().any(|a| is_cfg(a) || a.path().is_ident("cfg_attr"))).collect();
        if !gated.is_empty() {
            for field in gated {
                let name = field.ident.as_ref().map(|i| format!("`{i}`")).unwrap_or_else(|| "this field".into());
                let span = field.ident.as_ref().map(|i| i.span()).unwrap_or_else(|| item.ident.span());
                self.error(span, format!("{name} is behind `#[cfg(..)]` or `#[cfg_attr(..)]`: the CLI does not know which features are on, so a table's columns cannot depend on them"));
            }
            return;
        }
        let input = syn::DeriveInput::from(item.clone());
        match grammar::parse_table_with(&input, self.sql) {
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
/// `sql` checks the SQL inside attributes.
pub fn scan_files(files: &[PathBuf], sql: &dyn SqlFragments) -> Result<Scan, ScanError> {
    let mut scan = Scan::default();
    let mut errors = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| ScanError::Io { path: file.clone(), source })?;
        scan_source(file, &text, &mut scan, &mut errors, sql);
    }
    if errors.is_empty() { Ok(scan) } else { Err(ScanError::Source(errors)) }
}

/// Scans one file's text (as if read from `file`) into `scan`.
pub fn scan_source(file: &Path, text: &str, scan: &mut Scan, errors: &mut Vec<SourceError>, sql: &dyn SqlFragments) {
    let mut c = Collector { file, text, scan, errors, sql, cfg_gated: 0 };
    // Lexing builds nested groups without recursion; only then may the parser recurse.
    match text.parse::<proc_macro2::TokenStream>().map(too_deep) {
        Ok(Some(span)) => return c.error(span, format!("brackets nest deeper than {MAX_NESTING} levels here, which the scanner does not read: split the expression, or keep this file out of the files `schema` lists")),
        Err(e) => return c.error(e.span(), format!("not valid Rust: {e}")),
        Ok(None) => {}
    }
    // The parser recurses on more than brackets (`A<A<..>>`, `!!!x`): it runs on a stack
    // with room for any file a person would write (address space, touched only as deep as
    // the file goes).
    stacker::grow(PARSER_STACK_BYTES, || match syn::parse_file(text) {
        Ok(ast) => c.visit_file(&ast),
        Err(e) => {
            let span = e.span();
            c.error(span, format!("not valid Rust: {e}"));
        }
    });
}

/// The parser's stack.
const PARSER_STACK_BYTES: usize = 256 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::grammar::LexicalChecks;

    fn errors(text: &str) -> (Scan, Vec<String>) {
        let mut scan = Scan::default();
        let mut errors = Vec::new();
        scan_source(Path::new("s.rs"), text, &mut scan, &mut errors, &LexicalChecks);
        (scan, errors.into_iter().map(|e| format!("{}: {}", e.location, e.message)).collect())
    }

    #[test]
    fn what_the_scanner_cannot_read_is_reported_not_guessed() {
        let (scan, found) = errors(
            "#[cfg(feature = \"never\")]\n#[derive(Table)]\npub struct Gated { pub id: i64 }\n\
             #[cfg(test)]\nmod tests { #[derive(Table)] pub struct InTests { pub id: i64 } }\n\
             #[cfg_attr(feature = \"db\", derive(Table))]\npub struct Maybe { pub id: i64 }\n\
             #[derive(Table)]\npub enum Mood { Happy }\n\
             make_tables! { #[derive(Table)] pub struct Made { pub id: i64 } }\n\
             #[derive(Table)]\npub struct Empty {}\n",
        );
        assert!(scan.desired.schema.tables.is_empty(), "{:?}", scan.desired.schema.tables.keys());
        assert_eq!(found.len(), 6, "{found:#?}");
        assert!(found[0].starts_with("s.rs:3:12: a `#[derive(Table)]` struct behind `#[cfg(..)]`"), "{found:#?}");
        assert!(found[1].contains("behind `#[cfg(..)]`"), "{found:#?}");
        assert!(found[2].contains("`#[cfg_attr(..)]`"), "{found:#?}");
        assert!(found[3].contains("is an enum"), "{found:#?}");
        assert!(found[4].contains("inside a macro"), "{found:#?}");
        assert!(found[5].contains("at least one column"), "{found:#?}");
    }

    #[test]
    fn deep_nesting_is_reported_without_overflowing_the_stack() {
        let depth = 5_000;
        let text = format!("fn f() -> i32 {{ {}1{} }}", "(".repeat(depth), ")".repeat(depth));
        // A small stack, as a test thread has: the scanner must not recurse per level.
        let found = std::thread::Builder::new().stack_size(1 << 20).spawn(move || errors(&text).1).unwrap().join().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains(&format!("deeper than {MAX_NESTING} levels")), "{found:?}");
        // Nesting that is not brackets: the parser thread has room for it.
        for text in [format!("type T = {}u8{};", "Option<".repeat(depth), ">".repeat(depth)), format!("fn f() -> bool {{ {}true }}", "!".repeat(depth))] {
            let found = std::thread::Builder::new().stack_size(1 << 20).spawn(move || errors(&text).1).unwrap().join().unwrap();
            assert!(found.is_empty(), "{found:?}");
        }
    }

    #[test]
    fn fields_behind_cfg_are_reported() {
        let (scan, found) = errors("#[derive(Table)]\npub struct T {\n    #[column(primary_key)]\n    pub id: i64,\n    #[cfg(feature = \"x\")]\n    pub extra: i64,\n}\n");
        assert!(scan.desired.schema.tables.is_empty());
        assert_eq!(found, ["s.rs:6:9: `extra` is behind `#[cfg(..)]` or `#[cfg_attr(..)]`: the CLI does not know which features are on, so a table's columns cannot depend on them"]);
    }
}
