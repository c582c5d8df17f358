//! f32 `sin` and `cos`, inline and vectorized, computed in f64 (see
//! `wide.rs`): `j = round(x·2/π)`, `r = x − j·π/2` with π/2 in two parts
//! (fdlibm's `pio2_1`, 33 bits, and `pio2_1t`), so `j·pio2_1` is exact and
//! the reduction loses nothing for |x| < 2^20; then fdlibm's sine and cosine
//! polynomials on |r| ≤ π/4, the quadrant `j mod 4` choosing between them and
//! the sign; one rounding to f32 at the end. Lanes with |x| ≥ 2^20 (where
//! reduction needs more bits of π) take the exact helper instead, in a
//! branch that well-behaved inputs never enter. ±inf and NaN give NaN,
//! ±0 gives ±0 (sin) and 1 (cos).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Value};

use super::lower::{Lower, LowerErr};

/// Beyond this |x|, the two-part reduction is not exact enough.
const REDUCE_LIMIT: f64 = 1_048_576.0;

impl Lower<'_> {
    /// sin x (`cos == false`) or cos x of an f32 or f32x4 `x`.
    pub fn sincos_f32(&mut self, x: Value, cos: bool) -> Result<Value, LowerErr> {
        let fast = self.in_f64(&[x], |lw, a| lw.sincos_core(a[0], cos));
        // Out-of-range lanes: the helper, in a branch.
        let ax = self.b.ins().fabs(x);
        let lim = self.fconst(x, REDUCE_LIMIT);
        let big = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, ax, lim);
        let inf = self.fconst(x, f64::INFINITY);
        let finite = self.b.ins().fcmp(FloatCC::LessThan, ax, inf);
        let big = self.b.ins().band(big, finite);
        let vec = self.b.func.dfg.value_type(x).is_vector();
        let any = if vec { self.b.ins().vany_true(big) } else { big };
        let slow = self.b.create_block();
        let join = self.b.create_block();
        let ty = self.b.func.dfg.value_type(x);
        let r = self.b.append_block_param(join, ty);
        self.b.ins().brif(any, slow, &[], join, &[fast.into()]);
        // The values computed so far dominate both blocks: keep the memo.
        self.b.switch_to_block(slow);
        let name = if cos { "smelt_cos_f32" } else { "smelt_sin_f32" };
        let exact = self.call(name, &[x])?;
        self.b.ins().jump(join, &[exact.into()]);
        self.b.switch_to_block(join);
        Ok(r)
    }

    /// The f64 core (scalar or f64x2).
    fn sincos_core(&mut self, x: Value, cos: bool) -> Value {
        let two_over_pi = self.dconst(x, std::f64::consts::FRAC_2_PI);
        let t = self.b.ins().fmul(x, two_over_pi);
        let (j, jbits) = self.round64(t);
        let p1 = self.dconst(x, 1.570_796_326_734_125_6);
        let p1t = self.dconst(x, 6.077_100_506_506_192e-11);
        let nj = self.b.ins().fneg(j);
        let r = self.b.ins().fma(nj, p1, x);
        let r = self.b.ins().fma(nj, p1t, r);
        let z = self.b.ins().fmul(r, r);
        // fdlibm __kernel_sin: r + r·z·(S1 + z·(S2 + … + z·S6)).
        let s = self.horner64(
            z,
            &[
                1.589_690_995_211_55e-10,
                -2.505_076_025_340_686_3e-8,
                2.755_731_370_707_006_8e-6,
                -1.984_126_982_985_795e-4,
                8.333_333_333_322_49e-3,
                -1.666_666_666_666_663_2e-1,
            ],
        );
        let rz = self.b.ins().fmul(r, z);
        let sin_r = self.b.ins().fma(rz, s, r);
        // fdlibm __kernel_cos: 1 − z/2 + z²·(C1 + z·(C2 + … + z·C6)).
        let c = self.horner64(
            z,
            &[
                -1.135_964_755_778_819_5e-11,
                2.087_572_321_298_175e-9,
                -2.755_731_435_139_066_3e-7,
                2.480_158_728_947_673e-5,
                -1.388_888_888_887_411e-3,
                4.166_666_666_666_66e-2,
            ],
        );
        let z2 = self.b.ins().fmul(z, z);
        let half = self.dconst(x, -0.5);
        let hz = self.b.ins().fmul(z, half);
        let one = self.dconst(x, 1.0);
        let cos_r = self.b.ins().fadd(one, hz);
        let cos_r = self.b.ins().fma(z2, c, cos_r);
        // Quadrant q = j (+1 for cos) mod 4: odd q swaps to the other
        // polynomial, q ≥ 2 negates.
        let one_i = self.qconst(jbits, 1);
        let q = if cos { self.b.ins().iadd(jbits, one_i) } else { jbits };
        let odd = self.b.ins().band(q, one_i);
        let swap = self.b.ins().icmp(IntCC::Equal, odd, one_i);
        let v = self.pick(swap, cos_r, sin_r);
        let two_i = self.qconst(q, 2);
        let neg = self.b.ins().band(q, two_i);
        let sign = self.b.ins().ishl_imm(neg, 62);
        let ity = self.int_of(x);
        let fl = self.bits_flags(x);
        let vb = self.b.ins().bitcast(ity, fl, v);
        let vb = self.b.ins().bxor(vb, sign);
        let fty = self.b.func.dfg.value_type(x);
        let fl = self.bits_flags(x);
        self.b.ins().bitcast(fty, fl, vb)
    }

    /// Horner in f64 with fused multiply-adds.
    pub(super) fn horner64(&mut self, x: Value, c: &[f64]) -> Value {
        let mut acc = self.dconst(x, c[0]);
        for &k in &c[1..] {
            let kk = self.dconst(x, k);
            acc = self.b.ins().fma(acc, x, kk);
        }
        acc
    }
}
