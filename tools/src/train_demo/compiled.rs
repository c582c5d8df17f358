//! The compiled training step: one [`smelt_frontends::compile`]d program
//! `(parameters, float buffers, x, y, grad seed) -> (loss, gradients, new
//! buffers)` whose trace records the forward AND the backward (the
//! gradients come from [`autograd::grad`] inside the program, whose formulas
//! run through the same dispatch the tracer watches), so both are optimized
//! and fused as one graph. The optimizer step then runs on the gradients
//! as in eager mode.
//!
//! Invariants: the model's parameters are the program's inputs (not
//! captures), so each call sees the current weights; float buffers
//! (BatchNorm's running statistics) go in and come out, so their update is
//! part of the graph. Integer buffers are host-side counters
//! (`num_batches_tracked`), read with `.item()` while tracing; a replayed
//! graph cannot update them, so [`CompiledStep::run`] adds one to each per
//! call, which is what one training forward does.

use std::cell::RefCell;
use std::rc::Rc;

use smelt_compiler::ir::DType;
use smelt_frontends::{Compiled, compile};
use smelt_runtime::Tensor;
use smelt_runtime::autograd;
use smelt_runtime::nn::{Kind, Module};
use smelt_runtime::tensor::{Result, TensorError};

use super::forward_loss;

/// An error of the compiled step.
fn step_err(detail: impl Into<String>) -> TensorError {
    TensorError::Argument { op: "compiled step".into(), detail: detail.into() }
}

/// A model shared between the trainer and its compiled program.
pub type Shared = Rc<RefCell<Box<dyn Module>>>;

/// The compiled forward + backward of one model.
pub struct CompiledStep {
    compiled: Compiled,
    model: Shared,
}

/// Whether a named tensor of the model goes through the graph.
fn in_graph(kind: Kind, t: &Tensor) -> bool {
    kind == Kind::Parameter || t.dtype().is_float()
}

impl CompiledStep {
    /// Compiles the step of `model` (nothing is traced before the first run);
    /// `amp` runs the forward under autocast (bf16 on the CPU, f16 on CUDA).
    pub fn new(model: Shared, amp: bool) -> CompiledStep {
        let m = model.clone();
        let compiled = compile(move |inputs: &[Tensor]| program(&m, amp, inputs));
        CompiledStep { compiled, model }
    }

    /// One forward + backward on `(x, y)`, the loss's gradient seeded with
    /// `seed` (the loss scale; 1 without one): sets every parameter's
    /// gradient, writes the new float buffers back, and returns the
    /// (unscaled) loss.
    pub fn run(&self, x: &Tensor, y: &Tensor, seed: f64) -> Result<Tensor> {
        let (state, counters): (Vec<_>, Vec<_>) =
            self.model.borrow().named_tensors().into_iter().partition(|(_, k, t)| in_graph(*k, t));
        let mut inputs: Vec<Tensor> = state.into_iter().map(|(_, _, t)| t).collect();
        // Read before the call: a call that traces runs the forward eagerly,
        // which bumps the counters itself.
        let mut counters = counters.into_iter().map(|(_, _, t)| t);
        inputs.push(x.clone());
        inputs.push(y.clone());
        // On the batch's device: the seed becomes the loss's gradient, and
        // a CPU seed would carry the whole backward to the CPU.
        inputs.push(Tensor::scalar(seed, DType::F32)?.to_device(x.device())?);
        let outs = self.compiled.call(&inputs).map_err(|e| step_err(e.to_string()))?;
        let mut m = self.model.borrow_mut();
        let n_params = m.named_parameters().len();
        let n_state = inputs.len() - 3;
        if outs.len() != 1 + n_state {
            return Err(step_err(format!(
                "the program returned {} outputs, expected {}",
                outs.len(),
                1 + n_state
            )));
        }
        let (mut grads, mut buffers) = (outs[1..].iter(), outs[1 + n_params..].iter());
        let short = || step_err("the program returned too few outputs");
        for slot in m.slots() {
            if slot.kind == Kind::Parameter {
                slot.tensor.set_grad(Some(grads.next().ok_or_else(short)?.detach()))?;
            } else if slot.tensor.dtype().is_float() {
                *slot.tensor = buffers.next().ok_or_else(short)?.detach();
            } else {
                let before = counters.next().ok_or_else(short)?;
                *slot.tensor = autograd::no_grad(|| before.add(1))?;
            }
        }
        Ok(outs[0].detach())
    }

    /// What the compiled program did (graphs, kernels, breaks).
    pub fn explain(&self) -> smelt_frontends::Explain {
        self.compiled.explain()
    }
}

/// The traced program: puts `inputs` into the model, runs forward and
/// backward, returns `[loss, grads…, float buffers…]`.
fn program(model: &Shared, amp: bool, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut m = model.borrow_mut();
    let n = inputs.len();
    if n < 3 {
        return Err(step_err(format!("expected x, y and a seed, got {n} inputs")));
    }
    let (state, xy) = inputs.split_at(n - 3);
    let (x, y, seed) = (&xy[0], &xy[1], &xy[2]);
    let mut it = state.iter();
    let mut params = Vec::new();
    for slot in m.slots() {
        if in_graph(slot.kind, slot.tensor) {
            let t = it.next().ok_or_else(|| step_err("too few model inputs"))?;
            *slot.tensor = t.clone();
            if slot.kind == Kind::Parameter {
                params.push(t.clone());
            }
        }
    }
    let loss = forward_loss(&mut **m, x, y, amp)?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let grads = autograd::grad(&loss, &refs, Some(seed), false)?;
    let mut out = vec![loss.detach()];
    for ((name, _), g) in m.named_parameters().iter().zip(grads) {
        out.push(g.ok_or_else(|| step_err(format!("no gradient reaches parameter {name}")))?);
    }
    out.extend(
        m.named_tensors()
            .into_iter()
            .filter(|(_, k, t)| *k == Kind::Buffer && t.dtype().is_float())
            .map(|(_, _, t)| t),
    );
    Ok(out)
}
