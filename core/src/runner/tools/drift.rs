//! `drift`: a live database compared with what its applied migrations make, and with the
//! permissions file, reading only.
//!
//! The expected side is not the snapshot as this tool spells it but the applied migrations
//! replayed, under the dialect's rules, into a scratch database on a PostgreSQL server, and
//! read back from its catalog ([`super::scratch`]). Both sides are then spelled by the
//! server (`nextval('"apiKey_id_seq"'::regclass)`, `'tp_'::text`, names as PostgreSQL
//! truncated or folded them), so one comparison ([`compare::catalog_differences`]) can be
//! exact: a CHECK redefined under its name, a key made `NOT VALID` or `DEFERRABLE`, an
//! operator class, row-level security, a policy, a trigger, a view or function the
//! migrations do not make are all seen, and a freshly migrated database shows nothing.
//! (Normalising each expression through the live server instead would need objects made
//! on it; a read-only command makes none.) The tool's own tables are not compared.

use super::introspect::Introspected;
use super::scratch;
use crate::compile::permissions::Statement;
use crate::runner::base::error::RunError;
use crate::runner::base::target::{Connector, Target};
use crate::runner::engine::history::HistoryTable;
use crate::runner::engine::permissions::{self, Excess, Gap, Membership};
use crate::runner::{engine::Migrator, engine::MigratorOptions, source::MigrationSet};
use crate::schema::compare::{self, Difference};
use crate::schema::model::Schema;
use serde::Serialize;

/// What `drift` found.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Drift {
    /// How the database differs from what its migrations make; empty when it agrees.
    pub differences: Vec<Difference>,
    /// Tables the migrations make.
    pub tables: usize,
    /// What the database was compared with.
    pub compared_with: ComparedWith,
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

/// What `drift` compared the database with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComparedWith {
    /// The applied migrations replayed in a scratch database: catalog with catalog.
    #[default]
    Migrations,
    /// The snapshot, in the model's terms, because the migrations did not replay on an
    /// empty database (the notes say why): validity, row-level security, triggers and
    /// owners unseen.
    Snapshot,
}

impl Drift {
    /// True when the database is as its migrations and the permissions file say.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
            && self.missing_grants.is_empty()
            && self.excess_grants.is_empty()
            && self.memberships.is_empty()
    }
}

/// Compares the database behind `connector` with `applied` (the migrations it has applied,
/// in order, written for `dialect`) replayed into a scratch database on the server at
/// `scratch_admin_url`, and the grants of the permissions file (`(file name, statements)`)
/// with the catalog's. When the applied migrations do not replay on an empty database (a
/// SERIAL's sequence that no migration creates, after `pull` and `mark-applied`), the
/// database is compared with `snapshot` instead, in the model's terms, and the report says
/// so. When `stop` completes first, the replay is abandoned and the scratch database dropped.
#[allow(clippy::too_many_arguments)] // each is one of drift's inputs, none travels with another
pub async fn drift(
    connector: &Connector,
    dialect: crate::dialect::Dialect,
    applied: MigrationSet,
    snapshot: &Schema,
    scratch_admin_url: &str,
    history: &HistoryTable,
    permissions: Option<(&str, &[Statement])>,
    stop: impl Future<Output = ()>,
) -> Result<Drift, RunError> {
    // The migrations were written for `dialect`: replayed under its rules, whichever
    // rules the target is read under.
    let rules = if connector.target().dsql_rules() {
        crate::dialect::Dialect::Dsql
    } else {
        dialect
    };
    let replayed =
        scratch::with_scratch_database(scratch_admin_url, "drift", stop, async |url: &str| {
            let target = Target::emulating(rules, url);
            if !applied.migrations.is_empty() {
                let options = MigratorOptions {
                    lock: false,
                    history: history.clone(),
                    ..MigratorOptions::default()
                };
                match Migrator::new(target, applied, options)
                    .await?
                    .run(&|_| {})
                    .await
                {
                    Ok(_) => {}
                    // A statement the scratch server refuses (a SERIAL's sequence no migration
                    // creates, a role or schema the platform provides) or the runner refuses.
                    Err(RunError::Statement {
                        tag,
                        number,
                        source,
                        ..
                    }) => {
                        return Ok(Err(format!(
                            "{tag}: statement {number} failed: {}",
                            crate::error::printable(&source.to_string())
                        )));
                    }
                    Err(RunError::Refused {
                        tag,
                        number,
                        reason,
                        ..
                    }) => {
                        return Ok(Err(format!(
                            "{tag}: statement {number} is refused: {}",
                            crate::error::printable(&reason)
                        )));
                    }
                    Err(e) => return Err(e),
                }
            }
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .map_err(|e| RunError::Connect {
                    target: crate::runner::base::target::redact_url(url),
                    source: e,
                })?;
            let namespaces = scratch::application_namespaces(&mut conn, history).await?;
            let found = scratch::read_schemas(&mut conn, &namespaces, history).await?;
            let version: i32 =
                sqlx::query_scalar("SELECT current_setting('server_version_num')::int / 10000")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| RunError::db("reading the scratch server's version", e))?;
            let runner = history_owner(&mut conn, history).await?;
            let _ = sqlx::Connection::close(conn).await;
            Ok(Ok((found, namespaces, version, runner)))
        })
        .await?
        .1;
    let mut conn = connector.connect().await?;
    let mut notes = Vec::new();
    let (mut differences, expected_tables, found, compared_with) = match replayed {
        Ok((expected, scratch_namespaces, scratch_version, scratch_runner)) => {
            // The live side's own schemas too: a table in a schema no migration makes is drift.
            let mut namespaces = scratch::application_namespaces(conn.pg(), history).await?;
            namespaces.extend(scratch_namespaces);
            namespaces.sort();
            namespaces.dedup();
            let found = scratch::read_schemas(conn.pg(), &namespaces, history).await?;
            let version: Option<i32> =
                sqlx::query_scalar("SELECT current_setting('server_version_num')::int / 10000")
                    .fetch_one(conn.pg())
                    .await
                    .ok();
            if version.is_some_and(|v| v != scratch_version) {
                notes.push(format!(
                    "the migrations were replayed on PostgreSQL {scratch_version} and the database runs {}: text the server prints (expressions, views, functions) can differ between versions; give --scratch a server of the same version",
                    version.unwrap_or_default()
                ));
            }
            let mut differences = Vec::new();
            for d in compare::catalog_differences(
                &expected.schema,
                &expected.text,
                &found.schema,
                &found.text,
            ) {
                match d {
                    // A view, function, sequence or extension only the database has is not
                    // the migrations' and touches no table they make: listed, left alone.
                    // (A view is said so already, as what is not a table.)
                    Difference::Beside {
                        object: compare::BesideKind::View,
                        table: None,
                        expected: None,
                        ..
                    } => {}
                    Difference::Beside {
                        object,
                        table: None,
                        name,
                        expected: None,
                        found: Some(definition),
                    } => {
                        notes.push(format!(
                            "{object} `{name}` ({}) is not made by the migrations; left alone",
                            compare::one_line(&definition)
                        ));
                    }
                    d => differences.push(d),
                }
            }
            if let Some(runner) = history_owner(conn.pg(), history).await? {
                differences.extend(owners(
                    &expected,
                    &found,
                    scratch_runner.as_deref(),
                    &runner,
                ));
            }
            (
                differences,
                expected.schema.tables.len(),
                found,
                ComparedWith::Migrations,
            )
        }
        Err(failure) => {
            let expected = crate::compile::lower::for_dialect(snapshot, dialect);
            let found = scratch::read_schemas(conn.pg(), &expected.namespaces(), history).await?;
            notes.push(format!(
                "the applied migrations do not replay on an empty database ({failure}), so the database was compared with the snapshot, which sees less (no validity, row-level security, triggers or owners)"
            ));
            (
                compare::differences(&expected, &found.schema),
                expected.tables.len(),
                found,
                ComparedWith::Snapshot,
            )
        }
    };
    differences.extend(
        found
            .invalid_indexes
            .iter()
            .map(|index| Difference::InvalidIndex {
                index: index.clone(),
            }),
    );
    notes.extend(
        found
            .unmodelled
            .iter()
            .filter(|u| !u.is_compared())
            .map(|u| u.note.clone()),
    );
    notes.sort();
    notes.dedup();
    let grants = match permissions {
        Some((file, statements)) => permissions::inspect(&mut conn, file, statements).await?,
        None => Default::default(),
    };
    conn.close().await;
    Ok(Drift {
        differences,
        tables: expected_tables,
        compared_with,
        grants_checked: grants.checked,
        missing_grants: grants.gaps,
        excess_grants: grants.excess,
        memberships: grants.memberships,
        not_compared: notes,
    })
}

/// The role that owns the history table (the one migrations run as), when it is there.
async fn history_owner(
    conn: &mut sqlx::PgConnection,
    history: &HistoryTable,
) -> Result<Option<String>, RunError> {
    sqlx::query_scalar("SELECT pg_get_userbyid(c.relowner)::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2")
        .bind(&history.schema)
        .bind(&history.table)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| RunError::db("reading the history's owner", e))
}

/// Managed tables owned by another role than the migrations leave them with: a table the
/// replay left to the role it ran as (`scratch_runner`) belongs to the one the live
/// history's owner is (`runner`); one a migration handed to another role (`ALTER TABLE ..
/// OWNER TO`), to that role.
fn owners(
    expected: &Introspected,
    found: &Introspected,
    scratch_runner: Option<&str>,
    runner: &str,
) -> Vec<Difference> {
    found
        .owners
        .iter()
        .filter(|(table, _)| expected.schema.tables.contains_key(*table))
        .filter_map(|(table, owner)| {
            let wanted = match expected.owners.get(table) {
                Some(o) if Some(o.as_str()) != scratch_runner => o.clone(),
                _ => runner.to_owned(),
            };
            (*owner != wanted).then(|| Difference::Owner {
                table: table.clone(),
                expected: wanted,
                found: owner.clone(),
            })
        })
        .collect()
}
