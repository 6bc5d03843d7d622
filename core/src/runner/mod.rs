//! The runner: applies pending migrations exactly once, under a lock, resumably, and
//! reads live databases. Its rooms, each using only those before it (the layout test holds
//! the order):
//!
//! 1. `base`: what every room shares: the connection to a target, retries, the error
//!    and event types, failpoints;
//! 2. `source`: where migrations come from (a folder, the binary, a drizzle-kit import);
//! 3. `engine`: the exactly-once engine, the [`Migrator`];
//! 4. `tools`: the use cases beside it: `verify`, `drift`, `clone`, sample rows, the
//!    introspection `pull` reads, scratch databases and the throwaway server.
//!
//! This file only names what the runner offers; everything else stays in its room.

mod base;
mod engine;
mod source;
mod tools;

pub use crate::error::Classified;
pub use base::error::{ErrorClass, RunError};
pub use base::event::{Event, SampleRows};
#[cfg(feature = "failpoints")]
pub use base::failpoint::configure_from_env as configure_failpoints_from_env;
pub use base::retry::RetryPolicy;
pub use base::target::{Conn, Connector, Target, redact_url};
pub use engine::dry_run::{DryRunMigration, DryRunStatement};
pub use engine::history::{HistoryRow, HistoryTable, Status};
pub use engine::reconcile::{State, reconcile};
pub use engine::{
    AppliedMigration, BackfillInFlight, DSQL_GUARD_SQL, EditedInProgress, FailedMigration,
    InProgress, Marked, MigrationsStatus, Migrator, MigratorOptions, RecreationInFlight, RunReport,
    apply_unrecorded, permissions, reconcile,
};
pub use source::{DrizzleHistory, EmbeddedMigrations, LocalMigration, MigrationSet};
pub use tools::drift::{ComparedWith, Drift, drift};
pub use tools::embedded::EmbeddedPostgres;
pub use tools::verify::{SampleRound, Verification, VerifyOptions, verify};
pub use tools::{clone, introspect, sample, scratch};
