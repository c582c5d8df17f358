//! [`CpuBackend`]: runs a function on the CPU. Binds symbols (as the
//! interpreter does), plans (fused, or one op per kernel), compiles each
//! kernel once per cache key (the kernel's size-free key plus the numerics
//! mode: sizes are arguments, so a new batch size compiles nothing), and
//! runs the kernels in plan order over row ranges split across a persistent
//! thread pool.

use std::collections::HashMap;
use std::sync::Arc;

use super::buffer::{BufRef, Buffer};
use super::jit::{CompileError, Compiled, Jit, fault_message};
use super::layout::{KernelLayout, const_tables};
use super::library::{LibraryError, run_library};
use super::physical::physical;
use super::unfused::unfused_plan;
use crate::HostTensor;
use crate::backend::kernel::{KernelFunc, extract};
use crate::interp::{self, Bindings, InterpError};
use crate::ir::{Func, Layout, NodeId, Op};
use crate::passes::layout::TO_NHWC;
use crate::plan::{KernelKind, PlanError, plan};

/// How f16/bf16 values are rounded inside a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Numerics {
    /// Computed in f32, rounded once at the kernel's outputs (and at casts).
    #[default]
    Fused,
    /// Rounded after every op (matches an unfused run).
    Eager,
}

/// Options of a [`CpuBackend`].
#[derive(Clone, Debug)]
pub struct CpuOptions {
    /// Worker threads (default: `SMELT_NUM_THREADS`, else the core count).
    pub threads: usize,
    /// Fuse as the planner says (`false`: one op per kernel).
    pub fusion: bool,
    /// Narrow-float rounding.
    pub numerics: Numerics,
    /// Run kernels the lowering cannot do through the interpreter (says so on stderr).
    pub fallback_interp: bool,
}

impl Default for CpuOptions {
    fn default() -> Self {
        let threads = std::env::var("SMELT_NUM_THREADS")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        CpuOptions { threads, fusion: true, numerics: Numerics::Fused, fallback_interp: false }
    }
}

/// Why a CPU run failed.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// Bad inputs, or an interpreted (fallback) kernel failed.
    #[error(transparent)]
    Interp(#[from] InterpError),
    /// The function could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A kernel could not be compiled.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// A library kernel failed.
    #[error(transparent)]
    Library(#[from] LibraryError),
    /// A kernel met a fault at run time (integer division by zero, …).
    #[error("kernel {kernel}: {message}")]
    Runtime {
        /// The kernel.
        kernel: String,
        /// What went wrong.
        message: String,
    },
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    Pool(String),
}

/// Statistics of the last [`CpuBackend::run`].
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// Kernels run.
    pub kernels: usize,
    /// Kernels compiled by this run (cache misses).
    pub compiled: usize,
    /// Time spent compiling in this run.
    pub compile_ms: f64,
    /// Kernels run through the interpreter (`fallback_interp`).
    pub interpreted: usize,
    /// Kernels whose inner loop ran in f32x4 lanes.
    pub vectorized: usize,
    /// Output buffers allocated afresh (not taken from a pool).
    pub fresh_buffers: usize,
}

/// The CPU backend: a JIT module, its kernel cache and a thread pool.
pub struct CpuBackend {
    opts: CpuOptions,
    jit: Jit,
    cache: HashMap<String, Arc<Compiled>>,
    pool: rayon::ThreadPool,
    compiled: usize,
    /// Buffers callers handed back ([`CpuBackend::recycle`]), for results.
    spare: Pool,
    /// Intermediates of earlier kernels and runs, for intermediates.
    temps: Pool,
    prepared: HashMap<u64, (String, Arc<Prepared>)>,
    /// Statistics of the last run.
    pub last: RunStats,
    /// `SMELT_PROFILE` is set: one stderr line per kernel run.
    profile: bool,
}

/// One kernel of a prepared function: the kernel, and its compiled code
/// (or why there is none).
struct PreparedKernel {
    kf: KernelFunc,
    native: Result<(KernelLayout, Arc<Compiled>), CompileError>,
    /// Values this kernel reads last (not results): their buffers go back to
    /// the pool of temporaries once it has run, so later kernels of the same
    /// run (and later runs) reuse memory that is already mapped and warm.
    last_reads: Vec<NodeId>,
    /// Per output: whether it is one of the function's results (handed to
    /// the caller, so not taken from the pool of temporaries).
    result_outputs: Vec<bool>,
}

/// A function's kernels, and the physical function they were planned from
/// when it differs from the caller's (see `physical.rs`).
struct Prepared {
    func: Option<Func>,
    kernels: Vec<PreparedKernel>,
}

/// A function planned and compiled by [`CpuBackend::prepare_func`].
#[derive(Clone)]
pub struct PreparedFunc(Arc<Prepared>);

/// With `SMELT_PROFILE=1`, one line per kernel run on stderr, tab-separated:
/// `smelt-profile`, the kernel's name, what it computes (the op for a
/// library call, else its node count), its first output's shape, and
/// microseconds, so a fused graph's time can be added up per kernel (for
/// example with `sort | awk`).
fn profile_line(func: &Func, kf: &KernelFunc, outs: &[Buffer], took: std::time::Duration) {
    let what = match kf.kind {
        KernelKind::Library => kf
            .outputs
            .first()
            .map_or_else(|| "library".to_string(), |&n| func.node(n).op.name().to_string()),
        _ => format!("{} ops", kf.func.program_order().len()),
    };
    let shape = outs.first().map(|b| format!("{:?}", b.shape)).unwrap_or_default();
    eprintln!("smelt-profile\t{}\t{what}\t{shape}\t{:.1}", kf.name, took.as_secs_f64() * 1e6);
}

/// Spare buffers by dtype and shape.
type Pool = HashMap<(crate::ir::DType, Vec<usize>), Vec<Buffer>>;

/// Keeps `b` for reuse, at most [`POOL_DEPTH`] per dtype and shape.
fn pool_push(pool: &mut Pool, b: Buffer) {
    let list = pool.entry((b.dtype, b.shape.clone())).or_default();
    if list.len() < POOL_DEPTH {
        list.push(b);
    }
}

/// Spare buffers kept per dtype and shape in each pool.
const POOL_DEPTH: usize = 8;

/// Fills each kernel's `last_reads`: the values it is the last kernel to
/// read, except the function's results (handed back to the caller).
fn mark_last_reads(func: &Func, kernels: &mut [PreparedKernel]) {
    let mut last: HashMap<NodeId, usize> = HashMap::new();
    for (i, pk) in kernels.iter().enumerate() {
        for &id in &pk.kf.inputs {
            last.insert(id, i);
        }
    }
    for r in func.results() {
        last.remove(r);
    }
    for pk in kernels.iter_mut() {
        pk.result_outputs = pk.kf.outputs.iter().map(|o| func.results().contains(o)).collect();
    }
    let mut by_kernel: Vec<(usize, NodeId)> = last.into_iter().map(|(id, i)| (i, id)).collect();
    // Sorted, so the recycling order (and so which buffer is reused) is the
    // same on every run.
    by_kernel.sort();
    for (i, id) in by_kernel {
        kernels[i].last_reads.push(id);
    }
}

/// A value during a run: an input borrowed from the caller, or a kernel's result.
enum Slot<'a> {
    In(BufRef<'a>),
    Own(Buffer),
}

impl Slot<'_> {
    fn get(&self) -> BufRef<'_> {
        match self {
            Slot::In(b) => *b,
            Slot::Own(b) => b.as_ref(),
        }
    }
}

/// Raw pointers handed to worker threads.
#[derive(Clone, Copy)]
struct Raw(*const *mut u8, *const i64);
// SAFETY: the pointed-to arrays and buffers outlive the scope the tasks run
// in, and tasks write disjoint rows (or columns) of the output buffers.
unsafe impl Send for Raw {}
unsafe impl Sync for Raw {}

impl Raw {
    /// Both pointers (a method, so closures capture the whole `Raw`, which is Send).
    fn parts(self) -> (*const *mut u8, *const i64) {
        (self.0, self.1)
    }
}

/// Where empty buffers point (kernels may compute an address but read nothing real).
#[repr(C, align(64))]
struct Dummy([u8; 64]);
static DUMMY: Dummy = Dummy([0; 64]);

impl CpuBackend {
    /// A backend with these options.
    pub fn new(opts: CpuOptions) -> Result<CpuBackend, CpuError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads.max(1))
            .build()
            .map_err(|e| CpuError::Pool(e.to_string()))?;
        Ok(CpuBackend {
            opts,
            jit: Jit::new()?,
            cache: HashMap::new(),
            pool,
            compiled: 0,
            spare: HashMap::new(),
            temps: HashMap::new(),
            prepared: HashMap::new(),
            last: RunStats::default(),
            profile: std::env::var_os("SMELT_PROFILE").is_some_and(|v| !v.is_empty() && v != "0"),
        })
    }

    /// Kernels compiled so far (cache misses since `new`).
    pub fn kernels_compiled(&self) -> usize {
        self.compiled
    }

    /// The options.
    pub fn options(&self) -> &CpuOptions {
        &self.opts
    }

    /// The kernels of `func` as the backend runs them (fused or not).
    pub fn kernels(&self, func: &Func) -> Result<Vec<KernelFunc>, CpuError> {
        let p = if self.opts.fusion { plan(func)? } else { unfused_plan(func)? };
        Ok(p.kernels.iter().map(|k| extract(func, k)).collect())
    }

    /// The CLIF text of every non-library kernel of `func`, in plan order.
    pub fn clif(&mut self, func: &Func) -> Result<Vec<(String, String)>, CpuError> {
        self.listing(func, false)
    }

    /// The machine code (Cranelift's VCode listing) of every kernel of `func`.
    pub fn asm(&mut self, func: &Func) -> Result<Vec<(String, String)>, CpuError> {
        self.jit.want_asm = true;
        self.cache.clear(); // recompile, keeping the listing
        let out = self.listing(func, true);
        self.jit.want_asm = false;
        out
    }

    fn listing(&mut self, func: &Func, asm: bool) -> Result<Vec<(String, String)>, CpuError> {
        let mut out = Vec::new();
        for kf in self.kernels(func)? {
            if kf.kind == KernelKind::Library {
                out.push((kf.name.clone(), "; library call\n".to_string()));
                continue;
            }
            let text = match KernelLayout::of(&kf) {
                Ok(layout) => match self.compiled_for(&kf, &layout) {
                    Ok(c) if asm => c.asm.clone().unwrap_or_default(),
                    Ok(c) => c.clif.clone(),
                    Err(e) => format!("; {e}\n"),
                },
                Err(e) => format!("; {e}\n"),
            };
            out.push((kf.name.clone(), text));
        }
        Ok(out)
    }

    fn compiled_for(
        &mut self,
        kf: &KernelFunc,
        layout: &KernelLayout,
    ) -> Result<Arc<Compiled>, CompileError> {
        // The key is size-free and names no function: identical kernels of
        // different functions, or at different places of one, share code.
        let key = format!("{:?}|{}", self.opts.numerics, kf.cache_key);
        if let Some(c) = self.cache.get(&key) {
            return Ok(c.clone());
        }
        let c = Arc::new(self.jit.compile(kf, layout, self.opts.numerics == Numerics::Eager)?);
        self.compiled += 1;
        self.last.compiled += 1;
        self.last.compile_ms += c.compile_ms;
        self.cache.insert(key, c.clone());
        Ok(c)
    }

    /// Runs `func` on `inputs` (symbols bound from their shapes plus `extra`).
    pub fn run(
        &mut self,
        func: &Func,
        inputs: &[HostTensor],
        extra: &Bindings,
    ) -> Result<Vec<HostTensor>, CpuError> {
        let syms = interp::bind_symbols(func, inputs, extra)?;
        // A `{nhwc}` parameter's buffer holds NHWC bytes (under its logical shape).
        let mut bufs = Vec::with_capacity(inputs.len());
        for (&p, t) in func.params().iter().zip(inputs) {
            let nhwc = matches!(func.node(p).op, Op::Param { layout: Layout::Nhwc, .. });
            bufs.push(if nhwc && t.shape.len() == 4 {
                let mut b = Buffer::from_host(&crate::interp::permute_host(t, &TO_NHWC)?);
                b.shape = t.shape.clone();
                b
            } else {
                Buffer::from_host(t)
            });
        }
        let outs = self.run_buffers(func, &bufs, &syms)?;
        let hosts = outs.iter().map(Buffer::to_host).collect();
        self.recycle(outs);
        Ok(hosts)
    }

    /// Runs `func` on buffers, with every symbol bound in `syms` (as
    /// [`interp::bind_symbols`] gives them): no host conversion, so this is
    /// what benchmarks time. Buffers handed back with [`CpuBackend::recycle`]
    /// are reused for later results of the same dtype and shape.
    pub fn run_buffers(
        &mut self,
        func: &Func,
        inputs: &[Buffer],
        syms: &Bindings,
    ) -> Result<Vec<Buffer>, CpuError> {
        let refs: Vec<BufRef<'_>> = inputs.iter().map(Buffer::as_ref).collect();
        self.run_views(func, &refs, syms)
    }

    /// [`CpuBackend::run_buffers`] on borrowed views: what the eager runtime
    /// uses, so that tensors sharing one storage are handed over without a
    /// copy. Each view's bytes must be dense row-major for its shape and
    /// start 64-byte aligned (as a [`Buffer`]'s do), except that a `{nhwc}`
    /// parameter's view has its logical NCHW shape and NHWC (channels-last)
    /// bytes.
    pub fn run_views(
        &mut self,
        func: &Func,
        inputs: &[BufRef<'_>],
        syms: &Bindings,
    ) -> Result<Vec<Buffer>, CpuError> {
        // Reset before preparing, so the stats count this call's compiles.
        self.last = RunStats::default();
        let prepared = self.prepare(func)?;
        self.run_prepared_kernels(func, &prepared, inputs, syms)
    }

    /// Plans and compiles `func` once; [`CpuBackend::run_prepared`] then runs
    /// it without re-deriving the plan's cache key from the function text.
    pub fn prepare_func(&mut self, func: &Func) -> Result<PreparedFunc, CpuError> {
        Ok(PreparedFunc(self.prepare(func)?))
    }

    /// Runs a function prepared by [`CpuBackend::prepare_func`] (on this
    /// backend, for this same `func`) on borrowed views.
    pub fn run_prepared(
        &mut self,
        func: &Func,
        prepared: &PreparedFunc,
        inputs: &[BufRef<'_>],
        syms: &Bindings,
    ) -> Result<Vec<Buffer>, CpuError> {
        self.last = RunStats::default();
        self.run_prepared_kernels(func, &prepared.0, inputs, syms)
    }

    fn run_prepared_kernels(
        &mut self,
        func: &Func,
        prepared: &Arc<Prepared>,
        inputs: &[BufRef<'_>],
        syms: &Bindings,
    ) -> Result<Vec<Buffer>, CpuError> {
        if inputs.len() != func.params().len() {
            return Err(CpuError::Runtime {
                kernel: "-".into(),
                message: format!(
                    "@{} takes {} inputs, {} given",
                    func.name,
                    func.params().len(),
                    inputs.len()
                ),
            });
        }
        // `{nhwc}` parameters are NHWC-shaped parameters of the physical function.
        let phys_shapes: Vec<Option<Vec<usize>>> = func
            .params()
            .iter()
            .zip(inputs)
            .map(|(&p, b)| match (&func.node(p).op, b.shape) {
                (Op::Param { layout: Layout::Nhwc, .. }, &[n, c, h, w]) => Some(vec![n, h, w, c]),
                _ => None,
            })
            .collect();
        let func = prepared.func.as_ref().unwrap_or(func);
        let mut vals: HashMap<NodeId, Slot<'_>> = HashMap::new();
        for ((&param, b), shape) in func.params().iter().zip(inputs).zip(&phys_shapes) {
            let b = match shape {
                Some(s) => BufRef { shape: s, ..*b },
                None => *b,
            };
            vals.insert(param, Slot::In(b));
        }
        for pk in prepared.kernels.iter() {
            let kf = &pk.kf;
            self.last.kernels += 1;
            let started = self.profile.then(std::time::Instant::now);
            let outs = match &pk.native {
                _ if kf.kind == KernelKind::Library => {
                    self.run_library_kernel(func, pk, &vals, syms)?
                }
                Ok((layout, compiled)) => self.run_native(pk, layout, compiled, &vals, syms)?,
                Err(e @ CompileError::Unsupported { .. }) if self.opts.fallback_interp => {
                    eprintln!("smelt: {e}; running it in the interpreter");
                    self.interpret(kf, &vals, syms)?
                }
                Err(e) => return Err(e.clone().into()),
            };
            if let Some(t) = started {
                profile_line(func, kf, &outs, t.elapsed());
            }
            for (id, b) in kf.outputs.iter().zip(outs) {
                vals.insert(*id, Slot::Own(b));
            }
            for id in &pk.last_reads {
                if let Some(Slot::Own(b)) = vals.remove(id) {
                    pool_push(&mut self.temps, b);
                }
            }
        }
        let mut results: Vec<Buffer> = Vec::with_capacity(func.results().len());
        for (i, r) in func.results().iter().enumerate() {
            // Move a kernel's result out; copy only inputs and repeated results.
            let b = match vals.remove(r) {
                Some(Slot::Own(b)) => b,
                Some(Slot::In(b)) => b.to_buffer(),
                None => match func.results()[..i].iter().position(|q| q == r) {
                    Some(j) => results[j].clone(),
                    None => {
                        return Err(CpuError::Runtime {
                            kernel: "-".into(),
                            message: format!("result {r} was never computed"),
                        });
                    }
                },
            };
            results.push(b);
        }
        let spare: Vec<Buffer> = vals
            .into_values()
            .filter_map(|s| match s {
                Slot::Own(b) => Some(b),
                Slot::In(_) => None,
            })
            .collect();
        for b in spare {
            pool_push(&mut self.temps, b);
        }
        Ok(results)
    }

    /// Hands buffers back for reuse by later results of the same dtype and shape.
    pub fn recycle(&mut self, bufs: Vec<Buffer>) {
        for b in bufs {
            pool_push(&mut self.spare, b);
        }
    }

    /// A buffer for a kernel output (its contents are overwritten whole by
    /// the kernel): a function result takes one the caller handed back with
    /// [`CpuBackend::recycle`], an intermediate one of an earlier run's or
    /// kernel's temporaries; else a fresh one. Two pools, so that results
    /// handed on as tensors (every eager op's) never drain the
    /// temporaries a compiled graph reuses from run to run.
    fn alloc(
        &mut self,
        kernel: &str,
        dtype: crate::ir::DType,
        shape: &[usize],
        result: bool,
    ) -> Result<Buffer, CpuError> {
        let pool = if result { &mut self.spare } else { &mut self.temps };
        if let Some(b) = pool.get_mut(&(dtype, shape.to_vec())).and_then(Vec::pop) {
            return Ok(b);
        }
        self.last.fresh_buffers += 1;
        Buffer::try_zeros(dtype, shape).ok_or_else(|| CpuError::Runtime {
            kernel: kernel.into(),
            message: format!("an output of {dtype}{shape:?} is larger than the address space"),
        })
    }

    fn run_library_kernel(
        &mut self,
        func: &Func,
        pk: &PreparedKernel,
        vals: &HashMap<NodeId, Slot<'_>>,
        syms: &Bindings,
    ) -> Result<Vec<Buffer>, CpuError> {
        let kf = &pk.kf;
        let Some(&node) = kf.outputs.first() else { return Ok(Vec::new()) };
        let n = func.node(node);
        let shape = interp::concrete_shape(&n.ty.shape, syms)?;
        let mut out = self.alloc(&kf.name, n.ty.dtype, &shape, pk.result_outputs[0])?;
        let refs: Vec<BufRef<'_>> = kf.inputs.iter().map(|i| vals[i].get()).collect();
        match run_library(&n.op, &refs, out.as_mut(), self.opts.threads) {
            Ok(()) => Ok(vec![out]),
            Err(e) if self.opts.fallback_interp => {
                eprintln!("smelt: {e}; running kernel {} in the interpreter", kf.name);
                self.interpret(kf, vals, syms)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn interpret(
        &mut self,
        kf: &KernelFunc,
        vals: &HashMap<NodeId, Slot<'_>>,
        syms: &Bindings,
    ) -> Result<Vec<Buffer>, CpuError> {
        self.last.interpreted += 1;
        let ins: Vec<HostTensor> =
            kf.inputs.iter().map(|i| vals[i].get().to_buffer().to_host()).collect();
        let outs = interp::run(&kf.func, &ins, syms)?;
        Ok(outs.iter().map(Buffer::from_host).collect())
    }

    /// The kernels of `func` (planned, extracted, laid out and compiled once
    /// per function and fusion mode).
    fn prepare(&mut self, func: &Func) -> Result<Arc<Prepared>, CpuError> {
        // Node ids are part of the key: cached kernels refer to them.
        let text = format!("{}|{func}|{:?}", self.opts.fusion, func.program_order());
        let key = crate::backend::kernel::stable_hash(&text);
        if let Some((t, p)) = self.prepared.get(&key)
            && *t == text
        {
            return Ok(p.clone());
        }
        let phys = physical(func).map_err(|e| CpuError::Runtime {
            kernel: "-".into(),
            message: format!("@{}: layout planning failed: {e}", func.name),
        })?;
        let caller = func;
        let func = phys.as_ref().unwrap_or(caller);
        let p = if self.opts.fusion { plan(func)? } else { unfused_plan(func)? };
        let mut out = Vec::new();
        for k in &p.kernels {
            if k.outputs.is_empty() {
                continue; // dead code: nothing reads it
            }
            let kf = extract(func, k);
            let native = if kf.kind == KernelKind::Library {
                Err(CompileError::Unsupported { op: "library".into(), kernel: kf.name.clone() })
            } else {
                KernelLayout::of(&kf).and_then(|l| self.compiled_for(&kf, &l).map(|c| (l, c)))
            };
            out.push(PreparedKernel {
                kf,
                native,
                last_reads: Vec::new(),
                result_outputs: Vec::new(),
            });
        }
        mark_last_reads(func, &mut out);
        let out = Arc::new(Prepared { func: phys, kernels: out });
        if self.prepared.len() > 256 {
            self.prepared.clear();
        }
        self.prepared.insert(key, (text, out.clone()));
        Ok(out)
    }

    fn run_native(
        &mut self,
        pk: &PreparedKernel,
        layout: &KernelLayout,
        compiled: &Compiled,
        vals: &HashMap<NodeId, Slot<'_>>,
        syms: &Bindings,
    ) -> Result<Vec<Buffer>, CpuError> {
        let kf = &pk.kf;
        if compiled.vectorized {
            self.last.vectorized += 1;
        }
        let f = &kf.func;
        // Sizes: every node's dims, then its row-major strides.
        let mut sizes: Vec<i64> = Vec::with_capacity(layout.n_sizes);
        let mut shapes: HashMap<NodeId, Vec<usize>> = HashMap::new();
        for &n in &layout.sized {
            let dims = interp::concrete_shape(&f.ty(n).shape, syms)?;
            let mut strides = vec![0i64; dims.len()];
            let mut s = 1i64;
            for k in (0..dims.len()).rev() {
                strides[k] = s;
                s *= dims[k] as i64;
            }
            sizes.extend(dims.iter().map(|&d| d as i64));
            sizes.extend(strides);
            shapes.insert(n, dims);
        }
        let mut outs: Vec<Buffer> = f
            .results()
            .iter()
            .zip(&pk.result_outputs)
            .map(|(r, &result)| self.alloc(&kf.name, f.ty(*r).dtype, &shapes[r], result))
            .collect::<Result<_, _>>()?;
        let mut tables: Vec<Buffer> = Vec::new();
        for c in const_tables(f) {
            let Op::Const { .. } = &f.node(c).op else { continue };
            let t = interp::eval_op(&f.node(c).op, &[], &f.node(c).ty, syms)?;
            tables.push(Buffer::from_host(&t));
        }
        let dummy = DUMMY.0.as_ptr() as *mut u8;
        let ptr_of = |b: &[u8]| if b.is_empty() { dummy } else { b.as_ptr() as *mut u8 };
        let mut ptrs: Vec<*mut u8> = Vec::with_capacity(layout.slots.len());
        for (i, _) in f.params().iter().enumerate() {
            ptrs.push(ptr_of(vals[&kf.inputs[i]].get().bytes));
        }
        for o in outs.iter_mut() {
            let b = o.bytes_mut();
            ptrs.push(if b.is_empty() { dummy } else { b.as_mut_ptr() });
        }
        for t in &tables {
            ptrs.push(ptr_of(t.bytes()));
        }
        // Rows = product of the outer dims; columns = the loop dim of a pointwise kernel.
        let st = &layout.st;
        let dom = &shapes[&st.domain_node];
        let rows: usize = st.outer_dims.iter().map(|&d| dom[d]).product();
        let cols: usize = st.loop_dims.iter().map(|&d| dom[d]).product();
        let work = rows * cols.max(1);
        let threads = self.opts.threads.max(1);
        let mut tasks: Vec<(i64, i64, i64, i64)> = Vec::new();
        let full_cols = if st.pointwise() { cols } else { 0 };
        if threads == 1 || work < 32 * 1024 {
            tasks.push((0, rows as i64, 0, full_cols as i64));
        } else if rows >= threads || !st.pointwise() {
            let chunks = (threads * 4).min(rows.max(1));
            for c in 0..chunks {
                let (a, b) = (rows * c / chunks, rows * (c + 1) / chunks);
                if a < b {
                    tasks.push((a as i64, b as i64, 0, full_cols as i64));
                }
            }
        } else {
            let chunks = threads * 2;
            for r in 0..rows {
                for c in 0..chunks {
                    let a = (cols * c / chunks) / 8 * 8;
                    let b = if c + 1 == chunks { cols } else { (cols * (c + 1) / chunks) / 8 * 8 };
                    if a < b {
                        tasks.push((r as i64, r as i64 + 1, a as i64, b as i64));
                    }
                }
            }
        }
        let raw = Raw(ptrs.as_ptr(), sizes.as_ptr());
        let entry = compiled.entry;
        // Each task's record: [fault code, its row scratch (see scratch.rs)].
        let scratch_len = layout.scratch.len() * cols;
        let mut scratch: Vec<Vec<f32>> = if scratch_len > 0 {
            tasks.iter().map(|_| vec![0f32; scratch_len]).collect()
        } else {
            Vec::new()
        };
        let mut status: Vec<[i64; 2]> = (0..tasks.len())
            .map(|i| [0, scratch.get_mut(i).map_or(0, |s| s.as_mut_ptr() as i64)])
            .collect();
        let call = |t: (i64, i64, i64, i64), st: &mut [i64; 2]| {
            let (bufs, sizes) = raw.parts();
            // SAFETY: `entry` was compiled for this kernel's layout; `ptrs` and
            // `sizes` follow it; every buffer has the size its node's dims say,
            // tasks cover disjoint rows/columns of the outputs, and each task's
            // scratch holds `layout.scratch.len()` rows of `cols` f32s.
            unsafe { entry(bufs, sizes, t.0, t.1, t.2, t.3, st.as_mut_ptr()) };
        };
        if tasks.len() == 1 {
            call(tasks[0], &mut status[0]);
        } else {
            self.pool.scope(|s| {
                for (t, st) in tasks.iter().zip(status.iter_mut()) {
                    let call = &call;
                    s.spawn(move |_| call(*t, st));
                }
            });
        }
        if let Some(&code) = status.iter().map(|s| &s[0]).find(|&&c| c != 0) {
            let code = (0..8).map(|b| 1i64 << b).find(|b| code & b != 0).unwrap_or(code);
            return Err(CpuError::Runtime {
                kernel: kf.name.clone(),
                message: fault_message(code).to_string(),
            });
        }
        Ok(outs)
    }
}
