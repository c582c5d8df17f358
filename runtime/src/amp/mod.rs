//! Automatic mixed precision (`torch.amp`), as ../shared/AMP.md states it:
//! `policy.rs` the per-device op lists as data and the cast decision,
//! `autocast.rs` the thread-local scopes, the weight-cast cache and
//! [`autocast_args`] (called first by the runtime ops the lists name),
//! `grad_scaler.rs` [`GradScaler`] (PyTorch's dynamic loss scaling) over
//! the [`ScaledOptimizer`] interface, `tf32.rs` the TF32 matmul switch.

mod autocast;
mod grad_scaler;
mod policy;
mod tf32;

pub use autocast::{
    AutocastArgs, autocast, autocast_args, autocast_dtype, clear_autocast_cache,
    is_autocast_enabled, is_leaf_requiring_grad, set_leaf_predicate, weight_cache_len,
};
pub use grad_scaler::{GradScaler, GradScalerConfig, ScaledOptimizer};
pub use policy::{
    CPU_FP32, CPU_LOWER, CPU_PROMOTE, CUDA_BANNED, CUDA_FP32, CUDA_FP32_SET_OPT_DTYPE, CUDA_LOWER,
    CUDA_PROMOTE, DeviceType, Policy, cast_targets, is_eligible, policy_for, run_dtype,
};
pub use tf32::{set_tf32_matmul, tf32_matmul};

use smelt_compiler::ir::DType;

use crate::tensor::TensorError;

/// Why an amp call failed. Messages follow PyTorch's where it has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AmpError {
    /// An autocast scope asked for a dtype its device type cannot lower to.
    #[error("autocast: {device} autocast supports only f16 and bf16, got {dtype}")]
    UnsupportedDtype {
        /// The device type's name.
        device: &'static str,
        /// The dtype asked for.
        dtype: DType,
    },
    /// A GradScaler call out of order or with bad arguments; the message
    /// is PyTorch's.
    #[error("GradScaler: {0}")]
    Scaler(String),
    /// A tensor op inside the scaler failed.
    #[error(transparent)]
    Tensor(#[from] TensorError),
}
