//! What the tests that run the `tablewright` binary as a process share: the binary, its
//! output as text, its exit code checked, the provider flag of a mode, a hand-written migrations folder, and a
//! folder's files, to show that a command wrote nothing.

#![allow(dead_code)] // each test crate uses part of it

use crate::common::Mode;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tablewright"))
}

/// A process's output, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that the process exited with `code`; when it did not, the message shows what
/// it printed.
#[track_caller]
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `--provider` for `mode`.
pub fn provider(mode: Mode) -> &'static str {
    match mode {
        Mode::Postgres => "postgres",
        Mode::DsqlGuarded => "dsql",
    }
}

/// An empty project of `dialect` whose entity structs go in `src/entities.rs`, as
/// `import drizzle` and `pull` write them.
pub fn entities_project(dialect: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("dialect = \"{dialect}\"\nschema = [\"src/entities.rs\"]\n");
    std::fs::write(dir.path().join("tablewright.toml"), config).unwrap();
    dir
}

/// A migrations folder of hand-written files: `(tag, statements)` each, with a journal.
pub fn hand_folder(migrations: &[(&str, &[&str])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("meta")).unwrap();
    let mut entries = Vec::new();
    for (i, (tag, statements)) in migrations.iter().enumerate() {
        let sql = statements.join("\n--> statement-breakpoint\n") + "\n";
        std::fs::write(dir.path().join(format!("{tag}.sql")), &sql).unwrap();
        let hash = tablewright_core::project::hash::migration_hash(sql.as_bytes());
        entries.push(serde_json::json!({"idx": i, "version": "7", "when": i, "tag": tag, "breakpoints": true, "hash": hash}));
    }
    let journal = serde_json::json!({"version": "7", "dialect": "postgresql", "entries": entries});
    std::fs::write(dir.path().join("meta/_journal.json"), journal.to_string()).unwrap();
    dir
}

/// Every file under `dir`, its subfolders' included, with its bytes.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}
