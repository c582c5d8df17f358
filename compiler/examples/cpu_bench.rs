//! Bandwidth of the CPU backend on BENCHMARKS.md's normalization and
//! pointwise workloads, fused and unfused, against a plain copy of the same
//! bytes measured in the same run, plus compile time per kernel. Not a test:
//! `cargo run --release -p smelt-compiler --example cpu_bench [f32|bf16] [rows]`.

use std::time::Instant;

use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{Buffer, CpuBackend, CpuOptions, Numerics};
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{DType, parse_func};

const WORKLOADS: [(&str, &str); 4] = [
    (
        "layernorm",
        "func @ln(%x: T[N, 1024], %w: T[1024], %b: T[1024]) -> (T[N, 1024]) {
  %mu = mean(%x) dims=[1] keepdim=true
  %d = sub(%x, %mu)
  %sq = mul(%d, %d)
  %var = mean(%sq) dims=[1] keepdim=true
  %ve = add(%var, 1e-5)
  %r = rsqrt(%ve)
  %n = mul(%d, %r)
  %s = mul(%n, %w)
  %y = add(%s, %b)
  return %y
}",
    ),
    (
        "softmax",
        "func @softmax(%x: T[N, 1024]) -> (T[N, 1024]) {
  %m = max(%x) dims=[1] keepdim=true
  %s = sub(%x, %m)
  %e = exp(%s)
  %z = sum(%e) dims=[1] keepdim=true
  %y = div(%e, %z)
  return %y
}",
    ),
    (
        "rmsnorm",
        "func @rms(%x: T[N, 1024], %w: T[1024]) -> (T[N, 1024]) {
  %sq = mul(%x, %x)
  %ms = mean(%sq) dims=[1] keepdim=true
  %e = add(%ms, 1e-6)
  %r = rsqrt(%e)
  %n = mul(%x, %r)
  %y = mul(%n, %w)
  return %y
}",
    ),
    (
        "gelu",
        "func @gelu(%x: T[M]) -> (T[M]) {
  %a = mul(%x, 1.7)
  %b = add(%a, 0.3)
  %h = mul(%b, 0.7071067811865476)
  %e = erf(%h)
  %e1 = add(%e, 1.0)
  %g = mul(%b, %e1)
  %y = mul(%g, 0.5)
  return %y
}",
    ),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dtype = args.get(1).and_then(|s| DType::from_name(s)).unwrap_or(DType::F32);
    let rows: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16384);
    let reps = 15;
    println!("dtype {dtype}, rows {rows}, threads {}", CpuOptions::default().threads);
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "workload", "fused", "unfused", "copy", "ratio", "kernels", "compile"
    );
    for (name, src) in WORKLOADS {
        let src = src.replace('T', dtype.name());
        let f = parse_func(&src).expect("parse");
        let mut syms = Bindings::new();
        syms.insert("N".into(), rows as u64);
        syms.insert("M".into(), (rows * 1024) as u64);
        let inputs: Vec<Buffer> = f
            .params()
            .iter()
            .map(|&p| {
                let shape: Vec<usize> = f
                    .ty(p)
                    .shape
                    .dims()
                    .iter()
                    .map(|d| match d {
                        smelt_compiler::ir::Dim::Const(c) => *c as usize,
                        smelt_compiler::ir::Dim::Sym(s) => syms[s] as usize,
                    })
                    .collect();
                let n: usize = shape.iter().product();
                let mut x: u64 = 12345;
                let v: Vec<f64> = (0..n)
                    .map(|_| {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        ((x >> 40) as f64 / (1u64 << 24) as f64) * 6.0 - 3.0
                    })
                    .collect();
                Buffer::from_host(&HostTensor::from_f64(dtype, &shape, v))
            })
            .collect();
        let bytes: usize =
            inputs.iter().map(|b| b.bytes().len()).sum::<usize>() + inputs[0].bytes().len();
        let mut gbps = Vec::new();
        let mut info = (0, 0.0);
        for fusion in [true, false] {
            let opts = CpuOptions { fusion, numerics: Numerics::Fused, ..CpuOptions::default() };
            let mut cpu = CpuBackend::new(opts).expect("backend");
            let outs = cpu.run_buffers(&f, &inputs, &syms).expect("run");
            if fusion {
                info = (cpu.last.kernels, cpu.last.compile_ms / cpu.last.compiled.max(1) as f64);
            }
            cpu.recycle(outs);
            let mut t = Vec::new();
            for _ in 0..reps {
                let s = Instant::now();
                let outs = cpu.run_buffers(&f, &inputs, &syms).expect("run");
                t.push(s.elapsed().as_secs_f64());
                cpu.recycle(outs);
            }
            let m = median(t);
            gbps.push((bytes as f64 / m / 1e9, m * 1e3));
        }
        // A copy of the same bytes: read as many as the workload reads, write the rest.
        let src_bytes = vec![1u8; bytes / 2];
        let mut dst = vec![0u8; bytes / 2];
        let mut t = Vec::new();
        for _ in 0..reps {
            let s = Instant::now();
            dst.copy_from_slice(&src_bytes);
            t.push(s.elapsed().as_secs_f64());
            std::hint::black_box(&dst);
        }
        let cm = median(t);
        let copy = bytes as f64 / cm / 1e9;
        let cell = |g: f64, ms: f64| format!("{g:.2}GB/s {ms:.1}ms");
        println!(
            "{name:<10} {:>16} {:>16} {:>16} {:>5.0}% {:>7} {:>8.2}ms",
            cell(gbps[0].0, gbps[0].1),
            cell(gbps[1].0, gbps[1].1),
            cell(copy, cm * 1e3),
            100.0 * gbps[0].0 / copy,
            info.0,
            info.1
        );
    }
}
