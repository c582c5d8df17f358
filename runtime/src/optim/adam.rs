//! Adam and AdamW (`torch.optim.Adam` / `torch.optim.AdamW`): PyTorch's
//! `_single_tensor_adam` update, run as one fused function per step.
//!
//! Per parameter, with `t` counted from 1 and `g` negated when maximizing:
//! Adam adds `wd·p` to `g`; AdamW instead scales `p` by `1 − lr·wd`. Then
//! `m ← m + (1−β1)(g − m)`, `v ← β2·v + (1−β2)·g²`, with amsgrad
//! `v̂ ← max(v̂, v)` (else `v̂ = v`), `denom = sqrt(v̂)/sqrt(1−β2^t) + eps`,
//! `p ← p − lr/(1−β1^t) · m/denom`. Bias corrections and step size are
//! computed in f64 on the host, as PyTorch does with Python floats.

use std::collections::{BTreeMap, HashMap};

use smelt_compiler::ir::{Binary, DType, Unary};

use super::fused::{FusedStep, Fusion, Signature, signature};
use super::{HyperParam, StateDict, check_pairs, hp_bool, hp_float, keep_requires_grad, one_group};
use crate::autograd::no_grad;
use crate::tensor::{Result, Tensor, arg_err};

/// Adam's hyperparameters (PyTorch's defaults from [`AdamConfig::adam`]
/// and [`AdamConfig::adamw`]).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moment averages.
    pub betas: (f64, f64),
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay: L2 added to the gradient (Adam) or decoupled (AdamW).
    pub weight_decay: f64,
    /// True for AdamW's decoupled decay `p·(1 − lr·wd)`.
    pub decoupled: bool,
    /// Use the running maximum of `exp_avg_sq` (AMSGrad).
    pub amsgrad: bool,
    /// Maximize the objective instead of minimizing.
    pub maximize: bool,
}

impl AdamConfig {
    /// `torch.optim.Adam`'s defaults with learning rate `lr`.
    pub fn adam(lr: f64) -> AdamConfig {
        AdamConfig {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            amsgrad: false,
            maximize: false,
        }
    }

    /// `torch.optim.AdamW`'s defaults (weight decay 0.01) with learning rate `lr`.
    pub fn adamw(lr: f64) -> AdamConfig {
        AdamConfig { weight_decay: 1e-2, decoupled: true, ..AdamConfig::adam(lr) }
    }

    /// PyTorch's checks of the hyperparameters.
    fn validate(&self, op: &str) -> Result<()> {
        let bad = |d: String| Err(arg_err(op, d));
        if self.lr.is_nan() || self.lr < 0.0 {
            return bad(format!("Invalid learning rate: {}", self.lr));
        }
        if self.eps.is_nan() || self.eps < 0.0 {
            return bad(format!("Invalid epsilon value: {}", self.eps));
        }
        for (i, b) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("Invalid beta parameter at index {i}: {b}"));
            }
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return bad(format!("Invalid weight_decay value: {}", self.weight_decay));
        }
        Ok(())
    }
}

/// Adam / AdamW over one group of parameters.
pub struct Adam {
    config: AdamConfig,
    step: u64,
    /// `exp_avg`, `exp_avg_sq` and (amsgrad) `max_exp_avg_sq`, per parameter.
    buffers: Vec<Vec<Tensor>>,
    fusion: Fusion,
    cache: HashMap<Signature, FusedStep>,
}

impl Adam {
    /// An optimizer with `config`; errors name a bad hyperparameter as PyTorch does.
    pub fn new(config: AdamConfig) -> Result<Adam> {
        config.validate(Self::op_of(&config))?;
        Ok(Adam {
            config,
            step: 0,
            buffers: Vec::new(),
            fusion: Fusion::default(),
            cache: HashMap::new(),
        })
    }

    fn op_of(config: &AdamConfig) -> &'static str {
        if config.decoupled { "AdamW" } else { "Adam" }
    }

    /// Chooses how the step is split into kernels (default
    /// [`Fusion::PerTensor`]); the numbers do not change.
    pub fn with_fusion(mut self, fusion: Fusion) -> Adam {
        self.fusion = fusion;
        self.cache.clear();
        self
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Changes the learning rate (schedulers); no recompilation.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        let c = AdamConfig { lr, ..self.config.clone() };
        c.validate(Self::op_of(&c))?;
        self.config = c;
        Ok(())
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    fn n_states(&self) -> usize {
        if self.config.amsgrad { 3 } else { 2 }
    }

    /// One step: returns the updated parameters, which the caller swaps in
    /// for `params` (they require grad where the old ones did). `grads[i]`
    /// is the gradient of `params[i]`; the parameters must keep their
    /// positions, shapes and dtypes from step to step.
    pub fn step(&mut self, params: &[Tensor], grads: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = Self::op_of(&self.config);
        check_pairs(op, params, grads)?;
        if params.is_empty() {
            return Ok(Vec::new());
        }
        let sig = signature(params);
        if self.buffers.is_empty() {
            self.buffers = (0..self.n_states())
                .map(|_| {
                    params
                        .iter()
                        .map(|p| Tensor::zeros(p.shape(), p.dtype())?.to_device(p.device()))
                        .collect()
                })
                .collect::<Result<_>>()?;
        } else if self.buffers[0].len() != params.len()
            || self.buffers[0]
                .iter()
                .zip(params)
                .any(|(b, p)| b.shape() != p.shape() || b.dtype() != p.dtype())
        {
            return Err(arg_err(
                op,
                "the parameters changed number, shape or dtype since the last step",
            ));
        }
        if !self.cache.contains_key(&sig) {
            let fs = build(op, &self.config, &sig, self.fusion)?;
            self.cache.insert(sig.clone(), fs);
        }
        let c = &self.config;
        let t = (self.step + 1) as i32;
        let bc1 = 1.0 - c.betas.0.powi(t);
        let bc2 = 1.0 - c.betas.1.powi(t);
        let scalars = [c.lr / bc1, bc2.sqrt(), 1.0 - c.lr * c.weight_decay];
        let fs = &self.cache[&sig];
        let (new, states) = no_grad(|| fs.run(&scalars, params, grads, &self.buffers))?;
        self.step += 1;
        self.buffers = states;
        keep_requires_grad(params, new)
    }

    /// The fused step function for parameters like `params` (for
    /// inspecting its plan), built if needed.
    pub fn step_func(&mut self, params: &[Tensor]) -> Result<&smelt_compiler::ir::Func> {
        let sig = signature(params);
        if !self.cache.contains_key(&sig) {
            let fs = build(Self::op_of(&self.config), &self.config, &sig, self.fusion)?;
            self.cache.insert(sig.clone(), fs);
        }
        Ok(&self.cache[&sig].func)
    }

    /// PyTorch's state dict: per parameter `step`, `exp_avg`, `exp_avg_sq`
    /// (and `max_exp_avg_sq` with amsgrad); one group's hyperparameters.
    pub fn state_dict(&self) -> Result<StateDict> {
        let mut sd = StateDict::default();
        let names = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];
        let n = self.buffers.first().map_or(0, Vec::len);
        for i in 0..n {
            let mut st = BTreeMap::new();
            st.insert("step".to_string(), Tensor::scalar(self.step as f64, DType::F32)?);
            for (s, name) in names.iter().enumerate().take(self.buffers.len()) {
                st.insert(name.to_string(), self.buffers[s][i].clone());
            }
            sd.state.insert(i, st);
        }
        let c = &self.config;
        let mut g = BTreeMap::new();
        g.insert("lr".into(), HyperParam::Float(c.lr));
        g.insert("betas".into(), HyperParam::Pair(c.betas.0, c.betas.1));
        g.insert("eps".into(), HyperParam::Float(c.eps));
        g.insert("weight_decay".into(), HyperParam::Float(c.weight_decay));
        g.insert("amsgrad".into(), HyperParam::Bool(c.amsgrad));
        g.insert("maximize".into(), HyperParam::Bool(c.maximize));
        g.insert("decoupled_weight_decay".into(), HyperParam::Bool(c.decoupled));
        g.insert("params".into(), HyperParam::Indices((0..n).collect()));
        sd.param_groups.push(g);
        Ok(sd)
    }

    /// Restores a state dict made by [`Adam::state_dict`] (hyperparameters
    /// included); the next step continues exactly where that one left off.
    pub fn load_state_dict(&mut self, sd: &StateDict) -> Result<()> {
        let op = "Adam.load_state_dict";
        let g = one_group(op, sd)?;
        let betas = match g.get("betas") {
            Some(HyperParam::Pair(a, b)) => (*a, *b),
            other => {
                return Err(arg_err(
                    op,
                    format!("param_groups[0][\"betas\"] should be a pair, got {other:?}"),
                ));
            }
        };
        let config = AdamConfig {
            lr: hp_float(op, g, "lr")?,
            betas,
            eps: hp_float(op, g, "eps")?,
            weight_decay: hp_float(op, g, "weight_decay")?,
            decoupled: hp_bool(op, g, "decoupled_weight_decay")?,
            amsgrad: hp_bool(op, g, "amsgrad")?,
            maximize: hp_bool(op, g, "maximize")?,
        };
        config.validate(op)?;
        let names: &[&str] = if config.amsgrad {
            &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            &["exp_avg", "exp_avg_sq"]
        };
        let mut buffers: Vec<Vec<Tensor>> = vec![Vec::new(); names.len()];
        let mut step = 0;
        for (k, (&i, st)) in sd.state.iter().enumerate() {
            if i != k {
                return Err(arg_err(op, format!("state for parameter {k} is missing")));
            }
            step = st
                .get("step")
                .ok_or_else(|| arg_err(op, format!("state[{i}] has no step")))?
                .item()? as u64;
            for (s, name) in names.iter().enumerate() {
                let t = st
                    .get(*name)
                    .ok_or_else(|| arg_err(op, format!("state[{i}] has no {name}")))?;
                buffers[s].push(t.clone());
            }
        }
        if sd.state.is_empty() {
            buffers.clear();
        }
        self.cache.clear();
        self.config = config;
        self.step = step;
        self.buffers = buffers;
        Ok(())
    }
}

/// Writes the fused Adam/AdamW step for `sig`. Scalars: step size
/// `lr/bc1`, `sqrt(bc2)`, the decoupled decay factor `1 − lr·wd`.
fn build(op: &str, c: &AdamConfig, sig: &Signature, fusion: Fusion) -> Result<FusedStep> {
    let c = c.clone();
    let n_states = if c.amsgrad { 3 } else { 2 };
    FusedStep::build(op, sig, fusion, 3, n_states, move |b, x| {
        let (step_size, bc2_sqrt, decay) = (x.scalars[0], x.scalars[1], x.scalars[2]);
        let mut g = if c.maximize { b.un(Unary::Neg, x.g)? } else { x.g };
        let mut p = x.p;
        if c.weight_decay != 0.0 {
            if c.decoupled {
                p = b.bin(Binary::Mul, p, decay)?;
            } else {
                let wp = b.lit(Binary::Mul, x.p, c.weight_decay)?;
                g = b.bin(Binary::Add, g, wp)?;
            }
        }
        // exp_avg.lerp_(g, 1 − β1) = m + (1 − β1)(g − m)
        let d = b.bin(Binary::Sub, g, x.states[0])?;
        let d = b.lit(Binary::Mul, d, 1.0 - c.betas.0)?;
        let m = b.bin(Binary::Add, x.states[0], d)?;
        // exp_avg_sq.mul_(β2).addcmul_(g, g, value=1 − β2)
        let v0 = b.lit(Binary::Mul, x.states[1], c.betas.1)?;
        let gg = b.bin(Binary::Mul, g, g)?;
        let gg = b.lit(Binary::Mul, gg, 1.0 - c.betas.1)?;
        let v = b.bin(Binary::Add, v0, gg)?;
        let mut out = vec![m, v];
        let vhat = if c.amsgrad {
            let mx = b.bin(Binary::Max, x.states[2], v)?;
            out.push(mx);
            mx
        } else {
            v
        };
        let s = b.un(Unary::Sqrt, vhat)?;
        let s = b.bin(Binary::Div, s, bc2_sqrt)?;
        let denom = b.lit(Binary::Add, s, c.eps)?;
        let u = b.bin(Binary::Div, m, denom)?;
        let u = b.bin(Binary::Mul, u, step_size)?;
        let np = b.bin(Binary::Sub, p, u)?;
        Ok((np, out))
    })
}
