//! The TF32 switch for matmul (`torch.backends.cuda.matmul.allow_tf32`):
//! process-wide, off by default. It has no effect on the CPU; the CUDA
//! backend reads it to pick cuBLAS's math mode for matmuls, and it never
//! changes the results of other ops.

use std::sync::atomic::{AtomicBool, Ordering};

static TF32_MATMUL: AtomicBool = AtomicBool::new(false);

/// Allows (or forbids) TF32 tensor-core math for f32 matmuls on CUDA.
pub fn set_tf32_matmul(allow: bool) {
    TF32_MATMUL.store(allow, Ordering::Relaxed);
}

/// Whether f32 matmuls on CUDA may use TF32 (default false).
pub fn tf32_matmul() -> bool {
    TF32_MATMUL.load(Ordering::Relaxed)
}
