//! Applying the permissions file and checking it against the live catalog.
//!
//! The roles the file names are *managed*: each ends with exactly the table privileges
//! its handlers declare. `apply` grants what is declared and revokes what is not (a
//! removed `#[requires_table]`, a GRANT made by hand), one statement per transaction
//! (GRANT and REVOKE are DDL on DSQL); `validate` reports both, changing nothing. Roles
//! that exist are left alone, so `apply` can run on every deploy. A GRANT whose table does
//! not exist is not sent (on DSQL it can look applied and leave handlers with "permission
//! denied"); it is reported as a gap, and the next `apply` grants it once the table
//! exists. Privileges are read from `pg_class.relacl`, which shows every role's grants
//! (`information_schema` hides grants the current user neither made nor received).

use crate::compile::permissions::{Grant, Statement};
use crate::runner::base::error::RunError;
use crate::runner::base::retry::{RetryPolicy, retrying};
use crate::runner::base::target::{Conn, Connector};
use crate::schema::grammar::Operation;
use crate::sql::ident::quote;
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::collections::{BTreeMap, BTreeSet};

/// Why a declared grant is not in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Gap {
    /// The table, as the model names it (`books`, or `auth.books` outside `public`).
    pub table: String,
    /// The role's name, unquoted.
    pub role: String,
    /// Missing operations.
    pub operations: Vec<Operation>,
    /// Where it is declared: the permissions file line and the handlers behind it.
    pub file: String,
    /// Why it is missing: no such table, no such role, or no grant.
    pub reason: GapReason,
}

/// What a managed role holds on a table that no handler declares: table privileges, the
/// grant option on any privilege (a handler's grant never carries it: with it the role
/// could grant the table to anyone), and column privileges (handlers declare tables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Excess {
    /// The table, as the model names it (`books`, or `auth.books` outside `public`).
    pub table: String,
    /// The managed role holding them, or `PUBLIC` for a grant to every role.
    pub role: String,
    /// Table privileges no handler declares, as the catalog names them (`DELETE`,
    /// `TRUNCATE`, ..).
    pub privileges: Vec<String>,
    /// Table privileges the role holds WITH GRANT OPTION, declared or not.
    pub grant_options: Vec<String>,
    /// Privileges granted on single columns (`GRANT UPDATE (name) ON t`).
    pub columns: Vec<ColumnPrivileges>,
}

/// Privileges granted on one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ColumnPrivileges {
    /// The column's name, as the catalog holds it (unquoted).
    pub column: String,
    /// The privileges (`SELECT`, `INSERT`, `UPDATE`, `REFERENCES`).
    pub privileges: Vec<String>,
    /// Those of them held WITH GRANT OPTION.
    pub grant_options: Vec<String>,
}

impl Excess {
    /// The statements that take it away, grant options first. CASCADE: what the role
    /// granted on to others through an option no handler declared goes with it.
    pub fn revokes(&self) -> Vec<String> {
        // PUBLIC is the keyword for every role, never a role's name.
        let role = if self.role == PUBLIC {
            PUBLIC.to_owned()
        } else {
            quote(&self.role)
        };
        let table = crate::sql::ident::quote_table(&self.table);
        let mut out = Vec::new();
        if !self.grant_options.is_empty() {
            out.push(format!(
                "REVOKE GRANT OPTION FOR {} ON {table} FROM {role} CASCADE;",
                self.grant_options.join(", ")
            ));
        }
        if !self.privileges.is_empty() {
            out.push(format!(
                "REVOKE {} ON {table} FROM {role} CASCADE;",
                self.privileges.join(", ")
            ));
        }
        if !self.columns.is_empty() {
            let each = self.columns.iter().flat_map(|c| {
                c.privileges
                    .iter()
                    .map(move |p| format!("{p} ({})", quote(&c.column)))
            });
            out.push(format!(
                "REVOKE {} ON {table} FROM {role} CASCADE;",
                each.collect::<Vec<_>>().join(", ")
            ));
        }
        out
    }
}

/// The grantee of `GRANT .. TO PUBLIC`: every role, the managed ones included.
pub const PUBLIC: &str = "PUBLIC";

/// A managed role made a member of another role: it holds that role's privileges, which
/// no handler declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Membership {
    /// The managed role.
    pub role: String,
    /// The role it is a member of.
    pub member_of: String,
}

/// How `apply` treats privileges no handler declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Revoke them from the managed roles (`[roles] revoke_undeclared`, on by default).
    pub revoke_undeclared: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            revoke_undeclared: true,
        }
    }
}

/// What `apply` did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ApplyReport {
    /// Roles created now.
    pub created_roles: Vec<String>,
    /// GRANT statements sent.
    pub granted: usize,
    /// Privileges revoked because no handler declares them.
    pub revoked: Vec<Excess>,
    /// `AWS IAM GRANT` statements not sent because the target is not DSQL.
    pub skipped_iam: usize,
    /// Grants not sent because their table is missing.
    pub gaps: Vec<Gap>,
}

/// What `validate` found; it changes nothing.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ValidateReport {
    /// Declared grants checked.
    pub checked: usize,
    /// Declared grants missing.
    pub gaps: Vec<Gap>,
    /// Privileges of managed roles that no handler declares.
    pub excess: Vec<Excess>,
    /// Managed roles that are members of other roles.
    pub memberships: Vec<Membership>,
}

impl ValidateReport {
    /// True when the catalog holds exactly what the file declares.
    pub fn is_clean(&self) -> bool {
        self.gaps.is_empty() && self.excess.is_empty() && self.memberships.is_empty()
    }
}

/// A permissions file to converge on after the migrations, as `Migrator` and the CLI do.
#[derive(Debug, Clone)]
pub struct PermissionsFile {
    /// Its name, for messages (`permissions/permissions.sql`).
    pub name: String,
    /// Its statements.
    pub statements: Vec<Statement>,
    /// What to do with privileges no handler declares.
    pub options: ApplyOptions,
}

impl PermissionsFile {
    /// Reads a permissions file's text (only lines `generate` writes are accepted).
    pub fn parse(
        name: &str,
        text: &str,
        options: ApplyOptions,
    ) -> Result<PermissionsFile, RunError> {
        let statements = crate::compile::permissions::parse(text)
            .map_err(|e| RunError::Source(vec![format!("{name}: {e}")]))?;
        Ok(PermissionsFile {
            name: name.to_owned(),
            statements,
            options,
        })
    }

    /// The file `embed_migrations!(.., permissions = "..")` compiled in, if it names one.
    pub fn from_embedded(
        embedded: &crate::runner::source::EmbeddedMigrations,
        options: ApplyOptions,
    ) -> Result<Option<PermissionsFile>, RunError> {
        embedded
            .permissions
            .map(|(name, text)| PermissionsFile::parse(name, text, options))
            .transpose()
    }
}

/// What converging on a permissions file did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Convergence {
    /// The apply: roles, grants, revokes.
    pub applied: ApplyReport,
    /// The validation after it.
    pub validated: ValidateReport,
}

/// Applies the file, then validates the catalog against it: what `migrate` and
/// `permissions apply` do, the library's `Migrator` included.
pub async fn converge(
    connector: &Connector,
    file: &PermissionsFile,
) -> Result<Convergence, RunError> {
    let applied = apply(connector, &file.name, &file.statements, file.options).await?;
    let validated = validate(connector, &file.name, &file.statements).await?;
    Ok(Convergence { applied, validated })
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

async fn run(
    conn: &mut Conn,
    connector: &Connector,
    policy: &RetryPolicy,
    sql: &str,
) -> Result<(), sqlx::Error> {
    retrying(conn, connector, policy, async |c| {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(c)
            .await
    })
    .await
    .map(|_| ())
    .map_err(|e| e.error)
}

async fn table_exists(conn: &mut Conn, table: &str) -> Result<bool, RunError> {
    let sql = "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v'))";
    let (schema, bare) = (
        crate::schema::model::table_schema(table),
        crate::schema::model::bare_table_name(table),
    );
    sqlx::query_scalar::<_, bool>(sql)
        .bind(schema)
        .bind(bare)
        .fetch_one(conn.pg())
        .await
        .map_err(|e| RunError::db("looking up a table", e))
}

async fn schema_exists(conn: &mut Conn, schema: &str) -> Result<bool, RunError> {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(conn.pg())
        .await
        .map_err(|e| RunError::db("looking up a schema", e))
}

async fn role_exists(conn: &mut Conn, role: &str) -> Result<bool, RunError> {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(role)
        .fetch_one(conn.pg())
        .await
        .map_err(|e| RunError::db("looking up a role", e))
}

/// Runs the permissions file, idempotently, then (unless `options` says not to) revokes
/// from the managed roles what no handler declares.
pub async fn apply(
    connector: &Connector,
    file: &str,
    statements: &[Statement],
    options: ApplyOptions,
) -> Result<ApplyReport, RunError> {
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
                    Err(e)
                        if matches!(
                            crate::runner::base::retry::sqlstate(&e).as_deref(),
                            Some("42710" | "23505")
                        ) => {}
                    Err(e) => {
                        return Err(RunError::db(&format!("{file}: creating role {role}"), e));
                    }
                }
            }
            Statement::IamGrant { sql, role } => {
                if connector.target().has_jobs() {
                    run(&mut conn, connector, &policy, sql).await.map_err(|e| {
                        RunError::db(&format!("{file}: AWS IAM GRANT for {role}"), e)
                    })?;
                } else {
                    report.skipped_iam += 1;
                }
            }
            Statement::SchemaUsage { schema, sql, .. } => {
                // A schema no migration has made yet: its tables' grants are gaps below.
                if schema_exists(&mut conn, schema).await? {
                    run(&mut conn, connector, &policy, sql)
                        .await
                        .map_err(|e| RunError::db(&format!("{file}: {sql}"), e))?;
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
                run(&mut conn, connector, &policy, sql)
                    .await
                    .map_err(|e| RunError::db(&format!("{file}: {sql}"), e))?;
                report.granted += 1;
            }
        }
    }
    if options.revoke_undeclared {
        // A grant to PUBLIC is every role's, the ones the file does not name included:
        // reported, never revoked here.
        for excess in find_excess(&mut conn, statements)
            .await?
            .into_iter()
            .filter(|e| e.role != PUBLIC)
        {
            // One statement per transaction: REVOKE is DDL on DSQL.
            for sql in excess.revokes() {
                run(&mut conn, connector, &policy, &sql)
                    .await
                    .map_err(|e| {
                        RunError::db(
                            &format!("{file}: revoking what no handler declares: {sql}"),
                            e,
                        )
                    })?;
            }
            report.revoked.push(excess);
        }
    }
    conn.close().await;
    Ok(report)
}

/// The roles the file manages: those it creates or grants to.
fn managed_roles(statements: &[Statement]) -> BTreeSet<&str> {
    statements
        .iter()
        .filter_map(|s| match s {
            Statement::CreateRole { role, .. } => Some(role.as_str()),
            Statement::Grant { grant, .. } => Some(grant.role.as_str()),
            Statement::IamGrant { .. } | Statement::SchemaUsage { .. } => None,
        })
        .collect()
}

/// The schemas whose tables the file governs: `public` and those of its grants (a
/// schema it names nothing in, a DBA's or a tool's, is not its business).
fn governed_schemas<'a>(grants: impl Iterator<Item = &'a Grant>) -> Vec<String> {
    let mut schemas: BTreeSet<String> = grants
        .map(|grant| crate::schema::model::table_schema(&grant.table).to_owned())
        .collect();
    schemas.insert(crate::schema::model::DEFAULT_SCHEMA.to_owned());
    schemas.into_iter().collect()
}

/// Privileges the managed roles hold on tables of the governed schemas beyond what the
/// file declares. Only explicit grants count: a table's owner holds its privileges by
/// owning it.
async fn find_excess(conn: &mut Conn, statements: &[Statement]) -> Result<Vec<Excess>, RunError> {
    let managed = managed_roles(statements);
    let schemas = governed_schemas(statements.iter().filter_map(|s| {
        if let Statement::Grant { grant, .. } = s {
            Some(grant)
        } else {
            None
        }
    }));
    let granted_tables: BTreeSet<&str> = statements
        .iter()
        .filter_map(|s| {
            if let Statement::Grant { grant, .. } = s {
                Some(grant.table.as_str())
            } else {
                None
            }
        })
        .collect();
    let mut declared: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for s in statements {
        if let Statement::Grant { grant, .. } = s {
            declared
                .entry((grant.table.as_str(), grant.role.as_str()))
                .or_default()
                .extend(grant.operations.iter().map(|op| op.privilege()));
        }
    }
    // Table privileges, then column privileges (the column is empty for a table's).
    let rows: Vec<(String, String, String, String, bool)> = sqlx::query_as(
        "SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END, '' AS attname, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE r.rolname::text END, a.privilege_type, a.is_grantable \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL aclexplode(c.relacl) a \
         LEFT JOIN pg_roles r ON r.oid = a.grantee \
         WHERE n.nspname = ANY($1) AND strpos(c.relname, '.') = 0 AND c.relkind IN ('r', 'p') AND a.grantee <> c.relowner AND (a.grantee = 0 OR r.oid IS NOT NULL) \
         UNION ALL \
         SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END, att.attname::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE r.rolname::text END, a.privilege_type, a.is_grantable \
         FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL aclexplode(att.attacl) a \
         LEFT JOIN pg_roles r ON r.oid = a.grantee \
         WHERE n.nspname = ANY($1) AND strpos(c.relname, '.') = 0 AND c.relkind IN ('r', 'p') AND att.attnum > 0 AND NOT att.attisdropped AND a.grantee <> c.relowner AND (a.grantee = 0 OR r.oid IS NOT NULL) \
         ORDER BY 1, 3, 2, 4",
    )
    .bind(&schemas)
    .fetch_all(conn.pg())
    .await
    .map_err(|e| RunError::db("reading pg_class.relacl and pg_attribute.attacl", e))?;
    let mut excess: BTreeMap<(String, String), Excess> = BTreeMap::new();
    for (table, column, role, privilege, grantable) in rows {
        // Privilege names come from the catalog; anything else is not sent back as SQL.
        let known = !privilege.is_empty()
            && privilege
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b' ');
        // A grant to PUBLIC reaches the managed roles too: on the tables the file grants on.
        let reaches_managed = managed.contains(role.as_str())
            || (role == PUBLIC && granted_tables.contains(table.as_str()));
        if !known || !reaches_managed {
            continue;
        }
        let allowed = column.is_empty()
            && declared
                .get(&(table.as_str(), role.as_str()))
                .is_some_and(|d| d.contains(privilege.as_str()));
        if allowed && !grantable {
            continue;
        }
        let entry = excess
            .entry((table.clone(), role.clone()))
            .or_insert_with(|| Excess {
                table,
                role,
                privileges: Vec::new(),
                grant_options: Vec::new(),
                columns: Vec::new(),
            });
        if !column.is_empty() {
            if entry.columns.last().is_none_or(|c| c.column != column) {
                entry.columns.push(ColumnPrivileges {
                    column,
                    privileges: Vec::new(),
                    grant_options: Vec::new(),
                });
            }
            let c = entry.columns.last_mut().expect("pushed above");
            if grantable {
                c.grant_options.push(privilege.clone());
            }
            c.privileges.push(privilege);
            continue;
        }
        if grantable {
            entry.grant_options.push(privilege.clone());
        }
        if !allowed {
            entry.privileges.push(privilege);
        }
    }
    Ok(excess.into_values().collect())
}

/// The roles the managed roles are members of.
async fn find_memberships(
    conn: &mut Conn,
    statements: &[Statement],
) -> Result<Vec<Membership>, RunError> {
    let managed: Vec<&str> = managed_roles(statements).into_iter().collect();
    if managed.is_empty() {
        return Ok(Vec::new());
    }
    // PostgreSQL's predefined roles (`pg_read_all_data`, ..) and RDS's (`rds_iam`, which
    // IAM login needs) are the platform's business, not a hand change.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT r.rolname::text, m.rolname::text FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.member JOIN pg_roles m ON m.oid = am.roleid \
         WHERE r.rolname = ANY($1) AND m.rolname !~ '^(pg|rds)_' ORDER BY 1, 2",
    )
    .bind(&managed)
    .fetch_all(conn.pg())
    .await
    .map_err(|e| RunError::db("reading pg_auth_members", e))?;
    Ok(rows
        .into_iter()
        .map(|(role, member_of)| Membership { role, member_of })
        .collect())
}

/// Privileges on the application's tables, per (table, role), from `pg_class.relacl`.
async fn live_privileges(
    conn: &mut Conn,
    schemas: &[String],
) -> Result<BTreeMap<(String, String), BTreeSet<String>>, RunError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END, r.rolname::text, a.privilege_type \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a \
         JOIN pg_roles r ON r.oid = a.grantee \
         WHERE n.nspname = ANY($1) AND strpos(c.relname, '.') = 0 AND c.relkind IN ('r', 'p')",
    )
    .bind(schemas)
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
    let live = live_privileges(conn, &governed_schemas(declared.iter().map(|(g, _)| g))).await?;
    let mut gaps = Vec::new();
    for (grant, place) in declared {
        let have = live.get(&(grant.table.clone(), grant.role.clone()));
        let missing: Vec<Operation> = grant
            .operations
            .iter()
            .copied()
            .filter(|op| !have.is_some_and(|h| h.contains(op.privilege())))
            .collect();
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
        gaps.push(Gap {
            table: grant.table.clone(),
            role: grant.role.clone(),
            operations: missing,
            file: place.clone(),
            reason,
        });
    }
    Ok(gaps)
}

/// Compares the catalog with the file, changing nothing: the declared grants missing and
/// the managed roles' privileges no handler declares.
pub async fn inspect(
    conn: &mut Conn,
    file: &str,
    statements: &[Statement],
) -> Result<ValidateReport, RunError> {
    let declared = declared(file, statements);
    let gaps = find_gaps(conn, &declared).await?;
    let excess = find_excess(conn, statements).await?;
    let memberships = find_memberships(conn, statements).await?;
    Ok(ValidateReport {
        checked: declared.len(),
        gaps,
        excess,
        memberships,
    })
}

/// [`inspect`] on a connection of its own.
pub async fn validate(
    connector: &Connector,
    file: &str,
    statements: &[Statement],
) -> Result<ValidateReport, RunError> {
    let mut conn = connector.connect().await?;
    let report = inspect(&mut conn, file, statements).await;
    conn.close().await;
    report
}
