//! `#[derive(Table)]` and `#[requires_table(..)]`.
//!
//! Parsing is `tablewright_core::schema::grammar`, the same code the CLI runs on the same source;
//! this crate only expands. On a grammar error it emits the errors (each on its token)
//! together with a stub implementation, so users see their mistakes and not a cascade of
//! "trait not implemented" errors.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::{DeriveInput, Ident, parse_macro_input};
use tablewright_core::schema::grammar::{self, RequiresTable, TableDef};

/// Derives `tablewright_core::Table` for a struct describing a table.
///
/// See the README's attribute reference for `#[table]`, `#[column]`, `#[index]`,
/// `#[unique]`, `#[primary_key]` and `#[check]`.
#[proc_macro_derive(
    Table,
    attributes(table, column, index, unique, primary_key, check, foreign_key)
)]
pub fn derive_table(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match grammar::parse_table(&input) {
        Ok(def) => expand(&input, &def),
        Err(errors) => {
            let stub = stub(&input);
            let errors = errors.to_compile_error();
            quote!(#stub #errors)
        }
    }
    .into()
}

/// Derives `tablewright_core::Enum` for a Rust enum that is a database enum type: each
/// unit variant a value (`#[value(name = "..", renamed_from = "..")]`), the type named by
/// `#[enum_type(name = "..", schema = "..", allow_drop(".."))]`.
#[proc_macro_derive(Enum, attributes(enum_type, value))]
pub fn derive_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let ident = &input.ident;
    match grammar::parse_enum(&input) {
        Ok(def) => {
            let type_name = &def.enum_type.name;
            let values = &def.enum_type.values;
            let (variants, names): (Vec<&Ident>, Vec<&String>) = def.variants.iter().map(|(v, n)| (v, n)).unzip();
            quote! {
                impl ::tablewright_core::Enum for #ident {
                    const TYPE_NAME: &'static str = #type_name;
                    const VALUES: &'static [&'static str] = &[#(#values),*];
                    fn value(&self) -> &'static str {
                        match self { #( Self::#variants => #names, )* }
                    }
                    fn from_value(value: &str) -> ::core::option::Option<Self> {
                        match value { #( #names => ::core::option::Option::Some(Self::#variants), )* _ => ::core::option::Option::None }
                    }
                }
            }
        }
        Err(errors) => errors.to_compile_error(),
    }
    .into()
}

/// `Book` field `author_id` → `AuthorId`.
fn pascal_case(name: &str) -> String {
    name.trim_start_matches("r#")
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn iden_name(input: &DeriveInput) -> Ident {
    format_ident!("{}Iden", input.ident)
}

fn expand(input: &DeriveInput, def: &TableDef) -> TokenStream2 {
    let ident = &input.ident;
    let vis = &input.vis;
    let iden = iden_name(input);
    let table_name = &def.table.name;
    let (schema_name, bare_name) = tablewright_core::schema::model::split_table_name(table_name);
    let schema_name = match schema_name {
        Some(schema) => quote!(::core::option::Option::Some(#schema)),
        None => quote!(::core::option::Option::None),
    };
    let model_json = serde_json::to_string(&def.table).expect("the model always serialises");

    let mut variants: Vec<Ident> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (field, column) in &def.fields {
        let mut variant = pascal_case(&field.to_string());
        // `Table` names the table itself.
        if variant == "Table" || variant.is_empty() {
            variant.push_str("Column");
        }
        // Fields that differ only in underscores (`a_b`, `a__b`) would share a variant:
        // the later ones are numbered.
        let base = variant.clone();
        let mut n = 2;
        while variants.iter().any(|v| *v == variant) {
            variant = format!("{base}{n}");
            n += 1;
        }
        variants.push(Ident::new(&variant, field.span()));
        names.push(column);
    }
    let doc = format!("sea-query identifiers of table `{table_name}` (`Table`) and its columns.");

    quote! {
        #[doc = #doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #vis enum #iden {
            /// The table itself, by its bare name (without the schema).
            Table,
            #(
                #[doc = concat!("Column `", #names, "`.")]
                #variants,
            )*
        }

        impl ::tablewright_core::sea_query::Iden for #iden {
            fn unquoted(&self) -> &str {
                match self {
                    Self::Table => #bare_name,
                    #( Self::#variants => #names, )*
                }
            }
        }

        impl ::tablewright_core::Table for #ident {
            type Iden = #iden;
            const TABLE_NAME: &'static str = #table_name;
            const SCHEMA_NAME: ::core::option::Option<&'static str> = #schema_name;

            fn model() -> ::tablewright_core::schema::model::Table {
                ::tablewright_core::__private::model_from_json(#model_json)
            }

            fn table_iden() -> Self::Iden {
                #iden::Table
            }
        }
    }
}

/// What the derive emits beside its errors: enough for the rest of the crate to type-check.
fn stub(input: &DeriveInput) -> TokenStream2 {
    let ident = &input.ident;
    let vis = &input.vis;
    let iden = iden_name(input);
    quote! {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #vis enum #iden { Table }
        impl ::tablewright_core::sea_query::Iden for #iden {
            fn unquoted(&self) -> &str { "" }
        }
        impl ::tablewright_core::Table for #ident {
            type Iden = #iden;
            const TABLE_NAME: &'static str = "";
            fn model() -> ::tablewright_core::schema::model::Table {
                unreachable!("this crate did not compile: #[derive(Table)] reported errors")
            }
            fn table_iden() -> Self::Iden { #iden::Table }
        }
    }
}

/// Declares that a handler uses a table: `#[requires_table(Book, select, insert)]`,
/// optionally `role = "name"`. The CLI reads it to write the permissions file; at compile
/// time it checks that `Book` derives `Table`, so renaming or deleting an entity breaks
/// the build instead of production. The function is otherwise unchanged.
#[proc_macro_attribute]
pub fn requires_table(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: TokenStream2 = item.clone().into();
    let args = match syn::parse::<RequiresTable>(args) {
        Ok(args) => args,
        Err(e) => {
            let e = e.to_compile_error();
            return quote!(#e #item2).into();
        }
    };
    let mut function = match syn::parse::<syn::ItemFn>(item) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "`#[requires_table]` goes on a function or method",
            )
            .to_compile_error();
            return quote!(#e #item2).into();
        }
    };
    let table = &args.table;
    // The bound is checked where the type is written, so the error points at it.
    let assertion = quote_spanned! {table_span(table)=>
        {
            fn __tablewright_requires_table<T: ::tablewright_core::Table>() {}
            let _ = __tablewright_requires_table::<#table>;
        }
    };
    let assertion: syn::Stmt = syn::parse2(quote!(#assertion)).expect("a block is a statement");
    function.block.stmts.insert(0, assertion);
    quote!(#function).into()
}

/// Embeds a migrations folder into the binary: `embed_migrations!("migrations")`, the path
/// relative to the crate's `Cargo.toml`, and optionally the permissions file:
/// `embed_migrations!("migrations", permissions = "permissions/permissions.sql")`.
/// Expands to a `tablewright_core::runner::EmbeddedMigrations` (enable tablewright-core's
/// `runner` feature) for `MigrationSet::from_embedded` and
/// `PermissionsFile::from_embedded`. Files are included with `include_str!`, so the crate
/// rebuilds when one changes; a folder without a journal, or a permissions file that does
/// not exist, is a compile error on its path.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    let args = parse_macro_input!(input as EmbedArgs);
    match embed(&args.folder, args.permissions.as_ref()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// `"folder"` or `"folder", permissions = "file"`.
struct EmbedArgs {
    folder: syn::LitStr,
    permissions: Option<syn::LitStr>,
}

impl syn::parse::Parse for EmbedArgs {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let folder: syn::LitStr = input.parse()?;
        if input.is_empty() {
            return Ok(EmbedArgs {
                folder,
                permissions: None,
            });
        }
        input.parse::<syn::Token![,]>()?;
        if input.is_empty() {
            return Ok(EmbedArgs {
                folder,
                permissions: None,
            });
        }
        let key: syn::Ident = input.parse()?;
        if key != "permissions" {
            return Err(syn::Error::new(
                key.span(),
                "expected `permissions = \"path/to/permissions.sql\"`",
            ));
        }
        input.parse::<syn::Token![=]>()?;
        let permissions: syn::LitStr = input.parse()?;
        let _ = input.parse::<Option<syn::Token![,]>>()?;
        if !input.is_empty() {
            return Err(input.error("unexpected input after the permissions file"));
        }
        Ok(EmbedArgs {
            folder,
            permissions: Some(permissions),
        })
    }
}

fn embed(literal: &syn::LitStr, permissions: Option<&syn::LitStr>) -> syn::Result<TokenStream2> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| {
        syn::Error::new(
            literal.span(),
            "CARGO_MANIFEST_DIR is not set: build with cargo",
        )
    })?;
    let folder = std::path::Path::new(&manifest).join(literal.value());
    let journal = folder.join("meta").join("_journal.json");
    if !journal.is_file() {
        return Err(syn::Error::new(
            literal.span(),
            format!(
                "no migrations at {}: expected meta/_journal.json (run `tablewright generate`)",
                folder.display()
            ),
        ));
    }
    let mut files: Vec<(String, String)> = std::fs::read_dir(&folder)
        .map_err(|e| {
            syn::Error::new(
                literal.span(),
                format!("cannot read {}: {e}", folder.display()),
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            (
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                p.to_string_lossy().into_owned(),
            )
        })
        .collect();
    files.sort();
    let name = literal.value();
    let journal = journal.to_string_lossy().into_owned();
    let (stems, paths): (Vec<String>, Vec<String>) = files.into_iter().unzip();
    let permissions = match permissions {
        None => quote!(::core::option::Option::None),
        Some(file) => {
            let path = std::path::Path::new(&manifest).join(file.value());
            if !path.is_file() {
                return Err(syn::Error::new(
                    file.span(),
                    format!(
                        "no permissions file at {} (run `tablewright generate`)",
                        path.display()
                    ),
                ));
            }
            let (written, full) = (file.value(), path.to_string_lossy().into_owned());
            quote!(::core::option::Option::Some((#written, include_str!(#full))))
        }
    };
    Ok(quote! {
        ::tablewright_core::runner::EmbeddedMigrations {
            folder: #name,
            journal: include_str!(#journal),
            files: &[ #( (#stems, include_str!(#paths)), )* ],
            permissions: #permissions,
        }
    })
}

fn table_span(path: &syn::Path) -> Span {
    path.segments
        .last()
        .map(|s| s.ident.span())
        .unwrap_or_else(Span::call_site)
}
