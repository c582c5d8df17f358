//! Elementwise ops: unary, binary (numpy broadcasting), `select`, `cast`,
//! and the conversion of literals and integers to a value of a dtype.
//!
//! Floats compute in f64 and round to the dtype once per op (in
//! [`HostTensor::from_f64`]); integers compute in wrapping i64 and wrap to
//! the dtype's width (in [`HostTensor::from_i64`]). NaN handling is explicit
//! where Rust's std differs from IR.md (`f64::max` drops NaN; ours keeps it).

use std::borrow::Cow;

use super::index::{broadcast_shape, broadcast_strides, view_offsets};
use super::{Arg, InterpError, Result, bad, check_size};
use crate::ir::{Binary, DType, Scalar, Unary};
use crate::numerics::{int_to_float, round_to};
use crate::tensor::{Data, HostTensor};

// ---------------------------------------------------------------- conversions

/// A literal as a rank-0 tensor of dtype `d` (the dtype of the operands it
/// stands beside); it must fit `d` (see [`Scalar::fits`]).
pub(crate) fn literal(op: &'static str, s: Scalar, d: DType) -> Result<HostTensor> {
    let values = scalars(op, &[s], d)?;
    Ok(HostTensor { dtype: d, shape: Vec::new(), data: values })
}

/// Literals as the elements of a tensor of dtype `d`.
pub(crate) fn scalars(op: &'static str, values: &[Scalar], d: DType) -> Result<Data> {
    if let Some(s) = values.iter().find(|s| !s.fits(d)) {
        return Err(bad(op, format!("literal {s} does not fit dtype {d}")));
    }
    let n = values.len();
    Ok(if d.is_float() {
        let v = values
            .iter()
            .map(|s| match *s {
                Scalar::Int(i) => int_to_float(i, d),
                s => round_to(d, s.as_f64()),
            })
            .collect();
        HostTensor::from_f64(d, &[n], v).data
    } else if d.is_int() {
        let v = values
            .iter()
            .map(|s| match *s {
                Scalar::Int(i) => i,
                _ => 0, // refused by `fits` above
            })
            .collect();
        HostTensor::from_i64(d, &[n], v).data
    } else {
        Data::Bool(values.iter().map(|s| matches!(s, Scalar::Bool(true))).collect())
    })
}

// ---------------------------------------------------------------- unary

/// A unary op on a float value, in f64.
fn unary_f(kind: Unary, x: f64) -> f64 {
    match kind {
        Unary::Neg => -x,
        Unary::Abs => x.abs(),
        Unary::Exp => x.exp(),
        Unary::Exp2 => x.exp2(),
        Unary::Log => x.ln(),
        Unary::Log2 => x.log2(),
        Unary::Sqrt => x.sqrt(),
        Unary::Rsqrt => 1.0 / x.sqrt(),
        Unary::Recip => 1.0 / x,
        Unary::Sin => x.sin(),
        Unary::Cos => x.cos(),
        Unary::Tanh => x.tanh(),
        Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Unary::Erf => libm::erf(x),
        Unary::Floor => x.floor(),
        Unary::Ceil => x.ceil(),
        Unary::Round => x.round_ties_even(),
        // ±0 and NaN are their own sign.
        Unary::Sign if x > 0.0 => 1.0,
        Unary::Sign if x < 0.0 => -1.0,
        Unary::Sign => x,
        // NaN > 0 is false, so NaN must be let through by hand.
        Unary::Relu if x > 0.0 || x.is_nan() => x,
        Unary::Relu => 0.0,
        Unary::Not => f64::NAN, // refused for floats by the caller
    }
}

/// A unary op on an integer, or `None` where only floats are accepted.
fn unary_i(kind: Unary, x: i64) -> Option<i64> {
    Some(match kind {
        Unary::Neg => x.wrapping_neg(),
        Unary::Abs => x.wrapping_abs(),
        Unary::Sign => x.signum(),
        Unary::Relu => x.max(0),
        Unary::Floor | Unary::Ceil | Unary::Round => x,
        _ => return None,
    })
}

/// `kind(x)` elementwise.
pub(crate) fn unary(kind: Unary, x: &HostTensor) -> Result<HostTensor> {
    let op = kind.name();
    if !kind.accepts(x.dtype) {
        return Err(bad(op, format!("needs {}, got {}", kind.requirement(), x.dtype)));
    }
    Ok(match &x.data {
        Data::Float(v) => {
            HostTensor::from_f64(x.dtype, &x.shape, v.iter().map(|&a| unary_f(kind, a)).collect())
        }
        Data::Int(v) => {
            let out = v.iter().map(|&a| unary_i(kind, a)).collect::<Option<Vec<_>>>();
            let out = out.ok_or_else(|| bad(op, format!("is not defined on {}", x.dtype)))?;
            HostTensor::from_i64(x.dtype, &x.shape, out)
        }
        Data::Bool(v) => HostTensor::from_bool(&x.shape, v.iter().map(|a| !a).collect()),
    })
}

// ---------------------------------------------------------------- binary

/// IEEE 754-2019 `maximum`: NaN if either is NaN, and +0 above −0.
pub(crate) fn max_f(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b || (a == b && b.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// IEEE 754-2019 `minimum`: NaN if either is NaN, and −0 below +0.
pub(crate) fn min_f(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// An arithmetic binary op on floats, in f64.
fn arith_f(kind: Binary, a: f64, b: f64) -> f64 {
    match kind {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::Rem => a % b, // fmod: the dividend's sign, as C and PyTorch's fmod
        Binary::Pow => a.powf(b),
        Binary::Max => max_f(a, b),
        _ => min_f(a, b),
    }
}

/// `a` to the power `e ≥ 0`, wrapping (square and multiply).
fn wrapping_pow(mut a: i64, mut e: u64) -> i64 {
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

/// An arithmetic binary op on integers, in wrapping i64.
fn arith_i(kind: Binary, a: i64, b: i64) -> Result<i64> {
    let op = kind.name();
    Ok(match kind {
        Binary::Add => a.wrapping_add(b),
        Binary::Sub => a.wrapping_sub(b),
        Binary::Mul => a.wrapping_mul(b),
        Binary::Div | Binary::Rem if b == 0 => return Err(InterpError::DivisionByZero { op }),
        // Truncating toward zero; i64::MIN / -1 wraps.
        Binary::Div => a.wrapping_div(b),
        Binary::Rem => a.wrapping_rem(b),
        Binary::Pow if b < 0 => return Err(InterpError::NegativeExponent { op, exponent: b }),
        Binary::Pow => wrapping_pow(a, b as u64),
        Binary::Max => a.max(b),
        _ => a.min(b),
    })
}

/// A comparison; IEEE on floats (every comparison with NaN is false but `ne`).
fn compare<T: PartialOrd>(kind: Binary, a: T, b: T) -> bool {
    match kind {
        Binary::Eq => a == b,
        Binary::Ne => a != b,
        Binary::Lt => a < b,
        Binary::Le => a <= b,
        Binary::Gt => a > b,
        _ => a >= b,
    }
}

/// The operands as tensors: literals take the dtype of the tensor operands,
/// which must all share one dtype.
fn resolve<'a>(op: &'static str, args: &[&'a Arg<'a>]) -> Result<Vec<Cow<'a, HostTensor>>> {
    let mut dtype = None;
    for a in args {
        if let Arg::Tensor(t) = a {
            match dtype {
                Some(d) if d != t.dtype => {
                    return Err(bad(op, format!("operands have dtypes {d} and {}", t.dtype)));
                }
                _ => dtype = Some(t.dtype),
            }
        }
    }
    let Some(dtype) = dtype else {
        return Err(bad(op, "needs a tensor operand to give its literals a dtype"));
    };
    args.iter()
        .map(|a| match a {
            Arg::Tensor(t) => Ok(Cow::Borrowed(*t)),
            Arg::Lit(s) => literal(op, *s, dtype).map(Cow::Owned),
        })
        .collect()
}

/// The broadcast shape of the operands and, per operand, the flat offsets it
/// is read at for each result element.
fn broadcast_all(op: &'static str, ts: &[&HostTensor]) -> Result<(Vec<usize>, Vec<Vec<usize>>)> {
    let mut shape: Vec<usize> = Vec::new();
    for t in ts {
        shape = broadcast_shape(&shape, &t.shape)
            .ok_or_else(|| bad(op, format!("cannot broadcast {shape:?} with {:?}", t.shape)))?;
    }
    check_size(op, &shape)?;
    let mut offsets = Vec::with_capacity(ts.len());
    for t in ts {
        let strides = broadcast_strides(&t.shape, &shape)
            .ok_or_else(|| bad(op, format!("cannot broadcast {:?} to {shape:?}", t.shape)))?;
        offsets.push(view_offsets(shape.clone(), strides, 0).collect());
    }
    Ok((shape, offsets))
}

/// `kind(a, b)` with numpy broadcasting.
pub(crate) fn binary(kind: Binary, a: &Arg<'_>, b: &Arg<'_>) -> Result<HostTensor> {
    let op = kind.name();
    let ts = resolve(op, &[a, b])?;
    let (a, b) = (ts[0].as_ref(), ts[1].as_ref());
    let dtype = a.dtype;
    if !kind.accepts(dtype) {
        return Err(bad(op, format!("needs {}, got {dtype}", kind.requirement())));
    }
    let (shape, off) = broadcast_all(op, &[a, b])?;
    let pairs = off[0].iter().zip(&off[1]);
    Ok(match (&a.data, &b.data) {
        (Data::Float(x), Data::Float(y)) if kind.is_comparison() => {
            HostTensor::from_bool(&shape, pairs.map(|(&i, &j)| compare(kind, x[i], y[j])).collect())
        }
        (Data::Float(x), Data::Float(y)) => HostTensor::from_f64(
            dtype,
            &shape,
            pairs.map(|(&i, &j)| arith_f(kind, x[i], y[j])).collect(),
        ),
        (Data::Int(x), Data::Int(y)) if kind.is_comparison() => {
            HostTensor::from_bool(&shape, pairs.map(|(&i, &j)| compare(kind, x[i], y[j])).collect())
        }
        (Data::Int(x), Data::Int(y)) => {
            let v = pairs.map(|(&i, &j)| arith_i(kind, x[i], y[j])).collect::<Result<_>>()?;
            HostTensor::from_i64(dtype, &shape, v)
        }
        (Data::Bool(x), Data::Bool(y)) => {
            let f = |p: bool, q: bool| match kind {
                Binary::And => p && q,
                Binary::Or => p || q,
                Binary::Eq => p == q,
                _ => p != q, // `ne`: the only other op `accepts` lets through
            };
            HostTensor::from_bool(&shape, pairs.map(|(&i, &j)| f(x[i], y[j])).collect())
        }
        _ => return Err(bad(op, "operands hold different kinds of data")),
    })
}

// ---------------------------------------------------------------- select, cast

/// `select(cond, a, b)`: `a` where `cond`, else `b`, broadcasting all three.
pub(crate) fn select(cond: &Arg<'_>, a: &Arg<'_>, b: &Arg<'_>) -> Result<HostTensor> {
    let op = "select";
    let cond = match cond {
        Arg::Tensor(t) => Cow::Borrowed(*t),
        Arg::Lit(s) => Cow::Owned(literal(op, *s, DType::Bool)?),
    };
    if cond.dtype != DType::Bool {
        return Err(bad(op, format!("condition must be bool, got {}", cond.dtype)));
    }
    let ts = resolve(op, &[a, b])?;
    let (a, b) = (ts[0].as_ref(), ts[1].as_ref());
    let (shape, off) = broadcast_all(op, &[cond.as_ref(), a, b])?;
    let Data::Bool(c) = &cond.data else {
        return Err(bad(op, "condition holds no bools"));
    };
    Ok(match (&a.data, &b.data) {
        (Data::Float(x), Data::Float(y)) => {
            HostTensor::from_f64(a.dtype, &shape, pick(c, x, y, &off))
        }
        (Data::Int(x), Data::Int(y)) => HostTensor::from_i64(a.dtype, &shape, pick(c, x, y, &off)),
        (Data::Bool(x), Data::Bool(y)) => HostTensor::from_bool(&shape, pick(c, x, y, &off)),
        _ => return Err(bad(op, "operands hold different kinds of data")),
    })
}

/// `c ? x : y` per result element, reading each operand at its offsets.
fn pick<T: Copy>(c: &[bool], x: &[T], y: &[T], off: &[Vec<usize>]) -> Vec<T> {
    (0..off[0].len()).map(|i| if c[off[0][i]] { x[off[1][i]] } else { y[off[2][i]] }).collect()
}

/// A float truncated toward zero to integer dtype `to`, saturating, NaN → 0
/// (Rust's `as`).
fn float_to_int(x: f64, to: DType) -> i64 {
    match to {
        DType::I32 => i64::from(x as i32),
        DType::I8 => i64::from(x as i8),
        DType::U8 => i64::from(x as u8),
        _ => x as i64,
    }
}

/// `cast(x) to=to`.
pub(crate) fn cast(x: &HostTensor, to: DType) -> HostTensor {
    let shape = &x.shape;
    match &x.data {
        Data::Float(v) if to.is_float() => HostTensor::from_f64(to, shape, v.clone()),
        Data::Float(v) if to.is_int() => {
            HostTensor::from_i64(to, shape, v.iter().map(|&a| float_to_int(a, to)).collect())
        }
        // NaN != 0: NaN casts to true, as in C and PyTorch.
        Data::Float(v) => HostTensor::from_bool(shape, v.iter().map(|&a| a != 0.0).collect()),
        Data::Int(v) if to.is_float() => {
            HostTensor::from_f64(to, shape, v.iter().map(|&a| int_to_float(a, to)).collect())
        }
        Data::Int(v) if to.is_int() => HostTensor::from_i64(to, shape, v.clone()),
        Data::Int(v) => HostTensor::from_bool(shape, v.iter().map(|&a| a != 0).collect()),
        Data::Bool(v) if to.is_float() => {
            HostTensor::from_f64(to, shape, v.iter().map(|&a| f64::from(u8::from(a))).collect())
        }
        Data::Bool(v) if to.is_int() => {
            HostTensor::from_i64(to, shape, v.iter().map(|&a| i64::from(a)).collect())
        }
        Data::Bool(v) => HostTensor::from_bool(shape, v.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_once_to_narrow_floats() {
        // 2^24 + 1 is a tie in f32: to even (2^24).
        assert_eq!(int_to_float((1 << 24) + 1, DType::F32), 16_777_216.0);
        assert_eq!(int_to_float((1 << 24) + 3, DType::F32), 16_777_220.0);
        // bf16 has 8 significant bits: 257 is a tie → 256, 259 → 260.
        assert_eq!(int_to_float(257, DType::BF16), 256.0);
        assert_eq!(int_to_float(259, DType::BF16), 260.0);
        assert_eq!(int_to_float(-259, DType::BF16), -260.0);
        // f16: 65519 → 65504, 65520 is a tie with the next binade → inf.
        assert_eq!(int_to_float(65519, DType::F16), 65504.0);
        assert_eq!(int_to_float(65520, DType::F16), f64::INFINITY);
        assert_eq!(int_to_float(i64::MIN, DType::BF16), -(2f64.powi(63)));
        // A value where f64-then-bf16 rounds twice: 2^60 + 2^52 + 1 is just
        // above a bf16 tie, but f64 rounds it onto the tie (then to even).
        let v = (1i64 << 60) + (1 << 52) + 1;
        assert_eq!(int_to_float(v, DType::BF16), 2f64.powi(60) + 2f64.powi(53));
        assert_eq!(round_to(DType::BF16, v as f64), 2f64.powi(60));
    }

    #[test]
    fn max_and_min_order_zeros_and_keep_nan() {
        assert!(max_f(f64::NAN, 1.0).is_nan() && max_f(1.0, f64::NAN).is_nan());
        assert!(min_f(f64::NAN, 1.0).is_nan() && min_f(1.0, f64::NAN).is_nan());
        assert!(max_f(-0.0, 0.0).is_sign_positive() && max_f(0.0, -0.0).is_sign_positive());
        assert!(min_f(-0.0, 0.0).is_sign_negative() && min_f(0.0, -0.0).is_sign_negative());
        assert_eq!(wrapping_pow(3, 4), 81);
        assert_eq!(wrapping_pow(2, 64), 0);
        assert_eq!(wrapping_pow(-1, u64::MAX), -1);
    }
}
