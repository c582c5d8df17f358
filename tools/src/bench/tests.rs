//! Tests of the benchmark harness: the workloads compute what BENCHMARKS.md
//! defines (through the interpreter, at small sizes, against direct
//! formulas), bytes are counted as it counts them, and the suite runs end
//! to end. Nothing here looks at a time.

use super::*;
use crate::cli::parse_from;
use workloads::{ADAM_SIZE, ADAM_TENSORS, COLS, POINTWISE, ROWS, adam};

fn func_of(w: &Workload) -> Func {
    let f = parse_func(&w.ir).unwrap_or_else(|e| panic!("{}: {e}", w.name));
    verify(&f).unwrap_or_else(|e| panic!("{}: {e}", w.name));
    f
}

fn small(w: &Workload) -> Bindings {
    w.bindings.iter().map(|(k, v)| (k.clone(), (v / 4096).max(1))).collect()
}

/// erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7): enough for f32.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    if x < 0.0 { -y } else { y }
}

fn assert_close(got: &HostTensor, want: &[f64], bar: f64, what: &str) {
    let g = got.to_f64_vec();
    assert_eq!(g.len(), want.len(), "{what}");
    let err: f64 = g.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = want.iter().map(|b| b * b).sum();
    let rel = (err / norm).sqrt();
    assert!(rel <= bar, "{what}: rel-L2 {rel:e}");
}

/// Runs workload `w` (f32) through the interpreter at a small size and
/// returns its inputs (as f64) and results.
fn run_small(w: &Workload) -> (Vec<Vec<f64>>, Vec<HostTensor>, Bindings) {
    let f = func_of(w);
    let b = small(w);
    let inputs = make_inputs(&f, &b).expect("inputs");
    let outs = smelt_compiler::interp::run(&f, &inputs, &b).expect("interp");
    (inputs.iter().map(HostTensor::to_f64_vec).collect(), outs, b)
}

fn layer_norm_rows(h: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    h.chunks(w.len())
        .flat_map(|row| {
            let n = row.len() as f64;
            let mean = row.iter().sum::<f64>() / n;
            let var = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            let inv = 1.0 / (var + 1e-5).sqrt();
            row.iter().zip(w).zip(b).map(move |((x, w), b)| (x - mean) * inv * w + b)
        })
        .collect()
}

#[test]
fn pointwise_is_gelu_of_an_affine_map() {
    let (ins, outs, _) = run_small(&workloads::pointwise(DType::F32));
    let want: Vec<f64> = ins[0]
        .iter()
        .map(|x| {
            let u = x * 1.7 + 0.3;
            0.5 * u * (1.0 + erf(u / 2f64.sqrt()))
        })
        .collect();
    assert_close(&outs[0], &want, 1e-5, "pointwise");
}

#[test]
fn layernorm_and_bias_residual_layernorm_normalize_rows() {
    let (ins, outs, _) = run_small(&workloads::layernorm(DType::F32));
    assert_close(&outs[0], &layer_norm_rows(&ins[0], &ins[1], &ins[2]), 1e-5, "layernorm");
    let (ins, outs, _) = run_small(&workloads::bias_residual_layernorm(DType::F32));
    let cols = COLS as usize;
    let h: Vec<f64> = ins[0]
        .iter()
        .zip(&ins[2])
        .enumerate()
        .map(|(i, (x, r))| x + ins[1][i % cols] + r)
        .collect();
    assert_close(&outs[0], &layer_norm_rows(&h, &ins[3], &ins[4]), 1e-5, "bias+residual+layernorm");
}

#[test]
fn softmax_and_rmsnorm_match_their_definitions() {
    let (ins, outs, _) = run_small(&workloads::softmax(DType::F32));
    let want: Vec<f64> = ins[0]
        .chunks(COLS as usize)
        .flat_map(|row| {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = row.iter().map(|x| (x - m).exp()).sum();
            row.iter().map(move |x| (x - m).exp() / z)
        })
        .collect();
    assert_close(&outs[0], &want, 1e-5, "softmax");
    let (ins, outs, _) = run_small(&workloads::rmsnorm(DType::F32));
    let w = &ins[1];
    let want: Vec<f64> = ins[0]
        .chunks(COLS as usize)
        .flat_map(|row| {
            let ms = row.iter().map(|x| x * x).sum::<f64>() / row.len() as f64;
            let r = 1.0 / (ms + 1e-6).sqrt();
            row.iter().zip(w).map(move |(x, w)| x * r * w)
        })
        .collect();
    assert_close(&outs[0], &want, 1e-5, "rmsnorm");
}

#[test]
fn adamw_updates_every_tensor_like_pytorch() {
    use adam::*;
    let (ins, outs, _) = run_small(&workloads::adamw(DType::F32));
    assert_eq!(outs.len(), 3 * ADAM_TENSORS);
    let (bc1, bc2) = (1.0 - B1.powi(STEP), 1.0 - B2.powi(STEP));
    for i in 0..ADAM_TENSORS {
        let [p, g, m, v] = [&ins[4 * i], &ins[4 * i + 1], &ins[4 * i + 2], &ins[4 * i + 3]];
        let mn: Vec<f64> = m.iter().zip(g).map(|(m, g)| B1 * m + (1.0 - B1) * g).collect();
        let vn: Vec<f64> = v.iter().zip(g).map(|(v, g)| B2 * v + (1.0 - B2) * g * g).collect();
        let pn: Vec<f64> = (0..p.len())
            .map(|j| p[j] - LR * (mn[j] / bc1) / ((vn[j] / bc2).sqrt() + EPS) - LR * WD * p[j])
            .collect();
        assert_close(&outs[3 * i], &pn, 1e-5, "adamw p");
        assert_close(&outs[3 * i + 1], &mn, 1e-5, "adamw m");
        assert_close(&outs[3 * i + 2], &vn, 1e-5, "adamw v");
    }
}

#[test]
fn bytes_are_counted_as_benchmarks_md_counts_them() {
    let norm = ROWS * COLS;
    for (dtype, size) in [(DType::F32, 4), (DType::BF16, 2)] {
        let want = [
            2 * POINTWISE * size,
            2 * norm * size,
            2 * norm * size,
            2 * norm * size,
            3 * norm * size,
            7 * ADAM_TENSORS as u64 * ADAM_SIZE * size,
        ];
        let suite = workloads::fusion_suite(dtype);
        assert_eq!(suite.len(), want.len());
        for (w, want) in suite.iter().zip(want) {
            let f = func_of(w);
            assert_eq!(counted_bytes(&f, &w.counted, &w.bindings), Ok(want), "{} {dtype}", w.name);
        }
    }
}

#[test]
fn bf16_workloads_parse_and_run() {
    for w in workloads::fusion_suite(DType::BF16) {
        let f = func_of(&w);
        let b = small(&w);
        let inputs = make_inputs(&f, &b).expect("inputs");
        let outs = smelt_compiler::interp::run(&f, &inputs, &b).expect("interp");
        assert!(outs.iter().all(|o| o.dtype == DType::BF16), "{}", w.name);
    }
}

fn args(extra: &[&str]) -> BenchArgs {
    #[derive(Debug, clap::Parser)]
    struct P {
        #[command(flatten)]
        a: BenchArgs,
    }
    let argv = ["bench"].iter().chain(extra).copied();
    parse_from::<P, _, _>(argv).expect("arguments").a
}

#[test]
fn the_fusion_suite_runs_end_to_end_and_writes_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json_path = dir.path().join("bench.json");
    let path = json_path.to_str().expect("utf-8 path");
    let a = args(&[
        "--suite",
        "fusion",
        "--engine",
        "interp",
        "--reps",
        "1",
        "--threads",
        "2",
        "--shrink",
        "4096",
        "--json",
        path,
    ]);
    let text = bench(&a).expect("bench");
    let names =
        ["pointwise", "layernorm", "softmax", "rmsnorm", "bias+residual+layernorm", "adamw step"];
    for n in names {
        assert!(text.lines().any(|l| l.starts_with(n)), "{n} missing:\n{text}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("valid json");
    assert_eq!(v["setup"]["shrink"], 4096);
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(6));
    assert_eq!(v["rows"][1]["bytes"], 2 * 4 * 4 * COLS); // 4 rows of f32
}

#[test]
fn unwired_suites_and_engines_are_clear_errors() {
    let e = bench(&args(&["--suite", "decoder", "--fixtures", "/nonexistent/ctc"]))
        .expect_err("no fixtures");
    assert!(e.0.contains("/nonexistent/ctc"), "{}", e.0);
    let bad = parse_from::<Cli, _, _>(["smelt", "bench", "--suite", "nope"]);
    assert!(bad.is_err());
    #[cfg(not(feature = "cpu-backend"))]
    {
        let e = bench(&args(&["--suite", "fusion", "--shrink", "65536", "--reps", "1"]))
            .expect_err("no cpu backend");
        assert!(e.0.contains("CPU backend"), "{}", e.0);
    }
}

use crate::run::Cli;

#[test]
fn the_device_picks_the_default_dtypes() {
    let d = |extra: &[&str]| args(&[&["--suite", "fusion"], extra].concat()).dtypes();
    assert_eq!(d(&[]), [DType::F32]);
    assert_eq!(d(&["--device", "cpu", "--dtype", "bf16"]), [DType::BF16]);
    assert_eq!(d(&["--device", "cuda"]), [DType::F32, DType::BF16]);
    assert_eq!(d(&["--device", "cuda", "--dtype", "bf16"]), [DType::BF16]);
}
