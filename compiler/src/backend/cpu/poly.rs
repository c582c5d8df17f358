//! Inline f32 transcendentals (scalar or f32x4 alike): `exp`, `exp2`,
//! `sigmoid`, `tanh`, `erf`, `log`, `log2`. Accuracy is measured over whole
//! input ranges by `compiler/tests/cpu_numerics.rs`.
//!
//! - exp: Cephes' expf: `n = round(x·log2 e)` (by adding 1.5·2^23), a Cody–Waite reduction, a
//!   degree-7 polynomial, then `2^n` built in the exponent bits as two
//!   factors (so results down to the denormals and up to overflow are right);
//! - exp2: the same core with `n = round(x)`;
//! - sigmoid: `1/(1 + e)` or `e/(1 + e)` with `e = exp(−|x|)`;
//! - tanh: Cephes' odd polynomial below |x| = 0.625, `1 − 2/(exp(2|x|)+1)`
//!   above, with x's sign;
//! - erf: its Taylor series (to x^13) below |x| = 0.5, Abramowitz–Stegun
//!   7.1.26 (absolute error 1.5e-7) above, with x's sign;
//! - log: Cephes' logf: `x = 2^e·m` with m in [√½, √2) by integer bit ops
//!   (denormals first scaled by 2^23), `f = m − 1`, `log m = f − f²/2 +
//!   f³·P(f)` (degree 8), plus `e·ln2` in two parts (Cody–Waite); x < 0 and
//!   NaN give NaN, ±0 gives −inf, +inf gives +inf;
//! - log2: the same `f` and `f²` terms, each times log2 e, plus `e`.
//!
//! Over every positive f32 (checked exhaustively once), log is within 1 ulp
//! and log2 within 2 ulp of the correctly rounded result.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlags, Value, types};

use super::lower::Lower;

impl Lower<'_> {
    fn fc(&mut self, like: Value, x: f64) -> Value {
        self.fconst(like, x)
    }

    /// `((c[0]·x + c[1])·x + …)`: Horner, one fused multiply-add a step.
    /// `fma` is what every x86-64 since 2013 (and every AArch64) has; the
    /// CLIF is the same on every host (no host-dependent snapshots), and a
    /// host without FMA still computes the fused result (Cranelift then
    /// calls `fmaf`), just slower.
    fn horner(&mut self, x: Value, c: &[f64]) -> Value {
        let mut acc = self.fc(x, c[0]);
        for &k in &c[1..] {
            let kk = self.fc(x, k);
            acc = self.b.ins().fma(acc, x, kk);
        }
        acc
    }

    /// Rounds `t` (|t| < 2^22) to the nearest integer with the 1.5·2^23
    /// trick: returns it as a float and as the integer in the low bits.
    fn round_magic(&mut self, t: Value) -> (Value, Value) {
        let fty = self.b.func.dfg.value_type(t);
        let vec = fty.is_vector();
        let ity = if vec { types::I32X4 } else { types::I32 };
        let fl =
            if vec { MemFlags::new().with_endianness(Endianness::Little) } else { MemFlags::new() };
        let magic = self.fc(t, 12_582_912.0);
        let biased = self.b.ins().fadd(t, magic);
        let n = self.b.ins().fsub(biased, magic);
        let bits = self.b.ins().bitcast(ity, fl, biased);
        let m = self.b.ins().iconst(types::I32, 0x4B40_0000);
        let m = if vec { self.b.ins().splat(types::I32X4, m) } else { m };
        (n, self.b.ins().isub(bits, m))
    }

    /// `p · 2^ni` for an i32 (vector) `ni` in [−150, 128], as two factors
    /// so that each stays a normal float.
    fn scale(&mut self, p: Value, ni: Value) -> Value {
        let fty = self.b.func.dfg.value_type(p);
        let vec = fty.is_vector();
        let fl =
            if vec { MemFlags::new().with_endianness(Endianness::Little) } else { MemFlags::new() };
        let one = self.b.ins().iconst(types::I32, 1);
        let n1 = self.b.ins().sshr(ni, one);
        let n2 = self.b.ins().isub(ni, n1);
        let bias = self.b.ins().iconst(types::I32, 127);
        let bias = if vec { self.b.ins().splat(types::I32X4, bias) } else { bias };
        let sh = self.b.ins().iconst(types::I32, 23);
        let mut r = p;
        for k in [n1, n2] {
            let e = self.b.ins().iadd(k, bias);
            let e = self.b.ins().ishl(e, sh);
            let s = self.b.ins().bitcast(fty, fl, e);
            r = self.b.ins().fmul(r, s);
        }
        r
    }

    /// `m` (≥ 0) with the sign of `x`, in integer ops (x64 has no vector copysign).
    fn with_sign_of(&mut self, m: Value, x: Value) -> Value {
        let fty = self.b.func.dfg.value_type(m);
        let vec = fty.is_vector();
        let ity = if vec { types::I32X4 } else { types::I32 };
        let fl =
            if vec { MemFlags::new().with_endianness(Endianness::Little) } else { MemFlags::new() };
        let mi = self.b.ins().bitcast(ity, fl, m);
        let xi = self.b.ins().bitcast(ity, fl, x);
        let sign = self.b.ins().iconst(types::I32, i64::from(i32::MIN));
        let sign = if vec { self.b.ins().splat(types::I32X4, sign) } else { sign };
        let s = self.b.ins().band(xi, sign);
        let r = self.b.ins().bor(mi, s);
        self.b.ins().bitcast(fty, fl, r)
    }

    /// e^r·2^ni for |r| ≤ ln2/2 and an i32 `ni`.
    fn exp_core(&mut self, r: Value, ni: Value) -> Value {
        let p = self.horner(
            r,
            &[
                1.987_569_150_0e-4,
                1.398_199_950_7e-3,
                8.333_451_907_3e-3,
                4.166_579_589_4e-2,
                1.666_666_545_9e-1,
                5.000_000_120_1e-1,
            ],
        );
        let r2 = self.b.ins().fmul(r, r);
        let p = self.b.ins().fma(p, r2, r);
        let one = self.fc(r, 1.0);
        let p = self.b.ins().fadd(p, one);
        self.scale(p, ni)
    }

    /// `x` clamped to [lo, hi] with compares and selects (NaN stays NaN);
    /// cheaper than `fmax`/`fmin`, whose ±0/NaN rules cost ~8 x64 instructions.
    fn clamp(&mut self, x: Value, lo: f64, hi: f64) -> Value {
        let l = self.fc(x, lo);
        let h = self.fc(x, hi);
        let below = self.b.ins().fcmp(FloatCC::LessThan, x, l);
        let x = self.pick(below, l, x);
        let above = self.b.ins().fcmp(FloatCC::GreaterThan, x, h);
        self.pick(above, h, x)
    }

    /// e^x.
    pub fn exp_f32(&mut self, x: Value) -> Value {
        let x = self.clamp(x, -104.0, 89.0);
        let log2e = self.fc(x, std::f64::consts::LOG2_E);
        let t = self.b.ins().fmul(x, log2e);
        let (n, ni) = self.round_magic(t);
        let c1 = self.fc(x, 0.693_359_375);
        let c2 = self.fc(x, -2.121_944_4e-4);
        let a = self.b.ins().fmul(n, c1);
        let r = self.b.ins().fsub(x, a);
        let b = self.b.ins().fmul(n, c2);
        let r = self.b.ins().fsub(r, b);
        self.exp_core(r, ni)
    }

    /// 2^x.
    pub fn exp2_f32(&mut self, x: Value) -> Value {
        let x = self.clamp(x, -151.0, 129.0);
        let (n, ni) = self.round_magic(x);
        let f = self.b.ins().fsub(x, n);
        let ln2 = self.fc(x, std::f64::consts::LN_2);
        let r = self.b.ins().fmul(f, ln2);
        self.exp_core(r, ni)
    }

    /// 1 / (1 + e^−x), as `e/(1+e)` with `e = e^x` for x < 0 (no overflow,
    /// and full relative accuracy down to the denormals).
    pub fn sigmoid_f32(&mut self, x: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        let n = self.b.ins().fneg(ax);
        let e = self.exp_f32(n);
        let one = self.fc(x, 1.0);
        let d = self.b.ins().fadd(one, e);
        let s = self.b.ins().fdiv(one, d);
        let es = self.b.ins().fdiv(e, d);
        let zero = self.fc(x, 0.0);
        let neg = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
        self.pick(neg, es, s)
    }

    /// tanh x.
    pub fn tanh_f32(&mut self, x: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        let z = self.b.ins().fmul(x, x);
        let p = self.horner(
            z,
            &[
                -5.704_988_727_45e-3,
                2.063_908_879_54e-2,
                -5.373_971_555_31e-2,
                1.333_144_220_36e-1,
                -3.333_328_194_22e-1,
            ],
        );
        let p = self.b.ins().fmul(p, z);
        let p = self.b.ins().fmul(p, x);
        let small = self.b.ins().fadd(p, x);
        let two = self.fc(x, 2.0);
        let ax2 = self.b.ins().fmul(ax, two);
        let e = self.exp_f32(ax2);
        let one = self.fc(x, 1.0);
        let d = self.b.ins().fadd(e, one);
        let q = self.b.ins().fdiv(two, d);
        let big = self.b.ins().fsub(one, q);
        let big = self.with_sign_of(big, x);
        let lim = self.fc(x, 0.625);
        let is_small = self.b.ins().fcmp(FloatCC::LessThan, ax, lim);
        self.pick(is_small, small, big)
    }

    /// erf x.
    pub fn erf_f32(&mut self, x: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        // Taylor: 2/√π · (x − x³/3 + x⁵/10 − x⁷/42 + x⁹/216 − x¹¹/1320 + x¹³/9360).
        let k = std::f64::consts::FRAC_2_SQRT_PI;
        let z = self.b.ins().fmul(x, x);
        let t =
            self.horner(z, &[k / 9360.0, -k / 1320.0, k / 216.0, -k / 42.0, k / 10.0, -k / 3.0, k]);
        let small = self.b.ins().fmul(t, x);
        // A&S 7.1.26 on |x|.
        let p = self.fc(x, 0.327_591_1);
        let one = self.fc(x, 1.0);
        let px = self.b.ins().fmul(p, ax);
        let d = self.b.ins().fadd(one, px);
        let t = self.b.ins().fdiv(one, d);
        let poly = self.horner(
            t,
            &[1.061_405_429, -1.453_152_027, 1.421_413_741, -0.284_496_736, 0.254_829_592, 0.0],
        );
        let nz = self.b.ins().fneg(z);
        let e = self.exp_f32(nz);
        let pe = self.b.ins().fmul(poly, e);
        let big = self.b.ins().fsub(one, pe);
        let big = self.with_sign_of(big, x);
        let lim = self.fc(x, 0.5);
        let is_small = self.b.ins().fcmp(FloatCC::LessThan, ax, lim);
        self.pick(is_small, small, big)
    }

    /// An i32 constant shaped like `like` (i32 or i32x4).
    fn iconst_like(&mut self, like: Value, v: i64) -> Value {
        let c = self.b.ins().iconst(types::I32, v);
        if self.b.func.dfg.value_type(like).is_vector() {
            self.b.ins().splat(types::I32X4, c)
        } else {
            c
        }
    }

    /// `x = 2^e·(1 + f)` with 1 + f in [√½, √2): returns `(e as a float, f,
    /// log(1 + f) − f)`, for x > 0 (denormals included); other x give
    /// garbage, which the callers replace.
    fn log_core(&mut self, x: Value) -> (Value, Value, Value) {
        let fty = self.b.func.dfg.value_type(x);
        let vec = fty.is_vector();
        let ity = if vec { types::I32X4 } else { types::I32 };
        let fl =
            if vec { MemFlags::new().with_endianness(Endianness::Little) } else { MemFlags::new() };
        // Denormals: scale by 2^23 into the normals, and take 23 off e.
        let tiny = self.fc(x, f64::from(f32::MIN_POSITIVE));
        let small = self.b.ins().fcmp(FloatCC::LessThan, x, tiny);
        let k = self.fc(x, 8_388_608.0);
        let xs = self.b.ins().fmul(x, k);
        let xs = self.pick(small, xs, x);
        let d23 = self.fc(x, 23.0);
        let d0 = self.fc(x, 0.0);
        let adj = self.pick(small, d23, d0);
        // Bits minus √½'s: the exponent of x/√½ in the top, the mantissa
        // re-based onto √½ in the low 23 bits.
        let bits = self.b.ins().bitcast(ity, fl, xs);
        let sqrt_half = self.iconst_like(bits, 0x3F35_04F3);
        let ix = self.b.ins().isub(bits, sqrt_half);
        let sh = self.b.ins().iconst(types::I32, 23);
        let ei = self.b.ins().sshr(ix, sh);
        let mask = self.iconst_like(bits, 0x007F_FFFF);
        let mb = self.b.ins().band(ix, mask);
        let mb = self.b.ins().iadd(mb, sqrt_half);
        let m = self.b.ins().bitcast(fty, fl, mb);
        let e = self.b.ins().fcvt_from_sint(fty, ei);
        let e = self.b.ins().fsub(e, adj);
        let one = self.fc(x, 1.0);
        let f = self.b.ins().fsub(m, one);
        let p = self.horner(
            f,
            &[
                7.037_683_629_2e-2,
                -1.151_461_031_0e-1,
                1.167_699_874_0e-1,
                -1.242_014_084_6e-1,
                1.424_932_278_7e-1,
                -1.666_805_766_5e-1,
                2.000_071_476_5e-1,
                -2.499_999_399_3e-1,
                3.333_333_117_4e-1,
            ],
        );
        let z = self.b.ins().fmul(f, f);
        let p = self.b.ins().fmul(p, f);
        let p = self.b.ins().fmul(p, z);
        let half = self.fc(x, 0.5);
        let hz = self.b.ins().fmul(z, half);
        let y = self.b.ins().fsub(p, hz);
        (e, f, y)
    }

    /// `r` with the special values of a logarithm of `x`: x < 0 or NaN →
    /// NaN, ±0 → −inf, +inf → +inf.
    fn log_special(&mut self, x: Value, r: Value) -> Value {
        let inf = self.fc(x, f64::INFINITY);
        let is_inf = self.b.ins().fcmp(FloatCC::Equal, x, inf);
        let r = self.pick(is_inf, inf, r);
        let zero = self.fc(x, 0.0);
        let ninf = self.fc(x, f64::NEG_INFINITY);
        let is_zero = self.b.ins().fcmp(FloatCC::Equal, x, zero);
        let r = self.pick(is_zero, ninf, r);
        let nan = self.fc(x, f64::NAN);
        let bad = self.b.ins().fcmp(FloatCC::UnorderedOrLessThan, x, zero);
        self.pick(bad, nan, r)
    }

    /// ln x.
    pub fn log_f32(&mut self, x: Value) -> Value {
        let (e, f, y) = self.log_core(x);
        let c2 = self.fc(x, -2.121_944_4e-4);
        let b = self.b.ins().fmul(e, c2);
        let y = self.b.ins().fadd(y, b);
        let r = self.b.ins().fadd(f, y);
        let c1 = self.fc(x, 0.693_359_375);
        let a = self.b.ins().fmul(e, c1);
        let r = self.b.ins().fadd(r, a);
        self.log_special(x, r)
    }

    /// log2 x.
    pub fn log2_f32(&mut self, x: Value) -> Value {
        let (e, f, y) = self.log_core(x);
        let l = self.fc(x, std::f64::consts::LOG2_E);
        let a = self.b.ins().fmul(f, l);
        let b = self.b.ins().fmul(y, l);
        let s = self.b.ins().fadd(a, b);
        let r = self.b.ins().fadd(s, e);
        self.log_special(x, r)
    }
}
