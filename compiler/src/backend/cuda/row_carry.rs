//! Which row-reduction sources the row-persistent path keeps in registers
//! for later passes.
//!
//! A row kernel makes one pass over its row per reduction, then one for the
//! outputs; each pass evaluates what it needs from the parameters. When a
//! later pass needs the very value an earlier reduction summed (softmax's
//! `exp(x - max)`, read again by the division; `x + bias + residual`, read
//! again by the layer norm's centring), recomputing it costs a transcendental
//! or a few loads per element, which in bf16 is as much time as the memory
//! traffic. On the row-persistent path each thread's share of the row is
//! already in registers, so the source's values can be kept beside it
//! (`rk<id>[chunk][lane-vector]`) and read back.
//!
//! Only sources that a later pass actually evaluates are kept (registers are
//! the occupancy budget); parameters are never kept (they are in registers
//! already), nor arg-reductions' sources (their pass also tracks an index).

use std::collections::HashSet;

use crate::backend::kernel::KernelFunc;
use crate::ir::{NodeId, Op};

use super::emit::{body, is_row_reduce};

/// The row reductions of `k` whose source a later pass (a later row
/// reduction's source, or one of the domain-shaped outputs `outputs`)
/// evaluates again: those sources, in the order of their reductions.
pub(super) fn carried_sources(k: &KernelFunc, outputs: &[NodeId]) -> Vec<NodeId> {
    let f = &k.func;
    let reductions: Vec<NodeId> = body(f).into_iter().filter(|&n| is_row_reduce(k, n)).collect();
    let source = |n: NodeId| f.node(n).operands()[0].value();
    let mut carried = Vec::new();
    for (i, &r) in reductions.iter().enumerate() {
        let Some(src) = source(r) else { continue };
        let Op::Reduce { kind, .. } = f.node(r).op else { continue };
        if kind.is_arg() || matches!(f.node(src).op, Op::Param { .. }) {
            continue;
        }
        let later: Vec<NodeId> = reductions[i + 1..]
            .iter()
            .filter_map(|&n| source(n))
            .chain(outputs.iter().copied())
            .collect();
        if evaluates(k, &later).contains(&src) {
            carried.push(src);
        }
    }
    carried
}

/// Every node a pass computing `roots` evaluates: their operand closure,
/// stopping at row reductions (a pass reads those as row values).
fn evaluates(k: &KernelFunc, roots: &[NodeId]) -> HashSet<NodeId> {
    let f = &k.func;
    let mut seen = HashSet::new();
    let mut stack: Vec<NodeId> = roots.to_vec();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) || is_row_reduce(k, n) {
            continue;
        }
        stack.extend(f.node(n).value_operands());
    }
    seen
}
