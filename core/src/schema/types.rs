//! SQL types: the Rust → SQL mapping of the schema language and the canonical spelling.
//!
//! Types are stored in the canonical form PostgreSQL's `format_type()` prints
//! (`character varying(32)`, `timestamp with time zone`), so a snapshot compares equal to an
//! introspected database and `varchar(32)` → `character varying(32)` is not a change.

/// Maps a Rust type's last path segment (and generics) to a SQL type. `None` when the type
/// has no mapping. `Option` is handled by the caller (it only changes nullability).
pub(crate) fn sql_type_for_rust(last_segment: &str, generic_args: &[String]) -> Option<String> {
    let sql = match last_segment {
        "String" => "text",
        "bool" => "boolean",
        "i16" => "smallint",
        "i32" => "integer",
        "i64" => "bigint",
        "f32" => "real",
        "f64" => "double precision",
        "Uuid" => "uuid",
        "DateTime" | "OffsetDateTime" => "timestamp with time zone",
        "NaiveDateTime" | "PrimitiveDateTime" => "timestamp without time zone",
        "NaiveDate" | "Date" => "date",
        "NaiveTime" | "Time" => "time without time zone",
        "Decimal" => "numeric",
        "Value" | "Json" => "jsonb",
        // Only `Vec<u8>`: an array column is a choice (DSQL has none), so it is spelled
        // out with `sql_type = "text[]"`.
        "Vec" => {
            return match generic_args {
                [inner] if inner == "u8" => Some("bytea".to_owned()),
                _ => None,
            };
        }
        _ => return None,
    };
    Some(sql.to_owned())
}

/// A canonical type without its modifiers: `timestamp(3) with time zone` →
/// `timestamp with time zone`, `numeric(10,2)` → `numeric`.
pub fn without_modifiers(sql_type: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in sql_type.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The Rust types the mapping knows, for error messages.
pub(crate) const MAPPED_RUST_TYPES: &str = "String, bool, i16, i32, i64, f32, f64, Uuid, DateTime<Utc>, \
OffsetDateTime, NaiveDateTime, PrimitiveDateTime, NaiveDate, Date, NaiveTime, Time, Decimal, \
serde_json::Value, Vec<u8>, Option<T>";

/// Aliases → canonical base names (without modifiers).
const BASE_ALIASES: &[(&str, &str)] = &[
    ("int", "integer"),
    ("int4", "integer"),
    ("integer", "integer"),
    ("int2", "smallint"),
    ("smallint", "smallint"),
    ("int8", "bigint"),
    ("bigint", "bigint"),
    ("float4", "real"),
    ("real", "real"),
    ("float8", "double precision"),
    ("double precision", "double precision"),
    ("float", "double precision"),
    ("bool", "boolean"),
    ("boolean", "boolean"),
    ("varchar", "character varying"),
    ("character varying", "character varying"),
    ("char", "character"),
    ("character", "character"),
    ("bpchar", "character"),
    ("decimal", "numeric"),
    ("numeric", "numeric"),
    ("timestamptz", "timestamp with time zone"),
    ("timestamp with time zone", "timestamp with time zone"),
    ("timestamp", "timestamp without time zone"),
    ("timestamp without time zone", "timestamp without time zone"),
    ("timetz", "time with time zone"),
    ("time with time zone", "time with time zone"),
    ("time", "time without time zone"),
    ("time without time zone", "time without time zone"),
];

/// Names of `pg_catalog` types a schema's own type would lose to: `"text"` quoted still
/// finds `pg_catalog.text` first on the search path.
const CATALOG_TYPE_NAMES: &[&str] = &[
    "text",
    "uuid",
    "json",
    "jsonb",
    "date",
    "bytea",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "money",
    "interval",
    "xml",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "tsvector",
    "tsquery",
    "bit",
    "varbit",
    "oid",
    "name",
    "regclass",
    "regtype",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "record",
    "void",
    "trigger",
    "anyelement",
    "any",
    "cstring",
    "pg_lsn",
];

/// Whether `name` is the name of a type `pg_catalog` has (an alias such as `int4` included).
pub(crate) fn is_catalog_type_name(name: &str) -> bool {
    CATALOG_TYPE_NAMES.contains(&name) || BASE_ALIASES.iter().any(|(alias, _)| *alias == name)
}

/// Why a `sql_type` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SqlTypeError {
    /// Nothing was written.
    #[error("empty SQL type")]
    Empty,
    /// Parentheses or brackets do not match, or stray characters.
    #[error(
        "malformed SQL type `{0}`: expected a name with optional `(n)` or `(p, s)` and optional `[]`"
    )]
    Malformed(String),
    /// The SQL parser does not read it as exactly one type.
    #[error("`{0}` is not one SQL type: {1}")]
    NotAType(String, String),
}

/// Canonical spelling of a SQL type: lower case, single spaces, aliases resolved, modifiers
/// kept (`VARCHAR( 32 )` → `character varying(32)`, `INT[]` → `integer[]`).
pub(crate) fn canonical_sql_type(text: &str) -> Result<String, SqlTypeError> {
    let lowered = text.trim().to_ascii_lowercase();
    if lowered.is_empty() {
        return Err(SqlTypeError::Empty);
    }
    let malformed = || SqlTypeError::Malformed(text.trim().to_owned());
    let (without_array, array_dims) = {
        let mut rest = lowered.trim_end();
        let mut dims = 0;
        while let Some(stripped) = rest.strip_suffix("[]") {
            rest = stripped.trim_end();
            dims += 1;
        }
        (rest, dims)
    };
    // `name`, `name(args)`, or, for the time types, `name(p) with[out] time zone`.
    let (base, modifiers, zone_suffix) = match without_array.find('(') {
        Some(open) => {
            let close = without_array[open..]
                .find(')')
                .map(|c| open + c)
                .ok_or_else(malformed)?;
            let args: Vec<String> = without_array[open + 1..close]
                .split(',')
                .map(|a| a.trim().to_owned())
                .collect();
            if args
                .iter()
                .any(|a| a.is_empty() || !a.chars().all(|c| c.is_ascii_digit() || c == '-'))
            {
                return Err(malformed());
            }
            let suffix = without_array[close + 1..]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let zone = match suffix.as_str() {
                "" => None,
                "with time zone" => Some(true),
                "without time zone" => Some(false),
                _ => return Err(malformed()),
            };
            (without_array[..open].trim(), Some(args.join(",")), zone)
        }
        None => (without_array, None, None),
    };
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    if base.is_empty()
        || !base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ' || c == '.')
    {
        return Err(malformed());
    }
    let written = base.clone();
    let base = BASE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map(|(_, canonical)| (*canonical).to_owned())
        .unwrap_or(base);
    let mut out = match (base.as_str(), modifiers, zone_suffix) {
        // `float(p)` is `real` up to 24 binary digits, `double precision` up to 53.
        ("double precision", Some(p), None) if written == "float" => match p.parse::<u32>() {
            Ok(1..=24) => "real".to_owned(),
            Ok(25..=53) => "double precision".to_owned(),
            _ => return Err(malformed()),
        },
        // The precision of a time type goes after its first word, as `format_type()`
        // prints it: `timestamptz(3)` is `timestamp(3) with time zone`.
        (
            time @ ("timestamp without time zone"
            | "timestamp with time zone"
            | "time without time zone"
            | "time with time zone"),
            Some(p),
            zone,
        ) => {
            let (word, implied_zone) = time.split_once(' ').expect("two words");
            // A zone after the precision only follows the bare `timestamp(p)` / `time(p)`.
            if zone.is_some() && written != word {
                return Err(malformed());
            }
            if p.contains(',') || !p.parse::<u32>().is_ok_and(|p| p <= 6) {
                return Err(malformed());
            }
            let with_zone = match zone {
                Some(true) => "with time zone",
                Some(false) => "without time zone",
                None => implied_zone,
            };
            format!("{word}({p}) {with_zone}")
        }
        (_, _, Some(_)) => return Err(malformed()),
        (_, Some(m), None) => format!("{base}({m})"),
        (_, None, None) => base,
    };
    for _ in 0..array_dims {
        out.push_str("[]");
    }
    Ok(out)
}

/// The base name of a canonical type, without modifiers or array brackets
/// (`timestamp(3) with time zone` → `timestamp with time zone`).
pub(crate) fn base_name(canonical: &str) -> String {
    let without_array = canonical
        .find('[')
        .map_or(canonical, |end| &canonical[..end]);
    match (without_array.find('('), without_array.find(')')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{}", &without_array[..open], &without_array[close + 1..])
                .trim_end()
                .to_owned()
        }
        _ => without_array.trim_end().to_owned(),
    }
}

/// Whether a foreign key from a column of type `a` to one of type `b` can be made:
/// PostgreSQL needs the two compared by one family of equality operators, so the
/// integers go together, `text` and `character varying` do, and other types only with
/// themselves (modifiers aside).
pub fn key_compatible(a: &str, b: &str) -> bool {
    let family = |t: &str| -> String {
        let base = base_name(t);
        let family = match base.as_str() {
            "smallint" | "integer" | "bigint" => "integer",
            "text" | "character varying" => "text",
            other => other,
        };
        format!("{family}{}", if is_array(t) { "[]" } else { "" })
    };
    family(a) == family(b)
}

/// Whether the canonical type is an array.
pub fn is_array(canonical: &str) -> bool {
    canonical.ends_with("[]")
}

/// The operator class PostgreSQL uses for a key of each base type under btree and hash
/// (the types the Rust mapping gives).
const DEFAULT_OPCLASSES: &[(&str, &str)] = &[
    ("text", "text_ops"),
    ("character varying", "text_ops"),
    ("character", "bpchar_ops"),
    ("smallint", "int2_ops"),
    ("integer", "int4_ops"),
    ("bigint", "int8_ops"),
    ("uuid", "uuid_ops"),
    ("boolean", "bool_ops"),
    ("numeric", "numeric_ops"),
    ("real", "float4_ops"),
    ("double precision", "float8_ops"),
    ("date", "date_ops"),
    ("timestamp with time zone", "timestamptz_ops"),
    ("timestamp without time zone", "timestamp_ops"),
    ("jsonb", "jsonb_ops"),
];

/// The operator class PostgreSQL uses for a key of `sql_type` under btree and hash when
/// none is named (the types the Rust mapping gives; `None` where this does not know).
/// (The index method is the model's, which reads types: [`crate::schema::model::IndexMethod::default_opclass`].)
pub(crate) fn default_btree_opclass(sql_type: &str) -> Option<&'static str> {
    let base = base_name(sql_type);
    DEFAULT_OPCLASSES
        .iter()
        .find(|(t, _)| *t == base)
        .map(|(_, o)| *o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_format_type_spelling() {
        for (input, want) in [
            ("VARCHAR( 32 )", "character varying(32)"),
            ("timestamptz", "timestamp with time zone"),
            ("numeric(12, 2)", "numeric(12,2)"),
            ("INT[]", "integer[]"),
            ("double   precision", "double precision"),
            ("my_enum", "my_enum"),
            ("timestamptz(3)", "timestamp(3) with time zone"),
            ("timestamp(3)", "timestamp(3) without time zone"),
            ("TIMESTAMP(0) WITH TIME ZONE", "timestamp(0) with time zone"),
            (
                "timestamp(6) without  time zone",
                "timestamp(6) without time zone",
            ),
            ("time(2)", "time(2) without time zone"),
            ("timetz(4)", "time(4) with time zone"),
            ("float(10)", "real"),
            ("float(53)", "double precision"),
            ("float", "double precision"),
        ] {
            assert_eq!(canonical_sql_type(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn malformed_types_are_refused() {
        for bad in [
            "",
            "varchar(",
            "varchar(a)",
            "text; drop table x",
            "numeric(1,)",
            "timestamptz(3) with time zone",
            "timestamp(7)",
            "float(54)",
            "float(0)",
            "integer(3) with time zone",
            "varchar(3) x",
        ] {
            assert!(
                canonical_sql_type(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn key_types_go_together_by_family() {
        assert!(key_compatible("integer", "bigint"));
        assert!(key_compatible("character varying(32)", "text"));
        assert!(key_compatible("numeric(10,2)", "numeric(12,2)"));
        assert!(!key_compatible("uuid", "bigint"));
        assert!(!key_compatible("integer", "numeric"));
        assert!(!key_compatible("integer[]", "integer"));
    }

    #[test]
    fn rust_mapping_follows_the_design_table() {
        assert_eq!(
            sql_type_for_rust("Vec", &["u8".into()]).as_deref(),
            Some("bytea")
        );
        assert_eq!(sql_type_for_rust("Vec", &["String".into()]), None);
        assert_eq!(
            sql_type_for_rust("DateTime", &["Utc".into()]).as_deref(),
            Some("timestamp with time zone")
        );
        assert_eq!(sql_type_for_rust("u32", &[]), None);
    }
}
