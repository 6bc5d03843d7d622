//! SQL identifiers: quoting them for PostgreSQL and DSQL, and reading a quoted one back.
//! A leaf module: everything that writes or reads SQL names uses it.

/// Quotes an identifier for PostgreSQL and DSQL.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes a name that may be qualified (`pg_catalog.jsonb_path_ops`, `extensions.gin_trgm_ops`):
/// each `.`-separated part on its own. For the model's operator classes and collations,
/// whose parts cannot hold a `.`.
pub fn quote_qualified(name: &str) -> String {
    name.split('.').map(quote).collect::<Vec<_>>().join(".")
}

/// Quotes a table's name as the model holds it: `users` as `"users"`, `auth.users` (a table
/// outside `public`) as `"auth"."users"`.
pub(crate) fn quote_table(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, bare)) => format!("{}.{}", quote(schema), quote(bare)),
        None => quote(name),
    }
}

/// Quotes the name of an object that lives in the schema of `table` (an index), qualified as
/// the table is: `DROP INDEX` and `ALTER INDEX` look names up on the search path, which holds
/// only `public`.
pub fn quote_beside_table(table: &str, object: &str) -> String {
    match table.split_once('.') {
        Some((schema, _)) => format!("{}.{}", quote(schema), quote(object)),
        None => quote(object),
    }
}

/// Reads a possibly qualified name as PostgreSQL prints it (`seq`, `"Odd".seq`, `a."b""c"`):
/// its parts, unquoted; `None` for anything else. An unquoted part is what PostgreSQL leaves
/// unquoted: lower-case letters, digits, `_` and `$`, not starting with a digit or `$`.
pub fn parse_qualified(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        let (part, after) = match quoted_ident(rest) {
            Some((name, after)) => (name, after),
            None => {
                let end = rest
                    .find(|c: char| {
                        !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
                    })
                    .unwrap_or(rest.len());
                let word = &rest[..end];
                if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit() || c == '$') {
                    return None;
                }
                (word.to_owned(), &rest[end..])
            }
        };
        parts.push(part);
        match after.strip_prefix('.') {
            Some(next) => rest = next,
            None if after.is_empty() => return Some(parts),
            None => return None,
        }
    }
}

/// A string literal, read the same whatever `standard_conforming_strings` says: `'..'`
/// with its quotes doubled, or, when the text holds a backslash or a NUL, an escape string
/// `E'..'` with backslashes doubled too (a NUL, which text cannot hold, becomes `\x00`,
/// which the server refuses as it refuses a bound one). The one way text becomes a
/// literal in SQL this tool writes.
pub fn literal(text: &str) -> String {
    if text.contains(['\\', '\0']) {
        format!(
            "E'{}'",
            text.replace('\\', "\\\\")
                .replace('\'', "''")
                .replace('\0', "\\x00")
        )
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// Quotes each identifier, comma-separated.
pub fn quote_list(idents: &[String]) -> String {
    idents
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `"name"` at the start of `text`; returns the name and the rest.
pub fn quoted_ident(text: &str) -> Option<(String, &str)> {
    let rest = text.strip_prefix('"')?;
    let mut name = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            if rest[i + 1..].starts_with('"') {
                name.push('"');
                chars.next();
                continue;
            }
            return Some((name, &rest[i + 1..]));
        }
        name.push(c);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_is_plain_unless_it_must_escape() {
        assert_eq!(
            literal("arn:aws:iam::1:role/app"),
            "'arn:aws:iam::1:role/app'"
        );
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\'b"), "E'a\\\\''b'");
        assert_eq!(literal("nul\0"), "E'nul\\x00'");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn qualified_names_read_as_postgresql_prints_them() {
        assert_eq!(
            parse_qualified("items_id_seq"),
            Some(vec!["items_id_seq".to_owned()])
        );
        assert_eq!(
            parse_qualified("\"Odd\".\"a\"\"b\""),
            Some(vec!["Odd".to_owned(), "a\"b".to_owned()])
        );
        assert_eq!(
            parse_qualified("app.s$1"),
            Some(vec!["app".to_owned(), "s$1".to_owned()])
        );
        for bad in [
            "",
            "x; DROP TABLE y",
            "a.",
            ".a",
            "Upper",
            "1a",
            "\"open",
            "a b",
        ] {
            assert_eq!(parse_qualified(bad), None, "{bad}");
        }
    }
}
