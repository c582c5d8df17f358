//! Math the kernels need beyond plain instructions: the `extern "C"`
//! helpers a kernel may call (registered by name in the JIT module), and the
//! exact integer → narrow-float rounding shared with the interpreter's rule.
//!
//! Which ops are helper calls and which are inline CLIF is listed in
//! `emit.rs`; the helpers compute in f64 and round once, so each is within
//! 1 ulp of the correctly rounded f32 result.

use crate::ir::DType;
use crate::numerics::{int_to_float, round_to};

macro_rules! f32_via_f64 {
    ($($name:ident => $e:expr;)*) => {$(
        extern "C" fn $name(x: f32) -> f32 {
            let f: fn(f64) -> f64 = $e;
            f(f64::from(x)) as f32
        }
    )*};
}

macro_rules! f64_fn {
    ($($name:ident => $e:expr;)*) => {$(
        extern "C" fn $name(x: f64) -> f64 {
            let f: fn(f64) -> f64 = $e;
            f(x)
        }
    )*};
}

f32_via_f64! {
    smelt_exp_f32 => f64::exp;
    smelt_exp2_f32 => f64::exp2;
    smelt_log_f32 => f64::ln;
    smelt_log2_f32 => f64::log2;
    smelt_sin_f32 => f64::sin;
    smelt_cos_f32 => f64::cos;
    smelt_tanh_f32 => f64::tanh;
    smelt_erf_f32 => libm::erf;
}

f64_fn! {
    smelt_exp_f64 => f64::exp;
    smelt_exp2_f64 => f64::exp2;
    smelt_log_f64 => f64::ln;
    smelt_log2_f64 => f64::log2;
    smelt_sin_f64 => f64::sin;
    smelt_cos_f64 => f64::cos;
    smelt_tanh_f64 => f64::tanh;
    smelt_erf_f64 => libm::erf;
}

extern "C" fn smelt_pow_f32(a: f32, b: f32) -> f32 {
    f64::from(a).powf(f64::from(b)) as f32
}
extern "C" fn smelt_pow_f64(a: f64, b: f64) -> f64 {
    a.powf(b)
}
extern "C" fn smelt_fmod_f32(a: f32, b: f32) -> f32 {
    a % b
}
extern "C" fn smelt_fmod_f64(a: f64, b: f64) -> f64 {
    a % b
}
/// `a^e` for `e ≥ 0`, wrapping (the caller flags negative exponents).
extern "C" fn smelt_ipow(mut a: i64, e: i64) -> i64 {
    let mut e = e.max(0) as u64;
    let mut acc: i64 = 1;
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wrapping_mul(a);
        }
        a = a.wrapping_mul(a);
        e >>= 1;
    }
    acc
}
/// f16 bits (low 16 bits of the argument) → f32.
extern "C" fn smelt_f16_to_f32(bits: u32) -> f32 {
    half::f16::from_bits(bits as u16).to_f32()
}
/// f32 → f16 bits, round to nearest even.
extern "C" fn smelt_f32_to_f16(x: f32) -> u32 {
    u32::from(half::f16::from_f32(x).to_bits())
}
/// f32 rounded to the nearest f16, as f32.
extern "C" fn smelt_round_f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}
/// f64 rounded once to the nearest bf16, as f32.
extern "C" fn smelt_f64_to_bf16(x: f64) -> f32 {
    round_to(DType::BF16, x) as f32
}
/// f64 rounded once to the nearest f16, as f32.
extern "C" fn smelt_f64_to_f16(x: f64) -> f32 {
    round_to(DType::F16, x) as f32
}
extern "C" fn smelt_i64_to_bf16(v: i64) -> f32 {
    int_to_float(v, DType::BF16) as f32
}
extern "C" fn smelt_i64_to_f16(v: i64) -> f32 {
    int_to_float(v, DType::F16) as f32
}

/// The argument and result kinds of a helper, for its CLIF signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sig {
    /// f32 → f32.
    F32F32,
    /// (f32, f32) → f32.
    F32x2F32,
    /// f64 → f64.
    F64F64,
    /// (f64, f64) → f64.
    F64x2F64,
    /// (i64, i64) → i64.
    I64x2I64,
    /// i32 → f32.
    I32F32,
    /// f32 → i32.
    F32I32,
    /// f64 → f32.
    F64F32,
    /// i64 → f32.
    I64F32,
}

/// Every helper: name, address, signature.
pub(crate) fn helpers() -> Vec<(&'static str, *const u8, Sig)> {
    use Sig::*;
    vec![
        ("smelt_exp_f32", smelt_exp_f32 as *const u8, F32F32),
        ("smelt_exp2_f32", smelt_exp2_f32 as *const u8, F32F32),
        ("smelt_log_f32", smelt_log_f32 as *const u8, F32F32),
        ("smelt_log2_f32", smelt_log2_f32 as *const u8, F32F32),
        ("smelt_sin_f32", smelt_sin_f32 as *const u8, F32F32),
        ("smelt_cos_f32", smelt_cos_f32 as *const u8, F32F32),
        ("smelt_tanh_f32", smelt_tanh_f32 as *const u8, F32F32),
        ("smelt_erf_f32", smelt_erf_f32 as *const u8, F32F32),
        ("smelt_exp_f64", smelt_exp_f64 as *const u8, F64F64),
        ("smelt_exp2_f64", smelt_exp2_f64 as *const u8, F64F64),
        ("smelt_log_f64", smelt_log_f64 as *const u8, F64F64),
        ("smelt_log2_f64", smelt_log2_f64 as *const u8, F64F64),
        ("smelt_sin_f64", smelt_sin_f64 as *const u8, F64F64),
        ("smelt_cos_f64", smelt_cos_f64 as *const u8, F64F64),
        ("smelt_tanh_f64", smelt_tanh_f64 as *const u8, F64F64),
        ("smelt_erf_f64", smelt_erf_f64 as *const u8, F64F64),
        ("smelt_pow_f32", smelt_pow_f32 as *const u8, F32x2F32),
        ("smelt_pow_f64", smelt_pow_f64 as *const u8, F64x2F64),
        ("smelt_fmod_f32", smelt_fmod_f32 as *const u8, F32x2F32),
        ("smelt_fmod_f64", smelt_fmod_f64 as *const u8, F64x2F64),
        ("smelt_ipow", smelt_ipow as *const u8, I64x2I64),
        ("smelt_f16_to_f32", smelt_f16_to_f32 as *const u8, I32F32),
        ("smelt_f32_to_f16", smelt_f32_to_f16 as *const u8, F32I32),
        ("smelt_round_f16", smelt_round_f16 as *const u8, F32F32),
        ("smelt_f64_to_bf16", smelt_f64_to_bf16 as *const u8, F64F32),
        ("smelt_f64_to_f16", smelt_f64_to_f16 as *const u8, F64F32),
        ("smelt_i64_to_bf16", smelt_i64_to_bf16 as *const u8, I64F32),
        ("smelt_i64_to_f16", smelt_i64_to_f16 as *const u8, I64F32),
    ]
}

/// The signature of a helper by name.
pub(crate) fn helper_sig(name: &str) -> Option<Sig> {
    helpers().into_iter().find(|h| h.0 == name).map(|h| h.2)
}
