//! Views: new shape/strides/offset over the same storage, no copy (reshape
//! copies only when the strides cannot express the new shape, as PyTorch's
//! `reshape` does). Each view is recorded as its IR movement op: reshape,
//! view, squeeze, unsqueeze, flatten -> `reshape`; permute, transpose ->
//! `permute`; narrow, slice -> `slice`; expand -> `broadcast`.

use smelt_compiler::ir::{Dim, Op, ReshapeDim, Shape};

use super::{Result, Tensor, arg_err, row_major, shape_err};
use crate::dispatch::record_view;

/// `Op::Reshape`'s dims for a concrete shape.
pub(crate) fn reshape_dims(shape: &[usize]) -> Vec<ReshapeDim> {
    shape.iter().map(|&d| ReshapeDim::Dim(Dim::Const(d as u64))).collect()
}

/// A dim in `0..rank` from a PyTorch dim (negative counts from the end).
pub(crate) fn norm_dim(op: &str, dim: isize, shape: &[usize]) -> Result<usize> {
    let rank = shape.len() as isize;
    let d = if dim < 0 { dim + rank } else { dim };
    if d < 0 || d >= rank {
        return Err(arg_err(
            op,
            format!("dim {dim} is out of range for shape {shape:?} (rank {rank})"),
        ));
    }
    Ok(d as usize)
}

/// Like [`norm_dim`] for a position in `0..=rank` (unsqueeze).
fn norm_pos(op: &str, dim: isize, shape: &[usize]) -> Result<usize> {
    let rank = shape.len() as isize + 1;
    let d = if dim < 0 { dim + rank } else { dim };
    if d < 0 || d >= rank {
        return Err(arg_err(
            op,
            format!("dim {dim} is out of range for unsqueezing shape {shape:?}"),
        ));
    }
    Ok(d as usize)
}

/// Strides expressing `new` over memory laid out as `old`/`old_strides`, if
/// any exist (PyTorch's `computeStride`).
fn view_strides(old: &[usize], old_strides: &[isize], new: &[usize]) -> Option<Vec<isize>> {
    if old.iter().product::<usize>() == 0 || old.is_empty() {
        return Some(row_major(new));
    }
    let mut out = vec![0isize; new.len()];
    let mut view_d = new.len() as isize - 1;
    let mut chunk = *old_strides.last()?;
    let mut tensor_numel = 1usize;
    let mut view_numel = 1usize;
    for d in (0..old.len()).rev() {
        tensor_numel *= old[d];
        if d == 0 || (old[d - 1] != 1 && old_strides[d - 1] != tensor_numel as isize * chunk) {
            while view_d >= 0 && (view_numel < tensor_numel || new[view_d as usize] == 1) {
                out[view_d as usize] = view_numel as isize * chunk;
                view_numel *= new[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if d > 0 {
                chunk = old_strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    (view_d == -1).then_some(out)
}

impl Tensor {
    /// Resolves a shape with at most one `-1` against this tensor's numel.
    fn infer_shape(&self, op: &str, shape: &[isize]) -> Result<Vec<usize>> {
        let bad = || {
            shape_err(
                op,
                format!("shape {shape:?} is invalid for input of shape {:?}", self.shape()),
            )
        };
        let mut infer = None;
        let mut known = 1usize;
        for (i, &d) in shape.iter().enumerate() {
            match d {
                -1 if infer.is_none() => infer = Some(i),
                d if d >= 0 => known = known.checked_mul(d as usize).ok_or_else(bad)?,
                _ => return Err(bad()),
            }
        }
        let mut out: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        if let Some(i) = infer {
            if known == 0 || self.numel() % known != 0 {
                return Err(bad());
            }
            out[i] = self.numel() / known;
        } else if known != self.numel() {
            return Err(bad());
        }
        Ok(out)
    }

    /// Same elements in row-major order with a new shape (one `-1` allowed):
    /// a view when the strides allow, else a copy.
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        self.reshape_impl("reshape", shape, true)
    }

    /// Like [`Tensor::reshape`], but an error when a view is impossible.
    pub fn view(&self, shape: &[isize]) -> Result<Tensor> {
        self.reshape_impl("view", shape, false)
    }

    fn reshape_impl(&self, op: &str, shape: &[isize], may_copy: bool) -> Result<Tensor> {
        let new = self.infer_shape(op, shape)?;
        self.reshape_to(op, new, may_copy)
    }

    /// Reshape to resolved sizes.
    pub(crate) fn reshape_to(&self, op: &str, new: Vec<usize>, may_copy: bool) -> Result<Tensor> {
        let out = if self.is_contiguous() {
            self.view_of(row_major(&new), self.offset(), new)
        } else if let Some(st) = view_strides(self.shape(), self.strides(), &new) {
            self.view_of(st, self.offset(), new)
        } else if may_copy {
            let dense = self.densified()?;
            dense.view_of(row_major(&new), 0, new)
        } else {
            return Err(shape_err(
                op,
                format!(
                    "view size {new:?} is not compatible with input shape {:?} and strides {:?}; use reshape",
                    self.shape(),
                    self.strides()
                ),
            ));
        };
        record_view(self, &out, || Op::Reshape { shape: reshape_dims(out.shape()) });
        Ok(out)
    }

    /// Reorders dims: result dim i is input dim `dims[i]`.
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        if dims.len() != self.rank() {
            return Err(arg_err(
                "permute",
                format!("dims {dims:?} do not match shape {:?}", self.shape()),
            ));
        }
        let mut perm = Vec::with_capacity(dims.len());
        for &d in dims {
            let d = norm_dim("permute", d, self.shape())?;
            if perm.contains(&d) {
                return Err(arg_err("permute", format!("dims {dims:?} repeat dim {d}")));
            }
            perm.push(d);
        }
        let shape = perm.iter().map(|&d| self.shape()[d]).collect();
        let strides = perm.iter().map(|&d| self.strides()[d]).collect();
        let out = self.view_of(strides, self.offset(), shape);
        record_view(self, &out, || Op::Permute { dims: perm });
        Ok(out)
    }

    /// Swaps two dims.
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        let a = norm_dim("transpose", d0, self.shape())?;
        let b = norm_dim("transpose", d1, self.shape())?;
        let mut perm: Vec<isize> = (0..self.rank() as isize).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// The transpose of a matrix (`x.t()`; rank 0 and 1 unchanged).
    pub fn t(&self) -> Result<Tensor> {
        match self.rank() {
            0 | 1 => Ok(self.clone()),
            2 => self.transpose(0, 1),
            _ => Err(arg_err("t", format!("needs at most 2 dims, got shape {:?}", self.shape()))),
        }
    }

    /// Elements `start..start+len` along `dim`.
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        let d = norm_dim("narrow", dim, self.shape())?;
        if start.checked_add(len).is_none_or(|e| e > self.shape()[d]) {
            return Err(arg_err(
                "narrow",
                format!(
                    "start {start} + length {len} exceeds dim {dim} of shape {:?}",
                    self.shape()
                ),
            ));
        }
        self.slice(dim, start as isize, (start + len) as isize, 1)
    }

    /// Python slicing `[start:end:step]` along `dim` (negative bounds count
    /// from the end; bounds are clamped; `step >= 1`).
    pub fn slice(&self, dim: isize, start: isize, end: isize, step: usize) -> Result<Tensor> {
        let d = norm_dim("slice", dim, self.shape())?;
        if step == 0 {
            return Err(arg_err("slice", "step must be positive"));
        }
        let n = self.shape()[d] as isize;
        let clamp = |i: isize| if i < 0 { (i + n).max(0) } else { i.min(n) };
        let (s, e) = (clamp(start), clamp(end).max(clamp(start)));
        let len = ((e - s) as usize).div_ceil(step);
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        shape[d] = len;
        let offset = if len == 0 {
            self.offset()
        } else {
            (self.offset() as isize + s * self.strides()[d]) as usize
        };
        strides[d] *= step as isize;
        let out = self.view_of(strides, offset, shape);
        record_view(self, &out, || {
            let mut starts: Vec<u64> = vec![0; self.rank()];
            let mut ends: Vec<Dim> = self.shape().iter().map(|&x| Dim::Const(x as u64)).collect();
            let mut steps: Vec<u64> = vec![1; self.rank()];
            starts[d] = s as u64;
            ends[d] = Dim::Const(e as u64);
            steps[d] = step as u64;
            Op::Slice { starts, ends, steps }
        });
        Ok(out)
    }

    /// Index `index` of `dim`, removing the dim (`x[:, 0]`; `torch.select`):
    /// a slice and a reshape.
    pub fn select(&self, dim: isize, index: isize) -> Result<Tensor> {
        let d = norm_dim("select", dim, self.shape())?;
        let n = self.shape()[d] as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(arg_err(
                "select",
                format!("index {index} is out of range for dim {dim} of shape {:?}", self.shape()),
            ));
        }
        let s = self.slice(d as isize, i, i + 1, 1)?;
        s.squeeze(d as isize)
    }

    /// Broadcasts to `shape` (`-1` keeps a dim; new dims go in front):
    /// expanded dims get stride 0.
    pub fn expand(&self, shape: &[isize]) -> Result<Tensor> {
        let bad =
            || shape_err("expand", format!("cannot expand shape {:?} to {shape:?}", self.shape()));
        if shape.len() < self.rank() {
            return Err(bad());
        }
        let lead = shape.len() - self.rank();
        let mut out_shape = Vec::with_capacity(shape.len());
        let mut strides = Vec::with_capacity(shape.len());
        for (i, &want) in shape.iter().enumerate() {
            if i < lead {
                if want < 0 {
                    return Err(bad());
                }
                out_shape.push(want as usize);
                strides.push(0);
                continue;
            }
            let (have, st) = (self.shape()[i - lead], self.strides()[i - lead]);
            if want == -1 || want as usize == have {
                out_shape.push(have);
                strides.push(st);
            } else if have == 1 && want >= 0 {
                out_shape.push(want as usize);
                strides.push(0);
            } else {
                return Err(bad());
            }
        }
        if out_shape == self.shape() {
            return Ok(self.clone());
        }
        let out = self.view_of(strides, self.offset(), out_shape);
        record_view(self, &out, || Op::Broadcast {
            shape: Shape::of(&out.shape().iter().map(|&d| d as u64).collect::<Vec<_>>()),
        });
        Ok(out)
    }

    /// [`Tensor::expand`] to a concrete shape.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        let s: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
        self.expand(&s)
    }

    /// Removes `dim` if its size is 1 (else the tensor as it is).
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        let d = norm_dim("squeeze", dim, self.shape())?;
        if self.shape()[d] != 1 {
            return Ok(self.clone());
        }
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        shape.remove(d);
        strides.remove(d);
        let out = self.view_of(strides, self.offset(), shape);
        record_view(self, &out, || Op::Reshape { shape: reshape_dims(out.shape()) });
        Ok(out)
    }

    /// Inserts a size-1 dim at `dim`.
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = norm_pos("unsqueeze", dim, self.shape())?;
        let mut shape = self.shape().to_vec();
        let mut strides = self.strides().to_vec();
        let st = if d < self.rank() { self.strides()[d] * self.shape()[d] as isize } else { 1 };
        shape.insert(d, 1);
        strides.insert(d, st);
        let out = self.view_of(strides, self.offset(), shape);
        record_view(self, &out, || Op::Reshape { shape: reshape_dims(out.shape()) });
        Ok(out)
    }

    /// Merges dims `start..=end` into one.
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(&[1]);
        }
        let s = norm_dim("flatten", start, self.shape())?;
        let e = norm_dim("flatten", end, self.shape())?;
        if s > e {
            return Err(arg_err("flatten", format!("start dim {start} is after end dim {end}")));
        }
        let mut shape: Vec<usize> = self.shape()[..s].to_vec();
        shape.push(self.shape()[s..=e].iter().product());
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape_to("flatten", shape, true)
    }
}
