//! `canonicalize`: puts each instruction in one normal form, so that later
//! passes match one pattern instead of several and CSE sees equal things as
//! equal. Nothing here changes a value, a type, or the number of nodes.
//!
//! The normal form:
//! - reduce `dims` are sorted;
//! - a literal operand of a commutative binary op is on the right
//!   (`add(1.0, %x)` → `add(%x, 1.0)`);
//! - a comparison with a literal on the left is mirrored (`lt(1, %x)` →
//!   `gt(%x, 1)`);
//! - the value operands of a commutative op are in program order;
//! - an integer literal against a float operand is a float literal (`2` →
//!   `2.0`; the same number, as the interpreter reads it).

use std::collections::HashMap;

use super::matchers::positions;
use super::{Pass, PassError};
use crate::ir::{Binary, DType, Func, NodeId, Op, Operand, Scalar};

/// The canonicalization pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Canonicalize;

impl Pass for Canonicalize {
    fn name(&self) -> &'static str {
        "canonicalize"
    }

    fn run(&self, f: &mut Func) -> Result<bool, PassError> {
        let pos = positions(f);
        let mut changed = false;
        for id in f.program_order() {
            if let Some((op, operands)) = canonical(f, id, &pos) {
                f.node_mut(id).op = op;
                f.set_operands(id, operands);
                changed = true;
            }
        }
        Ok(changed)
    }
}

/// The comparison that gives the same answer with its operands swapped.
fn mirrored(kind: Binary) -> Binary {
    match kind {
        Binary::Lt => Binary::Gt,
        Binary::Le => Binary::Ge,
        Binary::Gt => Binary::Lt,
        Binary::Ge => Binary::Le,
        other => other,
    }
}

/// Integer literals among `operands` become float literals when the value
/// operands are of float dtype `dtype`.
fn float_literals(operands: &mut [Operand], dtype: Option<DType>) {
    if !dtype.is_some_and(DType::is_float) {
        return;
    }
    for o in operands {
        if let Operand::Lit(Scalar::Int(i)) = *o {
            *o = Operand::Lit(Scalar::Float(i as f64));
        }
    }
}

/// The normal form of `id`, if it differs from what is there.
fn canonical(f: &Func, id: NodeId, pos: &HashMap<NodeId, usize>) -> Option<(Op, Vec<Operand>)> {
    let node = f.node(id);
    let mut op = node.op.clone();
    let mut operands = node.operands().to_vec();
    let dtype_of = |os: &[Operand]| os.iter().find_map(|o| o.value()).map(|v| f.ty(v).dtype);
    match &mut op {
        Op::Reduce { dims, .. } => dims.sort_unstable(),
        Op::Binary { kind } => {
            let dtype = dtype_of(&operands);
            float_literals(&mut operands, dtype);
            let rank = |o: &Operand| match o {
                // Literals sort after every value: they go to the right.
                Operand::Lit(_) => usize::MAX,
                Operand::Value(v) => pos.get(v).copied().unwrap_or(usize::MAX),
            };
            // (An ill-formed node of another arity is the verifier's to report.)
            if let [a, b] = operands.as_mut_slice() {
                if kind.is_commutative() {
                    if rank(a) > rank(b) {
                        std::mem::swap(a, b);
                    }
                } else if kind.is_comparison() && matches!(a, Operand::Lit(_)) {
                    std::mem::swap(a, b);
                    *kind = mirrored(*kind);
                }
            }
        }
        // The condition is a bool; only the data operands take float literals.
        Op::Select if operands.len() == 3 => {
            let dtype = dtype_of(&operands[1..]);
            float_literals(&mut operands[1..], dtype);
        }
        _ => {}
    }
    (op != node.op || operands != node.operands()).then_some((op, operands))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::parse_func;

    fn canon(src: &str) -> (bool, String) {
        let mut f = parse_func(src).unwrap();
        let changed = Canonicalize.run(&mut f).unwrap();
        crate::ir::verify(&f).unwrap();
        (changed, f.to_string())
    }

    fn same_as(src: &str, want: &str) {
        let (_, got) = canon(src);
        assert_eq!(got, parse_func(want).unwrap().to_string());
    }

    #[test]
    fn literals_go_right_of_commutative_ops() {
        same_as(
            "func @f(%x: f32[4]) -> (f32[4]) { %a = add(1.5, %x) : f32[4]  return %a }",
            "func @f(%x: f32[4]) -> (f32[4]) { %a = add(%x, 1.5) : f32[4]  return %a }",
        );
        // Not commutative and not a comparison: left alone.
        let (changed, _) =
            canon("func @f(%x: f32[4]) -> (f32[4]) { %a = sub(1.5, %x) : f32[4]  return %a }");
        assert!(!changed);
    }

    #[test]
    fn comparisons_with_a_literal_on_the_left_are_mirrored() {
        same_as(
            "func @f(%x: i32[4]) -> (bool[4]) { %a = lt(1, %x) : bool[4]  return %a }",
            "func @f(%x: i32[4]) -> (bool[4]) { %a = gt(%x, 1) : bool[4]  return %a }",
        );
        same_as(
            "func @f(%x: i32[4]) -> (bool[4]) { %a = ge(1, %x) : bool[4]  return %a }",
            "func @f(%x: i32[4]) -> (bool[4]) { %a = le(%x, 1) : bool[4]  return %a }",
        );
        // eq is commutative: the literal just moves.
        same_as(
            "func @f(%x: i32[4]) -> (bool[4]) { %a = eq(1, %x) : bool[4]  return %a }",
            "func @f(%x: i32[4]) -> (bool[4]) { %a = eq(%x, 1) : bool[4]  return %a }",
        );
    }

    #[test]
    fn commutative_value_operands_follow_program_order() {
        same_as(
            "func @f(%x: f32[4], %y: f32[4]) -> (f32[4]) {
               %a = mul(%y, %x) : f32[4]
               %b = max(%a, %x) : f32[4]
               %c = sub(%y, %x) : f32[4]
               %d = add(%b, %c) : f32[4]
               return %d }",
            "func @f(%x: f32[4], %y: f32[4]) -> (f32[4]) {
               %a = mul(%x, %y) : f32[4]
               %b = max(%x, %a) : f32[4]
               %c = sub(%y, %x) : f32[4]
               %d = add(%b, %c) : f32[4]
               return %d }",
        );
    }

    #[test]
    fn integer_literals_against_floats_become_floats() {
        let (_, got) = canon(
            "func @f(%x: f32[4], %c: bool[4], %i: i32[4]) -> (f32[4], i32[4], bool[4]) {
               %a = pow(%x, 2) : f32[4]
               %b = select(%c, 0, %a) : f32[4]
               %d = add(%i, 2) : i32[4]
               %e = lt(%x, 3) : bool[4]
               return %b, %d, %e }",
        );
        assert!(got.contains("pow(%x, 2.0)"), "{got}");
        assert!(got.contains("select(%c, 0.0, %0)"), "{got}");
        assert!(got.contains("add(%i, 2)"), "{got}");
        assert!(got.contains("lt(%x, 3.0)"), "{got}");
    }

    #[test]
    fn reduce_dims_are_sorted() {
        same_as(
            "func @f(%x: f32[2, 3, 4]) -> (f32[3]) { %a = sum(%x) dims=[2, 0] keepdim=false : f32[3]  return %a }",
            "func @f(%x: f32[2, 3, 4]) -> (f32[3]) { %a = sum(%x) dims=[0, 2] keepdim=false : f32[3]  return %a }",
        );
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let mut f = parse_func(
            "func @f(%x: f32[4], %y: f32[4]) -> (bool[4]) {
               %a = add(1, %y) : f32[4]
               %b = mul(%a, %x) : f32[4]
               %c = lt(2, %b) : bool[4]
               return %c }",
        )
        .unwrap();
        assert!(Canonicalize.run(&mut f).unwrap());
        assert!(!Canonicalize.run(&mut f).unwrap());
    }
}
