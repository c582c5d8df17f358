//! File-driven snapshot tests: every `cases/**/*.ir` names its stages in a
//! `; test: …` header, and each stage renders one deterministic string that
//! `insta` compares with `tests/snapshots/plan@<group>__<case>.ir.snap`.
//!
//! Stages live in one registry, [`render`]: `plan` (the optimized IR, then
//! the kernel plan), `clif` (each CPU kernel's Cranelift IR) and `cuda` (the
//! generated CUDA C++). An unknown stage fails its case, naming the stage.

use std::panic::{AssertUnwindSafe, catch_unwind};

use smelt_compiler::ir::{Func, parse_module};
use smelt_compiler::{passes, plan};
use smelt_testsuite::corpus::{case_name, parse_header};

/// How to accept a changed snapshot; part of every failure message.
const HOW_TO_ACCEPT: &str = "review and accept with `cargo insta review` (cargo install \
                             cargo-insta), or rerun with INSTA_UPDATE=always";

/// The stage registry: one rendering per stage name.
fn render(stage: &str, f: &Func) -> Result<String, String> {
    match stage {
        "plan" => render_plan(f),
        "clif" => render_clif(f),
        "cuda" => render_cuda(f),
        other => Err(format!("unknown stage `{other}` (known stages: plan, clif, cuda)")),
    }
}

/// `plan`: the function after the default pass pipeline, as IR text, then
/// the planner's kernels for it.
fn render_plan(f: &Func) -> Result<String, String> {
    let mut g = f.clone();
    passes::optimize(&mut g).map_err(|e| format!("passes::optimize: {e}"))?;
    let p = plan::plan(&g).map_err(|e| format!("plan::plan: {e}"))?;
    Ok(format!("{g}\n{}", p.to_text(&g)))
}

/// `clif`: the Cranelift IR of each CPU kernel of the optimized function,
/// each after `; kernel <name>` (deterministic: no addresses; a fresh backend
/// per function numbers functions and imports from 0).
fn render_clif(f: &Func) -> Result<String, String> {
    use smelt_compiler::backend::cpu::{CpuBackend, CpuOptions};
    let mut g = f.clone();
    passes::optimize(&mut g).map_err(|e| format!("passes::optimize: {e}"))?;
    let opts = CpuOptions { threads: 1, ..CpuOptions::default() };
    let mut cpu = CpuBackend::new(opts).map_err(|e| e.to_string())?;
    let kernels = cpu.clif(&g).map_err(|e| e.to_string())?;
    Ok(kernels.iter().map(|(name, text)| format!("; kernel {name}\n{text}")).collect())
}

/// `cuda`: the CUDA C++ translation unit of the optimized function's plan
/// (the preamble is left out: it is the same for every case).
fn render_cuda(f: &Func) -> Result<String, String> {
    use smelt_compiler::backend::cuda;
    let mut g = f.clone();
    passes::optimize(&mut g).map_err(|e| format!("passes::optimize: {e}"))?;
    let p = plan::plan(&g).map_err(|e| format!("plan::plan: {e}"))?;
    let kernels = cuda::generate(&g, &p).map_err(|e| format!("cuda: {e}"))?;
    Ok(kernels.iter().map(|k| k.code.as_str()).collect::<Vec<_>>().join("\n"))
}

/// Renders every function of a case for one stage (a blank line between
/// functions).
fn render_case(stage: &str, src: &str) -> Result<String, String> {
    let m = parse_module(src).map_err(|e| format!("parse error at {e}"))?;
    let parts = m.funcs.iter().map(|f| render(stage, f)).collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join("\n"))
}

#[test]
fn snapshots() {
    let mut errors: Vec<String> = Vec::new();
    // insta collects the mismatches of a glob! and panics once at its end;
    // catching that panic lets the message say how to accept the change.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::glob!("../cases", "**/*.ir", |path| {
                let name = case_name(path);
                let src = match std::fs::read_to_string(path) {
                    Ok(s) => s,
                    Err(e) => {
                        errors.push(format!("{name}: cannot read: {e}"));
                        return;
                    }
                };
                let header = match parse_header(&src) {
                    Ok(h) => h,
                    Err(e) => {
                        errors.push(format!("{name}: {e}"));
                        return;
                    }
                };
                for stage in &header.stages {
                    match render_case(stage, &src) {
                        Ok(text) => insta::assert_snapshot!(stage.as_str(), text),
                        Err(e) => errors.push(format!("{name}, stage `{stage}`: {e}")),
                    }
                }
            });
        });
    }));
    assert!(errors.is_empty(), "cases that could not be rendered:\n{}", errors.join("\n"));
    if let Err(panic) = outcome {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{msg}\nsnapshots changed: {HOW_TO_ACCEPT}");
    }
}

#[test]
fn unknown_stage_is_an_error_naming_it() {
    let src = "; test: frobnicate\nfunc @f(%x: f32[2]) -> (f32[2]) {\n  return %x\n}\n";
    let e = render_case("frobnicate", src).unwrap_err();
    assert!(e.contains("frobnicate"), "{e}");
}
