//! What a walk reads from the catalog: the table's primary key, its estimated size, and
//! the expression that sizes a row against DSQL's transaction budget.

use crate::schema::model::{bare_table_name, table_schema};
use crate::sql::ident::quote;
use sqlx::{PgConnection, Row as _};

/// A key column: name and type as `format_type` prints it.
pub(super) struct KeyColumn {
    pub(super) name: String,
    pub(super) sql_type: String,
}

pub(super) async fn primary_key(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Vec<KeyColumn>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary \
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
    )
    .bind(table_schema(table))
    .bind(bare_table_name(table))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyColumn {
                name: r.try_get("name")?,
                sql_type: r.try_get("sql_type")?,
            })
        })
        .collect()
}

/// The rows of `table` as the catalog's statistics estimate them; none before the table
/// was ever analysed, or where the catalog has no estimate.
pub(super) async fn estimated_rows(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Option<u64>, sqlx::Error> {
    let estimate: Option<f64> = sqlx::query_scalar(
        "SELECT c.reltuples::float8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
    )
    .bind(table_schema(table))
    .bind(bare_table_name(table))
    .fetch_optional(conn)
    .await?;
    Ok(estimate.filter(|n| *n >= 1.0).map(|n| n.round() as u64))
}

/// An SQL expression for the bytes of one row of `table` (as `s`), cheap to evaluate: a
/// fixed-width column counts its width, a string or `bytea` its stored length, any other
/// column the length of its text. Turning every row into text to measure it cost as much
/// as the batch's write (benches/README.md).
pub(super) async fn row_size(conn: &mut PgConnection, table: &str) -> Result<String, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.attname::text AS name, t.typlen::int AS width, (t.typcategory = 'S' OR t.typname = 'bytea') AS direct \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid \
         WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(table_schema(table))
    .bind(bare_table_name(table))
    .fetch_all(conn)
    .await?;
    let mut fixed = 0i64;
    let mut terms = Vec::new();
    for r in &rows {
        let (name, width, direct): (String, i32, bool) = (
            r.try_get("name")?,
            r.try_get("width")?,
            r.try_get("direct")?,
        );
        let column = format!("s.{}", quote(&name));
        match (width > 0, direct) {
            (true, _) => fixed += i64::from(width),
            (false, true) => terms.push(format!("coalesce(octet_length({column}), 0)")),
            (false, false) => terms.push(format!("coalesce(octet_length({column}::text), 0)")),
        }
    }
    terms.insert(0, fixed.to_string());
    Ok(terms.join(" + "))
}
