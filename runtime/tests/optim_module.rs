//! `ModuleOptimizer`: in-place module updates against the functional step
//! (bit for bit), gradients carried over and cleared by `zero_grad`,
//! frozen parameters skipped, parameter groups with their own learning
//! rates, the "not supported yet" error when the parameters with a
//! gradient change, and the GradScaler path (unscaled step equal to the
//! plain one; an inf gradient skips the step).

use smelt_compiler::ir::DType;
use smelt_runtime::amp::{GradScaler, GradScalerConfig};
use smelt_runtime::nn::{Linear, Module, Relu, Sequential};
use smelt_runtime::optim::{Adam, AdamConfig, ModuleOptimizer, Sgd, SgdConfig};
use smelt_runtime::tensor::{Generator, Result, Tensor};

fn mlp(seed: u64) -> Result<Sequential> {
    let mut rng = Generator::new(seed);
    Ok(Sequential::default()
        .with(Linear::new(4, 6, true, &mut rng)?)
        .with(Relu::new())
        .with(Linear::new(6, 3, true, &mut rng)?))
}

fn input(step: u64) -> Result<Tensor> {
    Tensor::randn(&[5, 4], DType::F32, &mut Generator::new(100 + step))
}

/// Forward and the loss `sum(y²)`.
fn loss_of(m: &mut dyn Module, step: u64) -> Result<Tensor> {
    let y = m.forward(&input(step)?)?;
    y.mul(&y)?.sum(&[], false)
}

/// Forward, loss, backward.
fn backward(m: &mut dyn Module, step: u64) -> Result<Tensor> {
    let loss = loss_of(m, step)?;
    loss.backward()?;
    Ok(loss)
}

fn values(m: &dyn Module) -> Vec<Vec<f64>> {
    m.parameters().iter().map(Tensor::to_f64_vec).collect()
}

#[test]
fn module_step_matches_the_functional_step() -> Result<()> {
    let mut a = mlp(0)?;
    let mut b = mlp(0)?;
    let mut opt = ModuleOptimizer::new(Adam::new(AdamConfig::adamw(1e-2))?);
    let mut func = Adam::new(AdamConfig::adamw(1e-2))?;
    let mut params = b.parameters();
    for step in 0..4 {
        opt.zero_grad(&mut a);
        backward(&mut a, step)?;
        opt.step(&mut a)?;
        // The functional reference: swap the new values in by hand.
        let grads: Vec<Tensor> = {
            backward(&mut b, step)?;
            b.parameters().iter().map(|p| p.grad().expect("grad")).collect()
        };
        params = func.step(&params, &grads)?;
        let sd = b
            .named_parameters()
            .into_iter()
            .zip(&params)
            .map(|((n, _), p)| (n, p.clone()))
            .collect();
        b.load_state_dict(&sd, false)?;
        params = b.parameters();
        assert_eq!(values(&a), values(&b), "step {step}");
    }
    assert_eq!(opt.steps(), 4);
    for p in a.parameters() {
        assert!(p.is_leaf() && p.requires_grad());
    }
    Ok(())
}

#[test]
fn gradients_carry_over_until_zero_grad() -> Result<()> {
    let mut m = mlp(1)?;
    let mut opt = ModuleOptimizer::new(Sgd::new(SgdConfig::new(0.1))?);
    backward(&mut m, 0)?;
    let g0 = m.parameters()[0].grad().expect("grad").to_f64_vec();
    opt.step(&mut m)?;
    assert_eq!(m.parameters()[0].grad().expect("kept").to_f64_vec(), g0);
    // Without zero_grad the next backward accumulates, as in PyTorch.
    backward(&mut m, 0)?;
    let acc = m.parameters()[0].grad().expect("grad").to_f64_vec();
    assert!(acc.iter().zip(&g0).any(|(a, g)| (a - g).abs() > 1e-6));
    opt.zero_grad(&mut m);
    assert!(m.parameters().iter().all(|p| p.grad().is_none()));
    Ok(())
}

#[test]
fn frozen_parameters_are_skipped_and_groups_have_their_own_lr() -> Result<()> {
    let mut m = mlp(2)?;
    // Freeze the first layer's bias: it never gets a gradient.
    m.named_parameters()[1].1.requires_grad_(false)?;
    let before = values(&m);
    let mut opt = ModuleOptimizer::new(Sgd::new(SgdConfig::new(0.1))?)
        .with_group(|n| n.starts_with("0."), Sgd::new(SgdConfig::new(0.0))?);
    assert_eq!(opt.num_groups(), 2);
    backward(&mut m, 0)?;
    let grads: Vec<Option<Vec<f64>>> =
        m.parameters().iter().map(|p| p.grad().map(|g| g.to_f64_vec())).collect();
    opt.step(&mut m)?;
    let after = values(&m);
    assert_eq!(after[0], before[0], "lr 0 group");
    assert_eq!(after[1], before[1], "frozen");
    for i in 2..4 {
        let g = grads[i].as_ref().expect("grad");
        for ((a, b), g) in after[i].iter().zip(&before[i]).zip(g) {
            assert!((a - (b - 0.1 * g)).abs() < 1e-6, "param {i}: {a} vs {b} - 0.1*{g}");
        }
    }
    // The frozen bias stays out of the graph state; the others keep going.
    opt.zero_grad(&mut m);
    backward(&mut m, 1)?;
    opt.step(&mut m)?;
    // A parameter that had a gradient and now has none: not supported yet.
    opt.zero_grad(&mut m);
    backward(&mut m, 2)?;
    m.named_parameters()[3].1.zero_grad();
    let kept = values(&m);
    let e = opt.step(&mut m).expect_err("changed set").to_string();
    assert!(e.contains("not supported yet") && e.contains("2.bias"), "{e}");
    assert_eq!(values(&m), kept, "a failed step changes nothing");
    Ok(())
}

#[test]
fn grad_scaler_steps_a_module() -> Result<()> {
    let mut a = mlp(3)?;
    let mut b = mlp(3)?;
    let mut opt_a = ModuleOptimizer::new(Adam::new(AdamConfig::adam(1e-2))?);
    let mut opt_b = ModuleOptimizer::new(Adam::new(AdamConfig::adam(1e-2))?);
    let mut scaler = GradScaler::new(GradScalerConfig::default()).expect("scaler");
    for step in 0..3 {
        opt_a.zero_grad(&mut a);
        let loss = loss_of(&mut a, step)?;
        scaler.scale(&loss).expect("scale").backward()?;
        assert!(scaler.step(&mut opt_a.scaled(&mut a)).expect("step"), "no inf");
        scaler.update(None).expect("update");
        opt_b.zero_grad(&mut b);
        backward(&mut b, step)?;
        opt_b.step(&mut b)?;
        // The scale is a power of two: unscaling is exact.
        assert_eq!(values(&a), values(&b), "step {step}");
    }
    // An inf gradient: the step is skipped and the scale backs off.
    opt_a.zero_grad(&mut a);
    let loss = loss_of(&mut a, 9)?;
    scaler.scale(&loss).expect("scale").backward()?;
    let p = a.parameters()[0].clone();
    p.set_grad(Some(Tensor::full(p.shape(), DType::F32, f64::INFINITY)?))?;
    let kept = values(&a);
    let scale = scaler.get_scale();
    assert!(!scaler.step(&mut opt_a.scaled(&mut a)).expect("step"), "skipped");
    scaler.update(None).expect("update");
    assert_eq!(values(&a), kept);
    assert_eq!(scaler.get_scale(), scale * 0.5);
    Ok(())
}
