//! `smelt bench --suite fusion --device cuda`: the fusion workloads of
//! BENCHMARKS.md (the same IR as the CPU suite, `workloads.rs`, at the GPU
//! sizes) through the CUDA backend on device 0. Each workload is timed with
//! CUDA events beside a device-to-device copy of the same bytes measured in
//! the same run (the bandwidth ceiling); the table also gives the host time
//! per launch of each plan, and the run ends with the host time of one
//! cached launch of a tiny kernel and per kernel of a 16-kernel plan
//! replayed as a CUDA graph. `--json FILE` writes it all (the keys
//! `tools/gpu-check.sh` merges with PyTorch's numbers).
//!
//! Without a CUDA device: one line saying what is missing, exit 2.
//! `--dry-run` needs no device: it generates every workload's kernels and
//! compiles them with NVRTC, when one is found, for sm_70/80/90.
//!
//! A workload that fails is reported and the others still run; the table
//! and JSON are written, then the run fails naming the first failure.

use std::time::Instant;

use serde_json::{Value, json};
use smelt_compiler::backend::cuda::runtime::{CudaBackend, DeviceTensor, device_status};
use smelt_compiler::backend::cuda::{self, nvrtc};
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{Func, parse_func, verify};
use smelt_compiler::{passes, plan};

use super::cuda_timing::{
    Res, copy_ms, device_inputs, graph_overhead_us, launch_overhead_us, time_calls,
};
use super::report::{self, aligned};
use super::workloads::{Workload, fusion_suite};
use super::{BenchArgs, counted_bytes};
use crate::cli::{CliError, CliResult, one_line};

/// Untimed launches before each timed batch.
const WARMUP: usize = 3;

/// The architectures `--dry-run` compiles for (CI's: Volta, Ampere, Hopper),
/// those the loaded NVRTC supports.
const DRY_RUN_ARCHS: [i32; 3] = [70, 80, 90];

/// One workload's measurements on the device.
#[derive(Clone, Debug)]
pub struct GpuRow {
    /// Workload name.
    pub workload: String,
    /// Its dtype's name.
    pub dtype: String,
    /// Bytes counted per run (BENCHMARKS.md).
    pub bytes: u64,
    /// GPU milliseconds per fused run.
    pub fused_ms: f64,
    /// GPU milliseconds per copy of the same bytes.
    pub copy_ms: f64,
    /// Host microseconds per launch of the plan (enqueuing, no sync).
    pub host_us: f64,
    /// Milliseconds to generate and compile the plan's kernels.
    pub compile_ms: f64,
    /// Launches per run of the plan (kernels and library calls; a group of
    /// identical kernels launched as one multi kernel counts once per chunk).
    pub kernels: usize,
}

/// GB/s (10^9) of `bytes` moved in `ms` milliseconds (as the CPU suite's
/// [`report::gbps`]); zero for no time or a time that is not a duration.
fn gbps(bytes: u64, ms: f64) -> f64 {
    std::time::Duration::try_from_secs_f64(ms * 1e-3).map_or(0.0, |d| report::gbps(bytes, d))
}

impl GpuRow {
    /// Fused GB/s.
    pub fn fused_gbps(&self) -> f64 {
        gbps(self.bytes, self.fused_ms)
    }
    /// Copy GB/s.
    pub fn copy_gbps(&self) -> f64 {
        gbps(self.bytes, self.copy_ms)
    }
    /// Fused throughput as a fraction of the copy's.
    pub fn fused_of_copy(&self) -> f64 {
        if self.fused_ms > 0.0 { self.copy_ms / self.fused_ms } else { 0.0 }
    }

    /// The row as a JSON object (the CPU suite's key names where they mean the same).
    pub fn to_json(&self) -> Value {
        json!({
            "workload": self.workload,
            "dtype": self.dtype,
            "bytes": self.bytes,
            "copy_ms": self.copy_ms,
            "copy_gbps": self.copy_gbps(),
            "fused_ms": self.fused_ms,
            "fused_gbps": self.fused_gbps(),
            "fused_of_copy": self.fused_of_copy(),
            "host_us_per_launch": self.host_us,
            "compile_ms": self.compile_ms,
            "kernels_fused": self.kernels,
        })
    }
}

/// The rows as an aligned text table.
pub fn table(rows: &[GpuRow]) -> String {
    let head = [
        "workload",
        "dtype",
        "MB",
        "copy GB/s",
        "fused GB/s",
        "of copy",
        "host µs/launch",
        "compile ms",
        "kernels",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.workload.clone(),
                r.dtype.clone(),
                format!("{:.1}", r.bytes as f64 / 1e6),
                format!("{:.0}", r.copy_gbps()),
                format!("{:.0}", r.fused_gbps()),
                format!("{:.1}%", 100.0 * r.fused_of_copy()),
                format!("{:.2}", r.host_us),
                format!("{:.1}", r.compile_ms),
                r.kernels.to_string(),
            ]
        })
        .collect();
    aligned(&head, &cells)
}

/// The closing lines: host time per cached launch and per graph-replayed kernel.
pub fn overhead_lines(launch_us: Option<f64>, graph_us: Option<f64>) -> String {
    let us = |v: Option<f64>| v.map_or("failed".to_string(), |v| format!("{v:.2} µs"));
    format!(
        "host time per cached launch (1-kernel plan): {} (target ≤ 5 µs)\n\
         host time per kernel replayed in a CUDA graph (16-kernel plan): {}\n",
        us(launch_us),
        us(graph_us)
    )
}

/// The workloads in table order: each workload in every dtype asked for.
fn suite(args: &BenchArgs) -> Vec<Workload> {
    let per_dtype: Vec<Vec<Workload>> = args.dtypes().into_iter().map(fusion_suite).collect();
    let n = per_dtype.first().map_or(0, Vec::len);
    (0..n).flat_map(|i| per_dtype.iter().map(move |s| s[i].clone())).collect()
}

/// Runs the suite on CUDA device 0 (or `--dry-run`: kernels only).
pub fn fusion(args: &BenchArgs) -> CliResult<String> {
    if args.dry_run {
        return dry_run(args);
    }
    device_status().map_err(|e| CliError::new(format!("--device cuda: {e}")))?;
    let mut gpu = CudaBackend::new().map_err(|e| CliError::new(format!("--device cuda: {e}")))?;
    let reps = usize::try_from(args.reps).unwrap_or(usize::MAX);
    let device = gpu.device_name();
    let work = suite(args);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for w in &work {
        eprintln!("smelt bench: {} {} …", w.name, w.dtype);
        match measure(&mut gpu, w, args.shrink, reps) {
            Ok(r) => rows.push(r),
            Err(e) => errors.push(format!("{} ({}): {}", w.name, w.dtype, one_line(&e))),
        }
    }
    let mut overhead = |what: &str, r: Res<f64>| match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(format!("{what}: {}", one_line(&e)));
            None
        }
    };
    let launch_us = overhead("cached launch", launch_overhead_us(&mut gpu));
    let graph_us = overhead("graph replay", graph_overhead_us(&mut gpu));

    let mut text = format!(
        "smelt bench --suite fusion --device cuda on {device} (sm_{}): mean of {reps} launches \
         timed with CUDA events after {WARMUP} warm-ups{}\n",
        gpu.arch(),
        if args.shrink > 1 { format!(", sizes / {}", args.shrink) } else { String::new() },
    );
    text.push_str(&table(&rows));
    text.push_str(&overhead_lines(launch_us, graph_us));
    for e in &errors {
        text.push_str(&format!("failed: {e}\n"));
    }
    if let Some(path) = &args.json {
        let dtypes: Vec<String> = args.dtypes().iter().map(ToString::to_string).collect();
        let doc = json!({
            "setup": {"suite": "fusion", "device": "cuda", "dtypes": dtypes, "reps": reps,
                      "warmup": WARMUP, "shrink": args.shrink},
            "device": device,
            "arch": gpu.arch(),
            "rows": rows.iter().map(GpuRow::to_json).collect::<Vec<_>>(),
            "launch_us": launch_us,
            "graph_us_per_kernel": graph_us,
            "errors": errors,
        });
        let body = serde_json::to_string_pretty(&doc)
            .map_err(|e| CliError::new(format!("cannot encode the JSON: {e}")))?;
        std::fs::write(path, body + "\n")
            .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    }
    match errors.first() {
        None => Ok(text),
        Some(first) => {
            // The table is still worth having: print it before failing.
            print!("{text}");
            Err(CliError::new(format!(
                "{} of {} measurements failed on {device}; first: {first}",
                errors.len(),
                work.len() + 2
            )))
        }
    }
}

/// One workload at its GPU sizes (divided by `shrink`): compile, inputs,
/// timed launches, then the copy of the same bytes (inputs freed first).
fn measure(gpu: &mut CudaBackend, w: &Workload, shrink: u64, reps: usize) -> Res<GpuRow> {
    let func = parse_func(&w.ir).map_err(|e| format!("parse: {e}"))?;
    verify(&func).map_err(|e| format!("verify: {e}"))?;
    let bindings: Bindings =
        w.gpu_bindings.iter().map(|(k, v)| (k.clone(), (v / shrink).max(1))).collect();
    let bytes = counted_bytes(&func, &w.counted, &bindings)?;
    let t0 = Instant::now();
    let plan = gpu.compile(&func).map_err(|e| format!("compile: {e}"))?;
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let kernels = plan.launch_count();
    let inputs = device_inputs(gpu, &func, &bindings).map_err(|e| format!("inputs: {e}"))?;
    let refs: Vec<&DeviceTensor> = inputs.iter().collect();
    // Symbols are bound from the inputs' shapes.
    let none = Bindings::new();
    let t = time_calls(gpu, WARMUP, reps, &mut |g| {
        g.launch(&plan, &refs, &none).map(drop).map_err(|e| format!("launch: {e}"))
    })?;
    drop(refs);
    drop(inputs);
    let copy = copy_ms(gpu, bytes, reps).map_err(|e| format!("copy: {e}"))?;
    Ok(GpuRow {
        workload: w.name.to_string(),
        dtype: w.dtype.to_string(),
        bytes,
        fused_ms: t.ms,
        copy_ms: copy,
        host_us: t.host_us,
        compile_ms,
        kernels,
    })
}

/// `--dry-run`: every workload's kernels generated as one translation unit
/// and compiled with NVRTC for each of [`DRY_RUN_ARCHS`] it supports.
fn dry_run(args: &BenchArgs) -> CliResult<String> {
    let archs: Vec<i32> = if nvrtc::nvrtc_available() {
        let have = nvrtc::supported_archs().map_err(|e| CliError::new(e.to_string()))?;
        DRY_RUN_ARCHS.into_iter().filter(|a| have.contains(a)).collect()
    } else {
        Vec::new()
    };
    let mut text = match nvrtc::nvrtc_version() {
        Ok((major, minor)) if !archs.is_empty() => {
            let sms: Vec<String> = archs.iter().map(|a| format!("sm_{a}")).collect();
            format!(
                "smelt bench --suite fusion --device cuda --dry-run: kernels generated and \
                 compiled by NVRTC {major}.{minor} for {}\n",
                sms.join(", ")
            )
        }
        _ => "smelt bench --suite fusion --device cuda --dry-run: kernels generated only (no \
              NVRTC with sm_70/80/90 found: put libnvrtc.so* on LD_LIBRARY_PATH to compile)\n"
            .to_string(),
    };
    let mut head = vec!["workload", "dtype", "kernels", "CUDA lines"];
    let arch_names: Vec<String> = archs.iter().map(|a| format!("sm_{a}")).collect();
    head.extend(arch_names.iter().map(String::as_str));
    let mut cells = Vec::new();
    let mut errors = Vec::new();
    for w in suite(args) {
        let what = format!("{} ({})", w.name, w.dtype);
        let tu = parse_func(&w.ir)
            .map_err(|e| format!("parse: {e}"))
            .and_then(|f| kernels_of(&f).map_err(|e| format!("generate: {e}")));
        let (count, tu) = match tu {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{what}: {}", one_line(&e)));
                continue;
            }
        };
        let mut row = vec![
            w.name.to_string(),
            w.dtype.to_string(),
            count.to_string(),
            tu.lines().count().to_string(),
        ];
        for &a in &archs {
            match cuda::compile_ptx(&tu, a) {
                Ok(_) => row.push("ok".into()),
                Err(e) => {
                    row.push("FAILED".into());
                    errors.push(format!("{what} for sm_{a}: {}", one_line(&e.to_string())));
                }
            }
        }
        cells.push(row);
    }
    text.push_str(&aligned(&head, &cells));
    match errors.first() {
        None => Ok(text),
        Some(first) => {
            print!("{text}");
            Err(CliError::new(format!("{} kernels failed; first: {first}", errors.len())))
        }
    }
}

/// The plan's kernel count and its kernels as one CUDA translation unit.
fn kernels_of(func: &Func) -> Result<(usize, String), String> {
    let mut g = func.clone();
    passes::optimize(&mut g).map_err(|e| e.to_string())?;
    let p = plan::plan(&g).map_err(|e| e.to_string())?;
    let tu = cuda::plan_source(&g, &p).map_err(|e| e.to_string())?;
    Ok((p.kernels.len(), tu))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> GpuRow {
        GpuRow {
            workload: "softmax".into(),
            dtype: "bf16".into(),
            bytes: 4_000_000_000,
            fused_ms: 2.0,
            copy_ms: 1.0,
            host_us: 3.25,
            compile_ms: 88.0,
            kernels: 1,
        }
    }

    #[test]
    fn rates_and_ratios_come_from_bytes_and_times() {
        let r = row();
        assert_eq!(r.fused_gbps(), 2000.0);
        assert_eq!(r.copy_gbps(), 4000.0);
        assert_eq!(r.fused_of_copy(), 0.5);
        assert_eq!(GpuRow { fused_ms: 0.0, ..row() }.fused_of_copy(), 0.0);
    }

    #[test]
    fn the_table_and_json_carry_every_column() {
        let t = table(&[row()]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].starts_with("workload") && lines[0].contains("host µs/launch"), "{t}");
        for cell in ["softmax", "bf16", "4000.0", "2000", "50.0%", "3.25", "88.0"] {
            assert!(lines[1].contains(cell), "{cell} in {t}");
        }
        let v = row().to_json();
        assert_eq!(v["fused_gbps"], 2000.0);
        assert_eq!(v["copy_gbps"], 4000.0);
        assert_eq!(v["host_us_per_launch"], 3.25);
        assert_eq!(v["kernels_fused"], 1);
        let o = overhead_lines(Some(3.9), None);
        assert!(o.contains("3.90 µs") && o.contains("failed"), "{o}");
    }

    #[test]
    fn every_workload_generates_cuda_source() {
        for w in fusion_suite(smelt_compiler::ir::DType::BF16) {
            let f = parse_func(&w.ir).expect("parse");
            let (kernels, tu) = kernels_of(&f).unwrap_or_else(|e| panic!("{}: {e}", w.name));
            assert!(kernels >= 1, "{}", w.name);
            assert!(tu.contains("__global__"), "{}", w.name);
        }
    }

    #[test]
    fn the_adamw_step_is_one_launch() {
        use smelt_compiler::backend::cuda::multi::plan_launches;
        for d in [smelt_compiler::ir::DType::F32, smelt_compiler::ir::DType::BF16] {
            let w = super::super::workloads::adamw(d);
            let mut f = parse_func(&w.ir).expect("parse");
            passes::optimize(&mut f).expect("optimize");
            let p = plan::plan(&f).expect("plan");
            assert_eq!(p.kernels.len(), 64, "one kernel per tensor");
            // 64 identical kernels of 7 pointers: one launch of their multi kernel.
            assert_eq!(plan_launches(&f, &p).expect("launches"), 1, "{d}");
        }
    }
}
