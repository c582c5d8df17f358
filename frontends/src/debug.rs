//! `SMELT_DEBUG` levels (STYLE.md): 1 = graphs run, 2 = guards and
//! recompiles with reasons, plans, timings. Messages go to stderr.

use std::sync::OnceLock;

/// The `SMELT_DEBUG` level (0 when unset or not a number), read once.
pub(crate) fn level() -> u32 {
    static LEVEL: OnceLock<u32> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        std::env::var("SMELT_DEBUG").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    })
}

/// Prints `msg()` on stderr when the level is at least `at`.
pub(crate) fn log(at: u32, msg: impl FnOnce() -> String) {
    if level() >= at {
        eprintln!("smelt[compile]: {}", msg());
    }
}
