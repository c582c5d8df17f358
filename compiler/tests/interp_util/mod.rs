//! Helpers shared by the interpreter's integration tests: tensors from
//! literals, running IR text, and bit-exact float comparison.
#![allow(dead_code)] // each test crate uses its own subset

use smelt_compiler::HostTensor;
use smelt_compiler::interp::{self, Bindings, InterpError};
use smelt_compiler::ir::{DType, parse_func};
use smelt_compiler::tensor::Data;

pub const NAN: f64 = f64::NAN;
pub const INF: f64 = f64::INFINITY;

pub fn try_run(src: &str, inputs: &[HostTensor]) -> Result<Vec<HostTensor>, InterpError> {
    let f = parse_func(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    interp::run(&f, inputs, &Bindings::new())
}

/// Runs a one-result function.
pub fn run1(src: &str, inputs: &[HostTensor]) -> HostTensor {
    match try_run(src, inputs) {
        Ok(mut r) => r.remove(0),
        Err(e) => panic!("{e}\n{src}"),
    }
}

/// The error message of a run that must fail.
pub fn run_err(src: &str, inputs: &[HostTensor]) -> String {
    match try_run(src, inputs) {
        Ok(r) => panic!("expected an error, got {r:?}\n{src}"),
        Err(e) => e.to_string(),
    }
}

pub fn tf(d: DType, shape: &[usize], v: &[f64]) -> HostTensor {
    HostTensor::from_f64(d, shape, v.to_vec())
}

pub fn ti(d: DType, shape: &[usize], v: &[i64]) -> HostTensor {
    HostTensor::from_i64(d, shape, v.to_vec())
}

pub fn tb(shape: &[usize], v: &[bool]) -> HostTensor {
    HostTensor::from_bool(shape, v.to_vec())
}

pub fn floats(t: &HostTensor) -> Vec<f64> {
    match &t.data {
        Data::Float(v) => v.clone(),
        d => panic!("not floats: {d:?}"),
    }
}

pub fn ints(t: &HostTensor) -> Vec<i64> {
    match &t.data {
        Data::Int(v) => v.clone(),
        d => panic!("not ints: {d:?}"),
    }
}

pub fn bools(t: &HostTensor) -> Vec<bool> {
    match &t.data {
        Data::Bool(v) => v.clone(),
        d => panic!("not bools: {d:?}"),
    }
}

/// Bit-exact comparison: NaN equals NaN, and −0 differs from +0.
pub fn assert_same(got: &[f64], want: &[f64]) {
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    assert!(same, "got  {got:?}\nwant {want:?}");
}

/// f64 → nearest f32, as f64.
pub fn r32(x: f64) -> f64 {
    f64::from(x as f32)
}

pub fn dims(shape: &[usize]) -> String {
    shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}

/// `op(%x)` on a 1-D tensor of dtype `dt`.
pub fn unary(op: &str, dt: &str, x: HostTensor) -> HostTensor {
    let n = x.numel();
    run1(&format!("func @f(%x: {dt}[{n}]) -> ({dt}[{n}]) {{\n %y = {op}(%x)\n return %y\n}}"), &[x])
}

pub fn unary_f32(op: &str, xs: &[f64]) -> Vec<f64> {
    floats(&unary(op, "f32", tf(DType::F32, &[xs.len()], xs)))
}

/// `op(%a, %b)` with result dtype `rt`; shapes given, result shape `rs`.
pub fn binary(op: &str, a: HostTensor, b: HostTensor, rt: &str, rs: &[usize]) -> HostTensor {
    let (da, db) = (a.dtype, b.dtype);
    let src = format!(
        "func @f(%a: {da}[{}], %b: {db}[{}]) -> ({rt}[{}]) {{\n %y = {op}(%a, %b)\n return %y\n}}",
        dims(&a.shape),
        dims(&b.shape),
        dims(rs)
    );
    run1(&src, &[a, b])
}

pub fn binary_f32(op: &str, a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = a.len();
    floats(&binary(op, tf(DType::F32, &[n], a), tf(DType::F32, &[n], b), "f32", &[n]))
}

pub fn compare_f32(op: &str, a: &[f64], b: &[f64]) -> Vec<bool> {
    let n = a.len();
    bools(&binary(op, tf(DType::F32, &[n], a), tf(DType::F32, &[n], b), "bool", &[n]))
}

pub fn binary_int(op: &str, d: DType, a: &[i64], b: &[i64]) -> Result<Vec<i64>, InterpError> {
    let n = a.len();
    let src = format!(
        "func @f(%a: {d}[{n}], %b: {d}[{n}]) -> ({d}[{n}]) {{\n %y = {op}(%a, %b)\n return %y\n}}"
    );
    try_run(&src, &[ti(d, &[n], a), ti(d, &[n], b)]).map(|r| ints(&r[0]))
}

/// 0, 1, 2, … as f32 in `shape`.
pub fn iota_f32(shape: &[usize]) -> HostTensor {
    let n: usize = shape.iter().product();
    tf(DType::F32, shape, &(0..n).map(|i| i as f64).collect::<Vec<_>>())
}
