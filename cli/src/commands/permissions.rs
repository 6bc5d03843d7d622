//! `permissions apply` and `permissions validate`: the permissions file against the live
//! catalog. The helpers here also serve `migrate` (which converges after its migrations)
//! and `drift` (which compares the declared grants).

use crate::Context;
use crate::connect::{DbArgs, block_on, input};
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use std::path::Path;
use tablewright_core::compile::permissions::Statement;
use tablewright_core::error::printable;
use tablewright_core::project::config::Config;
use tablewright_core::runner::permissions::{
    ApplyOptions, ApplyReport, Excess, Gap, GapReason, Membership, PermissionsFile, ValidateReport,
};
use tablewright_core::runner::{self, Connector};

/// `permissions apply`'s examples for `--help`.
pub const APPLY_EXAMPLES: &str = "\
Examples:
  # create the roles, run the GRANTs, revoke what no handler declares
  tablewright permissions apply --connection-string postgres://localhost/app
  # the same on Aurora DSQL
  tablewright permissions apply --endpoint abc.dsql.us-east-1.on.aws --region us-east-1

Exit codes: 0 ok, 2 input error, 3 the database refused.";

/// `permissions validate`'s examples for `--help`.
pub const VALIDATE_EXAMPLES: &str = "\
Examples:
  # in CI: exit 1 while a declared grant is missing or an undeclared one is there
  tablewright permissions validate --strict
  # grant what is missing and revoke what is undeclared, then report
  tablewright permissions validate --repair

Exit codes: 0 ok, 1 a gap (--strict), 2 input error, 3 the database refused.";

/// What to do with the permissions file.
#[derive(clap::Subcommand)]
pub enum Action {
    /// Create the roles, run the GRANTs and revoke what no handler declares from the roles
    /// the file manages (idempotent; one statement per transaction).
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Report declared grants missing from pg_class.relacl and privileges of the managed
    /// roles that no handler declares; changes nothing unless --repair.
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate(ValidateArgs),
}

/// `permissions apply`'s flags.
#[derive(clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// `permissions validate`'s flags.
#[derive(clap::Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Exit 1 while anything is missing or undeclared.
    #[arg(long)]
    strict: bool,
    /// First apply the file (grant what is missing, revoke what is undeclared).
    #[arg(long)]
    repair: bool,
}

super::outcomes! {
    /// Every declared grant is there and nothing undeclared.
    Ok,
    /// Gaps or undeclared privileges remain.
    Problems,
}

/// What applying did (when it applied) and what validation found.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct PermissionsReport {
    /// The database, its password masked (`postgres at postgres://app:***@db/app`).
    pub target: String,
    /// The permissions file.
    pub file: String,
    /// Whether undeclared privileges of the managed roles are revoked (`[roles]
    /// revoke_undeclared`).
    pub revoke_undeclared: bool,
    /// What applying did; null when nothing was applied (`validate` without `--repair`).
    pub applied: Option<ApplyReport>,
    /// What the catalog holds against the file, after applying.
    pub validated: ValidateReport,
}

impl Report for PermissionsReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.validated.is_clean() {
            Status::Ok
        } else {
            Status::Problems
        }
    }

    fn text(&self) -> String {
        let mut text = String::new();
        if let Some(applied) = &self.applied {
            text.push_str(&applied_text(applied));
        }
        text.push_str(&validated_text(&self.validated, self.revoke_undeclared));
        text
    }
}

/// What applying did, for people.
pub(crate) fn applied_text(applied: &ApplyReport) -> String {
    let mut text = format!(
        "permissions: {} role(s) created, {} grant(s) applied",
        applied.created_roles.len(),
        applied.granted
    );
    if applied.skipped_iam > 0 {
        text.push_str(&format!(
            ", {} AWS IAM GRANT(s) skipped (not DSQL)",
            applied.skipped_iam
        ));
    }
    text.push_str(&format!(
        ", {} undeclared privilege set(s) revoked\n",
        applied.revoked.len()
    ));
    for e in &applied.revoked {
        text.push_str(&format!(
            "  revoked {} on {} from {}: no handler declares it\n",
            excess_what(e),
            printable(&e.table),
            printable(&e.role)
        ));
    }
    text
}

/// What validation found, for people.
pub(crate) fn validated_text(report: &ValidateReport, revoke_undeclared: bool) -> String {
    let mut text = format!(
        "permissions: {} grant(s) checked against pg_class.relacl, {} gap(s), {} undeclared privilege set(s)\n",
        report.checked,
        report.gaps.len(),
        report.excess.len()
    );
    for g in &report.gaps {
        text.push_str(&gap_line(g));
    }
    for e in &report.excess {
        text.push_str(&excess_line(e));
    }
    for m in &report.memberships {
        text.push_str(&membership_line(m));
    }
    if !report.excess.is_empty() && !revoke_undeclared {
        text.push_str("  ([roles] revoke_undeclared = false: `permissions apply` leaves them)\n");
    } else if !report.excess.is_empty() {
        text.push_str("  (`permissions apply` or `permissions validate --repair` revokes them)\n");
    }
    text
}

/// A declared grant the catalog lacks, for people.
pub(crate) fn gap_line(g: &Gap) -> String {
    let ops: Vec<&str> = g.operations.iter().map(|o| o.privilege()).collect();
    let why = match g.reason {
        GapReason::TableMissing => "table does not exist",
        GapReason::RoleMissing => "role does not exist",
        GapReason::NotGranted => "not granted",
    };
    format!(
        "  warning: {} on {} for role {}: {why} — {}\n",
        ops.join(", "),
        printable(&g.table),
        printable(&g.role),
        g.file
    )
}

/// A privilege no handler declares, for people.
/// A managed role that is a member of another role, for people.
pub(crate) fn membership_line(m: &Membership) -> String {
    format!(
        "  warning: role {} is a member of {}, whose privileges no handler declares (REVOKE {} FROM {} to undo)\n",
        printable(&m.role),
        printable(&m.member_of),
        printable(&m.member_of),
        printable(&m.role)
    )
}

pub(crate) fn excess_line(e: &Excess) -> String {
    if e.role == tablewright_core::runner::permissions::PUBLIC {
        let undo = e.revokes().join(" ");
        return format!(
            "  warning: {} on {} for role PUBLIC (every role, the managed ones included): no handler declares it; tablewright never revokes from PUBLIC: `{}` by hand if nothing else needs it\n",
            excess_what(e),
            printable(&e.table),
            printable(&undo)
        );
    }
    format!(
        "  warning: {} on {} for role {}: no handler declares it\n",
        excess_what(e),
        printable(&e.table),
        printable(&e.role)
    )
}

/// `DELETE, TRUNCATE; the grant option on SELECT; SELECT, UPDATE (title) with the grant
/// option on SELECT`.
fn excess_what(e: &Excess) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !e.privileges.is_empty() {
        parts.push(e.privileges.join(", "));
    }
    if !e.grant_options.is_empty() {
        parts.push(format!(
            "the grant option on {}",
            e.grant_options.join(", ")
        ));
    }
    for c in &e.columns {
        let option = if c.grant_options.is_empty() {
            String::new()
        } else {
            format!(" with the grant option on {}", c.grant_options.join(", "))
        };
        parts.push(format!(
            "{} ({}){option}",
            c.privileges.join(", "),
            c.column
        ));
    }
    // Names from the catalog: escaped.
    printable(&parts.join("; ")).into_owned()
}

/// The permissions file's statements.
pub(crate) fn read_statements(path: &Path) -> Result<Vec<Statement>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        input(format!(
            "{}: {e} (run `tablewright generate` to write it)",
            path.display()
        ))
    })?;
    tablewright_core::compile::permissions::parse(&text)
        .map_err(|e| input(format!("{}: {e}", path.display())))
}

/// The permissions file, ready for `converge`.
pub(crate) fn read_file(path: &Path, options: ApplyOptions) -> Result<PermissionsFile, CliError> {
    Ok(PermissionsFile {
        name: path.display().to_string(),
        statements: read_statements(path)?,
        options,
    })
}

/// Runs `permissions apply`.
pub fn apply(cx: &Context, args: ApplyArgs) -> Result<Done<PermissionsReport>, CliError> {
    run(cx, &args.db, true, false)
}

/// Runs `permissions validate`.
pub fn validate(cx: &Context, args: ValidateArgs) -> Result<Done<PermissionsReport>, CliError> {
    run(cx, &args.db, args.repair, args.strict)
}

fn run(
    cx: &Context,
    db: &DbArgs,
    apply: bool,
    strict: bool,
) -> Result<Done<PermissionsReport>, CliError> {
    let target = db.target(cx)?;
    let config = Config::load(&cx.config)?;
    let options = ApplyOptions {
        revoke_undeclared: config.revoke_undeclared,
    };
    block_on(None, async {
        let connector = Connector::new(target).await?;
        let file = read_file(&config.permissions, options)?;
        let (applied, validated) = if apply {
            let converged = runner::permissions::converge(&connector, &file).await?;
            (Some(converged.applied), converged.validated)
        } else {
            (
                None,
                runner::permissions::validate(&connector, &file.name, &file.statements).await?,
            )
        };
        let report = PermissionsReport {
            target: connector.target().to_string(),
            file: file.name.clone(),
            revoke_undeclared: options.revoke_undeclared,
            applied,
            validated,
        };
        let problem = strict && !report.validated.is_clean();
        Ok(Done::checked(report, problem))
    })
}
