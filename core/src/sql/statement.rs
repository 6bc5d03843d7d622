//! What the runner needs to know about one SQL statement before running it: DDL or data,
//! whether it must run outside a transaction, whether it builds an index or validates a
//! constraint (work that may be asynchronous, and whose result must be checked).
//!
//! Only the statement's leading tokens are read ([`crate::sql::tokens`]). Generated
//! migrations always have these shapes; hand-written statements that do not, or that do
//! not lex, are treated conservatively (as DDL).

use crate::sql::tokens;
use sqlparser::tokenizer::Token as SqlToken;

/// Broad class of a statement, as DSQL's transaction rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// Schema change; `GRANT`/`REVOKE` count as DDL on DSQL.
    Ddl,
    /// Data change (`INSERT`, `UPDATE`, `DELETE`, `MERGE`, `COPY`, or a `WITH` that may write).
    Dml,
    /// A read (`SELECT`, `SHOW`, `EXPLAIN`, `VALUES`).
    Query,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, ..: the runner owns transactions.
    TransactionControl,
    /// Session state: `SET` (not `SET LOCAL`), `RESET`, `SET ROLE`, `DISCARD`.
    Session,
    /// A `DO` block: PL/pgSQL run once.
    Procedural,
    /// Anything else (`CALL`, `SET LOCAL`, ..).
    Other,
}

/// How an index is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexMode {
    /// Plain `CREATE INDEX` (inside a transaction).
    Plain,
    /// DSQL's `CREATE INDEX ASYNC`: returns a job id to wait for.
    Async,
    /// PostgreSQL's `CREATE INDEX CONCURRENTLY`: outside a transaction.
    Concurrently,
}

/// A `CREATE INDEX` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexCreation {
    /// The index name, when the statement gives one.
    pub name: Option<String>,
    /// `UNIQUE`.
    pub unique: bool,
    /// How it is built.
    pub mode: IndexMode,
}

/// An `ALTER TABLE [ASYNC] t VALIDATE CONSTRAINT c` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// `t`.
    pub table: Option<String>,
    /// `c`.
    pub constraint: Option<String>,
    /// DSQL's `ASYNC`: returns a job id to wait for.
    pub is_async: bool,
}

/// What the runner knows about a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementInfo {
    /// Its broad class, as DSQL's transaction rules see it (DDL, DML, ..).
    pub kind: StatementKind,
    /// Set for `CREATE [UNIQUE] INDEX`.
    pub index: Option<IndexCreation>,
    /// Set for `ALTER TABLE [ASYNC] .. VALIDATE CONSTRAINT`.
    pub validation: Option<Validation>,
    /// The constraint an `ALTER TABLE t ADD CONSTRAINT c ..` adds: `(t, c)`.
    pub adds_constraint: Option<(Option<String>, String)>,
    /// Must run outside a transaction block (`CONCURRENTLY`).
    pub non_transactional: bool,
    /// Two-phase commit (`PREPARE TRANSACTION`, `COMMIT PREPARED`, `ROLLBACK PREPARED`):
    /// refused on every target, never skipped as DSQL's lone `BEGIN` is.
    pub two_phase: bool,
}

impl StatementInfo {
    /// DSQL answers with a job id that must be awaited (`CALL sys.wait_for_job`).
    pub fn returns_job(&self) -> bool {
        self.index
            .as_ref()
            .is_some_and(|i| i.mode == IndexMode::Async)
            || self.validation.as_ref().is_some_and(|v| v.is_async)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word, upper-cased.
    Word(String),
    /// A `"quoted"` identifier, unescaped.
    Quoted(String),
    /// Anything else.
    Punct(String),
}

/// The first `limit` tokens of `sql` that are not whitespace or comments, read with
/// [`crate::sql::tokens`]; none when the text does not lex.
fn leading_tokens(sql: &str, limit: usize) -> Vec<Token> {
    tokens::significant(sql)
        .into_iter()
        .take(limit)
        .map(|t| match t.token {
            SqlToken::Word(w) if w.quote_style.is_none() => {
                Token::Word(w.value.to_ascii_uppercase())
            }
            SqlToken::Word(w) => Token::Quoted(w.value),
            other => Token::Punct(other.to_string()),
        })
        .collect()
}

struct Cursor {
    tokens: Vec<Token>,
    at: usize,
}

impl Cursor {
    fn word(&mut self, w: &str) -> bool {
        if matches!(self.tokens.get(self.at), Some(Token::Word(x)) if x == w) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn words(&mut self, ws: &[&str]) -> bool {
        let save = self.at;
        if ws.iter().all(|w| self.word(w)) {
            true
        } else {
            self.at = save;
            false
        }
    }

    /// An identifier, possibly schema-qualified; returns its last part as written
    /// (unquoted words fold to lower case, as PostgreSQL does).
    fn name(&mut self) -> Option<String> {
        self.qualified_name().pop()
    }

    /// A table's name as the model writes it: `t`, or `s.t` outside `public`.
    fn table_name(&mut self) -> Option<String> {
        match self.qualified_name().as_slice() {
            [schema, table] if schema != "public" => Some(format!("{schema}.{table}")),
            [.., table] => Some(table.clone()),
            [] => None,
        }
    }

    /// The parts of a possibly qualified name, folded as PostgreSQL folds them.
    fn qualified_name(&mut self) -> Vec<String> {
        let mut parts = Vec::new();
        loop {
            match self.tokens.get(self.at) {
                Some(Token::Quoted(q)) => parts.push(q.clone()),
                Some(Token::Word(w)) => parts.push(w.to_ascii_lowercase()),
                _ => return parts,
            }
            self.at += 1;
            if matches!(self.tokens.get(self.at), Some(Token::Punct(p)) if p == ".") {
                self.at += 1;
            } else {
                return parts;
            }
        }
    }
}

/// A call of `set_config` whose third argument is not the literal `true` (`is_local`): it
/// changes the session, not the transaction.
fn sets_session_config(sql: &str) -> bool {
    let words = tokens::significant(sql);
    // `set_config`, `"set_config"` (a quoted name is the function only in lower case).
    let names_set_config = |t: &tokens::Lexeme| matches!(&t.token, SqlToken::Word(w) if if w.quote_style.is_some() { w.value == "set_config" } else { w.value.eq_ignore_ascii_case("set_config") });
    let in_call = words.windows(2).enumerate().any(|(i, w)| {
        if !(names_set_config(&w[0]) && w[1].token == SqlToken::LParen) {
            return false;
        }
        // The arguments at depth one, up to the closing parenthesis.
        let (mut depth, mut commas, mut third) = (0usize, 0usize, Vec::new());
        for t in &words[i + 1..] {
            match &t.token {
                SqlToken::LParen => depth += 1,
                SqlToken::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                SqlToken::Comma if depth == 1 => {
                    commas += 1;
                    continue;
                }
                _ => {}
            }
            if commas == 2 && depth >= 1 {
                third.push(t);
            }
        }
        !(third.len() == 1 && third[0].is_word("true"))
    });
    in_call || words.iter().any(|t| matches!(&t.token, SqlToken::DollarQuotedString(body) if sets_session_in_body(&body.value)))
}

/// A DO block's body (PL/pgSQL) that changes the session: a `set_config(.., false)`, or a
/// `SET`/`RESET` statement without `LOCAL` (a statement starts the body or follows `;`,
/// `BEGIN`, `THEN`, `ELSE`, `LOOP`). What `EXECUTE` runs from a string is not seen.
fn sets_session_in_body(body: &str) -> bool {
    if sets_session_config(body) {
        return true;
    }
    let words = tokens::significant(body);
    words.iter().enumerate().any(|(i, t)| {
        let starts = i == 0
            || words[i - 1].token == SqlToken::SemiColon
            || ["BEGIN", "THEN", "ELSE", "LOOP"]
                .iter()
                .any(|k| words[i - 1].is_word(k));
        let local = words.get(i + 1).is_some_and(|n| {
            ["LOCAL", "TRANSACTION", "CONSTRAINTS"]
                .iter()
                .any(|k| n.is_word(k))
        });
        starts && (t.is_word("RESET") || (t.is_word("SET") && !local))
    })
}

/// A statement that leaves something in the session after its transaction commits.
fn outlives_transaction(sql: &str) -> bool {
    let words = tokens::significant(sql);
    let word = |i: usize, k: &str| words.get(i).is_some_and(|t| t.is_word(k));
    let advisory = words.windows(2).any(|w| {
        w[1].token == SqlToken::LParen
            && [
                "pg_advisory_lock",
                "pg_advisory_lock_shared",
                "pg_try_advisory_lock",
                "pg_try_advisory_lock_shared",
            ]
            .iter()
            .any(|f| w[0].is_word(f))
    });
    let temporary = word(0, "CREATE")
        && {
            // `CREATE [GLOBAL | LOCAL] TEMP[ORARY] ..`
            let at = if word(1, "GLOBAL") || word(1, "LOCAL") {
                2
            } else {
                1
            };
            word(at, "TEMP") || word(at, "TEMPORARY")
        }
        && !words
            .windows(3)
            .any(|w| w[0].is_word("ON") && w[1].is_word("COMMIT") && w[2].is_word("DROP"));
    let held = word(0, "DECLARE")
        && words
            .windows(2)
            .any(|w| w[0].is_word("WITH") && w[1].is_word("HOLD"));
    advisory || temporary || held
}

/// Classifies one statement.
pub fn classify(sql: &str) -> StatementInfo {
    let tokens = leading_tokens(sql, 24);
    let first = match tokens.first() {
        Some(Token::Word(w)) => w.clone(),
        _ => String::new(),
    };
    let kind = match first.as_str() {
        "CREATE" | "ALTER" | "DROP" | "COMMENT" | "GRANT" | "REVOKE" | "TRUNCATE" | "REINDEX"
        | "AWS" => StatementKind::Ddl,
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY" | "WITH" => StatementKind::Dml,
        "SELECT" | "SHOW" | "EXPLAIN" | "VALUES" | "TABLE" => StatementKind::Query,
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" => {
            StatementKind::TransactionControl
        }
        // `PREPARE TRANSACTION` hands the transaction to the server: the runner's COMMIT
        // then commits nothing, and the prepared one holds its locks until someone ends it.
        "PREPARE" if matches!(tokens.get(1), Some(Token::Word(w)) if w == "TRANSACTION") => {
            StatementKind::TransactionControl
        }
        // A prepared statement, a listener, a loaded library: state of the session.
        "PREPARE" | "DEALLOCATE" | "LISTEN" | "UNLISTEN" | "LOAD" => StatementKind::Session,
        "SET" if !matches!(tokens.get(1), Some(Token::Word(w)) if w == "LOCAL" || w == "TRANSACTION" || w == "CONSTRAINTS") => {
            StatementKind::Session
        }
        "RESET" | "DISCARD" => StatementKind::Session,
        "DO" => StatementKind::Procedural,
        "" => StatementKind::Ddl, // unreadable: the strictest assumption
        _ => StatementKind::Other,
    };
    // `set_config(name, value, false)` is `SET` spelled as a call, anywhere in a statement
    // or in a DO block's body; so is what outlives the transaction in the session: a
    // session-level advisory lock, a temporary table kept past COMMIT, a cursor WITH HOLD.
    let kind = if kind != StatementKind::TransactionControl
        && (sets_session_config(sql) || outlives_transaction(sql))
    {
        StatementKind::Session
    } else {
        kind
    };
    let two_phase = match (first.as_str(), tokens.get(1)) {
        ("PREPARE", Some(Token::Word(w))) => w == "TRANSACTION",
        ("COMMIT" | "ROLLBACK", Some(Token::Word(w))) => w == "PREPARED",
        _ => false,
    };
    let mut info = StatementInfo {
        kind,
        index: None,
        validation: None,
        adds_constraint: None,
        non_transactional: false,
        two_phase,
    };
    let mut c = Cursor { tokens, at: 1 };
    match first.as_str() {
        "CREATE" => {
            let unique = c.word("UNIQUE");
            if c.word("INDEX") {
                let mode = if c.word("ASYNC") {
                    IndexMode::Async
                } else if c.word("CONCURRENTLY") {
                    IndexMode::Concurrently
                } else {
                    IndexMode::Plain
                };
                c.words(&["IF", "NOT", "EXISTS"]);
                let name = if matches!(c.tokens.get(c.at), Some(Token::Word(w)) if w == "ON") {
                    None
                } else {
                    c.name()
                };
                info.non_transactional = mode == IndexMode::Concurrently;
                info.index = Some(IndexCreation { name, unique, mode });
            }
        }
        "DROP" | "REINDEX" if c.words(&["INDEX", "CONCURRENTLY"]) => info.non_transactional = true,
        "VACUUM" => info.non_transactional = true,
        // A value added to an enum cannot be used in the transaction that adds it: the
        // runner commits it on its own, so later statements of the migration can.
        "ALTER" if c.word("TYPE") => {
            c.name();
            info.non_transactional = c.words(&["ADD", "VALUE"]);
        }
        "ALTER" if c.word("TABLE") => {
            let is_async = c.word("ASYNC");
            c.words(&["IF", "EXISTS"]);
            c.word("ONLY");
            let table = c.table_name();
            if c.words(&["VALIDATE", "CONSTRAINT"]) {
                info.validation = Some(Validation {
                    table,
                    constraint: c.name(),
                    is_async,
                });
            } else if c.words(&["ADD", "CONSTRAINT"])
                && let Some(constraint) = c.name()
            {
                info.adds_constraint = Some((table, constraint));
            }
        }
        _ => {}
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_statements_are_recognised_with_their_mode_and_name() {
        let i = classify(
            "-- why\nCREATE UNIQUE INDEX ASYNC IF NOT EXISTS \"books_isbn_key\" ON \"books\" (\"isbn\");",
        );
        assert_eq!(
            i.index,
            Some(IndexCreation {
                name: Some("books_isbn_key".into()),
                unique: true,
                mode: IndexMode::Async
            })
        );
        assert!(i.returns_job());
        let c = classify("create index concurrently ix on public.t (a)");
        assert_eq!(c.index.unwrap().name.as_deref(), Some("ix"));
        assert!(c.non_transactional);
        assert_eq!(classify("CREATE INDEX ON t (a)").index.unwrap().name, None);
    }

    #[test]
    fn validate_and_kinds() {
        let v = classify("ALTER TABLE ASYNC \"t\" VALIDATE CONSTRAINT \"c\";")
            .validation
            .unwrap();
        assert_eq!(
            (v.table.as_deref(), v.constraint.as_deref(), v.is_async),
            (Some("t"), Some("c"), true)
        );
        // The table as the model names it: qualified outside `public` only.
        assert_eq!(
            classify("ALTER TABLE \"auth\".\"t\" VALIDATE CONSTRAINT \"c\";")
                .validation
                .unwrap()
                .table
                .as_deref(),
            Some("auth.t")
        );
        assert_eq!(
            classify("ALTER TABLE public.t VALIDATE CONSTRAINT c;")
                .validation
                .unwrap()
                .table
                .as_deref(),
            Some("t")
        );
        assert!(
            !classify("ALTER TABLE t VALIDATE CONSTRAINT c")
                .validation
                .unwrap()
                .is_async
        );
        assert_eq!(classify("ALTER TABLE t ADD COLUMN c text").validation, None);
        let added =
            classify("ALTER TABLE \"t\" ADD CONSTRAINT \"t_c_check\" CHECK (c > 0) NOT VALID;")
                .adds_constraint;
        assert_eq!(added, Some((Some("t".into()), "t_c_check".into())));
        assert_eq!(
            classify("/* a */ insert into t values (1)").kind,
            StatementKind::Dml
        );
        assert_eq!(classify("GRANT SELECT ON t TO r").kind, StatementKind::Ddl);
        assert_eq!(classify("BEGIN").kind, StatementKind::TransactionControl);
        assert!(classify("DROP INDEX CONCURRENTLY IF EXISTS i").non_transactional);
        assert!(classify("vacuum t").non_transactional);
        assert_eq!(
            classify("SET search_path TO app").kind,
            StatementKind::Session
        );
        assert_eq!(classify("set role reader").kind, StatementKind::Session);
        assert_eq!(
            classify("SET LOCAL statement_timeout = 0").kind,
            StatementKind::Other
        );
        assert_eq!(classify("RESET ALL").kind, StatementKind::Session);
        assert_eq!(
            classify("PREPARE TRANSACTION 'p1'").kind,
            StatementKind::TransactionControl
        );
        assert!(
            classify("PREPARE TRANSACTION 'p1'").two_phase
                && classify("ROLLBACK PREPARED 'p1'").two_phase
                && !classify("ROLLBACK").two_phase
        );
        assert_eq!(
            classify("commit prepared 'p1'").kind,
            StatementKind::TransactionControl
        );
        assert_eq!(
            classify("PREPARE q AS SELECT 1").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("SELECT set_config('search_path', 'app', false)").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("SELECT 1, SET_CONFIG('a.b', lower('X'), (false))").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("select set_config('a.b', 'x', is_local)").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("SELECT set_config('statement_timeout', '0', true)").kind,
            StatementKind::Query
        );
        assert_eq!(
            classify("SELECT 'set_config(''a'', ''b'', false)'").kind,
            StatementKind::Query
        );
        assert_eq!(
            classify("SELECT \"set_config\"('a.b', 'x', false)").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("SELECT pg_catalog.\"set_config\"('a.b', 'x', false)").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("SELECT \"SET_CONFIG\"('a.b', 'x', false)").kind,
            StatementKind::Query,
            "another function"
        );
        assert_eq!(
            classify("DO $$ BEGIN PERFORM set_config('search_path', 'x', false); END $$").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("DO $body$ BEGIN SET search_path = x; END $body$").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("DO $$ BEGIN IF true THEN RESET ALL; END IF; END $$").kind,
            StatementKind::Session
        );
        assert_eq!(
            classify("DO $$ BEGIN SET LOCAL search_path = x; UPDATE t SET a = 1; END $$").kind,
            StatementKind::Procedural
        );
        for outliving in [
            "SELECT pg_advisory_lock(42)",
            "select pg_try_advisory_lock_shared(1, 2)",
            "CREATE TEMP TABLE x (a int)",
            "create local temporary table x (a int)",
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        ] {
            assert_eq!(
                classify(outliving).kind,
                StatementKind::Session,
                "{outliving}"
            );
        }
        for within in [
            "SELECT pg_advisory_xact_lock(42)",
            "CREATE TEMP TABLE x (a int) ON COMMIT DROP",
            "DECLARE c CURSOR FOR SELECT 1",
            "CREATE TABLE temp (a int)",
        ] {
            assert_ne!(classify(within).kind, StatementKind::Session, "{within}");
        }
        assert_eq!(
            classify("-- x\ndo $$ begin end $$").kind,
            StatementKind::Procedural
        );
        // Keywords inside strings and comments are not read.
        assert_eq!(
            classify("/* CREATE INDEX CONCURRENTLY */ SELECT 'COMMIT'").kind,
            StatementKind::Query
        );
        assert_eq!(classify("SELECT 'open").kind, StatementKind::Ddl);
    }
}
