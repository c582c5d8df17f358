//! Small queries the passes share: "is this operand the constant 1?", "where
//! does this value sit in program order?". Pure reads of a [`Func`].

use std::collections::HashMap;

use crate::ir::{Func, NodeId, Op, Operand, Scalar};

/// The one value of a splat `const` node (any shape), if `id` is one.
pub fn splat_const(f: &Func, id: NodeId) -> Option<Scalar> {
    match &f.node(id).op {
        Op::Const { value } if value.len() == 1 => Some(value[0]),
        _ => None,
    }
}

/// The scalar an operand stands for everywhere: a literal, or a splat const.
pub fn splat_value(f: &Func, o: Operand) -> Option<Scalar> {
    match o {
        Operand::Lit(s) => Some(s),
        Operand::Value(v) => splat_const(f, v),
    }
}

/// True if `s` is the number `x` (an integer or float literal; `0` matches
/// both zeros). Bools are not numbers here.
pub fn is_number(s: Scalar, x: f64) -> bool {
    match s {
        Scalar::Int(i) => i as f64 == x,
        Scalar::Float(v) => v == x,
        Scalar::Bool(_) => false,
    }
}

/// True if the operand is the number `x` everywhere (literal or splat const).
pub fn operand_is(f: &Func, o: Operand, x: f64) -> bool {
    splat_value(f, o).is_some_and(|s| is_number(s, x))
}

/// The bool an operand stands for everywhere, if it is a bool literal or splat.
pub fn operand_bool(f: &Func, o: Operand) -> Option<bool> {
    match splat_value(f, o)? {
        Scalar::Bool(b) => Some(b),
        _ => None,
    }
}

/// Program position of every value: parameters first (signature order),
/// then instructions in program order.
pub fn positions(f: &Func) -> HashMap<NodeId, usize> {
    let mut pos: HashMap<NodeId, usize> =
        f.params().iter().enumerate().map(|(i, &p)| (p, i)).collect();
    let base = pos.len();
    pos.extend(f.program_order().into_iter().enumerate().map(|(i, n)| (n, base + i)));
    pos
}
