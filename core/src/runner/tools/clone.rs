//! `clone`: a source database's rows copied into a local PostgreSQL that already has the
//! source's schema, so pending migrations can be rehearsed on real data.
//!
//! Rows travel as JSON (`row_to_json` on the source, `json_populate_recordset` on the
//! target), so every type arrives in its own text form without a per-type codec. Each
//! table is read in key order, a batch at a time (keyset pagination: the next batch starts
//! after the last key read), up to a limit per table. The target's tables have no foreign
//! keys yet, as `pg_dump` loads rows (so no superuser is needed to turn their triggers
//! off): tables come in any order and self-references need no ordering; then rows whose
//! parent was not copied (a limit cut it off) are deleted until none is left, and the
//! caller adds the keys, which then hold.

use crate::runner::base::error::RunError;
use crate::schema::model::{Schema, Table, bare_table_name, table_schema};
use crate::sql::ident::{literal, quote, quote_table};
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgConnection};

/// Rows per batch read and written.
const BATCH: i64 = 1000;

/// What was copied into one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ClonedTable {
    /// `schema.table` as written.
    pub table: String,
    /// Rows the clone holds: those copied, less the orphans removed.
    pub copied: u64,
    /// Rows deleted afterwards because a parent row was not copied.
    pub orphans_removed: u64,
}

/// Copies up to `limit` rows (all when `None`) of `table` from `source` to `target`.
async fn copy_table(
    source: &mut PgConnection,
    target: &mut PgConnection,
    table: &Table,
    limit: Option<u64>,
) -> Result<u64, RunError> {
    let name = quote_table(&table.name);
    let key: Vec<String> = match &table.primary_key {
        Some(pk) => pk.columns.iter().map(|c| quote(c)).collect(),
        None => Vec::new(),
    };
    let by = |alias: &str, descending: bool| {
        key.iter()
            .map(|k| format!("{alias}.{k}{}", if descending { " DESC" } else { "" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let order = if key.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", by("t", false))
    };
    // The batch in key order, and its last row (where the next batch starts).
    let aggregate = if key.is_empty() {
        "json_agg(row_to_json(tw_batch.*))::text, NULL::text".to_owned()
    } else {
        format!(
            "json_agg(row_to_json(tw_batch.*) ORDER BY {})::text, (array_agg(row_to_json(tw_batch.*)::text ORDER BY {}))[1]",
            by("tw_batch", false),
            by("tw_batch", true)
        )
    };
    let key_list = key
        .iter()
        .map(|k| format!("t.{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let after_key = key
        .iter()
        .map(|k| format!("k.{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!(
        "INSERT INTO {name} OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_recordset(NULL::{name}, $1::json)"
    );
    let mut copied = 0u64;
    let mut last: Option<String> = None;
    loop {
        // A table without a key cannot be read in batches that pick up where they left:
        // it is read in one, up to the limit.
        let want = match limit {
            Some(l) if l <= copied => break,
            Some(l) if key.is_empty() => i64::try_from(l).unwrap_or(i64::MAX),
            Some(l) => BATCH.min((l - copied) as i64),
            None if key.is_empty() => i64::MAX,
            None => BATCH,
        };
        let select = match (&last, key.is_empty()) {
            (Some(_), false) => format!(
                "SELECT {aggregate} FROM (SELECT t.* FROM {name} t WHERE ({key_list}) > (SELECT {after_key} FROM json_populate_record(NULL::{name}, $1::json) k){order} LIMIT $2) tw_batch"
            ),
            _ => format!(
                "SELECT {aggregate} FROM (SELECT t.* FROM {name} t WHERE $1::text IS NULL{order} LIMIT $2) tw_batch"
            ),
        };
        let (rows, last_row): (Option<String>, Option<String>) =
            sqlx::query_as(AssertSqlSafe(select))
                .bind(last.clone())
                .bind(want)
                .fetch_one(&mut *source)
                .await
                .map_err(|e| RunError::db(&format!("reading {}", table.name), e))?;
        let Some(rows) = rows else { break };
        let inserted = sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(rows)
            .execute(&mut *target)
            .await
            .map_err(|e| RunError::db(&format!("writing {}", table.name), e))?
            .rows_affected();
        copied += inserted;
        if key.is_empty() || (inserted as i64) < want {
            break;
        }
        last = last_row;
    }
    Ok(copied)
}

/// Sets the sequence of each identity or serial column past the largest value copied.
async fn advance_identities(target: &mut PgConnection, table: &Table) -> Result<(), RunError> {
    for column in table.columns.iter().filter(|c| {
        c.is_identity()
            || c.default
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("))
    }) {
        let name = quote_table(&table.name);
        // An identity's sequence by its column; a SERIAL's by the name in its default
        // (the sequence may not be owned by the column), read as a literal, never pasted:
        // the default is the source database's text.
        let sequence = match column.default.as_deref().and_then(serial_sequence) {
            Some(sequence) if !column.is_identity() => format!("{}::regclass", literal(&sequence)),
            _ => format!(
                "pg_get_serial_sequence({}, {})",
                literal(&name),
                literal(&column.name)
            ),
        };
        let sql = format!(
            "SELECT setval({sequence}, max({col})) FROM {name} HAVING max({col}) IS NOT NULL",
            col = quote(&column.name)
        );
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *target)
            .await
            .map_err(|e| {
                RunError::db(
                    &format!("advancing the identity of {}.{}", table.name, column.name),
                    e,
                )
            })?;
    }
    Ok(())
}

/// Deletes rows whose parent is missing, over every foreign key, until a pass deletes
/// nothing (a deleted parent may orphan further rows). Returns the rows deleted per table.
async fn remove_orphans(
    target: &mut PgConnection,
    schema: &Schema,
) -> Result<std::collections::BTreeMap<String, u64>, RunError> {
    let mut removed = std::collections::BTreeMap::new();
    loop {
        let mut pass = 0;
        for table in schema.tables.values() {
            for fk in table.foreign_keys.values() {
                let child = quote_table(&table.name);
                let parent = quote_table(&fk.references_table);
                let set = fk
                    .columns
                    .iter()
                    .map(|c| format!("c.{} IS NOT NULL", quote(c)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let joined = fk
                    .columns
                    .iter()
                    .zip(&fk.references_columns)
                    .map(|(c, p)| format!("p.{} = c.{}", quote(p), quote(c)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let sql = format!(
                    "DELETE FROM {child} c WHERE {set} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {joined})"
                );
                let n = sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut *target)
                    .await
                    .map_err(|e| {
                        RunError::db(
                            &format!(
                                "removing rows of {} whose parent was not copied",
                                table.name
                            ),
                            e,
                        )
                    })?
                    .rows_affected();
                *removed.entry(table.name.clone()).or_insert(0) += n;
                pass += n;
            }
        }
        if pass == 0 {
            return Ok(removed);
        }
    }
}

/// `CREATE SEQUENCE` for a sequence a SERIAL default names (`nextval('name'::regclass)`
/// prints it as SQL would read it: an identifier, quoted where it needs to be). The name
/// is the source database's text: read as a name and quoted again, never pasted; `None`
/// when it is not one.
pub fn create_sequence_statement(sequence: &str) -> Option<String> {
    let parts = crate::sql::ident::parse_qualified(sequence)?;
    Some(format!(
        "CREATE SEQUENCE IF NOT EXISTS {}",
        parts.iter().map(|p| quote(p)).collect::<Vec<_>>().join(".")
    ))
}

/// `CREATE SCHEMA IF NOT EXISTS` for the schema a SERIAL's sequence names, when it names
/// one: the sequence is made before the tables, and so before the plan makes schemas.
pub fn sequence_schema_statement(sequence: &str) -> Option<String> {
    match crate::sql::ident::parse_qualified(sequence)?.as_slice() {
        [schema, _] => Some(format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema))),
        _ => None,
    }
}

/// Creates drizzle-kit's history table as its migrator does, for a clone of a database
/// drizzle migrated.
pub async fn create_drizzle_history(
    target: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<(), RunError> {
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {s}; CREATE TABLE IF NOT EXISTS {s}.{t} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)",
        s = quote(schema),
        t = quote(table)
    );
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(target)
        .await
        .map(|_| ())
        .map_err(|e| RunError::db("creating drizzle.__drizzle_migrations on the clone", e))
}

/// Copies the rows of every table of `schema`, up to `limit` per table, and every row of
/// the `whole` tables (histories). The target must have the tables already, without their foreign keys.
pub async fn copy_rows(
    source: &mut PgConnection,
    target: &mut PgConnection,
    schema: &Schema,
    whole: &[&Table],
    limit: Option<u64>,
) -> Result<Vec<ClonedTable>, RunError> {
    let mut report = Vec::new();
    for table in schema.tables.values() {
        let copied = copy_table(source, target, table, limit).await?;
        advance_identities(target, table).await?;
        report.push(ClonedTable {
            table: table.name.clone(),
            copied,
            orphans_removed: 0,
        });
    }
    for table in whole {
        let copied = copy_table(source, target, table, None).await?;
        advance_identities(target, table).await?;
        // (Written `schema.table` even in `public`, as a history's place is.)
        report.push(ClonedTable {
            table: format!(
                "{}.{}",
                table_schema(&table.name),
                bare_table_name(&table.name)
            ),
            copied,
            orphans_removed: 0,
        });
    }
    let removed = remove_orphans(target, schema).await?;
    for entry in &mut report {
        entry.orphans_removed = removed.get(&entry.table).copied().unwrap_or(0);
        entry.copied -= entry.orphans_removed.min(entry.copied);
    }
    Ok(report)
}

/// The sequence a SERIAL default draws from: `nextval('<name>'::regclass)`, as the catalog
/// prints it, gives `<name>` (a quoted, qualified name such as `"A".b_seq` included);
/// anything else, `None`.
pub(crate) fn serial_sequence(default: &str) -> Option<String> {
    use sqlparser::tokenizer::Token;
    // Exactly `nextval ( '<name>' :: regclass )`; the tokenizer undoes the literal's
    // doubled quotes.
    match crate::sql::tokens::significant(default).as_slice() {
        [nextval, open, name, cast, regclass, close]
            if nextval.is_word("nextval")
                && open.token == Token::LParen
                && cast.token == Token::DoubleColon
                && regclass.is_word("regclass")
                && close.token == Token::RParen =>
        {
            match &name.token {
                Token::SingleQuotedString(name) => Some(name.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::serial_sequence;

    #[test]
    fn a_serial_default_gives_its_sequence_and_nothing_else_does() {
        assert_eq!(
            serial_sequence("nextval('items_id_seq'::regclass)").as_deref(),
            Some("items_id_seq")
        );
        assert_eq!(
            serial_sequence("nextval('\"Odd\".\"it''s_seq\"'::regclass)").as_deref(),
            Some("\"Odd\".\"it's_seq\"")
        );
        for other in [
            "nextval('a'::regclass || pg_sleep(1))",
            "nextval('a'::regclass), pg_sleep(1",
            "nextval('a' || 'b'::regclass)",
            "now()",
        ] {
            assert_eq!(serial_sequence(other), None, "{other}");
        }
    }
}
