//! GradScaler against AMP.md's recurrence: replayed found-inf sequences
//! (scale and growth tracker after every step, skipped steps, growth at
//! the interval, non-finite growth refused), unscaling math, state_dict
//! round trip, disabled passthrough and the error cases.

use smelt_compiler::ir::DType;
use smelt_runtime::Tensor;
use smelt_runtime::amp::{GradScaler, GradScalerConfig, ScaledOptimizer};
use smelt_runtime::tensor::TensorError;

/// An optimizer that records its steps and holds plain gradients.
struct MockOpt {
    grads: Vec<Tensor>,
    steps: usize,
}

impl ScaledOptimizer for MockOpt {
    fn grads(&self) -> Vec<Tensor> {
        self.grads.clone()
    }
    fn set_grads(&mut self, grads: Vec<Tensor>) -> Result<(), TensorError> {
        self.grads = grads;
        Ok(())
    }
    fn step(&mut self) -> Result<(), TensorError> {
        self.steps += 1;
        Ok(())
    }
}

fn opt_with(vals: &[f32]) -> MockOpt {
    MockOpt { grads: vec![Tensor::from_vec(vals.to_vec(), &[vals.len()]).unwrap()], steps: 0 }
}

fn scaler(interval: i64) -> GradScaler {
    GradScaler::new(GradScalerConfig { growth_interval: interval, ..Default::default() }).unwrap()
}

/// The recurrence written out independently of the library (f32 scale, f64 products).
fn reference(
    flags: &[bool],
    init: f32,
    growth: f64,
    backoff: f64,
    interval: i32,
) -> Vec<(f32, i32)> {
    let (mut s, mut t) = (init, 0i32);
    flags
        .iter()
        .map(|&inf| {
            if inf {
                s = (s as f64 * backoff) as f32;
                t = 0;
            } else {
                t += 1;
                if t == interval {
                    let g = (s as f64 * growth) as f32;
                    if g.is_finite() {
                        s = g;
                    }
                    t = 0;
                }
            }
            (s, t)
        })
        .collect()
}

/// One training iteration: scale a loss, set gradients (inf when `inf`),
/// step, update. Returns whether the optimizer step ran.
fn iteration(sc: &mut GradScaler, opt: &mut MockOpt, inf: bool) -> bool {
    let loss = Tensor::scalar(1.0, DType::F32).unwrap();
    let scaled = sc.scale(&loss).unwrap();
    let s = scaled.item().unwrap() as f32;
    let g = if inf { f32::INFINITY } else { s * 0.25 };
    opt.grads = vec![Tensor::from_vec(vec![g, -s], &[2]).unwrap()];
    let ran = sc.step(opt).unwrap();
    sc.update(None).unwrap();
    ran
}

#[test]
fn defaults_are_pytorchs() {
    let c = GradScalerConfig::default();
    assert_eq!(
        (c.init_scale, c.growth_factor, c.backoff_factor, c.growth_interval, c.enabled),
        (65536.0, 2.0, 0.5, 2000, true)
    );
    let sc = GradScaler::new(c).unwrap();
    assert_eq!(sc.get_scale(), 65536.0);
    assert_eq!(sc.growth_tracker(), 0);
}

#[test]
fn replayed_flag_sequence_matches_recurrence() {
    let flags: Vec<bool> = [
        false, false, true, false, false, false, true, true, false, false, false, false, false,
        false, false, true, false, false, false,
    ]
    .to_vec();
    let mut sc = scaler(3);
    let mut opt = opt_with(&[0.0]);
    let want = reference(&flags, 65536.0, 2.0, 0.5, 3);
    let mut skipped = 0;
    for (i, (&inf, &(s, t))) in flags.iter().zip(&want).enumerate() {
        let ran = iteration(&mut sc, &mut opt, inf);
        assert_eq!(ran, !inf, "step {i}");
        skipped += usize::from(!ran);
        assert_eq!(sc.get_scale(), s as f64, "scale after step {i}");
        assert_eq!(sc.growth_tracker(), t as i64, "tracker after step {i}");
    }
    assert_eq!(skipped, 4);
    assert_eq!(opt.steps, flags.len() - 4);
    // Hand-checked points: backoff at step 2, growth after 3 clean steps (3..5).
    assert_eq!(want[1], (65536.0, 2));
    assert_eq!(want[2], (32768.0, 0));
    assert_eq!(want[5], (65536.0, 0));
}

#[test]
fn growth_that_overflows_f32_is_refused() {
    let big = 2.0e38f64;
    let mut sc = GradScaler::new(GradScalerConfig {
        init_scale: big,
        growth_interval: 1,
        ..Default::default()
    })
    .unwrap();
    let mut opt = opt_with(&[0.0]);
    assert!(iteration(&mut sc, &mut opt, false));
    // 2e38 * 2 is not a finite f32: the scale stays, the tracker resets.
    assert_eq!(sc.get_scale(), big as f32 as f64);
    assert_eq!(sc.growth_tracker(), 0);
}

#[test]
fn unscale_divides_and_flags_non_finite() {
    let mut sc =
        GradScaler::new(GradScalerConfig { init_scale: 4.0, ..Default::default() }).unwrap();
    sc.scale(&Tensor::scalar(1.0, DType::F32).unwrap()).unwrap();
    let mut opt = MockOpt {
        grads: vec![
            Tensor::from_vec(vec![8.0f32, -2.0, 1.0], &[3]).unwrap(),
            Tensor::from_vec(vec![half::bf16::from_f32(6.0)], &[1]).unwrap(),
        ],
        steps: 0,
    };
    sc.unscale_(&mut opt).unwrap();
    assert_eq!(opt.grads[0].to_vec::<f32>().unwrap(), vec![2.0, -0.5, 0.25]);
    assert_eq!(opt.grads[1].dtype(), DType::BF16);
    assert_eq!(opt.grads[1].to_f64_vec(), vec![1.5]);
    assert!(sc.step(&mut opt).unwrap(), "finite grads: the step runs");
    assert_eq!(opt.steps, 1);
    sc.update(None).unwrap();
    assert_eq!((sc.get_scale(), sc.growth_tracker()), (4.0, 1));

    // A NaN anywhere skips the step and backs off.
    sc.scale(&Tensor::scalar(1.0, DType::F32).unwrap()).unwrap();
    opt.grads = vec![Tensor::from_vec(vec![1.0f32, f32::NAN], &[2]).unwrap()];
    assert!(!sc.step(&mut opt).unwrap());
    assert_eq!(opt.steps, 1);
    sc.update(None).unwrap();
    assert_eq!((sc.get_scale(), sc.growth_tracker()), (2.0, 0));
}

#[test]
fn scale_multiplies_the_loss() {
    let mut sc =
        GradScaler::new(GradScalerConfig { init_scale: 8.0, ..Default::default() }).unwrap();
    let loss = Tensor::from_vec(vec![1.5f32, -2.0], &[2]).unwrap();
    let s = sc.scale(&loss).unwrap();
    assert_eq!(s.dtype(), DType::F32);
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![12.0, -16.0]);
    // A 0-dim bf16 loss times the 0-dim f32 scale is f32 (type promotion).
    let l16 = Tensor::scalar(0.5, DType::BF16).unwrap();
    let s16 = sc.scale(&l16).unwrap();
    assert_eq!((s16.dtype(), s16.item().unwrap()), (DType::F32, 4.0));
}

#[test]
fn update_with_explicit_scale() {
    let mut sc = scaler(2000);
    sc.scale(&Tensor::scalar(1.0, DType::F32).unwrap()).unwrap();
    sc.update(Some(0.1)).unwrap();
    assert_eq!(sc.get_scale(), 0.1f32 as f64);
}

#[test]
fn state_dict_round_trip() {
    let mut sc = scaler(3);
    let mut opt = opt_with(&[0.0]);
    for inf in [false, true, false, false] {
        iteration(&mut sc, &mut opt, inf);
    }
    let sd = sc.state_dict();
    let keys: Vec<&str> = sd.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec!["_growth_tracker", "backoff_factor", "growth_factor", "growth_interval", "scale"]
    );
    assert_eq!(sd["scale"], 32768.0);
    assert_eq!(sd["_growth_tracker"], 2.0);
    assert_eq!(sd["growth_interval"], 3.0);

    // A fresh scaler continues exactly where the first one was.
    let mut other = scaler(2000);
    other.load_state_dict(&sd).unwrap();
    assert_eq!(other.state_dict(), sd);
    let mut o2 = opt_with(&[0.0]);
    iteration(&mut sc, &mut opt, false);
    iteration(&mut other, &mut o2, false);
    assert_eq!(other.get_scale(), 65536.0);
    assert_eq!(other.state_dict(), sc.state_dict());

    // Loading into a scaler whose scale already exists overwrites it.
    let mut third = scaler(5);
    iteration(&mut third, &mut o2, true);
    third.load_state_dict(&sd).unwrap();
    assert_eq!(third.state_dict(), sd);
}

#[test]
fn disabled_is_a_passthrough() {
    let mut sc = GradScaler::new(GradScalerConfig {
        enabled: false,
        growth_factor: 0.5, // not checked when disabled
        ..Default::default()
    })
    .unwrap();
    assert!(!sc.is_enabled());
    let loss = Tensor::scalar(3.0, DType::F32).unwrap();
    let s = sc.scale(&loss).unwrap();
    assert_eq!(s.id(), loss.id());
    let mut opt = opt_with(&[f32::INFINITY]);
    sc.unscale_(&mut opt).unwrap();
    assert!(sc.step(&mut opt).unwrap());
    assert_eq!(opt.steps, 1);
    sc.update(None).unwrap();
    assert_eq!(sc.get_scale(), 1.0);
    assert!(sc.state_dict().is_empty());
    sc.load_state_dict(&Default::default()).unwrap();
}

fn message<T>(r: Result<T, smelt_runtime::amp::AmpError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn error_cases() {
    // Bad factors.
    let bad = |g: f64, b: f64| {
        GradScaler::new(GradScalerConfig {
            growth_factor: g,
            backoff_factor: b,
            ..Default::default()
        })
    };
    assert!(message(bad(1.0, 0.5)).contains("The growth factor must be > 1.0."));
    assert!(message(bad(f64::NAN, 0.5)).contains("growth factor"));
    assert!(message(bad(2.0, 1.0)).contains("The backoff factor must be < 1.0."));

    // Before any scale().
    let mut sc = scaler(2000);
    let mut opt = opt_with(&[1.0]);
    assert!(message(sc.unscale_(&mut opt)).contains("Attempted unscale_ but _scale is None."));
    assert!(message(sc.step(&mut opt)).contains("Attempted step but _scale is None."));
    assert!(message(sc.update(None)).contains("Attempted update but _scale is None."));

    sc.scale(&Tensor::scalar(1.0, DType::F32).unwrap()).unwrap();
    // update() with no inf check recorded.
    assert!(message(sc.update(None)).contains("No inf checks were recorded prior to update."));
    // unscale_ twice.
    sc.unscale_(&mut opt).unwrap();
    assert!(message(sc.unscale_(&mut opt)).contains("unscale_() has already been called"));
    // After step().
    sc.step(&mut opt).unwrap();
    assert!(message(sc.unscale_(&mut opt)).contains("unscale_() is being called after step()."));
    assert!(
        message(sc.step(&mut opt))
            .contains("step() has already been called since the last update().")
    );
    sc.update(None).unwrap();

    // f16 gradients: refused, nothing changed, the stage stays ready.
    let g16 = Tensor::from_vec(vec![half::f16::from_f32(2.0)], &[1]).unwrap();
    let mut o16 = MockOpt { grads: vec![g16.clone()], steps: 0 };
    assert!(message(sc.unscale_(&mut o16)).contains("Attempting to unscale FP16 gradients."));
    assert_eq!(o16.grads[0].id(), g16.id());
    o16.grads = vec![Tensor::from_vec(vec![2.0f32], &[1]).unwrap()];
    sc.unscale_(&mut o16).unwrap();

    // An optimizer without gradients.
    let mut empty = MockOpt { grads: vec![], steps: 0 };
    assert!(
        message(sc.step(&mut empty)).contains("No inf checks were recorded for this optimizer.")
    );
    assert_eq!(empty.steps, 0);

    // Loading an empty or partial state dict.
    assert!(
        message(sc.load_state_dict(&Default::default())).contains("source state dict is empty")
    );
    let mut partial = sc.state_dict();
    partial.remove("growth_interval");
    assert!(message(sc.load_state_dict(&partial)).contains("growth_interval"));
}

#[test]
fn two_optimizers_share_one_update() {
    let mut sc = scaler(2000);
    sc.scale(&Tensor::scalar(1.0, DType::F32).unwrap()).unwrap();
    let mut a = opt_with(&[1.0]);
    let mut b = opt_with(&[f32::INFINITY]);
    assert!(sc.step(&mut a).unwrap());
    assert!(!sc.step(&mut b).unwrap());
    sc.update(None).unwrap();
    // One of them overflowed: the scale backs off for both.
    assert_eq!((sc.get_scale(), sc.growth_tracker()), (32768.0, 0));
    assert_eq!((a.steps, b.steps), (1, 0));
}
