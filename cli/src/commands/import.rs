//! `import drizzle`: a drizzle-kit folder (and its applied history) brought along.

use crate::Context;
use crate::connect::{block_on, history_of, named_or_throwaway, termination};
use crate::output::{CliError, Done, Report};
use serde::Serialize;
use std::path::PathBuf;
use tablewright_core::compile::lower;
use tablewright_core::compile::plan as compile_plan;
use tablewright_core::dialect::{Dialect, DsqlClass};
use tablewright_core::generate;
use tablewright_core::project::config::Config;
use tablewright_core::project::import;
use tablewright_core::runner::introspect::UnmodelledKind;
use tablewright_core::runner::{Event, MigrationSet, scratch};
use tablewright_core::schema::desired::AllowDrops;
use tablewright_core::schema::scan;

/// Examples for `--help`.
pub const EXAMPLES: &str = "\
Examples:
  # drizzle-kit's `out` folder, entity structs written to src/entities.rs
  tablewright import drizzle --from drizzle/ --structs src/entities.rs
  # drizzle's migrator kept its history elsewhere
  tablewright import drizzle --from drizzle/ --drizzle-history app.migrations
  # replay the history on a server of your own instead of a throwaway one
  tablewright import drizzle --from drizzle/ --connection-string postgres://localhost/postgres

Exit codes: 0 ok, 1 the history made something the structs cannot say (nothing written),
2 input error (nothing written), 3 a migration failed in the replay.";

/// Where to import from.
#[derive(clap::Subcommand)]
pub enum Source {
    /// A drizzle-kit folder (0.x with any tag prefix, or v1's one folder per migration;
    /// postgresql): its SQL files kept byte for
    /// byte, replayed into a scratch database to learn what each migration made, entity
    /// structs written from what the last one left. `migrate` then takes what drizzle's
    /// migrator applied (drizzle.__drizzle_migrations) as applied.
    #[command(after_help = EXAMPLES)]
    Drizzle(Args),
}

/// `import drizzle`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The drizzle-kit output folder (holding meta/_journal.json; with drizzle-kit v1, one
    /// `<timestamp>_<name>/` folder per migration).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Where to write the entity structs (default: the config's `schema` entry, when it
    /// names one file that does not exist yet).
    #[arg(long, value_name = "FILE")]
    structs: Option<PathBuf>,
    /// The table drizzle's migrator recorded applied migrations in, `schema.table`
    /// (drizzle's `migrationsSchema` and `migrationsTable`); kept in the journal.
    #[arg(long, value_name = "SCHEMA.TABLE", default_value = import::DRIZZLE_HISTORY)]
    drizzle_history: String,
    /// A PostgreSQL server to replay the history on, in a scratch database dropped
    /// afterwards (default: a throwaway server started from this machine's PostgreSQL
    /// binaries). What the history makes outside its database (roles) stays on it.
    #[arg(long, value_name = "URL")]
    connection_string: Option<String>,
}

super::outcomes! {
    /// The folder was imported.
    Imported,
    /// Something the history made cannot be said in the structs; nothing was written (exit 1).
    NotExpressible,
}

/// What `import drizzle` wrote.
#[derive(Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ImportReport {
    /// The migrations folder written (or that would have been).
    pub folder: String,
    /// The migrations imported, in order.
    pub migrations: Vec<String>,
    /// The entity structs' file.
    pub structs: String,
    /// What the history made that the structs cannot say, each naming the object; when
    /// not empty, nothing was written.
    pub not_expressible: Vec<String>,
    /// What the history made that tablewright leaves as it is and does not manage (views,
    /// functions, policies, SERIAL sequences, ..).
    pub not_expressed: Vec<String>,
    /// What runs otherwise than drizzle's migrator ran it: files' own BEGIN/COMMIT left
    /// out, SQL files the journal does not name (never run, not imported), and on a dsql
    /// project the statements `migrate` would refuse.
    pub runs_otherwise: Vec<String>,
    /// The project's dialect.
    pub dialect: Dialect,
}

impl Report for ImportReport {
    type Status = Status;

    fn status(&self) -> Status {
        if self.not_expressible.is_empty() {
            Status::Imported
        } else {
            Status::NotExpressible
        }
    }

    fn text(&self) -> String {
        let mut text = String::new();
        if !self.not_expressible.is_empty() {
            text.push_str(&format!(
                "Not imported: {} thing(s) the drizzle-kit history made cannot be said in the structs, and a `generate` from structs without them could drop or change them. Nothing was written.\n",
                self.not_expressible.len()
            ));
            for n in &self.not_expressible {
                text.push_str(&format!("  - {n}\n"));
            }
            text.push_str("Change them in a drizzle-kit migration (or drop what is not needed), then import again.\n");
            return text;
        }
        text.push_str(&format!(
            "Imported {} drizzle-kit migration(s) ({}) into {}, SQL files unchanged; entity structs in {}.\n",
            self.migrations.len(),
            self.migrations.join(", "),
            self.folder,
            self.structs
        ));
        if !self.not_expressed.is_empty() {
            text.push_str(&format!("{} thing(s) the structs do not declare; tablewright leaves them as the SQL files made them:\n", self.not_expressed.len()));
            for n in &self.not_expressed {
                text.push_str(&format!("  - {n}\n"));
            }
        }
        if !self.runs_otherwise.is_empty() {
            text.push_str(&format!(
                "{} thing(s) run otherwise than drizzle's migrator ran them:\n",
                self.runs_otherwise.len()
            ));
            for n in &self.runs_otherwise {
                text.push_str(&format!("  - {n}\n"));
            }
        }
        if self.dialect == Dialect::Dsql {
            text.push_str("The dialect is dsql: drizzle-kit's SQL was written for PostgreSQL; `tablewright check-dsql` lists what DSQL refuses.\n");
        }
        text.push_str("`tablewright migrate` records what drizzle's migrator applied (drizzle.__drizzle_migrations) as applied and runs only the rest; `tablewright generate` now numbers after the last drizzle migration.\n");
        text
    }
}

/// Runs `import drizzle`.
pub fn drizzle(cx: &Context, args: Args) -> Result<Done<ImportReport>, CliError> {
    let Args {
        from,
        structs,
        drizzle_history,
        connection_string,
    } = args;
    if !drizzle_history
        .split_once('.')
        .is_some_and(|(s, t)| !s.is_empty() && !t.is_empty() && !t.contains('.'))
    {
        return Err(CliError::input(
            "usage",
            format!(
                "--drizzle-history `{drizzle_history}`: expected `schema.table`, as drizzle's migrationsSchema and migrationsTable (default {})",
                import::DRIZZLE_HISTORY
            ),
        ));
    }
    if !from.is_dir() {
        return Err(CliError::input(
            "import",
            format!(
                "{}: not a folder; --from names drizzle-kit's `out` folder (holding meta/_journal.json, or one folder per migration with drizzle-kit v1)",
                from.display()
            ),
        ));
    }
    let config = Config::load(&cx.config)?;
    let _lock = cx.lock_for_writing(&config.out)?;
    let structs = match structs {
        Some(path) => path,
        None => match config.schema.as_slice() {
            [one] if !one.contains(['*', '?', '[']) => config.root.join(one),
            _ => {
                return Err(CliError::input(
                    "usage",
                    format!(
                        "{}: `schema` does not name one file; pass --structs FILE for the entity structs",
                        config.path.display()
                    ),
                ));
            }
        },
    };
    if structs.exists() {
        return Err(CliError::input(
            "usage",
            format!(
                "{}: already exists; import writes new entity structs (pass another --structs FILE)",
                structs.display()
            ),
        ));
    }
    if config.out.join("meta").join("_journal.json").exists() {
        return Err(import::ImportError::NotEmpty(config.out.clone()).into());
    }
    let folder = import::read_drizzle_folder(&from)?;
    let journal = import::journal(&folder, &drizzle_history);
    let sources: Vec<(String, Vec<u8>)> = folder
        .migrations
        .iter()
        .map(|m| (m.tag.clone(), m.sql.clone()))
        .collect();
    let set = MigrationSet::from_memory(&journal, &sources, &from.display().to_string())?;
    // Not DATABASE_URL: the replay creates what the history creates, roles included, and
    // those outlive the scratch database; a throwaway server is left as it was found.
    let named = connection_string;
    let history = history_of(&config);
    let rewrites = std::sync::Mutex::new(Vec::new());
    let replayed = block_on(None, async {
        let stop = termination();
        let mut stop = std::pin::pin!(stop);
        let (_embedded, admin_url) = named_or_throwaway(named.as_deref(), &mut stop).await?;
        let events = |e: Event| {
            if let Event::Rewritten {
                tag,
                number,
                reason,
                ..
            }
            | Event::Skipped {
                tag,
                number,
                reason,
            } = e
            {
                rewrites
                    .lock()
                    .expect("not poisoned")
                    .push(format!("{tag}: statement {number}: {reason}"));
            }
        };
        let (_, replayed) =
            scratch::with_scratch_database(&admin_url, "import", stop, async |url: &str| {
                scratch::replay_each(url, &set, &history, &events).await
            })
            .await?;
        Ok::<_, CliError>(replayed)
    })?;
    let last = replayed
        .last()
        .expect("a drizzle folder read has migrations");
    let (mut not_expressible, listed): (Vec<_>, Vec<_>) = last
        .unmodelled
        .iter()
        .partition(|u| cannot_be_said(&u.kind));
    let mut not_expressible: Vec<String> =
        not_expressible.drain(..).map(|u| u.note.clone()).collect();
    let mut notes = Vec::new();
    let mut runs_otherwise = rewrites.into_inner().expect("not poisoned");
    runs_otherwise.extend(folder.unlisted.iter().map(|file| {
        format!(
            "{file} is not in the journal: drizzle's migrator never ran it, and it is not imported"
        )
    }));
    if config.dialect == Dialect::Dsql {
        runs_otherwise.extend(dsql_refusals(&folder));
    }
    notes.extend(listed.into_iter().map(|u| u.note.clone()));
    notes.extend(last.beside_notes());
    let plan = import::plan_drizzle_import(
        &folder,
        replayed.iter().map(|r| r.schema.clone()).collect(),
        &config.out,
        config.dialect,
        &drizzle_history,
    )?;
    let entities = tablewright_core::schema::codegen::entities(
        &plan.schema,
        &format!("the drizzle-kit folder {}", from.display()),
    );
    notes.extend(entities.not_expressed);
    // The structs must say exactly what the last migration left: read back as `generate`
    // reads them, they plan nothing.
    let mut scan = scan::Scan::default();
    let mut errors = Vec::new();
    scan::scan_source(
        &structs,
        &entities.source,
        &mut scan,
        &mut errors,
        &tablewright_core::schema::sql_text::ParsedFragments,
    );
    not_expressible.extend(
        errors
            .iter()
            .map(|e| format!("the structs written for it do not read back: {e}")),
    );
    if errors.is_empty() {
        match lower::diff_for(
            &plan.schema,
            &scan.desired,
            &AllowDrops::default(),
            config.dialect,
        ) {
            Ok((changes, _)) => not_expressible.extend(changes.ops.iter().map(|op| {
                format!("the structs cannot say it as the database has it: `generate` would {op}")
            })),
            Err(e) => not_expressible.push(format!("the structs written for it are refused: {e}")),
        }
    }
    let mut report = ImportReport {
        folder: config.out.display().to_string(),
        migrations: plan.migrations.clone(),
        structs: structs.display().to_string(),
        not_expressible,
        not_expressed: Vec::new(),
        runs_otherwise,
        dialect: config.dialect,
    };
    if !report.not_expressible.is_empty() {
        report.not_expressed = notes;
        return Ok(Done::checked(report, true));
    }
    let mut files = plan.files.clone();
    files.push((structs.clone(), entities.source.into_bytes()));
    tablewright_core::project::fsio::write_all_or_nothing(&files)?;
    // The permissions file follows the sources, as after any `generate` (no handler declares
    // anything yet, so it names no grant), so that `generate --check` passes at once.
    if let Ok(files) = config.schema_files()
        && let Ok(scanned) =
            scan::scan_files(&files, &tablewright_core::schema::sql_text::ParsedFragments)
        && let Some(permissions) = generate::plan_permissions(&config, &scanned)?
    {
        generate::write(None, Some(&permissions))?;
    }
    // drizzle-kit wrote PostgreSQL; on a dsql project, say now what DSQL cannot hold.
    if config.dialect == Dialect::Dsql {
        let desired = tablewright_core::schema::desired::DesiredSchema {
            schema: plan.schema.clone(),
            ..Default::default()
        };
        if let Ok((changes, next)) = lower::diff_for(
            &Default::default(),
            &desired,
            &AllowDrops::default(),
            config.dialect,
        ) && let Err(compile_plan::PlanError::Refused { refusals, .. }) =
            compile_plan::plan(&changes, &next, config.dialect)
        {
            notes.extend(refusals.iter().map(|r| format!("on dsql: {r}")));
        }
    }
    report.not_expressed = notes;
    Ok(Done::ok(report))
}

/// On a dsql project: the imported files' statements `migrate` refuses under DSQL's rules
/// (drizzle-kit wrote PostgreSQL), counted by class with the first few named, and the
/// way to a DSQL database from this history.
fn dsql_refusals(folder: &import::DrizzleFolder) -> Vec<String> {
    use tablewright_core::sql::dsql_check;
    let mut refused: Vec<(String, dsql_check::CheckedStatement)> = Vec::new();
    for m in &folder.migrations {
        let text = String::from_utf8_lossy(&m.sql);
        refused.extend(
            dsql_check::check_text(&text)
                .into_iter()
                .filter(|c| {
                    matches!(
                        c.class,
                        DsqlClass::ForeignKey | DsqlClass::Recreation | DsqlClass::Error
                    )
                })
                .map(|c| (m.tag.clone(), c)),
        );
    }
    if refused.is_empty() {
        return Vec::new();
    }
    let count = |class: DsqlClass| refused.iter().filter(|(_, c)| c.class == class).count();
    let mut out = vec![format!(
        "on dsql, `migrate` refuses {} statement(s) of these files ({} FOREIGN KEY, {} RECREATION, {} ERROR; `tablewright check-dsql` shows each with its rewrite or alternative). A DSQL database drizzle already migrated is adopted as it is; to build a new one from this history, `tablewright squash` it into a baseline planned for DSQL",
        refused.len(),
        count(DsqlClass::ForeignKey),
        count(DsqlClass::Recreation),
        count(DsqlClass::Error)
    )];
    out.extend(refused.iter().take(5).map(|(tag, c)| {
        format!(
            "on dsql: {tag}.sql:{}: {} {}",
            c.line,
            c.class.label(),
            c.sql
                .split_whitespace()
                .take(8)
                .collect::<Vec<_>>()
                .join(" ")
        )
    }));
    if refused.len() > 5 {
        out.push(format!("on dsql: .. and {} more", refused.len() - 5));
    }
    out
}

/// What the model holds only in part or not at all although it is part of a table: a
/// struct without it would have a later `generate` (a DSQL table rebuild, a changed
/// column) lose or change it. What lives beside the tables is left as it is and listed.
fn cannot_be_said(kind: &UnmodelledKind) -> bool {
    match kind {
        UnmodelledKind::PartialIndex(_)
        | UnmodelledKind::Generated
        | UnmodelledKind::OtherSchemaKey
        | UnmodelledKind::DeferrableKey
        | UnmodelledKind::IdentityBounds
        | UnmodelledKind::NotValid
        | UnmodelledKind::Exclusion
        | UnmodelledKind::Unlogged
        | UnmodelledKind::Unreadable => true,
        UnmodelledKind::DefinedType { .. }
        | UnmodelledKind::Sequence { .. }
        | UnmodelledKind::NotATable => false,
    }
}
