//! [`ZooError`]: why a registry lookup, a model build or a weights load failed.

use std::path::PathBuf;

use crate::tensor::TensorError;

/// Why a zoo call failed. Every message names the model or weights involved.
#[derive(Debug, thiserror::Error)]
pub enum ZooError {
    /// No builder of that name (TorchVision's "Unknown model {name}").
    #[error("Unknown model {0}")]
    UnknownModel(String),
    /// A weights name that is not `Enum.MEMBER`, or names an unknown enum or member.
    #[error("{0}")]
    UnknownWeights(String),
    /// A configuration that contradicts the weights or the architecture.
    #[error("{model}: {detail}")]
    Config {
        /// The model.
        model: String,
        /// What was wrong.
        detail: String,
    },
    /// The weights file was not found; says where smelt looked and how to make one.
    #[error(
        "{weights}: no weights file; looked at {}. Convert a TorchVision .pth with: \
         python -c \"import torch, safetensors.torch as s; s.save_file(torch.load('{file}.pth'), '{file}.safetensors')\" \
         and pass --weights FILE or put it in $SMELT_WEIGHTS_DIR",
        .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    MissingWeightsFile {
        /// `ResNet50_Weights.IMAGENET1K_V2`.
        weights: String,
        /// The file stem TorchVision uses (`resnet50-11ad3fa6`).
        file: String,
        /// Every path tried.
        looked: Vec<PathBuf>,
    },
    /// Reading the weights file failed.
    #[error("{path}: {detail}")]
    WeightsFile {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A tensor op failed while building or running the model.
    #[error(transparent)]
    Tensor(#[from] TensorError),
}
