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

mod blocks;
mod categories;
mod efficientnet;
mod error;
mod light_init;
mod load;
mod mnasnet;
mod mobile_blocks;
mod mobilenet_v2;
mod mobilenet_v3;
mod registry;
mod regnet;
mod regnet_weights;
mod shufflenet;
mod squeezenet;
mod weights;

pub use blocks::{Activation, Lambda, Named, conv_norm_act};
pub use error::ZooError;
pub use load::{load_file, load_weights, weights_candidates};
pub use mobile_blocks::{SqueezeExcitation, StochasticDepth};
pub use registry::{
    BuildFn, ModelConfig, ModelEntry, Task, get_model, get_model_builder, get_model_weights,
    get_weight, list_models, model_entry, registry,
};
pub use weights::{Categories, Interpolation, Transforms, Weights};
