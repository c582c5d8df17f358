//! Rounding to the narrow float dtypes, shared by the interpreter, the .npy
//! reader and (later) the backends, so that every part agrees bit for bit.
//!
//! bf16 follows ../shared/AMP.md: from f32, NaN becomes 0x7FC0 and everything
//! else rounds to nearest even with `(u + 0x7FFF + ((u >> 16) & 1)) >> 16`
//! (no flush to zero). From f64 the interpreter rounds once, directly, to
//! nearest even: the correctly rounded value the f32 rule approximates.

use crate::ir::DType;

/// f32 → bf16 bits, exactly AMP.md's rule.
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    if x.is_nan() {
        return 0x7FC0;
    }
    let u = x.to_bits();
    ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) as u16
}

/// bf16 bits → f32 (exact).
pub fn bf16_bits_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// Rounds an f64 to the nearest bf16 (ties to even), returned as f64.
pub fn round_bf16(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    f64::from(half::bf16::from_f64(x))
}

/// Rounds an f64 to the nearest f16 (ties to even, overflow to ±inf), as f64.
pub fn round_f16(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    f64::from(half::f16::from_f64(x))
}

/// Rounds an f64 to the value of float dtype `d` nearest to it, kept as f64.
/// Non-float dtypes are returned unchanged.
pub fn round_to(d: DType, x: f64) -> f64 {
    match d {
        DType::F32 => f64::from(x as f32),
        DType::F16 => round_f16(x),
        DType::BF16 => round_bf16(x),
        _ => x,
    }
}

/// An integer as the nearest value of float dtype `d` (ties to even), rounded
/// once: going through f64 first would round twice for large i64.
pub fn int_to_float(v: i64, d: DType) -> f64 {
    let bits = match d {
        DType::F64 => 53,
        DType::F32 => 24,
        DType::F16 => 11,
        DType::BF16 => 8,
        _ => return v as f64,
    };
    let mag = v.unsigned_abs();
    let len = 64 - mag.leading_zeros();
    let rounded = if len <= bits {
        mag as f64 // exact: at most 53 significant bits
    } else {
        let shift = len - bits;
        let q = mag >> shift;
        let r = mag & ((1u64 << shift) - 1);
        let half = 1u64 << (shift - 1);
        let q = if r > half || (r == half && q & 1 == 1) { q + 1 } else { q };
        // q has at most `bits + 1` significant bits: exact in f64.
        q as f64 * 2f64.powi(shift as i32)
    };
    let x = if v < 0 { -rounded } else { rounded };
    // Exact now, except an f16 overflow, which rounds to ±inf as IEEE says.
    round_to(d, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_matches_the_amp_examples() {
        let one_p = |k: i32| 1.0f32 + 2f32.powi(k);
        assert_eq!(f32_to_bf16_bits(one_p(-8)), 0x3F80); // tie → even (1.0)
        assert_eq!(f32_to_bf16_bits(1.0 + 3.0 * 2f32.powi(-8)), 0x3F82); // 1.015625
        assert_eq!(f32_to_bf16_bits(0.1), 0x3DCD);
        assert_eq!(bf16_bits_to_f32(f32_to_bf16_bits(65504.0)), 65536.0);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x7F7F_FFFF)), 0x7F80);
        assert_eq!(f32_to_bf16_bits(1e-40), 0x0001);
        assert_eq!(f32_to_bf16_bits(f32::NAN), 0x7FC0);
        assert_eq!(f32_to_bf16_bits(-0.0), 0x8000);
    }

    #[test]
    fn f64_rounding_agrees_with_the_f32_rule_on_f32_values() {
        let mut x = 1.0e-38f32;
        while x < 1.0e38 {
            for v in [x, -x, x * 1.0000001] {
                let via_rule = f64::from(bf16_bits_to_f32(f32_to_bf16_bits(v)));
                assert_eq!(round_bf16(f64::from(v)), via_rule, "{v:e}");
            }
            x *= 1.37;
        }
        assert_eq!(round_f16(65520.0), f64::INFINITY);
        assert_eq!(round_f16(1.0 + 2f64.powi(-11)), 1.0);
    }
}
