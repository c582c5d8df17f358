//! Scaled dot-product attention as tensor-op composites.

use smelt_compiler::ir::DType;

use super::softmax;
use crate::tensor::{Result, Tensor, dtype_err, shape_err, where_cond};

/// `softmax(q @ kᵀ * scale + mask) @ v` (`F.scaled_dot_product_attention`):
/// `q` is `[…, L, E]`, `k` `[…, S, E]`, `v` `[…, S, Ev]`. A bool mask keeps
/// where true; a float mask is added. `is_causal` keeps `j <= i` (the
/// top-left aligned lower triangle). `scale` defaults to `1/sqrt(E)`.
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    attn_mask: Option<&Tensor>,
    is_causal: bool,
    scale: Option<f64>,
) -> Result<Tensor> {
    let args = [Some(q), Some(k), Some(v), attn_mask];
    if let Some(a) = crate::amp::autocast_args("scaled_dot_product_attention", &args)? {
        let (q, k, v) = (a.arg(0)?, a.arg(1)?, a.arg(2)?);
        return scaled_dot_product_attention(q, k, v, a.opt(3), is_causal, scale);
    }
    if q.rank() < 2 || k.rank() < 2 || v.rank() < 2 {
        return Err(shape_err(
            "scaled_dot_product_attention",
            format!("q {:?}, k {:?}, v {:?} need at least 2 dims", q.shape(), k.shape(), v.shape()),
        ));
    }
    let e = q.shape()[q.rank() - 1];
    let (l, s) = (q.shape()[q.rank() - 2], k.shape()[k.rank() - 2]);
    let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
    let mut scores = q.matmul(&k.transpose(-2, -1)?)?.mul(scale)?;
    if is_causal {
        let rows = Tensor::arange(0.0, l as f64, 1.0, DType::I64)?.unsqueeze(1)?;
        let cols = Tensor::arange(0.0, s as f64, 1.0, DType::I64)?;
        let keep = cols.le(&rows)?.to_device(scores.device())?;
        scores = where_cond(&keep, &scores, f64::NEG_INFINITY)?;
    }
    if let Some(m) = attn_mask {
        scores = match m.dtype() {
            DType::Bool => where_cond(m, &scores, f64::NEG_INFINITY)?,
            d if d.is_float() => scores.add(m)?,
            d => {
                return Err(dtype_err(
                    "scaled_dot_product_attention",
                    format!("attn_mask must be bool or float, got {d}"),
                ));
            }
        };
    }
    softmax(&scores, -1)?.matmul(v)
}
