//! The CPU backend: Cranelift-generated kernels, library calls (matmul,
//! conv, pools) and the executor that runs a plan (issue 3).
//!
//! Files: [`buffer`] the byte buffers every kernel reads and writes;
//! `layout.rs` what a kernel takes at run time (buffer slots, the sizes
//! array, the loop structure); `lower.rs` the loops of a kernel, `reduce.rs` the reductions, `scratch.rs` the per-task row scratch, `emit.rs`
//! the values (indexing), `ops.rs` the ops, `memory.rs` loads, stores and the narrow-float
//! rounding, `poly.rs` the inline f32 transcendentals, `trig.rs` sin/cos and `pow.rs` pow
//! (computed in f64 lanes, `wide.rs`), `math.rs` the `extern "C"` helpers kernels
//! call; `jit.rs` the Cranelift module and the compiled-kernel handle;
//! `exec.rs` [`CpuBackend`]; `unfused.rs` the one-op-per-kernel plan;
//! [`library`] matmul/conv/pool kernels.
//!
//! Invariants: a compiled kernel never depends on a size (sizes arrive in the
//! sizes array at every call), so one compiled kernel serves every size of a
//! cache key; anything the lowering cannot do is a
//! [`CompileError::Unsupported`], never a wrong result.

pub mod buffer;
mod emit;
mod exec;
mod jit;
mod layout;
pub mod library;
mod lower;
mod math;
mod memory;
mod ops;
mod physical;
mod poly;
mod pow;
mod reduce;
mod scratch;
mod trig;
mod unfused;
mod wide;

pub use buffer::{BufMut, BufRef, Buffer};
pub use exec::{CpuBackend, CpuError, CpuOptions, Numerics, PreparedFunc, RunStats};
pub use jit::CompileError;
pub use unfused::unfused_plan;
