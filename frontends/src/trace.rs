//! Tracing: run an eager program with a [`Recorder`] that turns every
//! primitive op into an IR node (what functorch's `make_fx` does).
//!
//! Invariants: the program's inputs are the first parameters, in order;
//! tensors an op uses that were neither passed in nor made inside the trace
//! (weights the program captured) become further parameters after them,
//! kept in [`Traced::lifted`], as Dynamo lifts module parameters. Each
//! recorded node's type is the type of the tensor eager produced.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use smelt_compiler::ir::{Func, Layout, NodeId, Op, Operand, Shape, Type, verify};
use smelt_runtime::dispatch::{ArgRef, Recorder, with_recorder};
use smelt_runtime::{Tensor, TensorId};

use crate::error::FrontendError;

/// An eager program as an IR function.
#[derive(Clone, Debug)]
pub struct Traced {
    /// The function: the inputs' parameters, then the lifted ones.
    pub func: Func,
    /// Tensors the program captured rather than took as inputs (weights),
    /// in the order of their trailing parameters.
    pub lifted: Vec<Tensor>,
    /// Ops with no IR form that ran (graph breaks), by name. A function
    /// with breaks treats their results as captured constants, so it is
    /// only a faithful replay of the program when this is empty.
    pub breaks: Vec<String>,
    /// What the program returned while it was traced (eager results).
    pub outputs: Vec<Tensor>,
}

/// The IR type of a tensor.
pub(crate) fn type_of(t: &Tensor) -> Type {
    Type::new(t.dtype(), Shape::of(&t.shape().iter().map(|&d| d as u64).collect::<Vec<_>>()))
}

/// The layout a parameter declares for `t`: `{nhwc}` for a 4-D
/// channels-last tensor (that is not also row-major, as with one channel),
/// so the compiler's layout pass keeps the program channels-last.
pub(crate) fn layout_of(t: &Tensor) -> Layout {
    if t.rank() == 4 && t.is_channels_last() && !t.is_contiguous() {
        Layout::Nhwc
    } else {
        Layout::RowMajor
    }
}

/// The recorder's state while a program runs.
struct State {
    func: Func,
    /// Which node holds each tensor seen so far.
    nodes: HashMap<TensorId, NodeId>,
    lifted: Vec<Tensor>,
    breaks: Vec<String>,
    /// The first op that could not be recorded (tracing fails with it).
    error: Option<FrontendError>,
}

impl State {
    /// The node of `t`: recorded, an input, or lifted now.
    fn node_of(&mut self, t: &Tensor) -> NodeId {
        if let Some(&n) = self.nodes.get(&t.id()) {
            return n;
        }
        let name = format!("w{}", self.lifted.len());
        let n = self.func.add_param(name, type_of(t), layout_of(t));
        self.lifted.push(t.clone());
        self.nodes.insert(t.id(), n);
        n
    }

    fn record(&mut self, op: &Op, args: &[ArgRef<'_>], out: &Tensor) -> Result<(), FrontendError> {
        let operands: Vec<Operand> = args
            .iter()
            .map(|a| match a {
                ArgRef::Tensor(t) => Operand::Value(self.node_of(t)),
                ArgRef::Lit(s) => Operand::Lit(*s),
            })
            .collect();
        let want = type_of(out);
        let node = if matches!(op, Op::Const { .. }) {
            self.func.add_node(op.clone(), operands, want.clone())
        } else {
            self.func.add_inferred(op.clone(), operands).map_err(|e| FrontendError::Trace {
                op: op.name().into(),
                message: format!("{e} (eager result {want})"),
            })?
        };
        let got = self.func.ty(node);
        if *got != want {
            return Err(FrontendError::Trace {
                op: op.name().into(),
                message: format!("the IR type rule gives {got}, eager produced {want}"),
            });
        }
        self.nodes.insert(out.id(), node);
        Ok(())
    }
}

/// The [`Recorder`] of one trace.
struct Tracer(RefCell<State>);

impl Recorder for Tracer {
    fn op(&self, op: &Op, args: &[ArgRef<'_>], out: &Tensor) {
        let mut s = self.0.borrow_mut();
        if s.error.is_some() {
            return;
        }
        if let Err(e) = s.record(op, args, out) {
            s.error = Some(e);
        }
    }

    fn opaque(&self, name: &str, _inputs: &[&Tensor], _outputs: &[&Tensor]) {
        // The outputs stay unknown to the trace: an op that uses them lifts
        // them as captured constants, which is why a break disables replay.
        self.0.borrow_mut().breaks.push(name.to_string());
    }

    fn alias(&self, from: &Tensor, to: &Tensor) {
        let mut s = self.0.borrow_mut();
        if s.error.is_none() {
            let n = s.node_of(from);
            s.nodes.insert(to.id(), n);
        }
    }
}

/// Runs `f` on `inputs` eagerly while recording every op into an IR
/// function whose parameters are `inputs` (then the lifted captures) and
/// whose results are `f`'s outputs. The function verifies.
pub fn trace<F>(f: F, inputs: &[Tensor]) -> Result<Traced, FrontendError>
where
    F: FnOnce(&[Tensor]) -> smelt_runtime::tensor::Result<Vec<Tensor>>,
{
    let mut func = Func::new("traced");
    let mut nodes = HashMap::new();
    for (i, t) in inputs.iter().enumerate() {
        let p = func.add_param(format!("x{i}"), type_of(t), layout_of(t));
        nodes.insert(t.id(), p);
    }
    let state = State { func, nodes, lifted: Vec::new(), breaks: Vec::new(), error: None };
    let tracer = Rc::new(Tracer(RefCell::new(state)));
    let outputs = with_recorder(tracer.clone(), || f(inputs))?;
    let Ok(tracer) = Rc::try_unwrap(tracer) else {
        return Err(FrontendError::Trace {
            op: "trace".into(),
            message: "the program kept the recorder alive".into(),
        });
    };
    let mut s = tracer.0.into_inner();
    if let Some(e) = s.error {
        return Err(e);
    }
    let results: Vec<NodeId> = outputs.iter().map(|t| s.node_of(t)).collect();
    s.func.set_results(results);
    verify(&s.func).map_err(|e| FrontendError::Verify(e.to_string()))?;
    Ok(Traced { func: s.func, lifted: s.lifted, breaks: s.breaks, outputs })
}
