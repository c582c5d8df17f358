//! Normalizations, as tensor-op composites.

use crate::tensor::{Result, Tensor, shape_err};

/// Layer norm over the trailing dims `normalized_shape`:
/// `(x - mean) / sqrt(var + eps) * weight + bias` (biased variance).
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    x.need_float("layer_norm")?;
    if let Some(a) = crate::amp::autocast_args("layer_norm", &[Some(x), weight, bias])? {
        return layer_norm(a.arg(0)?, normalized_shape, a.opt(1), a.opt(2), eps);
    }
    let k = normalized_shape.len();
    if k == 0 || k > x.rank() || &x.shape()[x.rank() - k..] != normalized_shape {
        return Err(shape_err(
            "layer_norm",
            format!("normalized_shape {normalized_shape:?} does not end input {:?}", x.shape()),
        ));
    }
    for (name, p) in [("weight", weight), ("bias", bias)] {
        if let Some(p) = p
            && p.shape() != normalized_shape
        {
            return Err(shape_err(
                "layer_norm",
                format!("{name} {:?} is not normalized_shape {normalized_shape:?}", p.shape()),
            ));
        }
    }
    let dims: Vec<isize> = (x.rank() - k..x.rank()).map(|d| d as isize).collect();
    let mean = x.mean(&dims, true)?;
    let xc = x.sub(&mean)?;
    let var = xc.mul(&xc)?.mean(&dims, true)?;
    let mut y = xc.mul(&var.add(eps)?.rsqrt()?)?;
    if let Some(w) = weight {
        y = y.mul(w)?;
    }
    if let Some(b) = bias {
        y = y.add(b)?;
    }
    Ok(y)
}

/// The shape `[1, C, 1, …]` that broadcasts a per-channel `[C]` tensor over
/// an `[N, C, …]` input.
fn channel_shape(x: &Tensor) -> Vec<isize> {
    let mut s = vec![1isize; x.rank()];
    s[1] = x.shape()[1] as isize;
    s
}

/// What [`batch_norm`] returns: the output and, in training with running
/// statistics given, their updated values (tensors never change in place).
#[derive(Clone, Debug)]
pub struct BatchNormOut {
    /// The normalized input.
    pub output: Tensor,
    /// `(running_mean, running_var)` after this step's momentum update.
    pub running: Option<(Tensor, Tensor)>,
}

/// Batch norm over `[N, C, …]` (`F.batch_norm`). Training normalizes with
/// the batch's mean and biased variance over every dim but C and updates the
/// running statistics as `(1 - momentum) * running + momentum * batch`
/// (unbiased variance); evaluation normalizes with the running statistics.
#[allow(clippy::too_many_arguments)] // PyTorch's signature
pub fn batch_norm(
    x: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<BatchNormOut> {
    x.need_float("batch_norm")?;
    if x.rank() < 2 {
        return Err(shape_err("batch_norm", format!("input {:?} needs a channel dim", x.shape())));
    }
    let c = x.shape()[1];
    for (name, p) in [
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ] {
        if let Some(p) = p
            && p.shape() != [c]
        {
            return Err(shape_err(
                "batch_norm",
                format!(
                    "{name} {:?} does not match the {c} channels of input {:?}",
                    p.shape(),
                    x.shape()
                ),
            ));
        }
    }
    let cs = channel_shape(x);
    let dims: Vec<isize> = (0..x.rank() as isize).filter(|&d| d != 1).collect();
    let (mean, var, running) = if training {
        let n: usize = x.numel() / c.max(1);
        if n <= 1 {
            return Err(shape_err(
                "batch_norm",
                format!("training needs more than one value per channel, input {:?}", x.shape()),
            ));
        }
        let mean = x.mean(&dims, true)?;
        let xc = x.sub(&mean)?;
        let var = xc.mul(&xc)?.mean(&dims, true)?;
        let running = match (running_mean, running_var) {
            (Some(rm), Some(rv)) => {
                let bm = mean.reshape(&[-1])?;
                let bv = var.reshape(&[-1])?.mul(n as f64 / (n as f64 - 1.0))?;
                let m = rm.mul(1.0 - momentum)?.add(&bm.mul(momentum)?)?;
                let v = rv.mul(1.0 - momentum)?.add(&bv.mul(momentum)?)?;
                Some((m, v))
            }
            _ => None,
        };
        (mean, var, running)
    } else {
        let (Some(rm), Some(rv)) = (running_mean, running_var) else {
            return Err(crate::tensor::arg_err(
                "batch_norm",
                "evaluation needs running_mean and running_var",
            ));
        };
        (rm.reshape(&cs)?, rv.reshape(&cs)?, None)
    };
    let mut y = x.sub(&mean)?.mul(&var.add(eps)?.rsqrt()?)?;
    if let Some(w) = weight {
        y = y.mul(&w.reshape(&cs)?)?;
    }
    if let Some(b) = bias {
        y = y.add(&b.reshape(&cs)?)?;
    }
    Ok(BatchNormOut { output: y, running })
}

/// Group norm over `[N, C, …]` (`F.group_norm`): channels split into
/// `groups`, each normalized over its channels and spatial positions, then
/// a per-channel affine.
pub fn group_norm(
    x: &Tensor,
    groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    x.need_float("group_norm")?;
    if let Some(a) = crate::amp::autocast_args("group_norm", &[Some(x), weight, bias])? {
        return group_norm(a.arg(0)?, groups, a.opt(1), a.opt(2), eps);
    }
    if x.rank() < 2 || groups == 0 || x.shape()[1] % groups != 0 {
        return Err(shape_err(
            "group_norm",
            format!("input {:?} does not split into {groups} channel groups", x.shape()),
        ));
    }
    let n = x.shape()[0] as isize;
    let g = x.reshape(&[n, groups as isize, -1])?;
    let mean = g.mean(&[2], true)?;
    let gc = g.sub(&mean)?;
    let var = gc.mul(&gc)?.mean(&[2], true)?;
    let shape: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    let mut y = gc.mul(&var.add(eps)?.rsqrt()?)?.reshape(&shape)?;
    let cs = channel_shape(x);
    for (name, p) in [("weight", weight), ("bias", bias)] {
        if let Some(p) = p {
            if p.shape() != [x.shape()[1]] {
                return Err(shape_err(
                    "group_norm",
                    format!("{name} {:?} does not match input {:?}", p.shape(), x.shape()),
                ));
            }
            let p = p.reshape(&cs)?;
            y = if name == "weight" { y.mul(&p)? } else { y.add(&p)? };
        }
    }
    Ok(y)
}

/// `x / max(‖x‖₂, eps)` along `dim` (`F.normalize` with p = 2).
pub fn normalize(x: &Tensor, dim: isize, eps: f64) -> Result<Tensor> {
    x.need_float("normalize")?;
    let norm = x.mul(x)?.sum(&[dim], true)?.sqrt()?;
    x.div(&norm.maximum(eps)?)
}
