//! f32 values computed in f64: an f32 (or f32x4) is widened to f64 (two
//! f64x2 halves), a core runs in f64, and the result is narrowed once. For
//! `sin`, `cos` and `pow`, whose f32 versions need more than f32 precision
//! inside (argument reduction, `y·log2 x`), this is the simplest way to a
//! result within an ulp of the correctly rounded one, and it costs two f64x2
//! passes per f32x4.
//!
//! Also the f64 building blocks those cores share: constants shaped like a
//! value, the round-to-integer trick, `2^n` from exponent bits.

use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlags, Value, types};

use super::lower::Lower;

/// 1.5·2^52: adding it rounds an f64 of magnitude < 2^51 to an integer,
/// which then sits in the low mantissa bits.
pub(super) const MAGIC64: f64 = 6_755_399_441_055_744.0;

pub(super) fn lanes() -> MemFlags {
    MemFlags::new().with_endianness(Endianness::Little)
}

impl Lower<'_> {
    /// The f64 constant `x` shaped like `like` (f64 or f64x2).
    pub(super) fn dconst(&mut self, like: Value, x: f64) -> Value {
        let c = self.b.ins().f64const(x);
        if self.b.func.dfg.value_type(like).is_vector() {
            self.b.ins().splat(types::F64X2, c)
        } else {
            c
        }
    }

    /// The i64 constant `x` shaped like `like` (one lane or two).
    pub(super) fn qconst(&mut self, like: Value, x: i64) -> Value {
        let c = self.b.ins().iconst(types::I64, x);
        if self.b.func.dfg.value_type(like).is_vector() {
            self.b.ins().splat(types::I64X2, c)
        } else {
            c
        }
    }

    /// The flags a `bitcast` of `like` needs (lane order for vectors only).
    pub(super) fn bits_flags(&self, like: Value) -> MemFlags {
        if self.b.func.dfg.value_type(like).is_vector() { lanes() } else { MemFlags::new() }
    }

    /// The integer type matching f64 `like` (i64 or i64x2).
    pub(super) fn int_of(&self, like: Value) -> cranelift_codegen::ir::Type {
        if self.b.func.dfg.value_type(like).is_vector() { types::I64X2 } else { types::I64 }
    }

    /// `t` (|t| < 2^51) rounded to the nearest integer, as an f64 and as its
    /// bits, whose low bits are the integer in two's complement (the high
    /// bits are the magic's: mask before use).
    pub(super) fn round64(&mut self, t: Value) -> (Value, Value) {
        let magic = self.dconst(t, MAGIC64);
        let biased = self.b.ins().fadd(t, magic);
        let n = self.b.ins().fsub(biased, magic);
        let ity = self.int_of(t);
        let fl = self.bits_flags(t);
        (n, self.b.ins().bitcast(ity, fl, biased))
    }

    /// `2^k` for the integers `k` in [−1022, 1023] held in the low bits of
    /// `kbits` (as [`Lower::round64`] gives them).
    pub(super) fn pow2_64(&mut self, kbits: Value, like: Value) -> Value {
        let magic = self.qconst(kbits, MAGIC64.to_bits() as i64);
        let k = self.b.ins().isub(kbits, magic);
        let bias = self.qconst(kbits, 1023);
        let e = self.b.ins().iadd(k, bias);
        let e = self.b.ins().ishl_imm(e, 52);
        let fty = self.b.func.dfg.value_type(like);
        let fl = self.bits_flags(like);
        self.b.ins().bitcast(fty, fl, e)
    }

    /// Runs `core` on `x` (f32 or f32x4) widened to f64 (f64 or two f64x2)
    /// and narrows the result(s) back.
    pub(super) fn in_f64(
        &mut self,
        args: &[Value],
        core: impl Fn(&mut Self, &[Value]) -> Value,
    ) -> Value {
        if !self.b.func.dfg.value_type(args[0]).is_vector() {
            let wide: Vec<Value> =
                args.iter().map(|&a| self.b.ins().fpromote(types::F64, a)).collect();
            let r = core(self, &wide);
            return self.b.ins().fdemote(types::F32, r);
        }
        let lo: Vec<Value> = args.iter().map(|&a| self.b.ins().fvpromote_low(a)).collect();
        let hi: Vec<Value> = args
            .iter()
            .map(|&a| {
                let bytes = self.b.ins().bitcast(types::I8X16, lanes(), a);
                let up = self.shuffle_bytes(bytes, bytes, [8, 9, 10, 11, 12, 13, 14, 15]);
                let up = self.b.ins().bitcast(types::F32X4, lanes(), up);
                self.b.ins().fvpromote_low(up)
            })
            .collect();
        let rl = core(self, &lo);
        let rh = core(self, &hi);
        let nl = self.b.ins().fvdemote(rl);
        let nh = self.b.ins().fvdemote(rh);
        let bl = self.b.ins().bitcast(types::I8X16, lanes(), nl);
        let bh = self.b.ins().bitcast(types::I8X16, lanes(), nh);
        // Lanes 0–1 of the low half, then lanes 0–1 of the high half.
        let joined = self.shuffle_join(bl, bh, [16, 17, 18, 19, 20, 21, 22, 23]);
        self.b.ins().bitcast(types::F32X4, lanes(), joined)
    }

    /// Bytes `first` of `a` into lanes 0–7, then the same of `b` into 8–15
    /// (byte indices of `shuffle`: 0–15 pick from `a`, 16–31 from `b`).
    fn shuffle_bytes(&mut self, a: Value, b: Value, first: [u8; 8]) -> Value {
        let mut mask = [0u8; 16];
        mask[..8].copy_from_slice(&first);
        mask[8..].copy_from_slice(&first);
        let imm = self.b.func.dfg.immediates.push(mask.to_vec().into());
        self.b.ins().shuffle(a, b, imm)
    }

    /// Bytes 0–7 of `a`, then the bytes `from_b` (indices 16–31) of `b`.
    fn shuffle_join(&mut self, a: Value, b: Value, from_b: [u8; 8]) -> Value {
        let mut mask = [0u8; 16];
        for (i, m) in mask.iter_mut().take(8).enumerate() {
            *m = i as u8;
        }
        mask[8..].copy_from_slice(&from_b);
        let imm = self.b.func.dfg.immediates.push(mask.to_vec().into());
        self.b.ins().shuffle(a, b, imm)
    }
}
