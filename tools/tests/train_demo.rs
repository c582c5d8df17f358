//! `smelt train-demo`: the loss falls; the compiled step (forward and
//! backward traced and fused) gives eager's losses (tight in f32, within
//! bf16 tolerance under autocast); the AMP run ends within 5% of the f32
//! run; the CLI's `--json`, `--plot` and `--device cuda` behave.

mod common;

use common::*;
use smelt_tools::train_demo::{ModelKind, TrainConfig, TrainReport, Trainer, train};

fn run(model: ModelKind, amp: bool, compile: bool, steps: usize) -> TrainReport {
    let cfg = TrainConfig { amp, compile, steps, batch: 16, ..TrainConfig::new(model) };
    train(&cfg).unwrap_or_else(|e| panic!("{model:?} amp={amp} compile={compile}: {e}"))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Compiled against eager, step by step, within `rel`.
fn same_losses(eager: &TrainReport, compiled: &TrainReport, rel: f64, what: &str) {
    assert_eq!(eager.losses.len(), compiled.losses.len());
    for (i, (e, c)) in eager.losses.iter().zip(&compiled.losses).enumerate() {
        assert!(
            (e - c).abs() <= rel * e.abs().max(1e-3),
            "{what} step {i}: eager {e}, compiled {c}"
        );
    }
}

/// Forward and backward became one graph (no eager fallback).
fn traced_as_graph(r: &TrainReport) {
    let c = r.compiled.as_deref().expect("compiled summary");
    assert!(c.starts_with("g0: ") && !c.contains(';') && !c.ends_with("eager"), "{c}");
}

#[test]
fn cnn_learns_and_compiled_matches_eager() {
    let eager = run(ModelKind::Cnn, false, false, 20);
    let compiled = run(ModelKind::Cnn, false, true, 20);
    same_losses(&eager, &compiled, 1e-4, "cnn f32");
    traced_as_graph(&compiled);
    let (first, last) = (mean(&eager.losses[..5]), mean(&eager.losses[15..]));
    assert!(last < 0.6 * first, "cnn loss did not fall: {first} -> {last}");
    let amp = run(ModelKind::Cnn, true, false, 20);
    let amp_compiled = run(ModelKind::Cnn, true, true, 20);
    same_losses(&amp, &amp_compiled, 3e-2, "cnn bf16");
    assert_eq!(amp.skipped_steps, 0);
    let gap = (amp.final_loss - eager.final_loss).abs() / eager.final_loss;
    assert!(gap <= 0.05, "amp final {} vs f32 {} ({gap})", amp.final_loss, eager.final_loss);
}

#[test]
fn transformer_learns_and_compiled_matches_eager() {
    let eager = run(ModelKind::Transformer, false, false, 20);
    let compiled = run(ModelKind::Transformer, false, true, 20);
    same_losses(&eager, &compiled, 1e-4, "transformer f32");
    traced_as_graph(&compiled);
    let (first, last) = (mean(&eager.losses[..5]), mean(&eager.losses[15..]));
    assert!(last < 0.85 * first, "transformer loss did not fall: {first} -> {last}");
    let amp = run(ModelKind::Transformer, true, false, 20);
    let amp_compiled = run(ModelKind::Transformer, true, true, 20);
    same_losses(&amp, &amp_compiled, 3e-2, "transformer bf16");
    let gap = (amp.final_loss - eager.final_loss).abs() / eager.final_loss;
    assert!(gap <= 0.05, "amp final {} vs f32 {} ({gap})", amp.final_loss, eager.final_loss);
}

#[test]
fn compiled_step_updates_batchnorm_buffers_like_eager() {
    let trainer = |compile| {
        let cfg = TrainConfig { compile, batch: 8, ..TrainConfig::new(ModelKind::Cnn) };
        let mut t = Trainer::new(&cfg).expect("trainer");
        for _ in 0..5 {
            t.step().expect("step");
        }
        t.state_dict()
    };
    let (eager, compiled) = (trainer(false), trainer(true));
    assert_eq!(eager.keys().collect::<Vec<_>>(), compiled.keys().collect::<Vec<_>>());
    for (name, e) in &eager {
        let (e, c) = (e.to_f64_vec(), compiled[name].to_f64_vec());
        for (a, b) in e.iter().zip(&c) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{name}: eager {a}, compiled {b}");
        }
    }
    assert_eq!(compiled["bn.num_batches_tracked"].item().expect("item"), 5.0);
}

#[test]
fn cli_prints_one_json_object_and_plots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("loss.png");
    let p = png.display().to_string();
    let out = ok(SMELT, &["train-demo", "--steps", "3", "--batch", "4", "--json", "--plot", &p]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["losses"].as_array().map(Vec::len), Some(3));
    for key in ["final_loss", "seconds", "skipped_steps"] {
        assert!(v[key].is_number(), "{key} in {out}");
    }
    let bytes = std::fs::read(&png).expect("png written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn cli_without_a_cuda_device_says_what_is_missing() {
    // Where a device runs, tools/gpu-check.sh trains on it instead.
    if smelt_runtime::cuda::available().is_ok() {
        return;
    }
    fails(
        SMELT,
        &["train-demo", "--device", "cuda", "--steps", "1"],
        "cuda:0 is not available: no CUDA device",
    );
}
