//! compile(f) gives eager f's results (within IR.md's bars) for a table of
//! single ops, on the miss and on the cache hit.

mod common;

use std::rc::Rc;

use common::{Prog, check_compiled, randn};
use smelt_compiler::ir::DType;
use smelt_runtime::functional::{
    Approximate, embedding, gelu, layer_norm, linear, log_softmax, softmax,
};
use smelt_runtime::{Generator, Tensor};

fn p(f: impl Fn(&[Tensor]) -> smelt_runtime::tensor::Result<Vec<Tensor>> + 'static) -> Prog {
    Rc::new(f)
}

#[test]
fn unary_ops() {
    let mut rng = Generator::new(10);
    let x = randn(&[3, 17], &mut rng);
    let pos = x.abs().and_then(|a| a.add(0.1)).expect("pos");
    let table: Vec<(&str, Prog, &Tensor)> = vec![
        ("neg", p(|x| Ok(vec![x[0].neg()?])), &x),
        ("exp", p(|x| Ok(vec![x[0].exp()?])), &x),
        ("log", p(|x| Ok(vec![x[0].log()?])), &pos),
        ("sqrt", p(|x| Ok(vec![x[0].sqrt()?])), &pos),
        ("rsqrt", p(|x| Ok(vec![x[0].rsqrt()?])), &pos),
        ("tanh", p(|x| Ok(vec![x[0].tanh()?])), &x),
        ("sigmoid", p(|x| Ok(vec![x[0].sigmoid()?])), &x),
        ("erf", p(|x| Ok(vec![x[0].erf()?])), &x),
        ("relu", p(|x| Ok(vec![x[0].relu()?])), &x),
        ("floor", p(|x| Ok(vec![x[0].floor()?])), &x),
        ("sin", p(|x| Ok(vec![x[0].sin()?])), &x),
        ("cast", p(|x| Ok(vec![x[0].to_dtype(DType::F64)?])), &x),
    ];
    for (name, f, x) in table {
        check_compiled(name, f, std::slice::from_ref(x));
    }
}

#[test]
fn binary_ops_with_broadcast_and_scalars() {
    let mut rng = Generator::new(11);
    let a = randn(&[4, 1, 6], &mut rng);
    let b = randn(&[5, 6], &mut rng);
    let ab = [a.clone(), b.clone()];
    let table: Vec<(&str, Prog)> = vec![
        ("add", p(|x| Ok(vec![x[0].add(&x[1])?]))),
        ("sub", p(|x| Ok(vec![x[0].sub(&x[1])?]))),
        ("mul", p(|x| Ok(vec![x[0].mul(&x[1])?]))),
        ("div", p(|x| Ok(vec![x[0].div(&x[1].abs()?.add(1.0)?)?]))),
        ("maximum", p(|x| Ok(vec![x[0].maximum(&x[1])?]))),
        ("lt", p(|x| Ok(vec![x[0].lt(&x[1])?]))),
        ("scalar mul add", p(|x| Ok(vec![x[0].mul(3.0)?.add(-1.5)?]))),
        ("rsub", p(|x| Ok(vec![x[1].rsub(2.0)?]))),
        ("where", p(|x| Ok(vec![x[0].masked_fill(&x[1].gt(0.0)?, -1e9)?]))),
    ];
    for (name, f) in table {
        check_compiled(name, f, &ab);
    }
}

#[test]
fn reductions() {
    let mut rng = Generator::new(12);
    let x = randn(&[3, 5, 7], &mut rng);
    let table: Vec<(&str, Prog)> = vec![
        ("sum last", p(|x| Ok(vec![x[0].sum(&[-1], false)?]))),
        ("sum middle keepdim", p(|x| Ok(vec![x[0].sum(&[1], true)?]))),
        ("mean two dims", p(|x| Ok(vec![x[0].mean(&[0, 2], false)?]))),
        ("max", p(|x| Ok(vec![x[0].max(&[2], false)?]))),
        ("argmax", p(|x| Ok(vec![x[0].argmax(Some(1), false)?]))),
        ("var", p(|x| Ok(vec![x[0].var(&[2], 1.0, false)?]))),
        ("logsumexp", p(|x| Ok(vec![x[0].logsumexp(&[2], true)?]))),
    ];
    for (name, f) in table {
        check_compiled(name, f, std::slice::from_ref(&x));
    }
}

#[test]
fn views() {
    let mut rng = Generator::new(13);
    let x = randn(&[2, 3, 8], &mut rng);
    let table: Vec<(&str, Prog)> = vec![
        ("reshape", p(|x| Ok(vec![x[0].reshape(&[6, -1])?.mul(2.0)?]))),
        ("permute", p(|x| Ok(vec![x[0].permute(&[2, 0, 1])?.add(1.0)?]))),
        ("transpose", p(|x| Ok(vec![x[0].transpose(1, 2)?.contiguous()?]))),
        ("slice", p(|x| Ok(vec![x[0].slice(2, 1, 7, 2)?.exp()?]))),
        ("narrow", p(|x| Ok(vec![x[0].narrow(1, 1, 2)?.neg()?]))),
        ("expand", p(|x| Ok(vec![x[0].sum(&[1], true)?.expand(&[2, 5, 8])?.mul(1.0)?]))),
        ("view only", p(|x| Ok(vec![x[0].transpose(0, 2)?]))),
        ("squeeze", p(|x| Ok(vec![x[0].unsqueeze(1)?.squeeze(1)?.sub(1.0)?]))),
    ];
    for (name, f) in table {
        check_compiled(name, f, std::slice::from_ref(&x));
    }
}

#[test]
fn library_and_composites() {
    let mut rng = Generator::new(14);
    let x = randn(&[2, 5, 16], &mut rng);
    let w = randn(&[8, 16], &mut rng);
    let b = randn(&[8], &mut rng);
    let (g, beta) = (randn(&[16], &mut rng), randn(&[16], &mut rng));
    let table = Tensor::randn(&[10, 16], DType::F32, &mut rng).expect("table");
    let ids = Tensor::from_vec(vec![1i64, 9, 0, 3, 3, 7], &[2, 3]).expect("ids");
    let m = randn(&[16, 4], &mut rng);
    let xs = std::slice::from_ref(&x);
    let m2 = m.clone();
    check_compiled("matmul", p(move |x| Ok(vec![x[0].matmul(&m2)?])), xs);
    check_compiled("softmax", p(|x| Ok(vec![softmax(&x[0], -1)?])), xs);
    check_compiled("log_softmax", p(|x| Ok(vec![log_softmax(&x[0], 1)?])), xs);
    let (g2, b2) = (g.clone(), beta.clone());
    let ln = move |x: &[Tensor]| Ok(vec![layer_norm(&x[0], &[16], Some(&g2), Some(&b2), 1e-5)?]);
    check_compiled("layer_norm", p(ln), xs);
    check_compiled("gelu", p(|x| Ok(vec![gelu(&x[0], Approximate::None)?])), xs);
    check_compiled("gelu tanh", p(|x| Ok(vec![gelu(&x[0], Approximate::Tanh)?])), xs);
    let (w2, bb) = (w.clone(), b.clone());
    check_compiled("linear", p(move |x| Ok(vec![linear(&x[0], &w2, Some(&bb))?])), xs);
    let t2 = table.clone();
    let emb = move |x: &[Tensor]| Ok(vec![embedding(&x[0], &t2)?]);
    check_compiled("embedding", p(emb), std::slice::from_ref(&ids));
}
