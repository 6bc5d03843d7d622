//! The typed attributes: each of `#[table]`, `#[column]`, `#[index]`, `#[unique]`,
//! `#[primary_key]`, `#[foreign_key]` and `#[check]` read key by key into a struct of its
//! own (diesel's `attrs.rs` split), every unknown, duplicated or malformed key recorded
//! with its span. What the attributes mean together is [`super::table`]'s.

use super::Errors;
use super::Spanned;
use crate::schema::model::{self, Identity, ReferentialAction};
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::collections::BTreeSet;
use syn::ext::IdentExt as _;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Attribute, Expr, Ident, Lit, LitStr, Token};

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

pub(super) fn expected_one_of(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tracks which keys of one attribute were already given, to report duplicates.
pub(super) struct Seen<'a> {
    pub(super) what: &'a str,
    pub(super) keys: BTreeSet<String>,
}

impl<'a> Seen<'a> {
    pub(super) fn new(what: &'a str) -> Self {
        Seen {
            what,
            keys: BTreeSet::new(),
        }
    }

    /// True the first time `key` is seen; records a duplicate error otherwise.
    pub(super) fn first(&mut self, meta: &ParseNestedMeta, key: &str, errors: &mut Errors) -> bool {
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
pub(super) fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
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
pub(super) fn accept_key(
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

pub(super) fn key_name(meta: &ParseNestedMeta) -> String {
    meta.path
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_else(|| meta.path.to_token_stream().to_string())
}

/// `key = "string"`; records an error (and returns `None`) for anything else.
pub(super) fn string_value(
    meta: &ParseNestedMeta,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
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
pub(super) fn flag(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
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
pub(super) fn integer_value(
    meta: &ParseNestedMeta,
    errors: &mut Errors,
) -> syn::Result<Option<i64>> {
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
pub(super) fn identity_options(
    meta: &ParseNestedMeta,
    errors: &mut Errors,
) -> syn::Result<Identity> {
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

pub(super) fn ident_list(
    meta: &ParseNestedMeta,
    errors: &mut Errors,
) -> syn::Result<Option<Vec<Ident>>> {
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
pub(super) fn each_key(
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
pub(super) struct ColumnAttrs {
    pub(super) name: Option<LitStr>,
    pub(super) primary_key: Option<Span>,
    pub(super) unique: bool,
    pub(super) sql_type: Option<LitStr>,
    pub(super) default: Option<LitStr>,
    pub(super) renamed_from: Option<LitStr>,
    pub(super) references: Option<LitStr>,
    pub(super) on_delete: Option<LitStr>,
    pub(super) on_update: Option<LitStr>,
    pub(super) foreign_key_name: Option<LitStr>,
    pub(super) identity: Option<(Span, Identity)>,
    pub(super) collation: Option<LitStr>,
    pub(super) enum_type: Option<LitStr>,
    pub(super) skip: bool,
    pub(super) fill: Option<LitStr>,
}

pub(super) fn parse_column_attrs(attrs: &[Attribute], errors: &mut Errors) -> ColumnAttrs {
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
pub(super) struct KeyAttr {
    pub(super) columns: Vec<Ident>,
    pub(super) name: Option<LitStr>,
    pub(super) span: Span,
}

pub(super) fn parse_key_attr(
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
pub(super) struct IndexKeyAttr {
    pub(super) target: Result<Ident, LitStr>,
    pub(super) descending: bool,
    pub(super) nulls_first: Option<bool>,
    pub(super) opclass: Option<LitStr>,
    pub(super) collation: Option<LitStr>,
}

pub(super) struct IndexAttr {
    pub(super) keys: Vec<IndexKeyAttr>,
    pub(super) unique: bool,
    pub(super) name: Option<LitStr>,
    pub(super) method: Option<LitStr>,
    pub(super) include: Vec<Ident>,
    pub(super) predicate: Option<LitStr>,
    pub(super) span: Span,
}

/// `columns(a, b desc nulls_last, "lower(email)", data ops = "jsonb_path_ops")`.
pub(super) fn index_keys(
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

pub(super) fn parse_index_attr(attr: &Attribute, errors: &mut Errors) -> Option<IndexAttr> {
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

pub(super) struct ForeignKeyAttr {
    pub(super) columns: Vec<Ident>,
    pub(super) references: LitStr,
    pub(super) name: Option<LitStr>,
    pub(super) on_delete: Option<LitStr>,
    pub(super) on_update: Option<LitStr>,
    pub(super) match_full: bool,
    pub(super) deferrable: bool,
    pub(super) initially_deferred: Option<Span>,
    pub(super) span: Span,
}

pub(super) fn parse_foreign_key_attr(
    attr: &Attribute,
    errors: &mut Errors,
) -> Option<ForeignKeyAttr> {
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
pub(super) fn referenced_columns(text: &str) -> Option<(String, Vec<String>)> {
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
pub(super) struct StructAttrs {
    pub(super) name: Option<LitStr>,
    pub(super) schema: Option<LitStr>,
    pub(super) renamed_from: Option<LitStr>,
    pub(super) allow_drop: Vec<Spanned<String>>,
    pub(super) indexes: Vec<IndexAttr>,
    pub(super) foreign_keys: Vec<ForeignKeyAttr>,
    pub(super) uniques: Vec<KeyAttr>,
    pub(super) primary_keys: Vec<KeyAttr>,
    pub(super) checks: Vec<(LitStr, LitStr, Span)>,
}

pub(super) fn parse_struct_attrs(attrs: &[Attribute], errors: &mut Errors) -> StructAttrs {
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

pub(super) fn referential_action(
    lit: Option<&LitStr>,
    errors: &mut Errors,
) -> Option<ReferentialAction> {
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
