//! SQL text: identifiers, splitting migration files into statements, what a statement is
//! (for the runner), directives, the DSQL emulation, and check-dsql. Only `ident` is
//! built without the `compiler` feature: the model (which the derive uses) quotes with it.

#[cfg(feature = "compiler")]
pub mod directive;
#[cfg(feature = "lint")]
pub mod dsql_check;
#[cfg(feature = "compiler")]
pub mod emulate;
pub mod ident;
#[cfg(feature = "compiler")]
pub mod split;
#[cfg(feature = "compiler")]
pub mod statement;
#[cfg(feature = "compiler")]
pub mod tokens;

/// Runs a SQL parser over `text` within a time budget. The parser (sqlparser-dsql, and
/// dsql-lint on it) backtracks, and some shapes of text take it exponential time: the fuzz
/// runs found three (long dotted names, stray dots, `CASE`s among `~` operators), each a
/// few hundred bytes that took minutes. Text with the first two shapes is given up on at
/// once (`tokens::has_overlong_name`). Short text parses in microseconds and runs here;
/// longer text runs on a thread of its own, and after `PARSE_BUDGET` it is given up on
/// (`None`): the thread is left to finish and the caller refuses the text. Nothing
/// written by a person or printed by PostgreSQL comes near the budget (a check with a
/// 1,000-value `IN` list as PostgreSQL prints it, 14 KB, parses in 3 ms, release build).
#[cfg(feature = "compiler")]
pub fn within_parse_budget<T: Send + 'static>(
    text: &str,
    parse: impl FnOnce(&str) -> T + Send + 'static,
) -> Option<T> {
    // Below this length every blow-up found took under 30 ms.
    const INLINE_BYTES: usize = 160;
    if tokens::has_overlong_name(text) {
        return None;
    }
    if text.len() <= INLINE_BYTES {
        return Some(parse(text));
    }
    let owned = text.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("sql-parse".into())
        .spawn(move || {
            let _ = tx.send(parse(&owned));
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(PARSE_BUDGET).ok()
}

/// How long a parse of one expression, type or statement may take.
#[cfg(feature = "compiler")]
pub(crate) const PARSE_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);
