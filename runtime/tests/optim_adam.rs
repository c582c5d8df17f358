//! Adam/AdamW against an f64 reference of PyTorch's `_single_tensor_adam`
//! over 5 steps with random gradients, every option combination; the
//! fused step's kernel count; state dict round trip; bad hyperparameters.

use smelt_compiler::ir::DType;
use smelt_compiler::plan::plan;
use smelt_runtime::optim::{Adam, AdamConfig, Fusion};
use smelt_runtime::tensor::{Generator, Tensor};

const SHAPES: &[&[usize]] = &[&[3, 5], &[7], &[2, 3, 4], &[1], &[33]];

/// PyTorch's `_single_tensor_adam` for one tensor, in f64.
struct Ref {
    p: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    vmax: Vec<f64>,
    t: i32,
}

impl Ref {
    fn step(&mut self, c: &AdamConfig, grad: &[f64]) {
        self.t += 1;
        let bc1 = 1.0 - c.betas.0.powi(self.t);
        let bc2 = 1.0 - c.betas.1.powi(self.t);
        let step_size = c.lr / bc1;
        for (i, &gr) in grad.iter().enumerate() {
            let mut g = if c.maximize { -gr } else { gr };
            if c.weight_decay != 0.0 {
                if c.decoupled {
                    self.p[i] *= 1.0 - c.lr * c.weight_decay;
                } else {
                    g += c.weight_decay * self.p[i];
                }
            }
            self.m[i] += (1.0 - c.betas.0) * (g - self.m[i]);
            self.v[i] = self.v[i] * c.betas.1 + (1.0 - c.betas.1) * g * g;
            let vh = if c.amsgrad {
                self.vmax[i] = self.vmax[i].max(self.v[i]);
                self.vmax[i]
            } else {
                self.v[i]
            };
            let denom = vh.sqrt() / bc2.sqrt() + c.eps;
            self.p[i] -= step_size * self.m[i] / denom;
        }
    }
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}[{i}]: {x} vs reference {y}");
    }
}

fn configs() -> Vec<AdamConfig> {
    let mut out = Vec::new();
    for decoupled in [false, true] {
        for amsgrad in [false, true] {
            for maximize in [false, true] {
                for wd in [0.0, 0.1] {
                    let base =
                        if decoupled { AdamConfig::adamw(0.01) } else { AdamConfig::adam(0.01) };
                    out.push(AdamConfig {
                        weight_decay: wd,
                        amsgrad,
                        maximize,
                        betas: (0.8, 0.95),
                        ..base
                    });
                }
            }
        }
    }
    out
}

fn run_case(c: &AdamConfig, dtype: DType, tol: f64, fusion: Fusion) {
    let mut rng = Generator::new(7);
    let mut params: Vec<Tensor> =
        SHAPES.iter().map(|s| Tensor::randn(s, dtype, &mut rng).unwrap()).collect();
    let mut refs: Vec<Ref> = params
        .iter()
        .map(|p| {
            let n = p.numel();
            Ref { p: p.to_f64_vec(), m: vec![0.0; n], v: vec![0.0; n], vmax: vec![0.0; n], t: 0 }
        })
        .collect();
    let mut opt = Adam::new(c.clone()).unwrap().with_fusion(fusion);
    for _ in 0..5 {
        let grads: Vec<Tensor> =
            SHAPES.iter().map(|s| Tensor::randn(s, dtype, &mut rng).unwrap()).collect();
        params = opt.step(&params, &grads).unwrap();
        for (r, g) in refs.iter_mut().zip(&grads) {
            r.step(c, &g.to_f64_vec());
        }
    }
    for (i, (p, r)) in params.iter().zip(&refs).enumerate() {
        assert_eq!(p.shape(), SHAPES[i]);
        close(&p.to_f64_vec(), &r.p, tol, &format!("{c:?} param {i}"));
    }
    let sd = opt.state_dict().unwrap();
    for (i, r) in refs.iter().enumerate() {
        let st = &sd.state[&i];
        assert_eq!(st["step"].item().unwrap(), 5.0);
        close(&st["exp_avg"].to_f64_vec(), &r.m, tol, "exp_avg");
        close(&st["exp_avg_sq"].to_f64_vec(), &r.v, tol, "exp_avg_sq");
        if c.amsgrad {
            close(&st["max_exp_avg_sq"].to_f64_vec(), &r.vmax, tol, "max_exp_avg_sq");
        } else {
            assert!(!st.contains_key("max_exp_avg_sq"));
        }
    }
}

#[test]
fn matches_reference_f64() {
    for c in configs() {
        run_case(&c, DType::F64, 1e-12, Fusion::PerTensor);
        run_case(&c, DType::F64, 1e-12, Fusion::PerDtype);
    }
}

#[test]
fn matches_reference_f32() {
    for c in configs() {
        run_case(&c, DType::F32, 1e-4, Fusion::PerTensor);
        run_case(&c, DType::F32, 1e-4, Fusion::PerDtype);
    }
}

#[test]
fn eight_params_kernel_counts() {
    let mut rng = Generator::new(1);
    let shapes: [&[usize]; 8] =
        [&[16, 8], &[8], &[4, 4, 3], &[100], &[3, 7], &[1], &[64, 2], &[5, 5, 5]];
    let params: Vec<Tensor> =
        shapes.iter().map(|s| Tensor::randn(s, DType::F32, &mut rng).unwrap()).collect();
    for amsgrad in [false, true] {
        let c = AdamConfig { amsgrad, ..AdamConfig::adamw(1e-3) };
        let mut opt = Adam::new(c.clone()).unwrap().with_fusion(Fusion::PerDtype);
        let n = plan(opt.step_func(&params).unwrap()).unwrap().kernels.len();
        assert!(n <= 2, "the AdamW step of 8 f32 params plans into {n} kernels");
        assert_eq!(n, 1, "amsgrad={amsgrad}");
        let mut opt = Adam::new(c).unwrap();
        assert_eq!(plan(opt.step_func(&params).unwrap()).unwrap().kernels.len(), 8);
    }
    // Two dtypes: one kernel each.
    let mut mixed = params.clone();
    mixed[3] = mixed[3].to_dtype(DType::F64).unwrap();
    let mut opt = Adam::new(AdamConfig::adam(1e-3)).unwrap().with_fusion(Fusion::PerDtype);
    assert_eq!(plan(opt.step_func(&mixed).unwrap()).unwrap().kernels.len(), 2);
}

#[test]
fn mixed_dtypes_step() {
    let mut rng = Generator::new(3);
    let p = vec![
        Tensor::randn(&[4, 3], DType::F64, &mut rng).unwrap(),
        Tensor::randn(&[5], DType::F32, &mut rng).unwrap(),
        Tensor::randn(&[2], DType::F64, &mut rng).unwrap(),
    ];
    let g: Vec<Tensor> =
        p.iter().map(|t| Tensor::randn(t.shape(), t.dtype(), &mut rng).unwrap()).collect();
    let c = AdamConfig::adamw(0.1);
    let new = Adam::new(c.clone()).unwrap().step(&p, &g).unwrap();
    for i in 0..3 {
        assert_eq!(new[i].dtype(), p[i].dtype());
        let n = p[i].numel();
        let mut r = Ref {
            p: p[i].to_f64_vec(),
            m: vec![0.0; n],
            v: vec![0.0; n],
            vmax: vec![0.0; n],
            t: 0,
        };
        r.step(&c, &g[i].to_f64_vec());
        close(&new[i].to_f64_vec(), &r.p, 1e-5, "mixed");
    }
}

#[test]
fn state_dict_round_trip_continues_identically() {
    for c in [AdamConfig { amsgrad: true, ..AdamConfig::adamw(0.02) }, AdamConfig::adam(0.05)] {
        let mut rng = Generator::new(11);
        let mut params: Vec<Tensor> =
            SHAPES.iter().map(|s| Tensor::randn(s, DType::F32, &mut rng).unwrap()).collect();
        let grads: Vec<Vec<Tensor>> = (0..6)
            .map(|_| {
                SHAPES.iter().map(|s| Tensor::randn(s, DType::F32, &mut rng).unwrap()).collect()
            })
            .collect();
        let mut a = Adam::new(c.clone()).unwrap();
        for g in &grads[..3] {
            params = a.step(&params, g).unwrap();
        }
        let mut b = Adam::new(AdamConfig::adam(0.5)).unwrap();
        b.load_state_dict(&a.state_dict().unwrap()).unwrap();
        assert_eq!(b.config(), &c);
        assert_eq!(b.steps(), 3);
        let (mut pa, mut pb) = (params.clone(), params);
        for g in &grads[3..] {
            pa = a.step(&pa, g).unwrap();
            pb = b.step(&pb, g).unwrap();
        }
        for (x, y) in pa.iter().zip(&pb) {
            assert_eq!(x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
        }
    }
}

#[test]
fn new_params_keep_requires_grad() {
    let p = Tensor::ones(&[3], DType::F32).unwrap().requires_grad_(true).unwrap();
    let q = Tensor::ones(&[2], DType::F32).unwrap();
    let g = [Tensor::ones(&[3], DType::F32).unwrap(), Tensor::ones(&[2], DType::F32).unwrap()];
    let new = Adam::new(AdamConfig::adam(0.1)).unwrap().step(&[p, q], &g).unwrap();
    assert!(new[0].requires_grad() && new[0].is_leaf());
    assert!(!new[1].requires_grad());
}

#[test]
fn bad_hyperparameters_and_inputs_are_errors() {
    let base = AdamConfig::adam(0.1);
    for c in [
        AdamConfig { lr: -1.0, ..base.clone() },
        AdamConfig { eps: -1e-8, ..base.clone() },
        AdamConfig { betas: (1.0, 0.9), ..base.clone() },
        AdamConfig { betas: (0.9, -0.1), ..base.clone() },
        AdamConfig { weight_decay: -0.1, ..base.clone() },
    ] {
        assert!(Adam::new(c).is_err());
    }
    let mut opt = Adam::new(base).unwrap();
    assert!(opt.set_lr(-0.5).is_err());
    let p = Tensor::ones(&[3], DType::F32).unwrap();
    let err =
        opt.step(std::slice::from_ref(&p), &[Tensor::ones(&[4], DType::F32).unwrap()]).unwrap_err();
    assert!(err.to_string().contains("[3]"), "{err}");
    assert!(opt.step(std::slice::from_ref(&p), &[]).is_err());
    assert!(
        opt.step(std::slice::from_ref(&p), &[Tensor::ones(&[3], DType::F64).unwrap()]).is_err()
    );
    let i = Tensor::from_vec(vec![1i64, 2], &[2]).unwrap();
    assert!(opt.step(std::slice::from_ref(&i), std::slice::from_ref(&i)).is_err());
    opt.step(std::slice::from_ref(&p), std::slice::from_ref(&p)).unwrap();
    assert!(opt.step(&[p.clone(), p.clone()], &[p.clone(), p]).is_err(), "params changed");
}
