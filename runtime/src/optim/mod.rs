//! Optimizers (PyTorch's `torch.optim`): [`Sgd`] and [`Adam`] (Adam and
//! AdamW), with PyTorch's exact update rules, `zero_grad` and state dicts.
//!
//! Runtime tensors have immutable storage, so a step is functional:
//! `step(params, grads)` returns the new parameters and the caller swaps
//! them in (the optimizer keeps its state buffers — momentum, `exp_avg`,
//! `exp_avg_sq`, `max_exp_avg_sq` — keyed by parameter position).
//! [`ModuleOptimizer`] (`module.rs`) wraps them for PyTorch-style updates
//! of a [`crate::nn::Module`] in place: `opt.step(&mut model)` from the
//! parameters' `.grad()`, with parameter groups and a
//! [`crate::amp::GradScaler`] adapter.
//!
//! The whole step of a group is one IR function ([`fused`]), built once per
//! signature (dtype and shape of every parameter) and cached; [`Fusion`]
//! picks one kernel per parameter (default, sharing compiled code) or one
//! per dtype over the concatenated parameters.

pub mod adam;
mod fused;
mod module;
pub mod sgd;

use std::collections::BTreeMap;

pub use adam::{Adam, AdamConfig};
pub use fused::Fusion;
pub use module::{ModuleOptimizer, Optimizer, Scaled};
pub use sgd::{Sgd, SgdConfig};

use crate::tensor::{Result, Tensor, arg_err, dtype_err, shape_err};

/// One hyperparameter of a `param_groups` entry, as PyTorch stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum HyperParam {
    /// A number (`lr`, `eps`, `momentum`, `weight_decay`, ...).
    Float(f64),
    /// A flag (`nesterov`, `amsgrad`, `maximize`).
    Bool(bool),
    /// A pair (`betas`).
    Pair(f64, f64),
    /// The group's parameter indices (`params`).
    Indices(Vec<usize>),
}

/// An optimizer's state dict in PyTorch's layout: `state` maps a parameter
/// index to its named buffers (`step` is a 0-d f32 tensor, as in PyTorch),
/// `param_groups` holds each group's hyperparameters and `params` indices.
#[derive(Clone, Debug, Default)]
pub struct StateDict {
    /// Per-parameter state, by parameter index.
    pub state: BTreeMap<usize, BTreeMap<String, Tensor>>,
    /// One entry per parameter group.
    pub param_groups: Vec<BTreeMap<String, HyperParam>>,
}

/// Clears the gradient of every tensor (`optimizer.zero_grad()`, which
/// sets gradients to `None` by default in PyTorch).
pub fn zero_grad(params: &[Tensor]) {
    for p in params {
        p.zero_grad();
    }
}

/// Checks that `params` and `grads` pair up: same count, float dtypes,
/// equal shapes and dtypes.
pub(crate) fn check_pairs(op: &str, params: &[Tensor], grads: &[Tensor]) -> Result<()> {
    if params.len() != grads.len() {
        return Err(arg_err(
            op,
            format!("{} parameters but {} gradients", params.len(), grads.len()),
        ));
    }
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        if !p.dtype().is_float() {
            return Err(dtype_err(
                op,
                format!("parameter {i} is {}, not a float dtype", p.dtype()),
            ));
        }
        if p.dtype() != g.dtype() {
            return Err(dtype_err(
                op,
                format!("parameter {i} is {} but its gradient is {}", p.dtype(), g.dtype()),
            ));
        }
        if p.shape() != g.shape() {
            return Err(shape_err(
                op,
                format!("parameter {i} has shape {:?} but its gradient {:?}", p.shape(), g.shape()),
            ));
        }
    }
    Ok(())
}

/// Marks each new parameter as requiring grad where the old one did, so the
/// swapped-in parameters keep training.
pub(crate) fn keep_requires_grad(old: &[Tensor], new: Vec<Tensor>) -> Result<Vec<Tensor>> {
    new.into_iter()
        .zip(old)
        .map(|(n, o)| if o.requires_grad() { n.requires_grad_(true) } else { Ok(n) })
        .collect()
}

/// A `Float` hyperparameter named `key` of a state dict group.
pub(crate) fn hp_float(op: &str, g: &BTreeMap<String, HyperParam>, key: &str) -> Result<f64> {
    match g.get(key) {
        Some(HyperParam::Float(x)) => Ok(*x),
        other => {
            Err(arg_err(op, format!("param_groups[0][{key:?}] should be a number, got {other:?}")))
        }
    }
}

/// A `Bool` hyperparameter named `key` of a state dict group.
pub(crate) fn hp_bool(op: &str, g: &BTreeMap<String, HyperParam>, key: &str) -> Result<bool> {
    match g.get(key) {
        Some(HyperParam::Bool(x)) => Ok(*x),
        other => {
            Err(arg_err(op, format!("param_groups[0][{key:?}] should be a flag, got {other:?}")))
        }
    }
}

/// The one group of a state dict (these optimizers hold one group).
pub(crate) fn one_group<'a>(
    op: &str,
    sd: &'a StateDict,
) -> Result<&'a BTreeMap<String, HyperParam>> {
    match sd.param_groups.as_slice() {
        [g] => Ok(g),
        gs => Err(arg_err(op, format!("expected 1 parameter group, got {}", gs.len()))),
    }
}
