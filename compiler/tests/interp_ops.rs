//! The reference interpreter's elementwise ops (unary, binary, select,
//! cast) against closed-form expectations: hand-computed values, NaN/inf/±0,
//! ties, integer wrapping and division, broadcasting, literals, and
//! narrow-float rounding after each op. Graphs are written in the IR text.

mod interp_util;

use interp_util::*;
use smelt_compiler::HostTensor;
use smelt_compiler::interp::InterpError;
use smelt_compiler::ir::DType;

// ---------------------------------------------------------------- unary

#[test]
fn unary_float_special_values() {
    let z = [-0.0, 0.0];
    assert_same(&unary_f32("neg", &[1.5, 0.0, -0.0, NAN, INF]), &[-1.5, -0.0, 0.0, NAN, -INF]);
    assert_same(&unary_f32("abs", &[-1.5, -0.0, NAN, -INF]), &[1.5, 0.0, NAN, INF]);
    assert_same(
        &unary_f32("exp", &[0.0, -INF, INF, NAN, 1.0]),
        &[1.0, 0.0, INF, NAN, r32(1f64.exp())],
    );
    assert_same(&unary_f32("exp2", &[3.0, -1.0, -INF]), &[8.0, 0.5, 0.0]);
    assert_same(&unary_f32("log", &[1.0, 0.0, -0.0, -1.0, INF]), &[0.0, -INF, -INF, NAN, INF]);
    assert_same(&unary_f32("log2", &[8.0, 0.0, -2.0]), &[3.0, -INF, NAN]);
    assert_same(&unary_f32("sqrt", &[4.0, -0.0, -1.0, INF]), &[2.0, -0.0, NAN, INF]);
    assert_same(&unary_f32("rsqrt", &[4.0, 0.0, -0.0, INF, -1.0]), &[0.5, INF, -INF, 0.0, NAN]);
    assert_same(&unary_f32("recip", &[4.0, 0.0, -0.0, INF, -INF]), &[0.25, INF, -INF, 0.0, -0.0]);
    assert_same(&unary_f32("sin", &z), &z);
    assert_same(&unary_f32("sin", &[1.0, INF]), &[r32(1f64.sin()), NAN]);
    assert_same(&unary_f32("cos", &[0.0, 2.0]), &[1.0, r32(2f64.cos())]);
    assert_same(
        &unary_f32("tanh", &[-0.0, INF, -INF, 0.5]),
        &[-0.0, 1.0, -1.0, r32(0.5f64.tanh())],
    );
    assert_same(&unary_f32("sigmoid", &[0.0, INF, -INF, NAN]), &[0.5, 1.0, 0.0, NAN]);
    assert_same(&unary_f32("sigmoid", &[2.0]), &[r32(1.0 / (1.0 + (-2f64).exp()))]);
    assert_same(&unary_f32("erf", &[0.0, -0.0, INF, -INF, NAN]), &[0.0, -0.0, 1.0, -1.0, NAN]);
    // erf(1) = 0.8427007929497149 (A&S table).
    assert_same(&unary_f32("erf", &[1.0]), &[r32(0.842_700_792_949_714_9)]);
}

#[test]
fn unary_float_rounding_family() {
    let x = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.7, -2.7, -0.0, NAN, INF];
    assert_same(
        &unary_f32("round", &x),
        &[0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 3.0, -3.0, -0.0, NAN, INF],
    );
    assert_same(
        &unary_f32("floor", &x),
        &[0.0, 1.0, 2.0, -1.0, -2.0, -3.0, 2.0, -3.0, -0.0, NAN, INF],
    );
    assert_same(
        &unary_f32("ceil", &x),
        &[1.0, 2.0, 3.0, -0.0, -1.0, -2.0, 3.0, -2.0, -0.0, NAN, INF],
    );
    assert_same(
        &unary_f32("sign", &[-2.0, -0.0, 0.0, 3.0, NAN, -INF]),
        &[-1.0, -0.0, 0.0, 1.0, NAN, -1.0],
    );
    assert_same(&unary_f32("relu", &[-1.0, 2.0, NAN, -0.0, -INF]), &[0.0, 2.0, NAN, 0.0, 0.0]);
}

#[test]
fn unary_integers_are_exact_and_wrap() {
    let i8s = |op| ints(&unary(op, "i8", ti(DType::I8, &[4], &[-128, -3, 0, 127])));
    assert_eq!(i8s("neg"), vec![-128, 3, 0, -127]);
    assert_eq!(i8s("abs"), vec![-128, 3, 0, 127]);
    assert_eq!(i8s("sign"), vec![-1, -1, 0, 1]);
    assert_eq!(i8s("relu"), vec![0, 0, 0, 127]);
    for op in ["floor", "ceil", "round"] {
        assert_eq!(i8s(op), vec![-128, -3, 0, 127]);
    }
    let u8s = ints(&unary("neg", "u8", ti(DType::U8, &[3], &[0, 5, 255])));
    assert_eq!(u8s, vec![0, 251, 1]);
    let i32s = ints(&unary("neg", "i32", ti(DType::I32, &[2], &[i64::from(i32::MIN), 7])));
    assert_eq!(i32s, vec![i64::from(i32::MIN), -7]);
    let nots = bools(&unary("not", "bool", tb(&[2], &[true, false])));
    assert_eq!(nots, vec![false, true]);
}

// ---------------------------------------------------------------- binary

#[test]
fn binary_float_arithmetic() {
    let a = [1.0, -1.0, 0.0, INF, NAN, 6.0];
    let b = [2.0, 0.0, 0.0, INF, 1.0, -4.0];
    assert_same(&binary_f32("add", &a, &b), &[3.0, -1.0, 0.0, INF, NAN, 2.0]);
    assert_same(&binary_f32("sub", &a, &b), &[-1.0, -1.0, 0.0, NAN, NAN, 10.0]);
    assert_same(&binary_f32("mul", &a, &b), &[2.0, -0.0, 0.0, INF, NAN, -24.0]);
    assert_same(&binary_f32("div", &a, &b), &[0.5, -INF, NAN, NAN, NAN, -1.5]);
    // fmod: the dividend's sign.
    assert_same(
        &binary_f32("rem", &[5.5, -5.5, 5.0, -0.0, 1.0], &[2.0, 2.0, -3.0, 2.0, 0.0]),
        &[1.5, -1.5, 2.0, -0.0, NAN],
    );
    assert_same(
        &binary_f32("pow", &[2.0, -8.0, 0.0, NAN, 4.0], &[10.0, 1.0 / 3.0, 0.0, 0.0, 0.5]),
        &[1024.0, NAN, 1.0, 1.0, 2.0],
    );
}

#[test]
fn binary_float_max_min_propagate_nan() {
    let a = [1.0, NAN, 3.0, -0.0, 0.0, -INF];
    let b = [2.0, 1.0, NAN, 0.0, -0.0, 5.0];
    assert_same(&binary_f32("max", &a, &b), &[2.0, NAN, NAN, 0.0, 0.0, 5.0]);
    assert_same(&binary_f32("min", &a, &b), &[1.0, NAN, NAN, -0.0, -0.0, -INF]);
}

#[test]
fn comparisons_are_ieee() {
    let a = [1.0, 2.0, NAN, -0.0, INF];
    let b = [2.0, 2.0, NAN, 0.0, INF];
    assert_eq!(compare_f32("eq", &a, &b), vec![false, true, false, true, true]);
    assert_eq!(compare_f32("ne", &a, &b), vec![true, false, true, false, false]);
    assert_eq!(compare_f32("lt", &a, &b), vec![true, false, false, false, false]);
    assert_eq!(compare_f32("le", &a, &b), vec![true, true, false, true, true]);
    assert_eq!(compare_f32("gt", &a, &b), vec![false, false, false, false, false]);
    assert_eq!(compare_f32("ge", &a, &b), vec![false, true, false, true, true]);
    let c =
        binary("lt", ti(DType::U8, &[2], &[200, 3]), ti(DType::U8, &[2], &[100, 4]), "bool", &[2]);
    assert_eq!(bools(&c), vec![false, true]);
}

#[test]
fn integer_div_rem_truncate_and_wrap() {
    let i32_ = DType::I32;
    assert_eq!(
        binary_int("div", i32_, &[7, -7, 7, -7], &[2, 2, -2, -2]).unwrap(),
        vec![3, -3, -3, 3]
    );
    assert_eq!(
        binary_int("rem", i32_, &[7, -7, 7, -7], &[2, 2, -2, -2]).unwrap(),
        vec![1, -1, 1, -1]
    );
    let min = i64::from(i32::MIN);
    assert_eq!(binary_int("div", i32_, &[min], &[-1]).unwrap(), vec![min]);
    assert_eq!(binary_int("div", DType::I64, &[i64::MIN], &[-1]).unwrap(), vec![i64::MIN]);
    assert_eq!(binary_int("rem", DType::I64, &[i64::MIN], &[-1]).unwrap(), vec![0]);
    assert_eq!(binary_int("add", DType::I8, &[127, -128], &[1, -1]).unwrap(), vec![-128, 127]);
    assert_eq!(binary_int("sub", DType::U8, &[0, 3], &[1, 5]).unwrap(), vec![255, 254]);
    assert_eq!(binary_int("mul", i32_, &[65536], &[65536]).unwrap(), vec![0]);
    assert_eq!(binary_int("mul", DType::U8, &[16], &[17]).unwrap(), vec![16]);
    assert_eq!(
        binary_int("pow", i32_, &[3, -2, 5, 2], &[4, 3, 0, 31]).unwrap(),
        vec![81, -8, 1, min]
    );
    assert_eq!(binary_int("max", DType::I8, &[-3, 4], &[2, -9]).unwrap(), vec![2, 4]);
    assert_eq!(binary_int("min", DType::I8, &[-3, 4], &[2, -9]).unwrap(), vec![-3, -9]);

    let e = binary_int("div", i32_, &[1, 2], &[1, 0]).unwrap_err();
    assert!(matches!(e.root(), InterpError::DivisionByZero { op: "div" }), "{e}");
    assert!(e.to_string().contains("div: integer division by zero"), "{e}");
    let e = binary_int("rem", DType::U8, &[1], &[0]).unwrap_err();
    assert!(matches!(e.root(), InterpError::DivisionByZero { op: "rem" }), "{e}");
    let e = binary_int("pow", DType::I64, &[2], &[-1]).unwrap_err();
    assert!(matches!(e.root(), InterpError::NegativeExponent { exponent: -1, .. }), "{e}");
}

#[test]
fn bool_binary_ops() {
    let (a, b) = (tb(&[4], &[true, true, false, false]), tb(&[4], &[true, false, true, false]));
    let go = |op| bools(&binary(op, a.clone(), b.clone(), "bool", &[4]));
    assert_eq!(go("and"), vec![true, false, false, false]);
    assert_eq!(go("or"), vec![true, true, true, false]);
    assert_eq!(go("eq"), vec![true, false, false, true]);
    assert_eq!(go("ne"), vec![false, true, true, false]);
}

#[test]
fn binary_broadcasts_like_numpy() {
    let a = tf(DType::F32, &[2, 1], &[10.0, 20.0]);
    let b = tf(DType::F32, &[3], &[1.0, 2.0, 3.0]);
    let y = binary("add", a, b, "f32", &[2, 3]);
    assert_eq!(y.shape, vec![2, 3]);
    assert_same(&floats(&y), &[11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    // Rank-0 against rank 2, and a size-1 dim in the middle.
    let s = tf(DType::F32, &[], &[2.0]);
    let m = tf(DType::F32, &[2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = binary("mul", m, s, "f32", &[2, 1, 2]);
    assert_same(&floats(&y), &[2.0, 4.0, 6.0, 8.0]);
    let p = tf(DType::F32, &[1, 3, 1], &[1.0, 2.0, 3.0]);
    let q = tf(DType::F32, &[2, 1, 2], &[0.0, 10.0, 100.0, 1000.0]);
    let y = binary("sub", q, p, "f32", &[2, 3, 2]);
    assert_same(
        &floats(&y),
        &[-1.0, 9.0, -2.0, 8.0, -3.0, 7.0, 99.0, 999.0, 98.0, 998.0, 97.0, 997.0],
    );
}

#[test]
fn literals_take_the_operand_dtype() {
    let src = "func @f(%x: i32[3]) -> (i32[3]) {\n %y = sub(7, %x)\n return %y\n}";
    assert_eq!(ints(&run1(src, &[ti(DType::I32, &[3], &[1, 2, 10])])), vec![6, 5, -3]);
    // 0.1 is rounded to bf16 (0.10009765625) before the add, and the sum again.
    let src = "func @f(%x: bf16[2]) -> (bf16[2]) {\n %y = add(%x, 0.1)\n return %y\n}";
    let y = run1(src, &[tf(DType::BF16, &[2], &[0.0, 1.0])]);
    assert_same(&floats(&y), &[0.100_097_656_25, 1.1015625]);
    let src = "func @f(%x: f16[2]) -> (bool[2]) {\n %y = gt(%x, 1)\n return %y\n}";
    assert_eq!(bools(&run1(src, &[tf(DType::F16, &[2], &[1.0, 1.5])])), vec![false, true]);
}

#[test]
fn narrow_float_results_are_rounded_after_each_op() {
    // bf16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7: to even (1).
    let y = binary_f16ish("add", DType::BF16, &[1.0, 1.0], &[2f64.powi(-8), 3.0 * 2f64.powi(-8)]);
    assert_same(&y, &[1.0, 1.015_625]);
    // f16: 65504 + 16 = 65520 rounds to inf; 2049 is a tie → 2048.
    let y = binary_f16ish("add", DType::F16, &[65504.0, 2048.0], &[16.0, 1.0]);
    assert_same(&y, &[INF, 2048.0]);
    let y = floats(&unary("exp", "f16", tf(DType::F16, &[2], &[12.0, 1.0])));
    assert_same(&y, &[INF, 2.71875]);
    // Rounded after EACH op: 1 + 2^-8 is a tie that rounds back to 1, twice;
    // rounding once at the end would give 1 + 2^-7.
    let src = "func @f(%x: bf16[1], %e: bf16[1]) -> (bf16[1]) {\n %a = add(%x, %e)\n %b = add(%a, %e)\n return %b\n}";
    let e = 2f64.powi(-8);
    let y = run1(src, &[tf(DType::BF16, &[1], &[1.0]), tf(DType::BF16, &[1], &[e])]);
    assert_same(&floats(&y), &[1.0]);
}

fn binary_f16ish(op: &str, d: DType, a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = a.len();
    floats(&binary(op, tf(d, &[n], a), tf(d, &[n], b), d.name(), &[n]))
}

// ---------------------------------------------------------------- select, cast

#[test]
fn select_broadcasts_all_three() {
    let src = "func @f(%c: bool[2, 1], %a: f32[3]) -> (f32[2, 3]) {\n %y = select(%c, %a, -1.0)\n return %y\n}";
    let y = run1(src, &[tb(&[2, 1], &[true, false]), tf(DType::F32, &[3], &[1.0, 2.0, 3.0])]);
    assert_eq!(y.shape, vec![2, 3]);
    assert_same(&floats(&y), &[1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
    let src = "func @f(%c: bool[3], %a: i8[3], %b: i8[1]) -> (i8[3]) {\n %y = select(%c, %a, %b)\n return %y\n}";
    let y = run1(
        src,
        &[
            tb(&[3], &[false, true, false]),
            ti(DType::I8, &[3], &[1, 2, 3]),
            ti(DType::I8, &[1], &[-9]),
        ],
    );
    assert_eq!(ints(&y), vec![-9, 2, -9]);
}

fn cast(x: HostTensor, to: &str) -> HostTensor {
    let (d, n) = (x.dtype, x.numel());
    run1(
        &format!("func @f(%x: {d}[{n}]) -> ({to}[{n}]) {{\n %y = cast(%x) to={to}\n return %y\n}}"),
        &[x],
    )
}

#[test]
fn casts() {
    let x = tf(DType::F32, &[6], &[-2.7, 2.7, NAN, 1e10, -1e10, -0.0]);
    assert_eq!(
        ints(&cast(x.clone(), "i32")),
        vec![-2, 2, 0, i64::from(i32::MAX), i64::from(i32::MIN), 0]
    );
    assert_eq!(ints(&cast(x.clone(), "u8")), vec![0, 2, 0, 255, 0, 0]);
    assert_eq!(ints(&cast(x.clone(), "i8")), vec![-2, 2, 0, 127, -128, 0]);
    assert_eq!(ints(&cast(x.clone(), "i64")), vec![-2, 2, 0, 10_000_000_000, -10_000_000_000, 0]);
    assert_eq!(bools(&cast(x, "bool")), vec![true, true, true, true, true, false]);
    // float → narrower float rounds to nearest even; NaN stays NaN.
    let x = tf(
        DType::F32,
        &[4],
        &[1.0 + 2f64.powi(-8), 1.0 + 3.0 * 2f64.powi(-8), NAN, f64::from(f32::MAX)],
    );
    assert_same(&floats(&cast(x, "bf16")), &[1.0, 1.015_625, NAN, INF]);
    let x = tf(DType::F64, &[2], &[0.1, 70000.0]);
    assert_same(&floats(&cast(x, "f16")), &[0.099_975_585_937_5, INF]);
    // int → int wraps, int → float rounds once, bool ↔ numbers are 0/1.
    assert_eq!(ints(&cast(ti(DType::I32, &[3], &[200, -129, 256]), "i8")), vec![-56, 127, 0]);
    assert_eq!(ints(&cast(ti(DType::I8, &[2], &[-1, 5]), "u8")), vec![255, 5]);
    assert_same(
        &floats(&cast(ti(DType::I64, &[3], &[257, 259, -3]), "bf16")),
        &[256.0, 260.0, -3.0],
    );
    assert_same(&floats(&cast(ti(DType::I64, &[1], &[(1 << 24) + 1]), "f32")), &[16_777_216.0]);
    assert_eq!(bools(&cast(ti(DType::I32, &[3], &[0, -4, 1]), "bool")), vec![false, true, true]);
    assert_same(&floats(&cast(tb(&[2], &[true, false]), "f16")), &[1.0, 0.0]);
    assert_eq!(ints(&cast(tb(&[2], &[true, false]), "u8")), vec![1, 0]);
}
