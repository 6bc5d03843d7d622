//! `check-dsql`: classifies every statement of any SQL file, generated or hand-written, for
//! Aurora DSQL, exactly as the runner treats it under DSQL's rules (the runner calls
//! [`check_chunk`] too). A file is cut into chunks at drizzle's breakpoints and a chunk into
//! statements ([`crate::sql::split`], with the one tokenizer); each statement is judged by
//! AWS's `dsql-lint` (pinned), whose rules [`crate::dialect::LINT_RULE_CLASSES`] maps to
//! classes. A chunk of more than one statement is an error: DSQL runs one statement per
//! transaction.

use crate::dialect::{DsqlClass, lint_rule_class};
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
    /// The statement as it will run (INDEX: with ASYNC), or the statements to write
    /// instead (FOREIGN KEY: added NOT VALID, then validated ASYNC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten: Option<String>,
}

/// Counts per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Summary {
    /// Statements checked, of every class.
    pub total: usize,
    /// OK.
    pub compatible: usize,
    /// INDEX.
    pub index: usize,
    /// STRIP.
    pub stripped: usize,
    /// FOREIGN KEY.
    pub foreign_keys: usize,
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
                DsqlClass::ForeignKey => s.foreign_keys += 1,
                DsqlClass::Recreation => s.recreation += 1,
                DsqlClass::Error => s.errors += 1,
            }
        }
        s
    }

    /// `Total: 3 | Compatible: 1 | Index (ASYNC): 1 | Stripped: 1 | ..`
    pub fn line(&self) -> String {
        format!(
            "Total: {} | Compatible: {} | Index (ASYNC): {} | Stripped: {} | Foreign key (NOT VALID + VALIDATE): {} | Recreation: {} | Errors: {}",
            self.total,
            self.compatible,
            self.index,
            self.stripped,
            self.foreign_keys,
            self.recreation,
            self.errors
        )
    }
}

fn rule_id(rule: &dsql_lint::LintRule) -> String {
    serde_json::to_value(rule)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{rule:?}"))
}

/// Classifies one statement.
pub fn classify(line: usize, sql: &str) -> CheckedStatement {
    let mut checked = CheckedStatement {
        line,
        sql: sql.to_owned(),
        class: DsqlClass::Ok,
        rules: Vec::new(),
        message: None,
        suggestion: None,
        rewritten: None,
    };
    let info = statement::classify(sql);
    let kind = info.kind;
    if info.two_phase {
        checked.class = DsqlClass::Error;
        checked.message = Some("two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED): DSQL has none, and the runner owns transactions".into());
        checked.suggestion = Some("remove it".into());
        return checked;
    }
    if kind == StatementKind::Procedural
        && let Some(inner) = drizzle_guarded(sql)
    {
        // drizzle-kit's guard makes a statement safe to run twice; the runner runs each
        // once, so the statement inside is what DSQL is asked for.
        let mut checked = classify(line, &inner);
        checked.sql = sql.to_owned();
        let own = checked
            .message
            .take()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        checked.message = Some(format!(
            "drizzle-kit's `DO .. EXCEPTION WHEN duplicate_object` guard around `{}`; DSQL runs no DO block, and tablewright runs each statement once, so the guard is not needed{own}",
            first_words(&inner)
        ));
        if checked.class == DsqlClass::Ok {
            // The runner would send the block itself, which DSQL refuses.
            checked.class = DsqlClass::Error;
            checked.suggestion = Some(format!("write the statement without the guard: `{inner}`"));
        }
        return checked;
    }
    if kind == StatementKind::Procedural {
        // Not STRIP: skipping a block would lose whatever it does (data included).
        checked.class = DsqlClass::Error;
        checked.message = Some("DO blocks are PL/pgSQL, which DSQL does not run, and skipping one would lose what it does".into());
        checked.suggestion = Some("write it as plain SQL statements (LANGUAGE sql functions are allowed), or move the logic to the application".into());
        return checked;
    }
    let savepoint = crate::sql::tokens::significant(sql)
        .first()
        .is_some_and(|t| t.is_word("SAVEPOINT") || t.is_word("RELEASE"));
    if kind == StatementKind::TransactionControl && !savepoint {
        checked.class = DsqlClass::Strip;
        checked.message = Some("transaction control: the runner gives every statement its own transaction on DSQL (statements of one BEGIN block are no longer atomic together)".into());
        return checked;
    }
    // dsql-lint parses the statement: text the parser would take minutes over is not
    // given to it.
    if crate::sql::tokens::has_overlong_name(sql) {
        checked.class = DsqlClass::Error;
        checked.message = Some(format!(
            "a name of more than {} parts, which no PostgreSQL object has",
            crate::sql::tokens::MAX_NAME_DOTS + 1
        ));
        checked.suggestion = Some("qualify names with at most catalog.schema.table.column".into());
        return checked;
    }
    let Some(diagnostics) = crate::sql::within_parse_budget(sql, dsql_lint::lint_sql) else {
        checked.class = DsqlClass::Error;
        checked.message = Some(format!(
            "the SQL parser did not finish reading this statement in {} s (it backtracks on some shapes of text)",
            crate::sql::PARSE_BUDGET.as_secs()
        ));
        checked.suggestion = Some("write it more simply".into());
        return checked;
    };
    for d in diagnostics {
        let id = rule_id(&d.rule);
        // dsql-lint drops `USING btree` as harmless, another method with a warning: DSQL
        // would build a btree where a hash or GIN index was meant.
        let other_method =
            id == "index_using" && !matches!(d.fix_result, dsql_lint::FixResult::Fixed(_));
        let class = if other_method {
            DsqlClass::Error
        } else {
            lint_rule_class(&id)
        };
        if class >= checked.class {
            checked.class = class;
            checked.message = Some(d.message.clone());
            checked.suggestion = Some(d.suggestion.clone()).filter(|s| !s.is_empty());
            if other_method {
                // dsql-lint would drop the method, leaving a btree where another was meant.
                checked.suggestion = Some("DSQL builds btree indexes only: leave this index out on DSQL, or index with btree what the queries filter or sort on".into());
            }
        }
        checked.rules.push(id);
    }
    if checked.class == DsqlClass::Index {
        let fixed = dsql_lint::fix_sql(sql).sql;
        checked.rewritten = Some(fixed.trim().to_owned());
    }
    if checked.class == DsqlClass::ForeignKey {
        match info
            .adds_constraint
            .filter(|_| single_action(sql).is_some())
        {
            Some((table, constraint)) => {
                let table = table
                    .map(|t| crate::sql::ident::quote_table(&t))
                    .unwrap_or_default();
                let added = single_action(sql).expect("filtered above");
                checked.rewritten = Some(format!(
                    "{added} NOT VALID;\n--> statement-breakpoint\nALTER TABLE ASYNC {table} VALIDATE CONSTRAINT {};",
                    crate::sql::ident::quote(&constraint)
                ));
                checked.suggestion = Some(
                    "put the two statements of the rewrite in the file, each in a chunk of its own"
                        .into(),
                );
            }
            // A key whose table or name the statement does not say plainly, or one action
            // of several: no rewrite to offer.
            None => {
                checked.class = DsqlClass::Error;
                checked.suggestion = Some("write each foreign key in an ALTER TABLE of its own, ending `NOT VALID`, then `ALTER TABLE ASYNC <table> VALIDATE CONSTRAINT <name>` in a chunk of its own".into());
            }
        }
    }
    checked
}

/// `ALTER TABLE .. ADD CONSTRAINT ..` as written without its `;`, when it is one action
/// with no comment in it: where `NOT VALID` can go at the end. `None` for several actions
/// (a comma outside parentheses) or a comment, which would swallow or split what is added.
fn single_action(sql: &str) -> Option<&str> {
    use sqlparser::tokenizer::{Token, Whitespace};
    let tokens = crate::sql::tokens::lex(sql).ok()?;
    let mut depth = 0i32;
    for t in &tokens {
        match &t.token {
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => return None,
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => return None,
            _ => {}
        }
    }
    let last = tokens
        .iter()
        .rev()
        .find(|t| !t.is_blank() && t.token != Token::SemiColon)?;
    Some(&sql[..last.bytes.end])
}

/// The first words of a statement, for messages.
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ")
}

/// The one statement inside drizzle-kit's guard
/// `DO $$ BEGIN <statement>; EXCEPTION WHEN duplicate_object THEN null; END $$;`, which
/// older drizzle-kit wrote around foreign keys and enum types; `None` for any other block.
fn drizzle_guarded(sql: &str) -> Option<String> {
    let text = sql.trim().trim_end_matches(';').trim_end();
    let after_do = text
        .get(..2)
        .filter(|w| w.eq_ignore_ascii_case("DO"))
        .map(|_| text[2..].trim_start())?;
    let body = after_do.strip_prefix("$$")?.strip_suffix("$$")?;
    let words: Vec<String> = body
        .split_whitespace()
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    const GUARD: [&str; 6] = [
        "EXCEPTION",
        "WHEN",
        "DUPLICATE_OBJECT",
        "THEN",
        "NULL",
        "END",
    ];
    if words.first().map(String::as_str) != Some("BEGIN")
        || words.len() < GUARD.len() + 2
        || words[words.len() - GUARD.len()..] != GUARD
    {
        return None;
    }
    let begin = body.find(|c: char| !c.is_whitespace())? + "BEGIN".len();
    let exception = body.to_ascii_uppercase().rfind("EXCEPTION")?;
    let inner = body.get(begin..exception)?.trim();
    match split::statements_in(inner, 1).as_slice() {
        [(_, one)] if statement::classify(one).kind != StatementKind::Procedural => {
            Some(one.clone())
        }
        _ => None,
    }
}

/// A file's report for people: every statement that is not plainly compatible, with its
/// line, class, reason, suggestion and rewrite.
pub fn render_text(file: &str, checked: &[CheckedStatement]) -> String {
    let problems: Vec<&CheckedStatement> = checked
        .iter()
        .filter(|c| c.class != DsqlClass::Ok)
        .collect();
    if problems.is_empty() {
        return format!("{file}: {} statement(s), all compatible\n", checked.len());
    }
    let mut out = format!("{file}: {} statement(s)\n", checked.len());
    for c in problems {
        let label = c.class.label();
        let first = c.sql.lines().next().unwrap_or("");
        out.push_str(&format!(
            "  {file}:{}: {label:<10} {first}{}\n",
            c.line,
            if c.sql.contains('\n') { " .." } else { "" }
        ));
        if let Some(m) = &c.message {
            out.push_str(&format!("      {m}\n"));
        }
        if let Some(s) = &c.suggestion {
            out.push_str(&format!("      -> {s}\n"));
        }
        if let Some(r) = &c.rewritten {
            // The runner runs an index's rewrite itself; a foreign key's goes in the file.
            let label = if c.class == DsqlClass::Index {
                "runs as"
            } else {
                "rewrite"
            };
            out.push_str(&format!(
                "      {label}: {}\n",
                r.replace('\n', "\n        ")
            ));
        }
    }
    out
}

/// Classifies the statements of one chunk (what runs as one unit), starting at `line`.
/// More than one statement makes the first an error: DSQL runs one per transaction.
pub fn check_chunk(line: usize, chunk: &str) -> Vec<CheckedStatement> {
    let parts = split::statements_in(chunk, line);
    let mut checked: Vec<CheckedStatement> = parts
        .iter()
        .map(|(line, sql)| classify(*line, sql))
        .collect();
    if let [first, ..] = checked.as_mut_slice()
        && parts.len() > 1
    {
        // The statement's own verdict stays in the message.
        let own = first
            .message
            .take()
            .filter(|_| first.class != DsqlClass::Ok)
            .map(|m| format!(" (and on its own: {m})"))
            .unwrap_or_default();
        first.class = DsqlClass::Error;
        first.message = Some(format!(
            "{} statements in one chunk: DSQL runs one statement per transaction{own}",
            parts.len()
        ));
        first.suggestion = Some("put a `--> statement-breakpoint` line between them".to_owned());
        first.rewritten = None;
    }
    checked
}

/// Splits and classifies a whole file.
pub fn check_text(text: &str) -> Vec<CheckedStatement> {
    split::chunks(text)
        .into_iter()
        .flat_map(|(line, chunk)| {
            // A chunk's line is its statement's; its text may start with comments, which
            // the lines counted inside it include.
            let comment_lines = split::statements_in(&chunk, 1)
                .first()
                .map_or(0, |(first, _)| first - 1);
            check_chunk(line - comment_lines, &chunk)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_of_several_statements_is_an_error_and_breakpoints_separate_chunks() {
        let checked = check_text(
            "CREATE TABLE a (x text DEFAULT ';');\nCREATE TABLE b (y text);\n--> statement-breakpoint\nSELECT 1;",
        );
        assert_eq!(checked.len(), 3);
        assert_eq!(checked[0].class, DsqlClass::Error);
        assert!(
            checked[0]
                .message
                .as_deref()
                .unwrap()
                .starts_with("2 statements in one chunk")
        );
        assert_eq!((checked[2].line, checked[2].class), (4, DsqlClass::Ok));
    }

    #[test]
    fn drizzle_kit_s_index_and_foreign_key_idioms_have_their_rewrites() {
        let guarded = "DO $$ BEGIN\n ALTER TABLE \"b\" ADD CONSTRAINT \"b_a_fk\" FOREIGN KEY (\"a_id\") REFERENCES \"public\".\"a\"(\"id\") ON DELETE cascade ON UPDATE no action;\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;";
        let checked = check_text(&format!(
            "CREATE INDEX IF NOT EXISTS \"a_idx\" ON \"a\" USING btree (\"x\");\n--> statement-breakpoint\n{guarded}\n--> statement-breakpoint\nCREATE INDEX \"h\" ON \"a\" USING hash (\"x\");\n--> statement-breakpoint\nDO $$ BEGIN PERFORM 1; EXCEPTION WHEN others THEN null; END $$;"
        ));
        assert_eq!(
            checked.iter().map(|c| c.class).collect::<Vec<_>>(),
            [
                DsqlClass::Index,
                DsqlClass::ForeignKey,
                DsqlClass::Error,
                DsqlClass::Error
            ]
        );
        assert_eq!(
            checked[0].rewritten.as_deref(),
            Some("CREATE INDEX ASYNC IF NOT EXISTS \"a_idx\" ON \"a\"(\"x\");")
        );
        assert_eq!(
            checked[1].rewritten.as_deref(),
            Some(
                "ALTER TABLE \"b\" ADD CONSTRAINT \"b_a_fk\" FOREIGN KEY (\"a_id\") REFERENCES \"public\".\"a\"(\"id\") ON DELETE cascade ON UPDATE no action NOT VALID;\n--> statement-breakpoint\nALTER TABLE ASYNC \"b\" VALIDATE CONSTRAINT \"b_a_fk\";"
            )
        );
        assert!(
            checked[1]
                .message
                .as_deref()
                .unwrap()
                .starts_with("drizzle-kit's `DO .. EXCEPTION WHEN duplicate_object` guard")
        );
        assert!(
            checked[3]
                .message
                .as_deref()
                .unwrap()
                .starts_with("DO blocks are PL/pgSQL"),
            "another block stays an error"
        );
        // Two actions, or a comment where `NOT VALID` would go: no rewrite is offered.
        for sql in [
            "ALTER TABLE b ADD CONSTRAINT x1 FOREIGN KEY (a) REFERENCES a (id), ADD CONSTRAINT x2 FOREIGN KEY (c) REFERENCES a (id);",
            "ALTER TABLE b ADD CONSTRAINT x1 FOREIGN KEY (a) REFERENCES a (id) -- the author\n;",
        ] {
            let checked = classify(1, sql);
            assert_eq!(
                (checked.class, checked.rewritten),
                (DsqlClass::Error, None),
                "{sql}"
            );
        }
    }

    #[test]
    fn the_summary_line_has_the_documented_shape() {
        let checked = check_text(
            "CREATE TABLE t (id uuid PRIMARY KEY);\n--> statement-breakpoint\nCREATE INDEX i ON t (id);\n--> statement-breakpoint\nALTER TABLE t ENABLE ROW LEVEL SECURITY;",
        );
        assert_eq!(
            Summary::of(&checked).line(),
            "Total: 3 | Compatible: 1 | Index (ASYNC): 1 | Stripped: 1 | Foreign key (NOT VALID + VALIDATE): 0 | Recreation: 0 | Errors: 0"
        );
        assert_eq!(
            checked[1].rewritten.as_deref(),
            Some("CREATE INDEX ASYNC i ON t(id);")
        );
    }
}
