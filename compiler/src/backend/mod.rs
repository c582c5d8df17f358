//! Backends: what turns a [`crate::plan::Plan`] into code that runs.
//!
//! Shared here: [`kernel`], which cuts one planned kernel out of its function
//! as a small standalone [`crate::ir::Func`] with a stable name and a
//! size-free cache key, so a backend lowers a kernel without walking the
//! whole graph. Each backend lives in its own module (`cpu`: Cranelift;
//! `cuda`: CUDA C++ through NVRTC).

pub mod cpu;
pub mod cuda;
pub mod kernel;
