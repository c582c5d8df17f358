//! Host time per small eager op: `add` of two f32 tensors of 4 and of 1024
//! elements, after a warm-up (so the signature is compiled and cached);
//! the median and the best of 7 batches of 20,000 ops (the best is what a
//! quiet machine gives when others share the cores).
//! Run with `cargo run --release -p smelt-runtime --example dispatch_bench`.

use std::time::Instant;

use smelt_compiler::ir::DType;
use smelt_runtime::tensor::{Result, Tensor};

fn bench(n: usize) -> Result<(f64, f64)> {
    let a = Tensor::arange(0.0, n as f64, 1.0, DType::F32)?;
    let b = Tensor::ones(&[n], DType::F32)?;
    for _ in 0..1000 {
        a.add(&b)?;
    }
    let iters = 20_000;
    let mut batches = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(a.add(&b)?);
        }
        batches.push(t.elapsed().as_secs_f64() * 1e6 / iters as f64);
    }
    batches.sort_by(f64::total_cmp);
    Ok((batches[3], batches[0]))
}

fn main() -> Result<()> {
    for n in [4, 1024] {
        let (median, best) = bench(n)?;
        println!("add f32[{n}]: {median:.2} us/op median, {best:.2} best");
    }
    println!("kernels compiled: {}", smelt_runtime::exec::kernels_compiled());
    Ok(())
}
