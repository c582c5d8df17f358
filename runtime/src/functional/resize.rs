//! Bilinear resizing (`F.interpolate(mode="bilinear")`), written with
//! recorded ops so that it is differentiable and traceable. Bilinear
//! interpolation is separable, so the output is `R_h · x · R_wᵀ` with one
//! interpolation matrix per axis holding PyTorch's two source weights per
//! output pixel.

use smelt_compiler::ir::DType;

use crate::tensor::{Result, Tensor, arg_err, shape_err};

/// The source position of output index `i` (PyTorch's
/// `area_pixel_compute_source_index` for linear modes with a size-given
/// scale), in f64 (`wide`) or with f32 arithmetic.
fn source_index(i: usize, len: usize, out: usize, align_corners: bool, wide: bool) -> f64 {
    if wide {
        if align_corners {
            let scale = if out > 1 { (len - 1) as f64 / (out - 1) as f64 } else { 0.0 };
            return scale * i as f64;
        }
        // Negative positions clamp to the first pixel, as PyTorch does.
        return (len as f64 / out as f64 * (i as f64 + 0.5) - 0.5).max(0.0);
    }
    if align_corners {
        let scale = if out > 1 { (len - 1) as f32 / (out - 1) as f32 } else { 0.0 };
        return f64::from(scale * i as f32);
    }
    f64::from((len as f32 / out as f32 * (i as f32 + 0.5) - 0.5).max(0.0))
}

/// The `[out, len]` linear-interpolation matrix of one axis, in `dtype`.
/// The weights are computed in the precision PyTorch computes them (f64
/// for f64 inputs, else f32), so a resized map matches its values, not
/// just its formula.
pub(crate) fn interpolation_matrix(
    len: usize,
    out: usize,
    align_corners: bool,
    dtype: DType,
) -> Result<Tensor> {
    let wide = dtype == DType::F64;
    let mut m = vec![0f64; out * len];
    for i in 0..out {
        let src = source_index(i, len, out, align_corners, wide);
        let i0 = (src as usize).min(len - 1);
        let i1 = if i0 + 1 < len { i0 + 1 } else { i0 };
        let l1 = if wide { src - i0 as f64 } else { f64::from(src as f32 - i0 as f32) };
        let l0 = if wide { 1.0 - l1 } else { f64::from(1.0 - l1 as f32) };
        m[i * len + i0] += l0;
        m[i * len + i1] += l1;
    }
    Tensor::from_vec(m, &[out, len])?.to_dtype(dtype)
}

/// Bilinear resize of the last two dims of a `[…, H, W]` input to
/// `[oh, ow]` (`F.interpolate(x, size=(oh, ow), mode="bilinear",
/// align_corners=…)`, no antialiasing). Errors on an input of rank < 3 or
/// an empty input or output size.
pub fn interpolate_bilinear(x: &Tensor, size: [usize; 2], align_corners: bool) -> Result<Tensor> {
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
    let rh = interpolation_matrix(h, size[0], align_corners, x.dtype())?.to_device(x.device())?;
    let rw = interpolation_matrix(w, size[1], align_corners, x.dtype())?.to_device(x.device())?;
    rh.matmul(&x.matmul(&rw.t()?)?)
}
