//! Reductions over dims (an empty dim list means every dim), with keepdim
//! and negative dims: sum, prod, mean, max/min (values, and with indices),
//! argmax/argmin, var/std with a correction, logsumexp. Integer and bool
//! sums and products accumulate in i64, as PyTorch's do; mean, var, std and
//! logsumexp need a float tensor.

use smelt_compiler::ir::{DType, Op, ReduceKind};

use super::views::norm_dim;
use super::{Result, Tensor, arg_err, dtype_err};
use crate::dispatch::{ArgRef, apply};

impl Tensor {
    /// The reduced dims: sorted, in range, unique; all dims when `dims` is empty.
    pub(crate) fn reduce_dims(&self, op: &str, dims: &[isize]) -> Result<Vec<usize>> {
        if dims.is_empty() {
            return Ok((0..self.rank()).collect());
        }
        let mut out = Vec::with_capacity(dims.len());
        for &d in dims {
            let d = norm_dim(op, d, self.shape())?;
            if out.contains(&d) {
                return Err(arg_err(op, format!("dim {d} appears twice in {dims:?}")));
            }
            out.push(d);
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Applies an IR reduction over `dims` (already checked).
    fn reduce(&self, kind: ReduceKind, dims: Vec<usize>, keepdim: bool) -> Result<Tensor> {
        let name = kind.name();
        if !matches!(kind, ReduceKind::Sum | ReduceKind::Prod | ReduceKind::Mean)
            && dims.iter().any(|&d| self.shape()[d] == 0)
        {
            return Err(arg_err(
                name,
                format!("cannot reduce an empty dim of shape {:?} (dims {dims:?})", self.shape()),
            ));
        }
        if self.rank() == 0 {
            // Nothing to reduce: the value itself (argmax: index 0).
            return if kind.is_arg() {
                Tensor::zeros(&[], DType::I64)?.to_device(self.device())
            } else {
                Ok(self.clone())
            };
        }
        apply(Op::Reduce { kind, dims, keepdim }, &[ArgRef::Tensor(self)])
    }

    /// Sum over `dims` (all when empty); integers and bools sum as i64.
    pub fn sum(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if let Some(a) = crate::amp::autocast_args("sum", &[Some(self)])? {
            return a.arg(0)?.sum(dims, keepdim);
        }
        let d = self.reduce_dims("sum", dims)?;
        let x = if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::I64)? };
        x.reduce(ReduceKind::Sum, d, keepdim)
    }

    /// Product over `dims`; integers and bools multiply as i64.
    pub fn prod(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if let Some(a) = crate::amp::autocast_args("prod", &[Some(self)])? {
            return a.arg(0)?.prod(dims, keepdim);
        }
        let d = self.reduce_dims("prod", dims)?;
        let x = if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::I64)? };
        x.reduce(ReduceKind::Prod, d, keepdim)
    }

    /// Mean over `dims` (float tensors only, as in PyTorch).
    pub fn mean(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.need_float("mean")?;
        let d = self.reduce_dims("mean", dims)?;
        self.reduce(ReduceKind::Mean, d, keepdim)
    }

    /// Maximum over `dims` (`torch.amax`; NaN propagates).
    pub fn max(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.need_numeric("max")?;
        let d = self.reduce_dims("max", dims)?;
        self.reduce(ReduceKind::Max, d, keepdim)
    }

    /// Minimum over `dims` (`torch.amin`; NaN propagates).
    pub fn min(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.need_numeric("min")?;
        let d = self.reduce_dims("min", dims)?;
        self.reduce(ReduceKind::Min, d, keepdim)
    }

    /// Index of the first maximum along `dim` (over the flattened tensor
    /// when `None`), as i64.
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce(ReduceKind::Argmax, dim, keepdim)
    }

    /// Index of the first minimum along `dim` (flattened when `None`), as i64.
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce(ReduceKind::Argmin, dim, keepdim)
    }

    fn arg_reduce(&self, kind: ReduceKind, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        let name = kind.name();
        self.need_numeric(name)?;
        match dim {
            Some(d) => {
                let d = norm_dim(name, d, self.shape())?;
                self.reduce(kind, vec![d], keepdim)
            }
            None => {
                let flat = self.reshape(&[-1])?;
                let r = flat.reduce(kind, vec![0], false)?;
                if keepdim { r.reshape(&vec![1; self.rank()]) } else { Ok(r) }
            }
        }
    }

    /// Maximum along `dim` and the index of its first occurrence
    /// (`torch.max(x, dim)`).
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        Ok((self.max(&[dim], keepdim)?, self.argmax(Some(dim), keepdim)?))
    }

    /// Minimum along `dim` and the index of its first occurrence.
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        Ok((self.min(&[dim], keepdim)?, self.argmin(Some(dim), keepdim)?))
    }

    /// Variance over `dims` with `correction` (1: unbiased, Bessel's; 0:
    /// population), as `sum((x - mean)^2) / max(N - correction, 0)`.
    pub fn var(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor> {
        self.need_float("var")?;
        let d = self.reduce_dims("var", dims)?;
        let n: usize = d.iter().map(|&k| self.shape()[k]).product();
        let idims: Vec<isize> = d.iter().map(|&k| k as isize).collect();
        let mean = self.mean(&idims, true)?;
        let dev = self.sub(&mean)?;
        let ss = dev.mul(&dev)?.sum(&idims, keepdim)?;
        ss.div((n as f64 - correction).max(0.0))
    }

    /// Standard deviation: the square root of [`Tensor::var`].
    pub fn std(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor> {
        self.var(dims, correction, keepdim)?.sqrt()
    }

    /// `log(sum(exp(x)))` over `dims`, computed stably (the max is taken out
    /// first; infinite maxima are replaced by 0 so they pass through).
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if let Some(a) = crate::amp::autocast_args("logsumexp", &[Some(self)])? {
            return a.arg(0)?.logsumexp(dims, keepdim);
        }
        self.need_float("logsumexp")?;
        let d = self.reduce_dims("logsumexp", dims)?;
        let idims: Vec<isize> = d.iter().map(|&k| k as isize).collect();
        let m = self.max(&idims, true)?;
        let m = crate::tensor::elementwise::where_cond(&m.abs()?.eq(f64::INFINITY)?, 0.0, &m)?;
        let s = self.sub(&m)?.exp()?.sum(&idims, true)?.log()?.add(&m)?;
        if keepdim {
            Ok(s)
        } else {
            let shape: Vec<usize> =
                (0..self.rank()).filter(|k| !d.contains(k)).map(|k| self.shape()[k]).collect();
            s.reshape_to("logsumexp", shape, true)
        }
    }

    /// `Err` unless the tensor is a float tensor.
    pub(crate) fn need_float(&self, op: &str) -> Result<()> {
        if self.dtype().is_float() {
            Ok(())
        } else {
            Err(dtype_err(
                op,
                format!("needs a floating point tensor, got {}{:?}", self.dtype(), self.shape()),
            ))
        }
    }

    /// `Err` for bool tensors.
    fn need_numeric(&self, op: &str) -> Result<()> {
        if self.dtype().is_numeric() {
            Ok(())
        } else {
            Err(dtype_err(
                op,
                format!("needs a numeric tensor, got {}{:?}", self.dtype(), self.shape()),
            ))
        }
    }
}
