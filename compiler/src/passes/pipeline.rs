//! The default pipeline: which passes run, in which order, and why.
//!
//! The runner repeats the whole list until a round changes nothing (capped:
//! see [`super::runner::MAX_ROUNDS`]), so an order only has to be good, not
//! complete: what one pass exposes for an earlier one is picked up next round.

use super::{Canonicalize, ConstFold, Cse, Dce, Pass, Simplify};

/// The default pipeline, in order.
pub const PIPELINE: &[&dyn Pass] = &[
    // First: every later pass matches one normal form (literals on the right,
    // float literals for float operands, sorted reduce dims, commutative
    // operands in program order), so a rule needs one pattern, not four.
    &Canonicalize,
    // Before folding: it turns broadcasts of splat constants into splat
    // constants, which const_fold can then fold through elementwise ops even
    // when shapes are symbolic; and it removes identities cheaply.
    &Simplify,
    // After simplify (more constant operands), before CSE: folded constants
    // with equal values are then merged.
    &ConstFold,
    // After canonicalize (equal instructions look equal) and const_fold
    // (equal folded constants); it can expose `select(%c, %a, %a)` and similar
    // for simplify, which the next round picks up.
    &Cse,
    // Last: sweeps what the others left unused (the inner nodes of simplified
    // chains, the operands of folded instructions).
    &Dce,
];

/// The default pipeline's pass names, in order.
pub fn pass_names() -> Vec<&'static str> {
    PIPELINE.iter().map(|p| p.name()).collect()
}
