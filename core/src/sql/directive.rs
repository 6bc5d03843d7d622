//! Directives: statements the runner carries out in batches on DSQL, where one
//! transaction may change at most 3,000 rows. Each is an ordinary statement under a
//! structured comment, so the file stays readable and, run as plain SQL (on PostgreSQL,
//! or by any other tool), does the same work in one statement:
//!
//! ```sql
//! -- tablewright:copy "books" -> "books__tw_new"
//! INSERT INTO "books__tw_new" ("id", "pages") SELECT "id", "pages"::bigint FROM "books";
//!
//! -- tablewright:backfill "books"."format"
//! UPDATE "books" SET "format" = 'paperback' WHERE "format" IS NULL;
//! ```
//!
//! The runner walks the table in primary-key order and commits each batch together with
//! its cursor, so a run killed midway resumes after the last committed batch.
//! `copy` belongs to a table recreation ([`crate::compile::recreate`]); `backfill` gives the rows
//! that exist when a column is added its default.

use crate::sql::ident::{quote, quote_table, quoted_ident};
use crate::sql::tokens::{self, Lexeme};
use sqlparser::tokenizer::{Token, Whitespace};

/// First line of a copy directive.
pub(crate) const COPY_MARK: &str = "-- tablewright:copy ";
/// First line of a backfill directive.
pub(crate) const BACKFILL_MARK: &str = "-- tablewright:backfill ";

/// A statement the runner carries out in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// Rows of a table into its replacement.
    Copy(CopyDirective),
    /// A new column's value for the rows that existed before it.
    Backfill(BackfillDirective),
}

/// A parsed copy directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyDirective {
    /// The table rows come from (the old table).
    pub source: String,
    /// The table rows go to (the new table).
    pub target: String,
    /// The `INSERT .. SELECT .. FROM "source"` without its semicolon; the runner appends
    /// the key range of each batch as a `WHERE` clause.
    pub insert: String,
}

/// A parsed backfill directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillDirective {
    /// The table whose rows are filled, as the model names it (`books`, or `auth.books`
    /// outside `public`).
    pub table: String,
    /// The column filled where it is NULL.
    pub column: String,
    /// The `UPDATE "table" SET "column" = .. WHERE "column" IS NULL` without its
    /// semicolon; the runner appends the key range of each batch with `AND`.
    pub update: String,
}

impl Directive {
    /// The table the runner walks in primary-key order.
    pub fn table(&self) -> &str {
        match self {
            Directive::Copy(d) => &d.source,
            Directive::Backfill(d) => &d.table,
        }
    }
}

/// A directive that does not have the documented form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} directive: {message}")]
pub struct DirectiveError {
    /// `copy` or `backfill`.
    pub kind: &'static str,
    /// What is wrong, and the expected form.
    pub message: String,
}

/// The statement's tokens ([`crate::sql::tokens`]); none when it does not lex (then it is
/// no directive, and the server reports the SQL).
fn lexemes(statement: &str) -> Vec<Lexeme> {
    tokens::lex(statement).unwrap_or_default()
}

/// The statement without its comments and its semicolon.
fn body(statement: &str, lexemes: &[Lexeme]) -> String {
    let text: String = lexemes
        .iter()
        .filter(|t| {
            !matches!(
                t.token,
                Token::Whitespace(
                    Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)
                )
            )
        })
        .map(|t| &statement[t.bytes.clone()])
        .collect();
    text.trim().trim_end_matches(';').trim_end().to_owned()
}

/// The directive `statement` carries, if any: a `--` comment of the directive's form. A
/// statement that starts like a directive but does not follow its form is an error, so
/// `check` can report it before a run does.
pub fn parse(statement: &str) -> Result<Option<Directive>, DirectiveError> {
    let lexemes = lexemes(statement);
    for t in &lexemes {
        let Token::Whitespace(Whitespace::SingleLineComment { comment, prefix }) = &t.token else {
            continue;
        };
        let line = format!("{prefix}{}", comment.trim_end());
        if let Some(header) = line.strip_prefix(COPY_MARK) {
            return parse_copy(&line, header, statement, &lexemes)
                .map(|d| Some(Directive::Copy(d)));
        }
        if let Some(header) = line.strip_prefix(BACKFILL_MARK) {
            return parse_backfill(&line, header, statement, &lexemes)
                .map(|d| Some(Directive::Backfill(d)));
        }
    }
    Ok(None)
}

/// The first of `keywords` outside parentheses (words, not text inside strings).
fn top_level_keyword(lexemes: &[Lexeme], keywords: &[&str]) -> Option<String> {
    let mut depth = 0i32;
    for t in lexemes {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 => {
                if let Some(k) = keywords.iter().find(|k| t.is_word(k)) {
                    return Some((*k).to_owned());
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_copy(
    header_line: &str,
    header: &str,
    statement: &str,
    lexemes: &[Lexeme],
) -> Result<CopyDirective, DirectiveError> {
    let error = |message: String| DirectiveError {
        kind: "copy",
        message,
    };
    let form = || {
        error(format!(
            "expected `{COPY_MARK}\"source\" -> \"target\"`, found `{header_line}`"
        ))
    };
    let (source, rest) = quoted_ident(header.trim()).ok_or_else(form)?;
    let rest = rest.trim().strip_prefix("->").ok_or_else(form)?;
    let (target, rest) = quoted_ident(rest.trim()).ok_or_else(form)?;
    if !rest.trim().is_empty() {
        return Err(form());
    }
    let insert = body(statement, lexemes);
    let expected_start = format!("INSERT INTO {} (", quote_table(&target));
    let expected_end = format!(" FROM {}", quote_table(&source));
    // A `;` inside is harmless: the runner sends each batch as one prepared statement,
    // which the server refuses to split.
    if !insert.starts_with(&expected_start) || !insert.ends_with(&expected_end) {
        return Err(error(format!(
            "the statement after `{header_line}` must be one `{expected_start}..) SELECT .. FROM {}`, without WHERE, ORDER BY or LIMIT (the runner adds the batch's key range)",
            quote_table(&source)
        )));
    }
    if let Some(keyword) = top_level_keyword(
        lexemes,
        &[
            "WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP", "HAVING", "JOIN", "UNION", "ON",
        ],
    ) {
        return Err(error(format!(
            "the copy after `{header_line}` must read the whole source table: found {keyword}, and it takes no WHERE, ORDER BY, LIMIT, GROUP BY or JOIN"
        )));
    }
    Ok(CopyDirective {
        source,
        target,
        insert,
    })
}

fn parse_backfill(
    header_line: &str,
    header: &str,
    statement: &str,
    lexemes: &[Lexeme],
) -> Result<BackfillDirective, DirectiveError> {
    let error = |message: String| DirectiveError {
        kind: "backfill",
        message,
    };
    let form = || {
        error(format!(
            "expected `{BACKFILL_MARK}\"table\".\"column\"`, found `{header_line}`"
        ))
    };
    let (table, rest) = quoted_ident(header.trim()).ok_or_else(form)?;
    let rest = rest.strip_prefix('.').ok_or_else(form)?;
    let (column, rest) = quoted_ident(rest).ok_or_else(form)?;
    if !rest.trim().is_empty() {
        return Err(form());
    }
    let update = body(statement, lexemes);
    let expected_start = format!("UPDATE {} SET {} = ", quote_table(&table), quote(&column));
    let expected_end = format!(" WHERE {} IS NULL", quote(&column));
    let value = update
        .strip_prefix(&expected_start)
        .and_then(|r| r.strip_suffix(&expected_end))
        .unwrap_or("");
    if value.trim().is_empty() {
        return Err(error(format!(
            "the statement after `{header_line}` must be one `{expected_start}<value>{expected_end}` (the runner adds the batch's key range)"
        )));
    }
    Ok(BackfillDirective {
        table,
        column,
        update,
    })
}

/// A copy directive over its `INSERT .. SELECT`: `columns` of `target` from
/// `expressions` over `source` (the form [`parse`] reads back).
pub(crate) fn copy_statement(
    source: &str,
    target: &str,
    columns: &[String],
    expressions: &[String],
) -> String {
    format!(
        "{COPY_MARK}{} -> {}\nINSERT INTO {} ({}) SELECT {} FROM {};",
        quote(source),
        quote(target),
        quote_table(target),
        columns.join(", "),
        expressions.join(", "),
        quote_table(source)
    )
}

/// A backfill directive over its `UPDATE`: `column` of `table` set to `value` where it is
/// NULL (the form [`parse`] reads back).
pub(crate) fn backfill_statement(table: &str, column: &str, value: &str) -> String {
    let (t, c) = (quote(table), quote(column));
    format!(
        "{BACKFILL_MARK}{t}.{c}\nUPDATE {} SET {c} = {value} WHERE {c} IS NULL;",
        quote_table(table)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_directive_round_trips_and_a_malformed_one_is_an_error() {
        let sql = "-- tablewright:copy \"bo\"\"oks\" -> \"books__tw_new\"\n-- note\nINSERT INTO \"books__tw_new\" (\"id\") SELECT \"id\" FROM \"bo\"\"oks\";";
        let Some(Directive::Copy(d)) = parse(sql).unwrap() else {
            panic!("a copy directive")
        };
        assert_eq!(
            (d.source.as_str(), d.target.as_str()),
            ("bo\"oks", "books__tw_new")
        );
        assert_eq!(
            d.insert,
            "INSERT INTO \"books__tw_new\" (\"id\") SELECT \"id\" FROM \"bo\"\"oks\""
        );
        let written = copy_statement("a", "b", &["\"x\"".into()], &["\"x\"".into()]);
        assert_eq!(
            parse(&written).unwrap().map(|d| d.table().to_owned()),
            Some("a".into())
        );
        assert_eq!(parse("INSERT INTO a SELECT 1").unwrap(), None);
        assert!(
            parse("-- tablewright:copy \"a\" \"b\"\nINSERT INTO \"b\" (x) SELECT x FROM \"a\";")
                .is_err()
        );
        assert!(parse("-- tablewright:copy \"a\" -> \"b\"\nINSERT INTO \"b\" (x) SELECT x FROM \"a\" WHERE x > 1;").is_err());
        assert!(
            parse("-- tablewright:copy \"a\" -> \"b\"\nINSERT INTO \"b\" (x) SELECT x FROM \"c\";")
                .is_err()
        );
        // Keywords inside strings and subqueries are not the copy's own.
        let fill = "-- tablewright:copy \"a\" -> \"b\"\nINSERT INTO \"b\" (x, y) SELECT x, 'no limit set where join' FROM \"a\";";
        assert!(parse(fill).unwrap().is_some());
        // A string that looks like a directive header is not one.
        assert_eq!(
            parse("SELECT '\n-- tablewright:copy \"a\" -> \"b\"'").unwrap(),
            None
        );
    }

    #[test]
    fn a_backfill_directive_round_trips_and_a_malformed_one_is_an_error() {
        let written = backfill_statement("bo\"oks", "format", "'paper; back'");
        let Some(Directive::Backfill(d)) = parse(&written).unwrap() else {
            panic!("a backfill directive: {written}")
        };
        assert_eq!((d.table.as_str(), d.column.as_str()), ("bo\"oks", "format"));
        assert_eq!(
            d.update,
            "UPDATE \"bo\"\"oks\" SET \"format\" = 'paper; back' WHERE \"format\" IS NULL"
        );
        for bad in [
            "-- tablewright:backfill \"t\" \"c\"\nUPDATE \"t\" SET \"c\" = 1 WHERE \"c\" IS NULL;",
            "-- tablewright:backfill \"t\".\"c\"\nUPDATE \"t\" SET \"c\" = 1;",
            "-- tablewright:backfill \"t\".\"c\"\nUPDATE \"t\" SET \"d\" = 1 WHERE \"c\" IS NULL;",
            "-- tablewright:backfill \"t\".\"c\"\nUPDATE \"t\" SET \"c\" =  WHERE \"c\" IS NULL;",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind, "backfill", "{bad}");
        }
    }
}
