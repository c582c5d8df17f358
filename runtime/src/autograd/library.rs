//! Backward formulas of conv2d and the pools, written as forward convs,
//! slices and concats (no transposed-conv op is needed):
//! - conv2d input: the result's gradient dilated by the stride, convolved
//!   (padding `(k-1)*dilation`) with the flipped, in/out-swapped weight;
//! - conv2d weight: a conv of the padded input (channels as batch) with the
//!   result's gradient as kernel (stride and dilation swap roles), per group;
//! - avg_pool2d: the input gradient of a depthwise conv with a ones kernel,
//!   of the gradient divided by each window's count;
//! - max_pool2d: per kernel tap, the gradient goes to the first maximum of
//!   each window (PyTorch's tie rule), placed back with `unslice`.

use smelt_compiler::ir::{Conv2dAttrs, DType, Op, PoolAttrs};

use super::formulas::tensor;
use super::graph::{Saved, SavedArg};
use super::movement::unslice;
use crate::dispatch::{ArgRef, apply};
use crate::tensor::{Result, Tensor};

/// Applies a conv2d with these attributes.
fn conv(
    x: &Tensor,
    w: &Tensor,
    stride: [u64; 2],
    padding: [u64; 2],
    dilation: [u64; 2],
    groups: u64,
) -> Result<Tensor> {
    let attrs = Conv2dAttrs { stride, padding, dilation, groups, channels_last: false };
    apply(Op::Conv2d(attrs), &[ArgRef::Tensor(x), ArgRef::Tensor(w)])
}

/// `t` along `dim` as the window `[start, start + len)` of `t` followed by
/// zeros (for rows past the end that no output touched).
fn window(t: &Tensor, dim: usize, start: usize, len: usize) -> Result<Tensor> {
    let have = t.shape()[dim];
    let t = if have < start + len {
        let mut zs = t.shape().to_vec();
        zs[dim] = start + len - have;
        Tensor::cat(&[t, &Tensor::zeros(&zs, t.dtype())?.to_device(t.device())?], dim as isize)?
    } else {
        t.clone()
    };
    t.narrow(dim as isize, start, len)
}

/// The gradient of conv2d's input `[N, C, H, W]` for weight `w`
/// (`[OC, C/groups, KH, KW]`) and result gradient `g`.
fn conv_input_grad(g: &Tensor, w: &Tensor, in_shape: &[usize], a: &Conv2dAttrs) -> Result<Tensor> {
    let (oc, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let groups = a.groups as usize;
    // Dilate g by the stride: zeros between rows and columns.
    let mut gd = g.clone();
    for k in 0..2 {
        let s = a.stride[k] as usize;
        if s > 1 {
            let n = gd.shape()[2 + k];
            let mut full = gd.shape().to_vec();
            full[2 + k] = (n - 1) * s + 1;
            let starts = [0u64; 4];
            let mut steps = [1u64; 4];
            steps[2 + k] = s as u64;
            gd = unslice(&gd, &full, &starts, &steps)?;
        }
    }
    // Flip the taps and swap in/out channels within each group.
    let rev = |n: usize| {
        Tensor::from_vec((0..n as i64).rev().collect::<Vec<_>>(), &[n])?.to_device(w.device())
    };
    let wf = w.take(2, &rev(kh)?)?.take(3, &rev(kw)?)?;
    let wt = wf
        .reshape(&[groups as isize, (oc / groups) as isize, cg as isize, kh as isize, kw as isize])?
        .permute(&[0, 2, 1, 3, 4])?
        .reshape(&[(groups * cg) as isize, (oc / groups) as isize, kh as isize, kw as isize])?;
    let pad = [(kh as u64 - 1) * a.dilation[0], (kw as u64 - 1) * a.dilation[1]];
    let full = conv(&gd, &wt, [1, 1], pad, a.dilation, a.groups)?;
    let r = window(&full, 2, a.padding[0] as usize, in_shape[2])?;
    window(&r, 3, a.padding[1] as usize, in_shape[3])
}

/// The gradient of conv2d's weight for input `x` and result gradient `g`.
fn conv_weight_grad(g: &Tensor, x: &Tensor, w_shape: &[usize], a: &Conv2dAttrs) -> Result<Tensor> {
    let groups = a.groups as usize;
    let (ocg, cg) = (w_shape[0] / groups, w_shape[1]);
    let mut parts = Vec::with_capacity(groups);
    for gi in 0..groups {
        let xs = x.narrow(1, gi * cg, cg)?.permute(&[1, 0, 2, 3])?; // [C/g, N, H, W]
        let gs = g.narrow(1, gi * ocg, ocg)?.permute(&[1, 0, 2, 3])?; // [OC/g, N, OH, OW]
        let r = conv(&xs, &gs, a.dilation, a.padding, a.stride, 1)?; // [C/g, OC/g, >=KH, >=KW]
        let r = r.narrow(2, 0, w_shape[2])?.narrow(3, 0, w_shape[3])?;
        parts.push(r.permute(&[1, 0, 2, 3])?);
    }
    let refs: Vec<&Tensor> = parts.iter().collect();
    Tensor::cat(&refs, 0)
}

/// Operand gradients of conv2d (input, weight, optional bias).
pub(crate) fn conv2d(
    a: &Conv2dAttrs,
    s: &Saved,
    g: &Tensor,
    needs: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    let (x, w) = (tensor(s, 0)?, tensor(s, 1)?);
    let want = |i: usize| needs.get(i).copied().unwrap_or(false);
    if g.numel() == 0 {
        // An empty result: nothing flows back.
        let mut out = vec![
            Some(Tensor::zeros(x.shape(), x.dtype())?.to_device(x.device())?),
            Some(Tensor::zeros(w.shape(), w.dtype())?.to_device(w.device())?),
        ];
        if let Some(SavedArg::Tensor(b)) = s.args.get(2) {
            out.push(Some(Tensor::zeros(b.shape(), b.dtype())?.to_device(b.device())?));
        }
        return Ok(out);
    }
    let gx = if want(0) { Some(conv_input_grad(g, w, x.shape(), a)?) } else { None };
    let gw = if want(1) { Some(conv_weight_grad(g, x, w.shape(), a)?) } else { None };
    let mut out = vec![gx, gw];
    if let Some(SavedArg::Tensor(_)) = s.args.get(2) {
        out.push(if want(2) { Some(g.sum(&[0, 2, 3], false)?) } else { None });
    }
    Ok(out)
}

/// Attributes of the depthwise conv equivalent to a pool over `c` channels.
fn pool_conv(p: &PoolAttrs, c: usize) -> Conv2dAttrs {
    Conv2dAttrs {
        stride: p.stride,
        padding: p.padding,
        dilation: [1, 1],
        groups: c as u64,
        channels_last: false,
    }
}

/// Input gradient of avg_pool2d.
pub(crate) fn avg_pool2d(p: &PoolAttrs, s: &Saved, g: &Tensor) -> Result<Tensor> {
    let x = tensor(s, 0)?;
    if g.numel() == 0 {
        return Tensor::zeros(x.shape(), x.dtype())?.to_device(x.device());
    }
    let (c, kh, kw) = (x.shape()[1], p.kernel[0] as usize, p.kernel[1] as usize);
    let d = g.dtype();
    let counts = if p.count_include_pad {
        Tensor::full(&[], d, (kh * kw) as f64)?
    } else {
        // Each window's count of real (unpadded) elements.
        let ones = Tensor::ones(&[1, 1, x.shape()[2], x.shape()[3]], d)?.to_device(x.device())?;
        let k = Tensor::ones(&[1, 1, kh, kw], d)?.to_device(x.device())?;
        conv(&ones, &k, p.stride, p.padding, [1, 1], 1)?
    };
    let w = Tensor::ones(&[c, 1, kh, kw], d)?.to_device(x.device())?;
    conv_input_grad(&g.div(&counts)?, &w, x.shape(), &pool_conv(p, c))
}

/// Input gradient of max_pool2d: each window's gradient to its first maximum.
pub(crate) fn max_pool2d(p: &PoolAttrs, s: &Saved, g: &Tensor) -> Result<Tensor> {
    let (x, y) = (tensor(s, 0)?, &s.out);
    if g.numel() == 0 {
        return Tensor::zeros(x.shape(), x.dtype())?.to_device(x.device());
    }
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (ph, pw) = (p.padding[0] as usize, p.padding[1] as usize);
    let d = x.dtype();
    // Pad with -inf so padding never wins.
    let mut xp = x.clone();
    if ph > 0 {
        let z = Tensor::full(&[n, c, ph, w], d, f64::NEG_INFINITY)?.to_device(x.device())?;
        xp = Tensor::cat(&[&z, &xp, &z], 2)?;
    }
    if pw > 0 {
        let z =
            Tensor::full(&[n, c, h + 2 * ph, pw], d, f64::NEG_INFINITY)?.to_device(x.device())?;
        xp = Tensor::cat(&[&z, &xp, &z], 3)?;
    }
    let (oh, ow) = (y.shape()[2], y.shape()[3]);
    let (sh, sw) = (p.stride[0] as usize, p.stride[1] as usize);
    let mut taken = Tensor::zeros(y.shape(), DType::Bool)?.to_device(x.device())?;
    let mut total = Tensor::zeros(xp.shape(), g.dtype())?.to_device(x.device())?;
    for a in 0..p.kernel[0] as usize {
        for b in 0..p.kernel[1] as usize {
            let tap = xp.slice(2, a as isize, (a + (oh - 1) * sh + 1) as isize, sh)?.slice(
                3,
                b as isize,
                (b + (ow - 1) * sw + 1) as isize,
                sw,
            )?;
            let hit = tap.eq(y)?.logical_and(&taken.logical_not()?)?;
            taken = taken.logical_or(&hit)?;
            let gi = g.mul(&hit.to_dtype(g.dtype())?)?;
            let starts = [0, 0, a as u64, b as u64];
            let steps = [1, 1, sh as u64, sw as u64];
            total = total.add(&unslice(&gi, xp.shape(), &starts, &steps)?)?;
        }
    }
    total.narrow(2, ph, h)?.narrow(3, pw, w)
}
