//! What a [`crate::Compiled`] did: its graphs (guards, ops, kernels, runs),
//! graph breaks and why, kernels compiled, cache hits and misses, and each
//! recompile with its reason. Printed by `Display`.

use std::fmt;

/// One cached graph (or eager fallback) of a compiled callable.
#[derive(Clone, Debug)]
pub struct GraphInfo {
    /// `g0`, `g1`, … in creation order.
    pub id: usize,
    /// The guard per input (`f32[2, s0, 128]`; a symbol marks a dynamic dim).
    pub guards: Vec<String>,
    /// IR instructions after optimization (0 for an eager fallback).
    pub ops: usize,
    /// Instructions that read only captured tensors, computed once when
    /// the graph was made (not counted in `ops`).
    pub frozen: usize,
    /// Kernels the planner makes of it (0 for an eager fallback).
    pub kernels: usize,
    /// True if some dim is symbolic.
    pub symbolic: bool,
    /// Calls that ran it (the first, compiling one included).
    pub runs: usize,
    /// How it runs: `fused`, `op by op`, or `eager`.
    pub mode: &'static str,
}

/// A graph break: where a compiled callable does not run one fused graph.
#[derive(Clone, Debug)]
pub struct BreakInfo {
    /// The graph it concerns.
    pub graph: usize,
    /// What falls back: `eager program` (an op with no IR form: the whole
    /// program runs eagerly on every call) or `op by op` (a kernel the
    /// backend cannot compile: the graph runs one op at a time).
    pub fallback: &'static str,
    /// Why, naming the op.
    pub reason: String,
}

/// The report of [`crate::Compiled::explain`].
#[derive(Clone, Debug, Default)]
pub struct Explain {
    /// Cached graphs, oldest first (a graph replaced by its symbolic
    /// successor is gone).
    pub graphs: Vec<GraphInfo>,
    /// Graph breaks.
    pub breaks: Vec<BreakInfo>,
    /// Kernels the backend compiled while compiled graphs ran.
    pub kernels_compiled: usize,
    /// Calls answered by a cached graph.
    pub hits: usize,
    /// Calls that traced (the first call included).
    pub misses: usize,
    /// Each miss after the first: which guard failed and what was done.
    pub recompiles: Vec<String>,
    /// Dims that changed size but stay static, and why.
    pub static_dims: Vec<String>,
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} graph(s), {} break(s), {} kernel(s) compiled, {} hit(s), {} miss(es)",
            self.graphs.len(),
            self.breaks.len(),
            self.kernels_compiled,
            self.hits,
            self.misses
        )?;
        for g in &self.graphs {
            writeln!(
                f,
                "  g{}: ({}) {} ops ({} frozen), {} kernels, {}{}, {} run(s)",
                g.id,
                g.guards.join(", "),
                g.ops,
                g.frozen,
                g.kernels,
                g.mode,
                if g.symbolic { ", symbolic" } else { "" },
                g.runs
            )?;
        }
        for b in &self.breaks {
            writeln!(f, "  break in g{} ({}): {}", b.graph, b.fallback, b.reason)?;
        }
        for r in &self.recompiles {
            writeln!(f, "  recompile: {r}")?;
        }
        for s in &self.static_dims {
            writeln!(f, "  static: {s}")?;
        }
        Ok(())
    }
}
