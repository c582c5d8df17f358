//! NCHW vs channels-last on the CPU backend: ResNet-50's `layer1` (three
//! bottlenecks, the first with a projection shortcut; batch norm in its
//! eval form as per-channel `mul`/`add`) at batch 8, 56×56, run once with
//! row-major parameters and once with `{nhwc}` ones (the layout pass and
//! the NHWC kernels). Prints the median time of each and the ratio.
//!
//! `cargo run --release -p smelt-compiler --example nhwc_bench [-- BATCH RUNS [gap]]`
//! (threads: `SMELT_NUM_THREADS`, default all cores).

use std::fmt::Write;
use std::time::Instant;

use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{Buffer, CpuBackend, CpuOptions};
use smelt_compiler::interp::{self, Bindings};
use smelt_compiler::ir::{DType, Func, parse_func};

/// The IR text of layer1; `layout` is `{nhwc}` or empty. With `gap` the
/// result is the global average pool `[N, 256]` (as ResNet's head reads it)
/// instead of the NCHW feature map.
fn layer1(batch: usize, layout: &str, gap: bool) -> String {
    let mut params = vec![format!("%x: f32[{batch}, 64, 56, 56]{layout}")];
    let mut body = String::new();
    let mut n = 0;
    let mut conv =
        |body: &mut String, params: &mut Vec<String>, x: &str, ic: usize, oc: usize, k: usize| {
            n += 1;
            let pad = k / 2;
            params.push(format!("%w{n}: f32[{oc}, {ic}, {k}, {k}]{layout}"));
            params.push(format!("%s{n}: f32[{oc}, 1, 1]"));
            params.push(format!("%b{n}: f32[{oc}, 1, 1]"));
            let _ = writeln!(body, "  %c{n} = conv2d({x}, %w{n}) padding=[{pad}, {pad}]");
            let _ = writeln!(body, "  %m{n} = mul(%c{n}, %s{n})");
            let _ = writeln!(body, "  %a{n} = add(%m{n}, %b{n})");
            format!("%a{n}")
        };
    let mut x = "%x".to_string();
    for block in 0..3 {
        let ic = if block == 0 { 64 } else { 256 };
        let a = conv(&mut body, &mut params, &x, ic, 64, 1);
        let _ = writeln!(body, "  %r{block}a = relu({a})");
        let b = conv(&mut body, &mut params, &format!("%r{block}a"), 64, 64, 3);
        let _ = writeln!(body, "  %r{block}b = relu({b})");
        let c = conv(&mut body, &mut params, &format!("%r{block}b"), 64, 256, 1);
        let short =
            if block == 0 { conv(&mut body, &mut params, &x, 64, 256, 1) } else { x.clone() };
        let _ = writeln!(body, "  %sum{block} = add({c}, {short})");
        let _ = writeln!(body, "  %out{block} = relu(%sum{block})");
        x = format!("%out{block}");
    }
    let ret = if gap {
        let _ = writeln!(body, "  %gap = mean({x}) dims=[2, 3] keepdim=false");
        x = "%gap".into();
        format!("f32[{batch}, 256]")
    } else {
        format!("f32[{batch}, 256, 56, 56]")
    };
    format!("func @layer1({}) -> ({ret}) {{\n{body}  return {x}\n}}\n", params.join(", "))
}

fn inputs(f: &Func) -> Vec<HostTensor> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    f.params()
        .iter()
        .map(|&p| {
            let dims: Vec<usize> =
                f.ty(p).shape.as_consts().unwrap().into_iter().map(|d| d as usize).collect();
            let n: usize = dims.iter().product();
            let fan = if dims.len() == 4 { dims[1] * dims[2] * dims[3] } else { 1 };
            let scale = 1.0 / (fan as f64).sqrt();
            let data = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0 * scale
                })
                .collect();
            HostTensor::from_f64(DType::F32, &dims, data)
        })
        .collect()
}

/// Median seconds of `runs` runs of `f` on `bufs` (after one warm-up run).
fn time(cpu: &mut CpuBackend, f: &Func, bufs: &[Buffer], syms: &Bindings, runs: usize) -> f64 {
    let mut t = Vec::new();
    for i in 0..=runs {
        let start = Instant::now();
        let out = cpu.run_buffers(f, bufs, syms).expect("run");
        let s = start.elapsed().as_secs_f64();
        cpu.recycle(out);
        if i > 0 {
            t.push(s);
        }
    }
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let gap = std::env::args().any(|a| a == "gap");
    let batch = args.first().copied().unwrap_or(8);
    let runs = args.get(1).copied().unwrap_or(5);
    let nchw = parse_func(&layer1(batch, "", gap)).expect("nchw");
    let nhwc = parse_func(&layer1(batch, "{nhwc}", gap)).expect("nhwc");
    let ins = inputs(&nchw);
    let mut cpu = CpuBackend::new(CpuOptions::default()).expect("backend");
    // Same logical inputs through both: the results must agree.
    let a = cpu.run(&nchw, &ins, &Bindings::new()).expect("nchw run");
    let b = cpu.run(&nhwc, &ins, &Bindings::new()).expect("nhwc run");
    let (x, y) = (a[0].to_f64_vec(), b[0].to_f64_vec());
    let num: f64 = x.iter().zip(&y).map(|(p, q)| (p - q) * (p - q)).sum();
    let den: f64 = x.iter().map(|p| p * p).sum();
    println!(
        "layer1{} batch {batch}: rel L2 nhwc vs nchw = {:.2e}",
        if gap { " + global avg pool" } else { "" },
        (num / den).sqrt()
    );
    let stats = &cpu.last;
    println!("nhwc run: {} kernels, {} vectorized", stats.kernels, stats.vectorized);
    for (name, _) in cpu.clif(&nhwc).unwrap_or_default().iter().take(0) {
        println!("{name}");
    }
    let syms = interp::bind_symbols(&nchw, &ins, &Bindings::new()).expect("syms");
    // Buffers: for the timing only the sizes matter (NHWC bytes are a
    // permutation of the same values).
    let bufs: Vec<Buffer> = ins.iter().map(Buffer::from_host).collect();
    // Alternate the two, so both see the same machine load.
    let (mut t_nchw, mut t_nhwc) = (Vec::new(), Vec::new());
    // `SMELT_BENCH_ONLY=nchw|nhwc` runs one of them (for profiling).
    let only = std::env::var("SMELT_BENCH_ONLY").unwrap_or_default();
    for _ in 0..runs {
        if only != "nhwc" {
            t_nchw.push(time(&mut cpu, &nchw, &bufs, &syms, 1));
        }
        if only != "nchw" {
            t_nhwc.push(time(&mut cpu, &nhwc, &bufs, &syms, 1));
        }
    }
    t_nchw.push(f64::NAN);
    t_nhwc.push(f64::NAN);
    let median = |mut t: Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let (t_nchw, t_nhwc) = (median(t_nchw), median(t_nhwc));
    let threads = cpu.options().threads;
    println!("threads {threads}, median of {runs}:");
    println!("  nchw {:8.1} ms  ({:.1} images/s)", t_nchw * 1e3, batch as f64 / t_nchw);
    println!("  nhwc {:8.1} ms  ({:.1} images/s)", t_nhwc * 1e3, batch as f64 / t_nhwc);
    println!("  nhwc speed-up over nchw: {:.2}x", t_nchw / t_nhwc);
}
