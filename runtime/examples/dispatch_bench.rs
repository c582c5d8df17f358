//! Host time per small eager op: `add` of two f32 tensors of 4 and of 1024
//! elements, after a warm-up (so the signature is compiled and cached).
//! Run with `cargo run --release -p smelt-runtime --example dispatch_bench`.

use std::time::Instant;

use smelt_compiler::ir::DType;
use smelt_runtime::tensor::{Result, Tensor};

fn bench(n: usize) -> Result<f64> {
    let a = Tensor::arange(0.0, n as f64, 1.0, DType::F32)?;
    let b = Tensor::ones(&[n], DType::F32)?;
    for _ in 0..1000 {
        a.add(&b)?;
    }
    let iters = 50_000;
    let t = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(a.add(&b)?);
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / iters as f64)
}

fn main() -> Result<()> {
    for n in [4, 1024] {
        println!("add f32[{n}]: {:.2} us/op", bench(n)?);
    }
    println!("kernels compiled: {}", smelt_runtime::exec::kernels_compiled());
    Ok(())
}
