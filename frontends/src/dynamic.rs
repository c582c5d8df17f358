//! Automatic dynamic shapes: two traces of one program at different sizes
//! are diffed into one function with symbolic dims (Inductor's "automatic
//! dynamic"). The first trace may already be symbolic in other dims.
//!
//! Rules: the traces must be structurally identical (same ops, operands,
//! literals, results). A size attribute (reshape/broadcast/iota shapes,
//! slice ends, const types) that differs between them becomes the symbol
//! whose sizes it equals in both; failing that, a reshape entry becomes
//! `-1` when it is the only unknown one; a slice of a constant dim to a
//! symbolic length becomes `gather(x, iota)` (the IR's slice cannot end at
//! a symbol inside a constant dim). Anything else is an error naming
//! the op, and the caller keeps the dim static. Every rebuilt node's type is
//! re-inferred and checked against both traces, and the result verifies.

use std::collections::HashMap;

use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{DType, Dim, Func, NodeId, Op, Operand, ReshapeDim, Shape, Type, verify};

use crate::guard::Env;

/// The two traces and what is known about their sizes.
pub(crate) struct Diff<'a> {
    /// The earlier trace (possibly symbolic), and its symbols' sizes.
    pub a: &'a Func,
    pub env_a: &'a Env,
    /// The new, concrete trace, and every symbol's size in it.
    pub b: &'a Func,
    pub env_b: &'a Env,
    /// New symbols by their (size in `a`, size in `b`).
    pub fresh: &'a HashMap<(u64, u64), String>,
    /// How many leading parameters are inputs (the rest are lifted).
    pub n_inputs: usize,
}

impl Diff<'_> {
    /// One dim of `a` against the same dim of `b`.
    fn dim(&self, da: &Dim, db: &Dim) -> Option<Dim> {
        let Dim::Const(vb) = *db else { return None };
        match da {
            Dim::Sym(s) => (self.env_b.get(s) == Some(&vb)).then(|| da.clone()),
            Dim::Const(va) if *va == vb => Some(da.clone()),
            Dim::Const(va) => self.fresh.get(&(*va, vb)).map(|s| Dim::Sym(s.clone())),
        }
    }

    fn shape(&self, sa: &Shape, sb: &Shape) -> Option<Shape> {
        if sa.rank() != sb.rank() {
            return None;
        }
        sa.dims()
            .iter()
            .zip(sb.dims())
            .map(|(x, y)| self.dim(x, y))
            .collect::<Option<_>>()
            .map(Shape)
    }

    /// The op of the symbolic function for `oa` (from `a`) and `ob` (from `b`).
    fn op(&self, oa: &Op, ob: &Op) -> Result<Op, String> {
        let bad = || format!("{} differs between the traces: {oa:?} vs {ob:?}", oa.name());
        Ok(match (oa, ob) {
            (Op::Reshape { shape: sa }, Op::Reshape { shape: sb }) if sa.len() == sb.len() => {
                let mut out = Vec::with_capacity(sa.len());
                let mut unknown = 0;
                for (x, y) in sa.iter().zip(sb) {
                    out.push(match (x, y) {
                        (ReshapeDim::Infer, _) | (_, ReshapeDim::Infer) => ReshapeDim::Infer,
                        (ReshapeDim::Dim(x), ReshapeDim::Dim(y)) => match self.dim(x, y) {
                            Some(d) => ReshapeDim::Dim(d),
                            None => {
                                unknown += 1;
                                ReshapeDim::Infer
                            }
                        },
                    });
                }
                if out.iter().filter(|d| **d == ReshapeDim::Infer).count() > 1 || unknown > 1 {
                    return Err(format!(
                        "reshape to {sa:?} vs {sb:?} has more than one size that is no symbol"
                    ));
                }
                Op::Reshape { shape: out }
            }
            (Op::Broadcast { shape: sa }, Op::Broadcast { shape: sb }) => {
                Op::Broadcast { shape: self.shape(sa, sb).ok_or_else(bad)? }
            }
            (
                Op::Slice { starts: s0, ends: e0, steps: t0 },
                Op::Slice { starts: s1, ends: e1, steps: t1 },
            ) if s0 == s1 && t0 == t1 && e0.len() == e1.len() => {
                let ends = e0.iter().zip(e1).map(|(x, y)| self.dim(x, y)).collect::<Option<_>>();
                Op::Slice { starts: s0.clone(), ends: ends.ok_or_else(bad)?, steps: t0.clone() }
            }
            (Op::Iota { shape: sa, dim: da, to: ta }, Op::Iota { shape: sb, dim: db, to: tb })
                if da == db && ta == tb =>
            {
                Op::Iota { shape: self.shape(sa, sb).ok_or_else(bad)?, dim: *da, to: *ta }
            }
            _ if oa == ob => oa.clone(),
            _ => return Err(bad()),
        })
    }

    /// The symbolic type of a node whose types are `ta` and `tb`.
    fn ty(&self, ta: &Type, tb: &Type) -> Option<Type> {
        (ta.dtype == tb.dtype).then_some(())?;
        Some(Type::new(ta.dtype, self.shape(&ta.shape, &tb.shape)?))
    }
}

/// `shape` with symbols replaced by their sizes.
fn concrete(shape: &Shape, env: &Env) -> Option<Vec<u64>> {
    shape
        .dims()
        .iter()
        .map(|d| match d {
            Dim::Const(c) => Some(*c),
            Dim::Sym(s) => env.get(s).copied(),
        })
        .collect()
}

/// True if `sym` (symbolic) is `concrete_ty` (a type of a trace) under `env`.
fn agrees(sym: &Type, ty: &Type, env: &Env, ty_env: &Env) -> bool {
    sym.dtype == ty.dtype
        && concrete(&sym.shape, env).is_some()
        && concrete(&sym.shape, env) == concrete(&ty.shape, ty_env)
}

/// The name of the `iota` nodes that stand in for a slice (see `slice_as_gather`).
const SLICE_IOTA: &str = "slice_iota";

fn is_slice_iota(f: &Func, n: NodeId) -> bool {
    f.node(n).name.as_deref() == Some(SLICE_IOTA) && matches!(f.node(n).op, Op::Iota { .. })
}

/// For a slice that keeps every dim of `x` whole but one, which it takes
/// from 0 with step 1: that dim and where the slice ends.
fn prefix_slice(op: &Op, x: &Shape) -> Option<(usize, Dim)> {
    let Op::Slice { starts, ends, steps } = op else { return None };
    if starts.iter().any(|&v| v != 0) || steps.iter().any(|&v| v != 1) || ends.len() != x.rank() {
        return None;
    }
    let mut cut = ends.iter().zip(x.dims()).enumerate().filter(|(_, (e, d))| e != d);
    let (axis, (end, _)) = cut.next()?;
    cut.next().is_none().then(|| (axis, end.clone()))
}

/// `x[0:len]` along `axis` as `gather(x, iota [len])`.
fn slice_as_gather(s: &mut Func, x: NodeId, axis: usize, len: Dim) -> Result<NodeId, String> {
    let iota = Op::Iota { shape: Shape(vec![len]), dim: 0, to: DType::I64 };
    let i = s.add_inferred(iota, Vec::new()).map_err(|e| format!("iota: {e}"))?;
    s.node_mut(i).name = Some(SLICE_IOTA.into());
    s.add_inferred(Op::Gather { axis }, vec![Operand::Value(x), Operand::Value(i)])
        .map_err(|e| format!("gather for a slice: {e}"))
}

/// Diffs the traces into one symbolic function (see the module docs).
pub(crate) fn symbolize(d: &Diff<'_>) -> Result<Func, String> {
    let (a, b) = (d.a, d.b);
    if a.params().len() != b.params().len() {
        return Err(format!(
            "the traces capture different tensors ({} vs {} parameters)",
            a.params().len(),
            b.params().len()
        ));
    }
    let mut s = Func::new(a.name.clone());
    let mut map: HashMap<NodeId, NodeId> = HashMap::new(); // a's node -> s's node
    let mut pair: HashMap<NodeId, NodeId> = HashMap::new(); // b's node -> a's node
    for (i, (&pa, &pb)) in a.params().iter().zip(b.params()).enumerate() {
        let (na, nb) = (a.node(pa), b.node(pb));
        let ty = d.ty(&na.ty, &nb.ty).ok_or_else(|| {
            format!("parameter {i} is {} in one trace and {} in the other", na.ty, nb.ty)
        })?;
        if i >= d.n_inputs && !ty.shape.is_static() {
            return Err(format!(
                "captured tensor {} has a shape that follows the size ({} vs {})",
                na.name.as_deref().unwrap_or("?"),
                na.ty,
                nb.ty
            ));
        }
        let Op::Param { layout, .. } = &na.op else { unreachable!("params are Param nodes") };
        let name = na.name.clone().unwrap_or_else(|| format!("p{i}"));
        map.insert(pa, s.add_param(name, ty, layout.clone()));
        pair.insert(pb, pa);
    }
    // Stand-in iotas (see `slice_as_gather`) have no counterpart in `b`.
    let oa: Vec<NodeId> = a.program_order().into_iter().filter(|&n| !is_slice_iota(a, n)).collect();
    let ob = b.program_order();
    if oa.len() != ob.len() {
        return Err(format!("the traces have {} and {} ops", oa.len(), ob.len()));
    }
    for (&xa, &xb) in oa.iter().zip(&ob) {
        let (na, nb) = (a.node(xa), b.node(xb));
        // A slice that an earlier diff turned into gather(x, iota).
        let stand_in = match (&na.op, &nb.op, na.operands()) {
            (Op::Gather { axis }, Op::Slice { .. }, [x, Operand::Value(i)])
                if is_slice_iota(a, *i) =>
            {
                Some((*axis, a.ty(*i).shape.dims()[0].clone(), *x))
            }
            _ => None,
        };
        let op = match stand_in {
            Some(_) => nb.op.clone(),
            None => d.op(&na.op, &nb.op)?,
        };
        let ops_a = match stand_in {
            Some((_, _, x)) => vec![x],
            None => na.operands().to_vec(),
        };
        if ops_a.len() != nb.operands().len() {
            return Err(format!("{} has different operand counts", na.op.name()));
        }
        let mut operands = Vec::with_capacity(ops_a.len());
        for (x, y) in ops_a.iter().zip(nb.operands()) {
            operands.push(match (x, y) {
                (Operand::Value(x), Operand::Value(y)) if pair.get(y) == Some(x) => {
                    Operand::Value(map[x])
                }
                (Operand::Lit(x), Operand::Lit(y)) if x == y => Operand::Lit(*x),
                (Operand::Lit(x), Operand::Lit(y)) => {
                    return Err(format!(
                        "{} takes literal {x} in one trace and {y} in the other",
                        na.op.name()
                    ));
                }
                _ => return Err(format!("{} takes different operands", na.op.name())),
            });
        }
        let node = if let Some((axis, len, _)) = stand_in {
            let xb = nb.operands()[0].value().ok_or("slice of a literal")?;
            let ok = match prefix_slice(&nb.op, &b.ty(xb).shape) {
                Some((ax, Dim::Const(e))) if ax == axis => match &len {
                    Dim::Sym(sym) => d.env_b.get(sym) == Some(&e),
                    Dim::Const(c) => *c == e,
                },
                _ => false,
            };
            if !ok {
                return Err(format!("slice {:?} no longer takes a prefix of dim {axis}", nb.op));
            }
            let x = operands[0].value().ok_or("slice of a literal")?;
            slice_as_gather(&mut s, x, axis, len)?
        } else if matches!(op, Op::Const { .. }) {
            let ty = d
                .ty(&na.ty, &nb.ty)
                .ok_or_else(|| format!("const of type {} vs {}", na.ty, nb.ty))?;
            s.add_node(op, operands, ty)
        } else {
            let name = op.name();
            match s.infer_type(&op, &operands, None) {
                Ok(ty) => s.add_node(op, operands, ty),
                Err(e) => {
                    // The IR's slice ends at a symbol only where the whole
                    // dim is that symbol: a prefix of a constant dim (BERT's
                    // position table cut to the sequence length) is a gather.
                    let x = operands.first().and_then(|o| o.value());
                    let prefix = x.and_then(|x| prefix_slice(&op, &s.ty(x).shape));
                    match (x, prefix) {
                        (Some(x), Some((axis, len @ Dim::Sym(_)))) => {
                            slice_as_gather(&mut s, x, axis, len)?
                        }
                        _ => return Err(format!("{name}: {e}")),
                    }
                }
            }
        };
        let ty = s.ty(node);
        let empty = Bindings::new();
        if !agrees(ty, &nb.ty, d.env_b, &empty) || !agrees(ty, &na.ty, d.env_a, d.env_a) {
            return Err(format!(
                "{} gets type {ty}, which is not {} and {} in the traces",
                na.op.name(),
                na.ty,
                nb.ty
            ));
        }
        map.insert(xa, node);
        pair.insert(xb, xa);
    }
    if a.results().len() != b.results().len() {
        return Err("the traces return different numbers of values".into());
    }
    let mut results = Vec::new();
    for (ra, rb) in a.results().iter().zip(b.results()) {
        if pair.get(rb) != Some(ra) {
            return Err("the traces return different values".into());
        }
        results.push(map[ra]);
    }
    s.set_results(results);
    verify(&s).map_err(|e| format!("the symbolic function does not verify: {e}"))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smelt_compiler::ir::parse_func;

    /// Diffs two texts whose input dim 0 changed from `a` to `b` (symbol `s0`).
    fn diff(ta: &str, tb: &str, a: u64, b: u64) -> Result<Func, String> {
        let (fa, fb) = (parse_func(ta).expect("a"), parse_func(tb).expect("b"));
        let env_a = Env::from([("s0".to_string(), a)]);
        let env_b = Env::from([("s0".to_string(), b)]);
        let fresh = HashMap::from([((a, b), "s0".to_string())]);
        symbolize(&Diff {
            a: &fa,
            env_a: &env_a,
            b: &fb,
            env_b: &env_b,
            fresh: &fresh,
            n_inputs: 1,
        })
    }

    fn text(n: u64) -> String {
        format!(
            "func @f(%x: f32[{n}, 4]) -> (f32[{n}, 2], f32[{n}, 4]) {{
  %s = slice(%x) starts=[0, 1] ends=[{n}, 4] steps=[1, 2]
  %i = iota shape=[{n}, 4] dim=0 to=f32
  %c = const value=1.5 : f32[{n}, 4]
  %y = add(%i, %c)
  %z = mul(%x, %y)
  return %s, %z
}}"
        )
    }

    #[test]
    fn size_attributes_become_the_symbol() {
        let s = diff(&text(3), &text(5), 3, 5).expect("symbolic");
        let printed = s.to_string();
        assert!(printed.contains("ends=[s0, 4]"), "{printed}");
        assert!(printed.contains("iota shape=[s0, 4]"), "{printed}");
        assert!(printed.contains(": f32[s0, 4]"), "{printed}");
        assert_eq!(s.ty(s.params()[0]).to_string(), "f32[s0, 4]");
    }

    #[test]
    fn structural_differences_are_refused_by_name() {
        let other = text(5).replace("mul(%x, %y)", "sub(%x, %y)");
        let err = diff(&text(3), &other, 3, 5).expect_err("different op");
        assert!(err.contains("mul"), "{err}");
        let lit = |n: u64| {
            format!(
                "func @f(%x: f32[{n}]) -> (f32[{n}]) {{\n  %y = mul(%x, {n}.0)\n  return %y\n}}"
            )
        };
        let err = diff(&lit(3), &lit(5), 3, 5).expect_err("literal");
        assert!(err.contains("literal"), "{err}");
    }
}
