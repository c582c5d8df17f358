//! The verifier: every invariant a [`Func`] must hold, checked in one place.
//!
//! It runs after parsing, after every pass in debug builds and in tests. On
//! parsed input a failure is the user's error and names the line and column;
//! after a pass it is a compiler bug, and the pass runner says so.
//!
//! Checked: the graph is acyclic; every operand names a live node and the
//! edges mirror the operand lists; parameters are numbered in signature
//! order with unique names and valid layouts; every instruction's type is
//! what the op table's rule gives (dtypes, shapes, broadcasting, attribute
//! ranges); `return` names at least one live value.

use std::collections::HashSet;
use std::fmt;

use super::graph::{Func, Module, NodeId, Operand, Span};
use super::op::Op;
use super::types::Layout;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The function.
    pub func: String,
    /// The instruction, as printed (`%3 = add`), if the error is about one.
    pub node: Option<String>,
    /// Where it was written, if parsed.
    pub span: Option<Span>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.span {
            write!(f, "{s}: ")?;
        }
        write!(f, "in @{}", self.func)?;
        if let Some(n) = &self.node {
            write!(f, ", {n}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Verifies every function of a module.
pub fn verify_module(m: &Module) -> Result<(), VerifyError> {
    let mut names = HashSet::new();
    for f in &m.funcs {
        if !names.insert(f.name.as_str()) {
            return Err(VerifyError {
                func: f.name.clone(),
                node: None,
                span: f.span,
                message: "function name used twice".into(),
            });
        }
        verify(f)?;
    }
    Ok(())
}

/// Verifies one function.
pub fn verify(f: &Func) -> Result<(), VerifyError> {
    let err = |id: Option<NodeId>, message: String| {
        let (node, span) = match id {
            Some(id) if f.contains(id) => {
                let n = f.node(id);
                let label = match &n.name {
                    Some(name) => format!("%{name} = {}", n.op.name()),
                    None => format!("{id} = {}", n.op.name()),
                };
                (Some(label), n.span)
            }
            Some(id) => (Some(id.to_string()), None),
            None => (None, f.span),
        };
        VerifyError { func: f.name.clone(), node, span, message }
    };

    if let Err(cycle) = f.try_program_order() {
        return Err(err(
            cycle.first().copied(),
            format!("the graph has a cycle through {} node(s)", cycle.len()),
        ));
    }

    let mut param_names = HashSet::new();
    for (i, &p) in f.params().iter().enumerate() {
        if !f.contains(p) {
            return Err(err(None, format!("parameter {i} was removed")));
        }
        let n = f.node(p);
        let Op::Param { index, layout } = &n.op else {
            return Err(err(Some(p), format!("parameter {i} is not a param node")));
        };
        if *index != i {
            return Err(err(Some(p), format!("parameter {i} says it is parameter {index}")));
        }
        match &n.name {
            Some(name) if param_names.insert(name.clone()) => {}
            Some(name) => {
                return Err(err(Some(p), format!("parameter name %{name} is used twice")));
            }
            None => return Err(err(Some(p), format!("parameter {i} has no name"))),
        }
        let rank = n.ty.shape.rank();
        match layout {
            Layout::Nhwc if rank != 4 => {
                return Err(err(
                    Some(p),
                    format!("layout nhwc needs rank 4, the type has rank {rank}"),
                ));
            }
            Layout::Strides(s) if s.len() != rank => {
                return Err(err(
                    Some(p),
                    format!("strides= has {} entries for rank {rank}", s.len()),
                ));
            }
            _ => {}
        }
    }

    for id in f.node_ids() {
        let n = f.node(id);
        if let Op::Param { index, .. } = n.op {
            if f.params().get(index) != Some(&id) {
                return Err(err(Some(id), format!("param node {index} is not in the signature")));
            }
            continue;
        }
        for (slot, o) in n.operands().iter().enumerate() {
            if let Operand::Value(v) = o
                && !f.contains(*v)
            {
                return Err(err(Some(id), format!("operand {slot} refers to removed node {v}")));
            }
        }
        let edges: usize = n.value_operands().count();
        let in_edges = f.in_edge_count(id);
        if edges != in_edges {
            return Err(err(
                Some(id),
                format!("{edges} value operands but {in_edges} graph edges"),
            ));
        }
        let declared = matches!(n.op, Op::Const { .. }).then_some(&n.ty);
        match f.infer_type(&n.op, n.operands(), declared) {
            Ok(t) if t == n.ty => {}
            Ok(t) => return Err(err(Some(id), format!("has type {} but the op gives {t}", n.ty))),
            Err(e) => return Err(err(Some(id), e.0)),
        }
    }

    if f.results().is_empty() {
        return Err(err(None, "return lists no value".into()));
    }
    for (i, &r) in f.results().iter().enumerate() {
        if !f.contains(r) {
            return Err(VerifyError {
                func: f.name.clone(),
                node: None,
                span: f.return_span,
                message: format!("result {i} refers to removed node {r}"),
            });
        }
    }
    Ok(())
}
