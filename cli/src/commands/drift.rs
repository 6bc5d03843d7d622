//! `drift`: a live database against what its applied migrations make (replayed in a
//! scratch database) and the permissions file. Reads only.

use super::permissions::{excess_line, gap_line, membership_line, read_statements};
use crate::Context;
use crate::connect::{DbArgs, block_on, input, named_or_throwaway, termination};
use crate::output::{CliError, Described, Done, Report};
use serde::Serialize;
use tablewright_core::compile::permissions::Statement;
use tablewright_core::dialect::Dialect;
use tablewright_core::project::folder::MigrationFolder;
use tablewright_core::runner::permissions::{Excess, Gap, Membership};
use tablewright_core::runner::{self, MigrationSet, Migrator, MigratorOptions};
use tablewright_core::schema::compare::Difference;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # has anyone changed the production schema or its grants by hand? (exit 1 if so)
  tablewright drift
  # each difference as data, for CI
  tablewright drift --format json --connection-string \"$PROD_URL\"

Exit codes: 0 no drift, 1 drift (or a migration stopped halfway), 2 input error,
3 the database could not be read.";

/// `drift`'s flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// A PostgreSQL server to replay the applied migrations on, in a scratch database
    /// dropped afterwards, so that both sides are spelled by PostgreSQL (default: a
    /// throwaway server started from this machine's PostgreSQL binaries).
    #[arg(long, value_name = "URL")]
    scratch: Option<String>,
}

super::outcomes! {
    /// The database is what its applied migrations make, with the grants of the permissions file.
    Ok,
    /// It differs (exit 1).
    Drift,
}

/// How a database differs from what it applied.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DriftReport {
    /// The database, its password masked (`postgres at postgres://app:***@db/app`).
    pub target: String,
    /// The last migration it applied, whose snapshot it was compared with; null when it
    /// applied none.
    pub snapshot: Option<String>,
    /// Tables in that snapshot.
    pub tables: usize,
    /// What the database was compared with: the applied migrations replayed (catalog with
    /// catalog), or the snapshot when they did not replay (`not_compared` says why).
    pub compared_with: runner::ComparedWith,
    /// Migrations not applied yet, so not compared.
    pub pending: Vec<String>,
    /// What was compared only as the catalog prints it, or left alone (objects the
    /// migrations do not make and that touch no table of theirs), and how the comparison
    /// was made when it could not be catalog with catalog.
    pub not_compared: Vec<String>,
    /// Each difference of the schema.
    pub differences: Vec<Described<Difference>>,
    /// Declared grants checked.
    pub grants_checked: usize,
    /// Declared grants the database lacks.
    pub missing_grants: Vec<Gap>,
    /// Privileges of the managed roles that no handler declares.
    pub excess_grants: Vec<Excess>,
    /// Managed roles made members of other roles.
    pub memberships: Vec<Membership>,
}

impl Report for DriftReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.differences.is_empty()
            && self.missing_grants.is_empty()
            && self.excess_grants.is_empty()
            && self.memberships.is_empty()
        {
            Status::Ok
        } else {
            Status::Drift
        }
    }

    fn text(&self) -> String {
        let snapshot = self.snapshot.as_deref().unwrap_or("(none applied)");
        let mut pending_note = if self.pending.is_empty() {
            String::new()
        } else {
            format!(
                "{} migration(s) pending, not compared: {}\n",
                self.pending.len(),
                self.pending.join(", ")
            )
        };
        for n in &self.not_compared {
            pending_note.push_str(&format!("note: {n}\n"));
        }
        if self.compared_with == runner::ComparedWith::Snapshot {
            pending_note.push_str("compared with the snapshot, not with the migrations replayed: validity, row-level security, triggers and owners were not compared (see the note above)\n");
        }
        if self.status() == Status::Ok {
            let grants = if self.grants_checked > 0 {
                format!(" and the {} declared grant(s)", self.grants_checked)
            } else {
                String::new()
            };
            return format!(
                "drift: none — {} is what its migrations make, up to {snapshot} ({} table(s)){grants}.\n{pending_note}",
                self.target, self.tables
            );
        }
        let mut text = format!(
            "drift: {} differs from what its migrations make (up to {snapshot}, its last applied):\n",
            self.target
        );
        for d in &self.differences {
            text.push_str(&format!("  - {}\n", d.message));
        }
        for g in &self.missing_grants {
            text.push_str(&gap_line(g));
        }
        for e in &self.excess_grants {
            text.push_str(&excess_line(e));
        }
        for m in &self.memberships {
            text.push_str(&membership_line(m));
        }
        text.push_str(&pending_note);
        text.push_str("Put intended changes in the structs and `generate` a migration; undo the others by hand (or `permissions apply` for grants).\n");
        text
    }
}

/// Runs `drift`.
pub fn run(cx: &Context, args: Args) -> Result<Done<DriftReport>, CliError> {
    let target = args.db.target(cx)?;
    let (config, folder, history) = args.db.sources(&cx.config)?;
    let migrations = MigrationFolder::load(&folder)?;
    if migrations.journal.entries.is_empty() {
        return Err(input(format!(
            "{}: no snapshot yet, so nothing to compare with; run `tablewright generate` first",
            folder.display()
        )));
    }
    let set = MigrationSet::from_folder(&folder)?;
    let migrator_set = set.clone();
    // The dialect the migrations were written for: the config's, else the snapshots'.
    let dialect = match &config {
        Some(config) => config.dialect,
        None => migrations
            .last_snapshot()?
            .map(|s| s.dialect)
            .unwrap_or(Dialect::Postgres),
    };
    let permissions = match config.map(|c| c.permissions).filter(|p| p.is_file()) {
        Some(path) => Some((path.display().to_string(), read_statements(&path)?)),
        None => None,
    };
    block_on(None, async {
        // The database is compared with what it has applied, not with the folder's last
        // snapshot: a migration not yet deployed is pending, not drift.
        let migrator = Migrator::new(
            target,
            migrator_set,
            MigratorOptions {
                history: history.clone(),
                ..MigratorOptions::default()
            },
        )
        .await?;
        let status = migrator.status().await?;
        let applied: std::collections::BTreeSet<&str> =
            status.applied.iter().map(|a| a.tag.as_str()).collect();
        let last_applied = migrations
            .journal
            .entries
            .iter()
            .rev()
            .find(|e| applied.contains(e.tag.as_str()));
        let expected = match last_applied {
            Some(entry) => migrations.read_snapshot(entry)?.schema,
            None => Default::default(),
        };
        // A failure that left nothing done (on PostgreSQL a failed migration rolls back
        // whole) is as good as pending; one that left statements done is between snapshots.
        let unsettled: Vec<&str> = status
            .in_progress
            .iter()
            .map(|p| p.tag.as_str())
            .chain(
                status
                    .failed
                    .iter()
                    .filter(|f| f.done > 0)
                    .map(|f| f.tag.as_str()),
            )
            .collect();
        if !unsettled.is_empty() {
            return Err(CliError::check(
                "unsettled",
                format!(
                    "drift: {} stopped halfway in {}; the schema is between two snapshots, so there is nothing to compare with: run `tablewright migrate` to finish it",
                    unsettled.join(", "),
                    migrator.target()
                ),
            ));
        }
        // Grants on tables a pending migration creates are pending too.
        let permissions = permissions.map(|(file, mut statements)| {
            statements.retain(|s| !matches!(s, Statement::Grant { grant, .. } if !expected.tables.contains_key(&grant.table)));
            (file, statements)
        });
        // What the database applied, in the folder's order, is what the scratch replays.
        let mut replayed = set.clone();
        replayed
            .migrations
            .retain(|m| applied.contains(m.tag.as_str()));
        let stop = termination();
        let mut stop = std::pin::pin!(stop);
        let (_embedded, scratch_url) = named_or_throwaway(args.scratch.as_deref(), &mut stop)
            .await
            .map_err(|e| match e {
                e @ runner::RunError::Interrupted { .. } => CliError::from(e),
                e => input(format!("drift replays the applied migrations into a scratch PostgreSQL: {e}; or pass --scratch URL, a server where a scratch database can be created")),
            })?;
        let connector = migrator.connector();
        let found = runner::drift(
            connector,
            dialect,
            replayed,
            &expected,
            &scratch_url,
            &history,
            permissions
                .as_ref()
                .map(|(f, s)| (f.as_str(), s.as_slice())),
            stop,
        )
        .await?;
        let pending: Vec<String> = status
            .pending
            .iter()
            .cloned()
            .chain(
                status
                    .failed
                    .iter()
                    .filter(|f| f.done == 0)
                    .map(|f| format!("{} (failed, nothing done)", f.tag)),
            )
            .collect();
        let report = DriftReport {
            target: connector.target().to_string(),
            snapshot: last_applied.map(|e| e.tag.clone()),
            tables: found.tables,
            compared_with: found.compared_with,
            pending,
            not_compared: found.not_compared,
            differences: found.differences.into_iter().map(Described::new).collect(),
            grants_checked: found.grants_checked,
            missing_grants: found.missing_grants,
            excess_grants: found.excess_grants,
            memberships: found.memberships,
        };
        let problem = report.status() == Status::Drift;
        Ok(Done::checked(report, problem))
    })
}
