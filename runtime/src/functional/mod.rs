//! The composites of `torch.nn.functional`, written only in terms of
//! recorded tensor ops so that a trace sees them decomposed into IR ops.
//! Files: `activation.rs` (gelu, silu, relu, softmax, log_softmax),
//! `norm.rs` (layer_norm), `linear.rs` (linear, embedding).

mod activation;
mod linear;
mod norm;

pub use activation::{Approximate, gelu, log_softmax, relu, silu, softmax};
pub use linear::{embedding, linear};
pub use norm::layer_norm;
