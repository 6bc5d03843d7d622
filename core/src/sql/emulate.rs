//! Running DSQL-dialect SQL on PostgreSQL: only the syntax PostgreSQL lacks is translated.
//! Every other DSQL rule still holds (the runner enforces them; the test suite's guard
//! checks that it does).

/// Removes DSQL's `ASYNC` from `CREATE [UNIQUE] INDEX ASYNC` and `ALTER TABLE ASYNC`; other
/// statements come back unchanged. PostgreSQL builds those synchronously, which is what
/// waiting for the DSQL job amounts to.
pub fn to_postgres(statement: &str) -> String {
    // Leading line comments (a recreation step's label) are kept, and skipped here.
    let mut trimmed = statement.trim_start();
    while trimmed.starts_with("--") {
        trimmed = trimmed.find('\n').map(|nl| trimmed[nl..].trim_start()).unwrap_or("");
    }
    let lead = statement.len() - trimmed.len();
    let words: Vec<&str> = trimmed.splitn(5, char::is_whitespace).collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let async_position = match upper.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["CREATE", "INDEX", "ASYNC", ..] | ["ALTER", "TABLE", "ASYNC", ..] => Some(2),
        ["CREATE", "UNIQUE", "INDEX", "ASYNC", ..] => Some(3),
        _ => None,
    };
    match async_position {
        Some(n) => {
            // Byte offset of the n-th word, so the rest of the statement stays byte-identical.
            let mut offset = lead;
            let mut rest = trimmed;
            for _ in 0..n {
                let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let after = rest[word_end..].trim_start();
                offset += rest.len() - after.len();
                rest = after;
            }
            let after_async = rest["ASYNC".len()..].trim_start();
            format!("{}{}", &statement[..offset], after_async)
        }
        None => statement.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::to_postgres;

    #[test]
    fn async_is_removed_and_nothing_else_changes() {
        assert_eq!(to_postgres("CREATE INDEX ASYNC IF NOT EXISTS \"i\" ON \"t\" (\"a\");"), "CREATE INDEX IF NOT EXISTS \"i\" ON \"t\" (\"a\");");
        assert_eq!(to_postgres("create unique index async \"u\" on t (a);"), "create unique index \"u\" on t (a);");
        assert_eq!(to_postgres("ALTER TABLE ASYNC \"t\" VALIDATE CONSTRAINT \"c\";"), "ALTER TABLE \"t\" VALIDATE CONSTRAINT \"c\";");
        assert_eq!(
            to_postgres("-- tablewright:recreate \"t\" 7/8: x\nCREATE INDEX ASYNC IF NOT EXISTS \"i\" ON \"t\" (\"a\");"),
            "-- tablewright:recreate \"t\" 7/8: x\nCREATE INDEX IF NOT EXISTS \"i\" ON \"t\" (\"a\");"
        );
        let untouched = "ALTER TABLE \"async\" ADD COLUMN \"async\" text;";
        assert_eq!(to_postgres(untouched), untouched);
    }
}
