//! The pass runner: applies a list of passes and owns everything that is not
//! a rewrite — verifying after each pass, dumping before/after, timing,
//! stopping after pass N (bisecting), and the observer `--after` uses.
//!
//! Invariant: when verification is on, the function is valid after every pass
//! that returned, or the runner has returned [`PassError::Broke`] naming the
//! pass that broke it.

use std::fmt;
use std::time::{Duration, Instant};

use super::{PIPELINE, Pass, PassError};
use crate::ir::{Func, verify};

/// The most rounds of the whole list: the passes only shrink the graph, so a
/// fixpoint comes quickly; the cap guards against two passes undoing each
/// other forever (a bug, but not one that should hang the compiler).
pub const MAX_ROUNDS: usize = 4;

/// The observer [`PipelineOptions::on_pass`] holds: pass name, function after it.
pub type OnPass<'a> = &'a mut dyn FnMut(&str, &Func);

/// How [`run_pipeline`] runs.
pub struct PipelineOptions<'a> {
    /// Verify the function before the first pass and after every pass.
    pub verify: bool,
    /// Stop after this many pass runs (counting repeats across rounds).
    pub stop_after: Option<usize>,
    /// Print the function to stderr before and after the passes named here:
    /// a pass name, a comma-separated list of them, or `all`.
    pub dump: Option<String>,
    /// Called after every pass run with the pass's name and the function.
    pub on_pass: Option<OnPass<'a>>,
}

impl Default for PipelineOptions<'_> {
    /// Verify in debug builds; dump what `SMELT_DUMP` names.
    fn default() -> Self {
        PipelineOptions {
            verify: cfg!(debug_assertions),
            stop_after: None,
            dump: std::env::var("SMELT_DUMP").ok().filter(|s| !s.is_empty()),
            on_pass: None,
        }
    }
}

impl fmt::Debug for PipelineOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineOptions")
            .field("verify", &self.verify)
            .field("stop_after", &self.stop_after)
            .field("dump", &self.dump)
            .field("on_pass", &self.on_pass.is_some())
            .finish()
    }
}

/// One pass run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassRun {
    /// The pass.
    pub name: &'static str,
    /// Whether it changed the function.
    pub changed: bool,
    /// How long it took (the pass alone, not verification or dumps).
    pub time: Duration,
}

/// What a pipeline run did, pass run by pass run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineReport {
    /// Every pass run, in order.
    pub runs: Vec<PassRun>,
}

impl PipelineReport {
    /// True if any pass changed the function.
    pub fn changed(&self) -> bool {
        self.runs.iter().any(|r| r.changed)
    }

    /// Total time spent in passes.
    pub fn total_time(&self) -> Duration {
        self.runs.iter().map(|r| r.time).sum()
    }
}

/// One line per run: `canonicalize  changed  12.3µs` (for `SMELT_DEBUG=2`).
impl fmt::Display for PipelineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.runs {
            let changed = if r.changed { "changed" } else { "-" };
            writeln!(f, "{:<14} {:<8} {:?}", r.name, changed, r.time)?;
        }
        Ok(())
    }
}

/// True if the dump option names `pass`.
fn dumps(dump: Option<&str>, pass: &str) -> bool {
    dump.is_some_and(|d| d.split(',').map(str::trim).any(|n| n == "all" || n == pass))
}

/// Runs the default pipeline ([`PIPELINE`]) on `f`.
pub fn run_pipeline(f: &mut Func, opts: PipelineOptions<'_>) -> Result<PipelineReport, PassError> {
    run_passes(f, PIPELINE, opts)
}

/// Runs the default pipeline with the default options.
pub fn optimize(f: &mut Func) -> Result<PipelineReport, PassError> {
    run_pipeline(f, PipelineOptions::default())
}

/// Runs `passes` in order, repeating the list until a round changes nothing
/// (at most [`MAX_ROUNDS`] rounds), with the cross-cutting work `opts` asks for.
pub fn run_passes(
    f: &mut Func,
    passes: &[&dyn Pass],
    mut opts: PipelineOptions<'_>,
) -> Result<PipelineReport, PassError> {
    if opts.verify {
        verify(f).map_err(PassError::Invalid)?;
    }
    let mut report = PipelineReport::default();
    for round in 1..=MAX_ROUNDS {
        let mut changed_any = false;
        for pass in passes {
            if opts.stop_after.is_some_and(|n| report.runs.len() >= n) {
                return Ok(report);
            }
            let name = pass.name();
            let dump = dumps(opts.dump.as_deref(), name);
            if dump {
                eprintln!("; ---- before {name} (round {round}) ----\n{f}");
            }
            let start = Instant::now();
            let changed = pass.run(f)?;
            report.runs.push(PassRun { name, changed, time: start.elapsed() });
            if dump {
                let what = if changed { "changed" } else { "unchanged" };
                eprintln!("; ---- after {name} (round {round}, {what}) ----\n{f}");
            }
            if opts.verify {
                verify(f).map_err(|error| PassError::Broke { pass: name, error })?;
            }
            if let Some(cb) = opts.on_pass.as_mut() {
                cb(name, f);
            }
            changed_any |= changed;
        }
        if !changed_any {
            break;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_names_one_pass_a_list_or_all() {
        assert!(dumps(Some("all"), "cse"));
        assert!(dumps(Some("cse"), "cse"));
        assert!(dumps(Some("dce, cse"), "cse"));
        assert!(!dumps(Some("dce"), "cse"));
        assert!(!dumps(None, "cse"));
    }
}
