//! Dense row-major buffers of raw bytes: how the CPU backend holds values.
//!
//! A [`Buffer`] owns 64-byte-aligned storage (so kernels may use aligned
//! vector loads from the start of every buffer) of exactly `numel × size`
//! bytes in the dtype's native little-endian encoding: f16/bf16 as their
//! 16-bit patterns, bool as one byte 0/1. [`BufRef`]/[`BufMut`] are borrowed
//! views handed to kernels and library calls.

use crate::HostTensor;
use crate::ir::DType;
use crate::numerics::{bf16_bits_to_f32, f32_to_bf16_bits};
use crate::tensor::Data;

/// One cache line of bytes; `Vec<Line>` gives 64-byte alignment.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// An owned, aligned, row-major buffer.
#[derive(Clone)]
pub struct Buffer {
    /// Element type.
    pub dtype: DType,
    /// Concrete sizes.
    pub shape: Vec<usize>,
    lines: Vec<Line>,
    len: usize,
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({}{:?}, {} bytes)", self.dtype, self.shape, self.len)
    }
}

/// A borrowed read-only buffer.
#[derive(Clone, Copy, Debug)]
pub struct BufRef<'a> {
    /// Element type.
    pub dtype: DType,
    /// Concrete sizes.
    pub shape: &'a [usize],
    /// `numel × size` bytes.
    pub bytes: &'a [u8],
}

/// A borrowed writable buffer.
#[derive(Debug)]
pub struct BufMut<'a> {
    /// Element type.
    pub dtype: DType,
    /// Concrete sizes.
    pub shape: &'a [usize],
    /// `numel × size` bytes.
    pub bytes: &'a mut [u8],
}

impl BufRef<'_> {
    /// An owned copy.
    pub fn to_buffer(&self) -> Buffer {
        let mut b = Buffer::zeros(self.dtype, self.shape);
        b.bytes_mut().copy_from_slice(self.bytes);
        b
    }
}

/// `n` zero lines from the allocator's zeroed memory (large ones come as
/// fresh zero pages from the OS, where `vec![Line([0; 64]); n]` would write
/// every byte first); `None` if `n` lines cannot exist in an address space.
fn zeroed_lines(n: usize) -> Option<Vec<Line>> {
    if n == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<Line>(n).ok()?;
    // SAFETY: `layout` has a non-zero size; all-zero bytes are a valid
    // `Line`; the pointer comes from the global allocator with exactly the
    // layout `Vec<Line>` of capacity `n` uses, and `n` elements are
    // initialised (zero).
    unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<Line>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Some(Vec::from_raw_parts(p, n, n))
    }
}

impl Buffer {
    /// A zero-filled buffer of a size that exists (a host tensor's, a
    /// view's); panics on a size no address space holds. Sizes that come
    /// from a program go through [`Buffer::try_zeros`].
    pub fn zeros(dtype: DType, shape: &[usize]) -> Buffer {
        Buffer::try_zeros(dtype, shape).expect("a buffer the size of an existing tensor")
    }

    /// A zero-filled buffer, or `None` when `shape`'s bytes overflow the
    /// address space (so the caller can report the op and shape).
    pub fn try_zeros(dtype: DType, shape: &[usize]) -> Option<Buffer> {
        let len = shape.iter().try_fold(dtype.size_bytes(), |acc, &d| acc.checked_mul(d))?;
        Some(Buffer { dtype, shape: shape.to_vec(), lines: zeroed_lines(len.div_ceil(64))?, len })
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `lines` is a contiguous allocation of at least `len` initialised bytes.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<u8>(), self.len) }
    }

    /// The bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), self.len) }
    }

    /// A borrowed view.
    pub fn as_ref(&self) -> BufRef<'_> {
        BufRef { dtype: self.dtype, shape: &self.shape, bytes: self.bytes() }
    }

    /// A borrowed writable view.
    pub fn as_mut(&mut self) -> BufMut<'_> {
        let len = self.len;
        // SAFETY: as in `bytes_mut`; `shape` and the bytes are disjoint fields.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), len) };
        BufMut { dtype: self.dtype, shape: &self.shape, bytes }
    }

    /// Encodes a host tensor (floats are already rounded to their dtype, so
    /// narrowing to f32/f16/bf16 here is exact).
    pub fn from_host(t: &HostTensor) -> Buffer {
        let mut b = Buffer::zeros(t.dtype, &t.shape);
        let size = t.dtype.size_bytes();
        let out = b.bytes_mut();
        for i in 0..t.numel() {
            let dst = &mut out[i * size..(i + 1) * size];
            match (&t.data, t.dtype) {
                (Data::Float(v), DType::F64) => dst.copy_from_slice(&v[i].to_le_bytes()),
                (Data::Float(v), DType::F32) => dst.copy_from_slice(&(v[i] as f32).to_le_bytes()),
                (Data::Float(v), DType::F16) => {
                    dst.copy_from_slice(&half::f16::from_f64(v[i]).to_bits().to_le_bytes())
                }
                (Data::Float(v), DType::BF16) => {
                    dst.copy_from_slice(&f32_to_bf16_bits(v[i] as f32).to_le_bytes())
                }
                (Data::Int(v), DType::I64) => dst.copy_from_slice(&v[i].to_le_bytes()),
                (Data::Int(v), DType::I32) => dst.copy_from_slice(&(v[i] as i32).to_le_bytes()),
                (Data::Int(v), DType::I8) => dst[0] = v[i] as i8 as u8,
                (Data::Int(v), DType::U8) => dst[0] = v[i] as u8,
                (Data::Bool(v), _) => dst[0] = u8::from(v[i]),
                // HostTensor's invariant pairs each dtype with its data kind.
                _ => unreachable!("HostTensor data does not match its dtype {}", t.dtype),
            }
        }
        b
    }

    /// Decodes into a host tensor.
    pub fn to_host(&self) -> HostTensor {
        let bytes = self.bytes();
        let size = self.dtype.size_bytes();
        let n = self.numel();
        let at = |i: usize| &bytes[i * size..(i + 1) * size];
        let mut arr8 = [0u8; 8];
        let mut word = |i: usize| {
            arr8 = [0; 8];
            arr8[..size].copy_from_slice(at(i));
            u64::from_le_bytes(arr8)
        };
        let data = match self.dtype {
            DType::F64 => Data::Float((0..n).map(|i| f64::from_bits(word(i))).collect()),
            DType::F32 => {
                Data::Float((0..n).map(|i| f64::from(f32::from_bits(word(i) as u32))).collect())
            }
            DType::F16 => Data::Float(
                (0..n).map(|i| f64::from(half::f16::from_bits(word(i) as u16))).collect(),
            ),
            DType::BF16 => {
                Data::Float((0..n).map(|i| f64::from(bf16_bits_to_f32(word(i) as u16))).collect())
            }
            DType::I64 => Data::Int((0..n).map(|i| word(i) as i64).collect()),
            DType::I32 => Data::Int((0..n).map(|i| i64::from(word(i) as u32 as i32)).collect()),
            DType::I8 => Data::Int((0..n).map(|i| i64::from(word(i) as u8 as i8)).collect()),
            DType::U8 => Data::Int((0..n).map(|i| i64::from(word(i) as u8)).collect()),
            DType::Bool => Data::Bool((0..n).map(|i| word(i) != 0).collect()),
        };
        HostTensor { dtype: self.dtype, shape: self.shape.clone(), data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tensors_round_trip_through_bytes() {
        let cases = [
            HostTensor::from_f64(DType::BF16, &[3], vec![0.1, -2.5, f64::INFINITY]),
            HostTensor::from_f64(DType::F16, &[2], vec![0.1, 65504.0]),
            HostTensor::from_f64(DType::F32, &[2, 2], vec![1.0, -0.0, 3.5, f64::NAN]),
            HostTensor::from_i64(DType::I8, &[2], vec![-3, 127]),
            HostTensor::from_bool(&[2], vec![true, false]),
        ];
        for t in cases {
            let b = Buffer::from_host(&t);
            assert_eq!(b.bytes().as_ptr() as usize % 64, 0);
            let back = b.to_host();
            assert_eq!(back.dtype, t.dtype);
            assert_eq!(
                back.to_f64_vec().iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                t.to_f64_vec().iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
