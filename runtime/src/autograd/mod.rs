//! Reverse-mode autograd on the eager [`Tensor`], at the level of the
//! primitive IR ops that [`crate::dispatch`] records: every op whose input
//! requires grad gets a node (the op, its inputs' autograd state, and the
//! values its backward formula reads), so composites (softmax, layer_norm,
//! attention, losses) are differentiated through their primitives.
//!
//! Files: `mod.rs` the per-tensor state and the public API (`requires_grad_`,
//! `grad`, `backward`, `detach`, [`no_grad`]), `graph.rs` the nodes and the
//! backward engine, `formulas.rs` the elementwise/reduce/matmul backward
//! formulas, `movement.rs` those of the movement ops, `library.rs` conv2d
//! and the pools, `gradcheck.rs` the finite-difference check.
//!
//! Invariants: a node is attached only while grad mode is on, to a float
//! result of an op with at least one input that requires grad; formulas run
//! with grad mode off (no higher-order gradients yet); a formula that cannot
//! handle its case (prod over zeros) is an error naming the op, so a
//! gradient is never silently wrong or missing.

mod formulas;
mod gradcheck;
mod graph;
mod library;
mod movement;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use smelt_compiler::ir::Op;

use crate::dispatch::ArgRef;
use crate::tensor::{Result, Tensor, arg_err, dtype_err, shape_err};

pub use gradcheck::{GradcheckOptions, gradcheck};
use graph::Node;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True if ops on this thread build autograd nodes now (false inside [`no_grad`]).
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Runs `f` with grad mode set to `enabled` on this thread (restored after,
/// also on panic). Nests.
pub fn set_grad_enabled<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_ENABLED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(GRAD_ENABLED.with(|c| c.replace(enabled)));
    f()
}

/// Runs `f` without building autograd nodes (`torch.no_grad()`).
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    set_grad_enabled(false, f)
}

/// The gradients of `output` with respect to `inputs` (`torch.autograd.grad`),
/// without touching any `grad`: `None` for an input no gradient reaches.
/// `grad_output` as in [`Tensor::backward_opts`]; the graph is freed unless
/// `retain_graph`.
pub fn grad(
    output: &Tensor,
    inputs: &[&Tensor],
    grad_output: Option<&Tensor>,
    retain_graph: bool,
) -> Result<Vec<Option<Tensor>>> {
    let seed = output.seed(grad_output)?;
    graph::run_backward(output, seed, retain_graph, Some(inputs))
}

/// A tensor's autograd state, shared by its clones.
#[derive(Default)]
pub(crate) struct Meta {
    /// Set on leaves by `requires_grad_`.
    requires_grad: AtomicBool,
    /// The accumulated gradient of a leaf.
    grad: Mutex<Option<Tensor>>,
    /// The node that made a non-leaf result.
    grad_fn: Mutex<Option<Arc<Node>>>,
}

/// Locks, ignoring poisoning (the guarded values stay consistent: every
/// write is a single assignment).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Meta {
    /// True if gradients flow to this tensor (a leaf that requires grad, or
    /// a result with a node).
    fn tracks(&self) -> bool {
        self.requires_grad.load(Ordering::Relaxed) || lock(&self.grad_fn).is_some()
    }

    fn grad_fn(&self) -> Option<Arc<Node>> {
        lock(&self.grad_fn).clone()
    }
}

/// True if an op on `args` producing `out` gets an autograd node.
pub(crate) fn wants_node(args: &[ArgRef<'_>], out: &Tensor) -> bool {
    is_grad_enabled()
        && out.dtype().is_float()
        && args.iter().any(|a| matches!(a, ArgRef::Tensor(t) if t.autograd_meta().tracks()))
}

/// The dispatch hook: gives `out` its node when an input requires grad.
pub(crate) fn attach(op: &Op, args: &[ArgRef<'_>], out: &Tensor) {
    if wants_node(args, out) {
        let node = Node::new(op.clone(), args, out);
        *lock(&out.autograd_meta().grad_fn) = Some(Arc::new(node));
    }
}

/// The hook for computations with no IR form (`record_opaque`, compiled
/// functions): when an input requires grad, each output gets a node whose
/// backward is an error naming `name`, so the gradient is never silently cut.
pub(crate) fn attach_opaque(name: &str, inputs: &[&Tensor], outputs: &[&Tensor]) {
    let args: Vec<ArgRef<'_>> = inputs.iter().map(|t| ArgRef::Tensor(t)).collect();
    for out in outputs {
        if wants_node(&args, out) {
            *lock(&out.autograd_meta().grad_fn) = Some(Arc::new(Node::opaque(name, inputs, out)));
        }
    }
}

impl Tensor {
    /// Marks this leaf as requiring grad (or not) and returns it (the same
    /// value: clones share the flag). Only float tensors can require grad,
    /// and only leaves can have the flag changed (as in PyTorch).
    pub fn requires_grad_(&self, requires_grad: bool) -> Result<Tensor> {
        if requires_grad && !self.dtype().is_float() {
            return Err(dtype_err(
                "requires_grad_",
                format!(
                    "only float tensors can require grad, got {}{:?}",
                    self.dtype(),
                    self.shape()
                ),
            ));
        }
        if let Some(node) = self.autograd_meta().grad_fn() {
            return Err(arg_err(
                "requires_grad_",
                format!(
                    "{:?} is not a leaf (made by {}); detach() it first",
                    self.shape(),
                    node.name()
                ),
            ));
        }
        self.autograd_meta().requires_grad.store(requires_grad, Ordering::Relaxed);
        Ok(self.clone())
    }

    /// True if gradients flow to this tensor (a leaf marked by
    /// `requires_grad_`, or the result of an op on such tensors).
    pub fn requires_grad(&self) -> bool {
        self.autograd_meta().tracks()
    }

    /// True if no op made this tensor under grad mode (it has no node).
    pub fn is_leaf(&self) -> bool {
        self.autograd_meta().grad_fn().is_none()
    }

    /// The name of the op whose node made this tensor (`"mul"`, `"reshape"`), if any.
    pub fn grad_fn_name(&self) -> Option<String> {
        self.autograd_meta().grad_fn().map(|n| n.name().to_string())
    }

    /// The gradient accumulated into this leaf by `backward`.
    pub fn grad(&self) -> Option<Tensor> {
        lock(&self.autograd_meta().grad).clone()
    }

    /// Replaces this tensor's gradient (optimizers, loss scalers); the shape
    /// must match.
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        if let Some(g) = &grad
            && g.shape() != self.shape()
        {
            return Err(shape_err(
                "set_grad",
                format!("gradient {:?} for a tensor of shape {:?}", g.shape(), self.shape()),
            ));
        }
        *lock(&self.autograd_meta().grad) = grad.map(|g| g.detach());
        Ok(())
    }

    /// Clears the gradient (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        *lock(&self.autograd_meta().grad) = None;
    }

    /// The same values (shared storage, new id) cut from the graph: no node,
    /// does not require grad.
    pub fn detach(&self) -> Tensor {
        let out = self.view_of(self.strides().to_vec(), self.offset(), self.shape().to_vec());
        crate::dispatch::record_alias(self, &out);
        out
    }

    /// Backpropagates from this scalar: accumulates d(self)/d(leaf) into the
    /// `grad` of every leaf that requires grad, then frees the graph.
    pub fn backward(&self) -> Result<()> {
        self.backward_opts(None, false)
    }

    /// Backpropagates `grad` (the gradient of some scalar with respect to
    /// this tensor; same shape), then frees the graph.
    pub fn backward_with(&self, grad: &Tensor) -> Result<()> {
        self.backward_opts(Some(grad), false)
    }

    /// `backward` with an optional output gradient (required unless this is
    /// a one-element tensor) and `retain_graph`: when false, the graph's
    /// saved values are freed and a second backward through it is an error.
    pub fn backward_opts(&self, grad: Option<&Tensor>, retain_graph: bool) -> Result<()> {
        let seed = self.seed(grad)?;
        graph::run_backward(self, seed, retain_graph, None).map(drop)
    }

    /// The gradient that starts a backward from this tensor.
    fn seed(&self, grad: Option<&Tensor>) -> Result<Tensor> {
        if !self.requires_grad() {
            return Err(arg_err(
                "backward",
                format!(
                    "tensor {}{:?} does not require grad and has no grad_fn",
                    self.dtype(),
                    self.shape()
                ),
            ));
        }
        let seed = match grad {
            Some(g) => {
                if g.shape() != self.shape() {
                    return Err(shape_err(
                        "backward",
                        format!(
                            "gradient of shape {:?} given for an output of shape {:?}",
                            g.shape(),
                            self.shape()
                        ),
                    ));
                }
                no_grad(|| g.to_dtype(self.dtype()))?.detach()
            }
            None => {
                if self.numel() != 1 {
                    return Err(shape_err(
                        "backward",
                        format!(
                            "grad can be implicitly created only for one-element outputs, got {:?}; use backward_with",
                            self.shape()
                        ),
                    ));
                }
                Tensor::ones(self.shape(), self.dtype())?.to_device(self.device())?
            }
        };
        Ok(seed)
    }
}
