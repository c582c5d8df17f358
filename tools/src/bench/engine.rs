//! What runs a workload: an [`Engine`] compiles a function for given inputs
//! once ([`Engine::prepare`]), then runs it again and again, each run
//! reporting the time it measured ([`Engine::run_once`]).
//!
//! Engines: `cpu` (the Cranelift backend, `CpuBackend`, fused or unfused)
//! and `interp` (the reference interpreter: slow, and blind to fusion; it
//! lets the harness itself be tested and run anywhere).
//!
//! The CPU engine is written against the agreed `CpuBackend` API (issue 3:
//! `CpuBackend::new(CpuOptions { threads, fusion, .. })`, `run(&mut self,
//! &Func, &[HostTensor], &Bindings)`, `kernels_compiled()`) and compiled
//! only with the `cpu-backend` feature of smelt-tools until that backend is
//! on main; without it `--engine cpu` is a clear error. `run` converts
//! host tensors to buffers and back, so the CPU engine measures that
//! conversion separately and subtracts it (see [`Prepared::conversion`]);
//! a buffer-level entry point on the backend would make that exact.

use std::time::{Duration, Instant};

use smelt_compiler::HostTensor;
use smelt_compiler::interp::{self, Bindings};
use smelt_compiler::ir::Func;

/// What preparing a workload cost and produced.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    /// Time spent generating code for the fused plan (the backend's own
    /// measure where it has one; otherwise the first run minus a steady one).
    pub compile: Duration,
    /// Kernels compiled, where the engine compiles any.
    pub kernels: Option<usize>,
    /// Host↔buffer conversion time per run, excluded from every timed run
    /// (the engine's `run` includes it); `None` when there is none.
    pub conversion: Option<Duration>,
}

/// A way to run IR functions, for the benchmark.
pub trait Engine {
    /// Compiles what `func` needs for these inputs (and runs it once).
    fn prepare(
        &mut self,
        func: &Func,
        inputs: &[HostTensor],
        bindings: &Bindings,
    ) -> Result<Prepared, String>;

    /// Runs the prepared function once; the execution time it measured.
    fn run_once(&mut self) -> Result<Duration, String>;
}

/// The engines `smelt bench --engine` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The CPU backend (Cranelift kernels).
    Cpu,
    /// The reference interpreter (tests the harness; fusion changes nothing).
    Interp,
}

/// A fresh engine of `kind` with `threads` workers, fused or not.
pub fn new_engine(
    kind: EngineKind,
    threads: usize,
    fusion: bool,
) -> Result<Box<dyn Engine>, String> {
    match kind {
        EngineKind::Interp => Ok(Box::new(InterpEngine::default())),
        EngineKind::Cpu => cpu_engine(threads, fusion),
    }
}

#[cfg(feature = "cpu-backend")]
fn cpu_engine(threads: usize, fusion: bool) -> Result<Box<dyn Engine>, String> {
    Ok(Box::new(cpu::CpuEngine::new(threads, fusion)?))
}

#[cfg(not(feature = "cpu-backend"))]
fn cpu_engine(_threads: usize, _fusion: bool) -> Result<Box<dyn Engine>, String> {
    Err("the CPU backend (issue 3) is not built into this smelt (feature `cpu-backend` of \
         smelt-tools); `--engine interp` runs the harness through the interpreter"
        .into())
}

/// The interpreter as an engine: every run is a whole `interp::run`.
#[derive(Default)]
pub struct InterpEngine {
    job: Option<(Func, Vec<HostTensor>, Bindings)>,
}

impl Engine for InterpEngine {
    fn prepare(
        &mut self,
        func: &Func,
        inputs: &[HostTensor],
        bindings: &Bindings,
    ) -> Result<Prepared, String> {
        self.job = Some((func.clone(), inputs.to_vec(), bindings.clone()));
        Ok(Prepared::default())
    }

    fn run_once(&mut self) -> Result<Duration, String> {
        let (func, inputs, bindings) = self.job.as_ref().ok_or("run before prepare")?;
        let start = Instant::now();
        interp::run(func, inputs, bindings).map_err(|e| format!("@{}: {e}", func.name))?;
        Ok(start.elapsed())
    }
}

/// The CPU backend as an engine.
#[cfg(feature = "cpu-backend")]
mod cpu {
    use std::time::{Duration, Instant};

    use smelt_compiler::HostTensor;
    use smelt_compiler::backend::cpu::{Buffer, CpuBackend, CpuOptions};
    use smelt_compiler::interp::Bindings;
    use smelt_compiler::ir::Func;

    use super::{Engine, Prepared};

    /// One backend instance (its kernel cache) and the prepared job (the
    /// inputs already as buffers, so a timed run is the kernels alone).
    pub struct CpuEngine {
        backend: CpuBackend,
        job: Option<(Func, Vec<Buffer>, Bindings)>,
        conversion: Duration,
    }

    impl CpuEngine {
        pub fn new(threads: usize, fusion: bool) -> Result<CpuEngine, String> {
            let backend = CpuBackend::new(CpuOptions { threads, fusion, ..Default::default() })
                .map_err(|e| e.to_string())?;
            Ok(CpuEngine { backend, job: None, conversion: Duration::ZERO })
        }
    }

    impl Engine for CpuEngine {
        fn prepare(
            &mut self,
            func: &Func,
            inputs: &[HostTensor],
            bindings: &Bindings,
        ) -> Result<Prepared, String> {
            let outs = self.backend.run(func, inputs, bindings).map_err(|e| e.to_string())?;
            // Cranelift's own time, as the backend measured it: the first
            // run's wall time would add the page faults of fresh outputs.
            let compile = Duration::from_secs_f64(self.backend.last.compile_ms / 1e3);
            let kernels = self.backend.kernels_compiled();
            // What `run` spends outside the kernels: inputs to buffers, results back.
            let start = Instant::now();
            let in_bufs: Vec<Buffer> = inputs.iter().map(Buffer::from_host).collect();
            let encode = start.elapsed();
            let out_bufs: Vec<Buffer> = outs.iter().map(Buffer::from_host).collect();
            let start = Instant::now();
            for b in &out_bufs {
                b.to_host();
            }
            self.conversion = encode + start.elapsed();
            let syms = smelt_compiler::interp::bind_symbols(func, inputs, bindings)
                .map_err(|e| e.to_string())?;
            self.job = Some((func.clone(), in_bufs, syms));
            Ok(Prepared {
                compile,
                kernels: Some(kernels),
                conversion: Some(self.conversion),
            })
        }

        fn run_once(&mut self) -> Result<Duration, String> {
            let (func, inputs, syms) = self.job.as_ref().ok_or("run before prepare")?;
            let start = Instant::now();
            let outs = self.backend.run_buffers(func, inputs, syms).map_err(|e| e.to_string())?;
            let took = start.elapsed();
            self.backend.recycle(outs);
            Ok(took)
        }
    }
}
