//! The reference interpreter's reductions, movement and constant ops
//! against hand-computed values: keepdim, NaN, argmax ties, empty
//! reductions, slice steps and clamping, gather bounds.

mod interp_util;

use interp_util::*;
use smelt_compiler::HostTensor;
use smelt_compiler::interp::InterpError;
use smelt_compiler::ir::DType;

// ---------------------------------------------------------------- reductions

fn reduce(
    op: &str,
    x: HostTensor,
    attrs: &str,
    rt: &str,
    rs: &[usize],
) -> Result<HostTensor, InterpError> {
    let src = format!(
        "func @f(%x: {}[{}]) -> ({rt}[{}]) {{\n %y = {op}(%x) {attrs}\n return %y\n}}",
        x.dtype,
        dims(&x.shape),
        dims(rs)
    );
    try_run(&src, &[x]).map(|mut r| r.remove(0))
}

#[test]
fn sum_mean_prod_over_dims_and_keepdim() {
    let x = tf(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = reduce("sum", x.clone(), "dims=[1] keepdim=true", "f32", &[2, 1]).unwrap();
    assert_eq!(y.shape, vec![2, 1]);
    assert_same(&floats(&y), &[6.0, 15.0]);
    let y = reduce("sum", x.clone(), "dims=[0]", "f32", &[3]).unwrap();
    assert_same(&floats(&y), &[5.0, 7.0, 9.0]);
    let y = reduce("sum", x.clone(), "dims=[0, 1]", "f32", &[]).unwrap();
    assert_eq!(y.shape, Vec::<usize>::new());
    assert_same(&floats(&y), &[21.0]);
    let y = reduce("sum", x.clone(), "dims=[1, 0] keepdim=true", "f32", &[1, 1]).unwrap();
    assert_same(&floats(&y), &[21.0]);
    let y = reduce("mean", x.clone(), "dims=[1]", "f32", &[2]).unwrap();
    assert_same(&floats(&y), &[2.0, 5.0]);
    let y = reduce("prod", x, "dims=[0]", "f32", &[3]).unwrap();
    assert_same(&floats(&y), &[4.0, 10.0, 18.0]);
    // Middle dim of a rank-3 tensor.
    let x = tf(DType::F64, &[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let y = reduce("sum", x, "dims=[1] keepdim=true", "f64", &[2, 1, 2]).unwrap();
    assert_same(&floats(&y), &[4.0, 6.0, 12.0, 14.0]);
    // Accumulated in f64 and rounded once: 1 + 2^-24 + 2^-24 would stay 1 in f32 steps.
    let e = 2f64.powi(-24);
    let x = tf(DType::F32, &[3], &[1.0, e, e]);
    let y = reduce("sum", x, "dims=[0]", "f32", &[]).unwrap();
    assert_same(&floats(&y), &[1.0 + 2.0 * e]);
    // bf16 mean rounds its result.
    let x = tf(DType::BF16, &[3], &[1.0, 1.0, 2.0]);
    let y = reduce("mean", x, "dims=[0]", "bf16", &[]).unwrap();
    assert_same(&floats(&y), &[1.3359375]);
}

#[test]
fn integer_sum_and_prod_wrap() {
    let x = ti(DType::I8, &[3], &[100, 100, 1]);
    assert_eq!(ints(&reduce("sum", x.clone(), "dims=[0]", "i8", &[]).unwrap()), vec![-55]);
    assert_eq!(ints(&reduce("prod", x, "dims=[0]", "i8", &[]).unwrap()), vec![16]);
    let x = ti(DType::U8, &[2, 2], &[200, 100, 3, 4]);
    assert_eq!(ints(&reduce("sum", x.clone(), "dims=[1]", "u8", &[2]).unwrap()), vec![44, 7]);
    assert_eq!(ints(&reduce("max", x.clone(), "dims=[1]", "u8", &[2]).unwrap()), vec![200, 4]);
    assert_eq!(ints(&reduce("min", x, "dims=[0]", "u8", &[2]).unwrap()), vec![3, 4]);
}

#[test]
fn max_min_propagate_nan() {
    let x = tf(DType::F32, &[2, 3], &[1.0, NAN, 3.0, -1.0, -5.0, -0.0]);
    let y = reduce("max", x.clone(), "dims=[1]", "f32", &[2]).unwrap();
    assert_same(&floats(&y), &[NAN, -0.0]);
    let y = reduce("min", x.clone(), "dims=[1]", "f32", &[2]).unwrap();
    assert_same(&floats(&y), &[NAN, -5.0]);
    let y = reduce("max", x, "dims=[0]", "f32", &[3]).unwrap();
    assert_same(&floats(&y), &[1.0, NAN, 3.0]);
    let x = tf(DType::F32, &[2], &[-INF, -INF]);
    assert_same(&floats(&reduce("max", x, "dims=[0]", "f32", &[]).unwrap()), &[-INF]);
}

#[test]
fn argmax_argmin_first_index_and_nan() {
    let x = tf(DType::F32, &[2, 4], &[1.0, 3.0, 3.0, 0.0, 2.0, NAN, 5.0, NAN]);
    let y = reduce("argmax", x.clone(), "dims=[1]", "i64", &[2]).unwrap();
    assert_eq!(y.dtype, DType::I64);
    assert_eq!(ints(&y), vec![1, 1]);
    let y = reduce("argmin", x.clone(), "dims=[1]", "i64", &[2]).unwrap();
    assert_eq!(ints(&y), vec![3, 1]);
    let y = reduce("argmax", x.clone(), "dims=[0] keepdim=true", "i64", &[1, 4]).unwrap();
    assert_eq!(ints(&y), vec![1, 1, 1, 1]);
    let y = reduce("argmin", x, "dims=[0]", "i64", &[4]).unwrap();
    assert_eq!(ints(&y), vec![0, 1, 0, 1]);
    // Ties: the first index; a NaN after the maximum still wins.
    let x = tf(DType::F32, &[5], &[2.0, 7.0, 7.0, NAN, NAN]);
    assert_eq!(ints(&reduce("argmax", x.clone(), "dims=[0]", "i64", &[]).unwrap()), vec![3]);
    assert_eq!(ints(&reduce("argmin", x, "dims=[0]", "i64", &[]).unwrap()), vec![3]);
    let x = ti(DType::I32, &[4], &[-1, 9, 9, -1]);
    assert_eq!(ints(&reduce("argmax", x.clone(), "dims=[0]", "i64", &[]).unwrap()), vec![1]);
    assert_eq!(ints(&reduce("argmin", x, "dims=[0]", "i64", &[]).unwrap()), vec![0]);
}

#[test]
fn empty_reductions() {
    let x = tf(DType::F32, &[2, 0], &[]);
    assert_same(&floats(&reduce("sum", x.clone(), "dims=[1]", "f32", &[2]).unwrap()), &[0.0, 0.0]);
    assert_same(&floats(&reduce("prod", x.clone(), "dims=[1]", "f32", &[2]).unwrap()), &[1.0, 1.0]);
    assert_same(&floats(&reduce("mean", x.clone(), "dims=[1]", "f32", &[2]).unwrap()), &[NAN, NAN]);
    // Reducing the non-empty dim leaves an empty result: nothing to refuse.
    assert_eq!(reduce("max", x.clone(), "dims=[0]", "f32", &[0]).unwrap().numel(), 0);
    for op in ["max", "min"] {
        let e = reduce(op, x.clone(), "dims=[1]", "f32", &[2]).unwrap_err();
        assert!(matches!(e.root(), InterpError::EmptyReduction { .. }), "{e}");
        assert!(e.to_string().contains(&format!("{op}: reduces an empty dim")), "{e}");
    }
    for op in ["argmax", "argmin"] {
        let e = reduce(op, x.clone(), "dims=[1]", "i64", &[2]).unwrap_err();
        assert!(matches!(e.root(), InterpError::EmptyReduction { .. }), "{e}");
    }
    let xi = ti(DType::I32, &[0], &[]);
    assert_eq!(ints(&reduce("sum", xi.clone(), "dims=[0]", "i32", &[]).unwrap()), vec![0]);
    assert_eq!(ints(&reduce("prod", xi, "dims=[0]", "i32", &[]).unwrap()), vec![1]);
}

// ---------------------------------------------------------------- movement

fn move1(x: HostTensor, body: &str, rt: &str) -> Result<HostTensor, InterpError> {
    let src = format!(
        "func @f(%x: {}[{}]) -> ({rt}) {{\n %y = {body}\n return %y\n}}",
        x.dtype,
        dims(&x.shape)
    );
    try_run(&src, &[x]).map(|mut r| r.remove(0))
}

#[test]
fn reshape_permute_broadcast() {
    let y = move1(iota_f32(&[2, 3]), "reshape(%x) shape=[3, -1]", "f32[3, 2]").unwrap();
    assert_eq!(y.shape, vec![3, 2]);
    assert_same(&floats(&y), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let y = move1(iota_f32(&[2, 3]), "permute(%x) dims=[1, 0]", "f32[3, 2]").unwrap();
    assert_same(&floats(&y), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    // [2, 3, 4] → dims [2, 0, 1]: y[k, i, j] = x[i, j, k] = 12i + 4j + k.
    let y = move1(iota_f32(&[2, 3, 4]), "permute(%x) dims=[2, 0, 1]", "f32[4, 2, 3]").unwrap();
    let want: Vec<f64> = (0..4)
        .flat_map(|k| (0..2).flat_map(move |i| (0..3).map(move |j| (12 * i + 4 * j + k) as f64)))
        .collect();
    assert_same(&floats(&y), &want);
    let y = move1(iota_f32(&[3, 1]), "broadcast(%x) shape=[2, 3, 2]", "f32[2, 3, 2]").unwrap();
    assert_same(&floats(&y), &[0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0]);
    let y = move1(tb(&[], &[true]), "broadcast(%x) shape=[2]", "bool[2]").unwrap();
    assert_eq!(bools(&y), vec![true, true]);
}

#[test]
fn slices_step_and_clamp() {
    // x = 0..10; [1:8:3] = 1, 4, 7.
    let y = move1(iota_f32(&[10]), "slice(%x) starts=[1] ends=[8] steps=[3]", "f32[3]").unwrap();
    assert_same(&floats(&y), &[1.0, 4.0, 7.0]);
    // Ends past the dim clamp; [7:100:2] = 7, 9.
    let y = move1(iota_f32(&[10]), "slice(%x) starts=[7] ends=[100] steps=[2]", "f32[2]").unwrap();
    assert_same(&floats(&y), &[7.0, 9.0]);
    // Start past the dim, or start ≥ end: empty.
    let y = move1(iota_f32(&[10]), "slice(%x) starts=[12] ends=[20]", "f32[0]").unwrap();
    assert_eq!(y.shape, vec![0]);
    let y = move1(iota_f32(&[10]), "slice(%x) starts=[5] ends=[3]", "f32[0]").unwrap();
    assert_eq!(y.numel(), 0);
    // 2-D: rows 1.. step 2 of 5, columns 0..4 step 3 of 4 → x[[1,3]][:, [0,3]].
    let y =
        move1(iota_f32(&[5, 4]), "slice(%x) starts=[1, 0] ends=[5, 4] steps=[2, 3]", "f32[2, 2]")
            .unwrap();
    assert_same(&floats(&y), &[4.0, 7.0, 12.0, 15.0]);
    let y = move1(
        ti(DType::I64, &[3], &[5, 6, 7]),
        "slice(%x) starts=[0] ends=[3] steps=[1000]",
        "i64[1]",
    )
    .unwrap();
    assert_eq!(ints(&y), vec![5]);
}

#[test]
fn concat_along_an_axis() {
    let src = "func @f(%a: f32[2, 1], %b: f32[2, 2], %c: f32[2, 0]) -> (f32[2, 3]) {\n %y = concat(%a, %b, %c) axis=1\n return %y\n}";
    let y = run1(
        src,
        &[iota_f32(&[2, 1]), tf(DType::F32, &[2, 2], &[10.0, 11.0, 12.0, 13.0]), iota_f32(&[2, 0])],
    );
    assert_same(&floats(&y), &[0.0, 10.0, 11.0, 1.0, 12.0, 13.0]);
    let src = "func @f(%a: i8[1, 2], %b: i8[2, 2]) -> (i8[3, 2]) {\n %y = concat(%a, %b) axis=0\n return %y\n}";
    let y = run1(src, &[ti(DType::I8, &[1, 2], &[1, 2]), ti(DType::I8, &[2, 2], &[3, 4, 5, 6])]);
    assert_eq!(ints(&y), vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn gather_is_numpy_take() {
    // Embedding lookup: rows of a [3, 2] table by [2, 2] ids.
    let src = "func @f(%t: f32[3, 2], %i: i64[2, 2]) -> (f32[2, 2, 2]) {\n %y = gather(%t, %i) axis=0\n return %y\n}";
    let y = run1(src, &[iota_f32(&[3, 2]), ti(DType::I64, &[2, 2], &[2, 0, 1, 2])]);
    assert_same(&floats(&y), &[4.0, 5.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    // Along axis 1 of [2, 3] with [4] ids (repeats allowed).
    let src = "func @f(%t: f32[2, 3], %i: i32[4]) -> (f32[2, 4]) {\n %y = gather(%t, %i) axis=1\n return %y\n}";
    let y = run1(src, &[iota_f32(&[2, 3]), ti(DType::I32, &[4], &[2, 2, 0, 1])]);
    assert_same(&floats(&y), &[2.0, 2.0, 0.0, 1.0, 5.0, 5.0, 3.0, 4.0]);
    // Out of range, negative included: an error naming the op, index and size.
    let src = "func @f(%t: f32[3, 2], %i: i64[2]) -> (f32[2, 2]) {\n %y = gather(%t, %i) axis=0\n return %y\n}";
    for bad in [3, -1] {
        let e = run_err(src, &[iota_f32(&[3, 2]), ti(DType::I64, &[2], &[0, bad])]);
        assert!(
            e.contains(&format!("gather: index {bad} is out of range for a dim of size 3")),
            "{e}"
        );
    }
    // Checked even when the result is empty (an empty leading dim).
    let src = "func @f(%t: f32[0, 2], %i: i64[1]) -> (f32[0, 1]) {\n %y = gather(%t, %i) axis=1\n return %y\n}";
    let e = run_err(src, &[iota_f32(&[0, 2]), ti(DType::I64, &[1], &[2])]);
    assert!(e.contains("gather: index 2 is out of range for a dim of size 2"), "{e}");
}

#[test]
fn iota_and_const() {
    let src = "func @f() -> (i64[2, 3]) {\n %y = iota shape=[2, 3] dim=1 to=i64\n return %y\n}";
    assert_eq!(ints(&run1(src, &[])), vec![0, 1, 2, 0, 1, 2]);
    let src = "func @f() -> (f32[2, 3]) {\n %y = iota shape=[2, 3] dim=0 to=f32\n return %y\n}";
    assert_same(&floats(&run1(src, &[])), &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    // bf16 cannot hold 257: the index rounds like any other bf16 value.
    let src = "func @f() -> (bf16[258]) {\n %y = iota shape=[258] dim=0 to=bf16\n return %y\n}";
    assert_same(&floats(&run1(src, &[]))[256..], &[256.0, 256.0]);
    let src = "func @f() -> (f32[2, 2]) {\n %y = const value=1.5 : f32[2, 2]\n return %y\n}";
    assert_same(&floats(&run1(src, &[])), &[1.5; 4]);
    let src = "func @f() -> (i64[3]) {\n %y = const value=[1, -2, 3] : i64[3]\n return %y\n}";
    assert_eq!(ints(&run1(src, &[])), vec![1, -2, 3]);
    let src = "func @f() -> (bf16[2]) {\n %y = const value=[0.1, 3] : bf16[2]\n return %y\n}";
    assert_same(&floats(&run1(src, &[])), &[0.100_097_656_25, 3.0]);
    let src = "func @f() -> (bool[2]) {\n %y = const value=[true, false] : bool[2]\n return %y\n}";
    assert_eq!(bools(&run1(src, &[])), vec![true, false]);
    let src = "func @f() -> (f32[]) {\n %y = const value=nan : f32[]\n return %y\n}";
    assert_same(&floats(&run1(src, &[])), &[NAN]);
}
