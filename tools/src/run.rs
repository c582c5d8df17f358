//! `smelt run FILE.ir --input NAME=X.npy … [--sym n=128 …] [--func NAME]
//! --out DIR`: run one function of an IR file on `.npy` inputs with the
//! reference interpreter (or `--backend cpu`, see `run_cpu.rs`) and write its results as `DIR/out0.npy`, ….
//!
//! Inputs are checked against the signature here, before anything runs, so
//! an error names the parameter, the expected and the given type and the
//! file: `input x: expected f32[n, 1024], got f64[2, 1024] from a.npy`. An
//! f32 `.npy` is accepted for a bf16 or f16 parameter (rounded to it);
//! numpy has no bf16, so bf16 results are written as f32.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use smelt_compiler::HostTensor;
use smelt_compiler::interp::{self, Bindings};
use smelt_compiler::ir::{DType, Dim, Func, Module};
use smelt_runtime::io::{read_npy, write_npy};

use crate::cli::{CliError, CliResult, read_text};
use crate::ir_dump::load;

/// The command line of `smelt`.
#[derive(Debug, Parser)]
// Without a subcommand, say so in one line rather than print the help.
#[command(
    name = "smelt",
    version,
    about = "smelt: run IR programs",
    arg_required_else_help = false
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `smelt`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a function of an IR file on .npy inputs; write its results as .npy.
    Run(RunArgs),
    /// Decode CTC emissions into transcripts (beam search with a lexicon and an LM).
    Decode(crate::decode::DecodeArgs),
    /// Benchmark suites (`--suite fusion`: fused vs unfused vs a plain copy).
    Bench(crate::bench::BenchArgs),
    /// Sentence embeddings from all-MiniLM-L6-v2 (`--json` for one JSON list).
    Embed(crate::embed::EmbedArgs),
    /// List the model zoo (`--include`/`--exclude` wildcards, `--json`).
    Models(crate::zoo::ModelsArgs),
    /// Top-5 ImageNet categories of images with a zoo model.
    Classify(crate::zoo::ClassifyArgs),
    /// Run a zoo model on an .npy tensor and write its output as .npy.
    RunModel(crate::zoo::RunModelArgs),
    /// Train a small CNN or transformer on a synthetic task (f32 or bf16 AMP, eager or compiled).
    TrainDemo(crate::train_demo::TrainArgs),
}

/// The arguments of `smelt run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The IR file (the text format of IR.md).
    pub file: PathBuf,
    /// Where to run: `interp` (the reference interpreter), `cpu` (Cranelift
    /// kernels) or `cuda` (GPU 0, NVRTC kernels).
    #[arg(long, default_value = "interp")]
    pub backend: String,
    /// cpu: `on` fuses as the planner says; `off` runs each op as its own kernel.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub fusion: String,
    /// cpu, cuda: `fused` rounds bf16/f16 at kernel outputs; `eager` after every op.
    #[arg(long, default_value = "fused", value_parser = ["fused", "eager"])]
    pub numerics: String,
    /// cpu: run kernels the backend cannot compile with this (only `interp`), saying so.
    #[arg(long, value_name = "interp", value_parser = ["interp"])]
    pub fallback: Option<String>,
    /// cpu: run N more times and print JSON timings
    /// `{median_ms, min_ms, bytes, gbps, compile_ms, kernels}`.
    #[arg(long, value_name = "N")]
    pub bench: Option<usize>,
    /// One input per parameter: the parameter's name and a .npy file.
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    pub inputs: Vec<String>,
    /// The size of a symbol the inputs do not fix (or a check of one they do).
    #[arg(long = "sym", value_name = "NAME=SIZE")]
    pub syms: Vec<String>,
    /// The function to run (needed when the file holds several).
    #[arg(long, value_name = "NAME")]
    pub func: Option<String>,
    /// The directory for out0.npy, out1.npy, … (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `smelt` with parsed arguments: the text for stdout.
pub fn execute(cli: Cli) -> CliResult<String> {
    match cli.command {
        Command::Run(args) => run(&args),
        Command::Decode(args) => crate::decode::decode(&args),
        Command::Bench(args) => crate::bench::bench(&args),
        Command::Embed(args) => crate::embed::embed(&args),
        Command::Models(args) => crate::zoo::models(&args),
        Command::Classify(args) => crate::zoo::classify(&args),
        Command::RunModel(args) => crate::zoo::run_model(&args),
        Command::TrainDemo(args) => crate::train_demo::train_demo(&args),
    }
}

/// `smelt run`.
pub fn run(args: &RunArgs) -> CliResult<String> {
    check_backend(&args.backend)?;
    let label = args.file.display().to_string();
    let src = read_text(&args.file)?;
    let module = load(&src, &label)?;
    let func = select_func(&module, args.func.as_deref(), &label)?;
    let syms = parse_syms(&args.syms, func)?;
    let files = match_params(func, &parse_inputs(&args.inputs)?)?;
    let mut given = Vec::with_capacity(files.len());
    for (name, file) in files {
        let t = read_npy(&file).map_err(|e| CliError(format!("input {name}: {e}")))?;
        given.push(Given { name, file: file.display().to_string(), tensor: t });
    }
    let (inputs, bindings) = prepare_inputs(func, given, &syms)?;
    if args.backend == "cpu" {
        let (results, bench) = crate::run_cpu::run_cpu(func, &inputs, &bindings, args)
            .map_err(|e| CliError(format!("{label}: @{}: {e}", func.name)))?;
        return Ok(write_results(&results, &args.out)? + &bench);
    }
    if args.bench.is_some() || args.fallback.is_some() || args.fusion != "on" {
        return Err(CliError::new("--bench, --fallback and --fusion apply to --backend cpu"));
    }
    let results = if args.backend == "cuda" {
        let mut gpu = smelt_compiler::backend::cuda::CudaBackend::new()
            .map_err(|e| CliError(format!("backend cuda: {e}")))?;
        gpu.set_numerics_eager(args.numerics == "eager");
        gpu.run(func, &inputs, &bindings).map_err(|e| {
            CliError(format!("{label}: @{}: {}", func.name, crate::cli::one_line(&e.to_string())))
        })?
    } else {
        interp::run(func, &inputs, &bindings)
            .map_err(|e| CliError(format!("{label}: @{}: {e}", func.name)))?
    };
    write_results(&results, &args.out)
}

/// Refuses unknown backends, naming the known ones.
pub fn check_backend(name: &str) -> CliResult<()> {
    match name {
        "interp" | "cpu" | "cuda" => Ok(()),
        other => Err(CliError(format!("unknown backend `{other}` (backends: interp, cpu, cuda)"))),
    }
}

/// The function to run: `--func NAME` (with or without `@`), or the only one.
pub fn select_func<'m>(module: &'m Module, name: Option<&str>, label: &str) -> CliResult<&'m Func> {
    let all = || module.funcs.iter().map(|f| format!("@{}", f.name)).collect::<Vec<_>>().join(", ");
    match name {
        Some(n) => {
            let n = n.strip_prefix('@').unwrap_or(n);
            module.func(n).ok_or_else(|| {
                CliError(format!("{label} has no function @{n} (functions: {})", all()))
            })
        }
        None => match module.funcs.as_slice() {
            [f] => Ok(f),
            _ => Err(CliError(format!(
                "{label} holds several functions ({}): choose one with --func",
                all()
            ))),
        },
    }
}

/// Splits `NAME=VALUE`; `what` names the flag in errors.
fn split_binding<'a>(flag: &str, text: &'a str, value: &str) -> CliResult<(&'a str, &'a str)> {
    match text.split_once('=') {
        Some((name, v)) if !name.is_empty() && !v.is_empty() => Ok((name, v)),
        _ => Err(CliError(format!("{flag} {text}: expected NAME={value}"))),
    }
}

/// A symbol's size and where it came from (`--sym`, `input x`), for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// The size.
    pub size: u64,
    /// Who fixed it.
    pub origin: String,
}

/// Parses `--sym NAME=SIZE` flags; every name must be a symbol of `func`.
pub fn parse_syms(flags: &[String], func: &Func) -> CliResult<HashMap<String, Bound>> {
    let mut known: Vec<String> = Vec::new();
    for id in func.node_ids() {
        for s in func.ty(id).shape.symbols() {
            if !known.iter().any(|k| k == s) {
                known.push(s.to_string());
            }
        }
    }
    let mut out = HashMap::new();
    for flag in flags {
        let (name, size) = split_binding("--sym", flag, "SIZE")?;
        let size: u64 = size.parse().map_err(|_| {
            CliError(format!("--sym {flag}: the size must be a non-negative integer"))
        })?;
        if !known.iter().any(|k| k == name) {
            let list = if known.is_empty() { "it has none".to_string() } else { known.join(", ") };
            return Err(CliError(format!(
                "--sym {name}: @{} has no symbol {name} ({list})",
                func.name
            )));
        }
        if out.insert(name.to_string(), Bound { size, origin: "--sym".into() }).is_some() {
            return Err(CliError(format!("--sym {name} is given twice")));
        }
    }
    Ok(out)
}

/// Parses `--input NAME=FILE` flags, refusing a name given twice.
pub fn parse_inputs(flags: &[String]) -> CliResult<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for flag in flags {
        let (name, file) = split_binding("--input", flag, "FILE.npy")?;
        if let Some((_, first)) = out.iter().find(|(n, _)| n == name) {
            return Err(CliError(format!(
                "input {name} is given twice ({} and {file})",
                first.display()
            )));
        }
        out.push((name.to_string(), PathBuf::from(file)));
    }
    Ok(out)
}

/// Orders the inputs as the parameters; unknown and missing names are errors.
pub fn match_params(
    func: &Func,
    inputs: &[(String, PathBuf)],
) -> CliResult<Vec<(String, PathBuf)>> {
    let names: Vec<String> = func
        .params()
        .iter()
        .map(|&p| func.node(p).name.clone().unwrap_or_else(|| p.to_string()))
        .collect();
    for (name, _) in inputs {
        if !names.contains(name) {
            return Err(CliError(format!(
                "input {name}: @{} has no parameter {name} (parameters: {})",
                func.name,
                names.join(", ")
            )));
        }
    }
    let given: HashSet<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    let missing: Vec<&str> =
        names.iter().map(String::as_str).filter(|n| !given.contains(n)).collect();
    match missing.as_slice() {
        [] => {}
        [one] => {
            return Err(CliError(format!(
                "missing input for parameter {one} of @{} (give --input {one}=FILE.npy)",
                func.name
            )));
        }
        many => {
            return Err(CliError(format!(
                "missing inputs for parameters {} of @{} (give --input NAME=FILE.npy for each)",
                many.join(", "),
                func.name
            )));
        }
    }
    Ok(names
        .into_iter()
        .map(|n| {
            let file =
                inputs.iter().find(|(m, _)| *m == n).map(|(_, f)| f.clone()).unwrap_or_default();
            (n, file)
        })
        .collect())
}

/// A tensor given for a parameter, and where it came from.
#[derive(Clone, Debug)]
pub struct Given {
    /// The parameter.
    pub name: String,
    /// The file, as the user wrote it.
    pub file: String,
    /// Its contents.
    pub tensor: HostTensor,
}

/// Checks the given tensors (in parameter order) against the signature,
/// converting f32 to bf16/f16 where a parameter asks for it, and binds
/// every symbol; `syms` are the `--sym` sizes, which inputs must agree with.
pub fn prepare_inputs(
    func: &Func,
    given: Vec<Given>,
    syms: &HashMap<String, Bound>,
) -> CliResult<(Vec<HostTensor>, Bindings)> {
    if given.len() != func.params().len() {
        return Err(CliError(format!(
            "@{} takes {} inputs, {} given",
            func.name,
            func.params().len(),
            given.len()
        )));
    }
    let mut bound = syms.clone();
    let mut inputs = Vec::with_capacity(given.len());
    for (&p, g) in func.params().iter().zip(given) {
        let want = func.ty(p);
        let mismatch = |extra: &str| {
            CliError(format!(
                "input {}: expected {want}, got {} from {}{extra}",
                g.name,
                g.tensor.ir_type(),
                g.file
            ))
        };
        let tensor = if g.tensor.dtype == want.dtype {
            g.tensor.clone()
        } else if g.tensor.dtype == DType::F32 && matches!(want.dtype, DType::BF16 | DType::F16) {
            HostTensor::from_f64(want.dtype, &g.tensor.shape, g.tensor.to_f64_vec())
        } else if matches!(want.dtype, DType::BF16 | DType::F16) {
            return Err(mismatch(&format!(" (an f32 .npy is also accepted for {})", want.dtype)));
        } else {
            return Err(mismatch(""));
        };
        if tensor.shape.len() != want.shape.rank() {
            return Err(mismatch(""));
        }
        for (dim, &size) in want.shape.dims().iter().zip(&tensor.shape) {
            let size = size as u64;
            match dim {
                Dim::Const(c) if *c != size => return Err(mismatch("")),
                Dim::Const(_) => {}
                Dim::Sym(s) => match bound.get(s) {
                    Some(b) if b.size != size => {
                        return Err(mismatch(&format!(" ({s} = {} from {})", b.size, b.origin)));
                    }
                    Some(_) => {}
                    None => {
                        let origin = format!("input {}", g.name);
                        bound.insert(s.clone(), Bound { size, origin });
                    }
                },
            }
        }
        inputs.push(tensor);
    }
    let bindings = bound.into_iter().map(|(k, b)| (k, b.size)).collect();
    Ok((inputs, bindings))
}

/// Writes `DIR/out<i>.npy` for each result (bf16 as f32) and returns one
/// line per result: file, dtype and shape.
pub fn write_results(results: &[HostTensor], dir: &Path) -> CliResult<String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError(format!("{}: cannot create the output directory: {e}", dir.display()))
    })?;
    let mut report = String::new();
    for (i, t) in results.iter().enumerate() {
        let path = dir.join(format!("out{i}.npy"));
        let note = if t.dtype == DType::BF16 {
            let f32s = HostTensor::from_f64(DType::F32, &t.shape, t.to_f64_vec());
            write_npy(&path, &f32s).map_err(|e| CliError(e.to_string()))?;
            " (written as f32: numpy has no bf16)"
        } else {
            write_npy(&path, t).map_err(|e| CliError(e.to_string()))?;
            ""
        };
        let _ = writeln!(report, "{}: {}{note}", path.display(), t.ir_type());
    }
    Ok(report)
}
