//! The classic CNN families of the zoo (ResNet, ResNeXt, Wide ResNet, VGG,
//! AlexNet, DenseNet, GoogLeNet, Inception v3, FCN / DeepLabV3): every
//! builder's parameter count equals ZOO.md's table and its default weights'
//! `num_params`; small models run a forward with random weights; heads
//! resize with `num_classes`; segmentation maps come back at input size.

use smelt_compiler::ir::DType;
use smelt_runtime::nn::{self, Module};
use smelt_runtime::tensor::{Generator, Tensor};
use smelt_runtime::zoo::segmentation::{HeadKind, resnet_segmentation};
use smelt_runtime::zoo::{self, ModelConfig, Task};

/// ZOO.md's num_params of the default weights, per builder.
const ZOO_MD: &[(&str, u64)] = &[
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
    ("resnet50", 25_557_032),
    ("resnet101", 44_549_160),
    ("resnet152", 60_192_808),
    ("resnext50_32x4d", 25_028_904),
    ("resnext101_32x8d", 88_791_336),
    ("resnext101_64x4d", 83_455_272),
    ("wide_resnet50_2", 68_883_240),
    ("wide_resnet101_2", 126_886_696),
    ("alexnet", 61_100_840),
    ("vgg11", 132_863_336),
    ("vgg13", 133_047_848),
    ("vgg16", 138_357_544),
    ("vgg19", 143_667_240),
    ("vgg11_bn", 132_868_840),
    ("vgg13_bn", 133_053_736),
    ("vgg16_bn", 138_365_992),
    ("vgg19_bn", 143_678_248),
    ("densenet121", 7_978_856),
    ("densenet161", 28_681_000),
    ("densenet169", 14_149_480),
    ("densenet201", 20_013_928),
    ("googlenet", 6_624_904),
    ("inception_v3", 27_161_264),
    ("fcn_resnet50", 35_322_218),
    ("fcn_resnet101", 54_314_346),
    ("deeplabv3_resnet50", 42_004_074),
    ("deeplabv3_resnet101", 60_996_202),
];

/// Parameters of `m` (buffers excluded).
fn count(m: &dyn Module) -> u64 {
    m.named_parameters().iter().map(|(_, t)| t.numel() as u64).sum()
}

/// The configuration `get_model` uses with the default weights.
fn weights_config(name: &str) -> ModelConfig {
    let entry = zoo::model_entry(name).unwrap();
    let segmentation = entry.task == Task::Segmentation;
    ModelConfig { aux_loss: segmentation.then_some(true), ..ModelConfig::default() }
}

#[test]
fn num_params_match_zoo_md_and_the_weights() {
    for &(name, want) in ZOO_MD {
        let entry = zoo::model_entry(name).unwrap();
        let w = entry.default_weights().unwrap_or_else(|| panic!("{name}: no DEFAULT"));
        assert_eq!(w.num_params, want, "{name}: weights metadata vs ZOO.md");
        for m in &entry.weights {
            assert_eq!(m.num_params, want, "{}: every member has the same count", m.full_name());
        }
        let model = nn::skip_init(|| (entry.build)(&weights_config(name))).unwrap();
        assert_eq!(count(model.as_ref()), want, "{name}: built parameters vs ZOO.md");
    }
}

fn input(shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F32, &mut Generator::new(7)).unwrap()
}

/// Builds `name` with `num_classes`, runs `[1, 3, side, side]` in eval mode
/// and checks the logits' shape and finiteness.
fn classify(name: &str, side: usize, num_classes: Option<usize>) {
    let cfg = ModelConfig { num_classes, seed: 3, ..ModelConfig::default() };
    let mut m = zoo::get_model(name, None, &cfg).unwrap();
    m.eval();
    let y = m.forward(&input(&[1, 3, side, side])).unwrap();
    assert_eq!(y.shape(), &[1, num_classes.unwrap_or(1000)], "{name} logits");
    assert!(y.to_f64_vec().iter().all(|v| v.is_finite()), "{name}: non-finite logits");
}

#[test]
fn resnets_run_and_resize_their_head() {
    classify("resnet18", 64, None);
    classify("resnet18", 64, Some(10));
    classify("resnet50", 64, Some(10));
}

#[test]
fn resnext_and_wide_heads_resize_under_skip_init() {
    for name in ["resnext50_32x4d", "wide_resnet50_2"] {
        let cfg = ModelConfig { num_classes: Some(10), ..ModelConfig::default() };
        let m = nn::skip_init(|| zoo::get_model(name, None, &cfg)).unwrap();
        let sd = m.state_dict();
        assert_eq!(sd["fc.weight"].shape(), &[10, 2048], "{name}");
        assert_eq!(sd["fc.bias"].shape(), &[10], "{name}");
    }
}

#[test]
fn resnet_state_dict_names_are_torchvision_s() {
    let m = nn::skip_init(|| zoo::get_model("resnet50", None, &ModelConfig::default())).unwrap();
    let sd = m.state_dict();
    for k in [
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.num_batches_tracked",
        "layer4.2.conv3.weight",
        "layer4.2.bn3.bias",
        "fc.weight",
    ] {
        assert!(sd.contains_key(k), "resnet50 lacks {k}");
    }
    assert_eq!(sd["layer2.0.conv2.weight"].shape(), &[128, 128, 3, 3]);
    assert!(!sd.contains_key("layer1.1.downsample.0.weight"));
}

#[test]
fn small_classifiers_run() {
    classify("alexnet", 63, Some(10));
    classify("densenet121", 32, Some(10));
    classify("googlenet", 32, None);
    classify("inception_v3", 75, Some(10));
    classify("vgg11", 32, Some(10));
}

#[test]
fn googlenet_aux_heads_are_opt_in_and_skipped_when_loading() {
    let with = ModelConfig { aux_loss: Some(true), ..ModelConfig::default() };
    let m = nn::skip_init(|| zoo::get_model("googlenet", None, &with)).unwrap();
    let sd = m.state_dict();
    assert!(sd.contains_key("aux1.fc2.weight") && sd.contains_key("aux2.conv.bn.running_mean"));
    // A checkpoint with the heads (as TorchVision's) loads into a model without them.
    let mut plain =
        nn::skip_init(|| zoo::get_model("googlenet", None, &ModelConfig::default())).unwrap();
    plain.load_state_dict(&sd, true).unwrap();
    assert!(!plain.state_dict().contains_key("aux1.fc2.weight"));
}

#[test]
fn inception_aux_logits_follow_aux_loss() {
    let off = ModelConfig { aux_loss: Some(false), ..ModelConfig::default() };
    let m = nn::skip_init(|| zoo::get_model("inception_v3", None, &off)).unwrap();
    assert!(!m.state_dict().keys().any(|k| k.starts_with("AuxLogits.")));
    let on =
        nn::skip_init(|| zoo::get_model("inception_v3", None, &ModelConfig::default())).unwrap();
    assert_eq!(on.state_dict()["AuxLogits.fc.weight"].shape(), &[1000, 768]);
}

#[test]
fn segmentation_maps_come_back_at_input_size() {
    for name in ["fcn_resnet50", "deeplabv3_resnet50"] {
        let mut m =
            zoo::get_model(name, None, &ModelConfig { seed: 5, ..ModelConfig::default() }).unwrap();
        m.eval();
        let y = m.forward(&input(&[1, 3, 33, 40])).unwrap();
        assert_eq!(y.shape(), &[1, 21, 33, 40], "{name}");
        assert!(y.to_f64_vec().iter().all(|v| v.is_finite()), "{name}: non-finite map");
    }
}

#[test]
fn segmentation_aux_classifier_and_num_classes() {
    let cfg = ModelConfig { aux_loss: Some(true), num_classes: Some(10), ..ModelConfig::default() };
    let mut m = resnet_segmentation([3, 4, 6, 3], HeadKind::Fcn, &cfg).unwrap();
    m.eval();
    let (out, aux) = m.forward_maps(&input(&[2, 3, 24, 24])).unwrap();
    assert_eq!(out.shape(), &[2, 10, 24, 24]);
    assert_eq!(aux.unwrap().shape(), &[2, 10, 24, 24]);
    let sd = m.state_dict();
    assert_eq!(sd["classifier.4.weight"].shape(), &[10, 512, 1, 1]);
    assert_eq!(sd["aux_classifier.4.weight"].shape(), &[10, 256, 1, 1]);
    assert!(sd.contains_key("backbone.layer4.2.bn3.running_mean"));
    assert!(!sd.keys().any(|k| k.starts_with("backbone.fc")));
    // Without aux_loss there is no auxiliary head; DeepLab's ASPP names.
    let plain = ModelConfig::default();
    let d = nn::skip_init(|| zoo::get_model("deeplabv3_resnet50", None, &plain)).unwrap();
    let sd = d.state_dict();
    assert!(!sd.keys().any(|k| k.starts_with("aux_classifier")));
    for k in [
        "classifier.0.convs.3.0.weight",
        "classifier.0.convs.4.1.weight",
        "classifier.0.project.0.weight",
    ] {
        assert!(sd.contains_key(k), "deeplabv3_resnet50 lacks {k}");
    }
    assert_eq!(sd["classifier.0.convs.1.0.weight"].shape(), &[256, 2048, 3, 3]);
}

#[test]
fn googlenet_weights_load_and_turn_on_transform_input() {
    // A checkpoint shaped like TorchVision's (auxiliary heads included).
    let mut reference = zoo::googlenet::GoogLeNet::new(1000, true, true, 9).unwrap();
    reference.eval();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("googlenet-1378be20.safetensors");
    smelt_runtime::io::state_dict::save_state_dict(&path, &reference.state_dict()).unwrap();
    let cfg = ModelConfig { weights_path: Some(path), ..ModelConfig::default() };
    let mut loaded = zoo::get_model("googlenet", Some("DEFAULT"), &cfg).unwrap();
    loaded.eval();
    assert!(!loaded.state_dict().contains_key("aux1.conv.conv.weight"));
    let x = input(&[1, 3, 32, 32]);
    let (want, got) = (reference.forward(&x).unwrap(), loaded.forward(&x).unwrap());
    assert_eq!(got.to_f64_vec(), want.to_f64_vec(), "same weights, same transform_input");
}

#[test]
fn weights_metadata_follows_torchvision() {
    let w = zoo::get_weight("ResNet50_Weights.DEFAULT").unwrap();
    assert_eq!(
        (w.member, w.file, w.transforms.resize),
        ("IMAGENET1K_V2", "resnet50-11ad3fa6", 232)
    );
    assert_eq!(w.metrics, &[("acc@1", 80.858), ("acc@5", 95.434)]);
    assert_eq!((w.gflops, w.file_size_mib), (4.089, 97.79));
    let w = zoo::get_weight("Inception_V3_Weights.IMAGENET1K_V1").unwrap();
    assert_eq!((w.transforms.resize, w.transforms.crop, w.min_size), (342, Some(299), [75, 75]));
    let w = zoo::get_weight("DeepLabV3_ResNet101_Weights.DEFAULT").unwrap();
    assert_eq!((w.transforms.resize, w.transforms.crop), (520, None));
    assert_eq!(w.category_names().len(), 21);
    assert_eq!(zoo::get_weight("VGG16_BN_Weights.DEFAULT").unwrap().min_size, [32, 32]);
    assert_eq!(zoo::get_model_weights("wide_resnet101_2").unwrap().len(), 2);
    let seg = zoo::list_models(Some(Task::Segmentation), &[], &[]).unwrap();
    for name in ["deeplabv3_resnet101", "deeplabv3_resnet50", "fcn_resnet101", "fcn_resnet50"] {
        assert!(seg.contains(&name), "{name} listed under segmentation");
    }
}

/// The standard deviation of a tensor's values.
fn std_of(t: &Tensor) -> f64 {
    let v = t.to_f64_vec();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn initialisation_is_torchvision_s() {
    let r = zoo::get_model("resnet18", None, &ModelConfig::default()).unwrap().state_dict();
    // kaiming_normal_(fan_out, relu): √(2 / (64·7·7)).
    let want = (2.0f64 / (64.0 * 49.0)).sqrt();
    assert!((std_of(&r["conv1.weight"]) / want - 1.0).abs() < 0.05, "resnet18 conv1");
    assert_eq!(r["bn1.weight"].to_f64_vec(), vec![1.0; 64]);
    let g = zoo::get_model("googlenet", None, &ModelConfig::default()).unwrap().state_dict();
    assert!((std_of(&g["fc.weight"]) / 0.01 - 1.0).abs() < 0.05, "googlenet fc");
    // Under skip_init nothing is drawn.
    let z = nn::skip_init(|| zoo::get_model("resnet18", None, &ModelConfig::default())).unwrap();
    assert!(z.state_dict()["conv1.weight"].to_f64_vec().iter().all(|v| *v == 0.0));
}

#[test]
fn every_model_builds_with_ten_classes() {
    for &(name, _) in ZOO_MD {
        let cfg = ModelConfig { num_classes: Some(10), ..ModelConfig::default() };
        let m = nn::skip_init(|| zoo::get_model(name, None, &cfg)).unwrap();
        let params = m.named_parameters();
        let (last, t) = params.last().unwrap();
        assert_eq!(t.shape()[0], 10, "{name}: {last} {:?}", t.shape());
    }
}
