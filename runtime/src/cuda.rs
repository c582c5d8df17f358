//! The runtime's CUDA device: one process-wide [`CudaBackend`] (device 0)
//! behind a mutex, host↔device copies of tensors, views made dense on the
//! device, and eager ops and whole functions run on device storage.
//!
//! One backend for the process rather than one per thread: every device
//! tensor is written and read on that backend's one stream, so work queued
//! by one thread is ordered before another thread's reads without events.
//! Opening it probes for `libcuda`, a device and NVRTC first; without them
//! every entry point returns [`TensorError::DeviceUnavailable`] with the
//! reason (the probe's answer is kept, so later calls fail fast).
//!
//! Views stay metadata on the device too. A launch takes a view in place
//! when it is dense and row-major and its start is 16-byte aligned (an
//! alias of the storage: no copy); any other view (transposed, expanded,
//! sliced with steps, or an odd offset) is gathered dense on the device by
//! the backend's strided-copy kernel first. No view ever makes a host round
//! trip.

use std::sync::{Arc, Mutex};

use smelt_compiler::backend::cpu::Buffer;
use smelt_compiler::backend::cuda::runtime::{CompiledPlan, DeviceAlias, DeviceTensor};
use smelt_compiler::backend::cuda::{CudaBackend, CudaError};
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{Func, Layout, Op};

use crate::tensor::{Device, Result, Tensor, TensorError};

/// The process's CUDA backend, or why there is none.
static BACKEND: Mutex<Option<std::result::Result<CudaBackend, String>>> = Mutex::new(None);

/// The device index the runtime runs (the backend opens device 0 only).
const DEVICE: usize = 0;

/// Runs `f` on the CUDA backend, opening it on first use. Errors name `op`:
/// no device (with what is missing), another device index, or the
/// backend's own failure.
pub(crate) fn with_backend<R>(
    op: &str,
    index: usize,
    f: impl FnOnce(&mut CudaBackend) -> std::result::Result<R, CudaError>,
) -> Result<R> {
    if index != DEVICE {
        return Err(TensorError::DeviceUnavailable {
            op: op.into(),
            index,
            reason: "the runtime runs cuda:0 only".into(),
        });
    }
    // A panic elsewhere while holding the lock leaves the backend usable.
    let mut slot = BACKEND.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let b = slot.get_or_insert_with(|| CudaBackend::new().map_err(|e| e.to_string()));
    match b {
        Ok(b) => f(b).map_err(|e| TensorError::Backend { op: op.into(), message: e.to_string() }),
        Err(reason) => {
            Err(TensorError::DeviceUnavailable { op: op.into(), index, reason: reason.clone() })
        }
    }
}

/// `Ok` if the runtime can run `Device::Cuda(0)`; otherwise the error
/// every CUDA entry point would return (naming what is missing).
pub fn available() -> Result<()> {
    with_backend("cuda", DEVICE, |_| Ok(()))
}

/// A tensor's storage as a device tensor, or an error naming `op`.
fn device_storage<'t>(op: &str, t: &'t Tensor) -> Result<&'t DeviceTensor> {
    t.device_storage().ok_or_else(|| TensorError::Backend {
        op: op.into(),
        message: format!("the tensor is on {}, not on a CUDA device", t.device()),
    })
}

/// Copies a CPU tensor (any view) to the device.
pub(crate) fn upload(t: &Tensor, index: usize) -> Result<Tensor> {
    let bytes = t.to_bytes();
    let d = with_backend("to_device", index, |b| b.upload_bytes(t.dtype(), t.shape(), &bytes))?;
    Ok(Tensor::from_device(d, index))
}

/// A dense copy of a CUDA tensor's elements on the host.
pub(crate) fn download(t: &Tensor) -> Result<Buffer> {
    let bytes = with_view("to_device", t, |b, d| b.download_bytes(d))?;
    let mut out = Buffer::try_zeros(t.dtype(), t.shape()).ok_or_else(|| TensorError::Backend {
        op: "to_device".into(),
        message: format!("no host memory for {}{:?}", t.dtype(), t.shape()),
    })?;
    out.bytes_mut().copy_from_slice(&bytes);
    Ok(out)
}

/// The device index of a CUDA tensor (0 for a CPU one; never asked).
fn cuda_index(t: &Tensor) -> usize {
    match t.device() {
        Device::Cuda(i) => i,
        Device::Cpu => DEVICE,
    }
}

/// True if a launch can read `t`'s view in place: dense row-major and
/// starting 16-byte aligned (the generated kernels' vector loads check
/// alignment at run time, but cuBLAS and the conv path are given the
/// pointer as it is).
fn in_place(t: &Tensor) -> bool {
    t.is_contiguous() && (t.offset() * t.dtype().size_bytes()) % 16 == 0
}

/// Runs `f` on `t`'s elements as one dense device tensor: the storage
/// itself or an alias of it when the view allows, else a gathered copy.
fn with_view<R>(
    op: &str,
    t: &Tensor,
    f: impl FnOnce(&mut CudaBackend, &DeviceTensor) -> std::result::Result<R, CudaError>,
) -> Result<R> {
    let s = device_storage(op, t)?;
    with_backend(op, cuda_index(t), |b| {
        if in_place(t) {
            if t.offset() == 0 && s.dtype == t.dtype() && s.shape == t.shape() {
                return f(b, s);
            }
            let a = b.alias(s, t.dtype(), t.shape(), t.offset())?;
            return f(b, &a);
        }
        let g = b.gather_strided(s, t.dtype(), t.shape(), t.strides(), t.offset())?;
        f(b, &g)
    })
}

/// A dense row-major copy of a CUDA tensor, made on the device.
pub(crate) fn densify(t: &Tensor) -> Result<Tensor> {
    let s = device_storage("contiguous", t)?;
    let d = with_backend("contiguous", cuda_index(t), |b| {
        b.gather_strided(s, t.dtype(), t.shape(), t.strides(), t.offset())
    })?;
    Ok(Tensor::from_device(d, cuda_index(t)))
}

/// One launch operand: a tensor's storage or alias, a gathered copy, or an
/// uploaded literal.
enum Operand<'a> {
    Storage(&'a DeviceTensor),
    Alias(DeviceAlias<'a>),
    Owned(DeviceTensor),
}

impl Operand<'_> {
    fn get(&self) -> &DeviceTensor {
        match self {
            Operand::Storage(t) => t,
            Operand::Alias(a) => a,
            Operand::Owned(t) => t,
        }
    }
}

/// What a launch reads for one argument: a CUDA tensor (any view), or host
/// bytes (a literal or a rank-0 CPU tensor) to upload.
pub(crate) enum Arg<'a> {
    /// A tensor on the CUDA device.
    Tensor(&'a Tensor),
    /// A rank-0 value from the host.
    Host(Buffer),
}

/// Compiles `func` (the backend caches plans by their text; eager dispatch
/// also keeps the returned plan per signature).
pub(crate) fn compile(op: &str, index: usize, func: &Func) -> Result<Arc<CompiledPlan>> {
    with_backend(op, index, |b| b.compile(func))
}

/// Launches `plan` on `args`; the results are CUDA tensors.
pub(crate) fn launch(
    op: &str,
    index: usize,
    plan: &CompiledPlan,
    args: &[Arg<'_>],
    syms: &Bindings,
) -> Result<Vec<Tensor>> {
    let storages: Vec<Option<&DeviceTensor>> = args
        .iter()
        .map(|a| match a {
            Arg::Tensor(t) => device_storage(op, t).map(Some),
            Arg::Host(_) => Ok(None),
        })
        .collect::<Result<_>>()?;
    let outs = with_backend(op, index, |b| {
        let mut ops: Vec<Operand<'_>> = Vec::with_capacity(args.len());
        for (a, s) in args.iter().zip(&storages) {
            ops.push(match (a, s) {
                (Arg::Tensor(t), Some(s)) if in_place(t) => {
                    if t.offset() == 0 && s.dtype == t.dtype() && s.shape == t.shape() {
                        Operand::Storage(s)
                    } else {
                        Operand::Alias(b.alias(s, t.dtype(), t.shape(), t.offset())?)
                    }
                }
                (Arg::Tensor(t), Some(s)) => Operand::Owned(b.gather_strided(
                    s,
                    t.dtype(),
                    t.shape(),
                    t.strides(),
                    t.offset(),
                )?),
                (Arg::Host(h), _) => {
                    Operand::Owned(b.upload_bytes(h.dtype, &h.shape, h.bytes())?)
                }
                (Arg::Tensor(_), None) => {
                    return Err(CudaError::Input("a tensor without device storage".into()));
                }
            });
        }
        let refs: Vec<&DeviceTensor> = ops.iter().map(Operand::get).collect();
        b.launch(plan, &refs, syms)
    })?;
    Ok(outs.into_iter().map(|d| Tensor::from_device(d, index)).collect())
}

/// `exec::run_func` on CUDA tensors: the whole function compiled and run
/// on the device (rank-0 CPU tensors join as uploaded scalars).
pub(crate) fn run_func(func: &Func, inputs: &[Tensor], index: usize) -> Result<Vec<Tensor>> {
    let op = format!("run_func @{}", func.name);
    if func
        .params()
        .iter()
        .any(|&p| matches!(func.node(p).op, Op::Param { layout: Layout::Nhwc, .. }))
    {
        return Err(TensorError::Backend {
            op,
            message: "{nhwc} parameters are not supported on cuda yet".into(),
        });
    }
    let plan = compile(&op, index, func)?;
    let args: Vec<Arg<'_>> = inputs
        .iter()
        .map(|t| match t.device() {
            Device::Cuda(_) => Ok(Arg::Tensor(t)),
            Device::Cpu => t.dense_buffer().map(Arg::Host),
        })
        .collect::<Result<_>>()?;
    launch(&op, index, &plan, &args, &Bindings::new())
}
