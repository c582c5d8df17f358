//! Convolution and pooling: IR library ops (run by the backend's library
//! kernels), with PyTorch's argument conventions.

use smelt_compiler::ir::{Conv2dAttrs, Op, PoolAttrs};

use crate::dispatch::{ArgRef, apply};
use crate::tensor::{Result, Tensor, arg_err, shape_err};

/// 2-D convolution (`F.conv2d`): input `[N, C, H, W]`, weight
/// `[OC, C/groups, KH, KW]`, bias `[OC]`; the input is promoted to the
/// weight's dtype when they differ.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Result<Tensor> {
    if let Some(a) = crate::amp::autocast_args("conv2d", &[Some(x), Some(weight), bias])? {
        return conv2d(a.arg(0)?, a.arg(1)?, a.opt(2), stride, padding, dilation, groups);
    }
    if x.rank() != 4 || weight.rank() != 4 {
        return Err(shape_err(
            "conv2d",
            format!(
                "input {:?} and weight {:?} must be 4-D (NCHW, OIHW)",
                x.shape(),
                weight.shape()
            ),
        ));
    }
    if stride.contains(&0) || dilation.contains(&0) || groups == 0 {
        return Err(arg_err("conv2d", "stride, dilation and groups must be positive"));
    }
    let dt = crate::tensor::promote_types(x.dtype(), weight.dtype());
    let (x, w) = (x.to_dtype(dt)?, weight.to_dtype(dt)?);
    let attrs = Conv2dAttrs {
        stride: stride.map(|v| v as u64),
        padding: padding.map(|v| v as u64),
        dilation: dilation.map(|v| v as u64),
        groups: groups as u64,
        channels_last: false,
    };
    match bias {
        Some(b) => {
            let b = b.to_dtype(dt)?;
            apply(Op::Conv2d(attrs), &[ArgRef::Tensor(&x), ArgRef::Tensor(&w), ArgRef::Tensor(&b)])
        }
        None => apply(Op::Conv2d(attrs), &[ArgRef::Tensor(&x), ArgRef::Tensor(&w)]),
    }
}

fn pool_attrs(
    op: &str,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    count_include_pad: bool,
) -> Result<PoolAttrs> {
    let stride = stride.unwrap_or(kernel);
    if kernel.contains(&0) || stride.contains(&0) {
        return Err(arg_err(
            op,
            format!("kernel {kernel:?} and stride {stride:?} must be positive"),
        ));
    }
    if padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1] {
        return Err(arg_err(
            op,
            format!("padding {padding:?} must be at most half of kernel {kernel:?}"),
        ));
    }
    Ok(PoolAttrs {
        kernel: kernel.map(|v| v as u64),
        stride: stride.map(|v| v as u64),
        padding: padding.map(|v| v as u64),
        count_include_pad,
        channels_last: false,
    })
}

/// Max pooling over NCHW (`F.max_pool2d`; stride defaults to the kernel).
pub fn max_pool2d(
    x: &Tensor,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
) -> Result<Tensor> {
    let a = pool_attrs("max_pool2d", kernel, stride, padding, true)?;
    apply(Op::MaxPool2d(a), &[ArgRef::Tensor(x)])
}

/// Average pooling over NCHW (`F.avg_pool2d`; PyTorch's default counts
/// padded zeros in the divisor).
pub fn avg_pool2d(
    x: &Tensor,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    count_include_pad: bool,
) -> Result<Tensor> {
    let a = pool_attrs("avg_pool2d", kernel, stride, padding, count_include_pad)?;
    apply(Op::AvgPool2d(a), &[ArgRef::Tensor(x)])
}

/// Max pooling with `ceil_mode=True` (`nn.MaxPool2d(…, ceil_mode=True)`, as
/// SqueezeNet uses): the output side is `ceil((L + 2p - k) / s) + 1`, less
/// one when the last window would start in the right padding, as PyTorch
/// computes it. The extra windows read past the input, so the input is
/// padded on the right and bottom with −inf (which never wins a max) and
/// pooled as usual; this keeps the IR op unchanged.
pub fn max_pool2d_ceil(
    x: &Tensor,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
) -> Result<Tensor> {
    let a = pool_attrs("max_pool2d", kernel, stride, padding, true)?;
    if x.rank() != 4 {
        return Err(shape_err("max_pool2d", format!("input {:?} must be 4-D (NCHW)", x.shape())));
    }
    let mut y = x.clone();
    for d in 0..2 {
        let (len, k, s, p) = (x.shape()[2 + d], kernel[d], a.stride[d] as usize, padding[d]);
        // PyTorch's `pooling_output_shape` with ceil_mode, in signed
        // arithmetic: C division truncates toward zero, so an input a
        // little shorter than the kernel still gives one window.
        let (len_i, k_i, s_i, p_i) = (len as i64, k as i64, s as i64, p as i64);
        let mut out = (len_i + 2 * p_i - k_i + s_i - 1) / s_i + 1;
        if (out - 1) * s_i >= len_i + p_i {
            out -= 1;
        }
        if out < 1 {
            // Too small for any window: the op itself reports it.
            continue;
        }
        let extra = ((out - 1) * s_i + k_i - (len_i + 2 * p_i)).max(0) as usize;
        if extra > 0 {
            let mut shape = y.shape().to_vec();
            shape[2 + d] = extra;
            let fill = Tensor::full(&shape, y.dtype(), f64::NEG_INFINITY)?.to_device(y.device())?;
            y = Tensor::cat(&[&y, &fill], 2 + d as isize)?;
        }
    }
    max_pool2d(&y, kernel, stride, padding)
}
