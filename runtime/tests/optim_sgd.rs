//! SGD against an f64 reference of PyTorch's `_single_tensor_sgd` over 5
//! steps with random gradients, every option combination; the fused
//! step's kernel count; state dict round trip; bad hyperparameters;
//! `zero_grad`.

use smelt_compiler::ir::DType;
use smelt_compiler::plan::plan;
use smelt_runtime::optim::{Fusion, Sgd, SgdConfig, zero_grad};
use smelt_runtime::tensor::{Generator, Tensor};

const SHAPES: &[&[usize]] = &[&[3, 5], &[7], &[2, 3, 4], &[1]];

/// PyTorch's `_single_tensor_sgd` for one tensor, in f64.
struct Ref {
    p: Vec<f64>,
    buf: Option<Vec<f64>>,
}

impl Ref {
    fn step(&mut self, c: &SgdConfig, grad: &[f64]) {
        let mut g: Vec<f64> = grad.iter().map(|&x| if c.maximize { -x } else { x }).collect();
        if c.weight_decay != 0.0 {
            for (gi, pi) in g.iter_mut().zip(&self.p) {
                *gi += c.weight_decay * pi;
            }
        }
        if c.momentum != 0.0 {
            let buf = match self.buf.take() {
                None => g.clone(),
                Some(b) => b
                    .iter()
                    .zip(&g)
                    .map(|(b, g)| b * c.momentum + (1.0 - c.dampening) * g)
                    .collect(),
            };
            if c.nesterov {
                for (gi, bi) in g.iter_mut().zip(&buf) {
                    *gi += c.momentum * bi;
                }
            } else {
                g = buf.clone();
            }
            self.buf = Some(buf);
        }
        for (pi, gi) in self.p.iter_mut().zip(&g) {
            *pi -= c.lr * gi;
        }
    }
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}[{i}]: {x} vs reference {y}");
    }
}

fn configs() -> Vec<SgdConfig> {
    let mut out = Vec::new();
    for momentum in [0.0, 0.9] {
        for dampening in [0.0, 0.3] {
            for nesterov in [false, true] {
                for weight_decay in [0.0, 0.05] {
                    for maximize in [false, true] {
                        let c = SgdConfig {
                            lr: 0.1,
                            momentum,
                            dampening,
                            weight_decay,
                            nesterov,
                            maximize,
                        };
                        if !(nesterov && (momentum == 0.0 || dampening != 0.0)) {
                            out.push(c);
                        }
                    }
                }
            }
        }
    }
    out
}

fn run_case(c: &SgdConfig, dtype: DType, tol: f64, fusion: Fusion) {
    let mut rng = Generator::new(5);
    let mut params: Vec<Tensor> =
        SHAPES.iter().map(|s| Tensor::randn(s, dtype, &mut rng).unwrap()).collect();
    let mut refs: Vec<Ref> = params.iter().map(|p| Ref { p: p.to_f64_vec(), buf: None }).collect();
    let mut opt = Sgd::new(c.clone()).unwrap().with_fusion(fusion);
    for _ in 0..5 {
        let grads: Vec<Tensor> =
            SHAPES.iter().map(|s| Tensor::randn(s, dtype, &mut rng).unwrap()).collect();
        params = opt.step(&params, &grads).unwrap();
        for (r, g) in refs.iter_mut().zip(&grads) {
            r.step(c, &g.to_f64_vec());
        }
    }
    let sd = opt.state_dict();
    for (i, (p, r)) in params.iter().zip(&refs).enumerate() {
        assert_eq!(p.shape(), SHAPES[i]);
        close(&p.to_f64_vec(), &r.p, tol, &format!("{c:?} param {i}"));
        match &r.buf {
            Some(b) => {
                close(&sd.state[&i]["momentum_buffer"].to_f64_vec(), b, tol, "momentum_buffer")
            }
            None => assert!(!sd.state.contains_key(&i)),
        }
    }
}

#[test]
fn matches_reference() {
    let cs = configs();
    assert_eq!(cs.len(), 20);
    for c in &cs {
        for fusion in [Fusion::PerTensor, Fusion::PerDtype] {
            run_case(c, DType::F64, 1e-12, fusion);
            run_case(c, DType::F32, 1e-5, fusion);
        }
    }
}

#[test]
fn eight_params_kernel_counts() {
    let mut rng = Generator::new(1);
    let shapes: [&[usize]; 8] =
        [&[16, 8], &[8], &[4, 4, 3], &[100], &[3, 7], &[1], &[64, 2], &[5, 5, 5]];
    let params: Vec<Tensor> =
        shapes.iter().map(|s| Tensor::randn(s, DType::F32, &mut rng).unwrap()).collect();
    let c = SgdConfig { momentum: 0.9, nesterov: true, weight_decay: 0.1, ..SgdConfig::new(0.1) };
    let mut opt = Sgd::new(c.clone()).unwrap().with_fusion(Fusion::PerDtype);
    assert_eq!(plan(opt.step_func(&params).unwrap()).unwrap().kernels.len(), 1);
    let mut opt = Sgd::new(c).unwrap();
    assert_eq!(plan(opt.step_func(&params).unwrap()).unwrap().kernels.len(), 8);
}

#[test]
fn state_dict_round_trip_continues_identically() {
    let c = SgdConfig { momentum: 0.8, dampening: 0.1, weight_decay: 0.01, ..SgdConfig::new(0.05) };
    let mut rng = Generator::new(2);
    let mut params: Vec<Tensor> =
        SHAPES.iter().map(|s| Tensor::randn(s, DType::F32, &mut rng).unwrap()).collect();
    let grads: Vec<Vec<Tensor>> = (0..5)
        .map(|_| SHAPES.iter().map(|s| Tensor::randn(s, DType::F32, &mut rng).unwrap()).collect())
        .collect();
    let mut a = Sgd::new(c.clone()).unwrap();
    for g in &grads[..2] {
        params = a.step(&params, g).unwrap();
    }
    let mut b = Sgd::new(SgdConfig::new(1.0)).unwrap();
    b.load_state_dict(&a.state_dict()).unwrap();
    assert_eq!(b.config(), &c);
    let (mut pa, mut pb) = (params.clone(), params);
    for g in &grads[2..] {
        pa = a.step(&pa, g).unwrap();
        pb = b.step(&pb, g).unwrap();
    }
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
    }
}

#[test]
fn no_parameters_is_a_no_op() {
    assert!(Sgd::new(SgdConfig::new(0.1)).unwrap().step(&[], &[]).unwrap().is_empty());
}

#[test]
fn bad_hyperparameters_are_errors() {
    let base = SgdConfig::new(0.1);
    for c in [
        SgdConfig { lr: -0.1, ..base.clone() },
        SgdConfig { momentum: -0.5, ..base.clone() },
        SgdConfig { weight_decay: -1.0, ..base.clone() },
        SgdConfig { nesterov: true, ..base.clone() },
        SgdConfig { nesterov: true, momentum: 0.9, dampening: 0.1, ..base.clone() },
    ] {
        let err = Sgd::new(c).err().expect("a bad hyperparameter is refused");
        assert!(err.to_string().starts_with("SGD"), "{err}");
    }
}

#[test]
fn zero_grad_clears_gradients() {
    let p = Tensor::ones(&[3], DType::F32).unwrap().requires_grad_(true).unwrap();
    p.mul(&p).unwrap().sum(&[], false).unwrap().backward().unwrap();
    assert!(p.grad().is_some());
    zero_grad(std::slice::from_ref(&p));
    assert!(p.grad().is_none());
}
