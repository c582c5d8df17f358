//! CUDA code generation without a GPU: every corpus case (testsuite/cases)
//! lowers to CUDA C++, and, where an NVRTC library is on the library path,
//! compiles for every SM version that NVRTC supports among 70, 80 and 90
//! (`SMELT_CUDA_ARCHS` overrides the list, e.g. `70` with CUDA 12's NVRTC).
//! `.ci/run` installs NVRTC from PyPI so this runs in CI; when no NVRTC is
//! found the compile test says so loudly and passes (set
//! `SMELT_REQUIRE_NVRTC=1` to make that a failure).

use std::path::PathBuf;

use smelt_compiler::backend::cuda::{self, CompileError, nvrtc};
use smelt_compiler::ir::parse_module;
use smelt_compiler::{passes, plan};

fn corpus() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testsuite/cases");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ir") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 50, "corpus not found under {}", root.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Every function of every case as one translation unit (optimized, planned).
fn sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, src) in corpus() {
        let m = parse_module(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        for f in &m.funcs {
            let mut g = f.clone();
            passes::optimize(&mut g).unwrap();
            let p = plan::plan(&g).unwrap();
            let tu =
                cuda::plan_source(&g, &p).unwrap_or_else(|e| panic!("{name} @{}: {e}", f.name));
            out.push((format!("{name} @{}", f.name), tu));
        }
    }
    out
}

#[test]
fn every_corpus_kernel_lowers_deterministically() {
    let a = sources();
    let b = sources();
    assert_eq!(a, b);
    for (name, tu) in &a {
        assert!(tu.contains("smelt preamble"), "{name}");
    }
}

fn archs() -> Vec<i32> {
    match std::env::var("SMELT_CUDA_ARCHS") {
        Ok(s) => {
            s.split([',', ' ']).filter(|x| !x.is_empty()).map(|x| x.parse().unwrap()).collect()
        }
        Err(_) => vec![70, 80, 90],
    }
}

#[test]
fn every_corpus_kernel_compiles_with_nvrtc() {
    if !nvrtc::nvrtc_available() {
        eprintln!(
            "SKIPPED (LOUDLY): no libnvrtc.so* on the library path; no CUDA kernel was compiled"
        );
        assert!(
            std::env::var_os("SMELT_REQUIRE_NVRTC").is_none(),
            "SMELT_REQUIRE_NVRTC is set but NVRTC is missing"
        );
        return;
    }
    let version = nvrtc::nvrtc_version().unwrap();
    let supported = nvrtc::supported_archs().unwrap();
    let archs: Vec<i32> = archs().into_iter().filter(|a| supported.contains(a)).collect();
    assert!(!archs.is_empty(), "NVRTC {version:?} supports none of {:?}", self::archs());
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, tu) in sources() {
        for &sm in &archs {
            match cuda::compile_ptx(&tu, sm) {
                Ok(ptx) => {
                    assert!(
                        ptx.contains(".entry") || !tu.contains("__global__"),
                        "{name}: no entry in PTX"
                    );
                    count += 1;
                }
                Err(CompileError::Nvrtc { log, .. }) => {
                    failures.push(format!("{name} sm_{sm}:\n{log}"))
                }
                Err(e) => failures.push(format!("{name} sm_{sm}: {e}")),
            }
        }
    }
    eprintln!("NVRTC {version:?}: compiled {count} translation units for sm {archs:?}");
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_broken_source_reports_the_nvrtc_log_and_source() {
    if !nvrtc::nvrtc_available() {
        eprintln!("skipped: no NVRTC");
        return;
    }
    let sm = *nvrtc::supported_archs().unwrap().iter().max().unwrap();
    let src = "extern \"C\" __global__ void k(float* x) { x[0] = undefined_thing; }";
    match cuda::compile_ptx(src, sm) {
        Err(CompileError::Nvrtc { log, source, .. }) => {
            assert!(log.contains("undefined_thing"), "{log}");
            assert_eq!(source, src);
        }
        other => panic!("expected an NVRTC error, got {other:?}"),
    }
}

fn kernels_of(src: &str) -> Vec<cuda::KernelSource> {
    let f = smelt_compiler::ir::parse_func(src).unwrap();
    let p = plan::plan(&f).unwrap();
    cuda::generate(&f, &p).unwrap()
}

#[test]
fn templates_follow_the_plan_kind_and_operand_shapes() {
    use cuda::Template;
    let norm = kernels_of(
        "func @f(%x: f32[N, 1000]) -> (f32[N, 1000]) {\n  %m = max(%x) dims=[1] keepdim=true\n  %s = sub(%x, %m)\n  %e = exp(%s)\n  %z = sum(%e) dims=[1] keepdim=true\n  %y = div(%e, %z)\n  return %y\n}",
    );
    assert_eq!(norm.len(), 1);
    assert!(matches!(norm[0].template, Template::Row { .. }), "{:?}", norm[0].template);
    assert_eq!(norm[0].symbols, vec!["N".to_string()]);
    // Pure elementwise, same shapes: the flat 16-byte path (4 f32, 8 bf16).
    let flat = |d: &str| {
        kernels_of(&format!(
            "func @f(%x: {d}[N], %y: {d}[N]) -> ({d}[N]) {{\n  %a = add(%x, %y)\n  %b = exp(%a)\n  return %b\n}}"
        ))[0]
            .template
            .clone()
    };
    assert_eq!(flat("f32"), Template::Elementwise { vector: 4 });
    assert_eq!(flat("bf16"), Template::Elementwise { vector: 8 });
    // A broadcast operand: index math, no flat path.
    let bc = kernels_of(
        "func @f(%x: f32[N, 8], %b: f32[8]) -> (f32[N, 8]) {\n  %a = add(%x, %b)\n  return %a\n}",
    );
    assert_eq!(bc[0].template, Template::Elementwise { vector: 1 });
    assert!(bc[0].code.contains("in1[c"), "{}", bc[0].code);
    // A float matmul goes to cuBLAS, an integer one to a generated kernel.
    let mm = |d: &str| {
        kernels_of(&format!(
            "func @f(%a: {d}[4, 5], %b: {d}[5, 6]) -> ({d}[4, 6]) {{\n  %c = matmul(%a, %b)\n  return %c\n}}"
        ))[0]
            .template
            .clone()
    };
    assert_eq!(mm("f32"), Template::Cublas);
    assert_eq!(mm("i32"), Template::Elementwise { vector: 1 });
}

#[test]
fn launch_shapes_come_from_runtime_sizes() {
    use cuda::Template;
    use cuda::runtime::{LaunchSizes, launch_config};
    let row = |warp_max| Template::Row {
        vector: 1,
        outer: smelt_compiler::ir::Shape::of(&[1]),
        inner: smelt_compiler::ir::Shape::of(&[1]),
        warp_max,
    };
    let rows = |rows, row_len| LaunchSizes { rows, row_len, ..Default::default() };
    // Long rows: a block each, about four elements per thread.
    let c = launch_config(&row(1024), &rows(32768, 2048), 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (32768, 512));
    let c = launch_config(&row(0), &rows(3, 7), 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (3, 32));
    // Never more threads than the kernel's launch bound.
    let c = launch_config(&row(1024), &rows(1, 1 << 20), 132);
    assert_eq!(c.block_dim.0, 512);
    // Short rows: one warp each, eight per block, blocks grid-stride.
    let c = launch_config(&row(1024), &rows(3, 7), 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (1, 96));
    let c = launch_config(&row(1024), &rows(1000, 512), 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (125, 256));
    let c = launch_config(&row(1024), &rows(32768, 1024), 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (4096, 256));
    // A kernel without a warp loop runs short rows a block each.
    let c = launch_config(&row(0), &rows(32768, 1024), 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (32768, 256));
    let c = launch_config(&row(1024), &rows(1 << 20, 64), 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (132 * 32, 256));
    let ew = Template::Elementwise { vector: 4 };
    let c = launch_config(&ew, &LaunchSizes { elements: 1 << 26, ..Default::default() }, 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (132 * 32, 256));
    let c = launch_config(&ew, &LaunchSizes { elements: 10, ..Default::default() }, 132);
    assert_eq!(c.grid_dim.0, 1);
    let tr = Template::Transpose { domain: smelt_compiler::ir::Shape::of(&[1, 1]), a: 0, b: 1 };
    let c = launch_config(&tr, &LaunchSizes { tiles: 6, ..Default::default() }, 132);
    assert_eq!((c.grid_dim.0, c.block_dim.0), (6, 256));
    let c = launch_config(&tr, &LaunchSizes { tiles: 1 << 20, ..Default::default() }, 132);
    assert_eq!(c.grid_dim.0, 132 * 32);
}

#[test]
fn short_rows_take_the_warp_loop_and_long_rows_the_block_loop() {
    use cuda::Template;
    let softmax = |len: &str| {
        kernels_of(&format!("func @f(%x: f32[N, {len}]) -> (f32[N, {len}]) {{\n  %m = max(%x) dims=[1] keepdim=true\n  %s = sub(%x, %m)\n  %e = exp(%s)\n  %z = sum(%e) dims=[1] keepdim=true\n  %y = div(%e, %z)\n  return %y\n}}"))
            .remove(0)
    };
    let warp_max = |k: &cuda::KernelSource| match k.template {
        Template::Row { warp_max, .. } => warp_max,
        ref t => panic!("not a row template: {t:?}"),
    };
    // A constant short row: the warp loop only (no barrier, no shared memory).
    let short = softmax("64");
    assert_eq!(warp_max(&short), 1024);
    assert!(short.code.contains("smelt_warp_reduce("), "{}", short.code);
    assert!(!short.code.contains("smelt_block_reduce("), "{}", short.code);
    // A constant long row: the block loop only.
    let long = softmax("1030");
    assert_eq!(warp_max(&long), 0);
    assert!(!long.code.contains("smelt_warp_reduce("), "{}", long.code);
    // A symbolic row: both, behind a branch on the row length.
    let either = softmax("L");
    assert_eq!(warp_max(&either), 1024);
    assert!(either.code.contains("if (smelt_len <= 1024LL)"), "{}", either.code);
    assert!(
        either.code.contains("smelt_warp_reduce(") && either.code.contains("smelt_block_reduce(")
    );
}

#[test]
fn transposes_of_the_innermost_dim_go_through_shared_memory_tiles() {
    use cuda::Template;
    let perm = |shape: &str, out: &str, dims: &str| {
        kernels_of(&format!("func @f(%x: f32[{shape}]) -> (f32[{out}]) {{\n  %t = permute(%x) dims=[{dims}]\n  %y = mul(%t, 2.0)\n  return %y\n}}"))
            .remove(0)
    };
    let batched = perm("B, M, N", "B, N, M", "0, 2, 1");
    assert!(
        matches!(batched.template, Template::Transpose { a: 1, b: 2, .. }),
        "{:?}",
        batched.template
    );
    assert!(batched.code.contains("__shared__ float smelt_tile[32][32 + 1];"), "{}", batched.code);
    // NCHW -> NHWC: the tile spans W and C, batch and H are loop coordinates.
    let nhwc = perm("B, C, H, W", "B, H, W, C", "0, 2, 3, 1");
    assert!(matches!(nhwc.template, Template::Transpose { a: 2, b: 3, .. }), "{:?}", nhwc.template);
    // The innermost dim stays: already coalesced, elementwise.
    let outer = perm("B, M, N", "M, B, N", "1, 0, 2");
    assert!(matches!(outer.template, Template::Elementwise { .. }), "{:?}", outer.template);
    // A tiny constant tile dim: elementwise too.
    let tiny = perm("N, 3", "3, N", "1, 0");
    assert!(matches!(tiny.template, Template::Elementwise { .. }), "{:?}", tiny.template);
}

#[test]
fn a_new_size_reuses_the_kernel_name_and_source() {
    // Symbolic sizes are arguments: only the binding changes, not the code.
    let src = "func @f(%x: f32[B, T, 64]) -> (f32[B, T, 64]) {\n  %y = tanh(%x)\n  return %y\n}";
    let a = kernels_of(src);
    let b = kernels_of(src);
    assert_eq!(a[0].name, b[0].name);
    assert_eq!(a[0].code, b[0].code);
    assert_eq!(a[0].symbols, vec!["B".to_string(), "T".to_string()]);
}

/// conv2d sources (NCHW and `layout=nhwc`, 3×3 with a bias and 1×1
/// without) in `d`, and a pair of NHWC pools.
fn conv_sources(d: &str) -> Vec<String> {
    vec![
        format!(
            "func @f(%x: {d}[N, 6, 9, 7], %w: {d}[4, 3, 3, 3], %b: {d}[4]) -> ({d}[N, 4, 5, 4]) {{\n  %y = conv2d(%x, %w, %b) stride=[2, 2] padding=[1, 1] groups=2\n  return %y\n}}"
        ),
        format!(
            "func @f(%x: {d}[N, 9, 7, 6], %w: {d}[4, 3, 3, 3], %b: {d}[4]) -> ({d}[N, 5, 4, 4]) {{\n  %y = conv2d(%x, %w, %b) stride=[2, 2] padding=[1, 1] groups=2 layout=nhwc\n  return %y\n}}"
        ),
        format!(
            "func @f(%x: {d}[N, 6, 5, 5], %w: {d}[8, 6, 1, 1]) -> ({d}[N, 8, 5, 5]) {{\n  %y = conv2d(%x, %w)\n  return %y\n}}"
        ),
        format!(
            "func @f(%x: {d}[N, 5, 5, 6], %w: {d}[8, 1, 1, 6]) -> ({d}[N, 5, 5, 8]) {{\n  %y = conv2d(%x, %w) layout=nhwc\n  return %y\n}}"
        ),
        format!(
            "func @f(%x: {d}[N, 7, 6, 5]) -> ({d}[N, 4, 7, 5], {d}[N, 4, 7, 5]) {{\n  %a = max_pool2d(%x) kernel=[3, 2] stride=[2, 1] padding=[1, 1] layout=nhwc\n  %b = avg_pool2d(%x) kernel=[3, 2] stride=[2, 1] padding=[1, 1] count_include_pad=false layout=nhwc\n  return %a, %b\n}}"
        ),
    ]
}

#[test]
fn conv2d_goes_to_im2col_and_cublas_and_nhwc_lowers() {
    use cuda::Template;
    use cuda::emit::emit_kernel_with;
    use smelt_compiler::backend::kernel::extract;
    let srcs = conv_sources("f32");
    let conv = |i: usize| match kernels_of(&srcs[i]).remove(0).template {
        Template::ConvGemm(c) => c,
        t => panic!("{}: not through cuBLAS: {t:?}", srcs[i]),
    };
    for i in [0, 1] {
        let c = conv(i);
        assert!(c.im2col.is_some() && c.bias.is_some(), "{c:?}");
        let code = &kernels_of(&srcs[i])[0].code;
        assert!(code.contains(&format!("void __launch_bounds__(256) {}(", c.im2col.unwrap())));
        assert!(code.contains("through cuBLAS"), "{code}");
    }
    // 1×1, stride 1, unpadded: the input is the columns matrix, no im2col.
    for i in [2, 3] {
        let c = conv(i);
        assert!(c.im2col.is_none() && c.bias.is_none(), "{c:?}");
    }
    // Depthwise convs take the direct kernel even with cuBLAS.
    let dw = kernels_of(
        "func @f(%x: f32[N, 5, 5, 6], %w: f32[6, 3, 3, 1]) -> (f32[N, 5, 5, 6]) {\n  %y = conv2d(%x, %w) padding=[1, 1] groups=6 layout=nhwc\n  return %y\n}",
    );
    assert_eq!(dw[0].template, Template::Elementwise { vector: 1 });
    // Without cuBLAS every conv and pool gets a direct kernel, NHWC too.
    for src in &srcs {
        let f = smelt_compiler::ir::parse_func(src).unwrap();
        let p = plan::plan(&f).unwrap();
        let k = emit_kernel_with(&extract(&f, &p.kernels[0]), false).unwrap();
        assert_eq!(k.template, Template::Elementwise { vector: 1 }, "{src}");
    }
}

#[test]
fn conv_and_pool_kernels_compile_with_nvrtc() {
    use cuda::emit::{emit_kernel_with, translation_unit};
    use smelt_compiler::backend::kernel::extract;
    if !nvrtc::nvrtc_available() {
        eprintln!("SKIPPED (LOUDLY): no libnvrtc.so* on the library path");
        assert!(std::env::var_os("SMELT_REQUIRE_NVRTC").is_none(), "NVRTC is required");
        return;
    }
    let supported = nvrtc::supported_archs().unwrap();
    let archs: Vec<i32> = archs().into_iter().filter(|a| supported.contains(a)).collect();
    let mut failures = Vec::new();
    for d in ["f32", "f16", "bf16", "f64"] {
        for src in conv_sources(d) {
            let f = smelt_compiler::ir::parse_func(&src).unwrap();
            let p = plan::plan(&f).unwrap();
            // Through cuBLAS (im2col and bias kernels) and direct.
            let mut kernels = Vec::new();
            for cublas in [true, false] {
                for k in &p.kernels {
                    let k = emit_kernel_with(&extract(&f, k), cublas).unwrap();
                    // A pool is the same kernel either way: once in the unit.
                    if !kernels.iter().any(|x: &cuda::KernelSource| x.code == k.code) {
                        kernels.push(k);
                    }
                }
            }
            let tu = translation_unit(&kernels);
            for &sm in &archs {
                if let Err(e) = cuda::compile_ptx(&tu, sm) {
                    failures.push(format!("{src} sm_{sm}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The plan's source (its kernels, then the multi kernels of its groups:
/// both kinds coexist in one translation unit), and the multi kernels.
fn unit_with_multi(src: &str) -> (String, Vec<cuda::KernelSource>) {
    let m = parse_module(src).unwrap();
    let mut g = m.funcs[0].clone();
    passes::optimize(&mut g).unwrap();
    let p = plan::plan(&g).unwrap();
    let kernels = cuda::generate(&g, &p).unwrap();
    let multis = cuda::multi::group_sources(&g, &p, &kernels);
    let tu = cuda::plan_source(&g, &p).unwrap();
    for k in &multis {
        assert!(tu.contains(&format!(" {}(", k.name)), "the plan source prints {}", k.name);
    }
    (tu, multis)
}

/// Functions that run one kernel on several tensors: elementwise (flat and
/// broadcast), row and tiled-transpose templates.
fn multi_sources(d: &str) -> Vec<String> {
    let per = |n: usize, ty: &str, body: &dyn Fn(usize) -> String| {
        // The transpose case returns [96, 64].
        let rty = ty.replace("[64, 96]", "[96, 64]");
        let params: Vec<String> = (0..n).map(|i| format!("%x{i}: {ty}, %b{i}: {d}[8]")).collect();
        let results: Vec<String> = (0..n).map(|_| rty.clone()).collect();
        let rets: Vec<String> = (0..n).map(|i| format!("%y{i}")).collect();
        let lines: String = (0..n).map(body).collect();
        format!(
            "func @f({}) -> ({}) {{\n{lines}  return {}\n}}\n",
            params.join(", "),
            results.join(", "),
            rets.join(", ")
        )
    };
    vec![
        per(4, &format!("{d}[N]"), &|i| {
            format!(
                "  %a{i} = mul(%x{i}, 0.9)\n  %s{i} = sqrt(%x{i})\n  %y{i} = add(%a{i}, %s{i})\n"
            )
        }),
        per(3, &format!("{d}[N, 8]"), &|i| format!("  %y{i} = add(%x{i}, %b{i})\n")),
        per(3, &format!("{d}[N, 100]"), &|i| {
            format!(
                "  %m{i} = max(%x{i}) dims=[1] keepdim=true\n  %e{i} = sub(%x{i}, %m{i})\n  %y{i} = exp(%e{i})\n"
            )
        }),
        per(2, &format!("{d}[64, 96]"), &|i| {
            format!("  %t{i} = permute(%x{i}) dims=[1, 0]\n  %y{i} = mul(%t{i}, 2.0)\n")
        }),
    ]
}

#[test]
fn multi_kernels_compile_with_nvrtc_beside_their_single_kernels() {
    use cuda::Template;
    let mut units = Vec::new();
    for d in ["f32", "bf16", "f16", "f64"] {
        for (i, src) in multi_sources(d).into_iter().enumerate() {
            let (tu, multis) = unit_with_multi(&src);
            assert_eq!(multis.len(), 1, "{src}: one group expected\n{tu}");
            let t = &multis[0].template;
            let want = match i {
                0 => matches!(t, Template::Elementwise { vector } if *vector > 1),
                1 => *t == Template::Elementwise { vector: 1 },
                2 => matches!(t, Template::Row { .. }),
                _ => matches!(t, Template::Transpose { .. }),
            };
            assert!(want, "{src}: {t:?}");
            units.push((src, tu, multis.into_iter().map(|m| m.name).collect::<Vec<_>>()));
        }
    }
    // Corpus functions that group (none need to: it is written op by op).
    for (name, src) in corpus() {
        let m = parse_module(&src).unwrap();
        if m.funcs.len() == 1 {
            let (tu, multis) = unit_with_multi(&src);
            if !multis.is_empty() {
                units.push((name, tu, multis.into_iter().map(|m| m.name).collect()));
            }
        }
    }
    if !nvrtc::nvrtc_available() {
        eprintln!(
            "SKIPPED (LOUDLY): no libnvrtc.so* on the library path; no multi kernel compiled"
        );
        assert!(std::env::var_os("SMELT_REQUIRE_NVRTC").is_none(), "NVRTC is required");
        return;
    }
    let supported = nvrtc::supported_archs().unwrap();
    let archs: Vec<i32> = archs().into_iter().filter(|a| supported.contains(a)).collect();
    let mut failures = Vec::new();
    for (what, tu, names) in &units {
        for &sm in &archs {
            match cuda::compile_ptx(tu, sm) {
                Ok(ptx) => {
                    for n in names {
                        assert!(ptx.contains(&format!(".entry {n}(")), "{what}: no {n} in PTX");
                    }
                }
                Err(e) => failures.push(format!("{what} sm_{sm}: {e}")),
            }
        }
    }
    eprintln!("compiled {} units with multi kernels for sm {archs:?}", units.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
