//! Creating tensors (from Rust data, bytes, host tensors; zeros, ones,
//! full, arange, linspace) and reading them back. Constants are recorded as
//! `Op::Const`, `arange` as `iota` arithmetic; data handed in from Rust is a
//! leaf the recorder does not see.

use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::Buffer;
use smelt_compiler::ir::{DType, Op, Scalar, Shape};

use super::{Element, Result, Tensor, TensorError, arg_err, dtype_err};
use crate::dispatch::{ArgRef, apply, record, record_opaque};

/// The most elements one tensor may have (2^40: far past any host memory,
/// but small enough that byte counts never overflow).
const MAX_NUMEL: usize = 1 << 40;

/// `numel` of a shape, or an error for an absurd one.
fn checked_numel(op: &str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_NUMEL)
        .ok_or_else(|| arg_err(op, format!("shape {shape:?} has too many elements")))
}

/// The little-endian bytes of `v` as a `dtype` element (floats rounded,
/// integers truncated toward zero and wrapped, bools nonzero).
fn encode(dtype: DType, v: f64) -> Vec<u8> {
    match dtype {
        DType::F64 => v.to_le_bytes().to_vec(),
        DType::F32 => (v as f32).to_le_bytes().to_vec(),
        DType::F16 => half::f16::from_f64(v).to_bits().to_le_bytes().to_vec(),
        DType::BF16 => half::bf16::from_f64(v).to_bits().to_le_bytes().to_vec(),
        DType::I64 => (v as i64).to_le_bytes().to_vec(),
        DType::I32 => (v as i64 as i32).to_le_bytes().to_vec(),
        DType::I8 => vec![v as i64 as i8 as u8],
        DType::U8 => vec![v as i64 as u8],
        DType::Bool => vec![u8::from(v != 0.0)],
    }
}

/// A rank-0 buffer holding literal `s` as a `dtype` value (exact for
/// integer literals; the literal already fits `dtype`).
pub(crate) fn scalar_buffer(dtype: DType, s: Scalar) -> Buffer {
    let mut b = Buffer::zeros(dtype, &[]);
    let bytes = match (s, dtype) {
        (Scalar::Int(i), DType::I64) => i.to_le_bytes().to_vec(),
        (Scalar::Int(i), DType::I32) => (i as i32).to_le_bytes().to_vec(),
        (Scalar::Int(i), DType::I8 | DType::U8) => vec![i as u8],
        (s, d) => encode(d, s.as_f64()),
    };
    b.bytes_mut().copy_from_slice(&bytes);
    b
}

/// The IR literal for `v` as a `dtype` value.
fn literal(dtype: DType, v: f64) -> Scalar {
    if dtype == DType::Bool {
        Scalar::Bool(v != 0.0)
    } else if dtype.is_float() {
        Scalar::Float(v)
    } else {
        Scalar::Int(v as i64)
    }
}

impl Tensor {
    /// A tensor of `shape` from row-major elements.
    pub fn from_vec<T: Element>(v: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n = checked_numel("from_vec", shape)?;
        if v.len() != n {
            return Err(TensorError::Data {
                op: "from_vec".into(),
                len: v.len(),
                shape: shape.to_vec(),
                dtype: T::DTYPE,
            });
        }
        let size = T::DTYPE.size_bytes();
        let mut b = Buffer::zeros(T::DTYPE, shape);
        for (x, out) in v.into_iter().zip(b.bytes_mut().chunks_exact_mut(size)) {
            x.write_le(out);
        }
        Ok(Tensor::from_buffer(b))
    }

    /// A tensor from little-endian bytes in the backend's encoding
    /// (f16/bf16 as bit patterns, bool as one byte).
    pub fn from_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor> {
        let n = checked_numel("from_bytes", shape)?;
        if bytes.len() != n * dtype.size_bytes() {
            return Err(TensorError::Data {
                op: "from_bytes".into(),
                len: bytes.len(),
                shape: shape.to_vec(),
                dtype,
            });
        }
        let mut b = Buffer::zeros(dtype, shape);
        b.bytes_mut().copy_from_slice(bytes);
        if dtype == DType::Bool {
            // Keep the encoding canonical (0/1) whatever the file held.
            b.bytes_mut().iter_mut().for_each(|x| *x = u8::from(*x != 0));
        }
        Ok(Tensor::from_buffer(b))
    }

    /// A tensor holding a host tensor's values.
    pub fn from_host(t: &HostTensor) -> Tensor {
        Tensor::from_buffer(Buffer::from_host(t))
    }

    /// The values as a host tensor (f64/i64/bool inside). A CUDA tensor is
    /// downloaded (as PyTorch's `tolist()` does).
    ///
    /// # Panics
    ///
    /// If a CUDA tensor's download fails (a device fault); use
    /// [`Tensor::try_to_host`] to get that as an error.
    pub fn to_host(&self) -> HostTensor {
        self.try_to_host().unwrap_or_else(|e| panic!("to_host: {e}"))
    }

    /// [`Tensor::to_host`], with a failed download from a CUDA device as an error.
    pub fn try_to_host(&self) -> Result<HostTensor> {
        Ok(self.dense_buffer()?.to_host())
    }

    /// The dense row-major little-endian bytes (downloaded from a CUDA device).
    ///
    /// # Panics
    ///
    /// If a CUDA tensor's download fails; [`Tensor::try_to_bytes`] returns
    /// that as an error.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.try_to_bytes().unwrap_or_else(|e| panic!("to_bytes: {e}"))
    }

    /// [`Tensor::to_bytes`], with a failed download from a CUDA device as an error.
    pub fn try_to_bytes(&self) -> Result<Vec<u8>> {
        match self.dense_view() {
            Some(v) => Ok(v.bytes.to_vec()),
            None => Ok(self.dense_buffer()?.bytes().to_vec()),
        }
    }

    /// The elements in row-major order; `T` must be the tensor's dtype. A
    /// CUDA tensor is downloaded.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(dtype_err(
                "to_vec",
                format!("tensor {}{:?} read as {}", self.dtype(), self.shape(), T::DTYPE),
            ));
        }
        let size = self.dtype().size_bytes();
        let bytes = self.try_to_bytes()?;
        Ok(bytes.chunks_exact(size).map(T::read_le).collect())
    }

    /// The elements as f64 in row-major order (bools 0/1); a CUDA tensor is
    /// downloaded.
    ///
    /// # Panics
    ///
    /// If a CUDA tensor's download fails (see [`Tensor::try_to_host`]).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.to_host().to_f64_vec()
    }

    /// The single element of a one-element tensor, as f64 (downloaded from
    /// a CUDA device, as PyTorch's `item()` does).
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(arg_err("item", format!("needs one element, shape is {:?}", self.shape())));
        }
        Ok(self.try_to_host()?.to_f64_vec()[0])
    }

    /// A tensor of `shape` with every element `value` (recorded as `Op::Const`).
    pub fn full(shape: &[usize], dtype: DType, value: f64) -> Result<Tensor> {
        let n = checked_numel("full", shape)?;
        let mut b = Buffer::zeros(dtype, shape);
        let e = encode(dtype, value);
        if e.iter().any(|&x| x != 0) {
            for out in b.bytes_mut().chunks_exact_mut(e.len()).take(n) {
                out.copy_from_slice(&e);
            }
        }
        let t = Tensor::from_buffer(b);
        record(&Op::Const { value: vec![literal(dtype, value)] }, &[], &t);
        Ok(t)
    }

    /// Zeros.
    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, dtype, 0.0)
    }

    /// Ones.
    pub fn ones(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, dtype, 1.0)
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f64, dtype: DType) -> Result<Tensor> {
        Tensor::full(&[], dtype, value)
    }

    /// `start, start+step, …` below `end` (above, for a negative step), as
    /// `dtype`: computed as `iota * step + start` in f64 (i64 for integer
    /// dtypes), then cast, as PyTorch computes it in double.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(arg_err("arange", format!("bad range {start}..{end} step {step}")));
        }
        if (end - start) / step < 0.0 {
            return Err(arg_err(
                "arange",
                format!("step {step} has the wrong sign for {start}..{end}"),
            ));
        }
        let n = ((end - start) / step).ceil() as usize;
        checked_numel("arange", &[n])?;
        let int = !dtype.is_float() && start.fract() == 0.0 && step.fract() == 0.0;
        let work = if int { DType::I64 } else { DType::F64 };
        let iota = apply(Op::Iota { shape: Shape::of(&[n as u64]), dim: 0, to: work }, &[])?;
        let v = if int {
            iota.mul(step as i64)?.add(start as i64)?
        } else {
            iota.mul(step)?.add(start)?
        };
        v.to_dtype(dtype)
    }

    /// `steps` values evenly from `start` to `end` inclusive (PyTorch's
    /// formula: the first half counts up from `start`, the second half down
    /// from `end`). Computed on the host; recorded as an opaque op.
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
        checked_numel("linspace", &[steps])?;
        let step = if steps > 1 { (end - start) / (steps - 1) as f64 } else { 0.0 };
        let half = steps / 2;
        let v: Vec<f64> = (0..steps)
            .map(|i| {
                if i < half { start + step * i as f64 } else { end - step * (steps - 1 - i) as f64 }
            })
            .collect();
        let t = Tensor::from_host(&HostTensor::from_f64(DType::F64, &[steps], v))
            .to_dtype_unrecorded(dtype)?;
        record_opaque("linspace", &[], &[&t]);
        Ok(t)
    }

    /// A cast that is not recorded (for values made on the host).
    pub(crate) fn to_dtype_unrecorded(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let _quiet = crate::dispatch::Quiet::new();
        apply(Op::Cast { to: dtype }, &[ArgRef::Tensor(self)])
    }
}
