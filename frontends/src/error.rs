//! Errors of tracing and compiling.

use smelt_runtime::TensorError;

/// Why tracing or a compiled call failed. Messages name the op and shapes.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// The program (or a replayed graph) failed in the runtime.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A recorded op could not be put into the IR (its type rule refused
    /// the operands, or the result disagrees with what eager produced).
    #[error("trace: {op}: {message}")]
    Trace {
        /// The op.
        op: String,
        /// What went wrong.
        message: String,
    },
    /// The traced function did not verify (a frontend bug).
    #[error("trace: the traced function does not verify: {0}")]
    Verify(String),
    /// The optimizer failed on a traced function.
    #[error("optimize: {0}")]
    Optimize(String),
    /// The compiled callable was given inputs it cannot take.
    #[error("compiled call: {0}")]
    Input(String),
}
