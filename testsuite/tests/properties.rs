//! Properties of every random graph ([`smelt_testsuite::random_graph`]):
//! the text and JSON forms round trip, every pass preserves the
//! interpreter's results, and the planner's invariants hold.
//!
//! A failure names the seed; `random_func(seed)` rebuilds the graph.

use std::collections::{BTreeSet, HashMap};

use smelt_compiler::interp;
use smelt_compiler::ir::json::{from_json, to_json};
use smelt_compiler::ir::{Func, Module, NodeId, Op, parse_func, verify};
use smelt_compiler::passes::{self, PipelineOptions};
use smelt_compiler::plan;
use smelt_compiler::{Data, HostTensor};
use smelt_testsuite::inputs::{Sizes, bind_all, random_inputs};
use smelt_testsuite::random_graph::random_func;

/// Seeds for the round-trip property.
const ROUND_TRIP_SEEDS: u64 = 600;

/// Seeds for the pass-preservation and planner properties.
const SEMANTIC_SEEDS: u64 = 400;

#[test]
fn random_graphs_verify_and_cover_every_op() {
    let mut seen = BTreeSet::new();
    let mut symbolic = 0;
    for seed in 0..ROUND_TRIP_SEEDS {
        let f = random_func(seed);
        if let Err(e) = verify(&f) {
            panic!("seed {seed}: the generator made an invalid function: {e}\n{f}");
        }
        for id in f.program_order() {
            let op = &f.node(id).op;
            let key = match op {
                Op::Reduce { keepdim, .. } => format!("{}/keepdim={keepdim}", op.name()),
                Op::Reshape { shape } if shape.contains(&smelt_compiler::ir::ReshapeDim::Infer) => {
                    "reshape/-1".into()
                }
                _ => op.name().to_string(),
            };
            seen.insert(key);
        }
        if f.params().iter().any(|&p| !f.ty(p).shape.is_static()) {
            symbolic += 1;
        }
    }
    let expected = [
        "neg",
        "exp",
        "add",
        "sub",
        "mul",
        "div",
        "max",
        "min",
        "gt",
        "select",
        "cast",
        "sum/keepdim=true",
        "sum/keepdim=false",
        "mean/keepdim=true",
        "argmax/keepdim=false",
        "reshape",
        "reshape/-1",
        "permute",
        "broadcast",
        "slice",
        "concat",
        "gather",
        "iota",
        "const",
        "matmul",
        "conv2d",
        "max_pool2d",
        "avg_pool2d",
    ];
    let missing: Vec<_> = expected.iter().filter(|k| !seen.contains(**k)).collect();
    assert!(missing.is_empty(), "ops never generated: {missing:?} (seen: {seen:?})");
    assert!(symbolic >= ROUND_TRIP_SEEDS / 5, "only {symbolic} graphs have a symbolic dim");
}

#[test]
fn print_parse_round_trips() {
    for seed in 0..ROUND_TRIP_SEEDS {
        let f = random_func(seed);
        let text = f.to_string();
        let back = match parse_func(&text) {
            Ok(b) => b,
            Err(e) => panic!("seed {seed}: the printed text does not parse: {e}\n{text}"),
        };
        assert!(back == f, "seed {seed}: parse(print(g)) != g\n{text}\nreads back as\n{back}");
        assert_eq!(back.to_string(), text, "seed {seed}: print(parse(print(g))) != print(g)");
    }
}

#[test]
fn json_round_trips() {
    for seed in 0..ROUND_TRIP_SEEDS {
        let m = Module { funcs: vec![random_func(seed)] };
        let json = to_json(&m);
        let back = match from_json(&json) {
            Ok(b) => b,
            Err(e) => panic!("seed {seed}: the JSON does not read back: {e}\n{json}"),
        };
        assert!(back == m, "seed {seed}: from_json(to_json(g)) != g\n{}", m);
    }
}

/// Symbols take sizes 1, 2 and 3 in turn (1 exercises size-1 dims that the
/// IR cannot know are 1).
fn sizes_for(f: &Func, seed: u64) -> Sizes {
    bind_all(f, 1 + seed % 3)
}

/// Compares results element by element: integers and bools exactly; floats
/// equal (so +0.0 == -0.0: `simplify` documents that it may change the sign
/// of a zero, e.g. `x + 0 -> x`) or both NaN. No tolerance: no pass in the
/// pipeline reassociates float arithmetic, and `const_fold` evaluates with
/// the interpreter itself, so any other difference is a bug.
fn same_results(want: &[HostTensor], got: &[HostTensor]) -> Result<(), String> {
    if want.len() != got.len() {
        return Err(format!("{} results, expected {}", got.len(), want.len()));
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w.dtype != g.dtype || w.shape != g.shape {
            return Err(format!(
                "result {i} is {}{:?}, expected {}{:?}",
                g.dtype, g.shape, w.dtype, w.shape
            ));
        }
        let bad = match (&w.data, &g.data) {
            (Data::Float(a), Data::Float(b)) => {
                a.iter().zip(b).position(|(x, y)| !(x == y || (x.is_nan() && y.is_nan())))
            }
            (Data::Int(a), Data::Int(b)) => a.iter().zip(b).position(|(x, y)| x != y),
            (Data::Bool(a), Data::Bool(b)) => a.iter().zip(b).position(|(x, y)| x != y),
            _ => Some(0),
        };
        if let Some(j) = bad {
            return Err(format!(
                "result {i} differs at element {j}: {} instead of {}",
                g.get_f64(j),
                w.get_f64(j)
            ));
        }
    }
    Ok(())
}

/// Runs `g` on the inputs and compares with the reference results.
fn check_same(
    what: &str,
    g: &Func,
    inputs: &[HostTensor],
    sizes: &Sizes,
    want: &[HostTensor],
) -> Result<(), String> {
    verify(g).map_err(|e| format!("{what}: the result does not verify: {e}\n{g}"))?;
    let got = interp::run(g, inputs, sizes)
        .map_err(|e| format!("{what}: the interpreter fails on the result: {e}\n{g}"))?;
    same_results(want, &got).map_err(|e| format!("{what}: {e}\n{g}"))
}

fn passes_preserve(seed: u64) -> Result<(), String> {
    let f = random_func(seed);
    let sizes = sizes_for(&f, seed);
    let inputs = random_inputs(&f, &sizes, seed)?;
    let want = interp::run(&f, &inputs, &sizes)
        .map_err(|e| format!("the interpreter fails on the generated graph: {e}\n{f}"))?;
    // Each pipeline pass alone, on the original graph.
    for name in passes::pass_names() {
        let pass = passes::pass_by_name(name).ok_or_else(|| format!("no pass named {name}"))?;
        let mut g = f.clone();
        pass.run(&mut g).map_err(|e| format!("pass {name} alone: {e}"))?;
        check_same(&format!("pass {name} alone"), &g, &inputs, &sizes, &want)?;
    }
    // The pipeline pass by pass (each state after the ones before it).
    let mut states: Vec<(String, Func)> = Vec::new();
    let mut g = f.clone();
    let mut record = |name: &str, g: &Func| states.push((name.to_string(), g.clone()));
    let opts =
        PipelineOptions { verify: true, stop_after: None, dump: None, on_pass: Some(&mut record) };
    passes::run_pipeline(&mut g, opts).map_err(|e| format!("run_pipeline: {e}"))?;
    for (i, (name, state)) in states.iter().enumerate() {
        check_same(&format!("pipeline step {i} ({name})"), state, &inputs, &sizes, &want)?;
    }
    // And `optimize`, the default entry point.
    let mut g = f.clone();
    passes::optimize(&mut g).map_err(|e| format!("optimize: {e}"))?;
    check_same("optimize", &g, &inputs, &sizes, &want)
}

#[test]
fn every_pass_preserves_the_interpreters_results() {
    let mut failures = Vec::new();
    for seed in 0..SEMANTIC_SEEDS {
        if let Err(e) = passes_preserve(seed) {
            failures.push(format!("seed {seed}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {SEMANTIC_SEEDS} seeds fail; the first:\n{}",
        failures.len(),
        failures.iter().take(3).cloned().collect::<Vec<_>>().join("\n\n")
    );
}

/// The planner's invariants, checked independently of `Plan::check`: every
/// instruction of `f` is in exactly one kernel, and the graph of kernels
/// (an edge where a kernel reads a value another computes) is acyclic.
fn plan_invariants(f: &Func) -> Result<(), String> {
    let p = plan::plan(f).map_err(|e| format!("plan::plan fails: {e}"))?;
    let mut owner: HashMap<NodeId, usize> = HashMap::new();
    for (k, kernel) in p.kernels.iter().enumerate() {
        for &n in &kernel.nodes {
            if !f.contains(n) || matches!(f.node(n).op, Op::Param { .. }) {
                return Err(format!("{} holds {n}, which is no instruction", kernel.name));
            }
            if let Some(other) = owner.insert(n, k) {
                return Err(format!("{n} is in {} and {}", p.kernels[other].name, kernel.name));
            }
        }
    }
    if let Some(n) = f.program_order().into_iter().find(|n| !owner.contains_key(n)) {
        return Err(format!("{n} is in no kernel"));
    }
    // Kahn's algorithm over kernel dependencies.
    let nk = p.kernels.len();
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nk];
    for (k, kernel) in p.kernels.iter().enumerate() {
        for &n in &kernel.nodes {
            for v in f.node(n).value_operands() {
                if let Some(&src) = owner.get(&v)
                    && src != k
                {
                    deps[k].insert(src);
                }
            }
        }
    }
    let mut indeg: Vec<usize> = deps.iter().map(BTreeSet::len).collect();
    let mut ready: Vec<usize> = (0..nk).filter(|&k| indeg[k] == 0).collect();
    let mut done = 0;
    while let Some(k) = ready.pop() {
        done += 1;
        for (j, d) in deps.iter().enumerate() {
            if d.contains(&k) {
                indeg[j] -= 1;
                if indeg[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    if done != nk {
        return Err(format!("the kernel graph has a cycle ({} of {nk} kernels on it)", nk - done));
    }
    p.check(f).map_err(|e| format!("Plan::check: {e}"))
}

#[test]
fn planner_invariants_hold_on_every_random_graph() {
    let mut failures = Vec::new();
    for seed in 0..SEMANTIC_SEEDS {
        let f = random_func(seed);
        if let Err(e) = plan_invariants(&f) {
            failures.push(format!("seed {seed} (as generated): {e}\n{f}"));
            continue;
        }
        let mut g = f.clone();
        match passes::optimize(&mut g) {
            Ok(_) => {
                if let Err(e) = plan_invariants(&g) {
                    failures.push(format!("seed {seed} (optimized): {e}\n{g}"));
                }
            }
            Err(e) => failures.push(format!("seed {seed}: optimize: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {SEMANTIC_SEEDS} seeds fail; the first:\n{}",
        failures.len(),
        failures.iter().take(3).cloned().collect::<Vec<_>>().join("\n\n")
    );
}
