//! nn modules' forwards against the functional calls with the same weights,
//! BatchNorm2d's running statistics against their closed form, Dropout's
//! modes, MultiheadAttention against a naive f64 reference, and gradients
//! reaching every parameter through a Sequential.

use smelt_compiler::ir::DType;
use smelt_runtime::functional::{self, Approximate, Reduction};
use smelt_runtime::nn::{
    BatchNorm2d, Conv2d, Conv2dOptions, Dropout, Embedding, Gelu, LayerNorm, Linear, Module,
    MultiheadAttention, Relu, Sequential,
};
use smelt_runtime::tensor::{Generator, Tensor};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, DType::F32, &mut Generator::new(seed)).unwrap()
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w}");
    }
}

#[test]
fn forwards_equal_the_functional_calls() {
    let mut rng = Generator::new(1);
    let x = randn(&[2, 5], 2);
    let mut lin = Linear::new(5, 3, true, &mut rng).unwrap();
    let want = functional::linear(&x, &lin.weight, lin.bias.as_ref()).unwrap();
    assert_eq!(lin.forward(&x).unwrap().to_f64_vec(), want.to_f64_vec());

    let img = randn(&[1, 4, 6, 6], 3);
    let opts = Conv2dOptions { stride: [2, 1], padding: [1, 0], groups: 2, ..Default::default() };
    let mut conv = Conv2d::new(4, 6, [3, 3], opts, &mut rng).unwrap();
    let want =
        functional::conv2d(&img, &conv.weight, conv.bias.as_ref(), [2, 1], [1, 0], [1, 1], 2)
            .unwrap();
    let got = conv.forward(&img).unwrap();
    assert_eq!(got.shape(), &[1, 6, 3, 4]);
    assert_eq!(got.to_f64_vec(), want.to_f64_vec());

    let mut ln = LayerNorm::new(&[5]).unwrap();
    let want = functional::layer_norm(&x, &[5], None, None, 1e-5).unwrap();
    close("layer_norm", &ln.forward(&x).unwrap().to_f64_vec(), &want.to_f64_vec(), 1e-6);

    let mut emb = Embedding::new(7, 3, &mut rng).unwrap();
    let ids = Tensor::from_vec(vec![6i64, 0, 6], &[3]).unwrap();
    let got = emb.forward(&ids).unwrap();
    let w = emb.weight.to_f64_vec();
    assert_eq!(got.to_f64_vec(), [&w[18..21], &w[0..3], &w[18..21]].concat());

    let mut gelu = Gelu::new(Approximate::Tanh);
    let want = functional::gelu(&x, Approximate::Tanh).unwrap();
    assert_eq!(gelu.forward(&x).unwrap().to_f64_vec(), want.to_f64_vec());

    let bad_id = Tensor::from_vec(vec![7i64], &[1]).unwrap();
    assert!(emb.forward(&bad_id).is_err(), "id 7 of a 7-row table");
    let e = lin.forward(&randn(&[2, 4], 1)).unwrap_err().to_string();
    assert!(e.contains("linear") && e.contains("[2, 4]"), "{e}");
    let e = BatchNorm2d::new(4).unwrap().forward(&x).unwrap_err().to_string();
    assert!(e.contains("BatchNorm2d") && e.contains("[2, 5]"), "{e}");
}

/// Per-channel mean and unbiased variance of `[N, C, H, W]` values.
fn channel_stats(v: &[f64], [n, c, h, w]: [usize; 4]) -> (Vec<f64>, Vec<f64>) {
    let m = (n * h * w) as f64;
    let mut means = vec![0.0; c];
    let mut vars = vec![0.0; c];
    for ch in 0..c {
        let vals: Vec<f64> = (0..n)
            .flat_map(|b| (0..h * w).map(move |i| ((b * c + ch) * h * w) + i))
            .map(|i| v[i])
            .collect();
        means[ch] = vals.iter().sum::<f64>() / m;
        vars[ch] = vals.iter().map(|x| (x - means[ch]).powi(2)).sum::<f64>() / (m - 1.0);
    }
    (means, vars)
}

#[test]
fn batch_norm_running_stats_follow_the_closed_form() {
    let shape = [3, 2, 2, 2];
    let (x1, x2) = (randn(&shape, 10), randn(&shape, 11).mul(3.0).unwrap().add(1.0).unwrap());
    let (m1, v1) = channel_stats(&x1.to_f64_vec(), shape);
    let (m2, v2) = channel_stats(&x2.to_f64_vec(), shape);

    let mut bn = BatchNorm2d::new(2).unwrap();
    bn.forward(&x1).unwrap();
    bn.forward(&x2).unwrap();
    let want_m: Vec<f64> = (0..2).map(|c| 0.9 * (0.1 * m1[c]) + 0.1 * m2[c]).collect();
    let want_v: Vec<f64> = (0..2).map(|c| 0.9 * (0.9 * 1.0 + 0.1 * v1[c]) + 0.1 * v2[c]).collect();
    close("running_mean", &bn.running_mean.to_f64_vec(), &want_m, 1e-5);
    close("running_var", &bn.running_var.to_f64_vec(), &want_v, 1e-5);
    assert_eq!(bn.num_batches_tracked.to_f64_vec(), vec![2.0]);
    assert!(!bn.running_mean.requires_grad());

    // Evaluation normalizes with the running statistics and leaves them alone.
    bn.weight = Tensor::from_vec(vec![2.0f32, 0.5], &[2]).unwrap();
    bn.bias = Tensor::from_vec(vec![0.25f32, -1.0], &[2]).unwrap();
    bn.eval();
    let y = bn.forward(&x1).unwrap().to_f64_vec();
    let xv = x1.to_f64_vec();
    let (w, b) = ([2.0, 0.5], [0.25, -1.0]);
    let want: Vec<f64> = (0..xv.len())
        .map(|i| {
            let c = (i / 4) % 2;
            (xv[i] - want_m[c]) / (want_v[c] + 1e-5).sqrt() * w[c] + b[c]
        })
        .collect();
    close("eval output", &y, &want, 1e-5);
    assert_eq!(bn.num_batches_tracked.to_f64_vec(), vec![2.0]);
    close("running_mean after eval", &bn.running_mean.to_f64_vec(), &want_m, 1e-5);

    // momentum=None: the cumulative average of the batch statistics.
    let mut cum = BatchNorm2d::new(2).unwrap();
    cum.momentum = None;
    cum.forward(&x1).unwrap();
    cum.forward(&x2).unwrap();
    let avg = |a: &[f64], b: &[f64]| -> Vec<f64> { (0..2).map(|c| (a[c] + b[c]) / 2.0).collect() };
    close("cumulative mean", &cum.running_mean.to_f64_vec(), &avg(&m1, &m2), 1e-5);
    close("cumulative var", &cum.running_var.to_f64_vec(), &avg(&v1, &v2), 1e-5);
}

#[test]
fn training_batch_norm_uses_the_batch_statistics() {
    let x = randn(&[4, 3, 2, 2], 5);
    let mut bn = BatchNorm2d::new(3).unwrap();
    let y = bn.forward(&x).unwrap();
    let (m, _) = channel_stats(&y.to_f64_vec(), [4, 3, 2, 2]);
    close("normalized means", &m, &[0.0; 3], 1e-5);
}

#[test]
fn dropout_is_identity_in_eval_and_seeded_in_training() {
    let x = randn(&[4, 16], 1);
    let mut d = Dropout::new(0.5, 42).unwrap();
    let y1 = d.forward(&x).unwrap().to_f64_vec();
    let want = functional::dropout(&x, 0.5, true, &mut Generator::new(42)).unwrap();
    assert_eq!(y1, want.to_f64_vec());
    let xv = x.to_f64_vec();
    let zeros = y1.iter().filter(|v| **v == 0.0).count();
    assert!((10..54).contains(&zeros), "{zeros} of 64 dropped");
    for (y, x) in y1.iter().zip(&xv) {
        assert!(*y == 0.0 || (*y - 2.0 * x).abs() < 1e-6);
    }
    let y2 = d.forward(&x).unwrap().to_f64_vec();
    assert_ne!(y1, y2, "the generator advances between calls");
    assert_eq!(Dropout::new(0.5, 42).unwrap().forward(&x).unwrap().to_f64_vec(), y1);
    d.eval();
    assert!(!d.is_training());
    assert_eq!(d.forward(&x).unwrap().to_f64_vec(), xv);
    assert!(Dropout::new(1.5, 0).is_err());
}

#[test]
fn train_and_eval_reach_every_child() {
    let mut rng = Generator::new(0);
    let mut m = Sequential::default()
        .with(Linear::new(2, 2, true, &mut rng).unwrap())
        .with(Dropout::new(0.1, 0).unwrap());
    assert!(m.is_training() && m.get_mut(1).unwrap().is_training());
    m.eval();
    assert!(!m.is_training() && !m.get_mut(1).unwrap().is_training());
    m.train(true);
    assert!(m.get_mut(0).unwrap().is_training());
    assert_eq!(m.len(), 2);
}

#[test]
fn gradients_reach_every_parameter_through_a_sequential() {
    let mut rng = Generator::new(3);
    let mut mlp = Sequential::default()
        .with(Linear::new(4, 8, true, &mut rng).unwrap())
        .with(Relu::new())
        .with(Linear::new(8, 3, true, &mut rng).unwrap());
    let x = randn(&[5, 4], 4);
    mlp.forward(&x).unwrap().sum(&[], false).unwrap().backward().unwrap();
    let params = mlp.named_parameters();
    for (name, p) in &params {
        let g = p.grad().unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.shape(), p.shape(), "{name}");
    }
    // d(sum y)/d(bias of the last layer) is the batch size for every output.
    assert_eq!(params[3].1.grad().unwrap().to_f64_vec(), vec![5.0; 3]);
    mlp.zero_grad();
    assert!(mlp.parameters().iter().all(|p| p.grad().is_none()));

    let mut cnn = Sequential::default()
        .with(Conv2d::new(2, 3, [3, 3], Conv2dOptions::default(), &mut rng).unwrap())
        .with(BatchNorm2d::new(3).unwrap())
        .with(Relu::new());
    let target = Tensor::zeros(&[2, 3, 3, 3], DType::F32).unwrap();
    let y = cnn.forward(&randn(&[2, 2, 5, 5], 6)).unwrap();
    functional::mse_loss(&y, &target, Reduction::Mean).unwrap().backward().unwrap();
    for (name, p) in cnn.named_parameters() {
        assert!(p.grad().is_some(), "no gradient for {name}");
    }
}

/// Naive f64 multi-head self-attention over `[L, E]` for one batch element.
fn reference_mha(x: &[f64], [l, e, h]: [usize; 3], [w, b, ow, ob]: [&[f64]; 4]) -> Vec<f64> {
    let proj = |wm: &[f64], bm: &[f64], rows: usize, row0: usize, xin: &[f64]| -> Vec<f64> {
        (0..l)
            .flat_map(|i| {
                (0..rows).map(move |o| {
                    bm[row0 + o]
                        + (0..e).map(|k| xin[i * e + k] * wm[(row0 + o) * e + k]).sum::<f64>()
                })
            })
            .collect()
    };
    let (q, k, v) = (proj(w, b, e, 0, x), proj(w, b, e, e, x), proj(w, b, e, 2 * e, x));
    let d = e / h;
    let mut o = vec![0.0; l * e];
    for hd in 0..h {
        for i in 0..l {
            let s: Vec<f64> = (0..l)
                .map(|j| {
                    (0..d).map(|t| q[i * e + hd * d + t] * k[j * e + hd * d + t]).sum::<f64>()
                        / (d as f64).sqrt()
                })
                .collect();
            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|v| (v - mx).exp()).sum();
            for t in 0..d {
                o[i * e + hd * d + t] =
                    (0..l).map(|j| (s[j] - mx).exp() / z * v[j * e + hd * d + t]).sum();
            }
        }
    }
    proj(ow, ob, e, 0, &o)
}

#[test]
fn multihead_attention_matches_a_naive_reference() {
    let (l, e, h) = (3, 4, 2);
    let mut mha = MultiheadAttention::new(e, h, true, false, &mut Generator::new(8)).unwrap();
    // Non-zero biases so that their slicing is checked.
    mha.in_proj_bias = Some(randn(&[3 * e], 9));
    mha.out_proj.bias = Some(randn(&[e], 10));
    let x = randn(&[l, 2, e], 11); // [L, N, E]
    let y = mha.forward(&x).unwrap();
    assert_eq!(y.shape(), &[l, 2, e]);
    let (w, b) = (mha.in_proj_weight.to_f64_vec(), mha.in_proj_bias.as_ref().unwrap().to_f64_vec());
    let (ow, ob) =
        (mha.out_proj.weight.to_f64_vec(), mha.out_proj.bias.as_ref().unwrap().to_f64_vec());
    for n in 0..2 {
        let xn = x.select(1, n as isize).unwrap().to_f64_vec();
        let want = reference_mha(&xn, [l, e, h], [&w, &b, &ow, &ob]);
        let got = y.select(1, n as isize).unwrap().to_f64_vec();
        close("mha", &got, &want, 1e-5);
    }
    // batch_first gives the same values on the transposed layout; unbatched too.
    mha.batch_first = true;
    let yb = mha.forward(&x.transpose(0, 1).unwrap()).unwrap();
    close("batch_first", &yb.transpose(0, 1).unwrap().to_f64_vec(), &y.to_f64_vec(), 1e-6);
    let x0 = x.select(1, 0).unwrap();
    let y0 = mha.forward(&x0).unwrap();
    close("unbatched", &y0.to_f64_vec(), &y.select(1, 0).unwrap().to_f64_vec(), 1e-6);
}

#[test]
fn multihead_attention_masks_hide_keys() {
    let (e, h) = (4, 2);
    let mut mha = MultiheadAttention::new(e, h, true, true, &mut Generator::new(1)).unwrap();
    let q = randn(&[1, 2, e], 1);
    let kv = randn(&[1, 3, e], 2);
    // Changing a padded key/value must not change the output.
    let mut changed = kv.to_f64_vec();
    for v in &mut changed[2 * e..] {
        *v += 5.0;
    }
    let kv2 = Tensor::from_vec(changed.iter().map(|v| *v as f32).collect(), &[1, 3, e]).unwrap();
    let pad = Tensor::from_vec(vec![false, false, true], &[1, 3]).unwrap();
    let a = mha.attend(&q, &kv, &kv, Some(&pad), None).unwrap();
    let b = mha.attend(&q, &kv2, &kv2, Some(&pad), None).unwrap();
    close("key_padding_mask", &a.to_f64_vec(), &b.to_f64_vec(), 1e-6);
    let unmasked = mha.attend(&q, &kv2, &kv2, None, None).unwrap();
    assert_ne!(unmasked.to_f64_vec(), a.to_f64_vec());
    // The same through a bool attn_mask [L, S], and a float one with -inf.
    let am = Tensor::from_vec(vec![false, false, true, false, false, true], &[2, 3]).unwrap();
    let c = mha.attend(&q, &kv2, &kv2, None, Some(&am)).unwrap();
    close("bool attn_mask", &c.to_f64_vec(), &a.to_f64_vec(), 1e-6);
    let fm =
        Tensor::from_vec(vec![0f32, 0.0, f32::NEG_INFINITY, 0.0, 0.0, f32::NEG_INFINITY], &[2, 3])
            .unwrap();
    let f = mha.attend(&q, &kv, &kv, None, Some(&fm)).unwrap();
    close("float attn_mask", &f.to_f64_vec(), &a.to_f64_vec(), 1e-6);
    // The averaged weights: rows sum to one, the padded key gets none, and
    // the output is attend's.
    let (o, w) = mha.attend_with_weights(&q, &kv, &kv, Some(&pad), None).unwrap();
    close("weights output", &o.to_f64_vec(), &a.to_f64_vec(), 1e-6);
    assert_eq!(w.shape(), &[1, 2, 3]);
    let wv = w.to_f64_vec();
    for row in wv.chunks(3) {
        assert_eq!(row[2], 0.0);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-6, "{row:?}");
    }
    let e1 = mha.attend(&q, &kv, &kv, Some(&am), None).unwrap_err().to_string();
    assert!(e1.contains("key_padding_mask") && e1.contains("[2, 3]"), "{e1}");
    let e2 = mha.attend(&q, &randn(&[1, 3, 5], 0), &kv, None, None).unwrap_err().to_string();
    assert!(e2.contains("MultiheadAttention"), "{e2}");
}

#[test]
fn multihead_attention_dropout_is_seeded_and_off_in_eval() {
    let x = randn(&[1, 4, 8], 3);
    let make = || {
        MultiheadAttention::new(8, 2, true, true, &mut Generator::new(5))
            .unwrap()
            .with_dropout(0.5, 11)
            .unwrap()
    };
    let (mut a, mut b) = (make(), make());
    let ya = a.forward(&x).unwrap().to_f64_vec();
    assert_eq!(ya, b.forward(&x).unwrap().to_f64_vec(), "same seed, same masks");
    let mut plain = MultiheadAttention::new(8, 2, true, true, &mut Generator::new(5)).unwrap();
    let y0 = plain.forward(&x).unwrap().to_f64_vec();
    assert_ne!(ya, y0);
    a.eval();
    close("eval", &a.forward(&x).unwrap().to_f64_vec(), &y0, 1e-6);
    let (_, w) = b.attend_with_weights(&x, &x, &x, None, None).unwrap();
    assert!(w.to_f64_vec().iter().all(|v| v.is_finite()));
    assert!(make().with_dropout(-0.1, 0).is_err());
}
