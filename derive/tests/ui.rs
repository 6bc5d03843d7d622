//! Compile-time diagnostics of `#[derive(Table)]` and `#[requires_table]`: one mistake per
//! file under `ui/`, each error on the offending token (expected output in `*.stderr`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
