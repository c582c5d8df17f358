//! Every dtype through the elementwise ops, reductions and matmul, eager vs
//! the interpreter, on strided inputs; and ops on several threads at once
//! (each thread has its own backend).

mod tensor_common;

use smelt_compiler::ir::{Binary, DType, Op, ReduceKind, Unary};
use smelt_runtime::functional::softmax;
use smelt_runtime::tensor::{Rhs, Tensor};
use tensor_common::{Ref, assert_close, permuted, reference};

/// A `[3, 50]` non-contiguous tensor of `dtype` with values that fit it.
fn input(dtype: DType, seed: u64) -> Tensor {
    let x = permuted(3, 50, seed).mul(if dtype.is_float() { 4.0 } else { 30.0 }).unwrap();
    let x = if dtype == DType::U8 { x.abs().unwrap() } else { x };
    let x = x.to_dtype(dtype).unwrap();
    // Keep it strided after the cast.
    x.transpose(0, 1).unwrap().contiguous().unwrap().transpose(0, 1).unwrap()
}

#[test]
fn binary_ops_agree_with_the_interpreter_in_every_dtype() {
    for dtype in DType::ALL {
        let (a, b) = (input(dtype, 1), input(dtype, 2));
        assert!(!a.is_contiguous());
        for kind in Binary::ALL {
            if !kind.accepts(dtype) {
                continue;
            }
            // Integer division by zero and overflowing powers are not the point here.
            if !dtype.is_float() && matches!(kind, Binary::Div | Binary::Rem | Binary::Pow) {
                continue;
            }
            let got = a.binary(kind, Rhs::Tensor(&b)).unwrap();
            assert_eq!(got.dtype(), if kind.is_comparison() { DType::Bool } else { dtype });
            let want = reference(Op::Binary { kind }, &[Ref::T(&a), Ref::T(&b)]);
            let what = format!("{} {dtype}", kind.name());
            let rel = if dtype.is_float() { 1e-6 } else { 0.0 };
            assert_close(&what, &got.to_f64_vec(), &want.to_f64_vec(), rel, 0.0);
        }
    }
}

#[test]
fn unary_ops_reductions_and_matmul_agree_in_float_dtypes() {
    for dtype in [DType::F64, DType::F32, DType::F16, DType::BF16] {
        let x = input(dtype, 3);
        for kind in [Unary::Exp, Unary::Tanh, Unary::Neg, Unary::Sigmoid, Unary::Erf] {
            let got = x.unary(kind).unwrap();
            let want = reference(Op::Unary { kind }, &[Ref::T(&x)]);
            // One rounding of the narrow type apart at most.
            let rel = match dtype {
                DType::BF16 => 8e-3,
                DType::F16 => 1e-3,
                _ => 2e-6,
            };
            assert_close(
                &format!("{} {dtype}", kind.name()),
                &got.to_f64_vec(),
                &want.to_f64_vec(),
                rel,
                1e-6,
            );
        }
        for kind in [ReduceKind::Sum, ReduceKind::Max, ReduceKind::Mean] {
            let op = Op::Reduce { kind, dims: vec![1], keepdim: false };
            let got = match kind {
                ReduceKind::Sum => x.sum(&[1], false),
                ReduceKind::Max => x.max(&[1], false),
                _ => x.mean(&[1], false),
            }
            .unwrap();
            let want = reference(op, &[Ref::T(&x)]);
            let rel = if matches!(dtype, DType::BF16 | DType::F16) { 1e-2 } else { 1e-5 };
            assert_close(
                &format!("{} {dtype}", kind.name()),
                &got.to_f64_vec(),
                &want.to_f64_vec(),
                rel,
                1e-3,
            );
        }
        let y = input(dtype, 4); // [3, 50]
        let got = x.matmul(&y.transpose(0, 1).unwrap()).unwrap();
        let yt = y.transpose(0, 1).unwrap();
        let want = reference(Op::Matmul, &[Ref::T(&x), Ref::T(&yt)]);
        let rel = if matches!(dtype, DType::BF16 | DType::F16) { 2e-2 } else { 1e-5 };
        assert_close(&format!("matmul {dtype}"), &got.to_f64_vec(), &want.to_f64_vec(), rel, 1e-2);
        let s = softmax(&x, -1).unwrap();
        assert_eq!(s.dtype(), dtype);
        for r in s.sum(&[1], false).unwrap().to_dtype(DType::F64).unwrap().to_f64_vec() {
            assert!((r - 1.0).abs() < 2e-2, "softmax {dtype}: row sums to {r}");
        }
    }
}

#[test]
fn threads_run_ops_independently() {
    let handles: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                let x = Tensor::arange(0.0, 100.0, 1.0, DType::F32).unwrap().add(i as f64).unwrap();
                x.sum(&[], false).unwrap().item().unwrap()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), 4950.0 + 100.0 * i as f64);
    }
    // Tensors move between threads.
    let t = Tensor::ones(&[4], DType::F32).unwrap();
    let back = std::thread::spawn(move || t.mul(3.0).unwrap()).join().unwrap();
    assert_eq!(back.to_f64_vec(), vec![3.0; 4]);
}
