//! gradcheck (f64 central differences, eps 1e-6, rtol 1e-5) of every op
//! with a backward formula, including broadcast and view cases.

use smelt_compiler::ir::DType;
use smelt_runtime::autograd::{GradcheckOptions, gradcheck};
use smelt_runtime::tensor::{Generator, Result, Tensor, where_cond};

/// A leaf of `shape` with values from N(0, 1) (seeded), requiring grad.
fn leaf(shape: &[usize], seed: u64) -> Tensor {
    let mut g = Generator::new(seed);
    Tensor::randn(shape, DType::F64, &mut g).unwrap().requires_grad_(true).unwrap()
}

/// A leaf with values in [0.5, 2.5) (for log, sqrt, pow, ...).
fn pos(shape: &[usize], seed: u64) -> Tensor {
    let mut g = Generator::new(seed);
    let t = Tensor::rand(shape, DType::F64, &mut g).unwrap().mul(2.0).unwrap().add(0.5).unwrap();
    t.detach().requires_grad_(true).unwrap()
}

fn check(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    if let Err(e) = gradcheck(f, inputs, GradcheckOptions::default()) {
        panic!("{e}");
    }
}

#[test]
fn unary_ops() {
    let x = leaf(&[3, 4], 1);
    let p = pos(&[3, 4], 2);
    type U = fn(&Tensor) -> Result<Tensor>;
    let on_any: [(&str, U); 10] = [
        ("neg", Tensor::neg),
        ("abs", Tensor::abs),
        ("exp", Tensor::exp),
        ("exp2", Tensor::exp2),
        ("sin", Tensor::sin),
        ("cos", Tensor::cos),
        ("tanh", Tensor::tanh),
        ("sigmoid", Tensor::sigmoid),
        ("erf", Tensor::erf),
        ("relu", Tensor::relu),
    ];
    for (name, op) in on_any {
        eprintln!("{name}");
        check(|a| op(&a[0]), std::slice::from_ref(&x));
    }
    let on_pos: [(&str, U); 5] = [
        ("log", Tensor::log),
        ("log2", Tensor::log2),
        ("sqrt", Tensor::sqrt),
        ("rsqrt", Tensor::rsqrt),
        ("recip", Tensor::reciprocal),
    ];
    for (name, op) in on_pos {
        eprintln!("{name}");
        check(|a| op(&a[0]), std::slice::from_ref(&p));
    }
}

#[test]
fn piecewise_constant_ops_have_zero_grad() {
    let x = leaf(&[5], 3);
    for op in [Tensor::floor, Tensor::ceil, Tensor::round, Tensor::sign] {
        let y = op(&x).unwrap().mul(&x).unwrap(); // d/dx = op(x)
        check(|a| op(&a[0])?.mul(&a[0]), std::slice::from_ref(&x));
        y.sum(&[], false).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap().to_f64_vec(), op(&x).unwrap().to_f64_vec());
        x.zero_grad();
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    let a = leaf(&[2, 3, 4], 4);
    let b = leaf(&[3, 1], 5);
    let pa = pos(&[2, 3, 4], 6);
    let pb = pos(&[3, 1], 7);
    check(|t| t[0].add(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[0].sub(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[0].mul(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[0].div(&t[1]), &[a.clone(), pb.clone()]);
    check(|t| t[0].pow(&t[1]), &[pa.clone(), b.clone()]);
    check(|t| t[0].maximum(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[0].minimum(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[1].sub(&t[0]), &[pa.clone(), pb.clone()]);
    // Literals on either side.
    check(|t| t[0].mul(3.0)?.add(1.0)?.div(2.0)?.pow(3.0), std::slice::from_ref(&a));
    check(|t| t[0].rsub(1.0)?.mul(&t[0].rdiv(2.0)?), std::slice::from_ref(&pa));
    check(|t| t[0].maximum(0.1)?.minimum(0.5), std::slice::from_ref(&a));
}

#[test]
fn fmod_gradient() {
    let a = pos(&[6], 8).mul(3.0).unwrap().detach().requires_grad_(true).unwrap();
    let b = pos(&[6], 9);
    check(|t| t[0].fmod(&t[1]), &[a, b]);
}

#[test]
fn select_and_cast() {
    let a = leaf(&[3, 4], 10);
    let b = leaf(&[4], 11);
    let c = leaf(&[3, 4], 12);
    let cond = c.gt(0.0).unwrap();
    check(|t| where_cond(&cond, &t[0], &t[1]), &[a.clone(), b.clone()]);
    check(|t| where_cond(&cond, &t[0], 0.5), std::slice::from_ref(&a));
    // f64 -> f32 -> f64 round trip: the gradient is cast back (checked
    // loosely: the f32 values are coarse).
    let y = a.to_dtype(DType::F32).unwrap().mul(2.0).unwrap().to_dtype(DType::F64).unwrap();
    y.sum(&[], false).unwrap().backward().unwrap();
    let g = a.grad().unwrap();
    assert_eq!(g.dtype(), DType::F64);
    assert!(g.to_f64_vec().iter().all(|&v| v == 2.0));
}

#[test]
fn reductions() {
    let x = leaf(&[3, 4, 5], 13);
    check(|t| t[0].sum(&[1], false), std::slice::from_ref(&x));
    check(|t| t[0].sum(&[0, 2], true), std::slice::from_ref(&x));
    check(|t| t[0].sum(&[], false), std::slice::from_ref(&x));
    check(|t| t[0].mean(&[2], false), std::slice::from_ref(&x));
    check(|t| t[0].mean(&[0, 1], true), std::slice::from_ref(&x));
    check(|t| t[0].max(&[1], false), std::slice::from_ref(&x));
    check(|t| t[0].min(&[0, 2], true), std::slice::from_ref(&x));
    check(|t| t[0].prod(&[2], false), std::slice::from_ref(&x));
    check(|t| t[0].var(&[1], 1.0, false), std::slice::from_ref(&x));
    check(|t| t[0].logsumexp(&[2], false), std::slice::from_ref(&x));
}

#[test]
fn max_ties_share_the_gradient() {
    let x =
        Tensor::from_vec(vec![1.0f64, 3.0, 3.0, 2.0], &[4]).unwrap().requires_grad_(true).unwrap();
    x.max(&[0], false).unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_f64_vec(), vec![0.0, 0.5, 0.5, 0.0]);
}

#[test]
fn views() {
    let x = leaf(&[2, 3, 4], 14);
    check(|t| t[0].reshape(&[6, 4]), std::slice::from_ref(&x));
    check(|t| t[0].permute(&[2, 0, 1]), std::slice::from_ref(&x));
    check(|t| t[0].transpose(0, 2)?.reshape(&[-1]), std::slice::from_ref(&x)); // reshape of non-contiguous
    check(|t| t[0].transpose(1, 2)?.contiguous(), std::slice::from_ref(&x));
    check(|t| t[0].narrow(1, 1, 2), std::slice::from_ref(&x));
    check(|t| t[0].slice(2, 1, 4, 2), std::slice::from_ref(&x));
    check(
        |t| t[0].slice(0, 0, 2, 1)?.slice(2, 0, 4, 3)?.slice(1, 2, 3, 1),
        std::slice::from_ref(&x),
    );
    check(|t| t[0].select(1, 2), std::slice::from_ref(&x));
    check(|t| t[0].squeeze(0)?.unsqueeze(1), &[leaf(&[1, 3], 15)]);
    check(|t| t[0].flatten(0, 1), std::slice::from_ref(&x));
    // expand: the gradient sums over the expanded dims.
    let b = leaf(&[3, 1], 16);
    check(|t| t[0].expand(&[2, 3, 4]), std::slice::from_ref(&b));
    check(|t| t[0].expand(&[2, 3, 4])?.mul(&t[1]), &[b.clone(), x.clone()]);
}

#[test]
fn concat_and_gather() {
    let a = leaf(&[2, 3], 17);
    let b = leaf(&[2, 5], 18);
    check(|t| Tensor::cat(&[&t[0], &t[1], &t[0]], 1), &[a.clone(), b.clone()]);
    let x = leaf(&[5, 3], 19);
    let idx = Tensor::from_vec(vec![4i64, 0, 4, 2], &[2, 2]).unwrap();
    check(|t| t[0].take(0, &idx), std::slice::from_ref(&x));
    let idx1 = Tensor::from_vec(vec![2i64, 2, 1], &[3]).unwrap();
    check(|t| t[0].index_select(1, &idx1), std::slice::from_ref(&x));
    let gi = Tensor::from_vec(vec![0i64, 2, 1, 1, 0, 0], &[2, 3]).unwrap();
    check(|t| t[0].gather(1, &gi), &[leaf(&[2, 3], 20)]);
}

#[test]
fn matmul_shapes() {
    let cases: [(&[usize], &[usize]); 6] = [
        (&[3, 4], &[4, 5]),
        (&[2, 3, 4], &[4, 5]),
        (&[2, 1, 3, 4], &[5, 4, 2]),
        (&[4], &[4, 5]),
        (&[3, 4], &[4]),
        (&[4], &[4]),
    ];
    for (i, (sa, sb)) in cases.into_iter().enumerate() {
        eprintln!("{sa:?} @ {sb:?}");
        check(|t| t[0].matmul(&t[1]), &[leaf(sa, 30 + i as u64), leaf(sb, 40 + i as u64)]);
    }
}
