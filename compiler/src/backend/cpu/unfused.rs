//! The eager baseline plan: every instruction its own kernel
//! (`--fusion off`), with the kind and schedule the planner would give a
//! group of that one op.

use crate::ir::{Func, NodeId, Op, OpClass};
use crate::plan::{KernelKind, KernelPlan, Plan, PlanError, Schedule};

/// A plan with one kernel per instruction, in program order.
pub fn unfused_plan(f: &Func) -> Result<Plan, PlanError> {
    crate::ir::verify(f)?;
    let mut kernels = Vec::new();
    for (i, n) in f.program_order().into_iter().enumerate() {
        let node = f.node(n);
        let mut inputs: Vec<NodeId> = Vec::new();
        for v in node.value_operands() {
            if !inputs.contains(&v) {
                inputs.push(v);
            }
        }
        let (kind, schedule) = match &node.op {
            Op::Reduce { dims, .. } => {
                let x = inputs.first().map(|&x| f.ty(x).shape.clone()).unwrap_or_default();
                (KernelKind::Reduction, Schedule::reducing(x, dims.clone(), 1))
            }
            Op::Permute { dims } if dims.iter().enumerate().any(|(i, &d)| i != d) => {
                let mut s = Schedule::rows(node.ty.shape.clone());
                s.permutation = Some(dims.clone());
                (KernelKind::Transpose, s)
            }
            op if op.class() == OpClass::Library => {
                (KernelKind::Library, Schedule::rows(node.ty.shape.clone()))
            }
            _ => (KernelKind::Pointwise, Schedule::rows(node.ty.shape.clone())),
        };
        kernels.push(KernelPlan {
            name: format!("k{i}"),
            kind,
            nodes: vec![n],
            inputs,
            outputs: vec![n],
            schedule,
        });
    }
    let plan = Plan { func: f.name.clone(), kernels };
    plan.check(f).map_err(|message| PlanError::Internal { func: f.name.clone(), message })?;
    Ok(plan)
}
