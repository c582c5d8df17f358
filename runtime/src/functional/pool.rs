//! Adaptive pooling (`F.adaptive_avg_pool2d`), written with recorded ops so
//! that it is differentiable and traceable: a mean for a 1×1 output, an
//! average pool when the bins tile the input exactly, otherwise a product
//! with per-axis averaging matrices (PyTorch's bins are separable, so
//! `P_h · x · P_wᵀ` averages exactly the same elements).

use smelt_compiler::ir::DType;

use crate::tensor::{Result, Tensor, arg_err, shape_err};

/// PyTorch's adaptive bin `i` of `out` over `len` inputs:
/// `[floor(i·len/out), ceil((i+1)·len/out))`.
pub(crate) fn adaptive_bin(i: usize, len: usize, out: usize) -> (usize, usize) {
    (i * len / out, ((i + 1) * len).div_ceil(out))
}

/// The `[out, len]` matrix whose row `i` averages bin `i`, in `dtype`.
fn averaging_matrix(len: usize, out: usize, dtype: DType) -> Result<Tensor> {
    let mut m = vec![0f64; out * len];
    for i in 0..out {
        let (s, e) = adaptive_bin(i, len, out);
        for j in s..e {
            m[i * len + j] = 1.0 / (e - s) as f64;
        }
    }
    Tensor::from_vec(m, &[out, len])?.to_dtype(dtype)
}

/// Adaptive average pooling over the last two dims of a `[…, H, W]` input
/// (`F.adaptive_avg_pool2d(x, (oh, ow))`): output bin `(i, j)` averages rows
/// `floor(i·H/oh) .. ceil((i+1)·H/oh)` and the same rule for columns.
/// Errors on an input of rank < 3, an empty spatial dim or a zero output size.
pub fn adaptive_avg_pool2d(x: &Tensor, output_size: [usize; 2]) -> Result<Tensor> {
    let s = x.shape();
    if s.len() < 3 {
        return Err(shape_err(
            "adaptive_avg_pool2d",
            format!("input {s:?} must be [C, H, W] or [N, C, H, W]"),
        ));
    }
    let (h, w) = (s[s.len() - 2], s[s.len() - 1]);
    let [oh, ow] = output_size;
    if h == 0 || w == 0 || oh == 0 || ow == 0 {
        return Err(arg_err(
            "adaptive_avg_pool2d",
            format!("input {s:?} and output size {output_size:?} need non-empty spatial dims"),
        ));
    }
    if [oh, ow] == [h, w] {
        return Ok(x.clone());
    }
    if [oh, ow] == [1, 1] {
        return x.mean(&[-2, -1], true);
    }
    if s.len() == 4 && h % oh == 0 && w % ow == 0 {
        // Equal bins with no overlap: exactly an average pool.
        let k = [h / oh, w / ow];
        return super::avg_pool2d(x, k, Some(k), [0, 0], true);
    }
    let ph = averaging_matrix(h, oh, x.dtype())?.to_device(x.device())?;
    let pw = averaging_matrix(w, ow, x.dtype())?.to_device(x.device())?;
    ph.matmul(&x.matmul(&pw.t()?)?)
}
