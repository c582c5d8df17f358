//! Temporary conv microbenchmark (not committed).
use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{Buffer, CpuBackend, CpuOptions};
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{DType, parse_func};
use std::time::Instant;
fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (n, c, h, oc, k, s, threads, nhwc) = (a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7] == 1);
    let p = k / 2;
    let o = (h + 2 * p - k) / s + 1;
    let t = if nhwc { "{nhwc}" } else { "" };
    let src = format!(
        "func @c(%x: f32[{n}, {c}, {h}, {h}]{t}, %w: f32[{oc}, {c}, {k}, {k}]{t}) -> (f32[{n}, {o}, {o}]) {{\n  %y = conv2d(%x, %w) stride=[{s}, {s}] padding=[{p}, {p}] : f32[{n}, {oc}, {o}, {o}]\n  %z = sum(%y) dims=[1] keepdim=false : f32[{n}, {o}, {o}]\n  return %z\n}}"
    );
    let f = parse_func(&src).unwrap();
    let mk = |shape: &[usize]| {
        Buffer::from_host(&HostTensor::from_f64(
            DType::F32,
            shape,
            (0..shape.iter().product::<usize>())
                .map(|i| ((i * 7919) % 101) as f64 / 101.0 - 0.5)
                .collect(),
        ))
    };
    let ins = vec![mk(&[n, c, h, h]), mk(&[oc, c, k, k])];
    let mut cpu = CpuBackend::new(CpuOptions { threads, ..CpuOptions::default() }).unwrap();
    let syms = Bindings::new();
    let r = cpu.run_buffers(&f, &ins, &syms).unwrap();
    cpu.recycle(r);
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t0 = Instant::now();
        let r = cpu.run_buffers(&f, &ins, &syms).unwrap();
        best = best.min(t0.elapsed().as_secs_f64());
        cpu.recycle(r);
    }
    let flops = 2.0 * (n * oc * o * o * c * k * k) as f64;
    println!(
        "n{n} c{c} h{h} oc{oc} k{k} s{s} t{threads} nhwc={nhwc}: {:.3} ms, {:.1} GFLOP/s",
        best * 1e3,
        flops / best / 1e9
    );
}
