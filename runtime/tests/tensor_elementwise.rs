//! Every IR unary and binary op, eager vs the interpreter, at sizes 1, 3,
//! 50 and 783, on permuted, sliced and broadcast inputs; `where`; casts.

mod tensor_common;

use smelt_compiler::ir::{Binary, DType, Op, Scalar, Unary};
use smelt_runtime::tensor::{Rhs, Tensor, where_cond};
use tensor_common::{Ref, SIZES, assert_close, permuted, reference, sliced};

#[test]
fn unary_ops_match_the_interpreter_on_strided_inputs() {
    for kind in Unary::ALL {
        if kind == Unary::Not {
            continue;
        }
        for n in SIZES {
            let x = permuted(3, n, 7 + n as u64);
            // Keep logs and roots in their domain.
            let x = if matches!(kind, Unary::Log | Unary::Log2 | Unary::Sqrt | Unary::Rsqrt) {
                x.abs().unwrap().add(0.01).unwrap()
            } else {
                x
            };
            let got = x.unary(kind).unwrap();
            assert_eq!(got.shape(), &[3, n]);
            let want = reference(Op::Unary { kind }, &[Ref::T(&x)]);
            assert_close(kind.name(), &got.to_f64_vec(), &want.to_f64_vec(), 2e-6, 1e-6);
        }
    }
}

#[test]
fn binary_ops_match_the_interpreter_with_broadcasting() {
    for kind in Binary::ALL {
        for n in SIZES {
            let a = sliced(3, n, 11 + n as u64);
            let b = permuted(1, n, 5 + n as u64).reshape(&[-1]).unwrap(); // [n], broadcast over rows
            let (a, b) = match kind {
                Binary::And | Binary::Or => (a.gt(0.0).unwrap(), b.lt(0.5).unwrap()),
                Binary::Pow => (a.abs().unwrap().add(0.1).unwrap(), b),
                _ => (a, b),
            };
            let got = a.binary(kind, Rhs::Tensor(&b)).unwrap();
            assert_eq!(got.shape(), &[3, n], "{}", kind.name());
            let want = reference(Op::Binary { kind }, &[Ref::T(&a), Ref::T(&b)]);
            assert_close(kind.name(), &got.to_f64_vec(), &want.to_f64_vec(), 2e-6, 1e-6);
            // And with a literal on the right.
            if !matches!(kind, Binary::And | Binary::Or) {
                let got = a.binary(kind, Rhs::Lit(Scalar::Float(0.75))).unwrap();
                let want =
                    reference(Op::Binary { kind }, &[Ref::T(&a), Ref::L(Scalar::Float(0.75))]);
                assert_close(kind.name(), &got.to_f64_vec(), &want.to_f64_vec(), 2e-6, 1e-6);
            }
        }
    }
}

#[test]
fn integer_ops_follow_rust_and_pytorch_rules() {
    let a = Tensor::from_vec(vec![7i32, -7, 9, 0], &[4]).unwrap();
    let b = Tensor::from_vec(vec![2i32, 2, -4, 3], &[4]).unwrap();
    assert_eq!(a.div_trunc(&b).unwrap().to_vec::<i32>().unwrap(), vec![3, -3, -2, 0]);
    assert_eq!(a.fmod(&b).unwrap().to_vec::<i32>().unwrap(), vec![1, -1, 1, 0]);
    // True division of integers gives f32.
    let q = a.div(&b).unwrap();
    assert_eq!(q.dtype(), DType::F32);
    assert_eq!(q.to_vec::<f32>().unwrap(), vec![3.5, -3.5, -2.25, 0.0]);
    // Integer division by zero is an error, not a crash.
    let z = Tensor::zeros(&[4], DType::I32).unwrap();
    assert!(a.div_trunc(&z).is_err());
}

#[test]
fn where_selects_with_promotion_and_broadcasting() {
    for n in SIZES {
        let x = permuted(2, n, 3);
        let c = x.gt(0.0).unwrap();
        let y = where_cond(&c, &x, 0.0).unwrap();
        let want: Vec<f64> =
            x.to_f64_vec().iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect();
        assert_eq!(y.to_f64_vec(), want);
        // Literal and an i64 tensor: the result is i64.
        let i = Tensor::arange(0.0, n as f64, 1.0, DType::I64).unwrap();
        let y = where_cond(&c, 1, &i).unwrap();
        assert_eq!(y.dtype(), DType::I64);
        assert_eq!(y.shape(), &[2, n]);
        let masked = x.masked_fill(&c, -1.0).unwrap();
        assert!(masked.to_f64_vec().iter().all(|&v| v <= 0.0));
    }
    let bad = Tensor::zeros(&[3], DType::F32).unwrap();
    assert!(where_cond(&bad, 1.0, 0.0).is_err());
}

#[test]
fn casts_match_the_interpreter() {
    let x = permuted(3, 50, 9).mul(100.0).unwrap();
    for to in DType::ALL {
        let got = x.to_dtype(to).unwrap();
        assert_eq!(got.dtype(), to);
        let want = reference(Op::Cast { to }, &[Ref::T(&x)]);
        assert_eq!(got.to_f64_vec(), want.to_f64_vec(), "cast to {to}");
    }
}
