//! Loads and stores of every dtype, scalar and as 4 lanes, and the bf16
//! rounding done in integer ops (bit-exact with `numerics::f32_to_bf16_bits`,
//! NaN → 0x7FC0).
//!
//! Addresses: a node's buffer base plus `Σ ix[k] · stride[k]` elements. A
//! 4-lane access needs the lane index in the innermost position (stride 1).

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlags, Value, types};

use super::emit::{Cls, V, cls};
use super::lower::{Ix, Lower, LowerErr};
use crate::ir::{DType, NodeId};

fn flags() -> MemFlags {
    MemFlags::new().with_notrap()
}

fn le() -> MemFlags {
    MemFlags::new().with_endianness(Endianness::Little)
}

impl Lower<'_> {
    /// Whether an access at `ix` is 4 lanes wide (`Err` if the lane index
    /// sits where lanes are not contiguous).
    fn lanes_at(&self, node: NodeId, ix: &[Ix]) -> Result<bool, LowerErr> {
        let Some(l) = self.lane else { return Ok(false) };
        let dims = self.f.ty(node).shape.dims();
        match ix.iter().position(|&i| i == Ix::Var(l)) {
            None => Ok(false),
            Some(p) if p + 1 == ix.len() => Ok(true),
            // Only size-1 dims after the lane's (a per-channel `[C, 1, 1]`
            // read by a channels-last kernel): its stride is 1 all the same.
            Some(p) if dims.len() == ix.len() && dims[p + 1..].iter().all(|d| d.is_one()) => {
                Ok(true)
            }
            Some(_) => Err(LowerErr::NoVector("lane index in a strided dim".into())),
        }
    }

    /// `base + (Σ ix[k]·stride[k])·size`, built as the row's address (every
    /// dim but the last) plus the last index times the size: the row part
    /// depends on no inner-loop value, so Cranelift hoists it out of the
    /// inner loop and the loop body keeps one add per access.
    fn address(&mut self, node: NodeId, ix: &[Ix], result: bool) -> Value {
        let size = self.f.ty(node).dtype.size_bytes() as i64;
        let base = if result { self.outs[&node] } else { self.bufs[&node] };
        let Some((&last, outer)) = ix.split_last() else { return base };
        let mut row = base;
        if outer.iter().any(|i| matches!(i, Ix::Var(_))) {
            let lin = self.linearize(node, outer);
            let bytes = self.b.ins().imul_imm(lin, size);
            row = self.b.ins().iadd(base, bytes);
        }
        match last {
            Ix::Zero => row,
            Ix::Var(v) => {
                let bytes = self.b.ins().imul_imm(v, size);
                self.b.ins().iadd(row, bytes)
            }
        }
    }

    /// Loads `node` (a parameter or a const table) at `ix`.
    pub fn load(&mut self, node: NodeId, ix: &[Ix]) -> Result<V, LowerErr> {
        let d = self.f.ty(node).dtype;
        let vec = self.lanes_at(node, ix)?;
        let addr = self.address(node, ix, false);
        let fl = flags();
        let ins = &mut self.b;
        let v = match (d, vec) {
            (DType::F32, false) => ins.ins().load(types::F32, fl, addr, 0),
            (DType::F32, true) => ins.ins().load(types::F32X4, fl, addr, 0),
            (DType::BF16, false) => {
                let w = ins.ins().uload16(types::I32, fl, addr, 0);
                let w = ins.ins().ishl_imm(w, 16);
                ins.ins().bitcast(types::F32, MemFlags::new(), w)
            }
            (DType::BF16, true) => {
                let w = ins.ins().uload16x4(fl, addr, 0);
                let sixteen = ins.ins().iconst(types::I32, 16);
                let w = ins.ins().ishl(w, sixteen);
                ins.ins().bitcast(types::F32X4, le(), w)
            }
            (DType::F16, false) => {
                let w = ins.ins().uload16(types::I32, fl, addr, 0);
                self.call("smelt_f16_to_f32", &[w])?
            }
            (DType::F64, false) => ins.ins().load(types::F64, fl, addr, 0),
            (DType::I64, false) => ins.ins().load(types::I64, fl, addr, 0),
            (DType::I32, false) => ins.ins().sload32(fl, addr, 0),
            (DType::I8, false) => ins.ins().sload8(types::I64, fl, addr, 0),
            (DType::U8, false) => ins.ins().uload8(types::I64, fl, addr, 0),
            (DType::Bool, false) => ins.ins().load(types::I8, fl, addr, 0),
            (d, true) => return Err(LowerErr::NoVector(format!("{d} lanes"))),
        };
        Ok(V { v, vec, cls: cls(d) })
    }

    /// Stores `v` as result `node` at `ix` (rounding to the node's dtype).
    pub fn store(&mut self, node: NodeId, ix: &[Ix], v: V) -> Result<(), LowerErr> {
        let d = self.f.ty(node).dtype;
        let vec = self.lanes_at(node, ix)?;
        if v.vec && !vec {
            return Err(LowerErr::NoVector("lanes stored at one element".into()));
        }
        let x = if vec { self.widen(v)? } else { v.v };
        let addr = self.address(node, ix, true);
        let fl = flags();
        match (d, vec) {
            (DType::F32 | DType::F64 | DType::I64, _) => {
                self.b.ins().store(fl, x, addr, 0);
            }
            (DType::BF16, false) => {
                let bits = self.bf16_bits_high(x);
                let bits = self.b.ins().ushr_imm(bits, 16);
                self.b.ins().istore16(fl, bits, addr, 0);
            }
            (DType::BF16, true) => {
                let bits = self.bf16_bits_high(x);
                let sixteen = self.b.ins().iconst(types::I32, 16);
                let bits = self.b.ins().ushr(bits, sixteen);
                let narrow = self.b.ins().unarrow(bits, bits);
                let wide = self.b.ins().bitcast(types::I64X2, le(), narrow);
                let lo = self.b.ins().extractlane(wide, 0);
                self.b.ins().store(fl, lo, addr, 0);
            }
            (DType::F16, false) => {
                let bits = self.call("smelt_f32_to_f16", &[x])?;
                self.b.ins().istore16(fl, bits, addr, 0);
            }
            (DType::I32, false) => {
                self.b.ins().istore32(fl, x, addr, 0);
            }
            (DType::I8 | DType::U8, false) => {
                self.b.ins().istore8(fl, x, addr, 0);
            }
            (DType::Bool, false) => {
                debug_assert_eq!(v.cls, Cls::Bool);
                self.b.ins().store(fl, x, addr, 0);
            }
            (d, true) => return Err(LowerErr::NoVector(format!("{d} lanes"))),
        }
        Ok(())
    }

    /// An f32 (or f32x4) rounded to the nearest bf16, as f32: AMP.md's
    /// `(u + 0x7FFF + ((u >> 16) & 1))` with the low half cleared, NaN → 0x7FC0.
    pub fn round_bf16(&mut self, x: Value) -> Value {
        let fty = self.b.func.dfg.value_type(x);
        let vec = fty.is_vector();
        let fl = if vec { le() } else { MemFlags::new() };
        let t = self.bf16_bits_high(x);
        let mask = self.b.ins().iconst(types::I32, 0xFFFF_0000u32 as i32 as i64);
        let mask = if vec { self.b.ins().splat(types::I32X4, mask) } else { mask };
        let t = self.b.ins().band(t, mask);
        self.b.ins().bitcast(fty, fl, t)
    }

    /// The rounded bf16 bits of an f32 (or f32x4) in the high half of each
    /// i32 lane, the low half left as garbage: what a store shifts down.
    fn bf16_bits_high(&mut self, x: Value) -> Value {
        let fty = self.b.func.dfg.value_type(x);
        let vec = fty.is_vector();
        let ity = if vec { types::I32X4 } else { types::I32 };
        let fl = if vec { le() } else { MemFlags::new() };
        let c = |lw: &mut Self, k: i64| {
            let s = lw.b.ins().iconst(types::I32, k);
            if vec { lw.b.ins().splat(types::I32X4, s) } else { s }
        };
        let u = self.b.ins().bitcast(ity, fl, x);
        let sixteen = self.b.ins().iconst(types::I32, 16);
        let hi = self.b.ins().ushr(u, sixteen);
        let one = c(self, 1);
        let lsb = self.b.ins().band(hi, one);
        let bias = c(self, 0x7FFF);
        let t = self.b.ins().iadd(u, bias);
        let t = self.b.ins().iadd(t, lsb);
        let qnan = c(self, 0x7FC0_0000);
        let nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
        self.pick(nan, qnan, t)
    }
}
