//! Reductions: one per row, accumulated in registers (f32 for f32/f16/bf16,
//! f64 for f64, wrapping i64 for integers; two f32x4 accumulators in vector
//! loops, combined at the end), argmax/argmin as the first index of the
//! extreme (a NaN wins), and `materialize`, which pins a row-level value.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_frontend::Variable;

use super::emit::{Cls, V, cls};
use super::lower::{Acc, Body, Ix, Lower, LowerErr};
use crate::ir::{NodeId, Op, ReduceKind};

impl Lower<'_> {
    /// Emits one reduction of the current row and records its result.
    pub(super) fn reduction(
        &mut self,
        r: NodeId,
        row_ix: &[Ix],
        _cols: (Value, Value),
    ) -> Result<(), LowerErr> {
        let Op::Reduce { kind, .. } = self.f.node(r).op.clone() else {
            return Err(self.unsupported("reduction"));
        };
        let Some(x) = self.f.node(r).value_operands().next() else {
            return Err(self.unsupported(kind.name()));
        };
        let xd = self.f.ty(x).dtype;
        let c = cls(xd);
        if !matches!(c, Cls::F32 | Cls::F64 | Cls::Int) {
            return Err(self.unsupported(format!("{} of {xd}", kind.name())));
        }
        let st = self.layout.st.clone();
        // count = product of the loop dims, for mean and the empty check.
        let mut count = self.iconst(1);
        for &d in &st.loop_dims {
            let s = self.dim(st.domain_node, d);
            count = self.b.ins().imul(count, s);
        }
        if !matches!(kind, ReduceKind::Sum | ReduceKind::Prod | ReduceKind::Mean) {
            let empty = self.b.ins().icmp_imm(IntCC::Equal, count, 0);
            let four = self.iconst(4);
            let zero = self.iconst(0);
            let code = self.b.ins().select(empty, four, zero);
            let e = self.b.use_var(self.err);
            let e = self.b.ins().bor(e, code);
            self.b.def_var(self.err, e);
        }
        let init = self.reduce_init(kind, c);
        let acc_ty = self.b.func.dfg.value_type(init.v);
        let acc = Acc {
            kind,
            cls: c,
            acc: self.new_var(acc_ty),
            idx: self.new_var(types::I64),
            have: self.new_var(types::I8),
        };
        self.b.def_var(acc.acc, init.v);
        let z = self.iconst(0);
        self.b.def_var(acc.idx, z);
        let z8 = self.b.ins().iconst(types::I8, 0);
        self.b.def_var(acc.have, z8);
        let mut ix = row_ix.to_vec();
        self.nest(&mut ix, 0, Body::Reduce(r, acc), None, &[])?;
        if self.layout.scratch.contains(&x) && !self.scratch_ready.contains(&x) {
            self.scratch_ready.push(x);
        }
        let mut v = if kind.is_arg() { self.b.use_var(acc.idx) } else { self.b.use_var(acc.acc) };
        let out_d = self.f.ty(r).dtype;
        if kind == ReduceKind::Mean {
            let ty = self.b.func.dfg.value_type(v);
            let n = self.b.ins().fcvt_from_sint(ty, count);
            v = self.b.ins().fdiv(v, n);
        }
        let mut val = V { v, vec: false, cls: cls(out_d) };
        if out_d.is_int() {
            val = self.wrap_int(out_d, val);
        }
        if self.eager {
            val = self.round_to_dtype(out_d, val)?;
        }
        val.v = self.materialize(val.v);
        self.reduced.insert(r, val);
        Ok(())
    }

    /// Pins `v` at the row loop's level by a store to and a load from a
    /// stack slot. Cranelift's egraph places pure values at the loop depth of
    /// their arguments: a value computed from a reduction loop's result
    /// counts as inside a loop of that depth and was recomputed in every
    /// iteration of the next (sibling) loop — `1/sqrt(var)` per element. A
    /// load is not moved, so what depends on it is computed once per row.
    pub(super) fn materialize(&mut self, v: Value) -> Value {
        use cranelift_codegen::ir::{StackSlotData, StackSlotKind};
        let ty = self.b.func.dfg.value_type(v);
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            ty.bytes(),
            0,
        ));
        self.b.ins().stack_store(v, slot, 0);
        self.b.ins().stack_load(ty, slot, 0)
    }

    /// The identity (or, for arg reductions, the placeholder) of a reduction.
    pub(super) fn reduce_init(&mut self, kind: ReduceKind, c: Cls) -> V {
        let f = match kind {
            ReduceKind::Sum | ReduceKind::Mean | ReduceKind::Argmax | ReduceKind::Argmin => 0.0,
            ReduceKind::Prod => 1.0,
            ReduceKind::Max => f64::NEG_INFINITY,
            ReduceKind::Min => f64::INFINITY,
        };
        let v = match c {
            Cls::F64 => self.b.ins().f64const(f),
            Cls::Int => {
                let i = match kind {
                    ReduceKind::Prod => 1,
                    ReduceKind::Max => i64::MIN,
                    ReduceKind::Min => i64::MAX,
                    _ => 0,
                };
                self.iconst(i)
            }
            _ => self.b.ins().f32const(f as f32),
        };
        V { v, vec: false, cls: c }
    }

    /// `a ⊕ b` for a (non-arg) reduction; scalar or vector alike.
    pub(super) fn combine(&mut self, kind: ReduceKind, a: Value, b: Value) -> Value {
        let int = self.b.func.dfg.value_type(a).is_int();
        let ins = self.b.ins();
        match (kind, int) {
            (ReduceKind::Sum | ReduceKind::Mean, false) => ins.fadd(a, b),
            (ReduceKind::Prod, false) => ins.fmul(a, b),
            (ReduceKind::Max, false) => ins.fmax(a, b),
            (ReduceKind::Min, false) => ins.fmin(a, b),
            (ReduceKind::Sum | ReduceKind::Mean, true) => ins.iadd(a, b),
            (ReduceKind::Prod, true) => ins.imul(a, b),
            (ReduceKind::Max, true) => ins.smax(a, b),
            _ => ins.smin(a, b),
        }
    }

    /// Adds the operand at `ix` to the accumulator (`vacc`: a vector one).
    pub(super) fn accumulate(
        &mut self,
        r: NodeId,
        acc: Acc,
        ix: &[Ix],
        vacc: Option<Variable>,
    ) -> Result<(), LowerErr> {
        let Some(x) = self.f.node(r).value_operands().next() else {
            return Err(self.unsupported("reduction"));
        };
        let mut v = self.eval(x, ix)?;
        self.scratch_keep(x, ix, v)?;
        if acc.kind.is_arg() {
            // The extreme is chosen among values of the operand's dtype.
            v = self.round_to_dtype(self.f.ty(x).dtype, v)?;
        }
        if let Some(va) = vacc {
            let xv = self.widen(v)?;
            let a = self.b.use_var(va);
            let n = self.combine(acc.kind, a, xv);
            self.b.def_var(va, n);
            return Ok(());
        }
        if v.vec {
            return Err(LowerErr::NoVector("a vector value in a scalar reduction".into()));
        }
        if !acc.kind.is_arg() {
            let a = self.b.use_var(acc.acc);
            let n = self.combine(acc.kind, a, v.v);
            self.b.def_var(acc.acc, n);
            return Ok(());
        }
        // argmax/argmin: the first index of the extreme; a NaN wins at once.
        let st = &self.layout.st;
        let d = st.loop_dims[0];
        let here = self.ix_val(ix[d]);
        let best = self.b.use_var(acc.acc);
        let have = self.b.use_var(acc.have);
        let better = match acc.cls {
            Cls::Int => {
                let cc = if acc.kind == ReduceKind::Argmax {
                    IntCC::SignedGreaterThan
                } else {
                    IntCC::SignedLessThan
                };
                self.b.ins().icmp(cc, v.v, best)
            }
            _ => {
                use cranelift_codegen::ir::condcodes::FloatCC;
                let cc = if acc.kind == ReduceKind::Argmax {
                    FloatCC::GreaterThan
                } else {
                    FloatCC::LessThan
                };
                let strict = self.b.ins().fcmp(cc, v.v, best);
                let v_nan = self.b.ins().fcmp(FloatCC::Unordered, v.v, v.v);
                let best_nan = self.b.ins().fcmp(FloatCC::Unordered, best, best);
                let cand = self.b.ins().bor(strict, v_nan);
                let not_best_nan = self.b.ins().bxor_imm(best_nan, 1);
                self.b.ins().band(cand, not_best_nan)
            }
        };
        let fresh = self.b.ins().icmp_imm(IntCC::Equal, have, 0);
        let take = self.b.ins().bor(better, fresh);
        let nb = self.b.ins().select(take, v.v, best);
        let idx = self.b.use_var(acc.idx);
        let ni = self.b.ins().select(take, here, idx);
        let one = self.b.ins().iconst(types::I8, 1);
        self.b.def_var(acc.acc, nb);
        self.b.def_var(acc.idx, ni);
        self.b.def_var(acc.have, one);
        Ok(())
    }
}
