//! The reference interpreter's library ops (matmul, conv2d, pools) against
//! hand-computed values and naive definitions, and `eval_op` called directly.

mod interp_util;

use interp_util::*;
use smelt_compiler::HostTensor;
use smelt_compiler::interp::{self, Arg, Bindings};
use smelt_compiler::ir::{DType, Op, Scalar, Shape, Type};

// ---------------------------------------------------------------- matmul

/// Naive matmul of row-major [m, k] @ [k, n].
fn mm(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for t in 0..k {
                out[i * n + j] += a[i * k + t] * b[t * n + j];
            }
        }
    }
    out
}

fn matmul(a: HostTensor, b: HostTensor, rs: &[usize]) -> HostTensor {
    let d = a.dtype;
    binary("matmul", a, b, d.name(), rs)
}

#[test]
fn matmul_2d_and_1d() {
    let a = tf(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = tf(DType::F32, &[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
    assert_same(&floats(&matmul(a.clone(), b.clone(), &[2, 2])), &[58.0, 64.0, 139.0, 154.0]);
    let v = tf(DType::F32, &[3], &[1.0, 0.0, -1.0]);
    // [3] @ [3, 2] → [2]; [2, 3] @ [3] → [2]; [3] @ [3] → [].
    assert_same(&floats(&matmul(v.clone(), b, &[2])), &[-4.0, -4.0]);
    assert_same(&floats(&matmul(a, v.clone(), &[2])), &[-2.0, -2.0]);
    let y = matmul(v.clone(), v, &[]);
    assert_eq!(y.shape, Vec::<usize>::new());
    assert_same(&floats(&y), &[2.0]);
    // Integers wrap.
    let a = ti(DType::I8, &[1, 2], &[100, 100]);
    let b = ti(DType::I8, &[2, 1], &[1, 1]);
    assert_eq!(ints(&matmul(a, b, &[1, 1])), vec![-56]);
    // K = 0: zeros.
    let y = matmul(tf(DType::F32, &[2, 0], &[]), tf(DType::F32, &[0, 2], &[]), &[2, 2]);
    assert_same(&floats(&y), &[0.0; 4]);
}

#[test]
fn matmul_batched_with_broadcast_batch_dims() {
    // [2, 1, 2, 3] @ [3, 3, 2] → [2, 3, 2, 2].
    let a = iota_f32(&[2, 1, 2, 3]);
    let b = tf(DType::F32, &[3, 3, 2], &(0..18).map(|i| (i as f64) - 5.0).collect::<Vec<_>>());
    let y = matmul(a.clone(), b.clone(), &[2, 3, 2, 2]);
    let (av, bv) = (floats(&a), floats(&b));
    let mut want = Vec::new();
    for i in 0..2 {
        for j in 0..3 {
            want.extend(mm(&av[i * 6..i * 6 + 6], &bv[j * 6..j * 6 + 6], 2, 3, 2));
        }
    }
    assert_same(&floats(&y), &want);
    // A 1-D rhs against a batched lhs: [2, 2, 3] @ [3] → [2, 2].
    let v = tf(DType::F32, &[3], &[1.0, 1.0, 1.0]);
    let y = matmul(iota_f32(&[2, 2, 3]), v, &[2, 2]);
    assert_same(&floats(&y), &[3.0, 12.0, 21.0, 30.0]);
}

// ---------------------------------------------------------------- conv2d

/// Deterministic small values that are exact in f32 (k/8 for k in −16..16).
fn pattern(n: usize, seed: usize) -> Vec<f64> {
    (0..n).map(|i| (((i * 7 + seed * 13) % 32) as f64 - 16.0) / 8.0).collect()
}

/// The textbook definition, written independently of the interpreter.
#[allow(clippy::too_many_arguments)]
fn conv_ref(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    ws: [usize; 4],
    bias: Option<&[f64]>,
    s: usize,
    p: usize,
    d: usize,
    g: usize,
) -> (Vec<f64>, [usize; 4]) {
    let [n, c, h, wd] = xs;
    let [oc, icg, kh, kw] = ws;
    let oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1;
    let ow = (wd + 2 * p - d * (kw - 1) - 1) / s + 1;
    let mut out = Vec::new();
    for b in 0..n {
        for o in 0..oc {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = bias.map_or(0.0, |bb| bb[o]);
                    for ic in 0..icg {
                        let ch = (o / (oc / g)) * icg + ic;
                        for i in 0..kh {
                            for j in 0..kw {
                                let yy = (y * s + i * d) as isize - p as isize;
                                let xw = (xx * s + j * d) as isize - p as isize;
                                if yy < 0 || xw < 0 || yy >= h as isize || xw >= wd as isize {
                                    continue;
                                }
                                let xi = ((b * c + ch) * h + yy as usize) * wd + xw as usize;
                                acc += x[xi] * w[((o * icg + ic) * kh + i) * kw + j];
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
    }
    (out, [n, oc, oh, ow])
}

#[test]
fn conv2d_hand_computed() {
    // A 2x2 kernel of ones sums each window of a 3x3 input 1..9.
    let src = "func @f(%x: f32[1, 1, 3, 3], %w: f32[1, 1, 2, 2]) -> (f32[1, 1, 2, 2]) {\n %y = conv2d(%x, %w)\n return %y\n}";
    let x = tf(DType::F32, &[1, 1, 3, 3], &(1..=9).map(f64::from).collect::<Vec<_>>());
    let y = run1(src, &[x.clone(), tf(DType::F32, &[1, 1, 2, 2], &[1.0; 4])]);
    assert_same(&floats(&y), &[12.0, 16.0, 24.0, 28.0]);
    // padding 1, stride 2, bias 0.5: windows at corners see 1, 3, 7, 9 plus padding.
    let src = "func @f(%x: f32[1, 1, 3, 3], %w: f32[1, 1, 3, 3], %b: f32[1]) -> (f32[1, 1, 2, 2]) {\n %y = conv2d(%x, %w, %b) stride=[2, 2] padding=[1, 1]\n return %y\n}";
    let y = run1(src, &[x, tf(DType::F32, &[1, 1, 3, 3], &[1.0; 9]), tf(DType::F32, &[1], &[0.5])]);
    // top-left window covers rows 0..1, cols 0..1: 1+2+4+5 = 12.
    assert_same(&floats(&y), &[12.5, 16.5, 24.5, 28.5]);
}

/// x shape, weight shape, stride, padding, dilation, groups, with a bias.
type ConvCase = ([usize; 4], [usize; 4], usize, usize, usize, usize, bool);

#[test]
fn conv2d_against_the_definition() {
    let cases: [ConvCase; 5] = [
        ([1, 2, 5, 5], [3, 2, 3, 3], 1, 0, 1, 1, false),
        ([2, 2, 5, 6], [2, 2, 3, 3], 2, 1, 1, 1, true),
        ([1, 1, 7, 7], [1, 1, 3, 3], 1, 2, 2, 1, false),
        ([1, 4, 4, 4], [6, 2, 2, 2], 1, 1, 1, 2, true),
        ([1, 3, 6, 5], [3, 1, 3, 2], 2, 1, 2, 3, true),
    ];
    for (xs, ws, s, p, d, g, with_bias) in cases {
        let x = pattern(xs.iter().product(), 1);
        let w = pattern(ws.iter().product(), 2);
        let bias = pattern(ws[0], 3);
        let (want, os) = conv_ref(&x, xs, &w, ws, with_bias.then_some(&bias[..]), s, p, d, g);
        let (bias_param, bias_arg) =
            if with_bias { (format!(", %b: f64[{}]", ws[0]), ", %b") } else { (String::new(), "") };
        let src = format!(
            "func @f(%x: f64[{}], %w: f64[{}]{bias_param}) -> (f64[{}]) {{\n %y = conv2d(%x, %w{bias_arg}) stride=[{s}, {s}] padding=[{p}, {p}] dilation=[{d}, {d}] groups={g}\n return %y\n}}",
            dims(&xs),
            dims(&ws),
            dims(&os)
        );
        let mut inputs = vec![tf(DType::F64, &xs, &x), tf(DType::F64, &ws, &w)];
        if with_bias {
            inputs.push(tf(DType::F64, &[ws[0]], &bias));
        }
        let y = run1(&src, &inputs);
        assert_eq!(y.shape, os.to_vec(), "{src}");
        assert_same(&floats(&y), &want);
    }
}

// ---------------------------------------------------------------- pools

#[test]
fn max_pool_pads_with_minus_infinity_and_keeps_nan() {
    // All-negative input: zero padding would wrongly win; −inf padding does not.
    let x = tf(DType::F32, &[1, 1, 3, 3], &[-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0]);
    let src = "func @f(%x: f32[1, 1, 3, 3]) -> (f32[1, 1, 2, 2]) {\n %y = max_pool2d(%x) kernel=[2, 2] stride=[2, 2] padding=[1, 1]\n return %y\n}";
    assert_same(&floats(&run1(src, &[x])), &[-1.0, -2.0, -4.0, -5.0]);
    // Stride defaults to the kernel; NaN propagates.
    let x = tf(DType::F32, &[1, 1, 2, 4], &[1.0, NAN, 3.0, 4.0, 5.0, 6.0, 0.0, -1.0]);
    let src = "func @f(%x: f32[1, 1, 2, 4]) -> (f32[1, 1, 1, 2]) {\n %y = max_pool2d(%x) kernel=[2, 2]\n return %y\n}";
    assert_same(&floats(&run1(src, &[x])), &[NAN, 4.0]);
    // Overlapping windows, two channels.
    let src = "func @f(%x: f32[1, 2, 3, 3]) -> (f32[1, 2, 2, 2]) {\n %y = max_pool2d(%x) kernel=[2, 2] stride=[1, 1]\n return %y\n}";
    let y = run1(src, &[iota_f32(&[1, 2, 3, 3])]);
    assert_same(&floats(&y), &[4.0, 5.0, 7.0, 8.0, 13.0, 14.0, 16.0, 17.0]);
}

#[test]
fn avg_pool_count_include_pad_both_ways() {
    // x = 1..9 in 3x3; kernel 2, stride 2, padding 1: windows hold
    // {1}, {2,3}, {4,7}, {5,6,8,9} of real elements.
    let x = tf(DType::F32, &[1, 1, 3, 3], &(1..=9).map(f64::from).collect::<Vec<_>>());
    let body = "kernel=[2, 2] stride=[2, 2] padding=[1, 1]";
    let src = |extra: &str| {
        format!(
            "func @f(%x: f32[1, 1, 3, 3]) -> (f32[1, 1, 2, 2]) {{\n %y = avg_pool2d(%x) {body}{extra}\n return %y\n}}"
        )
    };
    let incl = run1(&src(""), std::slice::from_ref(&x));
    assert_same(&floats(&incl), &[0.25, 1.25, 2.75, 7.0]);
    let incl = run1(&src(" count_include_pad=true"), std::slice::from_ref(&x));
    assert_same(&floats(&incl), &[0.25, 1.25, 2.75, 7.0]);
    let excl = run1(&src(" count_include_pad=false"), &[x]);
    assert_same(&floats(&excl), &[1.0, 2.5, 5.5, 7.0]);
    // Without padding both modes agree; 1/3 rounds to f32.
    let src = "func @f(%x: f32[1, 1, 1, 3]) -> (f32[1, 1, 1, 1]) {\n %y = avg_pool2d(%x) kernel=[1, 3]\n return %y\n}";
    let y = run1(src, &[tf(DType::F32, &[1, 1, 1, 3], &[0.0, 0.0, 1.0])]);
    assert_same(&floats(&y), &[r32(1.0 / 3.0)]);
}

// ---------------------------------------------------------------- eval_op directly

#[test]
fn eval_op_takes_literals_and_checks_the_declared_type() {
    let x = tf(DType::F32, &[2], &[1.0, 2.0]);
    let op = Op::Binary { kind: smelt_compiler::ir::Binary::Mul };
    let out = Type::new(DType::F32, Shape::of(&[2]));
    let y =
        interp::eval_op(&op, &[Arg::Tensor(&x), Arg::Lit(Scalar::Int(3))], &out, &Bindings::new())
            .unwrap();
    assert_same(&floats(&y), &[3.0, 6.0]);
    // A declared type that disagrees with the operands is an error, not a panic.
    let wrong = Type::new(DType::F32, Shape::of(&[3]));
    let e = interp::eval_op(&op, &[Arg::Tensor(&x), Arg::Tensor(&x)], &wrong, &Bindings::new())
        .unwrap_err();
    assert!(e.to_string().starts_with("mul: computed f32[2]"), "{e}");
    // Wrong arity, or a literal where a tensor must be.
    let e = interp::eval_op(&op, &[Arg::Tensor(&x)], &out, &Bindings::new()).unwrap_err();
    assert!(e.to_string().contains("takes 2 operand(s), got 1"), "{e}");
    let neg = Op::Unary { kind: smelt_compiler::ir::Unary::Neg };
    let e = interp::eval_op(&neg, &[Arg::Lit(Scalar::Int(1))], &out, &Bindings::new()).unwrap_err();
    assert!(e.to_string().contains("must be a tensor"), "{e}");
}
