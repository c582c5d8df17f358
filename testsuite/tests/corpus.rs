//! Every corpus case has a valid `; test:` header, parses, verifies, and
//! runs in the reference interpreter on seeded random inputs (symbols bound
//! to 3), giving results of the declared types: every op of the corpus runs.

use std::collections::BTreeSet;

use smelt_compiler::interp;
use smelt_compiler::ir::{Binary, Op, ReduceKind, Unary, parse_module, verify_module};
use smelt_testsuite::corpus::{case_files, case_name, parse_header};
use smelt_testsuite::inputs::{bind_all, concrete, random_inputs};

/// The size every symbol gets when a case runs.
const SYMBOL_SIZE: u64 = 3;

#[test]
fn every_case_parses_verifies_and_runs() {
    let files = case_files();
    assert!(files.len() >= 45, "the corpus has only {} cases", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = case_name(path);
        let src = std::fs::read_to_string(path).unwrap();
        if let Err(e) = parse_header(&src) {
            failures.push(format!("{name}: {e}"));
        }
        let m = match parse_module(&src) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}:{e}"));
                continue;
            }
        };
        if let Err(e) = verify_module(&m) {
            failures.push(format!("{name}: {e}"));
            continue;
        }
        for f in &m.funcs {
            let sizes = bind_all(f, SYMBOL_SIZE);
            let inputs = match random_inputs(f, &sizes, 0) {
                Ok(i) => i,
                Err(e) => {
                    failures.push(format!("{name} @{}: inputs: {e}", f.name));
                    continue;
                }
            };
            let outs = match interp::run(f, &inputs, &sizes) {
                Ok(o) => o,
                Err(e) => {
                    failures.push(format!("{name} @{}: the interpreter failed: {e}", f.name));
                    continue;
                }
            };
            if outs.len() != f.results().len() {
                failures.push(format!(
                    "{name} @{}: {} results, {} declared",
                    f.name,
                    outs.len(),
                    f.results().len()
                ));
            }
            for (i, (out, &r)) in outs.iter().zip(f.results()).enumerate() {
                let ty = f.ty(r);
                let want = concrete(&ty.shape, &sizes).unwrap_or_default();
                if out.dtype != ty.dtype || out.shape != want {
                    failures.push(format!(
                        "{name} @{}: result {i} is {}{:?}, declared {ty}",
                        f.name, out.dtype, out.shape
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The corpus covers every op of IR.md v0, every reduction with keepdim both
/// ways, conv2d with bias and groups, and avg_pool2d both ways: a new op or
/// a deleted case shows up here.
#[test]
fn corpus_covers_every_op() {
    let mut seen = BTreeSet::new();
    for path in case_files() {
        let src = std::fs::read_to_string(&path).unwrap();
        let Ok(m) = parse_module(&src) else { continue };
        for f in &m.funcs {
            for id in f.program_order() {
                let node = f.node(id);
                let op = &node.op;
                seen.insert(op.name().to_string());
                match op {
                    Op::Reduce { keepdim, .. } => {
                        seen.insert(format!("{}/keepdim={keepdim}", op.name()));
                    }
                    Op::Conv2d(a) => {
                        seen.insert(format!("conv2d/bias={}", node.operands().len() == 3));
                        seen.insert(format!("conv2d/grouped={}", a.groups > 1));
                    }
                    Op::AvgPool2d(a) => {
                        seen.insert(format!(
                            "avg_pool2d/count_include_pad={}",
                            a.count_include_pad
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    let mut want: Vec<String> = Vec::new();
    want.extend(Unary::ALL.iter().map(|u| u.name().to_string()));
    want.extend(Binary::ALL.iter().map(|b| b.name().to_string()));
    for r in ReduceKind::ALL {
        want.push(format!("{}/keepdim=true", r.name()));
        want.push(format!("{}/keepdim=false", r.name()));
    }
    for op in [
        "select",
        "cast",
        "reshape",
        "permute",
        "broadcast",
        "slice",
        "concat",
        "gather",
        "iota",
        "const",
        "matmul",
        "conv2d/bias=true",
        "conv2d/bias=false",
        "conv2d/grouped=true",
        "max_pool2d",
        "avg_pool2d/count_include_pad=true",
        "avg_pool2d/count_include_pad=false",
    ] {
        want.push(op.to_string());
    }
    let missing: Vec<&String> = want.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(missing.is_empty(), "no corpus case uses {missing:?}");
}
