//! MobileNet v3 small and large (TorchVision's `mobilenet_v3_small`,
//! `mobilenet_v3_large`): `features` (Hardswish stem, inverted residuals
//! with optional squeeze-excitation, a 1×1 conv to 6× channels), global
//! average pool and a `classifier` (linear, Hardswish, dropout, linear).
//! Batch norms use eps 0.001 and momentum 0.01.
//!
//! [`large_features`] builds the feature extractor alone, optionally with
//! TorchVision's `dilated=True` (the last stage keeps output stride 16 with
//! dilation 2), and [`V3Features::forward_taps`] returns intermediate
//! outputs, as the DeepLabV3 and LR-ASPP segmentation heads take them.

use super::blocks::{Activation, Named};
use super::light_init::{ConvInit, InitRule, LinearInit, torchvision_init};
use super::mobile_blocks::{
    Built, Residual, SqueezeExcitation, conv_bn_act, imagenet_weights, make_divisible, pool_flatten,
};
use super::registry::{ModelConfig, ModelEntry, Task};
use super::weights::{Interpolation, Transforms};
use crate::nn::{Dropout, Kind, Linear, Module, Sequential, Slot};
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// TorchVision's initialisation of MobileNet v3.
const INIT: InitRule = InitRule {
    conv: ConvInit::KaimingNormalFanOut,
    linear: LinearInit::Normal(0.01),
    zero_conv_bias: true,
    normal_std: &[],
};

/// Batch-norm eps of MobileNet v3.
const EPS: f64 = 0.001;
/// Batch-norm momentum of MobileNet v3.
const MOMENTUM: f64 = 0.01;

/// One bottleneck: input, kernel, expanded and output channels,
/// squeeze-excitation, Hardswish (else ReLU), stride, and whether it is in
/// the last stage (dilated when the extractor is).
type Bneck = (usize, usize, usize, usize, bool, bool, usize, bool);

const LARGE: [Bneck; 15] = [
    (16, 3, 16, 16, false, false, 1, false),
    (16, 3, 64, 24, false, false, 2, false),
    (24, 3, 72, 24, false, false, 1, false),
    (24, 5, 72, 40, true, false, 2, false),
    (40, 5, 120, 40, true, false, 1, false),
    (40, 5, 120, 40, true, false, 1, false),
    (40, 3, 240, 80, false, true, 2, false),
    (80, 3, 200, 80, false, true, 1, false),
    (80, 3, 184, 80, false, true, 1, false),
    (80, 3, 184, 80, false, true, 1, false),
    (80, 3, 480, 112, true, true, 1, false),
    (112, 3, 672, 112, true, true, 1, false),
    (112, 5, 672, 160, true, true, 2, true),
    (160, 5, 960, 160, true, true, 1, true),
    (160, 5, 960, 160, true, true, 1, true),
];

const SMALL: [Bneck; 11] = [
    (16, 3, 16, 16, true, false, 2, false),
    (16, 3, 72, 24, false, false, 2, false),
    (24, 3, 88, 24, false, false, 1, false),
    (24, 5, 96, 40, true, true, 2, false),
    (40, 5, 240, 40, true, true, 1, false),
    (40, 5, 240, 40, true, true, 1, false),
    (40, 5, 120, 48, true, true, 1, false),
    (48, 5, 144, 48, true, true, 1, false),
    (48, 5, 288, 96, true, true, 2, true),
    (96, 5, 576, 96, true, true, 1, true),
    (96, 5, 576, 96, true, true, 1, true),
];

/// A Conv2dNormActivation with MobileNet v3's batch-norm settings.
#[allow(clippy::too_many_arguments)]
fn cna(
    i: usize,
    o: usize,
    k: usize,
    stride: usize,
    groups: usize,
    dilation: usize,
    act: Option<Activation>,
    rng: &mut Generator,
) -> Result<Sequential> {
    conv_bn_act(i, o, k, stride, groups, dilation, act, (EPS, MOMENTUM), rng)
}

/// `InvertedResidual` of MobileNet v3 under `block`.
fn bneck(b: Bneck, dilation: usize, rng: &mut Generator) -> Result<Residual> {
    let (i, k, e, o, se, hs, stride, last_stage) = b;
    let act = Some(if hs { Activation::Hardswish } else { Activation::Relu });
    let d = if last_stage { dilation } else { 1 };
    let mut block = Sequential::default();
    if e != i {
        block.push(cna(i, e, 1, 1, 1, 1, act, rng)?);
    }
    let s = if d > 1 { 1 } else { stride };
    block.push(cna(e, e, k, s, e, d, act, rng)?);
    if se {
        let sq = make_divisible((e / 4) as f64, 8);
        block.push(SqueezeExcitation::new(e, sq, Activation::Relu, Activation::Hardsigmoid, rng)?);
    }
    block.push(cna(e, o, 1, 1, 1, 1, None, rng)?);
    Ok(Residual::new("block", block, stride == 1 && i == o))
}

/// The `features` of MobileNet v3 with where its stages start: the
/// `Sequential` TorchVision's segmentation models use as `backbone`.
pub(crate) struct V3Features {
    /// The layers, named `0`, `1`, … as in TorchVision.
    pub(crate) layers: Sequential,
    /// TorchVision's `stage_indices`: 0, each block with stride > 1, and
    /// the last layer.
    pub(crate) stage_indices: Vec<usize>,
    /// Output channels of each layer.
    pub(crate) channels: Vec<usize>,
}

impl V3Features {
    /// Runs the layers up to the largest of `taps` and returns the outputs
    /// of the layers `taps` names, in the order given (DeepLabV3 takes
    /// `stage_indices[-4]` as `aux` and the last as `out`; LR-ASPP takes
    /// `stage_indices[-4]` as `low` and the last as `high`).
    pub(crate) fn forward_taps(&mut self, x: &Tensor, taps: &[usize]) -> Result<Vec<Tensor>> {
        let last = taps.iter().copied().max().unwrap_or(0);
        if last >= self.layers.len() {
            return Err(arg_err(
                "mobilenet_v3 features",
                format!("tap {last} is past the {} layers", self.layers.len()),
            ));
        }
        let mut outs: Vec<Option<Tensor>> = vec![None; taps.len()];
        let mut y = x.clone();
        for i in 0..=last {
            let Some(layer) = self.layers.get_mut(i) else { break };
            y = layer.forward(&y)?;
            for (slot, _) in outs.iter_mut().zip(taps).filter(|(_, t)| **t == i) {
                *slot = Some(y.clone());
            }
        }
        Ok(outs.into_iter().map(|o| o.unwrap_or_else(|| y.clone())).collect())
    }
}

impl Module for V3Features {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        self.layers.forward(x)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        self.layers.named_tensors()
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        self.layers.slots()
    }

    fn train(&mut self, mode: bool) {
        self.layers.train(mode)
    }

    fn is_training(&self) -> bool {
        self.layers.is_training()
    }
}

/// Builds the features of the configuration `conf` (dilation 2 in the last
/// stage when `dilated`).
fn features(conf: &[Bneck], dilated: bool, rng: &mut Generator) -> Result<V3Features> {
    let hs = Some(Activation::Hardswish);
    let first = conf[0].0;
    let mut layers = Sequential::default().with(cna(3, first, 3, 2, 1, 1, hs, rng)?);
    let (mut stage_indices, mut channels) = (vec![0], vec![first]);
    for (n, &b) in conf.iter().enumerate() {
        layers.push(bneck(b, if dilated { 2 } else { 1 }, rng)?);
        if b.6 > 1 {
            stage_indices.push(n + 1);
        }
        channels.push(b.3);
    }
    let last_in = conf[conf.len() - 1].3;
    layers.push(cna(last_in, 6 * last_in, 1, 1, 1, 1, hs, rng)?);
    channels.push(6 * last_in);
    stage_indices.push(layers.len() - 1);
    Ok(V3Features { layers, stage_indices, channels })
}

/// The features of MobileNet v3 large (`mobilenet_v3_large(dilated=…)
/// .features`), seeded with `seed`, for the segmentation models.
pub(crate) fn large_features(dilated: bool, seed: u64) -> Result<V3Features> {
    let mut f = features(&LARGE, dilated, &mut Generator::new(seed))?;
    torchvision_init(&mut f, INIT, seed.wrapping_add(2))?;
    Ok(f)
}

/// Builds a MobileNet v3 classifier from `conf` with `last` hidden units.
fn mobilenet_v3(conf: &[Bneck], last: usize, cfg: &ModelConfig) -> Built {
    let classes = cfg.num_classes.unwrap_or(1000);
    let rng = &mut Generator::new(cfg.seed);
    let f = features(conf, false, rng)?;
    let c = f.channels[f.channels.len() - 1];
    let classifier = Sequential::default()
        .with(Linear::new(c, last, true, rng)?)
        .with(Activation::Hardswish.layer())
        .with(Dropout::new(0.2, cfg.seed.wrapping_add(1))?)
        .with(Linear::new(last, classes, true, rng)?);
    let mut model = Named::new()
        .with("features", f)
        .with("avgpool", pool_flatten())
        .with("classifier", classifier);
    torchvision_init(&mut model, INIT, cfg.seed.wrapping_add(2))?;
    Ok(Box::new(model))
}

fn mobilenet_v3_large(cfg: &ModelConfig) -> Built {
    mobilenet_v3(&LARGE, make_divisible(1280.0, 8), cfg)
}

fn mobilenet_v3_small(cfg: &ModelConfig) -> Built {
    mobilenet_v3(&SMALL, make_divisible(1024.0, 8), cfg)
}

const RECIPE_V1: &str = "https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv3-large--small";
const RECIPE_V2: &str = "https://github.com/pytorch/vision/issues/3995#new-recipe-with-reg-tuning";

/// The MobileNet v3 builders and their weights.
pub(super) fn entries() -> Vec<ModelEntry> {
    let large = |member, file, acc, size, recipe, t| {
        let e = "MobileNet_V3_Large_Weights";
        imagenet_weights(e, member, file, 5_483_032, 1, acc, 0.217, size, recipe, t)
    };
    vec![
        ModelEntry {
            name: "mobilenet_v3_large",
            task: Task::Classification,
            build: mobilenet_v3_large,
            weights: vec![
                large(
                    "IMAGENET1K_V1",
                    "mobilenet_v3_large-8738ca79",
                    &[("acc@1", 74.042), ("acc@5", 91.340)],
                    21.114,
                    RECIPE_V1,
                    Transforms::IMAGENET,
                ),
                large(
                    "IMAGENET1K_V2",
                    "mobilenet_v3_large-5c1a4163",
                    &[("acc@1", 75.274), ("acc@5", 92.566)],
                    21.107,
                    RECIPE_V2,
                    Transforms::imagenet(232, 224, Interpolation::Bilinear),
                ),
            ],
            default_member: "IMAGENET1K_V2",
        },
        ModelEntry {
            name: "mobilenet_v3_small",
            task: Task::Classification,
            build: mobilenet_v3_small,
            weights: vec![imagenet_weights(
                "MobileNet_V3_Small_Weights",
                "IMAGENET1K_V1",
                "mobilenet_v3_small-047dcff4",
                2_542_856,
                1,
                &[("acc@1", 67.668), ("acc@5", 87.402)],
                0.057,
                9.829,
                RECIPE_V1,
                Transforms::IMAGENET,
            )],
            default_member: "IMAGENET1K_V1",
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::skip_init;
    use crate::zoo::registry::get_model;
    use smelt_compiler::ir::DType;

    /// The extractor's tensors are the classifier's `features.*`, its
    /// stages are TorchVision's, and the taps the segmentation heads take
    /// have output stride 8 (`low`, 40 channels) and 16 when dilated
    /// (`high`, 960 channels) instead of 32.
    #[test]
    fn large_features_taps_and_dilation() -> Result<()> {
        let cls = skip_init(|| get_model("mobilenet_v3_large", None, &ModelConfig::default()))
            .map_err(|e| arg_err("test", e.to_string()))?;
        let want: Vec<String> = cls
            .named_tensors()
            .into_iter()
            .filter_map(|(n, _, _)| n.strip_prefix("features.").map(str::to_string))
            .collect();
        for dilated in [false, true] {
            let mut f = large_features(dilated, 0)?;
            let names: Vec<String> = f.named_tensors().into_iter().map(|(n, _, _)| n).collect();
            assert_eq!(names, want);
            assert_eq!(f.stage_indices, vec![0, 2, 4, 7, 13, 16]);
            f.eval();
            let x = Tensor::randn(&[1, 3, 64, 64], DType::F32, &mut Generator::new(0))?;
            let (low, high) = (f.stage_indices[2], f.stage_indices[5]);
            let outs = f.forward_taps(&x, &[low, high])?;
            assert_eq!(outs[0].shape(), &[1, 40, 8, 8]);
            let side = if dilated { 4 } else { 2 };
            assert_eq!(outs[1].shape(), &[1, 960, side, side]);
            assert_eq!(f.channels[low], 40);
            assert!(f.forward_taps(&x, &[17]).is_err());
        }
        Ok(())
    }
}
