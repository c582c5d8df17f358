//! `cuda-bench`: BENCHMARKS.md's GPU fusion workloads through the CUDA
//! backend, timed with CUDA events, beside a device-to-device copy of the
//! same bytes (the bandwidth ceiling) measured in the same run, the host
//! time of one cached launch, and per kernel of a plan replayed as a CUDA graph. Prints a table, and JSON with `--json PATH`.
//!
//! Without a CUDA device it says so and exits with status 2.

use std::fmt::Write as _;
use std::time::Instant;

use smelt_compiler::backend::cuda::runtime::{CudaBackend, DeviceTensor, device_status};
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{DType, parse_module};

/// Rows of the normalization workloads.
const ROWS: usize = 32768;
/// Row length of the normalization workloads.
const COLS: usize = 1024;
/// Elements of the pointwise and AdamW workloads.
const ELEMS: usize = 1 << 26;

struct Workload {
    name: &'static str,
    /// IR with `DT` for the dtype.
    ir: &'static str,
    /// Shapes of the inputs.
    inputs: Vec<Vec<usize>>,
    /// Indices of the inputs counted as bytes read (BENCHMARKS.md).
    counted_inputs: Vec<usize>,
    /// Outputs counted as bytes written (all of them).
    dtypes: &'static [&'static str],
}

fn workloads() -> Vec<Workload> {
    let both: &'static [&'static str] = &["f32", "bf16"];
    vec![
        Workload {
            name: "pointwise",
            ir: "func @gelu(%x: DT[E]) -> (DT[E]) {
  %a = mul(%x, 1.7)
  %t = add(%a, 0.3)
  %u = mul(%t, 0.7071067811865476)
  %e = erf(%u)
  %p = add(%e, 1.0)
  %h = mul(%t, 0.5)
  %y = mul(%h, %p)
  return %y
}",
            inputs: vec![vec![ELEMS]],
            counted_inputs: vec![0],
            dtypes: both,
        },
        Workload {
            name: "layernorm",
            ir: "func @layernorm(%x: DT[R, 1024], %w: DT[1024], %b: DT[1024]) -> (DT[R, 1024]) {
  %m = mean(%x) dims=[1] keepdim=true
  %d = sub(%x, %m)
  %d2 = mul(%d, %d)
  %v = mean(%d2) dims=[1] keepdim=true
  %ve = add(%v, 1e-5)
  %r = rsqrt(%ve)
  %n = mul(%d, %r)
  %s = mul(%n, %w)
  %y = add(%s, %b)
  return %y
}",
            inputs: vec![vec![ROWS, COLS], vec![COLS], vec![COLS]],
            counted_inputs: vec![0],
            dtypes: both,
        },
        Workload {
            name: "softmax",
            ir: "func @softmax(%x: DT[R, 1024]) -> (DT[R, 1024]) {
  %m = max(%x) dims=[1] keepdim=true
  %s = sub(%x, %m)
  %e = exp(%s)
  %z = sum(%e) dims=[1] keepdim=true
  %y = div(%e, %z)
  return %y
}",
            inputs: vec![vec![ROWS, COLS]],
            counted_inputs: vec![0],
            dtypes: both,
        },
        Workload {
            name: "rmsnorm",
            ir: "func @rmsnorm(%x: DT[R, 1024], %w: DT[1024]) -> (DT[R, 1024]) {
  %x2 = mul(%x, %x)
  %ms = mean(%x2) dims=[1] keepdim=true
  %e = add(%ms, 1e-6)
  %r = rsqrt(%e)
  %n = mul(%x, %r)
  %y = mul(%n, %w)
  return %y
}",
            inputs: vec![vec![ROWS, COLS], vec![COLS]],
            counted_inputs: vec![0],
            dtypes: both,
        },
        Workload {
            name: "bias+residual+layernorm",
            ir: "func @brln(%x: DT[R, 1024], %bias: DT[1024], %res: DT[R, 1024], %w: DT[1024], %b: DT[1024]) -> (DT[R, 1024]) {
  %xb = add(%x, %bias)
  %t = add(%xb, %res)
  %m = mean(%t) dims=[1] keepdim=true
  %d = sub(%t, %m)
  %d2 = mul(%d, %d)
  %v = mean(%d2) dims=[1] keepdim=true
  %ve = add(%v, 1e-5)
  %r = rsqrt(%ve)
  %n = mul(%d, %r)
  %s = mul(%n, %w)
  %y = add(%s, %b)
  return %y
}",
            inputs: vec![vec![ROWS, COLS], vec![COLS], vec![ROWS, COLS], vec![COLS], vec![COLS]],
            counted_inputs: vec![0, 2],
            dtypes: both,
        },
        Workload {
            // One fused multi-tensor step over 64 × 2^20 parameters (step 1,
            // lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 1e-2).
            name: "adamw step",
            ir: "func @adamw(%p: DT[E], %g: DT[E], %m: DT[E], %v: DT[E]) -> (DT[E], DT[E], DT[E]) {
  %m1 = mul(%m, 0.9)
  %g1 = mul(%g, 0.1)
  %mn = add(%m1, %g1)
  %v1 = mul(%v, 0.999)
  %gg = mul(%g, %g)
  %g2 = mul(%gg, 0.001)
  %vn = add(%v1, %g2)
  %mh = mul(%mn, 10.0)
  %vh = mul(%vn, 1000.0)
  %sq = sqrt(%vh)
  %de = add(%sq, 1e-8)
  %q = div(%mh, %de)
  %wd = mul(%p, 0.01)
  %up = add(%q, %wd)
  %st = mul(%up, 0.001)
  %pn = sub(%p, %st)
  return %pn, %mn, %vn
}",
            inputs: vec![vec![ELEMS]; 4],
            counted_inputs: vec![0, 1, 2, 3],
            dtypes: &["f32"],
        },
    ]
}

/// Deterministic pseudo-random bytes of `n` values of `d` in [-1, 1).
fn random_bytes(d: DType, n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n * d.size_bytes());
    for _ in 0..n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let x = ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
        match d {
            DType::BF16 => {
                out.extend_from_slice(&smelt_compiler::numerics::f32_to_bf16_bits(x).to_le_bytes())
            }
            _ => out.extend_from_slice(&x.to_le_bytes()),
        }
    }
    out
}

struct Row {
    workload: String,
    dtype: String,
    ms: f64,
    gbs: f64,
    copy_gbs: f64,
    compile_ms: f64,
    kernels: usize,
}

type Res<T> = Result<T, String>;

/// Mean milliseconds per call of `f`, timed with CUDA events over `iters`
/// calls after `warmup` untimed ones.
fn time_ms(
    gpu: &mut CudaBackend,
    warmup: usize,
    iters: usize,
    f: &mut dyn FnMut(&mut CudaBackend) -> Res<()>,
) -> Res<f64> {
    use cudarc::driver::sys::CUevent_flags;
    for _ in 0..warmup {
        f(gpu)?;
    }
    let ctx = gpu.context().clone();
    let start =
        ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(|e| format!("{e:?}"))?;
    let end = ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(|e| format!("{e:?}"))?;
    start.record(gpu.stream()).map_err(|e| format!("{e:?}"))?;
    for _ in 0..iters {
        f(gpu)?;
    }
    end.record(gpu.stream()).map_err(|e| format!("{e:?}"))?;
    end.synchronize().map_err(|e| format!("{e:?}"))?;
    let ms = start.elapsed_ms(&end).map_err(|e| format!("{e:?}"))?;
    Ok(f64::from(ms) / iters as f64)
}

/// GB/s of a device-to-device copy of `bytes` bytes (read + write counted).
fn copy_gbs(gpu: &mut CudaBackend, bytes: usize) -> Res<f64> {
    let src =
        gpu.upload_bytes(DType::U8, &[bytes], &vec![1u8; bytes]).map_err(|e| e.to_string())?;
    let mut dst =
        gpu.upload_bytes(DType::U8, &[bytes], &vec![0u8; bytes]).map_err(|e| e.to_string())?;
    let stream = gpu.stream().clone();
    let ms = time_ms(gpu, 3, 20, &mut |_| {
        stream.memcpy_dtod(&src.buf, &mut dst.buf).map_err(|e| format!("{e:?}"))
    })?;
    Ok(2.0 * bytes as f64 / (ms * 1e-3) / 1e9)
}

fn bench(gpu: &mut CudaBackend, w: &Workload, dt: &str, iters: usize) -> Res<Row> {
    let d = DType::from_name(dt).ok_or("bad dtype")?;
    let src = w.ir.replace("DT", dt);
    let m = parse_module(&src).map_err(|e| format!("{}: {e}", w.name))?;
    let f = m.funcs[0].clone();
    let t0 = Instant::now();
    let before = gpu.kernels_compiled();
    let plan = gpu.compile(&f).map_err(|e| e.to_string())?;
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let kernels = gpu.kernels_compiled() - before;
    let inputs: Vec<DeviceTensor> = w
        .inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let n: usize = s.iter().product();
            gpu.upload_bytes(d, s, &random_bytes(d, n, i as u64 + 1)).map_err(|e| e.to_string())
        })
        .collect::<Res<_>>()?;
    let refs: Vec<&DeviceTensor> = inputs.iter().collect();
    let b = Bindings::new();
    let outs = gpu.launch(&plan, &refs, &b).map_err(|e| e.to_string())?;
    let mut bytes: usize = w
        .counted_inputs
        .iter()
        .map(|&i| w.inputs[i].iter().product::<usize>() * d.size_bytes())
        .sum();
    bytes += outs
        .iter()
        .map(|o| o.shape.iter().product::<usize>() * o.dtype.size_bytes())
        .sum::<usize>();
    drop(outs);
    let ms = time_ms(gpu, 3, iters, &mut |g| {
        g.launch(&plan, &refs, &b).map(drop).map_err(|e| e.to_string())
    })?;
    // The ceiling for the same bytes: a copy of half of them each way.
    let copy = copy_gbs(gpu, bytes / 2)?;
    Ok(Row {
        workload: w.name.to_string(),
        dtype: dt.to_string(),
        ms,
        gbs: bytes as f64 / (ms * 1e-3) / 1e9,
        copy_gbs: copy,
        compile_ms,
        kernels,
    })
}

/// Host microseconds per cached launch of a one-kernel function (no sync).
fn launch_overhead_us(gpu: &mut CudaBackend) -> Res<f64> {
    let m = parse_module(
        "func @tiny(%x: f32[256]) -> (f32[256]) {\n  %y = add(%x, 1.0)\n  return %y\n}",
    )
    .map_err(|e| e.to_string())?;
    let plan = gpu.compile(&m.funcs[0]).map_err(|e| e.to_string())?;
    let x = gpu
        .upload_bytes(DType::F32, &[256], &random_bytes(DType::F32, 256, 9))
        .map_err(|e| e.to_string())?;
    let b = Bindings::new();
    for _ in 0..100 {
        gpu.launch(&plan, &[&x], &b).map_err(|e| e.to_string())?;
    }
    gpu.stream().synchronize().map_err(|e| format!("{e:?}"))?;
    let n = 2000;
    let t0 = Instant::now();
    for _ in 0..n {
        gpu.launch(&plan, &[&x], &b).map_err(|e| e.to_string())?;
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    gpu.stream().synchronize().map_err(|e| format!("{e:?}"))?;
    Ok(us)
}

/// Host microseconds per kernel when a 16-kernel plan replays as one CUDA graph.
fn graph_overhead_us(gpu: &mut CudaBackend) -> Res<f64> {
    // A chain the planner cannot fuse: reductions alternate between the dims.
    let mut src = String::from("func @chain(%x0: f32[64, 64]) -> (f32[64, 64]) {\n");
    for i in 0..16 {
        src.push_str(&format!(
            "  %s{i} = sum(%x{i}) dims=[{}] keepdim=true\n  %x{} = sub(%x{i}, %s{i})\n",
            i % 2,
            i + 1
        ));
    }
    src.push_str("  return %x16\n}");
    let m = parse_module(&src).map_err(|e| e.to_string())?;
    let plan = gpu.compile(&m.funcs[0]).map_err(|e| e.to_string())?;
    let x = gpu
        .upload_bytes(DType::F32, &[64, 64], &random_bytes(DType::F32, 4096, 5))
        .map_err(|e| e.to_string())?;
    let cap = gpu.capture(&plan, &[&x], &Bindings::new()).map_err(|e| e.to_string())?;
    for _ in 0..20 {
        cap.replay().map_err(|e| e.to_string())?;
    }
    gpu.stream().synchronize().map_err(|e| format!("{e:?}"))?;
    let n = 500;
    let t0 = Instant::now();
    for _ in 0..n {
        cap.replay().map_err(|e| e.to_string())?;
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(n) / cap.kernels().max(1) as f64;
    gpu.stream().synchronize().map_err(|e| format!("{e:?}"))?;
    Ok(us)
}

/// `--dry-run`: generates every workload's kernels and compiles them with
/// NVRTC for sm_90 (when NVRTC is found), with no GPU. Prints the sources.
fn dry_run() -> i32 {
    use smelt_compiler::backend::cuda;
    use smelt_compiler::{passes, plan};
    let mut status = 0;
    for w in workloads() {
        for &dt in w.dtypes {
            let m = match parse_module(&w.ir.replace("DT", dt)) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("{} {dt}: {e}", w.name);
                    status = 1;
                    continue;
                }
            };
            let mut g = m.funcs[0].clone();
            let tu = passes::optimize(&mut g)
                .map_err(|e| e.to_string())
                .and_then(|_| plan::plan(&g).map_err(|e| e.to_string()))
                .and_then(|p| cuda::plan_source(&g, &p).map_err(|e| e.to_string()));
            match tu {
                Ok(tu) => {
                    let body = tu.split("end of preamble ----").nth(1).unwrap_or("");
                    println!("// ===== {} {dt}{body}", w.name);
                    if cuda::nvrtc_available()
                        && let Err(e) = cuda::compile_ptx(&tu, 90)
                    {
                        eprintln!("{} {dt}: {e}", w.name);
                        status = 1;
                    }
                }
                Err(e) => {
                    eprintln!("{} {dt}: {e}", w.name);
                    status = 1;
                }
            }
        }
    }
    status
}

fn main() {
    let mut json_path: Option<String> = None;
    let mut iters = 30;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json_path = args.next(),
            "--iters" => iters = args.next().and_then(|s| s.parse().ok()).unwrap_or(iters),
            "--dry-run" => std::process::exit(dry_run()),
            _ => {
                eprintln!("usage: cuda-bench [--json PATH] [--iters N] | --dry-run");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = device_status() {
        eprintln!("cuda-bench: {e}");
        std::process::exit(2);
    }
    let mut gpu = match CudaBackend::new() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cuda-bench: {e}");
            std::process::exit(2);
        }
    };
    let device = gpu.device_name();
    println!("smelt CUDA backend on {device} (sm_{})", gpu.arch());
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for w in workloads() {
        for &dt in w.dtypes {
            match bench(&mut gpu, &w, dt, iters) {
                Ok(r) => rows.push(r),
                Err(e) => {
                    eprintln!("{} {dt}: {e}", w.name);
                    errors.push(format!("{} {dt}: {}", w.name, e.lines().next().unwrap_or("")));
                }
            }
        }
    }
    let launch_us = launch_overhead_us(&mut gpu).unwrap_or_else(|e| {
        errors.push(format!("launch overhead: {e}"));
        f64::NAN
    });
    let graph_us = graph_overhead_us(&mut gpu).unwrap_or_else(|e| {
        errors.push(format!("graph replay: {e}"));
        f64::NAN
    });
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<26} {:<5} {:>9} {:>9} {:>9} {:>7} {:>11} {:>7}",
        "workload", "dtype", "ms", "GB/s", "copy GB/s", "% copy", "compile ms", "kernels"
    );
    for r in &rows {
        let _ = writeln!(
            table,
            "{:<26} {:<5} {:>9.4} {:>9.0} {:>9.0} {:>6.1}% {:>11.1} {:>7}",
            r.workload,
            r.dtype,
            r.ms,
            r.gbs,
            r.copy_gbs,
            100.0 * r.gbs / r.copy_gbs,
            r.compile_ms,
            r.kernels
        );
    }
    let _ = writeln!(table, "host time per cached launch: {launch_us:.2} µs (target ≤ 5 µs)");
    let _ = writeln!(table, "host time per kernel replayed in a CUDA graph: {graph_us:.2} µs");
    print!("{table}");
    if let Some(p) = json_path {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"workload": r.workload, "dtype": r.dtype, "ms": r.ms, "gbs": r.gbs,
                    "copy_gbs": r.copy_gbs, "compile_ms": r.compile_ms, "kernels": r.kernels})
            })
            .collect();
        let doc = serde_json::json!({"device": device, "arch": gpu.arch(), "rows": items,
            "launch_us": launch_us, "graph_us_per_kernel": graph_us, "errors": errors});
        if let Err(e) = std::fs::write(&p, doc.to_string()) {
            eprintln!("cuda-bench: cannot write {p}: {e}");
        }
    }
    if !errors.is_empty() {
        std::process::exit(1);
    }
}
