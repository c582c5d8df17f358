//! Properties of every random graph ([`smelt_testsuite::random_graph`]):
//! the text and JSON forms round trip, every pass preserves the
//! interpreter's results, and the planner's invariants hold.
//!
//! A failure names the seed; `random_func(seed)` rebuilds the graph.

use std::collections::BTreeSet;

use smelt_compiler::ir::json::{from_json, to_json};
use smelt_compiler::ir::{Module, Op, parse_func, verify};
use smelt_testsuite::random_graph::random_func;

/// Seeds for the round-trip property.
const ROUND_TRIP_SEEDS: u64 = 600;

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
