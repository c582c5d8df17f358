//! Pretrained models written with runtime tensor ops (so that a frontend
//! trace sees every op): [`bert`] (HuggingFace's `BertModel`, loaded from a
//! state dict by its parameter names) and [`sentence`] (a sentence encoder:
//! WordPiece + BERT + mean pooling + L2 normalisation, as
//! sentence-transformers' all-MiniLM-L6-v2).

pub mod bert;
pub mod sentence;

use std::path::PathBuf;

pub use bert::{BertConfig, BertModel};
pub use sentence::SentenceEncoder;

use crate::hub::HubError;
use crate::io::IoError;
use crate::tensor::TensorError;
use crate::text::TextError;

/// Why a model could not be built or run; each variant names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A parameter the architecture needs is not in the state dict.
    #[error("state dict has no tensor '{name}' (expected {expected})")]
    Missing {
        /// The parameter's name.
        name: String,
        /// The dtype and shape it should have.
        expected: String,
    },
    /// A parameter has the wrong shape or dtype.
    #[error("tensor '{name}' is {got}, expected {expected}")]
    Mismatch {
        /// The parameter's name.
        name: String,
        /// What the state dict holds.
        got: String,
        /// What the architecture needs.
        expected: String,
    },
    /// The configuration is unusable.
    #[error("config {}: {problem}", path.as_ref().map_or("(given)".into(), |p| p.display().to_string()))]
    Config {
        /// The file it came from, if any.
        path: Option<PathBuf>,
        /// What is wrong.
        problem: String,
    },
    /// Inputs the model cannot take (wrong rank, dtype, length).
    #[error("{0}")]
    Input(String),
    /// A tensor op failed.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A weight file could not be read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The vocabulary could not be read.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The model directory could not be found or fetched.
    #[error(transparent)]
    Hub(#[from] HubError),
}

/// Results of model construction and inference.
pub type Result<T> = std::result::Result<T, ModelError>;
