//! Running a function on a CUDA device: host↔device copies, the plan's
//! kernels compiled once each (by name) and launched in order, matmul
//! through cuBLAS.
//!
//! Launch shapes are computed per call from the runtime sizes (see
//! [`launch_config`]); kernels take the sizes as arguments, so a new size
//! never recompiles. Before cudarc opens `libcuda`, [`device_status`] probes
//! for it (cudarc panics when a library is missing); without it every entry
//! point returns [`CudaError::NoDevice`].
//!
//! Float matmuls go to cuBLAS (`cublas`); conv2d to a generated im2col
//! kernel plus cuBLAS gemms (`conv`, planned by
//! [`conv_plan`](super::conv_plan)), with one columns scratch buffer per
//! run shared by the plan's convs. Without cuBLAS both take their generated
//! one-thread-per-output kernels, as the pools and integer matmuls always
//! do. A compiled plan can also be captured as a CUDA graph and replayed
//! ([`CudaBackend::capture`], in `graph`). Identical kernels on independent
//! data (an optimizer step over many tensors) launch as one multi kernel
//! per chunk of instances (grouped by [`multi`](super::multi), launched in
//! `multi`), compiled instead of their single kernels.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, PushKernelArg};

use crate::backend::cpu::Buffer;
use crate::backend::kernel::{KernelFunc, extract};
use crate::interp::{Bindings, bind_symbols, concrete_shape};
use crate::ir::{DType, Func, Op};
use crate::tensor::HostTensor;

use super::emit::{KernelSource, Template, emit_kernel_numerics, translation_unit};
use super::lower::LowerError;
use super::multi::{self as grouping, Launch, StepView};
use super::nvrtc::{self, CompileError};

mod conv;
mod cublas;
mod graph;
mod launch;
mod multi;
mod strided;
mod values;

pub use graph::CapturedPlan;
pub use launch::{LaunchSizes, launch_config, launch_sizes};
pub use strided::{DeviceAlias, MAX_GATHER_RANK};
use values::{Made, Slot, bind_shapes, symbol_values};

/// What can go wrong running on a CUDA device.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// No driver, no device, or no NVRTC: says which.
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    /// A kernel could not be generated.
    #[error(transparent)]
    Lower(#[from] LowerError),
    /// A kernel did not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// A CUDA driver call failed.
    #[error("CUDA driver error in {what}: {message}")]
    Driver {
        /// The call.
        what: String,
        /// The driver's message.
        message: String,
    },
    /// A cuBLAS call failed.
    #[error("cuBLAS error in {what}: {message}")]
    Blas {
        /// The call.
        what: String,
        /// cuBLAS's message.
        message: String,
    },
    /// An op or dtype this backend does not run yet.
    #[error("not supported on CUDA yet: {0}")]
    Unsupported(String),
    /// The function or its inputs are invalid (from the planner, passes or binding).
    #[error("invalid input: {0}")]
    Input(String),
}

fn driver<T, E: std::fmt::Debug>(what: &str, r: Result<T, E>) -> Result<T, CudaError> {
    r.map_err(|e| CudaError::Driver { what: what.to_string(), message: format!("{e:?}") })
}

/// `Ok` if a CUDA driver, a device and NVRTC are all present; otherwise what
/// is missing. Never panics.
pub fn device_status() -> Result<(), CudaError> {
    // SAFETY: the probe only tries `dlopen` on candidate library names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(CudaError::NoDevice(
            "libcuda.so.1 (the NVIDIA driver) is not installed".into(),
        ));
    }
    let count = driver("cuDeviceGetCount", CudaContext::device_count())
        .map_err(|e| CudaError::NoDevice(format!("the driver found no device ({e})")))?;
    if count < 1 {
        return Err(CudaError::NoDevice("the driver reports 0 devices".into()));
    }
    if !nvrtc::nvrtc_available() {
        return Err(CudaError::NoDevice(CompileError::Unavailable.to_string()));
    }
    Ok(())
}

/// A tensor in device memory (row-major bytes).
pub struct DeviceTensor {
    /// Element type.
    pub dtype: DType,
    /// Concrete sizes.
    pub shape: Vec<usize>,
    /// The bytes (at least one, so empty tensors still have an address).
    pub buf: CudaSlice<u8>,
}

/// One kernel of a compiled plan.
struct Step {
    kernel: KernelFunc,
    source: KernelSource,
    run: StepRun,
}

/// How a step runs.
enum StepRun {
    /// One generated kernel.
    Kernel(CudaFunction),
    /// A cuBLAS matmul.
    Matmul,
    /// conv2d: generated im2col and bias kernels around cuBLAS gemms.
    Conv {
        /// The im2col kernel (None for a 1×1 conv).
        im2col: Option<CudaFunction>,
        /// The bias kernel (None without a bias).
        bias: Option<CudaFunction>,
    },
    /// A member of a group: runs in its group's multi kernel.
    Member,
}

/// One launch of a compiled plan (see [`Launch`]).
enum PlanLaunch {
    /// A step on its own.
    One(usize),
    /// Steps that run one kernel on independent data, as a multi kernel.
    Multi(Box<multi::Group>),
}

/// A function planned and compiled for one device.
pub struct CompiledPlan {
    func: Func,
    steps: Vec<Step>,
    launches: Vec<PlanLaunch>,
}

impl CompiledPlan {
    /// The generated kernels, one per plan step, in plan order.
    pub fn sources(&self) -> Vec<&KernelSource> {
        self.steps.iter().map(|s| &s.source).collect()
    }

    /// The multi kernels that replace groups of identical steps' kernels.
    pub fn multi_sources(&self) -> Vec<&KernelSource> {
        self.launches
            .iter()
            .filter_map(|l| match l {
                PlanLaunch::Multi(g) => Some(&g.kernel.source),
                PlanLaunch::One(_) => None,
            })
            .collect()
    }

    /// Steps (plan kernels) and launches, a multi kernel counting once per
    /// chunk of instances; a conv counts as one launch.
    pub fn launch_count(&self) -> usize {
        self.launches
            .iter()
            .map(|l| match l {
                PlanLaunch::One(_) => 1,
                PlanLaunch::Multi(g) => grouping::chunks(g.members.len(), g.kernel.instances),
            })
            .sum()
    }

    /// The optimized function the plan runs.
    pub fn func(&self) -> &Func {
        &self.func
    }
}

/// A CUDA device with its stream, cuBLAS handle and compiled kernels.
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: Option<cudarc::cublas::CudaBlas>,
    sm: i32,
    sm_count: u32,
    functions: HashMap<String, CudaFunction>,
    plans: HashMap<String, Arc<CompiledPlan>>,
    compiled: usize,
    tf32: bool,
    eager: bool,
}

impl CudaBackend {
    /// Opens device 0. Errors (never panics) when there is no driver, no
    /// device or no NVRTC.
    pub fn new() -> Result<CudaBackend, CudaError> {
        device_status()?;
        let ctx = driver("cuCtxCreate", CudaContext::new(0))?;
        // SAFETY: everything this backend does runs on one stream, in
        // order, so cudarc's cross-stream event tracking has nothing to order
        // (and costs host time on every launch).
        unsafe { ctx.disable_event_tracking() };
        // A stream of our own: the legacy default stream cannot be captured.
        let stream = driver("cuStreamCreate", ctx.new_stream())?;
        let (major, minor) = driver("compute capability", ctx.compute_capability())?;
        let sm = nvrtc::pick_arch(major, minor)?;
        let sm_count = driver(
            "multiprocessor count",
            ctx.attribute(
                cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
            ),
        )? as u32;
        // SAFETY: probing only tries `dlopen`.
        let blas = if unsafe { cudarc::cublas::sys::is_culib_present() } {
            cudarc::cublas::CudaBlas::new(stream.clone()).ok()
        } else {
            None
        };
        Ok(CudaBackend {
            ctx,
            stream,
            blas,
            sm,
            sm_count,
            functions: HashMap::new(),
            plans: HashMap::new(),
            compiled: 0,
            tf32: false,
            eager: false,
        })
    }

    /// The device's name.
    pub fn device_name(&self) -> String {
        self.ctx.name().unwrap_or_else(|_| "unknown CUDA device".into())
    }

    /// The SM version kernels are compiled for (e.g. 90).
    pub fn arch(&self) -> i32 {
        self.sm
    }

    /// Kernels compiled by NVRTC so far (a cached one counts once).
    pub fn kernels_compiled(&self) -> usize {
        self.compiled
    }

    /// `--numerics eager`: f16/bf16 results rounded after every op, as the
    /// interpreter does (off by default: computed in f32, rounded at stores).
    pub fn set_numerics_eager(&mut self, on: bool) {
        self.eager = on;
    }

    /// Whether f16/bf16 results are rounded after every op (see
    /// [`CudaBackend::set_numerics_eager`]).
    pub fn numerics_eager(&self) -> bool {
        self.eager
    }

    /// Lets f32 matmuls use TF32 tensor cores (off by default: f32 accuracy).
    pub fn set_tf32(&mut self, on: bool) {
        self.tf32 = on;
    }

    /// The device stream everything runs on (for timing with events).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Optimizes, plans, generates and compiles `func` (cached by its text).
    pub fn compile(&mut self, func: &Func) -> Result<Arc<CompiledPlan>, CudaError> {
        let text = format!("{}{func}", if self.eager { "eager\n" } else { "" });
        if let Some(p) = self.plans.get(&text) {
            return Ok(p.clone());
        }
        let mut g = func.clone();
        crate::passes::optimize(&mut g).map_err(|e| CudaError::Input(e.to_string()))?;
        let plan = crate::plan::plan(&g).map_err(|e| CudaError::Input(e.to_string()))?;
        let mut emitted = Vec::new();
        for k in &plan.kernels {
            let kernel = extract(&g, k);
            // Without cuBLAS, matmuls and convs take generated kernels.
            let source = emit_kernel_numerics(&kernel, self.blas.is_some(), self.eager)?;
            emitted.push((kernel, source));
        }
        let views: Vec<StepView<'_>> = emitted
            .iter()
            .map(|(k, s)| StepView { source: s, inputs: &k.inputs, outputs: &k.outputs })
            .collect();
        let grouped = grouping::group_launches(&views);
        let mut launches = Vec::new();
        let mut member = vec![false; emitted.len()];
        for l in grouped {
            launches.push(match l {
                Launch::One(i) => PlanLaunch::One(i),
                Launch::Group(members) => {
                    let first = &emitted[members[0]].1;
                    let kernel = grouping::multi_kernel(first).ok_or_else(|| {
                        CudaError::Input(format!("kernel {} has no multi kernel", first.name))
                    })?;
                    let f = self.function(&kernel.source)?;
                    for &m in &members {
                        member[m] = true;
                    }
                    PlanLaunch::Multi(Box::new(multi::Group { members, kernel, function: f }))
                }
            });
        }
        let mut steps = Vec::new();
        for ((kernel, source), member) in emitted.into_iter().zip(member) {
            let run = match &source.template {
                _ if member => StepRun::Member,
                Template::Cublas => StepRun::Matmul,
                Template::ConvGemm(c) => {
                    let names: Vec<String> =
                        c.im2col.iter().chain(c.bias.iter()).cloned().collect();
                    let mut fns = self.functions(&source, &names)?.into_iter();
                    StepRun::Conv {
                        im2col: c.im2col.as_ref().and_then(|_| fns.next()),
                        bias: c.bias.as_ref().and_then(|_| fns.next()),
                    }
                }
                _ => StepRun::Kernel(self.function(&source)?),
            };
            steps.push(Step { kernel, source, run });
        }
        let p = Arc::new(CompiledPlan { func: g, steps, launches });
        self.plans.insert(text, p.clone());
        Ok(p)
    }

    /// The entry `src.name` of `src`'s translation unit, compiled once.
    fn function(&mut self, src: &KernelSource) -> Result<CudaFunction, CudaError> {
        let f = self.functions(src, std::slice::from_ref(&src.name))?;
        f.into_iter()
            .next()
            .ok_or_else(|| CudaError::Input(format!("kernel {} did not load", src.name)))
    }

    /// The functions `names` of `src`'s translation unit, compiled once.
    fn functions(
        &mut self,
        src: &KernelSource,
        names: &[String],
    ) -> Result<Vec<CudaFunction>, CudaError> {
        if let Some(fs) = names.iter().map(|n| self.functions.get(n).cloned()).collect() {
            return Ok(fs);
        }
        let tu = translation_unit(std::slice::from_ref(src));
        let ptx = nvrtc::compile_ptx(&tu, self.sm)?;
        let module =
            driver("cuModuleLoadData", self.ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx)))?;
        self.compiled += 1;
        let mut out = Vec::new();
        for n in names {
            let f = driver("cuModuleGetFunction", module.load_function(n))?;
            self.functions.insert(n.clone(), f.clone());
            out.push(f);
        }
        Ok(out)
    }

    /// The CUDA context (for events and raw copies).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// Copies raw row-major bytes (the layout [`Buffer`] uses) to the device.
    pub fn upload_bytes(
        &self,
        dtype: DType,
        shape: &[usize],
        bytes: &[u8],
    ) -> Result<DeviceTensor, CudaError> {
        let want = shape.iter().product::<usize>() * dtype.size_bytes();
        if bytes.len() != want {
            return Err(CudaError::Input(format!(
                "{} bytes for {dtype}{shape:?}, which needs {want}",
                bytes.len()
            )));
        }
        let buf = if bytes.is_empty() {
            driver("cuMemcpyHtoD", self.stream.clone_htod(&[0u8]))?
        } else {
            driver("cuMemcpyHtoD", self.stream.clone_htod(bytes))?
        };
        Ok(DeviceTensor { dtype, shape: shape.to_vec(), buf })
    }

    /// Copies a host tensor to the device.
    pub fn upload(&self, t: &HostTensor) -> Result<DeviceTensor, CudaError> {
        let b = Buffer::from_host(t);
        let mut bytes = b.bytes().to_vec();
        if bytes.is_empty() {
            bytes.push(0);
        }
        let buf = driver("cuMemcpyHtoD", self.stream.clone_htod(&bytes))?;
        Ok(DeviceTensor { dtype: t.dtype, shape: t.shape.clone(), buf })
    }

    /// Copies a device tensor back to the host.
    pub fn download(&self, t: &DeviceTensor) -> Result<HostTensor, CudaError> {
        let bytes = driver("cuMemcpyDtoH", self.stream.clone_dtoh(&t.buf))?;
        let mut b = Buffer::zeros(t.dtype, &t.shape);
        let n = b.bytes().len();
        b.bytes_mut().copy_from_slice(&bytes[..n]);
        Ok(b.to_host())
    }

    fn alloc(&self, dtype: DType, shape: Vec<usize>) -> Result<DeviceTensor, CudaError> {
        let n = (shape.iter().product::<usize>() * dtype.size_bytes()).max(1);
        // SAFETY: every output element is written by its kernel before it is read.
        let buf = driver("cuMemAlloc", unsafe { self.stream.alloc::<u8>(n) })?;
        Ok(DeviceTensor { dtype, shape, buf })
    }

    /// Runs a compiled plan on device tensors (symbols bound from their
    /// shapes plus `extra`); returns the function's results on the device.
    pub fn launch(
        &mut self,
        plan: &CompiledPlan,
        inputs: &[&DeviceTensor],
        extra: &Bindings,
    ) -> Result<Vec<DeviceTensor>, CudaError> {
        let b = self.bind(plan, inputs, extra)?;
        let mut made = self.allocate(plan, &b)?;
        self.enqueue(plan, inputs, &made, &b)?;
        let f = &plan.func;
        let mut results: Vec<DeviceTensor> = Vec::new();
        for (k, r) in f.results().iter().enumerate() {
            let t = match made.slot.get(r) {
                Some(Slot::Made(j)) => match made.buffers.get_mut(*j).and_then(Option::take) {
                    Some(t) => t,
                    // A value returned twice: copy the first result holding it.
                    None => {
                        let first = f.results()[..k].iter().position(|x| x == r);
                        let t = first.and_then(|i| results.get(i)).ok_or_else(|| {
                            CudaError::Input(format!("result {r} was not computed"))
                        })?;
                        self.copy(t)?
                    }
                },
                Some(Slot::Input(j)) => {
                    let t =
                        inputs.get(*j).ok_or_else(|| CudaError::Input("missing input".into()))?;
                    self.copy(t)?
                }
                None => return Err(CudaError::Input(format!("result {r} was not computed"))),
            };
            results.push(t);
        }
        Ok(results)
    }

    fn bind(
        &self,
        plan: &CompiledPlan,
        inputs: &[&DeviceTensor],
        extra: &Bindings,
    ) -> Result<Bindings, CudaError> {
        let sigs: Vec<(DType, Vec<usize>)> =
            inputs.iter().map(|t| (t.dtype, t.shape.clone())).collect();
        bind_shapes(&plan.func, &sigs, extra)
    }

    /// Buffers for every kernel output of the plan at bindings `b`.
    fn allocate(&self, plan: &CompiledPlan, b: &Bindings) -> Result<Made, CudaError> {
        let mut made = Made { buffers: Vec::new(), slot: HashMap::new(), scratch: None };
        let mut scratch = 0;
        for step in &plan.steps {
            if let (StepRun::Conv { .. }, Template::ConvGemm(c)) =
                (&step.run, &step.source.template)
            {
                scratch = scratch.max(conv::scratch_bytes(&step.kernel, c, b)?);
            }
        }
        if scratch > 0 {
            // SAFETY: im2col writes every element of the columns it uses
            // before the gemms read them.
            made.scratch = Some(driver("cuMemAlloc", unsafe { self.stream.alloc::<u8>(scratch) })?);
        }
        for (i, &p) in plan.func.params().iter().enumerate() {
            made.slot.insert(p, Slot::Input(i));
        }
        for step in &plan.steps {
            let k = &step.kernel;
            for (&r, &o) in k.func.results().iter().zip(&k.outputs) {
                let ty = k.func.ty(r);
                let shape =
                    concrete_shape(&ty.shape, b).map_err(|e| CudaError::Input(e.to_string()))?;
                made.slot.insert(o, Slot::Made(made.buffers.len()));
                made.buffers.push(Some(self.alloc(ty.dtype, shape)?));
            }
        }
        Ok(made)
    }

    /// Enqueues every launch of the plan, in order, on the stream.
    fn enqueue(
        &self,
        plan: &CompiledPlan,
        inputs: &[&DeviceTensor],
        made: &Made,
        b: &Bindings,
    ) -> Result<(), CudaError> {
        for l in &plan.launches {
            match l {
                PlanLaunch::One(i) => {
                    let step = plan
                        .steps
                        .get(*i)
                        .ok_or_else(|| CudaError::Input(format!("the plan has no step {i}")))?;
                    self.enqueue_step(step, inputs, made, b)?;
                }
                PlanLaunch::Multi(g) => self.enqueue_group(plan, g, inputs, made, b)?,
            }
        }
        Ok(())
    }

    /// Enqueues one step of a plan.
    fn enqueue_step(
        &self,
        step: &Step,
        inputs: &[&DeviceTensor],
        made: &Made,
        b: &Bindings,
    ) -> Result<(), CudaError> {
        let k = &step.kernel;
        let (ins, outs) = made.operands(k, inputs)?;
        match &step.run {
            StepRun::Matmul => self.matmul(k, &ins, &outs)?,
            StepRun::Conv { im2col, bias } => {
                let Template::ConvGemm(c) = &step.source.template else {
                    return Err(CudaError::Input(format!("kernel {} is no conv", k.name)));
                };
                let fns = conv::ConvFunctions { im2col: im2col.as_ref(), bias: bias.as_ref() };
                self.conv2d(k, c, fns, &ins, &outs, made.scratch.as_ref())?;
            }
            StepRun::Member => {
                return Err(CudaError::Input(format!(
                    "kernel {} runs in a multi kernel, not alone",
                    k.name
                )));
            }
            StepRun::Kernel(func) => {
                let sizes = launch_sizes(&step.source, b)?;
                let cfg = launch_config(&step.source.template, &sizes, self.sm_count);
                let syms = symbol_values(&step.source, b)?;
                let mut builder = self.stream.launch_builder(func);
                for o in &outs {
                    builder.arg(&o.buf);
                }
                for i in &ins {
                    builder.arg(&i.buf);
                }
                for s in &syms {
                    builder.arg(s);
                }
                // SAFETY: the argument list matches the generated signature
                // (outputs, inputs, symbols) and every buffer holds its
                // tensor's bytes, which is all the kernel indexes. Outputs
                // are passed by shared reference: the kernel writes them,
                // which nothing else reads until the stream gets there.
                driver("cuLaunchKernel", unsafe { builder.launch(cfg) })?;
            }
        }
        Ok(())
    }

    fn copy(&self, t: &DeviceTensor) -> Result<DeviceTensor, CudaError> {
        let buf = driver("cuMemcpyDtoD", t.buf.try_clone())?;
        Ok(DeviceTensor { dtype: t.dtype, shape: t.shape.clone(), buf })
    }

    /// Runs `func` on host tensors: upload, plan, compile each kernel once,
    /// launch in order, download.
    pub fn run(
        &mut self,
        func: &Func,
        inputs: &[HostTensor],
        extra: &Bindings,
    ) -> Result<Vec<HostTensor>, CudaError> {
        bind_symbols(func, inputs, extra).map_err(|e| CudaError::Input(e.to_string()))?;
        let plan = self.compile(func)?;
        let dev: Vec<DeviceTensor> =
            inputs.iter().map(|t| self.upload(t)).collect::<Result<_, _>>()?;
        let refs: Vec<&DeviceTensor> = dev.iter().collect();
        let outs = self.launch(&plan, &refs, extra)?;
        let host = outs.iter().map(|t| self.download(t)).collect::<Result<Vec<_>, _>>()?;
        driver("cuStreamSynchronize", self.stream.synchronize())?;
        Ok(host)
    }
}

/// True for ops lowered by the cuBLAS path.
pub fn is_library(op: &Op) -> bool {
    matches!(op, Op::Matmul | Op::Conv2d(_) | Op::MaxPool2d(_) | Op::AvgPool2d(_))
}
