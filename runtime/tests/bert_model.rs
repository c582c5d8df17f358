//! The BERT encoder on a tiny random model: construction errors name the
//! tensor, inputs are checked, padding never leaks into real tokens, and the
//! layers compute what HuggingFace's formulas say (checked against a plain
//! f64 reimplementation on the host).

use std::collections::BTreeMap;

use smelt_compiler::ir::DType;
use smelt_runtime::models::bert::mean_pool_normalize;
use smelt_runtime::models::{BertConfig, BertModel, ModelError};
use smelt_runtime::{Generator, Tensor};

fn tiny_config() -> BertConfig {
    BertConfig {
        hidden_size: 8,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 12,
        vocab_size: 11,
        max_position_embeddings: 7,
        type_vocab_size: 2,
        ..BertConfig::default()
    }
}

/// HuggingFace names and shapes of a BertModel state dict.
fn shapes(c: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let (h, f) = (c.hidden_size, c.intermediate_size);
    let mut v = vec![
        ("embeddings.word_embeddings.weight".to_owned(), vec![c.vocab_size, h]),
        ("embeddings.position_embeddings.weight".to_owned(), vec![c.max_position_embeddings, h]),
        ("embeddings.token_type_embeddings.weight".to_owned(), vec![c.type_vocab_size, h]),
        ("embeddings.LayerNorm.weight".to_owned(), vec![h]),
        ("embeddings.LayerNorm.bias".to_owned(), vec![h]),
    ];
    for i in 0..c.num_hidden_layers {
        for (n, s) in [
            ("attention.self.query.weight", vec![h, h]),
            ("attention.self.query.bias", vec![h]),
            ("attention.self.key.weight", vec![h, h]),
            ("attention.self.key.bias", vec![h]),
            ("attention.self.value.weight", vec![h, h]),
            ("attention.self.value.bias", vec![h]),
            ("attention.output.dense.weight", vec![h, h]),
            ("attention.output.dense.bias", vec![h]),
            ("attention.output.LayerNorm.weight", vec![h]),
            ("attention.output.LayerNorm.bias", vec![h]),
            ("intermediate.dense.weight", vec![f, h]),
            ("intermediate.dense.bias", vec![f]),
            ("output.dense.weight", vec![h, f]),
            ("output.dense.bias", vec![h]),
            ("output.LayerNorm.weight", vec![h]),
            ("output.LayerNorm.bias", vec![h]),
        ] {
            v.push((format!("encoder.layer.{i}.{n}"), s));
        }
    }
    v
}

fn random_state_dict(c: &BertConfig, seed: u64) -> BTreeMap<String, Tensor> {
    let mut rng = Generator::new(seed);
    shapes(c)
        .into_iter()
        .map(|(n, s)| {
            let t = Tensor::randn(&s, DType::F32, &mut rng).unwrap().mul(0.5).unwrap();
            // Layer norm scales near 1, as trained models have them.
            let t = if n.ends_with("LayerNorm.weight") { t.add(1.0).unwrap() } else { t };
            (n, t)
        })
        .collect()
}

fn ids(rows: &[&[i64]]) -> Tensor {
    let s = rows[0].len();
    Tensor::from_vec(rows.concat(), &[rows.len(), s]).unwrap()
}

#[test]
fn missing_and_misshaped_tensors_are_named() {
    let c = tiny_config();
    let mut sd = random_state_dict(&c, 1);
    assert!(BertModel::from_state_dict(c.clone(), &sd).is_ok());
    let name = "encoder.layer.1.intermediate.dense.weight";
    let good = sd.remove(name).unwrap();
    let e = BertModel::from_state_dict(c.clone(), &sd).unwrap_err();
    assert!(matches!(&e, ModelError::Missing { name: n, .. } if n == name), "{e}");
    assert!(e.to_string().contains(name) && e.to_string().contains("[12, 8]"), "{e}");
    sd.insert(name.into(), good.transpose(0, 1).unwrap());
    let e = BertModel::from_state_dict(c.clone(), &sd).unwrap_err().to_string();
    assert!(e.contains(name) && e.contains("[8, 12]") && e.contains("[12, 8]"), "{e}");
    sd.insert(name.into(), good.to_dtype(DType::F64).unwrap());
    let e = BertModel::from_state_dict(c.clone(), &sd).unwrap_err().to_string();
    assert!(e.contains(name) && e.contains("f64"), "{e}");
}

#[test]
fn bert_prefixed_names_are_accepted() {
    let c = tiny_config();
    let sd: BTreeMap<String, Tensor> =
        random_state_dict(&c, 2).into_iter().map(|(k, v)| (format!("bert.{k}"), v)).collect();
    assert!(BertModel::from_state_dict(c, &sd).is_ok());
}

#[test]
fn bad_configs_are_refused() {
    let sd = random_state_dict(&tiny_config(), 3);
    for (c, want) in [
        (BertConfig { num_attention_heads: 3, ..tiny_config() }, "multiple"),
        (BertConfig { hidden_act: "swish".into(), ..tiny_config() }, "swish"),
        (
            BertConfig { position_embedding_type: "relative_key".into(), ..tiny_config() },
            "relative_key",
        ),
        (BertConfig { hidden_size: 0, ..tiny_config() }, "hidden_size"),
    ] {
        let e = BertModel::from_state_dict(c, &sd).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.json");
    std::fs::write(&p, r#"{"hidden_size": 384, "num_attention_heads": 12, "extra": [1]}"#).unwrap();
    let c = BertConfig::from_file(&p).unwrap();
    assert_eq!((c.hidden_size, c.num_hidden_layers, c.layer_norm_eps), (384, 12, 1e-12));
    std::fs::write(&p, r#"{"hidden_size": "big"}"#).unwrap();
    let e = BertConfig::from_file(&p).unwrap_err().to_string();
    assert!(e.contains("config.json"), "{e}");
}

#[test]
fn bad_inputs_are_errors() {
    let c = tiny_config();
    let m = BertModel::from_state_dict(c, &random_state_dict(&tiny_config(), 4)).unwrap();
    let mask = Tensor::ones(&[1, 3], DType::I64).unwrap();
    let f = Tensor::zeros(&[1, 3], DType::F32).unwrap();
    assert!(m.forward(&f, &mask).unwrap_err().to_string().contains("integer"));
    let long = Tensor::zeros(&[1, 8], DType::I64).unwrap();
    let e = m.forward(&long, &Tensor::ones(&[1, 8], DType::I64).unwrap()).unwrap_err();
    assert!(e.to_string().contains("max_position_embeddings"), "{e}");
    let e = m.forward(&ids(&[&[1, 2, 3]]), &Tensor::ones(&[1, 4], DType::I64).unwrap());
    assert!(e.unwrap_err().to_string().contains("does not match"));
    // An id past the vocabulary is an error, not garbage.
    assert!(m.forward(&ids(&[&[1, 11, 3]]), &mask).is_err());
}

#[test]
fn padding_does_not_leak_into_real_tokens() {
    let c = tiny_config();
    let m = BertModel::from_state_dict(c, &random_state_dict(&tiny_config(), 5)).unwrap();
    let mask = ids(&[&[1, 1, 1, 0, 0], &[1, 1, 1, 0, 0]]);
    let a = m.forward(&ids(&[&[2, 5, 7, 0, 0], &[2, 5, 7, 9, 4]]), &mask).unwrap();
    let short = m.forward(&ids(&[&[2, 5, 7]]), &ids(&[&[1, 1, 1]])).unwrap();
    let a = a.to_vec::<f32>().unwrap();
    let short = short.to_vec::<f32>().unwrap();
    // Real tokens are the same whatever the padded ids, and as without padding.
    for row in 0..2 {
        for k in 0..24 {
            let (x, y) = (a[row * 40 + k], short[k]);
            assert!((x - y).abs() < 1e-5, "row {row} elem {k}: {x} vs {y}");
        }
    }
    let e = m.sentence_embedding(&ids(&[&[2, 5, 7, 0, 0], &[2, 5, 7, 9, 4]]), &mask).unwrap();
    let e = e.to_vec::<f32>().unwrap();
    for k in 0..8 {
        assert!((e[k] - e[8 + k]).abs() < 1e-6);
    }
    let norm: f32 = e[..8].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
}

// ---- a host f64 reimplementation of HuggingFace's formulas ----

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec()
}

/// `x [n, i] @ w.T [i, o] + b`.
fn lin(x: &[f64], n: usize, w: &[f64], b: &[f64], i: usize, o: usize) -> Vec<f64> {
    let mut y = vec![0.0; n * o];
    for r in 0..n {
        for c in 0..o {
            y[r * o + c] = b[c] + (0..i).map(|k| x[r * i + k] * w[c * i + k]).sum::<f64>();
        }
    }
    y
}

fn ln(x: &[f64], w: &[f64], b: &[f64], h: usize, eps: f64) -> Vec<f64> {
    x.chunks(h)
        .flat_map(|row| {
            let mean = row.iter().sum::<f64>() / h as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / h as f64;
            row.iter()
                .enumerate()
                .map(move |(k, v)| (v - mean) / (var + eps).sqrt() * w[k] + b[k])
                .collect::<Vec<_>>()
        })
        .collect()
}

fn erf(x: f64) -> f64 {
    // erf = 1 - erfc, erfc by Numerical Recipes' Chebyshev fit `erfcc`
    // (fractional error < 1.2e-7, far below the test's tolerance).
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { 1.0 - r } else { r - 1.0 }
}

#[test]
fn forward_matches_the_formulas() {
    let c = tiny_config();
    let sd = random_state_dict(&c, 6);
    let m = BertModel::from_state_dict(c.clone(), &sd).unwrap();
    let input = [[3i64, 1, 4, 1, 5], [9, 2, 6, 0, 0]];
    let maskv = [[1i64, 1, 1, 1, 1], [1, 1, 1, 0, 0]];
    let got =
        vals(&m.forward(&ids(&[&input[0], &input[1]]), &ids(&[&maskv[0], &maskv[1]])).unwrap());
    let (h, f, s, heads) = (8usize, 12usize, 5usize, 2usize);
    let d = h / heads;
    let p = |n: &str| vals(&sd[n]);
    for b in 0..2 {
        let (we, pe, te) = (
            p("embeddings.word_embeddings.weight"),
            p("embeddings.position_embeddings.weight"),
            p("embeddings.token_type_embeddings.weight"),
        );
        let mut x: Vec<f64> = (0..s)
            .flat_map(|t| {
                let id = input[b][t] as usize;
                (0..h).map(move |k| (id, t, k)).collect::<Vec<_>>()
            })
            .map(|(id, t, k)| we[id * h + k] + te[k] + pe[t * h + k])
            .collect();
        x = ln(&x, &p("embeddings.LayerNorm.weight"), &p("embeddings.LayerNorm.bias"), h, 1e-12);
        for l in 0..2 {
            let q = |n: &str| p(&format!("encoder.layer.{l}.{n}"));
            let qq = lin(
                &x,
                s,
                &q("attention.self.query.weight"),
                &q("attention.self.query.bias"),
                h,
                h,
            );
            let kk =
                lin(&x, s, &q("attention.self.key.weight"), &q("attention.self.key.bias"), h, h);
            let vv = lin(
                &x,
                s,
                &q("attention.self.value.weight"),
                &q("attention.self.value.bias"),
                h,
                h,
            );
            let mut ctx = vec![0.0; s * h];
            for hd in 0..heads {
                for i in 0..s {
                    let scores: Vec<f64> = (0..s)
                        .map(|j| {
                            let dot: f64 = (0..d)
                                .map(|e| qq[i * h + hd * d + e] * kk[j * h + hd * d + e])
                                .sum();
                            dot / (d as f64).sqrt()
                                + if maskv[b][j] == 1 { 0.0 } else { f64::from(f32::MIN) }
                        })
                        .collect();
                    let mx = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let ex: Vec<f64> = scores.iter().map(|v| (v - mx).exp()).collect();
                    let sum: f64 = ex.iter().sum();
                    for e in 0..d {
                        ctx[i * h + hd * d + e] =
                            (0..s).map(|j| ex[j] / sum * vv[j * h + hd * d + e]).sum();
                    }
                }
            }
            let ao = lin(
                &ctx,
                s,
                &q("attention.output.dense.weight"),
                &q("attention.output.dense.bias"),
                h,
                h,
            );
            let sum: Vec<f64> = ao.iter().zip(&x).map(|(a, b)| a + b).collect();
            x = ln(
                &sum,
                &q("attention.output.LayerNorm.weight"),
                &q("attention.output.LayerNorm.bias"),
                h,
                1e-12,
            );
            let inter =
                lin(&x, s, &q("intermediate.dense.weight"), &q("intermediate.dense.bias"), h, f);
            let act: Vec<f64> =
                inter.iter().map(|v| 0.5 * v * (1.0 + erf(v / 2f64.sqrt()))).collect();
            let o = lin(&act, s, &q("output.dense.weight"), &q("output.dense.bias"), f, h);
            let sum: Vec<f64> = o.iter().zip(&x).map(|(a, b)| a + b).collect();
            x = ln(&sum, &q("output.LayerNorm.weight"), &q("output.LayerNorm.bias"), h, 1e-12);
        }
        for t in 0..s {
            for k in 0..h {
                let (g, w) = (got[(b * s + t) * h + k], x[t * h + k]);
                assert!((g - w).abs() < 1e-4, "batch {b} token {t} dim {k}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn mean_pooling_averages_kept_tokens_then_normalises() {
    let hidden = Tensor::from_vec(vec![1.0f32, 0.0, 3.0, 4.0, 100.0, 100.0], &[1, 3, 2]).unwrap();
    let mask = ids(&[&[1, 1, 0]]);
    let e = mean_pool_normalize(&hidden, &mask).unwrap().to_vec::<f32>().unwrap();
    // mean (2, 2) -> (1/√2, 1/√2)
    assert!((e[0] - 0.5f32.sqrt()).abs() < 1e-6 && (e[1] - 0.5f32.sqrt()).abs() < 1e-6, "{e:?}");
    // All-masked rows give zeros, not NaN (the clamps).
    let zero = mean_pool_normalize(&hidden, &ids(&[&[0, 0, 0]])).unwrap();
    assert_eq!(zero.to_vec::<f32>().unwrap(), [0.0, 0.0]);
    assert!(mean_pool_normalize(&hidden, &ids(&[&[1, 1]])).is_err());
}

/// Counts what a trace of the forward would see.
#[derive(Default)]
struct Count {
    ops: std::cell::RefCell<std::collections::BTreeMap<String, usize>>,
    opaque: std::cell::RefCell<Vec<String>>,
}

impl smelt_runtime::dispatch::Recorder for Count {
    fn op(
        &self,
        op: &smelt_compiler::ir::Op,
        _: &[smelt_runtime::dispatch::ArgRef<'_>],
        _: &Tensor,
    ) {
        *self.ops.borrow_mut().entry(op.name().to_owned()).or_default() += 1;
    }
    fn opaque(&self, name: &str, _: &[&Tensor], _: &[&Tensor]) {
        self.opaque.borrow_mut().push(name.to_owned());
    }
}

#[test]
fn forward_is_traceable_with_no_graph_break() {
    let m =
        BertModel::from_state_dict(tiny_config(), &random_state_dict(&tiny_config(), 7)).unwrap();
    let (input, mask) = (ids(&[&[2, 5, 7], &[1, 3, 0]]), ids(&[&[1, 1, 1], &[1, 1, 0]]));
    let rec = std::rc::Rc::new(Count::default());
    let traced = smelt_runtime::dispatch::with_recorder(rec.clone(), || {
        m.sentence_embedding(&input, &mask).unwrap()
    });
    assert!(rec.opaque.borrow().is_empty(), "graph breaks: {:?}", rec.opaque.borrow());
    let ops = rec.ops.borrow();
    // 2 layers × (q, k, v, scores, context, out, intermediate, output) matmuls.
    assert_eq!(ops.get("matmul"), Some(&16), "{ops:?}");
    assert!(ops.get("erf").is_some_and(|&n| n == 2), "{ops:?}");
    assert!(ops.contains_key("gather") && ops.contains_key("permute"), "{ops:?}");
    let eager = m.sentence_embedding(&input, &mask).unwrap();
    assert_eq!(traced.to_vec::<f32>().unwrap(), eager.to_vec::<f32>().unwrap());
}
