//! The attribute grammar, shared by `#[derive(Table)]` and the CLI scanner.
//!
//! Both readers hand the struct to [`parse_table`] (the derive's [`syn::DeriveInput`],
//! the scanner's [`syn::ItemStruct`], borrowed as a [`StructInput`]) and get the same
//! [`TableDef`]; that is what makes the derive's model and the CLI's model equal by
//! construction. Parsing never stops at the first mistake: every malformed, unknown or
//! duplicated attribute is recorded with the span of the offending tokens (serde's `Ctxt`
//! pattern) and all of them come back together as one combined [`syn::Error`].
//!
//! The attributes' syntax, typed, is in `attrs`; `table`, `enums` and `requires` read
//! what `#[derive(Table)]`, `#[derive(Enum)]` and `#[requires_table]` say.

mod attrs;
mod enums;
mod requires;
mod table;

pub use enums::{EnumDef, parse_enum, parse_enum_item};
pub use requires::{Operation, RequiresTable};
pub use table::{StructInput, parse_table};
#[cfg(feature = "compiler")]
pub(crate) use table::{expression_name_part, parse_table_with};

use crate::schema::model::{SqlExpr, Table};
use proc_macro2::Span;
use quote::ToTokens;
use std::collections::BTreeMap;
use std::fmt::Display;
use syn::Ident;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::{Identity, IndexMethod, KeyTarget, ReferentialAction};
    use syn::DeriveInput;

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
