//! The SQL a model carries: a column's default, a check's expression and a column's type.
//! Each is a type that can only be made by checking its text, so a schema read from a
//! snapshot, a drizzle folder or a database catalog cannot carry a statement into the
//! SQL the planner writes: a default such as `'x'); DROP TABLE victim; --` is refused
//! when the file is read, with its key, not pasted into a migration.
//!
//! The check is the SQL parser's ([`ParsedFragments`]) wherever the compiler is
//! built (the CLI, `generate`, the runner); the derive, which never builds the parser,
//! checks attributes lexically and `generate` reads the same attributes again with it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One SQL expression and nothing else: no statement separator, no comment, no subquery.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct SqlExpr(String);

/// One SQL type, in its canonical spelling (see `crate::schema::types::canonical_sql_type`),
/// or as a catalog prints one the canonical spelling does not cover (`"char"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct SqlType(String);

impl SqlExpr {
    /// Checks `text` as the value of `key` (`default`, `expr`, ..), trimmed.
    pub fn parse(key: &str, text: &str) -> Result<SqlExpr, String> {
        checker().expression(key, text)?;
        Ok(SqlExpr(text.trim().to_owned()))
    }

    /// Made from text the grammar has just checked with `checks`.
    pub(crate) fn checked_by(
        checks: &dyn SqlFragments,
        key: &str,
        text: &str,
    ) -> Result<SqlExpr, String> {
        checks.expression(key, text)?;
        Ok(SqlExpr(text.trim().to_owned()))
    }

    /// The expression's text, trimmed (`now()`, `'paperback'`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SqlType {
    /// Checks `text` as a SQL type and keeps its canonical spelling; a type the
    /// canonical spelling does not cover, as a catalog prints it (`"char"`, `public."Mood"`,
    /// `geometry(Point,4326)`), is kept as written when it is one type: names, quoted names,
    /// numbers, `( , ) [ ] .` and nothing else, and the parser reads exactly one type.
    pub fn parse(text: &str) -> Result<SqlType, String> {
        match SqlType::checked_by(checker(), text) {
            Ok(t) => Ok(t),
            Err(canonical) => {
                let text = text.trim();
                let mut quoted = false;
                let plain = !text.is_empty()
                    && text.chars().all(|c| {
                        if c == '"' {
                            quoted = !quoted;
                        }
                        quoted
                            || c == '"'
                            || c.is_ascii_alphanumeric()
                            || matches!(c, '_' | ' ' | '.' | '(' | ')' | ',' | '[' | ']')
                    })
                    && !quoted;
                if plain && checker().sql_type(text).is_ok() && cfg!(feature = "compiler") {
                    Ok(SqlType(text.to_owned()))
                } else {
                    Err(canonical.to_string())
                }
            }
        }
    }

    /// Made from text the grammar checks with `checks`: a type in its canonical spelling,
    /// or the name of a type the database defines as a catalog prints it (`"DBRoleType"`,
    /// `auth."Mood"[]`; see [`SqlType::is_defined_type_name`]), kept as written.
    pub(crate) fn checked_by(
        checks: &dyn SqlFragments,
        text: &str,
    ) -> Result<SqlType, crate::schema::types::SqlTypeError> {
        let canonical = match crate::schema::types::canonical_sql_type(text) {
            Ok(canonical) => canonical,
            Err(_) if SqlType::is_defined_type_name(text) => {
                return Ok(SqlType(text.trim().to_owned()));
            }
            Err(e) => return Err(e),
        };
        checks.sql_type(&canonical).map_err(|why| {
            crate::schema::types::SqlTypeError::NotAType(text.trim().to_owned(), why)
        })?;
        Ok(SqlType(canonical))
    }

    /// Whether `text` is a type's name with a quoted part: dot-separated names, at least
    /// one of them double-quoted (a quote doubled inside), then `[]`s. Decided by the
    /// characters alone, so the derive and the CLI agree without a SQL parser.
    pub(crate) fn is_defined_type_name(text: &str) -> bool {
        let mut rest = text.trim();
        while let Some(r) = rest.strip_suffix("[]") {
            rest = r;
        }
        let (mut parts, mut quoted_parts) = (0, 0);
        let mut chars = rest.chars().peekable();
        loop {
            match chars.peek() {
                Some('"') => {
                    chars.next();
                    let mut closed = false;
                    let mut empty = true;
                    while let Some(c) = chars.next() {
                        if c == '"' {
                            if chars.peek() == Some(&'"') {
                                chars.next();
                            } else {
                                closed = true;
                                break;
                            }
                        } else if c.is_control() {
                            return false;
                        }
                        empty = false;
                    }
                    if !closed || empty {
                        return false;
                    }
                    quoted_parts += 1;
                }
                Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                    while chars
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                    {
                        chars.next();
                    }
                }
                _ => return false,
            }
            parts += 1;
            match chars.next() {
                None => return quoted_parts > 0 && parts <= 3,
                Some('.') => {}
                Some(_) => return false,
            }
        }
    }

    /// The type's text: its canonical spelling (`character varying(32)`), or as a catalog
    /// prints it (`"char"`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the SQL inside attributes (`default`, `fill`, `check(expr)`, `sql_type`) is
/// checked. The derive uses [`LexicalChecks`], cheap enough for every build of every app;
/// `generate` reads the same attributes with the SQL parser ([`ParsedFragments`]), which
/// accepts exactly one expression or one type and nothing after it.
pub trait SqlFragments {
    /// `Err(why)` unless `text`, written as `key = ".."`, is exactly one SQL expression.
    fn expression(&self, key: &str, text: &str) -> Result<(), String>;
    /// `Err(why)` unless `text` is exactly one SQL type.
    fn sql_type(&self, text: &str) -> Result<(), String>;
}

/// The derive's checks: [`check_sql_expression`] and the type's canonical spelling.
pub struct LexicalChecks;

impl SqlFragments for LexicalChecks {
    fn expression(&self, key: &str, text: &str) -> Result<(), String> {
        check_sql_expression(key, text)
    }

    fn sql_type(&self, _text: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Checks that `key = ".."` (`default`, `fill`) is one SQL expression: not empty, quotes
/// closed, parentheses balanced, no statement separator or comment.
pub fn check_sql_expression(key: &str, expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() {
        let example = match key {
            "where" => "`where = \"deleted_at IS NULL\"`".to_owned(),
            "columns" => "`columns(\"lower(email)\")`".to_owned(),
            _ => format!("`{key} = \"now()\"` or `{key} = \"'draft'\"`"),
        };
        return Err(format!(
            "empty `{key}`: write a SQL expression such as {example}"
        ));
    }
    let mut depth = 0i32;
    let mut in_string = false;
    // In `E'..'` strings a backslash escapes the next character (`E'it\'s'`).
    let mut escapes = false;
    let mut previous: [Option<char>; 2] = [None, None];
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        let before = previous;
        previous = [previous[1], Some(c)];
        if in_string {
            if escapes && c == '\\' {
                chars.next();
                previous = [None, None];
                continue;
            }
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                } else {
                    in_string = false;
                }
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                escapes = matches!(before[1], Some('e' | 'E'))
                    && !before[0].is_some_and(|p| p.is_alphanumeric() || p == '_');
            }
            // A quoted name (`"it's"`, `"a""b"`) is read through to its end: nothing in it
            // is a quote, a bracket or a separator.
            '"' => loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                    }
                    Some('"') => break,
                    Some(_) => {}
                    None => {
                        return Err(format!("`{key} = \"{expr}\"` has an unclosed quoted name"));
                    }
                }
            },
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("`{key} = \"{expr}\"` has a `)` without its `(`"));
                }
            }
            ';' => {
                return Err(format!(
                    "`{key} = \"{expr}\"` contains `;`: it is one expression, not a statement"
                ));
            }
            '-' if chars.peek() == Some(&'-') => {
                return Err(format!("`{key} = \"{expr}\"` contains a `--` comment"));
            }
            '/' if chars.peek() == Some(&'*') => {
                return Err(format!("`{key} = \"{expr}\"` contains a `/*` comment"));
            }
            _ => {}
        }
    }
    if in_string {
        return Err(format!(
            "`{key} = \"{expr}\"` has an unclosed string literal; SQL strings use single quotes: `{key} = \"'text'\"`"
        ));
    }
    if depth != 0 {
        return Err(format!("`{key} = \"{expr}\"` has unbalanced parentheses"));
    }
    Ok(())
}

/// PostgreSQL's set-returning functions, refused in defaults and checks.
#[cfg(feature = "compiler")]
const SET_RETURNING: &[&str] = &[
    "generate_series",
    "generate_subscripts",
    "unnest",
    "regexp_matches",
    "regexp_split_to_table",
    "string_to_table",
    "json_each",
    "json_each_text",
    "jsonb_each",
    "jsonb_each_text",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_object_keys",
    "jsonb_object_keys",
    "json_populate_recordset",
    "jsonb_populate_recordset",
    "json_to_recordset",
    "jsonb_to_recordset",
    "jsonb_path_query",
    "pg_ls_dir",
];

/// PostgreSQL's aggregate and window functions, refused in defaults, checks and indexes.
#[cfg(feature = "compiler")]
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "bit_and",
    "bit_or",
    "stddev",
    "variance",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "ntile",
];

/// Common functions that are not IMMUTABLE, refused in an index's keys and predicate.
#[cfg(feature = "compiler")]
const NOT_IMMUTABLE: &[&str] = &[
    "now",
    "random",
    "gen_random_uuid",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timeofday",
    "nextval",
    "currval",
    "lastval",
    "txid_current",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "current_user",
    "session_user",
];

/// Those of [`NOT_IMMUTABLE`] that are written without parentheses.
#[cfg(feature = "compiler")]
const NOT_IMMUTABLE_WORDS: &[&str] = &[
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "current_user",
    "session_user",
];

/// `text` with each `COLLATE <name>` taken out, for the parser only, which reads no
/// `COLLATE` after a cast (`('x'::text COLLATE "C")`, as PostgreSQL prints a default). The
/// name must be a (qualified) name; what is stored is the text as written.
#[cfg(feature = "compiler")]
fn without_collations(text: &str) -> std::borrow::Cow<'_, str> {
    use sqlparser::tokenizer::Token;
    let Ok(lexemes) = crate::sql::tokens::lex(text) else {
        return text.into();
    };
    if !lexemes.iter().any(|l| l.is_word("COLLATE")) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < lexemes.len() {
        if lexemes[i].is_word("COLLATE") {
            // The name: words joined by `.`, blanks between allowed.
            let mut j = i + 1;
            let mut named = false;
            loop {
                while lexemes.get(j).is_some_and(|l| l.is_blank()) {
                    j += 1;
                }
                if !matches!(lexemes.get(j).map(|l| &l.token), Some(Token::Word(_))) {
                    break;
                }
                named = true;
                j += 1;
                if matches!(lexemes.get(j).map(|l| &l.token), Some(Token::Period)) {
                    j += 1;
                } else {
                    break;
                }
            }
            if named {
                out.push(' ');
                i = j;
                continue;
            }
        }
        out.push_str(&text[lexemes[i].bytes.clone()]);
        i += 1;
    }
    out.into()
}

#[cfg(feature = "compiler")]
fn too_long() -> Result<(), String> {
    Err(format!(
        "the SQL parser did not finish reading it in {} s (it backtracks on some shapes of text): write it more simply",
        crate::sql::PARSE_BUDGET.as_secs()
    ))
}

/// Refuses text holding a name the parser would take too long over (see
/// [`crate::sql::tokens::MAX_NAME_DOTS`]).
#[cfg(feature = "compiler")]
fn long_names(key: &str, words: &[crate::sql::tokens::Lexeme]) -> Result<(), String> {
    let max = crate::sql::tokens::MAX_NAME_DOTS;
    if crate::sql::tokens::longest_dotted_name(words) > max {
        return Err(format!(
            "`{key}` holds a name of more than {} parts; PostgreSQL's have at most four (catalog.schema.table.column)",
            max + 1
        ));
    }
    if crate::sql::tokens::has_stray_dot(words) {
        return Err(format!(
            "`{key}` holds a `.` that joins no two parts of a name"
        ));
    }
    Ok(())
}

/// The SQL parser's checks: exactly one expression or one type, with nothing after it.
#[cfg(feature = "compiler")]
pub struct ParsedFragments;

#[cfg(feature = "compiler")]
/// `parse` on the whole of `text`, then nothing left but whitespace and comments.
fn exactly_one<T>(
    text: &str,
    what: &str,
    parse: impl FnOnce(&mut sqlparser::parser::Parser) -> Result<T, sqlparser::parser::ParserError>,
) -> Result<T, String> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut parser = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| e.to_string())?;
    let value = parse(&mut parser).map_err(|e| format!("not {what}: {e}"))?;
    match parser.peek_token().token {
        sqlparser::tokenizer::Token::EOF => Ok(value),
        extra => Err(format!("`{extra}` follows {what}; write only {what}")),
    }
}

#[cfg(feature = "compiler")]
impl SqlFragments for ParsedFragments {
    fn expression(&self, key: &str, text: &str) -> Result<(), String> {
        // The lexical rules first (no `;`, no comment), for their clearer messages.
        check_sql_expression(key, text)?;
        if text.contains(crate::sql::split::BREAKPOINT) {
            return Err(format!(
                "`{key}` holds `{}`, on which drizzle-kit's migrator splits files: spell it another way",
                crate::sql::split::BREAKPOINT
            ));
        }
        // The parser reads `'x' NOT NULL` as `'x' IS NOT NULL`; PostgreSQL would read it,
        // after DEFAULT, as a constraint. (Defaults are written in parentheses as well.)
        let words = crate::sql::tokens::significant(text);
        if words.windows(2).enumerate().any(|(i, w)| {
            w[0].is_word("NOT") && w[1].is_word("NULL") && !(i > 0 && words[i - 1].is_word("IS"))
        }) {
            return Err(format!(
                "`{key}` ends in `NOT NULL`, which is a constraint, not part of a value: nullability comes from the field's type (`Option<T>` or not)"
            ));
        }
        // PostgreSQL refuses subqueries in a DEFAULT and a CHECK ("cannot use subquery in
        // DEFAULT expression"): refused here, where the attribute or file is named, not at
        // deploy. A subquery is a parenthesis opening on one of these words (`(SELECT`,
        // `EXISTS (WITH`, `IN (VALUES`); elsewhere `WITH` is a type's (`with time zone`).
        if let Some(w) = words.windows(2).find(|w| {
            w[0].token == sqlparser::tokenizer::Token::LParen
                && ["SELECT", "WITH", "VALUES", "TABLE"]
                    .iter()
                    .any(|k| w[1].is_word(k))
        }) {
            return Err(format!(
                "`{key}` holds a subquery (`({}`), which PostgreSQL refuses in a default, a check or an index: compute the value in the application, or use a function",
                w[1].token
            ));
        }
        if let Some(call) = words.windows(2).find(|w| {
            w[1].token == sqlparser::tokenizer::Token::LParen
                && SET_RETURNING.iter().any(|f| w[0].is_word(f))
        }) {
            return Err(format!(
                "`{key}` calls `{}`, which returns a set of rows; PostgreSQL refuses it in a default, a check or an index",
                call[0].token
            ));
        }
        if let Some(call) = words.windows(2).find(|w| {
            w[1].token == sqlparser::tokenizer::Token::LParen
                && AGGREGATES.iter().any(|f| w[0].is_word(f))
        }) {
            return Err(format!(
                "`{key}` calls `{}`, which aggregates rows; PostgreSQL refuses it in a default, a check or an index",
                call[0].token
            ));
        }
        // An index's keys and predicate are computed once per row and kept: PostgreSQL
        // takes only IMMUTABLE functions there. The common ones that are not are named.
        if matches!(key, "columns" | "where")
            && let Some(call) = words.iter().enumerate().find(|(i, w)| {
                NOT_IMMUTABLE.iter().any(|f| w.is_word(f))
                    && (words
                        .get(i + 1)
                        .is_some_and(|n| n.token == sqlparser::tokenizer::Token::LParen)
                        || NOT_IMMUTABLE_WORDS.iter().any(|f| w.is_word(f)))
            })
        {
            return Err(format!(
                "`{key}` uses `{}`, whose value changes from call to call or with the session; PostgreSQL takes only IMMUTABLE functions in an index",
                call.1.token
            ));
        }
        long_names(key, &words)?;
        let text = without_collations(text).into_owned();
        crate::sql::within_parse_budget(&text, |text| {
            exactly_one(text, "one SQL expression", |p| p.parse_expr()).map(drop)
        })
        .unwrap_or_else(too_long)
    }

    fn sql_type(&self, text: &str) -> Result<(), String> {
        long_names("sql_type", &crate::sql::tokens::significant(text))?;
        crate::sql::within_parse_budget(text, |text| {
            exactly_one(text, "one SQL type", |p| p.parse_data_type()).map(drop)
        })
        .unwrap_or_else(too_long)
    }
}

/// `text` parsed and printed again in one spelling, so that an expression as written in
/// the structs and as PostgreSQL prints it back (`(deleted_at IS NULL)`,
/// `lower((email)::text)`, `(status = 'active'::text)`) compare equal: parentheses
/// written where the tree needs them only, casts of a literal or a column to `text`
/// dropped, unquoted names in lower case, a column named without its table. For index
/// expressions and predicates, which name only their table's columns. `None` when it does
/// not parse.
#[cfg(feature = "compiler")]
pub(crate) fn comparable_expression(text: &str) -> Option<String> {
    Some(canonical(parse_expression(text)?).to_string())
}

/// The column names `text` reads (unquoted ones folded to lower case, as PostgreSQL folds
/// them; a qualified name by its last part), or `None` when it does not parse.
#[cfg(feature = "compiler")]
pub(crate) fn expression_columns(text: &str) -> Option<Vec<String>> {
    let mut parsed = parse_expression(text)?;
    let mut out = Vec::new();
    each_column(&mut parsed, &mut |ident| out.push(folded(ident)));
    Some(out)
}

/// `text` with the columns it names renamed (`renames`: old name to new), in the
/// comparable spelling; `None` when it does not parse. For an index's expressions after
/// `renamed_from`, which PostgreSQL rewrites on `RENAME COLUMN` by itself.
#[cfg(feature = "compiler")]
pub(crate) fn with_columns_renamed(
    text: &str,
    renames: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let mut parsed = parse_expression(text)?;
    each_column(&mut parsed, &mut |ident| {
        if let Some(new) = renames.get(&folded(ident)) {
            *ident = sqlparser::ast::Ident::with_quote('"', new.clone());
        }
    });
    Some(canonical(parsed).to_string())
}

/// `text` read as one expression (its `COLLATE`s aside), within the parse budget.
#[cfg(feature = "compiler")]
fn parse_expression(text: &str) -> Option<sqlparser::ast::Expr> {
    let text = without_collations(text).into_owned();
    crate::sql::within_parse_budget(&text, |text| {
        exactly_one(text, "one SQL expression", |p| p.parse_expr()).ok()
    })
    .flatten()
}

/// A name as PostgreSQL keeps it: unquoted ones folded to lower case.
#[cfg(feature = "compiler")]
fn folded(ident: &sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// Calls `f` on each column name in `expr` (a qualified one's last part), through the
/// shapes index expressions, predicates and checks take.
#[cfg(feature = "compiler")]
fn each_column(expr: &mut sqlparser::ast::Expr, f: &mut dyn FnMut(&mut sqlparser::ast::Ident)) {
    use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments};
    match expr {
        Expr::Identifier(ident) => f(ident),
        Expr::CompoundIdentifier(idents) => {
            if let Some(last) = idents.last_mut() {
                f(last);
            }
        }
        Expr::Nested(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e) => each_column(e, f),
        Expr::UnaryOp { expr, .. } | Expr::Cast { expr, .. } | Expr::Collate { expr, .. } => {
            each_column(expr, f)
        }
        Expr::BinaryOp { left, right, .. }
        | Expr::Like {
            expr: left,
            pattern: right,
            ..
        }
        | Expr::ILike {
            expr: left,
            pattern: right,
            ..
        } => {
            each_column(left, f);
            each_column(right, f);
        }
        Expr::InList { expr, list, .. } => {
            each_column(expr, f);
            list.iter_mut().for_each(|e| each_column(e, f));
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            for e in [expr, low, high] {
                each_column(e, f);
            }
        }
        Expr::Function(function) => {
            if let FunctionArguments::List(list) = &mut function.args {
                for arg in &mut list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                        each_column(e, f);
                    }
                }
            }
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.iter_mut().for_each(|e| each_column(e, f));
            for when in conditions {
                each_column(&mut when.condition, f);
                each_column(&mut when.result, f);
            }
            else_result.iter_mut().for_each(|e| each_column(e, f));
        }
        _ => {}
    }
}

#[cfg(feature = "compiler")]
fn canonical(expr: sqlparser::ast::Expr) -> sqlparser::ast::Expr {
    use sqlparser::ast::{DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident};
    // Unquoted names fold to lower case; a quoted name that needs no quotes loses them,
    // as PostgreSQL prints it.
    let lower = |mut ident: Ident| {
        if ident.quote_style.is_none() {
            ident.value = ident.value.to_lowercase();
        } else if ident
            .value
            .starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && ident
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            ident.quote_style = None;
        }
        ident
    };
    // An operand that is itself an operation is parenthesised, and nothing else is.
    let operand = |e: Expr| {
        let e = canonical(e);
        if matches!(
            e,
            Expr::BinaryOp { .. }
                | Expr::UnaryOp { .. }
                | Expr::IsNull(_)
                | Expr::IsNotNull(_)
                | Expr::InList { .. }
                | Expr::Between { .. }
        ) {
            Expr::Nested(Box::new(e))
        } else {
            e
        }
    };
    match expr {
        Expr::Nested(inner) => canonical(*inner),
        Expr::Identifier(ident) => Expr::Identifier(lower(ident)),
        // In an index's expression or predicate a qualified name can only be the table's
        // own column (drizzle-kit writes `"t"."c"`; PostgreSQL prints `c`).
        Expr::CompoundIdentifier(idents) => idents
            .into_iter()
            .last()
            .map(|i| Expr::Identifier(lower(i)))
            .unwrap_or(Expr::Value(sqlparser::ast::Value::Null.into())),
        Expr::Cast {
            expr,
            data_type: DataType::Text,
            ..
        } if matches!(
            canonical((*expr).clone()),
            Expr::Value(_) | Expr::Identifier(_) | Expr::CompoundIdentifier(_)
        ) =>
        {
            canonical(*expr)
        }
        Expr::Cast {
            kind,
            expr,
            data_type,
            array,
            format,
        } => Expr::Cast {
            kind,
            expr: Box::new(operand(*expr)),
            data_type,
            array,
            format,
        },
        Expr::BinaryOp { left, op, right } => Expr::BinaryOp {
            left: Box::new(operand(*left)),
            op,
            right: Box::new(operand(*right)),
        },
        Expr::UnaryOp { op, expr } => Expr::UnaryOp {
            op,
            expr: Box::new(operand(*expr)),
        },
        Expr::IsNull(e) => Expr::IsNull(Box::new(operand(*e))),
        Expr::IsNotNull(e) => Expr::IsNotNull(Box::new(operand(*e))),
        Expr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: Box::new(operand(*expr)),
            list: list.into_iter().map(canonical).collect(),
            negated,
        },
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => Expr::Between {
            expr: Box::new(operand(*expr)),
            negated,
            low: Box::new(operand(*low)),
            high: Box::new(operand(*high)),
        },
        Expr::Function(mut function) => {
            for part in &mut function.name.0 {
                if let sqlparser::ast::ObjectNamePart::Identifier(ident) = part {
                    *ident = lower(ident.clone());
                }
            }
            if let FunctionArguments::List(list) = &mut function.args {
                for arg in &mut list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                        *e = canonical(e.clone());
                    }
                }
            }
            Expr::Function(function)
        }
        other => other,
    }
}

/// The strongest check this build has.
fn checker() -> &'static dyn SqlFragments {
    #[cfg(feature = "compiler")]
    return &ParsedFragments;
    #[cfg(not(feature = "compiler"))]
    return &LexicalChecks;
}

macro_rules! text_type {
    ($name:ident, $parse:expr) => {
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<$name, String> {
                $parse(&text)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

text_type!(SqlExpr, |text: &str| SqlExpr::parse("expression", text));
text_type!(SqlType, SqlType::parse);

#[cfg(all(test, feature = "compiler"))]
mod tests {
    use super::*;

    #[test]
    fn one_expression_and_nothing_else() {
        let f = ParsedFragments;
        for ok in [
            "now()",
            "'draft'",
            "0",
            "gen_random_uuid()",
            "price >= 0 AND price < 100",
            "E'it\\'s'",
            "'{}'::jsonb",
            "a IS NOT NULL",
            "'select'",
            "\"select\" > 0",
            "'{1}'::integer[]",
            "\"it's\" > 0",
            "\"a\"\"b;(\" <> ''",
        ] {
            assert_eq!(LexicalChecks.expression("default", ok), Ok(()), "{ok}");
            assert_eq!(f.expression("default", ok), Ok(()), "{ok}");
        }
        for bad in [
            "id > 0)); DROP TABLE victim; CREATE TABLE zz (x int CHECK (x > 0",
            "E'\\''); DROP TABLE victim; SELECT ('",
            "1 2",
            "now() now()",
            "",
            "'x' NOT NULL",
            "'--> statement-breakpoint'",
            "\"unclosed > 0",
            "a.b.c.d.e.f",
            "yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.yyyy.*",
            "(SELECT 1)",
            "1 + (select max(id) from victim)",
            "EXISTS (SELECT 1)",
            "generate_series(1, 3)",
            "'x') NOT NULL, CONSTRAINT x PRIMARY KEY (id)); DROP TABLE IF EXISTS victim; CREATE TABLE pwn (id uuid, a text DEFAULT ('y'",
        ] {
            assert!(
                f.expression("default", bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    /// What PostgreSQL prints for defaults, checks and types (pg_get_expr, pg_get_constraintdef,
    /// format_type, PostgreSQL 15, of a table made for the purpose): a database's catalog and
    /// the snapshots made from it hold these, and every one must read.
    #[test]
    fn what_the_catalog_prints_reads() {
        for default in [
            "'infinity'::timestamp with time zone",
            "'12:00:00+00'::time with time zone",
            "'x'::text",
            "('x'::text COLLATE \"C\")",
            "'v'::character varying",
            "1.5",
            "'{1,2}'::integer[]",
            "'{}'::jsonb",
            "'1 day'::interval",
            "'101'::\"bit\"",
            "(now() AT TIME ZONE 'utc'::text)",
            "ARRAY[]::text[]",
            "CURRENT_DATE",
            "gen_random_uuid()",
            "((1 > 0) IS TRUE)",
            "(upper(lower('x'::text)) || 'y'::text)",
            "'-1'::integer",
            "'a\\b'::text",
            "'a'::\"char\"",
            "0.00",
            "CURRENT_USER",
            "LOCALTIMESTAMP(3)",
            "(('a'::text || 'b'::text))::character varying",
            "'NaN'::double precision",
            "CURRENT_TIME",
            "(((2)::double precision ^ (40)::double precision))::bigint",
            "to_char(now(), 'YYYY'::text)",
        ] {
            assert!(
                SqlExpr::parse("default", default).is_ok(),
                "{default}: {:?}",
                SqlExpr::parse("default", default)
            );
        }
        for check in [
            "((s >= 1) AND (s <= 10))",
            "((t ~ '^[a-z]+$'::text) AND (t = ANY (ARRAY['ab'::text, 'cd'::text])))",
            "(u > '2000-01-01 00:00:00+00'::timestamp with time zone)",
            "((w IS NOT NULL) AND (length(w) > 0))",
            "(x = ANY (ARRAY[1, 2]))",
            "((af ~~ 'a%'::text) OR (af ~~* 'B%'::text) OR (af ~ similar_to_escape('c%'::text)))",
            "(ag IS DISTINCT FROM 3)",
            "(((ai % 2) = 0) AND (ai <> 4) AND (NOT (ai > 100)))",
        ] {
            assert!(
                SqlExpr::parse("expr", check).is_ok(),
                "{check}: {:?}",
                SqlExpr::parse("expr", check)
            );
        }
        for sql_type in [
            "\"char\"",
            "bigint",
            "bit(3)",
            "boolean",
            "character varying(10)",
            "date",
            "double precision",
            "integer",
            "integer[]",
            "interval",
            "jsonb",
            "numeric",
            "numeric(10,2)",
            "text",
            "text[]",
            "time with time zone",
            "time without time zone",
            "timestamp with time zone",
            "timestamp without time zone",
            "timestamp(3) without time zone",
            "uuid",
        ] {
            assert!(
                SqlType::parse(sql_type).is_ok(),
                "{sql_type}: {:?}",
                SqlType::parse(sql_type)
            );
        }
    }

    #[test]
    fn one_type_and_nothing_else() {
        let f = ParsedFragments;
        for ok in [
            "text",
            "character varying(32)",
            "numeric(12,2)",
            "timestamp(3) with time zone",
            "integer[]",
            "double precision",
            "mood",
        ] {
            assert_eq!(f.sql_type(ok), Ok(()), "{ok}");
        }
        for bad in [
            "bigint references victim on delete cascade",
            "text not null",
            "text default 'x'",
            "integer, b text",
        ] {
            assert!(f.sql_type(bad).is_err(), "{bad:?} should be refused");
        }
        for bad in [
            "text); DROP TABLE victim; --",
            "\"open",
            "a\"b\"\"",
            "text default ''",
            "bigint references t",
            "int, evil int",
            "text collate \"C\"",
        ] {
            assert!(SqlType::parse(bad).is_err(), "{bad:?} should be refused");
        }
        for (catalog, kept) in [
            ("\"char\"", "\"char\""),
            ("public.\"Mood\"", "public.\"Mood\""),
            ("geometry(Point,4326)", "geometry(Point,4326)"),
            ("VARCHAR(3)", "character varying(3)"),
        ] {
            assert_eq!(
                SqlType::parse(catalog).map(String::from),
                Ok(kept.to_owned()),
                "{catalog}"
            );
        }
    }

    /// What PostgreSQL refuses in an index (aggregates anywhere; functions that are not
    /// IMMUTABLE in an index's keys and predicate) is refused when the attribute is read.
    #[cfg(feature = "compiler")]
    #[test]
    fn aggregates_and_changing_functions_are_refused_where_postgresql_refuses_them() {
        let f = ParsedFragments;
        assert!(
            f.expression("columns", "count(x)")
                .unwrap_err()
                .contains("aggregates rows")
        );
        assert!(
            f.expression("default", "max(1)")
                .unwrap_err()
                .contains("aggregates rows")
        );
        assert!(
            f.expression("where", "ts > now()")
                .unwrap_err()
                .contains("only IMMUTABLE")
        );
        assert!(
            f.expression("where", "ts > CURRENT_DATE")
                .unwrap_err()
                .contains("only IMMUTABLE")
        );
        assert!(
            f.expression("columns", "random()")
                .unwrap_err()
                .contains("only IMMUTABLE")
        );
        assert_eq!(f.expression("default", "now()"), Ok(()));
        assert_eq!(
            f.expression("where", "count > 0"),
            Ok(()),
            "a column named like an aggregate"
        );
        assert_eq!(f.expression("columns", "lower(email)"), Ok(()));
    }

    /// The structs' spelling and PostgreSQL's print the same expression the same way, and
    /// different expressions apart.
    #[cfg(feature = "compiler")]
    #[test]
    fn index_expressions_compare_in_one_spelling() {
        let same = [
            ("deleted_at IS NULL", "(deleted_at IS NULL)"),
            ("lower(email)", "lower((email)::text)"),
            ("LOWER(Email)", "lower(email)"),
            ("status = 'active'", "(status = 'active'::text)"),
            (
                "\"Document\".\"deletedAt\" IS NULL",
                "(\"deletedAt\" IS NULL)",
            ),
            ("a > 0 AND b < 1", "((a > 0) AND (b < 1))"),
        ];
        for (written, printed) in same {
            assert_eq!(
                comparable_expression(written),
                comparable_expression(printed),
                "{written} / {printed}"
            );
        }
        let apart = [
            ("a OR b AND c", "(a OR b) AND c"),
            ("lower(email)", "upper(email)"),
            ("\"Email\" IS NULL", "email IS NULL"),
            ("x > 1", "x > 2"),
        ];
        for (one, other) in apart {
            assert_ne!(
                comparable_expression(one),
                comparable_expression(other),
                "{one} / {other}"
            );
        }
        assert_eq!(
            expression_columns("lower(\"Email\") || b::text"),
            Some(vec!["Email".to_owned(), "b".to_owned()])
        );
        assert!(
            SqlType::is_defined_type_name("\"DBRoleType\"")
                && SqlType::is_defined_type_name("auth.\"Mood\"[]")
        );
        for bad in [
            "mood",
            "\"a\"; DROP",
            "\"\"",
            "\"open",
            "a.b.c.\"d\"",
            "\"x\" int",
        ] {
            assert!(!SqlType::is_defined_type_name(bad), "{bad}");
        }
    }
}
