//! ConvNeXt (`torchvision.models.convnext`): convnext_tiny, _small, _base,
//! _large. A patchify stem (4×4 stride-4 conv + channel layer norm), four
//! stages of CNBlocks (7×7 depthwise conv, channels-last layer norm,
//! 4× MLP with GELU, `layer_scale`, stochastic depth) separated by
//! downsampling (layer norm + 2×2 stride-2 conv), then global average
//! pooling and a layer-norm + linear classifier.
//!
//! State-dict names are TorchVision's: `features.0.0.weight` (stem conv),
//! `features.1.0.layer_scale`, `features.1.0.block.0.weight` (depthwise),
//! `features.1.0.block.2.weight` (layer norm), `block.3` / `block.5`
//! (MLP), `features.2.0.weight` (downsample norm), `classifier.0.weight`,
//! `classifier.2.weight`.

use smelt_compiler::ir::DType;

use super::blocks::{Lambda, Named};
use super::error::ZooError;
use super::registry::{ModelConfig, ModelEntry, Task};
use super::transformer_parts::{
    Composite, LayerNorm2d, StochasticDepth, WeightInit, conv, gelu, layer_norm, linear,
};
use super::weights::{Categories, Interpolation, Transforms, Weights};
use crate::nn::{Module, Sequential};
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// The architecture of a ConvNeXt (TorchVision's `block_setting` and
/// keyword arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvNextConfig {
    /// `CNBlockConfig(input_channels, out_channels, num_layers)` per stage;
    /// `out_channels` is `None` for the last stage (no downsampling after it).
    pub stages: Vec<(usize, Option<usize>, usize)>,
    /// The stochastic-depth probability of the last block (linear ramp from 0).
    pub stochastic_depth_prob: f64,
    /// The initial value of every `layer_scale` (1e-6).
    pub layer_scale: f64,
}

/// The init of every conv and linear: `trunc_normal_(std=0.02)`, bias zeros.
const INIT: WeightInit = WeightInit::TruncNormal(0.02);

/// The layer-norm epsilon of ConvNeXt.
const EPS: f64 = 1e-6;

/// TorchVision's `CNBlock`: `x + stochastic_depth(layer_scale * block(x))`.
fn cn_block(dim: usize, layer_scale: f64, sd: f64, rng: &mut Generator) -> Result<Composite> {
    let to_nhwc = Lambda::new("permute", |x| x.permute(&[0, 2, 3, 1]));
    let to_nchw = Lambda::new("permute", |x| x.permute(&[0, 3, 1, 2]));
    let block = Sequential::default()
        .with(conv(dim, dim, 7, 1, 3, dim, true, INIT, rng)?)
        .with(to_nhwc)
        .with(layer_norm(dim, EPS)?)
        .with(linear(dim, 4 * dim, true, INIT, rng)?)
        .with(Lambda::new("gelu", gelu))
        .with(linear(4 * dim, dim, true, INIT, rng)?)
        .with(to_nchw);
    let sub = Named::new()
        .with("block", block)
        .with("stochastic_depth", StochasticDepth::new(sd, rng.next_u64())?);
    let scale = Tensor::full(&[dim, 1, 1], DType::F32, layer_scale)?;
    Composite::new(sub, |p, x| {
        let b = p.run("block", x)?;
        let y = p.get("layer_scale")?.mul(&b)?;
        p.run("stochastic_depth", &y)?.add(x)
    })
    .param("layer_scale", scale)
}

/// A ConvNeXt with `num_classes` outputs, initialised from `seed` as
/// TorchVision does (trunc-normal convs and linears, zero biases).
pub fn convnext(cfg: &ConvNextConfig, num_classes: usize, seed: u64) -> Result<Named> {
    let Some(&(first, _, _)) = cfg.stages.first() else {
        return Err(arg_err("ConvNeXt", "The block_setting should not be empty"));
    };
    let mut rng = Generator::new(seed);
    let mut features = Sequential::default().with(
        Sequential::default()
            .with(conv(3, first, 4, 4, 0, 1, true, INIT, &mut rng)?)
            .with(LayerNorm2d::new(first, EPS)?),
    );
    let total: usize = cfg.stages.iter().map(|s| s.2).sum();
    let mut id = 0usize;
    for &(c, out, n) in &cfg.stages {
        let mut stage = Sequential::default();
        for _ in 0..n {
            let sd = if total > 1 {
                cfg.stochastic_depth_prob * id as f64 / (total - 1) as f64
            } else {
                0.0
            };
            stage.push(cn_block(c, cfg.layer_scale, sd, &mut rng)?);
            id += 1;
        }
        features.push(stage);
        if let Some(o) = out {
            features.push(
                Sequential::default()
                    .with(LayerNorm2d::new(c, EPS)?)
                    .with(conv(c, o, 2, 2, 0, 1, true, INIT, &mut rng)?),
            );
        }
    }
    let last = cfg.stages.last().map_or(first, |s| s.1.unwrap_or(s.0));
    let classifier = Sequential::default()
        .with(LayerNorm2d::new(last, EPS)?)
        .with(Lambda::new("flatten", |x| x.flatten(1, -1)))
        .with(linear(last, num_classes, true, INIT, &mut rng)?);
    Ok(Named::new()
        .with("features", features)
        .with("avgpool", Lambda::new("adaptive_avg_pool2d", |x| x.mean(&[2, 3], true)))
        .with("classifier", classifier))
}

/// The four TorchVision configurations: (stages, stochastic-depth prob).
fn config(name: &str) -> Option<ConvNextConfig> {
    let (stages, sd): ([usize; 4], [usize; 4]) = match name {
        "convnext_tiny" => ([96, 192, 384, 768], [3, 3, 9, 3]),
        "convnext_small" => ([96, 192, 384, 768], [3, 3, 27, 3]),
        "convnext_base" => ([128, 256, 512, 1024], [3, 3, 27, 3]),
        "convnext_large" => ([192, 384, 768, 1536], [3, 3, 27, 3]),
        _ => return None,
    };
    let prob = match name {
        "convnext_tiny" => 0.1,
        "convnext_small" => 0.4,
        _ => 0.5,
    };
    let stages = (0..4).map(|i| (stages[i], (i < 3).then(|| stages[i + 1]), sd[i])).collect();
    Some(ConvNextConfig { stages, stochastic_depth_prob: prob, layer_scale: 1e-6 })
}

/// Builds the registered model `name` from a registry config.
fn build(name: &str, cfg: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
    let arch = config(name).ok_or_else(|| ZooError::UnknownModel(name.into()))?;
    Ok(Box::new(convnext(&arch, cfg.num_classes.unwrap_or(1000), cfg.seed)?))
}

super::blocks::name_builders!(build: convnext_tiny, convnext_small, convnext_base, convnext_large);

/// One `IMAGENET1K_V1` member (`_COMMON_META` of convnext.py: min_size
/// 32, crop 224, bilinear).
fn weights(
    enum_name: &'static str,
    file: &'static str,
    num_params: u64,
    metrics: &'static [(&'static str, f64)],
    gflops: f64,
    file_size_mib: f64,
    resize: usize,
) -> Weights {
    Weights {
        enum_name,
        member: "IMAGENET1K_V1",
        file,
        num_params,
        min_size: [32, 32],
        categories: Categories::ImageNet,
        metrics,
        gflops,
        file_size_mib,
        recipe: "https://github.com/pytorch/vision/tree/main/references/classification#convnext",
        transforms: Transforms::imagenet(resize, 224, Interpolation::Bilinear),
    }
}

/// The ConvNeXt entries of the registry.
pub(super) fn entries() -> Vec<ModelEntry> {
    let entry = |name, build, w| ModelEntry {
        name,
        task: Task::Classification,
        build,
        weights: vec![w],
        default_member: "IMAGENET1K_V1",
    };
    vec![
        entry(
            "convnext_tiny",
            convnext_tiny,
            weights(
                "ConvNeXt_Tiny_Weights",
                "convnext_tiny-983f1562",
                28_589_128,
                &[("acc@1", 82.520), ("acc@5", 96.146)],
                4.456,
                109.119,
                236,
            ),
        ),
        entry(
            "convnext_small",
            convnext_small,
            weights(
                "ConvNeXt_Small_Weights",
                "convnext_small-0c510722",
                50_223_688,
                &[("acc@1", 83.616), ("acc@5", 96.650)],
                8.684,
                191.703,
                230,
            ),
        ),
        entry(
            "convnext_base",
            convnext_base,
            weights(
                "ConvNeXt_Base_Weights",
                "convnext_base-6075fbad",
                88_591_464,
                &[("acc@1", 84.062), ("acc@5", 96.870)],
                15.355,
                338.064,
                232,
            ),
        ),
        entry(
            "convnext_large",
            convnext_large,
            weights(
                "ConvNeXt_Large_Weights",
                "convnext_large-ea097f82",
                197_767_336,
                &[("acc@1", 84.414), ("acc@5", 96.976)],
                34.361,
                754.537,
                232,
            ),
        ),
    ]
}
