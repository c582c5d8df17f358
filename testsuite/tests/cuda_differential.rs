//! The CUDA backend against the reference interpreter, on a GPU:
//! (a) every op × dtype at awkward sizes, (b) every corpus case, (c) ≥ 200
//! seeded random graphs. Without a CUDA device (no driver, no GPU, no
//! NVRTC) each test prints "skipped: no CUDA device (…)" and passes.
//!
//! Accuracy bars (IR.md): rel-L2 over finite elements ≤ 1e-5 for f32,
//! 2e-3 for f16, 1e-2 for bf16 (1e-12 for f64, ours); an output takes the
//! loosest bar of the float dtypes its function uses (a bf16 value cast to
//! f32 carries bf16 error). NaN and ±Inf positions exact; integers and bools
//! exact. Cases the interpreter rejects at run time
//! (integer division by zero, …) are not compared: kernels give 0 there.

use std::collections::HashMap;

#[path = "cuda_emu/conv.rs"]
mod conv;
#[path = "cuda_emu/harness.rs"]
mod harness;
#[path = "cuda_emu/multi.rs"]
mod multi;

use harness::emulate;

use smelt_compiler::backend::cuda::{CudaBackend, runtime::device_status};
use smelt_compiler::ir::{DType, Func, parse_module};
use smelt_compiler::tensor::Data;
use smelt_compiler::{HostTensor, interp};
use smelt_testsuite::inputs::{Sizes, bind_all, random_inputs};
use smelt_testsuite::random_graph::random_func;

/// The number of random graphs (the issue asks for at least 200).
const RANDOM_GRAPHS: u64 = 250;

/// Random graphs whose results no f32 kernel can match: seed 206 takes the
/// cosine of a 24-element product (~1e20), where any rounding difference in
/// the product (f32 accumulation vs the interpreter's f64) changes the result.
const ILL_CONDITIONED: [u64; 1] = [206];

fn backend() -> Option<CudaBackend> {
    if let Err(e) = device_status() {
        eprintln!("skipped: no CUDA device ({e})");
        return None;
    }
    match CudaBackend::new() {
        Ok(b) => {
            eprintln!("CUDA device: {} (sm_{})", b.device_name(), b.arch());
            Some(b)
        }
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

fn bar(d: DType) -> f64 {
    match d {
        DType::F16 => 2e-3,
        DType::BF16 => 1e-2,
        DType::F64 => 1e-12,
        _ => 1e-5,
    }
}

/// The loosest bar of any float dtype in `f`: an output computed from f16
/// or bf16 values (then cast wider) carries their error.
fn loosest_bar(f: &Func) -> f64 {
    let mut nodes = f.params().to_vec();
    nodes.extend(f.program_order());
    nodes.iter().map(|&n| f.ty(n).dtype).filter(|d| d.is_float()).map(bar).fold(0.0, f64::max)
}

/// Compares GPU results with the interpreter's under the accuracy bars (each
/// output's own, or `floor` if looser).
fn compare(want: &[HostTensor], got: &[HostTensor], floor: f64) -> Result<(), String> {
    if want.len() != got.len() {
        return Err(format!("{} results, expected {}", got.len(), want.len()));
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w.dtype != g.dtype || w.shape != g.shape {
            return Err(format!(
                "result {i}: {}{:?}, expected {}{:?}",
                g.dtype, g.shape, w.dtype, w.shape
            ));
        }
        match (&w.data, &g.data) {
            (Data::Float(a), Data::Float(b)) => {
                let (mut num, mut den) = (0.0f64, 0.0f64);
                for (j, (&x, &y)) in a.iter().zip(b).enumerate() {
                    let special = |v: f64| {
                        if v.is_nan() {
                            1
                        } else if v == f64::INFINITY {
                            2
                        } else if v == f64::NEG_INFINITY {
                            3
                        } else {
                            0
                        }
                    };
                    if special(x) != special(y) {
                        return Err(format!("result {i} element {j}: {y} instead of {x}"));
                    }
                    if special(x) == 0 {
                        num += (x - y) * (x - y);
                        den += x * x;
                    }
                }
                let rel = if den > 0.0 { (num / den).sqrt() } else { num.sqrt() };
                let limit = bar(w.dtype).max(floor);
                if rel > limit {
                    return Err(format!(
                        "result {i} ({}): rel-L2 {rel:.3e} > {limit:.0e}",
                        w.dtype
                    ));
                }
            }
            (Data::Int(a), Data::Int(b)) => {
                if let Some(j) = a.iter().zip(b).position(|(x, y)| x != y) {
                    return Err(format!("result {i} element {j}: {} instead of {}", b[j], a[j]));
                }
            }
            (Data::Bool(a), Data::Bool(b)) => {
                if let Some(j) = a.iter().zip(b).position(|(x, y)| x != y) {
                    return Err(format!("result {i} element {j}: {} instead of {}", b[j], a[j]));
                }
            }
            _ => return Err(format!("result {i}: different kinds of data")),
        }
    }
    Ok(())
}

/// Runs one function on both; `Ok(false)` when the interpreter rejects the inputs.
fn check(gpu: &mut CudaBackend, f: &Func, sizes: &Sizes, seed: u64) -> Result<bool, String> {
    let inputs = random_inputs(f, sizes, seed)?;
    let Ok(want) = interp::run(f, &inputs, sizes) else { return Ok(false) };
    let got = gpu.run(f, &inputs, sizes).map_err(|e| format!("cuda: {e}"))?;
    compare(&want, &got, loosest_bar(f))?;
    Ok(true)
}

fn report(what: &str, failures: &[String], ran: usize) {
    eprintln!("{what}: {ran} compared, {} failed", failures.len());
    assert!(failures.is_empty(), "{what}: {} failures:\n{}", failures.len(), failures.join("\n\n"));
}

const FLOATS: [&str; 4] = ["f32", "f16", "bf16", "f64"];
const INTS: [&str; 4] = ["i64", "i32", "i8", "u8"];

/// Small functions: each op at each dtype it takes, at awkward sizes.
fn op_cases() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let float_unary = [
        "neg", "abs", "exp", "exp2", "log", "log2", "sqrt", "rsqrt", "recip", "sin", "cos", "tanh",
        "sigmoid", "erf", "floor", "ceil", "round", "sign", "relu",
    ];
    for d in FLOATS {
        for op in float_unary {
            out.push((
                format!("{op} {d}"),
                format!("func @f(%x: {d}[N]) -> ({d}[N]) {{\n  %y = {op}(%x)\n  return %y\n}}"),
            ));
        }
    }
    for d in INTS {
        for op in ["neg", "abs", "sign", "relu", "floor"] {
            out.push((
                format!("{op} {d}"),
                format!("func @f(%x: {d}[N]) -> ({d}[N]) {{\n  %y = {op}(%x)\n  return %y\n}}"),
            ));
        }
    }
    out.push((
        "not bool".into(),
        "func @f(%x: bool[N]) -> (bool[N]) {\n  %y = not(%x)\n  return %y\n}".into(),
    ));
    let arith = ["add", "sub", "mul", "div", "rem", "pow", "max", "min"];
    let cmp = ["eq", "ne", "lt", "le", "gt", "ge"];
    for d in FLOATS.iter().chain(&INTS) {
        for op in arith {
            // Broadcasting a [N, 1] column against a [3] row.
            out.push((format!("{op} {d}"), format!("func @f(%a: {d}[N, 1], %b: {d}[3]) -> ({d}[N, 3]) {{\n  %y = {op}(%a, %b)\n  return %y\n}}")));
        }
        for op in cmp {
            out.push((format!("{op} {d}"), format!("func @f(%a: {d}[N], %b: {d}[N]) -> (bool[N]) {{\n  %y = {op}(%a, %b)\n  return %y\n}}")));
        }
        for op in ["sum", "max", "min", "prod", "argmax", "argmin"] {
            let rd = if op.starts_with("arg") { "i64".to_string() } else { d.to_string() };
            out.push((format!("{op} rows {d}"), format!("func @f(%x: {d}[N, 7]) -> ({rd}[N]) {{\n  %y = {op}(%x) dims=[1] keepdim=false\n  return %y\n}}")));
            out.push((format!("{op} cols {d}"), format!("func @f(%x: {d}[N, 7]) -> ({rd}[1, 7]) {{\n  %y = {op}(%x) dims=[0] keepdim=true\n  return %y\n}}")));
        }
        for to in FLOATS.iter().chain(&INTS).chain(&["bool"]) {
            out.push((
                format!("cast {d}->{to}"),
                format!(
                    "func @f(%x: {d}[N]) -> ({to}[N]) {{\n  %y = cast(%x) to={to}\n  return %y\n}}"
                ),
            ));
        }
    }
    for d in FLOATS {
        out.push((format!("mean {d}"), format!("func @f(%x: {d}[N, 5]) -> ({d}[N]) {{\n  %y = mean(%x) dims=[1] keepdim=false\n  return %y\n}}")));
        out.push((format!("softmax {d}"), format!("func @f(%x: {d}[N, 33]) -> ({d}[N, 33]) {{\n  %m = max(%x) dims=[1] keepdim=true\n  %s = sub(%x, %m)\n  %e = exp(%s)\n  %z = sum(%e) dims=[1] keepdim=true\n  %y = div(%e, %z)\n  return %y\n}}")));
        // Row length 64: the vector path of the row template (8 or 4 per
        // access). (No argmax of %t here: %t is exact in f32 inside the kernel
        // but rounded per op by the interpreter, so ties can differ.)
        out.push((format!("layernorm64 {d}"), format!("func @f(%x: {d}[N, 64], %w: {d}[64], %r: {d}[N, 64]) -> ({d}[N, 64], {d}[N]) {{\n  %t = add(%x, %r)\n  %m = mean(%t) dims=[1] keepdim=true\n  %c = sub(%t, %m)\n  %q = mul(%c, %c)\n  %v = mean(%q) dims=[1] keepdim=true\n  %e = add(%v, 1e-5)\n  %s = rsqrt(%e)\n  %n = mul(%c, %s)\n  %y = mul(%n, %w)\n  %z = max(%t) dims=[1] keepdim=false\n  return %y, %z\n}}")));
        out.push((format!("matmul {d}"), format!("func @f(%a: {d}[2, N, 5], %b: {d}[5, 3]) -> ({d}[2, N, 3]) {{\n  %y = matmul(%a, %b)\n  return %y\n}}")));
        out.push((format!("select {d}"), format!("func @f(%c: bool[N], %a: {d}[N], %b: {d}[N]) -> ({d}[N]) {{\n  %y = select(%c, %a, %b)\n  return %y\n}}")));
    }
    out
}

/// Row kernels over a symbolic row length `L` (softmax, layer norm, argmax,
/// an integer sum, a mean over a strided middle dim) and transposes of the
/// innermost dim, each with the sizes to run it at: short rows at awkward
/// lengths, with few and with very many rows (the warp-per-row loop,
/// grid-stride over row groups), and long rows (the block loop); tiles with
/// edges that are not multiples of 32, batch dims, and more tiles than
/// blocks.
fn shape_cases() -> Vec<(String, String, Vec<Sizes>)> {
    let sizes = |pairs: &[(u64, u64)], a: &str, b: &str| -> Vec<Sizes> {
        pairs
            .iter()
            .map(|&(x, y)| HashMap::from([(a.to_string(), x), (b.to_string(), y)]))
            .collect()
    };
    let mut rows: Vec<(u64, u64)> = Vec::new();
    for l in [1u64, 7, 33, 100, 257, 512] {
        rows.push((3, l));
    }
    // Many rows: 777 rows are 98 groups of 8 warps, more than the 64 blocks
    // the emulation launches (2 "SMs" × 32), so row groups grid-stride.
    for l in [7u64, 100, 257] {
        rows.push((777, l));
    }
    rows.push((5, 33));
    // Long rows: the block loop, row-persistent up to 16 vectors per thread
    // (2100), re-reading the row beyond (20000).
    for l in [513u64, 1000, 2100, 20000] {
        rows.push((2, l));
    }
    let rows = sizes(&rows, "R", "L");
    let mut out = Vec::new();
    for d in FLOATS {
        out.push((format!("softmax R×L {d}"), format!("func @f(%x: {d}[R, L]) -> ({d}[R, L]) {{\n  %m = max(%x) dims=[1] keepdim=true\n  %s = sub(%x, %m)\n  %e = exp(%s)\n  %z = sum(%e) dims=[1] keepdim=true\n  %y = div(%e, %z)\n  return %y\n}}"), rows.clone()));
    }
    for d in ["f32", "bf16"] {
        out.push((format!("layernorm R×L {d}"), format!("func @f(%x: {d}[R, L], %w: {d}[L], %r: {d}[R, L]) -> ({d}[R, L], {d}[R]) {{\n  %t = add(%x, %r)\n  %m = mean(%t) dims=[1] keepdim=true\n  %c = sub(%t, %m)\n  %q = mul(%c, %c)\n  %v = mean(%q) dims=[1] keepdim=true\n  %e = add(%v, 1e-5)\n  %s = rsqrt(%e)\n  %n = mul(%c, %s)\n  %y = mul(%n, %w)\n  %z = max(%t) dims=[1] keepdim=false\n  return %y, %z\n}}"), rows.clone()));
    }
    out.push(("argmax R×L f32".into(), "func @f(%x: f32[R, L]) -> (i64[R]) {\n  %y = argmax(%x) dims=[1] keepdim=false\n  return %y\n}".into(), rows.clone()));
    out.push(("sum R×L i32".into(), "func @f(%x: i32[R, L]) -> (i32[R, 1]) {\n  %y = sum(%x) dims=[1] keepdim=true\n  return %y\n}".into(), rows.clone()));
    // Reduced dim in the middle: rows are strided, no vector path.
    out.push(("mean R×L×3 f32".into(), "func @f(%x: f32[R, L, 3]) -> (f32[R, 3]) {\n  %y = mean(%x) dims=[1] keepdim=false\n  return %y\n}".into(), rows.iter().filter(|s| s["R"] < 100).cloned().collect()));
    let mn = sizes(&[(1, 1), (33, 70), (32, 64), (100, 9), (1, 40)], "M", "N");
    for d in ["f32", "f16", "i32", "f64"] {
        out.push((format!("transpose M×N {d}"), format!("func @f(%x: {d}[M, N]) -> ({d}[N, M]) {{\n  %y = permute(%x) dims=[1, 0]\n  return %y\n}}"), mn.clone()));
    }
    let bmn: Vec<Sizes> = [(3u64, 45u64, 33u64), (1, 32, 96), (70, 33, 40)]
        .iter()
        .map(|&(b, m, n)| {
            HashMap::from([("B".to_string(), b), ("M".to_string(), m), ("N".to_string(), n)])
        })
        .collect();
    out.push(("batched transpose + bias bf16".into(), "func @f(%x: bf16[B, M, N], %b: bf16[M], %r: bf16[B, N, M]) -> (bf16[B, N, M]) {\n  %t = permute(%x) dims=[0, 2, 1]\n  %s = mul(%t, 2.0)\n  %a = add(%s, %b)\n  %y = add(%a, %r)\n  return %y\n}".into(), bmn.clone()));
    let nchw: Vec<Sizes> = [(2u64, 35u64, 3u64, 40u64), (1, 64, 2, 33), (3, 9, 1, 1)]
        .iter()
        .map(|&(b, c, h, w)| {
            HashMap::from([
                ("B".to_string(), b),
                ("C".to_string(), c),
                ("H".to_string(), h),
                ("W".to_string(), w),
            ])
        })
        .collect();
    out.push(("nchw->nhwc f32".into(), "func @f(%x: f32[B, C, H, W]) -> (f32[B, H, W, C]) {\n  %y = permute(%x) dims=[0, 2, 3, 1]\n  return %y\n}".into(), nchw));
    out
}

#[test]
fn row_and_transpose_shapes_match_the_interpreter() {
    let Some(mut gpu) = backend() else { return };
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, src, all) in shape_cases() {
        let f = parse_module(&src).unwrap().funcs[0].clone();
        for (k, sizes) in all.iter().enumerate() {
            match check(&mut gpu, &f, sizes, 3 + k as u64) {
                Ok(true) => ran += 1,
                Ok(false) => {}
                Err(e) => failures.push(format!("{name} {sizes:?}: {e}")),
            }
        }
    }
    report("rows and transposes", &failures, ran);
}

#[test]
fn every_op_and_dtype_matches_the_interpreter() {
    let Some(mut gpu) = backend() else { return };
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, src) in op_cases() {
        let f = match parse_module(&src) {
            Ok(m) => m.funcs[0].clone(),
            Err(e) => {
                failures.push(format!("{name}: does not parse: {e}\n{src}"));
                continue;
            }
        };
        for (k, n) in [1u64, 3, 50, 783, 4096].into_iter().enumerate() {
            let sizes: Sizes = HashMap::from([("N".to_string(), n)]);
            match check(&mut gpu, &f, &sizes, 7 + k as u64) {
                Ok(true) => ran += 1,
                Ok(false) => {}
                Err(e) => failures.push(format!("{name} N={n}: {e}")),
            }
        }
    }
    report("ops × dtypes", &failures, ran);
}

/// `--numerics eager` on the device: the f16/bf16 op cases within the bars,
/// and a chain where per-op rounding shows bit for bit (see the emulation
/// test below for the chain).
#[test]
fn eager_numerics_match_the_interpreter_on_the_device() {
    let Some(mut gpu) = backend() else { return };
    gpu.set_numerics_eager(true);
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, src) in op_cases() {
        let f = parse_module(&src).unwrap().funcs[0].clone();
        if !f.node_ids().iter().any(|&n| matches!(f.ty(n).dtype, DType::BF16 | DType::F16)) {
            continue;
        }
        let sizes: Sizes = HashMap::from([("N".to_string(), 783)]);
        match check(&mut gpu, &f, &sizes, 5) {
            Ok(true) => ran += 1,
            Ok(false) => {}
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    let src = "func @chain(%x: bf16[N]) -> (bf16[N]) {\n  %a = mul(%x, 1.0078125)\n  %b = mul(%a, 0.98828125)\n  return %b\n}";
    let chain = parse_module(src).unwrap().funcs[0].clone();
    let sizes: Sizes = HashMap::from([("N".to_string(), 37)]);
    let inputs = random_inputs(&chain, &sizes, 3).unwrap();
    let want = interp::run(&chain, &inputs, &sizes).unwrap();
    match gpu.run(&chain, &inputs, &sizes) {
        Ok(got) if got == want => ran += 1,
        Ok(_) => failures.push("eager chain: not bit-identical to the interpreter".into()),
        Err(e) => failures.push(format!("eager chain: {e}")),
    }
    report("eager numerics", &failures, ran);
}

#[test]
fn every_corpus_case_matches_the_interpreter() {
    let Some(mut gpu) = backend() else { return };
    // On a lent GPU machine the binary runs from another checkout: the
    // corpus is found through SMELT_CASES_DIR there.
    let root = std::env::var_os("SMELT_CASES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(smelt_testsuite::corpus::cases_dir);
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ir") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no corpus under {} (set SMELT_CASES_DIR)", root.display());
    let mut failures = Vec::new();
    let mut ran = 0;
    for path in files {
        let name = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        let src = std::fs::read_to_string(&path).unwrap_or_default();
        let Ok(m) = parse_module(&src) else { continue };
        for f in &m.funcs {
            for (k, size) in [3u64, 50].into_iter().enumerate() {
                match check(&mut gpu, f, &bind_all(f, size), 11 + k as u64) {
                    Ok(true) => ran += 1,
                    Ok(false) => {}
                    Err(e) => failures.push(format!("{name} @{} size {size}: {e}", f.name)),
                }
            }
        }
    }
    report("corpus", &failures, ran);
}

#[test]
fn random_graphs_match_the_interpreter() {
    let Some(mut gpu) = backend() else { return };
    let mut failures = Vec::new();
    let mut ran = 0;
    for seed in (0..RANDOM_GRAPHS).filter(|s| !ILL_CONDITIONED.contains(s)) {
        let f = random_func(seed);
        let sizes = bind_all(&f, 1 + seed % 5 * 7);
        match check(&mut gpu, &f, &sizes, seed) {
            Ok(true) => ran += 1,
            Ok(false) => {}
            Err(e) => failures.push(format!("seed {seed}: {e}\n{f}")),
        }
    }
    eprintln!("kernels compiled: {}", gpu.kernels_compiled());
    report("random graphs", &failures, ran);
}

/// conv2d (im2col + cuBLAS, NCHW and NHWC) and the pools on the device,
/// every float dtype, at the awkward sizes of `conv::conv_cases`.
#[test]
fn conv_and_pools_match_the_interpreter() {
    let Some(mut gpu) = backend() else { return };
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, src, all) in conv::conv_cases(&FLOATS) {
        let f =
            parse_module(&src).unwrap_or_else(|e| panic!("{name}: {e}\n{src}")).funcs[0].clone();
        for (k, sizes) in all.iter().enumerate() {
            match check(&mut gpu, &f, sizes, 21 + k as u64) {
                Ok(true) => ran += 1,
                Ok(false) => {}
                Err(e) => failures.push(format!("{name} {sizes:?}: {e}")),
            }
        }
    }
    report("conv2d and pools", &failures, ran);
}

/// conv2d and the pools in the emulation: with cuBLAS (the bias and im2col
/// kernels, then the gemms of the host plan in a reference gemm, in chunks
/// of images) and without (the direct one-thread-per-output kernels), NCHW
/// and NHWC, every float dtype.
#[test]
fn conv_and_pool_kernels_match_the_interpreter_in_a_cpu_emulation() {
    if std::process::Command::new("g++").arg("--version").output().is_err() {
        eprintln!("skipped: no g++ for the CPU emulation");
        return;
    }
    let mut funcs: Vec<(String, Func, Sizes, u64)> = Vec::new();
    for (name, src, all) in conv::conv_cases(&FLOATS) {
        let f =
            parse_module(&src).unwrap_or_else(|e| panic!("{name}: {e}\n{src}")).funcs[0].clone();
        for (k, sizes) in all.into_iter().enumerate() {
            funcs.push((format!("{name} N={}", sizes["N"]), f.clone(), sizes, 21 + k as u64));
        }
    }
    for cublas in [true, false] {
        let folder = if cublas { "cuda-emu-conv-gemm" } else { "cuda-emu-conv-direct" };
        let (failures, ran) = emulate(&funcs, false, folder, false, cublas);
        assert_eq!(ran, funcs.len(), "every conv case ran (cublas={cublas}): {failures:?}");
        report(&format!("CPU emulation of conv2d and pools (cublas={cublas})"), &failures, ran);
    }
}

/// Without a GPU, what can be checked is checked: every function above
/// lowers, and compiles with NVRTC where NVRTC is on the library path.
#[test]
fn every_differential_function_lowers_and_compiles() {
    use smelt_compiler::backend::cuda::{self, nvrtc};
    use smelt_compiler::{passes, plan};
    let sm = if nvrtc::nvrtc_available() {
        nvrtc::supported_archs().ok().and_then(|a| a.into_iter().filter(|&x| x <= 90).max())
    } else {
        eprintln!("NVRTC not found: lowering only (no compile check)");
        None
    };
    let mut funcs: Vec<(String, Func)> = Vec::new();
    for (name, src) in op_cases() {
        let m = parse_module(&src).unwrap_or_else(|e| panic!("{name}: {e}\n{src}"));
        funcs.push((name, m.funcs[0].clone()));
    }
    for seed in 0..RANDOM_GRAPHS {
        funcs.push((format!("seed {seed}"), random_func(seed)));
    }
    for (name, src, _) in shape_cases().into_iter().chain(conv::conv_cases(&FLOATS)) {
        funcs.push((name, parse_module(&src).unwrap().funcs[0].clone()));
    }
    let mut failures = Vec::new();
    for (name, f) in &funcs {
        let mut g = f.clone();
        passes::optimize(&mut g).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = plan::plan(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
        let tu = match cuda::plan_source(&g, &p) {
            Ok(tu) => tu,
            Err(e) => {
                failures.push(format!("{name}: {e}\n{g}"));
                continue;
            }
        };
        if let Some(sm) = sm
            && let Err(e) = cuda::compile_ptx(&tu, sm)
        {
            failures.push(format!("{name} sm_{sm}: {e}"));
        }
    }
    report("lower + NVRTC", &failures, funcs.len());
}

#[test]
fn generated_kernels_match_the_interpreter_in_a_cpu_emulation() {
    if std::process::Command::new("g++").arg("--version").output().is_err() {
        eprintln!("skipped: no g++ for the CPU emulation");
        return;
    }
    let mut funcs: Vec<(String, Func, Sizes, u64)> = Vec::new();
    for (name, src) in op_cases() {
        let f = parse_module(&src).unwrap().funcs[0].clone();
        for (k, n) in [1u64, 3, 50].into_iter().enumerate() {
            funcs.push((
                format!("{name} N={n}"),
                f.clone(),
                HashMap::from([("N".to_string(), n)]),
                7 + k as u64,
            ));
        }
    }
    for path in smelt_testsuite::corpus::case_files() {
        let src = std::fs::read_to_string(&path).unwrap();
        for f in parse_module(&src).unwrap().funcs {
            let name = format!("{} @{}", path.display(), f.name);
            let sizes = bind_all(&f, 5);
            funcs.push((name, f, sizes, 11));
        }
    }
    for seed in (0..RANDOM_GRAPHS).filter(|s| !ILL_CONDITIONED.contains(s)) {
        let f = random_func(seed);
        let sizes = bind_all(&f, 1 + seed % 5 * 7);
        funcs.push((format!("seed {seed}"), f, sizes, seed));
    }
    let (failures, ran) = emulate(&funcs, false, "cuda-emu", false, false);
    report("CPU emulation of the generated kernels", &failures, ran);
}

/// The warp-per-row and block-per-row loops of the row template and the
/// tiled transpose, in the emulation, at the sizes of [`shape_cases`].
#[test]
fn row_and_transpose_kernels_match_the_interpreter_in_a_cpu_emulation() {
    if std::process::Command::new("g++").arg("--version").output().is_err() {
        eprintln!("skipped: no g++ for the CPU emulation");
        return;
    }
    let mut funcs: Vec<(String, Func, Sizes, u64)> = Vec::new();
    for (name, src, all) in shape_cases() {
        let f = parse_module(&src).unwrap().funcs[0].clone();
        for (k, sizes) in all.into_iter().enumerate() {
            let mut at: Vec<_> = sizes.iter().map(|(s, v)| format!("{s}={v}")).collect();
            at.sort();
            funcs.push((format!("{name} {}", at.join(" ")), f.clone(), sizes, 3 + k as u64));
        }
    }
    let (failures, ran) = emulate(&funcs, false, "cuda-emu-shapes", false, false);
    report("CPU emulation of rows and transposes", &failures, ran);
}

/// `--numerics eager` kernels (every f16/bf16 op rounded, as the
/// interpreter does) on the corpus's narrow-float cases, in the emulation.
#[test]
fn eager_kernels_match_the_interpreter_in_a_cpu_emulation() {
    if std::process::Command::new("g++").arg("--version").output().is_err() {
        eprintln!("skipped: no g++ for the CPU emulation");
        return;
    }
    let narrow =
        |f: &Func| f.node_ids().iter().any(|&n| matches!(f.ty(n).dtype, DType::BF16 | DType::F16));
    let mut funcs: Vec<(String, Func, Sizes, u64)> = Vec::new();
    for (name, src) in op_cases() {
        let f = parse_module(&src).unwrap().funcs[0].clone();
        if narrow(&f) {
            funcs.push((format!("{name} N=50"), f, HashMap::from([("N".to_string(), 50)]), 5));
        }
    }
    for path in smelt_testsuite::corpus::case_files() {
        let src = std::fs::read_to_string(&path).unwrap();
        for f in parse_module(&src).unwrap().funcs {
            if narrow(&f) {
                let name = format!("{} @{}", path.display(), f.name);
                let sizes = bind_all(&f, 5);
                funcs.push((name, f, sizes, 11));
            }
        }
    }
    assert!(funcs.len() > 10, "narrow-float cases to emulate");
    let (failures, ran) = emulate(&funcs, true, "cuda-emu-eager", false, false);
    report("CPU emulation of eager kernels", &failures, ran);
    // Per-op rounding shows exactly: x·1.0078125 rounded to bf16, then
    // times 0.98828125 and rounded again, differs from the product taken in
    // f32 and rounded once for many x. Eager kernels equal the interpreter
    // (which rounds every op) bit for bit here; fused ones do not.
    let src = "func @chain(%x: bf16[N]) -> (bf16[N]) {\n  %a = mul(%x, 1.0078125)\n  %b = mul(%a, 0.98828125)\n  return %b\n}";
    let chain = parse_module(src).unwrap().funcs[0].clone();
    let chain = [("eager chain".to_string(), chain, HashMap::from([("N".to_string(), 37)]), 3)];
    let (failures, _) = emulate(&chain, true, "cuda-emu-chain", true, false);
    assert!(failures.is_empty(), "eager chain: {failures:?}");
    let (failures, _) = emulate(&chain, false, "cuda-emu-chain-fused", true, false);
    assert!(!failures.is_empty(), "the fused chain should differ from per-op rounding");
}

/// A plan captured as a CUDA graph (a cuBLAS matmul, then a softmax)
/// replays to the interpreter's results, also after the input is rewritten.
#[test]
fn a_captured_plan_replays_to_the_interpreters_results() {
    let Some(mut gpu) = backend() else { return };
    let src = "func @f(%a: f32[N, 16], %b: f32[16, 24]) -> (f32[N, 24]) {
  %c = matmul(%a, %b)
  %m = max(%c) dims=[1] keepdim=true
  %s = sub(%c, %m)
  %e = exp(%s)
  %z = sum(%e) dims=[1] keepdim=true
  %y = div(%e, %z)
  return %y
}";
    let f = parse_module(src).unwrap().funcs[0].clone();
    let sizes: Sizes = HashMap::from([("N".to_string(), 37)]);
    let plan = gpu.compile(&f).unwrap();
    let mut results = Vec::new();
    let mut inputs = random_inputs(&f, &sizes, 1).unwrap();
    let mut dev: Vec<_> = inputs.iter().map(|t| gpu.upload(t).unwrap()).collect();
    let refs: Vec<_> = dev.iter().collect();
    let cap = gpu.capture(&plan, &refs, &sizes).unwrap();
    drop(refs);
    for seed in [1u64, 2] {
        if seed == 2 {
            // Rewrite every input in place; the graph reads the same buffers.
            inputs = random_inputs(&f, &sizes, seed).unwrap();
            for (t, d) in inputs.iter().zip(dev.iter_mut()) {
                let fresh = gpu.upload(t).unwrap();
                gpu.stream().memcpy_dtod(&fresh.buf, &mut d.buf).unwrap();
            }
        }
        cap.replay().unwrap();
        let got: Vec<HostTensor> = cap.outputs().iter().map(|t| gpu.download(t).unwrap()).collect();
        let want = interp::run(&f, &inputs, &sizes).unwrap();
        results.push(compare(&want, &got, 0.0));
    }
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

/// Identical kernels on independent tensors (AdamW steps, sums, rows,
/// transposes) launch as multi kernels, in the emulation: results equal the
/// interpreter's and the launches are as few as the tables allow.
#[test]
fn multi_kernels_match_the_interpreter_in_a_cpu_emulation() {
    let mut funcs: Vec<(String, Func, Sizes, u64)> = Vec::new();
    for (k, c) in multi::multi_cases().into_iter().enumerate() {
        let f = parse_module(&c.src).unwrap().funcs[0].clone();
        assert_eq!(multi::launches_of(&f), c.launches, "{}", c.name);
        funcs.push((c.name, f, c.sizes, 21 + k as u64));
    }
    if std::process::Command::new("g++").arg("--version").output().is_err() {
        eprintln!("skipped: no g++ for the CPU emulation");
        return;
    }
    let (failures, ran) = emulate(&funcs, false, "cuda-emu-multi", false, false);
    report("CPU emulation of multi kernels", &failures, ran);
}

/// The multi-kernel cases on the device against the interpreter, each plan
/// launching as [`multi::MultiCase::launches`] says; the 8-tensor AdamW step
/// also captured as a CUDA graph and replayed.
#[test]
fn multi_kernels_match_the_interpreter_on_the_device() {
    let Some(mut gpu) = backend() else { return };
    let mut failures = Vec::new();
    let cases = multi::multi_cases();
    for (k, c) in cases.iter().enumerate() {
        let f = parse_module(&c.src).unwrap().funcs[0].clone();
        match gpu.compile(&f) {
            Ok(plan) if plan.launch_count() != c.launches => failures.push(format!(
                "{}: {} launches, expected {}",
                c.name,
                plan.launch_count(),
                c.launches
            )),
            Ok(_) => {}
            Err(e) => failures.push(format!("{}: compile: {e}", c.name)),
        }
        match check(&mut gpu, &f, &c.sizes, 21 + k as u64) {
            Ok(true) => {}
            Ok(false) => failures.push(format!("{}: the interpreter rejected the inputs", c.name)),
            Err(e) => failures.push(format!("{}: {e}", c.name)),
        }
    }
    let c = &cases[0];
    let f = parse_module(&c.src).unwrap().funcs[0].clone();
    let plan = gpu.compile(&f).unwrap();
    let inputs = random_inputs(&f, &c.sizes, 5).unwrap();
    let dev: Vec<_> = inputs.iter().map(|t| gpu.upload(t).unwrap()).collect();
    let refs: Vec<_> = dev.iter().collect();
    let cap = gpu.capture(&plan, &refs, &c.sizes).unwrap();
    assert_eq!(cap.kernels(), 1, "the 8-tensor AdamW step is one launch");
    cap.replay().unwrap();
    let got: Vec<HostTensor> = cap.outputs().iter().map(|t| gpu.download(t).unwrap()).collect();
    let want = interp::run(&f, &inputs, &c.sizes).unwrap();
    if let Err(e) = compare(&want, &got, loosest_bar(&f)) {
        failures.push(format!("{} captured: {e}", c.name));
    }
    report("multi kernels on the device", &failures, cases.len() + 1);
}
