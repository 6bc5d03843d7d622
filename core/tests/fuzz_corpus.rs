//! The fuzz targets (`fuzz/targets.rs`, run by libFuzzer through `scripts/fuzz`) replayed
//! on stable over their seed corpus and every input a fuzzer found, kept as regression
//! cases: what broke once stays fixed, in every run of the suite.

#[path = "../../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

/// Every file under `dir`, its subfolders' included.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn replay(target: &str, run: fn(&[u8])) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The folders fuzz/seeds.txt names for the target, as scripts/fuzz reads them.
    let list = std::fs::read_to_string(repo.join("fuzz/seeds.txt")).unwrap();
    let seeds = list
        .lines()
        .map(str::split_whitespace)
        .find_map(|mut words| {
            (words.next() == Some(target)).then(|| words.map(|w| repo.join(w)).collect::<Vec<_>>())
        });
    let seeds = seeds.unwrap_or_else(|| panic!("{target}: no line in fuzz/seeds.txt"));
    let mut inputs = Vec::new();
    for dir in &seeds {
        files(dir, &mut inputs);
    }
    assert!(
        !inputs.is_empty(),
        "{target}: its seed folders hold no file"
    );
    let regressions = repo.join("fuzz/regressions").join(target);
    if regressions.is_dir() {
        files(&regressions, &mut inputs);
    }
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        // A failing input names itself.
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails (replay it with scripts/fuzz {target} {})",
            path.display(),
            path.display()
        );
    }
}

#[test]
fn journal_and_snapshot() {
    replay("journal_and_snapshot", targets::journal_and_snapshot);
}

#[test]
fn statements() {
    replay("statements", targets::statements);
}

#[test]
fn attributes() {
    replay("attributes", targets::attributes);
}

#[test]
fn expression() {
    replay("expression", targets::expression);
}
