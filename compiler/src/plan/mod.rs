//! The fusion planner: segments a verified [`Func`] into kernels.
//!
//! Owns the segmentation ([`segment`]), the schedulers that say which groups
//! of nodes one kernel can run ([`schedulers`]), the per-kernel [`Schedule`]
//! handed to a backend, and the plan's text, JSON and DOT renderings
//! ([`render`]).
//!
//! Invariants of a [`Plan`] (checked before [`plan`] returns it; a failure is a
//! planner bug and says so): every instruction (not parameters) is in exactly
//! one kernel; a kernel's nodes are in program order; its inputs are exactly
//! the values it reads from outside (parameters or earlier kernels' outputs)
//! and its outputs exactly its nodes used outside it or returned; kernels are
//! listed in a topological order, so the kernel graph is acyclic.
//!
//! `SMELT_DEBUG=3` prints every merge decision (accepted or refused, and why)
//! to stderr.

mod render;
mod schedule;
mod schedulers;
mod segment;

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::ir::{Func, NodeId, VerifyError, verify};

pub use schedule::{LibraryDims, Schedule};

/// What a kernel is and which template a backend runs it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelKind {
    /// Elementwise ops, broadcasts and indexed loads over one domain.
    Pointwise,
    /// Reductions over one domain with a pointwise prologue and an epilogue
    /// on the reduced shape.
    Reduction,
    /// Reductions whose results are broadcast back over the reduced dims
    /// (softmax, layer norm, RMS norm, batch-norm statistics): one persistent
    /// kernel per row block.
    Normalization,
    /// A non-identity permute with a pointwise epilogue on its output domain.
    Transpose,
    /// One matmul, conv or pool through a library call.
    Library,
    /// Ops no scheduler takes, run one by one.
    Fallback,
}

impl KernelKind {
    /// The name used in plans (`pointwise`, `normalization`, …), as IR.md lists them.
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Pointwise => "pointwise",
            KernelKind::Reduction => "reduction",
            KernelKind::Normalization => "normalization",
            KernelKind::Transpose => "transpose",
            KernelKind::Library => "library",
            KernelKind::Fallback => "fallback",
        }
    }
}

impl fmt::Display for KernelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One kernel of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelPlan {
    /// `k0`, `k1`, … in the plan's (topological) order.
    pub name: String,
    /// Which scheduler took it.
    pub kind: KernelKind,
    /// Its instructions, in program order.
    pub nodes: Vec<NodeId>,
    /// The values it reads from outside (parameters or other kernels'
    /// outputs), in order of first use.
    pub inputs: Vec<NodeId>,
    /// Its nodes used by another kernel or returned, in program order.
    pub outputs: Vec<NodeId>,
    /// What it hands a backend: domain, reduced dims, extents.
    pub schedule: Schedule,
}

/// A function segmented into kernels.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The planned function's name.
    pub func: String,
    /// The kernels, in an order where every kernel's inputs are parameters or
    /// outputs of kernels before it.
    pub kernels: Vec<KernelPlan>,
}

/// Why a function could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The function does not verify; plans are made of verified functions only.
    #[error("cannot plan an invalid function: {0}")]
    Invalid(#[from] VerifyError),
    /// The planner broke one of its own invariants: a bug in the planner.
    #[error("planner bug in @{func}: {message} (please report it with the input IR)")]
    Internal {
        /// The function being planned.
        func: String,
        /// The broken invariant.
        message: String,
    },
}

/// Plans a function: verifies it, segments it into kernels (greedy
/// producer→consumer merging, then sibling merging, never creating a cycle)
/// and schedules each kernel.
pub fn plan(f: &Func) -> Result<Plan, PlanError> {
    verify(f)?;
    let debug = debug_level() >= 3;
    let ctx = segment::Ctx::new(f);
    let groups = segment::segment(&ctx, debug);
    let mut kernels = Vec::with_capacity(groups.len());
    for (i, members) in groups.into_iter().enumerate() {
        let (kind, schedule) = schedulers::classify_final(&ctx, &members);
        let nodes: Vec<NodeId> = members.iter().map(|&p| ctx.order[p]).collect();
        let set: HashSet<NodeId> = nodes.iter().copied().collect();
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for &n in &nodes {
            for v in f.node(n).value_operands() {
                if !set.contains(&v) && !inputs.contains(&v) {
                    inputs.push(v);
                }
            }
            let used_outside = f.users(n).iter().any(|(u, _)| !set.contains(u));
            if used_outside || f.results().contains(&n) {
                outputs.push(n);
            }
        }
        kernels.push(KernelPlan { name: format!("k{i}"), kind, nodes, inputs, outputs, schedule });
    }
    let plan = Plan { func: f.name.clone(), kernels };
    plan.check(f).map_err(|message| PlanError::Internal { func: f.name.clone(), message })?;
    if debug_level() >= 2 {
        eprint!("{}", plan.to_text(f));
    }
    Ok(plan)
}

/// `SMELT_DEBUG` as a number (0 when unset or not a number).
fn debug_level() -> u32 {
    std::env::var("SMELT_DEBUG").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

impl Plan {
    /// The kernel holding a node, if any (parameters are in none).
    pub fn kernel_of(&self, n: NodeId) -> Option<&KernelPlan> {
        self.kernels.iter().find(|k| k.nodes.contains(&n))
    }

    /// Checks the invariants listed in the module docs; `Err` names the first
    /// broken one.
    pub fn check(&self, f: &Func) -> Result<(), String> {
        let order = f.program_order();
        let pos: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let mut owner: HashMap<NodeId, usize> = HashMap::new();
        for (ki, k) in self.kernels.iter().enumerate() {
            let mut last = None;
            for &n in &k.nodes {
                let Some(&p) = pos.get(&n) else {
                    return Err(format!("{} holds {n}, which is no instruction", k.name));
                };
                if last.is_some_and(|l| l >= p) {
                    return Err(format!("{}'s nodes are not in program order", k.name));
                }
                last = Some(p);
                if owner.insert(n, ki).is_some() {
                    return Err(format!("{n} is in two kernels"));
                }
            }
        }
        if let Some(n) = order.iter().find(|n| !owner.contains_key(n)) {
            return Err(format!("{n} is in no kernel"));
        }
        for (ki, k) in self.kernels.iter().enumerate() {
            for &i in &k.inputs {
                if let Some(&src) = owner.get(&i) {
                    if src >= ki {
                        return Err(format!("{} reads {i} from a kernel at or after it", k.name));
                    }
                    if !self.kernels[src].outputs.contains(&i) {
                        return Err(format!(
                            "{} reads {i}, which its kernel does not output",
                            k.name
                        ));
                    }
                }
            }
            for &n in &k.nodes {
                for v in f.node(n).value_operands() {
                    if owner.get(&v) != Some(&ki) && !k.inputs.contains(&v) {
                        return Err(format!("{} reads {v} without listing it as an input", k.name));
                    }
                }
            }
        }
        Ok(())
    }
}
