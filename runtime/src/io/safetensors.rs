//! The safetensors format (HuggingFace's weight files): read through a
//! memory map, written as the reference `safetensors` library writes it.
//!
//! A file is an 8-byte little-endian header length `n`, `n` bytes of JSON
//! (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [start, end]},
//! ..., "__metadata__": {"k": "v"}}`), then the data section; offsets are
//! relative to the data section and tensors are dense, row-major, little-endian.
//!
//! Invariants: [`SafeTensors::open`] validates the whole header before any
//! tensor is handed out (header length within the file and under 100 MB,
//! every entry well formed, every byte range inside the data section, ranges
//! pairwise disjoint, each range exactly `numel × element size` bytes), so
//! [`SafeTensors::get`] can only fail for a missing name, a dtype smelt has no
//! type for (F8, U16, ...: the file still opens and its other tensors load),
//! or a BOOL byte other than 0/1. Nothing here panics on a malformed file.
//!
//! [`save`] writes compact JSON padded with spaces to a multiple of 8 bytes,
//! tensors ordered as the reference implementation orders them (larger dtype
//! first, then by name), so the bytes equal what `safetensors.save_file` writes.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde_json::{Map, Value};
use smelt_compiler::ir::DType;

use super::IoError;

/// The reference implementation refuses headers larger than this.
const MAX_HEADER: u64 = 100_000_000;

/// The key that holds free-form string metadata instead of a tensor.
const METADATA_KEY: &str = "__metadata__";

/// Every dtype name the format defines: (name, bits per element, smelt dtype).
/// The order is the reference implementation's `Dtype` order (safetensors
/// 0.8), which `save` sorts by (descending); tensors of the dtypes smelt has
/// no type for are validated when the file opens but cannot be read.
const DTYPES: [(&str, u64, Option<DType>); 22] = [
    ("BOOL", 8, Some(DType::Bool)),
    ("F4", 4, None),
    ("F6_E2M3", 6, None),
    ("F6_E3M2", 6, None),
    ("U8", 8, Some(DType::U8)),
    ("I8", 8, Some(DType::I8)),
    ("F8_E5M2", 8, None),
    ("F8_E4M3", 8, None),
    ("F8_E8M0", 8, None),
    ("F8_E4M3FNUZ", 8, None),
    ("F8_E5M2FNUZ", 8, None),
    ("I16", 16, None),
    ("U16", 16, None),
    ("F16", 16, Some(DType::F16)),
    ("BF16", 16, Some(DType::BF16)),
    ("I32", 32, Some(DType::I32)),
    ("U32", 32, None),
    ("F32", 32, Some(DType::F32)),
    ("C64", 64, None),
    ("F64", 64, Some(DType::F64)),
    ("I64", 64, Some(DType::I64)),
    ("U64", 64, None),
];

/// What is wrong with a safetensors file (or with tensors to be saved as one);
/// every variant about one tensor names it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SafetensorsError {
    /// Fewer than the 8 bytes that hold the header length.
    #[error("file is {0} bytes long, too short for the 8-byte header length")]
    TooShort(u64),
    /// The header length points past the end of the file or over the limit.
    #[error("header length {header} is impossible for a {file}-byte file (limit {MAX_HEADER})")]
    HeaderLength {
        /// The length the file states.
        header: u64,
        /// The file's size.
        file: u64,
    },
    /// The header is not a JSON object of the expected form.
    #[error("bad header: {0}")]
    Header(String),
    /// One tensor's header entry is malformed.
    #[error("tensor '{tensor}': bad header entry: {problem}")]
    Entry {
        /// The tensor.
        tensor: String,
        /// What is wrong.
        problem: String,
    },
    /// A dtype name the format does not define.
    #[error("tensor '{tensor}': unknown dtype '{dtype}'")]
    UnknownDtype {
        /// The tensor.
        tensor: String,
        /// The name found.
        dtype: String,
    },
    /// A dtype the format defines but smelt has no type for.
    #[error(
        "tensor '{tensor}' has dtype {dtype}, which smelt does not support \
         (supported: F64 F32 F16 BF16 I64 I32 I8 U8 BOOL)"
    )]
    Unsupported {
        /// The tensor.
        tensor: String,
        /// Its dtype name.
        dtype: String,
    },
    /// The byte size of a shape overflows, or is not a whole number of bytes.
    #[error("tensor '{tensor}': shape {shape:?} of {dtype} has no valid byte size")]
    TooLarge {
        /// The tensor.
        tensor: String,
        /// Its shape.
        shape: Vec<u64>,
        /// Its dtype name.
        dtype: String,
    },
    /// `data_offsets` reach outside the data section or run backwards.
    #[error("tensor '{tensor}': data_offsets [{start}, {end}] outside the {len}-byte data section")]
    OutOfRange {
        /// The tensor.
        tensor: String,
        /// Start offset.
        start: u64,
        /// End offset.
        end: u64,
        /// Size of the data section.
        len: u64,
    },
    /// `data_offsets` do not span `numel × element size` bytes.
    #[error(
        "tensor '{tensor}': shape {shape:?} of {dtype} needs {expected} bytes, data_offsets span {actual}"
    )]
    Size {
        /// The tensor.
        tensor: String,
        /// Its shape.
        shape: Vec<u64>,
        /// Its dtype name.
        dtype: String,
        /// Bytes the shape needs.
        expected: u64,
        /// Bytes the offsets span.
        actual: u64,
    },
    /// Two tensors' byte ranges share bytes.
    #[error("tensors '{first}' and '{second}' overlap in the data section")]
    Overlap {
        /// The tensor whose range starts first.
        first: String,
        /// The tensor that starts inside it.
        second: String,
    },
    /// No tensor of that name.
    #[error("no tensor named '{0}' in the file")]
    NotFound(String),
    /// A BOOL element that is neither 0 nor 1.
    #[error("tensor '{tensor}': bool element {index} is the byte {byte:#04x}, not 0 or 1")]
    BadBool {
        /// The tensor.
        tensor: String,
        /// Index of the element.
        index: usize,
        /// The byte found.
        byte: u8,
    },
    /// A tensor handed to [`save`] whose bytes do not match its dtype and shape.
    #[error("cannot save tensor '{tensor}' ({dtype} {shape:?}): {problem}")]
    BadTensor {
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: DType,
        /// Its shape.
        shape: Vec<usize>,
        /// What is wrong.
        problem: String,
    },
}

/// One tensor's description from the header.
#[derive(Debug)]
struct Entry {
    name: String,
    /// Index into [`DTYPES`].
    dtype: usize,
    shape: Vec<usize>,
    /// Byte range within the data section.
    start: usize,
    end: usize,
}

/// A safetensors file opened through a memory map and validated; tensors are
/// borrowed from the map, nothing is copied.
pub struct SafeTensors {
    path: PathBuf,
    map: Mmap,
    /// Where the data section starts in the file.
    data_start: usize,
    /// In file order: by start offset, ties (empty tensors) by name.
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    metadata: Option<BTreeMap<String, String>>,
}

/// One tensor of a [`SafeTensors`] file: dense row-major little-endian bytes
/// in the encoding of the CPU backend's `Buffer` (f16/bf16 as bit patterns,
/// bool as one 0/1 byte). The bytes have no alignment guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorView<'a> {
    /// Element type.
    pub dtype: DType,
    /// Sizes, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// `numel × dtype size` bytes.
    pub bytes: &'a [u8],
}

impl SafeTensors {
    /// Maps and validates a safetensors file.
    pub fn open(path: &Path) -> Result<SafeTensors, IoError> {
        let os = |source| IoError::Os { path: path.to_owned(), source };
        let bad = |source| IoError::Safetensors { path: path.to_owned(), source };
        let file = File::open(path).map_err(os)?;
        let file_len = file.metadata().map_err(os)?.len();
        if file_len < 8 {
            return Err(bad(SafetensorsError::TooShort(file_len)));
        }
        // SAFETY: the map is only read. As with every memory-mapped loader
        // (the reference library, numpy's memmap), another process truncating
        // or rewriting the file while it is open is outside what we can guard.
        let map = unsafe { Mmap::map(&file) }.map_err(os)?;
        let (data_start, entries, metadata) = parse(&map).map_err(bad)?;
        let by_name = entries.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        Ok(SafeTensors { path: path.to_owned(), map, data_start, entries, by_name, metadata })
    }

    /// The file this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names in file order (by position in the data section).
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// How many tensors the file holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One tensor, borrowed from the map.
    pub fn get(&self, name: &str) -> Result<TensorView<'_>, IoError> {
        let bad = |source| IoError::Safetensors { path: self.path.clone(), source };
        let entry = match self.by_name.get(name) {
            Some(&i) => &self.entries[i],
            None => return Err(bad(SafetensorsError::NotFound(name.to_owned()))),
        };
        let (dtype_name, _, dtype) = DTYPES[entry.dtype];
        let Some(dtype) = dtype else {
            return Err(bad(SafetensorsError::Unsupported {
                tensor: name.to_owned(),
                dtype: dtype_name.to_owned(),
            }));
        };
        let bytes = &self.map[self.data_start + entry.start..self.data_start + entry.end];
        if dtype == DType::Bool {
            if let Some(index) = bytes.iter().position(|&b| b > 1) {
                let byte = bytes[index];
                return Err(bad(SafetensorsError::BadBool {
                    tensor: name.to_owned(),
                    index,
                    byte,
                }));
            }
        }
        Ok(TensorView { dtype, shape: entry.shape.clone(), bytes })
    }

    /// The file's `__metadata__` string map, when it has one.
    pub fn metadata(&self) -> Option<&BTreeMap<String, String>> {
        self.metadata.as_ref()
    }
}

impl std::fmt::Debug for SafeTensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeTensors")
            .field("path", &self.path)
            .field("tensors", &self.entries.len())
            .finish()
    }
}

type Parsed = (usize, Vec<Entry>, Option<BTreeMap<String, String>>);

/// Validates a whole file's bytes: header, entries, byte ranges.
fn parse(bytes: &[u8]) -> Result<Parsed, SafetensorsError> {
    let file = bytes.len() as u64;
    let len_bytes: [u8; 8] = match bytes.get(..8).and_then(|b| b.try_into().ok()) {
        Some(b) => b,
        None => return Err(SafetensorsError::TooShort(file)),
    };
    let header = u64::from_le_bytes(len_bytes);
    if header > MAX_HEADER || header > file - 8 {
        return Err(SafetensorsError::HeaderLength { header, file });
    }
    let data_start = 8 + header as usize;
    let data_len = (bytes.len() - data_start) as u64;
    let text = std::str::from_utf8(&bytes[8..data_start])
        .map_err(|e| SafetensorsError::Header(format!("not UTF-8: {e}")))?;
    let json: Value = serde_json::from_str(text)
        .map_err(|e| SafetensorsError::Header(format!("not valid JSON: {e}")))?;
    let Value::Object(map) = json else {
        return Err(SafetensorsError::Header("not a JSON object".into()));
    };
    let mut metadata = None;
    let mut entries = Vec::with_capacity(map.len());
    for (name, value) in map {
        if name == METADATA_KEY {
            metadata = Some(parse_metadata(value)?);
        } else {
            entries.push(parse_entry(name, &value, data_len)?);
        }
    }
    entries.sort_by(|a, b| (a.start, a.end, &a.name).cmp(&(b.start, b.end, &b.name)));
    // Sorted by start, ranges are disjoint iff each starts at or after the
    // previous one's end; empty ranges share no byte with anything.
    let mut last: Option<&Entry> = None;
    for e in entries.iter().filter(|e| e.start < e.end) {
        if let Some(prev) = last {
            if e.start < prev.end {
                return Err(SafetensorsError::Overlap {
                    first: prev.name.clone(),
                    second: e.name.clone(),
                });
            }
        }
        last = Some(e);
    }
    Ok((data_start, entries, metadata))
}

fn parse_metadata(value: Value) -> Result<BTreeMap<String, String>, SafetensorsError> {
    let Value::Object(map) = value else {
        return Err(SafetensorsError::Header(format!("{METADATA_KEY} is not a JSON object")));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(SafetensorsError::Header(format!(
                "{METADATA_KEY} value of '{k}' is {other}, not a string"
            ))),
        })
        .collect()
}

fn parse_entry(name: String, value: &Value, data_len: u64) -> Result<Entry, SafetensorsError> {
    let problem = |p: &str| SafetensorsError::Entry { tensor: name.clone(), problem: p.into() };
    let Value::Object(fields) = value else {
        return Err(problem("not a JSON object"));
    };
    let dtype_name = match fields.get("dtype") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(problem("missing string field 'dtype'")),
    };
    let shape =
        u64_list(fields, "shape").ok_or_else(|| problem("'shape' is not a list of sizes"))?;
    let offsets = u64_list(fields, "data_offsets")
        .filter(|o| o.len() == 2)
        .ok_or_else(|| problem("'data_offsets' is not a list of two offsets"))?;
    let Some(dtype) = DTYPES.iter().position(|d| d.0 == dtype_name) else {
        return Err(SafetensorsError::UnknownDtype { tensor: name, dtype: dtype_name.into() });
    };
    let (start, end) = (offsets[0], offsets[1]);
    if start > end || end > data_len {
        return Err(SafetensorsError::OutOfRange { tensor: name, start, end, len: data_len });
    }
    let bits = DTYPES[dtype].1;
    let expected = shape
        .iter()
        .try_fold(bits, |acc, &d| acc.checked_mul(d))
        .filter(|b| b % 8 == 0)
        .map(|b| b / 8)
        .filter(|_| shape.iter().all(|&d| usize::try_from(d).is_ok()));
    let Some(expected) = expected else {
        return Err(SafetensorsError::TooLarge { tensor: name, shape, dtype: dtype_name.into() });
    };
    if expected != end - start {
        return Err(SafetensorsError::Size {
            tensor: name,
            shape,
            dtype: dtype_name.into(),
            expected,
            actual: end - start,
        });
    }
    // In range of a mapped file, so both fit in usize; so do the sizes,
    // checked above.
    Ok(Entry {
        name,
        dtype,
        shape: shape.iter().map(|&d| d as usize).collect(),
        start: start as usize,
        end: end as usize,
    })
}

/// `fields[key]` as a list of non-negative integers.
fn u64_list(fields: &Map<String, Value>, key: &str) -> Option<Vec<u64>> {
    fields.get(key)?.as_array()?.iter().map(Value::as_u64).collect()
}

/// The safetensors name of a smelt dtype and its index in [`DTYPES`].
fn dtype_index(dtype: DType) -> usize {
    // Every smelt dtype has an entry, so the fallback is never taken.
    DTYPES.iter().position(|d| d.2 == Some(dtype)).unwrap_or(0)
}

/// Encodes tensors as safetensors bytes (see [`save`]).
pub fn encode(
    tensors: &[(&str, DType, &[usize], &[u8])],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<Vec<u8>, SafetensorsError> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    // The reference sorts by dtype, largest first, then by name.
    order.sort_by(|&a, &b| {
        let (na, da, ..) = tensors[a];
        let (nb, db, ..) = tensors[b];
        dtype_index(db).cmp(&dtype_index(da)).then(na.cmp(nb))
    });
    let mut seen = std::collections::HashSet::new();
    let mut offset = 0usize;
    let mut entries = Vec::with_capacity(tensors.len());
    for &idx in &order {
        let (name, dtype, shape, bytes) = tensors[idx];
        let bad = |problem: String| SafetensorsError::BadTensor {
            tensor: name.into(),
            dtype,
            shape: shape.to_vec(),
            problem,
        };
        if name == METADATA_KEY {
            return Err(bad(format!("'{METADATA_KEY}' is reserved for metadata")));
        }
        if !seen.insert(name) {
            return Err(bad("the name is used twice".into()));
        }
        let expected = shape.iter().try_fold(dtype.size_bytes(), |acc, &d| acc.checked_mul(d));
        if expected != Some(bytes.len()) {
            let need = expected.map_or("more than usize::MAX".into(), |e| e.to_string());
            return Err(bad(format!("it has {} bytes, its shape needs {need}", bytes.len())));
        }
        if dtype == DType::Bool && bytes.iter().any(|&b| b > 1) {
            return Err(bad("a bool byte is neither 0 nor 1".into()));
        }
        entries.push((name, dtype, shape, offset, offset + bytes.len()));
        offset += bytes.len();
    }
    // serde_json's Map keeps keys sorted, but the reference writes metadata
    // first and then tensors in save order, so the JSON is assembled here.
    let mut json = String::from("{");
    let mut first = true;
    let mut push = |key: &str, value: String| {
        if !first {
            json.push(',');
        }
        first = false;
        json.push_str(&Value::String(key.into()).to_string());
        json.push(':');
        json.push_str(&value);
    };
    if let Some(meta) = metadata {
        // A string map always serializes.
        push(METADATA_KEY, serde_json::to_string(meta).unwrap_or_default());
    }
    for &(name, dtype, shape, start, end) in &entries {
        let dtype_name = DTYPES[dtype_index(dtype)].0;
        let shape = shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",");
        push(
            name,
            format!(
                r#"{{"dtype":"{dtype_name}","shape":[{shape}],"data_offsets":[{start},{end}]}}"#
            ),
        );
    }
    json.push('}');
    // Pad with spaces so the data section starts 8-byte aligned.
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    for &idx in &order {
        out.extend_from_slice(tensors[idx].3);
    }
    Ok(out)
}

/// Writes tensors (name, dtype, shape, little-endian row-major bytes) and
/// optional string metadata as a safetensors file that the reference
/// libraries read; the bytes equal the reference's for the same input.
/// The file is written to a temporary sibling and renamed into place, so a
/// failed save never leaves a half-written file under `path`.
pub fn save(
    path: &Path,
    tensors: &[(&str, DType, &[usize], &[u8])],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<(), IoError> {
    let bytes = encode(tensors, metadata)
        .map_err(|source| IoError::Safetensors { path: path.to_owned(), source })?;
    let os = |source| IoError::Os { path: path.to_owned(), source };
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = File::create(&tmp).and_then(|mut f| f.write_all(&bytes).and_then(|_| f.flush()));
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(os(e));
    }
    Ok(())
}
