//! conv2d, pools, memory formats, batch/group norm, dropout, attention and
//! losses: eager vs the interpreter or closed forms in f64.

mod tensor_common;

use smelt_compiler::ir::{Conv2dAttrs, DType, Op, PoolAttrs};
use smelt_runtime::functional::{
    Reduction, avg_pool2d, batch_norm, conv2d, cross_entropy, dropout, group_norm, max_pool2d,
    mse_loss, scaled_dot_product_attention, softmax,
};
use smelt_runtime::tensor::{Generator, MemoryFormat, Tensor};
use tensor_common::{Ref, assert_close, data, reference};

fn t(shape: &[usize], seed: u64) -> Tensor {
    Tensor::from_vec(data(shape.iter().product(), seed), shape).unwrap()
}

#[test]
fn conv2d_matches_the_interpreter_on_channels_last_input() {
    for (n, c, hw, oc, k, groups, stride, pad, dil) in
        [(1, 3, 7, 4, 3, 1, 1, 1, 1), (2, 4, 9, 6, 3, 2, 2, 0, 2), (1, 1, 1, 1, 1, 1, 1, 0, 1)]
    {
        let x = t(&[n, c, hw, hw], 3).to_memory_format(MemoryFormat::ChannelsLast).unwrap();
        assert!(x.is_channels_last() && (c == 1 || !x.is_contiguous() || hw == 1));
        let w = t(&[oc, c / groups, k, k], 4);
        let b = t(&[oc], 5);
        let got = conv2d(&x, &w, Some(&b), [stride; 2], [pad; 2], [dil; 2], groups).unwrap();
        let attrs = Conv2dAttrs {
            stride: [stride as u64; 2],
            padding: [pad as u64; 2],
            dilation: [dil as u64; 2],
            groups: groups as u64,
            channels_last: false,
        };
        let want = reference(Op::Conv2d(attrs), &[Ref::T(&x), Ref::T(&w), Ref::T(&b)]);
        assert_eq!(got.shape(), &want.shape[..]);
        assert_close("conv2d", &got.to_f64_vec(), &want.to_f64_vec(), 1e-4, 1e-4);
    }
    let e = conv2d(&t(&[1, 3, 5, 5], 1), &t(&[2, 4, 3, 3], 2), None, [1; 2], [0; 2], [1; 2], 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv2d") && e.contains("[1, 3, 5, 5]") && e.contains("[2, 4, 3, 3]"),
        "{e}"
    );
}

#[test]
fn pools_match_the_interpreter() {
    let x = t(&[2, 3, 11, 8], 9).permute(&[0, 1, 3, 2]).unwrap(); // [2, 3, 8, 11], strided
    for (k, s, p) in [(2, None, 0), (3, Some(2), 1), (1, None, 0)] {
        let attrs = PoolAttrs {
            kernel: [k as u64; 2],
            stride: [s.unwrap_or(k) as u64; 2],
            padding: [p as u64; 2],
            count_include_pad: true,
            channels_last: false,
        };
        let got = max_pool2d(&x, [k; 2], s.map(|v| [v; 2]), [p; 2]).unwrap();
        let want = reference(Op::MaxPool2d(attrs.clone()), &[Ref::T(&x)]);
        assert_close("max_pool2d", &got.to_f64_vec(), &want.to_f64_vec(), 0.0, 0.0);
        for cip in [true, false] {
            let got = avg_pool2d(&x, [k; 2], s.map(|v| [v; 2]), [p; 2], cip).unwrap();
            let a = PoolAttrs { count_include_pad: cip, ..attrs.clone() };
            let want = reference(Op::AvgPool2d(a), &[Ref::T(&x)]);
            assert_close("avg_pool2d", &got.to_f64_vec(), &want.to_f64_vec(), 1e-5, 1e-6);
        }
    }
    assert!(max_pool2d(&x, [2; 2], None, [2; 2]).is_err());
}

#[test]
fn memory_format_changes_strides_only() {
    let x = t(&[2, 3, 4, 5], 1);
    let cl = x.to_memory_format(MemoryFormat::ChannelsLast).unwrap();
    assert_eq!(cl.shape(), x.shape());
    assert_eq!(cl.strides(), &[60, 1, 15, 3]);
    assert_eq!(cl.to_f64_vec(), x.to_f64_vec());
    let back = cl.to_memory_format(MemoryFormat::Contiguous).unwrap();
    assert!(back.is_contiguous());
    assert_eq!(back.to_f64_vec(), x.to_f64_vec());
    assert!(t(&[2, 3], 1).to_memory_format(MemoryFormat::ChannelsLast).is_err());
}

/// Per-channel mean and biased variance of an `[N, C, H, W]` value list.
fn channel_stats(v: &[f64], shape: [usize; 4]) -> Vec<(f64, f64)> {
    let [n, c, h, w] = shape;
    (0..c)
        .map(|ch| {
            let vals: Vec<f64> = (0..n)
                .flat_map(|i| (0..h * w).map(move |j| (i, j)))
                .map(|(i, j)| v[(i * c + ch) * h * w + j])
                .collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let var = vals.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / vals.len() as f64;
            (m, var)
        })
        .collect()
}

#[test]
fn batch_norm_trains_and_evaluates() {
    let shape = [3, 4, 5, 2];
    let x = t(&shape, 11);
    let v = x.to_f64_vec();
    let (w, b) = (t(&[4], 12), t(&[4], 13));
    let rm = Tensor::zeros(&[4], DType::F32).unwrap();
    let rv = Tensor::ones(&[4], DType::F32).unwrap();
    let out = batch_norm(&x, Some(&rm), Some(&rv), Some(&w), Some(&b), true, 0.1, 1e-5).unwrap();
    let stats = channel_stats(&v, shape);
    let (wv, bv) = (w.to_f64_vec(), b.to_f64_vec());
    let got = out.output.to_f64_vec();
    let count = (3 * 5 * 2) as f64;
    for (i, g) in got.iter().enumerate() {
        let ch = (i / 10) % 4;
        let (m, var) = stats[ch];
        let want = (v[i] - m) / (var + 1e-5).sqrt() * wv[ch] + bv[ch];
        assert!((g - want).abs() < 1e-4, "train [{i}]: {g} vs {want}");
    }
    let (nm, nv) = out.running.unwrap();
    let want_m: Vec<f64> = stats.iter().map(|s| 0.1 * s.0).collect();
    let want_v: Vec<f64> = stats.iter().map(|s| 0.9 + 0.1 * s.1 * count / (count - 1.0)).collect();
    assert_close("running_mean", &nm.to_f64_vec(), &want_m, 1e-5, 1e-6);
    assert_close("running_var", &nv.to_f64_vec(), &want_v, 1e-5, 1e-6);
    // Evaluation uses the running statistics.
    let ev = batch_norm(&x, Some(&nm), Some(&nv), None, None, false, 0.1, 1e-5).unwrap();
    let (nmv, nvv) = (nm.to_f64_vec(), nv.to_f64_vec());
    for (i, g) in ev.output.to_f64_vec().iter().enumerate() {
        let ch = (i / 10) % 4;
        let want = (v[i] - nmv[ch]) / (nvv[ch] + 1e-5).sqrt();
        assert!((g - want).abs() < 1e-4, "eval [{i}]");
    }
    assert!(batch_norm(&x, None, None, None, None, false, 0.1, 1e-5).is_err());
    assert!(batch_norm(&x, Some(&t(&[3], 1)), Some(&rv), None, None, true, 0.1, 1e-5).is_err());
}

#[test]
fn group_norm_matches_the_closed_form() {
    let x = t(&[2, 6, 3, 3], 21);
    let v = x.to_f64_vec();
    let (w, b) = (t(&[6], 22), t(&[6], 23));
    let got = group_norm(&x, 3, Some(&w), Some(&b), 1e-5).unwrap().to_f64_vec();
    let (wv, bv) = (w.to_f64_vec(), b.to_f64_vec());
    for n in 0..2 {
        for g in 0..3 {
            let base = n * 54 + g * 18;
            let vals = &v[base..base + 18];
            let m = vals.iter().sum::<f64>() / 18.0;
            let var = vals.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 18.0;
            for j in 0..18 {
                let ch = g * 2 + j / 9;
                let want = (vals[j] - m) / (var + 1e-5).sqrt() * wv[ch] + bv[ch];
                assert!((got[base + j] - want).abs() < 1e-4);
            }
        }
    }
    assert!(group_norm(&x, 4, None, None, 1e-5).is_err());
}

#[test]
fn dropout_is_seeded_and_scales_the_kept_values() {
    let x = Tensor::ones(&[4000], DType::F32).unwrap();
    let a = dropout(&x, 0.25, true, &mut Generator::new(3)).unwrap().to_f64_vec();
    let b = dropout(&x, 0.25, true, &mut Generator::new(3)).unwrap().to_f64_vec();
    assert_eq!(a, b);
    let kept = a.iter().filter(|&&v| v != 0.0).count() as f64 / 4000.0;
    assert!((kept - 0.75).abs() < 0.03, "kept {kept}");
    assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    let eval = dropout(&x, 0.5, false, &mut Generator::new(3)).unwrap();
    assert_eq!(eval.id(), x.id());
    assert!(dropout(&x, 1.5, true, &mut Generator::new(3)).is_err());
}

#[test]
fn attention_matches_the_closed_form_with_masks() {
    let (l, s, e) = (5, 7, 3);
    let q = t(&[2, l, e], 31);
    let k = t(&[2, s, e], 32);
    let v = t(&[2, s, 4], 33);
    let mask =
        Tensor::from_vec((0..l * s).map(|i| i % 3 != 1).collect::<Vec<bool>>(), &[l, s]).unwrap();
    for (causal, m) in [(false, None), (true, None), (false, Some(&mask)), (true, Some(&mask))] {
        let got = scaled_dot_product_attention(&q, &k, &v, m, causal, None).unwrap();
        assert_eq!(got.shape(), &[2, l, 4]);
        let (qv, kv, vv) = (q.to_f64_vec(), k.to_f64_vec(), v.to_f64_vec());
        let mv = mask.to_f64_vec();
        let mut want = Vec::new();
        for bi in 0..2 {
            for i in 0..l {
                let mut sc: Vec<f64> = (0..s)
                    .map(|j| {
                        let dot: f64 = (0..e)
                            .map(|d| qv[(bi * l + i) * e + d] * kv[(bi * s + j) * e + d])
                            .sum();
                        let masked = (causal && j > i) || (m.is_some() && mv[i * s + j] == 0.0);
                        if masked { f64::NEG_INFINITY } else { dot / (e as f64).sqrt() }
                    })
                    .collect();
                let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                sc.iter_mut().for_each(|x| *x = (*x - mx).exp());
                let z: f64 = sc.iter().sum();
                for c in 0..4 {
                    want.push((0..s).map(|j| sc[j] / z * vv[(bi * s + j) * 4 + c]).sum::<f64>());
                }
            }
        }
        assert_close("sdpa", &got.to_f64_vec(), &want, 1e-4, 1e-5);
    }
    // An additive float mask equals the bool mask turned into 0 / -inf.
    let fmask = where_mask(&mask);
    let a = scaled_dot_product_attention(&q, &k, &v, Some(&fmask), false, Some(0.3)).unwrap();
    let b = scaled_dot_product_attention(&q, &k, &v, Some(&mask), false, Some(0.3)).unwrap();
    assert_close("float mask", &a.to_f64_vec(), &b.to_f64_vec(), 1e-6, 1e-7);
}

fn where_mask(mask: &Tensor) -> Tensor {
    smelt_runtime::tensor::where_cond(mask, 0.0, f64::NEG_INFINITY).unwrap()
}

#[test]
fn losses_match_closed_forms() {
    let x = t(&[4, 5], 41);
    let target = Tensor::from_vec(vec![0i64, 4, 2, 2], &[4]).unwrap();
    let p = softmax(&x, 1).unwrap().to_f64_vec();
    let per: Vec<f64> =
        [0usize, 4, 2, 2].iter().enumerate().map(|(i, &c)| -p[i * 5 + c].ln()).collect();
    let none = cross_entropy(&x, &target, Reduction::None).unwrap();
    assert_close("ce none", &none.to_f64_vec(), &per, 1e-5, 1e-6);
    let mean = cross_entropy(&x, &target, Reduction::Mean).unwrap().item().unwrap();
    assert!((mean - per.iter().sum::<f64>() / 4.0).abs() < 1e-5);
    let sum = cross_entropy(&x, &target, Reduction::Sum).unwrap().item().unwrap();
    assert!((sum - per.iter().sum::<f64>()).abs() < 1e-4);
    // Probability targets: one-hot rows give the same losses.
    let onehot: Vec<f32> =
        (0..20).map(|i| if [0, 4, 2, 2][i / 5] == i % 5 { 1.0 } else { 0.0 }).collect();
    let probs = Tensor::from_vec(onehot, &[4, 5]).unwrap();
    let soft = cross_entropy(&x, &probs, Reduction::None).unwrap();
    assert_close("ce probs", &soft.to_f64_vec(), &per, 1e-5, 1e-6);
    assert!(cross_entropy(&x, &Tensor::zeros(&[3], DType::I64).unwrap(), Reduction::Mean).is_err());
    let bad = Tensor::from_vec(vec![0i64, 5, 0, 0], &[4]).unwrap();
    assert!(cross_entropy(&x, &bad, Reduction::Mean).is_err());

    let y = t(&[4, 5], 42);
    let (xv, yv) = (x.to_f64_vec(), y.to_f64_vec());
    let want = xv.iter().zip(&yv).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / 20.0;
    assert!((mse_loss(&x, &y, Reduction::Mean).unwrap().item().unwrap() - want).abs() < 1e-6);
    assert!(mse_loss(&x, &t(&[5], 1), Reduction::Mean).is_err());
}
