//! [`Element`]: the Rust types a tensor's elements can be read from and
//! written to, each tied to its dtype and its little-endian byte encoding
//! (the compiler's `Buffer` encoding: f16/bf16 as 16-bit patterns, bool as
//! one byte 0/1).

use smelt_compiler::ir::DType;

/// A Rust type that is one dtype's element.
pub trait Element: Copy + Send + Sync + 'static {
    /// The dtype this type is.
    const DTYPE: DType;
    /// Appends the element's little-endian bytes.
    fn write_le(self, out: &mut [u8]);
    /// Reads an element from its little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! num_element {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn write_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
        }
    };
}

num_element!(f64, DType::F64);
num_element!(f32, DType::F32);
num_element!(i64, DType::I64);
num_element!(i32, DType::I32);
num_element!(i8, DType::I8);
num_element!(u8, DType::U8);

impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
    fn write_le(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_bits().to_le_bytes());
    }
    fn read_le(bytes: &[u8]) -> Self {
        half::f16::from_bits(u16::from_le_bytes([bytes[0], bytes[1]]))
    }
}

impl Element for half::bf16 {
    const DTYPE: DType = DType::BF16;
    fn write_le(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_bits().to_le_bytes());
    }
    fn read_le(bytes: &[u8]) -> Self {
        half::bf16::from_bits(u16::from_le_bytes([bytes[0], bytes[1]]))
    }
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn write_le(self, out: &mut [u8]) {
        out[0] = u8::from(self);
    }
    fn read_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}
