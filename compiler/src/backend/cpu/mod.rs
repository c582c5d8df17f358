//! The CPU backend: Cranelift-generated kernels, library calls (matmul,
//! conv, pools) and the executor that runs a plan. Being built (issue 3);
//! for now it holds the buffers everything else shares.

pub mod buffer;
pub mod library;

pub use buffer::{BufMut, BufRef, Buffer};
