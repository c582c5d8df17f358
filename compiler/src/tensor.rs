//! [`HostTensor`]: a dense, row-major tensor in host memory, the currency of
//! the interpreter, the constant folder and the .npy reader and writer.
//!
//! Invariant: `data` holds exactly `numel(shape)` elements, and every element
//! is a value of `dtype` (floats already rounded to it, integers in range).

use crate::ir::{DType, Dim, Shape, Type};
use crate::numerics::round_to;

/// Element storage, by dtype family.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// f64, f32, f16, bf16: values exactly representable in the dtype.
    Float(Vec<f64>),
    /// i64, i32, i8, u8: values in the dtype's range.
    Int(Vec<i64>),
    /// bool.
    Bool(Vec<bool>),
}

impl Data {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::Float(v) => v.len(),
            Data::Int(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dense row-major tensor with concrete sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Element type.
    pub dtype: DType,
    /// Concrete sizes.
    pub shape: Vec<usize>,
    /// The elements, row-major.
    pub data: Data,
}

/// Wraps an integer to the range of `d` (two's complement, as Rust's `as`).
pub fn wrap_int(d: DType, v: i64) -> i64 {
    match d {
        DType::I32 => i64::from(v as i32),
        DType::I8 => i64::from(v as i8),
        DType::U8 => i64::from(v as u8),
        _ => v,
    }
}

impl HostTensor {
    /// A float tensor; values are rounded to `dtype`. Panics if `dtype` is not
    /// a float or the length is wrong (caller bugs, not user input).
    pub fn from_f64(dtype: DType, shape: &[usize], values: Vec<f64>) -> HostTensor {
        assert!(dtype.is_float(), "from_f64 with {dtype}");
        assert_eq!(values.len(), shape.iter().product::<usize>(), "length of {shape:?}");
        let values = values.into_iter().map(|v| round_to(dtype, v)).collect();
        HostTensor { dtype, shape: shape.to_vec(), data: Data::Float(values) }
    }

    /// An integer tensor; values are wrapped to `dtype`'s range.
    pub fn from_i64(dtype: DType, shape: &[usize], values: Vec<i64>) -> HostTensor {
        assert!(dtype.is_int(), "from_i64 with {dtype}");
        assert_eq!(values.len(), shape.iter().product::<usize>(), "length of {shape:?}");
        let values = values.into_iter().map(|v| wrap_int(dtype, v)).collect();
        HostTensor { dtype, shape: shape.to_vec(), data: Data::Int(values) }
    }

    /// A bool tensor.
    pub fn from_bool(shape: &[usize], values: Vec<bool>) -> HostTensor {
        assert_eq!(values.len(), shape.iter().product::<usize>(), "length of {shape:?}");
        HostTensor { dtype: DType::Bool, shape: shape.to_vec(), data: Data::Bool(values) }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Element `i` (row-major) as f64 (bools as 0/1).
    pub fn get_f64(&self, i: usize) -> f64 {
        match &self.data {
            Data::Float(v) => v[i],
            Data::Int(v) => v[i] as f64,
            Data::Bool(v) => f64::from(u8::from(v[i])),
        }
    }

    /// All elements as f64 (bools as 0/1; large i64 lose precision).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.numel()).map(|i| self.get_f64(i)).collect()
    }

    /// The IR type of this tensor (constant dims).
    pub fn ir_type(&self) -> Type {
        Type::new(self.dtype, Shape(self.shape.iter().map(|&d| Dim::Const(d as u64)).collect()))
    }
}
