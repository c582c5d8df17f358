//! Losses: cross entropy and mean squared error, as tensor-op composites.

use super::log_softmax;
use crate::tensor::{Result, Tensor, dtype_err, shape_err};

/// How a loss combines its per-element values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Per-element losses.
    None,
    /// Their mean (PyTorch's default).
    #[default]
    Mean,
    /// Their sum.
    Sum,
}

fn reduce(x: Tensor, r: Reduction) -> Result<Tensor> {
    match r {
        Reduction::None => Ok(x),
        Reduction::Mean => x.mean(&[], false),
        Reduction::Sum => x.sum(&[], false),
    }
}

/// Cross entropy of logits `input` (`[N, C, …]` or `[C]`) against class
/// indices (integer `[N, …]` or `[]`) or class probabilities (float, the
/// input's shape): `-log_softmax(input)[target]` per element.
pub fn cross_entropy(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    if let Some(a) = crate::amp::autocast_args("cross_entropy", &[Some(input), Some(target)])? {
        return cross_entropy(a.arg(0)?, a.arg(1)?, reduction);
    }
    input.need_float("cross_entropy")?;
    let cdim: isize = if input.rank() == 1 { 0 } else { 1 };
    let logp = log_softmax(input, cdim)?;
    let per = if target.dtype().is_float() {
        if target.shape() != input.shape() {
            return Err(shape_err(
                "cross_entropy",
                format!(
                    "probability target {:?} must match input {:?}",
                    target.shape(),
                    input.shape()
                ),
            ));
        }
        logp.mul(target)?.sum(&[cdim], false)?.neg()?
    } else if target.dtype().is_int() {
        let mut want = input.shape().to_vec();
        want.remove(cdim as usize);
        if target.shape() != want {
            return Err(shape_err(
                "cross_entropy",
                format!(
                    "class target {:?} must be input {:?} without dim {cdim}",
                    target.shape(),
                    input.shape()
                ),
            ));
        }
        logp.gather(cdim, &target.unsqueeze(cdim)?)?.squeeze(cdim)?.neg()?
    } else {
        return Err(dtype_err(
            "cross_entropy",
            format!("target must be integers or floats, got {}", target.dtype()),
        ));
    };
    reduce(per, reduction)
}

/// Mean squared error `(input - target)^2` (broadcast shapes must agree).
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    if let Some(a) = crate::amp::autocast_args("mse_loss", &[Some(input), Some(target)])? {
        return mse_loss(a.arg(0)?, a.arg(1)?, reduction);
    }
    if input.shape() != target.shape() {
        return Err(shape_err(
            "mse_loss",
            format!("input {:?} and target {:?} differ", input.shape(), target.shape()),
        ));
    }
    let d = input.sub(target)?;
    reduce(d.mul(&d)?, reduction)
}
