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
    /// The token.
    pub token: Token,
    /// Its bytes in the text.
    pub bytes: Range<usize>,
    /// Its 1-based line.
    pub line: usize,
}

impl Lexeme {
    /// Whitespace or a comment.
    pub fn is_blank(&self) -> bool {
        matches!(self.token, Token::Whitespace(_))
    }

    /// An unquoted word equal (ignoring case) to `keyword`.
    pub fn is_word(&self, keyword: &str) -> bool {
        matches!(&self.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
    }

    /// A `--` comment whose text, trimmed, is `text`.
    pub fn is_line_comment(&self, text: &str) -> bool {
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
        .map_err(|e| LexError { line: e.location.line as usize, message: e.message })?;
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let offset = |line: u64, column: u64| -> usize {
        let start = line_starts.get((line as usize).saturating_sub(1)).copied().unwrap_or(text.len());
        text[start..].char_indices().nth((column as usize).saturating_sub(1)).map(|(i, _)| start + i).unwrap_or(text.len())
    };
    Ok(tokens
        .into_iter()
        .map(|t| {
            let bytes = offset(t.span.start.line, t.span.start.column)..offset(t.span.end.line, t.span.end.column);
            Lexeme { token: t.token, bytes, line: t.span.start.line as usize }
        })
        .collect())
}

/// The tokens of `text` that are not whitespace or comments; none when it does not lex.
pub fn significant(text: &str) -> Vec<Lexeme> {
    lex(text).map(|tokens| tokens.into_iter().filter(|t| !t.is_blank()).collect()).unwrap_or_default()
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
    fn unreadable_text_names_its_line() {
        assert_eq!(lex("SELECT 1;\nSELECT 'open").unwrap_err().line, 2);
    }
}
