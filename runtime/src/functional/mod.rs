//! The composites of `torch.nn.functional`, written only in terms of
//! recorded tensor ops so that a trace sees them decomposed into IR ops.
//! Files: `activation.rs` (gelu, silu, relu, softmax, log_softmax,
//! dropout), `norm.rs` (layer_norm, batch_norm, group_norm, normalize), `linear.rs`
//! (linear, embedding), `conv.rs` (conv2d and pools: library ops),
//! `attention.rs` (scaled_dot_product_attention), `loss.rs`
//! (cross_entropy, mse_loss), `pool.rs` (adaptive_avg_pool2d, max_pool2d_ceil), `resize.rs`
//! (interpolate_bilinear).

mod activation;
mod attention;
mod conv;
mod linear;
mod loss;
mod norm;
mod pool;
mod resize;

pub use activation::{Approximate, dropout, gelu, log_softmax, relu, silu, softmax};
pub use attention::scaled_dot_product_attention;
pub use conv::{avg_pool2d, conv2d, max_pool2d, max_pool2d_ceil};
pub use linear::{embedding, linear};
pub use loss::{Reduction, cross_entropy, mse_loss};
pub use norm::{BatchNormOut, batch_norm, group_norm, layer_norm, normalize};
pub use pool::adaptive_avg_pool2d;
pub use resize::interpolate_bilinear;
