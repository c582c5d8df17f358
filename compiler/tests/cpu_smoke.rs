//! First end-to-end checks of the CPU backend: the benchmark workloads
//! against the interpreter, fused and unfused.

mod cpu_common;

use cpu_common::*;
use smelt_compiler::backend::cpu::Numerics;
use smelt_compiler::ir::DType;

const SOFTMAX: &str = "func @softmax(%x: f32[N, C]) -> (f32[N, C]) {
  %m = max(%x) dims=[1] keepdim=true
  %s = sub(%x, %m)
  %e = exp(%s)
  %z = sum(%e) dims=[1] keepdim=true
  %y = div(%e, %z)
  return %y
}";

const LAYERNORM: &str = "func @ln(%x: f32[N, C], %w: f32[C], %b: f32[C]) -> (f32[N, C]) {
  %mu = mean(%x) dims=[1] keepdim=true
  %d = sub(%x, %mu)
  %sq = mul(%d, %d)
  %var = mean(%sq) dims=[1] keepdim=true
  %ve = add(%var, 1e-5)
  %r = rsqrt(%ve)
  %n = mul(%d, %r)
  %s = mul(%n, %w)
  %y = add(%s, %b)
  return %y
}";

const GELU: &str = "func @gelu(%x: f32[N]) -> (f32[N]) {
  %a = mul(%x, 1.7)
  %b = add(%a, 0.3)
  %h = mul(%b, 0.7071067811865476)
  %e = erf(%h)
  %e1 = add(%e, 1.0)
  %g = mul(%b, %e1)
  %y = mul(%g, 0.5)
  return %y
}";

#[test]
fn workloads_match_the_interpreter() {
    let mut rng = Rng(7);
    for fusion in [true, false] {
        let mut cpu = backend(fusion, Numerics::Fused);
        for dt in [DType::F32, DType::BF16, DType::F16, DType::F64] {
            for (n, c) in [(1, 1), (3, 3), (5, 50), (2, 783), (64, 1024)] {
                let x = tensor(&mut rng, dt, &[n, c], -4.0, 4.0);
                let w = tensor(&mut rng, dt, &[c], -1.0, 1.0);
                let b = tensor(&mut rng, dt, &[c], -1.0, 1.0);
                let sm = SOFTMAX.replace("f32", dt.name());
                compare(&mut cpu, &sm, std::slice::from_ref(&x));
                let ln = LAYERNORM.replace("f32", dt.name());
                compare(&mut cpu, &ln, &[x.clone(), w, b]);
                let ge = GELU.replace("f32", dt.name());
                let flat = tensor(&mut rng, dt, &[n * c], -4.0, 4.0);
                compare(&mut cpu, &ge, &[flat]);
            }
        }
    }
}
