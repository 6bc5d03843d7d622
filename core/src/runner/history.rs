//! The history table (one row per migration, with a per-statement cursor) and the lock
//! table, both DSQL-legal: no SERIAL, keys inline, each write its own statement.

use super::source::LocalMigration;
use crate::plan::quote;
use sqlx::{AssertSqlSafe, PgConnection, Row as _};

/// Where the runner keeps its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryTable {
    /// Schema (created if missing).
    pub schema: String,
    /// Table name; the lock table is `<table>_lock`.
    pub table: String,
}

impl Default for HistoryTable {
    fn default() -> Self {
        HistoryTable { schema: "tablewright".into(), table: "migrations".into() }
    }
}

/// The history table's columns for a directive's batch progress, in the order they were
/// added; a table made by a release before them gets them on the next `migrate`.
const BATCH_COLUMNS: [(&str, &str); 2] = [("copy_cursor", "text"), ("copied_rows", "bigint")];

/// Which bookkeeping a database has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bookkeeping {
    /// The history table exists.
    pub history: bool,
    /// The lock table exists.
    pub lock: bool,
    /// The history table has [`BATCH_COLUMNS`].
    pub batch_columns: bool,
}

/// A migration's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Started; `next_statement` says where it stands.
    Running,
    /// Every statement ran.
    Applied,
    /// Recorded by `mark-applied` without running.
    Marked,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Applied => "applied",
            Status::Marked => "marked",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "applied" => Status::Applied,
            "marked" => Status::Marked,
            _ => Status::Running,
        }
    }

    /// Done, one way or the other.
    pub fn is_done(self) -> bool {
        self != Status::Running
    }
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// Journal tag.
    pub tag: String,
    /// SHA-256 of the file when it was applied.
    pub hash: String,
    /// Journal `when`.
    pub created_at: i64,
    /// State.
    pub status: Status,
    /// Index of the next statement to run.
    pub next_statement: i32,
    /// Statements in the migration.
    pub statements: i32,
    /// When it finished, as text (for display).
    pub applied_at: Option<String>,
    /// Within a batched directive at `next_statement` (a copy or a backfill; the column
    /// names date from when copies were the only kind): the key of the last row done (a
    /// JSON array of the key's values as text).
    pub copy_cursor: Option<String>,
    /// Within a batched directive: rows copied or filled so far.
    pub copied_rows: Option<i64>,
}

impl HistoryTable {
    /// `"schema"."table"`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table))
    }

    /// `"schema"."table_lock"`.
    pub fn lock_qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&format!("{}_lock", self.table)))
    }

    /// The statements that create the bookkeeping, each its own transaction on DSQL.
    pub fn create_statements(&self) -> Vec<String> {
        vec![
            format!("CREATE SCHEMA IF NOT EXISTS {}", quote(&self.schema)),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n\t\"tag\" text NOT NULL,\n\t\"hash\" text NOT NULL,\n\t\"created_at\" bigint NOT NULL,\n\t\"status\" text NOT NULL,\n\t\"next_statement\" integer NOT NULL,\n\t\"statements\" integer NOT NULL,\n\t\"started_at\" timestamp with time zone DEFAULT now() NOT NULL,\n\t\"applied_at\" timestamp with time zone,\n\t\"copy_cursor\" text,\n\t\"copied_rows\" bigint,\n\tCONSTRAINT {} PRIMARY KEY (\"tag\")\n)",
                self.qualified(),
                quote(&format!("{}_pkey", self.table))
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n\t\"id\" text NOT NULL,\n\t\"holder\" text NOT NULL,\n\t\"acquired_at\" timestamp with time zone NOT NULL,\n\t\"expires_at\" timestamp with time zone NOT NULL,\n\tCONSTRAINT {} PRIMARY KEY (\"id\")\n)",
                self.lock_qualified(),
                quote(&format!("{}_lock_pkey", self.table))
            ),
        ]
    }

    /// Which bookkeeping the database has, in one read.
    pub async fn bookkeeping(&self, conn: &mut PgConnection) -> Result<Bookkeeping, sqlx::Error> {
        let (history, lock, batch_columns): (bool, bool, bool) = sqlx::query_as(
            "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL, \
             EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $3 AND NOT attisdropped)",
        )
        .bind(self.qualified())
        .bind(self.lock_qualified())
        .bind(BATCH_COLUMNS[BATCH_COLUMNS.len() - 1].0)
        .fetch_one(conn)
        .await?;
        Ok(Bookkeeping { history, lock, batch_columns })
    }

    /// What a history table made before the batch columns existed lacks, one statement
    /// each (each its own transaction on DSQL; bare nullable columns, which DSQL adds).
    pub fn upgrade_statements(&self) -> Vec<String> {
        BATCH_COLUMNS.iter().map(|(name, sql_type)| format!("ALTER TABLE {} ADD COLUMN {} {sql_type}", self.qualified(), quote(name))).collect()
    }

    /// Every row, in tag order. Without `batch_columns` (a table not yet upgraded, read
    /// by a read-only command) the batch progress reads as absent.
    pub async fn rows(&self, conn: &mut PgConnection, batch_columns: bool) -> Result<Vec<HistoryRow>, sqlx::Error> {
        let batch = if batch_columns { "copy_cursor, copied_rows" } else { "NULL::text AS copy_cursor, NULL::bigint AS copied_rows" };
        let sql = format!(
            "SELECT tag, hash, created_at, status, next_statement, statements, applied_at::text AS applied_at, {batch} FROM {} ORDER BY tag",
            self.qualified()
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(conn).await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryRow {
                    tag: r.try_get("tag")?,
                    hash: r.try_get("hash")?,
                    created_at: r.try_get("created_at")?,
                    status: Status::parse(&r.try_get::<String, _>("status")?),
                    next_statement: r.try_get("next_statement")?,
                    statements: r.try_get("statements")?,
                    applied_at: r.try_get("applied_at")?,
                    copy_cursor: r.try_get("copy_cursor")?,
                    copied_rows: r.try_get("copied_rows")?,
                })
            })
            .collect()
    }

    /// Records progress: inserts the row or moves its cursor (one statement, so one
    /// transaction on DSQL, or part of the caller's transaction on PostgreSQL).
    pub async fn record(&self, conn: &mut PgConnection, m: &LocalMigration, status: Status, next: usize) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO {t} (tag, hash, created_at, status, next_statement, statements, applied_at) \
             VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 = 'running' THEN NULL ELSE now() END) \
             ON CONFLICT (tag) DO UPDATE SET hash = EXCLUDED.hash, status = EXCLUDED.status, \
             next_statement = EXCLUDED.next_statement, statements = EXCLUDED.statements, applied_at = EXCLUDED.applied_at, \
             copy_cursor = NULL, copied_rows = NULL",
            t = self.qualified()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&m.tag)
            .bind(&m.hash)
            .bind(m.when)
            .bind(status.as_str())
            .bind(next as i32)
            .bind(m.statements.len() as i32)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The same as [`HistoryTable::record`], as literal SQL, to send inside a PostgreSQL
    /// migration's own transaction in one round trip. Values are validated or escaped.
    pub fn record_literal(&self, m: &LocalMigration, status: Status, next: usize) -> String {
        let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let applied = if status == Status::Running { "NULL" } else { "now()" };
        format!(
            "INSERT INTO {t} (tag, hash, created_at, status, next_statement, statements, applied_at) \
             VALUES ({}, {}, {}, {}, {next}, {}, {applied}) \
             ON CONFLICT (tag) DO UPDATE SET hash = EXCLUDED.hash, status = EXCLUDED.status, \
             next_statement = EXCLUDED.next_statement, statements = EXCLUDED.statements, applied_at = EXCLUDED.applied_at, \
             copy_cursor = NULL, copied_rows = NULL",
            lit(&m.tag),
            lit(&m.hash),
            m.when,
            lit(status.as_str()),
            m.statements.len(),
            t = self.qualified()
        )
    }

    /// A batch's progress, written in the batch's own transaction so that the rows and the
    /// cursor commit together.
    pub async fn record_batch(&self, conn: &mut PgConnection, tag: &str, cursor: &str, rows: i64) -> Result<(), sqlx::Error> {
        let sql = format!("UPDATE {} SET copy_cursor = $1, copied_rows = coalesce(copied_rows, 0) + $2 WHERE tag = $3", self.qualified());
        sqlx::query(AssertSqlSafe(sql)).bind(cursor).bind(rows).bind(tag).execute(conn).await?;
        Ok(())
    }

    /// Moves the migration's cursor back to statement `next` (0-based) and forgets any
    /// batch progress: the run that follows starts over there.
    pub async fn rewind(&self, conn: &mut PgConnection, tag: &str, next: usize) -> Result<(), sqlx::Error> {
        let sql = format!("UPDATE {} SET copy_cursor = NULL, copied_rows = NULL, next_statement = $1 WHERE tag = $2", self.qualified());
        sqlx::query(AssertSqlSafe(sql)).bind(next as i32).bind(tag).execute(conn).await?;
        Ok(())
    }

    /// Deletes every row except `keep` (for `mark-applied --reset`), in batches that stay
    /// under DSQL's 3,000-row limit.
    pub async fn delete_all_but(&self, conn: &mut PgConnection, keep: &str) -> Result<u64, sqlx::Error> {
        let sql = format!(
            "DELETE FROM {t} WHERE tag IN (SELECT tag FROM {t} WHERE tag <> $1 ORDER BY tag LIMIT 1000)",
            t = self.qualified()
        );
        let mut total = 0;
        loop {
            let n = sqlx::query(AssertSqlSafe(sql.clone())).bind(keep).execute(&mut *conn).await?.rows_affected();
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }
}
