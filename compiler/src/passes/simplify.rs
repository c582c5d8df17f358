//! `simplify`: algebraic identities, as a table of rules.
//!
//! Each rule looks at one instruction and proposes a rewrite: use an existing
//! value instead, become a cheaper op of the same type, or become a splat
//! constant. The pass applies a proposal only if the result has exactly the
//! replaced node's type (`mul(%x: f32[4], 1)` where `1` is a splat `f32[n, 4]`
//! is NOT `%x`: the broadcast would be lost), so no rule can change a type,
//! and no rewrite adds a node: none makes the graph worse.
//!
//! A "1" or "0" is a literal or a splat `const` with that value. Identities
//! that do not hold for NaN or infinities (`x * 0 == 0`, `x - x == 0`,
//! `x / x == 1`) are deliberately absent.
//!
//! Signed zeros: `x + 0 → x` keeps `x`, so `-0.0 + 0.0`, which IEEE makes
//! `+0.0`, stays `-0.0` (likewise `x - (-0.0)`). We accept this, as XLA and
//! most compilers' fast paths do: the two zeros compare equal and every
//! accuracy bar of IR.md treats them as equal. Nothing else here changes a
//! bit of any result.

use super::matchers::{operand_bool, operand_is, splat_const};
use super::{Pass, PassError};
use crate::ir::{Binary, DType, Func, NodeId, Op, Operand, Scalar, Unary};

/// The algebraic simplification pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Simplify;

/// What a rule proposes for the instruction it matched.
#[derive(Clone, Debug, PartialEq)]
enum Rewrite {
    /// Replace every use of the node by this existing value.
    Use(NodeId),
    /// Keep the node, with this op and these operands instead.
    Become(Op, Vec<Operand>),
    /// The node becomes a splat `const` of its own type.
    Splat(Scalar),
}

/// One rule of the table.
struct Rule {
    /// For tests and debugging.
    name: &'static str,
    /// The proposal for a node, if the rule's pattern matches it.
    apply: fn(&Func, NodeId) -> Option<Rewrite>,
}

/// The rules, tried in order; the first admissible proposal is applied.
const RULES: &[Rule] = &[
    // x * 1 == x, 1 * x == x  (exact for every x: NaN, inf and -0 survive)
    Rule { name: "mul_one", apply: mul_one },
    // x + 0 == x, 0 + x == x  (up to the sign of zero: see the module doc)
    Rule { name: "add_zero", apply: add_zero },
    // x - 0 == x  (up to the sign of zero)
    Rule { name: "sub_zero", apply: sub_zero },
    // x / 1 == x  (floats exactly; integers: truncation of an integer is itself)
    Rule { name: "div_one", apply: div_one },
    // pow(x, 1) == x  (IEEE pow(x, 1) is x for every x, NaN included)
    Rule { name: "pow_one", apply: pow_one },
    // x and true == x, x or false == x
    Rule { name: "bool_unit", apply: bool_unit },
    // neg(neg(x)) == x  (floats exactly; integers wrap both ways)
    Rule { name: "neg_neg", apply: neg_neg },
    // not(not(x)) == x
    Rule { name: "not_not", apply: not_not },
    // abs(abs(x)) == abs(x)
    Rule { name: "abs_abs", apply: abs_abs },
    // relu(relu(x)) == relu(x)
    Rule { name: "relu_relu", apply: relu_relu },
    // cast(x) to=dtype(x) == x
    Rule { name: "cast_same", apply: cast_same },
    // cast(cast(x) to=W) to=D == x when D = dtype(x) and W holds every value
    // of D exactly (f32 → f64 → f32, bf16 → f32 → bf16, i8 → i32 → i8, …)
    Rule { name: "cast_roundtrip", apply: cast_roundtrip },
    // reshape(reshape(x) shape=A) shape=B == reshape(x) shape=B  (row-major order
    // is untouched by both)
    Rule { name: "reshape_reshape", apply: reshape_reshape },
    // reshape(x) to x's own shape == x
    Rule { name: "reshape_same", apply: reshape_same },
    // permute(permute(x) dims=p) dims=q == permute(x) dims=[p[q[i]]]; == x if identity
    Rule { name: "permute_permute", apply: permute_permute },
    // permute(x) dims=[0, 1, …] == x
    Rule { name: "permute_identity", apply: permute_identity },
    // broadcast(x) to x's own shape == x
    Rule { name: "broadcast_same", apply: broadcast_same },
    // broadcast(const v) shape=S == const v : S  (a splat has no shape to keep)
    Rule { name: "broadcast_splat", apply: broadcast_splat },
    // select(true, a, b) == a, select(false, a, b) == b
    Rule { name: "select_const", apply: select_const },
    // select(c, a, a) == a
    Rule { name: "select_same", apply: select_same },
];

/// How many rewrites one node may take in one run; each strictly simplifies,
/// so this only bounds a bug.
const MAX_REWRITES_PER_NODE: usize = 8;

impl Pass for Simplify {
    fn name(&self) -> &'static str {
        "simplify"
    }

    fn run(&self, f: &mut Func) -> Result<bool, PassError> {
        let mut changed = false;
        for id in f.program_order() {
            for _ in 0..MAX_REWRITES_PER_NODE {
                let Some((_, rw)) = first_rewrite(f, id) else { break };
                changed = true;
                if apply(f, id, rw) {
                    break; // the node is gone
                }
            }
        }
        Ok(changed)
    }
}

/// The first rule whose proposal for `id` is admissible, with that proposal.
fn first_rewrite(f: &Func, id: NodeId) -> Option<(&'static str, Rewrite)> {
    RULES.iter().find_map(|r| {
        let rw = (r.apply)(f, id)?;
        admissible(f, id, &rw).then_some((r.name, rw))
    })
}

/// The guard every proposal passes: the result keeps the node's exact type.
fn admissible(f: &Func, id: NodeId, rw: &Rewrite) -> bool {
    let ty = f.ty(id);
    match rw {
        Rewrite::Use(v) => *v != id && f.ty(*v) == ty,
        Rewrite::Become(op, operands) => {
            !matches!(op, Op::Const { .. } | Op::Param { .. })
                && f.infer_type(op, operands, None).is_ok_and(|t| t == *ty)
        }
        Rewrite::Splat(s) => s.fits(ty.dtype),
    }
}

/// Applies a proposal; true if the node was removed.
fn apply(f: &mut Func, id: NodeId, rw: Rewrite) -> bool {
    match rw {
        Rewrite::Use(v) => {
            f.replace_all_uses(id, v);
            f.remove_node(id);
            true
        }
        Rewrite::Become(op, operands) => {
            f.node_mut(id).op = op;
            f.set_operands(id, operands);
            false
        }
        Rewrite::Splat(s) => {
            f.node_mut(id).op = Op::Const { value: vec![s] };
            f.set_operands(id, Vec::new());
            false
        }
    }
}

// ---- pattern helpers ----

/// The operands of `id` if it is the binary op `kind`.
fn binary(f: &Func, id: NodeId, kind: Binary) -> Option<(Operand, Operand)> {
    let n = f.node(id);
    match n.op {
        Op::Binary { kind: k } if k == kind => match n.operands() {
            [a, b] => Some((*a, *b)),
            _ => None,
        },
        _ => None,
    }
}

/// The operand of `id` if it is the unary op `kind`.
fn unary(f: &Func, id: NodeId, kind: Unary) -> Option<NodeId> {
    match f.node(id).op {
        Op::Unary { kind: k } if k == kind => only_operand(f, id),
        _ => None,
    }
}

/// The single (value) operand of a one-operand op.
fn only_operand(f: &Func, id: NodeId) -> Option<NodeId> {
    f.node(id).operands().first().and_then(|o| o.value())
}

/// `keep` if `other` is the number `unit` and `keep` is a value.
fn keep_if(f: &Func, keep: Operand, other: Operand, unit: f64) -> Option<Rewrite> {
    if operand_is(f, other, unit) { keep.value().map(Rewrite::Use) } else { None }
}

/// For a commutative op: drop whichever operand is `unit`.
fn drop_unit(f: &Func, (a, b): (Operand, Operand), unit: f64) -> Option<Rewrite> {
    keep_if(f, a, b, unit).or_else(|| keep_if(f, b, a, unit))
}

/// Drops a unary op applied to the same unary op (`op(op(x)) == x`).
fn involution(f: &Func, id: NodeId, kind: Unary) -> Option<Rewrite> {
    let inner = unary(f, id, kind)?;
    unary(f, inner, kind).map(Rewrite::Use)
}

/// Drops the outer of two equal idempotent unary ops (`op(op(x)) == op(x)`).
fn idempotent(f: &Func, id: NodeId, kind: Unary) -> Option<Rewrite> {
    let inner = unary(f, id, kind)?;
    unary(f, inner, kind).map(|_| Rewrite::Use(inner))
}

/// True if every value of dtype `d` is exactly a value of `wide`, so that
/// casting to `wide` and back is the identity.
fn widens_exactly(d: DType, wide: DType) -> bool {
    use DType::*;
    matches!(
        (d, wide),
        (F32, F64)
            | (F16 | BF16, F32 | F64)
            | (I8, I32 | I64)
            | (I32, I64)
            | (U8, I32 | I64)
    )
}

// ---- the rules ----

fn mul_one(f: &Func, id: NodeId) -> Option<Rewrite> {
    drop_unit(f, binary(f, id, Binary::Mul)?, 1.0)
}

fn add_zero(f: &Func, id: NodeId) -> Option<Rewrite> {
    drop_unit(f, binary(f, id, Binary::Add)?, 0.0)
}

fn sub_zero(f: &Func, id: NodeId) -> Option<Rewrite> {
    let (a, b) = binary(f, id, Binary::Sub)?;
    keep_if(f, a, b, 0.0)
}

fn div_one(f: &Func, id: NodeId) -> Option<Rewrite> {
    let (a, b) = binary(f, id, Binary::Div)?;
    keep_if(f, a, b, 1.0)
}

fn pow_one(f: &Func, id: NodeId) -> Option<Rewrite> {
    let (a, b) = binary(f, id, Binary::Pow)?;
    keep_if(f, a, b, 1.0)
}

fn bool_unit(f: &Func, id: NodeId) -> Option<Rewrite> {
    let (ops, unit) = match binary(f, id, Binary::And) {
        Some(ops) => (ops, true),
        None => (binary(f, id, Binary::Or)?, false),
    };
    let keep = |keep: Operand, other: Operand| {
        (operand_bool(f, other) == Some(unit)).then_some(keep.value()?).map(Rewrite::Use)
    };
    keep(ops.0, ops.1).or_else(|| keep(ops.1, ops.0))
}

fn neg_neg(f: &Func, id: NodeId) -> Option<Rewrite> {
    involution(f, id, Unary::Neg)
}

fn not_not(f: &Func, id: NodeId) -> Option<Rewrite> {
    involution(f, id, Unary::Not)
}

fn abs_abs(f: &Func, id: NodeId) -> Option<Rewrite> {
    idempotent(f, id, Unary::Abs)
}

fn relu_relu(f: &Func, id: NodeId) -> Option<Rewrite> {
    idempotent(f, id, Unary::Relu)
}

fn cast_same(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Cast { to } = f.node(id).op else { return None };
    let x = only_operand(f, id)?;
    (f.ty(x).dtype == to).then_some(Rewrite::Use(x))
}

fn cast_roundtrip(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Cast { to } = f.node(id).op else { return None };
    let inner = only_operand(f, id)?;
    let Op::Cast { to: wide } = f.node(inner).op else { return None };
    let x = only_operand(f, inner)?;
    (f.ty(x).dtype == to && widens_exactly(to, wide)).then_some(Rewrite::Use(x))
}

fn reshape_reshape(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Reshape { shape } = &f.node(id).op else { return None };
    let inner = only_operand(f, id)?;
    let Op::Reshape { .. } = f.node(inner).op else { return None };
    let x = only_operand(f, inner)?;
    Some(Rewrite::Become(Op::Reshape { shape: shape.clone() }, vec![Operand::Value(x)]))
}

fn reshape_same(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Reshape { .. } = f.node(id).op else { return None };
    only_operand(f, id).map(Rewrite::Use) // the guard checks the shape
}

fn permute_permute(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Permute { dims: outer } = &f.node(id).op else { return None };
    let inner = only_operand(f, id)?;
    let Op::Permute { dims: first } = &f.node(inner).op else { return None };
    let x = only_operand(f, inner)?;
    // Result dim i is inner dim outer[i], which is x's dim first[outer[i]].
    let dims: Vec<usize> = outer.iter().map(|&q| first.get(q).copied()).collect::<Option<_>>()?;
    if dims.iter().enumerate().all(|(i, &d)| i == d) {
        Some(Rewrite::Use(x))
    } else {
        Some(Rewrite::Become(Op::Permute { dims }, vec![Operand::Value(x)]))
    }
}

fn permute_identity(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Permute { dims } = &f.node(id).op else { return None };
    if dims.iter().enumerate().all(|(i, &d)| i == d) { only_operand(f, id).map(Rewrite::Use) } else { None }
}

fn broadcast_same(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Broadcast { .. } = f.node(id).op else { return None };
    only_operand(f, id).map(Rewrite::Use) // the guard checks the shape
}

fn broadcast_splat(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Broadcast { .. } = f.node(id).op else { return None };
    splat_const(f, only_operand(f, id)?).map(Rewrite::Splat)
}

fn select_const(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Select = f.node(id).op else { return None };
    let &[c, a, b] = f.node(id).operands() else { return None };
    let picked = if operand_bool(f, c)? { a } else { b };
    Some(match picked {
        Operand::Value(v) => Rewrite::Use(v),
        Operand::Lit(s) => Rewrite::Splat(s),
    })
}

fn select_same(f: &Func, id: NodeId) -> Option<Rewrite> {
    let Op::Select = f.node(id).op else { return None };
    let &[_, a, b] = f.node(id).operands() else { return None };
    if a == b { a.value().map(Rewrite::Use) } else { None }
}

#[cfg(test)]
#[path = "simplify_tests.rs"]
mod tests;
