//! What every error of the library shares: its class (which decides the CLI's exit code),
//! a stable `kind` for machines, and the items it names (each undecided drop, each source
//! error, each refused change), as data.
//!
//! This module names no other: every stage's error implements [`Classified`] where it is
//! defined.

use serde::Serialize;
use std::fmt;

/// What kind of problem an error is; the CLI maps each class to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Bad configuration, arguments, sources or migration files: fix the input (exit 2).
    Input,
    /// A check found a problem with the history or the files (exit 1).
    Check,
    /// The database refused something or the run could not go on (exit 3); rerun after
    /// the fix.
    Run,
}

/// An error of the library: its class and a stable name, and what it names one by one.
pub trait Classified: std::error::Error + Send + Sync + 'static {
    /// The class, which decides the exit code.
    fn class(&self) -> ErrorClass;
    /// A stable name for machines (`--format json`), snake_case.
    fn kind(&self) -> &'static str;
    /// The things the error names, one item each; empty when the message says it all.
    fn items(&self) -> Vec<ErrorItem> {
        Vec::new()
    }

    /// What caused it, outermost first: the source chain, less what the message already
    /// says in other words.
    fn causes(&self) -> Vec<String> {
        std::iter::successors(self.source(), |cause| cause.source())
            .map(ToString::to_string)
            .collect()
    }
}

/// One thing an error names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ErrorItem {
    /// What it is, snake_case or a warning id: `drop_column`, `source`, `create_index`,
    /// `drop-table`.
    pub kind: String,
    /// The table it is about, when one.
    pub table: Option<String>,
    /// The column it is about, when one.
    pub column: Option<String>,
    /// What is wrong, for people.
    pub detail: String,
    /// Where in a source file, when known.
    pub location: Option<Span>,
    /// The ways out: one fix, or several to choose from.
    pub fix: Vec<String>,
    /// The source text around `location`, for a drawn snippet; not in JSON.
    #[serde(skip)]
    pub snippet: Option<Snippet>,
}

impl ErrorItem {
    /// An item with only a kind and a detail.
    pub fn new(kind: impl Into<String>, detail: impl Into<String>) -> ErrorItem {
        ErrorItem {
            kind: kind.into(),
            table: None,
            column: None,
            detail: detail.into(),
            location: None,
            fix: Vec::new(),
            snippet: None,
        }
    }
}

/// A span of a source file: 1-based lines, 1-based columns in characters; `end_column` is
/// the column after the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Span {
    /// The source file, as the config's `schema` patterns matched it.
    pub file: String,
    /// First line.
    pub line: usize,
    /// First column.
    pub column: usize,
    /// Last line, when known.
    pub end_line: Option<usize>,
    /// The column after the text on `end_line`, when known.
    pub end_column: Option<usize>,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Source lines and the byte range within them that a drawn snippet underlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The lines from the span's first to its last, joined by `\n`.
    pub lines: String,
    /// The underlined bytes of `lines`.
    pub range: std::ops::Range<usize>,
}

/// `text` with its control characters escaped (a line end as `\n`, ESC as `\u001b`): a value
/// read from a database or a file (a history tag, a lease holder, a SQLSTATE), printed
/// inside a line of text, can neither move the cursor, set a terminal's title or clear
/// its screen, nor start a line of its own ("Done: 0 applied").
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(text, |_| true)
}

/// `text` with every control character but line ends and tabs escaped: the last guard on
/// all the text the CLI prints, whatever the values in it.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(text, |c| !matches!(c, '\n' | '\t'))
}

fn escape_controls(text: &str, escaped: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    // Control characters, and the marks that reorder text on a terminal (a name that
    // reads backwards: U+202E and its kin).
    let hostile = |c: char| {
        (c.is_control()
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
            && escaped(c)
    };
    if !text.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(text);
    }
    // JSON's escapes (`\n`, `\u001b`), so that a JSON document stays one after it: every
    // character escaped here is one JSON leaves raw inside a string, or never writes.
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            _ if !hostile(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push_str(&format!("\\u{:04x}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        let hostile = "0001_x\u{1b}]0;pwned\u{7}\u{1b}[2J\nDone: 0 applied\r\u{9b}";
        assert_eq!(
            printable(hostile),
            "0001_x\\u001b]0;pwned\\u0007\\u001b[2J\\nDone: 0 applied\\r\\u009b"
        );
        assert_eq!(
            terminal_safe(hostile),
            "0001_x\\u001b]0;pwned\\u0007\\u001b[2J\nDone: 0 applied\\r\\u009b"
        );
        for plain in ["0000_init", "é \"quoted\" \\ back", "tab\tok"] {
            assert!(
                matches!(terminal_safe(plain), std::borrow::Cow::Borrowed(_)),
                "{plain}"
            );
        }
        assert_eq!(printable("a\tb"), "a\\tb");
        assert_eq!(
            terminal_safe("abc\u{202E}fed\u{7f}"),
            "abc\\u202efed\\u007f",
            "a name that reads backwards"
        );
        // A JSON document stays one: what is escaped inside its strings reads back.
        let document = serde_json::to_string(
            &serde_json::json!({"name": "bidi\u{202E}txt\u{7f}\u{85}\u{1b}"}),
        )
        .unwrap();
        let safe = terminal_safe(&document);
        assert!(
            !safe.chars().any(|c| c.is_control() || c == '\u{202E}'),
            "{safe}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            serde_json::from_str::<serde_json::Value>(&document).unwrap()
        );
    }
}
