//! PyTorch's type promotion. Dtypes fall in categories bool < integer <
//! float; two dtypes promote to the smallest dtype of the higher category
//! that holds both. Operands come in three tiers: tensors with dims,
//! zero-dim tensors, and Rust literals; a lower tier raises the result only
//! when its category is higher (so `f16_tensor * 2.5` stays f16, and
//! `i32_tensor + 1.5` is f32, the default float dtype).
//!
//! smelt has no i16: i8 with u8 promotes to i32.

use smelt_compiler::ir::{DType, Scalar};

/// 0 bool, 1 integer, 2 float.
fn category(d: DType) -> u8 {
    if d == DType::Bool {
        0
    } else if d.is_int() {
        1
    } else {
        2
    }
}

/// The dtype both `a` and `b` convert to (`torch.promote_types`).
pub fn promote_types(a: DType, b: DType) -> DType {
    use DType::*;
    if a == b {
        return a;
    }
    let (ca, cb) = (category(a), category(b));
    if ca != cb {
        return if ca > cb { a } else { b };
    }
    match (a, b) {
        (F16, BF16) | (BF16, F16) => F32,
        (x, y) if x.is_float() => {
            // F64 > F32 > F16/BF16 (the mixed pair handled above).
            let rank = |d: DType| match d {
                F64 => 3,
                F32 => 2,
                _ => 1,
            };
            if rank(x) >= rank(y) { x } else { y }
        }
        (I8, U8) | (U8, I8) => I32,
        (x, y) => {
            let rank = |d: DType| match d {
                I64 => 4,
                I32 => 3,
                I8 | U8 => 1,
                _ => 0,
            };
            if rank(x) >= rank(y) { x } else { y }
        }
    }
}

/// The dtype a literal stands for on its own (PyTorch's defaults).
fn literal_dtype(s: Scalar) -> DType {
    match s {
        Scalar::Bool(_) => DType::Bool,
        Scalar::Int(_) => DType::I64,
        Scalar::Float(_) => DType::F32,
    }
}

/// One operand for [`result_type`].
#[derive(Clone, Copy, Debug)]
pub enum Operand {
    /// A tensor with this dtype and rank.
    Tensor(DType, usize),
    /// A Rust literal.
    Lit(Scalar),
}

/// The dtype an op on these operands computes in (`torch.result_type`).
pub fn result_type(ops: &[Operand]) -> DType {
    let mut tiers: [Option<DType>; 3] = [None; 3];
    for o in ops {
        let (tier, d) = match *o {
            Operand::Tensor(d, rank) if rank > 0 => (0, d),
            Operand::Tensor(d, _) => (1, d),
            Operand::Lit(s) => (2, literal_dtype(s)),
        };
        tiers[tier] = Some(match tiers[tier] {
            Some(t) => promote_types(t, d),
            None => d,
        });
    }
    let mut out: Option<DType> = None;
    for t in tiers.into_iter().flatten() {
        out = Some(match out {
            None => t,
            Some(o) if category(t) > category(o) => promote_types(o, t),
            Some(o) => o,
        });
    }
    out.unwrap_or(DType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;

    #[test]
    fn promotion_follows_pytorch() {
        assert_eq!(promote_types(F16, BF16), F32);
        assert_eq!(promote_types(I32, F16), F16);
        assert_eq!(promote_types(U8, I8), I32);
        assert_eq!(promote_types(Bool, U8), U8);
        assert_eq!(promote_types(F32, F64), F64);
        let t = |d, r| Operand::Tensor(d, r);
        assert_eq!(result_type(&[t(F16, 1), Operand::Lit(Scalar::Float(2.5))]), F16);
        assert_eq!(result_type(&[t(I32, 1), Operand::Lit(Scalar::Float(2.5))]), F32);
        assert_eq!(result_type(&[t(I8, 1), Operand::Lit(Scalar::Int(1000))]), I8);
        assert_eq!(result_type(&[t(F32, 1), t(F64, 0)]), F32);
        assert_eq!(result_type(&[t(I64, 1), t(F64, 0)]), F64);
        assert_eq!(result_type(&[t(Bool, 2), Operand::Lit(Scalar::Int(1))]), I64);
    }
}
