//! The CUDA backend: each planned kernel becomes CUDA C++ from a small set
//! of templates ([`emit`]; the row template in `row.rs`, the tiled transpose in
//! `transpose.rs`; snippets in [`snippets`], index math in
//! [`lower`]), compiled at run time by NVRTC ([`nvrtc`]) for the device's own
//! architecture, and launched through the CUDA driver ([`runtime`]); matmul
//! and conv2d go to cuBLAS (conv2d through a generated im2col kernel and
//! the host plan of [`conv_plan`]). Identical kernels on independent data
//! launch together as one multi kernel ([`multi`]).
//!
//! No GPU, no panic: the driver and NVRTC are opened at run time, probed
//! before use, and every entry point returns an error naming what is missing.
//! Source generation ([`generate`], [`plan_source`]) needs neither.

pub mod conv_plan;
pub mod emit;
pub mod lower;
pub mod multi;
pub mod nvrtc;
mod row;
mod row_carry;
pub mod runtime;
pub mod snippets;
mod transpose;

pub use emit::{KernelSource, Template, emit_kernel, translation_unit};
pub use lower::LowerError;
pub use nvrtc::{CompileError, compile_ptx, nvrtc_available};
pub use runtime::{CudaBackend, CudaError};

use crate::backend::kernel::extract;
use crate::ir::Func;
use crate::plan::Plan;

/// Generates every kernel of a plan of `f`, in plan order.
pub fn generate(f: &Func, plan: &Plan) -> Result<Vec<KernelSource>, LowerError> {
    plan.kernels.iter().map(|k| emit_kernel(&extract(f, k))).collect()
}

/// One self-contained translation unit holding every kernel of the plan,
/// then the multi kernel of each group of identical kernels, which is what
/// the runtime launches for them (what `ir-dump --emit cuda` prints and the
/// snapshots hold).
pub fn plan_source(f: &Func, plan: &Plan) -> Result<String, LowerError> {
    let mut kernels = generate(f, plan)?;
    let multis = multi::group_sources(f, plan, &kernels);
    kernels.extend(multis);
    Ok(translation_unit(&kernels))
}
