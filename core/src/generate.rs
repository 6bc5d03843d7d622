//! `generate`: desired schema + migrations folder → the next migration's files.

use crate::compile::diff::DiffError;
use crate::compile::ops::Op;
use crate::compile::permissions::{self, PermissionProblem};
use crate::compile::plan::{self, Plan, PlanError};
use crate::compile::warnings::{Warning, warnings};
use crate::project::config::Config;
use crate::project::folder::{FolderError, FolderProblem, Inspection, MigrationFolder};
use crate::project::fsio::{self, WriteError};
use crate::project::hash;
use crate::project::journal::JournalEntry;
use crate::project::snapshot::{ORIGIN_ID, SNAPSHOT_VERSION, Snapshot, to_pretty_json};
use crate::schema::desired::{AllowDrops, DesiredSchema};
use crate::schema::model::Schema;
use crate::schema::scan::Scan;
use serde::Serialize;
use std::path::PathBuf;

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// `--name`: the part of the tag after the index.
    pub name: Option<String>,
    /// `--custom`: an empty SQL file for a hand-written migration.
    pub custom: bool,
    /// `--allow-drop`.
    pub allow_drop: AllowDrops,
    /// The journal's `when`, in milliseconds since the epoch.
    pub now_ms: u64,
    /// `--deny`: warning ids (or `drop`, for both kinds of drop) that make generate fail.
    pub deny: Vec<String>,
}

/// One change a migration makes, as data: its rules-table row, where, and for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Change {
    /// Its rules-table row (`add_column`, `create_index`, ..).
    pub kind: crate::dialect::ChangeKind,
    /// The table (its new name).
    pub table: String,
    /// The column, when the change is about one.
    pub column: Option<String>,
    /// The change, for people.
    pub detail: String,
}

impl From<&Op> for Change {
    fn from(op: &Op) -> Change {
        Change {
            kind: op.kind(),
            table: op.table().to_owned(),
            column: op.column().map(str::to_owned),
            detail: op.to_string(),
        }
    }
}

/// The next migration, ready to be written.
#[derive(Debug, Clone)]
pub struct Migration {
    /// `NNNN_name`.
    pub tag: String,
    /// The changes, one per operation.
    pub changes: Vec<Change>,
    /// The SQL file's text.
    pub sql: String,
    /// The new snapshot.
    pub snapshot: Snapshot,
    /// Files to write, in commit order (SQL, snapshot, journal last).
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Destructive or backward-incompatible changes, with stable ids.
    pub warnings: Vec<Warning>,
    /// The statements, with what the planner knows about each.
    pub plan: Plan,
}

/// Why `generate` stopped.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The migrations folder could not be read.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The migrations folder is inconsistent; generating on top would make it worse.
    #[error("migrations folder: {} problem(s); fix them before generating", .0.len())]
    Inconsistent(Vec<FolderProblem>),
    /// Decisions or schema problems.
    #[error(transparent)]
    Diff(#[from] DiffError),
    /// The dialect refuses a change.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// `--name` has nothing usable.
    #[error("--name `{0}`: use letters, digits and underscores")]
    BadName(String),
    /// Writing failed (nothing was left half-written).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Changes `--deny` (or `[generate] deny`) refuses; nothing was written.
    #[error("generate: {} change(s) denied by --deny or [generate] deny; nothing was written: make the change another way, or generate without the deny", .0.len())]
    Denied(Vec<Warning>),
    /// `squash` needs at least two migrations, and a tag of its own.
    #[error("squash: {0}")]
    NothingToSquash(String),
    /// `squash` would overwrite an earlier archive.
    #[error("squash: {} already exists; move it away (or squash later, after another migration)", .0.display())]
    ArchiveExists(PathBuf),
    /// A `#[requires_table]` names no entity or no role.
    #[error("permissions: {} problem(s) in #[requires_table]; nothing was written", .0.len())]
    Permissions(Vec<PermissionProblem>),
    /// A hand-written migration has no down file to undo it with.
    #[error("rollback: {tag} is hand-written SQL (`generate --custom`), so its reversal cannot be planned; write it in {} (statements separated by `--> statement-breakpoint` lines), then roll back", .path.display())]
    NoDownFile {
        /// The migration.
        tag: String,
        /// Where its down file goes: `<tag>.down.sql` beside it.
        path: PathBuf,
    },
    /// A down file that does not read.
    #[error("rollback: {}: {source}", .path.display())]
    DownFile {
        /// The down file.
        path: PathBuf,
        /// Why it did not read.
        source: std::io::Error,
    },
}

/// What undoes one migration: the statements that take the schema from its snapshot back
/// to the one before it.
#[derive(Debug, Clone)]
pub struct Reversal {
    /// The migration it undoes.
    pub tag: String,
    /// The statements, in the order they run.
    pub statements: Vec<String>,
    /// The warnings of the reversal (what it drops, a table rebuild).
    pub warnings: Vec<Warning>,
    /// Read from the migration's down file (`<tag>.down.sql`) rather than planned.
    pub from_down_file: bool,
}

/// The down file of migration `tag` in `folder`: `<tag>.down.sql` beside its SQL file.
pub fn down_file(folder: &MigrationFolder, tag: &str) -> PathBuf {
    folder.dir.join(format!("{tag}.down.sql"))
}

/// Plans the reversal of migration `index` of `folder` on `dialect`: by the same planner as
/// `generate`, from its snapshot back to the one before it (the renames it made undone),
/// or, when the migration has a down file, that file's statements. A hand-written
/// migration (its snapshot equal to the one before) without a down file is refused, and
/// so is a reversal that drops what `allow` does not name, as `generate` refuses it.
///
/// The groundwork of `rollback`, which no command runs yet: undoing random histories with
/// it (the evolution property test) still finds reversals that fail, such as several
/// related tables dropped in an order their foreign keys refuse.
pub fn plan_reversal(
    folder: &MigrationFolder,
    index: usize,
    dialect: crate::dialect::Dialect,
    allow: &AllowDrops,
) -> Result<Reversal, GenerateError> {
    let entries = &folder.journal.entries;
    let entry = &entries[index];
    let down = down_file(folder, &entry.tag);
    match std::fs::read_to_string(&down) {
        Ok(text) => {
            return Ok(Reversal {
                tag: entry.tag.clone(),
                statements: crate::sql::split::split_statements(&text),
                warnings: Vec::new(),
                from_down_file: true,
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(GenerateError::DownFile { path: down, source }),
    }
    let current = folder.read_snapshot(entry)?.schema;
    let previous = match index.checked_sub(1) {
        Some(p) => folder.read_snapshot(&entries[p])?.schema,
        None => Schema::default(),
    };
    if previous == current {
        return Err(GenerateError::NoDownFile {
            tag: entry.tag.clone(),
            path: down,
        });
    }
    let forward =
        crate::sql::split::split_statements(&String::from_utf8_lossy(&folder.read_sql(entry)?));
    let desired = crate::compile::renames::with_renames(
        &previous,
        &forward,
        crate::compile::renames::Direction::Backward,
    );
    let (changes, next) = crate::compile::lower::diff_for(&current, &desired, allow, dialect)?;
    let planned = plan::plan(&changes, &next, dialect)?;
    Ok(Reversal {
        tag: entry.tag.clone(),
        statements: planned.sql(),
        warnings: warnings(&changes.ops, &planned.rebuilds),
        from_down_file: false,
    })
}

/// A new text for the permissions file.
#[derive(Debug, Clone)]
pub struct PermissionsUpdate {
    /// Where it goes: the config's `permissions` (`permissions/permissions.sql` by default).
    pub path: PathBuf,
    /// Its new text.
    pub text: String,
    /// Grants in it, for reports.
    pub grants: usize,
}

/// The permissions file the handlers call for, or `None` when the file already says it.
pub fn plan_permissions(
    config: &Config,
    scan: &Scan,
) -> Result<Option<PermissionsUpdate>, GenerateError> {
    let derived = permissions::derive(
        scan,
        &config.root,
        config.default_role.as_deref(),
        &config.iam_roles,
    )
    .map_err(GenerateError::Permissions)?;
    let text = permissions::render(&derived, config.dialect);
    let current = std::fs::read(&config.permissions).ok();
    if current.as_deref().map(hash::normalized) == Some(text.clone().into_bytes()) {
        return Ok(None);
    }
    Ok(Some(PermissionsUpdate {
        path: config.permissions.clone(),
        text,
        grants: derived.grants.len(),
    }))
}

/// Writes a migration and/or the permissions file: every file or none, journal last.
pub fn write(
    migration: Option<&Migration>,
    permissions: Option<&PermissionsUpdate>,
) -> Result<(), GenerateError> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = migration.map(|m| m.files.clone()).unwrap_or_default();
    if let Some(p) = permissions {
        // Before the journal, which commits the migration.
        let at = files.len().saturating_sub(1);
        files.insert(at, (p.path.clone(), p.text.clone().into_bytes()));
    }
    fsio::write_all_or_nothing(&files)?;
    Ok(())
}

/// Lower-case words joined by `_`, at most 60 bytes.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_owned();
    out.truncate(60);
    out.trim_end_matches('_').to_owned()
}

/// Plans the next migration without writing anything; `None` when the last snapshot
/// already matches the code.
pub fn plan_migration(
    config: &Config,
    desired: &DesiredSchema,
    folder: &MigrationFolder,
    options: &GenerateOptions,
) -> Result<Option<Migration>, GenerateError> {
    plan_migration_after(config, desired, folder, folder.inspect()?, options)
}

/// [`plan_migration`] with the folder already inspected (the CLI inspects it while it
/// reads the sources).
pub fn plan_migration_after(
    config: &Config,
    desired: &DesiredSchema,
    folder: &MigrationFolder,
    inspection: Inspection,
    options: &GenerateOptions,
) -> Result<Option<Migration>, GenerateError> {
    let blocking: Vec<FolderProblem> = inspection
        .problems
        .into_iter()
        .filter(FolderProblem::blocks_generate)
        .collect();
    if !blocking.is_empty() {
        return Err(GenerateError::Inconsistent(blocking));
    }
    let last = match inspection.last {
        Some(last) => Some(last),
        // Not read (or not there): reading it again says why, as it always did.
        None => folder.last_snapshot()?,
    };
    let (prev_schema, prev_id) = match &last {
        Some(s) => (s.schema.clone(), s.id.clone()),
        None => (Schema::default(), ORIGIN_ID.to_owned()),
    };

    // The runner's own tables: a struct of that name would be created by nobody.
    let own =
        crate::project::config::bookkeeping_tables(&config.history_schema, &config.history_table);
    let taken: Vec<crate::schema::validate::Problem> = own
        .iter()
        .filter(|t| desired.schema.tables.contains_key(*t))
        .map(|t| crate::schema::validate::Problem {
            message: format!("table `{t}` is the runner's own (`[history]` in tablewright.toml): name the struct's table otherwise"),
            location: desired.sources.get(t).and_then(|s| s.location.clone()),
        })
        .collect();
    if !taken.is_empty() {
        return Err(DiffError::Problems(taken).into());
    }
    let (ops, planned, schema) = if options.custom {
        (Vec::new(), Plan::default(), prev_schema.clone())
    } else {
        let (changes, next) = crate::compile::lower::diff_for(
            &prev_schema,
            desired,
            &options.allow_drop,
            config.dialect,
        )?;
        if changes.ops.is_empty() {
            return Ok(None);
        }
        let planned = plan::plan(&changes, &next, config.dialect)?;
        (changes.ops, planned, desired.schema.clone())
    };
    let mut warnings = warnings(&ops, &planned.rebuilds);
    warnings.extend(crate::compile::warnings::breaking_changes(&ops));
    warnings.extend(crate::compile::warnings::removed_enum_values(
        &prev_schema,
        &desired.schema,
    ));
    warnings.extend(crate::compile::warnings::absorbed_uniques(&ops, desired));
    let denied: Vec<Warning> = warnings
        .iter()
        .filter(|w| options.deny.iter().any(|d| w.is_denied_by(d)))
        .cloned()
        .collect();
    if !denied.is_empty() {
        return Err(GenerateError::Denied(denied));
    }

    let idx = folder.journal.entries.len() as u32;
    let name = match &options.name {
        Some(n) => {
            let s = slug(n);
            if s.is_empty() {
                return Err(GenerateError::BadName(n.clone()));
            }
            s
        }
        None if options.custom => "custom".to_owned(),
        None if last.is_none() => "init".to_owned(),
        None => slug(&ops.first().map(Op::slug).unwrap_or_default()),
    };
    let tag = format!("{idx:04}_{name}");
    let sql = if options.custom {
        format!(
            "-- Custom migration {tag}: as written it applies as a no-op.\n\
             -- Write its SQL below, one statement per chunk, chunks separated by a line that holds\n\
             -- only `--> statement-breakpoint`. Then run\n\
             --   tablewright rehash --tag {tag}\n\
             -- to record the file's new hash: until then `check` reports it as edited.\n"
        )
    } else {
        crate::sql::split::migration_file(&planned.sql())
    };
    let snapshot = Snapshot::new(config.dialect, &prev_id, &tag, schema);

    let mut journal = folder.journal.clone();
    journal.entries.push(JournalEntry {
        idx,
        version: SNAPSHOT_VERSION.to_owned(),
        when: options.now_ms,
        tag: tag.clone(),
        breakpoints: true,
        hash: hash::migration_hash(sql.as_bytes()),
    });
    let files = vec![
        (folder.sql_path(&tag), sql.clone().into_bytes()),
        (
            folder.snapshot_path(&format!("{idx:04}")),
            snapshot.to_json().into_bytes(),
        ),
        (folder.journal_path(), to_pretty_json(&journal).into_bytes()),
    ];
    Ok(Some(Migration {
        tag,
        changes: ops.iter().map(Change::from).collect(),
        sql,
        snapshot,
        files,
        warnings,
        plan: planned,
    }))
}

/// A squash of the whole history into one baseline migration, ready to be written.
#[derive(Debug, Clone)]
pub struct Squash {
    /// The baseline's tag, `0000_<name>`.
    pub tag: String,
    /// The migrations it replaces, in order.
    pub squashed: Vec<String>,
    /// Where the old files go.
    pub archive: PathBuf,
    /// The old files and their place in the archive (the journal last).
    pub moves: Vec<(PathBuf, PathBuf)>,
    /// The new files: SQL, snapshot, journal last.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Statements in the baseline.
    pub statements: usize,
    /// Squashed migrations that changed no schema (hand-written data migrations, usually):
    /// the baseline does not carry what they did.
    pub data_only: Vec<String>,
}

/// Plans `squash`: the baseline creates the last snapshot's schema from nothing, planned
/// for the configured dialect as any migration is; the old SQL files, snapshots and
/// journal go to `<out>/archive/<last tag>/`. The folder must be consistent.
pub fn plan_squash(
    config: &Config,
    folder: &MigrationFolder,
    name: &str,
    now_ms: u64,
) -> Result<Squash, GenerateError> {
    let problems = folder.verify()?;
    if !problems.is_empty() {
        return Err(GenerateError::Inconsistent(problems));
    }
    let entries = &folder.journal.entries;
    if entries.len() < 2 {
        return Err(GenerateError::NothingToSquash(format!(
            "{} holds {} migration(s); there is nothing to fold together",
            folder.dir.display(),
            entries.len()
        )));
    }
    let last = folder
        .last_snapshot()?
        .expect("a consistent folder with entries has snapshots");
    let slug = slug(name);
    if slug.is_empty() {
        return Err(GenerateError::BadName(name.to_owned()));
    }
    let last_tag = &entries[entries.len() - 1].tag;
    let archive = folder.archive_path(last_tag);
    if archive.exists() {
        return Err(GenerateError::ArchiveExists(archive));
    }
    let tag = format!("0000_{slug}");
    // A database's history may hold any earlier tag, with other bytes behind it: the
    // baseline needs a tag of its own.
    if squashed_tags(folder)?.contains(&tag) || entries.iter().any(|e| e.tag == tag) {
        return Err(GenerateError::NothingToSquash(format!(
            "`{tag}` already names a migration of this folder's history; choose another --name"
        )));
    }

    let desired = DesiredSchema {
        schema: last.schema.clone(),
        ..Default::default()
    };
    let (changes, next) = crate::compile::lower::diff_for(
        &Schema::default(),
        &desired,
        &AllowDrops::default(),
        config.dialect,
    )?;
    let planned = plan::plan(&changes, &next, config.dialect)?;
    let sql = crate::sql::split::migration_file(&planned.sql());
    let snapshot = Snapshot::new(config.dialect, ORIGIN_ID, &tag, last.schema.clone());
    // The baseline is this tool's own: another tool's history names files it replaces.
    let journal = crate::project::journal::Journal {
        entries: vec![JournalEntry {
            idx: 0,
            version: SNAPSHOT_VERSION.to_owned(),
            when: now_ms,
            tag: tag.clone(),
            breakpoints: true,
            hash: hash::migration_hash(sql.as_bytes()),
        }],
        imported_from: None,
        ..folder.journal.clone()
    };

    let mut data_only = Vec::new();
    let mut previous = Schema::default();
    for entry in entries {
        let schema = folder.read_snapshot(entry)?.schema;
        if schema == previous {
            data_only.push(entry.tag.clone());
        }
        previous = schema;
    }
    let mut moves = Vec::new();
    for entry in entries {
        moves.push((
            folder.sql_path(&entry.tag),
            archive.join(format!("{}.sql", entry.tag)),
        ));
        moves.push((
            folder.snapshot_path(&entry.prefix()),
            archive
                .join("meta")
                .join(format!("{}_snapshot.json", entry.prefix())),
        ));
    }
    moves.push((
        folder.journal_path(),
        archive.join("meta").join("_journal.json"),
    ));
    let files = vec![
        (folder.sql_path(&tag), sql.into_bytes()),
        (
            folder.snapshot_path("0000"),
            snapshot.to_json().into_bytes(),
        ),
        (folder.journal_path(), to_pretty_json(&journal).into_bytes()),
    ];
    Ok(Squash {
        tag,
        squashed: entries.iter().map(|e| e.tag.clone()).collect(),
        archive,
        moves,
        files,
        statements: planned.statements.len(),
        data_only,
    })
}

/// The tags of every earlier squash's archived journal.
fn squashed_tags(
    folder: &MigrationFolder,
) -> Result<std::collections::BTreeSet<String>, GenerateError> {
    let mut tags = std::collections::BTreeSet::new();
    for archive in folder.archives() {
        tags.extend(
            MigrationFolder::load(&archive)?
                .journal
                .entries
                .into_iter()
                .map(|e| e.tag),
        );
    }
    Ok(tags)
}

/// Writes a squash: the archive first (all or nothing), then the baseline (all or nothing,
/// the journal last; if it fails, the archive is removed again), then the old files are
/// removed. Until the journal is replaced the folder is as it was; after it, an old file left behind by a failed removal is also in
/// the archive, and `check` names it.
pub fn write_squash(squash: &Squash) -> Result<(), GenerateError> {
    let mut archived = Vec::new();
    for (from, to) in &squash.moves {
        let bytes = std::fs::read(from).map_err(|source| FolderError::Io {
            path: from.clone(),
            source,
        })?;
        archived.push((to.clone(), bytes));
    }
    fsio::write_all_or_nothing(&archived)?;
    // Without the baseline the archive is only a copy: removed, so that the folder is as it
    // was and the squash can be run again.
    if let Err(e) = fsio::write_all_or_nothing(&squash.files) {
        let _ = std::fs::remove_dir_all(&squash.archive);
        if let Some(parent) = squash.archive.parent() {
            let _ = std::fs::remove_dir(parent); // only when no earlier squash is archived there
        }
        return Err(e.into());
    }
    let kept: Vec<&PathBuf> = squash.files.iter().map(|(p, _)| p).collect();
    for (from, _) in &squash.moves {
        if !kept.contains(&from) {
            std::fs::remove_file(from).map_err(|source| WriteError {
                path: from.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

impl crate::error::Classified for GenerateError {
    fn class(&self) -> crate::error::ErrorClass {
        match self {
            GenerateError::Folder(e) => e.class(),
            GenerateError::Diff(e) => e.class(),
            GenerateError::Plan(e) => e.class(),
            GenerateError::Write(e) => e.class(),
            _ => crate::error::ErrorClass::Input,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            GenerateError::Folder(e) => e.kind(),
            GenerateError::Diff(e) => e.kind(),
            GenerateError::Plan(e) => e.kind(),
            GenerateError::Write(e) => e.kind(),
            GenerateError::Inconsistent(_) => "folder",
            GenerateError::BadName(_) => "usage",
            GenerateError::Denied(_) => "denied",
            GenerateError::NothingToSquash(_) | GenerateError::ArchiveExists(_) => "squash",
            GenerateError::Permissions(_) => "permissions",
            GenerateError::NoDownFile { .. } | GenerateError::DownFile { .. } => "down_file",
        }
    }

    fn items(&self) -> Vec<crate::error::ErrorItem> {
        use crate::error::ErrorItem;
        match self {
            GenerateError::Folder(e) => e.items(),
            GenerateError::Diff(e) => e.items(),
            GenerateError::Plan(e) => e.items(),
            GenerateError::Write(e) => e.items(),
            GenerateError::Inconsistent(problems) => {
                problems.iter().map(FolderProblem::item).collect()
            }
            GenerateError::Denied(warnings) => warnings
                .iter()
                .map(|w| ErrorItem {
                    table: Some(w.table.clone()),
                    column: w.column.clone(),
                    ..ErrorItem::new(
                        w.id,
                        format!("warning[{}]: {}: {}", w.id, w.change, w.message),
                    )
                })
                .collect(),
            GenerateError::Permissions(problems) => problems
                .iter()
                .map(|p| ErrorItem {
                    location: Some((&p.location).into()),
                    ..ErrorItem::new("requires_table", &p.message)
                })
                .collect(),
            GenerateError::BadName(_)
            | GenerateError::NothingToSquash(_)
            | GenerateError::ArchiveExists(_)
            | GenerateError::NoDownFile { .. }
            | GenerateError::DownFile { .. } => Vec::new(),
        }
    }
}
