//! f32 `pow`, inline and vectorized, computed in f64 (see `wide.rs`):
//! `|x|^y = 2^(y·log2|x|)`, with `log2` from the exponent bits and
//! `2·atanh(s)/ln 2`, `s = (m−1)/(m+1)` for the mantissa m in [1, √2)
//! (a series in s² to s^19, relative error < 1e-16), and `2^w` as
//! `2^n · e^((w−n)·ln 2)` (Taylor to degree 12 on |w − n| ≤ ½). In f64 the
//! product `y·log2|x|` carries ~40 bits more than an f32 result needs, so the
//! one rounding to f32 at the end decides the result.
//!
//! C99's special cases (as `f32::powf` has them): `pow(x, ±0) = 1` and
//! `pow(1, y) = 1` even for NaN; `pow(−1, ±inf) = 1`; a negative finite x with
//! a non-integer y gives NaN; x < 0 (−0 and −inf included) with an odd
//! integer y gives the sign of x; zeros and infinities of x and y follow from
//! `log2 0 = −inf`, `log2 inf = inf` and the sign rule.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Value};

use super::lower::Lower;
use super::wide::MAGIC64;

impl Lower<'_> {
    /// x^y for f32 or f32x4 `x`, `y`.
    pub fn pow_f32(&mut self, x: Value, y: Value) -> Value {
        self.in_f64(&[x, y], |lw, a| lw.pow_core(a[0], a[1]))
    }

    fn pow_core(&mut self, x: Value, y: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        let zero = self.dconst(x, 0.0);
        let inf = self.dconst(x, f64::INFINITY);
        let ninf = self.dconst(x, f64::NEG_INFINITY);
        let l = self.log2_64(ax);
        let is0 = self.b.ins().fcmp(FloatCC::Equal, ax, zero);
        let l = self.pick(is0, ninf, l);
        let is_inf = self.b.ins().fcmp(FloatCC::Equal, ax, inf);
        let l = self.pick(is_inf, inf, l);
        let is_nan = self.b.ins().fcmp(FloatCC::Unordered, ax, ax);
        let l = self.pick(is_nan, ax, l);
        let w = self.b.ins().fmul(y, l);
        // Clamped so 2^n stays a normal f64; beyond ±200 the f32 result is
        // 0 or inf anyway. Compares keep a NaN.
        let lo = self.dconst(x, -200.0);
        let hi = self.dconst(x, 200.0);
        let below = self.b.ins().fcmp(FloatCC::LessThan, w, lo);
        let w = self.pick(below, lo, w);
        let above = self.b.ins().fcmp(FloatCC::GreaterThan, w, hi);
        let w = self.pick(above, hi, w);
        let m = self.exp2_64(w);
        // y an integer (±inf counts), and odd.
        let fy = self.b.ins().floor(y);
        let y_int = self.b.ins().fcmp(FloatCC::Equal, fy, y);
        let half = self.dconst(x, 0.5);
        let hy = self.b.ins().fmul(y, half);
        let fhy = self.b.ins().floor(hy);
        let y_half_int = self.b.ins().fcmp(FloatCC::Equal, fhy, hy);
        let y_odd = self.b.ins().band_not(y_int, y_half_int);
        // x's sign bit (−0 included) with an odd y: the result takes it.
        let ity = self.int_of(x);
        let fl = self.bits_flags(x);
        let xbits = self.b.ins().bitcast(ity, fl, x);
        let izero = self.qconst(x, 0);
        let x_signed = self.b.ins().icmp(IntCC::SignedLessThan, xbits, izero);
        let flip = self.b.ins().band(x_signed, y_odd);
        let nm = self.b.ins().fneg(m);
        let r = self.pick(flip, nm, m);
        // A negative finite x with a non-integer y: NaN.
        let x_neg = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
        let x_fin = self.b.ins().fcmp(FloatCC::GreaterThan, x, ninf);
        let bad = self.b.ins().band(x_neg, x_fin);
        let bad = self.b.ins().band_not(bad, y_int);
        let nan = self.dconst(x, f64::NAN);
        let r = self.pick(bad, nan, r);
        // The ones: y = ±0, x = 1, and x = −1 with y = ±inf.
        let one = self.dconst(x, 1.0);
        let y0 = self.b.ins().fcmp(FloatCC::Equal, y, zero);
        let x1 = self.b.ins().fcmp(FloatCC::Equal, x, one);
        let m1 = self.dconst(x, -1.0);
        let xm1 = self.b.ins().fcmp(FloatCC::Equal, x, m1);
        let ay = self.b.ins().fabs(y);
        let y_inf = self.b.ins().fcmp(FloatCC::Equal, ay, inf);
        let xm1 = self.b.ins().band(xm1, y_inf);
        let ones = self.b.ins().bor(y0, x1);
        let ones = self.b.ins().bor(ones, xm1);
        self.pick(ones, one, r)
    }

    /// log2 of a positive, finite, normal f64 (other inputs: garbage that
    /// the caller replaces).
    fn log2_64(&mut self, ax: Value) -> Value {
        let ity = self.int_of(ax);
        let fl = self.bits_flags(ax);
        let bits = self.b.ins().bitcast(ity, fl, ax);
        let e = self.b.ins().ushr_imm(bits, 52);
        let mask = self.qconst(ax, 0x000F_FFFF_FFFF_FFFF);
        let mb = self.b.ins().band(bits, mask);
        let one_bits = self.qconst(ax, 0x3FF0_0000_0000_0000);
        let mb = self.b.ins().bor(mb, one_bits);
        let fty = self.b.func.dfg.value_type(ax);
        let m = self.b.ins().bitcast(fty, fl, mb);
        // e as an f64, by the magic constant (|e| < 2^51), minus the bias.
        let magic = self.qconst(ax, MAGIC64.to_bits() as i64);
        let eb = self.b.ins().iadd(e, magic);
        let ef = self.b.ins().bitcast(fty, fl, eb);
        let bias = self.dconst(ax, MAGIC64 + 1023.0);
        let ef = self.b.ins().fsub(ef, bias);
        // m in [√2, 2): halve it, one more in the exponent.
        let sqrt2 = self.dconst(ax, std::f64::consts::SQRT_2);
        let big = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, m, sqrt2);
        let half = self.dconst(ax, 0.5);
        let mh = self.b.ins().fmul(m, half);
        let m = self.pick(big, mh, m);
        let one = self.dconst(ax, 1.0);
        let z = self.dconst(ax, 0.0);
        let adj = self.pick(big, one, z);
        let ef = self.b.ins().fadd(ef, adj);
        // log2 m = 2/ln2 · (s + s³/3 + s⁵/5 + …), s = (m−1)/(m+1), |s| ≤ 0.172.
        let num = self.b.ins().fsub(m, one);
        let den = self.b.ins().fadd(m, one);
        let s = self.b.ins().fdiv(num, den);
        let s2 = self.b.ins().fmul(s, s);
        let coeffs: Vec<f64> = (0..10).rev().map(|k| 1.0 / f64::from(2 * k + 1)).collect();
        let p = self.horner64(s2, &coeffs);
        let k = self.dconst(ax, 2.0 / std::f64::consts::LN_2);
        let ks = self.b.ins().fmul(s, k);
        self.b.ins().fma(ks, p, ef)
    }

    /// 2^w for w in [−200, 200] (or NaN).
    fn exp2_64(&mut self, w: Value) -> Value {
        let (n, nbits) = self.round64(w);
        let f = self.b.ins().fsub(w, n);
        let ln2 = self.dconst(w, std::f64::consts::LN_2);
        let g = self.b.ins().fmul(f, ln2);
        let mut coeffs = Vec::with_capacity(13);
        let mut fact = 1.0f64;
        for k in 0..=12u32 {
            if k > 0 {
                fact *= f64::from(k);
            }
            coeffs.push(1.0 / fact);
        }
        coeffs.reverse();
        let p = self.horner64(g, &coeffs);
        let s = self.pow2_64(nbits, w);
        self.b.ins().fmul(p, s)
    }
}
