//! GFLOP/s of ResNet-50's conv shapes through the CPU backend, NCHW against
//! channels-last (`{nhwc}` parameters), each conv alone in a function that
//! sums its output (a full sum costs the same in both layouts and keeps the
//! channels-last output from being transposed back). Best of 15 runs after
//! a warm-up; inputs are deterministic, not random.
//!
//! ```sh
//! cargo run --release -p smelt-tools --example conv_layouts -- [THREADS] [BATCH]
//! ```

use std::time::Instant;

use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{Buffer, CpuBackend, CpuOptions};
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{DType, parse_func};

/// (input channels, input side, output channels, kernel, stride) of the
/// convs of ResNet-50's four stages.
const SHAPES: [(usize, usize, usize, usize, usize); 12] = [
    (64, 56, 64, 1, 1),
    (64, 56, 64, 3, 1),
    (64, 56, 256, 1, 1),
    (256, 56, 64, 1, 1),
    (128, 28, 128, 3, 1),
    (512, 28, 128, 1, 1),
    (256, 14, 256, 3, 1),
    (1024, 14, 256, 1, 1),
    (256, 14, 1024, 1, 1),
    (512, 7, 512, 3, 1),
    (2048, 7, 512, 1, 1),
    (512, 7, 2048, 1, 1),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).map(|s| s.parse()).collect::<Result<_, _>>()?;
    let threads = args.first().copied().unwrap_or(2);
    let n = args.get(1).copied().unwrap_or(8);
    println!("conv shapes of ResNet-50, batch {n}, {threads} threads, GFLOP/s (best of 15)");
    println!("{:<28} {:>8} {:>8} {:>7}", "conv", "NCHW", "NHWC", "NHWC/NCHW");
    for (c, h, oc, k, s) in SHAPES {
        let rate = |nhwc: bool| gflops(n, c, h, oc, k, s, threads, nhwc);
        let (a, b) = (rate(false)?, rate(true)?);
        let name = format!("{c}->{oc} {k}x{k}/{s} at {h}x{h}");
        println!("{name:<28} {a:>8.1} {b:>8.1} {:>8.2}x", b / a);
    }
    Ok(())
}

/// GFLOP/s of one conv (padding `k / 2`), in one layout.
#[allow(clippy::too_many_arguments)]
fn gflops(
    n: usize,
    c: usize,
    h: usize,
    oc: usize,
    k: usize,
    s: usize,
    threads: usize,
    nhwc: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let p = k / 2;
    let o = (h + 2 * p - k) / s + 1;
    let t = if nhwc { "{nhwc}" } else { "" };
    let src = format!(
        "func @c(%x: f32[{n}, {c}, {h}, {h}]{t}, %w: f32[{oc}, {c}, {k}, {k}]{t}) -> (f32[]) {{
  %y = conv2d(%x, %w) stride=[{s}, {s}] padding=[{p}, {p}] : f32[{n}, {oc}, {o}, {o}]
  %z = sum(%y) dims=[0, 1, 2, 3] keepdim=false : f32[]
  return %z
}}"
    );
    let f = parse_func(&src)?;
    let filled = |shape: &[usize]| {
        let len = shape.iter().product::<usize>();
        let v = (0..len).map(|i| ((i * 7919) % 101) as f64 / 101.0 - 0.5).collect();
        Buffer::from_host(&HostTensor::from_f64(DType::F32, shape, v))
    };
    let ins = vec![filled(&[n, c, h, h]), filled(&[oc, c, k, k])];
    let mut cpu = CpuBackend::new(CpuOptions { threads, ..CpuOptions::default() })?;
    let syms = Bindings::new();
    let mut best = f64::MAX;
    for rep in 0..16 {
        let start = Instant::now();
        let out = cpu.run_buffers(&f, &ins, &syms)?;
        if rep > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
        cpu.recycle(out);
    }
    Ok(2.0 * (n * oc * o * o * c * k * k) as f64 / best / 1e9)
}
