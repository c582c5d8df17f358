//! Bilinear resizing (`F.interpolate(mode="bilinear")`), written with
//! recorded ops so that it is differentiable and traceable. Bilinear
//! interpolation is separable, so the output is `R_h · x · R_wᵀ` with one
//! interpolation matrix per axis holding PyTorch's two source weights per
//! output pixel.

use smelt_compiler::ir::DType;

use crate::tensor::{Result, Tensor, arg_err, shape_err};

/// The source position of output index `i` (PyTorch's
/// `area_pixel_compute_source_index` for linear modes, size-given scale).
fn source_index(i: usize, len: usize, out: usize, align_corners: bool) -> f64 {
    if align_corners {
        if out > 1 { i as f64 * (len - 1) as f64 / (out - 1) as f64 } else { 0.0 }
    } else {
        let scale = len as f64 / out as f64;
        // Negative positions clamp to the first pixel, as PyTorch does.
        ((i as f64 + 0.5) * scale - 0.5).max(0.0)
    }
}

/// The `[out, len]` linear-interpolation matrix of one axis, in `dtype`.
/// The weights are computed as PyTorch computes them (in f32), so a
/// resized map matches its values, not just its formula.
pub(crate) fn interpolation_matrix(
    len: usize,
    out: usize,
    align_corners: bool,
    dtype: DType,
) -> Result<Tensor> {
    let mut m = vec![0f32; out * len];
    for i in 0..out {
        let src = source_index(i, len, out, align_corners) as f32;
        let i0 = (src as usize).min(len - 1);
        let i1 = if i0 + 1 < len { i0 + 1 } else { i0 };
        let l1 = src - i0 as f32;
        let l0 = 1.0 - l1;
        m[i * len + i0] += l0;
        m[i * len + i1] += l1;
    }
    Tensor::from_vec(m, &[out, len])?.to_dtype(dtype)
}

/// Bilinear resize of the last two dims of a `[…, H, W]` input to
/// `[oh, ow]` (`F.interpolate(x, size=(oh, ow), mode="bilinear",
/// align_corners=…)`, no antialiasing). Errors on an input of rank < 3 or
/// an empty input or output size.
pub fn interpolate_bilinear(
    x: &Tensor,
    size: [usize; 2],
    align_corners: bool,
) -> Result<Tensor> {
    let s = x.shape();
    if s.len() < 3 {
        return Err(shape_err(
            "interpolate_bilinear",
            format!("input {s:?} must be [C, H, W] or [N, C, H, W]"),
        ));
    }
    let (h, w) = (s[s.len() - 2], s[s.len() - 1]);
    if h == 0 || w == 0 || size.contains(&0) {
        return Err(arg_err(
            "interpolate_bilinear",
            format!("input {s:?} and size {size:?} need non-empty spatial dims"),
        ));
    }
    if size == [h, w] {
        return Ok(x.clone());
    }
    let rh = interpolation_matrix(h, size[0], align_corners, x.dtype())?;
    let rw = interpolation_matrix(w, size[1], align_corners, x.dtype())?;
    rh.matmul(&x.matmul(&rw.t()?)?)
}
