//! Library ops: matmul (numpy semantics: batched, broadcast batch dims, 1-D
//! operands promoted), run by the backend's library kernels through the
//! same one-node dispatch as every other op.

use smelt_compiler::ir::Op;

use super::promote::{Operand, result_type};
use super::{Result, Tensor, shape_err};
use crate::dispatch::{ArgRef, apply};

impl Tensor {
    /// Matrix product (`torch.matmul`), after type promotion.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        if let Some(a) = crate::amp::autocast_args("matmul", &[Some(self), Some(other)])? {
            return a.arg(0)?.matmul(a.arg(1)?);
        }
        let (a, b) = (self.shape(), other.shape());
        if a.is_empty() || b.is_empty() {
            return Err(shape_err(
                "matmul",
                format!("both operands need a dim, got {a:?} and {b:?}"),
            ));
        }
        let ka = a[a.len() - 1];
        let kb = if b.len() == 1 { b[0] } else { b[b.len() - 2] };
        if ka != kb {
            return Err(shape_err(
                "matmul",
                format!("shapes {a:?} and {b:?} cannot be multiplied ({ka} vs {kb})"),
            ));
        }
        let ba = &a[..a.len().saturating_sub(2)];
        let bb = &b[..b.len().saturating_sub(2)];
        if super::elementwise::broadcast(ba, bb).is_none() {
            return Err(shape_err(
                "matmul",
                format!("batch dims of {a:?} and {b:?} do not broadcast"),
            ));
        }
        let dt = result_type(&[
            Operand::Tensor(self.dtype(), self.rank()),
            Operand::Tensor(other.dtype(), other.rank()),
        ]);
        let (x, y) = (self.to_dtype(dt)?, other.to_dtype(dt)?);
        apply(Op::Matmul, &[ArgRef::Tensor(&x), ArgRef::Tensor(&y)])
    }
}
