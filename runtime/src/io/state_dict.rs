//! State dicts: a safetensors file as a name → [`Tensor`] map, and back.
//!
//! Names are kept exactly as the file holds them (PyTorch's `state_dict`
//! keys, e.g. `encoder.layer.0.attention.self.query.weight`), so models look
//! their parameters up by the names HuggingFace and TorchVision use.
//! Loading copies each tensor out of the memory map into its own aligned
//! storage (kernels need 64-byte alignment, which the file does not give);
//! saving writes `{"format": "pt"}` metadata, as `safetensors.torch` does, so
//! HuggingFace's loaders accept the file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::tensor::Tensor;

use super::IoError;
use super::safetensors::{SafeTensors, save};

/// Every tensor of a safetensors file, by name. A tensor whose dtype smelt
/// has no type for (F8, U16, ...) makes the whole load fail, naming it.
pub fn load_state_dict(path: &Path) -> Result<BTreeMap<String, Tensor>, IoError> {
    let file = SafeTensors::open(path)?;
    let mut out = BTreeMap::new();
    for name in file.names() {
        let view = file.get(name)?;
        let t = Tensor::from_bytes(view.dtype, &view.shape, view.bytes).map_err(|source| {
            IoError::Tensor { path: path.to_owned(), name: name.to_owned(), source }
        })?;
        out.insert(name.to_owned(), t);
    }
    Ok(out)
}

/// Writes tensors as a safetensors file under their names (any layout: views
/// are written dense, row-major), with `{"format": "pt"}` metadata.
pub fn save_state_dict(path: &Path, tensors: &BTreeMap<String, Tensor>) -> Result<(), IoError> {
    let mut dense = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        // One download for a CUDA tensor; a failed one is an error, not a panic.
        let bytes = t.try_to_bytes().map_err(|source| IoError::Tensor {
            path: path.to_owned(),
            name: name.clone(),
            source,
        })?;
        dense.push((name.as_str(), t.dtype(), t.shape(), bytes));
    }
    let entries: Vec<_> = dense.iter().map(|(n, d, s, b)| (*n, *d, *s, b.as_slice())).collect();
    let metadata = BTreeMap::from([("format".to_owned(), "pt".to_owned())]);
    save(path, &entries, Some(&metadata))
}

#[cfg(test)]
mod tests {
    use half::{bf16, f16};
    use smelt_compiler::ir::DType;

    use super::*;

    fn one_of_each() -> BTreeMap<String, Tensor> {
        let mut m = BTreeMap::new();
        let mut put = |name: &str, t: crate::tensor::Result<Tensor>| {
            m.insert(name.to_owned(), t.unwrap());
        };
        put("f64", Tensor::from_vec(vec![1.5f64, -2.25, f64::MAX], &[3]));
        put("f32", Tensor::from_vec(vec![0.1f32, -0.0, 3e38, 1e-40, 7.0, -1.0], &[2, 3]));
        let h = [0.5f32, -65504.0, 1e-7].map(f16::from_f32).to_vec();
        put("f16", Tensor::from_vec(h, &[3, 1]));
        let b = [1.0f32, -3.0e38, 0.007].map(bf16::from_f32).to_vec();
        put("bf16", Tensor::from_vec(b, &[1, 3]));
        put("i64", Tensor::from_vec(vec![i64::MIN, -1, 0, i64::MAX], &[2, 2]));
        put("i32", Tensor::from_vec(vec![i32::MIN, 7, i32::MAX], &[3]));
        put("i8", Tensor::from_vec(vec![-128i8, 0, 127], &[3]));
        put("u8", Tensor::from_vec(vec![0u8, 1, 255], &[1, 1, 3]));
        put("bool", Tensor::from_vec(vec![true, false, true, true], &[4]));
        put("scalar", Tensor::from_vec(vec![42.0f32], &[]));
        put("empty", Tensor::from_vec(Vec::<f32>::new(), &[0, 5]));
        put("model.layer.0.weight", Tensor::from_vec(vec![1i32, 2, 3, 4], &[2, 2]));
        m
    }

    #[test]
    fn every_dtype_round_trips_with_names_shapes_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sd.safetensors");
        let original = one_of_each();
        save_state_dict(&path, &original).unwrap();
        let back = load_state_dict(&path).unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), original.keys().collect::<Vec<_>>());
        for (name, t) in &original {
            let b = &back[name];
            assert_eq!((b.dtype(), b.shape()), (t.dtype(), t.shape()), "{name}");
            assert_eq!(b.to_bytes(), t.to_bytes(), "{name}");
        }
        let dtypes: Vec<DType> = back.values().map(Tensor::dtype).collect();
        for d in [DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64].into_iter().chain([
            DType::I32,
            DType::I8,
            DType::U8,
            DType::Bool,
        ]) {
            assert!(dtypes.contains(&d), "{d} not covered");
        }
        let file = SafeTensors::open(&path).unwrap();
        assert_eq!(file.metadata().unwrap()["format"], "pt");
    }

    #[test]
    fn views_are_saved_dense() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("views.safetensors");
        let t = Tensor::from_vec((0..6).map(|x| x as f32).collect(), &[2, 3]).unwrap();
        let tt = t.transpose(0, 1).unwrap();
        assert!(!tt.is_contiguous());
        let m = BTreeMap::from([("t".to_owned(), tt)]);
        save_state_dict(&path, &m).unwrap();
        let back = load_state_dict(&path).unwrap();
        assert_eq!(back["t"].shape(), &[3, 2]);
        assert_eq!(back["t"].to_vec::<f32>().unwrap(), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.safetensors");
        let e = load_state_dict(&path).unwrap_err().to_string();
        assert!(e.contains("missing.safetensors"), "{e}");
        let junk = dir.path().join("junk.safetensors");
        std::fs::write(&junk, b"\x04\0\0\0\0\0\0\0{}").unwrap();
        let e = load_state_dict(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.safetensors"), "{e}");
    }
}
