//! Autograd semantics (accumulation, no_grad, detach, retain_graph, errors)
//! and gradcheck of the composites made of primitives.

use smelt_compiler::ir::DType;
use smelt_runtime::autograd::{GradcheckOptions, gradcheck, is_grad_enabled, no_grad};
use smelt_runtime::functional as F;
use smelt_runtime::tensor::{Generator, Result, Tensor};

fn leaf(shape: &[usize], seed: u64) -> Tensor {
    let mut g = Generator::new(seed);
    Tensor::randn(shape, DType::F64, &mut g).unwrap().requires_grad_(true).unwrap()
}

fn check(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    if let Err(e) = gradcheck(f, inputs, GradcheckOptions::default()) {
        panic!("{e}");
    }
}

#[test]
fn composites() {
    let x = leaf(&[2, 3, 5], 1);
    check(|t| F::softmax(&t[0], -1), std::slice::from_ref(&x));
    check(|t| F::log_softmax(&t[0], 1), std::slice::from_ref(&x));
    check(|t| F::gelu(&t[0], F::Approximate::None), std::slice::from_ref(&x));
    check(|t| F::gelu(&t[0], F::Approximate::Tanh), std::slice::from_ref(&x));
    check(|t| F::silu(&t[0]), std::slice::from_ref(&x));
    let (w, b) = (leaf(&[5], 2), leaf(&[5], 3));
    check(|t| F::layer_norm(&t[0], &[5], Some(&t[1]), Some(&t[2]), 1e-5), &[x.clone(), w, b]);
    let (lw, lb) = (leaf(&[4, 5], 4), leaf(&[4], 5));
    check(|t| F::linear(&t[0], &t[1], Some(&t[2])), &[x.clone(), lw, lb]);
    let target = leaf(&[2, 3, 5], 6).detach();
    check(|t| F::mse_loss(&t[0], &target, F::Reduction::Mean), std::slice::from_ref(&x));
    let logits = leaf(&[4, 3], 7);
    let classes = Tensor::from_vec(vec![2i64, 0, 1, 2], &[4]).unwrap();
    check(|t| F::cross_entropy(&t[0], &classes, F::Reduction::Mean), std::slice::from_ref(&logits));
    let (q, k, v) = (leaf(&[2, 3, 4], 8), leaf(&[2, 5, 4], 9), leaf(&[2, 5, 4], 10));
    check(|t| F::scaled_dot_product_attention(&t[0], &t[1], &t[2], None, false, None), &[q, k, v]);
    let emb = leaf(&[6, 3], 11);
    let ids = Tensor::from_vec(vec![1i64, 5, 1, 0], &[2, 2]).unwrap();
    check(|t| F::embedding(&ids, &t[0]), &[emb]);
}

#[test]
fn gradients_accumulate_over_backward_calls() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]).unwrap().requires_grad_(true).unwrap();
    x.mul(&x).unwrap().sum(&[], false).unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_f64_vec(), vec![2.0, 4.0, 6.0]);
    x.mul(3.0).unwrap().sum(&[], false).unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_f64_vec(), vec![5.0, 7.0, 9.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
    // A tensor used twice gets both contributions.
    let y = x.mul(2.0).unwrap();
    y.add(&y).unwrap().sum(&[], false).unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_f64_vec(), vec![4.0, 4.0, 4.0]);
}

#[test]
fn no_grad_and_detach_cut_the_graph() {
    let x = leaf(&[3], 20);
    let y = no_grad(|| {
        assert!(!is_grad_enabled());
        x.mul(2.0).unwrap()
    });
    assert!(is_grad_enabled());
    assert!(!y.requires_grad() && y.is_leaf());
    let d = x.detach();
    assert!(!d.requires_grad());
    assert!(d.shares_storage(&x));
    let z = x.mul(&d).unwrap();
    assert_eq!(z.grad_fn_name().as_deref(), Some("mul"));
    z.sum(&[], false).unwrap().backward().unwrap();
    // Only the non-detached factor carries a gradient: dz/dx = d.
    assert_eq!(x.grad().unwrap().to_f64_vec(), x.to_f64_vec());
    let err = y.sum(&[], false).unwrap().backward().unwrap_err().to_string();
    assert!(err.contains("does not require grad"), "{err}");
}

#[test]
fn retain_graph() {
    let x = leaf(&[3], 21);
    let loss = x.exp().unwrap().sum(&[], false).unwrap();
    loss.backward_opts(None, true).unwrap();
    loss.backward().unwrap();
    let e = x.exp().unwrap().mul(2.0).unwrap().to_f64_vec();
    for (g, e) in x.grad().unwrap().to_f64_vec().iter().zip(e) {
        assert!((g - e).abs() < 1e-12);
    }
    let before = x.grad().unwrap().to_f64_vec();
    let err = loss.backward().unwrap_err().to_string();
    assert!(err.contains("second time") && err.contains("sum"), "{err}");
    assert_eq!(x.grad().unwrap().to_f64_vec(), before, "a failed backward accumulates nothing");
}

#[test]
fn non_scalar_backward_needs_a_gradient() {
    let x = leaf(&[2, 3], 22);
    let y = x.mul(2.0).unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(err.contains("one-element") && err.contains("[2, 3]"), "{err}");
    let g = Tensor::full(&[2, 3], DType::F64, 0.5).unwrap();
    y.backward_with(&g).unwrap();
    assert!(x.grad().unwrap().to_f64_vec().iter().all(|&v| v == 1.0));
    let bad = Tensor::ones(&[3], DType::F64).unwrap();
    assert!(y.backward_with(&bad).is_err());
}

#[test]
fn flag_errors() {
    let i = Tensor::from_vec(vec![1i64, 2], &[2]).unwrap();
    assert!(i.requires_grad_(true).is_err());
    let x = leaf(&[2], 23);
    let y = x.mul(2.0).unwrap();
    assert!(!y.is_leaf());
    assert!(y.requires_grad_(false).is_err());
}

#[test]
fn unsupported_backward_cases_are_errors_not_silent() {
    let x = Tensor::from_vec(vec![1.0f64, 0.0, 2.0], &[3]).unwrap().requires_grad_(true).unwrap();
    let y = x.prod(&[0], false).unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(err.contains("prod") && err.contains("not supported yet"), "{err}");
    assert!(x.grad().is_none());
}

#[test]
fn f32_training_step_shapes() {
    // A linear layer in f32: gradients come back in f32 with the parameters' shapes.
    let mut g = Generator::new(5);
    let w = Tensor::randn(&[4, 3], DType::F32, &mut g).unwrap().requires_grad_(true).unwrap();
    let b = Tensor::zeros(&[4], DType::F32).unwrap().requires_grad_(true).unwrap();
    let x = Tensor::randn(&[8, 3], DType::F32, &mut g).unwrap();
    let t = Tensor::randn(&[8, 4], DType::F32, &mut g).unwrap();
    let loss = F::mse_loss(&F::linear(&x, &w, Some(&b)).unwrap(), &t, F::Reduction::Mean).unwrap();
    loss.backward().unwrap();
    let (gw, gb) = (w.grad().unwrap(), b.grad().unwrap());
    assert_eq!((gw.dtype(), gw.shape()), (DType::F32, &[4usize, 3][..]));
    assert_eq!((gb.dtype(), gb.shape()), (DType::F32, &[4usize][..]));
}

#[test]
fn gradcheck_catches_a_wrong_gradient() {
    // x * detach(x): backward sees d/dx = x, finite differences 2x.
    let x = leaf(&[3], 25);
    let err = gradcheck(|t| t[0].mul(&t[0].detach()), &[x], GradcheckOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("analytic") && err.contains("numeric"), "{err}");
}

#[test]
fn compiled_functions_refuse_backward() {
    use smelt_compiler::ir::{Func, Layout, Op, Operand, Shape, Type, Unary};
    let mut f = Func::new("e");
    let p = f.add_param("x", Type::new(DType::F64, Shape::of(&[3])), Layout::RowMajor);
    let e = f.add_inferred(Op::Unary { kind: Unary::Exp }, vec![Operand::Value(p)]).unwrap();
    f.set_results(vec![e]);
    let x = leaf(&[3], 26);
    let y = smelt_runtime::exec::run_func(&f, std::slice::from_ref(&x)).unwrap().remove(0);
    assert!(y.requires_grad());
    let err = y.sum(&[], false).unwrap().backward().unwrap_err().to_string();
    assert!(err.contains("run_func") && err.contains("not supported yet"), "{err}");
    // Under no_grad nothing is attached.
    let z = no_grad(|| smelt_runtime::exec::run_func(&f, std::slice::from_ref(&x))).unwrap();
    assert!(!z[0].requires_grad());
}

#[test]
fn a_recorder_sees_the_backward_ops() {
    // The backward formulas are runtime ops, so a tracer observes them
    // (what compiling forward and backward together builds on).
    use smelt_runtime::dispatch::{ArgRef, Recorder, with_recorder};
    use std::cell::RefCell;
    use std::rc::Rc;
    struct Names(RefCell<Vec<String>>);
    impl Recorder for Names {
        fn op(&self, op: &smelt_compiler::ir::Op, _: &[ArgRef<'_>], _: &Tensor) {
            self.0.borrow_mut().push(op.name().to_string());
        }
        fn opaque(&self, _: &str, _: &[&Tensor], _: &[&Tensor]) {}
    }
    let x = leaf(&[3], 27);
    let loss = x.sin().unwrap().sum(&[], false).unwrap();
    let rec = Rc::new(Names(RefCell::new(Vec::new())));
    with_recorder(rec.clone(), || loss.backward()).unwrap();
    let names = rec.0.borrow();
    assert!(names.iter().any(|n| n == "cos"), "{names:?}");
    assert!(names.iter().any(|n| n == "broadcast"), "{names:?}");
}

#[test]
fn functional_grad_leaves_grads_alone() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap().requires_grad_(true).unwrap();
    let w = Tensor::from_vec(vec![3.0f64, 4.0], &[2]).unwrap().requires_grad_(true).unwrap();
    let h = x.mul(&w).unwrap();
    let loss = h.mul(&h).unwrap().sum(&[], false).unwrap();
    let gs = smelt_runtime::autograd::grad(&loss, &[&x, &h], None, false).unwrap();
    // d/dx sum((x w)^2) = 2 x w^2; d/dh = 2h.
    assert_eq!(gs[0].as_ref().unwrap().to_f64_vec(), vec![18.0, 64.0]);
    assert_eq!(gs[1].as_ref().unwrap().to_f64_vec(), vec![6.0, 16.0]);
    assert!(x.grad().is_none() && w.grad().is_none());
    let y = leaf(&[2], 28);
    let unrelated = smelt_runtime::autograd::grad(&y.sum(&[], false).unwrap(), &[&x], None, false);
    assert!(unrelated.unwrap()[0].is_none());
}
