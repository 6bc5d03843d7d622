//! The fuzz targets (`fuzz/targets.rs`, run by libFuzzer through `scripts/fuzz`) replayed
//! on stable over their seed corpus and every input a fuzzer found, kept as regression
//! cases: what broke once stays fixed, in every run of the suite.

#[path = "../../fuzz/targets.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = 0;
    for dir in [fuzz.join("seeds").join(target), fuzz.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            // A failing input names itself.
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} fails (replay it with scripts/fuzz {target} {})", path.display(), path.display());
            inputs += 1;
        }
    }
    assert!(inputs > 0, "{target}: no seed corpus in fuzz/seeds/{target}");
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
