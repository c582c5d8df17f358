//! CUDA graphs: a compiled plan captured once (kernels and cuBLAS calls on
//! buffers allocated beforehand) and replayed with one launch, the cure for
//! launch overhead at small sizes.

use super::{Bindings, CompiledPlan, CudaBackend, CudaError, DeviceTensor, Slot, driver};

/// A plan captured as a CUDA graph with its buffers.
pub struct CapturedPlan {
    graph: cudarc::driver::CudaGraph,
    buffers: Vec<Option<DeviceTensor>>,
    /// Kept alive: the graph's convs write their columns here.
    _scratch: Option<cudarc::driver::CudaSlice<u8>>,
    outputs: Vec<usize>,
    kernels: usize,
}

impl CapturedPlan {
    /// Reruns every kernel of the plan (one graph launch, asynchronous).
    pub fn replay(&self) -> Result<(), CudaError> {
        driver("cuGraphLaunch", self.graph.launch())
    }

    /// The function's results, rewritten by each replay.
    pub fn outputs(&self) -> Vec<&DeviceTensor> {
        self.outputs.iter().filter_map(|&j| self.buffers.get(j).and_then(Option::as_ref)).collect()
    }

    /// Kernel launches per replay.
    pub fn kernels(&self) -> usize {
        self.kernels
    }
}

impl CudaBackend {
    /// Captures one run of `plan` on `inputs` as a CUDA graph. Replaying it
    /// ([`CapturedPlan::replay`]) reruns every kernel on the same buffers:
    /// the inputs must stay alive and may be rewritten in place between
    /// replays; the results are [`CapturedPlan::outputs`].
    pub fn capture(
        &mut self,
        plan: &CompiledPlan,
        inputs: &[&DeviceTensor],
        extra: &Bindings,
    ) -> Result<CapturedPlan, CudaError> {
        use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
        let b = self.bind(plan, inputs, extra)?;
        let made = self.allocate(plan, &b)?;
        // One run outside the capture, so that cuBLAS and the driver do their
        // first-use setup (allocations) where a capture would refuse them.
        self.enqueue(plan, inputs, &made, &b)?;
        driver("cuStreamSynchronize", self.stream.synchronize())?;
        driver(
            "cuStreamBeginCapture",
            self.stream.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
        )?;
        let enqueued = self.enqueue(plan, inputs, &made, &b);
        let graph = driver(
            "cuStreamEndCapture",
            self.stream.end_capture(
                CUgraphInstantiate_flags::CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH,
            ),
        )?;
        enqueued?;
        let graph =
            graph.ok_or_else(|| CudaError::Unsupported("the capture recorded no graph".into()))?;
        let outputs = plan
            .func
            .results()
            .iter()
            .map(|r| match made.slot.get(r) {
                Some(Slot::Made(j)) => Ok(*j),
                _ => Err(CudaError::Unsupported(format!(
                    "capturing a plan that returns {r}, an input, directly"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CapturedPlan {
            graph,
            buffers: made.buffers,
            _scratch: made.scratch,
            outputs,
            kernels: plan.launch_count(),
        })
    }
}
