//! The bookkeeping tables, all DSQL-legal (no SERIAL, keys inline, each write its own
//! statement):
//!
//! * `<table>`: one row per migration, the recorded state machine (see
//!   [`super::record`]): status, the cursor (statements done), the SHA-256 of every statement
//!   already executed, the failure of a statement, the session running one.
//! * `<table>_lock`: one row, the migration lock: holder, lease expiry and a generation that
//!   grows with every acquisition (the fencing token every write checks).
//! * `<table>_batches`: one row per key range a table recreation's copy has copied, with the
//!   range's row count and checksum as copied, so writes during the copy are found.
//!
//! A database made by an earlier release gets the missing columns and tables on the next
//! `migrate` (bare nullable columns, which DSQL adds); read-only commands read the missing
//! columns as NULL and change nothing.

use crate::runner::source::LocalMigration;
use crate::sql::ident::quote;
use sqlx::{AssertSqlSafe, PgConnection, Row as _};
use std::collections::BTreeSet;

/// Where the runner keeps its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryTable {
    /// Schema (created if missing).
    pub schema: String,
    /// Table name; the lock table is `<table>_lock`, the copy's ranges `<table>_batches`.
    pub table: String,
}

impl Default for HistoryTable {
    fn default() -> Self {
        HistoryTable {
            schema: "tablewright".into(),
            table: "migrations".into(),
        }
    }
}

/// Columns of the history table added after its first release, in the order they were
/// added, with their types.
const ADDED_HISTORY_COLUMNS: [(&str, &str); 7] = [
    ("copy_cursor", "text"),
    ("copied_rows", "bigint"),
    ("statement_hashes", "text"),
    ("error_statement", "integer"),
    ("error_code", "text"),
    ("error_message", "text"),
    ("session", "text"),
];

/// The lock table's column added after its first release.
const LOCK_GENERATION: &str = "generation";

/// A migration's recorded state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Statements before `next_statement` are done; `next_statement` has not started.
    Running,
    /// Statement `next_statement` was sent and its outcome is not recorded: the runner
    /// stopped (crash, lost connection, timeout) before it could tell.
    Executing,
    /// Statement `error_statement` failed (the database said so); nothing of it took effect.
    Failed,
    /// Every statement ran.
    Applied,
    /// Recorded by `mark-applied` without running.
    Marked,
}

impl Status {
    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Executing => "executing",
            Status::Failed => "failed",
            Status::Applied => "applied",
            Status::Marked => "marked",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "applied" => Status::Applied,
            "marked" => Status::Marked,
            "executing" => Status::Executing,
            "failed" => Status::Failed,
            _ => Status::Running,
        }
    }

    /// Done, one way or the other.
    pub(crate) fn is_done(self) -> bool {
        matches!(self, Status::Applied | Status::Marked)
    }
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// Journal tag.
    pub tag: String,
    /// SHA-256 of the file at the last write (for an applied migration: as applied).
    pub hash: String,
    /// Journal `when`.
    pub created_at: i64,
    /// Where the migration stands (the `status` column: `running`, `applied`, ..).
    pub status: Status,
    /// Statements done (the 0-based index of the next one).
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
    /// SHA-256 of each statement executed, in order (for `Executing`, the one in flight
    /// last). `None` for a row written by a release that did not record them.
    pub statement_hashes: Option<Vec<String>>,
    /// For `Failed`: the statement (0-based) that failed.
    pub error_statement: Option<i32>,
    /// For `Failed`: its SQLSTATE.
    pub error_code: Option<String>,
    /// For `Failed`: the database's message.
    pub error_message: Option<String>,
    /// For `Executing` on PostgreSQL: the server session running the statement
    /// (`pid@backend_start`), which a later run waits out before it decides.
    pub session: Option<String>,
}

impl HistoryRow {
    /// Statements done: the 0-based index of the next one (a negative count, which no
    /// release writes, reads as none done).
    pub fn cursor(&self) -> usize {
        usize::try_from(self.next_statement).unwrap_or(0)
    }
}

/// Which bookkeeping a database has, read in one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bookkeeping {
    /// Columns of the history table (empty: no table).
    pub history_columns: BTreeSet<String>,
    /// Columns of the lock table (empty: no table).
    pub lock_columns: BTreeSet<String>,
    /// The batches table exists.
    pub batches: bool,
}

impl Bookkeeping {
    /// The history table exists.
    pub(crate) fn has_history(&self) -> bool {
        !self.history_columns.is_empty()
    }
}

impl HistoryTable {
    /// `"schema"."table"`.
    pub(crate) fn qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table))
    }

    /// `"schema"."table_lock"`.
    pub(crate) fn lock_qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.lock_name()))
    }

    /// `"schema"."table_batches"`.
    pub(crate) fn batches_qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.batches_name()))
    }

    /// The names of the bookkeeping tables, in `schema`.
    pub(crate) fn own_tables(&self) -> [String; 3] {
        crate::project::config::bookkeeping_table_names(&self.table)
    }

    /// The bookkeeping tables as the model names tables (`schema.table` outside `public`), to
    /// leave out of what is read from the catalog.
    pub(crate) fn own_model_names(&self) -> [String; 3] {
        crate::project::config::bookkeeping_tables(&self.schema, &self.table)
    }

    fn lock_name(&self) -> String {
        let [_, lock, _] = self.own_tables();
        lock
    }

    fn batches_name(&self) -> String {
        let [_, _, batches] = self.own_tables();
        batches
    }

    /// Which bookkeeping tables and columns exist (catalog joins by name only: nothing
    /// DSQL does not document).
    pub async fn bookkeeping(&self, conn: &mut PgConnection) -> Result<Bookkeeping, sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.relname::text, a.attname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE n.nspname = $1 AND c.relname IN ($2, $3, $4)",
        )
        .bind(&self.schema)
        .bind(&self.table)
        .bind(self.lock_name())
        .bind(self.batches_name())
        .fetch_all(conn)
        .await?;
        let mut found = Bookkeeping::default();
        for (table, column) in rows {
            if table == self.table {
                found.history_columns.insert(column);
            } else if table == self.lock_name() {
                found.lock_columns.insert(column);
            } else {
                found.batches = true;
            }
        }
        Ok(found)
    }

    /// The statements that bring the bookkeeping up to date, each its own transaction on
    /// DSQL: the schema and tables if missing, and the columns earlier releases lacked.
    pub(crate) fn setup_statements(&self, found: &Bookkeeping) -> Vec<String> {
        let mut out = Vec::new();
        if !found.has_history() || found.lock_columns.is_empty() || !found.batches {
            out.push(format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote(&self.schema)
            ));
        }
        if !found.has_history() {
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {} (\n\t\"tag\" text NOT NULL,\n\t\"hash\" text NOT NULL,\n\t\"created_at\" bigint NOT NULL,\n\t\"status\" text NOT NULL,\n\t\
                 \"next_statement\" integer NOT NULL,\n\t\"statements\" integer NOT NULL,\n\t\"started_at\" timestamp with time zone DEFAULT now() NOT NULL,\n\t\
                 \"applied_at\" timestamp with time zone,\n\t{},\n\tCONSTRAINT {} PRIMARY KEY (\"tag\")\n)",
                self.qualified(),
                ADDED_HISTORY_COLUMNS.iter().map(|(c, t)| format!("{} {t}", quote(c))).collect::<Vec<_>>().join(",\n\t"),
                quote(&format!("{}_pkey", self.table))
            ));
        } else {
            for (column, sql_type) in ADDED_HISTORY_COLUMNS
                .iter()
                .filter(|(c, _)| !found.history_columns.contains(*c))
            {
                out.push(format!(
                    "ALTER TABLE {} ADD COLUMN {} {sql_type}",
                    self.qualified(),
                    quote(column)
                ));
            }
        }
        if found.lock_columns.is_empty() {
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {} (\n\t\"id\" text NOT NULL,\n\t\"holder\" text NOT NULL,\n\t\"acquired_at\" timestamp with time zone NOT NULL,\n\t\
                 \"expires_at\" timestamp with time zone NOT NULL,\n\t\"generation\" bigint,\n\tCONSTRAINT {} PRIMARY KEY (\"id\")\n)",
                self.lock_qualified(),
                quote(&format!("{}_pkey", self.lock_name()))
            ));
        } else if !found.lock_columns.contains(LOCK_GENERATION) {
            out.push(format!(
                "ALTER TABLE {} ADD COLUMN {} bigint",
                self.lock_qualified(),
                quote(LOCK_GENERATION)
            ));
        }
        if !found.batches {
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {} (\n\t\"tag\" text NOT NULL,\n\t\"statement\" integer NOT NULL,\n\t\"id\" text NOT NULL,\n\t\"lower_key\" text,\n\t\
                 \"upper_key\" text NOT NULL,\n\t\"row_count\" bigint NOT NULL,\n\t\"checksum\" text NOT NULL,\n\t\"recopy_cursor\" text,\n\t\
                 CONSTRAINT {} PRIMARY KEY (\"tag\", \"id\")\n)",
                self.batches_qualified(),
                quote(&format!("{}_pkey", self.batches_name()))
            ));
        }
        out
    }

    /// Every row, in tag order. Columns an earlier release did not have read as NULL.
    pub async fn rows(
        &self,
        conn: &mut PgConnection,
        found: &Bookkeeping,
    ) -> Result<Vec<HistoryRow>, sqlx::Error> {
        let optional = ADDED_HISTORY_COLUMNS
            .iter()
            .map(|(c, t)| {
                if found.history_columns.contains(*c) {
                    quote(c)
                } else {
                    format!("NULL::{t} AS {}", quote(c))
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT tag, hash, created_at, status, next_statement, statements, applied_at::text AS applied_at, {optional} FROM {} ORDER BY tag",
            self.qualified()
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(conn).await?;
        rows.iter().map(read_row).collect()
    }

    /// One row, with every column of the current release (after `Self::setup_statements`).
    pub async fn row(
        &self,
        conn: &mut PgConnection,
        tag: &str,
    ) -> Result<Option<HistoryRow>, sqlx::Error> {
        let columns = ADDED_HISTORY_COLUMNS
            .iter()
            .map(|(c, _)| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT tag, hash, created_at, status, next_statement, statements, applied_at::text AS applied_at, {columns} FROM {} WHERE tag = $1",
            self.qualified()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(tag)
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(read_row).transpose()
    }
}

fn read_row(r: &sqlx::postgres::PgRow) -> Result<HistoryRow, sqlx::Error> {
    let hashes: Option<String> = r.try_get("statement_hashes")?;
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
        statement_hashes: hashes
            .map(|h| serde_json::from_str(&h).map_err(|e| sqlx::Error::Decode(Box::new(e))))
            .transpose()?,
        error_statement: r.try_get("error_statement")?,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        session: r.try_get("session")?,
    })
}

/// SHA-256 of each statement, as the history records them.
pub fn statement_hashes(m: &LocalMigration) -> Vec<String> {
    m.statements
        .iter()
        .map(|s| crate::project::hash::sha256_hex(s.as_bytes()))
        .collect()
}
