//! `drift`: a live database compared with what its applied migrations make, and with the
//! permissions file, reading only.
//!
//! The expected side is not the snapshot as this tool spells it but the applied migrations
//! replayed, under the target's rules, into a scratch database on a PostgreSQL server, and
//! read back from its catalog ([`super::scratch`]). Both sides are then spelled by the
//! server (`nextval('"apiKey_id_seq"'::regclass)`, `'tp_'::text`, names as PostgreSQL
//! truncated or folded them), so one comparison ([`compare::catalog_differences`]) can be
//! exact: a CHECK redefined under its name, a key made `NOT VALID` or `DEFERRABLE`, an
//! operator class, row-level security, a policy, a trigger, a view or function the
//! migrations do not make are all seen, and a freshly migrated database shows nothing.
//! (Normalising each expression through the live server instead would need objects made
//! on it; a read-only command makes none.) The tool's own tables are not compared.

use super::RunError;
use super::history::HistoryTable;
use super::introspect::Introspected;
use super::permissions::{self, Excess, Gap, Membership};
use super::scratch;
use super::target::{Connector, Target};
use super::{MigrationSet, Migrator, MigratorOptions};
use crate::compile::permissions::Statement;
use crate::schema::compare::{self, Difference};
use serde::Serialize;

/// What `drift` found.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DriftReport {
    /// How the database differs from what its migrations make; empty when it agrees.
    pub differences: Vec<Difference>,
    /// Tables the migrations make.
    pub tables: usize,
    /// Declared grants checked (none without a permissions file).
    pub grants_checked: usize,
    /// Declared grants the database lacks.
    pub missing_grants: Vec<Gap>,
    /// Privileges of the roles the permissions file manages that no handler declares.
    pub excess_grants: Vec<Excess>,
    /// Managed roles made members of other roles.
    pub memberships: Vec<Membership>,
    /// What the model cannot hold, so what was compared only as the catalog prints it.
    pub not_compared: Vec<String>,
}

impl DriftReport {
    /// True when the database is as its migrations and the permissions file say.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty() && self.missing_grants.is_empty() && self.excess_grants.is_empty() && self.memberships.is_empty()
    }
}

/// Compares the database behind `connector` with `applied` (the migrations it has applied,
/// in order) replayed into a scratch database on the server at `scratch_admin_url`, and
/// the grants of the permissions file (`(file name, statements)`) with the catalog's.
/// When `stop` completes first, the replay is abandoned and the scratch database dropped.
pub async fn drift(
    connector: &Connector,
    applied: MigrationSet,
    scratch_admin_url: &str,
    history: &HistoryTable,
    permissions: Option<(&str, &[Statement])>,
    stop: impl Future<Output = ()>,
) -> Result<DriftReport, RunError> {
    let dsql = connector.target().dsql_rules();
    let (_, (expected, namespaces)) = scratch::with_scratch_database(scratch_admin_url, "drift", stop, async |url: &str| {
        let target = if dsql { Target::DsqlEmulated { url: url.to_owned() } } else { Target::Postgres { url: url.to_owned() } };
        if !applied.migrations.is_empty() {
            let options = MigratorOptions { lock: false, history: history.clone(), ..MigratorOptions::default() };
            Migrator::new(target, applied, options).await?.run(&|_| {}).await?;
        }
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.map_err(|e| RunError::Connect { target: super::redact_url(url), source: e })?;
        let namespaces = scratch::application_namespaces(&mut conn, history).await?;
        let found = scratch::read_schemas(&mut conn, &namespaces, history).await?;
        let _ = sqlx::Connection::close(conn).await;
        Ok((found, namespaces))
    })
    .await?;
    let mut conn = connector.connect().await?;
    let found = scratch::read_schemas(conn.pg(), &namespaces, history).await?;
    let mut differences = compare::catalog_differences(&expected.schema, &expected.text, &found.schema, &found.text);
    differences.extend(found.invalid_indexes.iter().map(|index| Difference::InvalidIndex { index: index.clone() }));
    differences.extend(owners(conn.pg(), &found, history).await?);
    let mut not_compared: Vec<String> = found.unmodelled.iter().filter(|u| !u.is_compared()).map(|u| u.note.clone()).collect();
    not_compared.sort();
    not_compared.dedup();
    let grants = match permissions {
        Some((file, statements)) => permissions::inspect(&mut conn, file, statements).await?,
        None => Default::default(),
    };
    conn.close().await;
    Ok(DriftReport { differences, tables: expected.schema.tables.len(), grants_checked: grants.checked, missing_grants: grants.gaps, excess_grants: grants.excess, memberships: grants.memberships, not_compared })
}

/// Managed tables owned by another role than the one that owns the history (the role
/// migrations run as): a table handed to someone else by hand. Nothing is said when the
/// history is not there to ask.
async fn owners(conn: &mut sqlx::PgConnection, found: &Introspected, history: &HistoryTable) -> Result<Vec<Difference>, RunError> {
    let owner: Option<String> = sqlx::query_scalar(
        "SELECT pg_get_userbyid(c.relowner)::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
    )
    .bind(&history.schema)
    .bind(&history.table)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| RunError::db("reading the history's owner", e))?;
    let Some(expected) = owner else { return Ok(Vec::new()) };
    Ok(found
        .owners
        .iter()
        .filter(|(table, owner)| **owner != expected && found.schema.tables.contains_key(*table))
        .map(|(table, owner)| Difference::Owner { table: table.clone(), expected: expected.clone(), found: owner.clone() })
        .collect())
}

