//! Movement ops (`reshape permute broadcast slice concat gather`) and the
//! constant ops (`iota const`).
//!
//! Each movement op is a list of flat offsets into its operand(s), read with
//! [`take`]: no arithmetic touches the values, so every dtype is handled the
//! same way and results are bit-exact copies.

use super::elementwise::scalars;
use super::index::{broadcast_strides, numel, row_major_strides, take, view_offsets};
use super::{InterpError, Result, bad, check_size};
use crate::ir::{DType, Scalar};
use crate::numerics::int_to_float;
use crate::tensor::{Data, HostTensor};

/// A tensor of `t`'s dtype from already-valid elements.
fn with_data(t: &HostTensor, shape: Vec<usize>, data: Data) -> HostTensor {
    HostTensor { dtype: t.dtype, shape, data }
}

/// `reshape`: the same elements in row-major order, shape `shape`.
pub(crate) fn reshape(t: &HostTensor, shape: &[usize]) -> Result<HostTensor> {
    if numel(shape) != t.numel() {
        return Err(bad("reshape", format!("cannot reshape {:?} to {shape:?}", t.shape)));
    }
    Ok(with_data(t, shape.to_vec(), t.data.clone()))
}

/// `permute dims=…`: result dim `i` is operand dim `dims[i]`.
pub(crate) fn permute(t: &HostTensor, dims: &[usize]) -> Result<HostTensor> {
    let rank = t.shape.len();
    let mut seen = vec![false; rank];
    for &d in dims {
        if d >= rank || std::mem::replace(&mut seen[d], true) {
            return Err(bad("permute", format!("dims={dims:?} is not a permutation of 0..{rank}")));
        }
    }
    if dims.len() != rank {
        return Err(bad("permute", format!("dims={dims:?} is not a permutation of 0..{rank}")));
    }
    let own = row_major_strides(&t.shape);
    let shape: Vec<usize> = dims.iter().map(|&d| t.shape[d]).collect();
    let strides = dims.iter().map(|&d| own[d]).collect();
    let data = take(&t.data, view_offsets(shape.clone(), strides, 0));
    Ok(with_data(t, shape, data))
}

/// `broadcast`: numpy broadcast to `shape`.
pub(crate) fn broadcast(t: &HostTensor, shape: &[usize]) -> Result<HostTensor> {
    let strides = broadcast_strides(&t.shape, shape)
        .ok_or_else(|| bad("broadcast", format!("cannot broadcast {:?} to {shape:?}", t.shape)))?;
    let data = take(&t.data, view_offsets(shape.to_vec(), strides, 0));
    Ok(with_data(t, shape.to_vec(), data))
}

/// `slice`: per dim `start:end:step`, start and end clamped to the dim as
/// Python clamps them; an empty range gives size 0.
pub(crate) fn slice(
    t: &HostTensor,
    starts: &[u64],
    ends: &[usize],
    steps: &[u64],
) -> Result<HostTensor> {
    let rank = t.shape.len();
    if starts.len() != rank || ends.len() != rank || steps.len() != rank {
        return Err(bad("slice", format!("starts/ends/steps need {rank} entries each")));
    }
    let own = row_major_strides(&t.shape);
    let (mut shape, mut strides, mut base) = (Vec::new(), Vec::new(), 0);
    for d in 0..rank {
        let size = t.shape[d];
        let step = usize::try_from(steps[d]).unwrap_or(usize::MAX);
        if step == 0 {
            return Err(bad("slice", format!("steps[{d}] is 0 (steps must be positive)")));
        }
        let start = usize::try_from(starts[d]).unwrap_or(usize::MAX).min(size);
        let end = ends[d].min(size);
        let len = if end > start { (end - start).div_ceil(step) } else { 0 };
        shape.push(len);
        // A step past the dim selects one element either way; clamping it keeps
        // the stride from overflowing. An empty dim reads nothing at all.
        strides.push(own[d] * step.min(size.max(1)));
        if len > 0 {
            base += start * own[d];
        }
    }
    let data = take(&t.data, view_offsets(shape.clone(), strides, base));
    Ok(with_data(t, shape, data))
}

/// Appends `b`'s elements to `a`; false if they are of different families.
fn append(a: &mut Data, b: &Data) -> bool {
    match (a, b) {
        (Data::Float(a), Data::Float(b)) => a.extend_from_slice(b),
        (Data::Int(a), Data::Int(b)) => a.extend_from_slice(b),
        (Data::Bool(a), Data::Bool(b)) => a.extend_from_slice(b),
        _ => return false,
    }
    true
}

/// `concat axis=k`: the operands joined along `axis`.
pub(crate) fn concat(parts: &[&HostTensor], axis: usize) -> Result<HostTensor> {
    let op = "concat";
    let first = parts.first().ok_or_else(|| bad(op, "needs at least one operand"))?;
    let rank = first.shape.len();
    if axis >= rank {
        return Err(bad(op, format!("axis={axis} is out of range for rank {rank}")));
    }
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for (i, p) in parts.iter().enumerate() {
        let same_rest =
            p.shape.len() == rank && (0..rank).all(|d| d == axis || p.shape[d] == first.shape[d]);
        if p.dtype != first.dtype || !same_rest {
            return Err(bad(
                op,
                format!(
                    "operand {i} is {}{:?}, operand 0 is {}{:?} (only axis {axis} may differ)",
                    p.dtype, p.shape, first.dtype, first.shape
                ),
            ));
        }
        shape[axis] += p.shape[axis];
    }
    check_size(op, &shape)?;
    // All operands in one buffer; each output row of the concat axis copies
    // one contiguous block of each operand in turn.
    let mut all = first.data.clone();
    let mut bases = vec![0];
    for p in &parts[1..] {
        bases.push(all.len());
        if !append(&mut all, &p.data) {
            return Err(bad(op, "operands hold different kinds of data"));
        }
    }
    let outer: usize = first.shape[..axis].iter().product();
    let inner: usize = first.shape[axis + 1..].iter().product();
    let mut offsets = Vec::with_capacity(numel(&shape));
    for o in 0..outer {
        for (p, base) in parts.iter().zip(&bases) {
            let block = p.shape[axis] * inner;
            offsets.extend((0..block).map(|j| base + o * block + j));
        }
    }
    let data = take(&all, offsets.into_iter());
    Ok(with_data(first, shape, data))
}

/// `gather(x, idx) axis=k`: numpy `take`; the result's shape is
/// `x.shape[:k] + idx.shape + x.shape[k+1:]`. Every index must lie in
/// `0..x.shape[k]` (negative indices are not wrapped).
pub(crate) fn gather(x: &HostTensor, idx: &HostTensor, axis: usize) -> Result<HostTensor> {
    let op = "gather";
    let rank = x.shape.len();
    if axis >= rank {
        return Err(bad(op, format!("axis={axis} is out of range for rank {rank}")));
    }
    let Data::Int(ids) = &idx.data else {
        return Err(bad(op, format!("indices must be an integer dtype, got {}", idx.dtype)));
    };
    let mut shape = x.shape[..axis].to_vec();
    shape.extend_from_slice(&idx.shape);
    shape.extend_from_slice(&x.shape[axis + 1..]);
    check_size(op, &shape)?;
    let size = x.shape[axis];
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    // Every index is checked, even where the result is empty, as numpy does.
    let ids = ids
        .iter()
        .map(|&k| {
            usize::try_from(k).ok().filter(|&k| k < size).ok_or(InterpError::IndexOutOfRange {
                op,
                index: k,
                size,
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut offsets = Vec::with_capacity(numel(&shape));
    for o in 0..outer {
        for &k in &ids {
            offsets.extend((0..inner).map(|j| (o * size + k) * inner + j));
        }
    }
    let data = take(&x.data, offsets.into_iter());
    Ok(with_data(x, shape, data))
}

/// `iota shape=… dim=k to=dtype`: each element is its index along `dim`.
pub(crate) fn iota(shape: &[usize], dim: usize, to: DType) -> Result<HostTensor> {
    if dim >= shape.len() {
        return Err(bad("iota", format!("dim={dim} is out of range for rank {}", shape.len())));
    }
    let mut along = vec![0; shape.len()];
    along[dim] = 1;
    let idx = view_offsets(shape.to_vec(), along, 0).map(|i| i as i64);
    if to.is_float() {
        Ok(HostTensor::from_f64(to, shape, idx.map(|i| int_to_float(i, to)).collect()))
    } else if to.is_int() {
        Ok(HostTensor::from_i64(to, shape, idx.collect()))
    } else {
        Err(bad("iota", format!("to= must be a numeric dtype, got {to}")))
    }
}

/// `const value=… : dtype[shape]`: one value splats, else one per element.
pub(crate) fn constant(value: &[Scalar], dtype: DType, shape: &[usize]) -> Result<HostTensor> {
    let n = numel(shape);
    let data = scalars("const", value, dtype)?;
    let data = match value.len() {
        1 => take(&data, std::iter::repeat_n(0, n)),
        len if len == n => data,
        len => return Err(bad("const", format!("{len} values for shape {shape:?}"))),
    };
    Ok(HostTensor { dtype, shape: shape.to_vec(), data })
}
