//! nn modules' parameter and buffer names against PyTorch's (the expected
//! lists are written from PyTorch's naming for the same architectures),
//! state_dict / load_state_dict round trips and their errors.

use std::collections::BTreeMap;

use smelt_compiler::ir::DType;
use smelt_runtime::nn::{
    BatchNorm2d, Conv2d, Conv2dOptions, Embedding, LayerNorm, Linear, Module, MultiheadAttention,
    Relu, Sequential,
};
use smelt_runtime::tensor::{Generator, Tensor};

/// `nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
/// nn.Conv2d(4, 2, 1, bias=False))`.
fn cnn(seed: u64) -> Sequential {
    let mut rng = Generator::new(seed);
    let pad = Conv2dOptions { padding: [1, 1], ..Default::default() };
    let nobias = Conv2dOptions { bias: false, ..Default::default() };
    Sequential::default()
        .with(Conv2d::new(3, 4, [3, 3], pad, &mut rng).unwrap())
        .with(BatchNorm2d::new(4).unwrap())
        .with(Relu::new())
        .with(Conv2d::new(4, 2, [1, 1], nobias, &mut rng).unwrap())
}

/// `nn.Sequential(nn.Embedding(10, 8), nn.LayerNorm(8),
/// nn.MultiheadAttention(8, 2, batch_first=True), nn.Linear(8, 5))`
/// (the attention used as self-attention).
fn transformer(seed: u64) -> Sequential {
    let mut rng = Generator::new(seed);
    Sequential::default()
        .with(Embedding::new(10, 8, &mut rng).unwrap())
        .with(LayerNorm::new(&[8]).unwrap())
        .with(MultiheadAttention::new(8, 2, true, true, &mut rng).unwrap())
        .with(Linear::new(8, 5, true, &mut rng).unwrap())
}

fn names_shapes(v: Vec<(String, Tensor)>) -> Vec<(String, Vec<usize>)> {
    v.into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect()
}

fn owned(v: &[(&str, &[usize])]) -> Vec<(String, Vec<usize>)> {
    v.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect()
}

#[test]
fn cnn_names_and_shapes_are_pytorchs() {
    let m = cnn(0);
    let params = owned(&[
        ("0.weight", &[4, 3, 3, 3]),
        ("0.bias", &[4]),
        ("1.weight", &[4]),
        ("1.bias", &[4]),
        ("3.weight", &[2, 4, 1, 1]),
    ]);
    assert_eq!(names_shapes(m.named_parameters()), params);
    let buffers =
        owned(&[("1.running_mean", &[4]), ("1.running_var", &[4]), ("1.num_batches_tracked", &[])]);
    assert_eq!(names_shapes(m.named_buffers()), buffers);
    let sd = m.state_dict();
    let keys: Vec<&str> = sd.keys().map(String::as_str).collect();
    let mut want: Vec<&str> = [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
        "3.weight",
    ]
    .to_vec();
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(sd["1.num_batches_tracked"].dtype(), DType::I64);
    assert_eq!(sd["1.running_var"].to_f64_vec(), vec![1.0; 4]);
    for (_, p) in m.named_parameters() {
        assert!(p.requires_grad() && p.is_leaf() && p.dtype() == DType::F32);
    }
    for (_, b) in m.named_buffers() {
        assert!(!b.requires_grad());
    }
}

#[test]
fn transformer_names_and_shapes_are_pytorchs() {
    let m = transformer(0);
    let params = owned(&[
        ("0.weight", &[10, 8]),
        ("1.weight", &[8]),
        ("1.bias", &[8]),
        ("2.in_proj_weight", &[24, 8]),
        ("2.in_proj_bias", &[24]),
        ("2.out_proj.weight", &[8, 8]),
        ("2.out_proj.bias", &[8]),
        ("3.weight", &[5, 8]),
        ("3.bias", &[5]),
    ]);
    assert_eq!(names_shapes(m.named_parameters()), params);
    assert!(m.named_buffers().is_empty());
    assert_eq!(m.state_dict().len(), 9);
}

#[test]
fn default_initialisation_follows_pytorchs_bounds() {
    let mut rng = Generator::new(7);
    let l = Linear::new(16, 3, true, &mut rng).unwrap();
    for p in [&l.weight, l.bias.as_ref().unwrap()] {
        let v = p.to_f64_vec();
        assert!(v.iter().all(|x| x.abs() <= 0.25), "{v:?}");
        assert!(v.iter().any(|x| x.abs() > 0.05), "not spread over the bound: {v:?}");
    }
    let c = Conv2d::new(2, 3, [3, 3], Conv2dOptions::default(), &mut rng).unwrap();
    let bound = 1.0 / 18f64.sqrt();
    assert!(c.weight.to_f64_vec().iter().all(|x| x.abs() <= bound));
    let mha = MultiheadAttention::new(8, 2, true, false, &mut rng).unwrap();
    assert_eq!(mha.in_proj_bias.unwrap().to_f64_vec(), vec![0.0; 24]);
    assert_eq!(mha.out_proj.bias.unwrap().to_f64_vec(), vec![0.0; 8]);
    let xb = (6.0f64 / 32.0).sqrt();
    assert!(mha.in_proj_weight.to_f64_vec().iter().all(|x| x.abs() <= xb));
    let nobias = Linear::new(3, 2, false, &mut rng).unwrap();
    assert_eq!(names_shapes(nobias.named_parameters()), owned(&[("weight", &[2, 3])]));
    let e = Embedding::new(100, 10, &mut rng).unwrap().weight.to_f64_vec();
    let var = e.iter().map(|x| x * x).sum::<f64>() / e.len() as f64;
    assert!((0.8..1.2).contains(&var), "N(0,1) variance {var}");
    // The same seed gives the same model.
    assert_eq!(
        cnn(3).state_dict()["0.weight"].to_f64_vec(),
        cnn(3).state_dict()["0.weight"].to_f64_vec()
    );
    assert!(
        Conv2d::new(3, 4, [1, 1], Conv2dOptions { groups: 2, ..Default::default() }, &mut rng)
            .is_err()
    );
    assert!(MultiheadAttention::new(6, 4, true, false, &mut rng).is_err());
}

#[test]
fn load_state_dict_round_trips_through_a_file() {
    let mut a = cnn(1);
    let x = Tensor::randn(&[2, 3, 5, 5], DType::F32, &mut Generator::new(9)).unwrap();
    a.forward(&x).unwrap(); // moves the running statistics away from their init
    a.eval();
    let path = std::env::temp_dir().join(format!("smelt_nn_sd_{}.safetensors", std::process::id()));
    smelt_runtime::io::state_dict::save_state_dict(&path, &a.state_dict()).unwrap();
    let loaded = smelt_runtime::io::state_dict::load_state_dict(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut b = cnn(2);
    b.eval();
    assert_ne!(a.forward(&x).unwrap().to_f64_vec(), b.forward(&x).unwrap().to_f64_vec());
    let report = b.load_state_dict(&loaded, true).unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    assert_eq!(a.forward(&x).unwrap().to_f64_vec(), b.forward(&x).unwrap().to_f64_vec());
    assert_eq!(b.state_dict()["1.num_batches_tracked"].to_f64_vec(), vec![1.0]);
    assert_eq!(b.state_dict()["1.num_batches_tracked"].dtype(), DType::I64);
    for (_, p) in b.named_parameters() {
        assert!(p.requires_grad() && p.is_leaf());
        assert!(!loaded.values().any(|t| t.shares_storage(&p)), "parameters are copies");
    }
}

#[test]
fn load_state_dict_errors_name_the_keys_and_change_nothing() {
    let src = cnn(1).state_dict();
    let mut m = cnn(2);
    let before = m.state_dict()["0.weight"].to_f64_vec();

    let mut missing = src.clone();
    missing.remove("1.running_var");
    let e = m.load_state_dict(&missing, true).unwrap_err().to_string();
    assert!(e.contains("load_state_dict") && e.contains("1.running_var"), "{e}");

    let mut extra = src.clone();
    extra.insert("4.weight".into(), Tensor::zeros(&[1], DType::F32).unwrap());
    let e = m.load_state_dict(&extra, true).unwrap_err().to_string();
    assert!(e.contains("4.weight"), "{e}");

    let mut bad = src.clone();
    bad.insert("0.bias".into(), Tensor::zeros(&[5], DType::F32).unwrap());
    let e = m.load_state_dict(&bad, false).unwrap_err().to_string();
    assert!(e.contains("0.bias") && e.contains("[5]") && e.contains("[4]"), "{e}");
    assert_eq!(m.state_dict()["0.weight"].to_f64_vec(), before, "a failed load changed the module");

    // Non-strict: loads what is there and reports the rest.
    let mut partial: BTreeMap<String, Tensor> = missing;
    partial.insert("extra".into(), Tensor::zeros(&[1], DType::F32).unwrap());
    let r = m.load_state_dict(&partial, false).unwrap();
    assert_eq!(r.missing_keys, vec!["1.running_var".to_string()]);
    assert_eq!(r.unexpected_keys, vec!["extra".to_string()]);
    assert_eq!(m.state_dict()["0.weight"].to_f64_vec(), src["0.weight"].to_f64_vec());
}

#[test]
fn load_state_dict_casts_to_the_modules_dtypes() {
    let mut m = Linear::new(2, 2, true, &mut Generator::new(0)).unwrap();
    let map = BTreeMap::from([
        ("weight".to_string(), Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[2, 2]).unwrap()),
        ("bias".to_string(), Tensor::from_vec(vec![0.5f64, -0.5], &[2]).unwrap()),
    ]);
    m.load_state_dict(&map, true).unwrap();
    assert_eq!(m.weight.dtype(), DType::F32);
    assert_eq!(m.weight.to_f64_vec(), vec![1.0, 2.0, 3.0, 4.0]);
    let y = m.forward(&Tensor::from_vec(vec![1.0f32, 1.0], &[1, 2]).unwrap()).unwrap();
    assert_eq!(y.to_f64_vec(), vec![3.5, 6.5]);
}

#[test]
fn gradients_reach_every_transformer_parameter() {
    let mut m = transformer(4);
    let ids = Tensor::from_vec(vec![1i64, 4, 9, 0, 2, 2], &[2, 3]).unwrap();
    let y = m.forward(&ids).unwrap();
    assert_eq!(y.shape(), &[2, 3, 5]);
    y.mul(&y).unwrap().sum(&[], false).unwrap().backward().unwrap();
    for (name, p) in m.named_parameters() {
        let g = p.grad().unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.shape(), p.shape(), "{name}");
    }
    // Only the looked-up rows of the embedding get a gradient.
    let g = m.named_parameters()[0].1.grad().unwrap().to_f64_vec();
    assert!(g[3 * 8..4 * 8].iter().all(|v| *v == 0.0), "row 3 is never looked up");
    assert!(g[8..2 * 8].iter().any(|v| *v != 0.0));
}
