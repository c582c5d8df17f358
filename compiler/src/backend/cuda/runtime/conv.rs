//! conv2d on the device: the bias broadcast, then per chunk of images the
//! generated im2col kernel into the plan's scratch buffer and the cuBLAS
//! gemms, all as [`conv_plan`] describes them (the host-side numbers live
//! there, as pure functions, so tests check them without a device).

use cudarc::driver::{CudaFunction, CudaSlice, DevicePtr, LaunchConfig, PushKernelArg};

use super::cublas::gemm_types;
use super::{CudaBackend, CudaError, DeviceTensor, driver};
use crate::backend::cuda::conv_plan::{
    ConvGemm, ConvGeometry, Gemm, GemmBuf, SCRATCH_BUDGET_BYTES, conv_plan,
};
use crate::backend::kernel::KernelFunc;
use crate::interp::{Bindings, concrete_shape};
use crate::ir::DType;

/// The compiled kernels of one conv step.
pub(super) struct ConvFunctions<'a> {
    /// im2col (None for a 1×1 conv).
    pub im2col: Option<&'a CudaFunction>,
    /// The bias broadcast (None without a bias).
    pub bias: Option<&'a CudaFunction>,
}

fn geometry(c: &ConvGemm, x: &[usize], w: &[usize]) -> Result<ConvGeometry, CudaError> {
    ConvGeometry::new(&c.attrs, x, w).map_err(CudaError::Input)
}

/// Columns scratch bytes the conv kernel `k` needs at bindings `b`.
pub(super) fn scratch_bytes(
    k: &KernelFunc,
    c: &ConvGemm,
    b: &Bindings,
) -> Result<usize, CudaError> {
    let shape = |slot: usize| -> Result<Vec<usize>, CudaError> {
        let p = c
            .inputs
            .get(slot)
            .copied()
            .flatten()
            .and_then(|i| k.func.params().get(i).copied())
            .ok_or_else(|| {
                CudaError::Input(format!("conv kernel {} lacks operand {slot}", k.name))
            })?;
        concrete_shape(&k.func.ty(p).shape, b).map_err(|e| CudaError::Input(e.to_string()))
    };
    let g = geometry(c, &shape(0)?, &shape(1)?)?;
    let esize = c.dtype.size_bytes();
    Ok(conv_plan(&g, c.bias.is_some(), SCRATCH_BUDGET_BYTES / esize).columns * esize)
}

/// A grid-stride launch over `total` elements.
fn grid(total: i64, sm_count: u32) -> LaunchConfig {
    let blocks = (total.max(1) as u64).div_ceil(256).clamp(1, u64::from(sm_count.max(1)) * 32);
    LaunchConfig { grid_dim: (blocks as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

fn to_i32(what: &str, x: usize) -> Result<i32, CudaError> {
    i32::try_from(x).map_err(|_| {
        CudaError::Unsupported(format!("conv2d gemm {what} {x} exceeds cuBLAS's 32-bit sizes"))
    })
}

impl CudaBackend {
    /// Runs one conv2d kernel (see [`conv_plan`]) on the stream.
    pub(super) fn conv2d(
        &self,
        k: &KernelFunc,
        c: &ConvGemm,
        fns: ConvFunctions<'_>,
        ins: &[&DeviceTensor],
        outs: &[&DeviceTensor],
        scratch: Option<&CudaSlice<u8>>,
    ) -> Result<(), CudaError> {
        let operand = |slot: usize| -> Result<&DeviceTensor, CudaError> {
            c.inputs[slot].and_then(|i| ins.get(i).copied()).ok_or_else(|| {
                CudaError::Input(format!("conv kernel {} lacks operand {slot}", k.name))
            })
        };
        let (x, w) = (operand(0)?, operand(1)?);
        let out = outs
            .first()
            .ok_or_else(|| CudaError::Input(format!("conv kernel {} has no output", k.name)))?;
        let g = geometry(c, &x.shape, &w.shape)?;
        if out.shape.iter().product::<usize>() == 0 {
            return Ok(());
        }
        let esize = c.dtype.size_bytes();
        let plan = conv_plan(&g, c.bias.is_some(), SCRATCH_BUDGET_BYTES / esize);
        if let Some(args) = plan.bias {
            let (bias, f) = (
                operand(2)?,
                fns.bias.ok_or_else(|| {
                    CudaError::Input(format!(
                        "conv kernel {} has a bias but no bias kernel",
                        k.name
                    ))
                })?,
            );
            let mut b = self.stream.launch_builder(f);
            b.arg(&out.buf);
            b.arg(&bias.buf);
            for a in &args {
                b.arg(a);
            }
            // SAFETY: the arguments match the generated signature (output,
            // bias, then BIAS_ARGS); it writes `total` output elements.
            driver("cuLaunchKernel (conv bias)", unsafe {
                b.launch(grid(args[0], self.sm_count))
            })?;
        }
        for chunk in &plan.chunks {
            if let Some(args) = &chunk.im2col {
                let (Some(f), Some(cols)) = (fns.im2col, scratch) else {
                    return Err(CudaError::Input(format!(
                        "conv kernel {} needs im2col but has no kernel or scratch",
                        k.name
                    )));
                };
                let total = args[args.len() - 1];
                if cols.len() < total as usize * esize {
                    return Err(CudaError::Input(format!(
                        "conv kernel {}: scratch of {} bytes, columns need {}",
                        k.name,
                        cols.len(),
                        total as usize * esize
                    )));
                }
                let mut b = self.stream.launch_builder(f);
                b.arg(cols);
                b.arg(&x.buf);
                for a in args {
                    b.arg(a);
                }
                // SAFETY: the arguments match the generated signature
                // (columns, input, then IM2COL_ARGS); it writes `total`
                // elements of the scratch, which is at least that long.
                driver("cuLaunchKernel (im2col)", unsafe { b.launch(grid(total, self.sm_count)) })?;
            }
            for gemm in &chunk.gemms {
                self.conv_gemm(c.dtype, gemm, x, w, out, scratch)?;
            }
        }
        Ok(())
    }

    /// One [`Gemm`] of a conv plan through `cublasGemmStridedBatchedEx`.
    fn conv_gemm(
        &self,
        d: DType,
        g: &Gemm,
        x: &DeviceTensor,
        w: &DeviceTensor,
        out: &DeviceTensor,
        scratch: Option<&CudaSlice<u8>>,
    ) -> Result<(), CudaError> {
        use cudarc::cublas::sys::{cublasGemmAlgo_t, cublasOperation_t as Op};
        let blas = self
            .blas
            .as_ref()
            .ok_or_else(|| CudaError::NoDevice("libcublas is not installed".into()))?;
        let (dt, ct) = gemm_types(d, self.tf32)
            .ok_or_else(|| CudaError::Unsupported(format!("conv2d of {d} through cuBLAS")))?;
        let esize = d.size_bytes() as u64;
        let (px, _gx) = x.buf.device_ptr(&self.stream);
        let (pw, _gw) = w.buf.device_ptr(&self.stream);
        let cols = scratch.map(|s| s.device_ptr(&self.stream));
        let base = |buf: GemmBuf| -> Result<u64, CudaError> {
            match buf {
                GemmBuf::Input => Ok(px),
                GemmBuf::Weight => Ok(pw),
                GemmBuf::Columns => cols.as_ref().map(|(p, _)| *p).ok_or_else(|| {
                    CudaError::Input("conv gemm reads columns it has none of".into())
                }),
            }
        };
        let pa = base(g.a.buf)? + g.a.offset as u64 * esize;
        let pb = base(g.b.buf)? + g.b.offset as u64 * esize;
        // cuBLAS writes C through this pointer; nothing else touches it meanwhile.
        let (pc, _gc) = out.buf.device_ptr(&self.stream);
        let pc = pc + g.c_offset as u64 * esize;
        let scalar = |v: f64| -> [u8; 8] {
            if d == DType::F64 {
                v.to_le_bytes()
            } else {
                let mut s = [0u8; 8];
                s[..4].copy_from_slice(&(v as f32).to_le_bytes());
                s
            }
        };
        let (alpha, beta) = (scalar(1.0), scalar(if g.accumulate { 1.0 } else { 0.0 }));
        let op = |t: bool| if t { Op::CUBLAS_OP_T } else { Op::CUBLAS_OP_N };
        // SAFETY: the pointers are live device buffers; the plan's offsets,
        // leading dimensions and strides stay inside them (conv_plan's tests
        // check the same numbers against a reference gemm on host data).
        let r = unsafe {
            cudarc::cublas::result::gemm_strided_batched_ex(
                *blas.handle(),
                op(g.a.trans),
                op(g.b.trans),
                to_i32("m", g.m)?,
                to_i32("n", g.n)?,
                to_i32("k", g.k)?,
                alpha.as_ptr().cast(),
                pa as *const std::ffi::c_void,
                dt,
                to_i32("lda", g.a.ld.max(1))?,
                g.a.stride as i64,
                pb as *const std::ffi::c_void,
                dt,
                to_i32("ldb", g.b.ld.max(1))?,
                g.b.stride as i64,
                beta.as_ptr().cast(),
                pc as *mut std::ffi::c_void,
                dt,
                to_i32("ldc", g.ldc.max(1))?,
                g.c_stride as i64,
                to_i32("batch", g.batch)?,
                ct,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        };
        r.map_err(|e| CudaError::Blas {
            what: "cublasGemmStridedBatchedEx (conv2d)".into(),
            message: format!("{e:?}"),
        })
    }
}
