//! `#[derive(Enum)]`: a Rust enum as a database enum type, its values and renames.

use super::Errors;
use super::Spanned;
use super::attrs::ENUM_KEYS;
use super::attrs::Seen;
use super::attrs::VALUE_KEYS;
use super::attrs::accept_key;
use super::attrs::each_key;
use super::attrs::string_value;
use super::snake_case;
use super::table::check_identifier;
use super::table::check_schema_name;
use crate::schema::model::{self};
use crate::schema::types;
use proc_macro2::Span;
use std::collections::BTreeMap;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr, Token};

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

pub(super) fn parse_enum_parts<'a>(
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
