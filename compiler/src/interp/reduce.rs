//! Reductions: `sum prod mean max min argmax argmin` over a list of dims.
//!
//! Floats accumulate in f64 in the operand's row-major order and round once
//! at the end; integer `sum`/`prod` wrap. `max`/`min` propagate NaN;
//! `argmax`/`argmin` give the first index of the extreme, and a NaN counts as
//! both the maximum and the minimum (the first NaN wins, as in PyTorch).
//! Over zero elements `sum` is 0, `prod` 1, `mean` NaN, and the others have
//! no identity: an error.

use super::elementwise::{max_f, min_f};
use super::index::{numel, row_major_strides, view_offsets};
use super::{InterpError, Result, bad};
use crate::ir::{DType, ReduceKind};
use crate::tensor::{Data, HostTensor};

/// Running state of one output element of an arg reduction: the extreme so
/// far and its index.
type ArgBest<T> = Option<(T, i64)>;

/// Whether `v` at a later index replaces the best so far.
fn arg_better_f(kind: ReduceKind, best: f64, v: f64) -> bool {
    if best.is_nan() {
        false
    } else if v.is_nan() {
        true
    } else if kind == ReduceKind::Argmax {
        v > best
    } else {
        v < best
    }
}

/// `kind(x) dims=… keepdim=…`.
pub(crate) fn reduce(
    kind: ReduceKind,
    dims: &[usize],
    keepdim: bool,
    x: &HostTensor,
) -> Result<HostTensor> {
    let op = kind.name();
    let rank = x.shape.len();
    for (i, &d) in dims.iter().enumerate() {
        if d >= rank || dims[..i].contains(&d) {
            return Err(bad(op, format!("dims={dims:?} is invalid for rank {rank}")));
        }
    }
    if dims.is_empty() || (kind.is_arg() && dims.len() != 1) {
        return Err(bad(op, format!("dims={dims:?}: wrong number of dims")));
    }
    let ok = match kind {
        ReduceKind::Mean => x.dtype.is_float(),
        _ => x.dtype.is_numeric(),
    };
    if !ok {
        return Err(bad(op, format!("does not reduce {}", x.dtype)));
    }

    // Kept dims, and for each operand element (row-major) its output slot.
    let kept: Vec<usize> = (0..rank).filter(|d| !dims.contains(d)).map(|d| x.shape[d]).collect();
    let kept_strides = row_major_strides(&kept);
    let mut to_out = Vec::with_capacity(rank);
    let mut k = 0;
    for d in 0..rank {
        if dims.contains(&d) {
            to_out.push(0);
        } else {
            to_out.push(kept_strides[k]);
            k += 1;
        }
    }
    let slots: Vec<usize> = view_offsets(x.shape.clone(), to_out, 0).collect();
    let n_out = numel(&kept);
    let count: usize = dims.iter().map(|&d| x.shape[d]).product();
    let no_identity = !matches!(kind, ReduceKind::Sum | ReduceKind::Prod | ReduceKind::Mean);
    if count == 0 && n_out > 0 && no_identity {
        return Err(InterpError::EmptyReduction {
            op,
            shape: x.shape.clone(),
            dims: dims.to_vec(),
        });
    }
    let out_shape: Vec<usize> = if keepdim {
        (0..rank).map(|d| if dims.contains(&d) { 1 } else { x.shape[d] }).collect()
    } else {
        kept
    };

    if kind.is_arg() {
        // The index along the reduced dim of each operand element.
        let mut along = vec![0; rank];
        along[dims[0]] = 1;
        let idx: Vec<usize> = view_offsets(x.shape.clone(), along, 0).collect();
        let best = match &x.data {
            Data::Float(v) => {
                let mut best: Vec<ArgBest<f64>> = vec![None; n_out];
                for (i, &a) in v.iter().enumerate() {
                    let b = &mut best[slots[i]];
                    if b.is_none_or(|(m, _)| arg_better_f(kind, m, a)) {
                        *b = Some((a, idx[i] as i64));
                    }
                }
                best.into_iter().map(|b| b.map_or(0, |(_, i)| i)).collect()
            }
            Data::Int(v) => {
                let mut best: Vec<ArgBest<i64>> = vec![None; n_out];
                for (i, &a) in v.iter().enumerate() {
                    let b = &mut best[slots[i]];
                    let better = |m: i64| {
                        if kind == ReduceKind::Argmax { a > m } else { a < m }
                    };
                    if b.is_none_or(|(m, _)| better(m)) {
                        *b = Some((a, idx[i] as i64));
                    }
                }
                best.into_iter().map(|b| b.map_or(0, |(_, i)| i)).collect()
            }
            Data::Bool(_) => return Err(bad(op, "does not reduce bool")),
        };
        return Ok(HostTensor::from_i64(DType::I64, &out_shape, best));
    }

    Ok(match &x.data {
        Data::Float(v) => {
            let (init, f): (f64, fn(f64, f64) -> f64) = match kind {
                ReduceKind::Sum | ReduceKind::Mean => (0.0, |a, b| a + b),
                ReduceKind::Prod => (1.0, |a, b| a * b),
                ReduceKind::Max => (f64::NEG_INFINITY, max_f),
                _ => (f64::INFINITY, min_f),
            };
            let mut acc = vec![init; n_out];
            for (i, &a) in v.iter().enumerate() {
                acc[slots[i]] = f(acc[slots[i]], a);
            }
            if kind == ReduceKind::Mean {
                // Zero elements: 0 / 0 = NaN, as numpy and PyTorch give.
                acc.iter_mut().for_each(|a| *a /= count as f64);
            }
            HostTensor::from_f64(x.dtype, &out_shape, acc)
        }
        Data::Int(v) => {
            let (init, f): (i64, fn(i64, i64) -> i64) = match kind {
                ReduceKind::Sum => (0, i64::wrapping_add),
                ReduceKind::Prod => (1, i64::wrapping_mul),
                ReduceKind::Max => (i64::MIN, i64::max),
                _ => (i64::MAX, i64::min),
            };
            let mut acc = vec![init; n_out];
            for (i, &a) in v.iter().enumerate() {
                acc[slots[i]] = f(acc[slots[i]], a);
            }
            HostTensor::from_i64(x.dtype, &out_shape, acc)
        }
        Data::Bool(_) => return Err(bad(op, "does not reduce bool")),
    })
}
