//! The renames a migration's own SQL makes (`ALTER TABLE .. RENAME [COLUMN] .. TO ..`,
//! `ALTER TYPE .. RENAME VALUE .. TO ..`), read with the one tokenizer. A snapshot says what
//! the schema is, not which column became which: `review` reads a migration's renames to
//! tell a rename from a drop and an add, and a rollback reverses them.

use crate::schema::desired::{DesiredSchema, Hint};
use crate::schema::model::{NEW_SUFFIX, OLD_SUFFIX, Schema};
use crate::sql::tokens;

/// Which way a migration's renames are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// As the migration made them: from the snapshot before it to its own.
    Forward,
    /// Undone: from its snapshot back to the one before it.
    Backward,
}

/// `schema` as the desired schema, with the renames `statements` make as the hints the
/// diff reads (`renamed_from`), forward or undone.
pub(crate) fn with_renames(
    schema: &Schema,
    statements: &[String],
    direction: Direction,
) -> DesiredSchema {
    let mut desired = DesiredSchema {
        schema: schema.clone(),
        ..DesiredSchema::default()
    };
    let renames: Vec<Rename> = statements.iter().filter_map(|s| rename_in(s)).collect();
    let hint = |from: &str| Hint {
        from: from.to_owned(),
        location: None,
    };
    // A column renamed in a table the same migration renamed: undone, it is keyed by the
    // table's old name.
    let table_before = |table: &str| -> String {
        renames
            .iter()
            .find_map(|r| match r {
                Rename::Table { from, to } if to == table => Some(from.clone()),
                _ => None,
            })
            .unwrap_or_else(|| table.to_owned())
    };
    for rename in &renames {
        let (new, old) = match (rename, direction) {
            (Rename::Table { from, to }, Direction::Forward) => (to, from),
            (Rename::Table { from, to }, Direction::Backward) => (from, to),
            (Rename::Column { table, from, to }, direction) => {
                let (key, new, old) = match direction {
                    Direction::Forward => (table.clone(), to, from),
                    Direction::Backward => (table_before(table), from, to),
                };
                desired
                    .sources
                    .entry(key)
                    .or_default()
                    .column_renames
                    .insert(new.clone(), hint(old));
                continue;
            }
            (Rename::EnumValue { name, from, to }, direction) => {
                let (new, old) = match direction {
                    Direction::Forward => (to, from),
                    Direction::Backward => (from, to),
                };
                desired
                    .enum_sources
                    .entry(name.clone())
                    .or_default()
                    .value_renames
                    .insert(new.clone(), hint(old));
                continue;
            }
        };
        desired.sources.entry(new.clone()).or_default().renamed_from = Some(hint(old));
    }
    desired
}

/// A rename a statement makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rename {
    Table {
        from: String,
        to: String,
    },
    Column {
        table: String,
        from: String,
        to: String,
    },
    EnumValue {
        name: String,
        from: String,
        to: String,
    },
}

/// `ALTER TABLE [IF EXISTS] t RENAME [COLUMN] a TO b`, read with the tokenizer; a table
/// rebuild's own renames are left out.
pub(crate) fn rename_in(sql: &str) -> Option<Rename> {
    let lexemes = tokens::lex(sql).ok()?;
    let words: Vec<&tokens::Lexeme> = lexemes.iter().filter(|l| !l.is_blank()).collect();
    // An unquoted name is folded to lower case, as PostgreSQL folds it.
    let name = |l: &tokens::Lexeme| match &l.token {
        sqlparser::tokenizer::Token::Word(w) if w.quote_style.is_none() => {
            Some(w.value.to_lowercase())
        }
        sqlparser::tokenizer::Token::Word(w) => Some(w.value.clone()),
        _ => None,
    };
    let string = |l: &tokens::Lexeme| match &l.token {
        sqlparser::tokenizer::Token::SingleQuotedString(v) => Some(v.clone()),
        _ => None,
    };
    let mut i = 0;
    let expect = |keyword: &str, i: &mut usize| {
        let ok = words.get(*i).is_some_and(|l| l.is_word(keyword));
        if ok {
            *i += 1;
        }
        ok
    };
    if !expect("ALTER", &mut i) {
        return None;
    }
    let enum_type = expect("TYPE", &mut i);
    if !enum_type && !expect("TABLE", &mut i) {
        return None;
    }
    if expect("IF", &mut i) && !expect("EXISTS", &mut i) {
        return None;
    }
    expect("ONLY", &mut i);
    // `schema.table` is keyed as the model keys it: `schema.table` outside `public`.
    let mut table = name(words.get(i)?)?;
    i += 1;
    if words
        .get(i)
        .is_some_and(|l| matches!(l.token, sqlparser::tokenizer::Token::Period))
    {
        let part = name(words.get(i + 1)?)?;
        table = if table == "public" {
            part
        } else {
            format!("{table}.{part}")
        };
        i += 2;
    }
    if enum_type {
        // ALTER TYPE t RENAME VALUE 'a' TO 'b'
        if !(expect("RENAME", &mut i) && expect("VALUE", &mut i)) {
            return None;
        }
        let from = string(words.get(i)?)?;
        i += 1;
        if !expect("TO", &mut i) {
            return None;
        }
        let to = string(words.get(i)?)?;
        return Some(Rename::EnumValue {
            name: table,
            from,
            to,
        });
    }
    if !expect("RENAME", &mut i) {
        return None;
    }
    let column = expect("COLUMN", &mut i);
    if words.get(i).is_some_and(|l| l.is_word("CONSTRAINT")) {
        return None;
    }
    let from = if column || !words.get(i).is_some_and(|l| l.is_word("TO")) {
        let from = name(words.get(i)?)?;
        i += 1;
        Some(from)
    } else {
        None
    };
    if !expect("TO", &mut i) {
        return None;
    }
    let to = name(words.get(i)?)?;
    let rebuild = |n: &str| n.ends_with(NEW_SUFFIX) || n.ends_with(OLD_SUFFIX);
    match from {
        Some(from) => Some(Rename::Column { table, from, to }),
        None if rebuild(&table) || rebuild(&to) => None,
        None => {
            // A new name keeps the old one's schema.
            let to = match table.rsplit_once('.') {
                Some((schema, _)) => format!("{schema}.{to}"),
                None => to,
            };
            Some(Rename::Table { from: table, to })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_are_read_from_the_statement_and_a_rebuilds_are_not_renames() {
        assert_eq!(
            rename_in("ALTER TABLE \"books\" RENAME COLUMN \"subtitle\" TO \"tagline\""),
            Some(Rename::Column {
                table: "books".into(),
                from: "subtitle".into(),
                to: "tagline".into()
            })
        );
        assert_eq!(
            rename_in("ALTER TABLE IF EXISTS \"auth\".\"users\" RENAME TO \"members\";"),
            Some(Rename::Table {
                from: "auth.users".into(),
                to: "auth.members".into()
            })
        );
        assert_eq!(
            rename_in("ALTER TABLE public.a RENAME b TO c"),
            Some(Rename::Column {
                table: "a".into(),
                from: "b".into(),
                to: "c".into()
            })
        );
        let new = format!("ALTER TABLE \"books{NEW_SUFFIX}\" RENAME TO \"books\"");
        assert_eq!(rename_in(&new), None);
        assert_eq!(
            rename_in("ALTER TABLE \"t\" RENAME CONSTRAINT \"a\" TO \"b\""),
            None
        );
        assert_eq!(rename_in("ALTER TABLE \"t\" ADD COLUMN \"x\" text"), None);
        assert_eq!(
            rename_in("ALTER TABLE ONLY Books RENAME COLUMN Sub TO \"Tag\""),
            Some(Rename::Column {
                table: "books".into(),
                from: "sub".into(),
                to: "Tag".into()
            })
        );
        assert_eq!(
            rename_in("ALTER TYPE \"mood\" RENAME VALUE 'sad' TO 'blue'"),
            Some(Rename::EnumValue {
                name: "mood".into(),
                from: "sad".into(),
                to: "blue".into()
            })
        );
        assert_eq!(rename_in("-- 'ALTER TABLE a RENAME TO b'\nSELECT 1"), None);
    }
}
