//! `cse`: merges structurally equal instructions — the same op with the same
//! attributes, the same operands and the same type — keeping the first in
//! program order. Constants with equal values merge the same way (values
//! compare bit for bit: two NaNs are equal, `0.0` and `-0.0` are not).
//! Parameters never merge: two parameters are two inputs.
//!
//! Walking in program order makes one run complete: when a node is reached,
//! its operands are already their class's representatives.

use std::collections::HashMap;

use super::{Pass, PassError};
use crate::ir::{Func, NodeId, Op, Operand, Type};

/// The common subexpression elimination pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cse;

impl Pass for Cse {
    fn name(&self) -> &'static str {
        "cse"
    }

    fn run(&self, f: &mut Func) -> Result<bool, PassError> {
        let mut seen: HashMap<(Op, Vec<Operand>, Type), NodeId> = HashMap::new();
        let mut changed = false;
        for id in f.program_order() {
            let n = f.node(id);
            if matches!(n.op, Op::Param { .. }) {
                continue;
            }
            let key = (n.op.clone(), n.operands().to_vec(), n.ty.clone());
            match seen.get(&key) {
                Some(&first) => {
                    f.replace_all_uses(id, first);
                    f.remove_node(id);
                    changed = true;
                }
                None => {
                    seen.insert(key, id);
                }
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::parse_func;

    fn cse(src: &str) -> (bool, Func) {
        let mut f = parse_func(src).unwrap();
        let changed = Cse.run(&mut f).unwrap();
        crate::ir::verify(&f).unwrap();
        (changed, f)
    }

    #[test]
    fn merges_equal_instructions_transitively() {
        let (changed, f) = cse(
            "func @f(%x: f32[4]) -> (f32[4]) {
               %a = exp(%x) : f32[4]
               %b = exp(%x) : f32[4]
               %c = add(%a, 1.0) : f32[4]
               %d = add(%b, 1.0) : f32[4]
               %e = mul(%c, %d) : f32[4]
               return %e }",
        );
        assert!(changed);
        let want = parse_func(
            "func @f(%x: f32[4]) -> (f32[4]) {
               %a = exp(%x) : f32[4]
               %c = add(%a, 1.0) : f32[4]
               %e = mul(%c, %c) : f32[4]
               return %e }",
        )
        .unwrap();
        assert_eq!(f, want);
    }

    #[test]
    fn attributes_literals_and_types_must_match() {
        let src = "func @f(%x: f32[2, 4]) -> (f32[2, 1], f32[2], f32[2, 4], f32[2, 4], f64[2, 4], f16[2, 4]) {
               %a = sum(%x) dims=[1] keepdim=true : f32[2, 1]
               %b = sum(%x) dims=[1] keepdim=false : f32[2]
               %c = add(%x, 1.0) : f32[2, 4]
               %d = add(%x, 2.0) : f32[2, 4]
               %e = cast(%x) to=f64 : f64[2, 4]
               %g = cast(%x) to=f16 : f16[2, 4]
               return %a, %b, %c, %d, %e, %g }";
        let (changed, _) = cse(src);
        assert!(!changed);
    }

    #[test]
    fn consts_merge_by_value_bit_for_bit() {
        let (changed, f) = cse(
            "func @f(%x: f32[]) -> (f32[], f32[], f32[], f32[], f32[], f32[]) {
               %a = const value=0.0 : f32[]
               %b = const value=0.0 : f32[]
               %c = const value=-0.0 : f32[]
               %d = const value=nan : f32[]
               %e = const value=nan : f32[]
               %g = const value=0.0 : f32[4]
               return %a, %b, %c, %d, %e, %x }",
        );
        assert!(changed);
        let r = f.results();
        assert_eq!(r[0], r[1]);
        assert_ne!(r[0], r[2]);
        assert_eq!(r[3], r[4]);
    }

    #[test]
    fn parameters_never_merge() {
        let (changed, f) = cse(
            "func @f(%x: f32[4], %y: f32[4]) -> (f32[4]) {
               %a = add(%x, %y) : f32[4]
               return %a }",
        );
        assert!(!changed);
        assert_eq!(f.params().len(), 2);
    }
}
