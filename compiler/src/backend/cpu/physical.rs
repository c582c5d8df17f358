//! The function the CPU backend actually plans for a given one: the layout
//! pass applied (channels-last convs, pools and elementwise ops for
//! `{nhwc}` parameters), then every `{nhwc}` parameter replaced by a
//! row-major parameter of its memory's shape `[N, H, W, C]`.
//!
//! Why here: a `{nhwc}` parameter's buffer holds NHWC bytes, but every
//! kernel reads its operands as dense row-major in their IR shape. After
//! this rewrite that is true of every value: the layout pass's relabelling
//! `permute(%p) dims=[0, 2, 3, 1]` becomes the new parameter itself (no
//! kernel, no copy), and any other use of the parameter reads a
//! `permute(…) dims=[0, 3, 1, 2]` of it (a real transpose, which only a
//! function the layout pass could not fully convert needs).

use std::collections::HashMap;

use crate::ir::{Func, Layout, NodeId, Op, Operand, nhwc_of_nchw};
use crate::passes::PassError;
use crate::passes::layout::{TO_NCHW, is_relabel, plan_layout};

/// The physical function for `func`, or `None` when it is `func` itself
/// (no `{nhwc}` parameter).
pub(crate) fn physical(func: &Func) -> Result<Option<Func>, PassError> {
    let laid = plan_layout(func)?.map(|(g, _)| g);
    let f = laid.as_ref().unwrap_or(func);
    let nhwc = |p: NodeId| matches!(f.node(p).op, Op::Param { layout: Layout::Nhwc, .. });
    if !f.params().iter().any(|&p| nhwc(p)) {
        return Ok(laid);
    }
    let mut g = Func::new(f.name.clone());
    // `map`: old value → new value (logical); `phys`: `{nhwc}` parameter →
    // its new row-major NHWC parameter.
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    let mut phys: HashMap<NodeId, NodeId> = HashMap::new();
    for &p in f.params() {
        let n = f.node(p);
        let name = n.name.clone().unwrap_or_else(|| format!("arg{}", p.index()));
        let Op::Param { layout, .. } = &n.op else { continue };
        if nhwc(p) {
            let mut ty = n.ty.clone();
            ty.shape = nhwc_of_nchw(&ty.shape);
            phys.insert(p, g.add_param(name, ty, Layout::RowMajor));
        } else {
            map.insert(p, g.add_param(name, n.ty.clone(), layout.clone()));
        }
    }
    // The logical value of a `{nhwc}` parameter, made only if something
    // other than the relabelling reads it.
    let logical = |g: &mut Func, map: &mut HashMap<NodeId, NodeId>, v: NodeId| {
        if let (Some(&q), false) = (phys.get(&v), map.contains_key(&v)) {
            let op = Op::Permute { dims: TO_NCHW.to_vec() };
            let t = g.add_node(op, vec![Operand::Value(q)], f.ty(v).clone());
            map.insert(v, t);
        }
    };
    for id in f.program_order() {
        if is_relabel(f, id) {
            let p = f.node(id).value_operands().next().expect("a permute has an operand");
            map.insert(id, phys[&p]);
            continue;
        }
        for v in f.node(id).value_operands().collect::<Vec<_>>() {
            logical(&mut g, &mut map, v);
        }
        let n = g.import_node(f, id, &map);
        map.insert(id, n);
    }
    let mut results = Vec::new();
    for &r in f.results() {
        logical(&mut g, &mut map, r);
        results.push(map[&r]);
    }
    g.set_results(results);
    Ok(Some(g))
}
