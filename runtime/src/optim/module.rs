//! Optimizers that update a [`Module`] in place, PyTorch-style:
//! `opt.step(&mut model)` reads each parameter's `.grad()` and writes the
//! new values back through the module's slots.
//!
//! Design: tensors are immutable values, so "in place" means the slot's
//! tensor is replaced by a fresh leaf that requires grad and carries the old
//! gradient over (so gradients keep accumulating until
//! [`ModuleOptimizer::zero_grad`], as in PyTorch). The numbers come from the
//! functional optimizers ([`super::Sgd`], [`super::Adam`]) through the
//! [`Optimizer`] trait, one fused call per parameter group.
//!
//! Parameter groups select parameters by name (first matching group wins;
//! the default group takes the rest), each with its own optimizer and so its
//! own `lr`/`weight_decay`. State stays keyed by parameter name: a group
//! remembers which parameters it stepped, and the functional optimizer's
//! state is positional over that list. Parameters that never get a gradient
//! (frozen layers) are skipped as PyTorch skips them; one that had a
//! gradient on an earlier step but has none now, or one that only gets a
//! gradient later, would need per-parameter step counts, which the fused
//! step does not have: that is a "not supported yet" error naming it.

use crate::amp::ScaledOptimizer;
use crate::nn::{Kind, Module};
use crate::tensor::{Result, Tensor, TensorError, arg_err};

use super::{Adam, Sgd};

/// A functional optimizer: one step over `params` with `grads`, returning
/// the new parameters (what [`Sgd::step`] and [`Adam::step`] do).
pub trait Optimizer {
    /// One step; `grads[i]` belongs to `params[i]`.
    fn step_tensors(&mut self, params: &[Tensor], grads: &[Tensor]) -> Result<Vec<Tensor>>;
    /// The learning rate.
    fn lr(&self) -> f64;
    /// Changes the learning rate.
    fn set_lr(&mut self, lr: f64) -> Result<()>;
}

impl Optimizer for Sgd {
    fn step_tensors(&mut self, params: &[Tensor], grads: &[Tensor]) -> Result<Vec<Tensor>> {
        self.step(params, grads)
    }
    fn lr(&self) -> f64 {
        self.config().lr
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        Sgd::set_lr(self, lr)
    }
}

impl Optimizer for Adam {
    fn step_tensors(&mut self, params: &[Tensor], grads: &[Tensor]) -> Result<Vec<Tensor>> {
        self.step(params, grads)
    }
    fn lr(&self) -> f64 {
        self.config().lr
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        Adam::set_lr(self, lr)
    }
}

/// Which parameter names a group takes.
type Select = Box<dyn Fn(&str) -> bool>;

/// One parameter group: a selector, its optimizer, and the names it stepped.
struct Group {
    select: Option<Select>,
    opt: Box<dyn Optimizer>,
    /// The parameters stepped so far, in order (`None` before the first step).
    names: Option<Vec<String>>,
}

/// An optimizer over a module's parameters (see the module docs).
///
/// ```
/// use smelt_compiler::ir::DType;
/// use smelt_runtime::nn::{Linear, Module};
/// use smelt_runtime::optim::{ModuleOptimizer, Sgd, SgdConfig};
/// use smelt_runtime::tensor::{Generator, Tensor};
///
/// let mut model = Linear::new(3, 2, true, &mut Generator::new(0))?;
/// let mut opt = ModuleOptimizer::new(Sgd::new(SgdConfig::new(0.1))?);
/// let before = model.weight.to_f64_vec();
/// model.forward(&Tensor::ones(&[4, 3], DType::F32)?)?.sum(&[], false)?.backward()?;
/// opt.step(&mut model)?;
/// opt.zero_grad(&mut model);
/// assert_ne!(model.weight.to_f64_vec(), before);
/// assert!(model.weight.requires_grad() && model.weight.grad().is_none());
/// # Ok::<(), smelt_runtime::TensorError>(())
/// ```
pub struct ModuleOptimizer {
    /// Named groups first, the default group last.
    groups: Vec<Group>,
    steps: u64,
}

impl ModuleOptimizer {
    /// One group holding every parameter, stepped by `opt`.
    pub fn new(opt: impl Optimizer + 'static) -> ModuleOptimizer {
        ModuleOptimizer {
            groups: vec![Group { select: None, opt: Box::new(opt), names: None }],
            steps: 0,
        }
    }

    /// Adds a group (before the default one) taking the parameters whose
    /// names `select` accepts and not taken by an earlier group, stepped by
    /// `opt` (its own `lr`, `weight_decay`, state).
    pub fn with_group(
        mut self,
        select: impl Fn(&str) -> bool + 'static,
        opt: impl Optimizer + 'static,
    ) -> ModuleOptimizer {
        let at = self.groups.len() - 1;
        self.groups
            .insert(at, Group { select: Some(Box::new(select)), opt: Box::new(opt), names: None });
        self
    }

    /// The number of groups (the default one included).
    pub fn num_groups(&self) -> usize {
        self.groups.len()
    }

    /// Group `i`'s optimizer (named groups in the order added, the default last).
    pub fn group_mut(&mut self, i: usize) -> Option<&mut dyn Optimizer> {
        self.groups.get_mut(i).map(|g| &mut *g.opt as &mut dyn Optimizer)
    }

    /// Steps taken so far by [`ModuleOptimizer::step`].
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The group index of parameter `name`.
    fn group_of(&self, name: &str) -> usize {
        let last = self.groups.len() - 1;
        self.groups[..last]
            .iter()
            .position(|g| g.select.as_ref().is_some_and(|s| s(name)))
            .unwrap_or(last)
    }

    /// Per group: `(name, parameter, gradient)` of the parameters that have
    /// a gradient, in the module's order.
    fn active(&self, module: &dyn Module) -> Vec<Vec<(String, Tensor, Tensor)>> {
        let mut per: Vec<Vec<(String, Tensor, Tensor)>> = vec![Vec::new(); self.groups.len()];
        for (name, p) in module.named_parameters() {
            if let Some(g) = p.grad() {
                per[self.group_of(&name)].push((name, p, g));
            }
        }
        per
    }

    /// One step: every parameter with a gradient is replaced (through the
    /// module's slots) by its updated value, a fresh leaf that requires grad
    /// and keeps the gradient; parameters without one are left alone.
    /// Nothing changes when it fails.
    pub fn step(&mut self, module: &mut dyn Module) -> Result<()> {
        let active = self.active(module);
        // Check every group first, so a failure leaves the module untouched.
        for (g, act) in self.groups.iter().zip(&active) {
            let now: Vec<&str> = act.iter().map(|(n, ..)| n.as_str()).collect();
            if let Some(before) = &g.names
                && !now.is_empty()
                && now != before.iter().map(String::as_str).collect::<Vec<_>>()
            {
                let missing: Vec<&str> =
                    before.iter().map(String::as_str).filter(|n| !now.contains(n)).collect();
                let added: Vec<&str> =
                    now.iter().copied().filter(|n| !before.iter().any(|b| b == n)).collect();
                return Err(arg_err(
                    "optimizer.step",
                    format!(
                        "not supported yet: the parameters with a gradient changed since \
                         the last step (now without: {missing:?}, newly with: {added:?}); \
                         per-parameter step counts are needed for that"
                    ),
                ));
            }
        }
        let mut updates: Vec<(String, Tensor)> = Vec::new();
        for (g, act) in self.groups.iter_mut().zip(active) {
            if act.is_empty() {
                continue;
            }
            let params: Vec<Tensor> = act.iter().map(|(_, p, _)| p.clone()).collect();
            let grads: Vec<Tensor> = act.iter().map(|(_, _, gr)| gr.clone()).collect();
            let new = g.opt.step_tensors(&params, &grads)?;
            for ((name, _, grad), n) in act.iter().zip(new) {
                n.set_grad(Some(grad.clone()))?;
                updates.push((name.clone(), n));
            }
            g.names = Some(act.into_iter().map(|(n, ..)| n).collect());
        }
        write_parameters(module, updates)?;
        self.steps += 1;
        Ok(())
    }

    /// Clears every parameter's gradient (`optimizer.zero_grad()`, set to None).
    pub fn zero_grad(&self, module: &mut dyn Module) {
        module.zero_grad();
    }

    /// The adapter [`crate::amp::GradScaler`] steps: `scaler.step(&mut
    /// opt.scaled(&mut model))` unscales the module's gradients, checks them
    /// and steps unless one was not finite.
    pub fn scaled<'a>(&'a mut self, module: &'a mut dyn Module) -> Scaled<'a> {
        Scaled { opt: self, module }
    }
}

/// Replaces the named parameters of `module` with `updates`.
fn write_parameters(module: &mut dyn Module, updates: Vec<(String, Tensor)>) -> Result<()> {
    let mut updates = updates;
    for slot in module.slots() {
        if slot.kind != Kind::Parameter {
            continue;
        }
        if let Some(k) = updates.iter().position(|(n, _)| *n == slot.name) {
            *slot.tensor = updates.swap_remove(k).1;
        }
    }
    match updates.first() {
        None => Ok(()),
        Some((n, _)) => {
            Err(arg_err("optimizer.step", format!("the module has no parameter slot {n:?}")))
        }
    }
}

/// A [`ModuleOptimizer`] bound to its module, for [`crate::amp::GradScaler`].
pub struct Scaled<'a> {
    opt: &'a mut ModuleOptimizer,
    module: &'a mut dyn Module,
}

impl ScaledOptimizer for Scaled<'_> {
    fn grads(&self) -> Vec<Tensor> {
        self.module.named_parameters().into_iter().filter_map(|(_, p)| p.grad()).collect()
    }

    fn set_grads(&mut self, grads: Vec<Tensor>) -> std::result::Result<(), TensorError> {
        let with: Vec<Tensor> =
            self.module.parameters().into_iter().filter(|p| p.grad().is_some()).collect();
        if with.len() != grads.len() {
            return Err(arg_err(
                "GradScaler.unscale_",
                format!("{} gradients for {} parameters with a gradient", grads.len(), with.len()),
            ));
        }
        for (p, g) in with.iter().zip(grads) {
            p.set_grad(Some(g))?;
        }
        Ok(())
    }

    fn step(&mut self) -> std::result::Result<(), TensorError> {
        self.opt.step(self.module)
    }

    /// The optimizer's address, stable across the `scaled()` adapters of one iteration.
    fn optimizer_id(&self) -> usize {
        &*self.opt as *const ModuleOptimizer as usize
    }
}
