//! The CPU library ops (`backend::cpu::library::run_library`) against the
//! interpreter's `eval_op`: matmul (1-D promotion, batched, broadcast,
//! integer wrap), conv2d over every attribute combination, both pools,
//! in f64/f32/bf16/f16, within IR.md's accuracy bars and with NaN/Inf
//! positions exact; plus the errors a malformed call gets.

use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::Buffer;
use smelt_compiler::backend::cpu::library::{LibraryError, run_library};
use smelt_compiler::interp::{Arg, Bindings, eval_op};
use smelt_compiler::ir::{Conv2dAttrs, DType, Op, OperandType, PoolAttrs, Type};

const FLOATS: [DType; 4] = [DType::F64, DType::F32, DType::BF16, DType::F16];

/// splitmix64: a seeded stream of uniform values in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
    fn tensor(&mut self, dtype: DType, shape: &[usize]) -> HostTensor {
        let n = shape.iter().product();
        if dtype.is_float() {
            HostTensor::from_f64(dtype, shape, (0..n).map(|_| self.uniform()).collect())
        } else {
            // Full-range values, so integer products wrap.
            HostTensor::from_i64(dtype, shape, (0..n).map(|_| self.next() as i64).collect())
        }
    }
}

/// The bar for `dtype` (IR.md; f64 gets a tight one of our own).
fn bar(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        DType::F32 => 1e-5,
        DType::BF16 => 1e-2,
        DType::F16 => 2e-3,
        _ => 0.0,
    }
}

/// Runs `op` through the library (with `threads`) and the interpreter and
/// compares; returns the library's result.
fn check(op: &Op, inputs: &[HostTensor], threads: usize) -> HostTensor {
    let types: Vec<Type> = inputs.iter().map(HostTensor::ir_type).collect();
    let operands: Vec<OperandType<'_>> = types.iter().map(OperandType::Value).collect();
    let out_type = op.infer_type(&operands, None).expect("valid test case");
    let args: Vec<Arg<'_>> = inputs.iter().map(Arg::Tensor).collect();
    let want = eval_op(op, &args, &out_type, &Bindings::new()).expect("interpreter");
    let bufs: Vec<Buffer> = inputs.iter().map(Buffer::from_host).collect();
    let refs: Vec<_> = bufs.iter().map(Buffer::as_ref).collect();
    let mut out = Buffer::zeros(want.dtype, &want.shape);
    run_library(op, &refs, out.as_mut(), threads).expect("library");
    let got = out.to_host();
    let what = format!("{} {:?} on {:?}", op.name(), want.dtype, shapes(inputs));
    assert_eq!(got.shape, want.shape, "{what}");
    compare(&got, &want, &what);
    got
}

fn shapes(ts: &[HostTensor]) -> Vec<Vec<usize>> {
    ts.iter().map(|t| t.shape.clone()).collect()
}

/// Integers exact; floats within the bar with NaN/Inf positions exact.
fn compare(got: &HostTensor, want: &HostTensor, what: &str) {
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    if !want.dtype.is_float() {
        assert_eq!(g, w, "{what}");
        return;
    }
    let (mut err, mut norm) = (0.0, 0.0);
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        if !b.is_finite() {
            assert!(a.is_nan() == b.is_nan() && (b.is_nan() || a == b), "{what}: [{i}] {a} vs {b}");
            continue;
        }
        assert!(a.is_finite(), "{what}: [{i}] {a} vs {b}");
        err += (a - b) * (a - b);
        norm += b * b;
    }
    let rel = if norm > 0.0 { (err / norm).sqrt() } else { err.sqrt() };
    assert!(rel <= bar(want.dtype), "{what}: rel-L2 {rel:e} > {:e}", bar(want.dtype));
}

// ------------------------------------------------------------------ matmul

#[test]
fn matmul_matches_the_interpreter_at_awkward_sizes_and_ranks() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[1], &[1]),
        (&[3], &[3]),
        (&[3], &[3, 5]),
        (&[4, 3], &[3]),
        (&[1, 1], &[1, 1]),
        (&[3, 50], &[50, 1]),
        (&[50, 783], &[783, 3]),
        (&[7, 50], &[50, 783]),
        (&[3, 0], &[0, 4]),
        (&[0, 3], &[3, 4]),
        (&[2, 3, 4, 5], &[5, 6]),
        (&[2, 1, 4, 5], &[3, 5, 6]),
        (&[4, 5], &[2, 5, 3]),
        (&[5], &[2, 3, 5, 2]),
        (&[2, 3, 4], &[4]),
        (&[6, 1, 3], &[1, 3, 3]),
    ];
    let mut rng = Rng(1);
    for dtype in FLOATS {
        for (a, b) in cases {
            let ins = [rng.tensor(dtype, a), rng.tensor(dtype, b)];
            for threads in [1, 2, 3] {
                check(&Op::Matmul, &ins, threads);
            }
        }
    }
}

#[test]
fn matmul_f32_large_square_ish() {
    let mut rng = Rng(2);
    let ins = [rng.tensor(DType::F32, &[64, 783]), rng.tensor(DType::F32, &[783, 65])];
    check(&Op::Matmul, &ins, 2);
    let ins = [rng.tensor(DType::BF16, &[33, 783]), rng.tensor(DType::BF16, &[783, 17])];
    check(&Op::Matmul, &ins, 2);
}

#[test]
fn integer_matmul_wraps_exactly_like_the_interpreter() {
    let mut rng = Rng(3);
    for dtype in [DType::I64, DType::I32, DType::I8, DType::U8] {
        for (a, b) in
            [(&[3usize][..], &[3usize][..]), (&[4, 7], &[7, 5]), (&[2, 1, 3, 4], &[3, 4, 2])]
        {
            let ins = [rng.tensor(dtype, a), rng.tensor(dtype, b)];
            check(&Op::Matmul, &ins, 2);
        }
    }
}

#[test]
fn matmul_propagates_nan_and_inf_positions() {
    let a = HostTensor::from_f64(DType::F32, &[2, 2], vec![1.0, f64::NAN, 2.0, 3.0]);
    let b = HostTensor::from_f64(DType::F32, &[2, 2], vec![f64::INFINITY, 0.5, 1.0, 2.0]);
    let got = check(&Op::Matmul, &[a, b], 1);
    let v = got.to_f64_vec();
    assert!(v[0].is_nan() && v[1].is_nan() && v[2] == f64::INFINITY && v[3] == 7.0, "{v:?}");
}

// ------------------------------------------------------------------ conv2d

#[test]
fn conv2d_matches_the_interpreter_over_every_attribute_combination() {
    let mut rng = Rng(4);
    let (n, c, h, w) = (2, 4, 9, 7);
    let mut ran = 0;
    for dtype in FLOATS {
        for (kh, kw) in [(1, 1), (3, 3), (2, 3)] {
            for stride in [[1, 1], [2, 1], [2, 3]] {
                for padding in [[0, 0], [1, 1], [2, 0]] {
                    for dilation in [[1, 1], [2, 1], [2, 2]] {
                        // groups 1, 2 and depthwise (4), the last also with
                        // a channel multiplier of 2.
                        for (groups, oc) in [(1, 3), (2, 4), (4, 4), (4, 8)] {
                            for bias in [false, true] {
                                let a = Conv2dAttrs {
                                    stride,
                                    padding,
                                    dilation,
                                    groups,
                                    channels_last: false,
                                };
                                let op = Op::Conv2d(a);
                                let x = rng.tensor(dtype, &[n, c, h, w]);
                                let wt = rng.tensor(dtype, &[oc, c / groups as usize, kh, kw]);
                                let mut ins = vec![x, wt];
                                if bias {
                                    ins.push(rng.tensor(dtype, &[oc]));
                                }
                                let types: Vec<Type> =
                                    ins.iter().map(HostTensor::ir_type).collect();
                                let ops: Vec<_> = types.iter().map(OperandType::Value).collect();
                                if op.infer_type(&ops, None).is_err() {
                                    continue; // window larger than the padded input
                                }
                                check(&op, &ins, 1 + ran % 3);
                                ran += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    // 4 dtypes × 3 kernels × 3 strides × 3 paddings × 3 dilations × 4 group
    // settings × 2 bias settings, less the few windows that do not fit.
    assert!(ran > 2500, "only {ran} conv cases ran");
}

#[test]
fn conv2d_realistic_sizes() {
    let mut rng = Rng(5);
    for dtype in [DType::F32, DType::BF16] {
        // A ResNet-ish 3×3 layer, a strided stem-like 7×7, a depthwise 3×3
        // and a 1×1 projection on an odd spatial size.
        let cases: &[(&[usize], &[usize], Conv2dAttrs)] = &[
            (&[1, 16, 28, 28], &[32, 16, 3, 3], attrs([1, 1], [1, 1], [1, 1], 1)),
            (&[2, 3, 50, 50], &[8, 3, 7, 7], attrs([2, 2], [3, 3], [1, 1], 1)),
            (&[3, 24, 17, 17], &[24, 1, 3, 3], attrs([1, 1], [1, 1], [1, 1], 24)),
            (&[1, 50, 13, 11], &[20, 50, 1, 1], attrs([1, 1], [0, 0], [1, 1], 1)),
        ];
        for (x, w, a) in cases {
            let oc = w[0];
            let ins = [rng.tensor(dtype, x), rng.tensor(dtype, w), rng.tensor(dtype, &[oc])];
            check(&Op::Conv2d(a.clone()), &ins, 2);
        }
    }
}

fn attrs(stride: [u64; 2], padding: [u64; 2], dilation: [u64; 2], groups: u64) -> Conv2dAttrs {
    Conv2dAttrs { stride, padding, dilation, groups, channels_last: false }
}

// ------------------------------------------------------------------- pools

#[test]
fn pools_match_the_interpreter_in_both_modes() {
    let mut rng = Rng(6);
    let mut ran = 0;
    for dtype in FLOATS {
        for (h, w) in [(1, 1), (3, 5), (9, 8)] {
            for kernel in [[1, 1], [2, 2], [3, 3], [3, 2]] {
                for stride in [[1, 1], [2, 2], [3, 1]] {
                    for padding in [[0, 0], [1, 0], [1, 1]] {
                        let x = rng.tensor(dtype, &[2, 3, h, w]);
                        for (max, include) in [(true, true), (false, true), (false, false)] {
                            let a = PoolAttrs {
                                kernel,
                                stride,
                                padding,
                                count_include_pad: include,
                                channels_last: false,
                            };
                            let op = if max { Op::MaxPool2d(a) } else { Op::AvgPool2d(a) };
                            let t = x.ir_type();
                            if op.infer_type(&[OperandType::Value(&t)], None).is_err() {
                                continue;
                            }
                            check(&op, std::slice::from_ref(&x), 1 + ran % 2);
                            ran += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(ran > 400, "only {ran} pool cases ran");
}

#[test]
fn max_pool_propagates_nan_and_prefers_positive_zero() {
    let x = HostTensor::from_f64(
        DType::F32,
        &[1, 1, 2, 4],
        vec![f64::NAN, 1.0, -0.0, 0.0, 2.0, 3.0, 0.0, -0.0],
    );
    let a = PoolAttrs {
        kernel: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
        count_include_pad: true,
        channels_last: false,
    };
    let got = check(&Op::MaxPool2d(a), &[x], 1).to_f64_vec();
    assert!(got[0].is_nan(), "{got:?}");
    assert!(got[1] == 0.0 && got[1].is_sign_positive(), "{got:?}");
}

#[test]
fn avg_pool_divisor_depends_on_count_include_pad() {
    let x = HostTensor::from_f64(DType::F32, &[1, 1, 1, 1], vec![6.0]);
    let mut a = PoolAttrs {
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        count_include_pad: true,
        channels_last: false,
    };
    assert_eq!(
        check(&Op::AvgPool2d(a.clone()), std::slice::from_ref(&x), 1).to_f64_vec(),
        [f64::from(6.0_f32 / 9.0)]
    );
    a.count_include_pad = false;
    assert_eq!(check(&Op::AvgPool2d(a), &[x], 1).to_f64_vec(), [6.0]);
}

// ------------------------------------------------------------------ errors

fn call(op: &Op, inputs: &[Buffer], out: &mut Buffer) -> Result<(), LibraryError> {
    let refs: Vec<_> = inputs.iter().map(Buffer::as_ref).collect();
    run_library(op, &refs, out.as_mut(), 2)
}

#[test]
fn malformed_calls_are_errors_naming_the_op_and_shapes() {
    let f32s = |s: &[usize]| Buffer::zeros(DType::F32, s);
    let cases: Vec<(Op, Vec<Buffer>, Buffer, &str)> = vec![
        (Op::Matmul, vec![f32s(&[2, 3]), f32s(&[4, 5])], f32s(&[2, 5]), "contraction"),
        (Op::Matmul, vec![f32s(&[2, 3]), f32s(&[3, 5])], f32s(&[2, 4]), "output shape"),
        (Op::Matmul, vec![f32s(&[2, 2, 3]), f32s(&[3, 3, 5])], f32s(&[2, 2, 5]), "broadcast"),
        (
            Op::Matmul,
            vec![f32s(&[2, 3]), Buffer::zeros(DType::F64, &[3, 5])],
            f32s(&[2, 5]),
            "dtype",
        ),
        (Op::Matmul, vec![f32s(&[2, 3])], f32s(&[2, 3]), "operands"),
        (
            Op::Conv2d(Conv2dAttrs { groups: 3, ..Conv2dAttrs::default() }),
            vec![f32s(&[1, 4, 5, 5]), f32s(&[2, 2, 3, 3])],
            f32s(&[1, 2, 3, 3]),
            "groups=3",
        ),
        (
            Op::Conv2d(Conv2dAttrs::default()),
            vec![f32s(&[1, 2, 2, 2]), f32s(&[2, 2, 3, 3])],
            f32s(&[1, 2, 1, 1]),
            "window",
        ),
        (
            Op::MaxPool2d(PoolAttrs {
                kernel: [2, 2],
                stride: [2, 2],
                padding: [0, 0],
                count_include_pad: true,
                channels_last: false,
            }),
            vec![Buffer::zeros(DType::I32, &[1, 1, 2, 2])],
            Buffer::zeros(DType::I32, &[1, 1, 1, 1]),
            "float",
        ),
        (
            Op::Unary { kind: smelt_compiler::ir::Unary::Exp },
            vec![f32s(&[2])],
            f32s(&[2]),
            "not a library op",
        ),
    ];
    for (op, ins, mut out, needle) in cases {
        let err = call(&op, &ins, &mut out).expect_err(needle).to_string();
        assert!(err.contains(op.name()) && err.contains(needle), "{err}");
        if op != (Op::Unary { kind: smelt_compiler::ir::Unary::Exp }) {
            assert!(err.contains("f32[") || err.contains("i32["), "{err}");
        }
    }
}

#[test]
fn a_buffer_whose_bytes_disagree_with_its_shape_is_an_error() {
    use smelt_compiler::backend::cpu::{BufMut, BufRef};
    let a = vec![0u8; 4 * 6];
    let b = vec![0u8; 4 * 5]; // should be 3×2 f32 = 24 bytes
    let mut o = vec![0u8; 4 * 4];
    let ins = [
        BufRef { dtype: DType::F32, shape: &[2, 3], bytes: &a },
        BufRef { dtype: DType::F32, shape: &[3, 2], bytes: &b },
    ];
    let out = BufMut { dtype: DType::F32, shape: &[2, 2], bytes: &mut o };
    let err = run_library(&Op::Matmul, &ins, out, 1).expect_err("short buffer").to_string();
    assert!(err.contains("operand 1 holds 20 bytes"), "{err}");
}
