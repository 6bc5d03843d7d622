//! Migration files as statements: the breakpoint drizzle-kit puts between them, laying
//! statements out as a file, and cutting a file back into chunks (what runs as one unit)
//! and a chunk into statements. Both cuts read [`crate::sql::tokens`], so a breakpoint
//! or a `;` inside a string, a quoted name or a comment never cuts.

use crate::sql::tokens;
use sqlparser::tokenizer::Token;

/// The marker drizzle-kit puts between statements; runners split on it. It is a line
/// comment: it cuts only where a comment could start.
pub(crate) const BREAKPOINT: &str = "--> statement-breakpoint";

/// The breakpoint's comment text after `--`.
const BREAKPOINT_COMMENT: &str = "> statement-breakpoint";

/// Lays statements out as a migration file: one statement per chunk, drizzle-kit's
/// breakpoint between chunks, a trailing newline.
pub fn migration_file(statements: &[String]) -> String {
    let mut out = statements.join(&format!("\n{BREAKPOINT}\n"));
    out.push('\n');
    out
}

/// Splits a migration file into its chunks (the inverse of [`migration_file`]), each with
/// its first line; chunks holding only whitespace and comments are dropped.
///
/// A file the tokenizer cannot read (an unclosed string, or an `E'..'` escape it does not
/// know, such as `E'\xC3'`) is cut at lines holding only the breakpoint, as drizzle-kit
/// writes them: it stays readable, and the server judges its SQL.
pub fn chunks(file: &str) -> Vec<(usize, String)> {
    let Ok(lexemes) = tokens::lex(file) else {
        return chunks_by_line(file);
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut first: Option<usize> = None;
    let mut push = |from: usize, to: usize, first: Option<usize>| {
        if let Some(line) = first {
            out.push((line, file[from..to].trim().to_owned()));
        }
    };
    for t in &lexemes {
        if t.is_line_comment(BREAKPOINT_COMMENT) {
            push(start, t.bytes.start, first.take());
            start = t.bytes.end;
        } else if !t.is_blank() && first.is_none() {
            first = Some(t.line);
        }
    }
    push(start, file.len(), first);
    out
}

/// The file cut at lines that hold only the breakpoint.
fn chunks_by_line(file: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut first_line = 1;
    let mut flush = |lines: &mut Vec<&str>, first: usize| {
        let chunk = lines.join("\n");
        let code = chunk
            .lines()
            .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"));
        if let Some(k) = code {
            out.push((first + k, chunk.trim().to_owned()));
        }
        lines.clear();
    };
    for (i, line) in file.lines().enumerate() {
        if line.trim() == BREAKPOINT {
            flush(&mut current, first_line);
            first_line = i + 2;
        } else {
            if current.is_empty() {
                first_line = i + 1;
            }
            current.push(line);
        }
    }
    flush(&mut current, first_line);
    out
}

/// The statements of a migration file (see [`chunks`]).
pub fn split_statements(file: &str) -> Vec<String> {
    chunks(file).into_iter().map(|(_, chunk)| chunk).collect()
}

/// Cuts SQL text at its top-level `;` into statements, each with its first line (1-based,
/// counted from `first_line`). Text that does not lex comes back whole.
pub fn statements_in(text: &str, first_line: usize) -> Vec<(usize, String)> {
    let Ok(lexemes) = tokens::lex(text) else {
        return Some((first_line, text.trim().to_owned()))
            .filter(|(_, s)| !s.is_empty())
            .into_iter()
            .collect();
    };
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    // Inside a SQL-standard function body, `BEGIN ATOMIC .. END`, a `;` ends a statement
    // of the body, not the CREATE: `ends` counts the ENDs still to come (CASE has one).
    // (A column named `end` or `case`, after `.` or `AS`, is a name, not a keyword.)
    let (mut ends, mut previous_begin, mut names_follow) = (0usize, false, false);
    for t in lexemes.iter() {
        if start.is_none() && !t.is_blank() && t.token != Token::SemiColon {
            start = Some((t.line, t.bytes.start));
        }
        if !t.is_blank() {
            let opens_body = previous_begin && t.is_word("ATOMIC");
            if opens_body || (ends > 0 && !names_follow && t.is_word("CASE")) {
                ends += 1;
            } else if ends > 0 && !names_follow && t.is_word("END") {
                ends -= 1;
            }
            previous_begin = t.is_word("BEGIN");
            names_follow = t.token == Token::Period || t.is_word("AS");
        }
        if t.token == Token::SemiColon
            && ends == 0
            && let Some((line, from)) = start.take()
        {
            out.push((
                first_line + line - 1,
                text[from..t.bytes.end].trim().to_owned(),
            ));
        }
    }
    if let Some((line, from)) = start {
        out.push((first_line + line - 1, text[from..].trim().to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breakpoint_cuts_only_where_it_is_a_comment_of_its_own() {
        let file = "-- Custom migration: chunks are separated by a line holding only `--> statement-breakpoint`.\n\
                    INSERT INTO t (note) VALUES ('--> statement-breakpoint');\n\
                    /* --> statement-breakpoint */ SELECT 1;\n\
                    --> statement-breakpoint\n\
                    -- only a comment\n\
                    --> statement-breakpoint\n\
                    SELECT $$\n--> statement-breakpoint\n$$;\n";
        let chunks = chunks(file);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert_eq!(chunks[0].0, 2);
        assert!(
            chunks[0].1.starts_with("-- Custom migration") && chunks[0].1.ends_with("SELECT 1;"),
            "{chunks:?}"
        );
        assert_eq!(
            chunks[1],
            (7, "SELECT $$\n--> statement-breakpoint\n$$;".to_owned())
        );
    }

    #[test]
    fn a_sql_function_body_is_one_statement_with_its_create() {
        let text = "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 END AS case; SELECT r.end FROM r; END;\nSELECT 2;";
        let statements: Vec<String> = statements_in(text, 1).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            statements,
            [
                "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 END AS case; SELECT r.end FROM r; END;",
                "SELECT 2;"
            ]
        );
    }

    #[test]
    fn a_file_the_tokenizer_cannot_read_is_cut_at_breakpoint_lines() {
        let file = "SELECT E'\\xC3\\xA9';\n--> statement-breakpoint\n-- c\nSELECT 2;\n";
        assert_eq!(
            chunks(file),
            [
                (1, "SELECT E'\\xC3\\xA9';".to_owned()),
                (4, "-- c\nSELECT 2;".to_owned())
            ]
        );
    }

    #[test]
    fn generated_files_split_back_into_their_statements() {
        let statements = vec![
            "CREATE TABLE a (x text DEFAULT ';');".to_owned(),
            "-- label\nDROP TABLE b;".to_owned(),
        ];
        assert_eq!(split_statements(&migration_file(&statements)), statements);
    }

    #[test]
    fn statements_split_at_top_level_semicolons() {
        let text = "-- head\nCREATE TABLE a (x text DEFAULT ';');\nDO $$ BEGIN PERFORM 1; END $$;\n/* ; */ SELECT 1";
        let parts = statements_in(text, 10);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!(
            parts[0],
            (11, "CREATE TABLE a (x text DEFAULT ';');".to_owned())
        );
        assert_eq!(parts[1].0, 12);
        assert!(parts[1].1.starts_with("DO $$") && parts[1].1.ends_with("$$;"));
        assert_eq!(parts[2], (13, "SELECT 1".to_owned()));
    }
}
