//! `dce`: removes every instruction that no result depends on.
//!
//! Parameters stay (the signature is fixed). There are no side effects in the
//! IR, so "no result depends on it" is the whole test.

use std::collections::HashSet;

use super::{Pass, PassError};
use crate::ir::{Func, Op};

/// The dead code elimination pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        "dce"
    }

    fn run(&self, f: &mut Func) -> Result<bool, PassError> {
        let mut live = HashSet::new();
        let mut work: Vec<_> = f.results().to_vec();
        while let Some(id) = work.pop() {
            if live.insert(id) {
                work.extend(f.node(id).value_operands());
            }
        }
        let dead: Vec<_> = f
            .node_ids()
            .into_iter()
            .filter(|id| !live.contains(id) && !matches!(f.node(*id).op, Op::Param { .. }))
            .collect();
        // Every user of a dead node is dead too, so removal order does not matter.
        for &id in &dead {
            f.remove_node(id);
        }
        Ok(!dead.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::parse_func;

    #[test]
    fn removes_what_no_result_needs_and_keeps_params() {
        let mut f = parse_func(
            "func @f(%x: f32[4], %unused: f32[4]) -> (f32[4]) {
               %a = exp(%x) : f32[4]
               %dead = mul(%a, %a) : f32[4]
               %dead2 = neg(%dead) : f32[4]
               %c = const value=1.0 : f32[]
               %b = add(%a, 1.0) : f32[4]
               return %b }",
        )
        .unwrap();
        assert!(Dce.run(&mut f).unwrap());
        crate::ir::verify(&f).unwrap();
        let want = parse_func(
            "func @f(%x: f32[4], %unused: f32[4]) -> (f32[4]) {
               %a = exp(%x) : f32[4]
               %b = add(%a, 1.0) : f32[4]
               return %b }",
        )
        .unwrap();
        assert_eq!(f, want);
        assert!(!Dce.run(&mut f).unwrap());
    }
}
