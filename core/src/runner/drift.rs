//! `drift`: a live database compared with the last snapshot and the permissions file,
//! reading only. The tool's own tables are not compared, wherever the history lives.

use super::RunError;
use super::history::HistoryTable;
use super::introspect;
use super::permissions::{self, Excess, Gap};
use super::target::Connector;
use crate::compile::permissions::Statement;
use crate::schema::compare::{self, Difference};
use crate::schema::model::Schema;
use serde::Serialize;

/// What `drift` found.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DriftReport {
    /// How the database differs from the snapshot; empty when it agrees.
    pub differences: Vec<Difference>,
    /// Declared grants checked (none without a permissions file).
    pub grants_checked: usize,
    /// Declared grants the database lacks.
    pub missing_grants: Vec<Gap>,
    /// Privileges of the roles the permissions file manages that no handler declares.
    pub excess_grants: Vec<Excess>,
    /// What the schema language cannot declare (a partial index, a view, ..), so what
    /// was not compared: listed, never drift.
    pub not_compared: Vec<String>,
}

impl DriftReport {
    /// True when the database is as the snapshot and the permissions file say.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty() && self.missing_grants.is_empty() && self.excess_grants.is_empty()
    }
}

/// Compares the tables of the schemas `expected` uses with `expected`, and the grants of the permissions
/// file (`(file name, statements)`) with the catalog's.
pub async fn drift(connector: &Connector, expected: &Schema, history: &HistoryTable, permissions: Option<(&str, &[Statement])>) -> Result<DriftReport, RunError> {
    // On DSQL an enum's columns are text with a CHECK: that is what to find.
    let dialect = if connector.target().dsql_rules() { crate::compile::rules::Dialect::Dsql } else { crate::compile::rules::Dialect::Postgres };
    let expected = &*crate::compile::lower::for_dialect(expected, dialect);
    let mut conn = connector.connect().await?;
    let found = introspect::introspect(conn.pg(), &expected.namespaces()).await.map_err(|e| RunError::db("reading the catalog", e))?.without_partial_indexes();
    let mut schema = found.schema;
    let own = history.own_model_names();
    let mut not_compared: Vec<String> = found.unmodelled.into_iter().filter(|u| !u.is_compared()).map(|u| (u.table, u.note)).filter(|(t, _)| !t.as_ref().is_some_and(|t| own.contains(t))).map(|(_, note)| note).collect();
    not_compared.sort();
    for own in &own {
        schema.tables.remove(own);
    }
    let mut differences = compare::differences(expected, &schema);
    differences.extend(found.invalid_indexes.into_iter().map(|index| Difference::InvalidIndex { index }));
    let grants = match permissions {
        Some((file, statements)) => permissions::inspect(&mut conn, file, statements).await?,
        None => Default::default(),
    };
    conn.close().await;
    Ok(DriftReport { differences, grants_checked: grants.checked, missing_grants: grants.gaps, excess_grants: grants.excess, not_compared })
}
