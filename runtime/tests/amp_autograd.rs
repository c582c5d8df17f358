//! Autocast with autograd (its own test binary: the weight-cache predicate
//! is process-wide, and here it must be the default one). A weight (a leaf
//! that requires grad) has its bf16 cast cached in a CPU autocast scope, and
//! gradients flow back through the casts to f32 weights.

use smelt_compiler::ir::DType;
use smelt_runtime::amp::{autocast, weight_cache_len};
use smelt_runtime::functional::{self as F, Reduction};
use smelt_runtime::{Device, Generator, Tensor};

#[test]
fn weights_are_cached_and_get_f32_gradients_through_bf16_autocast() {
    let mut rng = Generator::new(4);
    let w = Tensor::randn(&[3, 4], DType::F32, &mut rng).unwrap().requires_grad_(true).unwrap();
    let x = Tensor::randn(&[2, 4], DType::F32, &mut rng).unwrap();
    let target = Tensor::randn(&[2, 3], DType::F32, &mut rng).unwrap();
    let loss = autocast(Device::Cpu, None, true, true, || {
        let y = F::linear(&x, &w, None).unwrap();
        assert_eq!(y.dtype(), DType::BF16, "linear runs in bf16 under CPU autocast");
        F::linear(&x, &w, None).unwrap();
        assert_eq!(weight_cache_len(), 1, "the weight's cast is cached once");
        F::mse_loss(&y, &target, Reduction::Mean).unwrap()
    })
    .unwrap();
    assert_eq!(weight_cache_len(), 0, "cleared at the outermost exit");
    assert_eq!(loss.dtype(), DType::F32, "mse_loss runs in f32 under CPU autocast");
    loss.backward().unwrap();
    let g = w.grad().expect("the weight has a gradient");
    assert_eq!((g.dtype(), g.shape()), (DType::F32, &[3usize, 4][..]));
    assert!(
        g.to_f64_vec().iter().all(|v| v.is_finite()) && g.to_f64_vec().iter().any(|v| *v != 0.0)
    );
}
