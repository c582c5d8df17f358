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
