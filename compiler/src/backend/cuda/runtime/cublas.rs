//! Matmul through cuBLAS (`cublasGemmStridedBatchedEx`): f32 (TF32 when
//! allowed), f64, and f16/bf16 on tensor cores with f32 accumulation;
//! batched by stride, broadcast batch dims by one call per batch.

use super::{CudaBackend, CudaError, DeviceTensor};
use crate::backend::kernel::KernelFunc;
use crate::ir::DType;

/// cuBLAS's data and compute types for a float dtype: f32 (TF32 tensor
/// cores when `tf32`), f64, and f16/bf16 storage with f32 compute (None for
/// other dtypes).
pub(super) fn gemm_types(
    d: DType,
    tf32: bool,
) -> Option<(cudarc::cublas::sys::cudaDataType, cudarc::cublas::sys::cublasComputeType_t)> {
    use cudarc::cublas::sys::{cublasComputeType_t as CT, cudaDataType as DT};
    Some(match d {
        DType::F32 => (
            DT::CUDA_R_32F,
            if tf32 { CT::CUBLAS_COMPUTE_32F_FAST_TF32 } else { CT::CUBLAS_COMPUTE_32F },
        ),
        DType::F64 => (DT::CUDA_R_64F, CT::CUBLAS_COMPUTE_64F),
        DType::F16 => (DT::CUDA_R_16F, CT::CUBLAS_COMPUTE_32F),
        DType::BF16 => (DT::CUDA_R_16BF, CT::CUBLAS_COMPUTE_32F),
        _ => return None,
    })
}

impl CudaBackend {
    /// numpy matmul through cuBLAS (row-major C = A·B as column-major
    /// Cᵀ = Bᵀ·Aᵀ); batches by stride, broadcast batch dims by looping.
    pub(super) fn matmul(
        &self,
        k: &KernelFunc,
        ins: &[&DeviceTensor],
        outs: &[&DeviceTensor],
    ) -> Result<(), CudaError> {
        use cudarc::cublas::sys::{cublasGemmAlgo_t, cublasOperation_t};
        use cudarc::driver::DevicePtr;
        let blas = self
            .blas
            .as_ref()
            .ok_or_else(|| CudaError::NoDevice("libcublas is not installed".into()))?;
        let (a, bm) = match ins {
            [a, b] => (a, b),
            _ => {
                return Err(CudaError::Unsupported(format!(
                    "matmul kernel {} with {} inputs",
                    k.name,
                    ins.len()
                )));
            }
        };
        let out =
            outs.first().ok_or_else(|| CudaError::Input("matmul without an output".into()))?;
        let (dt, ct) = gemm_types(a.dtype, self.tf32).ok_or_else(|| {
            CudaError::Unsupported(format!(
                "matmul of {} (cuBLAS runs float matmuls only)",
                a.dtype
            ))
        })?;
        let mut sa = a.shape.clone();
        let mut sb = bm.shape.clone();
        if sa.len() == 1 {
            sa.insert(0, 1);
        }
        if sb.len() == 1 {
            sb.push(1);
        }
        let (m, kk, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
        let ba: Vec<usize> = sa[..sa.len() - 2].to_vec();
        let bb: Vec<usize> = sb[..sb.len() - 2].to_vec();
        let rank = ba.len().max(bb.len());
        let pad = |v: &[usize]| -> Vec<usize> {
            std::iter::repeat_n(1, rank - v.len()).chain(v.iter().copied()).collect()
        };
        let (pa, pb) = (pad(&ba), pad(&bb));
        let bo: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| x.max(y)).collect();
        let batch: usize = bo.iter().product();
        let esize = a.dtype.size_bytes();
        // Per output batch, the element offsets into A and B (broadcast dims read 0).
        let offsets = |p: &[usize]| -> Vec<usize> {
            (0..batch)
                .map(|mut i| {
                    let (mut off, mut stride) = (0, 1);
                    for d in (0..rank).rev() {
                        let c = i % bo[d];
                        i /= bo[d];
                        if p[d] != 1 {
                            off += c * stride;
                        }
                        stride *= p[d];
                    }
                    off
                })
                .collect()
        };
        let (oa, ob) = (offsets(&pa), offsets(&pb));
        let one: [u8; 8] = if a.dtype == DType::F64 {
            1f64.to_le_bytes()
        } else {
            let mut x = [0u8; 8];
            x[..4].copy_from_slice(&1f32.to_le_bytes());
            x
        };
        let zero = [0u8; 8];
        let (pa_ptr, _ga) = a.buf.device_ptr(&self.stream);
        let (pb_ptr, _gb) = bm.buf.device_ptr(&self.stream);
        // cuBLAS writes C through this pointer; nothing else touches it meanwhile.
        let (pc_ptr, _gc) = out.buf.device_ptr(&self.stream);
        let to_i32 = |x: usize| {
            i32::try_from(x).map_err(|_| {
                CudaError::Unsupported(format!("matmul size {x} exceeds cuBLAS's 32-bit sizes"))
            })
        };
        let (mi, ni, ki) = (to_i32(m)?, to_i32(n)?, to_i32(kk)?);
        // Uniform strides: one strided-batched call; otherwise one call per batch.
        let uniform = |o: &[usize], step: usize| {
            o.iter().enumerate().all(|(i, &x)| x == o.first().copied().unwrap_or(0) + i * step)
        };
        let sa_step = if batch > 1 { oa.get(1).copied().unwrap_or(0) } else { 0 };
        let sb_step = if batch > 1 { ob.get(1).copied().unwrap_or(0) } else { 0 };
        let calls: Vec<(usize, usize, usize, usize, i64, i64)> =
            if uniform(&oa, sa_step) && uniform(&ob, sb_step) {
                vec![(0, 0, 0, batch, (sa_step * m * kk) as i64, (sb_step * kk * n) as i64)]
            } else {
                (0..batch).map(|i| (oa[i], ob[i], i, 1, 0, 0)).collect()
            };
        for (a_off, b_off, c_idx, count, stride_a, stride_b) in calls {
            // SAFETY: the pointers are live device buffers of the shapes
            // described; offsets and strides stay inside them.
            let r = unsafe {
                cudarc::cublas::result::gemm_strided_batched_ex(
                    *blas.handle(),
                    cublasOperation_t::CUBLAS_OP_N,
                    cublasOperation_t::CUBLAS_OP_N,
                    ni,
                    mi,
                    ki,
                    one.as_ptr().cast(),
                    (pb_ptr + (b_off * kk * n * esize) as u64) as *const std::ffi::c_void,
                    dt,
                    ni,
                    stride_b,
                    (pa_ptr + (a_off * m * kk * esize) as u64) as *const std::ffi::c_void,
                    dt,
                    ki,
                    stride_a,
                    zero.as_ptr().cast(),
                    (pc_ptr + (c_idx * m * n * esize) as u64) as *mut std::ffi::c_void,
                    dt,
                    ni,
                    (m * n) as i64,
                    to_i32(count)?,
                    ct,
                    cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                )
            };
            r.map_err(|e| CudaError::Blas {
                what: "cublasGemmStridedBatchedEx".into(),
                message: format!("{e:?}"),
            })?;
        }
        Ok(())
    }
}
