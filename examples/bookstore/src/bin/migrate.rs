//! The bookstore's deploy-time migrator: the binary carries `migrations/` and the
//! permissions file inside it, so a Lambda or container runs `migrate` at deploy without
//! the repository, grants and revokes included, exactly as `tablewright migrate` does.
//!
//! DSQL_ENDPOINT + AWS_REGION → Aurora DSQL (IAM token); otherwise DATABASE_URL →
//! PostgreSQL; add TABLEWRIGHT_EMULATE_DSQL=1 to run DSQL's rules against that PostgreSQL.

use std::process::ExitCode;
use tablewright_core::runner::permissions::{ApplyOptions, PermissionsFile};
use tablewright_core::runner::{
    EmbeddedMigrations, Event, MigrationSet, Migrator, MigratorOptions, Target,
};

/// Compiled in: rebuilding picks up new migrations.
pub static MIGRATIONS: EmbeddedMigrations = tablewright_derive::embed_migrations!(
    "../../migrations",
    permissions = "../../permissions/permissions.sql"
);

/// The options the deploy runs with: the embedded permissions converge after the
/// migrations, undeclared privileges of the managed roles revoked.
pub fn options() -> Result<MigratorOptions, String> {
    let permissions = PermissionsFile::from_embedded(&MIGRATIONS, ApplyOptions::default())
        .map_err(|e| e.to_string())?;
    Ok(MigratorOptions {
        permissions,
        ..MigratorOptions::default()
    })
}

fn target() -> Result<Target, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(endpoint) = var("DSQL_ENDPOINT") {
        let region = var("AWS_REGION").ok_or("DSQL_ENDPOINT is set but AWS_REGION is not")?;
        return Ok(Target::Dsql { endpoint, region });
    }
    let url = var("DATABASE_URL").ok_or("set DSQL_ENDPOINT and AWS_REGION, or DATABASE_URL")?;
    Ok(if var("TABLEWRIGHT_EMULATE_DSQL").is_some() {
        Target::DsqlEmulated { url }
    } else {
        Target::Postgres { url }
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = async {
        let set = MigrationSet::from_embedded(&MIGRATIONS).map_err(|e| e.to_string())?;
        let migrator = Migrator::new(target()?, set, options()?)
            .await
            .map_err(|e| e.to_string())?;
        let report = migrator
            .run(&|event| {
                if let Event::MigrationApplied { tag, elapsed_ms } = event {
                    println!("applied {tag} in {elapsed_ms} ms");
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "{} applied, {} already applied",
            report.applied.len(),
            report.already_applied
        );
        if let Some(p) = &report.permissions {
            println!(
                "permissions: {} grant(s), {} revoked, {} gap(s)",
                p.applied.granted,
                p.applied.revoked.len(),
                p.validated.gaps.len()
            );
            if !p.validated.is_clean() {
                return Err(format!(
                    "permissions do not match the file after applying it: {:?} {:?}",
                    p.validated.gaps, p.validated.excess
                ));
            }
        }
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
