//! Every op × dtype on the CPU backend against the interpreter, at sizes 1,
//! 3, 50, 783 and 4096 (scalar tails, one vector step, many), with broadcast
//! operands, fused and unfused.

mod cpu_common;

use cpu_common::*;
use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{CpuBackend, Numerics};
use smelt_compiler::interp::{self, Bindings};
use smelt_compiler::ir::{Binary, DType, ReduceKind, Unary, parse_func};

const SIZES: [usize; 5] = [1, 3, 50, 783, 4096];
const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];
const INTS: [DType; 4] = [DType::I64, DType::I32, DType::I8, DType::U8];

/// Runs both; both fail or both agree.
fn both(cpu: &mut CpuBackend, src: &str, inputs: &[HostTensor]) {
    let f = parse_func(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let want = interp::run(&f, inputs, &Bindings::new());
    let got = cpu.run(&f, inputs, &Bindings::new());
    match (want, got) {
        (Ok(w), Ok(g)) => {
            for (i, (g, w)) in g.iter().zip(&w).enumerate() {
                check_close(&format!("{src}\nresult {i}"), g, w);
            }
        }
        (Err(_), Err(_)) => {}
        (w, g) => panic!("{src}\ninterp: {:?}\ncpu: {:?}", w.err(), g.err()),
    }
}

fn backends() -> Vec<CpuBackend> {
    vec![
        backend(true, Numerics::Fused),
        backend(false, Numerics::Fused),
        backend(true, Numerics::Eager),
    ]
}

#[test]
fn unary_ops_on_every_dtype() {
    let mut rng = Rng(1);
    for cpu in &mut backends() {
        for kind in Unary::ALL {
            for d in FLOATS.iter().chain(&INTS).chain(&[DType::Bool]) {
                if !kind.accepts(*d) {
                    continue;
                }
                for n in SIZES {
                    let src = format!(
                        "func @f(%x: {d}[{n}]) -> ({d}[{n}]) {{\n  %y = {}(%x)\n  return %y\n}}",
                        kind.name()
                    );
                    let x = tensor(&mut rng, *d, &[n], -5.0, 5.0);
                    both(cpu, &src, &[x]);
                }
            }
        }
    }
}

#[test]
fn binary_ops_on_every_dtype_with_broadcasts() {
    let mut rng = Rng(2);
    for cpu in &mut backends() {
        for kind in Binary::ALL {
            for d in FLOATS.iter().chain(&INTS).chain(&[DType::Bool]) {
                if !kind.accepts(*d) {
                    continue;
                }
                let out = if kind.is_comparison() { DType::Bool } else { *d };
                for n in SIZES {
                    for (sa, sb, so) in [
                        (format!("3, {n}"), format!("3, {n}"), format!("3, {n}")),
                        (format!("3, {n}"), format!("{n}"), format!("3, {n}")),
                        ("3, 1".to_string(), format!("1, {n}"), format!("3, {n}")),
                        (format!("{n}"), "1".to_string(), format!("{n}")),
                    ] {
                        let src = format!(
                            "func @f(%a: {d}[{sa}], %b: {d}[{sb}]) -> ({out}[{so}]) {{\n  %y = {}(%a, %b)\n  return %y\n}}",
                            kind.name()
                        );
                        let f = parse_func(&src).unwrap();
                        let shape = |p: usize| {
                            f.ty(f.params()[p])
                                .shape
                                .as_consts()
                                .unwrap()
                                .iter()
                                .map(|&x| x as usize)
                                .collect::<Vec<_>>()
                        };
                        // Integer pow and div by zero are faults: keep exponents and divisors positive.
                        let lo = if d.is_int()
                            && matches!(kind, Binary::Pow | Binary::Div | Binary::Rem)
                        {
                            1.0
                        } else {
                            -4.0
                        };
                        let a = tensor(&mut rng, *d, &shape(0), -4.0, 4.0);
                        let b = tensor(&mut rng, *d, &shape(1), lo, 4.0);
                        both(cpu, &src, &[a, b]);
                    }
                }
            }
        }
    }
}

#[test]
fn literals_select_and_casts() {
    let mut rng = Rng(3);
    let all: Vec<DType> = DType::ALL.to_vec();
    for cpu in &mut backends() {
        for n in SIZES {
            for &from in &all {
                for &to in &all {
                    let src = format!(
                        "func @f(%x: {from}[{n}]) -> ({to}[{n}]) {{\n  %y = cast(%x) to={to}\n  return %y\n}}"
                    );
                    let x = tensor(&mut rng, from, &[n], -300.0, 300.0);
                    both(cpu, &src, &[x]);
                }
            }
            for d in FLOATS {
                let src = format!(
                    "func @f(%c: bool[{n}], %a: {d}[{n}], %b: {d}[1]) -> ({d}[{n}]) {{\n  %s = select(%c, %a, %b)\n  %t = mul(%s, 2.5)\n  %u = select(%c, %t, 1.0)\n  return %u\n}}"
                );
                let c = tensor(&mut rng, DType::Bool, &[n], 0.0, 1.0);
                let a = tensor(&mut rng, d, &[n], -3.0, 3.0);
                let b = tensor(&mut rng, d, &[1], -3.0, 3.0);
                both(cpu, &src, &[c, a, b]);
            }
        }
    }
}

#[test]
fn reductions_over_inner_outer_and_all_dims() {
    let mut rng = Rng(4);
    for cpu in &mut backends() {
        for kind in ReduceKind::ALL {
            for d in FLOATS.iter().chain(&INTS) {
                if kind == ReduceKind::Mean && !d.is_float() {
                    continue;
                }
                for n in SIZES {
                    let out = if kind.is_arg() { DType::I64 } else { *d };
                    let mut cases = vec![
                        (format!("3, {n}"), "1", "3, 1", "true"),
                        (format!("3, {n}"), "0", format!("{n}").leak() as &str, "false"),
                    ];
                    if !kind.is_arg() {
                        cases.push((format!("2, 3, {n}"), "0, 2", "3", "false"));
                    }
                    for (shape, dims, oshape, keep) in cases {
                        let src = format!(
                            "func @f(%x: {d}[{shape}]) -> ({out}[{oshape}]) {{\n  %y = {}(%x) dims=[{dims}] keepdim={keep}\n  return %y\n}}",
                            kind.name()
                        );
                        let f = parse_func(&src).unwrap();
                        let s: Vec<usize> = f
                            .ty(f.params()[0])
                            .shape
                            .as_consts()
                            .unwrap()
                            .iter()
                            .map(|&x| x as usize)
                            .collect();
                        // Products of many values overflow: keep them near 1.
                        let (lo, hi) =
                            if kind == ReduceKind::Prod { (0.9, 1.1) } else { (-4.0, 4.0) };
                        let (lo, hi) = if kind == ReduceKind::Prod && d.is_int() {
                            (1.0, 1.0)
                        } else {
                            (lo, hi)
                        };
                        let x = tensor(&mut rng, *d, &s, lo, hi);
                        both(cpu, &src, &[x]);
                    }
                }
            }
        }
    }
}

#[test]
fn movement_ops_inside_kernels() {
    let mut rng = Rng(5);
    for cpu in &mut backends() {
        for d in [DType::F32, DType::BF16, DType::I32, DType::Bool] {
            for n in [1usize, 3, 50, 783] {
                let srcs = [
                    format!(
                        "func @f(%x: {d}[2, {n}]) -> ({d}[{n}, 2]) {{\n  %y = permute(%x) dims=[1, 0]\n  return %y\n}}"
                    ),
                    format!(
                        "func @f(%x: {d}[2, {n}]) -> ({d}[{n}, 2]) {{\n  %y = reshape(%x) shape=[{n}, 2]\n  return %y\n}}"
                    ),
                    format!(
                        "func @f(%x: {d}[4, {n}]) -> ({d}[2, {}]) {{\n  %y = slice(%x) starts=[1, 0] ends=[4, {n}] steps=[2, 2]\n  return %y\n}}",
                        n.div_ceil(2)
                    ),
                    format!(
                        "func @f(%x: {d}[2, {n}], %z: {d}[2, 3]) -> ({d}[2, {}]) {{\n  %y = concat(%x, %z, %x) axis=1\n  return %y\n}}",
                        2 * n + 3
                    ),
                    format!(
                        "func @f(%x: {d}[{n}, 3], %i: i64[5]) -> ({d}[5, 3]) {{\n  %y = gather(%x, %i) axis=0\n  return %y\n}}"
                    ),
                    // More than four parts: the branching lowering, along a
                    // row dim (lanes stay vectorized) and along the lane dim,
                    // with a consumer fused after it.
                    format!(
                        "func @f(%x: {d}[2, {n}], %z: {d}[3, {n}]) -> ({d}[14, {n}], {d}[28, {n}]) {{\n  %y = concat(%x, %z, %x, %z, %x, %x) axis=0\n  %w = concat(%y, %y) axis=0\n  return %y, %w\n}}"
                    ),
                    format!(
                        "func @f(%x: {d}[2, {n}], %z: {d}[2, 3]) -> ({d}[2, {}]) {{\n  %y = concat(%z, %x, %z, %x, %z) axis=1\n  return %y\n}}",
                        2 * n + 9
                    ),
                    format!(
                        "func @f(%x: {d}[{n}]) -> ({d}[3, {n}]) {{\n  %y = broadcast(%x) shape=[3, {n}]\n  return %y\n}}"
                    ),
                ];
                for src in srcs {
                    let f = parse_func(&src).unwrap();
                    let inputs: Vec<HostTensor> = f
                        .params()
                        .iter()
                        .map(|&p| {
                            let t = f.ty(p);
                            let s: Vec<usize> =
                                t.shape.as_consts().unwrap().iter().map(|&x| x as usize).collect();
                            if t.dtype == DType::I64 {
                                tensor(&mut rng, DType::I64, &s, 0.0, n as f64 - 1.0)
                            } else {
                                tensor(&mut rng, t.dtype, &s, -3.0, 3.0)
                            }
                        })
                        .collect();
                    both(cpu, &src, &inputs);
                }
            }
        }
        for to in [DType::F32, DType::I32, DType::BF16] {
            let src = format!(
                "func @f() -> ({to}[3, 783]) {{\n  %y = iota shape=[3, 783] dim=1 to={to}\n  %z = add(%y, 1)\n  return %z\n}}"
            );
            both(cpu, &src, &[]);
        }
    }
}

#[test]
fn a_fused_chain_with_a_gather_fault_is_an_error_not_a_wrong_result() {
    let mut cpu = backend(true, Numerics::Fused);
    let src = "func @f(%x: f32[4], %i: i64[2]) -> (f32[2]) {\n  %y = gather(%x, %i) axis=0\n  %z = exp(%y)\n  return %z\n}";
    let f = parse_func(src).unwrap();
    let x = HostTensor::from_f64(DType::F32, &[4], vec![1.0, 2.0, 3.0, 4.0]);
    let i = HostTensor::from_i64(DType::I64, &[2], vec![1, 9]);
    let e = cpu.run(&f, &[x, i], &Bindings::new()).unwrap_err();
    assert!(e.to_string().contains("gather index out of range"), "{e}");
}
