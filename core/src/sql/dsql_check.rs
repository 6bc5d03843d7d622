//! `check-dsql`: classifies every statement of any SQL file, generated or hand-written, for
//! Aurora DSQL, exactly as the runner treats it under DSQL's rules (the runner calls
//! [`check_chunk`] too). A file is cut into chunks at drizzle's breakpoints and a chunk into
//! statements ([`crate::sql::split`], with the one tokenizer); each statement is judged by
//! AWS's `dsql-lint` (pinned), whose rules [`crate::compile::rules::LINT_RULE_CLASSES`] maps to
//! classes. A chunk of more than one statement is an error: DSQL runs one statement per
//! transaction.

use crate::compile::rules::{DsqlClass, lint_rule_class};
use crate::sql::split;
use crate::sql::statement::{self, StatementKind};
use serde::Serialize;

/// One classified statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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

fn rule_id(rule: &dsql_lint::LintRule) -> String {
    serde_json::to_value(rule).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| format!("{rule:?}"))
}

/// Classifies one statement.
pub fn classify(line: usize, sql: &str) -> CheckedStatement {
    let mut checked = CheckedStatement { line, sql: sql.to_owned(), class: DsqlClass::Ok, rules: Vec::new(), message: None, suggestion: None, rewritten: None };
    let info = statement::classify(sql);
    let kind = info.kind;
    if info.two_phase {
        checked.class = DsqlClass::Error;
        checked.message = Some("two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED): DSQL has none, and the runner owns transactions".into());
        checked.suggestion = Some("remove it".into());
        return checked;
    }
    if kind == StatementKind::Procedural {
        // Not STRIP: skipping a block would lose whatever it does (data included).
        checked.class = DsqlClass::Error;
        checked.message = Some("DO blocks are PL/pgSQL, which DSQL does not run, and skipping one would lose what it does".into());
        checked.suggestion = Some("write it as plain SQL statements (LANGUAGE sql functions are allowed), or move the logic to the application".into());
        return checked;
    }
    let savepoint = crate::sql::tokens::significant(sql).first().is_some_and(|t| t.is_word("SAVEPOINT") || t.is_word("RELEASE"));
    if kind == StatementKind::TransactionControl && !savepoint {
        checked.class = DsqlClass::Strip;
        checked.message = Some("transaction control: the runner gives every statement its own transaction on DSQL (statements of one BEGIN block are no longer atomic together)".into());
        return checked;
    }
    // dsql-lint parses the statement: text the parser would take minutes over is not
    // given to it.
    if crate::sql::tokens::has_overlong_name(sql) {
        checked.class = DsqlClass::Error;
        checked.message = Some(format!("a name of more than {} parts, which no PostgreSQL object has", crate::sql::tokens::MAX_NAME_DOTS + 1));
        checked.suggestion = Some("qualify names with at most catalog.schema.table.column".into());
        return checked;
    }
    let Some(diagnostics) = crate::sql::within_parse_budget(sql, |sql| dsql_lint::lint_sql(sql)) else {
        checked.class = DsqlClass::Error;
        checked.message = Some(format!("the SQL parser did not finish reading this statement in {} s (it backtracks on some shapes of text)", crate::sql::PARSE_BUDGET.as_secs()));
        checked.suggestion = Some("write it more simply".into());
        return checked;
    };
    for d in diagnostics {
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

/// Classifies the statements of one chunk (what runs as one unit), starting at `line`.
/// More than one statement makes the first an error: DSQL runs one per transaction.
pub fn check_chunk(line: usize, chunk: &str) -> Vec<CheckedStatement> {
    let parts = split::statements_in(chunk, line);
    let mut checked: Vec<CheckedStatement> = parts.iter().map(|(line, sql)| classify(*line, sql)).collect();
    if let [first, ..] = checked.as_mut_slice()
        && parts.len() > 1
    {
        // The statement's own verdict stays in the message.
        let own = first.message.take().filter(|_| first.class != DsqlClass::Ok).map(|m| format!(" (and on its own: {m})")).unwrap_or_default();
        first.class = DsqlClass::Error;
        first.message = Some(format!("{} statements in one chunk: DSQL runs one statement per transaction{own}", parts.len()));
        first.suggestion = Some("put a `--> statement-breakpoint` line between them".to_owned());
        first.rewritten = None;
    }
    checked
}

/// Splits and classifies a whole file.
pub fn check_text(text: &str) -> Vec<CheckedStatement> {
    split::chunks(text).into_iter().flat_map(|(line, chunk)| check_chunk(line, &chunk)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_of_several_statements_is_an_error_and_breakpoints_separate_chunks() {
        let checked = check_text("CREATE TABLE a (x text DEFAULT ';');\nCREATE TABLE b (y text);\n--> statement-breakpoint\nSELECT 1;");
        assert_eq!(checked.len(), 3);
        assert_eq!(checked[0].class, DsqlClass::Error);
        assert!(checked[0].message.as_deref().unwrap().starts_with("2 statements in one chunk"));
        assert_eq!((checked[2].line, checked[2].class), (4, DsqlClass::Ok));
    }

    #[test]
    fn the_summary_line_has_the_documented_shape() {
        let checked = check_text("CREATE TABLE t (id uuid PRIMARY KEY);\n--> statement-breakpoint\nCREATE INDEX i ON t (id);\n--> statement-breakpoint\nALTER TABLE t ENABLE ROW LEVEL SECURITY;");
        assert_eq!(Summary::of(&checked).line(), "Total: 3 | Compatible: 1 | Index (ASYNC): 1 | Stripped: 1 | Recreation: 0 | Errors: 0");
        assert_eq!(checked[1].rewritten.as_deref(), Some("CREATE INDEX ASYNC i ON t(id);"));
    }
}
