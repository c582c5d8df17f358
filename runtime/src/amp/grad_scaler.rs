//! [`GradScaler`]: PyTorch's dynamic loss scaling (`torch.amp.GradScaler`).
//! The loss is multiplied by a scale before backward; `unscale_` divides
//! an optimizer's gradients by it and records whether any was not finite;
//! `step` skips the optimizer step when one was; `update` backs the scale
//! off after an overflow and grows it after `growth_interval` clean steps.
//! Scale (f32) and growth tracker (i32) are 0-dim tensors on the loss's
//! device, created by the first `scale()`, as in PyTorch; every rule and
//! message follows ../shared/AMP.md and PyTorch's `grad_scaler.py`.

use std::collections::{BTreeMap, HashMap};

use smelt_compiler::ir::DType;

use super::AmpError;
use crate::tensor::{Device, Tensor, TensorError};

/// What [`GradScaler`] needs from an optimizer (the runtime's optimizers
/// implement it once they exist). Tensors are immutable values, so
/// unscaling hands back new gradient tensors through `set_grads`.
pub trait ScaledOptimizer {
    /// The gradients of the parameters that have one, in a fixed order.
    fn grads(&self) -> Vec<Tensor>;
    /// Replaces those gradients (same order and count as `grads`).
    fn set_grads(&mut self, grads: Vec<Tensor>) -> Result<(), TensorError>;
    /// One optimizer step with the current gradients.
    fn step(&mut self) -> Result<(), TensorError>;
    /// Identifies this optimizer across calls within one iteration
    /// (PyTorch's `id(optimizer)`); by default its address.
    fn optimizer_id(&self) -> usize {
        self as *const Self as *const () as usize
    }
}

/// [`GradScaler`]'s settings; `Default` is PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct GradScalerConfig {
    /// The scale before the first update (65536).
    pub init_scale: f64,
    /// Factor applied after `growth_interval` clean steps (2, must be > 1).
    pub growth_factor: f64,
    /// Factor applied after a step with inf/NaN gradients (0.5, must be < 1).
    pub backoff_factor: f64,
    /// Clean steps between growths (2000).
    pub growth_interval: i64,
    /// When false every call is a passthrough (true).
    pub enabled: bool,
}

impl Default for GradScalerConfig {
    fn default() -> Self {
        GradScalerConfig {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
            enabled: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Ready,
    Unscaled,
    Stepped,
}

#[derive(Clone, Debug)]
struct PerOptimizer {
    stage: Stage,
    /// Per device holding gradients: 1.0 if any was not finite.
    found_inf: Vec<(Device, f32)>,
}

const READY: PerOptimizer = PerOptimizer { stage: Stage::Ready, found_inf: Vec::new() };

/// Dynamic loss scaling (see the module docs).
#[derive(Clone, Debug)]
pub struct GradScaler {
    enabled: bool,
    init_scale: f64,
    growth_factor: f64,
    backoff_factor: f64,
    growth_interval: i64,
    init_growth_tracker: i64,
    scale: Option<Tensor>,
    growth_tracker: Option<Tensor>,
    per_optimizer: HashMap<usize, PerOptimizer>,
}

fn err(msg: impl Into<String>) -> AmpError {
    AmpError::Scaler(msg.into())
}

impl GradScaler {
    /// A scaler with `config`; `Err` when enabled with `growth_factor <= 1`
    /// or `backoff_factor >= 1` (PyTorch's asserts).
    pub fn new(config: GradScalerConfig) -> Result<GradScaler, AmpError> {
        if config.enabled {
            // NaN fails PyTorch's asserts too.
            if config.growth_factor.is_nan() || config.growth_factor <= 1.0 {
                return Err(err("The growth factor must be > 1.0."));
            }
            if config.backoff_factor.is_nan() || config.backoff_factor >= 1.0 {
                return Err(err("The backoff factor must be < 1.0."));
            }
        }
        Ok(GradScaler {
            enabled: config.enabled,
            init_scale: config.init_scale,
            growth_factor: config.growth_factor,
            backoff_factor: config.backoff_factor,
            growth_interval: config.growth_interval,
            init_growth_tracker: 0,
            scale: None,
            growth_tracker: None,
            per_optimizer: HashMap::new(),
        })
    }

    /// Whether the scaler does anything.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn check_scale(&self, funcname: &str) -> Result<(Tensor, Tensor), AmpError> {
        match (&self.scale, &self.growth_tracker) {
            (Some(s), Some(g)) => Ok((s.clone(), g.clone())),
            _ => Err(err(format!(
                "Attempted {funcname} but _scale is None.  This may indicate your script did not \
                 use scaler.scale(loss or outputs) earlier in the iteration."
            ))),
        }
    }

    /// `loss × scale` (the scale created on the loss's device on first use);
    /// the loss itself when disabled.
    pub fn scale(&mut self, loss: &Tensor) -> Result<Tensor, AmpError> {
        if !self.enabled {
            return Ok(loss.clone());
        }
        if self.scale.is_none() {
            let dev = loss.device();
            let s = Tensor::scalar(self.init_scale, DType::F32)?.to_device(dev)?;
            let g = Tensor::scalar(self.init_growth_tracker as f64, DType::I32)?.to_device(dev)?;
            self.scale = Some(s);
            self.growth_tracker = Some(g);
        }
        let (s, _) = self.check_scale("scale")?;
        Ok(loss.mul(&s.to_device(loss.device())?)?)
    }

    /// Divides `opt`'s gradients by the scale and records, per device,
    /// whether any element was inf or NaN. Errors: called twice before
    /// `update()`, after `step()`, before any `scale()`, or with f16
    /// gradients (nothing is changed then).
    pub fn unscale_(&mut self, opt: &mut dyn ScaledOptimizer) -> Result<(), AmpError> {
        if !self.enabled {
            return Ok(());
        }
        let (scale, _) = self.check_scale("unscale_")?;
        let key = opt.optimizer_id();
        match self.per_optimizer.get(&key).map_or(Stage::Ready, |p| p.stage) {
            Stage::Unscaled => {
                return Err(err(
                    "unscale_() has already been called on this optimizer since the last update().",
                ));
            }
            Stage::Stepped => return Err(err("unscale_() is being called after step().")),
            Stage::Ready => {}
        }
        // 1/scale in f64, stored as f32 (`scale.double().reciprocal().float()`).
        let inv = (1.0 / scale.item()?) as f32;
        let grads = opt.grads();
        if grads.iter().any(|g| g.dtype() == DType::F16) {
            return Err(err("Attempting to unscale FP16 gradients."));
        }
        let mut found: Vec<(Device, f32)> = Vec::new();
        let mut out = Vec::with_capacity(grads.len());
        for g in &grads {
            let (bad, unscaled) = non_finite_check_and_unscale(g, inv)?;
            match found.iter_mut().find(|(d, _)| *d == g.device()) {
                Some((_, f)) if bad => *f = 1.0,
                Some(_) => {}
                None => found.push((g.device(), if bad { 1.0 } else { 0.0 })),
            }
            out.push(unscaled);
        }
        opt.set_grads(out)?;
        self.per_optimizer.insert(key, PerOptimizer { stage: Stage::Unscaled, found_inf: found });
        Ok(())
    }

    /// Unscales `opt`'s gradients if `unscale_` was not called, then runs
    /// `opt.step()` unless an inf/NaN was found. Returns whether the step
    /// ran. Disabled: just `opt.step()`. Errors: a second `step()` before
    /// `update()`, no `scale()` yet, or no gradients to check.
    pub fn step(&mut self, opt: &mut dyn ScaledOptimizer) -> Result<bool, AmpError> {
        if !self.enabled {
            opt.step()?;
            return Ok(true);
        }
        self.check_scale("step")?;
        let key = opt.optimizer_id();
        let stage = self.per_optimizer.get(&key).map_or(Stage::Ready, |p| p.stage);
        if stage == Stage::Stepped {
            return Err(err("step() has already been called since the last update()."));
        }
        if stage == Stage::Ready {
            self.unscale_(opt)?;
        }
        let state = self.per_optimizer.entry(key).or_insert(READY);
        if state.found_inf.is_empty() {
            return Err(err("No inf checks were recorded for this optimizer."));
        }
        let inf: f32 = state.found_inf.iter().map(|&(_, f)| f).sum();
        let ran = inf == 0.0;
        if ran {
            opt.step()?;
        }
        if let Some(state) = self.per_optimizer.get_mut(&key) {
            state.stage = Stage::Stepped;
        }
        Ok(ran)
    }

    /// Updates the scale from this iteration's found-inf flags (AMP.md's
    /// recurrence), or sets it to `new_scale` when given; then forgets the
    /// iteration's per-optimizer state. Errors: no `scale()` yet, or (without
    /// `new_scale`) no `unscale_`/`step` recorded an inf check.
    pub fn update(&mut self, new_scale: Option<f64>) -> Result<(), AmpError> {
        if !self.enabled {
            return Ok(());
        }
        let (scale, tracker) = self.check_scale("update")?;
        let dev = scale.device();
        if let Some(v) = new_scale {
            self.scale = Some(Tensor::scalar(v, DType::F32)?.to_device(dev)?);
        } else {
            let flags: Vec<f32> = self
                .per_optimizer
                .values()
                .flat_map(|p| p.found_inf.iter().map(|&(_, f)| f))
                .collect();
            if flags.is_empty() {
                return Err(err("No inf checks were recorded prior to update."));
            }
            let found_inf: f32 = flags.iter().sum();
            let (s, t) = update_scale(
                scale.item()? as f32,
                tracker.item()? as i32,
                found_inf,
                self.growth_factor,
                self.backoff_factor,
                self.growth_interval,
            );
            self.scale = Some(Tensor::scalar(s as f64, DType::F32)?.to_device(dev)?);
            self.growth_tracker = Some(Tensor::scalar(t as f64, DType::I32)?.to_device(dev)?);
        }
        self.per_optimizer.clear();
        Ok(())
    }

    /// The current scale: `init_scale` before the first `scale()`, 1.0 when disabled.
    pub fn get_scale(&self) -> f64 {
        if !self.enabled {
            return 1.0;
        }
        match &self.scale {
            Some(s) => s.item().unwrap_or(self.init_scale),
            None => self.init_scale,
        }
    }

    /// The number of consecutive clean steps since the last growth or backoff (0 when disabled).
    pub fn growth_tracker(&self) -> i64 {
        if !self.enabled {
            return 0;
        }
        match &self.growth_tracker {
            Some(t) => t.item().map_or(self.init_growth_tracker, |v| v as i64),
            None => self.init_growth_tracker,
        }
    }

    /// The growth factor.
    pub fn get_growth_factor(&self) -> f64 {
        self.growth_factor
    }

    /// Sets the growth factor (unchecked, as in PyTorch).
    pub fn set_growth_factor(&mut self, v: f64) {
        self.growth_factor = v;
    }

    /// The backoff factor.
    pub fn get_backoff_factor(&self) -> f64 {
        self.backoff_factor
    }

    /// Sets the backoff factor (unchecked, as in PyTorch).
    pub fn set_backoff_factor(&mut self, v: f64) {
        self.backoff_factor = v;
    }

    /// The growth interval.
    pub fn get_growth_interval(&self) -> i64 {
        self.growth_interval
    }

    /// Sets the growth interval (unchecked, as in PyTorch).
    pub fn set_growth_interval(&mut self, v: i64) {
        self.growth_interval = v;
    }

    /// `{scale, growth_factor, backoff_factor, growth_interval,
    /// _growth_tracker}`; empty when disabled.
    pub fn state_dict(&self) -> BTreeMap<String, f64> {
        if !self.enabled {
            return BTreeMap::new();
        }
        [
            ("scale", self.get_scale()),
            ("growth_factor", self.growth_factor),
            ("backoff_factor", self.backoff_factor),
            ("growth_interval", self.growth_interval as f64),
            ("_growth_tracker", self.growth_tracker() as f64),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Restores a [`GradScaler::state_dict`]. A no-op when disabled; `Err`
    /// for an empty dict (saved from a disabled scaler) or a missing key.
    pub fn load_state_dict(&mut self, state: &BTreeMap<String, f64>) -> Result<(), AmpError> {
        if !self.enabled {
            return Ok(());
        }
        if state.is_empty() {
            return Err(err(
                "The source state dict is empty, possibly because it was saved from a disabled \
                 instance of GradScaler.",
            ));
        }
        let get = |k: &str| {
            state.get(k).copied().ok_or_else(|| err(format!("state dict has no key '{k}'")))
        };
        let (scale, growth, backoff) =
            (get("scale")?, get("growth_factor")?, get("backoff_factor")?);
        let (interval, tracker) = (get("growth_interval")?, get("_growth_tracker")?);
        self.init_scale = scale;
        self.growth_factor = growth;
        self.backoff_factor = backoff;
        self.growth_interval = interval as i64;
        self.init_growth_tracker = tracker as i64;
        if let Some(s) = &self.scale {
            self.scale = Some(Tensor::scalar(scale, DType::F32)?.to_device(s.device())?);
        }
        if let Some(t) = &self.growth_tracker {
            self.growth_tracker =
                Some(Tensor::scalar(tracker.trunc(), DType::I32)?.to_device(t.device())?);
        }
        Ok(())
    }
}

/// `_amp_update_scale_`: backoff on an inf, else count a clean step and
/// grow (when the grown scale is finite) at the interval. Products are
/// formed in f64 and stored as f32, as the kernel does.
pub(crate) fn update_scale(
    scale: f32,
    tracker: i32,
    found_inf: f32,
    growth_factor: f64,
    backoff_factor: f64,
    growth_interval: i64,
) -> (f32, i32) {
    if found_inf != 0.0 {
        return ((scale as f64 * backoff_factor) as f32, 0);
    }
    let successful = tracker.wrapping_add(1);
    if successful as i64 == growth_interval {
        let grown = (scale as f64 * growth_factor) as f32;
        (if grown.is_finite() { grown } else { scale }, 0)
    } else {
        (scale, successful)
    }
}

/// Whether `g` has an inf or NaN, and `g × inv` computed in f32 for the
/// 16-bit float types (in `g`'s own type otherwise) and stored in `g`'s type.
fn non_finite_check_and_unscale(g: &Tensor, inv: f32) -> Result<(bool, Tensor), TensorError> {
    let wide = if g.dtype() == DType::F64 { DType::F64 } else { DType::F32 };
    let x = g.to_dtype(wide)?;
    // x - x is 0 for finite x and NaN for inf/NaN; NaN is the one value != itself.
    let d = x.sub(&x)?;
    let bad = d.ne(&d)?.to_dtype(DType::F32)?.sum(&[], false)?.item()? > 0.0;
    if inv == 1.0 {
        return Ok((bad, g.clone()));
    }
    Ok((bad, x.mul(inv as f64)?.to_dtype(g.dtype())?))
}
