//! SGD (`torch.optim.SGD`): PyTorch's `_single_tensor_sgd` update, run as
//! one fused function per step.
//!
//! Per parameter, with `g` negated when maximizing: `g ← g + wd·p`; with
//! momentum, `buf ← g` on the first step, else `buf ← μ·buf + (1−τ)·g`,
//! then `g ← g + μ·buf` (nesterov) or `g ← buf`; finally `p ← p − lr·g`.
//! The first step runs the same function with coefficients `0` and `1`
//! on a zero buffer, which gives exactly `buf = g`.

use std::collections::{BTreeMap, HashMap};

use smelt_compiler::ir::{Binary, Unary};

use super::fused::{FusedStep, Fusion, Signature, signature};
use super::{HyperParam, StateDict, check_pairs, hp_bool, hp_float, keep_requires_grad, one_group};
use crate::autograd::no_grad;
use crate::tensor::{Result, Tensor, arg_err};

/// SGD's hyperparameters ([`SgdConfig::new`] gives PyTorch's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: no momentum buffer).
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum (needs momentum > 0 and zero dampening).
    pub nesterov: bool,
    /// Maximize the objective instead of minimizing.
    pub maximize: bool,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr` (PyTorch's defaults otherwise).
    pub fn new(lr: f64) -> SgdConfig {
        SgdConfig {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }

    /// PyTorch's checks of the hyperparameters.
    fn validate(&self, op: &str) -> Result<()> {
        let bad = |d: String| Err(arg_err(op, d));
        if self.lr.is_nan() || self.lr < 0.0 {
            return bad(format!("Invalid learning rate: {}", self.lr));
        }
        if self.momentum.is_nan() || self.momentum < 0.0 {
            return bad(format!("Invalid momentum value: {}", self.momentum));
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return bad(format!("Invalid weight_decay value: {}", self.weight_decay));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return bad("Nesterov momentum requires a momentum and zero dampening".into());
        }
        Ok(())
    }
}

/// SGD over one group of parameters.
pub struct Sgd {
    config: SgdConfig,
    /// Momentum buffers per parameter (empty before the first step or without momentum).
    buffers: Vec<Tensor>,
    fusion: Fusion,
    cache: HashMap<Signature, FusedStep>,
}

impl Sgd {
    /// An optimizer with `config`; errors name a bad hyperparameter as PyTorch does.
    pub fn new(config: SgdConfig) -> Result<Sgd> {
        config.validate("SGD")?;
        Ok(Sgd { config, buffers: Vec::new(), fusion: Fusion::default(), cache: HashMap::new() })
    }

    /// Chooses how the step is split into kernels (default
    /// [`Fusion::PerTensor`]); the numbers do not change.
    pub fn with_fusion(mut self, fusion: Fusion) -> Sgd {
        self.fusion = fusion;
        self.cache.clear();
        self
    }

    /// The hyperparameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Changes the learning rate (schedulers); no recompilation.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        let c = SgdConfig { lr, ..self.config.clone() };
        c.validate("SGD")?;
        self.config = c;
        Ok(())
    }

    /// One step: returns the updated parameters, which the caller swaps in
    /// for `params` (they require grad where the old ones did). `grads[i]`
    /// is the gradient of `params[i]`; the parameters must keep their
    /// positions, shapes and dtypes from step to step.
    pub fn step(&mut self, params: &[Tensor], grads: &[Tensor]) -> Result<Vec<Tensor>> {
        check_pairs("SGD", params, grads)?;
        if params.is_empty() {
            return Ok(Vec::new());
        }
        let with_buf = self.config.momentum != 0.0;
        let first = self.buffers.is_empty();
        if !first
            && (self.buffers.len() != params.len()
                || self
                    .buffers
                    .iter()
                    .zip(params)
                    .any(|(b, p)| b.shape() != p.shape() || b.dtype() != p.dtype()))
        {
            return Err(arg_err(
                "SGD",
                "the parameters changed number, shape or dtype since the last step",
            ));
        }
        let sig = signature(params);
        if !self.cache.contains_key(&sig) {
            let fs = build(&self.config, &sig, self.fusion)?;
            self.cache.insert(sig.clone(), fs);
        }
        let c = &self.config;
        let states = if !with_buf {
            Vec::new()
        } else if first {
            vec![
                params
                    .iter()
                    .map(|p| Tensor::zeros(p.shape(), p.dtype())?.to_device(p.device()))
                    .collect::<Result<Vec<_>>>()?,
            ]
        } else {
            vec![self.buffers.clone()]
        };
        let (cb, cg) = if first { (0.0, 1.0) } else { (c.momentum, 1.0 - c.dampening) };
        let fs = &self.cache[&sig];
        let (new, mut out) = no_grad(|| fs.run(&[cb, cg, c.lr], params, grads, &states))?;
        if let Some(b) = out.pop() {
            self.buffers = b;
        }
        keep_requires_grad(params, new)
    }

    /// The fused step function for parameters like `params` (for
    /// inspecting its plan), built if needed.
    pub fn step_func(&mut self, params: &[Tensor]) -> Result<&smelt_compiler::ir::Func> {
        let sig = signature(params);
        if !self.cache.contains_key(&sig) {
            let fs = build(&self.config, &sig, self.fusion)?;
            self.cache.insert(sig.clone(), fs);
        }
        Ok(&self.cache[&sig].func)
    }

    /// PyTorch's state dict: per parameter `momentum_buffer` (once one
    /// exists); one group's hyperparameters.
    pub fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::default();
        for (i, b) in self.buffers.iter().enumerate() {
            sd.state.insert(i, BTreeMap::from([("momentum_buffer".to_string(), b.clone())]));
        }
        let c = &self.config;
        let mut g = BTreeMap::new();
        g.insert("lr".into(), HyperParam::Float(c.lr));
        g.insert("momentum".into(), HyperParam::Float(c.momentum));
        g.insert("dampening".into(), HyperParam::Float(c.dampening));
        g.insert("weight_decay".into(), HyperParam::Float(c.weight_decay));
        g.insert("nesterov".into(), HyperParam::Bool(c.nesterov));
        g.insert("maximize".into(), HyperParam::Bool(c.maximize));
        g.insert("params".into(), HyperParam::Indices((0..self.buffers.len()).collect()));
        sd.param_groups.push(g);
        sd
    }

    /// Restores a state dict made by [`Sgd::state_dict`] (hyperparameters
    /// included); the next step continues exactly where that one left off.
    pub fn load_state_dict(&mut self, sd: &StateDict) -> Result<()> {
        let op = "SGD.load_state_dict";
        let g = one_group(op, sd)?;
        let config = SgdConfig {
            lr: hp_float(op, g, "lr")?,
            momentum: hp_float(op, g, "momentum")?,
            dampening: hp_float(op, g, "dampening")?,
            weight_decay: hp_float(op, g, "weight_decay")?,
            nesterov: hp_bool(op, g, "nesterov")?,
            maximize: hp_bool(op, g, "maximize")?,
        };
        config.validate(op)?;
        let mut buffers = Vec::new();
        for (k, (&i, st)) in sd.state.iter().enumerate() {
            if i != k {
                return Err(arg_err(op, format!("state for parameter {k} is missing")));
            }
            let b = st
                .get("momentum_buffer")
                .ok_or_else(|| arg_err(op, format!("state[{i}] has no momentum_buffer")))?;
            buffers.push(b.clone());
        }
        self.cache.clear();
        self.config = config;
        self.buffers = buffers;
        Ok(())
    }
}

/// Writes the fused SGD step for `sig`. Scalars: the buffer's and the
/// gradient's coefficients in the momentum update, and `lr`.
fn build(c: &SgdConfig, sig: &Signature, fusion: Fusion) -> Result<FusedStep> {
    let c = c.clone();
    let n_states = usize::from(c.momentum != 0.0);
    FusedStep::build("SGD", sig, fusion, 3, n_states, move |b, x| {
        let (cb, cg, lr) = (x.scalars[0], x.scalars[1], x.scalars[2]);
        let mut g = if c.maximize { b.un(Unary::Neg, x.g)? } else { x.g };
        if c.weight_decay != 0.0 {
            let wp = b.lit(Binary::Mul, x.p, c.weight_decay)?;
            g = b.bin(Binary::Add, g, wp)?;
        }
        let mut out = Vec::new();
        if c.momentum != 0.0 {
            let kb = b.bin(Binary::Mul, x.states[0], cb)?;
            let kg = b.bin(Binary::Mul, g, cg)?;
            let buf = b.bin(Binary::Add, kb, kg)?;
            out.push(buf);
            g = if c.nesterov {
                let mb = b.lit(Binary::Mul, buf, c.momentum)?;
                b.bin(Binary::Add, g, mb)?
            } else {
                buf
            };
        }
        let u = b.bin(Binary::Mul, g, lr)?;
        Ok((b.bin(Binary::Sub, x.p, u)?, out))
    })
}
