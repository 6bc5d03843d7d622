//! From a struct and its typed attributes to a [`TableDef`]: the columns with their SQL
//! types, keys, indexes, foreign keys and checks, each name and expression checked.

use super::Errors;
use super::Spanned;
use super::TableDef;
use super::attrs::IndexAttr;
use super::attrs::expected_one_of;
use super::attrs::parse_column_attrs;
use super::attrs::parse_struct_attrs;
use super::attrs::referenced_columns;
use super::attrs::referential_action;
use super::snake_case;
use crate::schema::model::{
    self, Check, Column, ForeignKey, Index, IndexKey, IndexMethod, KeyTarget, PrimaryKey, SqlExpr,
    SqlType, Table, Unique,
};
use crate::schema::sql_text::{LexicalChecks, SqlFragments};
use crate::schema::types;
use proc_macro2::Span;
use quote::ToTokens;
use std::collections::{BTreeMap, BTreeSet};
use syn::{
    Attribute, Data, DeriveInput, Fields, GenericArgument, Ident, LitStr, PathArguments, Type,
};

/// The Rust type of a field, as far as the mapping cares.
pub(super) struct FieldType<'a> {
    pub(super) nullable: bool,
    pub(super) inner: &'a Type,
}

pub(super) fn unwrap_option(ty: &Type) -> FieldType<'_> {
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
pub(super) fn type_shape(ty: &Type) -> Option<(String, Vec<String>)> {
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

    let mut read = FieldColumns::default();
    for field in fields.into_iter().flatten() {
        read_field(field, &table_name, sql, &mut read, &mut errors);
    }
    let FieldColumns {
        mut columns,
        field_columns,
        column_renames,
        column_fills,
        mut uniques,
        mut foreign_keys,
        field_pk,
        column_spans: _,
        mut object_spans,
        enum_columns,
    } = read;

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

/// What the fields of a table struct say, column by column, before the struct-level
/// attributes are read: each map keyed by column name.
#[derive(Default)]
struct FieldColumns {
    /// The columns, in field order.
    columns: Vec<Column>,
    /// Each field and the column it maps to (struct-level attributes name fields).
    field_columns: Vec<(Ident, String)>,
    /// `#[column(renamed_from)]` hints.
    column_renames: BTreeMap<String, Spanned<String>>,
    /// `#[column(fill)]` values.
    column_fills: BTreeMap<String, SqlExpr>,
    /// `#[column(unique)]` constraints, by constraint name.
    uniques: BTreeMap<String, Unique>,
    /// `#[column(references)]` keys, by constraint name.
    foreign_keys: BTreeMap<String, ForeignKey>,
    /// `#[column(primary_key)]` columns, with where each was declared.
    field_pk: Vec<(String, Span)>,
    /// Where each column was declared.
    column_spans: BTreeMap<String, Span>,
    /// Where each named object (constraint, index) was declared.
    object_spans: BTreeMap<String, Span>,
    /// `#[column(enum_type)]` hints.
    enum_columns: BTreeMap<String, Spanned<String>>,
}

/// Reads one field of a table struct into `read`: its column, and the constraints its
/// `#[column(..)]` declares; every problem goes to `errors`.
fn read_field(
    field: &syn::Field,
    table_name: &str,
    sql: &dyn SqlFragments,
    read: &mut FieldColumns,
    errors: &mut Errors,
) {
    let FieldColumns {
        columns,
        field_columns,
        column_renames,
        column_fills,
        uniques,
        foreign_keys,
        field_pk,
        column_spans,
        object_spans,
        enum_columns,
    } = read;
    let Some(ident) = field.ident.clone() else {
        return;
    };
    let col = parse_column_attrs(&field.attrs, errors);
    if col.skip {
        return;
    }
    let column_name = match &col.name {
        Some(lit) => {
            let v = lit.value();
            check_identifier(&v, lit, "column name", errors);
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
                        SqlType::checked_by(&LexicalChecks, &model::enum_sql_type(&name)).ok()?,
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
                    errors.push(
                        lit,
                        "`enum_type` takes the enum's SQL name, `\"mood\"` or `\"schema.mood\"`",
                    );
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
    let sql_type = sql_type
        .unwrap_or_else(|| SqlType::checked_by(&LexicalChecks, "text").expect("`text` is a type"));

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
        check_qualified_name(&lit.value(), lit, "collation", errors);
        if !is_collatable(&sql_type) {
            errors.push(
                lit,
                format!("a `{sql_type}` column has no collation: `collation` is for text columns"),
            );
        }
        // The type's own collation is written as none, as the catalog has it.
        Some(lit.value()).filter(|c| c != "default")
    });
    if col.unique {
        let cols = vec![column_name.clone()];
        let name = model::default_name(table_name, &cols, "key");
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
                        check_identifier(&lit.value(), lit, "foreign key name", errors);
                        lit.value()
                    }
                    None => model::default_name(table_name, &cols, "fkey"),
                };
                let on_delete = referential_action(col.on_delete.as_ref(), errors);
                let on_update = referential_action(col.on_update.as_ref(), errors);
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

/// The index an `#[index(..)]` declares, or `None` after recording what is wrong.
pub(super) fn index_from_attr(
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

/// Whether a column of `sql_type` takes a collation: text types, and types the database
/// defines (a domain over text, say), which the grammar cannot look into.
pub(super) fn is_collatable(sql_type: &SqlType) -> bool {
    let base = types::base_name(sql_type.as_str());
    matches!(
        base.as_str(),
        "text" | "character varying" | "character" | "name" | "citext"
    ) || SqlType::is_defined_type_name(sql_type.as_str())
}

/// A name that may be qualified by its schema (`pg_catalog.jsonb_path_ops`): each part a
/// name [`check_identifier`] takes.
pub(super) fn check_qualified_name(
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
pub(super) fn check_schema_name(value: &str, tokens: impl ToTokens + Clone, errors: &mut Errors) {
    check_identifier(value, tokens.clone(), "schema name", errors);
    if value.contains('.') {
        errors.push(tokens, format!("schema name `{value}` holds a `.`"));
    } else if value.starts_with("pg_") || value == "information_schema" {
        errors.push(tokens, format!("schema `{value}` is PostgreSQL's own (it keeps `information_schema` and names starting with `pg_`): choose another"));
    } else if value == "sys" {
        errors.push(tokens, "schema `sys` is Aurora DSQL's own: choose another");
    }
}

pub(super) fn check_identifier(
    value: &str,
    tokens: impl ToTokens,
    what: &str,
    errors: &mut Errors,
) {
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
