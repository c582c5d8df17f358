//! The MobileNetV3-Large segmentation models: exact parameter counts
//! (ZOO.md: with the auxiliary head for DeepLabV3, none for LR-ASPP),
//! TorchVision's state-dict names, and output maps at the input size.

use smelt_compiler::ir::DType;
use smelt_runtime::nn::{self, Module};
use smelt_runtime::tensor::Generator;
use smelt_runtime::zoo::{ModelConfig, get_model, get_weight};
use smelt_runtime::{Tensor, autograd};

fn params(m: &dyn Module) -> u64 {
    m.parameters().iter().map(|p| p.numel() as u64).sum()
}

#[test]
fn parameter_counts_match_torchvision() {
    let aux = ModelConfig { aux_loss: Some(true), ..ModelConfig::default() };
    let d = nn::skip_init(|| get_model("deeplabv3_mobilenet_v3_large", None, &aux)).unwrap();
    assert_eq!(params(d.as_ref()), 11_029_328);
    let w = get_weight("DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT").unwrap();
    assert_eq!(w.num_params, 11_029_328);
    let l = nn::skip_init(|| get_model("lraspp_mobilenet_v3_large", None, &aux)).unwrap();
    assert_eq!(params(l.as_ref()), 3_221_538, "LR-ASPP has no auxiliary head");
}

#[test]
fn state_dict_names_are_torchvision_s() {
    let aux = ModelConfig { aux_loss: Some(true), ..ModelConfig::default() };
    let d = nn::skip_init(|| get_model("deeplabv3_mobilenet_v3_large", None, &aux)).unwrap();
    let sd = d.state_dict();
    for k in [
        "backbone.0.0.weight",
        "backbone.16.1.running_var",
        "classifier.0.convs.0.0.weight",
        "classifier.4.bias",
        "aux_classifier.0.weight",
        "aux_classifier.4.weight",
    ] {
        assert!(sd.contains_key(k), "{k} missing");
    }
    assert_eq!(sd["aux_classifier.0.weight"].shape(), &[10, 40, 3, 3]);
    let l = nn::skip_init(|| get_model("lraspp_mobilenet_v3_large", None, &ModelConfig::default()))
        .unwrap();
    let sd = l.state_dict();
    assert_eq!(sd["classifier.cbr.0.weight"].shape(), &[128, 960, 1, 1]);
    assert_eq!(sd["classifier.scale.1.weight"].shape(), &[128, 960, 1, 1]);
    assert_eq!(sd["classifier.low_classifier.weight"].shape(), &[21, 40, 1, 1]);
    assert_eq!(sd["classifier.high_classifier.weight"].shape(), &[21, 128, 1, 1]);
}

#[test]
fn outputs_are_class_maps_at_the_input_size() {
    let x = Tensor::randn(&[1, 3, 40, 36], DType::F32, &mut Generator::new(3)).unwrap();
    for name in ["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"] {
        let cfg = ModelConfig { num_classes: Some(5), ..ModelConfig::default() };
        let mut m = get_model(name, None, &cfg).unwrap();
        m.eval();
        let y = autograd::no_grad(|| m.forward(&x)).unwrap();
        assert_eq!(y.shape(), &[1, 5, 40, 36], "{name}");
        assert!(y.to_f64_vec().iter().all(|v| v.is_finite()), "{name}");
    }
}
