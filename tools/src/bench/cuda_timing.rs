//! Timing on a CUDA device for `smelt bench --device cuda`: launches timed
//! together between two CUDA events (GPU time) and by the host clock (host
//! time per launch), the device-to-device copy ceiling, the host time of
//! one cached launch of a tiny kernel and per kernel of a plan replayed as a
//! CUDA graph, and seeded inputs written straight to the device.
//!
//! Benchmarks print and never assert: nothing here judges a time.

use std::time::Instant;

use smelt_compiler::backend::cuda::runtime::{CudaBackend, DeviceTensor};
use smelt_compiler::interp::{Bindings, concrete_shape};
use smelt_compiler::ir::{DType, Func, parse_module};

/// Results of this module: errors are one-line strings naming the step.
pub type Res<T> = Result<T, String>;

fn drv<T, E: std::fmt::Debug>(what: &str, r: Result<T, E>) -> Res<T> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

/// One timed batch of calls.
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    /// GPU milliseconds per call (CUDA events around the batch, divided).
    pub ms: f64,
    /// Host microseconds per call spent enqueuing (no synchronization inside).
    pub host_us: f64,
}

/// Runs `f` `warmup` times untimed, then `iters` times between two CUDA
/// events on the backend's stream; GPU and host time per call.
pub fn time_calls(
    gpu: &mut CudaBackend,
    warmup: usize,
    iters: usize,
    f: &mut dyn FnMut(&mut CudaBackend) -> Res<()>,
) -> Res<Timed> {
    use cudarc::driver::sys::CUevent_flags;
    for _ in 0..warmup {
        f(gpu)?;
    }
    let iters = iters.max(1);
    let ctx = gpu.context().clone();
    let start = drv("cuEventCreate", ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)))?;
    let end = drv("cuEventCreate", ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)))?;
    drv("cuEventRecord", start.record(gpu.stream()))?;
    let t0 = Instant::now();
    for _ in 0..iters {
        f(gpu)?;
    }
    let host = t0.elapsed();
    drv("cuEventRecord", end.record(gpu.stream()))?;
    drv("cuEventSynchronize", end.synchronize())?;
    let ms = drv("cuEventElapsedTime", start.elapsed_ms(&end))?;
    Ok(Timed { ms: f64::from(ms) / iters as f64, host_us: host.as_secs_f64() * 1e6 / iters as f64 })
}

/// GPU milliseconds of one device-to-device copy that reads and writes
/// `bytes` in all (`bytes / 2` each way, as BENCHMARKS.md counts them).
pub fn copy_ms(gpu: &mut CudaBackend, bytes: u64, iters: usize) -> Res<f64> {
    let half = usize::try_from(bytes / 2).map_err(|_| "copy size overflows usize")?.max(1);
    let stream = gpu.stream().clone();
    let src = drv("cuMemAlloc", stream.alloc_zeros::<u8>(half))?;
    let mut dst = drv("cuMemAlloc", stream.alloc_zeros::<u8>(half))?;
    let t = time_calls(gpu, 3, iters, &mut |_| {
        drv("cuMemcpyDtoD", stream.memcpy_dtod(&src, &mut dst))
    })?;
    Ok(t.ms)
}

/// Host microseconds per cached launch of a one-kernel function (no sync).
pub fn launch_overhead_us(gpu: &mut CudaBackend) -> Res<f64> {
    let m = parse_module(
        "func @tiny(%x: f32[256]) -> (f32[256]) {\n  %y = add(%x, 1.0)\n  return %y\n}",
    )
    .map_err(|e| e.to_string())?;
    let plan = gpu.compile(&m.funcs[0]).map_err(|e| e.to_string())?;
    let x = gpu
        .upload_bytes(DType::F32, &[256], &random_bytes(DType::F32, 256, 9, false)?)
        .map_err(|e| e.to_string())?;
    let b = Bindings::new();
    let t = time_calls(gpu, 100, 2000, &mut |g| {
        g.launch(&plan, &[&x], &b).map(drop).map_err(|e| e.to_string())
    })?;
    Ok(t.host_us)
}

/// Host microseconds per kernel when a 16-kernel plan replays as one CUDA graph.
pub fn graph_overhead_us(gpu: &mut CudaBackend) -> Res<f64> {
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
        .upload_bytes(DType::F32, &[64, 64], &random_bytes(DType::F32, 4096, 5, false)?)
        .map_err(|e| e.to_string())?;
    let cap = gpu.capture(&plan, &[&x], &Bindings::new()).map_err(|e| e.to_string())?;
    let t = time_calls(gpu, 20, 500, &mut |_| cap.replay().map_err(|e| e.to_string()))?;
    Ok(t.host_us / cap.kernels().max(1) as f64)
}

/// Seeded inputs for every parameter of `func` at `bindings`, written to
/// the device: uniform in [-1, 1), and in [0, 1) for parameters named `v…`
/// (AdamW's second moments, which get a sqrt), as the CPU suite's.
pub fn device_inputs(
    gpu: &CudaBackend,
    func: &Func,
    bindings: &Bindings,
) -> Res<Vec<DeviceTensor>> {
    func.params()
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let node = func.node(p);
            let shape = concrete_shape(&node.ty.shape, bindings).map_err(|e| e.to_string())?;
            let n: usize = shape.iter().product();
            let positive = node.name.as_deref().is_some_and(|s| s.starts_with('v'));
            let bytes = random_bytes(node.ty.dtype, n, i as u64 + 1, positive)?;
            gpu.upload_bytes(node.ty.dtype, &shape, &bytes).map_err(|e| e.to_string())
        })
        .collect()
}

/// Parts the generation is split into (one thread each): fixed, so the
/// values do not depend on the machine's core count.
const PARTS: usize = 16;

/// `n` pseudo-random values of `d` (f32 or bf16) as little-endian bytes, in
/// [-1, 1) or, when `positive`, [0, 1); generated in parallel.
pub fn random_bytes(d: DType, n: usize, seed: u64, positive: bool) -> Res<Vec<u8>> {
    let size = match d {
        DType::F32 | DType::BF16 => d.size_bytes(),
        _ => return Err(format!("the GPU benchmark makes f32 and bf16 inputs, not {d}")),
    };
    let mut out = vec![0u8; n * size];
    let per = n.div_ceil(PARTS).max(1) * size;
    std::thread::scope(|s| {
        for (k, chunk) in out.chunks_mut(per).enumerate() {
            s.spawn(move || {
                let mut st =
                    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((k as u64 + 1) << 32)) | 1;
                for v in chunk.chunks_exact_mut(size) {
                    // xorshift64
                    st ^= st << 13;
                    st ^= st >> 7;
                    st ^= st << 17;
                    let u = (st >> 40) as f32 / (1u64 << 24) as f32;
                    let x = if positive { u } else { 2.0 * u - 1.0 };
                    match d {
                        DType::BF16 => v.copy_from_slice(
                            &smelt_compiler::numerics::f32_to_bf16_bits(x).to_le_bytes(),
                        ),
                        _ => v.copy_from_slice(&x.to_le_bytes()),
                    }
                }
            });
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(b: &[u8]) -> Vec<f32> {
        b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }

    #[test]
    fn random_bytes_are_seeded_in_range_and_sized() {
        let a = random_bytes(DType::F32, 1001, 3, false).expect("f32");
        assert_eq!(a, random_bytes(DType::F32, 1001, 3, false).expect("f32"));
        assert_ne!(a, random_bytes(DType::F32, 1001, 4, false).expect("f32"));
        let v = f32s(&a);
        assert_eq!(v.len(), 1001);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(v.iter().any(|&x| x < 0.0) && v.iter().any(|&x| x > 0.0));
        let p = f32s(&random_bytes(DType::F32, 1001, 3, true).expect("f32"));
        assert!(p.iter().all(|x| (0.0..1.0).contains(x)));
        assert_eq!(random_bytes(DType::BF16, 7, 1, false).expect("bf16").len(), 14);
        assert!(random_bytes(DType::I64, 7, 1, false).is_err());
    }
}
