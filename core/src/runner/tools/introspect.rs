//! Reads a live schema back into the [`crate::schema::model`], from `pg_catalog` (which DSQL also
//! serves), so a database can be compared with a snapshot.

use crate::schema::compare::{BesideKind, CatalogText};
use crate::schema::model::{
    Check, Column, EnumType, ForeignKey, Identity, Index, IndexKey, IndexMethod, KeyTarget,
    PrimaryKey, ReferentialAction, Schema, SqlExpr, SqlType, Table, Unique,
};
use sqlx::{PgConnection, Row};

/// What introspection found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Introspected {
    /// The tables and enum types read back, as the model holds them.
    pub schema: Schema,
    /// Indexes PostgreSQL or DSQL marked invalid (a failed build left them behind).
    pub invalid_indexes: Vec<String>,
    /// What the model does not hold as the database has it, each said in a line.
    pub unmodelled: Vec<Unmodelled>,
    /// The catalog's own text: definitions, and what lives beside the tables.
    pub text: CatalogText,
    /// Each table's owner.
    pub owners: std::collections::BTreeMap<String, String>,
}

/// Something of the database the model cannot hold exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmodelled {
    /// The table it belongs to, if any.
    pub table: Option<String>,
    /// What it is.
    pub kind: UnmodelledKind,
    /// What it is, said in a line.
    pub note: String,
}

/// The kinds of [`Unmodelled`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnmodelledKind {
    /// An index the model cannot hold (an unknown method, a key it cannot read): left out
    /// of it.
    PartialIndex(String),
    /// A column whose type the database defines (an enum, a domain, ..): in the model, but
    /// migrations cannot create it until the type exists.
    DefinedType {
        /// The column's name (its table is [`Unmodelled::table`]).
        column: String,
    },
    /// A column whose default draws from a sequence (SERIAL): in the model, but migrations
    /// do not create the sequence.
    Sequence {
        /// The sequence, as `nextval` names it.
        sequence: String,
    },
    /// A generated column: in the model as a plain column, without its expression.
    Generated,
    /// A foreign key to a table in another schema: left out of the model.
    OtherSchemaKey,
    /// A view, an enum type, ..: not a table.
    NotATable,
    /// A DEFERRABLE primary key or unique constraint: in the model as not deferrable.
    DeferrableKey,
    /// An identity's MINVALUE or MAXVALUE (or CYCLE) other than the default: in the model
    /// without it.
    IdentityBounds,
    /// A foreign key or check added `NOT VALID` and never validated: in the model as a
    /// valid one.
    NotValid,
    /// An `EXCLUDE` constraint: not in the model.
    Exclusion,
    /// An `UNLOGGED` table: in the model as a logged one.
    Unlogged,
    /// A default, a check or a column whose text the SQL parser does not read as one
    /// expression or one type: left out of the model (the catalog is input; its text
    /// becomes SQL only once parsed).
    Unreadable,
}

impl Unmodelled {
    /// Whether the model holds it, so that comparing schemas compares it (a column's type
    /// or default); otherwise it goes unseen by a comparison and must be listed.
    pub(crate) fn is_compared(&self) -> bool {
        matches!(
            self.kind,
            UnmodelledKind::DefinedType { .. } | UnmodelledKind::Sequence { .. }
        )
    }
}

impl Introspected {
    /// What lives beside the tables (row-level security, policies, triggers, views,
    /// functions, sequences, extensions) and the defaults that call the database's own
    /// functions, each said in a line: the structs carry none of it, and a database built
    /// from them alone would lack it.
    pub fn beside_notes(&self) -> Vec<String> {
        // A SERIAL's sequence is said with its column (see `UnmodelledKind::Sequence`).
        let drawn_from = |name: &str| {
            self.schema
                .tables
                .values()
                .flat_map(|t| &t.columns)
                .any(|c| c.default.as_deref().is_some_and(|d| d.contains(name)))
        };
        let mut notes: Vec<String> = self
            .text
            .beside
            .keys()
            // (Views are said as what is not a table, in `unmodelled`.)
            .filter(|(kind, _, name)| *kind != BesideKind::View && !(*kind == BesideKind::Sequence && drawn_from(name)))
            .map(|(kind, table, name)| {
                let on = if table.is_empty() { String::new() } else { format!(" on `{table}`") };
                let name = if *kind == BesideKind::RowLevelSecurity { String::new() } else { format!(" `{name}`") };
                format!("{kind}{name}{on} is not in the structs; tablewright leaves it as the SQL made it")
            })
            .collect();
        // `public.generate_custom_id(text)` → `generate_custom_id`
        let functions: Vec<&str> = self
            .text
            .beside
            .keys()
            .filter(|(kind, _, _)| *kind == BesideKind::Function)
            .filter_map(|(_, _, name)| {
                name.split('(')
                    .next()
                    .map(|f| f.rsplit('.').next().unwrap_or(f))
            })
            .collect();
        for table in self.schema.tables.values() {
            for column in &table.columns {
                let Some(default) = column.default.as_deref() else {
                    continue;
                };
                let calls = |f: &&&str| {
                    default.match_indices(&format!("{f}(")).any(|(at, _)| {
                        !default[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    })
                };
                if let Some(function) = functions.iter().find(calls) {
                    notes.push(format!(
                        "`{}.{}` has default `{default}`, which calls `{function}`, a function of the database's own that no struct creates: it must exist before the table is made",
                        table.name, column.name
                    ));
                }
            }
        }
        notes
            .iter()
            .map(|n| crate::error::printable(n).into_owned())
            .collect()
    }

    /// Leaves out of the schema the indexes it holds only in part (expression keys, a
    /// WHERE, another method), so that nothing is built or dropped from a wrong picture of
    /// them; they stay listed in [`Introspected::unmodelled`].
    pub(crate) fn without_partial_indexes(mut self) -> Introspected {
        for u in &self.unmodelled {
            if let (Some(table), UnmodelledKind::PartialIndex(index)) = (&u.table, &u.kind)
                && let Some(t) = self.schema.tables.get_mut(table)
            {
                t.indexes.remove(index);
            }
        }
        self
    }
}

const OTHER_OBJECTS: &str = "
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END || ' ' || CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('v', 'm', 'f')
UNION ALL
SELECT CASE t.typtype WHEN 'e' THEN 'enum type ' WHEN 'd' THEN 'domain ' ELSE 'type ' END || CASE WHEN n.nspname = 'public' THEN t.typname::text ELSE n.nspname || '.' || t.typname END
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = ANY($1) AND t.typtype IN ('d', 'c', 'r', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
ORDER BY 1";

const DOTTED_TABLES: &str = "
SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND strpos(c.relname, '.') > 0 ORDER BY 1, 2";

/// The enum types of the schemas read, with their values in order.
const ENUMS: &str = "
SELECT CASE WHEN n.nspname = 'public' THEN t.typname::text ELSE n.nspname || '.' || t.typname END AS name,
       array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = ANY($1) AND strpos(t.typname, '.') = 0
GROUP BY n.nspname, t.typname ORDER BY 1";

// Schemas holding enum types, apart from PostgreSQL's own and those named.
const ENUM_SCHEMAS: &str = "
SELECT DISTINCT n.nspname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND NOT (n.nspname = ANY($1)) AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'sys')
  AND n.nspname NOT LIKE 'pg\\_%' AND strpos(n.nspname, '.') = 0";

/// Whether the server has `pg_enum` (Aurora DSQL, which has no enum types, may not).
const HAS_ENUMS: &str = "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog' AND c.relname = 'pg_enum')";

/// The parts the two column queries share.
macro_rules! columns_query {
    (head) => {
        "
SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS sql_type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr, a.attidentity <> '' AS is_identity,
       NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace tn ON tn.oid = t.typnamespace
                   WHERE t.oid = a.atttypid AND tn.nspname = 'pg_catalog') AS defined_type,
       a.attgenerated <> '' AS is_generated, a.attidentity = 'a' AS identity_always,
       CASE WHEN ty.typtype = 'e' THEN CASE WHEN tyn.nspname = 'public' THEN ty.typname::text ELSE tyn.nspname || '.' || ty.typname END END AS enum_type,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation
            THEN CASE WHEN cn.nspname <> 'pg_catalog' THEN cn.nspname || '.' ELSE '' END || co.collname END AS collation,"
    };
    (from) => {
        "
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type ty ON ty.oid = a.atttypid
JOIN pg_namespace tyn ON tyn.oid = ty.typnamespace
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
    };
    (tail) => {
        "
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND strpos(c.relname, '.') = 0
ORDER BY n.nspname, c.relname, a.attnum"
    };
}

/// The columns, with their identity's sequence options from `pg_sequence`; see
/// [`COLUMNS_WITHOUT_SEQUENCES`] for a server that does not serve it.
const COLUMNS: &str = concat!(
    columns_query!(head),
    "
       s.seqstart AS identity_start, s.seqincrement AS identity_increment, s.seqcache AS identity_cache,
       (s.seqmin <> CASE WHEN s.seqincrement > 0 THEN 1 ELSE CASE a.atttypid WHEN 'int2'::regtype THEN -32768 WHEN 'int4'::regtype THEN -2147483648 ELSE -9223372036854775808 END END
        OR s.seqmax <> CASE WHEN s.seqincrement < 0 THEN -1 ELSE CASE a.atttypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647 ELSE 9223372036854775807 END END
        OR s.seqcycle) AS identity_bounded",
    columns_query!(from),
    "
LEFT JOIN pg_sequence s ON a.attidentity <> ''
     AND s.seqrelid = pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname)::regclass",
    columns_query!(tail)
);

/// The same without `pg_sequence` (Aurora DSQL's documentation does not list it among the
/// catalogs it serves): the identity's start and increment from `information_schema`, its
/// cache and bounds unread (said in a note).
const COLUMNS_WITHOUT_SEQUENCES: &str = concat!(
    columns_query!(head),
    "
       ic.identity_start::bigint AS identity_start, ic.identity_increment::bigint AS identity_increment, NULL::bigint AS identity_cache,
       NULL::boolean AS identity_bounded",
    columns_query!(from),
    "
LEFT JOIN information_schema.columns ic ON a.attidentity <> '' AND ic.table_schema = n.nspname AND ic.table_name = c.relname AND ic.column_name = a.attname",
    columns_query!(tail)
);

const CONSTRAINTS: &str = "
SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END AS table_name, con.conname AS name, con.contype::text AS kind,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
       CASE WHEN rn.nspname = 'public' THEN rc.relname::text ELSE rn.nspname || '.' || rc.relname END AS ref_table, rn.nspname::text AS ref_namespace,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS ref_columns,
       con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update,
       con.confmatchtype = 'f' AS match_full, con.condeferrable AS deferrable, con.condeferred AS initially_deferred,
       pg_get_constraintdef(con.oid) AS definition, con.convalidated AS validated
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE n.nspname = ANY($1) AND con.contype IN ('p', 'u', 'f', 'c', 'x') AND strpos(c.relname, '.') = 0
ORDER BY n.nspname, c.relname, con.conname";

// Indexes that do not back a primary key or unique constraint. (A foreign key's `conindid`
// names the referenced table's index, so only key constraints are excluded.)
const INDEXES: &str = "
SELECT CASE WHEN n.nspname = 'public' THEN t.relname::text ELSE n.nspname || '.' || t.relname END AS table_name, i.relname AS name, ix.indisunique AS is_unique, ix.indisvalid AS is_valid,
       am.amname::text AS method, pg_get_expr(ix.indpred, ix.indrelid) AS predicate, ix.indexrelid::bigint AS oid,
       replace(pg_get_indexdef(ix.indexrelid), ' USING btree_index ', ' USING btree ') AS definition
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_am am ON am.oid = i.relam
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY($1) AND strpos(t.relname, '.') = 0
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY n.nspname, t.relname, i.relname";

// Each index's keys and INCLUDE columns, in order: the column, or the expression as
// PostgreSQL prints it; the operator class when not its type's default; the collation
// when not the column's (for an expression, whose own collation the catalog does not
// hold, only when the index's definition writes one: see `collated_keys`); DESC and
// NULLS FIRST from `indoption`.
const INDEX_KEYS: &str = "
SELECT ix.indexrelid::bigint AS oid, k.pos >= ix.indnkeyatts AS included, a.attname::text AS column_name,
       CASE WHEN ix.indkey[k.pos] = 0 THEN pg_get_indexdef(ix.indexrelid, k.pos + 1, false) END AS expression,
       CASE WHEN k.pos < ix.indnkeyatts AND NOT opc.opcdefault
            THEN CASE WHEN opn.nspname <> 'pg_catalog' THEN opn.nspname || '.' ELSE '' END || opc.opcname END AS opclass,
       CASE WHEN k.pos < ix.indnkeyatts AND ix.indcollation[k.pos] <> 0 AND ix.indcollation[k.pos] <> COALESCE(NULLIF(a.attcollation, 0), 100)
            THEN CASE WHEN con.nspname <> 'pg_catalog' THEN con.nspname || '.' ELSE '' END || co.collname END AS collation,
       COALESCE(ix.indoption[k.pos] & 1 = 1, false) AS descending, COALESCE(ix.indoption[k.pos] & 2 = 2, false) AS nulls_first
FROM pg_index ix
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL generate_series(0, ix.indnatts - 1) AS k(pos)
LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = ix.indkey[k.pos] AND ix.indkey[k.pos] <> 0
LEFT JOIN pg_opclass opc ON k.pos < ix.indnkeyatts AND opc.oid = ix.indclass[k.pos]
LEFT JOIN pg_namespace opn ON opn.oid = opc.opcnamespace
LEFT JOIN pg_collation co ON k.pos < ix.indnkeyatts AND co.oid = ix.indcollation[k.pos]
LEFT JOIN pg_namespace con ON con.oid = co.collnamespace
WHERE n.nspname = ANY($1) AND strpos(t.relname, '.') = 0
ORDER BY ix.indexrelid, k.pos";

/// A table's name as the model writes it, for the queries below.
macro_rules! model_name {
    ($n:literal, $c:literal) => {
        concat!(
            "CASE WHEN ",
            $n,
            ".nspname = 'public' THEN ",
            $c,
            ".relname::text ELSE ",
            $n,
            ".nspname || '.' || ",
            $c,
            ".relname END"
        )
    };
}

/// What lives beside the tables, each `(table or '', name, definition)`. The triggers of
/// the DSQL emulation's guard (`dsql_guard`, the test suite's) are the server's, not the
/// application's.
const BESIDE: &[(BesideKind, &str)] = &[
    (
        BesideKind::RowLevelSecurity,
        concat!(
            "SELECT ", model_name!("n", "c"), ", 'row level security', CASE WHEN c.relforcerowsecurity THEN 'ENABLE, FORCE' ELSE 'ENABLE' END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND (c.relrowsecurity OR c.relforcerowsecurity)"
        ),
    ),
    (
        BesideKind::Policy,
        concat!(
            "SELECT ", model_name!("n", "c"), ", p.polname::text,
       format('AS %s FOR %s TO %s', CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
              CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
              (SELECT string_agg(g, ', ' ORDER BY g) FROM (SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END AS g FROM unnest(p.polroles) r) grantees))
       || coalesce(' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', '') || coalesce(' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '')
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1)"
        ),
    ),
    (
        BesideKind::Trigger,
        concat!(
            "SELECT ", model_name!("n", "c"), ", t.tgname::text, pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'D' THEN ' (disabled)' ELSE '' END
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND NOT t.tgisinternal
  AND NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace WHERE p.oid = t.tgfoid AND pn.nspname = 'dsql_guard')"
        ),
    ),
    (
        BesideKind::View,
        concat!(
            "SELECT '', ", model_name!("n", "c"), ", CASE c.relkind WHEN 'm' THEN 'MATERIALIZED ' ELSE '' END || 'VIEW AS ' || pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('v', 'm')"
        ),
    ),
    (
        BesideKind::Function,
        "SELECT '', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', 'md5 of its definition: ' || md5(pg_get_functiondef(p.oid))
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY($1) AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
    ),
    (
        BesideKind::Sequence,
        concat!(
            "SELECT '', ", model_name!("n", "c"), ", 'SEQUENCE'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i')"
        ),
    ),
    (BesideKind::Extension, "SELECT '', e.extname::text, 'EXTENSION' FROM pg_extension e WHERE e.extname <> 'plpgsql' AND $1::text[] IS NOT NULL"),
];

/// The UNLOGGED tables.
const UNLOGGED: &str = concat!(
    "SELECT ", model_name!("n", "c"), "
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND c.relpersistence = 'u' AND strpos(c.relname, '.') = 0"
);

/// Each table's owner.
const OWNERS: &str = concat!(
    "SELECT ",
    model_name!("n", "c"),
    ", pg_get_userbyid(c.relowner)::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND strpos(c.relname, '.') = 0"
);

/// For each key of `CREATE INDEX ..` as `pg_get_indexdef` prints it, whether the key
/// writes a `COLLATE` of its own: PostgreSQL prints one only where the key's collation is
/// not its expression's, which the catalog does not hold.
fn collated_keys(definition: &str) -> Vec<bool> {
    use sqlparser::tokenizer::Token;
    let words = crate::sql::tokens::significant(definition);
    // The key list: the first parenthesis after `ON <table> [USING <method>]`.
    let Some(on) = words.iter().position(|w| w.is_word("ON")) else {
        return Vec::new();
    };
    let Some(open) = words
        .iter()
        .skip(on)
        .position(|w| w.token == Token::LParen)
        .map(|p| p + on)
    else {
        return Vec::new();
    };
    let (mut depth, mut out, mut collated) = (0, Vec::new(), false);
    for w in &words[open + 1..] {
        match &w.token {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => {
                out.push(collated);
                break;
            }
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                out.push(collated);
                collated = false;
            }
            _ if depth == 0 && w.is_word("COLLATE") => collated = true,
            _ => {}
        }
    }
    out
}

fn action(code: &str) -> Option<ReferentialAction> {
    match code {
        "c" => Some(ReferentialAction::Cascade),
        "r" => Some(ReferentialAction::Restrict),
        "n" => Some(ReferentialAction::SetNull),
        "d" => Some(ReferentialAction::SetDefault),
        _ => None, // 'a': NO ACTION, the default
    }
}

// Tables in schemas other than those read, apart from PostgreSQL's own and those named.
const TABLES_ELSEWHERE: &str = "
SELECT n.nspname::text, c.relname::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT (n.nspname = ANY($1)) AND NOT (n.nspname = ANY($2))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'sys') AND n.nspname NOT LIKE 'pg\\_%' AND strpos(n.nspname, '.') = 0
ORDER BY 1, 2";

/// The tables of other schemas than `namespaces` (leaving out `skip`, the tools' own
/// history schemas), for `pull --schema` to list rather than pass over.
pub async fn tables_elsewhere(
    conn: &mut PgConnection,
    namespaces: &[String],
    skip: &[String],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(TABLES_ELSEWHERE)
        .bind(namespaces)
        .bind(skip)
        .fetch_all(&mut *conn)
        .await
}

/// The schemas that hold tables or enum types, apart from PostgreSQL's own and `skip`;
/// `public` always.
pub async fn application_schemas(
    conn: &mut PgConnection,
    skip: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let mut schemas: Vec<String> = tables_elsewhere(conn, &[], skip)
        .await?
        .into_iter()
        .map(|(schema, _)| schema)
        .collect();
    // And those that hold only enum types.
    schemas.extend(
        sqlx::query_scalar::<_, String>(ENUM_SCHEMAS)
            .bind(skip)
            .fetch_all(&mut *conn)
            .await?,
    );
    schemas.push(crate::schema::model::DEFAULT_SCHEMA.to_owned());
    schemas.sort();
    schemas.dedup();
    Ok(schemas)
}

/// Introspects the tables of the schemas `namespaces`; a table outside `public` is named
/// `schema.table`, as the model names it.
pub async fn introspect(
    conn: &mut PgConnection,
    namespaces: &[String],
) -> Result<Introspected, sqlx::Error> {
    let sequences_readable: bool =
        sqlx::query_scalar("SELECT to_regclass('pg_catalog.pg_sequence') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    introspect_with(conn, namespaces, sequences_readable).await
}

/// [`introspect`], told whether the server serves `pg_sequence` (public so that the
/// reading without it is tested on PostgreSQL, which has it).
pub async fn introspect_with(
    conn: &mut PgConnection,
    namespaces: &[String],
    sequences_readable: bool,
) -> Result<Introspected, sqlx::Error> {
    let mut schema = Schema::default();
    let mut unmodelled = Vec::new();
    let mut text = CatalogText::default();
    if !sequences_readable {
        unmodelled.push(Unmodelled {
            table: None,
            kind: UnmodelledKind::IdentityBounds,
            note: "this server serves no pg_sequence: identity caches and bounds are not read"
                .to_owned(),
        });
    }
    if sqlx::query_scalar::<_, bool>(HAS_ENUMS)
        .fetch_one(&mut *conn)
        .await?
    {
        for (name, values) in sqlx::query_as::<_, (String, Vec<String>)>(ENUMS)
            .bind(namespaces)
            .fetch_all(&mut *conn)
            .await?
        {
            schema.enums.insert(name.clone(), EnumType { name, values });
        }
    }
    let columns = if sequences_readable {
        COLUMNS
    } else {
        COLUMNS_WITHOUT_SEQUENCES
    };
    for row in sqlx::query(columns)
        .bind(namespaces)
        .fetch_all(&mut *conn)
        .await?
    {
        let table: String = row.try_get("table_name")?;
        let entry = schema.tables.entry(table.clone()).or_insert_with(|| Table {
            name: table,
            columns: Vec::new(),
            primary_key: None,
            uniques: Default::default(),
            indexes: Default::default(),
            foreign_keys: Default::default(),
            checks: Default::default(),
        });
        let column: String = row.try_get("column_name")?;
        let mut sql_type: String = row.try_get("sql_type")?;
        let table_name = entry.name.clone();
        let mut note = |kind: UnmodelledKind, note: String| {
            unmodelled.push(Unmodelled {
                table: Some(table_name.clone()),
                kind,
                note,
            })
        };
        let mut default: Option<String> = row.try_get("default_expr")?;
        // A column of an enum read here has the enum's quoted name as its type, as the
        // structs write it, and its default without the cast PostgreSQL adds.
        if let Some(enum_name) = row
            .try_get::<Option<String>, _>("enum_type")?
            .filter(|e| schema.enums.contains_key(e))
        {
            let cast = format!("::{sql_type}");
            default = default.map(|d| d.strip_suffix(&cast).map(str::to_owned).unwrap_or(d));
            sql_type = crate::schema::model::enum_sql_type(&enum_name);
        } else if row.try_get::<bool, _>("defined_type")? {
            note(
                UnmodelledKind::DefinedType {
                    column: column.clone(),
                },
                format!(
                    "`{table_name}.{column}` has type `{sql_type}`, which the database defines (an enum, a domain, ..): migrations cannot create the column until something creates the type"
                ),
            );
        }
        if row
            .try_get::<Option<bool>, _>("identity_bounded")?
            .unwrap_or(false)
        {
            note(
                UnmodelledKind::IdentityBounds,
                format!(
                    "`{table_name}.{column}` is an identity with its own MINVALUE, MAXVALUE or CYCLE, which the structs do not declare"
                ),
            );
        }
        let identity = if row.try_get::<bool, _>("is_identity")? {
            Some(
                Identity {
                    always: row.try_get("identity_always")?,
                    start: row.try_get("identity_start")?,
                    increment: row.try_get("identity_increment")?,
                    cache: row.try_get("identity_cache")?,
                }
                .normalized(),
            )
        } else {
            None
        };
        if row.try_get::<bool, _>("is_generated")? {
            note(
                UnmodelledKind::Generated,
                format!(
                    "`{table_name}.{column}` is a generated column (`{}`); the structs declare it as a plain column",
                    default.as_deref().unwrap_or_default()
                ),
            );
            default = None;
        }
        if let Some(sequence) = default
            .as_deref()
            .and_then(|d| d.strip_prefix("nextval('"))
            .and_then(|d| d.split_once('\''))
            .map(|(name, _)| name.to_owned())
        {
            note(
                UnmodelledKind::Sequence {
                    sequence: sequence.clone(),
                },
                format!(
                    "`{table_name}.{column}` draws its default from sequence `{sequence}` (SERIAL), which migrations do not create: declare `#[column(identity)]` instead"
                ),
            );
        }
        // The catalog is input too: its text becomes SQL only once parsed; what does not
        // parse is left out, and said.
        let default = match default
            .map(|text| SqlExpr::parse("default", &text).map_err(|e| (text, e)))
        {
            Some(Ok(default)) => Some(default),
            Some(Err((text, e))) => {
                note(
                    UnmodelledKind::Unreadable,
                    format!("`{table_name}.{column}` has default `{text}`, which is left out: {e}"),
                );
                None
            }
            None => None,
        };
        let sql_type = match SqlType::parse(&sql_type) {
            Ok(t) => t,
            Err(e) => {
                note(
                    UnmodelledKind::Unreadable,
                    format!(
                        "`{table_name}.{column}` has type `{sql_type}`, which is not read, so the column is left out: {e}"
                    ),
                );
                continue;
            }
        };
        entry.columns.push(Column {
            name: column,
            sql_type,
            not_null: row.try_get("not_null")?,
            default,
            identity,
            collation: row.try_get("collation")?,
        });
    }
    for row in sqlx::query(CONSTRAINTS)
        .bind(namespaces)
        .fetch_all(&mut *conn)
        .await?
    {
        let table: String = row.try_get("table_name")?;
        let Some(t) = schema.tables.get_mut(&table) else {
            continue;
        };
        let name: String = row.try_get("name")?;
        text.definitions
            .insert((table.clone(), name.clone()), row.try_get("definition")?);
        let columns: Vec<String> = row.try_get("columns")?;
        let kind = row.try_get::<String, _>("kind")?;
        if kind == "x" {
            let definition: String = row.try_get("definition")?;
            unmodelled.push(Unmodelled { table: Some(table.clone()), kind: UnmodelledKind::Exclusion, note: format!("`{table}`: exclusion constraint `{name}` ({definition}) is not declared by the structs") });
            continue;
        }
        if !row.try_get::<bool, _>("validated")? {
            unmodelled.push(Unmodelled {
                table: Some(table.clone()),
                kind: UnmodelledKind::NotValid,
                note: format!("`{table}`: constraint `{name}` is NOT VALID (rows from before it are unchecked), which the structs do not declare: validate it (`ALTER TABLE .. VALIDATE CONSTRAINT`) first"),
            });
        }
        if matches!(kind.as_str(), "p" | "u") && row.try_get::<bool, _>("deferrable")? {
            unmodelled.push(Unmodelled {
                table: Some(table.clone()),
                kind: UnmodelledKind::DeferrableKey,
                note: format!(
                    "`{table}`: {} `{name}` is DEFERRABLE, which the structs do not declare",
                    if kind == "p" {
                        "primary key"
                    } else {
                        "unique constraint"
                    }
                ),
            });
        }
        match kind.as_str() {
            "p" => t.primary_key = Some(PrimaryKey { name, columns }),
            "u" => {
                t.uniques.insert(name.clone(), Unique { name, columns });
            }
            "f" if row
                .try_get::<Option<String>, _>("ref_namespace")?
                .is_some_and(|n| !namespaces.contains(&n)) =>
            {
                let other: String = row.try_get("ref_namespace")?;
                unmodelled.push(Unmodelled {
                    note: format!("`{table}`: foreign key `{name}` references a table in schema `{other}`, which tablewright does not manage; left alone"),
                    table: Some(table.clone()),
                    kind: UnmodelledKind::OtherSchemaKey,
                });
            }
            "f" => {
                let fk = ForeignKey {
                    name: name.clone(),
                    columns,
                    references_table: row
                        .try_get::<Option<String>, _>("ref_table")?
                        .unwrap_or_default(),
                    references_columns: row.try_get("ref_columns")?,
                    on_delete: action(&row.try_get::<String, _>("on_delete")?),
                    on_update: action(&row.try_get::<String, _>("on_update")?),
                    match_full: row.try_get("match_full")?,
                    deferrable: row.try_get("deferrable")?,
                    initially_deferred: row.try_get("initially_deferred")?,
                };
                t.foreign_keys.insert(name, fk);
            }
            _ => {
                let definition: String = row.try_get("definition")?;
                let expression = definition
                    .strip_prefix("CHECK (")
                    .and_then(|d| d.split(" NOT VALID").next())
                    .and_then(|d| d.strip_suffix(')'))
                    .unwrap_or(&definition);
                match SqlExpr::parse("expr", expression) {
                    Ok(expression) => {
                        t.checks.insert(name.clone(), Check { name, expression });
                    }
                    Err(e) => unmodelled.push(Unmodelled {
                        table: Some(table.clone()),
                        kind: UnmodelledKind::Unreadable,
                        note: format!("`{table}`: check `{name}` ({definition}) is left out: {e}"),
                    }),
                }
            }
        }
    }
    let mut invalid_indexes = Vec::new();
    let mut keys: std::collections::BTreeMap<i64, Vec<sqlx::postgres::PgRow>> = Default::default();
    for row in sqlx::query(INDEX_KEYS)
        .bind(namespaces)
        .fetch_all(&mut *conn)
        .await?
    {
        keys.entry(row.try_get("oid")?).or_default().push(row);
    }
    for row in sqlx::query(INDEXES)
        .bind(namespaces)
        .fetch_all(&mut *conn)
        .await?
    {
        let table: String = row.try_get("table_name")?;
        let Some(t) = schema.tables.get_mut(&table) else {
            continue;
        };
        let name: String = row.try_get("name")?;
        text.definitions
            .insert((table.clone(), name.clone()), row.try_get("definition")?);
        if !row.try_get::<bool, _>("is_valid")? {
            invalid_indexes.push(name.clone());
        }
        let oid: i64 = row.try_get("oid")?;
        let mut left_out = |why: String| {
            unmodelled.push(Unmodelled {
                table: Some(table.clone()),
                kind: UnmodelledKind::PartialIndex(name.clone()),
                note: format!("`{table}`: index `{name}` {why}, so it is left out"),
            })
        };
        let method: String = row.try_get("method")?;
        // DSQL's catalog calls its btree `btree_index`.
        let method = match IndexMethod::parse(method.strip_suffix("_index").unwrap_or(&method)) {
            Some(method) => method.unless_btree(),
            None => {
                left_out(format!(
                    "is a {method} index, which the model does not hold"
                ));
                continue;
            }
        };
        let predicate = match row
            .try_get::<Option<String>, _>("predicate")?
            .map(|text| SqlExpr::parse("where", &text).map_err(|e| (text, e)))
        {
            Some(Ok(p)) => Some(p),
            Some(Err((text, e))) => {
                left_out(format!(
                    "has the predicate `{text}`, which is not read ({e})"
                ));
                continue;
            }
            None => None,
        };
        let mut index = Index {
            name: name.clone(),
            columns: Vec::new(),
            unique: row.try_get("is_unique")?,
            method,
            include: Vec::new(),
            predicate,
        };
        let collated = collated_keys(&row.try_get::<String, _>("definition")?);
        let mut readable = true;
        for (position, key) in keys
            .remove(&oid)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let column: Option<String> = key.try_get("column_name")?;
            if key.try_get::<bool, _>("included")? {
                index.include.extend(column);
                continue;
            }
            let expression_collation = collated.get(position).copied().unwrap_or(false);
            let mut collation: Option<String> = key.try_get("collation")?;
            let target = match (column, key.try_get::<Option<String>, _>("expression")?) {
                (Some(column), _) => KeyTarget::Column(column),
                (None, Some(text)) => match SqlExpr::parse("columns", &text) {
                    Ok(expression) => {
                        if !expression_collation {
                            collation = None;
                        }
                        KeyTarget::Expression(expression)
                    }
                    Err(e) => {
                        left_out(format!("has the key `{text}`, which is not read ({e})"));
                        readable = false;
                        break;
                    }
                },
                (None, None) => {
                    readable = false;
                    break;
                }
            };
            index.columns.push(
                IndexKey {
                    target,
                    descending: key.try_get("descending")?,
                    nulls_first: Some(key.try_get("nulls_first")?),
                    opclass: key.try_get("opclass")?,
                    collation,
                }
                .normalized(),
            );
        }
        if readable {
            t.indexes.insert(name, index);
        }
    }
    for object in sqlx::query_scalar::<_, String>(OTHER_OBJECTS)
        .bind(namespaces)
        .fetch_all(&mut *conn)
        .await?
    {
        unmodelled.push(Unmodelled {
            table: None,
            kind: UnmodelledKind::NotATable,
            note: format!("{object} is not a table; tablewright does not manage it"),
        });
    }
    // The model writes a table outside `public` as `schema.table`: a name holding a `.`
    // would read as another table, so such a table is left out, and said.
    for (namespace, table) in sqlx::query_as::<_, (String, String)>(DOTTED_TABLES)
        .bind(namespaces)
        .fetch_all(&mut *conn)
        .await?
    {
        unmodelled.push(Unmodelled { table: None, kind: UnmodelledKind::NotATable, note: format!("table `{table}` of schema `{namespace}` has a `.` in its name, which tablewright cannot tell from a schema's; left alone") });
    }
    // What lives beside the tables. A server that does not serve one of these catalogs
    // (Aurora DSQL may not) has it said in a note instead.
    for (kind, query) in BESIDE {
        match sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(*query))
            .bind(namespaces)
            .fetch_all(&mut *conn)
            .await
        {
            Ok(rows) => text.beside.extend(
                rows.into_iter()
                    .map(|(table, name, definition)| ((*kind, table, name), definition)),
            ),
            Err(e) => unmodelled.push(Unmodelled {
                table: None,
                kind: UnmodelledKind::NotATable,
                note: format!("{kind}s are not read on this server: {e}"),
            }),
        }
    }
    let owners = sqlx::query_as::<_, (String, String)>(OWNERS)
        .bind(namespaces)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    for table in sqlx::query_scalar::<_, String>(UNLOGGED)
        .bind(namespaces)
        .fetch_all(&mut *conn)
        .await?
    {
        unmodelled.push(Unmodelled {
            note: format!("`{table}` is UNLOGGED, which the structs do not declare"),
            table: Some(table),
            kind: UnmodelledKind::Unlogged,
        });
    }
    // The notes quote the catalog's names: said with their control characters escaped.
    for u in &mut unmodelled {
        u.note = crate::error::printable(&u.note).into_owned();
    }
    Ok(Introspected {
        schema,
        invalid_indexes,
        unmodelled,
        text,
        owners,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_written_with_its_own_collation_is_told_apart() {
        assert_eq!(
            super::collated_keys(
                r#"CREATE INDEX i ON public.t USING btree (lower(c) COLLATE "POSIX", d, ((e || 'x') COLLATE "C"))"#
            ),
            [true, false, false]
        );
        assert_eq!(
            super::collated_keys(
                "CREATE UNIQUE INDEX i ON public.t USING btree (a) INCLUDE (b) WHERE (c COLLATE \"C\" > 'x')"
            ),
            [false]
        );
    }
}
