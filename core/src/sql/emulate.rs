//! Running DSQL-dialect SQL on PostgreSQL: only the syntax PostgreSQL lacks is translated.
//! Every other DSQL rule still holds (the runner enforces them; the test suite's guard
//! checks that it does).

use crate::sql::tokens;

/// Removes DSQL's `ASYNC` from `CREATE [UNIQUE] INDEX ASYNC` and `ALTER TABLE ASYNC`; other
/// statements come back unchanged. PostgreSQL builds those synchronously, which is what
/// waiting for the DSQL job amounts to. The keywords are read as tokens, so comments and
/// spacing anywhere are fine and everything but the `ASYNC` stays byte-identical.
pub fn to_postgres(statement: &str) -> String {
    let leading = tokens::significant(statement)
        .into_iter()
        .take(4)
        .collect::<Vec<_>>();
    let is = |i: usize, w: &str| leading.get(i).is_some_and(|t| t.is_word(w));
    let async_at = if is(0, "CREATE") && is(1, "INDEX") && is(2, "ASYNC")
        || is(0, "ALTER") && is(1, "TABLE") && is(2, "ASYNC")
    {
        Some(2)
    } else if is(0, "CREATE") && is(1, "UNIQUE") && is(2, "INDEX") && is(3, "ASYNC") {
        Some(3)
    } else {
        None
    };
    match async_at {
        Some(n) => {
            let word = &leading[n].bytes;
            let rest = statement[word.end..].trim_start();
            format!("{}{rest}", &statement[..word.start])
        }
        None => statement.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::to_postgres;

    #[test]
    fn async_is_removed_and_nothing_else_changes() {
        assert_eq!(
            to_postgres("CREATE INDEX ASYNC IF NOT EXISTS \"i\" ON \"t\" (\"a\");"),
            "CREATE INDEX IF NOT EXISTS \"i\" ON \"t\" (\"a\");"
        );
        assert_eq!(
            to_postgres("create unique index async \"u\" on t (a);"),
            "create unique index \"u\" on t (a);"
        );
        assert_eq!(
            to_postgres("ALTER TABLE ASYNC \"t\" VALIDATE CONSTRAINT \"c\";"),
            "ALTER TABLE \"t\" VALIDATE CONSTRAINT \"c\";"
        );
        assert_eq!(
            to_postgres(
                "-- tablewright:recreate \"t\" 7/8: x\nCREATE INDEX ASYNC IF NOT EXISTS \"i\" ON \"t\" (\"a\");"
            ),
            "-- tablewright:recreate \"t\" 7/8: x\nCREATE INDEX IF NOT EXISTS \"i\" ON \"t\" (\"a\");"
        );
        assert_eq!(
            to_postgres("CREATE  INDEX\n  ASYNC i ON t (a)"),
            "CREATE  INDEX\n  i ON t (a)"
        );
        assert_eq!(
            to_postgres("/* why */ CREATE INDEX /* c */ ASYNC i ON t (a)"),
            "/* why */ CREATE INDEX /* c */ i ON t (a)"
        );
        let untouched = "ALTER TABLE \"async\" ADD COLUMN \"async\" text;";
        assert_eq!(to_postgres(untouched), untouched);
    }
}
