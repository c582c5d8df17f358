//! Typed views of the byte buffers that library ops read and write, and the
//! small parallel-for they share.
//!
//! Library ops compute in f32 or f64 ([`Real`]). A float input is *loaded*
//! as a slice of its compute type: borrowed straight from the buffer when
//! the dtype already is that type and the bytes are aligned for it (the
//! common case: [`super::super::Buffer`] is 64-byte aligned), copied
//! otherwise; f16/bf16 widen to f32 exactly. Outputs are written through
//! [`with_output`], which hands the op a `&mut [T]` (the buffer itself when
//! possible, else scratch) and rounds once on the way out: bf16 with the
//! AMP.md rule ([`f32_to_bf16_bits`]), f16 to nearest even.

use std::borrow::Cow;

use crate::ir::DType;
use crate::numerics::{bf16_bits_to_f32, f32_to_bf16_bits};

/// The element types library ops compute in.
pub(super) trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
    + std::ops::Div<Output = Self>
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// The identity of max.
    const NEG_INF: Self;
    /// The dtype whose buffers hold this type natively.
    const NATIVE: DType;
    /// Conversion from a count (window sizes).
    fn from_usize(n: usize) -> Self;
    /// True for NaN.
    fn is_nan(self) -> bool;
    /// True for a set sign bit (−0 included).
    fn is_sign_negative(self) -> bool;
    /// Decodes one element of `dtype` (a float dtype) from its bytes.
    fn decode(dtype: DType, bytes: &[u8]) -> Self;
    /// Encodes into `dtype` (a float dtype), rounding once.
    fn encode(self, dtype: DType, out: &mut [u8]);
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const NEG_INF: f32 = f32::NEG_INFINITY;
    const NATIVE: DType = DType::F32;
    fn from_usize(n: usize) -> f32 {
        n as f32
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn is_sign_negative(self) -> bool {
        f32::is_sign_negative(self)
    }
    fn decode(dtype: DType, b: &[u8]) -> f32 {
        match dtype {
            DType::BF16 => bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]])),
            DType::F16 => half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32(),
            DType::F64 => f64::decode(dtype, b) as f32,
            _ => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
    fn encode(self, dtype: DType, out: &mut [u8]) {
        match dtype {
            DType::BF16 => out.copy_from_slice(&f32_to_bf16_bits(self).to_le_bytes()),
            DType::F16 => out.copy_from_slice(&half::f16::from_f32(self).to_bits().to_le_bytes()),
            DType::F64 => out.copy_from_slice(&f64::from(self).to_le_bytes()),
            _ => out.copy_from_slice(&self.to_le_bytes()),
        }
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    const NEG_INF: f64 = f64::NEG_INFINITY;
    const NATIVE: DType = DType::F64;
    fn from_usize(n: usize) -> f64 {
        n as f64
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn is_sign_negative(self) -> bool {
        f64::is_sign_negative(self)
    }
    fn decode(dtype: DType, b: &[u8]) -> f64 {
        match dtype {
            DType::F64 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[..8]);
                f64::from_le_bytes(a)
            }
            _ => f64::from(f32::decode(dtype, b)),
        }
    }
    fn encode(self, dtype: DType, out: &mut [u8]) {
        match dtype {
            DType::F64 => out.copy_from_slice(&self.to_le_bytes()),
            // Rounding f64 → f32 → narrow is double rounding; library ops
            // only compute f64 for f64 outputs, so this arm is a fallback.
            _ => (self as f32).encode(dtype, out),
        }
    }
}

/// `bytes` as a slice of `T` when its dtype is `T`'s and it is aligned,
/// else a decoded copy (f16/bf16 widen exactly to f32).
pub(super) fn load<T: Real>(dtype: DType, bytes: &[u8]) -> Cow<'_, [T]> {
    if dtype == T::NATIVE {
        // SAFETY: f32/f64 accept every bit pattern; `align_to` only hands
        // out the aligned middle, and we use it only when it is everything.
        let (pre, mid, post) = unsafe { bytes.align_to::<T>() };
        if pre.is_empty() && post.is_empty() {
            return Cow::Borrowed(mid);
        }
    }
    let size = dtype.size_bytes();
    Cow::Owned(bytes.chunks_exact(size).map(|c| T::decode(dtype, c)).collect())
}

/// Runs `f` on a `&mut [T]` of `len` elements that ends up in `out` (of
/// float `dtype`): the buffer itself when it holds aligned `T`s, else a
/// scratch vector that is rounded into `out` afterwards.
pub(super) fn with_output<T: Real, R>(
    dtype: DType,
    out: &mut [u8],
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    if dtype == T::NATIVE {
        // SAFETY: as in `load`.
        let (pre, mid, post) = unsafe { out.align_to_mut::<T>() };
        if pre.is_empty() && post.is_empty() && mid.len() == len {
            return f(mid);
        }
    }
    let mut scratch = vec![T::ZERO; len];
    let r = f(&mut scratch);
    let size = dtype.size_bytes();
    for (v, o) in scratch.iter().zip(out.chunks_exact_mut(size)) {
        v.encode(dtype, o);
    }
    r
}

/// Decodes an integer buffer to i64 (sign- or zero-extended by dtype).
pub(super) fn load_ints(dtype: DType, bytes: &[u8]) -> Vec<i64> {
    let size = dtype.size_bytes();
    bytes
        .chunks_exact(size)
        .map(|b| match dtype {
            DType::I64 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                i64::from_le_bytes(a)
            }
            DType::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            DType::I8 => i64::from(b[0] as i8),
            _ => i64::from(b[0]),
        })
        .collect()
}

/// Stores i64s into an integer buffer, wrapping to the dtype (two's
/// complement truncation, as the interpreter's `wrap_int`).
pub(super) fn store_ints(dtype: DType, values: &[i64], out: &mut [u8]) {
    let size = dtype.size_bytes();
    for (v, o) in values.iter().zip(out.chunks_exact_mut(size)) {
        o.copy_from_slice(&v.to_le_bytes()[..size]);
    }
}

/// Splits `out` into `chunk`-element pieces (the last may be shorter) and
/// calls `f(index, piece)` for each, spreading contiguous runs of pieces
/// over up to `threads` scoped threads.
pub(super) fn par_chunks<T: Send>(
    out: &mut [T],
    chunk: usize,
    threads: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if chunk == 0 || out.is_empty() {
        return;
    }
    let pieces = out.len().div_ceil(chunk);
    let threads = threads.clamp(1, pieces);
    if threads == 1 {
        for (i, c) in out.chunks_mut(chunk).enumerate() {
            f(i, c);
        }
        return;
    }
    let per = pieces.div_ceil(threads);
    std::thread::scope(|s| {
        for (t, run) in out.chunks_mut(per * chunk).enumerate() {
            let f = &f;
            s.spawn(move || {
                for (i, c) in run.chunks_mut(chunk).enumerate() {
                    f(t * per + i, c);
                }
            });
        }
    });
}
