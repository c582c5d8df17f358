//! The vision model zoo, with TorchVision's registry API (`list_models`,
//! `get_model`, `get_model_builder`, `get_model_weights`, `get_weight`) and
//! its weights metadata (`num_params` exactly as TorchVision documents).
//!
//! Files: `registry.rs` the table of models and the lookup functions,
//! `weights.rs` the weights metadata types, `error.rs` [`ZooError`],
//! `blocks.rs` building blocks shared by the families (parameter-free
//! layers, conv + batch norm + activation), then one file per family.
//!
//! Models are ordinary [`crate::nn::Module`]s whose state-dict names are
//! TorchVision's, so a TorchVision checkpoint converted to safetensors loads
//! by name.

pub mod alexnet;
mod blocks;
mod categories;
pub mod densenet;
mod error;
pub mod googlenet;
pub mod inception;
mod load;
mod registry;
pub mod resnet;
mod resnet_meta;
pub mod segmentation;
pub mod vgg;
mod weights;

pub use blocks::{Activation, Lambda, Named, conv_norm_act};
pub use error::ZooError;
pub use load::{load_file, load_weights, weights_candidates};
pub use registry::{
    BuildFn, ModelConfig, ModelEntry, Task, get_model, get_model_builder, get_model_weights,
    get_weight, list_models, model_entry, registry,
};
pub use weights::{Categories, Interpolation, Transforms, Weights};
