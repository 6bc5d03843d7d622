//! `verify`: replay every migration into a fresh database under the dialect's rules,
//! introspect it, and compare with the last snapshot. The database is dropped afterwards,
//! whatever happened.

use super::introspect;
use super::sample;
use crate::dialect::Dialect;
use crate::runner::base::event::SampleRows;
use crate::runner::base::target::Target;
use crate::runner::{
    base::error::RunError, base::event::Event, engine::DSQL_GUARD_SQL, engine::Migrator,
    engine::MigratorOptions, source::MigrationSet,
};
use crate::schema::compare;
use crate::schema::model::Schema;
use serde::Serialize;
use sqlx::Connection;

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Verification {
    /// The throwaway database.
    pub database: String,
    /// Migrations replayed.
    pub migrations: usize,
    /// Whether the DSQL guard enforced DSQL's rules during the replay (needs a superuser).
    pub dsql_guard: Option<bool>,
    /// Differences between the database and the snapshot; empty when they agree.
    pub differences: Vec<compare::Difference>,
    /// With sample rows: what each round inserted, by the migration it came before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sample_rows: Vec<SampleRound>,
}

/// The sample rows inserted before one migration.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SampleRound {
    /// The migration that ran on them.
    pub before: String,
    /// Per table.
    pub tables: Vec<SampleRows>,
}

/// How `verify` replays.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Insert this many rows into every table before each migration after the first
    /// (`--with-rows`), so each migration meets data.
    pub sample_rows: Option<u64>,
}

/// Replays `set` into a new database on the server at `admin_url` and compares the result
/// with `expected`. When `stop` completes first (a signal), the replay stops and the scratch
/// database is dropped all the same.
pub async fn verify(
    admin_url: &str,
    dialect: Dialect,
    set: MigrationSet,
    expected: &Schema,
    options: VerifyOptions,
    events: &dyn Fn(Event),
    stop: impl Future<Output = ()>,
) -> Result<Verification, RunError> {
    let (database, (migrations, dsql_guard, differences, sample_rows)) =
        super::scratch::with_scratch_database(admin_url, "verify", stop, async |url: &str| {
            replay(url, dialect, set, expected, options, events).await
        })
        .await?;
    Ok(Verification {
        database,
        migrations,
        dsql_guard,
        differences,
        sample_rows,
    })
}

type Replayed = (
    usize,
    Option<bool>,
    Vec<compare::Difference>,
    Vec<SampleRound>,
);

async fn replay(
    url: &str,
    dialect: Dialect,
    set: MigrationSet,
    expected: &Schema,
    options: VerifyOptions,
    events: &dyn Fn(Event),
) -> Result<Replayed, RunError> {
    let expected = &*crate::compile::lower::for_dialect(expected, dialect);
    let mut conn = super::scratch::connect(url).await?;
    let guard = if dialect == Dialect::Dsql {
        let superuser: bool =
            sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| RunError::db("reading the role", e))?;
        if superuser {
            sqlx::raw_sql(DSQL_GUARD_SQL)
                .execute(&mut conn)
                .await
                .map_err(|e| RunError::db("installing the DSQL guard", e))?;
        }
        Some(superuser)
    } else {
        None
    };
    let target = Target::emulating(dialect, url);
    let count = set.migrations.len();
    let options_for_run = MigratorOptions {
        lock: false,
        ..MigratorOptions::default()
    };
    let mut rounds = Vec::new();
    match options.sample_rows {
        None => {
            Migrator::new(target, set, options_for_run)
                .await?
                .run(events)
                .await?;
        }
        // One migration at a time, rows in between: each run's set is a prefix of the
        // whole, so it applies exactly the next migration.
        Some(rows) => {
            for (round, next) in set.migrations.iter().enumerate() {
                if round > 0 {
                    let schema = introspect::introspect(&mut conn, &expected.namespaces())
                        .await
                        .map_err(|e| RunError::db("introspecting the replayed database", e))?
                        .schema;
                    let tables =
                        sample::insert_sample_rows(&mut conn, &schema, rows, round as u64).await?;
                    events(Event::SampleRows {
                        before: next.tag.clone(),
                        tables: tables.clone(),
                    });
                    rounds.push(SampleRound {
                        before: next.tag.clone(),
                        tables,
                    });
                }
                let prefix = MigrationSet {
                    migrations: set.migrations[..=round].to_vec(),
                    origin: set.origin.clone(),
                    drizzle: set.drizzle.clone(),
                };
                Migrator::new(target.clone(), prefix, options_for_run.clone())
                    .await?
                    .run(events)
                    .await?;
            }
        }
    }
    // Catalog with catalog: the replay as read back, and the snapshot built from nothing
    // in its place, both spelled by the server (see `compare::catalog_differences`). What
    // lives beside the tables is not the snapshot's to say.
    let history = MigratorOptions::default().history;
    let found = super::scratch::read_application(&mut conn, &history).await?;
    let _ = conn.close().await;
    let built =
        super::scratch::rebuild_as_snapshot(url, dialect, &found, expected, &history).await?;
    let mut differences: Vec<compare::Difference> =
        compare::catalog_differences(&built.schema, &built.text, &found.schema, &found.text)
            .into_iter()
            .filter(|d| !matches!(d, compare::Difference::Beside { .. }))
            .collect();
    differences.extend(
        found
            .invalid_indexes
            .iter()
            .map(|i| compare::Difference::InvalidIndex { index: i.clone() }),
    );
    Ok((count, guard, differences, rounds))
}
