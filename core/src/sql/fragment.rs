//! The SQL inside attributes, read with the SQL parser: `default`, `fill` and a check's
//! `expr` must each be exactly one expression, `sql_type` exactly one type, with nothing
//! after it. What the parser does not accept is refused at `generate`, with the span of
//! the attribute, so an attribute can never add a statement, a constraint or a comment to
//! a migration. (The derive keeps [`crate::schema::grammar::LexicalChecks`].)

use crate::schema::grammar::{self, SqlFragments};
use crate::sql::tokens;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// The parser's checks.
pub struct ParsedFragments;

/// `parse` on the whole of `text`, then nothing left but whitespace and comments.
fn exactly_one<T>(text: &str, what: &str, parse: impl FnOnce(&mut Parser) -> Result<T, ParserError>) -> Result<T, String> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(|e| e.to_string())?;
    let value = parse(&mut parser).map_err(|e| format!("not {what}: {e}"))?;
    match parser.peek_token().token {
        Token::EOF => Ok(value),
        extra => Err(format!("`{extra}` follows {what}; write only {what}")),
    }
}

impl SqlFragments for ParsedFragments {
    fn expression(&self, key: &str, text: &str) -> Result<(), String> {
        // The lexical rules first (no `;`, no comment), for their clearer messages.
        grammar::check_sql_expression(key, text)?;
        if text.contains(crate::sql::split::BREAKPOINT) {
            return Err(format!("`{key}` holds `{}`, on which drizzle-kit's migrator splits files: spell it another way", crate::sql::split::BREAKPOINT));
        }
        // The parser reads `'x' NOT NULL` as `'x' IS NOT NULL`; PostgreSQL would read it,
        // after DEFAULT, as a constraint. (Defaults are written in parentheses as well.)
        let words = tokens::significant(text);
        if words.windows(2).enumerate().any(|(i, w)| w[0].is_word("NOT") && w[1].is_word("NULL") && !(i > 0 && words[i - 1].is_word("IS"))) {
            return Err(format!("`{key}` ends in `NOT NULL`, which is a constraint, not part of a value: nullability comes from the field's type (`Option<T>` or not)"));
        }
        exactly_one(text, "one SQL expression", |p| p.parse_expr()).map(drop)
    }

    fn sql_type(&self, text: &str) -> Result<(), String> {
        exactly_one(text, "one SQL type", |p| p.parse_data_type()).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_expression_and_nothing_else() {
        let f = ParsedFragments;
        for ok in ["now()", "'draft'", "0", "gen_random_uuid()", "price >= 0 AND price < 100", "E'it\\'s'", "'{}'::jsonb", "a IS NOT NULL"] {
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
        ] {
            assert!(f.expression("default", bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn one_type_and_nothing_else() {
        let f = ParsedFragments;
        for ok in ["text", "character varying(32)", "numeric(12,2)", "timestamp(3) with time zone", "integer[]", "double precision", "mood"] {
            assert_eq!(f.sql_type(ok), Ok(()), "{ok}");
        }
        for bad in ["bigint references victim on delete cascade", "text not null", "text default 'x'", "integer, b text"] {
            assert!(f.sql_type(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
