//! The CLI's reader of Rust sources: finds `#[derive(Table)]` structs and
//! `#[requires_table]` functions with `syn::parse_file` and runs the same grammar the
//! derive runs. User code is never compiled.

use crate::schema::desired::{DesiredSchema, EnumSource, Hint, Location, TableSource};
use crate::schema::grammar::{self, Operation, RequiresTable, SqlFragments};
use proc_macro2::Span;
use quote::ToTokens;
use serde::Serialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// A handler's declared need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Handler {
    /// The function's name.
    pub function: String,
    /// The entity type as written (last path segment).
    pub entity: String,
    /// What it does to the table, deduplicated, in the order the attribute lists them.
    pub operations: Vec<Operation>,
    /// `role = ".."`, when given.
    pub role: Option<String>,
    /// Where the attribute is.
    pub location: Location,
}

/// What the sources declare.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The tables and enum types the sources declare, with where each is declared.
    pub desired: DesiredSchema,
    /// One per `#[requires_table]` attribute, in file and source order.
    pub handlers: Vec<Handler>,
    /// Rust struct name → table name, for handlers.
    pub entities: Vec<(String, String)>,
}

/// An error in a source file, at a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SourceError {
    /// Where the offending text starts (it ends at `end_line`, `end_column`).
    pub location: Location,
    /// What is wrong and what to do.
    pub message: String,
    /// The source line, for display.
    pub source_line: String,
    /// How many characters of that line to underline (at least 1).
    pub width: usize,
    /// Where the offending text ends: its last line (1-based) and the column after it
    /// (1-based characters), which may be on a later line than `location`.
    pub end_line: usize,
    /// See `end_line`.
    pub end_column: usize,
    /// The source lines from `location` to `end_line`, for display.
    #[serde(skip)]
    pub lines: String,
}

impl SourceError {
    /// The error at `location` up to `end` (`(line, column)` after the text), in `text`.
    fn new(text: &str, location: Location, end: (usize, usize), message: String) -> SourceError {
        let (end_line, end_column) =
            if end.0 < location.line || (end.0 == location.line && end.1 <= location.column) {
                (location.line, location.column + 1)
            } else {
                end
            };
        let lines: Vec<&str> = text
            .lines()
            .skip(location.line.saturating_sub(1))
            .take(end_line + 1 - location.line)
            .collect();
        let width = if end_line == location.line {
            end_column - location.column
        } else {
            1
        };
        SourceError {
            source_line: lines.first().copied().unwrap_or("").to_owned(),
            width,
            end_line,
            end_column,
            lines: lines.join("\n"),
            location,
            message,
        }
    }

    /// The byte range of the offending text within [`Self::lines`] (never empty, unless the
    /// lines are).
    pub(crate) fn span_in_lines(&self) -> std::ops::Range<usize> {
        let byte_at = |line: &str, column: usize| {
            line.char_indices()
                .nth(column.saturating_sub(1))
                .map_or(line.len(), |(i, _)| i)
        };
        let mut line_start = 0;
        let (mut start, mut end) = (None, None);
        for (i, line) in self.lines.split('\n').enumerate() {
            if i == 0 {
                start = Some(byte_at(line, self.location.column));
            }
            if i + self.location.line == self.end_line {
                end = Some(line_start + byte_at(line, self.end_column));
            }
            line_start += line.len() + 1;
        }
        let start = start.unwrap_or(0);
        let end = end.unwrap_or(self.lines.len()).max(start);
        if end > start {
            return start..end;
        }
        // An empty span underlines the character there (or the line's end).
        let next = self.lines[start..].chars().next().map_or(0, char::len_utf8);
        start..start + next
    }
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
    #[allow(missing_docs)] // the field names say what they hold
    Io {
        /// The Rust source file, as the config's `schema` patterns matched it.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Errors in the sources, all of them.
    #[error("{} error(s) in the schema sources; nothing was written", .0.len())]
    Source(Vec<SourceError>),
}

/// Location of a span in `file`.
pub fn location(file: &Path, span: Span) -> Location {
    let start = span.start();
    Location {
        file: file.to_path_buf(),
        line: start.line,
        column: start.column + 1,
    }
}

/// What a file (or a piece of one) holds, in source order. Spans are already turned into
/// locations, so that pieces read on other threads can be merged.
// A table is the common case and is moved once into the scan: boxing it saves nothing.
#[allow(clippy::large_enum_variant)]
enum Found {
    Table {
        rust_name: String,
        table: crate::schema::model::Table,
        source: TableSource,
        /// The struct's name and its width, for the error if another struct already took
        /// the table.
        name_at: (Location, (usize, usize)),
    },
    Enum {
        enum_type: crate::schema::model::EnumType,
        source: EnumSource,
        name_at: (Location, (usize, usize)),
    },
    Handler(Handler),
    Error(SourceError),
}

/// Adds what one file (or piece) held to `scan`, in order: a table already described by
/// an earlier struct, in this file or an earlier one, is an error at the later struct.
fn absorb(found: Vec<Found>, text: &str, scan: &mut Scan, errors: &mut Vec<SourceError>) {
    for f in found {
        match f {
            Found::Table {
                rust_name,
                table,
                source,
                name_at,
            } => {
                let name = table.name.clone();
                if let Some(other) = scan.desired.sources.get(&name).map(|s| &s.rust_name) {
                    let message = format!(
                        "table `{name}` is already described by struct `{other}`: give one a different `#[table(name = \"..\")]`"
                    );
                    let (location, end) = name_at;
                    errors.push(SourceError::new(text, location, end, message));
                    continue;
                }
                scan.entities.push((rust_name, name.clone()));
                scan.desired.schema.tables.insert(name.clone(), table);
                scan.desired.sources.insert(name, source);
            }
            Found::Enum {
                enum_type,
                source,
                name_at,
            } => {
                let name = enum_type.name.clone();
                if let Some(other) = scan.desired.enum_sources.get(&name).map(|s| &s.rust_name) {
                    let message = format!(
                        "enum type `{name}` is already declared by enum `{other}`: give one a different `#[enum_type(name = \"..\")]`"
                    );
                    let (location, end) = name_at;
                    errors.push(SourceError::new(text, location, end, message));
                    continue;
                }
                scan.desired.schema.enums.insert(name.clone(), enum_type);
                scan.desired.enum_sources.insert(name, source);
            }
            Found::Handler(h) => scan.handlers.push(h),
            Found::Error(e) => errors.push(e),
        }
    }
}

struct Collector<'a> {
    file: &'a Path,
    /// The whole file, for the source lines of errors (a piece's spans count its lines).
    text: &'a str,
    found: Vec<Found>,
    sql: &'a dyn SqlFragments,
    /// How many enclosing modules are behind `#[cfg(..)]`.
    cfg_gated: usize,
    /// Lines of the file before the piece being read (0 for a whole file).
    line_offset: usize,
}

impl Collector<'_> {
    /// Where `span` starts, and where it ends: the line and the 1-based column after it.
    fn place(&self, span: Span) -> (Location, (usize, usize)) {
        let end = span.end();
        (self.at(span), (end.line + self.line_offset, end.column + 1))
    }

    /// Where `span` is in the file.
    fn at(&self, span: Span) -> Location {
        let mut location = location(self.file, span);
        location.line += self.line_offset;
        location
    }

    fn error(&mut self, span: Span, message: String) {
        let (location, end) = self.place(span);
        self.found.push(Found::Error(SourceError::new(
            self.text, location, end, message,
        )));
    }

    fn syn_errors(&mut self, error: syn::Error) {
        for e in error {
            self.error(e.span(), e.to_string());
        }
    }

    fn requires(&mut self, function: &syn::Ident, attrs: &[syn::Attribute]) {
        for attr in attrs.iter().filter(|a| {
            a.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "requires_table")
        }) {
            match attr.parse_args::<RequiresTable>() {
                Ok(req) => self.found.push(Found::Handler(Handler {
                    function: function.to_string(),
                    entity: req
                        .table
                        .segments
                        .last()
                        .map(|s| s.ident.to_string())
                        .unwrap_or_default(),
                    operations: req.operations,
                    role: req.role.map(|r| r.value),
                    location: self.at(attr.pound_token.span),
                })),
                Err(e) => self.syn_errors(e),
            }
        }
    }
}

/// How deep brackets may nest in a scanned file. The parser recurses per level, so a
/// deeper file (generated code, say) is reported instead of overflowing the stack.
pub(crate) const MAX_NESTING: usize = 128;

/// How long a chain the parser may recurse through, or build a tree as deep as, without
/// nesting brackets: `Option<Option<..>>`, `!!x`, `&&&T`, `*const *const T`, `|| || x`,
/// `impl Fn() -> impl Fn() -> ..`, `a = b = c`, `if .. else if ..`, `.. .. x`, `x()()()`,
/// `a.b().c()`, `x as T as T`. (The parser reads calls, fields and casts in a loop, but the
/// tree it builds is as deep as the chain, and the scanner's walk and its drop recurse
/// through it.) Counted as the operator tokens (every punctuation but `, ; : # '`), the
/// `(..)` and `[..]` groups, and the keywords that open or continue such a chain, from the
/// last `,` or `;` of the enclosing groups, or the last `{..}` not followed by `else` (an
/// item or a statement ends there); a statement of ordinary code holds a few dozen. The parser's stack
/// (`PARSER_STACK_BYTES`) has room for this many levels of every kind with a wide margin
/// (`deep_nesting_is_reported_without_overflowing_the_stack`).
pub(crate) const MAX_CHAIN: usize = 1_000;

const CHAIN_KEYWORDS: &[&str] = &[
    "if", "else", "return", "break", "move", "async", "impl", "dyn", "fn", "let", "box", "yield",
    "match", "while", "for", "loop", "unsafe", "static", "as", "await",
];

/// Where the tokens nest deeper than the parser may follow, and how: the first group
/// deeper than [`MAX_NESTING`], or the first token of a chain longer than [`MAX_CHAIN`].
/// Walked without recursion.
fn too_deep(tokens: proc_macro2::TokenStream) -> Option<(Span, String)> {
    use proc_macro2::{Spacing, TokenTree};
    /// An open group as the walk sees it.
    struct Frame {
        tokens: proc_macro2::token_stream::IntoIter,
        depth: usize,
        /// The chain the group was opened in, and the chain now.
        base: usize,
        chain: usize,
        /// `<` not yet closed by `>`: a `,` between them (`Map<K, Map<K, ..>>`) ends nothing.
        angles: usize,
        /// The last token was a `{..}`, or a `-` or `=` joined to what follows (`->`, `=>`).
        after_brace: bool,
        arrow_next: bool,
    }
    let frame = |tokens: proc_macro2::TokenStream, depth, chain| Frame {
        tokens: tokens.into_iter(),
        depth,
        base: chain,
        chain,
        angles: 0,
        after_brace: false,
        arrow_next: false,
    };
    let mut stack = vec![frame(tokens, 0, 0)];
    while let Some(f) = stack.last_mut() {
        let next = f.tokens.next();
        if std::mem::take(&mut f.after_brace)
            && f.angles == 0
            && !matches!(&next, Some(TokenTree::Ident(i)) if i == "else")
        {
            f.chain = f.base;
        }
        let arrow = std::mem::take(&mut f.arrow_next);
        let counts = match next {
            None => {
                stack.pop();
                continue;
            }
            Some(TokenTree::Group(g)) => {
                if f.depth + 1 > MAX_NESTING {
                    return Some((
                        g.span_open(),
                        format!("brackets nest deeper than {MAX_NESTING} levels here"),
                    ));
                }
                f.after_brace = g.delimiter() == proc_macro2::Delimiter::Brace;
                // A call or an index adds a level to the tree after what it follows.
                if matches!(
                    g.delimiter(),
                    proc_macro2::Delimiter::Parenthesis | proc_macro2::Delimiter::Bracket
                ) {
                    f.chain += 1;
                    if f.chain > MAX_CHAIN {
                        return Some((
                            g.span_open(),
                            format!(
                                "operators and keywords chain more than {MAX_CHAIN} deep here (`Option<Option<..>>`, `!!..`, `else if ..`, `x()()..`)"
                            ),
                        ));
                    }
                }
                let inner = frame(g.stream(), f.depth + 1, f.chain);
                stack.push(inner);
                continue;
            }
            Some(TokenTree::Punct(p)) => match p.as_char() {
                ',' | ';' => {
                    if f.angles == 0 {
                        f.chain = f.base;
                    }
                    None
                }
                ':' | '#' | '\'' => None,
                c => {
                    match c {
                        '<' => f.angles += 1,
                        '>' if !arrow => f.angles = f.angles.saturating_sub(1),
                        '-' | '=' => f.arrow_next = p.spacing() == Spacing::Joint,
                        _ => {}
                    }
                    Some(p.span())
                }
            },
            Some(TokenTree::Ident(i)) => CHAIN_KEYWORDS.iter().any(|k| i == k).then(|| i.span()),
            Some(TokenTree::Literal(_)) => None,
        };
        if let Some(span) = counts {
            f.chain += 1;
            if f.chain > MAX_CHAIN {
                return Some((
                    span,
                    format!(
                        "operators and keywords chain more than {MAX_CHAIN} deep here (`Option<Option<..>>`, `!!..`, `else if ..`)"
                    ),
                ));
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
                if after_derive
                    && g.stream()
                        .into_iter()
                        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "Table"))
                {
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
    derives(attrs, "Table")
}

fn derives(attrs: &[syn::Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|paths| {
                paths
                    .iter()
                    .any(|p| p.segments.last().is_some_and(|s| s.ident == name))
            })
        })
}

impl Collector<'_> {
    /// A `#[derive(Table)]` the scanner cannot take as is: `Some(why)`.
    fn unreadable_table(&self, attrs: &[syn::Attribute]) -> Option<String> {
        if attrs.iter().any(|a| {
            a.path().is_ident("cfg_attr") && mentions_derive_table(a.meta.to_token_stream())
        }) {
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
        if derives(&item.attrs, "Enum") {
            if item.attrs.iter().any(is_cfg) || self.cfg_gated > 0 {
                self.error(item.ident.span(), "a `#[derive(Enum)]` behind `#[cfg(..)]`: the CLI does not know whether it is compiled; remove the `cfg`".into());
                return;
            }
            match grammar::parse_enum_item(item) {
                Ok(def) => {
                    let hint = |s: &grammar::Spanned<String>| Hint {
                        from: s.value.clone(),
                        location: Some(self.at(s.span)),
                    };
                    let source = EnumSource {
                        rust_name: def.rust_name.to_string(),
                        location: Some(self.at(def.span)),
                        value_renames: def
                            .value_renames
                            .iter()
                            .map(|(v, h)| (v.clone(), hint(h)))
                            .collect(),
                        allow_drop: def.allow_drop.iter().map(|s| s.value.clone()).collect(),
                    };
                    let name_at = self.place(def.span);
                    self.found.push(Found::Enum {
                        enum_type: def.enum_type,
                        source,
                        name_at,
                    });
                }
                Err(e) => self.syn_errors(e),
            }
        }
    }

    fn visit_item_union(&mut self, item: &'ast syn::ItemUnion) {
        if derives_table(&item.attrs) {
            self.error(
                item.ident.span(),
                format!(
                    "`#[derive(Table)]` works on structs only, and `{}` is a union",
                    item.ident
                ),
            );
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
        let gated: Vec<&syn::Field> = item
            .fields
            .iter()
            .filter(|f| {
                f.attrs
                    .iter()
                    .any(|a| is_cfg(a) || a.path().is_ident("cfg_attr"))
            })
            .collect();
        if !gated.is_empty() {
            for field in gated {
                let name = field
                    .ident
                    .as_ref()
                    .map(|i| format!("`{i}`"))
                    .unwrap_or_else(|| "this field".into());
                let span = field
                    .ident
                    .as_ref()
                    .map(|i| i.span())
                    .unwrap_or_else(|| item.ident.span());
                self.error(span, format!("{name} is behind `#[cfg(..)]` or `#[cfg_attr(..)]`: the CLI does not know which features are on, so a table's columns cannot depend on them"));
            }
            return;
        }
        match grammar::parse_table_with(item, self.sql) {
            Ok(def) => {
                let hint = |s: &grammar::Spanned<String>| Hint {
                    from: s.value.clone(),
                    location: Some(self.at(s.span)),
                };
                let source = TableSource {
                    rust_name: def.rust_name.to_string(),
                    location: Some(self.at(def.span)),
                    renamed_from: def.renamed_from.as_ref().map(hint),
                    column_renames: def
                        .column_renames
                        .iter()
                        .map(|(c, h)| (c.clone(), hint(h)))
                        .collect(),
                    column_fills: def.column_fills,
                    allow_drop: def.allow_drop.iter().map(|s| s.value.clone()).collect(),
                    absorbed_uniques: def.absorbed_uniques,
                    object_locations: def
                        .object_spans
                        .iter()
                        .map(|(name, span)| (name.clone(), self.at(*span)))
                        .collect(),
                    enum_columns: def
                        .enum_columns
                        .iter()
                        .map(|(c, h)| (c.clone(), hint(h)))
                        .collect(),
                };
                let name_at = self.place(def.span);
                self.found.push(Found::Table {
                    rust_name: def.rust_name.to_string(),
                    table: def.table,
                    source,
                    name_at,
                });
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
///
/// Files, and pieces of large files, are read on every core; what they hold is merged in
/// file and source order, so the result is the same as reading them one after the other.
pub fn scan_files(files: &[PathBuf], sql: &(dyn SqlFragments + Sync)) -> Result<Scan, ScanError> {
    let mut texts = Vec::with_capacity(files.len());
    for file in files {
        texts.push(
            std::fs::read_to_string(file).map_err(|source| ScanError::Io {
                path: file.clone(),
                source,
            })?,
        );
    }
    let units: Vec<(usize, Option<Piece>)> = texts
        .iter()
        .enumerate()
        .filter(|(_, text)| names_a_table(text))
        .flat_map(|(f, text)| {
            let pieces = pieces(text);
            let whole = pieces.len() == 1;
            pieces
                .into_iter()
                .map(move |piece| (f, (!whole).then_some(piece)))
        })
        .collect();
    let read = |&(f, ref piece): &(usize, Option<Piece>)| {
        read_unit(&files[f], &texts[f], piece.clone(), sql)
    };
    // Workers take units in turn; the results are put back in unit order.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(units.len());
    let next_unit = std::sync::atomic::AtomicUsize::new(0);
    let mut read_units: Vec<(usize, Option<Vec<Found>>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next_unit.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(unit) = units.get(i) else { break done };
                        done.push((i, read(unit)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    read_units.sort_by_key(|(i, _)| *i);
    let results = read_units.into_iter().map(|(_, found)| found);

    let mut scan = Scan::default();
    let mut errors = Vec::new();
    let mut results = units.iter().map(|(f, _)| *f).zip(results).peekable();
    while let Some((f, first)) = results.next() {
        let mut file_found = vec![first];
        while let Some((_, found)) = results.next_if(|(next, _)| *next == f) {
            file_found.push(found);
        }
        match file_found.into_iter().collect::<Option<Vec<Vec<Found>>>>() {
            Some(pieces) => pieces
                .into_iter()
                .for_each(|found| absorb(found, &texts[f], &mut scan, &mut errors)),
            // A piece did not read cleanly: the whole file again, as one, so that its errors
            // are exactly those of the file.
            None => absorb(
                read_source(&files[f], &texts[f], &texts[f], 0, sql),
                &texts[f],
                &mut scan,
                &mut errors,
            ),
        }
    }
    if errors.is_empty() {
        Ok(scan)
    } else {
        Err(ScanError::Source(errors))
    }
}

/// Scans one file's text (as if read from `file`) into `scan`.
pub fn scan_source(
    file: &Path,
    text: &str,
    scan: &mut Scan,
    errors: &mut Vec<SourceError>,
    sql: &dyn SqlFragments,
) {
    if names_a_table(text) {
        absorb(read_source(file, text, text, 0, sql), text, scan, errors);
    }
}

/// Whether a file can hold anything the scanner reads: with neither `Table` nor
/// `requires_table` in it, no derive, handler or misplaced derive can be there.
fn names_a_table(text: &str) -> bool {
    text.contains("Table") || text.contains("requires_table") || text.contains("Enum")
}

/// Above this size a file is read in pieces, so that one large file uses every core.
const PIECE_BYTES: usize = 32 << 10;

/// Byte ranges that cover `text`, about [`PIECE_BYTES`] apart, each cut at the start of a
/// line that opens an item's attributes or doc comment (`#[`, `///`) after a line that
/// ends in `}` or `;`. A cut that is not between two items after all (inside a string,
/// a comment or a block) leaves a piece that does not read cleanly, and then the whole
/// file is read as one.
fn pieces(text: &str) -> Vec<Piece> {
    let mut cuts = vec![0];
    let mut from = PIECE_BYTES;
    while from < text.len() {
        let Some(at) = text.as_bytes()[from..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let cut = from + at + 1;
        if text.len() - cut < PIECE_BYTES / 2 {
            break;
        }
        let line = &text[cut..];
        if (line.starts_with("#[") || line.starts_with("///"))
            && text[..cut].trim_end().ends_with(['}', ';'])
        {
            cuts.push(cut);
            from = cut + PIECE_BYTES;
        } else {
            from = cut;
        }
    }
    cuts.push(text.len());
    let mut lines_before = 0;
    cuts.windows(2)
        .map(|w| {
            let piece = Piece {
                bytes: w[0]..w[1],
                lines_before,
            };
            lines_before += text.as_bytes()[w[0]..w[1]]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            piece
        })
        .collect()
}

/// A piece of a file: its bytes, and how many lines come before it.
#[derive(Debug, Clone)]
struct Piece {
    bytes: Range<usize>,
    lines_before: usize,
}

/// What one file or piece holds; `None` when a piece does not read cleanly.
fn read_unit(
    file: &Path,
    text: &str,
    piece: Option<Piece>,
    sql: &dyn SqlFragments,
) -> Option<Vec<Found>> {
    let Some(piece) = piece else {
        return Some(read_source(file, text, text, 0, sql));
    };
    let found = read_source(file, text, &text[piece.bytes], piece.lines_before, sql);
    (!found.iter().any(|f| matches!(f, Found::Error(_)))).then_some(found)
}

/// What `source` (the whole file `text`, or a piece of it after `line_offset` lines)
/// holds, in order.
fn read_source(
    file: &Path,
    text: &str,
    source: &str,
    line_offset: usize,
    sql: &dyn SqlFragments,
) -> Vec<Found> {
    let mut c = Collector {
        file,
        text,
        found: Vec::new(),
        sql,
        cfg_gated: 0,
        line_offset,
    };
    // Lexed once: the nesting check and the parser share the tokens. Lexing builds nested
    // groups without recursion; only then may the parser recurse.
    let source = if line_offset == 0 {
        without_shebang(source)
    } else {
        source
    };
    let tokens = match source.parse::<proc_macro2::TokenStream>() {
        Ok(tokens) => tokens,
        Err(e) => {
            c.error(e.span(), format!("not valid Rust: {e}"));
            return c.found;
        }
    };
    if let Some((span, why)) = too_deep(tokens.clone()) {
        c.error(span, format!("{why}, which the scanner does not read: split the expression, or keep this file out of the files `schema` lists"));
        return c.found;
    }
    // The parser recurses on more than brackets (`A<A<..>>`, `!!!x`): it runs on a stack
    // with room for any file a person would write (address space, touched only as deep as
    // the file goes).
    stacker::grow(PARSER_STACK_BYTES, || {
        match syn::parse2::<syn::File>(tokens) {
            Ok(ast) => c.visit_file(&ast),
            Err(e) => {
                let span = e.span();
                c.error(span, format!("not valid Rust: {e}"));
            }
        }
    });
    c.found
}

/// `text` without a leading `#!..` line (a script's interpreter, as `syn::parse_file`
/// skips it); an inner attribute `#![..]` stays.
fn without_shebang(text: &str) -> &str {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match text.strip_prefix("#!") {
        Some(rest) if !rest.trim_start().starts_with('[') => {
            rest.find('\n').map_or("", |end| &text[2 + end..])
        }
        _ => text,
    }
}

/// The parser's stack.
const PARSER_STACK_BYTES: usize = 256 << 20;

impl crate::error::Classified for ScanError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        match self {
            ScanError::Io { .. } => "io",
            ScanError::Source(_) => "source",
        }
    }

    fn items(&self) -> Vec<crate::error::ErrorItem> {
        let ScanError::Source(errors) = self else {
            return Vec::new();
        };
        errors
            .iter()
            .map(|e| {
                let mut location = crate::error::Span::from(&e.location);
                location.end_line = Some(e.end_line);
                location.end_column = Some(e.end_column);
                let snippet = crate::error::Snippet {
                    lines: e.lines.clone(),
                    range: e.span_in_lines(),
                };
                crate::error::ErrorItem {
                    location: Some(location),
                    snippet: Some(snippet),
                    ..crate::error::ErrorItem::new("source", &e.message)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::grammar::LexicalChecks;

    fn errors(text: &str) -> (Scan, Vec<String>) {
        let mut scan = Scan::default();
        let mut errors = Vec::new();
        scan_source(
            Path::new("s.rs"),
            text,
            &mut scan,
            &mut errors,
            &LexicalChecks,
        );
        (
            scan,
            errors
                .into_iter()
                .map(|e| format!("{}: {}", e.location, e.message))
                .collect(),
        )
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
        assert!(
            scan.desired.schema.tables.is_empty(),
            "{:?}",
            scan.desired.schema.tables.keys()
        );
        assert_eq!(found.len(), 6, "{found:#?}");
        assert!(
            found[0].starts_with("s.rs:3:12: a `#[derive(Table)]` struct behind `#[cfg(..)]`"),
            "{found:#?}"
        );
        assert!(found[1].contains("behind `#[cfg(..)]`"), "{found:#?}");
        assert!(found[2].contains("`#[cfg_attr(..)]`"), "{found:#?}");
        assert!(found[3].contains("is an enum"), "{found:#?}");
        assert!(found[4].contains("inside a macro"), "{found:#?}");
        assert!(found[5].contains("at least one column"), "{found:#?}");
    }

    #[test]
    fn deep_nesting_is_reported_without_overflowing_the_stack() {
        let depth = 5_000;
        // Files that never name `Table` are skipped unread (below): these do.
        let text = format!(
            "use tablewright_derive::Table;\nfn f() -> i32 {{ {}1{} }}",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        // A small stack, as a test thread has: the scanner must not recurse per level.
        let found = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || errors(&text).1)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains(&format!("deeper than {MAX_NESTING} levels")),
            "{found:?}"
        );
    }

    /// Every chain the parser recurses through without brackets, as deep as the count
    /// lets it (parsed on the parser's own stack: the 1 MiB caller does not matter), one
    /// level deeper (refused before the parser runs), and the probe's 50,000 levels, which
    /// ended the process with SIGSEGV.
    #[test]
    fn chains_without_brackets_are_parsed_up_to_the_limit_and_refused_past_it() {
        // (the text before the chain, one level, the innermost text, what closes a level, the end)
        let chains: &[(&str, &str, &str, &str, &str)] = &[
            ("type T = ", "Option<", "u8", ">", ";"),
            ("type T = ", "HashMap<u8, ", "u8", ">", ";"),
            ("type T = ", "Result<u8, Option<", "u8", ">>", ";"),
            ("fn f() -> bool { ", "1 < 2 && ", "true", "", " }"),
            ("type T = ", "&'static ", "u8", "", ";"),
            ("type T = ", "*const ", "u8", "", ";"),
            ("type T = ", "impl Fn() -> ", "u8", "", ";"),
            ("fn f() -> bool { ", "!", "true", "", " }"),
            ("fn f() -> i64 { ", "-", "1", "", " }"),
            ("fn f() { let g = ", "|| ", "1", "", "; }"),
            ("fn f() { let mut a = 0; ", "a = ", "1", "", "; }"),
            ("fn f() { ", "if true {} else ", "{}", "", " }"),
            ("fn f() -> i64 { ", "return ", "1", "", " }"),
            ("fn f() { let x = ", ".. ", "1", "", "; }"),
            ("fn f() { let x = g", "()", "", "", "; }"),
            ("fn f() { let x = v", "[0]", "", "", "; }"),
            ("fn f() { let x = a", ".b()", "", "", "; }"),
            ("fn f() { let x = 1", " as u8", "", "", "; }"),
            ("fn f() { let x = || { ", "|| { ", "1", " }", " }; }"),
        ];
        let text = |(before, level, inner, close, end): (&str, &str, &str, &str, &str),
                    levels: usize| {
            format!(
                "use tablewright_derive::Table;\n{before}{}{inner}{}{end}",
                level.repeat(levels),
                close.repeat(levels)
            )
        };
        for &chain in chains {
            let refused = |levels: usize| too_deep(text(chain, levels).parse().unwrap()).is_some();
            // The deepest chain the count lets through.
            let (mut fits, mut over) = (0, MAX_CHAIN + 1);
            while over - fits > 1 {
                let mid = (fits + over) / 2;
                if refused(mid) { over = mid } else { fits = mid }
            }
            assert!(fits >= MAX_NESTING - 2, "{chain:?}: only {fits} levels fit");
            for (levels, expect_refused) in [(fits, false), (fits + 1, true), (50_000, true)] {
                let source = text(chain, levels);
                let found = std::thread::Builder::new()
                    .stack_size(1 << 20)
                    .spawn(move || errors(&source).1)
                    .unwrap()
                    .join()
                    .unwrap();
                if expect_refused {
                    let limit = [
                        format!("more than {MAX_CHAIN} deep"),
                        format!("deeper than {MAX_NESTING} levels"),
                    ];
                    assert!(
                        found.len() == 1 && limit.iter().any(|l| found[0].contains(l)),
                        "{chain:?} x {levels}: {found:?}"
                    );
                } else {
                    assert!(found.is_empty(), "{chain:?} x {levels}: {found:?}");
                }
            }
        }
    }

    #[test]
    fn files_that_never_name_a_table_are_not_read() {
        // Neither `Table` nor `requires_table`: skipped, even though it is not Rust.
        assert!(errors("fn main() { let x = ; }").1.is_empty());
        assert!(
            errors("#[derive(Debug)] struct S; fn main() { let x = ; }")
                .1
                .is_empty()
        );
        // Either word, and the file is parsed.
        assert_eq!(errors("// Table\nfn main() { let x = ; }").1.len(), 1);
        assert_eq!(
            errors("#[requires_table(Book, select)]\nfn h() {}\nfn main() { let x = ; }")
                .1
                .len(),
            1
        );
        // A shebang line is skipped as the compiler skips it; spans keep their lines.
        let (_, found) =
            errors("#!/usr/bin/env run-cargo-script\n#[derive(Table)]\npub struct E {}\n");
        assert!(found[0].starts_with("s.rs:3:12:"), "{found:?}");
    }

    /// A file several pieces long: tables (one named twice, far apart), handlers, doc
    /// comments, and `extra` placed between them.
    fn large_source(extra: &str) -> String {
        let mut text = String::from("//! Tables.\nuse tablewright_derive::Table;\n");
        for i in 0..1_200 {
            let name = if i == 1_100 {
                "t3".to_owned()
            } else {
                format!("t{i}")
            };
            text.push_str(&format!(
                "\n/// Table {i}.\n#[derive(Table)]\n#[table(name = \"{name}\")]\n#[index(columns(a{i}, b{i}))]\npub struct T{i} {{\n    #[column(primary_key)]\n    pub id: i64,\n    pub a{i}: String,\n    #[column(sql_type = \"varchar(64)\", unique)]\n    pub b{i}: String,\n}}\n\n#[requires_table(T{i}, select, insert)]\npub fn handler_{i}() {{}}\n"
            ));
            if i == 700 {
                text.push_str(extra);
            }
        }
        text
    }

    #[test]
    fn a_large_file_read_in_pieces_gives_what_it_gives_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        for extra in [
            "",
            // A cut inside a string: that piece does not lex, and the file is read whole.
            &format!(
                "const S: &str = \"{}\";\n",
                "x;\n#[derive(Table)]\n".repeat(5_000)
            ),
            // An error in one piece: the errors are exactly those of the whole file.
            "#[derive(Table)]\npub struct Broken {\n    #[column(bogus)]\n    pub id: i64,\n}\n",
        ] {
            let text = large_source(extra);
            assert!(
                pieces(&text).len() > 3,
                "{} bytes in {} piece(s)",
                text.len(),
                pieces(&text).len()
            );
            for piece in pieces(&text).iter().skip(1) {
                assert!(
                    text[piece.bytes.clone()].starts_with("#[")
                        || text[piece.bytes.clone()].starts_with("///")
                );
                assert_eq!(
                    piece.lines_before,
                    text[..piece.bytes.start].lines().count()
                );
            }
            let path = dir.path().join("big.rs");
            std::fs::write(&path, &text).unwrap();
            let mut whole = Scan::default();
            let mut whole_errors = Vec::new();
            scan_source(&path, &text, &mut whole, &mut whole_errors, &LexicalChecks);
            let (scan, errors) = match scan_files(&[path], &LexicalChecks) {
                Ok(scan) => (scan, Vec::new()),
                Err(ScanError::Source(errors)) => (Scan::default(), errors),
                Err(e) => panic!("{e}"),
            };
            assert!(!whole_errors.is_empty(), "t3 is described twice");
            assert_eq!(errors, whole_errors);
            assert!(
                whole_errors
                    .iter()
                    .any(|e| e.message.contains("already described by struct `T3`")),
                "{whole_errors:?}"
            );
            assert!(
                scan.desired.schema.tables.is_empty() && whole.desired.schema.tables.len() >= 1_199
            );
        }
        // Without errors: the same tables, sources, entities and handlers, in order.
        let text = large_source("").replace(
            "\"t3\")]\n#[index(columns(a1100",
            "\"t1100\")]\n#[index(columns(a1100",
        );
        let path = dir.path().join("clean.rs");
        std::fs::write(&path, &text).unwrap();
        let mut whole = Scan::default();
        let mut whole_errors = Vec::new();
        scan_source(&path, &text, &mut whole, &mut whole_errors, &LexicalChecks);
        assert!(whole_errors.is_empty(), "{whole_errors:?}");
        // Every piece reads cleanly on its own: the pieces, not the fallback, gave the scan.
        assert!(
            pieces(&text).into_iter().all(|piece| read_unit(
                &path,
                &text,
                Some(piece),
                &LexicalChecks
            )
            .is_some())
        );
        let scan = scan_files(&[path], &LexicalChecks).unwrap();
        assert_eq!(scan.desired, whole.desired);
        assert_eq!(scan.entities, whole.entities);
        assert_eq!(scan.handlers, whole.handlers);
        assert_eq!(scan.desired.schema.tables.len(), 1_200);
        assert_eq!(
            scan.desired.sources["t1150"]
                .location
                .as_ref()
                .map(|l| l.line),
            text.lines()
                .position(|l| l == "pub struct T1150 {")
                .map(|i| i + 1)
        );
    }

    #[test]
    fn fields_behind_cfg_are_reported() {
        let (scan, found) = errors(
            "#[derive(Table)]\npub struct T {\n    #[column(primary_key)]\n    pub id: i64,\n    #[cfg(feature = \"x\")]\n    pub extra: i64,\n}\n",
        );
        assert!(scan.desired.schema.tables.is_empty());
        assert_eq!(
            found,
            [
                "s.rs:6:9: `extra` is behind `#[cfg(..)]` or `#[cfg_attr(..)]`: the CLI does not know which features are on, so a table's columns cannot depend on them"
            ]
        );
    }
}
