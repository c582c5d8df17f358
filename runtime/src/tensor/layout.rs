//! Making a strided view dense: on the host a copy over raw element bytes
//! (no decoding), row by row, with a `memcpy` per row when the last dim is
//! unit-stride; on a CUDA device the backend's strided gather (see
//! [`crate::cuda`]), never through the host.

use smelt_compiler::backend::cpu::Buffer;

use super::{Result, Tensor};

impl Tensor {
    /// A dense row-major copy of the elements into a fresh host buffer
    /// (downloaded from a CUDA device).
    pub(crate) fn dense_buffer(&self) -> Result<Buffer> {
        match self.storage_bytes() {
            Some(src) => Ok(self.dense_host_copy(src)),
            None => crate::cuda::download(self),
        }
    }

    /// The host strided copy out of `src`, this tensor's storage bytes.
    fn dense_host_copy(&self, src: &[u8]) -> Buffer {
        let size = self.dtype.size_bytes();
        let mut out = Buffer::zeros(self.dtype, &self.shape);
        let n = self.numel();
        if n == 0 {
            return out;
        }
        let dst = out.bytes_mut();
        let rank = self.shape.len();
        if rank == 0 {
            let at = self.offset * size;
            dst.copy_from_slice(&src[at..at + size]);
            return out;
        }
        let last = self.shape[rank - 1];
        let last_stride = self.strides[rank - 1];
        let row_bytes = last * size;
        let rows = n / last;
        let mut idx = vec![0usize; rank - 1];
        let mut base = self.offset as isize;
        for r in 0..rows {
            let d = &mut dst[r * row_bytes..(r + 1) * row_bytes];
            if last_stride == 1 {
                let at = base as usize * size;
                d.copy_from_slice(&src[at..at + row_bytes]);
            } else {
                copy_strided(d, src, base, last_stride, size);
            }
            // Advance the odometer over the outer dims.
            for k in (0..rank - 1).rev() {
                idx[k] += 1;
                base += self.strides[k];
                if idx[k] < self.shape[k] {
                    break;
                }
                base -= self.strides[k] * self.shape[k] as isize;
                idx[k] = 0;
            }
        }
        out
    }

    /// This tensor with dense row-major layout: itself when it already is,
    /// else a copy (recorded as an identity reshape, since the IR's values
    /// have no layout).
    pub fn contiguous(&self) -> crate::tensor::Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let t = self.densified()?;
        crate::dispatch::record_view(self, &t, || smelt_compiler::ir::Op::Reshape {
            shape: super::views::reshape_dims(&self.shape),
        });
        Ok(t)
    }

    /// A dense copy as a tensor with a fresh id, on the same device (not
    /// recorded: internal).
    pub(crate) fn densified(&self) -> Result<Tensor> {
        match self.storage_bytes() {
            Some(src) => Ok(Tensor::from_buffer(self.dense_host_copy(src))),
            None => crate::cuda::densify(self),
        }
    }
}

/// Copies `dst.len() / size` elements of `size` bytes from `src`, starting
/// at element `base` and stepping `stride` elements.
fn copy_strided(dst: &mut [u8], src: &[u8], base: isize, stride: isize, size: usize) {
    let mut at = base;
    match size {
        4 => {
            for d in dst.chunks_exact_mut(4) {
                let s = at as usize * 4;
                d.copy_from_slice(&src[s..s + 4]);
                at += stride;
            }
        }
        _ => {
            for d in dst.chunks_exact_mut(size) {
                let s = at as usize * size;
                d.copy_from_slice(&src[s..s + size]);
                at += stride;
            }
        }
    }
}

/// How a 4-D (NCHW) tensor's elements are ordered in memory
/// (`torch.memory_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryFormat {
    /// Row-major: W fastest, then H, C, N.
    Contiguous,
    /// NHWC in memory (C fastest) under the same NCHW logical shape.
    ChannelsLast,
}

impl Tensor {
    /// The same logical tensor laid out in `format` (`x.to(memory_format=…)`):
    /// only the strides change, the shape and values do not. Copies unless
    /// the tensor already is in that layout; a copy is recorded as an
    /// identity reshape (IR values have no layout).
    pub fn to_memory_format(&self, format: MemoryFormat) -> crate::tensor::Result<Tensor> {
        match format {
            MemoryFormat::Contiguous => self.contiguous(),
            MemoryFormat::ChannelsLast => {
                if self.rank() != 4 {
                    return Err(crate::tensor::arg_err(
                        "to_memory_format",
                        format!("channels_last needs a 4-D tensor, got {:?}", self.shape()),
                    ));
                }
                if self.is_channels_last() {
                    return Ok(self.clone());
                }
                let out = {
                    let _quiet = crate::dispatch::Quiet::new();
                    self.permute(&[0, 2, 3, 1])?.densified()?.permute(&[0, 3, 1, 2])?
                };
                crate::dispatch::record_view(self, &out, || smelt_compiler::ir::Op::Reshape {
                    shape: super::views::reshape_dims(&self.shape),
                });
                Ok(out)
            }
        }
    }

    /// True if the tensor is 4-D and dense in NHWC order.
    pub fn is_channels_last(&self) -> bool {
        if self.rank() != 4 {
            return false;
        }
        let (s, st) = (&self.shape, &self.strides);
        let mut expect = 1isize;
        for k in [1, 3, 2, 0] {
            if s[k] != 1 && st[k] != expect {
                return false;
            }
            expect *= s[k] as isize;
        }
        true
    }
}
