//! Temporary profiling driver (not committed).
use smelt_compiler::ir::DType;
use smelt_runtime::tensor::{MemoryFormat, Tensor};
use smelt_runtime::{Generator, autograd::no_grad, nn, zoo};
use std::cell::RefCell;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let name = a[1].clone();
    let cl = a[2] == "1";
    let batch: usize = a[3].parse().unwrap();
    let reps: usize = a[4].parse().unwrap();
    let mut model = zoo::get_model(&name, None, &zoo::ModelConfig::default()).unwrap();
    model.eval();
    if cl {
        nn::to_memory_format(model.as_mut(), MemoryFormat::ChannelsLast).unwrap();
    }
    let model = RefCell::new(model);
    let compiled = smelt_frontends::compile(move |xs: &[Tensor]| {
        Ok(vec![model.borrow_mut().forward(&xs[0])?])
    });
    let mut rng = Generator::new(1);
    let mut x = Tensor::randn(&[batch, 3, 224, 224], DType::F32, &mut rng).unwrap();
    if cl {
        x = x.to_memory_format(MemoryFormat::ChannelsLast).unwrap();
    }
    no_grad(|| compiled.call(std::slice::from_ref(&x))).unwrap();
    let mut ts = vec![];
    for _ in 0..reps {
        eprintln!("RUNMARK");
        let t = Instant::now();
        no_grad(|| compiled.call(std::slice::from_ref(&x))).unwrap();
        ts.push(t.elapsed().as_secs_f64());
    }
    ts.sort_by(f64::total_cmp);
    println!(
        "{name} cl={cl} b={batch}: median {:.1} ms, min {:.1} ms, {:.2} img/s",
        ts[reps / 2] * 1e3,
        ts[0] * 1e3,
        batch as f64 / ts[reps / 2]
    );
}
