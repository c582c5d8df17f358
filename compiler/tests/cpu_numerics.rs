//! Numerics of the CPU backend: bf16 stores bit-exact with AMP.md's rule on
//! edge cases (vector lanes and scalar tails), f16 stores exact, the inline
//! transcendentals' accuracy over their whole input ranges, and the kernel
//! cache (a new size of a symbolic dim compiles nothing).

mod cpu_common;

use cpu_common::*;
use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::Numerics;
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{DType, parse_func};
use smelt_compiler::numerics::f32_to_bf16_bits;
use smelt_compiler::tensor::Data;

/// f32 inputs as a tensor (exact).
fn f32s(v: &[f32]) -> HostTensor {
    HostTensor::from_f64(DType::F32, &[v.len()], v.iter().map(|&x| f64::from(x)).collect())
}

fn edge_cases() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        1.0 + 2f32.powi(-8),                  // tie → even (1.0)
        1.0 + 3.0 * 2f32.powi(-8),            // tie → even (up)
        1.0 + 2f32.powi(-8) + 2f32.powi(-20), // just above a tie
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7F80_0001), // signalling NaN
        f32::MAX,                    // rounds to inf
        f32::from_bits(0x7F7F_7FFF), // stays finite
        f32::MIN_POSITIVE,
        1e-40, // denormal
        -1e-40,
        f32::from_bits(0x0000_8000), // denormal tie
        f32::from_bits(0x0001_8000), // denormal tie, odd
        65504.0,
        0.1,
        -3.7,
    ];
    // Many patterns around every rounding boundary class, to fill vector lanes.
    let mut x: u32 = 0x3F80_0000;
    for _ in 0..300 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        v.push(f32::from_bits(x));
        v.push(f32::from_bits((x & 0xFFFF_0000) | 0x8000));
    }
    v
}

#[test]
fn bf16_stores_are_bit_exact_with_the_rounding_rule() {
    let xs = edge_cases();
    for fusion in [true, false] {
        let mut cpu = backend(fusion, Numerics::Fused);
        for len in [xs.len(), 3, 1] {
            let xs = &xs[..len];
            let src = format!(
                "func @f(%x: f32[{len}]) -> (bf16[{len}]) {{\n  %y = cast(%x) to=bf16\n  return %y\n}}"
            );
            let f = parse_func(&src).unwrap();
            let out = cpu.run(&f, &[f32s(xs)], &Bindings::new()).unwrap();
            let Data::Float(got) = &out[0].data else { panic!("bf16 holds floats") };
            for (i, (&x, &g)) in xs.iter().zip(got).enumerate() {
                let want = f32_to_bf16_bits(x);
                let g = g as f32;
                let bits = if g.is_nan() { 0x7FC0 } else { (g.to_bits() >> 16) as u16 };
                assert_eq!(g.to_bits() & 0xFFFF, 0, "element {i}: not a bf16 value");
                assert_eq!(bits, want, "element {i}: {x:e} ({:#010x})", x.to_bits());
            }
        }
    }
}

#[test]
fn bf16_results_of_arithmetic_round_like_the_rule() {
    // y = x * 1 + 0 in bf16 is computed in f32 and stored: the stored bits must
    // be the rule applied to the f32 result, lane and tail alike.
    let mut rng = Rng(9);
    let mut cpu = backend(true, Numerics::Fused);
    let n = 1003;
    let x = tensor(&mut rng, DType::BF16, &[n], -100.0, 100.0);
    let y = tensor(&mut rng, DType::BF16, &[n], -100.0, 100.0);
    let src = format!(
        "func @f(%x: bf16[{n}], %y: bf16[{n}]) -> (bf16[{n}]) {{\n  %z = mul(%x, %y)\n  return %z\n}}"
    );
    let f = parse_func(&src).unwrap();
    let out = cpu.run(&f, &[x.clone(), y.clone()], &Bindings::new()).unwrap();
    let (xv, yv, ov) = (x.to_f64_vec(), y.to_f64_vec(), out[0].to_f64_vec());
    for i in 0..n {
        let p = (xv[i] as f32) * (yv[i] as f32);
        let want = f32::from_bits(u32::from(f32_to_bf16_bits(p)) << 16);
        assert_eq!(ov[i] as f32, want, "element {i}");
    }
}

/// Distance in ulps between two f32s (0 for equal, including ±0).
fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i32::MIN.wrapping_sub(i) } else { i }
    };
    key(a).abs_diff(key(b))
}

/// Runs unary `op` on f32 `xs` and checks each result against the f64
/// reference `r` rounded to f32: ≤ 4 ulp, or ≤ 1e-6 relative; special
/// values exact. Returns the largest ulp error seen.
fn accuracy(op: &str, xs: &[f32], r: fn(f64) -> f64) -> u32 {
    let mut cpu = backend(true, Numerics::Fused);
    let n = xs.len();
    let src = format!("func @f(%x: f32[{n}]) -> (f32[{n}]) {{\n  %y = {op}(%x)\n  return %y\n}}");
    let f = parse_func(&src).unwrap();
    let out = cpu.run(&f, &[f32s(xs)], &Bindings::new()).unwrap();
    let got = out[0].to_f64_vec();
    let mut worst = 0;
    for (&x, &g) in xs.iter().zip(&got) {
        let want = r(f64::from(x)) as f32;
        let g = g as f32;
        if want.is_nan() || g.is_nan() || want.is_infinite() || g.is_infinite() {
            assert!(
                (want.is_nan() && g.is_nan()) || want == g,
                "{op}({x:e}) = {g:e}, want {want:e}"
            );
            continue;
        }
        let u = ulps(g, want);
        let rel = ((f64::from(g) - f64::from(want)) / f64::from(want)).abs();
        assert!(u <= 4 || rel <= 1e-6, "{op}({x:e}) = {g:e}, want {want:e}: {u} ulp, rel {rel:e}");
        worst = worst.max(u);
    }
    worst
}

/// `count` points evenly over [lo, hi] plus the special values.
fn sweep(lo: f32, hi: f32, count: usize) -> Vec<f32> {
    let mut v: Vec<f32> =
        (0..count).map(|i| lo + (hi - lo) * (i as f32 / (count - 1) as f32)).collect();
    v.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40, -1e-40, 1e-30]);
    v
}

#[test]
fn inline_transcendentals_are_accurate_over_their_ranges() {
    type Case = (&'static str, f32, f32, fn(f64) -> f64);
    let cases: [Case; 13] = [
        ("exp", -104.0, 89.0, f64::exp),
        ("exp2", -150.0, 128.5, f64::exp2),
        ("sigmoid", -105.0, 105.0, |x| 1.0 / (1.0 + (-x).exp())),
        ("tanh", -20.0, 20.0, f64::tanh),
        ("erf", -6.0, 6.0, libm::erf),
        ("log", 1e-30, 1e30, f64::ln),
        ("log2", 1e-30, 1e30, f64::log2),
        ("sin", -100.0, 100.0, f64::sin),
        ("cos", -100.0, 100.0, f64::cos),
        // Past 2^20 the lanes take the exact helper in a branch.
        ("sin", -3e6, 3e6, f64::sin),
        ("cos", -1e38, 1e38, f64::cos),
        ("rsqrt", 1e-30, 1e30, |x| 1.0 / x.sqrt()),
        ("sqrt", 0.0, 1e30, f64::sqrt),
    ];
    for (op, lo, hi, r) in cases {
        let worst = accuracy(op, &sweep(lo, hi, 200_003), r);
        // Finer sweep near zero, where relative error is hardest.
        let near = accuracy(op, &sweep(-1.0f32.max(lo), 1.0f32.min(hi), 100_001), r);
        eprintln!("{op}: max {} ulp", worst.max(near));
    }
}

/// Every `step`-th positive f32 from the smallest denormal to the largest
/// finite value (so every binade, denormals included), then the special values
/// and negative inputs.
fn positive_bits(step: u32) -> Vec<f32> {
    let mut v: Vec<f32> = (1..0x7F80_0000u32).step_by(step as usize).map(f32::from_bits).collect();
    v.extend([
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::from_bits(0x007F_FFFF),
        1.0,
        1.0 - f32::EPSILON / 2.0,
        1.0 + f32::EPSILON,
        std::f32::consts::SQRT_2,
        std::f32::consts::FRAC_1_SQRT_2,
        2.0,
        0.5,
    ]);
    v.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, -1e-40, -1.0]);
    v.extend([-f32::MIN_POSITIVE, -f32::MAX, f32::from_bits(0x7F80_0001)]);
    v
}

#[test]
fn log_and_log2_are_accurate_over_every_positive_f32() {
    // ≤ 4 ulp (or 1e-6 relative) against f64 at every 61st bit pattern of
    // [2^-149, f32::MAX] and finely around 1, where the result is tiny.
    let all = positive_bits(61);
    let mut near: Vec<f32> = (0x3F70_0000u32..0x3F88_0000).map(f32::from_bits).collect();
    near.extend([0.0, f32::NAN]);
    for (op, r) in [("log", f64::ln as fn(f64) -> f64), ("log2", f64::log2)] {
        let worst = accuracy(op, &all, r).max(accuracy(op, &near, r));
        eprintln!("{op} over every binade: max {worst} ulp");
        assert!(worst <= 4, "{op}: {worst} ulp");
    }
}

#[test]
fn log_special_values_are_exact_in_lanes_and_tails() {
    let xs =
        [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -1.0, -1e-40, 1.0, 2.0, 1e-45, 0.5];
    let mut cpu = backend(true, Numerics::Fused);
    for (op, r) in [("log", f64::ln as fn(f64) -> f64), ("log2", f64::log2)] {
        for len in [xs.len(), 8, 3, 1] {
            let xs = &xs[..len];
            let src = format!(
                "func @f(%x: f32[{len}]) -> (f32[{len}]) {{\n  %y = {op}(%x)\n  return %y\n}}"
            );
            let f = parse_func(&src).unwrap();
            let out = cpu.run(&f, &[f32s(xs)], &Bindings::new()).unwrap();
            for (&x, g) in xs.iter().zip(out[0].to_f64_vec()) {
                let want = r(f64::from(x)) as f32;
                let g = g as f32;
                if want.is_nan() {
                    assert!(g.is_nan(), "{op}({x:e}) = {g:e}, want NaN");
                } else if want.is_infinite() || x == 1.0 || x == 2.0 || x == 0.5 {
                    assert_eq!(g, want, "{op}({x:e})");
                } else {
                    assert!(ulps(g, want) <= 4, "{op}({x:e}) = {g:e}, want {want:e}");
                }
            }
        }
    }
}

#[test]
fn a_new_symbolic_size_compiles_nothing() {
    let src = "func @softmax(%x: f32[N, C]) -> (f32[N, C]) {
  %m = max(%x) dims=[1] keepdim=true
  %s = sub(%x, %m)
  %e = exp(%s)
  %z = sum(%e) dims=[1] keepdim=true
  %y = div(%e, %z)
  return %y
}";
    let f = parse_func(src).unwrap();
    let mut rng = Rng(11);
    let mut cpu = backend(true, Numerics::Fused);
    let x = tensor(&mut rng, DType::F32, &[4, 100], -3.0, 3.0);
    compare_func(&mut cpu, &f, &[x], src);
    let first = cpu.kernels_compiled();
    assert!(first >= 1);
    // The run's own stats say what it compiled, and how long that took.
    assert!(cpu.last.compiled >= 1 && cpu.last.compile_ms > 0.0, "{:?}", cpu.last);
    let x = tensor(&mut rng, DType::F32, &[37, 1029], -3.0, 3.0);
    compare_func(&mut cpu, &f, &[x], src);
    assert_eq!(cpu.kernels_compiled(), first, "a new N and C compiled a kernel");
    assert_eq!(cpu.last.compiled, 0, "{:?}", cpu.last);
    // The same function with constant sizes shares the kernel too.
    let g = parse_func(&src.replace("N, C", "8, 77")).unwrap();
    let x = tensor(&mut rng, DType::F32, &[8, 77], -3.0, 3.0);
    compare_func(&mut cpu, &g, &[x], src);
    assert_eq!(cpu.kernels_compiled(), first);
}

#[test]
fn identical_kernels_share_one_compiled_function() {
    // Two independent scaled adds: two kernels with the same code.
    let src = "func @f(%a: f32[N], %b: f32[M]) -> (f32[N], f32[M]) {
  %x = mul(%a, 3.0)
  %y = mul(%b, 3.0)
  return %x, %y
}";
    let f = parse_func(src).unwrap();
    let mut rng = Rng(12);
    let mut cpu = backend(false, Numerics::Fused);
    let a = tensor(&mut rng, DType::F32, &[10], -3.0, 3.0);
    let b = tensor(&mut rng, DType::F32, &[7], -3.0, 3.0);
    compare_func(&mut cpu, &f, &[a, b], src);
    assert_eq!(cpu.last.kernels, 2);
    assert_eq!(cpu.kernels_compiled(), 1);
}

/// Every f32 in `[lo, hi)` with a mantissa step of `step` bit patterns (so
/// the sweep crosses binades evenly in ulps).
fn bits_between(lo: f32, hi: f32, step: u32) -> Vec<f32> {
    (lo.to_bits()..hi.to_bits()).step_by(step as usize).map(f32::from_bits).collect()
}

#[test]
fn sin_and_cos_are_accurate_near_multiples_of_pi_and_every_binade() {
    // Near kπ/2 the result is tiny and a poor reduction shows at once.
    let mut xs: Vec<f32> = Vec::new();
    for k in 1..2000 {
        let c = (f64::from(k) * std::f64::consts::FRAC_PI_2) as f32;
        let b = c.to_bits();
        xs.extend((b - 8..b + 8).map(f32::from_bits));
    }
    xs.extend(bits_between(1e-30, 1e6, 997));
    xs.extend(xs.clone().iter().map(|x| -x));
    for (op, r) in [("sin", f64::sin as fn(f64) -> f64), ("cos", f64::cos)] {
        let worst = accuracy(op, &xs, r);
        eprintln!("{op} near kπ/2 and over every binade to 1e6: max {worst} ulp");
        assert!(worst <= 1, "{op}: {worst} ulp");
    }
}

#[test]
fn pow_is_accurate_and_has_c99_special_values() {
    let mut cpu = backend(true, Numerics::Fused);
    let run = |cpu: &mut smelt_compiler::backend::cpu::CpuBackend, xs: &[f32], ys: &[f32]| {
        let n = xs.len();
        let src = format!(
            "func @f(%x: f32[{n}], %y: f32[{n}]) -> (f32[{n}]) {{\n  %z = pow(%x, %y)\n  return %z\n}}"
        );
        let f = parse_func(&src).unwrap();
        let out = cpu.run(&f, &[f32s(xs), f32s(ys)], &Bindings::new()).unwrap();
        out[0].to_f64_vec().into_iter().map(|v| v as f32).collect::<Vec<f32>>()
    };
    // Accuracy: seeded pairs over wide ranges of x and y, results finite.
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..200_000 {
        let x = (2f64.powf(next() * 60.0 - 30.0)) as f32;
        let y = ((next() - 0.5) * 8.0) as f32;
        xs.push(x);
        ys.push(y);
        // Negative bases with integer exponents, and large exponents near 1.
        xs.push(-x);
        ys.push(((next() - 0.5) * 20.0).round() as f32);
        xs.push((1.0 + (next() - 0.5) * 0.01) as f32);
        ys.push(((next() - 0.5) * 20000.0) as f32);
    }
    let got = run(&mut cpu, &xs, &ys);
    let mut worst = 0;
    for ((&x, &y), &g) in xs.iter().zip(&ys).zip(&got) {
        let want = f64::from(x).powf(f64::from(y)) as f32;
        if !want.is_finite() || want == 0.0 {
            assert!(
                want == g || (want.is_nan() && g.is_nan()),
                "pow({x:e}, {y:e}) = {g:e}, want {want:e}"
            );
            continue;
        }
        let u = ulps(g, want);
        assert!(u <= 1, "pow({x:e}, {y:e}) = {g:e}, want {want:e}: {u} ulp");
        worst = worst.max(u);
    }
    eprintln!("pow: max {worst} ulp over {} pairs", xs.len());
    // Special values: every pair of a table, exactly as f32::powf.
    let sp = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        3.0,
        -3.0,
        2.5,
        -2.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-40,
        -1e-40,
        1e30,
        -1e30,
        16_777_216.0,
        -16_777_217.0,
    ];
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &x in &sp {
        for &y in &sp {
            xs.push(x);
            ys.push(y);
        }
    }
    for len in [xs.len(), 3, 1] {
        let got = run(&mut cpu, &xs[..len], &ys[..len]);
        for ((&x, &y), &g) in xs.iter().zip(&ys).zip(&got) {
            let want = f64::from(x).powf(f64::from(y)) as f32;
            let same = (want.is_nan() && g.is_nan()) || want.to_bits() == g.to_bits();
            assert!(
                same || ulps(g, want) <= 1 && want != 0.0,
                "pow({x:e}, {y:e}) = {g:e}, want {want:e}"
            );
        }
    }
}
