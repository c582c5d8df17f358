//! Autocast scopes: a thread-local state per device type (enabled, low
//! dtype), the cache flag, the nesting depth and the weight-cast cache, as
//! PyTorch keeps them; [`autocast`] saves and restores the state around a
//! closure, and [`autocast_args`] is what an op calls first to have its
//! arguments cast by its policy.
//!
//! Inside an op's autocast call the state is suspended (PyTorch excludes
//! the Autocast dispatch key while the op runs), so a composite such as
//! `linear` does not re-cast the ops it is made of.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::RwLock;

use smelt_compiler::ir::DType;

use super::AmpError;
use super::policy::{DeviceType, Policy, cast_targets, is_eligible, policy_for};
use crate::tensor::{Device, Result, Tensor, TensorError, TensorId};

#[derive(Clone, Copy)]
struct DevState {
    enabled: bool,
    dtype: DType,
}

struct State {
    cpu: DevState,
    cuda: DevState,
    cache_enabled: bool,
    nesting: usize,
    /// > 0 while an autocast op runs its body.
    suspended: usize,
    /// f32 → low casts of weights, keyed by the source tensor's id.
    cache: HashMap<TensorId, Tensor>,
}

impl State {
    fn dev(&mut self, d: DeviceType) -> &mut DevState {
        match d {
            DeviceType::Cpu => &mut self.cpu,
            DeviceType::Cuda => &mut self.cuda,
        }
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        cpu: DevState { enabled: false, dtype: DeviceType::Cpu.default_dtype() },
        cuda: DevState { enabled: false, dtype: DeviceType::Cuda.default_dtype() },
        cache_enabled: true,
        nesting: 0,
        suspended: 0,
        cache: HashMap::new(),
    });
}

/// Whether a tensor is a model weight whose casts may be cached: a leaf
/// that requires grad and is not a view. The default is autograd's
/// `requires_grad() && is_leaf()` (a view of a tensor that requires grad is
/// not a leaf: its view op has a backward node); tests may install another
/// through [`set_leaf_predicate`].
type LeafPredicate = fn(&Tensor) -> bool;

static LEAF_PREDICATE: RwLock<Option<LeafPredicate>> = RwLock::new(None);

/// Installs the predicate behind [`is_leaf_requiring_grad`] (process-wide;
/// `None` restores the default, autograd's leaf-that-requires-grad rule).
pub fn set_leaf_predicate(pred: Option<LeafPredicate>) {
    // A poisoned lock only means a panic elsewhere; the value is still a fn pointer.
    *LEAF_PREDICATE.write().unwrap_or_else(|e| e.into_inner()) = pred;
}

/// True if `t` is a leaf tensor that requires grad and is not a view (the
/// weight-cache condition).
pub fn is_leaf_requiring_grad(t: &Tensor) -> bool {
    let pred = *LEAF_PREDICATE.read().unwrap_or_else(|e| e.into_inner());
    match pred {
        Some(p) => p(t),
        None => t.requires_grad() && t.is_leaf(),
    }
}

/// Restores the saved state when the scope ends (also on unwinding).
struct ScopeGuard {
    device: DeviceType,
    prev: DevState,
    prev_cache: bool,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            s.nesting = s.nesting.saturating_sub(1);
            // Cleared whatever this scope's cache flag (PyTorch's __exit__).
            if s.nesting == 0 {
                s.cache.clear();
            }
            *s.dev(self.device) = self.prev;
            s.cache_enabled = self.prev_cache;
        });
    }
}

/// Runs `f` under an autocast scope for `device`'s type (`torch.autocast`):
/// `dtype` defaults to the device type's current autocast dtype (f16 on
/// CUDA, bf16 on CPU unless an enclosing scope chose another);
/// `enabled=false` gives an f32 region; `cache_enabled` allows the weight
/// cache. The previous state is restored afterwards, and the weight cache
/// is cleared when the outermost scope exits.
///
/// `Err` when enabled with a dtype the device type does not autocast to
/// (only f16 and bf16; PyTorch warns and disables instead).
pub fn autocast<R>(
    device: Device,
    dtype: Option<DType>,
    enabled: bool,
    cache_enabled: bool,
    f: impl FnOnce() -> R,
) -> std::result::Result<R, AmpError> {
    let dt = DeviceType::of(device);
    let dtype = dtype.unwrap_or_else(|| autocast_dtype(dt));
    if enabled && !matches!(dtype, DType::F16 | DType::BF16) {
        return Err(AmpError::UnsupportedDtype { device: dt.name(), dtype });
    }
    let guard = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let prev = *s.dev(dt);
        let prev_cache = s.cache_enabled;
        *s.dev(dt) = DevState { enabled, dtype };
        s.cache_enabled = cache_enabled;
        s.nesting += 1;
        ScopeGuard { device: dt, prev, prev_cache }
    });
    let out = f();
    drop(guard);
    Ok(out)
}

/// Whether autocast is on for `device` on this thread (`torch.is_autocast_enabled`).
pub fn is_autocast_enabled(device: DeviceType) -> bool {
    STATE.with(|s| s.borrow_mut().dev(device).enabled)
}

/// The low dtype autocast uses for `device` on this thread (`torch.get_autocast_dtype`).
pub fn autocast_dtype(device: DeviceType) -> DType {
    STATE.with(|s| s.borrow_mut().dev(device).dtype)
}

/// Number of cached weight casts on this thread.
pub fn weight_cache_len() -> usize {
    STATE.with(|s| s.borrow().cache.len())
}

/// Empties this thread's weight cache (`torch.clear_autocast_cache`).
pub fn clear_autocast_cache() {
    STATE.with(|s| s.borrow_mut().cache.clear());
}

/// An op's arguments after autocast, holding autocast suspended while the
/// op runs on them (drop it when the op is done).
pub struct AutocastArgs {
    args: Vec<Option<Tensor>>,
}

impl AutocastArgs {
    /// Argument `i`; `Err` when it was passed as `None` or not at all.
    pub fn arg(&self, i: usize) -> Result<&Tensor> {
        self.opt(i).ok_or_else(|| TensorError::Argument {
            op: "autocast".into(),
            detail: format!("argument {i} was not given"),
        })
    }

    /// Optional argument `i`.
    pub fn opt(&self, i: usize) -> Option<&Tensor> {
        self.args.get(i).and_then(Option::as_ref)
    }

    /// All given arguments, in order (for list ops such as `cat`).
    pub fn tensors(&self) -> Vec<&Tensor> {
        self.args.iter().flatten().collect()
    }
}

impl Drop for AutocastArgs {
    fn drop(&mut self) {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            s.suspended = s.suspended.saturating_sub(1);
        });
    }
}

/// Applies op `op`'s autocast policy to its arguments (`None`: an absent
/// optional argument). Returns `None` when autocast has nothing to do here
/// (off for the arguments' device type, suspended inside another autocast
/// op, or the op on no list): the op then runs as called. Otherwise the
/// cast arguments, which the op re-enters itself with:
///
/// ```ignore
/// if let Some(a) = crate::amp::autocast_args("linear", &[Some(x), Some(w), b])? {
///     return linear(a.arg(0)?, a.arg(1)?, a.opt(2));
/// }
/// ```
pub fn autocast_args(op: &str, args: &[Option<&Tensor>]) -> Result<Option<AutocastArgs>> {
    let Some(first) = args.iter().flatten().next() else { return Ok(None) };
    let dt = DeviceType::of(first.device());
    let (state, suspended) = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let sus = s.suspended;
        (*s.dev(dt), sus)
    });
    if suspended > 0 || !state.enabled {
        return Ok(None);
    }
    let Some(policy) = policy_for(dt, op) else { return Ok(None) };
    if policy == Policy::Banned {
        return Err(TensorError::DType {
            op: op.to_string(),
            detail: format!(
                "unsafe to autocast on {}: use binary_cross_entropy_with_logits, or disable \
                 autocast for this op",
                dt.name()
            ),
        });
    }
    let eligible: Vec<Option<DType>> = args
        .iter()
        .map(|a| a.filter(|t| is_eligible(t.dtype(), t.device(), dt)).map(Tensor::dtype))
        .collect();
    let targets = cast_targets(policy, state.dtype, &eligible);
    let mut out = Vec::with_capacity(args.len());
    for (a, to) in args.iter().zip(targets) {
        out.push(match (a, to) {
            (Some(t), Some(to)) => Some(cached_cast(t, to, state.dtype)?),
            (a, _) => a.map(|t| (*t).clone()),
        });
    }
    STATE.with(|s| s.borrow_mut().suspended += 1);
    Ok(Some(AutocastArgs { args: out }))
}

/// `t` cast to `to`, through the weight cache when the cast is f32 → low
/// dtype of a leaf that requires grad and caching is on.
fn cached_cast(t: &Tensor, to: DType, low: DType) -> Result<Tensor> {
    let cacheable = to == low
        && t.dtype() == DType::F32
        && STATE.with(|s| s.borrow().cache_enabled)
        && is_leaf_requiring_grad(t);
    if !cacheable {
        return t.to_dtype(to);
    }
    if let Some(c) = STATE.with(|s| s.borrow().cache.get(&t.id()).cloned()) {
        return Ok(c);
    }
    let c = t.to_dtype(to)?;
    STATE.with(|s| s.borrow_mut().cache.insert(t.id(), c.clone()));
    Ok(c)
}
