//! A database migrated by drizzle-kit, for a folder `import drizzle` made: drizzle's
//! migrator kept one row per migration it applied, with the SHA-256 of the SQL file, in
//! the table the journal names (`importedFrom.history`). The same files are this folder's
//! first migrations, so those rows say which of them already ran: they are recorded as
//! applied, never run again. Only an imported folder reads drizzle's table; a squash
//! drops the mark, and `push`, `clone` and `verify` never read it.

use super::RunError;
use super::history::{HistoryRow, Status};
use super::source::{DrizzleHistory, LocalMigration};
use crate::sql::ident::quote;
use sqlx::{AssertSqlSafe, PgConnection, Row};

const TABLE_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)";

/// Whether the database holds tables other than `own` (this tool's bookkeeping, named
/// as the model names tables) outside PostgreSQL's own schemas and drizzle's history
/// schema (`$2`).
const OTHER_TABLES: &str = "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                          WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'sys') AND n.nspname NOT LIKE 'pg\\_%'
                                            AND n.nspname <> $2
                                            AND NOT (CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END) = ANY($1))";

/// The migrations drizzle applied that `rows` (this history) has no row for, in order:
/// what the next run records as applied. Refused, as history the folder does not explain:
/// drizzle rows that are not the folder's first migrations hash for hash; a migration
/// drizzle applied that this history has in another state; and a database with tables
/// but no drizzle table where the journal says, or an empty one (its history may live
/// elsewhere, and running the folder from the start would repeat it).
pub(super) async fn to_adopt<'a>(conn: &mut PgConnection, drizzle: &DrizzleHistory, migrations: &'a [LocalMigration], rows: &[HistoryRow], own_tables: &[String], origin: &str) -> Result<Vec<&'a LocalMigration>, RunError> {
    let unknown = |what: String| RunError::UnknownApplied { origin: origin.to_owned(), tags: vec![what] };
    let table = format!("{}.{}", drizzle.schema, drizzle.table);
    let exists: bool = sqlx::query_scalar(TABLE_EXISTS).bind(&drizzle.schema).bind(&drizzle.table).fetch_one(&mut *conn).await.map_err(|e| RunError::db("looking for drizzle's history", e))?;
    let found = if exists {
        let sql = format!("SELECT id::bigint AS id, hash FROM {}.{} ORDER BY id", quote(&drizzle.schema), quote(&drizzle.table));
        sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await.map_err(|e| RunError::db("reading drizzle's history", e))?
    } else {
        Vec::new()
    };
    // Tables but no record of how they came: neither history says, so nothing may run.
    if found.is_empty() && rows.is_empty() {
        let others: bool = sqlx::query_scalar(OTHER_TABLES).bind(own_tables).bind(&drizzle.schema).fetch_one(&mut *conn).await.map_err(|e| RunError::db("looking for tables", e))?;
        if others {
            let where_ = if exists { format!("an empty drizzle history at {table}") } else { format!("no drizzle history at {table}, where the journal's importedFrom says it is") };
            return Err(unknown(format!(
                "tables, but {where_}: if drizzle-kit migrated this database, set importedFrom.history in the journal to the table its migrator used (migrationsSchema.migrationsTable); otherwise record what it has applied with `tablewright mark-applied`"
            )));
        }
    }
    let mut out = Vec::new();
    for (i, row) in found.iter().enumerate() {
        let id: i64 = row.try_get("id").map_err(|e| RunError::db("reading drizzle's history", e))?;
        let hash: String = row.try_get("hash").map_err(|e| RunError::db("reading drizzle's history", e))?;
        let Some(m) = migrations.get(i) else {
            return Err(unknown(format!("{table} row {id} (sha256 {hash}), beyond the folder's {} migration(s)", migrations.len())));
        };
        if m.hash != hash && drizzle.raw_hashes.get(i) != Some(&hash) {
            return Err(unknown(format!("{table} row {id} (sha256 {hash}), where {} (sha256 {}) was expected: was a drizzle migration edited or left out of the import?", m.tag, m.hash)));
        }
        match rows.iter().find(|r| r.tag == m.tag) {
            None => out.push(m),
            Some(r) if matches!(r.status, Status::Applied | Status::Marked) => {}
            Some(r) => {
                return Err(unknown(format!(
                    "{}: drizzle-kit applied it ({table} row {id}), but this history has it {:?}; once you know which is right, record it with `tablewright mark-applied --file {}`",
                    m.tag, r.status, m.tag
                )));
            }
        }
    }
    Ok(out)
}
