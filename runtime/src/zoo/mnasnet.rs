//! MNASNet B1 (TorchVision's `mnasnet0_5`, `mnasnet0_75`, `mnasnet1_0`,
//! `mnasnet1_3`): a stem, six stacks of inverted residuals (`layers`), a
//! 1×1 conv to 1280 channels, global average pool and a `classifier`
//! (dropout, linear). Batch norms use momentum 0.0003 as TorchVision's.

use super::blocks::{Activation, Named};
use super::light_init::{ConvInit, InitRule, LinearInit, torchvision_init};
use super::mobile_blocks::{Built, Residual, imagenet_weights, pool_flatten};
use super::registry::{ModelConfig, ModelEntry, Task};
use super::weights::{Interpolation, Transforms};
use crate::nn::{BatchNorm2d, Dropout, Linear, Sequential};
use crate::tensor::{Generator, Result};

/// TorchVision's `_BN_MOMENTUM` (1 − 0.9997).
const BN_MOMENTUM: f64 = 1.0 - 0.9997;

use super::blocks::bias_free_conv as conv;

/// `nn.BatchNorm2d(c, momentum=_BN_MOMENTUM)`.
fn bn(c: usize) -> Result<BatchNorm2d> {
    let mut b = BatchNorm2d::new(c)?;
    b.momentum = Some(BN_MOMENTUM);
    Ok(b)
}

/// `_InvertedResidual`: 1×1 expand, depthwise `k`×`k`, 1×1 project, under
/// `layers`, with the identity added at stride 1 and equal channels.
fn inverted_residual(
    i: usize,
    o: usize,
    k: usize,
    stride: usize,
    expand: usize,
    rng: &mut Generator,
) -> Result<Residual> {
    let mid = i * expand;
    let relu = || Activation::Relu.layer();
    let layers = Sequential::default()
        .with(conv(i, mid, 1, 1, 1, rng)?)
        .with(bn(mid)?)
        .with(relu())
        .with(conv(mid, mid, k, stride, mid, rng)?)
        .with(bn(mid)?)
        .with(relu())
        .with(conv(mid, o, 1, 1, 1, rng)?)
        .with(bn(o)?);
    Ok(Residual::new("layers", layers, i == o && stride == 1))
}

/// `_stack`: `repeats` inverted residuals, the first with `stride`.
fn stack(
    i: usize,
    o: usize,
    k: usize,
    stride: usize,
    expand: usize,
    repeats: usize,
    rng: &mut Generator,
) -> Result<Sequential> {
    let mut s = Sequential::default().with(inverted_residual(i, o, k, stride, expand, rng)?);
    for _ in 1..repeats {
        s.push(inverted_residual(o, o, k, 1, expand, rng)?);
    }
    Ok(s)
}

/// `_round_to_multiple_of(val, 8)` with round-up bias 0.9.
fn round_to_multiple_of_8(val: f64) -> usize {
    let new = (((val + 4.0) as usize) / 8 * 8).max(8);
    if new as f64 >= 0.9 * val { new } else { new + 8 }
}

/// Builds MNASNet with width multiplier `alpha`.
fn mnasnet(alpha: f64, cfg: &ModelConfig) -> Built {
    let classes = cfg.num_classes.unwrap_or(1000);
    let rng = &mut Generator::new(cfg.seed);
    let d: Vec<usize> = [32, 16, 24, 40, 80, 96, 192, 320]
        .iter()
        .map(|&c| round_to_multiple_of_8(c as f64 * alpha))
        .collect();
    let relu = || Activation::Relu.layer();
    let layers = Sequential::default()
        .with(conv(3, d[0], 3, 2, 1, rng)?)
        .with(bn(d[0])?)
        .with(relu())
        .with(conv(d[0], d[0], 3, 1, d[0], rng)?)
        .with(bn(d[0])?)
        .with(relu())
        .with(conv(d[0], d[1], 1, 1, 1, rng)?)
        .with(bn(d[1])?)
        .with(stack(d[1], d[2], 3, 2, 3, 3, rng)?)
        .with(stack(d[2], d[3], 5, 2, 3, 3, rng)?)
        .with(stack(d[3], d[4], 5, 2, 6, 3, rng)?)
        .with(stack(d[4], d[5], 3, 1, 6, 2, rng)?)
        .with(stack(d[5], d[6], 5, 2, 6, 4, rng)?)
        .with(stack(d[6], d[7], 3, 1, 6, 1, rng)?)
        .with(conv(d[7], 1280, 1, 1, 1, rng)?)
        .with(bn(1280)?)
        .with(relu());
    let classifier = Sequential::default()
        .with(Dropout::new(0.2, cfg.seed.wrapping_add(1))?)
        .with(Linear::new(1280, classes, true, rng)?);
    let mut model = Named::new()
        .with("layers", layers)
        .with("pool", pool_flatten())
        .with("classifier", classifier);
    let rule = InitRule {
        conv: ConvInit::KaimingNormalFanOut,
        linear: LinearInit::KaimingUniformOutSigmoid,
        zero_conv_bias: true,
        normal_std: &[],
    };
    torchvision_init(&mut model, rule, cfg.seed.wrapping_add(2))?;
    Ok(Box::new(model))
}

fn mnasnet0_5(cfg: &ModelConfig) -> Built {
    mnasnet(0.5, cfg)
}

fn mnasnet0_75(cfg: &ModelConfig) -> Built {
    mnasnet(0.75, cfg)
}

fn mnasnet1_0(cfg: &ModelConfig) -> Built {
    mnasnet(1.0, cfg)
}

fn mnasnet1_3(cfg: &ModelConfig) -> Built {
    mnasnet(1.3, cfg)
}

const RECIPE_V1: &str = "https://github.com/1e100/mnasnet_trainer";
const RECIPE_NEW: &str = "https://github.com/pytorch/vision/pull/6019";

/// The MNASNet builders and their weights.
pub(super) fn entries() -> Vec<ModelEntry> {
    let t224 = Transforms::IMAGENET;
    let t232 = Transforms::imagenet(232, 224, Interpolation::Bilinear);
    let entry = |name, build, w| ModelEntry {
        name,
        task: Task::Classification,
        build,
        weights: vec![w],
        default_member: "IMAGENET1K_V1",
    };
    let v1 = "IMAGENET1K_V1";
    vec![
        entry(
            "mnasnet0_5",
            mnasnet0_5 as super::registry::BuildFn,
            imagenet_weights(
                "MNASNet0_5_Weights",
                v1,
                "mnasnet0.5_top1_67.823-3ffadce67e",
                2_218_512,
                1,
                &[("acc@1", 67.734), ("acc@5", 87.490)],
                0.104,
                8.591,
                RECIPE_V1,
                t224,
            ),
        ),
        entry(
            "mnasnet0_75",
            mnasnet0_75,
            imagenet_weights(
                "MNASNet0_75_Weights",
                v1,
                "mnasnet0_75-7090bc5f",
                3_170_208,
                1,
                &[("acc@1", 71.180), ("acc@5", 90.496)],
                0.215,
                12.303,
                RECIPE_NEW,
                t232,
            ),
        ),
        entry(
            "mnasnet1_0",
            mnasnet1_0,
            imagenet_weights(
                "MNASNet1_0_Weights",
                v1,
                "mnasnet1.0_top1_73.512-f206786ef8",
                4_383_312,
                1,
                &[("acc@1", 73.456), ("acc@5", 91.510)],
                0.314,
                16.915,
                RECIPE_V1,
                t224,
            ),
        ),
        entry(
            "mnasnet1_3",
            mnasnet1_3,
            imagenet_weights(
                "MNASNet1_3_Weights",
                v1,
                "mnasnet1_3-a4c69d6f",
                6_282_256,
                1,
                &[("acc@1", 76.506), ("acc@5", 93.522)],
                0.526,
                24.246,
                RECIPE_NEW,
                t232,
            ),
        ),
    ]
}
