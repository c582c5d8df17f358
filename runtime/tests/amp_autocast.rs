//! Autocast on the CPU, end to end: each op on the CPU bf16 lists runs in
//! the dtype its policy gives (lower → bf16, fp32 → f32, promote → the
//! widest eligible dtype), unlisted ops keep their input's dtype, scopes
//! nest and restore, and the weight-cast cache fills and is cleared when
//! the outermost scope exits.

use std::cell::RefCell;
use std::collections::HashSet;

use smelt_compiler::ir::DType;
use smelt_runtime::amp::{
    DeviceType, autocast, autocast_dtype, is_autocast_enabled, set_leaf_predicate, weight_cache_len,
};
use smelt_runtime::functional as F;
use smelt_runtime::{Device, Generator, Tensor, TensorId};

fn randn(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
    Tensor::randn(shape, dtype, &mut Generator::new(seed)).unwrap()
}

/// Runs `f` under a default CPU autocast scope (bf16, cache on).
fn cpu_amp<R>(f: impl FnOnce() -> R) -> R {
    autocast(Device::Cpu, None, true, true, f).unwrap()
}

#[test]
fn lower_ops_run_in_bf16() {
    let x = randn(&[2, 3, 4], DType::F32, 1);
    let w = randn(&[5, 4], DType::F32, 2);
    let b = randn(&[5], DType::F32, 3);
    let img = randn(&[1, 2, 5, 5], DType::F32, 4);
    let k = randn(&[3, 2, 3, 3], DType::F32, 5);
    let (q, kk, v) = (
        randn(&[2, 3, 4], DType::F32, 6),
        randn(&[2, 5, 4], DType::F32, 7),
        randn(&[2, 5, 4], DType::F32, 8),
    );
    let (mm, lin, conv, sdpa) = cpu_amp(|| {
        (
            x.matmul(&w.t().unwrap()).unwrap(),
            F::linear(&x, &w, Some(&b)).unwrap(),
            F::conv2d(&img, &k, None, [1, 1], [1, 1], [1, 1], 1).unwrap(),
            F::scaled_dot_product_attention(&q, &kk, &v, None, false, None).unwrap(),
        )
    });
    for (name, t) in [("matmul", &mm), ("linear", &lin), ("conv2d", &conv), ("sdpa", &sdpa)] {
        assert_eq!(t.dtype(), DType::BF16, "{name}");
    }
    // Same values as casting by hand (the bias is lowered too).
    let xb = x.to_dtype(DType::BF16).unwrap();
    let wb = w.to_dtype(DType::BF16).unwrap();
    let want = xb.matmul(&wb.t().unwrap()).unwrap().add(&b.to_dtype(DType::BF16).unwrap()).unwrap();
    assert_eq!(lin.to_f64_vec(), want.to_f64_vec());
    // Outside the scope the same ops stay f32.
    assert_eq!(x.matmul(&w.t().unwrap()).unwrap().dtype(), DType::F32);
    assert_eq!(F::linear(&x, &w, Some(&b)).unwrap().dtype(), DType::F32);
}

#[test]
fn f64_arguments_are_not_eligible() {
    let a = randn(&[2, 2], DType::F64, 1);
    let out = cpu_amp(|| a.matmul(&a).unwrap());
    assert_eq!(out.dtype(), DType::F64);
    // An f64 mixed with an f32: only the f32 is lowered, matmul's own
    // promotion then gives f64.
    let f = randn(&[2, 2], DType::F32, 2);
    assert_eq!(cpu_amp(|| a.matmul(&f).unwrap()).dtype(), DType::F64);
}

#[test]
fn fp32_ops_run_in_f32() {
    let x = randn(&[4, 3], DType::BF16, 1);
    let y = randn(&[4, 3], DType::BF16, 2);
    let cls = Tensor::from_vec(vec![0i64, 2, 1, 0], &[4]).unwrap();
    let (mse, ce, prod) = cpu_amp(|| {
        (
            F::mse_loss(&x, &y, F::Reduction::Mean).unwrap(),
            F::cross_entropy(&x, &cls, F::Reduction::Mean).unwrap(),
            x.prod(&[1], false).unwrap(),
        )
    });
    assert_eq!(mse.dtype(), DType::F32);
    assert_eq!(ce.dtype(), DType::F32);
    assert_eq!(prod.dtype(), DType::F32);
    // Computed from the f32 upcast of the bf16 inputs.
    let want = F::mse_loss(
        &x.to_dtype(DType::F32).unwrap(),
        &y.to_dtype(DType::F32).unwrap(),
        F::Reduction::Mean,
    )
    .unwrap();
    assert_eq!(mse.to_f64_vec(), want.to_f64_vec());
    // Without autocast they keep bf16.
    assert_eq!(F::mse_loss(&x, &y, F::Reduction::Mean).unwrap().dtype(), DType::BF16);
    assert_eq!(x.prod(&[1], false).unwrap().dtype(), DType::BF16);
}

#[test]
fn ops_off_the_cpu_lists_keep_their_dtype() {
    // softmax, log_softmax, layer_norm, group_norm, exp, log, pow, sum are
    // CUDA-list ops only: on the CPU they run in the input's dtype.
    let x = randn(&[2, 4, 3], DType::BF16, 1);
    let outs = cpu_amp(|| {
        vec![
            ("softmax", F::softmax(&x, -1).unwrap()),
            ("log_softmax", F::log_softmax(&x, -1).unwrap()),
            ("layer_norm", F::layer_norm(&x, &[3], None, None, 1e-5).unwrap()),
            ("group_norm", F::group_norm(&x, 2, None, None, 1e-5).unwrap()),
            ("exp", x.exp().unwrap()),
            ("log", x.abs().unwrap().log().unwrap()),
            ("pow", x.pow(2.0).unwrap()),
            ("sum", x.sum(&[1], false).unwrap()),
            ("logsumexp", x.logsumexp(&[1], false).unwrap()),
        ]
    });
    for (name, t) in outs {
        assert_eq!(t.dtype(), DType::BF16, "{name}");
    }
    let f = randn(&[2, 3], DType::F32, 2);
    assert_eq!(cpu_amp(|| F::softmax(&f, -1).unwrap()).dtype(), DType::F32);
}

#[test]
fn cat_promotes() {
    let b = randn(&[2, 2], DType::BF16, 1);
    let f = randn(&[2, 2], DType::F32, 2);
    let h = randn(&[2, 2], DType::F16, 3);
    let d = randn(&[2, 2], DType::F64, 4);
    let (bb, bf, bh, bd) = cpu_amp(|| {
        (
            Tensor::cat(&[&b, &b], 0).unwrap(),
            Tensor::cat(&[&b, &f], 0).unwrap(),
            Tensor::cat(&[&b, &h], 0).unwrap(),
            Tensor::cat(&[&b, &d], 0).unwrap(),
        )
    });
    assert_eq!(bb.dtype(), DType::BF16, "all low: stays low");
    assert_eq!(bf.dtype(), DType::F32, "any f32: f32");
    assert_eq!(bh.dtype(), DType::F32, "bf16 with f16: f32");
    // f64 is ignored by the promotion (bf16 kept), then cat itself promotes.
    assert_eq!(bd.dtype(), DType::F64);
    // Values: the concatenation of the f32 upcasts.
    let want = Tensor::cat(&[&b.to_dtype(DType::F32).unwrap(), &f], 0).unwrap();
    assert_eq!(bf.to_f64_vec(), want.to_f64_vec());
}

#[test]
fn nesting_saves_and_restores() {
    let a = randn(&[2, 2], DType::F32, 1);
    assert!(!is_autocast_enabled(DeviceType::Cpu));
    autocast(Device::Cpu, Some(DType::F16), true, true, || {
        assert!(is_autocast_enabled(DeviceType::Cpu));
        assert_eq!(a.matmul(&a).unwrap().dtype(), DType::F16);
        // dtype None inherits the enclosing scope's f16.
        autocast(Device::Cpu, None, true, true, || {
            assert_eq!(autocast_dtype(DeviceType::Cpu), DType::F16);
            assert_eq!(a.matmul(&a).unwrap().dtype(), DType::F16);
        })
        .unwrap();
        // An inner disabled scope is an f32 region.
        autocast(Device::Cpu, None, false, true, || {
            assert!(!is_autocast_enabled(DeviceType::Cpu));
            assert_eq!(a.matmul(&a).unwrap().dtype(), DType::F32);
            // ... which an innermost scope can enable again, in bf16.
            autocast(Device::Cpu, Some(DType::BF16), true, true, || {
                assert_eq!(a.matmul(&a).unwrap().dtype(), DType::BF16);
            })
            .unwrap();
        })
        .unwrap();
        assert_eq!(a.matmul(&a).unwrap().dtype(), DType::F16);
    })
    .unwrap();
    assert!(!is_autocast_enabled(DeviceType::Cpu));
    assert_eq!(autocast_dtype(DeviceType::Cpu), DType::BF16);
    assert_eq!(a.matmul(&a).unwrap().dtype(), DType::F32);
}

#[test]
fn cuda_scope_leaves_cpu_tensors_alone() {
    let a = randn(&[2, 2], DType::F32, 1);
    autocast(Device::Cuda(0), None, true, true, || {
        assert!(is_autocast_enabled(DeviceType::Cuda));
        assert_eq!(autocast_dtype(DeviceType::Cuda), DType::F16);
        assert!(!is_autocast_enabled(DeviceType::Cpu));
        assert_eq!(a.matmul(&a).unwrap().dtype(), DType::F32);
    })
    .unwrap();
    assert!(!is_autocast_enabled(DeviceType::Cuda));
}

#[test]
fn unsupported_dtype_is_an_error() {
    let e = autocast(Device::Cpu, Some(DType::F32), true, true, || ()).unwrap_err();
    assert!(e.to_string().contains("only f16 and bf16"), "{e}");
    assert!(autocast(Device::Cuda(0), Some(DType::F64), true, true, || ()).is_err());
    // A disabled scope does not check.
    autocast(Device::Cpu, Some(DType::F32), false, true, || ()).unwrap();
}

#[test]
fn state_is_restored_after_a_panic() {
    let r = std::panic::catch_unwind(|| {
        autocast(Device::Cpu, None, true, true, || panic!("inside")).unwrap();
    });
    assert!(r.is_err());
    assert!(!is_autocast_enabled(DeviceType::Cpu));
}

thread_local! {
    /// The tensors this thread's test calls weights (leaves requiring grad).
    static WEIGHTS: RefCell<HashSet<TensorId>> = RefCell::new(HashSet::new());
}

fn is_weight(t: &Tensor) -> bool {
    WEIGHTS.with(|w| w.borrow().contains(&t.id()))
}

fn weight(shape: &[usize], seed: u64) -> Tensor {
    set_leaf_predicate(Some(is_weight));
    let t = randn(shape, DType::F32, seed);
    WEIGHTS.with(|w| w.borrow_mut().insert(t.id()));
    t
}

#[test]
fn weight_cache_fills_and_clears_at_outermost_exit() {
    let w = weight(&[3, 4], 1);
    let x = randn(&[2, 4], DType::F32, 2);
    assert_eq!(weight_cache_len(), 0);
    cpu_amp(|| {
        let y1 = F::linear(&x, &w, None).unwrap();
        assert_eq!(weight_cache_len(), 1, "the weight's bf16 cast is cached");
        // The input is not a weight: never cached.
        let y2 = F::linear(&x, &w, None).unwrap();
        assert_eq!(weight_cache_len(), 1, "reused, not cached twice");
        assert_eq!(y1.to_f64_vec(), y2.to_f64_vec());
        cpu_amp(|| {
            F::linear(&x, &w, None).unwrap();
            let w2 = weight(&[3, 4], 3);
            F::linear(&x, &w2, None).unwrap();
            assert_eq!(weight_cache_len(), 2);
        });
        assert_eq!(weight_cache_len(), 2, "an inner exit keeps the cache");
    });
    assert_eq!(weight_cache_len(), 0, "the outermost exit clears it");
}

#[test]
fn weight_cache_off_or_not_a_weight() {
    let w = weight(&[3, 4], 1);
    let x = randn(&[2, 4], DType::F32, 2);
    autocast(Device::Cpu, None, true, false, || {
        F::linear(&x, &w, None).unwrap();
        assert_eq!(weight_cache_len(), 0, "cache_enabled=false");
        // An inner scope with the cache on fills it; its exit is not the
        // outermost one, so the entry stays until the outer scope ends.
        cpu_amp(|| F::linear(&x, &w, None).unwrap());
        assert_eq!(weight_cache_len(), 1);
    })
    .unwrap();
    assert_eq!(weight_cache_len(), 0, "cleared at the outermost exit, whatever its cache flag");
    cpu_amp(|| {
        // A view of a weight is not the weight (new id): not cached.
        let v = w.reshape(&[3, 4]).unwrap();
        F::linear(&x, &v, None).unwrap();
        // A plain tensor is not a weight.
        F::linear(&x, &x.narrow(0, 0, 1).unwrap().expand(&[3, 4]).unwrap(), None).unwrap();
        assert_eq!(weight_cache_len(), 0);
    });
}
