//! `smelt bench --suite vision`: images/s of zoo models on the CPU, eager
//! and compiled, NCHW and channels-last, f32 and bf16, at batch 1 and 8,
//! with the ratios the issue asks for (channels-last compiled over NCHW
//! compiled; compiled over eager). Random weights (seeded): speed does not
//! depend on trained values. The first call of each configuration (kernel
//! compiles, tracing) is a warm-up and is not timed.

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
            let mut rates = Vec::new();
            for (label, cl, compiled, dtype) in CONFIGS {
                eprintln!("smelt bench: {name} batch {batch} {label} …");
                rates.push(rate(name, batch, side, reps, cl, compiled, dtype)?);
            }
            let _ = write!(out, "{name:<20} {batch:>5}");
            for r in &rates {
                let _ = write!(out, " {r:>14.2}");
            }
            let _ = writeln!(out, " {:>7.2}x {:>7.2}x", rates[3] / rates[2], rates[2] / rates[0]);
        }
    }
    Ok(out)
}

/// Images/s of one configuration.
fn rate(
    name: &str,
    batch: usize,
    side: usize,
    reps: usize,
    channels_last: bool,
    compile: bool,
    dtype: &str,
) -> CliResult<f64> {
    let fail = |e: String| CliError::new(format!("{name} batch {batch}: {e}"));
    let model =
        zoo::get_model(name, None, &ModelConfig::default()).map_err(|e| fail(e.to_string()))?;
    let opts = RunOptions { weights: None, channels_last, dtype: dtype.into(), compile };
    let mut runner = Runner::new(model, &opts)?;
    let mut rng = Generator::new(1);
    let x = Tensor::randn(&[batch, 3, side, side], smelt_compiler::ir::DType::F32, &mut rng)
        .map_err(|e| fail(e.to_string()))?;
    runner.run(&x)?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        runner.run(&x)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(batch as f64 / times[times.len() / 2])
}
