//! Sample rows for `verify --with-rows`: every table gets rows between two migrations, so
//! that backfills, rebuild copies, unique validations and DSQL's row limits meet data
//! before a deploy does.
//!
//! Values are SQL expressions of a row number `g`, so they are distinct per row (keys and
//! uniques hold), every third value of a nullable column is NULL (so `fill` and SET NOT
//! NULL have work), and foreign keys take the key of an existing parent row. A table that
//! cannot be filled (a CHECK the values fail, a NOT NULL type with no sample, a parent
//! with no rows) is reported, not fatal: the migrations are what is under test.

use crate::runner::base::error::RunError;
use crate::runner::base::event::SampleRows;
use crate::schema::model::{Schema, Table};
use crate::sql::ident::quote as quote_ident;
use sqlx::{AssertSqlSafe, PgConnection};

/// Rows per transaction: DSQL allows 3,000 changed rows per transaction.
const BATCH: u64 = 1000;

/// A SQL expression of the row number `g` (bigint) for a column of type `sql_type`, or
/// `None` when there is no sample for that type.
fn sample_value(sql_type: &str) -> Option<String> {
    let unmodified = crate::schema::types::without_modifiers(sql_type);
    let base = unmodified.as_str();
    let modifier = || -> Vec<u32> {
        sql_type
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(inside, _)| {
                inside
                    .split(',')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let value = match base {
        "smallint" => "(g % 32000)::smallint".to_owned(),
        "integer" => "(g % 2000000000)::integer".to_owned(),
        "bigint" => "g".to_owned(),
        "real" | "double precision" => format!("(g::double precision / 8)::{base}"),
        "numeric" => match modifier().as_slice() {
            [precision, scale] => {
                let digits = precision.saturating_sub(*scale).min(15);
                format!(
                    "(g % 1{})::numeric({precision},{scale})",
                    "0".repeat(digits as usize)
                )
            }
            [precision] => format!(
                "(g % 1{})::numeric({precision})",
                "0".repeat((*precision).min(15) as usize)
            ),
            _ => "g::numeric / 8".to_owned(),
        },
        "boolean" => "(g % 2 = 0)".to_owned(),
        "text" => "'row ' || g".to_owned(),
        "character varying" | "character" => match modifier().as_slice() {
            // The row number last, so that it survives truncation where it can.
            [length] => format!("right('r' || g, {length})::{sql_type}"),
            _ => format!("('row ' || g)::{base}"),
        },
        "uuid" => "md5('tablewright sample ' || g)::uuid".to_owned(),
        "timestamp with time zone" | "timestamp without time zone" => {
            format!("(timestamp '2026-01-01' + g * interval '1 minute')::{sql_type}")
        }
        "date" => "date '2026-01-01' + (g % 3650)::integer".to_owned(),
        "time without time zone" | "time with time zone" => {
            format!("(time '00:00' + (g % 86400) * interval '1 second')::{sql_type}")
        }
        "jsonb" | "json" => format!("jsonb_build_object('row', g)::{base}"),
        "bytea" => "decode(md5(g::text), 'hex')".to_owned(),
        "interval" => "g * interval '1 second'".to_owned(),
        _ => return None,
    };
    Some(value)
}

/// The INSERT for rows `first..first + count` of `table`, or why there is none.
fn insert_statement(table: &Table, first: u64, count: u64) -> Result<String, String> {
    let mut joins = String::new();
    let mut fk_of_column = std::collections::BTreeMap::new();
    for (i, fk) in table.foreign_keys.values().enumerate() {
        let alias = format!("parent_{i}");
        let parent = crate::sql::ident::quote_table(&fk.references_table);
        let keys = fk
            .references_columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        // The n-th parent row, n walking the parents so that children spread over them.
        joins.push_str(&format!(
            " LEFT JOIN (SELECT {keys}, row_number() OVER (ORDER BY {keys}) - 1 AS n FROM {parent}) {alias} ON {alias}.n = (g + {i}) % GREATEST((SELECT count(*) FROM {parent}), 1)"
        ));
        for (column, referenced) in fk.columns.iter().zip(&fk.references_columns) {
            fk_of_column
                .entry(column.clone())
                .or_insert_with(|| format!("{alias}.{}", quote_ident(referenced)));
        }
    }
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for column in &table.columns {
        if column.is_identity() {
            continue; // it numbers itself
        }
        let value = match fk_of_column.get(&column.name) {
            Some(parent) => parent.clone(),
            None => match sample_value(&column.sql_type) {
                Some(v) if column.not_null => v,
                Some(v) => format!("CASE WHEN g % 3 = 0 THEN NULL ELSE {v} END"),
                None if column.default.is_some() => continue,
                None if !column.not_null => "NULL".to_owned(),
                None => {
                    return Err(format!(
                        "no sample value for type `{}` of NOT NULL column `{}`",
                        column.sql_type, column.name
                    ));
                }
            },
        };
        columns.push(quote_ident(&column.name));
        values.push(value);
    }
    if columns.is_empty() {
        return Ok(format!(
            "INSERT INTO {} DEFAULT VALUES ON CONFLICT DO NOTHING",
            crate::sql::ident::quote_table(&table.name)
        ));
    }
    Ok(format!(
        "INSERT INTO {} ({}) SELECT {} FROM generate_series({first}::bigint, {}::bigint) AS s(g){joins} ON CONFLICT DO NOTHING",
        crate::sql::ident::quote_table(&table.name),
        columns.join(", "),
        values.join(", "),
        first + count - 1
    ))
}

/// Inserts `rows` rows into every table of `schema`, parents first, in transactions of at
/// most `BATCH` rows. `round` keeps the values of later rounds apart from earlier ones.
pub async fn insert_sample_rows(
    conn: &mut PgConnection,
    schema: &Schema,
    rows: u64,
    round: u64,
) -> Result<Vec<SampleRows>, RunError> {
    let mut report = Vec::new();
    for table in schema.tables_parents_first() {
        let mut inserted = 0;
        let mut skipped = None;
        let mut done = 0;
        while done < rows && skipped.is_none() {
            let count = BATCH.min(rows - done);
            let first = round * 1_000_000_000 + done + 1;
            match insert_statement(table, first, count) {
                Err(reason) => skipped = Some(reason),
                Ok(sql) => match sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await {
                    Ok(result) => inserted += result.rows_affected(),
                    // Refused rows are the sample's problem, not the migration's.
                    Err(sqlx::Error::Database(e)) => skipped = Some(e.message().to_owned()),
                    Err(e) => {
                        return Err(RunError::db(
                            &format!("inserting sample rows into {}", table.name),
                            e,
                        ));
                    }
                },
            }
            done += count;
        }
        if skipped.is_none() && inserted < rows {
            skipped = Some(format!(
                "{} row(s) conflicted with rows already there",
                rows - inserted
            ));
        }
        report.push(SampleRows {
            table: table.name.clone(),
            inserted,
            skipped,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_canonical_type_of_the_schema_language_has_a_sample() {
        for rust in [
            "String",
            "bool",
            "i16",
            "i32",
            "i64",
            "f32",
            "f64",
            "Uuid",
            "DateTime",
            "NaiveDateTime",
            "NaiveDate",
            "NaiveTime",
            "Decimal",
            "Value",
        ] {
            let sql = crate::schema::types::sql_type_for_rust(rust, &[]).unwrap();
            assert!(sample_value(&sql).is_some(), "{rust} → {sql}");
        }
        assert!(sample_value("bytea").is_some());
        assert_eq!(
            sample_value("numeric(10,2)").unwrap(),
            "(g % 100000000)::numeric(10,2)"
        );
        assert_eq!(
            sample_value("character varying(8)").unwrap(),
            "right('r' || g, 8)::character varying(8)"
        );
        assert_eq!(sample_value("tsvector"), None);
        assert!(
            sample_value("timestamp(3) with time zone")
                .unwrap()
                .ends_with("::timestamp(3) with time zone")
        );
        assert!(sample_value("time(0) without time zone").is_some());
    }
}
