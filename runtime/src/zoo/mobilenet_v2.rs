//! MobileNet v2 (TorchVision's `mobilenet_v2`): `features` (a stem
//! Conv2dNormActivation, 17 inverted residuals, a 1×1 conv to 1280
//! channels, all with ReLU6), global average pool and a `classifier`
//! (dropout, linear).

use super::blocks::{Activation, Named, conv_norm_act};
use super::light_init::{ConvInit, InitRule, LinearInit, torchvision_init};
use super::mobile_blocks::{Built, Residual, imagenet_weights, make_divisible, pool_flatten};
use super::registry::{ModelConfig, ModelEntry, Task};
use super::weights::{Interpolation, Transforms};
use crate::nn::{BatchNorm2d, Conv2d, Conv2dOptions, Dropout, Linear, Sequential};
use crate::tensor::{Generator, Result};

/// `[expand ratio t, channels c, repeats n, first stride s]` per stage.
const SETTING: [[usize; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];

/// `InvertedResidual`: optional 1×1 expansion, 3×3 depthwise (both with
/// ReLU6), 1×1 linear projection and batch norm, under `conv`.
fn inverted_residual(
    i: usize,
    o: usize,
    stride: usize,
    t: usize,
    rng: &mut Generator,
) -> Result<Residual> {
    let hidden = i * t;
    let r6 = Some(Activation::Relu6);
    let mut conv = Sequential::default();
    if t != 1 {
        conv.push(conv_norm_act(i, hidden, 1, 1, 1, 1, r6, 1e-5, rng)?);
    }
    conv.push(conv_norm_act(hidden, hidden, 3, stride, hidden, 1, r6, 1e-5, rng)?);
    let opts = Conv2dOptions { bias: false, ..Conv2dOptions::default() };
    conv.push(Conv2d::new(hidden, o, [1, 1], opts, rng)?);
    conv.push(BatchNorm2d::new(o)?);
    Ok(Residual::new("conv", conv, stride == 1 && i == o))
}

/// Builds MobileNet v2 at width 1.0.
fn mobilenet_v2(cfg: &ModelConfig) -> Built {
    let classes = cfg.num_classes.unwrap_or(1000);
    let rng = &mut Generator::new(cfg.seed);
    let r6 = Some(Activation::Relu6);
    let mut input = make_divisible(32.0, 8);
    let last = make_divisible(1280.0, 8);
    let mut features =
        Sequential::default().with(conv_norm_act(3, input, 3, 2, 1, 1, r6, 1e-5, rng)?);
    for [t, c, n, s] in SETTING {
        let out = make_divisible(c as f64, 8);
        for i in 0..n {
            features.push(inverted_residual(input, out, if i == 0 { s } else { 1 }, t, rng)?);
            input = out;
        }
    }
    features.push(conv_norm_act(input, last, 1, 1, 1, 1, r6, 1e-5, rng)?);
    let classifier = Sequential::default()
        .with(Dropout::new(0.2, cfg.seed.wrapping_add(1))?)
        .with(Linear::new(last, classes, true, rng)?);
    let mut model = Named::new()
        .with("features", features)
        .with("pool", pool_flatten())
        .with("classifier", classifier);
    let rule = InitRule {
        conv: ConvInit::KaimingNormalFanOut,
        linear: LinearInit::Normal(0.01),
        zero_conv_bias: true,
        normal_std: &[],
    };
    torchvision_init(&mut model, rule, cfg.seed.wrapping_add(2))?;
    Ok(Box::new(model))
}

/// The MobileNet v2 builder and its weights.
pub(super) fn entries() -> Vec<ModelEntry> {
    let w = |member, file, acc, size, recipe, t| {
        imagenet_weights(
            "MobileNet_V2_Weights",
            member,
            file,
            3_504_872,
            1,
            acc,
            0.301,
            size,
            recipe,
            t,
        )
    };
    vec![ModelEntry {
        name: "mobilenet_v2",
        task: Task::Classification,
        build: mobilenet_v2,
        weights: vec![
            w(
                "IMAGENET1K_V1",
                "mobilenet_v2-b0353104",
                &[("acc@1", 71.878), ("acc@5", 90.286)],
                13.555,
                "https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv2",
                Transforms::IMAGENET,
            ),
            w(
                "IMAGENET1K_V2",
                "mobilenet_v2-7ebf99e0",
                &[("acc@1", 72.154), ("acc@5", 90.822)],
                13.598,
                "https://github.com/pytorch/vision/issues/3995#new-recipe-with-reg-tuning",
                Transforms::imagenet(232, 224, Interpolation::Bilinear),
            ),
        ],
        default_member: "IMAGENET1K_V2",
    }]
}
