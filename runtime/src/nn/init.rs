//! PyTorch's default parameter initialisations (`torch.nn.init`), drawn on
//! the host from an explicit [`Generator`] so that a seed fixes a model.
//! The values are PyTorch's distributions, not its random streams.

use smelt_compiler::ir::DType;

use std::cell::Cell;

use crate::tensor::{Generator, Result, Tensor, arg_err};

thread_local! {
    static SKIP: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with random initialisation skipped on this thread: every
/// parameter the initialisers of this module make is zero-filled instead of
/// drawn (like `torch.nn.utils.skip_init`). For building a model only to
/// count or then load its parameters, where drawing hundreds of millions of
/// numbers would be wasted. Nests; the previous mode is restored after `f`.
pub fn skip_init<R>(f: impl FnOnce() -> R) -> R {
    let prev = SKIP.with(|s| s.replace(true));
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SKIP.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(prev);
    f()
}

/// True inside [`skip_init`]: initialisers return zeros instead of drawing.
pub fn skipping_init() -> bool {
    SKIP.with(|s| s.get())
}

/// A zero-filled leaf f32 parameter (what initialisers return under [`skip_init`]).
fn skipped(shape: &[usize]) -> Result<Tensor> {
    Tensor::zeros(shape, DType::F32)?.requires_grad_(true)
}

/// A leaf f32 tensor of `shape` with values uniform in `[-bound, bound)`
/// that requires grad (`init.uniform_(t, -bound, bound)`).
pub fn uniform(shape: &[usize], bound: f64, rng: &mut Generator) -> Result<Tensor> {
    if !bound.is_finite() || bound < 0.0 {
        return Err(arg_err("init.uniform", format!("bound {bound} must be finite and >= 0")));
    }
    if skipping_init() {
        return skipped(shape);
    }
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| ((rng.uniform_f32() * 2.0 - 1.0) * bound) as f32).collect();
    Tensor::from_vec(v, shape)?.requires_grad_(true)
}

/// `kaiming_uniform_(w, a=√5)`, PyTorch's default for Linear and Conv
/// weights: uniform in `±1/√fan_in` with `fan_in` = `shape[1] * Π shape[2..]`.
pub fn kaiming_uniform(shape: &[usize], rng: &mut Generator) -> Result<Tensor> {
    let fan_in = fan_in(shape)?;
    // gain √(2/(1+a²)) = √(1/3); bound = √3 · gain / √fan_in = 1/√fan_in.
    uniform(shape, bound_for(fan_in), rng)
}

/// `xavier_uniform_(w)`: uniform in `±√(6/(fan_in+fan_out))`.
pub fn xavier_uniform(shape: &[usize], rng: &mut Generator) -> Result<Tensor> {
    let fan_in = fan_in(shape)?;
    let fan_out = shape[0] * shape[2..].iter().product::<usize>();
    let sum = (fan_in + fan_out).max(1) as f64;
    uniform(shape, (6.0 / sum).sqrt(), rng)
}

/// The bias bound of Linear and Conv: `1/√fan_in` (0 when fan_in is 0).
pub(crate) fn bound_for(fan_in: usize) -> f64 {
    if fan_in == 0 { 0.0 } else { 1.0 / (fan_in as f64).sqrt() }
}

/// `shape[1] * Π shape[2..]`, as `_calculate_fan_in_and_fan_out`.
pub(crate) fn fan_in(shape: &[usize]) -> Result<usize> {
    if shape.len() < 2 {
        return Err(arg_err(
            "init",
            format!("fan in and fan out need at least 2 dims, got {shape:?}"),
        ));
    }
    Ok(shape[1] * shape[2..].iter().product::<usize>())
}

/// A leaf f32 tensor filled with `value` that requires grad (norm weights
/// and biases).
pub(crate) fn constant(shape: &[usize], value: f64) -> Result<Tensor> {
    Tensor::full(shape, DType::F32, value)?.requires_grad_(true)
}

/// A leaf f32 tensor of standard normal values that requires grad.
pub(crate) fn normal(shape: &[usize], rng: &mut Generator) -> Result<Tensor> {
    if skipping_init() {
        return skipped(shape);
    }
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(v, shape)?.requires_grad_(true)
}
