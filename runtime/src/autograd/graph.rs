//! Autograd nodes and the backward engine: a node holds its op, one edge
//! per operand (the operand's shared autograd state when it requires grad)
//! and the detached values its formula reads; `run_backward` visits the
//! nodes reachable from the root in reverse topological order, summing the
//! gradients that reach each tensor, and accumulates into leaves.
//!
//! Invariants: edges keep the graph alive; saved values are dropped when a
//! backward without `retain_graph` has run through the node (a later
//! backward through it is an error naming the op); the graph is checked for
//! freed nodes before any gradient is accumulated, so a failed backward
//! leaves every `grad` untouched.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use smelt_compiler::ir::{Op, Scalar};

use super::{Meta, formulas, lock, no_grad};
use crate::dispatch::ArgRef;
use crate::tensor::{Result, Tensor, arg_err};

/// One operand as the backward formula sees it.
pub(crate) enum SavedArg {
    /// A tensor's value, detached from the graph.
    Tensor(Tensor),
    /// An inline literal.
    Lit(Scalar),
}

/// What a node's formula reads.
pub(crate) struct Saved {
    /// The operands, in order.
    pub(crate) args: Vec<SavedArg>,
    /// The result, detached.
    pub(crate) out: Tensor,
}

/// What made a node's result.
enum Kind {
    /// A primitive IR op (it has a backward formula).
    Op(Op),
    /// A computation with no IR form (a host-side op, a compiled function);
    /// its backward is an error naming it.
    Opaque(String),
}

/// The record of one op applied to inputs that require grad.
pub(crate) struct Node {
    kind: Kind,
    /// Per operand: its autograd state when gradients flow to it.
    edges: Vec<Option<Arc<Meta>>>,
    /// `None` once freed by a backward without `retain_graph`.
    saved: Mutex<Option<Saved>>,
}

impl Node {
    /// The node of `op` applied to `args` giving `out`.
    pub(crate) fn new(op: Op, args: &[ArgRef<'_>], out: &Tensor) -> Node {
        let edges = args
            .iter()
            .map(|a| match a {
                ArgRef::Tensor(t) if t.autograd_meta().tracks() => Some(t.autograd_meta().clone()),
                _ => None,
            })
            .collect();
        let args = args
            .iter()
            .map(|a| match a {
                ArgRef::Tensor(t) => SavedArg::Tensor(t.detach()),
                ArgRef::Lit(s) => SavedArg::Lit(*s),
            })
            .collect();
        Node {
            kind: Kind::Op(op),
            edges,
            saved: Mutex::new(Some(Saved { args, out: out.detach() })),
        }
    }

    /// The node of an opaque computation `name` on `inputs` giving `out`.
    pub(crate) fn opaque(name: &str, inputs: &[&Tensor], out: &Tensor) -> Node {
        let edges = inputs
            .iter()
            .map(|t| t.autograd_meta().tracks().then(|| t.autograd_meta().clone()))
            .collect();
        let saved = Saved { args: Vec::new(), out: out.detach() };
        Node { kind: Kind::Opaque(name.to_string()), edges, saved: Mutex::new(Some(saved)) }
    }

    /// The op's name.
    pub(crate) fn name(&self) -> &str {
        match &self.kind {
            Kind::Op(op) => op.name(),
            Kind::Opaque(name) => name,
        }
    }
}

/// A key for an autograd state (its address; the state is kept alive by
/// the graph for the whole backward).
fn key(m: &Arc<Meta>) -> *const Meta {
    Arc::as_ptr(m)
}

/// The states reachable from `root`, each after every state that feeds a
/// gradient into it (reverse topological order: root first).
fn order(root: &Arc<Meta>) -> Vec<Arc<Meta>> {
    let mut post = Vec::new();
    let mut seen: HashSet<*const Meta> = HashSet::new();
    // Iterative DFS: (state, next edge to visit).
    let mut stack: Vec<(Arc<Meta>, usize)> = vec![(root.clone(), 0)];
    seen.insert(key(root));
    while let Some((m, i)) = stack.pop() {
        let next = m.grad_fn().and_then(|n| {
            n.edges[i..].iter().enumerate().find_map(|(j, e)| {
                e.as_ref().filter(|e| !seen.contains(&key(e))).map(|e| (i + j, e.clone()))
            })
        });
        match next {
            Some((j, child)) => {
                seen.insert(key(&child));
                stack.push((m, j + 1));
                stack.push((child, 0));
            }
            None => post.push(m),
        }
    }
    post.reverse();
    post
}

/// Backpropagates `seed` (the gradient of `root`) through the graph. With
/// `capture`, returns the gradient reaching each of those tensors and
/// accumulates into no leaf (`torch.autograd.grad`); else accumulates into
/// the leaves' `grad` and returns nothing.
pub(crate) fn run_backward(
    root: &Tensor,
    seed: Tensor,
    retain_graph: bool,
    capture: Option<&[&Tensor]>,
) -> Result<Vec<Option<Tensor>>> {
    let nodes = order(root.autograd_meta());
    // Refuse before touching anything if part of the graph was freed.
    for m in &nodes {
        if let Some(n) = m.grad_fn()
            && lock(&n.saved).is_none()
        {
            return Err(arg_err(
                "backward",
                format!(
                    "trying to backward through the graph a second time: the saved values of `{}` were freed by an earlier backward; pass retain_graph=true to the first one",
                    n.name()
                ),
            ));
        }
    }
    let mut grads: HashMap<*const Meta, Tensor> = HashMap::new();
    grads.insert(key(root.autograd_meta()), seed);
    no_grad(|| {
        // Compute every gradient first, then accumulate into leaves, so an
        // error (an op without a formula) leaves every `grad` untouched.
        let mut leaves: Vec<(Arc<Meta>, Tensor)> = Vec::new();
        let mut captured: Vec<Option<Tensor>> = vec![None; capture.map_or(0, <[_]>::len)];
        for m in &nodes {
            let Some(g) = grads.remove(&key(m)) else { continue };
            for (slot, t) in captured.iter_mut().zip(capture.unwrap_or(&[])) {
                if key(t.autograd_meta()) == key(m) {
                    *slot = Some(g.clone());
                }
            }
            let Some(node) = m.grad_fn() else {
                if capture.is_none() && m.requires_grad.load(std::sync::atomic::Ordering::Relaxed) {
                    leaves.push((m.clone(), g));
                }
                continue;
            };
            let needs: Vec<bool> = node.edges.iter().map(Option::is_some).collect();
            let input_grads = {
                let saved = lock(&node.saved);
                match (saved.as_ref(), &node.kind) {
                    (Some(s), Kind::Op(op)) => formulas::backward(op, s, &g, &needs)?,
                    (Some(s), Kind::Opaque(name)) => {
                        return Err(arg_err(
                            "backward",
                            format!(
                                "`{name}` (result {:?}) has no IR form and no backward; gradients through it are not supported yet",
                                s.out.shape()
                            ),
                        ));
                    }
                    (None, _) => return Err(arg_err("backward", "graph freed during backward")),
                }
            };
            for (edge, gi) in node.edges.iter().zip(input_grads) {
                let (Some(e), Some(gi)) = (edge, gi) else { continue };
                let sum = match grads.remove(&key(e)) {
                    Some(prev) => prev.add(&gi)?,
                    None => gi,
                };
                grads.insert(key(e), sum);
            }
        }
        for (m, g) in leaves {
            let mut slot = lock(&m.grad);
            let total = match slot.take() {
                Some(prev) => prev.add(&g)?,
                None => g.contiguous()?,
            };
            *slot = Some(total.detach());
        }
        if !retain_graph {
            for m in &nodes {
                if let Some(n) = m.grad_fn() {
                    *lock(&n.saved) = None;
                }
            }
        }
        Ok(captured)
    })
}
