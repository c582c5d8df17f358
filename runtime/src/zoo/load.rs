//! Loading a weights entry's checkpoint: a local safetensors file with
//! TorchVision's state-dict names. smelt never downloads weights; the error
//! for a missing file lists every place it looked and how to convert a `.pth`.

use std::path::{Path, PathBuf};

use super::error::ZooError;
use super::weights::Weights;
use crate::io::state_dict::load_state_dict;
use crate::nn::Module;

/// The places a checkpoint of `w` is looked for, in order: `explicit`,
/// `$SMELT_WEIGHTS_DIR/<file>.safetensors`, then
/// `<cache>/weights/<file>.safetensors` (cache: `$SMELT_CACHE_DIR` or
/// `~/.cache/smelt`).
pub fn weights_candidates(w: &Weights, explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    let file = format!("{}.safetensors", w.file);
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("SMELT_WEIGHTS_DIR").filter(|d| !d.is_empty()) {
        out.push(PathBuf::from(dir).join(&file));
    }
    if let Some(cache) = crate::hub::cache_dir() {
        out.push(cache.join("weights").join(&file));
    }
    out
}

/// Loads `w`'s checkpoint into `model` (strict: every name must match),
/// from `explicit` or the first existing candidate of [`weights_candidates`].
pub fn load_weights(
    model: &mut dyn Module,
    w: &Weights,
    explicit: Option<&Path>,
) -> Result<(), ZooError> {
    let looked = weights_candidates(w, explicit);
    let Some(path) = looked.iter().find(|p| p.is_file()) else {
        return Err(ZooError::MissingWeightsFile {
            weights: w.full_name(),
            file: w.file.to_string(),
            looked,
        });
    };
    load_file(model, path)
}

/// Loads the safetensors file at `path` into `model` (strict).
pub fn load_file(model: &mut dyn Module, path: &Path) -> Result<(), ZooError> {
    let map = load_state_dict(path)
        .map_err(|e| ZooError::WeightsFile { path: path.to_path_buf(), detail: e.to_string() })?;
    model
        .load_state_dict(&map, true)
        .map_err(|e| ZooError::WeightsFile { path: path.to_path_buf(), detail: e.to_string() })?;
    Ok(())
}
