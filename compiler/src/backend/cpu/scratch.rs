//! The row scratch: a per-task buffer of f32 rows in which a normalization
//! kernel keeps a reduction's operand (softmax's `exp(x - max)`), written in
//! the pass that reduces it and read back by the later passes over the same
//! row instead of recomputing it. A row is a few KiB, so it stays in L1/L2:
//! the scratch costs no memory traffic, where recomputation costs a
//! transcendental per element per pass.
//!
//! The executor hands each task its own scratch through the second word of
//! the task's status record (`status[1]`); row `k` of it holds the `k`th node
//! of [`KernelLayout::scratch`](super::layout::KernelLayout), indexed by the
//! kernel's single loop dim.

use cranelift_codegen::ir::{InstBuilder, MemFlags, Value, types};

use super::emit::{Cls, V};
use super::lower::{Ix, Lower, LowerErr};
use crate::ir::NodeId;

impl Lower<'_> {
    /// Where `node`'s row-scratch element at `ix` lives, and whether the
    /// access covers the current 4 lanes; `None` if `node` is not kept.
    fn scratch_at(&mut self, node: NodeId, ix: &[Ix]) -> Option<(Value, bool)> {
        let k = self.layout.scratch.iter().position(|&n| n == node)?;
        let base = self.scratch?;
        let st = &self.layout.st;
        let d = st.loop_dims[0];
        let i = ix[d];
        let vec = matches!(i, Ix::Var(v) if Some(v) == self.lane);
        let len = self.dim(st.domain_node, d);
        let row = self.b.ins().imul_imm(len, k as i64);
        let i = self.ix_val(i);
        let at = self.b.ins().iadd(row, i);
        let bytes = self.b.ins().imul_imm(at, 4);
        Some((self.b.ins().iadd(base, bytes), vec))
    }

    /// Keeps `v`, the value of `node` at `ix`, if `node` lives in the scratch.
    pub(super) fn scratch_keep(&mut self, node: NodeId, ix: &[Ix], v: V) -> Result<(), LowerErr> {
        if self.scratch_ready.contains(&node) {
            return Ok(());
        }
        let Some((addr, vec)) = self.scratch_at(node, ix) else { return Ok(()) };
        let x = if vec { self.widen(v)? } else { v.v };
        self.b.ins().store(MemFlags::trusted(), x, addr, 0);
        Ok(())
    }

    /// `node` at `ix` read back from the scratch, once its pass is done.
    pub(super) fn scratch_load(&mut self, node: NodeId, ix: &[Ix]) -> Option<V> {
        if !self.scratch_ready.contains(&node) {
            return None;
        }
        let (addr, vec) = self.scratch_at(node, ix)?;
        let ty = if vec { types::F32X4 } else { types::F32 };
        let v = self.b.ins().load(ty, MemFlags::trusted(), addr, 0);
        Some(V { v, vec, cls: Cls::F32 })
    }
}
