//! The attribute grammar, shared by `#[derive(Table)]` and the CLI scanner.
//!
//! Both readers hand the struct to [`parse_table`] (the derive's [`syn::DeriveInput`],
//! the scanner's [`syn::ItemStruct`], borrowed as a [`StructInput`]) and get the same
//! [`TableDef`]; that is what makes the derive's model and the CLI's model equal by
//! construction. Parsing never stops at the first mistake: every malformed, unknown or
//! duplicated attribute is recorded with the span of the offending tokens (serde's `Ctxt`
//! pattern) and all of them come back together as one combined [`syn::Error`].

use crate::schema::model::{
    self, Check, Column, ForeignKey, Identity, Index, IndexKey, IndexMethod, KeyTarget, PrimaryKey,
    ReferentialAction, SqlExpr, SqlType, Table, Unique,
};
use crate::schema::types;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use syn::ext::IdentExt as _;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{
    Attribute, Data, DeriveInput, Expr, Fields, GenericArgument, Ident, Lit, LitStr, PathArguments,
    Token, Type,
};

/// Keys accepted in `#[table(..)]`.
pub(crate) const TABLE_KEYS: &[&str] = &["name", "schema", "renamed_from", "allow_drop"];
/// Keys accepted in `#[column(..)]`.
pub(crate) const COLUMN_KEYS: &[&str] = &[
    "name",
    "primary_key",
    "unique",
    "sql_type",
    "default",
    "fill",
    "renamed_from",
    "references",
    "on_delete",
    "on_update",
    "foreign_key_name",
    "identity",
    "collation",
    "enum_type",
    "skip",
];
/// Keys accepted in `#[enum_type(..)]`.
pub(crate) const ENUM_KEYS: &[&str] = &["name", "schema", "allow_drop"];
/// Keys accepted in `#[value(..)]` on an enum's variant.
pub(crate) const VALUE_KEYS: &[&str] = &["name", "renamed_from"];
/// Keys accepted in `#[index(..)]`.
pub(crate) const INDEX_KEYS: &[&str] = &["columns", "unique", "name", "method", "include", "where"];
/// Words that may follow an index key in `columns(..)`.
pub(crate) const INDEX_KEY_OPTIONS: &[&str] = &[
    "asc",
    "desc",
    "nulls_first",
    "nulls_last",
    "ops",
    "collation",
];
/// Keys accepted in `#[foreign_key(..)]`.
pub(crate) const FOREIGN_KEY_KEYS: &[&str] = &[
    "columns",
    "references",
    "name",
    "on_delete",
    "on_update",
    "match_full",
    "deferrable",
    "initially_deferred",
];
/// Keys accepted in `#[column(identity(..))]`.
pub(crate) const IDENTITY_KEYS: &[&str] = &["always", "start", "increment", "cache"];
/// Keys accepted in `#[unique(..)]` and `#[primary_key(..)]`.
pub(crate) const KEY_KEYS: &[&str] = &["columns", "name"];
/// Keys accepted in `#[check(..)]`.
pub(crate) const CHECK_KEYS: &[&str] = &["name", "expr"];
/// A value written in the source, with where it was written (for hints whose meaning is
/// only known later, when the diff compares with the previous snapshot).
#[derive(Debug, Clone)]
#[allow(missing_docs)] // the field names say what they hold
pub struct Spanned<T> {
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// Everything one `#[derive(Table)]` struct says.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// The Rust struct's name.
    pub rust_name: Ident,
    /// The table it describes.
    pub table: Table,
    /// `#[table(renamed_from = "..")]`.
    pub renamed_from: Option<Spanned<String>>,
    /// `#[column(renamed_from = "..")]`, keyed by the column's SQL name.
    pub column_renames: BTreeMap<String, Spanned<String>>,
    /// `#[column(fill = "..")]`, keyed by the column's SQL name: the value existing rows
    /// get when the column becomes NOT NULL (or is added NOT NULL).
    pub column_fills: BTreeMap<String, SqlExpr>,
    /// `#[table(allow_drop(col, ..))]`: columns of the previous snapshot that may be dropped.
    pub allow_drop: Vec<Spanned<String>>,
    /// Rust fields that are columns, with their SQL names, in order.
    pub fields: Vec<(Ident, String)>,
    /// Unique constraints over the primary key's columns, left out as PostgreSQL leaves
    /// them out (the key is unique already): generate warns.
    pub absorbed_uniques: Vec<String>,
    /// Where each index and foreign key was declared, by name, for errors about them.
    pub object_spans: BTreeMap<String, Span>,
    /// `#[column(enum_type = "..")]`: the enum each such column names, and where.
    pub enum_columns: BTreeMap<String, Spanned<String>>,
    /// Where the struct's name is, for errors that concern the whole table.
    pub span: Span,
}

/// Accumulates errors; see the module docs.
#[derive(Default)]
pub struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// Records an error on the given tokens.
    pub fn push(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at a span.
    pub(crate) fn push_span(&mut self, span: Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error produced by syn.
    pub(crate) fn push_error(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// All errors combined, or `Ok` when there were none.
    pub fn finish(self) -> syn::Result<()> {
        let mut iter = self.errors.into_iter();
        match iter.next() {
            None => Ok(()),
            Some(mut first) => {
                for e in iter {
                    first.combine(e);
                }
                Err(first)
            }
        }
    }
}

fn expected_one_of(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tracks which keys of one attribute were already given, to report duplicates.
struct Seen<'a> {
    what: &'a str,
    keys: BTreeSet<String>,
}

impl<'a> Seen<'a> {
    fn new(what: &'a str) -> Self {
        Seen {
            what,
            keys: BTreeSet::new(),
        }
    }

    /// True the first time `key` is seen; records a duplicate error otherwise.
    fn first(&mut self, meta: &ParseNestedMeta, key: &str, errors: &mut Errors) -> bool {
        if self.keys.insert(key.to_owned()) {
            true
        } else {
            errors.push(
                &meta.path,
                format!("duplicate {} attribute `{key}`", self.what),
            );
            false
        }
    }
}

/// Consumes whatever follows an unknown or duplicate key, so parsing can go on.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// The key of `meta` when it is one of `keys` and not a repeat; otherwise records the
/// error, consumes the value and returns `None`.
fn accept_key(
    meta: &ParseNestedMeta,
    keys: &[&str],
    seen: &mut Seen,
    errors: &mut Errors,
) -> syn::Result<Option<String>> {
    let key = key_name(meta);
    if !keys.contains(&key.as_str()) {
        errors.push(
            &meta.path,
            format!(
                "unknown {} attribute `{key}`, expected one of {}",
                seen.what,
                expected_one_of(keys)
            ),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    if !seen.first(meta, &key, errors) {
        skip_value(meta)?;
        return Ok(None);
    }
    Ok(Some(key))
}

fn key_name(meta: &ParseNestedMeta) -> String {
    meta.path
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_else(|| meta.path.to_token_stream().to_string())
}

/// `key = "string"`; records an error (and returns `None`) for anything else.
fn string_value(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<LitStr>> {
    let key = key_name(meta);
    if !meta.input.peek(Token![=]) {
        errors.push(
            &meta.path,
            format!("`{key}` needs a value: `{key} = \"..\"`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(s)),
        other => {
            errors.push(
                &other,
                format!("`{key}` takes a string literal: `{key} = \"..\"`"),
            );
            Ok(None)
        }
    }
}

/// A bare flag such as `unique`; a value after it is an error.
fn flag(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        let key = key_name(meta);
        errors.push(
            &meta.path,
            format!("`{key}` is a flag and takes no value: write `{key}`"),
        );
        skip_value(meta)?;
    }
    Ok(())
}

/// `key(a, b, c)`: a parenthesised list of identifiers.
/// `key = 123` (or `-123`); records an error (and returns `None`) for anything else.
fn integer_value(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<i64>> {
    let key = key_name(meta);
    if !meta.input.peek(Token![=]) {
        errors.push(&meta.path, format!("`{key}` needs a value: `{key} = 1`"));
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    let (negative, literal) = match &expr {
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => (true, &**expr),
        other => (false, other),
    };
    if let Expr::Lit(syn::ExprLit {
        lit: Lit::Int(int), ..
    }) = literal
        && let Ok(value) = int.base10_parse::<i64>()
    {
        return Ok(Some(if negative { -value } else { value }));
    }
    errors.push(
        &expr,
        format!("`{key}` takes a whole number that fits in a bigint: `{key} = 1`"),
    );
    Ok(None)
}

/// `identity` or `identity(always, start = .., increment = .., cache = ..)`.
fn identity_options(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Identity> {
    let mut identity = Identity::default();
    if meta.input.peek(Token![=]) {
        errors.push(&meta.path, "`identity` is a flag or a list: `identity` or `identity(always, start = 1000, increment = 1, cache = 1)`");
        skip_value(meta)?;
        return Ok(identity);
    }
    if !meta.input.peek(syn::token::Paren) {
        return Ok(identity);
    }
    let mut seen = Seen::new("identity");
    meta.parse_nested_meta(|inner| {
        let Some(key) = accept_key(&inner, IDENTITY_KEYS, &mut seen, errors)? else {
            return Ok(());
        };
        match key.as_str() {
            "always" => {
                flag(&inner, errors)?;
                identity.always = true;
            }
            "start" => identity.start = integer_value(&inner, errors)?,
            "increment" => {
                identity.increment = integer_value(&inner, errors)?;
                if identity.increment == Some(0) {
                    errors.push(&inner.path, "`increment` cannot be 0");
                }
            }
            "cache" => {
                identity.cache = integer_value(&inner, errors)?;
                if identity.cache.is_some_and(|c| c < 1) {
                    errors.push(&inner.path, "`cache` must be at least 1");
                }
            }
            _ => unreachable!("keys are checked above"),
        }
        Ok(())
    })?;
    Ok(identity.normalized())
}

fn ident_list(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<Vec<Ident>>> {
    let key = key_name(meta);
    if !meta.input.peek(syn::token::Paren) {
        errors.push(&meta.path, format!("`{key}` takes a list: `{key}(a, b)`"));
        skip_value(meta)?;
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let list = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
    if list.is_empty() {
        errors.push(&meta.path, format!("`{key}(..)` needs at least one column"));
        return Ok(None);
    }
    Ok(Some(list.into_iter().collect()))
}

/// Runs `parse_nested_meta`, turning a syntax error into a recorded error.
fn each_key(
    attr: &Attribute,
    errors: &mut Errors,
    mut f: impl FnMut(&ParseNestedMeta, &mut Errors) -> syn::Result<()>,
) {
    let name = attr.path().to_token_stream().to_string();
    if let syn::Meta::Path(path) = &attr.meta {
        errors.push(
            path,
            format!("`#[{name}]` needs arguments: `#[{name}(..)]`"),
        );
        return;
    }
    let result = attr.parse_nested_meta(|meta| f(&meta, errors));
    if let Err(e) = result {
        errors.push_error(e);
    }
}

/// What `#[column(..)]` said about one field.
#[derive(Default)]
struct ColumnAttrs {
    name: Option<LitStr>,
    primary_key: Option<Span>,
    unique: bool,
    sql_type: Option<LitStr>,
    default: Option<LitStr>,
    renamed_from: Option<LitStr>,
    references: Option<LitStr>,
    on_delete: Option<LitStr>,
    on_update: Option<LitStr>,
    foreign_key_name: Option<LitStr>,
    identity: Option<(Span, Identity)>,
    collation: Option<LitStr>,
    enum_type: Option<LitStr>,
    skip: bool,
    fill: Option<LitStr>,
}

fn parse_column_attrs(attrs: &[Attribute], errors: &mut Errors) -> ColumnAttrs {
    let mut out = ColumnAttrs::default();
    let mut seen = Seen::new("column");
    for attr in attrs.iter().filter(|a| a.path().is_ident("column")) {
        each_key(attr, errors, |meta, errors| {
            let Some(key) = accept_key(meta, COLUMN_KEYS, &mut seen, errors)? else {
                return Ok(());
            };
            match key.as_str() {
                "primary_key" => {
                    flag(meta, errors)?;
                    out.primary_key = Some(meta.path.span());
                }
                "unique" => {
                    flag(meta, errors)?;
                    out.unique = true;
                }
                "identity" => {
                    out.identity = Some((meta.path.span(), identity_options(meta, errors)?))
                }
                "collation" => out.collation = string_value(meta, errors)?,
                "enum_type" => out.enum_type = string_value(meta, errors)?,
                "skip" => {
                    flag(meta, errors)?;
                    out.skip = true;
                }
                "name" => out.name = string_value(meta, errors)?,
                "sql_type" => out.sql_type = string_value(meta, errors)?,
                "default" => out.default = string_value(meta, errors)?,
                "fill" => out.fill = string_value(meta, errors)?,
                "renamed_from" => out.renamed_from = string_value(meta, errors)?,
                "references" => out.references = string_value(meta, errors)?,
                "on_delete" => out.on_delete = string_value(meta, errors)?,
                "on_update" => out.on_update = string_value(meta, errors)?,
                "foreign_key_name" => out.foreign_key_name = string_value(meta, errors)?,
                _ => unreachable!("every key in COLUMN_KEYS is matched above"),
            }
            Ok(())
        });
    }
    out
}

/// One `#[index]`, `#[unique]` or `#[primary_key]` before field names are resolved.
struct KeyAttr {
    columns: Vec<Ident>,
    name: Option<LitStr>,
    span: Span,
}

fn parse_key_attr(
    attr: &Attribute,
    what: &str,
    keys: &[&str],
    errors: &mut Errors,
) -> Option<KeyAttr> {
    let mut seen = Seen::new(what);
    let mut columns = None;
    let mut name = None;
    each_key(attr, errors, |meta, errors| {
        let Some(key) = accept_key(meta, keys, &mut seen, errors)? else {
            return Ok(());
        };
        match key.as_str() {
            "columns" => columns = ident_list(meta, errors)?,
            "name" => name = string_value(meta, errors)?,
            _ => unreachable!("keys are checked above"),
        }
        Ok(())
    });
    match columns {
        Some(columns) => Some(KeyAttr {
            columns,
            name,
            span: attr.span(),
        }),
        None => {
            if !seen.keys.contains("columns") {
                errors.push(attr, format!("`#[{what}(..)]` needs `columns(..)`"));
            }
            None
        }
    }
}

/// Struct-level attributes.
/// One key in `#[index(columns(..))]`: a field, or an expression in a string, then its
/// options.
struct IndexKeyAttr {
    target: Result<Ident, LitStr>,
    descending: bool,
    nulls_first: Option<bool>,
    opclass: Option<LitStr>,
    collation: Option<LitStr>,
}

struct IndexAttr {
    keys: Vec<IndexKeyAttr>,
    unique: bool,
    name: Option<LitStr>,
    method: Option<LitStr>,
    include: Vec<Ident>,
    predicate: Option<LitStr>,
    span: Span,
}

/// `columns(a, b desc nulls_last, "lower(email)", data ops = "jsonb_path_ops")`.
fn index_keys(
    meta: &ParseNestedMeta,
    errors: &mut Errors,
) -> syn::Result<Option<Vec<IndexKeyAttr>>> {
    if !meta.input.peek(syn::token::Paren) {
        errors.push(
            &meta.path,
            "`columns` takes a list: `columns(a, b desc, \"lower(email)\")`",
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let mut keys = Vec::new();
    while !content.is_empty() {
        let target = if content.peek(LitStr) {
            Err(content.parse::<LitStr>()?)
        } else {
            Ok(content.call(Ident::parse_any)?)
        };
        let mut key = IndexKeyAttr {
            target,
            descending: false,
            nulls_first: None,
            opclass: None,
            collation: None,
        };
        let mut given = BTreeSet::new();
        while !content.is_empty() && !content.peek(Token![,]) {
            let word: Ident = content.call(Ident::parse_any)?;
            let text = word.to_string();
            if !given.insert(text.clone()) {
                errors.push(&word, format!("`{text}` is given twice for one key"));
            }
            match text.as_str() {
                "asc" => key.descending = false,
                "desc" => key.descending = true,
                "nulls_first" => key.nulls_first = Some(true),
                "nulls_last" => key.nulls_first = Some(false),
                "ops" | "collation" => {
                    if content.parse::<Option<Token![=]>>()?.is_none() || !content.peek(LitStr) {
                        errors.push(&word, format!("`{text}` needs a value: `{text} = \"..\"`"));
                        continue;
                    }
                    let value: LitStr = content.parse()?;
                    if text == "ops" {
                        key.opclass = Some(value)
                    } else {
                        key.collation = Some(value)
                    }
                }
                _ => errors.push(
                    &word,
                    format!(
                        "unknown index key option `{text}`, expected one of {}",
                        expected_one_of(INDEX_KEY_OPTIONS)
                    ),
                ),
            }
        }
        if given.contains("asc") && given.contains("desc") {
            errors.push_span(content.span(), "a key is `asc` or `desc`, not both");
        }
        keys.push(key);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    if keys.is_empty() {
        errors.push(&meta.path, "`columns(..)` needs at least one column");
        return Ok(None);
    }
    Ok(Some(keys))
}

fn parse_index_attr(attr: &Attribute, errors: &mut Errors) -> Option<IndexAttr> {
    let mut seen = Seen::new("index");
    let mut out = IndexAttr {
        keys: Vec::new(),
        unique: false,
        name: None,
        method: None,
        include: Vec::new(),
        predicate: None,
        span: attr.span(),
    };
    let mut keys = None;
    each_key(attr, errors, |meta, errors| {
        let Some(key) = accept_key(meta, INDEX_KEYS, &mut seen, errors)? else {
            return Ok(());
        };
        match key.as_str() {
            "columns" => keys = index_keys(meta, errors)?,
            "name" => out.name = string_value(meta, errors)?,
            "method" => out.method = string_value(meta, errors)?,
            "where" => out.predicate = string_value(meta, errors)?,
            "include" => out.include = ident_list(meta, errors)?.unwrap_or_default(),
            "unique" => {
                flag(meta, errors)?;
                out.unique = true;
            }
            _ => unreachable!("keys are checked above"),
        }
        Ok(())
    });
    match keys {
        Some(keys) => Some(IndexAttr { keys, ..out }),
        None => {
            if !seen.keys.contains("columns") {
                errors.push(attr, "`#[index(..)]` needs `columns(..)`");
            }
            None
        }
    }
}

struct ForeignKeyAttr {
    columns: Vec<Ident>,
    references: LitStr,
    name: Option<LitStr>,
    on_delete: Option<LitStr>,
    on_update: Option<LitStr>,
    match_full: bool,
    deferrable: bool,
    initially_deferred: Option<Span>,
    span: Span,
}

fn parse_foreign_key_attr(attr: &Attribute, errors: &mut Errors) -> Option<ForeignKeyAttr> {
    let mut seen = Seen::new("foreign_key");
    let (mut columns, mut references, mut name, mut on_delete, mut on_update) =
        (None, None, None, None, None);
    let (mut match_full, mut deferrable, mut initially_deferred) = (false, false, None);
    each_key(attr, errors, |meta, errors| {
        let Some(key) = accept_key(meta, FOREIGN_KEY_KEYS, &mut seen, errors)? else {
            return Ok(());
        };
        match key.as_str() {
            "columns" => columns = ident_list(meta, errors)?,
            "references" => references = string_value(meta, errors)?,
            "name" => name = string_value(meta, errors)?,
            "on_delete" => on_delete = string_value(meta, errors)?,
            "on_update" => on_update = string_value(meta, errors)?,
            "match_full" => {
                flag(meta, errors)?;
                match_full = true;
            }
            "deferrable" => {
                flag(meta, errors)?;
                deferrable = true;
            }
            "initially_deferred" => {
                flag(meta, errors)?;
                initially_deferred = Some(meta.path.span());
            }
            _ => unreachable!("keys are checked above"),
        }
        Ok(())
    });
    if let (Some(span), false) = (initially_deferred, deferrable) {
        errors.push_span(span, "`initially_deferred` needs `deferrable` too");
    }
    match (columns, references) {
        (Some(columns), Some(references)) => Some(ForeignKeyAttr {
            columns,
            references,
            name,
            on_delete,
            on_update,
            match_full,
            deferrable,
            initially_deferred: initially_deferred.filter(|_| deferrable),
            span: attr.span(),
        }),
        (columns, references) => {
            let missing: Vec<&str> = [
                (
                    "columns(..)",
                    columns.is_none() && !seen.keys.contains("columns"),
                ),
                (
                    "references = \"table(column, ..)\"",
                    references.is_none() && !seen.keys.contains("references"),
                ),
            ]
            .into_iter()
            .filter(|(_, absent)| *absent)
            .map(|(k, _)| k)
            .collect();
            if !missing.is_empty() && matches!(attr.meta, syn::Meta::List(_)) {
                errors.push(
                    attr,
                    format!("`#[foreign_key(..)]` needs `{}`", missing.join("` and `")),
                );
            }
            None
        }
    }
}

/// `"table(a, b)"` → the table and its columns.
fn referenced_columns(text: &str) -> Option<(String, Vec<String>)> {
    let (table, rest) = text.split_once('(')?;
    let inner = rest.trim_end().strip_suffix(')')?;
    let columns: Vec<String> = inner.split(',').map(|c| c.trim().to_owned()).collect();
    let simple = |name: &str| {
        !name.is_empty()
            && !name.contains(|c: char| {
                c == '"' || c == '(' || c == ')' || c.is_whitespace() || c.is_control()
            })
    };
    let table = model::table_reference(table)?;
    (simple(&table) && columns.iter().all(|c| simple(c))).then_some((table, columns))
}

#[derive(Default)]
struct StructAttrs {
    name: Option<LitStr>,
    schema: Option<LitStr>,
    renamed_from: Option<LitStr>,
    allow_drop: Vec<Spanned<String>>,
    indexes: Vec<IndexAttr>,
    foreign_keys: Vec<ForeignKeyAttr>,
    uniques: Vec<KeyAttr>,
    primary_keys: Vec<KeyAttr>,
    checks: Vec<(LitStr, LitStr, Span)>,
}

fn parse_struct_attrs(attrs: &[Attribute], errors: &mut Errors) -> StructAttrs {
    let mut out = StructAttrs::default();
    let mut seen = Seen::new("table");
    for attr in attrs {
        let path = attr.path();
        if path.is_ident("table") {
            each_key(attr, errors, |meta, errors| {
                let Some(key) = accept_key(meta, TABLE_KEYS, &mut seen, errors)? else {
                    return Ok(());
                };
                match key.as_str() {
                    "name" => out.name = string_value(meta, errors)?,
                    "schema" => out.schema = string_value(meta, errors)?,
                    "renamed_from" => out.renamed_from = string_value(meta, errors)?,
                    "allow_drop" => {
                        if let Some(list) = ident_list(meta, errors)? {
                            out.allow_drop = list
                                .iter()
                                .map(|i| Spanned {
                                    value: i.to_string(),
                                    span: i.span(),
                                })
                                .collect();
                        }
                    }
                    _ => unreachable!("keys are checked above"),
                }
                Ok(())
            });
        } else if path.is_ident("index") {
            out.indexes.extend(parse_index_attr(attr, errors));
        } else if path.is_ident("foreign_key") {
            out.foreign_keys
                .extend(parse_foreign_key_attr(attr, errors));
        } else if path.is_ident("unique") {
            out.uniques
                .extend(parse_key_attr(attr, "unique", KEY_KEYS, errors));
        } else if path.is_ident("primary_key") {
            out.primary_keys
                .extend(parse_key_attr(attr, "primary_key", KEY_KEYS, errors));
        } else if path.is_ident("check") {
            let mut check_seen = Seen::new("check");
            let (mut name, mut expr) = (None, None);
            each_key(attr, errors, |meta, errors| {
                let Some(key) = accept_key(meta, CHECK_KEYS, &mut check_seen, errors)? else {
                    return Ok(());
                };
                match key.as_str() {
                    "name" => name = string_value(meta, errors)?,
                    "expr" => expr = string_value(meta, errors)?,
                    _ => unreachable!("keys are checked above"),
                }
                Ok(())
            });
            match (name, expr) {
                (Some(n), Some(e)) => out.checks.push((n, e, attr.span())),
                (name, expr) => {
                    // A key that was given but malformed has its own error already.
                    let missing: Vec<&str> = [("name", name.is_none()), ("expr", expr.is_none())]
                        .into_iter()
                        .filter(|(key, absent)| *absent && !check_seen.keys.contains(*key))
                        .map(|(key, _)| key)
                        .collect();
                    if !missing.is_empty() && matches!(attr.meta, syn::Meta::List(_)) {
                        let needs: Vec<String> =
                            missing.iter().map(|k| format!("`{k} = \"..\"`")).collect();
                        errors.push(
                            attr,
                            format!("`#[check(..)]` needs {}", needs.join(" and ")),
                        );
                    }
                }
            }
        }
    }
    out
}

/// Converts `BookAuthor` to `book_author`: the default table name.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0 && (prev_lower || (chars[i - 1].is_uppercase() && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub use crate::schema::sql_text::{LexicalChecks, SqlFragments, check_sql_expression};

/// The Rust type of a field, as far as the mapping cares.
struct FieldType<'a> {
    nullable: bool,
    inner: &'a Type,
}

fn unwrap_option(ty: &Type) -> FieldType<'_> {
    if let Type::Path(tp) = ty
        && let Some(last) = tp.path.segments.last()
        && last.ident == "Option"
        && let PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(GenericArgument::Type(inner)) = args.args.first()
    {
        return FieldType {
            nullable: true,
            inner,
        };
    }
    FieldType {
        nullable: false,
        inner: ty,
    }
}

/// The last path segment and its type arguments' last segments: `Vec<u8>` → (`Vec`, [`u8`]).
fn type_shape(ty: &Type) -> Option<(String, Vec<String>)> {
    let Type::Path(tp) = ty else { return None };
    let last = tp.path.segments.last()?;
    let mut generics = Vec::new();
    if let PathArguments::AngleBracketed(args) = &last.arguments {
        for arg in &args.args {
            if let GenericArgument::Type(Type::Path(inner)) = arg
                && let Some(seg) = inner.path.segments.last()
            {
                generics.push(seg.ident.to_string());
            }
        }
    }
    Some((last.ident.to_string(), generics))
}

/// The parts of a struct the grammar reads, borrowed: from the derive's
/// [`DeriveInput`] or from the scanner's [`syn::ItemStruct`], without copying the tree.
#[derive(Clone, Copy)]
pub struct StructInput<'a> {
    attrs: &'a [Attribute],
    ident: &'a Ident,
    generics: &'a syn::Generics,
    /// `None` for an enum or a union.
    fields: Option<&'a Fields>,
}

impl<'a> From<&'a DeriveInput> for StructInput<'a> {
    fn from(input: &'a DeriveInput) -> Self {
        let fields = match &input.data {
            Data::Struct(s) => Some(&s.fields),
            _ => None,
        };
        StructInput {
            attrs: &input.attrs,
            ident: &input.ident,
            generics: &input.generics,
            fields,
        }
    }
}

impl<'a> From<&'a syn::ItemStruct> for StructInput<'a> {
    fn from(item: &'a syn::ItemStruct) -> Self {
        StructInput {
            attrs: &item.attrs,
            ident: &item.ident,
            generics: &item.generics,
            fields: Some(&item.fields),
        }
    }
}

/// Parses one struct deriving `Table`. See the module docs for how errors are reported.
pub fn parse_table<'a>(input: impl Into<StructInput<'a>>) -> syn::Result<TableDef> {
    parse_table_with(input, &LexicalChecks)
}

/// [`parse_table`], with the SQL in attributes checked by `sql`.
pub(crate) fn parse_table_with<'a>(
    input: impl Into<StructInput<'a>>,
    sql: &dyn SqlFragments,
) -> syn::Result<TableDef> {
    let input: StructInput<'a> = input.into();
    let mut errors = Errors::default();
    let fields = match input.fields {
        Some(Fields::Named(named)) => Some(&named.named),
        Some(_) => {
            errors.push(
                input.ident,
                "`#[derive(Table)]` needs a struct with named fields",
            );
            None
        }
        None => {
            errors.push(input.ident, "`#[derive(Table)]` works on structs only");
            None
        }
    };
    if !input.generics.params.is_empty() {
        errors.push(input.generics, "a table struct cannot be generic");
    }
    let attrs = parse_struct_attrs(input.attrs, &mut errors);
    let bare_name = match &attrs.name {
        Some(lit) => {
            let v = lit.value();
            check_identifier(&v, lit, "table name", &mut errors);
            if v.contains('.') {
                errors.push(lit, format!("table name `{v}` holds a `.`: name the schema with `schema = \"..\"` and the table without it"));
            }
            v
        }
        None => snake_case(&input.ident.to_string()),
    };
    let schema = attrs.schema.as_ref().map(|lit| {
        let v = lit.value();
        check_schema_name(&v, lit, &mut errors);
        v
    });
    // Tables outside `public` are named `schema.table` everywhere in the model.
    let table_name = model::qualified_table_name(
        schema.as_deref().unwrap_or(model::DEFAULT_SCHEMA),
        &bare_name,
    );

    let mut columns: Vec<Column> = Vec::new();
    let mut field_columns: Vec<(Ident, String)> = Vec::new();
    let mut column_renames: BTreeMap<String, Spanned<String>> = BTreeMap::new();
    let mut column_fills: BTreeMap<String, SqlExpr> = BTreeMap::new();
    let mut uniques: BTreeMap<String, Unique> = BTreeMap::new();
    let mut foreign_keys: BTreeMap<String, ForeignKey> = BTreeMap::new();
    let mut field_pk: Vec<(String, Span)> = Vec::new();
    let mut column_spans: BTreeMap<String, Span> = BTreeMap::new();
    let mut object_spans: BTreeMap<String, Span> = BTreeMap::new();
    let mut enum_columns: BTreeMap<String, Spanned<String>> = BTreeMap::new();

    for field in fields.into_iter().flatten() {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        let col = parse_column_attrs(&field.attrs, &mut errors);
        if col.skip {
            continue;
        }
        let column_name = match &col.name {
            Some(lit) => {
                let v = lit.value();
                check_identifier(&v, lit, "column name", &mut errors);
                v
            }
            None => ident.to_string().trim_start_matches("r#").to_owned(),
        };
        if column_spans.contains_key(&column_name) {
            errors.push(
                &ident,
                format!("column `{column_name}` is defined twice in table `{table_name}`"),
            );
        }
        column_spans.insert(column_name.clone(), ident.span());

        let ft = unwrap_option(&field.ty);
        let sql_type = match (&col.sql_type, &col.enum_type) {
            (Some(lit), Some(_)) => {
                errors.push(
                    lit,
                    "`sql_type` and `enum_type` both name the column's type: keep one",
                );
                None
            }
            // The enum's quoted name, as a catalog prints a type it does not know; the diff
            // checks that a `#[derive(Enum)]` declares it.
            // (Each part a name the grammar takes: no quote, no control character.)
            (None, Some(lit)) => {
                match model::table_reference(&lit.value())
                    .filter(|name| {
                        name.split('.')
                            .all(|part| model::name_problem(part).is_none())
                    })
                    .and_then(|name| {
                        Some((
                            SqlType::checked_by(&LexicalChecks, &model::enum_sql_type(&name))
                                .ok()?,
                            name,
                        ))
                    }) {
                    Some((sql_type, name)) => {
                        enum_columns.insert(
                            column_name.clone(),
                            Spanned {
                                value: name,
                                span: lit.span(),
                            },
                        );
                        Some(sql_type)
                    }
                    None => {
                        errors.push(lit, "`enum_type` takes the enum's SQL name, `\"mood\"` or `\"schema.mood\"`");
                        None
                    }
                }
            }
            (Some(lit), None) => match SqlType::checked_by(sql, &lit.value()) {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.push(lit, format!("invalid `sql_type`: {e}"));
                    None
                }
            },
            (None, None) => {
                let mapped = type_shape(ft.inner)
                    .and_then(|(last, generics)| types::sql_type_for_rust(&last, &generics));
                if mapped.is_none() {
                    errors.push(
                        ft.inner,
                        format!(
                            "unsupported column type `{}`: add `#[column(sql_type = \"..\")]` to name the SQL type, or use one of {}",
                            ft.inner.to_token_stream().to_string().replace(' ', ""),
                            types::MAPPED_RUST_TYPES
                        ),
                    );
                }
                // The mapped types are constants of the lexical grammar.
                mapped.and_then(|t| SqlType::checked_by(&LexicalChecks, &t).ok())
            }
        };
        let sql_type = sql_type.unwrap_or_else(|| {
            SqlType::checked_by(&LexicalChecks, "text").expect("`text` is a type")
        });

        if let Some((span, _)) = col.identity {
            // PostgreSQL numbers smallint and integer columns too; DSQL only bigint, which
            // the planner enforces for that dialect.
            if !matches!(sql_type.as_str(), "bigint" | "integer" | "smallint") {
                errors.push_span(span, format!("`identity` needs an integer column (`i64`; `i32` or `i16` on PostgreSQL only), found `{sql_type}`"));
            }
            if ft.nullable {
                errors.push_span(span, "an `identity` column cannot be `Option<..>`");
            }
            if col.default.is_some() {
                errors.push_span(span, "an `identity` column cannot also have a `default`");
            }
            if let Some((_, identity)) = &col.identity
                && let Some(start) = identity.start
            {
                let range = identity.start_range(sql_type.as_str());
                if !range.contains(&start) {
                    let direction = if identity.counts_down() { "down" } else { "up" };
                    errors.push_span(span, format!("`start = {start}` is outside the sequence's range for a `{sql_type}` counting {direction}: {} to {}", range.start(), range.end()));
                }
            }
        }
        if let Some(span) = col.primary_key {
            if ft.nullable {
                errors.push(
                    &field.ty,
                    "a primary key column cannot be `Option<..>`: remove `Option` or `primary_key`",
                );
            }
            field_pk.push((column_name.clone(), span));
        }
        if let Some(lit) = &col.fill {
            if ft.nullable {
                errors.push(lit, "`fill` gives existing rows a value when a column becomes NOT NULL; this column is `Option<..>` (nullable), so it needs none: remove `fill` or `Option`");
            } else if col.identity.is_some() {
                errors.push(lit, "an `identity` column fills itself: remove `fill`");
            } else {
                match SqlExpr::checked_by(sql, "fill", &lit.value()) {
                    Ok(fill) => {
                        column_fills.insert(column_name.clone(), fill);
                    }
                    Err(msg) => errors.push(lit, format!("bad `fill`: {msg}")),
                }
            }
        }
        let default = col.default.as_ref().and_then(|lit| {
            match SqlExpr::checked_by(sql, "default", &lit.value()) {
                Ok(default) => Some(default),
                Err(msg) => {
                    errors.push(lit, format!("bad `default`: {msg}"));
                    None
                }
            }
        });
        if let Some(lit) = &col.renamed_from {
            let from = lit.value();
            if from == column_name {
                errors.push(
                    lit,
                    format!("`renamed_from = \"{from}\"` names the column itself"),
                );
            } else {
                column_renames.insert(
                    column_name.clone(),
                    Spanned {
                        value: from,
                        span: lit.span(),
                    },
                );
            }
        }
        let collation = col.collation.as_ref().and_then(|lit| {
            check_qualified_name(&lit.value(), lit, "collation", &mut errors);
            if !is_collatable(&sql_type) {
                errors.push(
                    lit,
                    format!(
                        "a `{sql_type}` column has no collation: `collation` is for text columns"
                    ),
                );
            }
            // The type's own collation is written as none, as the catalog has it.
            Some(lit.value()).filter(|c| c != "default")
        });
        if col.unique {
            let cols = vec![column_name.clone()];
            let name = model::default_name(&table_name, &cols, "key");
            uniques.insert(
                name.clone(),
                Unique {
                    name,
                    columns: cols,
                },
            );
        }
        match &col.references {
            // `table.column`, or `table(column)` as `#[foreign_key]` writes it.
            Some(lit) => match referenced_columns(&lit.value())
                .filter(|(_, c)| c.len() == 1)
                .map(|(t, c)| (t, c[0].clone()))
                .or_else(|| lit.value().rsplit_once('.').and_then(|(t, c)| Some((model::table_reference(t)?, c.to_owned()))))
            {
                Some((t, c)) if !c.trim().is_empty() => {
                    let cols = vec![column_name.clone()];
                    let name = match &col.foreign_key_name {
                        Some(lit) => {
                            check_identifier(&lit.value(), lit, "foreign key name", &mut errors);
                            lit.value()
                        }
                        None => model::default_name(&table_name, &cols, "fkey"),
                    };
                    let on_delete = referential_action(col.on_delete.as_ref(), &mut errors);
                    let on_update = referential_action(col.on_update.as_ref(), &mut errors);
                    object_spans.insert(name.clone(), lit.span());
                    foreign_keys.insert(
                        name.clone(),
                        ForeignKey {
                            name,
                            columns: cols,
                            references_table: t,
                            references_columns: vec![c.trim().to_owned()],
                            on_delete,
                            on_update,
                            match_full: false,
                            deferrable: false,
                            initially_deferred: false,
                        },
                    );
                }
                _ => errors.push(lit, "`references` takes `\"table.column\"` or `\"schema.table.column\"`, for example `references = \"authors.id\"`"),
            },
            None => {
                for lit in [&col.on_delete, &col.on_update, &col.foreign_key_name].into_iter().flatten() {
                    errors.push(lit, "`on_delete`, `on_update` and `foreign_key_name` need `references = \"table.column\"` on the same column");
                }
            }
        }
        columns.push(Column {
            name: column_name.clone(),
            sql_type,
            not_null: !ft.nullable,
            default,
            identity: col.identity.map(|(_, identity)| identity),
            collation,
        });
        field_columns.push((ident, column_name));
    }

    // Struct-level attributes name fields; resolve them to SQL column names.
    let resolve = |idents: &[Ident], errors: &mut Errors| -> Vec<String> {
        idents
            .iter()
            .filter_map(|i| match field_columns.iter().find(|(f, _)| f == i) {
                Some((_, c)) => Some(c.clone()),
                None => {
                    errors.push(i, format!("no column field `{i}` in `{}`", input.ident));
                    None
                }
            })
            .collect()
    };

    // One primary key per table: every declaration after the first is an error on its own token.
    let mut pk_spans: Vec<Span> = field_pk.iter().map(|(_, s)| *s).collect();
    pk_spans.extend(attrs.primary_keys.iter().map(|pk| pk.span));
    for span in pk_spans.iter().skip(1) {
        errors.push_span(*span, "a table has one primary key: for a composite key use `#[primary_key(columns(a, b))]` on the struct");
    }
    let pkey_name = model::make_object_name(&bare_name, None, "pkey");
    let primary_key = if let Some((col, _)) = field_pk.first() {
        Some(PrimaryKey {
            name: pkey_name,
            columns: vec![col.clone()],
        })
    } else {
        attrs.primary_keys.first().map(|pk| PrimaryKey {
            name: pk.name.as_ref().map(LitStr::value).unwrap_or(pkey_name),
            columns: resolve(&pk.columns, &mut errors),
        })
    };
    if let Some(pk) = &primary_key {
        for column in columns.iter_mut().filter(|c| pk.columns.contains(&c.name)) {
            if !column.not_null {
                errors.push(
                    input.ident,
                    format!(
                        "primary key column `{}` cannot be `Option<..>`",
                        column.name
                    ),
                );
            }
            column.not_null = true;
        }
    }

    for u in &attrs.uniques {
        let cols = resolve(&u.columns, &mut errors);
        let name = u
            .name
            .as_ref()
            .map(LitStr::value)
            .unwrap_or_else(|| model::default_name(&table_name, &cols, "key"));
        if uniques
            .insert(
                name.clone(),
                Unique {
                    name: name.clone(),
                    columns: cols,
                },
            )
            .is_some()
        {
            errors.push_span(
                u.span,
                format!("unique constraint `{name}` is declared twice"),
            );
        }
    }
    // PostgreSQL keeps only the first of UNIQUE constraints over the same columns, the
    // primary key included, so the database would lack what the snapshot says.
    // PostgreSQL keeps only the key of a key and a unique over the same columns
    // (`.primaryKey().unique()`): so does the model, and generate says so.
    let mut absorbed = Vec::new();
    if let Some(pk) = &primary_key {
        uniques.retain(|name, u| {
            let same = u.columns == pk.columns;
            if same {
                absorbed.push(name.clone());
            }
            !same
        });
    }
    let mut unique_columns: BTreeMap<&Vec<String>, &str> = BTreeMap::new();
    for u in uniques.values() {
        if let Some(other) = unique_columns.insert(&u.columns, &u.name) {
            errors.push(input.ident, format!("unique constraint `{}` is over the same columns as `{other}`, which is unique already: remove it", u.name));
        }
    }
    for fk in &attrs.foreign_keys {
        let cols = resolve(&fk.columns, &mut errors);
        let Some((references_table, references_columns)) =
            referenced_columns(&fk.references.value())
        else {
            errors.push(&fk.references, "`references` takes `\"table(column, ..)\"`, for example `references = \"documents(id, created_at)\"`");
            continue;
        };
        if references_columns.len() != fk.columns.len() {
            errors.push(
                &fk.references,
                format!(
                    "`references` names {} column(s) for {} in `columns(..)`: name one for each",
                    references_columns.len(),
                    fk.columns.len()
                ),
            );
        }
        let name = match &fk.name {
            Some(lit) => {
                check_identifier(&lit.value(), lit, "foreign key name", &mut errors);
                lit.value()
            }
            None => model::default_name(&table_name, &cols, "fkey"),
        };
        let foreign_key = ForeignKey {
            name: name.clone(),
            columns: cols,
            references_table,
            references_columns,
            on_delete: referential_action(fk.on_delete.as_ref(), &mut errors),
            on_update: referential_action(fk.on_update.as_ref(), &mut errors),
            match_full: fk.match_full,
            deferrable: fk.deferrable,
            initially_deferred: fk.initially_deferred.is_some(),
        };
        object_spans.insert(name.clone(), fk.span);
        if foreign_keys.insert(name.clone(), foreign_key).is_some() {
            errors.push_span(
                fk.span,
                format!("foreign key `{name}` is declared twice: give one a `name = \"..\"`"),
            );
        }
    }
    let mut indexes = BTreeMap::new();
    for ix in &attrs.indexes {
        let Some(index) = index_from_attr(
            ix,
            &table_name,
            &field_columns,
            input.ident,
            sql,
            &mut errors,
        ) else {
            continue;
        };
        let name = index.name.clone();
        object_spans.insert(name.clone(), ix.span);
        if indexes.insert(name.clone(), index).is_some() {
            errors.push_span(
                ix.span,
                format!("index `{name}` is declared twice: give one a `name = \"..\"`"),
            );
        }
    }
    // A key collated as its column is collated, or given its type's default operator
    // class, says nothing more (PostgreSQL's catalog cannot tell the two apart).
    for index in indexes.values_mut() {
        let method = index.method.unwrap_or(IndexMethod::Btree);
        for key in &mut index.columns {
            let KeyTarget::Column(c) = &key.target else {
                continue;
            };
            let Some(column) = columns.iter().find(|col| col.name == *c) else {
                continue;
            };
            if key.collation.is_some() && column.collation == key.collation {
                key.collation = None;
            }
            let default = method.default_opclass(column.sql_type.as_str());
            if key
                .opclass
                .as_deref()
                .map(|o| o.strip_prefix("pg_catalog.").unwrap_or(o))
                .is_some_and(|o| Some(o) == default)
            {
                key.opclass = None;
            }
        }
    }
    let mut checks = BTreeMap::new();
    for (name, expr, span) in &attrs.checks {
        let n = name.value();
        check_identifier(&n, name, "check name", &mut errors);
        let expression = if expr.value().trim().is_empty() {
            errors.push(
                expr,
                "empty `expr`: write a boolean SQL expression such as `expr = \"price >= 0\"`",
            );
            None
        } else {
            SqlExpr::checked_by(sql, "expr", &expr.value())
                .map_err(|why| errors.push(expr, format!("bad check `expr`: {why}")))
                .ok()
        };
        if checks.contains_key(&n) {
            errors.push_span(*span, format!("check `{n}` is declared twice"));
        } else if let Some(expression) = expression {
            checks.insert(
                n.clone(),
                Check {
                    name: n.clone(),
                    expression,
                },
            );
        }
    }

    if fields.is_some_and(|f| f.is_empty()) {
        errors.push(
            input.ident,
            "a table needs at least one column: add a field",
        );
    }

    // Every generated name must fit PostgreSQL's identifier limit, or it would be truncated
    // silently and the next diff would see a change.
    let mut all_names: Vec<&String> = Vec::new();
    all_names.extend(primary_key.iter().map(|p| &p.name));
    all_names.extend(uniques.keys());
    all_names.extend(indexes.keys());
    all_names.extend(foreign_keys.keys());
    all_names.extend(checks.keys());
    let mut distinct = BTreeSet::new();
    for name in all_names {
        if name.len() > model::MAX_IDENTIFIER_BYTES {
            errors.push(
                input.ident,
                format!(
                    "the name `{name}` is longer than 63 bytes: give it a shorter `name = \"..\"`"
                ),
            );
        }
        if !distinct.insert(name.clone()) {
            errors.push(
                input.ident,
                format!("two constraints or indexes of `{table_name}` are both named `{name}`"),
            );
        }
    }

    // renamed_from clashes: two columns claiming the same old name, or an old name that is
    // still a current column.
    let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
    for (column, hint) in &column_renames {
        if let Some(other) = claimed.insert(hint.value.as_str(), column.as_str()) {
            errors.push_span(
                hint.span,
                format!(
                    "columns `{other}` and `{column}` are both `renamed_from = \"{}\"`",
                    hint.value
                ),
            );
        }
        if columns.iter().any(|c| c.name == hint.value) {
            errors.push_span(
                hint.span,
                format!(
                    "`renamed_from = \"{}\"` clashes with the column `{}` that still exists",
                    hint.value, hint.value
                ),
            );
        }
    }
    // A table is renamed within its schema: the old name is in the same one.
    let renamed_from = attrs.renamed_from.as_ref().map(|lit| {
        if lit.value().contains('.') {
            errors.push(lit, "`renamed_from` names a table in the same schema, without a `.`: a table cannot move between schemas by a rename");
        }
        Spanned { value: model::qualified_table_name(model::table_schema(&table_name), &lit.value()), span: lit.span() }
    });
    if let Some(hint) = &renamed_from
        && hint.value == table_name
    {
        errors.push_span(
            hint.span,
            format!("`renamed_from = \"{}\"` names the table itself", hint.value),
        );
    }

    errors.finish()?;
    Ok(TableDef {
        rust_name: input.ident.clone(),
        table: Table {
            name: table_name,
            columns,
            primary_key,
            uniques,
            indexes,
            foreign_keys,
            checks,
        },
        renamed_from,
        column_renames,
        column_fills,
        allow_drop: attrs.allow_drop,
        fields: field_columns,
        absorbed_uniques: absorbed,
        object_spans,
        enum_columns,
        span: input.ident.span(),
    })
}

/// The index an `#[index(..)]` declares, or `None` after recording what is wrong.
fn index_from_attr(
    ix: &IndexAttr,
    table_name: &str,
    fields: &[(Ident, String)],
    struct_ident: &Ident,
    sql: &dyn SqlFragments,
    errors: &mut Errors,
) -> Option<Index> {
    let column_of =
        |field: &Ident, errors: &mut Errors| match fields.iter().find(|(f, _)| f == field) {
            Some((_, c)) => Some(c.clone()),
            None => {
                errors.push(
                    field,
                    format!("no column field `{field}` in `{struct_ident}`"),
                );
                None
            }
        };
    let mut keys = Vec::new();
    let mut name_parts = Vec::new();
    let mut ok = true;
    for key in &ix.keys {
        let target = match &key.target {
            Ok(field) => column_of(field, errors).map(|c| {
                name_parts.push(c.clone());
                KeyTarget::Column(c)
            }),
            Err(lit) => match SqlExpr::checked_by(sql, "columns", &lit.value()) {
                Ok(expression) => {
                    name_parts.push(expression_name_part(&expression));
                    Some(KeyTarget::Expression(expression))
                }
                Err(why) => {
                    errors.push(lit, format!("bad index key expression: {why}"));
                    None
                }
            },
        };
        let name_option = |lit: &Option<LitStr>, what: &str, errors: &mut Errors| {
            lit.as_ref().map(|l| {
                check_qualified_name(&l.value(), l, what, errors);
                l.value()
            })
        };
        let opclass = name_option(&key.opclass, "operator class", errors);
        let collation = name_option(&key.collation, "collation", errors).filter(|c| c != "default");
        if ix.method.is_some()
            && (key.descending || key.nulls_first.is_some())
            && !ix
                .method
                .as_ref()
                .is_some_and(|m| m.value().eq_ignore_ascii_case("btree"))
        {
            errors.push_span(ix.span, "only a btree index orders its keys: remove `desc`, `nulls_first` and `nulls_last`, or the `method`");
        }
        match target {
            Some(target) => keys.push(
                IndexKey {
                    target,
                    descending: key.descending,
                    nulls_first: key.nulls_first,
                    opclass,
                    collation,
                }
                .normalized(),
            ),
            None => ok = false,
        }
    }
    let include: Vec<String> = ix
        .include
        .iter()
        .filter_map(|f| column_of(f, errors))
        .collect();
    let method = ix
        .method
        .as_ref()
        .and_then(|lit| match IndexMethod::parse(&lit.value()) {
            Some(method) => method.unless_btree(),
            None => {
                let options: Vec<&str> = IndexMethod::ALL.iter().map(|(s, _)| *s).collect();
                errors.push(
                    lit,
                    format!(
                        "unknown index method `{}`, expected one of {}",
                        lit.value(),
                        expected_one_of(&options)
                    ),
                );
                None
            }
        });
    let predicate = ix.predicate.as_ref().and_then(|lit| {
        match SqlExpr::checked_by(sql, "where", &lit.value()) {
            Ok(p) => Some(p),
            Err(why) => {
                errors.push(lit, format!("bad index `where`: {why}"));
                None
            }
        }
    });
    if ix.unique && method.is_some_and(|m| m != IndexMethod::Btree) {
        errors.push_span(ix.span, "only a btree index can be `unique`");
    }
    if !ix.include.is_empty()
        && method.is_some_and(|m| {
            !matches!(
                m,
                IndexMethod::Btree | IndexMethod::Gist | IndexMethod::Spgist
            )
        })
    {
        errors.push_span(
            ix.span,
            "only btree, gist and spgist indexes take `include(..)`",
        );
    }
    if method == Some(IndexMethod::Hash) && ix.keys.len() > 1 {
        errors.push_span(ix.span, "a hash index has one key");
    }
    if !ok || (ix.predicate.is_some() && predicate.is_none()) {
        return None;
    }
    let name = ix
        .name
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| model::default_name(table_name, &name_parts, "idx"));
    Some(Index {
        name,
        columns: keys,
        unique: ix.unique,
        method,
        include,
        predicate,
    })
}

/// What PostgreSQL calls an expression key when it names the index (`FigureIndexColname`):
/// the function's name for a call, the column's for a column, else `expr`.
pub(crate) fn expression_name_part(expression: &SqlExpr) -> String {
    let mut text = expression.as_str().trim();
    while let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        text = inner.trim();
    }
    let word_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'))
        .unwrap_or(text.len());
    let word = &text[..word_end];
    let rest = text[word_end..].trim_start();
    let last = word.rsplit('.').next().unwrap_or_default();
    let is_name = last.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if is_name && (rest.starts_with('(') || rest.is_empty() || rest.starts_with("::")) {
        last.to_ascii_lowercase()
    } else {
        "expr".to_owned()
    }
}

fn referential_action(lit: Option<&LitStr>, errors: &mut Errors) -> Option<ReferentialAction> {
    let lit = lit?;
    match ReferentialAction::parse(&lit.value()) {
        // NO ACTION is the default; the model leaves it out so the catalog's answer matches.
        Some(ReferentialAction::NoAction) => None,
        Some(a) => Some(a),
        None => {
            let options: Vec<&str> = ReferentialAction::SPELLINGS
                .iter()
                .map(|(s, _)| *s)
                .collect();
            errors.push(
                lit,
                format!(
                    "unknown referential action `{}`, expected one of {}",
                    lit.value(),
                    expected_one_of(&options)
                ),
            );
            None
        }
    }
}

/// Whether a column of `sql_type` takes a collation: text types, and types the database
/// defines (a domain over text, say), which the grammar cannot look into.
fn is_collatable(sql_type: &SqlType) -> bool {
    let base = types::base_name(sql_type.as_str());
    matches!(
        base.as_str(),
        "text" | "character varying" | "character" | "name" | "citext"
    ) || SqlType::is_defined_type_name(sql_type.as_str())
}

/// A name that may be qualified by its schema (`pg_catalog.jsonb_path_ops`): each part a
/// name [`check_identifier`] takes.
fn check_qualified_name(
    value: &str,
    tokens: impl ToTokens + Clone,
    what: &str,
    errors: &mut Errors,
) {
    for part in value.split('.') {
        check_identifier(part, tokens.clone(), what, errors);
    }
}

/// A schema's name: an identifier without a `.`, and not one PostgreSQL keeps for itself.
fn check_schema_name(value: &str, tokens: impl ToTokens + Clone, errors: &mut Errors) {
    check_identifier(value, tokens.clone(), "schema name", errors);
    if value.contains('.') {
        errors.push(tokens, format!("schema name `{value}` holds a `.`"));
    } else if value.starts_with("pg_") || value == "information_schema" {
        errors.push(tokens, format!("schema `{value}` is PostgreSQL's own (it keeps `information_schema` and names starting with `pg_`): choose another"));
    } else if value == "sys" {
        errors.push(tokens, "schema `sys` is Aurora DSQL's own: choose another");
    }
}

fn check_identifier(value: &str, tokens: impl ToTokens, what: &str, errors: &mut Errors) {
    match model::name_problem(value) {
        Some(model::NameProblem::Empty) => errors.push(tokens, format!("empty {what}")),
        Some(model::NameProblem::TooLong) => {
            errors.push(tokens, format!("{what} `{value}` is longer than 63 bytes"))
        }
        Some(model::NameProblem::QuoteOrControl) => errors.push(
            tokens,
            format!("{what} `{value}` contains a quote or control character"),
        ),
        None => {}
    }
}

/// Everything one `#[derive(Enum)]` says.
#[derive(Debug, Clone)]
pub struct EnumDef {
    /// The Rust enum.
    pub rust_name: Ident,
    /// The SQL enum type it declares, as the model holds it (name and values).
    pub enum_type: model::EnumType,
    /// `#[value(renamed_from = "..")]`, keyed by the value's new name.
    pub value_renames: BTreeMap<String, Spanned<String>>,
    /// `#[enum_type(allow_drop(..))]`: values of the last snapshot that may be removed.
    pub allow_drop: Vec<Spanned<String>>,
    /// The Rust variant of each value, in order.
    pub variants: Vec<(Ident, String)>,
    /// Where the enum is.
    pub span: Span,
}

/// Parses one enum deriving `Enum`: unit variants, each a value named by its snake_case
/// name or `#[value(name = "..")]`.
pub fn parse_enum(input: &DeriveInput) -> syn::Result<EnumDef> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "`#[derive(Enum)]` works on enums only: list the values as variants",
        ));
    };
    parse_enum_parts(
        &input.attrs,
        &input.ident,
        &input.generics,
        data.variants.iter(),
    )
}

/// [`parse_enum`] for the scanner's [`syn::ItemEnum`].
pub fn parse_enum_item(item: &syn::ItemEnum) -> syn::Result<EnumDef> {
    parse_enum_parts(
        &item.attrs,
        &item.ident,
        &item.generics,
        item.variants.iter(),
    )
}

fn parse_enum_parts<'a>(
    attrs: &[Attribute],
    ident: &Ident,
    generics: &syn::Generics,
    variants: impl Iterator<Item = &'a syn::Variant>,
) -> syn::Result<EnumDef> {
    let mut errors = Errors::default();
    if !generics.params.is_empty() {
        errors.push(generics, "an enum type cannot be generic");
    }
    let (mut name, mut schema, mut allow_drop) = (None, None, Vec::new());
    let mut seen = Seen::new("enum_type");
    for attr in attrs.iter().filter(|a| a.path().is_ident("enum_type")) {
        each_key(attr, &mut errors, |meta, errors| {
            let Some(key) = accept_key(meta, ENUM_KEYS, &mut seen, errors)? else {
                return Ok(());
            };
            match key.as_str() {
                "name" => name = string_value(meta, errors)?,
                "schema" => schema = string_value(meta, errors)?,
                "allow_drop" => {
                    // Values are SQL strings, not always Rust identifiers: `allow_drop("so-so")`.
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let list = content.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
                    allow_drop = list
                        .iter()
                        .map(|l| Spanned {
                            value: l.value(),
                            span: l.span(),
                        })
                        .collect();
                }
                _ => unreachable!("keys are checked above"),
            }
            Ok(())
        });
    }
    let bare = match &name {
        Some(lit) => {
            check_identifier(&lit.value(), lit, "enum name", &mut errors);
            if lit.value().contains('.') {
                errors.push(
                    lit,
                    "an enum's name holds no `.`: name its schema with `schema = \"..\"`",
                );
            }
            lit.value()
        }
        None => snake_case(&ident.to_string()),
    };
    // `"text"` quoted is still `pg_catalog.text`, found first on the search path.
    if types::is_catalog_type_name(&bare) {
        errors.push_span(name.as_ref().map_or_else(|| ident.span(), LitStr::span), format!("`{bare}` is the name of a PostgreSQL type, which a column naming the enum would get instead: name the enum otherwise"));
    }
    if let Some(lit) = &schema {
        check_schema_name(&lit.value(), lit, &mut errors);
    }
    let type_name = model::qualified_table_name(
        schema
            .as_ref()
            .map(LitStr::value)
            .as_deref()
            .unwrap_or(model::DEFAULT_SCHEMA),
        &bare,
    );
    let (mut values, mut value_renames, mut out_variants) =
        (Vec::new(), BTreeMap::new(), Vec::new());
    for variant in variants {
        if !matches!(variant.fields, Fields::Unit) {
            errors.push(
                &variant.ident,
                "an enum type's variants are its values and hold no data: remove the fields",
            );
        }
        let (mut value_name, mut renamed_from) = (None, None);
        let mut seen = Seen::new("value");
        for attr in variant.attrs.iter().filter(|a| a.path().is_ident("value")) {
            each_key(attr, &mut errors, |meta, errors| {
                let Some(key) = accept_key(meta, VALUE_KEYS, &mut seen, errors)? else {
                    return Ok(());
                };
                match key.as_str() {
                    "name" => value_name = string_value(meta, errors)?,
                    "renamed_from" => renamed_from = string_value(meta, errors)?,
                    _ => unreachable!("keys are checked above"),
                }
                Ok(())
            });
        }
        let value = value_name
            .as_ref()
            .map(LitStr::value)
            .unwrap_or_else(|| snake_case(&variant.ident.to_string()));
        let at = value_name
            .as_ref()
            .map(LitStr::span)
            .unwrap_or_else(|| variant.ident.span());
        // PostgreSQL takes any label of 0 to 63 bytes.
        match model::name_problem(&value) {
            Some(model::NameProblem::TooLong) => errors.push_span(
                at,
                format!(
                    "enum value `{value}` is longer than 63 bytes, PostgreSQL's limit for a label"
                ),
            ),
            Some(model::NameProblem::QuoteOrControl) if value.chars().any(char::is_control) => {
                errors.push_span(
                    at,
                    format!("enum value {value:?} holds a control character"),
                )
            }
            _ => {}
        }
        if values.contains(&value) {
            errors.push_span(at, format!("enum value `{value}` is declared twice"));
        }
        if let Some(lit) = &renamed_from {
            if lit.value() == value {
                errors.push(
                    lit,
                    format!("`renamed_from = \"{value}\"` names the value itself"),
                );
            }
            value_renames.insert(
                value.clone(),
                Spanned {
                    value: lit.value(),
                    span: lit.span(),
                },
            );
        }
        out_variants.push((variant.ident.clone(), value.clone()));
        values.push(value);
    }
    if values.is_empty() {
        errors.push(
            ident,
            "an enum type needs at least one value: add a variant",
        );
    }
    for (new, hint) in &value_renames {
        if values.contains(&hint.value) {
            errors.push_span(
                hint.span,
                format!(
                    "`renamed_from = \"{}\"` on `{new}` names a value that is still declared",
                    hint.value
                ),
            );
        }
    }
    errors.finish()?;
    Ok(EnumDef {
        rust_name: ident.clone(),
        enum_type: model::EnumType {
            name: type_name,
            values,
        },
        value_renames,
        allow_drop,
        variants: out_variants,
        span: ident.span(),
    })
}

/// A table operation a handler needs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// `SELECT`
    Select,
    /// `INSERT`
    Insert,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
}

impl Operation {
    /// Spellings accepted in `#[requires_table(..)]`.
    pub const ALL: &'static [(&'static str, Operation)] = &[
        ("select", Operation::Select),
        ("insert", Operation::Insert),
        ("update", Operation::Update),
        ("delete", Operation::Delete),
    ];

    /// SQL privilege keyword.
    pub fn privilege(self) -> &'static str {
        match self {
            Operation::Select => "SELECT",
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// `#[requires_table(Type, ops.., role = "..")]`.
#[derive(Debug, Clone)]
pub struct RequiresTable {
    /// The entity type (a path to a struct deriving `Table`).
    pub table: syn::Path,
    /// Operations the handler performs, deduplicated, in declaration order.
    pub operations: Vec<Operation>,
    /// `role = ".."`, when given.
    pub role: Option<Spanned<String>>,
}

impl syn::parse::Parse for RequiresTable {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let table: syn::Path = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "`#[requires_table(..)]` starts with the table's type: `#[requires_table(Book, select)]`")
        })?;
        let mut operations = Vec::new();
        let mut role = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let ident: Ident = input.parse()?;
            if ident == "role" {
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                if role.is_some() {
                    errors.push(&ident, "duplicate `role`");
                }
                role = Some(Spanned {
                    value: lit.value(),
                    span: lit.span(),
                });
                continue;
            }
            match Operation::ALL.iter().find(|(s, _)| ident == s) {
                Some((_, op)) if operations.contains(op) => {
                    errors.push(&ident, format!("operation `{ident}` is listed twice"))
                }
                Some((_, op)) => operations.push(*op),
                None => {
                    let options: Vec<&str> = Operation::ALL.iter().map(|(s, _)| *s).collect();
                    errors.push(
                        &ident,
                        format!(
                            "unknown operation `{ident}`, expected one of {}, or `role = \"..\"`",
                            expected_one_of(&options)
                        ),
                    );
                }
            }
        }
        if operations.is_empty() {
            errors.push(&table, "`#[requires_table(..)]` needs at least one operation: `select`, `insert`, `update` or `delete`");
        }
        errors.finish()?;
        Ok(RequiresTable {
            table,
            operations,
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> syn::Result<TableDef> {
        parse_table(&syn::parse_str::<DeriveInput>(src).unwrap())
    }

    fn messages(src: &str) -> Vec<String> {
        parse(src)
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn an_enum_type_is_its_variants_values() {
        let def = parse_enum(&syn::parse_str(
            r#"#[enum_type(schema = "auth", allow_drop("old-one"))]
            enum AccessLevel { Basic, #[value(name = "super-admin")] SuperAdmin, #[value(renamed_from = "staff")] Editor }"#,
        ).unwrap())
        .unwrap();
        assert_eq!(def.enum_type.name, "auth.access_level");
        assert_eq!(def.enum_type.values, ["basic", "super-admin", "editor"]);
        assert_eq!(def.enum_type.sql_type(), "\"auth\".\"access_level\"");
        assert_eq!(def.value_renames["editor"].value, "staff");
        assert_eq!(def.allow_drop[0].value, "old-one");
        let errors = |src: &str| {
            parse_enum(&syn::parse_str(src).unwrap())
                .unwrap_err()
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        };
        assert!(errors("enum E { A(i32) }")[0].contains("hold no data"));
        assert!(errors("enum E {}")[0].contains("at least one value"));
        assert!(errors("enum E { A, #[value(name = \"a\")] B }")[0].contains("declared twice"));
        assert!(
            errors("enum E { A, #[value(renamed_from = \"a\")] B }")[0].contains("still declared")
        );
        assert!(errors("#[enum_type(name = \"a.b\")] enum E { A }")[0].contains("holds no `.`"));
        assert!(parse_enum(&syn::parse_str("struct S { a: i32 }").unwrap()).is_err());
        // A column names the enum by its SQL name, and takes its quoted name as its type.
        let t = parse(r#"struct T { #[column(primary_key)] id: i32, #[column(enum_type = "auth.access_level")] level: Option<AccessLevel> }"#).unwrap();
        assert_eq!(
            t.table.column("level").unwrap().sql_type,
            "\"auth\".\"access_level\""
        );
        assert!(!t.table.column("level").unwrap().not_null);
        let errs =
            messages(r#"struct T { #[column(enum_type = "mood", sql_type = "text")] m: Mood }"#);
        assert!(errs.iter().any(|e| e.contains("keep one")), "{errs:?}");
    }

    #[test]
    fn snake_case_handles_acronyms() {
        assert_eq!(snake_case("BookAuthor"), "book_author");
        assert_eq!(snake_case("HTTPLog"), "http_log");
        assert_eq!(snake_case("Order2Item"), "order2_item");
    }

    #[test]
    fn all_mistakes_are_reported_together() {
        let errs = messages(
            r#"struct T {
                #[column(nulable)] a: i32,
                #[column(unique, unique)] b: i32,
                c: u32,
                #[column(default = "now(")] d: i32,
            }"#,
        );
        assert_eq!(errs.len(), 4, "{errs:#?}");
        assert!(errs[0].starts_with("unknown column attribute `nulable`, expected one of `name`"));
        assert_eq!(errs[1], "duplicate column attribute `unique`");
        assert!(errs[2].starts_with("unsupported column type `u32`"));
        assert!(errs[3].contains("unbalanced parentheses"));
    }

    #[test]
    fn composite_key_and_constraints_resolve_field_names() {
        let def = parse(
            r#"#[table(name = "order_items")]
            #[primary_key(columns(order_id, line))]
            #[index(columns(sku, line), unique)]
            struct OrderItem {
                order_id: uuid::Uuid,
                line: i32,
                #[column(name = "product_sku", sql_type = "varchar(32)")] sku: String,
                note: Option<String>,
            }"#,
        )
        .unwrap();
        let t = &def.table;
        assert_eq!(
            t.primary_key.as_ref().unwrap().columns,
            ["order_id", "line"]
        );
        assert_eq!(t.primary_key.as_ref().unwrap().name, "order_items_pkey");
        let ix = &t.indexes["order_items_product_sku_line_idx"];
        assert!(ix.unique);
        assert_eq!(
            t.column("product_sku").unwrap().sql_type,
            "character varying(32)"
        );
        assert!(!t.column("note").unwrap().not_null);
    }

    #[test]
    fn a_table_in_another_schema_is_named_schema_dot_table() {
        let def = parse(
            r#"#[table(name = "members", schema = "auth", renamed_from = "accounts")]
            #[foreign_key(columns(org_id), references = "billing.orgs(id)")]
            struct M { #[column(primary_key)] id: i32, #[column(references = "users.id")] user_id: i32, #[column(references = "public.teams.id")] team_id: i32, org_id: i32 }"#,
        )
        .unwrap();
        let t = &def.table;
        assert_eq!(t.name, "auth.members");
        // Constraint names are made from the name in the schema, as PostgreSQL makes them.
        assert_eq!(t.primary_key.as_ref().unwrap().name, "members_pkey");
        assert_eq!(
            t.foreign_keys["members_user_id_fkey"].references_table,
            "users"
        );
        assert_eq!(
            t.foreign_keys["members_team_id_fkey"].references_table,
            "teams"
        );
        assert_eq!(
            t.foreign_keys["members_org_id_fkey"].references_table,
            "billing.orgs"
        );
        assert_eq!(def.renamed_from.unwrap().value, "auth.accounts");
        let errs = messages(r#"#[table(name = "a.b")] struct T { id: i32 }"#);
        assert!(
            errs.iter()
                .any(|e| e.contains("table name `a.b` holds a `.`")),
            "{errs:?}"
        );
        let errs = messages(r#"#[table(schema = "pg_mine")] struct T { id: i32 }"#);
        assert!(
            errs.iter()
                .any(|e| e.contains("schema `pg_mine` is PostgreSQL's own")),
            "{errs:?}"
        );
        let errs =
            messages(r#"#[table(schema = "auth", renamed_from = "other.t")] struct T { id: i32 }"#);
        assert!(
            errs.iter()
                .any(|e| e.contains("cannot move between schemas")),
            "{errs:?}"
        );
        let errs = messages(r#"struct T { #[column(references = "a.b.c.id")] x: i32 }"#);
        assert!(
            errs.iter().any(|e| e.contains("schema.table.column")),
            "{errs:?}"
        );
    }

    #[test]
    fn fill_is_kept_for_not_null_columns_and_refused_where_meaningless() {
        let def = parse(r#"struct T { #[column(primary_key)] id: i32, #[column(fill = " 'n/a' ")] note: String }"#).unwrap();
        assert_eq!(
            def.column_fills.get("note").map(SqlExpr::as_str),
            Some("'n/a'")
        );
        assert!(
            def.table.column("note").unwrap().default.is_none(),
            "a fill is not a default"
        );
        let errs = messages(
            r#"struct T {
                #[column(fill = "0")] a: Option<i32>,
                #[column(identity, fill = "1")] b: i64,
                #[column(fill = "1; DROP TABLE t")] c: i32,
            }"#,
        );
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(
            errs[0].starts_with("`fill` gives existing rows a value"),
            "{}",
            errs[0]
        );
        assert_eq!(errs[1], "an `identity` column fills itself: remove `fill`");
        assert!(
            errs[2].starts_with("bad `fill`: `fill = \"1; DROP TABLE t\"` contains `;`"),
            "{}",
            errs[2]
        );
    }

    #[test]
    fn two_primary_keys_are_refused() {
        let errs =
            messages("struct T { #[column(primary_key)] a: i32, #[column(primary_key)] b: i32 }");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("a table has one primary key"));
    }

    #[test]
    fn check_needs_name_and_expr() {
        let errs =
            messages("#[check(expr = \"a > 0\")] struct T { #[column(primary_key)] a: i32 }");
        assert_eq!(errs, ["`#[check(..)]` needs `name = \"..\"`"]);
    }

    #[test]
    fn requires_table_reports_unknown_operations() {
        let err = syn::parse_str::<RequiresTable>("Book, select, selct").unwrap_err();
        assert!(err.to_string().starts_with("unknown operation `selct`"));
        let ok = syn::parse_str::<RequiresTable>("crate::Book, select, insert, role = \"writer\"")
            .unwrap();
        assert_eq!(ok.operations, [Operation::Select, Operation::Insert]);
        assert_eq!(ok.role.unwrap().value, "writer");
    }

    #[test]
    fn a_composite_foreign_key_is_declared_on_the_struct() {
        let def = parse(
            r#"#[foreign_key(columns(doc_id, doc_at), references = "documents(id, created_at)", on_update = "cascade", match_full, deferrable, initially_deferred)]
            struct Suggestion { #[column(primary_key)] id: i64, doc_id: i64, doc_at: i64 }"#,
        )
        .unwrap();
        let fk = &def.table.foreign_keys["suggestion_doc_id_doc_at_fkey"];
        assert_eq!(
            (
                fk.columns.as_slice(),
                fk.references_table.as_str(),
                fk.references_columns.as_slice()
            ),
            (
                &["doc_id".to_owned(), "doc_at".to_owned()][..],
                "documents",
                &["id".to_owned(), "created_at".to_owned()][..]
            )
        );
        assert_eq!(
            (
                fk.on_update,
                fk.match_full,
                fk.deferrable,
                fk.initially_deferred
            ),
            (Some(ReferentialAction::Cascade), true, true, true)
        );
        let errs = messages(
            r#"#[foreign_key(columns(a, b), references = "p(x)", initially_deferred)]
            #[foreign_key(columns(a), references = "p.x")]
            #[foreign_key(references = "p(x)")]
            struct T { #[column(primary_key)] a: i64, b: i64 }"#,
        );
        assert_eq!(
            errs,
            [
                "`initially_deferred` needs `deferrable` too",
                "`#[foreign_key(..)]` needs `columns(..)`",
                "`references` names 1 column(s) for 2 in `columns(..)`: name one for each",
                "`references` takes `\"table(column, ..)\"`, for example `references = \"documents(id, created_at)\"`",
            ]
        );
    }

    #[test]
    fn index_keys_take_expressions_and_options() {
        let def = parse(
            r#"#[index(columns("lower(email)"), unique)]
            #[index(columns(at desc nulls_last, data ops = "varchar_pattern_ops"), method = "BTREE", include(email), where = "at IS NOT NULL")]
            #[index(columns(at desc nulls_first))]
            #[index(columns(data ops = "jsonb_path_ops"), method = "gin")]
            struct Users { #[column(primary_key)] id: i64, email: String, at: i64, data: String }"#,
        )
        .unwrap();
        let lower = &def.table.indexes["users_lower_idx"];
        assert!(
            lower.unique
                && matches!(&lower.columns[0].target, KeyTarget::Expression(e) if e.as_str() == "lower(email)")
        );
        let ordered = &def.table.indexes["users_at_data_idx"];
        assert_eq!(ordered.method, None, "btree is the default");
        assert_eq!(
            (
                ordered.columns[0].descending,
                ordered.columns[0].nulls_first
            ),
            (true, Some(false))
        );
        assert_eq!(
            ordered.columns[1].opclass.as_deref(),
            Some("varchar_pattern_ops")
        );
        assert_eq!(
            (
                ordered.include.as_slice(),
                ordered.predicate.as_ref().map(|p| p.as_str())
            ),
            (&["email".to_owned()][..], Some("at IS NOT NULL"))
        );
        let gin = &def.table.indexes["users_data_idx"];
        assert_eq!(
            (gin.method, gin.columns[0].opclass.as_deref()),
            (Some(IndexMethod::Gin), Some("jsonb_path_ops"))
        );
        // DESC puts NULLs first already: said once.
        assert_eq!(
            def.table.indexes["users_at_idx"].columns[0].nulls_first,
            None
        );
        let errs = messages(
            r#"#[index(columns(email sideways, nope, "lower(email"), method = "rtree")]
            #[index(columns(email), unique, method = "gin")]
            struct T { #[column(primary_key)] id: i64, email: String }"#,
        );
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(
            errs[0].starts_with("unknown index key option `sideways`"),
            "{}",
            errs[0]
        );
        assert_eq!(errs[1], "no column field `nope` in `T`");
        assert!(
            errs[2].starts_with("bad index key expression: "),
            "{}",
            errs[2]
        );
        assert!(
            errs[3].starts_with("unknown index method `rtree`"),
            "{}",
            errs[3]
        );
        assert_eq!(errs[4], "only a btree index can be `unique`");
    }

    #[test]
    fn expression_keys_are_named_as_postgresql_names_them() {
        let name = |text: &str| expression_name_part(&SqlExpr::parse("columns", text).unwrap());
        assert_eq!(name("lower(email)"), "lower");
        assert_eq!(name("(public.LOWER(email))"), "lower");
        assert_eq!(name("email::text"), "email");
        assert_eq!(name("a + b"), "expr");
        assert_eq!(name("'x'"), "expr");
    }

    #[test]
    fn identities_take_their_kind_and_options() {
        let def = parse("struct T { #[column(primary_key, identity(always, start = -10, increment = -1, cache = 65536))] id: i64, #[column(identity(cache = 1))] n: i64 }").unwrap();
        assert_eq!(
            def.table.columns[0].identity,
            Some(Identity {
                always: true,
                start: Some(-10),
                increment: Some(-1),
                cache: Some(65536)
            })
        );
        assert_eq!(
            def.table.columns[1].identity,
            Some(Identity::default()),
            "the defaults are not spelled out"
        );
        let errs = messages(
            "struct T { #[column(primary_key, identity(sometimes, increment = 0, cache = \"1\"))] id: i64 }",
        );
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(
            errs[0].starts_with("unknown identity attribute `sometimes`"),
            "{}",
            errs[0]
        );
        assert_eq!(errs[1], "`increment` cannot be 0");
        assert!(
            errs[2].starts_with("`cache` takes a whole number"),
            "{}",
            errs[2]
        );
    }

    /// What PostgreSQL would refuse at deploy is refused here, and a default written out
    /// is written as none (the catalog cannot tell them apart).
    #[test]
    fn what_postgresql_refuses_is_refused_and_defaults_are_none() {
        let errs = messages(
            r#"#[index(columns(a, b), method = "hash")]
            #[index(columns(j desc), method = "gin", include(a))]
            struct T { #[column(primary_key, identity(start = 0))] id: i64, #[column(collation = "C")] a: i64, b: i64, j: String }"#,
        );
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(
            errs[0].starts_with(
                "`start = 0` is outside the sequence's range for a `bigint` counting up: 1 to"
            ),
            "{}",
            errs[0]
        );
        assert_eq!(
            errs[1],
            "a `bigint` column has no collation: `collation` is for text columns"
        );
        assert_eq!(errs[2], "a hash index has one key");
        assert_eq!(
            errs[3],
            "only a btree index orders its keys: remove `desc`, `nulls_first` and `nulls_last`, or the `method`"
        );
        assert_eq!(
            errs[4],
            "only btree, gist and spgist indexes take `include(..)`"
        );
        let def = parse(r#"#[index(columns(a ops = "text_ops" collation = "default", b ops = "pg_catalog.int8_ops"))] struct T { #[column(primary_key)] id: i64, #[column(collation = "default")] a: String, b: i64 }"#).unwrap();
        let key = &def.table.indexes["t_a_b_idx"].columns;
        assert_eq!(
            (
                key[0].opclass.as_deref(),
                key[0].collation.as_deref(),
                key[1].opclass.as_deref()
            ),
            (None, None, None)
        );
        assert_eq!(def.table.columns[1].collation, None);
    }

    /// PostgreSQL keeps only the key of a key and a unique over the same columns.
    #[test]
    fn a_unique_over_the_primary_key_is_absorbed() {
        let def = parse("#[unique(columns(a, b))] #[primary_key(columns(a, b))] struct T { a: i64, b: i64, #[column(unique)] c: i64 }").unwrap();
        assert_eq!(def.absorbed_uniques, ["t_a_b_key"]);
        assert_eq!(def.table.uniques.keys().collect::<Vec<_>>(), ["t_c_key"]);
    }
}
