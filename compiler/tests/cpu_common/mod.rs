//! Shared helpers of the CPU backend tests: seeded inputs and the
//! comparison against the interpreter with IR.md's bars.
#![allow(dead_code)]

use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{CpuBackend, CpuOptions, Numerics};
use smelt_compiler::interp::{self, Bindings};
use smelt_compiler::ir::{DType, Func, parse_func};

/// A tiny seeded generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A random tensor of `dtype` and `shape`.
pub fn tensor(rng: &mut Rng, dtype: DType, shape: &[usize], lo: f64, hi: f64) -> HostTensor {
    let n: usize = shape.iter().product();
    if dtype.is_float() {
        HostTensor::from_f64(dtype, shape, (0..n).map(|_| rng.uniform(lo, hi)).collect())
    } else if dtype == DType::Bool {
        HostTensor::from_bool(shape, (0..n).map(|_| rng.next() & 1 == 1).collect())
    } else {
        let (lo, hi) = (lo.floor() as i64, hi.ceil() as i64);
        let span = (hi - lo).max(1) as u64;
        HostTensor::from_i64(
            dtype,
            shape,
            (0..n).map(|_| lo + (rng.next() % span) as i64).collect(),
        )
    }
}

/// The accuracy bar of IR.md for a dtype (integers and bools: exact).
pub fn bar(d: DType) -> f64 {
    match d {
        DType::F32 => 1e-5,
        DType::BF16 => 1e-2,
        DType::F16 => 2e-3,
        DType::F64 => 1e-12,
        _ => 0.0,
    }
}

/// Checks `got` against `want`: same dtype and shape, NaN/Inf positions exact,
/// relative L2 error within the bar.
pub fn check_close(what: &str, got: &HostTensor, want: &HostTensor) {
    assert_eq!(got.dtype, want.dtype, "{what}: dtype");
    assert_eq!(got.shape, want.shape, "{what}: shape");
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        if !b.is_finite() || !a.is_finite() {
            let same = (a.is_nan() && b.is_nan()) || a == b;
            assert!(same, "{what}: element {i}: got {a}, want {b}");
            continue;
        }
        num += (a - b) * (a - b);
        den += b * b;
    }
    let rel = if den == 0.0 { num.sqrt() } else { (num / den).sqrt() };
    let bar = bar(want.dtype);
    assert!(
        rel <= bar.max(if bar == 0.0 { 0.0 } else { 1e-30 }),
        "{what}: rel L2 {rel:e} > {bar:e}\n got  {:?}\n want {:?}",
        &g[..g.len().min(8)],
        &w[..w.len().min(8)]
    );
}

/// A backend with fixed options.
pub fn backend(fusion: bool, numerics: Numerics) -> CpuBackend {
    let opts = CpuOptions { threads: 2, fusion, numerics, fallback_interp: false };
    CpuBackend::new(opts).expect("backend")
}

/// Parses, runs on cpu and interp, and compares every result.
pub fn compare(cpu: &mut CpuBackend, src: &str, inputs: &[HostTensor]) {
    let f: Func = parse_func(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    compare_func(cpu, &f, inputs, src);
}

/// As [`compare`] for a parsed function.
pub fn compare_func(cpu: &mut CpuBackend, f: &Func, inputs: &[HostTensor], what: &str) {
    let want =
        interp::run(f, inputs, &Bindings::new()).unwrap_or_else(|e| panic!("interp: {e}\n{what}"));
    let got = cpu.run(f, inputs, &Bindings::new()).unwrap_or_else(|e| panic!("cpu: {e}\n{what}"));
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        check_close(&format!("{what}\nresult {i}"), g, w);
    }
}
