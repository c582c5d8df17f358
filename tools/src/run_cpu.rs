//! `smelt run --backend cpu`: the function optimized by the default pass
//! pipeline, then run by the CPU backend (`--fusion on|off`, `--numerics
//! fused|eager`, `--fallback interp`), and with `--bench N` timed over N more
//! runs, printed as one JSON line:
//! `{"median_ms", "min_ms", "bytes", "gbps", "compile_ms", "kernels",
//! "vectorized"}` (timed on byte buffers, without host conversions) where
//! `bytes` counts the inputs read and the results written once (the least
//! traffic any implementation needs) and `compile_ms` is the first run's
//! compile time.

use std::time::Instant;

use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{Buffer, CpuBackend, CpuOptions, Numerics};
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::Func;
use smelt_compiler::passes;

use crate::run::RunArgs;

/// Runs `func` on the CPU backend; the results, and the bench JSON line (or "").
pub fn run_cpu(
    func: &Func,
    inputs: &[HostTensor],
    bindings: &Bindings,
    args: &RunArgs,
) -> Result<(Vec<HostTensor>, String), String> {
    let mut f = func.clone();
    passes::optimize(&mut f).map_err(|e| e.to_string())?;
    let opts = CpuOptions {
        fusion: args.fusion == "on",
        numerics: if args.numerics == "eager" { Numerics::Eager } else { Numerics::Fused },
        fallback_interp: args.fallback.is_some(),
        ..CpuOptions::default()
    };
    let mut cpu = CpuBackend::new(opts).map_err(|e| e.to_string())?;
    let results = cpu.run(&f, inputs, bindings).map_err(|e| e.to_string())?;
    let Some(n) = args.bench else { return Ok((results, String::new())) };
    let compile_ms = cpu.last.compile_ms;
    let kernels = cpu.last.kernels;
    let vectorized = cpu.last.vectorized;
    // Time the kernels on device buffers, not the host conversions around them.
    let bufs: Vec<Buffer> = inputs.iter().map(Buffer::from_host).collect();
    let mut times = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let outs = cpu.run_buffers(&f, &bufs, bindings).map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        cpu.recycle(outs);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let min = times[0];
    let size = |t: &HostTensor| t.numel() * t.dtype.size_bytes();
    let bytes: usize =
        inputs.iter().map(size).sum::<usize>() + results.iter().map(size).sum::<usize>();
    let gbps = bytes as f64 / (median * 1e-3) / 1e9;
    let json = serde_json::json!({
        "median_ms": median,
        "min_ms": min,
        "bytes": bytes,
        "gbps": gbps,
        "compile_ms": compile_ms,
        "kernels": kernels,
        "vectorized": vectorized,
    });
    Ok((results, format!("{json}\n")))
}
