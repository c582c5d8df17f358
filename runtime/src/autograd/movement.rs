//! Backward formulas of the movement ops: reshape (reshape back), permute
//! (the inverse permutation), broadcast (sum over the broadcast dims),
//! slice (the gradient placed among zeros with concats, steps interleaved
//! with zeros), concat (slices), gather (a scatter-add written as a one-hot
//! matmul, so it stays in IR ops).

use smelt_compiler::ir::{DType, Op};

use super::formulas::{sum_to, tensor};
use super::graph::{Saved, SavedArg};
use crate::tensor::{Result, Tensor, arg_err};

/// `shape` as the signed dims that view ops take.
fn signed(shape: &[usize]) -> Vec<isize> {
    shape.iter().map(|&d| d as isize).collect()
}

/// The operand gradients of a movement op.
pub(crate) fn backward(op: &Op, s: &Saved, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    Ok(match op {
        Op::Reshape { .. } => vec![Some(g.reshape(&signed(tensor(s, 0)?.shape()))?)],
        Op::Permute { dims } => {
            let mut inv = vec![0isize; dims.len()];
            for (i, &d) in dims.iter().enumerate() {
                inv[d] = i as isize;
            }
            vec![Some(g.permute(&inv)?)]
        }
        Op::Broadcast { .. } => vec![Some(sum_to(g.clone(), tensor(s, 0)?.shape())?)],
        Op::Slice { starts, steps, .. } => {
            vec![Some(unslice(g, tensor(s, 0)?.shape(), starts, steps)?)]
        }
        Op::Concat { axis } => {
            let mut off = 0;
            let mut out = Vec::with_capacity(s.args.len());
            for a in &s.args {
                let SavedArg::Tensor(t) = a else {
                    return Err(arg_err("backward", "concat operand is not a tensor"));
                };
                let n = t.shape()[*axis];
                out.push(Some(g.narrow(*axis as isize, off, n)?));
                off += n;
            }
            out
        }
        Op::Gather { axis } => {
            vec![Some(scatter_add(g, tensor(s, 0)?, tensor(s, 1)?, *axis)?), None]
        }
        _ => return Err(arg_err("backward", format!("`{}` is not a movement op", op.name()))),
    })
}

/// Zeros of `shape` with dim `dim` set to `n`, in `like`'s dtype.
fn zeros_like_dim(like: &Tensor, dim: usize, n: usize) -> Result<Tensor> {
    let mut shape = like.shape().to_vec();
    shape[dim] = n;
    Tensor::zeros(&shape, like.dtype())?.to_device(like.device())
}

/// The gradient of `x[starts::steps]` (per dim) for an `x` of `shape`.
pub(crate) fn unslice(
    g: &Tensor,
    shape: &[usize],
    starts: &[u64],
    steps: &[u64],
) -> Result<Tensor> {
    let mut cur = g.clone();
    for (k, &size) in shape.iter().enumerate() {
        let n = cur.shape()[k];
        let start = (starts.get(k).copied().unwrap_or(0) as usize).min(size);
        let step = steps.get(k).copied().unwrap_or(1).max(1) as usize;
        if start == 0 && n == size && (step == 1 || n <= 1) {
            continue;
        }
        if step > 1 && n > 1 {
            // Interleave: [.., n, ..] -> [.., n, step, ..] (zeros after each
            // element) -> [.., n*step, ..], then cut the trailing zeros.
            let col = cur.unsqueeze(k as isize + 1)?;
            let pad = zeros_like_dim(&col, k + 1, step - 1)?;
            let wide = Tensor::cat(&[&col, &pad], k as isize + 1)?;
            let mut merged = cur.shape().to_vec();
            merged[k] = n * step;
            cur = wide.reshape(&signed(&merged))?.narrow(k as isize, 0, (n - 1) * step + 1)?;
        }
        let covered = cur.shape()[k];
        let after = size.saturating_sub(start + covered);
        let mut parts: Vec<Tensor> = Vec::with_capacity(3);
        if start > 0 {
            parts.push(zeros_like_dim(&cur, k, start)?);
        }
        parts.push(cur.clone());
        if after > 0 {
            parts.push(zeros_like_dim(&cur, k, after)?);
        }
        if parts.len() > 1 {
            let refs: Vec<&Tensor> = parts.iter().collect();
            cur = Tensor::cat(&refs, k as isize)?;
        }
    }
    Ok(cur)
}

/// The gradient of numpy `take(x, idx, axis)`: each gradient element added
/// into the row it was taken from, as `g @ one_hot(idx)` (so repeated
/// indices sum).
fn scatter_add(g: &Tensor, x: &Tensor, idx: &Tensor, axis: usize) -> Result<Tensor> {
    let shape = x.shape();
    let n = shape[axis];
    let pre: usize = shape[..axis].iter().product();
    let post: usize = shape[axis + 1..].iter().product();
    let k = idx.numel();
    let gp = g.reshape(&[pre as isize, k as isize, post as isize])?.permute(&[0, 2, 1])?;
    let rows = Tensor::arange(0.0, n as f64, 1.0, DType::I64)?.to_device(idx.device())?;
    let one_hot = idx
        .to_dtype(DType::I64)?
        .reshape(&[k as isize, 1])?
        .eq(&rows.reshape(&[1, n as isize])?)?
        .to_dtype(g.dtype())?;
    gp.matmul(&one_hot)?.permute(&[0, 2, 1])?.reshape(&signed(shape))
}
