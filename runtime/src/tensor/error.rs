//! [`TensorError`]: why a tensor op refused its inputs. Every message names
//! the op and the shapes (and dtypes) it was given, as PyTorch's do.

use smelt_compiler::ir::DType;

/// Why a tensor op failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// Shapes that do not fit the op (broadcasting, reshape, matmul, …).
    #[error("{op}: {detail}")]
    Shape {
        /// The op.
        op: String,
        /// What was wrong, with the shapes.
        detail: String,
    },
    /// A dtype the op does not take.
    #[error("{op}: {detail}")]
    DType {
        /// The op.
        op: String,
        /// What was wrong, with the dtypes.
        detail: String,
    },
    /// An argument out of range (a dim, an index, a size).
    #[error("{op}: {detail}")]
    Argument {
        /// The op.
        op: String,
        /// What was wrong.
        detail: String,
    },
    /// A CUDA device the runtime cannot run: no driver, no device, no
    /// NVRTC, or an index other than 0.
    #[error("{op}: cuda:{index} is not available: {reason}")]
    DeviceUnavailable {
        /// The op.
        op: String,
        /// The CUDA device index.
        index: usize,
        /// What is missing.
        reason: String,
    },
    /// Tensor operands of one op on different devices.
    #[error(
        "{op}: expected all tensors to be on the same device, but found at least two devices, \
         {first} and {second}"
    )]
    DeviceMismatch {
        /// The op.
        op: String,
        /// The first operand's device.
        first: crate::tensor::Device,
        /// The device of the first operand elsewhere.
        second: crate::tensor::Device,
    },
    /// Element data whose length does not match the shape.
    #[error("{op}: {len} elements (or bytes) given for shape {shape:?} of {dtype}")]
    Data {
        /// The op.
        op: String,
        /// What was given.
        len: usize,
        /// The shape.
        shape: Vec<usize>,
        /// The dtype.
        dtype: DType,
    },
    /// The compiler or backend failed to run the op's kernel.
    #[error("{op}: backend: {message}")]
    Backend {
        /// The op.
        op: String,
        /// The backend's message.
        message: String,
    },
}

/// Results of tensor ops.
pub type Result<T> = std::result::Result<T, TensorError>;

/// A shape error for `op`.
pub(crate) fn shape_err(op: &str, detail: impl Into<String>) -> TensorError {
    TensorError::Shape { op: op.to_string(), detail: detail.into() }
}

/// A dtype error for `op`.
pub(crate) fn dtype_err(op: &str, detail: impl Into<String>) -> TensorError {
    TensorError::DType { op: op.to_string(), detail: detail.into() }
}

/// An argument error for `op`.
pub(crate) fn arg_err(op: &str, detail: impl Into<String>) -> TensorError {
    TensorError::Argument { op: op.to_string(), detail: detail.into() }
}
