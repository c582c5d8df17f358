//! `smelt bench --device cuda` end to end: without a CUDA device one line
//! saying what is missing and exit 2; with one, a small (`--shrink`) run
//! printing the table and writing the JSON. The CPU-only suites and
//! `--dry-run` without `--device cuda` are one-line errors; `--dry-run`
//! generates every workload's kernels on any machine (and compiles them
//! where NVRTC is on the library path).

mod common;

use common::{SMELT, exec, fails};
use smelt_compiler::backend::cuda::runtime::device_status;

#[test]
fn the_fusion_suite_on_cuda_runs_or_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("gpu.json").display().to_string();
    let args = [
        "bench", "--suite", "fusion", "--device", "cuda", "--shrink", "1024", "--reps", "2",
        "--json", &json,
    ];
    match device_status() {
        Err(e) => {
            eprintln!("no CUDA device here ({e}): checking the error instead of a run");
            fails(SMELT, &args, "--device cuda: no CUDA device: ");
            assert!(!dir.path().join("gpu.json").exists());
        }
        Ok(()) => {
            let o = exec(SMELT, &args);
            assert_eq!(o.code, 0, "{}", o.stderr);
            for want in ["pointwise", "adamw step", "copy GB/s", "host time per cached launch"] {
                assert!(o.stdout.contains(want), "{want} in {}", o.stdout);
            }
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
            assert_eq!(v["rows"].as_array().map(Vec::len), Some(12), "{v}");
            assert!(v["rows"][0]["fused_gbps"].as_f64().is_some_and(|g| g > 0.0), "{v}");
            assert!(v["launch_us"].as_f64().is_some(), "{v}");
            assert_eq!(v["errors"].as_array().map(Vec::len), Some(0), "{v}");
        }
    }
}

#[test]
fn cpu_only_suites_and_a_dry_run_without_cuda_are_one_line_errors() {
    for suite in ["vision", "train", "decoder"] {
        fails(
            SMELT,
            &["bench", "--suite", suite, "--device", "cuda"],
            &format!("--suite {suite} runs on the CPU only for now"),
        );
    }
    fails(SMELT, &["bench", "--suite", "fusion", "--dry-run"], "needs --device cuda");
    fails(SMELT, &["bench", "--suite", "fusion", "--device", "gpu"], "gpu");
}

#[test]
fn a_dry_run_generates_every_workload_with_no_gpu() {
    let o = exec(SMELT, &["bench", "--suite", "fusion", "--device", "cuda", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let rows: Vec<&str> = o.stdout.lines().skip(2).collect();
    assert_eq!(rows.len(), 12, "{}", o.stdout);
    assert!(rows.iter().all(|r| !r.contains("FAILED")), "{}", o.stdout);
    let adamw = rows.iter().find(|r| r.starts_with("adamw step")).expect("adamw row");
    assert_eq!(adamw.split_whitespace().nth(3), Some("64"), "{adamw}");
}
