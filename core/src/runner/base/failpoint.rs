//! Failpoints: named steps of the runner where a test can stop the process dead (a crash
//! at an exact step) or run code of its own (a write during a copy, a lock taken over).
//! They exist only with the `failpoints` feature, which release builds never enable (the
//! test builds of this workspace do); without it [`hit`] is empty.
//!
//! The steps, in the order a statement passes them:
//!
//! | name | reached when |
//! |---|---|
//! | `runner::after_adoption` | what drizzle-kit applied was recorded (an imported folder, before anything runs) |
//! | `runner::after_start` | a migration's history row was created |
//! | `runner::after_marker` | a statement that commits alone was recorded as executing |
//! | `runner::after_statement` | that statement took effect; its cursor is not moved yet |
//! | `runner::after_cursor` | the cursor moved past a statement (or a transaction of them) |
//! | `runner::after_batch` | a batch of a copy or backfill committed with its cursor |
//! | `runner::after_copy_pass` | a copy's checksums were compared with the source once |
//! | `runner::after_recopy` | a copied range whose rows changed was copied again |
//!
//! With the feature, `FAILPOINTS="runner::after_cursor=3*off->return(halt)"` (read by
//! `configure_from_env`) lets the first three passes go and halts the fourth: the
//! process prints `tablewright: halted at runner::after_cursor` on stderr and stops, for
//! the test to kill it. In-process tests use `fail::cfg_callback`.

/// Marks a step (see the table above).
#[inline]
pub(crate) fn hit(name: &'static str) {
    #[cfg(feature = "failpoints")]
    fail::eval(name, |arg| {
        if arg.as_deref() == Some("halt") {
            halt(name)
        }
    });
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}

#[cfg(feature = "failpoints")]
fn halt(name: &str) -> ! {
    use std::io::Write;
    eprintln!("tablewright: halted at {name}");
    let _ = std::io::stderr().flush();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Configures the failpoints named in `FAILPOINTS` (`name=actions;name=actions`), as
/// the `fail` crate reads them. A test hook: only builds with the `failpoints` feature
/// have it.
#[cfg(feature = "failpoints")]
pub fn configure_from_env() {
    if let Ok(spec) = std::env::var("FAILPOINTS") {
        for pair in spec.split(';').filter(|p| !p.trim().is_empty()) {
            let (name, actions) = pair.split_once('=').unwrap_or((pair, ""));
            if let Err(e) = fail::cfg(name.trim(), actions.trim()) {
                eprintln!("FAILPOINTS: {pair}: {e}");
            }
        }
    }
}
