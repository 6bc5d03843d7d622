//! The schema model written back as Rust entity structs in the schema language, for `pull`
//! (a live database) and `import drizzle` (a drizzle snapshot): the inverse of the grammar.
//!
//! What the language cannot say is never dropped silently: the written source is read back
//! by the scanner and compared with the model, and every difference is listed with the
//! structs.

use crate::schema::compare;
use crate::schema::model::{
    self, Column, ForeignKey, Identity, Index, KeyTarget, ReferentialAction, Schema, Table,
};
use crate::schema::scan;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use std::collections::BTreeMap;
use std::path::Path;

/// Entity structs for a schema, and what they could not express.
#[derive(Debug, Clone)]
pub struct Entities {
    /// The Rust source, formatted.
    pub source: String,
    /// What the structs do not declare as the model has it, one line each.
    pub not_expressed: Vec<String>,
}

/// Rust's strict and reserved keywords: a column with such a name gets another field
/// name and `#[column(name = "..")]`.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// The Rust type the schema language maps to exactly this canonical SQL type.
fn mapped_rust_type(sql_type: &str) -> Option<TokenStream> {
    Some(match sql_type {
        "text" => quote!(String),
        "boolean" => quote!(bool),
        "smallint" => quote!(i16),
        "integer" => quote!(i32),
        "bigint" => quote!(i64),
        "real" => quote!(f32),
        "double precision" => quote!(f64),
        "uuid" => quote!(Uuid),
        "timestamp with time zone" => quote!(DateTime<Utc>),
        "timestamp without time zone" => quote!(NaiveDateTime),
        "date" => quote!(NaiveDate),
        "time without time zone" => quote!(NaiveTime),
        "numeric" => quote!(Decimal),
        "jsonb" => quote!(serde_json::Value),
        "bytea" => quote!(Vec<u8>),
        _ => return None,
    })
}

/// The Rust type for a type the mapping does not produce, given with `sql_type`: the
/// nearest one an application would read it into.
fn nearest_rust_type(sql_type: &str) -> TokenStream {
    let base = crate::schema::types::without_modifiers(sql_type);
    match base.as_str() {
        "numeric" => quote!(Decimal),
        "json" => quote!(serde_json::Value),
        "timestamp with time zone" => quote!(DateTime<Utc>),
        "timestamp without time zone" => quote!(NaiveDateTime),
        "time without time zone" => quote!(NaiveTime),
        _ => quote!(String),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_lowercase())
        && chars.all(|c| c == '_' || c.is_ascii_lowercase() || c.is_ascii_digit())
        && !KEYWORDS.contains(&name)
        && name != "_"
}

/// A field name for a column: the column's own name when Rust allows it.
fn field_name(column: &str) -> (Ident, bool) {
    if is_identifier(column) {
        return (Ident::new(column, Span::call_site()), false);
    }
    let mut out: String = column
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty()
        || out.starts_with(|c: char| c.is_ascii_digit())
        || KEYWORDS.contains(&out.as_str())
        || out == "_"
    {
        out.insert_str(0, "col_");
    }
    (Ident::new(&out, Span::call_site()), true)
}

/// `order_items` → `OrderItems`.
fn struct_name(table: &str) -> Ident {
    let mut out = String::new();
    for part in table
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Table");
    }
    // The one keyword a capitalised name can be.
    if out == "Self" {
        out.push_str("Type");
    }
    Ident::new(&out, Span::call_site())
}

fn action_text(action: ReferentialAction) -> String {
    action.sql().to_ascii_lowercase()
}

/// Field names for a table's columns, distinct: a name another column's field already
/// took gets a number (`order_date_2`), and keeps its column name in `name = ".."`.
fn field_names(table: &Table) -> Vec<(Ident, bool)> {
    let mut taken = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for column in &table.columns {
        let (mut field, mut renamed) = field_name(&column.name);
        let base = field.to_string();
        let mut n = 2;
        while !taken.insert(field.to_string()) {
            field = Ident::new(&format!("{base}_{n}"), Span::call_site());
            renamed = true;
            n += 1;
        }
        out.push((field, renamed));
    }
    out
}

/// The Rust enum written for each enum type, keyed by the column type that names it, with
/// the type's model name.
type EnumIdents = BTreeMap<String, (Ident, String)>;

fn column_tokens(
    table: &Table,
    column: &Column,
    (field, renamed): (Ident, bool),
    enums: &EnumIdents,
) -> TokenStream {
    let mut attrs: Vec<TokenStream> = Vec::new();
    if renamed {
        let name = &column.name;
        attrs.push(quote!(name = #name));
    }
    let single = |columns: &[String]| columns.len() == 1 && columns[0] == column.name;
    if let Some(pk) = &table.primary_key
        && single(&pk.columns)
        && pk.name == model::make_object_name(model::bare_table_name(&table.name), None, "pkey")
    {
        attrs.push(quote!(primary_key));
    }
    if let Some(unique) = table.uniques.values().find(|u| {
        single(&u.columns) && u.name == model::default_name(&table.name, &u.columns, "key")
    }) {
        let _ = unique;
        attrs.push(quote!(unique));
    }
    let rust_type = match (
        enums.get(column.sql_type.as_str()),
        mapped_rust_type(&column.sql_type),
    ) {
        (Some((ident, name)), _) => {
            attrs.push(quote!(enum_type = #name));
            quote!(#ident)
        }
        (None, Some(t)) => t,
        (None, None) => {
            let sql_type = column.sql_type.as_str();
            attrs.push(quote!(sql_type = #sql_type));
            nearest_rust_type(sql_type)
        }
    };
    if let Some(identity) = &column.identity {
        attrs.push(identity_tokens(identity, column.sql_type.as_str()));
    }
    if let Some(collation) = &column.collation {
        attrs.push(quote!(collation = #collation));
    }
    if let Some(default) = column.default.as_deref() {
        attrs.push(quote!(default = #default));
    }
    if let Some(fk) = table
        .foreign_keys
        .values()
        .find(|fk| on_its_column(table, fk) && fk.columns[0] == column.name)
    {
        let references = format!("{}.{}", fk.references_table, fk.references_columns[0]);
        attrs.push(quote!(references = #references));
        if let Some(action) = fk.on_delete.filter(|a| *a != ReferentialAction::NoAction) {
            let action = action_text(action);
            attrs.push(quote!(on_delete = #action));
        }
        if let Some(action) = fk.on_update.filter(|a| *a != ReferentialAction::NoAction) {
            let action = action_text(action);
            attrs.push(quote!(on_update = #action));
        }
        if fk.name != model::default_name(&table.name, &fk.columns, "fkey") {
            let name = &fk.name;
            attrs.push(quote!(foreign_key_name = #name));
        }
    }
    let ty = if column.not_null {
        rust_type
    } else {
        quote!(Option<#rust_type>)
    };
    let attr = if attrs.is_empty() {
        quote!()
    } else {
        quote!(#[column(#(#attrs),*)])
    };
    quote! {
        #attr
        pub #field: #ty,
    }
}

/// `identity`, or `identity(always, start = ..)` with what is not the default.
fn identity_tokens(identity: &Identity, sql_type: &str) -> TokenStream {
    if *identity == Identity::default() {
        return quote!(identity);
    }
    let mut options = Vec::new();
    if identity.always {
        options.push(quote!(always));
    }
    // A start the grammar refuses (a sequence with bounds of its own, which the structs do
    // not declare and pull lists) is left out, so that the structs compile.
    let start = identity
        .start
        .filter(|s| identity.start_range(sql_type).contains(s));
    for (key, value) in [
        ("start", start),
        ("increment", identity.increment),
        ("cache", identity.cache),
    ] {
        if let Some(value) = value {
            let key = Ident::new(key, Span::call_site());
            let value = proc_macro2::Literal::i64_unsuffixed(value);
            options.push(quote!(#key = #value));
        }
    }
    quote!(identity(#(#options),*))
}

/// Whether a foreign key is written on its column (`references = "t.c"`): one column, no
/// MATCH FULL or deferral, and the first such key of the column.
fn on_its_column(table: &Table, fk: &ForeignKey) -> bool {
    let plain = |k: &ForeignKey| k.columns.len() == 1 && !k.match_full && !k.deferrable;
    plain(fk)
        && table
            .foreign_keys
            .values()
            .find(|k| plain(k) && k.columns == fk.columns)
            .is_some_and(|first| first.name == fk.name)
}

/// `#[foreign_key(columns(..), references = "t(..)", ..)]`.
fn foreign_key_tokens(table: &Table, fk: &ForeignKey) -> Option<TokenStream> {
    let columns = column_list(table, &fk.columns)?;
    let references = format!(
        "{}({})",
        fk.references_table,
        fk.references_columns.join(", ")
    );
    let mut options = vec![quote!(references = #references)];
    if fk.name != model::default_name(&table.name, &fk.columns, "fkey") {
        let name = &fk.name;
        options.push(quote!(name = #name));
    }
    for (key, action) in [("on_delete", fk.on_delete), ("on_update", fk.on_update)] {
        if let Some(action) = action.filter(|a| *a != ReferentialAction::NoAction) {
            let (key, action) = (Ident::new(key, Span::call_site()), action_text(action));
            options.push(quote!(#key = #action));
        }
    }
    for (key, on) in [
        ("match_full", fk.match_full),
        ("deferrable", fk.deferrable),
        ("initially_deferred", fk.initially_deferred),
    ] {
        if on {
            let key = Ident::new(key, Span::call_site());
            options.push(quote!(#key));
        }
    }
    Some(quote!(#[foreign_key(#columns, #(#options),*)]))
}

/// `#[index(columns(..), ..)]`, keys with their options.
fn index_tokens(table: &Table, index: &Index) -> Option<TokenStream> {
    let names = field_names(table);
    let field = |column: &str| {
        table
            .columns
            .iter()
            .position(|c| c.name == column)
            .map(|i| names[i].0.clone())
    };
    let mut keys = Vec::new();
    let mut name_parts = Vec::new();
    for key in &index.columns {
        let mut tokens = match &key.target {
            KeyTarget::Column(c) => {
                name_parts.push(c.clone());
                let f = field(c)?;
                quote!(#f)
            }
            KeyTarget::Expression(e) => {
                name_parts.push(crate::schema::grammar::expression_name_part(e));
                let text = e.as_str();
                quote!(#text)
            }
        };
        if key.descending {
            tokens.extend(quote!(desc));
        }
        match key.nulls_first {
            Some(true) => tokens.extend(quote!(nulls_first)),
            Some(false) => tokens.extend(quote!(nulls_last)),
            None => {}
        }
        if let Some(opclass) = &key.opclass {
            tokens.extend(quote!(ops = #opclass));
        }
        if let Some(collation) = &key.collation {
            tokens.extend(quote!(collation = #collation));
        }
        keys.push(tokens);
    }
    let mut options = vec![quote!(columns(#(#keys),*))];
    if index.unique {
        options.push(quote!(unique));
    }
    if let Some(method) = index.method {
        let method = method.sql();
        options.push(quote!(method = #method));
    }
    if !index.include.is_empty() {
        let include: Option<Vec<Ident>> = index.include.iter().map(|c| field(c)).collect();
        let include = include?;
        options.push(quote!(include(#(#include),*)));
    }
    if let Some(predicate) = &index.predicate {
        let predicate = predicate.as_str();
        options.push(quote!(where = #predicate));
    }
    if index.name != model::default_name(&table.name, &name_parts, "idx") {
        let name = &index.name;
        options.push(quote!(name = #name));
    }
    Some(quote!(#[index(#(#options),*)]))
}

fn column_list(table: &Table, columns: &[String]) -> Option<TokenStream> {
    let names = field_names(table);
    let fields: Option<Vec<Ident>> = columns
        .iter()
        .map(|c| {
            table
                .columns
                .iter()
                .position(|col| col.name == *c)
                .map(|i| names[i].0.clone())
        })
        .collect();
    let fields = fields?;
    Some(quote!(columns(#(#fields),*)))
}

fn table_tokens(table: &Table, ident: Ident, enums: &EnumIdents) -> TokenStream {
    let doc = format!(" The `{}` table.", table.name);
    let mut attrs: Vec<TokenStream> = vec![match model::split_table_name(&table.name) {
        (Some(schema), name) => quote!(#[table(name = #name, schema = #schema)]),
        (None, name) => quote!(#[table(name = #name)]),
    }];
    if let Some(pk) = &table.primary_key
        && (pk.columns.len() > 1
            || pk.name
                != model::make_object_name(model::bare_table_name(&table.name), None, "pkey"))
        && let Some(columns) = column_list(table, &pk.columns)
    {
        let key_name = &pk.name;
        let named = (pk.name
            != model::make_object_name(model::bare_table_name(&table.name), None, "pkey"))
        .then(|| quote!(, name = #key_name));
        attrs.push(quote!(#[primary_key(#columns #named)]));
    }
    for unique in table.uniques.values() {
        let default = model::default_name(&table.name, &unique.columns, "key");
        if unique.columns.len() == 1 && unique.name == default {
            continue; // on the column
        }
        if let Some(columns) = column_list(table, &unique.columns) {
            let key_name = &unique.name;
            let named = (unique.name != default).then(|| quote!(, name = #key_name));
            attrs.push(quote!(#[unique(#columns #named)]));
        }
    }
    attrs.extend(
        table
            .indexes
            .values()
            .filter_map(|index| index_tokens(table, index)),
    );
    attrs.extend(
        table
            .foreign_keys
            .values()
            .filter(|fk| !on_its_column(table, fk))
            .filter_map(|fk| foreign_key_tokens(table, fk)),
    );
    for check in table.checks.values() {
        let (check_name, expr) = (&check.name, check.expression.as_str());
        attrs.push(quote!(#[check(name = #check_name, expr = #expr)]));
    }
    let fields = table
        .columns
        .iter()
        .zip(field_names(table))
        .map(|(c, f)| column_tokens(table, c, f, enums));
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Table)]
        #(#attrs)*
        pub struct #ident {
            #(#fields)*
        }
    }
}

/// `base`, or `base2`, `base3`, .. : the first that neither it nor its `<name>Iden` (which
/// the derive defines) takes; both are then taken.
fn unused_name(base: &str, taken: &mut std::collections::BTreeSet<String>) -> Ident {
    let mut name = base.to_owned();
    let mut n = 2;
    while taken.contains(&name) || taken.contains(&format!("{name}Iden")) {
        name = format!("{base}{n}");
        n += 1;
    }
    taken.insert(format!("{name}Iden"));
    taken.insert(name.clone());
    Ident::new(&name, Span::call_site())
}

/// `#[derive(Enum)] pub enum ..`: a variant per value, named from it (`#[value(name)]`
/// where the variant's snake_case name is not the value).
fn enum_tokens(e: &crate::schema::model::EnumType, ident: &Ident) -> TokenStream {
    let doc = format!(" The `{}` enum type.", e.name);
    let attr = match model::split_table_name(&e.name) {
        (Some(schema), name) => quote!(#[enum_type(name = #name, schema = #schema)]),
        (None, name) => quote!(#[enum_type(name = #name)]),
    };
    let mut taken = std::collections::BTreeSet::new();
    let variants = e.values.iter().map(|value| {
        let base = struct_name(value).to_string();
        // (A value with no letter or digit names no variant of its own.)
        let base = if base.starts_with("Table") && !value.to_ascii_lowercase().starts_with("table")
        {
            "Value".to_owned()
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{base}{n}");
            n += 1;
        }
        let variant = Ident::new(&name, Span::call_site());
        if crate::schema::grammar::snake_case(&name) == *value {
            quote!(#variant,)
        } else {
            quote!(#[value(name = #value)] #variant,)
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        #attr
        pub enum #ident {
            #(#variants)*
        }
    }
}

/// Writes `schema` as entity structs, with a header naming `origin`, and lists what they
/// do not express (read back through the scanner and compared with `schema`).
pub fn entities(schema: &Schema, origin: &str) -> Entities {
    let mut struct_names = std::collections::BTreeSet::new();
    let mut enum_idents = EnumIdents::new();
    let mut enum_items = Vec::new();
    for e in schema.enums.values() {
        let ident = unused_name(&struct_name(&e.name).to_string(), &mut struct_names);
        enum_items.push(enum_tokens(e, &ident));
        enum_idents.insert(e.sql_type(), (ident, e.name.clone()));
    }
    let tables: Vec<TokenStream> = schema
        .tables
        .values()
        .map(|t| {
            let ident = unused_name(&struct_name(&t.name).to_string(), &mut struct_names);
            table_tokens(t, ident, &enum_idents)
        })
        .collect();
    let tables: Vec<TokenStream> = enum_items.into_iter().chain(tables).collect();
    // Only the imports the structs use, so that they compile without warnings.
    let mut used = std::collections::BTreeSet::new();
    fn idents(tokens: TokenStream, out: &mut std::collections::BTreeSet<String>) {
        for token in tokens {
            match token {
                proc_macro2::TokenTree::Ident(i) => {
                    out.insert(i.to_string());
                }
                proc_macro2::TokenTree::Group(g) => idents(g.stream(), out),
                _ => {}
            }
        }
    }
    for t in &tables {
        idents(t.clone(), &mut used);
    }
    let chrono: Vec<Ident> = ["DateTime", "NaiveDate", "NaiveDateTime", "NaiveTime", "Utc"]
        .iter()
        .filter(|n| used.contains(**n))
        .map(|n| Ident::new(n, Span::call_site()))
        .collect();
    let mut imports = TokenStream::new();
    if !chrono.is_empty() {
        imports.extend(quote!(use chrono::{#(#chrono),*};));
    }
    if used.contains("Decimal") {
        imports.extend(quote!(
            use rust_decimal::Decimal;
        ));
    }
    if schema.enums.is_empty() {
        imports.extend(quote!(
            use tablewright_derive::Table;
        ));
    } else {
        imports.extend(quote!(
            use tablewright_derive::{Enum, Table};
        ));
    }
    if used.contains("Uuid") {
        imports.extend(quote!(
            use uuid::Uuid;
        ));
    }
    // One item at a time, so that a blank line separates the structs.
    let items: Vec<String> = std::iter::once(imports)
        .chain(tables)
        .map(format_item)
        .collect();
    let source = format!(
        "//! Entity structs written by tablewright from {origin}.\n//! Review them, then `tablewright generate` compares them with the last snapshot.\n\n{}",
        items.join("\n")
    );
    let not_expressed = read_back(schema, &source);
    Entities {
        source,
        not_expressed,
    }
}

/// Formats tokens as rustfmt would. They are built from idents and literals only, so they
/// always parse; the unformatted text stands in if that ever changes.
fn format_item(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => format!("{tokens}\n"),
    }
}

/// The differences between `schema` and what the scanner reads from `source`.
fn read_back(schema: &Schema, source: &str) -> Vec<String> {
    let mut scanned = scan::Scan::default();
    let mut errors = Vec::new();
    scan::scan_source(
        Path::new("entities.rs"),
        source,
        &mut scanned,
        &mut errors,
        &crate::schema::sql_text::ParsedFragments,
    );
    let mut out: Vec<String> = errors
        .iter()
        .map(|e| format!("the schema language refuses it: {}", e.message))
        .collect();
    for difference in compare::differences(schema, &scanned.desired.schema) {
        out.push(match difference {
            compare::Difference::MissingObject { table, object, name, definition } => format!("`{table}`: {object} `{name}` ({definition}) cannot be declared in the schema language"),
            other => format!("{other} (the structs differ from the database here)"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_rust_cannot_take_get_a_column_name() {
        assert_eq!(field_name("title").0.to_string(), "title");
        assert_eq!(
            field_name("type"),
            (Ident::new("col_type", Span::call_site()), true)
        );
        assert_eq!(field_name("Order Date").0.to_string(), "order_date");
        assert_eq!(field_name("2fa").0.to_string(), "col_2fa");
        assert_eq!(struct_name("order_items").to_string(), "OrderItems");
    }

    #[test]
    fn columns_whose_names_meet_get_distinct_fields() {
        let column = |name: &str| Column {
            name: name.into(),
            sql_type: crate::schema::model::SqlType::parse("text").unwrap(),
            not_null: false,
            default: None,
            identity: None,
            collation: None,
        };
        let table = Table {
            name: "t".into(),
            columns: vec![
                column("Order Date"),
                column("order_date"),
                column("type"),
                column("col_type"),
            ],
            primary_key: None,
            uniques: Default::default(),
            indexes: Default::default(),
            foreign_keys: Default::default(),
            checks: Default::default(),
        };
        let names: Vec<String> = field_names(&table)
            .into_iter()
            .map(|(f, _)| f.to_string())
            .collect();
        assert_eq!(
            names,
            ["order_date", "order_date_2", "col_type", "col_type_2"]
        );
        let schema = Schema {
            tables: [("t".to_owned(), table)].into(),
            ..Default::default()
        };
        let written = entities(&schema, "a test");
        assert!(
            written.not_expressed.is_empty(),
            "{:?}\n{}",
            written.not_expressed,
            written.source
        );
    }

    #[test]
    fn what_pull_writes_the_compiler_takes() {
        let column = |name: &str, ty: &str| Column {
            name: name.into(),
            sql_type: crate::schema::model::SqlType::parse(ty).unwrap(),
            not_null: true,
            default: None,
            identity: None,
            collation: None,
        };
        let table = |name: &str, columns: Vec<Column>| Table {
            name: name.into(),
            columns,
            primary_key: None,
            uniques: Default::default(),
            indexes: Default::default(),
            foreign_keys: Default::default(),
            checks: Default::default(),
        };
        let schema = Schema {
            tables: [
                table(
                    "items",
                    vec![
                        column("a_b", "text"),
                        column("a__b", "text"),
                        column("role", "\"DBRoleType\""),
                    ],
                ),
                table("items_iden", vec![column("id", "bigint")]),
            ]
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect(),
            ..Default::default()
        };
        let written = entities(&schema, "a test");
        assert!(
            written.not_expressed.is_empty(),
            "{:#?}\n{}",
            written.not_expressed,
            written.source
        );
        // `items` derives `ItemsIden`: the table `items_iden` takes another name.
        assert!(
            written.source.contains("pub struct Items {")
                && written.source.contains("pub struct ItemsIden2 {"),
            "{}",
            written.source
        );
        assert!(
            written
                .source
                .contains("#[column(sql_type = \"\\\"DBRoleType\\\"\")]"),
            "{}",
            written.source
        );
    }
}
