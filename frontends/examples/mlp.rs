//! The README's example: an MLP block written with the eager runtime, run
//! eagerly, then compiled; a new batch size reuses the compiled graph once
//! its batch dim has gone symbolic. `cargo run --release -p smelt-frontends --example mlp`

use smelt_compiler::ir::DType;
use smelt_frontends::compile;
use smelt_runtime::functional::{Approximate, gelu, layer_norm, linear};
use smelt_runtime::{Generator, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Generator::new(0);
    let w1 = Tensor::randn(&[512, 128], DType::F32, &mut rng)?.mul(0.05)?;
    let w2 = Tensor::randn(&[128, 512], DType::F32, &mut rng)?.mul(0.05)?;
    let (g, b) = (Tensor::ones(&[128], DType::F32)?, Tensor::zeros(&[128], DType::F32)?);
    // An eager program: every op runs now, as a cached one-op kernel.
    let block = move |xs: &[Tensor]| -> smelt_runtime::tensor::Result<Vec<Tensor>> {
        let h = gelu(&linear(&xs[0], &w1, None)?, Approximate::None)?;
        let y = linear(&h, &w2, None)?.add(&xs[0])?;
        Ok(vec![layer_norm(&y, &[128], Some(&g), Some(&b), 1e-5)?])
    };
    let x = Tensor::randn(&[8, 128], DType::F32, &mut rng)?;
    let eager = block(std::slice::from_ref(&x))?;
    // The same program compiled: traced once, fused, replayed on a hit.
    let compiled = compile(block);
    let fused = compiled.call(std::slice::from_ref(&x))?;
    let (a, e) = (fused[0].to_vec::<f32>()?, eager[0].to_vec::<f32>()?);
    let diff = a.iter().zip(&e).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
    println!("max |compiled - eager| = {diff:e}");
    for batch in [3, 5, 7] {
        compiled.call(&[Tensor::randn(&[batch, 128], DType::F32, &mut rng)?])?;
    }
    print!("{}", compiled.explain());
    Ok(())
}
