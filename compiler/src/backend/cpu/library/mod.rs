//! Library kernels (matmul, conv2d, pools): PLACEHOLDER until helper
//! "cpulib"'s implementation lands; it keeps the call site and its error
//! type, and answers every op with [`LibraryError::NotAvailable`].

use super::buffer::{BufMut, BufRef};
use crate::ir::Op;

/// Why a library kernel could not run.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The library kernels are not built yet.
    #[error("{op}: the CPU library kernels are not available yet (use --fallback interp)")]
    NotAvailable {
        /// The op's name.
        op: &'static str,
    },
}

/// Runs one library op on `inputs`, writing `out`.
pub fn run_library(
    op: &Op,
    inputs: &[BufRef<'_>],
    out: BufMut<'_>,
    threads: usize,
) -> Result<(), LibraryError> {
    let _ = (inputs, out, threads);
    Err(LibraryError::NotAvailable { op: op.name() })
}
