//! Whole blocks compiled: an MLP, self-attention with a padding mask, a
//! post-LN transformer encoder layer; automatic dynamic on the sequence
//! dim; a dtype change; graph breaks.

mod common;

use std::rc::Rc;

use common::{Prog, assert_close, check_compiled, randn};
use smelt_compiler::ir::DType;
use smelt_frontends::compile;
use smelt_runtime::exec::kernels_compiled;
use smelt_runtime::functional::{Approximate, embedding, gelu, layer_norm, linear, softmax};
use smelt_runtime::tensor::Result;
use smelt_runtime::{Generator, Tensor};

/// Weights of one encoder layer (BERT's post-LN layout).
#[derive(Clone)]
struct Layer {
    d: usize,
    heads: usize,
    q: (Tensor, Tensor),
    k: (Tensor, Tensor),
    v: (Tensor, Tensor),
    o: (Tensor, Tensor),
    ln1: (Tensor, Tensor),
    up: (Tensor, Tensor),
    down: (Tensor, Tensor),
    ln2: (Tensor, Tensor),
}

fn lin(out: usize, inp: usize, rng: &mut Generator) -> (Tensor, Tensor) {
    let s = 1.0 / (inp as f64).sqrt();
    (randn(&[out, inp], rng).mul(s).expect("w"), randn(&[out], rng).mul(0.1).expect("b"))
}

impl Layer {
    fn new(d: usize, heads: usize, ff: usize, seed: u64) -> Layer {
        let mut rng = Generator::new(seed);
        let ln = |rng: &mut Generator| {
            (randn(&[d], rng).mul(0.1).and_then(|t| t.add(1.0)).expect("g"), randn(&[d], rng))
        };
        Layer {
            d,
            heads,
            q: lin(d, d, &mut rng),
            k: lin(d, d, &mut rng),
            v: lin(d, d, &mut rng),
            o: lin(d, d, &mut rng),
            ln1: ln(&mut rng),
            up: lin(ff, d, &mut rng),
            down: lin(d, ff, &mut rng),
            ln2: ln(&mut rng),
        }
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        let h = gelu(&linear(x, &self.up.0, Some(&self.up.1))?, Approximate::None)?;
        linear(&h, &self.down.0, Some(&self.down.1))
    }

    /// Self-attention; `mask` is `[b, s]` with 1 for tokens, 0 for padding.
    fn attention(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, s) = (x.shape()[0] as isize, x.shape()[1] as isize);
        let (h, dh) = (self.heads as isize, (self.d / self.heads) as isize);
        let split = |p: &(Tensor, Tensor)| -> Result<Tensor> {
            linear(x, &p.0, Some(&p.1))?.reshape(&[b, s, h, dh])?.permute(&[0, 2, 1, 3])
        };
        let (q, k, v) = (split(&self.q)?, split(&self.k)?, split(&self.v)?);
        let scores = q.matmul(&k.transpose(2, 3)?)?.div((dh as f64).sqrt())?;
        let bias = mask.rsub(1.0)?.mul(-1e9)?.reshape(&[b, 1, 1, s])?;
        let p = softmax(&scores.add(&bias)?, -1)?;
        let ctx = p.matmul(&v)?.permute(&[0, 2, 1, 3])?.reshape(&[b, s, h * dh])?;
        linear(&ctx, &self.o.0, Some(&self.o.1))
    }

    fn encoder(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let d = [self.d];
        let a = x.add(&self.attention(x, mask)?)?;
        let a = layer_norm(&a, &d, Some(&self.ln1.0), Some(&self.ln1.1), 1e-12)?;
        let m = a.add(&self.mlp(&a)?)?;
        layer_norm(&m, &d, Some(&self.ln2.0), Some(&self.ln2.1), 1e-12)
    }
}

/// A `[b, s]` mask whose last `pad` tokens of odd rows are padding.
fn mask(b: usize, s: usize, pad: usize) -> Tensor {
    let v: Vec<f32> =
        (0..b * s).map(|i| if (i / s) % 2 == 1 && i % s >= s - pad { 0.0 } else { 1.0 }).collect();
    Tensor::from_vec(v, &[b, s]).expect("mask")
}

fn encoder_prog(layer: &Layer) -> Prog {
    let l = layer.clone();
    Rc::new(move |x: &[Tensor]| Ok(vec![l.encoder(&x[0], &x[1])?]))
}

#[test]
fn mlp_block() {
    let l = Layer::new(32, 4, 64, 20);
    let x = randn(&[2, 6, 32], &mut Generator::new(21));
    check_compiled("mlp", Rc::new(move |x: &[Tensor]| Ok(vec![l.mlp(&x[0])?])), &[x]);
}

#[test]
fn attention_block() {
    let l = Layer::new(32, 4, 64, 22);
    let x = randn(&[2, 6, 32], &mut Generator::new(23));
    let f: Prog = Rc::new(move |x: &[Tensor]| Ok(vec![l.attention(&x[0], &x[1])?]));
    check_compiled("attention", f, &[x, mask(2, 6, 2)]);
}

#[test]
fn encoder_layer_block() {
    let l = Layer::new(32, 4, 64, 24);
    let x = randn(&[2, 6, 32], &mut Generator::new(25));
    check_compiled("encoder layer", encoder_prog(&l), &[x, mask(2, 6, 3)]);
}

/// Calls eager `f` and `c` on `inputs` and compares: the kernels the
/// compiled call made the backend compile.
fn same(what: &str, c: &smelt_frontends::Compiled, f: &Prog, inputs: &[Tensor]) -> usize {
    let want = f(inputs).expect("eager");
    let before = kernels_compiled();
    let got = c.call(inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
    let compiled = kernels_compiled() - before;
    assert_close(what, &got[0], &want[0]);
    compiled
}

#[test]
fn sequence_sizes_become_symbolic_and_then_compile_nothing() {
    let l = Layer::new(32, 4, 64, 26);
    let f = encoder_prog(&l);
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut rng = Generator::new(27);
    for (k, s) in [5usize, 7, 9].into_iter().enumerate() {
        let inputs = [randn(&[2, s, 32], &mut rng), mask(2, s, 2)];
        let compiled = same(&format!("seq {s}"), &c, &f, &inputs);
        let ex = c.explain();
        match k {
            0 => assert_eq!((ex.misses, ex.hits), (1, 0), "{ex}"),
            1 => {
                assert_eq!((ex.misses, ex.hits), (2, 0), "{ex}");
                assert_eq!(ex.graphs.len(), 1, "the symbolic graph replaces the static one: {ex}");
                assert!(ex.graphs[0].symbolic, "{ex}");
                assert!(ex.graphs[0].guards[0].contains("s0"), "{ex}");
                assert!(ex.recompiles[0].contains("symbolic"), "{ex}");
            }
            _ => {
                assert_eq!((ex.misses, ex.hits), (2, 1), "{ex}");
                assert_eq!(compiled, 0, "size 9 compiles nothing: {ex}");
            }
        }
    }
}

#[test]
fn batch_and_sequence_changes_stay_within_two_graphs_of_kernels() {
    let l = Layer::new(32, 4, 64, 28);
    let f = encoder_prog(&l);
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut rng = Generator::new(29);
    let mut compiling_calls = 0;
    for (b, s) in [(1usize, 5usize), (4, 5), (7, 5), (7, 8), (1, 8), (4, 5)] {
        let inputs = [randn(&[b, s, 32], &mut rng), mask(b, s, 1)];
        compiling_calls += usize::from(same(&format!("batch {b} seq {s}"), &c, &f, &inputs) > 0);
    }
    let ex = c.explain();
    assert!(compiling_calls <= 2, "{compiling_calls} calls compiled kernels: {ex}");
    assert_eq!(ex.misses, 2, "static, then batch symbolic with the sequence probed: {ex}");
    assert!(ex.recompiles[0].contains("probed"), "{ex}");
    assert_eq!(ex.graphs.len(), 1, "{ex}");
}

#[test]
fn a_dtype_change_recompiles() {
    let l = Layer::new(16, 2, 32, 30);
    let f: Prog = Rc::new(move |x: &[Tensor]| Ok(vec![l.mlp(&x[0].to_dtype(DType::F32)?)?]));
    let g = f.clone();
    let c = compile(move |x| g(x));
    let x = randn(&[3, 16], &mut Generator::new(31));
    same("f32", &c, &f, std::slice::from_ref(&x));
    let x64 = x.to_dtype(DType::F64).expect("f64");
    same("f64", &c, &f, std::slice::from_ref(&x64));
    same("f64 again", &c, &f, std::slice::from_ref(&x64));
    let ex = c.explain();
    assert_eq!((ex.misses, ex.hits, ex.graphs.len()), (2, 1, 2), "{ex}");
    assert!(ex.recompiles[0].contains("input 0 is f64, was f32"), "{ex}");
}

#[test]
fn a_strided_input_is_another_layout_class() {
    let f: Prog = Rc::new(|x: &[Tensor]| Ok(vec![x[0].exp()?.sum(&[1], false)?]));
    let g = f.clone();
    let c = compile(move |x| g(x));
    let x = randn(&[4, 6], &mut Generator::new(32));
    let xt = x.transpose(0, 1).expect("t").contiguous().expect("c");
    let strided = x.transpose(0, 1).expect("t");
    same("contiguous", &c, &f, &[xt]);
    same("strided", &c, &f, &[strided]);
    let ex = c.explain();
    assert_eq!(ex.misses, 2, "{ex}");
    assert!(ex.recompiles[0].contains("strided"), "{ex}");
}

#[test]
fn an_opaque_op_is_a_graph_break_and_runs_eagerly() {
    let f: Prog = Rc::new(|x: &[Tensor]| {
        let noise = Tensor::linspace(0.0, 1.0, x[0].shape()[1], DType::F32)?;
        Ok(vec![x[0].add(&noise)?.tanh()?])
    });
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut rng = Generator::new(33);
    for _ in 0..2 {
        let x = randn(&[3, 4], &mut rng);
        same("break", &c, &f, std::slice::from_ref(&x));
    }
    let ex = c.explain();
    assert_eq!((ex.misses, ex.hits), (1, 1), "{ex}");
    assert_eq!(ex.breaks.len(), 1, "{ex}");
    assert_eq!(ex.breaks[0].fallback, "eager program");
    assert!(ex.breaks[0].reason.contains("linspace"), "{ex}");
    assert!(ex.to_string().contains("linspace"), "{ex}");
}

#[test]
fn explain_lists_graphs_kernels_and_hits() {
    let f: Prog = Rc::new(|x: &[Tensor]| Ok(vec![softmax(&x[0], -1)?]));
    let g = f.clone();
    let c = compile(move |x| g(x));
    let x = randn(&[3, 4], &mut Generator::new(34));
    same("a", &c, &f, std::slice::from_ref(&x));
    same("b", &c, &f, std::slice::from_ref(&x));
    let ex = c.explain();
    assert_eq!(ex.graphs.len(), 1);
    assert!(ex.graphs[0].ops > 0 && ex.graphs[0].kernels > 0, "{ex}");
    assert_eq!(ex.graphs[0].runs, 2);
    let text = ex.to_string();
    assert!(text.contains("1 hit(s), 1 miss(es)") && text.contains("f32[3, 4]"), "{text}");
}

#[test]
fn bad_inputs_are_errors_naming_the_op() {
    let c = compile(|x: &[Tensor]| Ok(vec![x[0].matmul(&x[1])?]));
    let a = randn(&[2, 3], &mut Generator::new(35));
    let err = c.call(&[a.clone(), a]).expect_err("shapes do not fit");
    assert!(err.to_string().contains("matmul"), "{err}");
}

#[test]
fn a_kernel_the_backend_cannot_compile_makes_the_graph_run_op_by_op() {
    // An argmin whose result is broadcast across the other dim: row r of
    // the fused kernel reads the reduction of every row, which the CPU
    // lowering refuses.
    let f: Prog = Rc::new(|x: &[Tensor]| {
        let s = x[0].slice(0, 0, 6, 2)?.slice(1, 0, 6, 2)?;
        let i = s.argmin(Some(1), false)?.to_dtype(DType::F32)?;
        Ok(vec![i.reshape(&[1, 3])?.expand(&[3, 3])?.add(&s)?])
    });
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut rng = Generator::new(36);
    for round in 0..3 {
        let x = randn(&[6, 6], &mut rng);
        same(&format!("round {round}"), &c, &f, std::slice::from_ref(&x));
    }
    let ex = c.explain();
    assert_eq!(ex.breaks.len(), 1, "{ex}");
    assert_eq!(ex.breaks[0].fallback, "op by op", "{ex}");
    assert!(ex.breaks[0].reason.contains("Unsupported"), "{ex}");
    assert_eq!(ex.graphs[0].mode, "op by op", "{ex}");
    assert_eq!((ex.misses, ex.hits), (1, 2), "{ex}");
}

#[test]
fn a_size_that_cannot_be_symbolic_stays_static_and_says_why() {
    // The literal follows the size: no symbolic function can express it.
    let f: Prog = Rc::new(|x: &[Tensor]| Ok(vec![x[0].div(x[0].shape()[0] as f64)?]));
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut rng = Generator::new(37);
    for n in [3usize, 4, 5] {
        let x = randn(&[n, 2], &mut rng);
        same(&format!("n {n}"), &c, &f, std::slice::from_ref(&x));
    }
    let ex = c.explain();
    assert_eq!((ex.misses, ex.graphs.len()), (3, 3), "{ex}");
    assert!(ex.static_dims[0].contains("literal"), "{ex}");
    assert!(ex.recompiles[1].contains("kept static earlier"), "{ex}");
}

#[test]
fn a_flatten_to_a_multiple_of_a_symbol_stays_static() {
    // [2, s, 4] -> [2s, 4]: the IR's dims are a constant or one symbol, so
    // `2*s0` has no form and `-1` cannot stand for it either.
    let f: Prog = Rc::new(|x: &[Tensor]| {
        let (b, s, d) = (x[0].shape()[0], x[0].shape()[1], x[0].shape()[2]);
        let flat = x[0].reshape(&[(b * s) as isize, d as isize])?;
        Ok(vec![softmax(&flat, -1)?.reshape(&[b as isize, s as isize, d as isize])?])
    });
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut rng = Generator::new(38);
    for s in [3usize, 5, 6] {
        let x = randn(&[2, s, 4], &mut rng);
        same(&format!("s {s}"), &c, &f, std::slice::from_ref(&x));
    }
    let ex = c.explain();
    assert_eq!((ex.misses, ex.hits), (3, 0), "{ex}");
    assert!(ex.static_dims[0].contains("reshape"), "{ex}");
}

#[test]
fn ops_on_captured_weights_are_computed_once() {
    let l = Layer::new(16, 2, 32, 39);
    let w = randn(&[3, 4], &mut Generator::new(40));
    let f: Prog = Rc::new(move |x: &[Tensor]| {
        let scaled = w.mul(2.0)?.add(&Tensor::ones(&[3, 4], DType::F32)?)?;
        Ok(vec![l.mlp(&x[0])?, w.transpose(0, 1)?, x[1].add(&scaled)?])
    });
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut rng = Generator::new(41);
    let inputs = [randn(&[2, 3, 16], &mut rng), randn(&[3, 4], &mut rng)];
    for _ in 0..2 {
        let want = f(&inputs).expect("eager");
        let got = c.call(&inputs).expect("compiled");
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_close(&format!("output {k}"), a, b);
        }
    }
    let ex = c.explain();
    // Two weight transposes in the MLP, the returned transpose, mul and add.
    assert_eq!(ex.graphs[0].frozen, 5, "{ex}");
}

/// A BERT-shaped sentence embedder: word + position (arange) + token-type
/// embeddings, layer norm, one encoder layer, masked mean pooling, L2 norm.
fn embedder(l: &Layer, rng: &mut Generator) -> Prog {
    let words = randn(&[30, l.d], rng);
    let pos = randn(&[16, l.d], rng);
    let types = randn(&[2, l.d], rng);
    let l = l.clone();
    Rc::new(move |x: &[Tensor]| {
        let (ids, mask) = (&x[0], &x[1]);
        let s = ids.shape()[1];
        let p = Tensor::arange(0.0, s as f64, 1.0, DType::I64)?;
        let t = Tensor::zeros(ids.shape(), DType::I64)?;
        let e = embedding(ids, &words)?.add(&embedding(&p, &pos)?)?.add(&embedding(&t, &types)?)?;
        let e = layer_norm(&e, &[l.d], Some(&l.ln1.0), Some(&l.ln1.1), 1e-12)?;
        let h = l.encoder(&e, mask)?;
        let m = mask.unsqueeze(-1)?;
        let pooled = h.mul(&m)?.sum(&[1], false)?.div(&m.sum(&[1], false)?.maximum(1e-9)?)?;
        let norm = pooled.mul(&pooled)?.sum(&[-1], true)?.sqrt()?.maximum(1e-12)?;
        Ok(vec![pooled.div(&norm)?])
    })
}

#[test]
fn a_bert_shaped_embedder_compiles_once_static_once_symbolic() {
    let l = Layer::new(32, 4, 64, 42);
    let mut rng = Generator::new(43);
    let f = embedder(&l, &mut rng);
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut compiling_calls = 0;
    for (b, s) in [(2usize, 5usize), (2, 7), (3, 9), (1, 6), (4, 5)] {
        let ids = Tensor::randint(0, 30, &[b, s], DType::I64, &mut rng).expect("ids");
        let inputs = [ids, mask(b, s, 2)];
        compiling_calls += usize::from(same(&format!("batch {b} seq {s}"), &c, &f, &inputs) > 0);
    }
    let ex = c.explain();
    assert_eq!((ex.misses, ex.hits), (2, 3), "{ex}");
    assert!(compiling_calls <= 2, "{compiling_calls} calls compiled kernels: {ex}");
}

#[test]
fn a_prefix_of_a_captured_table_follows_a_symbolic_length() {
    // BERT's `position_embeddings.narrow(0, 0, s)`: a slice of a constant
    // dim to a symbolic length, which the graph expresses as a gather.
    let table = randn(&[16, 4], &mut Generator::new(44));
    let f: Prog = Rc::new(move |x: &[Tensor]| {
        let s = x[0].shape()[1];
        Ok(vec![x[0].add(&table.narrow(0, 0, s)?)?.tanh()?])
    });
    let g = f.clone();
    let c = compile(move |x| g(x));
    let mut rng = Generator::new(45);
    let mut compiled = Vec::new();
    for (b, s) in [(2usize, 5usize), (2, 7), (3, 9)] {
        compiled.push(same(&format!("s {s}"), &c, &f, &[randn(&[b, s, 4], &mut rng)]));
    }
    let ex = c.explain();
    assert_eq!((ex.misses, ex.hits), (2, 1), "{ex}");
    assert!(ex.recompiles[0].contains("probed"), "batch probed through the gather: {ex}");
    assert_eq!(compiled[2], 0, "{ex}");
}
