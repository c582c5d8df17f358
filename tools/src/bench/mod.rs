//! `smelt bench --suite fusion [--device cpu|cuda] [--dtype f32|bf16]
//! [--json FILE] [--reps N]`: the fusion workloads of BENCHMARKS.md. On the
//! CPU (the default) at their CPU shapes, each run fused, unfused and
//! against a plain copy of the same bytes in the same process, printed as a
//! table (GB/s, ratios to the copy, fused/unfused, compile ms). With
//! `--device cuda` at their GPU shapes through the CUDA backend, beside a
//! device-to-device copy of the same bytes (`cuda.rs`).
//!
//! A benchmark prints; it never judges. CPU times are medians of `--reps`
//! runs after one warm-up. Files: `workloads.rs` (the IR, one list for
//! both devices), `engine.rs` (what runs it), `measure.rs` (medians, the
//! copy ceiling), `report.rs` (table, JSON), `cuda.rs` and `cuda_timing.rs`
//! (the GPU suite).
//!
//! Extension point: [`Suite`]. A new suite is a variant and an arm in
//! [`bench`]; `decoder` runs the CTC decoders' benchmark
//! (`smelt_runtime::decoders::bench`); `vision` the zoo models (`vision.rs`);
//! `train` the training steps of `smelt train-demo` and the fused AdamW
//! step (`train.rs`).

pub mod cuda;
pub mod cuda_timing;
pub mod engine;
pub mod measure;
pub mod report;
pub mod train;
pub mod vision;
pub mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use smelt_compiler::HostTensor;
use smelt_compiler::interp::{Bindings, concrete_shape};
use smelt_compiler::ir::{DType, Func, parse_func, verify};

use crate::cli::{CliError, CliResult};
use engine::{EngineKind, new_engine};
use measure::{CopyCeiling, median_of};
use report::Row;
use workloads::Workload;

/// The benchmark suites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// The fusion workloads of BENCHMARKS.md (pointwise, norms, softmax, AdamW).
    Fusion,
    /// The CTC decoders on the dev fixtures: WER and seconds beside Flashlight Text's.
    Decoder,
    /// Zoo models (resnet50, mobilenet_v3_large, efficientnet_b0): images/s
    /// eager/compiled, NCHW/channels-last, f32/bf16.
    Vision,
    /// Training steps of the demo models (f32, bf16 autocast, compiled) and the fused AdamW step.
    Train,
}

/// Where `smelt bench` runs its workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchDevice {
    /// This machine's CPU (every suite).
    Cpu,
    /// CUDA device 0 through the CUDA backend (`--suite fusion` only).
    Cuda,
}

/// The dtypes the fusion workloads come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchDType {
    /// 32-bit floats.
    F32,
    /// bfloat16 (computed in f32 inside fused kernels).
    Bf16,
}

impl BenchDType {
    /// The IR dtype.
    pub fn dtype(self) -> DType {
        match self {
            BenchDType::F32 => DType::F32,
            BenchDType::Bf16 => DType::BF16,
        }
    }
}

/// The arguments of `smelt bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which suite to run.
    #[arg(long, value_enum)]
    pub suite: Suite,
    /// Where the workloads run (`cuda`: `--suite fusion` only, for now).
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: BenchDevice,
    /// The workloads' dtype (default: f32 on the CPU; f32 and bf16 on CUDA).
    #[arg(long, value_enum)]
    pub dtype: Option<BenchDType>,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Timed repetitions per measurement: on the CPU after one warm-up, the
    /// median reported; on CUDA launches timed together with events, the mean.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub reps: u64,
    /// What runs the workloads on the CPU device.
    #[arg(long, value_enum, default_value = "cpu")]
    pub engine: EngineKind,
    /// Worker threads (default: SMELT_NUM_THREADS, else the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
    /// The CTC fixtures folder (`--suite decoder`; default ../shared/fixtures/ctc).
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Divide every workload's symbolic sizes by this (smaller, quicker runs).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub shrink: u64,
    /// `--suite vision`: only these models (repeatable; default the suite's three).
    #[arg(long = "model", value_name = "NAME")]
    pub models: Vec<String>,
    /// `--suite vision`: the input side in pixels.
    #[arg(long, default_value_t = 224, value_parser = clap::value_parser!(u64).range(32..=1024))]
    pub side: u64,
    /// `--device cuda`: generate every workload's kernels and compile them
    /// with NVRTC for sm_70/80/90 (those the loaded NVRTC supports), with no
    /// GPU; nothing is timed.
    #[arg(long)]
    pub dry_run: bool,
}

impl BenchArgs {
    /// The dtypes to run: `--dtype`, else f32 on the CPU and f32 and bf16 on CUDA.
    pub fn dtypes(&self) -> Vec<DType> {
        match (self.dtype, self.device) {
            (Some(d), _) => vec![d.dtype()],
            (None, BenchDevice::Cpu) => vec![DType::F32],
            (None, BenchDevice::Cuda) => vec![DType::F32, DType::BF16],
        }
    }
}

/// `smelt bench`: the report for stdout.
pub fn bench(args: &BenchArgs) -> CliResult<String> {
    if args.device == BenchDevice::Cuda && args.suite != Suite::Fusion {
        let suite = format!("{:?}", args.suite).to_lowercase();
        return Err(CliError::new(format!(
            "--suite {suite} runs on the CPU only for now; --device cuda runs --suite fusion"
        )));
    }
    if args.dry_run && args.device != BenchDevice::Cuda {
        return Err(CliError::new("--dry-run compiles CUDA kernels: it needs --device cuda"));
    }
    match args.suite {
        Suite::Fusion if args.device == BenchDevice::Cuda => cuda::fusion(args),
        Suite::Fusion => fusion(args),
        Suite::Decoder => decoder(args),
        Suite::Vision => vision::vision(
            usize::try_from(args.reps).unwrap_or(usize::MAX),
            usize::try_from(args.side).unwrap_or(224),
            &args.models,
        ),
        Suite::Train => train::run(args.reps as usize, threads(args.threads)?),
    }
}

/// Runs the CTC decoders' suite on the fixtures (`--fixtures`, default
/// `../shared/fixtures/ctc` beside the repository).
fn decoder(args: &BenchArgs) -> CliResult<String> {
    use smelt_runtime::decoders::bench::{BenchOptions, run_dev_suite};
    let dir = match &args.fixtures {
        Some(d) => d.clone(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ctc"),
    };
    let report = run_dev_suite(&dir, &BenchOptions::default())
        .map_err(|e| CliError::new(format!("decoder suite ({}): {e}", dir.display())))?;
    Ok(format!("{report}\n"))
}

/// Threads from the flag, else `SMELT_NUM_THREADS`, else the cores.
fn threads(flag: Option<u64>) -> CliResult<usize> {
    if let Some(t) = flag {
        return usize::try_from(t)
            .map_err(|_| CliError::new(format!("--threads {t} is too large")));
    }
    match std::env::var("SMELT_NUM_THREADS") {
        Ok(v) => v.trim().parse::<usize>().ok().filter(|&t| t > 0).ok_or_else(|| {
            CliError::new(format!("SMELT_NUM_THREADS={v:?} is not a positive count"))
        }),
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, usize::from)),
    }
}

/// Runs the fusion suite.
fn fusion(args: &BenchArgs) -> CliResult<String> {
    let threads = threads(args.threads)?;
    let reps = usize::try_from(args.reps).unwrap_or(usize::MAX);
    let dtype = args.dtypes()[0];
    let mut rows = Vec::new();
    for w in workloads::fusion_suite(dtype) {
        eprintln!("smelt bench: {} {} …", w.name, w.dtype);
        rows.push(measure_workload(&w, args, threads, reps)?);
    }
    let mut text = format!(
        "smelt bench --suite fusion --dtype {dtype} (engine {}, {threads} threads, median of \
         {reps} after a warm-up{})\n",
        format!("{:?}", args.engine).to_lowercase(),
        if args.shrink > 1 { format!(", sizes / {}", args.shrink) } else { String::new() },
    );
    text.push_str(&report::table(&rows));
    if rows.iter().any(|r| r.conversion.is_some()) {
        text.push_str(
            "times exclude host↔buffer conversion, measured separately and subtracted \
             (see conversion_ms in --json)\n",
        );
    }
    if let Some(path) = &args.json {
        let setup = json!({
            "suite": "fusion",
            "device": "cpu",
            "dtype": dtype.to_string(),
            "engine": format!("{:?}", args.engine).to_lowercase(),
            "threads": threads,
            "reps": reps,
            "shrink": args.shrink,
        });
        let body = serde_json::to_string_pretty(&report::to_json(&setup, &rows))
            .map_err(|e| CliError::new(format!("cannot encode the JSON: {e}")))?;
        std::fs::write(path, body + "\n")
            .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    }
    Ok(text)
}

/// One workload: its function, inputs and byte count, then copy, fused and
/// unfused runs.
fn measure_workload(w: &Workload, args: &BenchArgs, threads: usize, reps: usize) -> CliResult<Row> {
    let fail =
        |what: &str, e: String| CliError::new(format!("{} ({}): {what}: {e}", w.name, w.dtype));
    let func = parse_func(&w.ir).map_err(|e| fail("parse", e.to_string()))?;
    verify(&func).map_err(|e| fail("verify", e.to_string()))?;
    let bindings: Bindings =
        w.bindings.iter().map(|(k, v)| (k.clone(), (v / args.shrink).max(1))).collect();
    let inputs = make_inputs(&func, &bindings).map_err(|e| fail("inputs", e))?;
    let bytes = counted_bytes(&func, &w.counted, &bindings).map_err(|e| fail("bytes", e))?;

    let mut ceiling = CopyCeiling::new(bytes, threads);
    let copy = median_of::<String>(reps, || Ok(ceiling.copy())).map_err(|e| fail("copy", e))?;
    drop(ceiling);

    let run = |fusion: bool| -> CliResult<(Duration, engine::Prepared)> {
        let label = if fusion { "fused" } else { "unfused" };
        let mut e = new_engine(args.engine, threads, fusion).map_err(CliError::new)?;
        let prep = e.prepare(&func, &inputs, &bindings).map_err(|e| fail(label, e))?;
        let t = median_of(reps, || e.run_once()).map_err(|e| fail(label, e))?;
        Ok((t, prep))
    };
    let (fused, fprep) = run(true)?;
    let (unfused, uprep) = run(false)?;
    Ok(Row {
        workload: w.name.to_string(),
        dtype: w.dtype.to_string(),
        bytes,
        copy,
        fused,
        unfused,
        compile: fprep.compile,
        kernels: (fprep.kernels, uprep.kernels),
        conversion: fprep.conversion,
    })
}

/// Seeded inputs for every parameter: uniform in [-1, 1), and in [0, 1)
/// for parameters named `v…` (AdamW's second moments, which get a sqrt).
pub fn make_inputs(func: &Func, bindings: &Bindings) -> Result<Vec<HostTensor>, String> {
    let mut state = 0x5EED_u64;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    func.params()
        .iter()
        .map(|&p| {
            let node = func.node(p);
            let shape = concrete_shape(&node.ty.shape, bindings).map_err(|e| e.to_string())?;
            let n: usize = shape.iter().product();
            let positive = node.name.as_deref().is_some_and(|s| s.starts_with('v'));
            let data = (0..n).map(|_| if positive { next() } else { 2.0 * next() - 1.0 }).collect();
            Ok(HostTensor::from_f64(node.ty.dtype, &shape, data))
        })
        .collect()
}

/// Bytes moved per run: the counted parameters plus every result.
pub fn counted_bytes(func: &Func, counted: &[String], bindings: &Bindings) -> Result<u64, String> {
    let size = |id| -> Result<u64, String> {
        let ty = &func.node(id).ty;
        let shape = concrete_shape(&ty.shape, bindings).map_err(|e| e.to_string())?;
        Ok(shape.iter().product::<usize>() as u64 * ty.dtype.size_bytes() as u64)
    };
    let mut total = 0;
    for name in counted {
        let id = func
            .params()
            .iter()
            .copied()
            .find(|&p| func.node(p).name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| format!("no parameter %{name} to count"))?;
        total += size(id)?;
    }
    for &r in func.results() {
        total += size(r)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
