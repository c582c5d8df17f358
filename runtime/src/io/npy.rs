//! numpy's `.npy` format, versions 1.0, 2.0 and 3.0: bytes to a
//! [`HostTensor`] and back.
//!
//! Supported dtypes: `<f8 <f4 <f2 <i8 <i4 |i1 |u1 |b1` (their big-endian `>`
//! forms too when reading). A `fortran_order: True` file is reordered to row
//! major. Writing produces format 1.0 with the header padded so the data
//! starts at a multiple of 64 bytes, byte for byte as numpy writes it.
//!
//! Invariant: decoding never panics and never allocates more than the input's
//! size: the shape's byte count is computed with checked arithmetic and must
//! equal the data that follows the header before any element is read.

use smelt_compiler::ir::DType;
use smelt_compiler::{Data, HostTensor};

use super::npy_header::{format_header, parse_header};

/// The first six bytes of every `.npy` file.
const MAGIC: &[u8] = b"\x93NUMPY";

/// numpy aligns the start of the data to this many bytes.
const ALIGN: usize = 64;

/// What is wrong with `.npy` bytes (or with a tensor to be written as them).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NpyError {
    /// The file does not start with `\x93NUMPY`.
    #[error("not a .npy file (bad magic bytes)")]
    BadMagic,
    /// The file ends before the part named.
    #[error("truncated .npy file: it ends inside the {0}")]
    Truncated(&'static str),
    /// A format version other than 1.0, 2.0, 3.0.
    #[error("unsupported .npy format version {0}.{1} (supported: 1.0, 2.0, 3.0)")]
    Version(u8, u8),
    /// The header is not the dict numpy writes.
    #[error("bad .npy header: {0}")]
    Header(String),
    /// A dtype this reader does not know.
    #[error(
        "unsupported dtype '{0}' (supported: <f8 <f4 <f2 <i8 <i4 |i1 |u1 |b1 and big-endian forms)"
    )]
    Descr(String),
    /// The shape's byte size overflows or cannot be addressed.
    #[error("shape {shape:?} of '{descr}' is too large")]
    TooLarge {
        /// The sizes from the header.
        shape: Vec<u64>,
        /// The dtype from the header.
        descr: String,
    },
    /// The data after the header is not the size the shape needs.
    #[error("shape {shape:?} of '{descr}' needs {expected} data bytes, the file has {actual}")]
    DataSize {
        /// The sizes from the header.
        shape: Vec<u64>,
        /// The dtype from the header.
        descr: String,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes present after the header.
        actual: usize,
    },
    /// A `|b1` element that is neither 0 nor 1.
    #[error("bool element {index} is the byte {byte:#04x}, not 0 or 1")]
    BadBool {
        /// Index of the element in file order.
        index: usize,
        /// The byte found.
        byte: u8,
    },
    /// Writing a dtype numpy has no name for.
    #[error("{0} has no numpy dtype (convert it to f32 before writing)")]
    NoNumpyDtype(DType),
    /// Writing a tensor that breaks [`HostTensor`]'s invariant.
    #[error("cannot write a {dtype} tensor of shape {shape:?}: {problem}")]
    BadTensor {
        /// Its dtype.
        dtype: DType,
        /// Its shape.
        shape: Vec<usize>,
        /// What is inconsistent.
        problem: String,
    },
}

/// Byte order of multi-byte elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

/// A `descr` string: dtype and byte order.
fn parse_descr(descr: &str) -> Result<(DType, Endian), NpyError> {
    let unknown = || NpyError::Descr(descr.to_string());
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(unknown)?;
    let dtype = match chars.as_str() {
        "f8" => DType::F64,
        "f4" => DType::F32,
        "f2" => DType::F16,
        "i8" => DType::I64,
        "i4" => DType::I32,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "b1" => DType::Bool,
        _ => return Err(unknown()),
    };
    let native = if cfg!(target_endian = "big") { Endian::Big } else { Endian::Little };
    let endian = match order {
        '<' => Endian::Little,
        '>' => Endian::Big,
        '=' => native,
        // `|` means "not applicable": only one-byte types may say it.
        '|' if dtype.size_bytes() == 1 => Endian::Little,
        _ => return Err(unknown()),
    };
    Ok((dtype, endian))
}

/// The `descr` numpy writes for a dtype (little-endian).
fn descr_of(d: DType) -> Result<&'static str, NpyError> {
    Ok(match d {
        DType::F64 => "<f8",
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::Bool => "|b1",
        DType::BF16 => return Err(NpyError::NoNumpyDtype(d)),
    })
}

/// Reads `N` bytes as an array in the given byte order, returned little-endian.
fn le_bytes<const N: usize>(chunk: &[u8], endian: Endian) -> [u8; N] {
    let mut b = [0u8; N];
    b.copy_from_slice(&chunk[..N]);
    if endian == Endian::Big {
        b.reverse();
    }
    b
}

/// Decodes the bytes of a whole `.npy` file.
pub fn decode_npy(bytes: &[u8]) -> Result<HostTensor, NpyError> {
    if !bytes.starts_with(MAGIC) {
        return Err(if MAGIC.starts_with(bytes) {
            NpyError::Truncated("magic bytes")
        } else {
            NpyError::BadMagic
        });
    }
    let (Some(&major), Some(&minor)) = (bytes.get(6), bytes.get(7)) else {
        return Err(NpyError::Truncated("version"));
    };
    let len_size = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => return Err(NpyError::Version(major, minor)),
    };
    let len_bytes = bytes.get(8..8 + len_size).ok_or(NpyError::Truncated("header length"))?;
    let header_len = len_bytes.iter().rev().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let start = 8 + len_size;
    let header = start
        .checked_add(header_len)
        .and_then(|end| bytes.get(start..end))
        .ok_or(NpyError::Truncated("header"))?;
    let data = &bytes[start + header.len()..];
    let text: String = if major == 3 {
        std::str::from_utf8(header)
            .map_err(|_| NpyError::Header("the header is not UTF-8".into()))?
            .to_string()
    } else {
        // Versions 1 and 2 are latin-1: every byte is one char.
        header.iter().map(|&b| char::from(b)).collect()
    };
    let h = parse_header(&text).map_err(NpyError::Header)?;
    let (dtype, endian) = parse_descr(&h.descr)?;

    let too_large = || NpyError::TooLarge { shape: h.shape.clone(), descr: h.descr.clone() };
    let mut shape = Vec::with_capacity(h.shape.len());
    let mut numel: usize = 1;
    for &d in &h.shape {
        let d = usize::try_from(d).map_err(|_| too_large())?;
        numel = numel.checked_mul(d).ok_or_else(too_large)?;
        shape.push(d);
    }
    let size = dtype.size_bytes();
    let expected = numel.checked_mul(size).ok_or_else(too_large)?;
    if expected != data.len() {
        return Err(NpyError::DataSize {
            shape: h.shape.clone(),
            descr: h.descr.clone(),
            expected,
            actual: data.len(),
        });
    }

    let chunks = data.chunks_exact(size);
    let values = match dtype {
        DType::F64 => {
            Data::Float(chunks.map(|c| f64::from_le_bytes(le_bytes(c, endian))).collect())
        }
        DType::F32 => Data::Float(
            chunks.map(|c| f64::from(f32::from_le_bytes(le_bytes(c, endian)))).collect(),
        ),
        DType::F16 => Data::Float(
            chunks
                .map(|c| half::f16::from_bits(u16::from_le_bytes(le_bytes(c, endian))).to_f64())
                .collect(),
        ),
        DType::I64 => Data::Int(chunks.map(|c| i64::from_le_bytes(le_bytes(c, endian))).collect()),
        DType::I32 => {
            Data::Int(chunks.map(|c| i64::from(i32::from_le_bytes(le_bytes(c, endian)))).collect())
        }
        DType::I8 => Data::Int(data.iter().map(|&b| i64::from(b as i8)).collect()),
        DType::U8 => Data::Int(data.iter().map(|&b| i64::from(b)).collect()),
        DType::Bool => Data::Bool(
            data.iter()
                .enumerate()
                .map(|(index, &byte)| match byte {
                    0 => Ok(false),
                    1 => Ok(true),
                    _ => Err(NpyError::BadBool { index, byte }),
                })
                .collect::<Result<_, _>>()?,
        ),
        DType::BF16 => return Err(NpyError::Descr(h.descr.clone())),
    };
    let data = if h.fortran_order {
        match values {
            Data::Float(v) => Data::Float(fortran_to_row_major(&v, &shape)),
            Data::Int(v) => Data::Int(fortran_to_row_major(&v, &shape)),
            Data::Bool(v) => Data::Bool(fortran_to_row_major(&v, &shape)),
        }
    } else {
        values
    };
    Ok(HostTensor { dtype, shape, data })
}

/// Reorders column-major elements to row-major. `v.len()` is the product of `shape`.
fn fortran_to_row_major<T: Copy>(v: &[T], shape: &[usize]) -> Vec<T> {
    if v.is_empty() || shape.len() < 2 {
        return v.to_vec();
    }
    // Column-major strides: the first dim varies fastest.
    let mut strides = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        strides[k] = strides[k - 1] * shape[k - 1];
    }
    // Walk the row-major index space as an odometer, tracking the
    // column-major offset of the current element.
    let mut out = Vec::with_capacity(v.len());
    let mut idx = vec![0usize; shape.len()];
    let mut offset = 0usize;
    for _ in 0..v.len() {
        out.push(v[offset]);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            offset += strides[d];
            if idx[d] < shape[d] {
                break;
            }
            offset -= strides[d] * shape[d];
            idx[d] = 0;
        }
    }
    out
}

/// Encodes a tensor as a format 1.0 `.npy` file (2.0 if the header is too
/// long for 1.0, as numpy does). bf16 is refused: numpy has no such dtype.
pub fn encode_npy(t: &HostTensor) -> Result<Vec<u8>, NpyError> {
    let descr = descr_of(t.dtype)?;
    let bad =
        |problem: String| NpyError::BadTensor { dtype: t.dtype, shape: t.shape.clone(), problem };
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad("the element count overflows".into()))?;
    if numel != t.data.len() {
        return Err(bad(format!("it holds {} elements", t.data.len())));
    }
    let family_ok = match &t.data {
        Data::Float(_) => t.dtype.is_float(),
        Data::Int(_) => t.dtype.is_int(),
        Data::Bool(_) => t.dtype == DType::Bool,
    };
    if !family_ok {
        return Err(bad("its data is of another dtype family".into()));
    }

    let dict = format_header(descr, &t.shape);
    // The header ends with '\n' and is padded with spaces so the data starts
    // at a multiple of 64; numpy adds a full 64 when already aligned.
    let (version, len_size) =
        if dict.len() + 1 + ALIGN <= usize::from(u16::MAX) { (1u8, 2usize) } else { (2u8, 4usize) };
    let unpadded = MAGIC.len() + 2 + len_size + dict.len() + 1;
    let pad = ALIGN - unpadded % ALIGN;
    let header_len = dict.len() + pad + 1;
    let mut out = Vec::with_capacity(unpadded + pad + numel * t.dtype.size_bytes());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        // Checked above: header_len <= u16::MAX.
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        let len = u32::try_from(header_len).map_err(|_| bad("the header is too long".into()))?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');

    match &t.data {
        Data::Float(v) => match t.dtype {
            DType::F64 => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            DType::F32 => v.iter().for_each(|&x| out.extend_from_slice(&(x as f32).to_le_bytes())),
            _ => v.iter().for_each(|&x| {
                out.extend_from_slice(&half::f16::from_f64(x).to_bits().to_le_bytes())
            }),
        },
        Data::Int(v) => match t.dtype {
            DType::I64 => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            DType::I32 => v.iter().for_each(|&x| out.extend_from_slice(&(x as i32).to_le_bytes())),
            DType::I8 => out.extend(v.iter().map(|&x| x as i8 as u8)),
            _ => out.extend(v.iter().map(|&x| x as u8)),
        },
        Data::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
    }
    Ok(out)
}

#[cfg(test)]
#[path = "npy_tests.rs"]
mod tests;
