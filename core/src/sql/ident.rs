//! SQL identifiers: quoting them for PostgreSQL and DSQL, and reading a quoted one back.
//! A leaf module: everything that writes or reads SQL names uses it.

/// Quotes an identifier for PostgreSQL and DSQL.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes each identifier, comma-separated.
pub fn quote_list(idents: &[String]) -> String {
    idents.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
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

