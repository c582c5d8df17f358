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
    let ph = averaging_matrix(h, oh, x.dtype())?;
    let pw = averaging_matrix(w, ow, x.dtype())?;
    ph.matmul(&x.matmul(&pw.t()?)?)
}

/// Max pooling with `ceil_mode=True` (`F.max_pool2d(…, ceil_mode=True)`):
/// the output size rounds up, except that a window may not start in the
/// right padding; the extra bottom/right cells are `-inf` so they never win.
pub fn max_pool2d_ceil(
    x: &Tensor,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
) -> Result<Tensor> {
    let s = x.shape();
    if s.len() != 4 {
        return Err(shape_err("max_pool2d", format!("input {s:?} must be [N, C, H, W]")));
    }
    let st = stride.unwrap_or(kernel);
    if st.contains(&0) || kernel.contains(&0) {
        return Err(arg_err("max_pool2d", format!("kernel {kernel:?}, stride {st:?}")));
    }
    let mut y = x.clone();
    for (axis, d) in [(2usize, 0usize), (3, 1)] {
        let (len, k, p, st) = (s[axis], kernel[d], padding[d], st[d]);
        if len + 2 * p < k {
            return Err(shape_err(
                "max_pool2d",
                format!("input {s:?} is smaller than kernel {kernel:?} with padding {padding:?}"),
            ));
        }
        let mut out = (len + 2 * p - k).div_ceil(st) + 1;
        if (out - 1) * st >= len + p {
            out -= 1;
        }
        let extra = ((out - 1) * st + k).saturating_sub(len + 2 * p);
        if extra > 0 {
            let mut shape = y.shape().to_vec();
            shape[axis] = extra;
            let fill = Tensor::full(&shape, y.dtype(), f64::NEG_INFINITY)?;
            y = Tensor::cat(&[&y, &fill], axis as isize)?;
        }
    }
    super::max_pool2d(&y, kernel, stride, padding)
}
