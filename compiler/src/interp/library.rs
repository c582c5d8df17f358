//! Library ops: `matmul` (numpy semantics), `conv2d`, `max_pool2d`,
//! `avg_pool2d` (NCHW logical shapes), as the naive loops of their
//! definitions.
//!
//! Floats accumulate in f64 and round once per output element (bias
//! included); integer matmul wraps. Window positions are computed in the
//! padded frame, so no index ever goes negative; attribute arithmetic is
//! checked, so absurd attributes are errors, not overflows.

use super::elementwise::max_f;
use super::index::{broadcast_shape, broadcast_strides, view_offsets};
use super::{Result, bad, check_size};
use crate::ir::{Conv2dAttrs, PoolAttrs};
use crate::tensor::{Data, HostTensor};

/// `matmul(a, b)` as numpy: a 1-D lhs is `[1, K]` and a 1-D rhs `[K, 1]`,
/// their added dim removed from the result; batch dims broadcast.
pub(crate) fn matmul(a: &HostTensor, b: &HostTensor) -> Result<HostTensor> {
    let op = "matmul";
    if a.dtype != b.dtype || !a.dtype.is_numeric() {
        return Err(bad(
            op,
            format!("needs two operands of one numeric dtype, got {} and {}", a.dtype, b.dtype),
        ));
    }
    if a.shape.is_empty() || b.shape.is_empty() {
        return Err(bad(
            op,
            format!("operands must have rank ≥ 1, got {:?} and {:?}", a.shape, b.shape),
        ));
    }
    let (mut sa, mut sb) = (a.shape.clone(), b.shape.clone());
    let (a1, b1) = (sa.len() == 1, sb.len() == 1);
    if a1 {
        sa.insert(0, 1);
    }
    if b1 {
        sb.push(1);
    }
    let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (kb, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    if k != kb {
        return Err(bad(op, format!("contraction dims differ: {:?} @ {:?}", a.shape, b.shape)));
    }
    let (batch_a, batch_b) = (&sa[..sa.len() - 2], &sb[..sb.len() - 2]);
    let batch = broadcast_shape(batch_a, batch_b).ok_or_else(|| {
        bad(op, format!("batch dims {batch_a:?} and {batch_b:?} do not broadcast"))
    })?;
    let mut shape = batch.clone();
    if !a1 {
        shape.push(m);
    }
    if !b1 {
        shape.push(n);
    }
    check_size(op, &shape)?;
    // Offset of each batch's matrix in a and in b (0 strides where broadcast).
    let bases = |own: &[usize], size: usize| -> Result<Vec<usize>> {
        let strides = broadcast_strides(own, &batch)
            .ok_or_else(|| bad(op, format!("batch dims {own:?} do not broadcast to {batch:?}")))?;
        let strides = strides.iter().map(|s| s * size).collect();
        Ok(view_offsets(batch.clone(), strides, 0).collect())
    };
    let (base_a, base_b) = (bases(batch_a, m * k)?, bases(batch_b, k * n)?);
    let cells = || {
        base_a.iter().zip(&base_b).flat_map(move |(&pa, &pb)| {
            (0..m).flat_map(move |i| (0..n).map(move |j| (pa + i * k, pb + j)))
        })
    };
    Ok(match (&a.data, &b.data) {
        (Data::Float(x), Data::Float(y)) => {
            // fold from +0.0: std's f64 `sum` starts at −0.0, and an empty
            // contraction must give +0.0 like every backend's zeroed accumulator.
            let v =
                cells().map(|(ra, cb)| (0..k).fold(0.0, |acc, t| acc + x[ra + t] * y[cb + t * n]));
            HostTensor::from_f64(a.dtype, &shape, v.collect())
        }
        (Data::Int(x), Data::Int(y)) => {
            let v = cells().map(|(ra, cb)| {
                (0..k).fold(0i64, |acc, t| acc.wrapping_add(x[ra + t].wrapping_mul(y[cb + t * n])))
            });
            HostTensor::from_i64(a.dtype, &shape, v.collect())
        }
        _ => return Err(bad(op, "operands hold no numbers of one kind")),
    })
}

/// One spatial output size, `(in + 2p − (d(k−1) + 1)) / s + 1`, computed
/// with checked arithmetic; an error if the window exceeds the padded input.
fn window_out(op: &'static str, input: usize, k: u64, s: u64, p: u64, d: u64) -> Result<usize> {
    let too_big =
        || bad(op, format!("attributes kernel={k} stride={s} padding={p} dilation={d} overflow"));
    if k == 0 || s == 0 || d == 0 {
        return Err(bad(op, format!("kernel={k} stride={s} dilation={d} must all be ≥ 1")));
    }
    let span = d.checked_mul(k - 1).and_then(|x| x.checked_add(1)).ok_or_else(too_big)?;
    let padded = p.checked_mul(2).and_then(|x| x.checked_add(input as u64)).ok_or_else(too_big)?;
    if padded < span {
        return Err(bad(op, format!("window {span} is larger than the padded input {padded}")));
    }
    usize::try_from((padded - span) / s + 1).map_err(|_| too_big())
}

/// The input row/column a window tap reads, in unpadded coordinates, or
/// `None` if it falls in the padding: `pos = out*s + tap*d − p`.
fn tap(out: usize, s: u64, tap: usize, d: u64, p: u64, size: usize) -> Option<usize> {
    let pos = out as u64 * s + tap as u64 * d;
    pos.checked_sub(p).map(|x| x as usize).filter(|&x| x < size)
}

/// The four dims of a rank-4 shape.
fn dims4(op: &'static str, what: &str, shape: &[usize]) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(shape)
        .map_err(|_| bad(op, format!("{what} must be rank 4, got {shape:?}")))
}

/// `conv2d(x, w[, bias])`: x `[N, C, H, W]`, w `[OC, C/groups, KH, KW]`,
/// bias `[OC]`; output channel `o` of group `o / (OC/groups)` sees input
/// channels of that group only.
pub(crate) fn conv2d(
    x: &HostTensor,
    w: &HostTensor,
    bias: Option<&HostTensor>,
    a: &Conv2dAttrs,
) -> Result<HostTensor> {
    let op = "conv2d";
    let (Data::Float(xv), Data::Float(wv)) = (&x.data, &w.data) else {
        return Err(bad(op, format!("needs float operands, got {} and {}", x.dtype, w.dtype)));
    };
    let bv = match bias.map(|b| (b, &b.data)) {
        None => None,
        Some((b, Data::Float(v))) if b.dtype == x.dtype && b.shape.len() == 1 => Some(v),
        Some((b, _)) => {
            return Err(bad(
                op,
                format!("bias must be a 1-D {}, got {}{:?}", x.dtype, b.dtype, b.shape),
            ));
        }
    };
    if x.dtype != w.dtype {
        return Err(bad(op, format!("input is {}, weight is {}", x.dtype, w.dtype)));
    }
    let [nb, c, h, wd] = dims4(op, "input", &x.shape)?;
    let [oc, icg, kh, kw] = dims4(op, "weight", &w.shape)?;
    let g = usize::try_from(a.groups).unwrap_or(0);
    if g == 0 || icg.checked_mul(g) != Some(c) || oc % g != 0 {
        return Err(bad(
            op,
            format!("input {:?}, weight {:?} and groups={} disagree", x.shape, w.shape, a.groups),
        ));
    }
    if bv.is_some_and(|b| b.len() != oc) {
        return Err(bad(op, format!("bias must have {oc} elements")));
    }
    let oh = window_out(op, h, kh as u64, a.stride[0], a.padding[0], a.dilation[0])?;
    let ow = window_out(op, wd, kw as u64, a.stride[1], a.padding[1], a.dilation[1])?;
    let shape = vec![nb, oc, oh, ow];
    check_size(op, &shape)?;
    let ocg = oc / g;
    let mut out = Vec::with_capacity(nb * oc * oh * ow);
    for n in 0..nb {
        for o in 0..oc {
            let group = o / ocg;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = bv.map_or(0.0, |b| b[o]);
                    for ic in 0..icg {
                        let cin = group * icg + ic;
                        for ky in 0..kh {
                            let Some(iy) = tap(y, a.stride[0], ky, a.dilation[0], a.padding[0], h)
                            else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) =
                                    tap(xo, a.stride[1], kx, a.dilation[1], a.padding[1], wd)
                                else {
                                    continue;
                                };
                                acc += xv[((n * c + cin) * h + iy) * wd + ix]
                                    * wv[((o * icg + ic) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
    }
    Ok(HostTensor::from_f64(x.dtype, &shape, out))
}

/// Which pooling.
#[derive(Clone, Copy, PartialEq)]
enum Pool {
    Max,
    Avg,
}

/// Shared loop of the pools: each output element sees a `kernel` window of
/// the padded input. Max: padding is −inf and NaN propagates. Avg: padding
/// is zero, and the divisor is the kernel area or, with
/// `count_include_pad=false`, the number of real elements in the window.
fn pool(kind: Pool, x: &HostTensor, a: &PoolAttrs) -> Result<HostTensor> {
    let op = if kind == Pool::Max { "max_pool2d" } else { "avg_pool2d" };
    let Data::Float(xv) = &x.data else {
        return Err(bad(op, format!("needs a float dtype, got {}", x.dtype)));
    };
    let [nb, c, h, wd] = dims4(op, "input", &x.shape)?;
    if (0..2).any(|i| a.padding[i].saturating_mul(2) > a.kernel[i]) {
        return Err(bad(
            op,
            format!("padding={:?} must be at most half the kernel {:?}", a.padding, a.kernel),
        ));
    }
    let oh = window_out(op, h, a.kernel[0], a.stride[0], a.padding[0], 1)?;
    let ow = window_out(op, wd, a.kernel[1], a.stride[1], a.padding[1], 1)?;
    let shape = vec![nb, c, oh, ow];
    check_size(op, &shape)?;
    let (kh, kw) = (a.kernel[0] as usize, a.kernel[1] as usize);
    // Every output element visits the whole window: bound it like a tensor.
    check_size(op, &[kh, kw])?;
    let mut out = Vec::with_capacity(nb * c * oh * ow);
    for plane in 0..nb * c {
        for y in 0..oh {
            for xo in 0..ow {
                let (mut max, mut sum, mut real) = (f64::NEG_INFINITY, 0.0, 0usize);
                for ky in 0..kh {
                    let Some(iy) = tap(y, a.stride[0], ky, 1, a.padding[0], h) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let Some(ix) = tap(xo, a.stride[1], kx, 1, a.padding[1], wd) else {
                            continue;
                        };
                        let v = xv[(plane * h + iy) * wd + ix];
                        max = max_f(max, v);
                        sum += v;
                        real += 1;
                    }
                }
                out.push(match kind {
                    Pool::Max => max,
                    Pool::Avg if a.count_include_pad => sum / (kh * kw) as f64,
                    Pool::Avg => sum / real as f64,
                });
            }
        }
    }
    Ok(HostTensor::from_f64(x.dtype, &shape, out))
}

/// `max_pool2d(x) kernel=… stride=… padding=…`.
pub(crate) fn max_pool2d(x: &HostTensor, a: &PoolAttrs) -> Result<HostTensor> {
    pool(Pool::Max, x, a)
}

/// `avg_pool2d(x) kernel=… stride=… padding=… count_include_pad=…`.
pub(crate) fn avg_pool2d(x: &HostTensor, a: &PoolAttrs) -> Result<HostTensor> {
    pool(Pool::Avg, x, a)
}
