//! `smelt train-demo [--model cnn|transformer] [--amp] [--compile] [--device
//! cpu|cuda] [--steps N] [--seed S] [--json] [--plot loss.png]`: trains a
//! small model on a seeded synthetic task with the runtime's autograd,
//! AdamW through [`ModuleOptimizer`], optional autocast with a
//! [`GradScaler`] (bf16 on the CPU, f16 on CUDA, AMP.md's two policies),
//! and optionally a compiled forward + backward step, on the CPU or on the
//! runtime's `cuda:0`.
//!
//! Files: `train_demo/models.rs` (the CNN and the transformer),
//! `train_demo/data.rs` (the synthetic tasks), `train_demo/compiled.rs`
//! (the traced forward + backward), `train_demo/plot.rs` (the PNG curve).
//!
//! Output: a progress bar on stderr; with `--json` exactly one JSON object
//! on stdout, `{"losses": [...], "final_loss": x, "seconds": s,
//! "skipped_steps": k}`, else a short summary. `final_loss` is the mean of
//! the last `min(10, steps)` losses (one batch is noisy).

mod compiled;
mod data;
mod models;
mod plot;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smelt_compiler::ir::DType;
use smelt_runtime::amp::{GradScaler, GradScalerConfig, autocast};
use smelt_runtime::functional::{Reduction, cross_entropy};
use smelt_runtime::nn::Module;
use smelt_runtime::optim::{Adam, AdamConfig, ModuleOptimizer};
use smelt_runtime::tensor::{Generator, Result, TensorError};
use smelt_runtime::{Device, Tensor};

use crate::cli::{CliError, CliResult};
pub use compiled::{CompiledStep, Shared};
pub use data::{Batches, Task};
pub use models::{Cnn, Transformer};

/// The arguments of `smelt train-demo`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The model: `cnn` (conv-bn-relu-pool, linear head, on 8×8 images) or
    /// `transformer` (embedding, attention, LayerNorm, MLP, on token sequences).
    #[arg(long, default_value = "cnn", value_parser = ["cnn", "transformer"])]
    pub model: String,
    /// Mixed precision with a GradScaler: bf16 autocast on the CPU, f16 on CUDA.
    #[arg(long)]
    pub amp: bool,
    /// Compile the forward and backward into one fused graph.
    #[arg(long)]
    pub compile: bool,
    /// Where to train (`cuda`: the runtime's `cuda:0`).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
    pub device: String,
    /// Optimizer steps.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Seed of the initial weights and the data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples per batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// AdamW's learning rate.
    #[arg(long, default_value_t = 5e-3)]
    pub lr: f64,
    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Write the loss curve as a PNG here.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
}

/// Which demo model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// [`Cnn`] on [`Task::Images`].
    Cnn,
    /// [`Transformer`] on [`Task::Tokens`].
    Transformer,
}

impl ModelKind {
    /// The model by its flag name.
    pub fn parse(name: &str) -> CliResult<ModelKind> {
        match name {
            "cnn" => Ok(ModelKind::Cnn),
            "transformer" => Ok(ModelKind::Transformer),
            other => Err(CliError(format!("unknown model `{other}` (models: cnn, transformer)"))),
        }
    }

    /// A fresh model initialised from `seed`.
    pub fn build(self, seed: u64) -> Result<Box<dyn Module>> {
        let mut rng = Generator::new(seed);
        Ok(match self {
            ModelKind::Cnn => Box::new(Cnn::new(&mut rng)?),
            ModelKind::Transformer => Box::new(Transformer::new(&mut rng)?),
        })
    }

    /// The task it learns.
    pub fn task(self) -> Task {
        match self {
            ModelKind::Cnn => Task::Images,
            ModelKind::Transformer => Task::Tokens,
        }
    }
}

/// One training run's settings.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// The model.
    pub model: ModelKind,
    /// Autocast (bf16 on the CPU, f16 on CUDA) + GradScaler.
    pub amp: bool,
    /// Where the model, the data and every op live.
    pub device: Device,
    /// The compiled forward + backward.
    pub compile: bool,
    /// Optimizer steps.
    pub steps: usize,
    /// Seed of weights and data.
    pub seed: u64,
    /// Samples per batch.
    pub batch: usize,
    /// AdamW's learning rate.
    pub lr: f64,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl TrainConfig {
    /// The defaults of the command line for `model`, no progress bar.
    pub fn new(model: ModelKind) -> TrainConfig {
        TrainConfig {
            model,
            amp: false,
            device: Device::Cpu,
            compile: false,
            steps: 100,
            seed: 0,
            batch: 32,
            lr: 5e-3,
            progress: false,
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// The loss of every step (before its update).
    pub losses: Vec<f64>,
    /// The mean of the last `min(10, steps)` losses.
    pub final_loss: f64,
    /// Wall time of the whole loop.
    pub seconds: f64,
    /// Steps the GradScaler skipped (inf/NaN gradients).
    pub skipped_steps: usize,
    /// With `compile`: how each compiled graph ran (`"fused"`, `"op by
    /// op"` when the CPU backend could not compile one of its kernels, or
    /// `"eager"` when tracing hit an op with no IR form), with its op and
    /// kernel counts.
    pub compiled: Option<String>,
}

/// The loss of `model` on `(x, y)`, under autocast when `amp`: bf16 on the
/// CPU, f16 on CUDA (the devices' AMP defaults), as `x`'s device says.
pub(crate) fn forward_loss(
    model: &mut dyn Module,
    x: &Tensor,
    y: &Tensor,
    amp: bool,
) -> Result<Tensor> {
    let mut run = || cross_entropy(&model.forward(x)?, y, Reduction::Mean);
    if !amp {
        return run();
    }
    let dtype = match x.device() {
        Device::Cpu => DType::BF16,
        Device::Cuda(_) => DType::F16,
    };
    autocast(x.device(), Some(dtype), true, true, run)
        .map_err(|e| TensorError::Argument { op: "autocast".into(), detail: e.to_string() })?
}

fn tensor_err(e: TensorError) -> CliError {
    CliError(e.to_string())
}

/// A model, its optimizer, scaler, data and (with `compile`) compiled step:
/// one [`Trainer::step`] is one training iteration.
pub struct Trainer {
    model: Shared,
    opt: ModuleOptimizer,
    scaler: GradScaler,
    compiled: Option<CompiledStep>,
    data: Batches,
    amp: bool,
    device: Device,
    skipped: usize,
}

impl Trainer {
    /// A fresh model and optimizer as `cfg` says.
    pub fn new(cfg: &TrainConfig) -> CliResult<Trainer> {
        let mut built = cfg.model.build(cfg.seed).map_err(tensor_err)?;
        built.to_device(cfg.device).map_err(tensor_err)?;
        let model: Shared = Rc::new(RefCell::new(built));
        let adam = Adam::new(AdamConfig::adamw(cfg.lr)).map_err(tensor_err)?;
        let config = GradScalerConfig { enabled: cfg.amp, ..GradScalerConfig::default() };
        let scaler = GradScaler::new(config).map_err(|e| CliError(e.to_string()))?;
        Ok(Trainer {
            compiled: cfg.compile.then(|| CompiledStep::new(model.clone(), cfg.amp)),
            model,
            opt: ModuleOptimizer::new(adam),
            scaler,
            data: Batches::new(cfg.model.task(), cfg.batch, cfg.seed),
            amp: cfg.amp,
            device: cfg.device,
            skipped: 0,
        })
    }

    /// One iteration on the next batch: zero_grad, forward, (scaled)
    /// backward, optimizer step through the scaler, scaler update. Returns
    /// the loss before the update.
    pub fn step(&mut self) -> std::result::Result<f64, String> {
        let (x, y) = self.data.next_batch().map_err(|e| e.to_string())?;
        let (x, y) = match self.device {
            Device::Cpu => (x, y),
            d => (
                x.to_device(d).map_err(|e| e.to_string())?,
                y.to_device(d).map_err(|e| e.to_string())?,
            ),
        };
        self.opt.zero_grad(&mut **self.model.borrow_mut());
        let loss = match &self.compiled {
            Some(s) => {
                let seed = if self.scaler.is_enabled() { self.scaler.get_scale() } else { 1.0 };
                let loss = s.run(&x, &y, seed).map_err(|e| e.to_string())?;
                // Creates the scale on first use, which unscale_ needs.
                self.scaler.scale(&loss).map_err(|e| e.to_string())?;
                loss
            }
            None => {
                let loss = forward_loss(&mut **self.model.borrow_mut(), &x, &y, self.amp)
                    .map_err(|e| e.to_string())?;
                let scaled = self.scaler.scale(&loss).map_err(|e| e.to_string())?;
                scaled.backward().map_err(|e| e.to_string())?;
                loss
            }
        };
        let value = loss.item().map_err(|e| e.to_string())?;
        let mut m = self.model.borrow_mut();
        let ran = self.scaler.step(&mut self.opt.scaled(&mut **m)).map_err(|e| e.to_string())?;
        self.scaler.update(None).map_err(|e| e.to_string())?;
        self.skipped += usize::from(!ran);
        Ok(value)
    }

    /// The model's parameters and buffers now, by PyTorch name.
    pub fn state_dict(&self) -> std::collections::BTreeMap<String, Tensor> {
        self.model.borrow().state_dict()
    }

    /// Steps the scaler skipped so far.
    pub fn skipped_steps(&self) -> usize {
        self.skipped
    }

    /// With `compile`: how each compiled graph ran (see [`TrainReport::compiled`]).
    pub fn compiled_summary(&self) -> Option<String> {
        self.compiled.as_ref().map(|s| {
            let ex = s.explain();
            let graphs: Vec<String> = ex
                .graphs
                .iter()
                .map(|g| format!("g{}: {} ops, {} kernels, {}", g.id, g.ops, g.kernels, g.mode))
                .collect();
            graphs.join("; ")
        })
    }
}

/// Trains as `cfg` says; errors name the step.
pub fn train(cfg: &TrainConfig) -> CliResult<TrainReport> {
    let mut trainer = Trainer::new(cfg)?;
    let bar = progress_bar(cfg);
    let mut losses = Vec::with_capacity(cfg.steps);
    let t0 = Instant::now();
    for i in 0..cfg.steps {
        let value = trainer.step().map_err(|e| CliError(format!("step {i}: {e}")))?;
        losses.push(value);
        bar.set_message(format!("loss {value:.4}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let seconds = t0.elapsed().as_secs_f64();
    let tail = &losses[losses.len().saturating_sub(10)..];
    let final_loss =
        if tail.is_empty() { f64::NAN } else { tail.iter().sum::<f64>() / tail.len() as f64 };
    Ok(TrainReport {
        losses,
        final_loss,
        seconds,
        skipped_steps: trainer.skipped_steps(),
        compiled: trainer.compiled_summary(),
    })
}

/// The progress bar (hidden unless `cfg.progress`).
fn progress_bar(cfg: &TrainConfig) -> ProgressBar {
    if !cfg.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(cfg.steps as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar
}

/// `smelt train-demo`: the text for stdout.
pub fn train_demo(args: &TrainArgs) -> CliResult<String> {
    if args.steps == 0 || args.batch == 0 {
        return Err(CliError::new("--steps and --batch must be at least 1"));
    }
    let cfg = TrainConfig {
        model: ModelKind::parse(&args.model)?,
        amp: args.amp,
        device: if args.device == "cuda" { Device::Cuda(0) } else { Device::Cpu },
        compile: args.compile,
        steps: args.steps,
        seed: args.seed,
        batch: args.batch,
        lr: args.lr,
        progress: true,
    };
    let report = train(&cfg)?;
    if let Some(path) = &args.plot {
        plot::write_png(path, &report.losses)?;
    }
    if args.json {
        let v = serde_json::json!({
            "losses": report.losses,
            "final_loss": report.final_loss,
            "seconds": report.seconds,
            "skipped_steps": report.skipped_steps,
        });
        return Ok(format!("{v}\n"));
    }
    let first = report.losses.first().copied().unwrap_or(f64::NAN);
    let graphs = report.compiled.as_ref().map(|c| format!("compiled {c}\n")).unwrap_or_default();
    Ok(format!(
        "{} ({}{}): {} steps in {:.2} s, loss {first:.4} -> {:.4} (mean of the last 10), \
         {} skipped\n{graphs}",
        args.model,
        if args.amp { "bf16 autocast" } else { "f32" },
        if args.compile { ", compiled" } else { ", eager" },
        report.losses.len(),
        report.seconds,
        report.final_loss,
        report.skipped_steps,
    ))
}
