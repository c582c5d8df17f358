//! Backward formulas of the elementwise, reduce and library ops, written
//! with runtime tensor ops (run with grad mode off). Each returns one
//! gradient per operand (`None` for literals, non-float operands and
//! operands no gradient flows to), already reduced over the dims the op
//! broadcast the operand along.

use std::f64::consts::{LN_2, PI};

use smelt_compiler::ir::{Binary, DType, Op, ReduceKind, Unary};

use super::graph::{Saved, SavedArg};
use super::{library, movement};
use crate::tensor::{Result, Rhs, Tensor, arg_err, where_cond};

/// The operand gradients of `op`, given the result's gradient `g`; `needs[i]`
/// says whether operand `i` wants one.
pub(crate) fn backward(
    op: &Op,
    s: &Saved,
    g: &Tensor,
    needs: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    let grads = match op {
        Op::Unary { kind } => vec![unary(*kind, tensor(s, 0)?, &s.out, g)?],
        Op::Binary { kind } => binary(*kind, s, g, needs)?,
        Op::Select => select(s, g, needs)?,
        Op::Cast { .. } => {
            let x = tensor(s, 0)?;
            vec![if x.dtype().is_float() { Some(g.to_dtype(x.dtype())?) } else { None }]
        }
        Op::Reduce { kind, dims, keepdim } => {
            vec![reduce(*kind, dims, *keepdim, tensor(s, 0)?, &s.out, g)?]
        }
        Op::Matmul => matmul(tensor(s, 0)?, tensor(s, 1)?, g, needs)?,
        Op::Reshape { .. }
        | Op::Permute { .. }
        | Op::Broadcast { .. }
        | Op::Slice { .. }
        | Op::Concat { .. }
        | Op::Gather { .. } => movement::backward(op, s, g)?,
        Op::Conv2d(a) => library::conv2d(a, s, g, needs)?,
        Op::MaxPool2d(p) => vec![Some(library::max_pool2d(p, s, g)?)],
        Op::AvgPool2d(p) => vec![Some(library::avg_pool2d(p, s, g)?)],
        Op::Iota { .. } | Op::Const { .. } | Op::Param { .. } => {
            return Err(arg_err(
                "backward",
                format!(
                    "`{}` has no operands to differentiate (result {:?})",
                    op.name(),
                    s.out.shape()
                ),
            ));
        }
    };
    Ok(grads.into_iter().zip(needs).map(|(g, &n)| g.filter(|_| n)).collect())
}

/// Operand `i` as a tensor (an error if it was a literal).
pub(super) fn tensor(s: &Saved, i: usize) -> Result<&Tensor> {
    match s.args.get(i) {
        Some(SavedArg::Tensor(t)) => Ok(t),
        _ => Err(arg_err("backward", format!("operand {i} is not a saved tensor"))),
    }
}

/// Operand `i` as a right-hand side (tensor or literal).
fn rhs(s: &Saved, i: usize) -> Result<Rhs<'_>> {
    match s.args.get(i) {
        Some(SavedArg::Tensor(t)) => Ok(Rhs::Tensor(t)),
        Some(SavedArg::Lit(l)) => Ok(Rhs::Lit(*l)),
        None => Err(arg_err("backward", format!("operand {i} missing"))),
    }
}

/// A bool mask as `dtype` (1 where true).
fn as_float(mask: Tensor, dtype: DType) -> Result<Tensor> {
    mask.to_dtype(dtype)
}

/// `g` summed over the dims along which a tensor of `shape` was broadcast
/// to `g`'s shape (leading dims, and size-1 dims that grew).
pub(crate) fn sum_to(g: Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g);
    }
    let Some(lead) = g.rank().checked_sub(shape.len()) else {
        return Err(arg_err(
            "backward",
            format!("gradient {:?} has fewer dims than its operand {shape:?}", g.shape()),
        ));
    };
    let mut dims: Vec<isize> = (0..lead as isize).collect();
    for (k, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[lead + k] != 1 {
            dims.push((lead + k) as isize);
        }
    }
    let r = if dims.is_empty() { g } else { g.sum(&dims, true)? };
    let target: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
    r.reshape(&target)
}

/// d/dx of a unary op at `x` with result `y`, times `g`.
fn unary(kind: Unary, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
    let d = g.dtype();
    let out = match kind {
        Unary::Neg => g.neg()?,
        Unary::Abs => g.mul(&x.sign()?)?,
        Unary::Exp => g.mul(y)?,
        Unary::Exp2 => g.mul(y)?.mul(LN_2)?,
        Unary::Log => g.div(x)?,
        Unary::Log2 => g.div(&x.mul(LN_2)?)?,
        Unary::Sqrt => g.div(&y.mul(2.0)?)?,
        Unary::Rsqrt => g.mul(&y.mul(y)?.mul(y)?.mul(-0.5)?)?,
        Unary::Recip => g.mul(&y.mul(y)?)?.neg()?,
        Unary::Sin => g.mul(&x.cos()?)?,
        Unary::Cos => g.mul(&x.sin()?)?.neg()?,
        Unary::Tanh => g.mul(&y.mul(y)?.rsub(1.0)?)?,
        Unary::Sigmoid => g.mul(&y.mul(&y.rsub(1.0)?)?)?,
        Unary::Erf => g.mul(&x.mul(x)?.neg()?.exp()?.mul(2.0 / PI.sqrt())?)?,
        Unary::Relu => where_cond(&x.gt(0.0)?, g, 0.0)?,
        Unary::Floor | Unary::Ceil | Unary::Round | Unary::Sign => {
            Tensor::zeros(x.shape(), d)?.to_device(x.device())?
        }
        Unary::Not => return Ok(None),
    };
    Ok(Some(out))
}

/// The weight of operand `x` in `max(x, other)` (or `min`): 1 where it
/// wins, 1/2 on ties (PyTorch splits tied gradients evenly), else 0.
fn winner(kind: Binary, x: &Tensor, other: Rhs<'_>, dtype: DType) -> Result<Tensor> {
    let wins = if kind == Binary::Max { x.gt(other)? } else { x.lt(other)? };
    as_float(wins, dtype)?.add(&as_float(x.eq(other)?, dtype)?.mul(0.5)?)
}

/// Operand gradients of a binary op (broadcast dims summed away).
fn binary(kind: Binary, s: &Saved, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let (a, b) = (rhs(s, 0)?, rhs(s, 1)?);
    let y = &s.out;
    let d = g.dtype();
    let mut out = Vec::with_capacity(2);
    for (i, (me, other)) in [(a, b), (b, a)].into_iter().enumerate() {
        let Rhs::Tensor(x) = me else {
            out.push(None);
            continue;
        };
        if !needs.get(i).copied().unwrap_or(false) || !x.dtype().is_float() {
            out.push(None);
            continue;
        }
        let gi = match (kind, i) {
            (Binary::Add, _) | (Binary::Sub, 0) | (Binary::Rem, 0) => g.clone(),
            (Binary::Sub, _) => g.neg()?,
            (Binary::Mul, _) => g.mul(other)?,
            (Binary::Div, 0) => g.div(other)?,
            // d(a/b)/db = -(a/b)/b
            (Binary::Div, _) => g.mul(y)?.div(x)?.neg()?,
            (Binary::Pow, 0) => {
                // b * a^(b-1); where b == 0 the term is 0 (also at a == 0).
                let bm1 = match other {
                    Rhs::Tensor(t) => x.pow(&t.sub(1.0)?)?.mul(t)?,
                    Rhs::Lit(l) => x.pow(l.as_f64() - 1.0)?.mul(l.as_f64())?,
                };
                let zero_exp = match other {
                    Rhs::Tensor(t) => t.eq(0.0)?,
                    Rhs::Lit(l) => {
                        Tensor::full(&[], DType::Bool, f64::from(u8::from(l.as_f64() == 0.0)))?
                    }
                };
                where_cond(&zero_exp, 0.0, &g.mul(&bm1)?)?
            }
            (Binary::Pow, _) => match other {
                // a^b * ln(a); PyTorch gives 0 where a == 0 and b >= 0.
                Rhs::Lit(l) => g.mul(y)?.mul(l.as_f64().ln())?,
                Rhs::Tensor(base) => {
                    let zero = base.eq(0.0)?.logical_and(&x.ge(0.0)?)?;
                    where_cond(&zero, 0.0, &g.mul(y)?.mul(&base.log()?)?)?
                }
            },
            (Binary::Rem, _) => {
                // fmod(a, b) = a - trunc(a/b) * b
                let q = match other {
                    Rhs::Tensor(t) => t.div(x)?,
                    Rhs::Lit(l) => x.rdiv(l.as_f64())?,
                };
                let trunc = q.abs()?.floor()?.mul(&q.sign()?)?;
                g.mul(&trunc)?.neg()?
            }
            (Binary::Max | Binary::Min, _) => g.mul(&winner(kind, x, other, d)?)?,
            _ => {
                out.push(None);
                continue;
            }
        };
        out.push(Some(sum_to(gi, x.shape())?));
    }
    Ok(out)
}

/// `select(cond, a, b)`: the gradient goes to `a` where `cond`, else to `b`.
fn select(s: &Saved, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let cond = tensor(s, 0)?;
    let mut out = vec![None];
    for i in 1..3 {
        let gi = match s.args.get(i) {
            Some(SavedArg::Tensor(x)) if needs.get(i).copied().unwrap_or(false) => {
                let gi = if i == 1 { where_cond(cond, g, 0.0)? } else { where_cond(cond, 0.0, g)? };
                Some(sum_to(gi, x.shape())?)
            }
            _ => None,
        };
        out.push(gi);
    }
    Ok(out)
}

/// `g` (and the result `y`) with the reduced dims back as size 1.
fn keep(t: &Tensor, dims: &[usize], keepdim: bool) -> Result<Tensor> {
    if keepdim {
        return Ok(t.clone());
    }
    let mut r = t.clone();
    for &d in dims {
        r = r.unsqueeze(d as isize)?;
    }
    Ok(r)
}

/// Gradient of a reduction over `dims` of `x` (result `y`).
fn reduce(
    kind: ReduceKind,
    dims: &[usize],
    keepdim: bool,
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Result<Option<Tensor>> {
    let shape: Vec<usize> = x.shape().to_vec();
    let gk = keep(g, dims, keepdim)?;
    let out = match kind {
        ReduceKind::Sum => gk.broadcast_to(&shape)?,
        ReduceKind::Mean => {
            let n: usize = dims.iter().map(|&d| shape[d]).product();
            gk.div(n.max(1) as f64)?.broadcast_to(&shape)?
        }
        ReduceKind::Max | ReduceKind::Min => {
            // Ties share the gradient evenly (PyTorch's amax/amin).
            let yk = keep(y, dims, keepdim)?;
            let mask = as_float(x.eq(&yk)?, g.dtype())?;
            let idims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
            let count = mask.sum(&idims, true)?;
            gk.div(&count)?.mul(&mask)?
        }
        ReduceKind::Prod => {
            let zeros = x.eq(0.0)?.sum(&[], false)?.item()?;
            if zeros > 0.0 {
                return Err(arg_err(
                    "backward",
                    format!(
                        "the backward of `prod` over an input with zeros is not supported yet (input {:?})",
                        x.shape()
                    ),
                ));
            }
            gk.mul(&keep(y, dims, keepdim)?)?.div(x)?
        }
        ReduceKind::Argmax | ReduceKind::Argmin => return Ok(None),
    };
    Ok(Some(out))
}

/// Gradients of numpy matmul (1-D operands promoted, batch dims broadcast).
fn matmul(a: &Tensor, b: &Tensor, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let a2 = if a.rank() == 1 { a.unsqueeze(0)? } else { a.clone() };
    let b2 = if b.rank() == 1 { b.unsqueeze(1)? } else { b.clone() };
    // The result's gradient with the promoted dims back.
    let mut gs: Vec<usize> = g.shape().to_vec();
    if a.rank() == 1 {
        gs.insert(gs.len() - usize::from(b.rank() != 1), 1);
    }
    if b.rank() == 1 {
        gs.push(1);
    }
    let g2 = g.reshape(&gs.iter().map(|&d| d as isize).collect::<Vec<_>>())?;
    let ga = if needs.first().copied().unwrap_or(false) {
        let r = g2.matmul(&b2.transpose(-1, -2)?)?;
        let r = sum_to(r, a2.shape())?;
        Some(r.reshape(&a.shape().iter().map(|&d| d as isize).collect::<Vec<_>>())?)
    } else {
        None
    };
    let gb = if needs.get(1).copied().unwrap_or(false) {
        let r = a2.transpose(-1, -2)?.matmul(&g2)?;
        let r = sum_to(r, b2.shape())?;
        Some(r.reshape(&b.shape().iter().map(|&d| d as isize).collect::<Vec<_>>())?)
    } else {
        None
    };
    Ok(vec![ga, gb])
}
