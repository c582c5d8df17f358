//! What a compiled kernel takes at run time, derived from its
//! [`KernelFunc`] alone (never from sizes), so the executor and the lowering
//! agree on it for every kernel sharing a cache key:
//!
//! - buffer slots: the parameters in order, then the results, then the tables
//!   of multi-valued `const`s in program order;
//! - the sizes array: for every node (parameters first, then program order)
//!   its dims followed by its row-major strides, as i64;
//! - the loop structure: the domain `D` (the reductions' input shape, or the
//!   first result's shape), the loop dims `L` (the reduced dims, or the last
//!   dim of a kernel without reductions) and the outer dims `O` (the rest),
//!   whose product is the number of rows split across threads;
//! - the row scratch: reduction operands worth keeping (see [`scratch_nodes`]),
//!   each given one f32 row of a per-task scratch buffer.

use std::collections::HashMap;

use super::jit::CompileError;
use crate::backend::kernel::KernelFunc;
use crate::ir::{Func, NodeId, Op, OpClass, Shape};

/// Buffer slots and sizes-array offsets of one kernel.
#[derive(Clone, Debug)]
pub(crate) struct KernelLayout {
    /// Nodes that own a buffer slot, in slot order.
    pub slots: Vec<NodeId>,
    /// Nodes with entries in the sizes array, in order.
    pub sized: Vec<NodeId>,
    /// Offset of each node's dims in the sizes array (strides follow).
    pub size_off: HashMap<NodeId, usize>,
    /// Length of the sizes array.
    pub n_sizes: usize,
    /// The loop structure.
    pub st: Structure,
    /// Nodes kept in the row scratch, in order (row `k` holds the `k`th).
    pub scratch: Vec<NodeId>,
}

/// The loops of a kernel (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Structure {
    /// The domain `D`.
    pub domain: Shape,
    /// A node whose shape is `D` (its dims give the loop extents).
    pub domain_node: NodeId,
    /// The reduced dims (empty for a kernel without reductions).
    pub reduced: Vec<usize>,
    /// The loop dims `L`.
    pub loop_dims: Vec<usize>,
    /// The outer dims `O`.
    pub outer_dims: Vec<usize>,
    /// The reductions, in program order.
    pub reduces: Vec<NodeId>,
}

impl Structure {
    /// True for a kernel without reductions (its columns may be split too).
    pub fn pointwise(&self) -> bool {
        self.reduces.is_empty()
    }
}

/// Multi-valued `const` nodes (they get a table slot), in program order.
pub(crate) fn const_tables(f: &Func) -> Vec<NodeId> {
    f.program_order()
        .into_iter()
        .filter(|&n| matches!(&f.node(n).op, Op::Const { value } if value.len() > 1))
        .collect()
}

impl KernelLayout {
    /// The layout of a kernel, or why the CPU lowering cannot run it.
    pub fn of(kf: &KernelFunc) -> Result<KernelLayout, CompileError> {
        let f = &kf.func;
        let unsupported =
            |op: &str| CompileError::Unsupported { op: op.to_string(), kernel: kf.name.clone() };
        let order = f.program_order();
        if let Some(&n) = order.iter().find(|&&n| f.node(n).op.class() == OpClass::Library) {
            return Err(unsupported(f.node(n).op.name()));
        }
        let mut slots: Vec<NodeId> = f.params().to_vec();
        slots.extend(f.results().iter().copied());
        slots.extend(const_tables(f));
        let mut sized: Vec<NodeId> = f.params().to_vec();
        sized.extend(order.iter().copied());
        let mut size_off = HashMap::new();
        let mut n_sizes = 0;
        for &n in &sized {
            size_off.insert(n, n_sizes);
            n_sizes += 2 * f.ty(n).shape.rank();
        }
        let st = structure(kf, &order).map_err(|what| unsupported(&what))?;
        let scratch = scratch_nodes(f, &st);
        Ok(KernelLayout { slots, sized, size_off, n_sizes, st, scratch })
    }
}

fn structure(kf: &KernelFunc, order: &[NodeId]) -> Result<Structure, String> {
    let f = &kf.func;
    let reduces: Vec<NodeId> =
        order.iter().copied().filter(|&n| matches!(f.node(n).op, Op::Reduce { .. })).collect();
    let (domain_node, reduced) = match reduces.first() {
        Some(&r) => {
            let Op::Reduce { dims, .. } = &f.node(r).op else { unreachable!("filtered above") };
            let Some(x) = f.node(r).value_operands().next() else {
                return Err("reduction without an operand".into());
            };
            (x, dims.clone())
        }
        None => match f.results().first() {
            Some(&r) => (r, Vec::new()),
            None => return Err("kernel without results".into()),
        },
    };
    let domain = f.ty(domain_node).shape.clone();
    for &r in &reduces {
        let Op::Reduce { dims, .. } = &f.node(r).op else { continue };
        let x = f.node(r).value_operands().next();
        if x.map(|x| &f.ty(x).shape) != Some(&domain) || *dims != reduced {
            return Err(format!(
                "{} (reductions over different domains in one kernel)",
                f.node(r).op.name()
            ));
        }
    }
    let rank = domain.rank();
    let loop_dims: Vec<usize> = if !reduced.is_empty() {
        let mut r = reduced.clone();
        r.sort_unstable();
        r
    } else if rank > 0 {
        vec![rank - 1]
    } else {
        Vec::new()
    };
    let outer_dims = (0..rank).filter(|d| !loop_dims.contains(d)).collect();
    Ok(Structure { domain, domain_node, reduced, loop_dims, outer_dims, reduces })
}

/// The reduction operands a kernel keeps in a per-task scratch row instead of
/// recomputing them in later passes over the row: softmax's `exp(x - max)`
/// is summed in one pass and divided in the next, and without the scratch
/// its `exp` would be evaluated twice per element. A node qualifies when it
/// is a (non-arg) reduction's operand over the whole domain, computed in f32,
/// used again after that reduction, and costly to recompute (a
/// transcendental in its elementwise cone); the kernel must loop over one
/// dim (the scratch is indexed by it alone).
pub(crate) fn scratch_nodes(f: &Func, st: &Structure) -> Vec<NodeId> {
    use crate::ir::{DType, Unary};
    if st.loop_dims.len() != 1 {
        return Vec::new();
    }
    let costly = |n: NodeId| {
        let mut stack = vec![n];
        let mut seen = Vec::new();
        while let Some(m) = stack.pop() {
            if seen.contains(&m) {
                continue;
            }
            seen.push(m);
            let node = f.node(m);
            match &node.op {
                Op::Unary { kind }
                    if !matches!(
                        kind,
                        Unary::Neg
                            | Unary::Abs
                            | Unary::Floor
                            | Unary::Ceil
                            | Unary::Round
                            | Unary::Sign
                            | Unary::Relu
                            | Unary::Not
                    ) =>
                {
                    return true;
                }
                Op::Binary { kind: crate::ir::Binary::Pow } => return true,
                Op::Unary { .. } | Op::Binary { .. } | Op::Select | Op::Cast { .. } => {
                    stack.extend(node.value_operands());
                }
                _ => {}
            }
        }
        false
    };
    let mut out = Vec::new();
    for &r in &st.reduces {
        let node = f.node(r);
        let Op::Reduce { kind, .. } = &node.op else { continue };
        let Some(x) = node.value_operands().next() else { continue };
        let d = f.ty(x).dtype;
        let f32_class = matches!(d, DType::F32 | DType::BF16 | DType::F16);
        let reused = f.users(x).len() > 1 || f.results().contains(&x);
        if !kind.is_arg() && f32_class && reused && !out.contains(&x) && costly(x) {
            out.push(x);
        }
    }
    out
}
