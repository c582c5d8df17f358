//! The zoo's commands: `smelt models` (the registry as a table or JSON),
//! `smelt classify` (top-5 ImageNet categories of images) and
//! `smelt run-model` (a model on a `.npy` tensor, output as `.npy`).
//!
//! All three build models through `smelt_runtime::zoo::get_model`, so the
//! weights file rules (`--weights FILE`, else `$SMELT_WEIGHTS_DIR`, else the
//! cache) and their errors are the library's.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::PathBuf;

use smelt_compiler::ir::DType;
use smelt_runtime::autograd::no_grad;
use smelt_runtime::io::{read_npy, write_npy};
use smelt_runtime::nn;
use smelt_runtime::tensor::MemoryFormat;
use smelt_runtime::zoo::{self, Image, ModelConfig, Task};
use smelt_runtime::{Tensor, TensorError};

use crate::cli::{CliError, CliResult};

/// The arguments of `smelt models`.
#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// Keep names matching this shell wildcard (repeatable; union).
    #[arg(long, value_name = "PAT")]
    pub include: Vec<String>,
    /// Drop names matching this shell wildcard (repeatable).
    #[arg(long, value_name = "PAT")]
    pub exclude: Vec<String>,
    /// Only this family: `classification` or `segmentation`.
    #[arg(long, value_parser = ["classification", "segmentation"])]
    pub task: Option<String>,
    /// Print one JSON list `[{"name", "num_params", "weights"}, ...]`.
    #[arg(long)]
    pub json: bool,
}

/// How a model runs: the options `classify` and `run-model` share.
#[derive(Debug, clap::Args)]
pub struct RunOptions {
    /// The safetensors checkpoint (TorchVision state-dict names).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Lay the input and the weights out channels-last (NHWC in memory).
    #[arg(long)]
    pub channels_last: bool,
    /// Compute in this dtype (`f32` or `bf16`; outputs are written as f32).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    pub dtype: String,
    /// Run the forward as a compiled graph (`smelt_frontends::compile`).
    #[arg(long)]
    pub compile: bool,
}

/// The arguments of `smelt classify`.
#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// The model name (`smelt models` lists them).
    #[arg(long)]
    pub model: String,
    /// How to run it.
    #[command(flatten)]
    pub run: RunOptions,
    /// PNG or JPEG images.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}

/// The arguments of `smelt run-model`.
#[derive(Debug, clap::Args)]
pub struct RunModelArgs {
    /// The model name.
    pub model: String,
    /// How to run it.
    #[command(flatten)]
    pub run: RunOptions,
    /// The input tensor (`[N, 3, H, W]`, f32).
    #[arg(long, value_name = "X.npy")]
    pub input: PathBuf,
    /// Where to write the output (f32).
    #[arg(long, value_name = "Y.npy")]
    pub out: PathBuf,
}

fn zoo_err(e: zoo::ZooError) -> CliError {
    CliError(e.to_string())
}

fn tensor_err(e: TensorError) -> CliError {
    CliError(e.to_string())
}

/// `smelt models`: the text for stdout.
pub fn models(args: &ModelsArgs) -> CliResult<String> {
    let task = match args.task.as_deref() {
        Some("segmentation") => Some(Task::Segmentation),
        Some(_) => Some(Task::Classification),
        None => None,
    };
    let inc: Vec<&str> = args.include.iter().map(String::as_str).collect();
    let exc: Vec<&str> = args.exclude.iter().map(String::as_str).collect();
    let names = zoo::list_models(task, &inc, &exc).map_err(zoo_err)?;
    let entries: Vec<&zoo::ModelEntry> =
        names.iter().map(|n| zoo::model_entry(n)).collect::<Result<_, _>>().map_err(zoo_err)?;
    if args.json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name,
                    "num_params": e.default_weights().map(|w| w.num_params),
                    "weights": e.weights.iter().map(|w| w.full_name()).collect::<Vec<_>>(),
                })
            })
            .collect();
        return Ok(format!("{}\n", serde_json::Value::Array(list)));
    }
    let mut out = format!(
        "{:<32} {:>14} {:>9} {:>10}  {}\n",
        "model", "params", "GFLOPS", "file MiB", "weights (DEFAULT first)"
    );
    for e in entries {
        let Some(d) = e.default_weights() else { continue };
        let mut ws = vec![d.member];
        ws.extend(e.weights.iter().map(|w| w.member).filter(|m| *m != d.member));
        let _ = writeln!(
            out,
            "{:<32} {:>14} {:>9.2} {:>10.1}  {}",
            e.name,
            group_digits(d.num_params),
            d.gflops,
            d.file_size_mib,
            ws.join(", ")
        );
    }
    Ok(out)
}

/// `25557032` → `25,557,032`.
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A model's forward, eager or compiled.
type Forward = Box<dyn FnMut(&Tensor) -> Result<Tensor, TensorError>>;

/// A loaded model ready to run on `[N, 3, H, W]` inputs as the options say.
pub(crate) struct Runner {
    forward: Forward,
    dtype: DType,
    channels_last: bool,
}

impl Runner {
    /// `name` with its DEFAULT weights loaded (from `--weights` or the
    /// library's lookup), prepared as `opts` say.
    fn load(name: &str, opts: &RunOptions) -> CliResult<(Runner, &'static zoo::Weights)> {
        let entry = zoo::model_entry(name).map_err(zoo_err)?;
        let weights = entry
            .default_weights()
            .ok_or_else(|| CliError(format!("{name}: no weights registered")))?;
        let config = ModelConfig { weights_path: opts.weights.clone(), ..ModelConfig::default() };
        let model =
            nn::skip_init(|| zoo::get_model(name, Some("DEFAULT"), &config)).map_err(zoo_err)?;
        Ok((Runner::new(model, opts)?, weights))
    }

    /// `model` in evaluation mode, cast, laid out and (`--compile`) wrapped
    /// in a compiled callable as `opts` say.
    pub(crate) fn new(mut model: Box<dyn nn::Module>, opts: &RunOptions) -> CliResult<Runner> {
        model.eval();
        let dtype = if opts.dtype == "bf16" { DType::BF16 } else { DType::F32 };
        nn::to_dtype(model.as_mut(), dtype).map_err(tensor_err)?;
        if opts.channels_last {
            nn::to_memory_format(model.as_mut(), MemoryFormat::ChannelsLast).map_err(tensor_err)?;
        }
        let forward: Forward = if opts.compile {
            let model = RefCell::new(model);
            let compiled = smelt_frontends::compile(move |xs: &[Tensor]| {
                Ok(vec![model.borrow_mut().forward(&xs[0])?])
            });
            Box::new(move |x| {
                let out = compiled.call(std::slice::from_ref(x)).map_err(|e| {
                    TensorError::Backend { op: "compiled model".into(), message: e.to_string() }
                })?;
                out.into_iter().next().ok_or_else(|| TensorError::Backend {
                    op: "compiled model".into(),
                    message: "returned nothing".into(),
                })
            })
        } else {
            Box::new(move |x| model.forward(x))
        };
        Ok(Runner { forward, dtype, channels_last: opts.channels_last })
    }

    /// The model's output on `x` (f32, contiguous).
    pub(crate) fn run(&mut self, x: &Tensor) -> CliResult<Tensor> {
        no_grad(|| {
            let mut x = x.to_dtype(self.dtype)?;
            if self.channels_last {
                x = x.to_memory_format(MemoryFormat::ChannelsLast)?;
            }
            (self.forward)(&x)?.to_dtype(DType::F32)?.contiguous()
        })
        .map_err(tensor_err)
    }
}

/// `smelt classify`: top-5 categories per image.
pub fn classify(args: &ClassifyArgs) -> CliResult<String> {
    let (mut runner, weights) = Runner::load(&args.model, &args.run)?;
    let names = weights.category_names();
    let mut out = String::new();
    for path in &args.images {
        let img = Image::open(path).map_err(zoo_err)?;
        let x = zoo::preprocess(&img, &weights.transforms).map_err(zoo_err)?;
        let logits = runner.run(&x)?;
        let probs = smelt_runtime::functional::softmax(&logits, -1)
            .and_then(|p| p.to_vec::<f32>())
            .map_err(tensor_err)?;
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        let _ = writeln!(out, "{}", path.display());
        for &i in order.iter().take(5) {
            let label = names.get(i).copied().unwrap_or("?");
            let _ = writeln!(out, "  {:>7.4}  {label} ({i})", probs[i]);
        }
    }
    Ok(out)
}

/// `smelt run-model`: writes the output tensor and returns a one-line summary.
pub fn run_model(args: &RunModelArgs) -> CliResult<String> {
    let host =
        read_npy(&args.input).map_err(|e| CliError(format!("{}: {e}", args.input.display())))?;
    let x = Tensor::from_host(&host);
    if x.rank() != 4 || x.shape()[1] != 3 {
        return Err(CliError(format!(
            "{}: expected an [N, 3, H, W] input, got {:?}",
            args.input.display(),
            x.shape()
        )));
    }
    let x = x.to_dtype(DType::F32).map_err(tensor_err)?;
    let (mut runner, _) = Runner::load(&args.model, &args.run)?;
    let y = runner.run(&x)?;
    write_npy(&args.out, &y.try_to_host().map_err(tensor_err)?)
        .map_err(|e| CliError(format!("{}: {e}", args.out.display())))?;
    Ok(format!("{}: wrote {:?} to {}\n", args.model, y.shape(), args.out.display()))
}
