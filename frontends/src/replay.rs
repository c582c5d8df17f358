//! Running a graph op by op: each node becomes a one-node function (its
//! operand types copied from the graph, so symbolic sizes stay symbolic)
//! run through the runtime's backend, as eager dispatch runs ops. Used for
//! graphs holding a kernel the backend cannot compile: only that op then
//! falls back, the others still run compiled.

use std::collections::HashMap;

use smelt_compiler::ir::{Func, Layout, NodeId, Operand};
use smelt_runtime::Tensor;
use smelt_runtime::exec::run_func;

use crate::error::FrontendError;

/// One node as a function, and where its operands come from.
struct Step {
    func: Func,
    /// Value operands: node ids of the graph.
    args: Vec<NodeId>,
    /// The node's id in the graph.
    out: NodeId,
}

/// A graph split into one function per op.
pub(crate) struct OpByOp {
    params: Vec<NodeId>,
    steps: Vec<Step>,
    results: Vec<NodeId>,
}

impl OpByOp {
    /// Splits `g`.
    pub fn new(g: &Func) -> OpByOp {
        let mut steps = Vec::new();
        for id in g.program_order() {
            let node = g.node(id);
            let mut f = Func::new(format!("{}_{}", g.name, node.op.name()));
            let mut args = Vec::new();
            let mut operands = Vec::new();
            for o in node.operands() {
                operands.push(match o {
                    Operand::Value(v) => {
                        let p = f.add_param(
                            format!("a{}", args.len()),
                            g.ty(*v).clone(),
                            Layout::RowMajor,
                        );
                        args.push(*v);
                        Operand::Value(p)
                    }
                    Operand::Lit(s) => Operand::Lit(*s),
                });
            }
            let n = f.add_node(node.op.clone(), operands, node.ty.clone());
            f.set_results(vec![n]);
            steps.push(Step { func: f, args, out: id });
        }
        OpByOp { params: g.params().to_vec(), steps, results: g.results().to_vec() }
    }

    /// Runs the steps on `inputs` (one per parameter of the graph).
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, FrontendError> {
        let mut vals: HashMap<NodeId, Tensor> =
            self.params.iter().copied().zip(inputs.iter().cloned()).collect();
        for s in &self.steps {
            let args: Vec<Tensor> = s.args.iter().map(|a| vals[a].clone()).collect();
            let mut out = run_func(&s.func, &args)?;
            let t = out
                .pop()
                .ok_or_else(|| FrontendError::Input(format!("{} returned nothing", s.func.name)))?;
            vals.insert(s.out, t);
        }
        Ok(self.results.iter().map(|r| vals[r].clone()).collect())
    }
}
