//! `linear` and `embedding`.

use crate::tensor::{Result, Tensor, dtype_err, shape_err};

/// `x @ weight.T + bias` (`weight`: `[out, in]`, `bias`: `[out]`).
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    if let Some(a) = crate::amp::autocast_args("linear", &[Some(x), Some(weight), bias])? {
        return linear(a.arg(0)?, a.arg(1)?, a.opt(2));
    }
    if weight.rank() != 2 || x.rank() == 0 || x.shape()[x.rank() - 1] != weight.shape()[1] {
        return Err(shape_err(
            "linear",
            format!("input {:?} does not fit weight {:?} ([out, in])", x.shape(), weight.shape()),
        ));
    }
    let y = x.matmul(&weight.transpose(0, 1)?)?;
    match bias {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// Rows of `weight` (`[num, dim]`) picked by integer `ids`: the result is
/// `ids.shape + [dim]` (`F.embedding`).
pub fn embedding(ids: &Tensor, weight: &Tensor) -> Result<Tensor> {
    if weight.rank() != 2 {
        return Err(shape_err(
            "embedding",
            format!("weight must be 2-D, got {:?}", weight.shape()),
        ));
    }
    if !ids.dtype().is_int() {
        return Err(dtype_err("embedding", format!("ids must be integers, got {}", ids.dtype())));
    }
    weight.take(0, ids)
}
