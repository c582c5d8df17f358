//! The g++ emulation harness of the CUDA tests: each function's generated
//! kernels, with the launch shapes (and the grouping into multi kernels)
//! the runtime would use, become a C++
//! program over `emu.hpp` (threads and blocks emulated on the CPU), whose
//! results are compared with the interpreter's.

use super::*;

/// An output's dtype and concrete shape.
type OutSig = (DType, Vec<usize>);

/// One function's part of an emulation program.
struct EmuCase {
    name: String,
    floor: f64,
    /// Compare bit for bit instead of within the bars.
    exact: bool,
    want: Vec<HostTensor>,
    outputs: Vec<OutSig>,
}

/// The C++ for one function: its kernels in a namespace and a `run_fN`
/// that reads the inputs, launches the kernels in plan order with the launch
/// shapes the runtime would use (groups of identical kernels as their
/// multi kernel, a 2-D grid), and writes the results.
pub(crate) fn emu_function(
    id: usize,
    f: &Func,
    inputs: &[HostTensor],
    sizes: &Sizes,
    dir: &std::path::Path,
    eager: bool,
    cublas: bool,
) -> Result<(String, Vec<OutSig>), String> {
    use smelt_compiler::backend::cpu::Buffer;
    use smelt_compiler::backend::cuda::emit::{Template, emit_kernel_numerics};
    use smelt_compiler::backend::cuda::multi::{Launch, StepView, group_launches, multi_kernel};
    use smelt_compiler::backend::cuda::runtime::{launch_config, launch_sizes};
    use smelt_compiler::backend::cuda::snippets::storage_type;
    use smelt_compiler::backend::kernel::extract;
    use smelt_compiler::{passes, plan};
    let mut g = f.clone();
    passes::optimize(&mut g).map_err(|e| e.to_string())?;
    let p = plan::plan(&g).map_err(|e| e.to_string())?;
    let b = interp::bind_symbols(&g, inputs, sizes).map_err(|e| e.to_string())?;
    let shape_of = |n: smelt_compiler::ir::NodeId| {
        interp::concrete_shape(&g.ty(n).shape, &b).map_err(|e| e.to_string())
    };
    let mut code = format!("namespace f{id} {{\n");
    let mut body = format!("static void run_f{id}() {{\n");
    for (i, (&param, t)) in g.params().iter().zip(inputs).enumerate() {
        let bytes = Buffer::from_host(t).bytes().to_vec();
        let path = dir.join(format!("f{id}_in{i}.bin"));
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        body.push_str(&format!(
            "  unsigned char* v{} = smelt_emu_read(\"{}\", {});\n",
            param.index(),
            path.display(),
            bytes.len()
        ));
    }
    let mut kernels = Vec::new();
    for k in &p.kernels {
        let kf = extract(&g, k);
        let src = emit_kernel_numerics(&kf, cublas, eager).map_err(|e| e.to_string())?;
        kernels.push((kf, src));
    }
    // The runtime's grouping: identical independent kernels run as one
    // multi kernel (blockIdx.y picks the instance).
    let views: Vec<StepView<'_>> = kernels
        .iter()
        .map(|(k, s)| StepView { source: s, inputs: &k.inputs, outputs: &k.outputs })
        .collect();
    let launches = group_launches(&views);
    let mut defined = std::collections::HashSet::new();
    let ptr = |n: smelt_compiler::ir::NodeId, c: &str| {
        format!("({c}{}*)v{}", storage_type(g.ty(n).dtype), n.index())
    };
    for l in launches {
        let members = match l {
            Launch::One(i) => vec![i],
            Launch::Group(m) => m,
        };
        for &m in &members {
            for &o in &kernels[m].0.outputs {
                let bytes = shape_of(o)?.iter().product::<usize>() * g.ty(o).dtype.size_bytes();
                body.push_str(&format!(
                    "  unsigned char* v{} = smelt_emu_buf({bytes});\n",
                    o.index()
                ));
            }
        }
        let (kf, single) = &kernels[members[0]];
        let multi = if members.len() > 1 {
            Some(multi_kernel(single).ok_or_else(|| format!("{}: no multi kernel", single.name))?)
        } else {
            None
        };
        let src = multi.as_ref().map_or(single, |m| &m.source);
        if defined.insert(src.name.clone()) {
            code.push_str(&src.code.replace("extern \"C\" ", ""));
        }
        match &src.template {
            Template::ConvGemm(c) => {
                let ins: Vec<String> =
                    kf.inputs.iter().map(|i| format!("v{}", i.index())).collect();
                let out = format!("v{}", kf.outputs[0].index());
                body.push_str(&conv::emu_conv(id, kf, c, &b, &ins, &out)?);
                continue;
            }
            Template::Cublas => {
                return Err(format!("{}: no cuBLAS matmul in the emulation", kf.name));
            }
            _ => {}
        }
        let cfg =
            launch_config(&src.template, &launch_sizes(src, &b).map_err(|e| e.to_string())?, 2);
        let syms: Vec<String> =
            src.symbols.iter().map(|s| format!("{}LL", b.get(s).copied().unwrap_or(0))).collect();
        let sync = matches!(src.template, Template::Row { .. } | Template::Transpose { .. });
        let Some(m) = &multi else {
            let mut args: Vec<String> = kf.outputs.iter().map(|&o| ptr(o, "")).collect();
            args.extend(kf.inputs.iter().map(|&i| ptr(i, "const ")));
            args.extend(syms);
            body.push_str(&format!(
                "  smelt_emu_launch({}, {}, {sync}, [&] {{ f{id}::{}({}); }});\n",
                cfg.grid_dim.0,
                cfg.block_dim.0,
                src.name,
                args.join(", ")
            ));
            continue;
        };
        // One launch per chunk of at most `instances` rows, as the runtime does.
        for chunk in members.chunks(m.instances) {
            let ns = format!("f{id}::{}_multi", single.name);
            body.push_str(&format!("  {{\n    static {ns}::Table t{{}};\n"));
            for (row, &k) in chunk.iter().enumerate() {
                let kk = &kernels[k].0;
                for (col, &v) in kk.outputs.iter().chain(&kk.inputs).enumerate() {
                    body.push_str(&format!(
                        "    t.p[{row}][{col}] = (const void*)v{};\n",
                        v.index()
                    ));
                }
            }
            let mut args = vec!["t".to_string()];
            args.extend(syms.iter().cloned());
            body.push_str(&format!(
                "    smelt_emu_launch2({}, {}, {}, {sync}, [&] {{ f{id}::{}({}); }});\n  }}\n",
                cfg.grid_dim.0,
                chunk.len(),
                cfg.block_dim.0,
                src.name,
                args.join(", ")
            ));
        }
    }
    let mut outputs = Vec::new();
    for (i, &r) in g.results().iter().enumerate() {
        let shape = shape_of(r)?;
        let bytes = shape.iter().product::<usize>() * g.ty(r).dtype.size_bytes();
        let path = dir.join(format!("f{id}_out{i}.bin"));
        body.push_str(&format!(
            "  smelt_emu_write(\"{}\", v{}, {bytes});\n",
            path.display(),
            r.index()
        ));
        outputs.push((g.ty(r).dtype, shape));
    }
    code.push_str("}\n");
    body.push_str("}\n");
    Ok((code + &body, outputs))
}

/// Without a GPU: the generated kernels, compiled as C++ for the CPU with
/// `emu.hpp` standing in for CUDA, against the interpreter, on the corpus,
/// the op × dtype cases and the random graphs. Needs g++ (skipped without).
/// This checks the generated code's semantics (index math, reductions,
/// conversions), not NVRTC, the driver calls or cuBLAS.
/// Emulates every function of `funcs` (name, function, sizes, input seed)
/// with `emu.hpp` in chunks of g++ programs, and compares each result with
/// the interpreter's. Returns the failures and how many ran.
/// With `exact`, results must equal the interpreter's bit for bit.
/// With `cublas`, convs run as im2col + gemm (`conv::emu_conv`), else as
/// their direct kernels.
pub(crate) fn emulate(
    funcs: &[(String, Func, Sizes, u64)],
    eager: bool,
    folder: &str,
    exact: bool,
    cublas: bool,
) -> (Vec<String>, usize) {
    use smelt_compiler::backend::cpu::Buffer;
    use smelt_compiler::backend::cuda::snippets::PREAMBLE;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(folder);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let preamble = PREAMBLE
        .replace(
            r#"{ float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }"#,
            "{ return smelt_emu_h2f(h); }",
        )
        .replace(
            r#"{ unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }"#,
            "{ return smelt_emu_f2h(f); }",
        );
    assert!(!preamble.contains("asm("), "the emulation preamble still has inline PTX");
    let header =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cuda_emu/emu.hpp");
    let mut failures = Vec::new();
    let mut cases: Vec<Option<EmuCase>> = Vec::new();
    let mut ran = 0;
    for (chunk_no, chunk) in funcs.chunks(120).enumerate() {
        let mut program = format!("#include \"{}\"\n{preamble}\n", header.display());
        let mut calls = String::new();
        let base = cases.len();
        for (j, (name, f, sizes, seed)) in chunk.iter().enumerate() {
            let id = base + j;
            let inputs = match random_inputs(f, sizes, *seed) {
                Ok(i) => i,
                Err(e) => panic!("{name}: {e}"),
            };
            let Ok(want) = interp::run(f, &inputs, sizes) else {
                cases.push(None);
                continue;
            };
            match emu_function(id, f, &inputs, sizes, &dir, eager, cublas) {
                Ok((code, outputs)) => {
                    program.push_str(&code);
                    calls.push_str(&format!("  run_f{id}();\n"));
                    cases.push(Some(EmuCase {
                        name: name.clone(),
                        floor: loosest_bar(f),
                        exact,
                        want,
                        outputs,
                    }));
                }
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    cases.push(None);
                }
            }
        }
        program.push_str(&format!("int main() {{\n{calls}  return 0;\n}}\n"));
        let cpp = dir.join(format!("chunk{chunk_no}.cpp"));
        let exe = dir.join(format!("chunk{chunk_no}"));
        std::fs::write(&cpp, &program).unwrap();
        let out = std::process::Command::new("g++")
            .args(["-std=c++20", "-O1", "-pthread", "-w", "-o"])
            .arg(&exe)
            .arg(&cpp)
            .output()
            .unwrap();
        if !out.status.success() {
            let log = String::from_utf8_lossy(&out.stderr);
            let head: Vec<&str> = log.lines().take(30).collect();
            failures.push(format!(
                "chunk {chunk_no} does not compile as C++ ({}):\n{}",
                cpp.display(),
                head.join("\n")
            ));
            continue;
        }
        let run = std::process::Command::new(&exe).output().unwrap();
        if !run.status.success() {
            failures.push(format!(
                "chunk {chunk_no} failed to run: {}",
                String::from_utf8_lossy(&run.stderr)
            ));
            continue;
        }
        for (id, case) in cases.iter().enumerate().skip(base) {
            let Some(c) = case else { continue };
            let mut got = Vec::new();
            for (i, (d, shape)) in c.outputs.iter().enumerate() {
                let bytes =
                    std::fs::read(dir.join(format!("f{id}_out{i}.bin"))).unwrap_or_default();
                let mut buf = Buffer::zeros(*d, shape);
                if bytes.len() == buf.bytes().len() {
                    buf.bytes_mut().copy_from_slice(&bytes);
                }
                got.push(buf.to_host());
            }
            ran += 1;
            let same = |w: &HostTensor, g: &HostTensor| w.dtype == g.dtype && w.data == g.data;
            if c.exact
                && !(c.want.len() == got.len() && c.want.iter().zip(&got).all(|(w, g)| same(w, g)))
            {
                failures.push(format!("{}: not bit-identical to the interpreter", c.name));
            } else if let Err(e) = compare(&c.want, &got, c.floor) {
                failures.push(format!("{}: {e}", c.name));
            }
        }
    }
    (failures, ran)
}
