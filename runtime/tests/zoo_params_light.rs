//! The lightweight zoo families (SqueezeNet, MNASNet, MobileNet v2/v3,
//! EfficientNet, ShuffleNet v2, RegNet): every builder's parameter count
//! equals ZOO.md's table (hard-coded here) and its weights' `num_params`;
//! small models run a forward at random init with the default and with a
//! resized head; EfficientNet's stochastic depth drops whole rows in
//! training only.

use smelt_compiler::ir::DType;
use smelt_runtime::autograd::no_grad;
use smelt_runtime::nn::{Module, skip_init};
use smelt_runtime::tensor::{Generator, Tensor};
use smelt_runtime::zoo::{ModelConfig, StochasticDepth, get_model, list_models, model_entry};

/// ZOO.md's num_params of each builder's default weights.
const ZOO: &[(&str, u64)] = &[
    ("mobilenet_v2", 3_504_872),
    ("mobilenet_v3_small", 2_542_856),
    ("mobilenet_v3_large", 5_483_032),
    ("mnasnet0_5", 2_218_512),
    ("mnasnet0_75", 3_170_208),
    ("mnasnet1_0", 4_383_312),
    ("mnasnet1_3", 6_282_256),
    ("efficientnet_b0", 5_288_548),
    ("efficientnet_b1", 7_794_184),
    ("efficientnet_b2", 9_109_994),
    ("efficientnet_b3", 12_233_232),
    ("efficientnet_b4", 19_341_616),
    ("efficientnet_b5", 30_389_784),
    ("efficientnet_b6", 43_040_704),
    ("efficientnet_b7", 66_347_960),
    ("efficientnet_v2_s", 21_458_488),
    ("efficientnet_v2_m", 54_139_356),
    ("efficientnet_v2_l", 118_515_272),
    ("regnet_x_400mf", 5_495_976),
    ("regnet_x_800mf", 7_259_656),
    ("regnet_x_1_6gf", 9_190_136),
    ("regnet_x_3_2gf", 15_296_552),
    ("regnet_x_8gf", 39_572_648),
    ("regnet_x_16gf", 54_278_536),
    ("regnet_x_32gf", 107_811_560),
    ("regnet_y_400mf", 4_344_144),
    ("regnet_y_800mf", 6_432_512),
    ("regnet_y_1_6gf", 11_202_430),
    ("regnet_y_3_2gf", 19_436_338),
    ("regnet_y_8gf", 39_381_472),
    ("regnet_y_16gf", 83_590_140),
    ("regnet_y_32gf", 145_046_770),
    ("regnet_y_128gf", 644_812_894),
    ("shufflenet_v2_x0_5", 1_366_792),
    ("shufflenet_v2_x1_0", 2_278_604),
    ("shufflenet_v2_x1_5", 3_503_624),
    ("shufflenet_v2_x2_0", 7_393_996),
    ("squeezenet1_0", 1_248_424),
    ("squeezenet1_1", 1_235_496),
];

fn num_params(m: &dyn Module) -> u64 {
    m.parameters().iter().map(|p| p.numel() as u64).sum()
}

/// One model at a time, so the largest (RegNet-Y 128GF, 2.6 GB of zeros)
/// is dropped before the next is built.
#[test]
fn num_params_match_zoo_md() {
    let mut wrong = Vec::new();
    for &(name, want) in ZOO {
        let entry = model_entry(name).unwrap();
        let default = entry.default_weights().unwrap_or_else(|| panic!("{name}: no DEFAULT"));
        assert_eq!(default.num_params, want, "{name}: weights metadata");
        for w in &entry.weights {
            assert_eq!(w.num_params, want, "{}", w.full_name());
        }
        let m = skip_init(|| get_model(name, None, &ModelConfig::default())).unwrap();
        let got = num_params(m.as_ref());
        if got != want {
            wrong.push(format!("{name}: {got} != {want}"));
        }
    }
    assert!(wrong.is_empty(), "parameter counts differ from ZOO.md: {wrong:#?}");
}

#[test]
fn every_light_family_is_registered() {
    for pat in
        ["squeezenet*", "mnasnet*", "mobilenet_v*", "efficientnet_*", "regnet_*", "shufflenet_*"]
    {
        let listed = list_models(None, &[pat], &[]).unwrap();
        let want: Vec<&str> =
            ZOO.iter().map(|z| z.0).filter(|n| n.starts_with(pat.trim_end_matches('*'))).collect();
        assert_eq!(listed.len(), want.len(), "{pat}: {listed:?}");
    }
}

fn forward_shape(name: &str, classes: Option<usize>, side: usize) -> Vec<usize> {
    let cfg = ModelConfig { num_classes: classes, seed: 3, ..ModelConfig::default() };
    let mut m = get_model(name, None, &cfg).unwrap();
    m.eval();
    let x = Tensor::randn(&[1, 3, side, side], DType::F32, &mut Generator::new(5)).unwrap();
    let y = no_grad(|| m.forward(&x)).unwrap();
    assert!(y.to_f64_vec().iter().all(|v| v.is_finite()), "{name}: non-finite logits");
    y.shape().to_vec()
}

#[test]
fn small_models_run_at_random_init() {
    for name in ["squeezenet1_0", "mobilenet_v2", "shufflenet_v2_x0_5", "regnet_x_400mf"] {
        assert_eq!(forward_shape(name, None, 64), vec![1, 1000], "{name}");
    }
}

/// Channels-last input gives the NCHW logits (every family's ops: Fire's
/// concatenation, channel shuffle, squeeze-excitation, grouped convs).
#[test]
fn channels_last_input_matches_nchw() {
    use smelt_runtime::tensor::MemoryFormat;
    let x = Tensor::randn(&[2, 3, 48, 48], DType::F32, &mut Generator::new(9)).unwrap();
    let xc = x.to_memory_format(MemoryFormat::ChannelsLast).unwrap();
    for name in
        ["squeezenet1_0", "shufflenet_v2_x0_5", "efficientnet_b0", "regnet_y_400mf", "mobilenet_v2"]
    {
        let mut m =
            get_model(name, None, &ModelConfig { seed: 2, ..ModelConfig::default() }).unwrap();
        m.eval();
        let (a, b) = no_grad(|| (m.forward(&x).unwrap(), m.forward(&xc).unwrap()));
        let err = a
            .to_f64_vec()
            .iter()
            .zip(b.to_f64_vec())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        assert!(err <= 1e-5, "{name}: channels-last differs by {err}");
    }
}

#[test]
fn resized_heads_build_and_run() {
    for name in ["mnasnet0_75", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf"] {
        assert_eq!(forward_shape(name, Some(10), 64), vec![1, 10], "{name}");
    }
    // The documented minimum sides (EfficientNet V2 33, SqueezeNet 21 / 17).
    assert_eq!(forward_shape("efficientnet_v2_s", Some(10), 33), vec![1, 10]);
    assert_eq!(forward_shape("squeezenet1_0", Some(10), 21), vec![1, 10]);
    assert_eq!(forward_shape("squeezenet1_1", Some(10), 17), vec![1, 10]);
    for name in ["mnasnet0_5", "mobilenet_v3_small", "shufflenet_v2_x0_5", "regnet_x_400mf"] {
        assert_eq!(forward_shape(name, Some(10), 1), vec![1, 10], "{name} at 1×1");
    }
}

/// In training, stochastic depth zeroes whole samples (never parts of
/// one), scales the survivors by 1/(1-p) and is reproducible from its
/// seed; in evaluation it is the identity.
#[test]
fn stochastic_depth_drops_whole_rows_in_training_only() {
    let x = Tensor::ones(&[64, 2, 3, 3], DType::F32).unwrap();
    let rows = |sd: &mut StochasticDepth| -> Vec<f64> {
        let y = sd.forward(&x).unwrap().to_f64_vec();
        y.chunks(18)
            .map(|r| {
                assert!(r.iter().all(|v| *v == r[0]), "a row was partly dropped: {r:?}");
                r[0]
            })
            .collect()
    };
    let mut sd = StochasticDepth::new(0.5, 7).unwrap();
    let a = rows(&mut sd);
    assert!(a.iter().all(|v| *v == 0.0 || *v == 2.0), "{a:?}");
    let dropped = a.iter().filter(|v| **v == 0.0).count();
    assert!((10..=54).contains(&dropped), "{dropped} of 64 rows dropped at p=0.5");
    assert_eq!(a, rows(&mut StochasticDepth::new(0.5, 7).unwrap()), "seeded");
    sd.eval();
    assert!(rows(&mut sd).iter().all(|v| *v == 1.0));
    assert!(StochasticDepth::new(1.5, 0).is_err());
}

/// A seeded EfficientNet in training mode (dropout, stochastic depth,
/// batch statistics) repeats itself and differs from evaluation.
#[test]
fn efficientnet_training_forward_is_seeded() {
    let cfg = ModelConfig { num_classes: Some(4), seed: 11, ..ModelConfig::default() };
    let x = Tensor::randn(&[6, 3, 32, 32], DType::F32, &mut Generator::new(1)).unwrap();
    let run = |train: bool| {
        let mut m = get_model("efficientnet_b0", None, &cfg).unwrap();
        m.train(train);
        no_grad(|| m.forward(&x)).unwrap().to_f64_vec()
    };
    let a = run(true);
    assert_eq!(a, run(true), "same seed, same drops");
    assert_ne!(a, run(false));
}

/// EfficientNet's last stages run 5×5 convs (padding 2) on 1×1 maps at
/// small inputs: taps that read only padding contribute nothing, so the
/// output is the centre tap times the input (plain and depthwise).
#[test]
fn conv_on_input_smaller_than_padding() {
    use smelt_runtime::functional::conv2d;
    for groups in [1, 2] {
        let x = Tensor::from_vec(vec![2.0f32, -3.0], &[1, 2, 1, 1]).unwrap();
        let w: Vec<f32> = (0..2 * (2 / groups) * 25).map(|i| i as f32).collect();
        let wt = Tensor::from_vec(w.clone(), &[2, 2 / groups, 5, 5]).unwrap();
        for stride in [1, 2] {
            let y = conv2d(&x, &wt, None, [stride, stride], [2, 2], [1, 1], groups).unwrap();
            assert_eq!(y.shape(), &[1, 2, 1, 1]);
            let centre = |o: usize, i: usize| w[(o * (2 / groups) + i) * 25 + 12] as f64;
            let want: Vec<f64> = if groups == 1 {
                (0..2).map(|o| centre(o, 0) * 2.0 + centre(o, 1) * -3.0).collect()
            } else {
                vec![centre(0, 0) * 2.0, centre(1, 0) * -3.0]
            };
            assert_eq!(y.to_f64_vec(), want, "groups {groups} stride {stride}");
        }
    }
}

/// `max_pool2d(…, ceil_mode=True)` (SqueezeNet's pools): PyTorch's output
/// sizes, including the rule that drops a last window starting in the
/// right padding.
#[test]
fn max_pool2d_ceil_mode_sizes_and_values() {
    use smelt_runtime::functional::max_pool2d_ceil;
    let x = Tensor::from_vec((0..36).map(|v| v as f32).collect(), &[1, 1, 6, 6]).unwrap();
    let y = max_pool2d_ceil(&x, [3, 3], Some([2, 2]), [0, 0]).unwrap();
    assert_eq!(y.shape(), &[1, 1, 3, 3]);
    // The last window covers only rows/columns 4..6.
    assert_eq!(y.to_f64_vec(), vec![14.0, 16.0, 17.0, 26.0, 28.0, 29.0, 32.0, 34.0, 35.0]);
    let cl = x.to_memory_format(smelt_runtime::tensor::MemoryFormat::ChannelsLast).unwrap();
    assert_eq!(
        max_pool2d_ceil(&cl, [3, 3], Some([2, 2]), [0, 0]).unwrap().to_f64_vec(),
        y.to_f64_vec()
    );
    // 5 + 2·1 − 2 = 5: ceil(5/2) + 1 = 4 windows, but the 4th would start
    // in the right padding, so PyTorch gives 3.
    let x5 = Tensor::ones(&[1, 1, 5, 5], DType::F32).unwrap();
    assert_eq!(max_pool2d_ceil(&x5, [2, 2], Some([2, 2]), [1, 1]).unwrap().shape(), &[1, 1, 3, 3]);
    assert!(max_pool2d_ceil(&x5, [0, 2], None, [0, 0]).is_err());
    // An input one shorter than the kernel still gives one window.
    let x2 = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, 3.0], &[1, 1, 2, 2]).unwrap();
    let y2 = max_pool2d_ceil(&x2, [3, 3], Some([2, 2]), [0, 0]).unwrap();
    assert_eq!((y2.shape().to_vec(), y2.to_f64_vec()), (vec![1, 1, 1, 1], vec![5.0]));
}

fn std_of(t: &Tensor) -> f64 {
    let v = t.to_f64_vec();
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

/// Random init follows TorchVision's constructors: kaiming-normal (fan
/// out) convs, the family's linear rule, zero biases (RegNet's conv
/// biases excepted); under `skip_init` conv and linear weights stay zero.
#[test]
fn random_init_follows_torchvision() {
    let cfg = ModelConfig::default();
    let sd = |name: &str| get_model(name, None, &cfg).unwrap().state_dict();
    let close = |got: f64, want: f64, what: &str| {
        assert!((got / want - 1.0).abs() < 0.05, "{what}: std {got}, want {want}");
    };
    let m = sd("mobilenet_v2");
    close(std_of(&m["classifier.1.weight"]), 0.01, "mobilenet_v2 linear");
    assert!(m["classifier.1.bias"].to_f64_vec().iter().all(|v| *v == 0.0));
    // features.18.0: 1×1 conv 320 → 1280, fan out 1280.
    close(std_of(&m["features.18.0.weight"]), (2.0f64 / 1280.0).sqrt(), "mobilenet_v2 conv");
    let s = sd("squeezenet1_1");
    close(std_of(&s["classifier.1.weight"]), 0.01, "squeezenet final conv");
    assert!(s["features.0.bias"].to_f64_vec().iter().all(|v| *v == 0.0));
    // features.0: 3×3 conv from 3 channels, uniform in ±√(6/27): std √(2/27).
    close(std_of(&s["features.0.weight"]), (2.0f64 / 27.0).sqrt(), "squeezenet conv");
    let r = sd("regnet_y_400mf");
    assert!(r["trunk_output.block1.block1-0.f.se.fc1.bias"].to_f64_vec().iter().any(|v| *v != 0.0));
    assert!(r["fc.bias"].to_f64_vec().iter().all(|v| *v == 0.0));
    let z = skip_init(|| get_model("efficientnet_b0", None, &cfg)).unwrap();
    let drawn = z.parameters().into_iter().filter(|p| matches!(p.rank(), 2 | 4));
    assert!(drawn.into_iter().all(|p| p.to_f64_vec().iter().all(|v| *v == 0.0)));
}
