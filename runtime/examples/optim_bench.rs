//! The fused AdamW step's throughput: 64 f32 tensors of 2^16 elements,
//! counting the bytes a step must move (read p, g, m, v; write p, m, v),
//! against a memcpy of the same number of bytes (half read, half written)
//! in the same run, for both [`Fusion`] modes (per-dtype with fewer
//! iterations: its concat lowering is slow today). Run with `cargo run -p smelt-runtime --release
//! --example optim_bench`.

use std::time::Instant;

use smelt_compiler::ir::DType;
use smelt_compiler::plan::plan;
use smelt_runtime::exec::kernels_compiled;
use smelt_runtime::optim::{Adam, AdamConfig, Fusion};
use smelt_runtime::tensor::{Generator, Result, Tensor};

const TENSORS: usize = 64;
const NUMEL: usize = 1 << 16;
const ITERS: usize = 30;

/// Seconds per AdamW step in `fusion` mode; prints the kernel counts.
fn time_step(fusion: Fusion, warmup: usize, iters: usize) -> Result<f64> {
    let mut rng = Generator::new(0);
    let shape = [NUMEL];
    let mut params: Vec<Tensor> =
        (0..TENSORS).map(|_| Tensor::randn(&shape, DType::F32, &mut rng)).collect::<Result<_>>()?;
    let grads: Vec<Tensor> =
        (0..TENSORS).map(|_| Tensor::randn(&shape, DType::F32, &mut rng)).collect::<Result<_>>()?;
    let mut opt = Adam::new(AdamConfig::adamw(1e-3))?.with_fusion(fusion);
    let kernels = plan(opt.step_func(&params)?).map(|p| p.kernels.len()).unwrap_or(0);
    let before = kernels_compiled();
    for _ in 0..warmup {
        params = opt.step(&params, &grads)?;
    }
    let compiled = kernels_compiled() - before;
    let t = Instant::now();
    for _ in 0..iters {
        params = opt.step(&params, &grads)?;
    }
    println!("{fusion:?}: {kernels} planned kernel(s), {compiled} compiled");
    Ok(t.elapsed().as_secs_f64() / iters as f64)
}

fn main() -> Result<()> {
    let bytes = (7 * TENSORS * NUMEL * 4) as f64;
    let per_tensor = time_step(Fusion::PerTensor, 3, ITERS)?;
    let per_dtype = time_step(Fusion::PerDtype, 1, 1)?;

    // memcpy moving the same bytes: read `bytes / 2`, write `bytes / 2`.
    let half = (bytes / 2.0) as usize;
    let src: Vec<u8> = (0..half).map(|i| i as u8).collect();
    let mut dst = vec![0u8; half];
    dst.copy_from_slice(&src);
    let t = Instant::now();
    for _ in 0..ITERS {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
    }
    let copy_s = t.elapsed().as_secs_f64() / ITERS as f64;

    println!("AdamW step, {TENSORS} x {NUMEL} f32 ({:.1} MB moved per step):", bytes / 1e6);
    for (name, s) in [("per-tensor", per_tensor), ("per-dtype", per_dtype), ("memcpy", copy_s)] {
        println!(
            "  {name:<10} {:10.3} ms {:7.2} GB/s ({:.0}% of memcpy)",
            s * 1e3,
            bytes / s / 1e9,
            100.0 * copy_s / s
        );
    }
    Ok(())
}
