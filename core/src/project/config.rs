//! `tablewright.toml`. Paths in it are relative to the file itself, so every command works
//! the same from any directory with `--config PATH`.

use crate::dialect::Dialect;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The config file's name, looked up in the current directory by default.
pub const DEFAULT_CONFIG: &str = "tablewright.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    dialect: Dialect,
    schema: Vec<String>,
    #[serde(default = "default_out")]
    out: String,
    #[serde(default = "default_permissions")]
    permissions: String,
    #[serde(default)]
    history: HistoryFile,
    #[serde(default)]
    roles: RolesFile,
    #[serde(default)]
    generate: GenerateFile,
}

/// `[generate]`: warnings that make `generate` fail (`deny = ["table-rebuild", "drop"]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateFile {
    #[serde(default)]
    deny: Vec<String>,
}

/// `[roles]`: the role of handlers that name none, IAM role ARNs for DSQL, and whether
/// `apply` revokes privileges no handler declares from the roles the file manages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesFile {
    default: Option<String>,
    #[serde(default)]
    iam: BTreeMap<String, String>,
    #[serde(default = "yes")]
    revoke_undeclared: bool,
}

impl Default for RolesFile {
    fn default() -> Self {
        RolesFile {
            default: None,
            iam: BTreeMap::new(),
            revoke_undeclared: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[history]`: where the runner keeps its bookkeeping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HistoryFile {
    schema: String,
    table: String,
}

impl Default for HistoryFile {
    fn default() -> Self {
        HistoryFile {
            schema: "tablewright".into(),
            table: "migrations".into(),
        }
    }
}

fn default_out() -> String {
    "migrations".into()
}

fn default_permissions() -> String {
    "permissions/permissions.sql".into()
}

/// What `--deny` and `[generate] deny` take: every warning id, and `drop` for both drops.
pub fn deniable() -> Vec<&'static str> {
    let mut ids = vec!["drop"];
    ids.extend(crate::compile::warnings::WARNING_IDS);
    ids
}

/// Whether `id` is one of [`deniable`].
pub(crate) fn is_deniable(id: &str) -> bool {
    deniable().contains(&id)
}

/// A loaded configuration, paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The config file.
    pub path: PathBuf,
    /// The folder paths are relative to.
    pub root: PathBuf,
    /// The target dialect.
    pub dialect: Dialect,
    /// Glob patterns of Rust files holding the entities and handlers, as written.
    pub schema: Vec<String>,
    /// The migrations folder.
    pub out: PathBuf,
    /// The permissions file (written by the permissions feature).
    pub permissions: PathBuf,
    /// `[history] schema`: the runner's schema.
    pub history_schema: String,
    /// `[history] table`: the runner's history table (the lock table is `<table>_lock`).
    pub history_table: String,
    /// `[roles] default`: the role of a `#[requires_table]` without `role = ".."`.
    pub default_role: Option<String>,
    /// `[roles.iam]`: role → IAM role ARN, written as `AWS IAM GRANT` on DSQL.
    pub iam_roles: BTreeMap<String, String>,
    /// `[roles] revoke_undeclared` (default true): `permissions apply` and `migrate` revoke
    /// from the roles the permissions file names the table privileges no handler declares.
    pub revoke_undeclared: bool,
    /// `[generate] deny`: warning ids (or `drop`) that make `generate` fail.
    pub deny: Vec<String>,
}

/// The config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {}: {source} (run from the folder holding tablewright.toml, or pass --config PATH)", path.display())]
    #[allow(missing_docs)] // the field names say what they hold
    Read {
        /// The config file (`tablewright.toml`, or the one `--config` names).
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("config {}: {message}", path.display())]
    Parse {
        /// The config file (`tablewright.toml`, or the one `--config` names).
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A glob pattern is malformed or matches nothing.
    #[error("config {}: `schema` pattern `{pattern}` {problem}", path.display())]
    Pattern {
        /// The config file (`tablewright.toml`, or the one `--config` names).
        path: PathBuf,
        /// The `schema` pattern as written, relative to the config's folder.
        pattern: String,
        /// What is wrong.
        problem: String,
    },
}

impl Config {
    /// Reads and resolves a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Parses config text as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        if file.schema.is_empty() {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message:
                    "`schema` lists no patterns: add globs such as `schema = [\"src/**/*.rs\"]`"
                        .into(),
            });
        }
        if let Some(unknown) = file.generate.deny.iter().find(|id| !is_deniable(id)) {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!(
                    "`[generate] deny` names `{unknown}`, which is no warning: use {}",
                    deniable().join(", ")
                ),
            });
        }
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Config {
            path: path.to_path_buf(),
            out: root.join(&file.out),
            permissions: root.join(&file.permissions),
            root,
            dialect: file.dialect,
            schema: file.schema,
            history_schema: file.history.schema,
            history_table: file.history.table,
            default_role: file.roles.default,
            iam_roles: file.roles.iam,
            revoke_undeclared: file.roles.revoke_undeclared,
            deny: file.generate.deny,
        })
    }

    /// The Rust files the `schema` patterns match, sorted and deduplicated. A pattern that
    /// matches nothing is an error: it is almost always a typo.
    pub fn schema_files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = Vec::new();
        for pattern in &self.schema {
            let full = self.root.join(pattern);
            let pattern_error = |problem: String| ConfigError::Pattern {
                path: self.path.clone(),
                pattern: pattern.clone(),
                problem,
            };
            let paths = glob::glob(&full.to_string_lossy())
                .map_err(|e| pattern_error(format!("is not a valid glob: {e}")))?;
            let before = files.len();
            for entry in paths {
                let p = entry.map_err(|e| pattern_error(format!("could not be expanded: {e}")))?;
                if p.is_file() {
                    files.push(p);
                }
            }
            if files.len() == before {
                return Err(pattern_error(format!(
                    "matches no file (looked for {})",
                    full.display()
                )));
            }
        }
        files.sort();
        files.dedup();
        Ok(files)
    }
}

impl crate::error::Classified for ConfigError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        "config"
    }
}
/// The runner's bookkeeping tables for the history table `table` in `schema`, as the model
/// names tables: the history, its lock and its batches. No struct may take these names.
pub(crate) fn bookkeeping_tables(schema: &str, table: &str) -> [String; 3] {
    bookkeeping_table_names(table).map(|t| crate::schema::model::qualified_table_name(schema, &t))
}

/// The same in their schema: `<table>`, `<table>_lock`, `<table>_batches`.
pub(crate) fn bookkeeping_table_names(table: &str) -> [String; 3] {
    [
        table.to_owned(),
        format!("{table}_lock"),
        format!("{table}_batches"),
    ]
}
