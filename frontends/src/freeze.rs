//! Freezing: the part of a graph that reads only captured tensors (weights)
//! is computed once, when the graph is made, and its results become the
//! graph's captured tensors instead (Inductor's freezing). `linear`'s
//! `weight.T` is the common case: without this every call transposes every
//! weight.
//!
//! Invariants: the inputs stay the first parameters; ops with no operands
//! (`const`, `iota`) are copied wherever they are used rather than frozen
//! on their own; values of symbolic shape are never frozen; a graph with
//! nothing to freeze is returned unchanged.

use std::collections::{HashMap, HashSet};

use smelt_compiler::ir::{Func, Layout, NodeId, verify};
use smelt_runtime::Tensor;
use smelt_runtime::exec::run_func;

use crate::error::FrontendError;
use crate::trace::layout_of;

/// A graph with its weight-only part computed.
pub(crate) struct Frozen {
    /// The remaining graph: the inputs, then its captured tensors.
    pub func: Func,
    /// Its captured tensors (some computed here).
    pub lifted: Vec<Tensor>,
    /// Instructions computed once.
    pub ops: usize,
}

/// The memory layout parameter `p` of `func` declares.
fn param_layout(func: &Func, p: NodeId) -> Layout {
    match &func.node(p).op {
        smelt_compiler::ir::Op::Param { layout, .. } => layout.clone(),
        _ => Layout::RowMajor,
    }
}

/// Copies the nodes `order` of `src` into `dst`, operands through `map`.
fn copy_nodes(src: &Func, dst: &mut Func, order: &[NodeId], map: &mut HashMap<NodeId, NodeId>) {
    for &n in order {
        let new = dst.import_node(src, n, map);
        map.insert(n, new);
    }
}

/// Freezes `func` (whose parameters after the first `n_inputs` hold `lifted`).
pub(crate) fn freeze(
    func: &Func,
    n_inputs: usize,
    lifted: &[Tensor],
) -> Result<Frozen, FrontendError> {
    let unchanged = || Frozen { func: func.clone(), lifted: lifted.to_vec(), ops: 0 };
    let captured: HashSet<NodeId> = func.params()[n_inputs..].iter().copied().collect();
    let order = func.program_order();
    // Weight-only nodes (zero-operand ones included, as constants).
    let mut weight_only: HashSet<NodeId> = HashSet::new();
    for &n in &order {
        let mut vals = func.node(n).value_operands().peekable();
        let leaf = vals.peek().is_none();
        // A symbolic size is known only per call: nothing of it is frozen.
        if !func.ty(n).shape.is_static() {
            continue;
        }
        if leaf || vals.all(|v| captured.contains(&v) || weight_only.contains(&v)) {
            weight_only.insert(n);
        }
    }
    let is_leaf = |n: NodeId| func.node(n).value_operands().next().is_none();
    let frozen: Vec<NodeId> =
        order.iter().copied().filter(|&n| weight_only.contains(&n) && !is_leaf(n)).collect();
    let outside = |n: NodeId| {
        func.results().contains(&n)
            || func.users(n).iter().any(|(u, _)| !weight_only.contains(u) || is_leaf(*u))
    };
    let frontier: Vec<NodeId> = frozen.iter().copied().filter(|&n| outside(n)).collect();
    if frontier.is_empty() {
        return Ok(unchanged());
    }
    // The weight-only part, run once.
    let mut pre = Func::new(format!("{}_frozen", func.name));
    let mut map = HashMap::new();
    for &p in &func.params()[n_inputs..] {
        let q = pre.add_param(format!("w{}", map.len()), func.ty(p).clone(), param_layout(func, p));
        map.insert(p, q);
    }
    let pre_order: Vec<NodeId> =
        order.iter().copied().filter(|n| weight_only.contains(n)).collect();
    copy_nodes(func, &mut pre, &pre_order, &mut map);
    pre.set_results(frontier.iter().map(|n| map[n]).collect());
    verify(&pre).map_err(|e| FrontendError::Verify(format!("frozen part: {e}")))?;
    let computed = run_func(&pre, lifted)?;
    // The rest: inputs, captured tensors still read directly, computed ones.
    let mut main = Func::new(func.name.clone());
    let mut map = HashMap::new();
    let mut new_lifted = Vec::new();
    for &p in &func.params()[..n_inputs] {
        let node = func.node(p);
        let name = node.name.clone().unwrap_or_else(|| format!("x{}", map.len()));
        map.insert(p, main.add_param(name, node.ty.clone(), param_layout(func, p)));
    }
    for (&p, t) in func.params()[n_inputs..].iter().zip(lifted) {
        if outside(p) {
            // A channels-last weight stays `{nhwc}`, so the layout pass
            // reads it in place instead of transposing it on every call.
            let q = main.add_param(
                format!("w{}", new_lifted.len()),
                func.ty(p).clone(),
                param_layout(func, p),
            );
            map.insert(p, q);
            new_lifted.push(t.clone());
        }
    }
    for (&n, t) in frontier.iter().zip(computed) {
        let q = main.add_param(format!("w{}", new_lifted.len()), func.ty(n).clone(), layout_of(&t));
        map.insert(n, q);
        new_lifted.push(t);
    }
    let rest: Vec<NodeId> = order
        .iter()
        .copied()
        .filter(|&n| !weight_only.contains(&n) || (is_leaf(n) && outside(n)))
        .collect();
    copy_nodes(func, &mut main, &rest, &mut map);
    main.set_results(func.results().iter().map(|r| map[r]).collect());
    verify(&main).map_err(|e| FrontendError::Verify(format!("after freezing: {e}")))?;
    Ok(Frozen { func: main, lifted: new_lifted, ops: frozen.len() })
}

#[cfg(test)]
mod tests {
    use smelt_compiler::ir::{DType, Op, parse_func};
    use smelt_runtime::Generator;
    use smelt_runtime::tensor::MemoryFormat;

    use super::*;

    #[test]
    fn a_channels_last_weight_stays_nhwc_after_freezing() {
        // The bias is computed once; the channels-last conv weight is kept
        // as a captured tensor and must keep its `{nhwc}` layout, or the
        // layout pass would transpose it on every call.
        let f = parse_func(
            "func @f(%x: f32[1, 3, 5, 5]{nhwc}, %w: f32[4, 3, 3, 3]{nhwc}, %b: f32[4]) -> (f32[1, 4, 3, 3]) {\n  %b2 = mul(%b, 2.0) : f32[4]\n  %y = conv2d(%x, %w, %b2) stride=[1, 1] padding=[0, 0] dilation=[1, 1] groups=1 : f32[1, 4, 3, 3]\n  return %y\n}",
        )
        .unwrap();
        let mut rng = Generator::new(3);
        let w = Tensor::randn(&[4, 3, 3, 3], DType::F32, &mut rng)
            .unwrap()
            .to_memory_format(MemoryFormat::ChannelsLast)
            .unwrap();
        let b = Tensor::randn(&[4], DType::F32, &mut rng).unwrap();
        let frozen = freeze(&f, 1, &[w, b]).unwrap();
        assert_eq!(frozen.ops, 1);
        let layouts: Vec<Layout> = frozen
            .func
            .params()
            .iter()
            .map(|&p| match &frozen.func.node(p).op {
                Op::Param { layout, .. } => layout.clone(),
                _ => Layout::RowMajor,
            })
            .collect();
        assert_eq!(layouts, [Layout::Nhwc, Layout::Nhwc, Layout::RowMajor], "{}", frozen.func);
    }
}
