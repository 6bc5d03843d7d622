//! The one SQL tokenizer: `sqlparser-dsql`'s (AWS's fork of sqlparser-rs, which knows
//! DSQL's `ASYNC`), with PostgreSQL's lexical rules: strings with their escapes, dollar
//! quotes, quoted identifiers, nested block comments. Everything that reads SQL text
//! splits, classifies or rewrites it through these tokens, so a keyword or a breakpoint
//! inside a string or a comment is never mistaken for one.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
use std::ops::Range;

/// A token and the bytes of the text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexeme {
    /// The token; whitespace and comments are tokens too (`Token::Whitespace`).
    pub token: Token,
    /// Its bytes in the text.
    pub bytes: Range<usize>,
    /// Its 1-based line.
    pub line: usize,
}

impl Lexeme {
    /// Whitespace or a comment.
    pub(crate) fn is_blank(&self) -> bool {
        matches!(self.token, Token::Whitespace(_))
    }

    /// An unquoted word equal (ignoring case) to `keyword`.
    pub(crate) fn is_word(&self, keyword: &str) -> bool {
        matches!(&self.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
    }

    /// A `--` comment whose text, trimmed, is `text`.
    pub(crate) fn is_line_comment(&self, text: &str) -> bool {
        matches!(&self.token, Token::Whitespace(Whitespace::SingleLineComment { comment, prefix }) if prefix == "--" && comment.trim() == text)
    }
}

/// Text the tokenizer cannot read: an unclosed string, quoted identifier or comment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LexError {
    /// 1-based line of the problem.
    pub line: usize,
    /// The tokenizer's message.
    pub message: String,
}

/// The tokens of `text`, each with its byte range.
pub fn lex(text: &str) -> Result<Vec<Lexeme>, LexError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| LexError {
            line: e.location.line as usize,
            message: e.message,
        })?;
    // Spans come in order, so one cursor walks the text once: (byte, line, column).
    let mut cursor = (0usize, 1u64, 1u64);
    let mut chars = text.char_indices().peekable();
    let mut offset = |line: u64, column: u64| -> usize {
        while (cursor.1, cursor.2) < (line, column) {
            let Some((_, c)) = chars.next() else { break };
            cursor.0 += c.len_utf8();
            if c == '\n' {
                cursor = (cursor.0, cursor.1 + 1, 1);
            } else {
                cursor.2 += 1;
            }
        }
        cursor.0
    };
    Ok(tokens
        .into_iter()
        .map(|t| {
            let start = offset(t.span.start.line, t.span.start.column);
            let end = offset(t.span.end.line, t.span.end.column);
            Lexeme {
                token: t.token,
                bytes: start..end,
                line: t.span.start.line as usize,
            }
        })
        .collect())
}

/// The most `.` a name may hold before the SQL parser is given the text:
/// `catalog.schema.table.column`, and one to spare. The parser backtracks on dotted names,
/// twice the time for each more `.` (a fuzzer found 30 of them in a default, taking
/// minutes; 22 in a WHERE took check-dsql a minute): text with a longer one is not parsed.
pub(crate) const MAX_NAME_DOTS: usize = 4;

/// The most `.` of any one dotted name (`a.b.c`, `a.b.*`) in `text`'s tokens.
pub(crate) fn longest_dotted_name(tokens: &[Lexeme]) -> usize {
    let (mut longest, mut dots) = (0, 0);
    let significant = tokens.iter().filter(|t| !t.is_blank());
    let mut previous: Option<&Token> = None;
    for t in significant {
        match (&t.token, previous) {
            (Token::Period, Some(Token::Word(_))) => {
                dots += 1;
                longest = longest.max(dots);
            }
            (Token::Word(_) | Token::Mul, _) => {}
            _ => dots = 0,
        }
        previous = Some(&t.token);
    }
    longest
}

/// A `.` that does not join two parts of a name (`a.b`, `a.*`, `(row).field`): such text
/// is not SQL, and the parser's backtracking over it is exponential too (a fuzzer's
/// `- U.U.e.-U.or` repeated eight times took sixteen seconds).
pub(crate) fn has_stray_dot(tokens: &[Lexeme]) -> bool {
    let significant: Vec<&Lexeme> = tokens.iter().filter(|t| !t.is_blank()).collect();
    significant.iter().enumerate().any(|(i, t)| {
        t.token == Token::Period
            && !(i > 0
                && matches!(
                    significant[i - 1].token,
                    Token::Word(_) | Token::RParen | Token::RBracket
                )
                && significant
                    .get(i + 1)
                    .is_some_and(|n| matches!(n.token, Token::Word(_) | Token::Mul)))
    })
}

/// Whether `text` holds a name longer than [`MAX_NAME_DOTS`] allows, or a stray `.`: such
/// text is not given to the parser.
pub(crate) fn has_overlong_name(text: &str) -> bool {
    lex(text)
        .is_ok_and(|tokens| longest_dotted_name(&tokens) > MAX_NAME_DOTS || has_stray_dot(&tokens))
}

/// The tokens of `text` that are not whitespace or comments; none when it does not lex.
pub(crate) fn significant(text: &str) -> Vec<Lexeme> {
    lex(text)
        .map(|tokens| tokens.into_iter().filter(|t| !t.is_blank()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_cover_the_text_exactly() {
        let text = "SELECT 'é;' -- c\n/* x */ \"Ä\"";
        let tokens = lex(text).unwrap();
        let rebuilt: String = tokens.iter().map(|t| &text[t.bytes.clone()]).collect();
        assert_eq!(rebuilt, text);
        assert!(tokens.iter().any(|t| &text[t.bytes.clone()] == "'é;'"));
        assert_eq!(tokens.last().unwrap().line, 2);
    }

    #[test]
    fn a_long_line_lexes_in_linear_time() {
        let text = format!(
            "INSERT INTO t VALUES {};",
            vec!["(1, 'é')"; 50_000].join(", ")
        );
        let tokens = lex(&text).unwrap();
        assert_eq!(&text[tokens.last().unwrap().bytes.clone()], ";");
    }

    #[test]
    fn dotted_names_are_measured() {
        assert!(!has_overlong_name(
            "SELECT cat.sch.tab.col, x.y FROM t WHERE 1.5 > 0.25"
        ));
        assert!(has_overlong_name("SELECT 1 WHERE a.b.c.d.e.f > 0"));
        assert!(has_overlong_name("a.b.c.d.e.*"));
        assert!(!has_overlong_name(
            "SELECT 'a.b.c.d.e.f.g' -- a.b.c.d.e.f.g"
        ));
        assert!(!has_overlong_name(
            "SELECT (t).x, t.*, s.\"T\".c, a[1], 1.5, .5 FROM s.t"
        ));
        assert!(has_overlong_name("- U.U.e.-U.or"));
        assert!(has_overlong_name("SELECT a.(1) FROM t"));
    }

    #[test]
    fn unreadable_text_names_its_line() {
        assert_eq!(lex("SELECT 1;\nSELECT 'open").unwrap_err().line, 2);
    }
}
