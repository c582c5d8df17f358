//! Eager vs compiled time of a post-LN transformer encoder layer at
//! [2, 64, 128] (4 heads, MLP 512), and the per-call overhead of eager
//! dispatch and of a compiled call on a one-op program. Not a test: run with
//! `cargo run --release -p smelt-frontends --example compile_bench`.

use std::time::Instant;

use smelt_compiler::ir::DType;
use smelt_frontends::compile;
use smelt_runtime::functional::{Approximate, gelu, layer_norm, linear, softmax};
use smelt_runtime::tensor::Result;
use smelt_runtime::{Generator, Tensor};

const D: usize = 128;
const HEADS: usize = 4;
const FF: usize = 512;

/// The layer's weights, in BERT's order: q, k, v, o, ln1, up, down, ln2.
fn weights(rng: &mut Generator) -> Result<Vec<Tensor>> {
    let mut w = Vec::new();
    let mut lin = |o: usize, i: usize, w: &mut Vec<Tensor>| -> Result<()> {
        w.push(Tensor::randn(&[o, i], DType::F32, rng)?.mul(1.0 / (i as f64).sqrt())?);
        w.push(Tensor::zeros(&[o], DType::F32)?);
        Ok(())
    };
    for _ in 0..4 {
        lin(D, D, &mut w)?;
    }
    w.push(Tensor::ones(&[D], DType::F32)?);
    w.push(Tensor::zeros(&[D], DType::F32)?);
    lin(FF, D, &mut w)?;
    lin(D, FF, &mut w)?;
    w.push(Tensor::ones(&[D], DType::F32)?);
    w.push(Tensor::zeros(&[D], DType::F32)?);
    Ok(w)
}

fn layer(x: &Tensor, w: &[Tensor]) -> Result<Tensor> {
    let (b, s) = (x.shape()[0] as isize, x.shape()[1] as isize);
    let (h, dh) = (HEADS as isize, (D / HEADS) as isize);
    let split = |k: usize| -> Result<Tensor> {
        linear(x, &w[k], Some(&w[k + 1]))?.reshape(&[b, s, h, dh])?.permute(&[0, 2, 1, 3])
    };
    let (q, k, v) = (split(0)?, split(2)?, split(4)?);
    let p = softmax(&q.matmul(&k.transpose(2, 3)?)?.div((dh as f64).sqrt())?, -1)?;
    let ctx = p.matmul(&v)?.permute(&[0, 2, 1, 3])?.reshape(&[b, s, D as isize])?;
    let a = x.add(&linear(&ctx, &w[6], Some(&w[7]))?)?;
    let a = layer_norm(&a, &[D], Some(&w[8]), Some(&w[9]), 1e-12)?;
    let m = linear(
        &gelu(&linear(&a, &w[10], Some(&w[11]))?, Approximate::None)?,
        &w[12],
        Some(&w[13]),
    )?;
    layer_norm(&a.add(&m)?, &[D], Some(&w[14]), Some(&w[15]), 1e-12)
}

/// Median of `reps` timings of `f`, in ms.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut ts: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[ts.len() / 2]
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut rng = Generator::new(0);
    let w = weights(&mut rng)?;
    let x = Tensor::randn(&[2, 64, D], DType::F32, &mut rng)?;
    let w2 = w.clone();
    let c = compile(move |x| Ok(vec![layer(&x[0], &w2)?]));
    let inputs = [x.clone()];
    let t0 = Instant::now();
    c.call(&inputs)?;
    let first = t0.elapsed().as_secs_f64() * 1e3;
    layer(&x, &w)?; // warm eager's one-op kernels
    let reps = 30;
    let eager = time(reps, || {
        layer(&x, &w).expect("eager");
    });
    let compiled = time(reps, || {
        c.call(&inputs).expect("compiled");
    });
    println!("transformer layer [2, 64, {D}], {HEADS} heads, MLP {FF}, median of {reps}:");
    println!("  first compiled call (trace + compile): {first:.2} ms");
    println!("  eager:    {eager:.3} ms");
    println!("  compiled: {compiled:.3} ms  ({:.2}x)", eager / compiled);
    print!("{}", c.explain());
    // Per-call overhead: a one-op program on four elements.
    let small = Tensor::randn(&[4], DType::F32, &mut rng)?;
    let tiny = compile(|x| Ok(vec![x[0].add(1.0)?]));
    let one = [small.clone()];
    tiny.call(&one)?;
    small.add(1.0)?;
    let reps = 2000;
    let eager_us = time(reps, || {
        small.add(1.0).expect("eager");
    }) * 1e3;
    let compiled_us = time(reps, || {
        tiny.call(&one).expect("compiled");
    }) * 1e3;
    println!(
        "one add on f32[4], median of {reps}: eager {eager_us:.2} us, compiled call {compiled_us:.2} us"
    );
    Ok(())
}
