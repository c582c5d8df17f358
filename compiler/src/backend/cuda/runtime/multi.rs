//! Launching a group of identical steps as its multi kernel (see
//! [`multi`](crate::backend::cuda::multi)): one launch per chunk of at most
//! `N` instances, the grid of one instance in x and the chunk in y, every
//! instance's pointers in a table passed by value.

use cudarc::driver::{CudaFunction, DevicePtr, DeviceRepr, PushKernelArg};

use super::{
    Bindings, CompiledPlan, CudaBackend, CudaError, DeviceTensor, Made, driver, launch_config,
    launch_sizes, symbol_values,
};
use crate::backend::cuda::multi::{MultiKernel, PARAM_BYTES};

/// Steps of a compiled plan that launch as one multi kernel.
pub(super) struct Group {
    /// The steps, ascending; the group launches at the first one's position.
    pub members: Vec<usize>,
    /// The multi kernel made from the first member's kernel.
    pub kernel: MultiKernel,
    /// Its compiled entry.
    pub function: CudaFunction,
}

/// The pointer table, sized for the whole parameter space: the driver copies
/// only as many bytes as the kernel's table parameter has (`N × P` pointers).
#[repr(C)]
struct Table([u64; PARAM_BYTES / 8]);

// SAFETY: plain integers (device addresses), laid out as the kernel's
// `const void* p[N][P]` (row-major, 8 bytes each) for its first `N × P` entries.
unsafe impl DeviceRepr for Table {}

impl CudaBackend {
    /// Enqueues group `g` of `plan`: the members' buffers row by row into
    /// the table, a chunk of rows per launch.
    pub(super) fn enqueue_group(
        &self,
        plan: &CompiledPlan,
        g: &Group,
        inputs: &[&DeviceTensor],
        made: &Made,
        b: &Bindings,
    ) -> Result<(), CudaError> {
        let src = &g.kernel.source;
        let sizes = launch_sizes(src, b)?;
        let mut cfg = launch_config(&src.template, &sizes, self.sm_count);
        let syms = symbol_values(src, b)?;
        let (n, p) = (g.kernel.instances, g.kernel.pointers);
        if n * p > PARAM_BYTES / 8 {
            return Err(CudaError::Input(format!(
                "{}: a table of {n} × {p} pointers exceeds {PARAM_BYTES} bytes",
                src.name
            )));
        }
        for chunk in g.members.chunks(n.max(1)) {
            let mut table = Table([0; PARAM_BYTES / 8]);
            for (row, &m) in chunk.iter().enumerate() {
                let step = plan
                    .steps
                    .get(m)
                    .ok_or_else(|| CudaError::Input(format!("the plan has no step {m}")))?;
                let (ins, outs) = made.operands(&step.kernel, inputs)?;
                if ins.len() + outs.len() != p {
                    return Err(CudaError::Input(format!(
                        "kernel {} has {} buffers, its multi kernel {} takes {p}",
                        step.kernel.name,
                        ins.len() + outs.len(),
                        src.name
                    )));
                }
                // Outputs, then inputs: the single kernel's argument order.
                for (col, t) in outs.iter().chain(&ins).enumerate() {
                    table.0[row * p + col] = t.buf.device_ptr(&self.stream).0;
                }
            }
            // At most `n` ≤ 65535 rows per chunk (`multi::MAX_INSTANCES`).
            cfg.grid_dim.1 = chunk.len() as u32;
            let mut builder = self.stream.launch_builder(&g.function);
            builder.arg(&table);
            for s in &syms {
                builder.arg(s);
            }
            // SAFETY: the arguments match the wrapper's signature (the table,
            // then the symbols); row r of the table holds the buffers of
            // member r of the chunk, in its single kernel's order, each
            // holding its tensor's bytes; `gridDim.y` is the number of rows
            // filled. Members write disjoint outputs and read none of them.
            driver("cuLaunchKernel", unsafe { builder.launch(cfg) })?;
        }
        Ok(())
    }
}
