//! EfficientNet B0–B7 and EfficientNet V2 S/M/L (TorchVision's
//! `efficientnet_b*`, `efficientnet_v2_*`): `features` (a SiLU stem, one
//! `Sequential` per stage of MBConv / FusedMBConv blocks, a 1×1 conv),
//! global average pool and a `classifier` (dropout, linear). Every block
//! with a residual has row-mode stochastic depth whose probability grows
//! linearly from 0 to 0.2 over the blocks (identity in evaluation).

use super::blocks::{Activation, Named};
use super::light_init::{ConvInit, InitRule, LinearInit, torchvision_init};
use super::mobile_blocks::{
    Built, Residual, SqueezeExcitation, StochasticDepth, conv_bn_act, imagenet_weights,
    make_divisible, pool_flatten,
};
use super::registry::{BuildFn, ModelConfig, ModelEntry, Task};
use super::weights::{Interpolation, Transforms};
use crate::nn::{Dropout, Linear, Sequential};
use crate::tensor::{Generator, Result};

/// One stage: fused (FusedMBConv) or not, expand ratio, kernel, stride,
/// input and output channels, blocks.
type Stage = (bool, usize, usize, usize, usize, usize, usize);

/// EfficientNet B's stages before width and depth scaling.
const B: [Stage; 7] = [
    (false, 1, 3, 1, 32, 16, 1),
    (false, 6, 3, 2, 16, 24, 2),
    (false, 6, 5, 2, 24, 40, 2),
    (false, 6, 3, 2, 40, 80, 3),
    (false, 6, 5, 1, 80, 112, 3),
    (false, 6, 5, 2, 112, 192, 4),
    (false, 6, 3, 1, 192, 320, 1),
];

const V2_S: [Stage; 6] = [
    (true, 1, 3, 1, 24, 24, 2),
    (true, 4, 3, 2, 24, 48, 4),
    (true, 4, 3, 2, 48, 64, 4),
    (false, 4, 3, 2, 64, 128, 6),
    (false, 6, 3, 1, 128, 160, 9),
    (false, 6, 3, 2, 160, 256, 15),
];

const V2_M: [Stage; 7] = [
    (true, 1, 3, 1, 24, 24, 3),
    (true, 4, 3, 2, 24, 48, 5),
    (true, 4, 3, 2, 48, 80, 5),
    (false, 4, 3, 2, 80, 160, 7),
    (false, 6, 3, 1, 160, 176, 14),
    (false, 6, 3, 2, 176, 304, 18),
    (false, 6, 3, 1, 304, 512, 5),
];

const V2_L: [Stage; 7] = [
    (true, 1, 3, 1, 32, 32, 4),
    (true, 4, 3, 2, 32, 64, 7),
    (true, 4, 3, 2, 64, 96, 7),
    (false, 4, 3, 2, 96, 192, 10),
    (false, 6, 3, 1, 192, 224, 19),
    (false, 6, 3, 2, 224, 384, 25),
    (false, 6, 3, 1, 384, 640, 7),
];

/// The hyper-parameters of one variant.
struct Variant {
    stages: &'static [Stage],
    width: f64,
    depth: f64,
    dropout: f64,
    /// Batch-norm eps and momentum.
    bn: (f64, f64),
    /// Channels of the last conv (`None`: 4× its input).
    last_channel: Option<usize>,
}

/// One block (MBConv or FusedMBConv) under `block`.
#[allow(clippy::too_many_arguments)]
fn block(
    fused: bool,
    expand: usize,
    k: usize,
    stride: usize,
    i: usize,
    o: usize,
    bn: (f64, f64),
    rng: &mut Generator,
) -> Result<Residual> {
    let silu = Some(Activation::Silu);
    let e = make_divisible((i * expand) as f64, 8);
    let mut b = Sequential::default();
    if fused {
        if e != i {
            b.push(conv_bn_act(i, e, k, stride, 1, 1, silu, bn, rng)?);
            b.push(conv_bn_act(e, o, 1, 1, 1, 1, None, bn, rng)?);
        } else {
            b.push(conv_bn_act(i, o, k, stride, 1, 1, silu, bn, rng)?);
        }
    } else {
        if e != i {
            b.push(conv_bn_act(i, e, 1, 1, 1, 1, silu, bn, rng)?);
        }
        b.push(conv_bn_act(e, e, k, stride, e, 1, silu, bn, rng)?);
        let sq = (i / 4).max(1);
        b.push(SqueezeExcitation::new(e, sq, Activation::Silu, Activation::Sigmoid, rng)?);
        b.push(conv_bn_act(e, o, 1, 1, 1, 1, None, bn, rng)?);
    }
    Ok(Residual::new("block", b, stride == 1 && i == o))
}

/// Builds `v` for `cfg`.
fn efficientnet(v: &Variant, cfg: &ModelConfig) -> Built {
    let classes = cfg.num_classes.unwrap_or(1000);
    let rng = &mut Generator::new(cfg.seed);
    let ch = |c: usize| make_divisible(c as f64 * v.width, 8);
    let reps = |n: usize| (n as f64 * v.depth).ceil() as usize;
    let total: usize = v.stages.iter().map(|s| reps(s.6)).sum();
    let first = ch(v.stages[0].4);
    let silu = Some(Activation::Silu);
    let mut features =
        Sequential::default().with(conv_bn_act(3, first, 3, 2, 1, 1, silu, v.bn, rng)?);
    let mut id = 0;
    for &(fused, expand, k, stride, i, o, n) in v.stages {
        let (mut i, o) = (ch(i), ch(o));
        let mut stage = Sequential::default();
        for j in 0..reps(n) {
            let s = if j == 0 { stride } else { 1 };
            let p = 0.2 * id as f64 / total as f64;
            let sd = StochasticDepth::new(p, cfg.seed.wrapping_add(1000 + id as u64))?;
            stage.push(block(fused, expand, k, s, i, o, v.bn, rng)?.with_drop(sd));
            i = o;
            id += 1;
        }
        features.push(stage);
    }
    let last_in = ch(v.stages[v.stages.len() - 1].5);
    let last = v.last_channel.unwrap_or(4 * last_in);
    features.push(conv_bn_act(last_in, last, 1, 1, 1, 1, silu, v.bn, rng)?);
    let classifier = Sequential::default()
        .with(Dropout::new(v.dropout, cfg.seed.wrapping_add(1))?)
        .with(Linear::new(last, classes, true, rng)?);
    let mut model = Named::new()
        .with("features", features)
        .with("avgpool", pool_flatten())
        .with("classifier", classifier);
    let rule = InitRule {
        conv: ConvInit::KaimingNormalFanOut,
        linear: LinearInit::UniformOut,
        zero_conv_bias: true,
        normal_std: &[],
    };
    torchvision_init(&mut model, rule, cfg.seed.wrapping_add(2))?;
    Ok(Box::new(model))
}

/// Batch-norm defaults (B0–B4), the B5–B7 ones, and V2's.
const BN: (f64, f64) = (1e-5, 0.1);
const BN_B5: (f64, f64) = (1e-3, 0.01);
const BN_V2: (f64, f64) = (1e-3, 0.1);

/// A B variant with width `w`, depth `d`, dropout `p`, batch norm `bn`.
const fn b(w: f64, d: f64, p: f64, bn: (f64, f64)) -> Variant {
    Variant { stages: &B, width: w, depth: d, dropout: p, bn, last_channel: None }
}

/// A V2 variant.
const fn v2(stages: &'static [Stage], p: f64) -> Variant {
    Variant { stages, width: 1.0, depth: 1.0, dropout: p, bn: BN_V2, last_channel: Some(1280) }
}

macro_rules! builders {
    ($($name:ident = $variant:expr;)*) => {
        $(fn $name(cfg: &ModelConfig) -> Built {
            efficientnet(&$variant, cfg)
        })*
    };
}

builders! {
    efficientnet_b0 = b(1.0, 1.0, 0.2, BN);
    efficientnet_b1 = b(1.0, 1.1, 0.2, BN);
    efficientnet_b2 = b(1.1, 1.2, 0.3, BN);
    efficientnet_b3 = b(1.2, 1.4, 0.3, BN);
    efficientnet_b4 = b(1.4, 1.8, 0.4, BN);
    efficientnet_b5 = b(1.6, 2.2, 0.4, BN_B5);
    efficientnet_b6 = b(1.8, 2.6, 0.5, BN_B5);
    efficientnet_b7 = b(2.0, 3.1, 0.5, BN_B5);
    efficientnet_v2_s = v2(&V2_S, 0.2);
    efficientnet_v2_m = v2(&V2_M, 0.3);
    efficientnet_v2_l = v2(&V2_L, 0.4);
}

const RECIPE_V1: &str =
    "https://github.com/pytorch/vision/tree/main/references/classification#efficientnet-v1";
const RECIPE_V2: &str =
    "https://github.com/pytorch/vision/tree/main/references/classification#efficientnet-v2";

/// `(builder, build, enum, file, num_params, min_size, acc@1, acc@5,
/// GFLOPS, MiB, recipe, resize, crop, interpolation)` of each default
/// (and only, except B1) weights member.
type Row = (
    &'static str,
    BuildFn,
    &'static str,
    &'static str,
    u64,
    usize,
    &'static [(&'static str, f64)],
    f64,
    f64,
    &'static str,
    usize,
    usize,
    Interpolation,
);

/// The EfficientNet builders and their weights.
pub(super) fn entries() -> Vec<ModelEntry> {
    use Interpolation::{Bicubic, Bilinear};
    #[rustfmt::skip]
    let rows: [Row; 11] = [
        ("efficientnet_b0", efficientnet_b0, "EfficientNet_B0_Weights", "efficientnet_b0_rwightman-7f5810bc", 5_288_548, 1, &[("acc@1", 77.692), ("acc@5", 93.532)], 0.386, 20.451, RECIPE_V1, 256, 224, Bicubic),
        ("efficientnet_b1", efficientnet_b1, "EfficientNet_B1_Weights", "efficientnet_b1_rwightman-bac287d4", 7_794_184, 1, &[("acc@1", 78.642), ("acc@5", 94.186)], 0.687, 30.134, RECIPE_V1, 256, 240, Bicubic),
        ("efficientnet_b2", efficientnet_b2, "EfficientNet_B2_Weights", "efficientnet_b2_rwightman-c35c1473", 9_109_994, 1, &[("acc@1", 80.608), ("acc@5", 95.310)], 1.088, 35.174, RECIPE_V1, 288, 288, Bicubic),
        ("efficientnet_b3", efficientnet_b3, "EfficientNet_B3_Weights", "efficientnet_b3_rwightman-b3899882", 12_233_232, 1, &[("acc@1", 82.008), ("acc@5", 96.054)], 1.827, 47.184, RECIPE_V1, 320, 300, Bicubic),
        ("efficientnet_b4", efficientnet_b4, "EfficientNet_B4_Weights", "efficientnet_b4_rwightman-23ab8bcd", 19_341_616, 1, &[("acc@1", 83.384), ("acc@5", 96.594)], 4.394, 74.489, RECIPE_V1, 384, 380, Bicubic),
        ("efficientnet_b5", efficientnet_b5, "EfficientNet_B5_Weights", "efficientnet_b5_lukemelas-1a07897c", 30_389_784, 1, &[("acc@1", 83.444), ("acc@5", 96.628)], 10.266, 116.864, RECIPE_V1, 456, 456, Bicubic),
        ("efficientnet_b6", efficientnet_b6, "EfficientNet_B6_Weights", "efficientnet_b6_lukemelas-24a108a5", 43_040_704, 1, &[("acc@1", 84.008), ("acc@5", 96.916)], 19.068, 165.362, RECIPE_V1, 528, 528, Bicubic),
        ("efficientnet_b7", efficientnet_b7, "EfficientNet_B7_Weights", "efficientnet_b7_lukemelas-c5b4e57e", 66_347_960, 1, &[("acc@1", 84.122), ("acc@5", 96.908)], 37.746, 254.675, RECIPE_V1, 600, 600, Bicubic),
        ("efficientnet_v2_s", efficientnet_v2_s, "EfficientNet_V2_S_Weights", "efficientnet_v2_s-dd5fe13b", 21_458_488, 33, &[("acc@1", 84.228), ("acc@5", 96.878)], 8.366, 82.704, RECIPE_V2, 384, 384, Bilinear),
        ("efficientnet_v2_m", efficientnet_v2_m, "EfficientNet_V2_M_Weights", "efficientnet_v2_m-dc08266a", 54_139_356, 33, &[("acc@1", 85.112), ("acc@5", 97.156)], 24.582, 208.01, RECIPE_V2, 480, 480, Bilinear),
        ("efficientnet_v2_l", efficientnet_v2_l, "EfficientNet_V2_L_Weights", "efficientnet_v2_l-59c71312", 118_515_272, 33, &[("acc@1", 85.808), ("acc@5", 97.788)], 56.08, 454.573, RECIPE_V2, 480, 480, Bicubic),
    ];
    rows.into_iter()
        .map(|(name, build, e, file, n, min, acc, ops, size, recipe, resize, crop, interp)| {
            let t = Transforms::imagenet(resize, crop, interp);
            let mut weights = vec![imagenet_weights(e, "IMAGENET1K_V1", file, n, min, acc, ops, size, recipe, t)];
            let mut default_member = "IMAGENET1K_V1";
            if name == "efficientnet_b1" {
                weights.push(imagenet_weights(
                    e,
                    "IMAGENET1K_V2",
                    "efficientnet_b1-c27df63c",
                    n,
                    1,
                    &[("acc@1", 79.838), ("acc@5", 94.934)],
                    0.687,
                    30.136,
                    "https://github.com/pytorch/vision/issues/3995#new-recipe-with-lr-wd-crop-tuning",
                    Transforms::imagenet(255, 240, Bilinear),
                ));
                default_member = "IMAGENET1K_V2";
            }
            ModelEntry { name, task: Task::Classification, build, weights, default_member }
        })
        .collect()
}
