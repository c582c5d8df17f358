//! Indexing: `index_select` and numpy-style `take` (IR `gather`),
//! PyTorch's `gather` along a dim (a flat `take` with computed offsets),
//! and `cat` (IR `concat`). Out-of-range indices are errors (the kernel
//! reports them at run time).

use smelt_compiler::ir::{DType, Op, Shape};

use super::views::norm_dim;
use super::{Result, Tensor, arg_err, dtype_err, shape_err};
use crate::dispatch::{ArgRef, Quiet, apply};

impl Tensor {
    /// numpy `take(self, idx, axis=dim)`: the result's shape is
    /// `shape[:dim] + idx.shape + shape[dim+1:]`.
    pub fn take(&self, dim: isize, idx: &Tensor) -> Result<Tensor> {
        let d = norm_dim("gather", dim, self.shape())?;
        if !idx.dtype().is_int() {
            return Err(dtype_err(
                "gather",
                format!("indices must be an integer tensor, got {}{:?}", idx.dtype(), idx.shape()),
            ));
        }
        apply(Op::Gather { axis: d }, &[ArgRef::Tensor(self), ArgRef::Tensor(idx)])
    }

    /// The entries `idx` (1-D) of dim `dim` (`torch.index_select`).
    pub fn index_select(&self, dim: isize, idx: &Tensor) -> Result<Tensor> {
        if idx.rank() > 1 {
            return Err(shape_err(
                "index_select",
                format!(
                    "index must be 0-D or 1-D, got {:?} (input {:?})",
                    idx.shape(),
                    self.shape()
                ),
            ));
        }
        self.take(dim, idx)
    }

    /// `out[i][j][k] = self[i][idx[i][j][k]][k]` for `dim = 1`
    /// (`torch.gather`): a flat take at offsets built from `iota`s.
    pub fn gather(&self, dim: isize, idx: &Tensor) -> Result<Tensor> {
        let d = norm_dim("gather", dim, self.shape())?;
        if idx.rank() != self.rank() {
            return Err(shape_err(
                "gather",
                format!("index {:?} and input {:?} differ in rank", idx.shape(), self.shape()),
            ));
        }
        for k in 0..self.rank() {
            if k != d && idx.shape()[k] > self.shape()[k] {
                return Err(shape_err(
                    "gather",
                    format!(
                        "index {:?} is larger than input {:?} in dim {k}",
                        idx.shape(),
                        self.shape()
                    ),
                ));
            }
        }
        if !idx.dtype().is_int() {
            return Err(dtype_err(
                "gather",
                format!("indices must be integers, got {}", idx.dtype()),
            ));
        }
        {
            // Each index must lie in its own dim, not just in the flat storage.
            let _quiet = Quiet::new();
            let n = self.shape()[d] as i64;
            let i = idx.to_dtype(DType::I64)?;
            let bad = i.lt(0)?.logical_or(&i.ge(n)?)?.sum(&[], false)?.item()?;
            if bad > 0.0 {
                return Err(arg_err(
                    "gather",
                    format!("index out of range for dim {d} of size {n}"),
                ));
            }
        }
        let strides = super::row_major(self.shape());
        let dims: Vec<u64> = idx.shape().iter().map(|&x| x as u64).collect();
        let mut flat = idx.to_dtype(DType::I64)?.mul(strides[d] as i64)?;
        for (k, &st) in strides.iter().enumerate() {
            if k == d {
                continue;
            }
            // Made where the indices are (an op without operands would
            // otherwise run on the CPU).
            let iota = Op::Iota { shape: Shape::of(&dims), dim: k, to: DType::I64 };
            let io = crate::dispatch::apply_on(iota, &[], flat.device())?;
            flat = flat.add(&io.mul(st as i64)?)?;
        }
        self.reshape(&[-1])?.take(0, &flat)
    }

    /// Joins tensors along `dim` (`torch.cat`), after type promotion.
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        let args: Vec<Option<&Tensor>> = tensors.iter().map(|t| Some(*t)).collect();
        if let Some(a) = crate::amp::autocast_args("cat", &args)? {
            return Tensor::cat(&a.tensors(), dim);
        }
        let Some(first) = tensors.first() else {
            return Err(arg_err("cat", "needs at least one tensor"));
        };
        let d = norm_dim("cat", dim, first.shape())?;
        let mut dt = first.dtype();
        for t in tensors {
            let same = t.rank() == first.rank()
                && (0..t.rank()).all(|k| k == d || t.shape()[k] == first.shape()[k]);
            if !same {
                return Err(shape_err(
                    "cat",
                    format!(
                        "shapes {:?} and {:?} differ outside dim {d}",
                        first.shape(),
                        t.shape()
                    ),
                ));
            }
            dt = super::promote_types(dt, t.dtype());
        }
        let conv: Vec<Tensor> = tensors.iter().map(|t| t.to_dtype(dt)).collect::<Result<_>>()?;
        let args: Vec<ArgRef<'_>> = conv.iter().map(ArgRef::Tensor).collect();
        apply(Op::Concat { axis: d }, &args)
    }
}
