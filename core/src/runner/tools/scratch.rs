//! Scratch databases, and what is learnt in them: a folder of migrations replayed one at a
//! time and read back after each (`import drizzle` builds its snapshots so), or replayed
//! whole and read back (`drift` compares that catalog with a live one, both spelled by
//! PostgreSQL; see [`crate::schema::compare::catalog_differences`]).
//!
//! A scratch database gets a random name on a server the caller names and is dropped
//! afterwards, whatever happened, a signal included.

use super::introspect::{self, Introspected};
use crate::runner::base::target::{Target, redact_url};
use crate::runner::{
    base::error::RunError, base::event::Event, engine::Migrator, engine::MigratorOptions,
    engine::history::HistoryTable, source::MigrationSet,
};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// `postgres://u@h:5432/db?x=y` with another database: `postgres://u@h:5432/<name>?x=y`.
/// A `dbname=` parameter, which would name the database over the path, is left out.
pub fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = scheme_end + 3;
    let query = url[rest..].find('?').map(|i| rest + i).unwrap_or(url.len());
    let path = url[rest..query]
        .find('/')
        .map(|i| rest + i)
        .unwrap_or(query);
    let parameters: Vec<&str> = url
        .get(query + 1..)
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("dbname="))
        .collect();
    let query = if parameters.is_empty() {
        String::new()
    } else {
        format!("?{}", parameters.join("&"))
    };
    format!("{}/{name}{query}", &url[..path])
}

/// A connection to the database at `url`.
pub(crate) async fn connect(url: &str) -> Result<PgConnection, RunError> {
    PgConnection::connect(url)
        .await
        .map_err(|e| RunError::Connect {
            target: redact_url(url),
            source: e,
        })
}

/// Creates a database `tablewright_<purpose>_<pid>_<random>` on the server at `admin_url`,
/// runs `work` with its URL, and drops it, whatever `work` returned. When `stop` completes
/// first, the work is abandoned with [`RunError::Interrupted`] and the database dropped
/// all the same. Returns the database's name with the work's result.
pub async fn with_scratch_database<T>(
    admin_url: &str,
    purpose: &str,
    stop: impl Future<Output = ()>,
    work: impl AsyncFnOnce(&str) -> Result<T, RunError>,
) -> Result<(String, T), RunError> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(|e| RunError::Connect {
            target: redact_url(admin_url),
            source: e,
        })?;
    let database = format!(
        "tablewright_{purpose}_{}_{:08x}",
        std::process::id(),
        fastrand::u32(..)
    );
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
        .execute(&mut admin)
        .await
        .map_err(|e| {
            RunError::db(
                &format!(
                    "creating a scratch database on {} (the role needs CREATEDB)",
                    redact_url(admin_url)
                ),
                e,
            )
        })?;
    let url = with_database(admin_url, &database);
    // Whatever the URL says, the work runs in the scratch database or not at all.
    let in_scratch = async {
        let mut conn = connect(&url).await?;
        let current: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| RunError::db("reading the scratch database's name", e))?;
        let _ = conn.close().await;
        if current != database {
            return Err(RunError::Config(format!(
                "{} connects to database `{current}`, not the scratch database `{database}`: name the server without a database parameter",
                redact_url(&url)
            )));
        }
        work(&url).await
    };
    let result = tokio::select! {
        result = in_scratch => result,
        () = stop => Err(RunError::Interrupted { what: format!(" during {purpose}; the scratch database was dropped") }),
    };
    let dropped = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    let _ = admin.close().await;
    if let (Err(_), Err(e)) = (&result, &dropped) {
        // The work's error is the one returned; the database left behind is named in the log.
        tracing::error!(
            "the scratch database {database} on {} could not be dropped ({e}); drop it by hand",
            redact_url(admin_url)
        );
    }
    let value = result?;
    dropped.map_err(|e| {
        RunError::db(
            &format!("dropping the scratch database {database} (drop it by hand)"),
            e,
        )
    })?;
    Ok((database, value))
}

/// Applies `set` to the empty database at `url` one migration at a time, as `migrate` on
/// PostgreSQL would, and reads the application's schemas back after each: what every
/// migration left, in the catalog's own spelling. `history` is where the replay keeps its
/// bookkeeping (left out of what is read).
pub async fn replay_each(
    url: &str,
    set: &MigrationSet,
    history: &HistoryTable,
    events: &dyn Fn(Event),
) -> Result<Vec<Introspected>, RunError> {
    let target = Target::Postgres {
        url: url.to_owned(),
    };
    let options = MigratorOptions {
        lock: false,
        history: history.clone(),
        ..MigratorOptions::default()
    };
    let mut conn = connect(url).await?;
    let mut after = Vec::with_capacity(set.migrations.len());
    for round in 0..set.migrations.len() {
        // Each run's set is a prefix of the whole, so it applies exactly the next one.
        let prefix = MigrationSet {
            migrations: set.migrations[..=round].to_vec(),
            origin: set.origin.clone(),
            drizzle: set.drizzle.clone(),
        };
        Migrator::new(target.clone(), prefix, options.clone())
            .await?
            .run(events)
            .await?;
        after.push(read_application(&mut conn, history).await?);
    }
    let _ = conn.close().await;
    Ok(after)
}

/// In the database at `url`, where migrations were replayed and read back as `replayed`:
/// drops the replay's tables and enum types (its functions, extensions and schemas stay,
/// for the snapshot's defaults and types to use), builds `snapshot` there with the
/// statements `generate` would write for it from nothing, run by the runner under
/// `dialect`'s rules, and reads it back: the snapshot in the catalog's own spelling, to
/// compare with the replay catalog with catalog.
pub(crate) async fn rebuild_as_snapshot(
    url: &str,
    dialect: crate::dialect::Dialect,
    replayed: &Introspected,
    snapshot: &crate::schema::model::Schema,
    history: &HistoryTable,
) -> Result<Introspected, RunError> {
    use crate::sql::ident::quote_table;
    let mut conn = connect(url).await?;
    let tables = replayed.schema.tables.keys().map(|t| ("TABLE", t));
    let enums = replayed.schema.enums.keys().map(|e| ("TYPE", e));
    for (kind, name) in tables.chain(enums) {
        let drop = format!("DROP {kind} IF EXISTS {} CASCADE", quote_table(name));
        sqlx::raw_sql(AssertSqlSafe(drop))
            .execute(&mut conn)
            .await
            .map_err(|e| RunError::db("clearing the replay", e))?;
    }
    let statements = creation_statements(snapshot, dialect).map_err(|e| {
        RunError::Source(vec![format!(
            "the snapshot cannot be built from nothing: {e}"
        )])
    })?;
    crate::runner::engine::apply_unrecorded(
        Target::emulating(dialect, url),
        "snapshot",
        statements,
        &history.schema,
        &|_| {},
    )
    .await?;
    let namespaces = application_namespaces(&mut conn, history).await?;
    let built = read_schemas(&mut conn, &namespaces, history).await?;
    let _ = conn.close().await;
    Ok(built)
}

/// What makes `schema` from nothing under `dialect`: on PostgreSQL the sequences SERIAL
/// defaults draw from (the model does not hold them) first, then the plan `generate`
/// would write.
fn creation_statements(
    schema: &crate::schema::model::Schema,
    dialect: crate::dialect::Dialect,
) -> Result<Vec<String>, String> {
    use crate::compile::{diff, plan};
    use crate::schema::desired::{AllowDrops, DesiredSchema};
    let mut statements = Vec::new();
    for column in schema.tables.values().flat_map(|t| &t.columns) {
        if let Some(sequence) = column
            .default
            .as_deref()
            .and_then(super::clone::serial_sequence)
        {
            statements.extend(super::clone::sequence_schema_statement(&sequence));
            statements.push(
                super::clone::create_sequence_statement(&sequence)
                    .ok_or_else(|| format!("`{sequence}` is not a sequence name"))?,
            );
        }
    }
    let desired = DesiredSchema {
        schema: schema.clone(),
        ..Default::default()
    };
    let changes = diff::diff(&Default::default(), &desired, &AllowDrops::default())
        .map_err(|e| e.to_string())?;
    statements.extend(
        plan::plan(&changes, schema, dialect)
            .map_err(|e| e.to_string())?
            .sql(),
    );
    Ok(statements)
}

/// The application's schemas on `conn`: every schema holding tables or enums apart from
/// PostgreSQL's own, the history's and drizzle-kit's, read into the model without the
/// history's tables and the indexes the model holds only in part.
pub(crate) async fn read_application(
    conn: &mut PgConnection,
    history: &HistoryTable,
) -> Result<Introspected, RunError> {
    let namespaces = application_namespaces(conn, history).await?;
    read_schemas(conn, &namespaces, history).await
}

/// The schemas that hold the application's tables or enums on `conn`, `public` always:
/// not PostgreSQL's own, nor the history's (unless `public`) or drizzle-kit's.
pub async fn application_namespaces(
    conn: &mut PgConnection,
    history: &HistoryTable,
) -> Result<Vec<String>, RunError> {
    let skip: Vec<String> = [history.schema.as_str(), "drizzle"]
        .into_iter()
        .filter(|s| *s != crate::schema::model::DEFAULT_SCHEMA)
        .map(str::to_owned)
        .collect();
    introspect::application_schemas(conn, &skip)
        .await
        .map_err(|e| RunError::db("reading the catalog", e))
}

/// `read_application` for the schemas `namespaces`.
pub async fn read_schemas(
    conn: &mut PgConnection,
    namespaces: &[String],
    history: &HistoryTable,
) -> Result<Introspected, RunError> {
    // An index the model holds only in part is left out (and stays listed), so that no
    // command builds or drops it from a wrong picture.
    let mut found = introspect::introspect(conn, namespaces)
        .await
        .map_err(|e| RunError::db("reading the catalog", e))?
        .without_partial_indexes();
    for own in history.own_model_names() {
        found.schema.tables.remove(&own);
        found
            .unmodelled
            .retain(|u| u.table.as_deref() != Some(own.as_str()));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_any_url_shape() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("postgres://h?user=u", "x"),
            "postgres://h/x?user=u"
        );
        assert_eq!(
            with_database("postgres://h/postgres?dbname=prod&sslmode=require", "x"),
            "postgres://h/x?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://h/postgres?dbname=prod", "x"),
            "postgres://h/x"
        );
    }
}
