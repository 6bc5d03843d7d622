//! Applying the permissions file and checking it against the live catalog.
//!
//! Each statement runs in its own transaction (GRANT is DDL on DSQL). Roles that exist are
//! left alone, so `apply` can run on every deploy. A GRANT whose table does not exist is
//! not sent (on DSQL it can look applied and leave handlers with "permission denied");
//! it is reported as a gap, and `validate` grants it once the table exists. Privileges are
//! read from `pg_class.relacl`, which shows every role's grants (`information_schema`
//! hides grants the current user neither made nor received).

use super::retry::{RetryPolicy, retrying};
use super::target::{Conn, Connector};
use super::RunError;
use crate::schema::grammar::Operation;
use crate::compile::permissions::{Grant, Statement};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::collections::{BTreeMap, BTreeSet};

/// Why a declared grant is not in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The table does not exist (yet, or any more).
    TableMissing,
    /// The role does not exist.
    RoleMissing,
    /// The table and role exist; the privileges are not granted.
    NotGranted,
}

/// A declared grant that the database does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The table.
    pub table: String,
    /// The role.
    pub role: String,
    /// Missing operations.
    pub operations: Vec<Operation>,
    /// Where it is declared: the permissions file line and the handlers behind it.
    pub file: String,
    /// Why.
    pub reason: GapReason,
}

/// What `apply` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    /// Roles created now.
    pub created_roles: Vec<String>,
    /// GRANT statements sent.
    pub granted: usize,
    /// `AWS IAM GRANT` statements not sent because the target is not DSQL.
    pub skipped_iam: usize,
    /// Grants not sent because their table is missing.
    pub gaps: Vec<Gap>,
}

/// What `validate` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidateReport {
    /// Declared grants checked.
    pub checked: usize,
    /// Grants that were missing and have been granted now.
    pub reapplied: Vec<Gap>,
    /// Grants still missing.
    pub gaps: Vec<Gap>,
}

fn declared(file: &str, statements: &[Statement]) -> Vec<(Grant, String)> {
    statements
        .iter()
        .filter_map(|s| match s {
            Statement::Grant { grant, line, .. } => {
                let mut place = format!("{file}:{line}");
                if !grant.sources.is_empty() {
                    place.push_str(&format!(" ({})", grant.sources.join("; ")));
                }
                Some((grant.clone(), place))
            }
            _ => None,
        })
        .collect()
}

async fn run(conn: &mut Conn, connector: &Connector, policy: &RetryPolicy, sql: &str) -> Result<(), sqlx::Error> {
    retrying(conn, connector, policy, async |c| sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).execute(c).await).await.map(|_| ()).map_err(|e| e.error)
}

async fn table_exists(conn: &mut Conn, table: &str) -> Result<bool, RunError> {
    let sql = "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = $1 AND c.relkind IN ('r', 'p', 'v'))";
    sqlx::query_scalar::<_, bool>(sql).bind(table).fetch_one(conn.pg()).await.map_err(|e| RunError::db("looking up a table", e))
}

async fn role_exists(conn: &mut Conn, role: &str) -> Result<bool, RunError> {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)").bind(role).fetch_one(conn.pg()).await.map_err(|e| RunError::db("looking up a role", e))
}

/// Runs the permissions file, idempotently.
pub async fn apply(connector: &Connector, file: &str, statements: &[Statement]) -> Result<ApplyReport, RunError> {
    let policy = RetryPolicy::default();
    let mut conn = connector.connect().await?;
    let mut report = ApplyReport::default();
    for statement in statements {
        match statement {
            Statement::CreateRole { role, sql } => {
                if role_exists(&mut conn, role).await? {
                    continue;
                }
                match run(&mut conn, connector, &policy, sql).await {
                    Ok(()) => report.created_roles.push(role.clone()),
                    // Created meanwhile by a concurrent apply: what we wanted.
                    Err(e) if matches!(super::retry::sqlstate(&e).as_deref(), Some("42710" | "23505")) => {}
                    Err(e) => return Err(RunError::db(&format!("{file}: creating role {role}"), e)),
                }
            }
            Statement::IamGrant { sql, role } => {
                if connector.target().has_jobs() {
                    run(&mut conn, connector, &policy, sql).await.map_err(|e| RunError::db(&format!("{file}: AWS IAM GRANT for {role}"), e))?;
                } else {
                    report.skipped_iam += 1;
                }
            }
            Statement::Grant { grant, sql, .. } => {
                if !table_exists(&mut conn, &grant.table).await? {
                    let place = declared(file, std::slice::from_ref(statement)).remove(0).1;
                    report.gaps.push(Gap {
                        table: grant.table.clone(),
                        role: grant.role.clone(),
                        operations: grant.operations.iter().copied().collect(),
                        file: place,
                        reason: GapReason::TableMissing,
                    });
                    continue;
                }
                run(&mut conn, connector, &policy, sql).await.map_err(|e| RunError::db(&format!("{file}: {sql}"), e))?;
                report.granted += 1;
            }
        }
    }
    conn.close().await;
    Ok(report)
}

/// Privileges on tables of `public`, per (table, role), from `pg_class.relacl`.
async fn live_privileges(conn: &mut Conn) -> Result<BTreeMap<(String, String), BTreeSet<String>>, RunError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, r.rolname::text, a.privilege_type \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a \
         JOIN pg_roles r ON r.oid = a.grantee \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
    )
    .fetch_all(conn.pg())
    .await
    .map_err(|e| RunError::db("reading pg_class.relacl", e))?;
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (table, role, privilege) in rows {
        out.entry((table, role)).or_default().insert(privilege);
    }
    Ok(out)
}

async fn find_gaps(conn: &mut Conn, declared: &[(Grant, String)]) -> Result<Vec<Gap>, RunError> {
    let live = live_privileges(conn).await?;
    let mut gaps = Vec::new();
    for (grant, place) in declared {
        let have = live.get(&(grant.table.clone(), grant.role.clone()));
        let missing: Vec<Operation> = grant.operations.iter().copied().filter(|op| !have.is_some_and(|h| h.contains(op.privilege()))).collect();
        if missing.is_empty() {
            continue;
        }
        let reason = if !table_exists(conn, &grant.table).await? {
            GapReason::TableMissing
        } else if !role_exists(conn, &grant.role).await? {
            GapReason::RoleMissing
        } else {
            GapReason::NotGranted
        };
        gaps.push(Gap { table: grant.table.clone(), role: grant.role.clone(), operations: missing, file: place.clone(), reason });
    }
    Ok(gaps)
}

/// The declared grants the database lacks, changing nothing: `(grants checked, gaps)`.
pub async fn gaps(conn: &mut Conn, file: &str, statements: &[Statement]) -> Result<(usize, Vec<Gap>), RunError> {
    let declared = declared(file, statements);
    Ok((declared.len(), find_gaps(conn, &declared).await?))
}

/// Checks every declared grant; grants what is missing where table and role exist.
pub async fn validate(connector: &Connector, file: &str, statements: &[Statement]) -> Result<ValidateReport, RunError> {
    let policy = RetryPolicy::default();
    let declared = declared(file, statements);
    let mut conn = connector.connect().await?;
    let first = find_gaps(&mut conn, &declared).await?;
    let mut reapplied = Vec::new();
    for gap in &first {
        if gap.reason != GapReason::NotGranted {
            continue;
        }
        let sql = statements.iter().find_map(|s| match s {
            Statement::Grant { grant, sql, .. } if grant.table == gap.table && grant.role == gap.role => Some(sql.clone()),
            _ => None,
        });
        if let Some(sql) = sql {
            run(&mut conn, connector, &policy, &sql).await.map_err(|e| RunError::db(&format!("{file}: {sql}"), e))?;
            reapplied.push(gap.clone());
        }
    }
    let gaps = if reapplied.is_empty() { first } else { find_gaps(&mut conn, &declared).await? };
    conn.close().await;
    Ok(ValidateReport { checked: declared.len(), reapplied, gaps })
}
