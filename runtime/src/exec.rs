//! Running IR functions on tensors through this thread's CPU backend (one
//! per thread, created on first use and kept: its kernel cache is what
//! makes a repeated op or graph compile nothing), or, for CUDA tensors,
//! through the process's CUDA backend (see [`crate::cuda`]).

use std::cell::{Cell, RefCell};

use smelt_compiler::backend::cpu::{BufRef, CpuBackend, CpuError, CpuOptions};
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{Dim, Func, Layout, Op};

use crate::tensor::{Device, Result, Tensor, TensorError, arg_err, dtype_err, shape_err};

thread_local! {
    static BACKEND: RefCell<Option<CpuBackend>> = const { RefCell::new(None) };
    /// True when this thread's last `run_func` ran on a CUDA device, so the
    /// CPU backend's statistics say nothing about it.
    static LAST_ON_CUDA: Cell<bool> = const { Cell::new(false) };
}

/// True when this thread's last [`run_func`] ran on a CUDA device.
pub(crate) fn last_run_on_cuda() -> bool {
    LAST_ON_CUDA.with(Cell::get)
}

/// Runs `f` on this thread's backend, creating it on first use. Kernels
/// the lowering cannot take run through the interpreter (with a note on
/// stderr) rather than failing the op.
pub(crate) fn with_backend<R>(
    f: impl FnOnce(&mut CpuBackend) -> std::result::Result<R, CpuError>,
) -> std::result::Result<R, CpuError> {
    BACKEND.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let opts = CpuOptions { fallback_interp: true, ..CpuOptions::default() };
            *slot = Some(CpuBackend::new(opts)?);
        }
        match slot.as_mut() {
            Some(b) => f(b),
            None => unreachable!("the backend was just created"),
        }
    })
}

/// Runs a whole IR function on tensors through the CPU backend (the thread's
/// cached CpuBackend): what eager dispatch uses for one-node graphs and what
/// frontends::compile uses for traced graphs. Symbols bound from shapes.
pub fn run_func(func: &Func, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let op = format!("run_func @{}", func.name);
    if inputs.len() != func.params().len() {
        return Err(arg_err(
            &op,
            format!("takes {} inputs, {} given", func.params().len(), inputs.len()),
        ));
    }
    let mut syms = Bindings::new();
    let device = device_of(&op, inputs)?;
    for (i, (&p, t)) in func.params().iter().zip(inputs).enumerate() {
        let ty = func.ty(p);
        if ty.dtype != t.dtype() {
            return Err(dtype_err(
                &op,
                format!("input {i} is {}, the parameter is {ty}", t.dtype()),
            ));
        }
        let dims = ty.shape.dims();
        let bad = || {
            shape_err(&op, format!("input {i} has shape {:?}, the parameter is {ty}", t.shape()))
        };
        if dims.len() != t.rank() {
            return Err(bad());
        }
        for (d, &n) in dims.iter().zip(t.shape()) {
            match d {
                Dim::Const(c) if *c == n as u64 => {}
                Dim::Const(_) => return Err(bad()),
                Dim::Sym(s) => match syms.get(s) {
                    Some(&v) if v != n as u64 => return Err(bad()),
                    Some(_) => {}
                    None => {
                        syms.insert(s.clone(), n as u64);
                    }
                },
            }
        }
    }
    LAST_ON_CUDA.with(|c| c.set(device != Device::Cpu));
    if let Device::Cuda(index) = device {
        let outs = crate::cuda::run_func(func, inputs, index)?;
        let ins: Vec<&Tensor> = inputs.iter().collect();
        crate::autograd::attach_opaque("run_func", &ins, &outs.iter().collect::<Vec<_>>());
        return Ok(outs);
    }
    // A `{nhwc}` parameter takes NHWC bytes under its NCHW shape: the NHWC
    // permutation of a channels-last tensor is dense, so it goes over as it
    // is; any other tensor is copied once into that order.
    let nhwc: Vec<bool> = func
        .params()
        .iter()
        .zip(inputs)
        .map(|(&p, t)| {
            t.rank() == 4 && matches!(func.node(p).op, Op::Param { layout: Layout::Nhwc, .. })
        })
        .collect();
    let mut copies: Vec<Option<Tensor>> = Vec::with_capacity(inputs.len());
    for (t, &cl) in inputs.iter().zip(&nhwc) {
        copies.push(if cl {
            let _quiet = crate::dispatch::Quiet::new();
            let p = crate::autograd::no_grad(|| t.permute(&[0, 2, 3, 1]))?;
            Some(if p.dense_view().is_some() { p } else { p.densified()? })
        } else if t.dense_view().is_some() {
            None
        } else {
            Some(t.densified()?)
        });
    }
    let views: Vec<BufRef<'_>> = inputs
        .iter()
        .zip(&copies)
        .zip(&nhwc)
        .map(|((t, c), &cl)| match c {
            Some(c) if cl => BufRef { shape: t.shape(), ..c.dense_view().expect("dense NHWC") },
            Some(c) => c.dense_view().expect("a fresh copy is dense"),
            None => t.dense_view().expect("checked dense above"),
        })
        .collect();
    let outs = with_backend(|b| b.run_views(func, &views, &syms))
        .map_err(|e| TensorError::Backend { op, message: e.to_string() })?;
    let outs: Vec<Tensor> = outs.into_iter().map(Tensor::from_buffer).collect();
    // No backward through a whole function yet: an error, not a cut graph.
    let ins: Vec<&Tensor> = inputs.iter().collect();
    crate::autograd::attach_opaque("run_func", &ins, &outs.iter().collect::<Vec<_>>());
    Ok(outs)
}

/// The device a whole function runs on: that of its inputs, which must
/// agree (rank-0 CPU tensors join CUDA ones, as in eager ops).
fn device_of(op: &str, inputs: &[Tensor]) -> Result<Device> {
    let cuda = inputs.iter().map(Tensor::device).find(|d| *d != Device::Cpu);
    let Some(dev) = cuda else { return Ok(Device::Cpu) };
    for t in inputs {
        let d = t.device();
        if d != dev && !(d == Device::Cpu && t.rank() == 0) {
            return Err(TensorError::DeviceMismatch { op: op.into(), first: dev, second: d });
        }
    }
    Ok(dev)
}

/// Kernels compiled so far by this thread's backend (cache-miss counter).
pub fn kernels_compiled() -> usize {
    BACKEND.with(|cell| cell.borrow().as_ref().map_or(0, CpuBackend::kernels_compiled))
}
