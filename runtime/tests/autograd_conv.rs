//! gradcheck of conv2d (strides, padding, dilation, groups, bias) and the
//! pools (f64 central differences, eps 1e-6, rtol 1e-5).

use smelt_compiler::ir::DType;
use smelt_runtime::autograd::{GradcheckOptions, gradcheck};
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
fn conv2d_cases() {
    // (input, weight, stride, padding, dilation, groups)
    type Case = ([usize; 4], [usize; 4], [usize; 2], [usize; 2], [usize; 2], usize);
    let cases: [Case; 5] = [
        ([2, 3, 5, 5], [4, 3, 3, 3], [1, 1], [0, 0], [1, 1], 1),
        ([1, 2, 7, 6], [3, 2, 3, 2], [2, 2], [1, 0], [1, 1], 1),
        ([1, 2, 7, 7], [2, 2, 2, 3], [1, 2], [1, 1], [2, 1], 1),
        ([2, 4, 6, 5], [6, 2, 3, 3], [2, 1], [1, 1], [1, 1], 2),
        ([1, 3, 5, 5], [3, 1, 3, 3], [1, 1], [1, 1], [1, 1], 3),
    ];
    for (i, (xs, ws, s, p, d, g)) in cases.into_iter().enumerate() {
        eprintln!("case {i}");
        let (x, w, b) = (leaf(&xs, 10 + i as u64), leaf(&ws, 20 + i as u64), leaf(&[ws[0]], 30));
        check(|t| F::conv2d(&t[0], &t[1], Some(&t[2]), s, p, d, g), &[x, w, b]);
    }
}

#[test]
fn pools() {
    let x = leaf(&[2, 2, 6, 5], 40);
    check(|t| F::max_pool2d(&t[0], [2, 2], None, [0, 0]), std::slice::from_ref(&x));
    check(|t| F::max_pool2d(&t[0], [3, 2], Some([2, 1]), [1, 1]), std::slice::from_ref(&x));
    check(|t| F::avg_pool2d(&t[0], [2, 2], None, [0, 0], true), std::slice::from_ref(&x));
    check(|t| F::avg_pool2d(&t[0], [3, 3], Some([2, 2]), [1, 1], true), std::slice::from_ref(&x));
    check(|t| F::avg_pool2d(&t[0], [3, 3], Some([2, 1]), [1, 1], false), std::slice::from_ref(&x));
}

#[test]
fn max_pool_ties_go_to_the_first_maximum() {
    let x = Tensor::ones(&[1, 1, 2, 2], DType::F64).unwrap().requires_grad_(true).unwrap();
    F::max_pool2d(&x, [2, 2], None, [0, 0]).unwrap().sum(&[], false).unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_f64_vec(), vec![1.0, 0.0, 0.0, 0.0]);
}
