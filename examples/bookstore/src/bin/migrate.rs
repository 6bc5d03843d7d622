//! The bookstore's deploy-time migrator: the binary carries `migrations/` inside it, so a
//! Lambda or container runs `migrate` at deploy without the repository.
//!
//! DSQL_ENDPOINT + AWS_REGION → Aurora DSQL (IAM token); otherwise DATABASE_URL →
//! PostgreSQL; add TABLEWRIGHT_EMULATE_DSQL=1 to run DSQL's rules against that PostgreSQL.

use std::process::ExitCode;
use tablewright_core::runner::{EmbeddedMigrations, Event, MigrationSet, Migrator, MigratorOptions, Target};

/// Compiled in: rebuilding picks up new migrations.
pub static MIGRATIONS: EmbeddedMigrations = tablewright_derive::embed_migrations!("../../migrations");

fn target() -> Result<Target, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(endpoint) = var("DSQL_ENDPOINT") {
        let region = var("AWS_REGION").ok_or("DSQL_ENDPOINT is set but AWS_REGION is not")?;
        return Ok(Target::Dsql { endpoint, region });
    }
    let url = var("DATABASE_URL").ok_or("set DSQL_ENDPOINT and AWS_REGION, or DATABASE_URL")?;
    Ok(if var("TABLEWRIGHT_EMULATE_DSQL").is_some() { Target::DsqlEmulated { url } } else { Target::Postgres { url } })
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = async {
        let set = MigrationSet::from_embedded(&MIGRATIONS).map_err(|e| e.to_string())?;
        let migrator = Migrator::new(target()?, set, MigratorOptions::default()).await.map_err(|e| e.to_string())?;
        let report = migrator
            .run(&|event| {
                if let Event::MigrationApplied { tag, elapsed_ms } = event {
                    println!("applied {tag} in {elapsed_ms} ms");
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        println!("{} applied, {} already applied", report.applied.len(), report.already_applied);
        Ok::<_, String>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
