//! `check-dsql`: classifies every statement of any SQL file, generated or hand-written, for
//! Aurora DSQL. Statements are split with the tokenizer of `sqlparser-dsql` (strings,
//! dollar quotes and comments are understood; drizzle's breakpoint markers are comments)
//! and judged by AWS's `dsql-lint` (pinned); [`crate::compile::rules::LINT_RULE_CLASSES`] maps its
//! rules to classes.

use crate::compile::rules::{DsqlClass, lint_rule_class};
use crate::sql::statement::{self, StatementKind};
use serde::Serialize;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// One classified statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedStatement {
    /// 1-based line where it starts.
    pub line: usize,
    /// The statement as written.
    pub sql: String,
    /// Its class.
    pub class: DsqlClass,
    /// dsql-lint rule ids that fired.
    pub rules: Vec<String>,
    /// Why, for anything but OK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What to do instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The statement as it will run (for INDEX: with ASYNC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten: Option<String>,
}

/// Counts per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Statements.
    pub total: usize,
    /// OK.
    pub compatible: usize,
    /// INDEX.
    pub index: usize,
    /// STRIP.
    pub stripped: usize,
    /// RECREATION.
    pub recreation: usize,
    /// ERROR.
    pub errors: usize,
}

impl Summary {
    /// Adds statements up.
    pub fn of<'a>(statements: impl IntoIterator<Item = &'a CheckedStatement>) -> Summary {
        let mut s = Summary::default();
        for st in statements {
            s.total += 1;
            match st.class {
                DsqlClass::Ok => s.compatible += 1,
                DsqlClass::Index => s.index += 1,
                DsqlClass::Strip => s.stripped += 1,
                DsqlClass::Recreation => s.recreation += 1,
                DsqlClass::Error => s.errors += 1,
            }
        }
        s
    }

    /// `Total: 3 | Compatible: 1 | Index (ASYNC): 1 | Stripped: 1 | ..`
    pub fn line(&self) -> String {
        format!(
            "Total: {} | Compatible: {} | Index (ASYNC): {} | Stripped: {} | Recreation: {} | Errors: {}",
            self.total, self.compatible, self.index, self.stripped, self.recreation, self.errors
        )
    }
}

/// Byte offset of a 1-based (line, column in characters) position.
fn offset(text: &str, line_starts: &[usize], line: u64, column: u64) -> usize {
    let start = line_starts.get((line as usize).saturating_sub(1)).copied().unwrap_or(text.len());
    text[start..].char_indices().nth((column as usize).saturating_sub(1)).map(|(i, _)| start + i).unwrap_or(text.len())
}

/// Splits SQL text into statements, each with its first line. Text the tokenizer cannot
/// read (an unclosed string, say) comes back as one statement, for the linter to judge.
pub fn split(text: &str) -> Vec<(usize, String)> {
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize_with_location() else {
        return vec![(1, text.trim().to_owned())].into_iter().filter(|(_, s)| !s.is_empty()).collect();
    };
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let mut out = Vec::new();
    let mut start: Option<(u64, usize)> = None;
    for t in &tokens {
        let is_blank = matches!(t.token, Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab | Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)));
        if start.is_none() && !is_blank && t.token != Token::SemiColon {
            start = Some((t.span.start.line, offset(text, &line_starts, t.span.start.line, t.span.start.column)));
        }
        if t.token == Token::SemiColon
            && let Some((line, from)) = start.take()
        {
            let end = offset(text, &line_starts, t.span.end.line, t.span.end.column);
            out.push((line as usize, text[from..end].trim().to_owned()));
        }
    }
    if let Some((line, from)) = start {
        out.push((line as usize, text[from..].trim().to_owned()));
    }
    out
}

fn rule_id(rule: &dsql_lint::LintRule) -> String {
    serde_json::to_value(rule).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| format!("{rule:?}"))
}

/// Classifies one statement.
pub fn classify(line: usize, sql: &str) -> CheckedStatement {
    let mut checked = CheckedStatement { line, sql: sql.to_owned(), class: DsqlClass::Ok, rules: Vec::new(), message: None, suggestion: None, rewritten: None };
    let first_word = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    if first_word == "DO" {
        // Not STRIP: skipping a block would lose whatever it does (data included).
        checked.class = DsqlClass::Error;
        checked.message = Some("DO blocks are PL/pgSQL, which DSQL does not run, and skipping one would lose what it does".into());
        checked.suggestion = Some("write it as plain SQL statements (LANGUAGE sql functions are allowed), or move the logic to the application".into());
        return checked;
    }
    if statement::classify(sql).kind == StatementKind::TransactionControl && !matches!(first_word.as_str(), "SAVEPOINT" | "RELEASE") {
        checked.class = DsqlClass::Strip;
        checked.message = Some("transaction control: the runner gives every statement its own transaction on DSQL (statements of one BEGIN block are no longer atomic together)".into());
        return checked;
    }
    for d in dsql_lint::lint_sql(sql) {
        let id = rule_id(&d.rule);
        let class = lint_rule_class(&id);
        if class >= checked.class {
            checked.class = class;
            checked.message = Some(d.message.clone());
            checked.suggestion = Some(d.suggestion.clone()).filter(|s| !s.is_empty());
        }
        checked.rules.push(id);
    }
    if checked.class == DsqlClass::Index {
        let fixed = dsql_lint::fix_sql(sql).sql;
        checked.rewritten = Some(fixed.trim().to_owned());
    }
    checked
}

/// A file's report for people: every statement that is not plainly compatible, with its
/// line, class, reason, suggestion and rewrite.
pub fn render_text(file: &str, checked: &[CheckedStatement]) -> String {
    let problems: Vec<&CheckedStatement> = checked.iter().filter(|c| c.class != DsqlClass::Ok).collect();
    if problems.is_empty() {
        return format!("{file}: {} statement(s), all compatible\n", checked.len());
    }
    let mut out = format!("{file}: {} statement(s)\n", checked.len());
    for c in problems {
        let label = match c.class {
            DsqlClass::Ok => "OK",
            DsqlClass::Index => "INDEX",
            DsqlClass::Strip => "STRIP",
            DsqlClass::Recreation => "RECREATION",
            DsqlClass::Error => "ERROR",
        };
        let first = c.sql.lines().next().unwrap_or("");
        out.push_str(&format!("  {file}:{}: {label:<10} {first}{}\n", c.line, if c.sql.contains('\n') { " .." } else { "" }));
        if let Some(m) = &c.message {
            out.push_str(&format!("      {m}\n"));
        }
        if let Some(s) = &c.suggestion {
            out.push_str(&format!("      -> {s}\n"));
        }
        if let Some(r) = &c.rewritten {
            out.push_str(&format!("      runs as: {r}\n"));
        }
    }
    out
}

/// Splits and classifies a whole file.
pub fn check_text(text: &str) -> Vec<CheckedStatement> {
    split(text).into_iter().map(|(line, sql)| classify(line, &sql)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_respects_strings_dollar_quotes_comments_and_breakpoints() {
        let text = "-- head\nCREATE TABLE a (x text DEFAULT ';');\n--> statement-breakpoint\nDO $$ BEGIN PERFORM 1; END $$;\n/* ; */ SELECT 1";
        let parts = split(text);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!(parts[0], (2, "CREATE TABLE a (x text DEFAULT ';');".to_owned()));
        assert_eq!(parts[1].0, 4);
        assert!(parts[1].1.starts_with("DO $$") && parts[1].1.ends_with("$$;"));
        assert_eq!(parts[2], (5, "SELECT 1".to_owned()));
    }

    #[test]
    fn the_summary_line_has_the_documented_shape() {
        let checked = check_text("CREATE TABLE t (id uuid PRIMARY KEY);\nCREATE INDEX i ON t (id);\nALTER TABLE t ENABLE ROW LEVEL SECURITY;");
        assert_eq!(Summary::of(&checked).line(), "Total: 3 | Compatible: 1 | Index (ASYNC): 1 | Stripped: 1 | Recreation: 0 | Errors: 0");
        assert_eq!(checked[1].rewritten.as_deref(), Some("CREATE INDEX ASYNC i ON t(id);"));
    }
}
