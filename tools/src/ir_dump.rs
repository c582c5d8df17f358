//! `ir-dump FILE.ir`: parse, verify and print an IR file; optionally run the
//! pass pipeline (`--after PASS|all`), show the fusion plan (`--plan`,
//! `--format text|json|dot`), print the module as IR JSON (`--json`) or the
//! CPU kernels' Cranelift IR or machine code (`--emit clif|asm`).
//!
//! Everything is computed into one string before anything is printed, so an
//! error leaves stdout empty and stderr with exactly one line.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use smelt_compiler::ir::{self, Func, Module, ParseError, VerifyError};
use smelt_compiler::{passes, plan};

use crate::cli::{CliError, CliResult, read_text};

/// How `--plan` is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text (`Plan::to_text`).
    Text,
    /// IR.md's plan JSON, one object per function per line.
    Json,
    /// A Graphviz graph of the kernels.
    Dot,
}

/// The command line of `ir-dump`.
#[derive(Debug, Parser)]
#[command(
    name = "ir-dump",
    version,
    about = "Parse, verify and print smelt IR; show pass output and fusion plans"
)]
pub struct Args {
    /// The IR file (the text format of IR.md).
    pub file: PathBuf,
    /// Keep the source's value names instead of renumbering them %0, %1, …
    #[arg(long)]
    pub keep_names: bool,
    /// Run the pass pipeline and print each function after the named pass
    /// (`all`: after every pass, each preceded by `; after <pass>`).
    #[arg(long, value_name = "PASS|all", conflicts_with_all = ["plan", "json"])]
    pub after: Option<String>,
    /// Optimize with the default pipeline, plan the kernels and print the plan.
    #[arg(long)]
    pub plan: bool,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = Format::Text, requires = "plan")]
    pub format: Format,
    /// Print the module as IR JSON instead of text.
    #[arg(long, conflicts_with = "plan")]
    pub json: bool,
    /// Print generated code for every kernel of the optimized plan: `clif`
    /// (Cranelift IR of the CPU kernels), `asm` (their machine code, as
    /// Cranelift's VCode listing), `cuda` (one CUDA C++ translation unit per
    /// function) or `ptx` (what NVRTC makes of it for `--arch`; needs libnvrtc).
    #[arg(long, value_enum, value_name = "clif|asm|cuda|ptx", conflicts_with_all = ["plan", "json", "after"])]
    pub emit: Option<Emit>,
    /// The SM version for `--emit ptx` (70, 80, 90, …).
    #[arg(long, default_value_t = 90)]
    pub arch: i32,
}

/// What `--emit` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// Cranelift IR of every CPU kernel.
    Clif,
    /// The CPU kernels' machine code (Cranelift's VCode listing).
    Asm,
    /// The CUDA C++ of every kernel.
    Cuda,
    /// PTX compiled by NVRTC for `--arch`.
    Ptx,
}

/// Runs `ir-dump` with parsed arguments: the text for stdout.
pub fn execute(args: &Args) -> CliResult<String> {
    let src = read_text(&args.file)?;
    render(&src, &args.file.display().to_string(), args)
}

/// `ir-dump`'s work on source text; `label` names the file in errors.
pub fn render(src: &str, label: &str, args: &Args) -> CliResult<String> {
    let module = load(src, label)?;
    if args.json {
        let mut out = ir::json::to_json(&module);
        if !out.ends_with('\n') {
            out.push('\n');
        }
        return Ok(out);
    }
    if let Some(pass) = &args.after {
        return after_pass(&module, pass, label, args.keep_names);
    }
    if args.plan {
        return plans(&module, label, args.format);
    }
    if let Some(emit) = args.emit {
        return match emit {
            Emit::Clif | Emit::Asm => emit_cpu(&module, label, emit == Emit::Asm),
            Emit::Cuda | Emit::Ptx => emit_cuda(&module, label, emit == Emit::Ptx, args.arch),
        };
    }
    Ok(join(module.funcs.iter().map(|f| ir::print::func_text(f, args.keep_names))))
}

/// `--emit cuda|ptx`: the generated CUDA C++ (or its PTX) of every function.
fn emit_cuda(module: &Module, label: &str, ptx: bool, arch: i32) -> CliResult<String> {
    use smelt_compiler::backend::cuda;
    let mut texts = Vec::new();
    for f in &module.funcs {
        let mut g = f.clone();
        passes::optimize(&mut g).map_err(|e| CliError(format!("{label}: @{}: {e}", f.name)))?;
        let p = plan::plan(&g).map_err(|e| CliError(format!("{label}: @{}: {e}", f.name)))?;
        let tu = cuda::plan_source(&g, &p)
            .map_err(|e| CliError(format!("{label}: @{}: {e}", f.name)))?;
        texts.push(if !ptx {
            tu
        } else {
            cuda::compile_ptx(&tu, arch).map_err(|e| {
                CliError(format!("{label}: @{}: {}", f.name, crate::cli::one_line(&e.to_string())))
            })?
        });
    }
    Ok(join(texts.into_iter()))
}

/// Parses and verifies a module; errors read `FILE:line:col: message`.
pub fn load(src: &str, label: &str) -> CliResult<Module> {
    let module = ir::parse_module(src).map_err(|e| parse_error(label, &e))?;
    ir::verify_module(&module).map_err(|e| verify_error(label, &e))?;
    Ok(module)
}

/// `FILE:line:col: message`.
pub fn parse_error(label: &str, e: &ParseError) -> CliError {
    CliError(format!("{label}:{e}"))
}

/// `FILE:line:col: in @f, %x = add: message`, or `FILE: in @f: …` without a position.
pub fn verify_error(label: &str, e: &VerifyError) -> CliError {
    match e.span {
        Some(_) => CliError(format!("{label}:{e}")),
        None => CliError(format!("{label}: {e}")),
    }
}

/// Function texts separated by a blank line, as `Module`'s Display does.
fn join(texts: impl Iterator<Item = String>) -> String {
    texts.collect::<Vec<_>>().join("\n")
}

fn after_pass(module: &Module, pass: &str, label: &str, keep_names: bool) -> CliResult<String> {
    if pass == "layout" {
        return after_layout(module, label, keep_names);
    }
    let names = passes::pass_names();
    if pass != "all" && !names.contains(&pass) {
        return Err(CliError(format!(
            "unknown pass `{pass}` for --after (passes: {}, or all)",
            names.join(", ")
        )));
    }
    let mut texts = Vec::new();
    for f in &module.funcs {
        let mut f = f.clone();
        let mut dumps: Vec<String> = Vec::new();
        let mut on_pass = |name: &str, g: &Func| {
            if pass == "all" {
                dumps.push(format!("; after {name}\n{}", ir::print::func_text(g, keep_names)));
            } else if name == pass {
                // A pass may run in several rounds: keep what the last one left.
                dumps = vec![ir::print::func_text(g, keep_names)];
            }
        };
        let opts = passes::PipelineOptions {
            verify: true,
            stop_after: None,
            dump: None,
            on_pass: Some(&mut on_pass),
        };
        passes::run_pipeline(&mut f, opts)
            .map_err(|e| CliError(format!("{label}: @{}: {e}", f.name)))?;
        if dumps.is_empty() {
            dumps.push(ir::print::func_text(&f, keep_names));
        }
        texts.push(dumps.join("\n"));
    }
    Ok(join(texts.into_iter()))
}

/// `--after layout`: the channels-last layout pass (not in the default
/// pipeline: the CPU backend runs it) after the pipeline, with a comment
/// line counting what it converted and the transposes it inserted.
fn after_layout(module: &Module, label: &str, keep_names: bool) -> CliResult<String> {
    let mut texts = Vec::new();
    for f in &module.funcs {
        let mut f = f.clone();
        let name = f.name.clone();
        let err = |e: passes::PassError| CliError(format!("{label}: @{name}: {e}"));
        passes::optimize(&mut f).map_err(err)?;
        let laid = passes::layout::plan_layout(&f).map_err(err)?;
        let (g, r) = laid.unwrap_or((f, Default::default()));
        texts.push(format!(
            "; layout: {} ops channels-last, {} transposes inserted\n{}",
            r.nhwc_ops,
            r.transposes,
            ir::print::func_text(&g, keep_names)
        ));
    }
    Ok(join(texts.into_iter()))
}

fn plans(module: &Module, label: &str, format: Format) -> CliResult<String> {
    let mut texts = Vec::new();
    for f in &module.funcs {
        let mut f = f.clone();
        passes::optimize(&mut f).map_err(|e| CliError(format!("{label}: @{}: {e}", f.name)))?;
        let p = plan::plan(&f).map_err(|e| CliError(format!("{label}: @{}: {e}", f.name)))?;
        let text = match format {
            Format::Text => p.to_text(&f),
            Format::Dot => p.to_dot(&f),
            Format::Json => compact_json(&p.to_json(&f)).map_err(|e| {
                CliError(format!("{label}: @{}: plan JSON is invalid: {e}", f.name))
            })?,
        };
        texts.push(if text.ends_with('\n') { text } else { text + "\n" });
    }
    Ok(match format {
        Format::Json => texts.concat(),
        _ => join(texts.into_iter()),
    })
}

/// `--emit clif|asm`: every kernel of every (optimized) function, each
/// preceded by `; kernel <name>`.
fn emit_cpu(module: &Module, label: &str, asm: bool) -> CliResult<String> {
    use smelt_compiler::backend::cpu::{CpuBackend, CpuOptions};
    let mut texts = Vec::new();
    for f in &module.funcs {
        let mut f = f.clone();
        passes::optimize(&mut f).map_err(|e| CliError(format!("{label}: @{}: {e}", f.name)))?;
        let mut cpu = CpuBackend::new(CpuOptions { threads: 1, ..CpuOptions::default() })
            .map_err(|e| CliError(format!("{label}: {e}")))?;
        let kernels = if asm { cpu.asm(&f) } else { cpu.clif(&f) }
            .map_err(|e| CliError(format!("{label}: @{}: {e}", f.name)))?;
        let mut text = String::new();
        for (name, body) in kernels {
            text.push_str(&format!("; kernel {name}\n{body}"));
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
        texts.push(text);
    }
    Ok(join(texts.into_iter()))
}

/// The same JSON on one line: whitespace outside strings removed, key order kept.
fn compact_json(text: &str) -> Result<String, serde_json::Error> {
    serde_json::from_str::<serde_json::Value>(text)?;
    let trimmed = text.trim();
    if !trimmed.contains('\n') {
        return Ok(trimmed.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_keeps_strings_and_order() {
        let text = "{\n  \"b\": \"a \\\" b\",\n  \"a\": [1, 2]\n}\n";
        assert_eq!(compact_json(text).expect("json"), "{\"b\":\"a \\\" b\",\"a\":[1,2]}");
        assert!(compact_json("{").is_err());
        assert_eq!(compact_json("{\"a\": 1}\n").expect("json"), "{\"a\": 1}");
    }
}
