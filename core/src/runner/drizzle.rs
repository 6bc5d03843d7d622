//! A database migrated by drizzle-kit: `drizzle.__drizzle_migrations` holds one row per
//! migration drizzle's migrator applied, with the SHA-256 of the SQL file. After
//! `import drizzle` the same files are this folder's first migrations, so those rows say
//! which of them already ran: they are recorded as applied, never run again.

use super::RunError;
use super::source::LocalMigration;
use sqlx::{PgConnection, Row};

/// The local migrations drizzle's history records as applied, in order. Drizzle applies in
/// journal order, so its rows (by `created_at`, then `id`) must be the folder's first
/// migrations, hash for hash; anything else is history this folder does not explain.
pub(super) async fn applied<'a>(conn: &mut PgConnection, migrations: &'a [LocalMigration], origin: &str) -> Result<Vec<&'a LocalMigration>, RunError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| RunError::db("looking for drizzle's history", e))?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows = sqlx::query("SELECT id::bigint AS id, hash FROM drizzle.__drizzle_migrations ORDER BY created_at NULLS FIRST, id")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| RunError::db("reading drizzle's history", e))?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let id: i64 = row.try_get("id").map_err(|e| RunError::db("reading drizzle's history", e))?;
        let hash: String = row.try_get("hash").map_err(|e| RunError::db("reading drizzle's history", e))?;
        match migrations.get(i) {
            Some(m) if m.hash == hash => out.push(m),
            Some(m) => {
                return Err(RunError::UnknownApplied {
                    origin: origin.to_owned(),
                    tags: vec![format!("drizzle.__drizzle_migrations row {id} (sha256 {hash}), where {} (sha256 {}) was expected: was a drizzle migration edited or left out of the import?", m.tag, m.hash)],
                });
            }
            None => return Err(RunError::UnknownApplied { origin: origin.to_owned(), tags: vec![format!("drizzle.__drizzle_migrations row {id} (sha256 {hash}), beyond the folder's {} migration(s)", migrations.len())] }),
        }
    }
    Ok(out)
}
