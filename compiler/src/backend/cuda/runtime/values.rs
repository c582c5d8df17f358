//! Where the values of one run of a plan live (the plan's inputs and the
//! buffers allocated for every kernel output), and the symbol bindings
//! taken from the inputs' shapes.

use std::collections::HashMap;

use cudarc::driver::CudaSlice;

use super::{CudaError, DeviceTensor};
use crate::backend::cuda::emit::KernelSource;
use crate::backend::kernel::KernelFunc;
use crate::interp::Bindings;
use crate::ir::{DType, Dim, Func, NodeId};

/// The buffers of one run of a plan, and where each value lives.
pub(super) struct Made {
    pub(super) buffers: Vec<Option<DeviceTensor>>,
    pub(super) slot: HashMap<NodeId, Slot>,
    /// The conv columns scratch (the largest any conv of the plan needs).
    pub(super) scratch: Option<CudaSlice<u8>>,
}

impl Made {
    /// The device tensor of plan value `i`.
    pub(super) fn get<'a>(
        &'a self,
        inputs: &[&'a DeviceTensor],
        i: &NodeId,
    ) -> Option<&'a DeviceTensor> {
        match self.slot.get(i) {
            Some(Slot::Input(j)) => inputs.get(*j).copied(),
            Some(Slot::Made(j)) => self.buffers.get(*j).and_then(Option::as_ref),
            None => None,
        }
    }

    /// Kernel `k`'s input and output tensors, in argument order.
    #[allow(clippy::type_complexity)]
    pub(super) fn operands<'a>(
        &'a self,
        k: &KernelFunc,
        inputs: &[&'a DeviceTensor],
    ) -> Result<(Vec<&'a DeviceTensor>, Vec<&'a DeviceTensor>), CudaError> {
        let mut ins = Vec::with_capacity(k.inputs.len());
        for i in &k.inputs {
            ins.push(self.get(inputs, i).ok_or_else(|| {
                CudaError::Input(format!("kernel {} reads {i} before it exists", k.name))
            })?);
        }
        let mut outs = Vec::with_capacity(k.outputs.len());
        for o in &k.outputs {
            outs.push(self.get(inputs, o).ok_or_else(|| {
                CudaError::Input(format!("kernel {} has no buffer for {o}", k.name))
            })?);
        }
        Ok((ins, outs))
    }
}

/// The value of each of a kernel's symbols at bindings `b`, in argument order.
pub(super) fn symbol_values(src: &KernelSource, b: &Bindings) -> Result<Vec<i64>, CudaError> {
    src.symbols
        .iter()
        .map(|s| {
            b.get(s)
                .map(|&v| v as i64)
                .ok_or_else(|| CudaError::Input(format!("symbol {s} is not bound")))
        })
        .collect()
}

/// Where a value of the plan lives during a launch.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    Input(usize),
    Made(usize),
}

/// Binds symbols from input shapes alone (dtype and shape checks included).
pub(super) fn bind_shapes(
    f: &Func,
    sigs: &[(DType, Vec<usize>)],
    extra: &Bindings,
) -> Result<Bindings, CudaError> {
    if sigs.len() != f.params().len() {
        return Err(CudaError::Input(format!(
            "@{} takes {} inputs, got {}",
            f.name,
            f.params().len(),
            sigs.len()
        )));
    }
    let mut b = extra.clone();
    for (i, (&p, (d, shape))) in f.params().iter().zip(sigs).enumerate() {
        let ty = f.ty(p);
        if ty.dtype != *d || ty.shape.rank() != shape.len() {
            return Err(CudaError::Input(format!(
                "input {i} is {d}{shape:?}, @{} wants {ty}",
                f.name
            )));
        }
        for (dim, &size) in ty.shape.dims().iter().zip(shape) {
            match dim {
                Dim::Const(c) if *c as usize != size => {
                    return Err(CudaError::Input(format!(
                        "input {i} is {d}{shape:?}, @{} wants {ty}",
                        f.name
                    )));
                }
                Dim::Sym(s) => match b.get(s) {
                    Some(&v) if v as usize != size => {
                        return Err(CudaError::Input(format!(
                            "symbol {s} is {v} and {size} (input {i})"
                        )));
                    }
                    _ => {
                        b.insert(s.clone(), size as u64);
                    }
                },
                _ => {}
            }
        }
    }
    Ok(b)
}
