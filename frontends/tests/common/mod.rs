//! Helpers shared by the frontends tests: IR.md's accuracy bars, random
//! tensors, and "compiled equals eager" checks.
#![allow(dead_code)]

use std::rc::Rc;

use smelt_compiler::ir::DType;
use smelt_frontends::compile;
use smelt_runtime::tensor::Result;
use smelt_runtime::{Generator, Tensor};

/// A program as the tests pass it around.
pub type Prog = Rc<dyn Fn(&[Tensor]) -> Result<Vec<Tensor>>>;

/// Relative L2 error bar of IR.md for a dtype (0 for exact dtypes).
pub fn bar(d: DType) -> f64 {
    match d {
        DType::F32 => 1e-5,
        DType::BF16 => 1e-2,
        DType::F16 => 2e-3,
        _ => 0.0,
    }
}

/// Asserts `got` matches `want`: dtype, shape, NaN/Inf positions, and the
/// relative L2 error within the dtype's bar (f64: 1e-12).
pub fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let (mut num, mut den) = (0.0, 0.0);
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        if !b.is_finite() {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{what}: element {i}: {a} vs {b}");
            continue;
        }
        assert!(a.is_finite(), "{what}: element {i}: {a} vs {b}");
        num += (a - b) * (a - b);
        den += b * b;
    }
    let bar = if got.dtype() == DType::F64 { 1e-12 } else { bar(got.dtype()) };
    let err = if den == 0.0 { num.sqrt() } else { (num / den).sqrt() };
    assert!(err <= bar, "{what}: relative L2 error {err:e} > {bar:e}");
}

/// Standard normal f32 values.
pub fn randn(shape: &[usize], rng: &mut Generator) -> Tensor {
    Tensor::randn(shape, DType::F32, rng).expect("randn")
}

/// Runs `f` eagerly and compiled (twice: the miss and a hit) and compares.
pub fn check_compiled(what: &str, f: Prog, inputs: &[Tensor]) {
    let want = f(inputs).unwrap_or_else(|e| panic!("{what}: eager: {e}"));
    let g = f.clone();
    let c = compile(move |x| g(x));
    for round in ["miss", "hit"] {
        let got = c.call(inputs).unwrap_or_else(|e| panic!("{what}: compiled ({round}): {e}"));
        assert_eq!(got.len(), want.len(), "{what}: output count");
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_close(&format!("{what} ({round}) output {k}"), a, b);
        }
    }
    let ex = c.explain();
    assert_eq!((ex.misses, ex.hits), (1, 1), "{what}: {ex}");
    assert!(ex.breaks.is_empty(), "{what}: {ex}");
}
