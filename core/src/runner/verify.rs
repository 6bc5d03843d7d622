//! `verify`: replay every migration into a fresh database under the dialect's rules,
//! introspect it, and compare with the last snapshot. The database is dropped afterwards,
//! whatever happened.

use super::target::{Target, redact_url};
use super::{DSQL_GUARD_SQL, Event, MigrationSet, Migrator, MigratorOptions, RunError};
use crate::schema::model::Schema;
use crate::compile::rules::Dialect;
use super::introspect;
use crate::schema::compare;
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// `postgres://u@h:5432/db?x=y` with another database: `postgres://u@h:5432/<name>?x=y`.
pub fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = scheme_end + 3;
    let query = url[rest..].find('?').map(|i| rest + i).unwrap_or(url.len());
    let path = url[rest..query].find('/').map(|i| rest + i).unwrap_or(query);
    format!("{}/{name}{}", &url[..path], &url[query..])
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The throwaway database.
    pub database: String,
    /// Migrations replayed.
    pub migrations: usize,
    /// Whether the DSQL guard enforced DSQL's rules during the replay (needs a superuser).
    pub dsql_guard: Option<bool>,
    /// Differences between the database and the snapshot; empty when they agree.
    pub differences: Vec<compare::Difference>,
}

/// Replays `set` into a new database on the server at `admin_url` and compares the result
/// with `expected`.
pub async fn verify(admin_url: &str, dialect: Dialect, set: MigrationSet, expected: &Schema, events: &dyn Fn(Event)) -> Result<VerifyReport, RunError> {
    let mut admin = PgConnection::connect(admin_url).await.map_err(|e| RunError::Connect { target: redact_url(admin_url), source: e })?;
    let database = format!("tablewright_verify_{}_{:08x}", std::process::id(), fastrand::u32(..));
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
        .execute(&mut admin)
        .await
        .map_err(|e| RunError::db(&format!("creating the scratch database on {}", redact_url(admin_url)), e))?;
    let url = with_database(admin_url, &database);
    let result = replay(&url, dialect, set, expected, events).await;
    let dropped = sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"))).execute(&mut admin).await;
    let _ = admin.close().await;
    let (migrations, dsql_guard, differences) = result?;
    dropped.map_err(|e| RunError::db(&format!("dropping the scratch database {database}"), e))?;
    Ok(VerifyReport { database, migrations, dsql_guard, differences })
}

async fn replay(url: &str, dialect: Dialect, set: MigrationSet, expected: &Schema, events: &dyn Fn(Event)) -> Result<(usize, Option<bool>, Vec<compare::Difference>), RunError> {
    let mut conn = PgConnection::connect(url).await.map_err(|e| RunError::Connect { target: redact_url(url), source: e })?;
    let guard = if dialect == Dialect::Dsql {
        let superuser: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| RunError::db("reading the role", e))?;
        if superuser {
            sqlx::raw_sql(DSQL_GUARD_SQL).execute(&mut conn).await.map_err(|e| RunError::db("installing the DSQL guard", e))?;
        }
        Some(superuser)
    } else {
        None
    };
    let target = match dialect {
        Dialect::Dsql => Target::DsqlEmulated { url: url.to_owned() },
        Dialect::Postgres => Target::Postgres { url: url.to_owned() },
    };
    let count = set.migrations.len();
    let migrator = Migrator::new(target, set, MigratorOptions { lock: false, ..MigratorOptions::default() }).await?;
    migrator.run(events).await?;
    let found = introspect::introspect(&mut conn, "public").await.map_err(|e| RunError::db("introspecting the replayed database", e))?;
    let _ = conn.close().await;
    let mut differences = compare::differences(expected, &found.schema);
    differences.extend(found.invalid_indexes.iter().map(|i| compare::Difference::InvalidIndex { index: i.clone() }));
    Ok((count, guard, differences))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_any_url_shape() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u:p@h/postgres?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(with_database("postgres://h?user=u", "x"), "postgres://h/x?user=u");
    }
}
