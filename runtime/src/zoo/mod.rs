//! The vision model zoo, with TorchVision's registry API (`list_models`,
//! `get_model`, `get_model_builder`, `get_model_weights`, `get_weight`) and
//! its weights metadata (`num_params` exactly as TorchVision documents).
//!
//! Files: `registry.rs` the table of models and the lookup functions,
//! `weights.rs` the weights metadata types, `error.rs` [`ZooError`],
//! `blocks.rs` building blocks shared by the families (parameter-free
//! layers, conv + batch norm + activation), then one file per family
//! (`swin_attention.rs` holds Swin's window attention; `transformer_parts.rs`
//! the pieces ConvNeXt, ViT, Swin and MaxViT share: composite modules,
//! stochastic depth, their initialisers).
//!
//! Models are ordinary [`crate::nn::Module`]s whose state-dict names are
//! TorchVision's, so a TorchVision checkpoint converted to safetensors loads
//! by name.

pub mod alexnet;
mod blocks;
mod categories;
pub mod convnext;
pub mod densenet;
mod efficientnet;
mod error;
pub mod googlenet;
pub mod inception;
mod light_init;
mod load;
pub mod maxvit;
mod mnasnet;
mod mobile_blocks;
mod mobilenet_v2;
mod mobilenet_v3;
mod preprocess;
mod registry;
mod regnet;
mod regnet_weights;
pub mod resnet;
mod resnet_meta;
pub mod segmentation;
pub mod segmentation_mobilenet;
mod shufflenet;
mod squeezenet;
pub mod swin;
pub mod swin_attention;
pub mod transformer_parts;
pub mod vgg;
pub mod vit;
mod weights;

pub use blocks::{Activation, Lambda, Named, conv_norm_act};
pub use error::ZooError;
pub use load::{load_file, load_weights, weights_candidates};
pub use mobile_blocks::{SqueezeExcitation, StochasticDepth};
pub use preprocess::{Image, preprocess, resized_size};
pub use registry::{
    BuildFn, ModelConfig, ModelEntry, Task, get_model, get_model_builder, get_model_weights,
    get_weight, list_models, model_entry, registry,
};
pub use weights::{Categories, Interpolation, Transforms, Weights};
