//! Helpers shared by the tensor tests: deterministic data, the
//! interpreter as the reference, and tolerant comparison.

#![allow(dead_code)]

use smelt_compiler::HostTensor;
use smelt_compiler::interp::{self, Bindings};
use smelt_compiler::ir::{Func, Layout, Op, Operand, Scalar};
use smelt_runtime::tensor::Tensor;

/// The sizes every op is tested at.
pub const SIZES: [usize; 4] = [1, 3, 50, 783];

/// `n` values in about [-2, 2), deterministic, no two equal for small n.
pub fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f64 / (1u64 << 24) as f64 * 4.0 - 2.0) as f32
        })
        .collect()
}

/// An operand for [`reference`].
pub enum Ref<'a> {
    T(&'a Tensor),
    L(Scalar),
}

/// `op` on the operands, run by the interpreter on the tensors' values.
pub fn reference(op: Op, args: &[Ref<'_>]) -> HostTensor {
    let mut f = Func::new("ref");
    let mut operands = Vec::new();
    let mut inputs = Vec::new();
    for (i, a) in args.iter().enumerate() {
        match a {
            Ref::T(t) => {
                let h = t.to_host();
                operands.push(Operand::Value(f.add_param(
                    format!("p{i}"),
                    h.ir_type(),
                    Layout::RowMajor,
                )));
                inputs.push(h);
            }
            Ref::L(s) => operands.push(Operand::Lit(*s)),
        }
    }
    let n = f.add_inferred(op, operands).expect("reference op types");
    f.set_results(vec![n]);
    interp::run(&f, &inputs, &Bindings::new()).expect("interpreter runs").remove(0)
}

/// Asserts two value lists agree to `rel` relative (and `abs` absolute)
/// error; NaNs must match NaNs.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}[{i}]: got {g}, want NaN");
            continue;
        }
        if g == w {
            continue;
        }
        let err = (g - w).abs();
        assert!(err <= abs + rel * w.abs(), "{what}[{i}]: got {g}, want {w} (err {err})");
    }
}

/// A non-contiguous f32 tensor of shape `[rows, n]`: the transpose of an
/// `[n, rows]` tensor.
pub fn permuted(rows: usize, n: usize, seed: u64) -> Tensor {
    let t = Tensor::from_vec(data(rows * n, seed), &[n, rows]).unwrap();
    let p = t.permute(&[1, 0]).unwrap();
    assert!(!p.is_contiguous() || rows == 1 || n == 1);
    p
}

/// A non-contiguous f32 tensor of shape `[rows, n]`: every other column
/// of a `[rows, 2n]` tensor.
pub fn sliced(rows: usize, n: usize, seed: u64) -> Tensor {
    let t = Tensor::from_vec(data(rows * 2 * n, seed), &[rows, 2 * n]).unwrap();
    t.slice(1, 0, (2 * n) as isize, 2).unwrap()
}
