//! `smelt bench --suite vision`: images/s of zoo models on the CPU, eager
//! and compiled, NCHW and channels-last, f32 and bf16, at batch 1 and 8,
//! with the ratios the issue asks for (channels-last compiled over NCHW
//! compiled; compiled over eager). Random weights (seeded): speed does not
//! depend on trained values. The first call of each configuration (kernel
//! compiles, tracing) is a warm-up and is not timed; the timed calls run
//! the configurations in turn, round by round (eager ones and compiled ones
//! apart, see [`measure`]), and channels-last over NCHW is a median of
//! per-round ratios, so a change in the machine's speed during the run does
//! not pass for a difference between layouts.

use std::fmt::Write as _;
use std::time::Instant;

use smelt_runtime::Tensor;
use smelt_runtime::tensor::Generator;
use smelt_runtime::zoo::{self, ModelConfig};

use crate::cli::{CliError, CliResult};
use crate::zoo::{RunOptions, Runner};

/// The models of the suite (BENCHMARKS.md's vision rows).
pub const MODELS: [&str; 3] = ["resnet50", "mobilenet_v3_large", "efficientnet_b0"];

/// The batch sizes.
pub const BATCHES: [usize; 2] = [1, 8];

/// One configuration: (label, channels_last, compiled, dtype).
const CONFIGS: [(&str, bool, bool, &str); 5] = [
    ("eager NCHW", false, false, "f32"),
    ("eager CL", true, false, "f32"),
    ("compiled NCHW", false, true, "f32"),
    ("compiled CL", true, true, "f32"),
    ("eager bf16", false, false, "bf16"),
];

/// Runs the suite: `reps` timed forwards per configuration (median), at
/// `side × side` inputs; `only` restricts the models.
pub fn vision(reps: usize, side: usize, only: &[String]) -> CliResult<String> {
    let models: Vec<&str> =
        if only.is_empty() { MODELS.to_vec() } else { only.iter().map(String::as_str).collect() };
    let mut out = format!(
        "smelt bench --suite vision (CPU, {} threads, {side}x{side}, images/s, median of {reps})\n",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let _ = write!(out, "{:<20} {:>5}", "model", "batch");
    for (label, ..) in CONFIGS {
        let _ = write!(out, " {label:>14}");
    }
    let _ = writeln!(out, " {:>8} {:>8}", "CL/NCHW", "cmp/eag");
    for name in models {
        for batch in BATCHES {
            eprintln!("smelt bench: {name} batch {batch} …");
            let m = measure(name, batch, side, reps)?;
            let _ = write!(out, "{name:<20} {batch:>5}");
            for r in &m.rates {
                let _ = write!(out, " {r:>14.2}");
            }
            let _ = writeln!(out, " {:>7.2}x {:>7.2}x", m.cl_over_nchw, m.compiled_over_eager);
        }
    }
    Ok(out)
}

/// One model at one batch size: images/s per configuration, channels-last
/// over NCHW compiled (per round), and compiled over eager NCHW.
struct Measured {
    rates: Vec<f64>,
    cl_over_nchw: f64,
    compiled_over_eager: f64,
}

/// Builds every configuration of `name`, warms each up (kernel compiles,
/// tracing, buffer pools), then times `reps` rounds that run the
/// configurations once each in turn: a drift of the machine's speed (other
/// tenants, clocks) then lands on all of them alike, and the ratios are
/// medians of per-round ratios. The eager and the compiled configurations
/// run in separate rounds: eager ops take result buffers from the
/// backend's spare pool and hand them on as tensors, so an eager run
/// between two compiled runs would make the next compiled run allocate
/// afresh what it otherwise reuses.
fn measure(name: &str, batch: usize, side: usize, reps: usize) -> CliResult<Measured> {
    let fail = |e: String| CliError::new(format!("{name} batch {batch}: {e}"));
    let mut rng = Generator::new(1);
    let x = Tensor::randn(&[batch, 3, side, side], smelt_compiler::ir::DType::F32, &mut rng)
        .map_err(|e| fail(e.to_string()))?;
    let mut times = vec![Vec::with_capacity(reps); CONFIGS.len()];
    for compiled in [false, true] {
        let mut runners = Vec::new();
        for (i, &(_, channels_last, compile, dtype)) in CONFIGS.iter().enumerate() {
            if compile != compiled {
                continue;
            }
            let model = zoo::get_model(name, None, &ModelConfig::default())
                .map_err(|e| fail(e.to_string()))?;
            let opts = RunOptions { weights: None, channels_last, dtype: dtype.into(), compile };
            runners.push((i, Runner::new(model, &opts)?));
        }
        for _ in 0..2 {
            for (_, runner) in &mut runners {
                runner.run(&x)?;
            }
        }
        for _ in 0..reps.max(1) {
            for (i, runner) in &mut runners {
                let start = Instant::now();
                runner.run(&x)?;
                times[*i].push(start.elapsed().as_secs_f64());
            }
        }
    }
    let paired = |a: usize, b: usize| median(times[a].iter().zip(&times[b]).map(|(x, y)| x / y));
    let rates: Vec<f64> = times.iter().map(|t| batch as f64 / median(t.iter().copied())).collect();
    Ok(Measured { cl_over_nchw: paired(2, 3), compiled_over_eager: rates[2] / rates[0], rates })
}

/// The median (the upper one of an even count).
fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
