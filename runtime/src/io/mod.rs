//! Tensor files: numpy's `.npy` format ([`npy`]) read into and written from
//! [`HostTensor`]s, safetensors ([`safetensors`]) and state dicts of
//! runtime tensors on top of it ([`state_dict`]).
//!
//! Every reader treats its input as untrusted: a malformed file of any kind
//! is an [`IoError`] naming the file and what was wrong, never a panic, and
//! sizes are checked against the file before anything is allocated.

pub mod npy;
mod npy_header;
pub mod safetensors;
pub mod state_dict;

use std::path::{Path, PathBuf};

use smelt_compiler::HostTensor;

pub use npy::{NpyError, decode_npy, encode_npy};
pub use state_dict::{load_state_dict, save_state_dict};

/// Why a tensor file could not be read or written; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The operating system refused (missing file, permissions, disk full).
    #[error("{}: {source}", path.display())]
    Os {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not a `.npy` file this reader supports, or the tensor
    /// cannot be written as one.
    #[error("{}: {source}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        source: NpyError,
    },
    /// The bytes are not a valid safetensors file, or the tensors cannot be
    /// saved as one.
    #[error("{}: {source}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        source: safetensors::SafetensorsError,
    },
    /// A tensor of a state dict could not be made or written.
    #[error("{}: tensor '{name}': {source}", path.display())]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What the tensor library said.
        source: crate::tensor::TensorError,
    },
}

/// Reads a `.npy` file into a row-major tensor.
pub fn read_npy(path: &Path) -> Result<HostTensor, IoError> {
    let bytes =
        std::fs::read(path).map_err(|source| IoError::Os { path: path.to_owned(), source })?;
    decode_npy(&bytes).map_err(|source| IoError::Npy { path: path.to_owned(), source })
}

/// Writes a tensor as a `.npy` file (format 1.0, as numpy writes it).
/// bf16 has no numpy dtype and is refused: convert it first.
pub fn write_npy(path: &Path, t: &HostTensor) -> Result<(), IoError> {
    let bytes = encode_npy(t).map_err(|source| IoError::Npy { path: path.to_owned(), source })?;
    std::fs::write(path, bytes).map_err(|source| IoError::Os { path: path.to_owned(), source })
}
