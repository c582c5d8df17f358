//! Reductions, views and matmul: eager vs the interpreter (or closed
//! forms) at sizes 1, 3, 50 and 783 on permuted and sliced inputs.

mod tensor_common;

use smelt_compiler::ir::{DType, Op, ReduceKind};
use smelt_runtime::tensor::Tensor;
use tensor_common::{Ref, SIZES, assert_close, data, permuted, reference, sliced};

#[test]
fn reductions_match_the_interpreter() {
    for n in SIZES {
        let x = permuted(3, n, 21 + n as u64); // [3, n], non-contiguous
        for keepdim in [false, true] {
            for (dims, ir) in
                [(vec![-1isize], vec![1usize]), (vec![0], vec![0]), (vec![], vec![0, 1])]
            {
                let cases: [(ReduceKind, Tensor); 4] = [
                    (ReduceKind::Sum, x.sum(&dims, keepdim).unwrap()),
                    (ReduceKind::Mean, x.mean(&dims, keepdim).unwrap()),
                    (ReduceKind::Max, x.max(&dims, keepdim).unwrap()),
                    (ReduceKind::Min, x.min(&dims, keepdim).unwrap()),
                ];
                for (kind, got) in cases {
                    let want =
                        reference(Op::Reduce { kind, dims: ir.clone(), keepdim }, &[Ref::T(&x)]);
                    assert_eq!(got.shape(), &want.shape[..], "{} dims {dims:?}", kind.name());
                    assert_close(kind.name(), &got.to_f64_vec(), &want.to_f64_vec(), 1e-5, 1e-5);
                }
            }
            let got = x.argmax(Some(-1), keepdim).unwrap();
            let want = reference(
                Op::Reduce { kind: ReduceKind::Argmax, dims: vec![1], keepdim },
                &[Ref::T(&x)],
            );
            assert_eq!(got.dtype(), DType::I64);
            assert_eq!(got.to_f64_vec(), want.to_f64_vec());
        }
        // Flattened argmax, and max with indices.
        let flat = x.argmax(None, false).unwrap().item().unwrap() as usize;
        let v = x.to_f64_vec();
        let best = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(v[flat], best);
        let (vals, idx) = x.max_dim(1, false).unwrap();
        let (vals, idx) = (vals.to_f64_vec(), idx.to_f64_vec());
        for r in 0..3 {
            assert_eq!(v[r * n + idx[r] as usize], vals[r]);
        }
    }
}

#[test]
fn integer_sums_accumulate_in_i64_and_int_means_are_errors() {
    let x = Tensor::from_vec(vec![100i8, 100, 100], &[3]).unwrap();
    let s = x.sum(&[], false).unwrap();
    assert_eq!(s.dtype(), DType::I64);
    assert_eq!(s.to_vec::<i64>().unwrap(), vec![300]);
    let b = Tensor::from_vec(vec![true, false, true], &[3]).unwrap();
    assert_eq!(b.sum(&[0], false).unwrap().to_vec::<i64>().unwrap(), vec![2]);
    let e = x.mean(&[], false).unwrap_err().to_string();
    assert!(e.contains("mean") && e.contains("[3]"), "{e}");
}

#[test]
fn var_std_and_logsumexp_match_closed_forms() {
    for n in SIZES {
        let x = sliced(2, n, 4);
        let v = x.to_f64_vec();
        for correction in [0.0, 1.0] {
            let got = x.var(&[1], correction, false).unwrap().to_f64_vec();
            let sd = x.std(&[1], correction, true).unwrap();
            assert_eq!(sd.shape(), &[2, 1]);
            for r in 0..2 {
                let row = &v[r * n..(r + 1) * n];
                let m = row.iter().sum::<f64>() / n as f64;
                let ss: f64 = row.iter().map(|a| (a - m) * (a - m)).sum();
                let want = ss / (n as f64 - correction).max(0.0);
                if want.is_finite() {
                    assert_close("var", &got[r..r + 1], &[want], 1e-5, 1e-6);
                    assert_close("std", &sd.to_f64_vec()[r..r + 1], &[want.sqrt()], 1e-5, 1e-6);
                } else {
                    assert!(!got[r].is_finite());
                }
            }
        }
        let got = x.logsumexp(&[-1], false).unwrap().to_f64_vec();
        for r in 0..2 {
            let want = v[r * n..(r + 1) * n].iter().map(|a| a.exp()).sum::<f64>().ln();
            assert_close("logsumexp", &got[r..r + 1], &[want], 1e-5, 1e-6);
        }
    }
    let inf = Tensor::full(&[2, 3], DType::F32, f64::NEG_INFINITY).unwrap();
    assert!(
        inf.logsumexp(&[1], false).unwrap().to_f64_vec().iter().all(|&v| v == f64::NEG_INFINITY)
    );
}

#[test]
fn views_share_storage_and_record_no_copy() {
    let t = Tensor::from_vec(data(24, 1), &[2, 3, 4]).unwrap();
    let r = t.reshape(&[6, -1]).unwrap();
    assert!(r.shares_storage(&t) && r.shape() == [6, 4]);
    assert_ne!(r.id(), t.id());
    let p = t.permute(&[2, 0, 1]).unwrap();
    assert!(p.shares_storage(&t) && !p.is_contiguous());
    assert_eq!(p.strides(), &[1, 12, 4]);
    let n = t.narrow(2, 1, 2).unwrap();
    assert!(n.shares_storage(&t) && n.shape() == [2, 3, 2]);
    let e = t.narrow(0, 0, 1).unwrap().expand(&[5, -1, -1]).unwrap();
    assert_eq!((e.shape(), e.strides()), (&[5usize, 3, 4][..], &[0isize, 4, 1][..]));
    assert!(e.shares_storage(&t));
    let u = t.unsqueeze(1).unwrap().squeeze(1).unwrap();
    assert_eq!(u.to_f64_vec(), t.to_f64_vec());
    // A transposed matrix splits into a view; merging its dims needs a copy.
    let tt = t.transpose(1, 2).unwrap();
    let split = tt.reshape(&[2, 2, 2, 3]).unwrap();
    assert!(split.shares_storage(&t));
    let merged = tt.reshape(&[2, 12]).unwrap();
    assert!(!merged.shares_storage(&t));
    assert!(tt.view(&[2, 12]).is_err());
    // Values of views agree with index arithmetic.
    let v = t.to_f64_vec();
    let pv = p.to_f64_vec();
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(pv[k * 6 + i * 3 + j], v[i * 12 + j * 4 + k]);
            }
        }
    }
    let s = t.slice(2, -3, 100, 2).unwrap();
    assert_eq!(s.shape(), &[2, 3, 2]);
    assert_eq!(s.to_f64_vec()[..2], [v[1], v[3]]);
    assert_eq!(t.select(1, -1).unwrap().to_f64_vec(), t.narrow(1, 2, 1).unwrap().to_f64_vec());
    let c = p.contiguous().unwrap();
    assert!(c.is_contiguous() && !c.shares_storage(&t));
    assert_eq!(c.to_f64_vec(), pv);
}

#[test]
fn matmul_matches_the_interpreter_batched_and_broadcast() {
    for n in SIZES {
        let a = permuted(4, n, 31); // [4, n]
        let b = Tensor::from_vec(data(2 * n * 3, 8), &[2, n, 3]).unwrap();
        let got = a.matmul(&b).unwrap();
        assert_eq!(got.shape(), &[2, 4, 3]);
        let want = reference(Op::Matmul, &[Ref::T(&a), Ref::T(&b)]);
        assert_close("matmul", &got.to_f64_vec(), &want.to_f64_vec(), 1e-4, 1e-4);
        // 1-D operands.
        let v = sliced(1, n, 2).reshape(&[-1]).unwrap();
        let mv = a.matmul(&v).unwrap();
        assert_eq!(mv.shape(), &[4]);
        let want = reference(Op::Matmul, &[Ref::T(&a), Ref::T(&v)]);
        assert_close("matvec", &mv.to_f64_vec(), &want.to_f64_vec(), 1e-4, 1e-4);
    }
    let e = Tensor::zeros(&[2, 3], DType::F32)
        .unwrap()
        .matmul(&Tensor::zeros(&[4, 5], DType::F32).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("matmul") && e.contains("[2, 3]") && e.contains("[4, 5]"), "{e}");
    // Promotion: i64 @ f32 computes in f32.
    let i = Tensor::arange(0.0, 6.0, 1.0, DType::I64).unwrap().reshape(&[2, 3]).unwrap();
    let f = Tensor::ones(&[3, 1], DType::F32).unwrap();
    let m = i.matmul(&f).unwrap();
    assert_eq!((m.dtype(), m.to_f64_vec()), (DType::F32, vec![3.0, 12.0]));
}
