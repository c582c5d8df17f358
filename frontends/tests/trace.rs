//! trace(): every op recorded, inputs then lifted captures as parameters,
//! the function verifies and the interpreter reproduces eager's results.

mod common;

use common::{assert_close, randn};
use smelt_compiler::interp::{Bindings, run};
use smelt_compiler::ir::{DType, Op, verify};
use smelt_frontends::trace;
use smelt_runtime::functional::{Approximate, gelu, layer_norm, linear, softmax};
use smelt_runtime::{Generator, Tensor};

/// Runs the traced function in the interpreter on inputs + lifted tensors.
fn interpret(t: &smelt_frontends::Traced, inputs: &[Tensor]) -> Vec<Tensor> {
    let hosts: Vec<_> = inputs.iter().chain(&t.lifted).map(Tensor::to_host).collect();
    let outs = run(&t.func, &hosts, &Bindings::new()).expect("interpreter");
    outs.iter().map(Tensor::from_host).collect()
}

#[test]
fn mlp_round_trips_and_lifts_its_weights() {
    let mut rng = Generator::new(1);
    let (w1, b1) = (randn(&[32, 16], &mut rng), randn(&[32], &mut rng));
    let (w2, b2) = (randn(&[16, 32], &mut rng), randn(&[16], &mut rng));
    let x = randn(&[3, 5, 16], &mut rng);
    let ws = [w1.clone(), b1.clone(), w2.clone(), b2.clone()];
    let f = move |x: &[Tensor]| {
        let h = gelu(&linear(&x[0], &ws[0], Some(&ws[1]))?, Approximate::None)?;
        Ok(vec![linear(&h, &ws[2], Some(&ws[3]))?])
    };
    let t = trace(&f, std::slice::from_ref(&x)).expect("trace");
    verify(&t.func).expect("verifies");
    assert_eq!(t.func.params().len(), 5, "x then four weights:\n{}", t.func);
    assert_eq!(t.lifted.len(), 4);
    let ids: Vec<_> = t.lifted.iter().map(Tensor::id).collect();
    assert_eq!(ids, vec![w1.id(), b1.id(), w2.id(), b2.id()]);
    assert!(t.breaks.is_empty());
    let eager = f(std::slice::from_ref(&x)).expect("eager");
    let got = interpret(&t, std::slice::from_ref(&x));
    assert_close("mlp", &got[0], &eager[0]);
    assert_close("traced outputs", &t.outputs[0], &eager[0]);
    let matmuls = t.func.node_ids().iter().filter(|&&n| t.func.node(n).op == Op::Matmul).count();
    assert_eq!(matmuls, 2);
}

#[test]
fn composites_are_recorded_decomposed_with_literals_inline() {
    let mut rng = Generator::new(2);
    let x = randn(&[4, 8], &mut rng);
    let f = |x: &[Tensor]| {
        let y = softmax(&x[0].mul(0.5)?, -1)?;
        Ok(vec![layer_norm(&y, &[8], None, None, 1e-5)?])
    };
    let t = trace(f, std::slice::from_ref(&x)).expect("trace");
    verify(&t.func).expect("verifies");
    assert!(t.lifted.is_empty());
    let text = t.func.to_string();
    assert!(text.contains("0.5"), "literal stays inline:\n{text}");
    assert!(text.contains("exp(") && text.contains("rsqrt("), "decomposed:\n{text}");
    let eager = f(std::slice::from_ref(&x)).expect("eager");
    assert_close("softmax+layer_norm", &interpret(&t, std::slice::from_ref(&x))[0], &eager[0]);
}

#[test]
fn outputs_that_are_inputs_or_captures_come_back() {
    let mut rng = Generator::new(3);
    let (x, w) = (randn(&[2, 3], &mut rng), randn(&[2, 3], &mut rng));
    let w2 = w.clone();
    let f = move |x: &[Tensor]| Ok(vec![x[0].clone(), w2.clone(), x[0].add(&w2)?]);
    let t = trace(&f, std::slice::from_ref(&x)).expect("trace");
    verify(&t.func).expect("verifies");
    assert_eq!(t.func.results()[0], t.func.params()[0]);
    assert_eq!(t.func.results()[1], t.func.params()[1]);
    let got = interpret(&t, std::slice::from_ref(&x));
    let want = f(std::slice::from_ref(&x)).expect("eager");
    for (g, w) in got.iter().zip(&want) {
        assert_close("passthrough", g, w);
    }
}

#[test]
fn views_and_constants_are_recorded() {
    let mut rng = Generator::new(4);
    let x = randn(&[2, 3, 4], &mut rng);
    let f = |x: &[Tensor]| {
        let a = x[0].permute(&[2, 0, 1])?.reshape(&[4, 6])?;
        let b = a.slice(1, 1, 5, 2)?.transpose(0, 1)?;
        let c = b.unsqueeze(0)?.expand(&[3, 2, 4])?;
        let ones = Tensor::ones(&[3, 2, 4], DType::F32)?;
        Ok(vec![c.add(&ones)?.sum(&[0, 2], false)?])
    };
    let t = trace(f, std::slice::from_ref(&x)).expect("trace");
    verify(&t.func).expect("verifies");
    assert!(t.lifted.is_empty(), "ones() is recorded as a const:\n{}", t.func);
    let eager = f(std::slice::from_ref(&x)).expect("eager");
    assert_close("views", &interpret(&t, std::slice::from_ref(&x))[0], &eager[0]);
}

#[test]
fn opaque_ops_are_listed_as_breaks() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).expect("x");
    let f = |x: &[Tensor]| {
        let mut rng = Generator::new(9);
        let noise = Tensor::rand(&[3], DType::F32, &mut rng)?;
        Ok(vec![x[0].add(&noise)?])
    };
    let t = trace(f, std::slice::from_ref(&x)).expect("trace");
    assert_eq!(t.breaks, vec!["rand".to_string()]);
    assert_eq!(t.lifted.len(), 1, "the opaque result is captured");
}

#[test]
fn a_failing_program_fails_the_trace() {
    let x = Tensor::from_vec(vec![1.0f32; 6], &[2, 3]).expect("x");
    let err = trace(|x: &[Tensor]| Ok(vec![x[0].matmul(&x[0])?]), std::slice::from_ref(&x))
        .expect_err("shapes do not fit");
    let msg = err.to_string();
    assert!(msg.contains("matmul") && msg.contains("[2, 3]"), "{msg}");
}
