//! `smelt bench --suite train`: the CPU training step of both demo models
//! (`smelt train-demo`'s CNN and transformer, batch 32) in f32, under bf16
//! autocast, and compiled (forward + backward traced into one graph), as
//! the median of `--reps` steps after three warm-up steps; then the fused
//! AdamW step over 64 f32 tensors of 2^16 elements in GB/s (bytes a step
//! must move: read p, g, m, v; write p, m, v) against the copy ceiling
//! (the suites' parallel memcpy of the same bytes) in the same run, for
//! both [`Fusion`] modes (per-dtype timed once: its concat lowering is
//! slow).

use std::fmt::Write;
use std::time::Instant;

use smelt_compiler::ir::DType;
use smelt_runtime::optim::{Adam, AdamConfig, Fusion};
use smelt_runtime::tensor::{Generator, Tensor};

use super::measure::{CopyCeiling, median_of};
use crate::cli::{CliError, CliResult};
use crate::train_demo::{ModelKind, TrainConfig, Trainer};

const TENSORS: usize = 64;
const NUMEL: usize = 1 << 16;

/// Median seconds of one training step of `model` in a mode (after two
/// more warm-up steps than `median_of`'s one), and the compiled summary.
fn step_seconds(
    model: ModelKind,
    amp: bool,
    compile: bool,
    reps: usize,
) -> CliResult<(f64, String)> {
    let cfg = TrainConfig { amp, compile, ..TrainConfig::new(model) };
    let mut t = Trainer::new(&cfg)?;
    let fail = |e: String| CliError(format!("{model:?} amp={amp} compile={compile}: {e}"));
    for _ in 0..2 {
        t.step().map_err(fail)?;
    }
    let d = median_of(reps, || {
        let t0 = Instant::now();
        t.step().map(|_| t0.elapsed())
    })
    .map_err(fail)?;
    Ok((d.as_secs_f64(), t.compiled_summary().unwrap_or_default()))
}

/// Median seconds of the fused AdamW step in `fusion` mode.
fn adamw_seconds(fusion: Fusion, reps: usize) -> CliResult<f64> {
    let run = || -> smelt_runtime::tensor::Result<f64> {
        let mut rng = Generator::new(0);
        let mut make = || {
            (0..TENSORS)
                .map(|_| Tensor::randn(&[NUMEL], DType::F32, &mut rng))
                .collect::<smelt_runtime::tensor::Result<Vec<_>>>()
        };
        let mut params = make()?;
        let grads = make()?;
        let mut opt = Adam::new(AdamConfig::adamw(1e-3))?.with_fusion(fusion);
        let d = median_of(reps, || {
            let t0 = Instant::now();
            params = opt.step(&params, &grads)?;
            Ok(t0.elapsed())
        })?;
        Ok(d.as_secs_f64())
    };
    run().map_err(|e| CliError(format!("AdamW {fusion:?}: {e}")))
}

/// The suite's table.
pub fn run(reps: usize, threads: usize) -> CliResult<String> {
    let mut out = String::new();
    let _ = writeln!(out, "training step (CPU, batch 32, median of {reps} after 3 warm-up):");
    let _ = writeln!(
        out,
        "  {:<12} {:>12} {:>12} {:>12}  compiled graph",
        "model", "f32 ms", "bf16-amp ms", "compiled ms"
    );
    for model in [ModelKind::Cnn, ModelKind::Transformer] {
        let (f32_s, _) = step_seconds(model, false, false, reps)?;
        let (amp_s, _) = step_seconds(model, true, false, reps)?;
        let (cmp_s, how) = step_seconds(model, false, true, reps)?;
        let name = format!("{model:?}").to_lowercase();
        let _ = writeln!(
            out,
            "  {name:<12} {:>12.3} {:>12.3} {:>12.3}  {how}",
            f32_s * 1e3,
            amp_s * 1e3,
            cmp_s * 1e3
        );
    }
    let bytes = 7 * TENSORS * NUMEL * 4;
    let per_tensor = adamw_seconds(Fusion::PerTensor, reps)?;
    let per_dtype = adamw_seconds(Fusion::PerDtype, 1)?;
    let mut ceiling = CopyCeiling::new(bytes as u64, threads);
    let copy = median_of::<()>(reps, || Ok(ceiling.copy())).unwrap_or_default().as_secs_f64();
    let _ = writeln!(
        out,
        "fused AdamW step, {TENSORS} x {NUMEL} f32 ({:.1} MB moved per step):",
        bytes as f64 / 1e6
    );
    for (name, s) in
        [("per-tensor", per_tensor), ("per-dtype (1 rep)", per_dtype), ("memcpy ceiling", copy)]
    {
        let _ = writeln!(
            out,
            "  {name:<18} {:10.3} ms {:8.2} GB/s ({:.0}% of memcpy)",
            s * 1e3,
            bytes as f64 / s / 1e9,
            100.0 * copy / s
        );
    }
    Ok(out)
}
