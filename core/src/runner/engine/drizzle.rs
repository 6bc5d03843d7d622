//! A database migrated by drizzle-kit, for a folder `import drizzle` made: drizzle's
//! migrator kept one row per migration it applied, with the SHA-256 of the SQL file, in
//! the table the journal names (`importedFrom.history`). The same files are this folder's
//! first migrations, so those rows, matched by hash, say which of them already ran: they
//! are recorded as applied, never run again. Only an imported folder reads drizzle's table; a squash
//! drops the mark; `push` and `clone` never read it, and in the scratch databases of
//! `verify`, `drift` and `import` it is never there.

use super::history::{HistoryRow, Status};
use crate::runner::base::error::RunError;
use crate::runner::source::{DrizzleHistory, LocalMigration};
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
/// what the next run records as applied. drizzle's rows are matched to the folder's
/// migrations by hash (and `created_at`, its record of the journal's `when`), as a set:
/// its migrator skipped a migration whose `when` was older than the newest row's, so a
/// database it upgraded twice can lack one in the middle, which runs only when named in
/// `run_skipped` (else it is refused: it may have been applied by hand). Refused, as
/// history the folder does not explain:
/// a drizzle row whose hash is no migration of the folder; a migration drizzle applied
/// that this history has in another state; and a database with tables but no drizzle
/// table where the journal says, or an empty one (its history may live elsewhere, and
/// running the folder from the start would repeat it).
pub(super) async fn to_adopt<'a>(
    conn: &mut PgConnection,
    drizzle: &DrizzleHistory,
    migrations: &'a [LocalMigration],
    rows: &[HistoryRow],
    own_tables: &[String],
    run_skipped: &[String],
) -> Result<Vec<&'a LocalMigration>, RunError> {
    let table = format!("{}.{}", drizzle.schema, drizzle.table);
    let refuse = |message: String| RunError::DrizzleHistory {
        table: table.clone(),
        message,
    };
    let exists: bool = sqlx::query_scalar(TABLE_EXISTS)
        .bind(&drizzle.schema)
        .bind(&drizzle.table)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| RunError::db("looking for drizzle's history", e))?;
    let found = if exists {
        let sql = format!(
            "SELECT id::bigint AS id, hash, created_at::bigint AS created_at FROM {}.{} ORDER BY id",
            quote(&drizzle.schema),
            quote(&drizzle.table)
        );
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| RunError::db("reading drizzle's history", e))?
    } else {
        Vec::new()
    };
    // Tables but no record of how they came: neither history says, so nothing may run.
    if found.is_empty() && rows.is_empty() {
        let others: bool = sqlx::query_scalar(OTHER_TABLES)
            .bind(own_tables)
            .bind(&drizzle.schema)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| RunError::db("looking for tables", e))?;
        if others {
            let what = if exists { "is empty" } else { "is not there" };
            return Err(refuse(format!(
                "the database has tables, but drizzle's history {what}, so nothing says which migrations made them and running the folder from the start could repeat them. \
                 If drizzle-kit's migrator kept its history elsewhere (migrationsSchema, migrationsTable), import again with --drizzle-history schema.table; \
                 otherwise record what the database has with `tablewright mark-applied`"
            )));
        }
    }
    // Only the folder's first migrations came from drizzle-kit (`raw_hashes` has one each).
    let imported = drizzle.raw_hashes.len().min(migrations.len());
    let mut matched = vec![false; imported];
    for row in &found {
        let id: i64 = row
            .try_get("id")
            .map_err(|e| RunError::db("reading drizzle's history", e))?;
        let hash: String = row
            .try_get("hash")
            .map_err(|e| RunError::db("reading drizzle's history", e))?;
        let created_at: Option<i64> = row
            .try_get("created_at")
            .map_err(|e| RunError::db("reading drizzle's history", e))?;
        let same =
            |i: usize| !matched[i] && (migrations[i].hash == hash || drizzle.raw_hashes[i] == hash);
        // drizzle records the journal's `when` as `created_at`: it tells apart two files
        // of the same bytes; the hash alone decides where it does not match.
        let exact = (0..imported).find(|&i| same(i) && created_at == Some(migrations[i].when));
        let Some(i) = exact.or_else(|| (0..imported).find(|&i| same(i))) else {
            return Err(refuse(format!(
                "row {id} holds sha256 {hash}, which is no migration of the folder (a drizzle migration edited after it ran, or one left out of the import): restore the file as it was when drizzle applied it, or import the folder drizzle ran from"
            )));
        };
        matched[i] = true;
    }
    // A migration drizzle has no row for, before one it has: its migrator skipped it (its
    // `when` older than the newest row's), or someone applied it by hand. Only the
    // operator knows which.
    let last = matched.iter().rposition(|m| *m);
    for (i, m) in migrations.iter().enumerate().take(imported) {
        if !matched[i]
            && last.is_some_and(|last| i < last)
            && !run_skipped.contains(&m.tag)
            && !rows.iter().any(|r| r.tag == m.tag)
        {
            return Err(refuse(format!(
                "{tag} has no row, though migrations after it do: drizzle's migrator skips a migration whose `when` is older than the newest row's. \
                 If it never ran, run it now with `tablewright migrate --run-skipped {tag}`; if it was applied by hand, record it with `tablewright mark-applied --file {tag}`",
                tag = m.tag
            )));
        }
    }
    let mut out = Vec::new();
    for (m, _) in migrations
        .iter()
        .zip(&matched)
        .filter(|(_, matched)| **matched)
    {
        match rows.iter().find(|r| r.tag == m.tag) {
            None => out.push(m),
            Some(r) if matches!(r.status, Status::Applied | Status::Marked) => {}
            Some(r) => {
                return Err(refuse(format!(
                    "{}: drizzle-kit applied it, but this history has it {:?}; once you know which is right, record it with `tablewright mark-applied --file {}`",
                    m.tag, r.status, m.tag
                )));
            }
        }
    }
    Ok(out)
}
