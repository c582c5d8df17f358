//! Vision Transformer (`torchvision.models.vision_transformer`): vit_b_16,
//! vit_b_32, vit_l_16, vit_l_32, vit_h_14. A `patch × patch` stride-`patch`
//! conv embeds the image into tokens, a learned class token is prepended,
//! a learned position embedding added, then pre-norm encoder blocks
//! (layer norm, `nn.MultiheadAttention`, layer norm, GELU MLP) and a final
//! layer norm; the class token's features go through the `heads` linear.
//!
//! State-dict names are TorchVision's: `class_token`, `conv_proj.weight`,
//! `encoder.pos_embedding`,
//! `encoder.layers.encoder_layer_0.self_attention.in_proj_weight` (and
//! `in_proj_bias`, `out_proj.weight`, `out_proj.bias`),
//! `encoder.layers.encoder_layer_0.mlp.0.weight` / `mlp.3.weight`,
//! `encoder.ln.weight`, `heads.head.weight`.
//!
//! The model is built for one input side (`image_size`, 224 by default):
//! the position embedding has `(image_size / patch)² + 1` rows, so the
//! weights fix it (`vit_h_14`'s default SWAG weights are at 518, where it
//! has 633,470,440 parameters; at 224 it has 632,045,800). Not supported
//! yet: the convolutional stem (`conv_stem_configs`) and the
//! `representation_size` pre-logits layer, which no registered weights use.

use smelt_compiler::ir::DType;

use super::blocks::{Lambda, Named};
use super::error::ZooError;
use super::registry::{ModelConfig, ModelEntry, Task};
use super::transformer_parts::{
    Composite, WeightInit, conv, gelu, layer_norm, normal_param, zeros_param,
};
use super::weights::{Categories, Interpolation, Transforms, Weights};
use crate::nn::{Dropout, Linear, Module, MultiheadAttention, Sequential, xavier_uniform};
use crate::tensor::{Generator, Result, Tensor, arg_err, shape_err};

/// The architecture of a ViT (`VisionTransformer`'s arguments).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VitConfig {
    /// The input side the model is built for (its position embedding's size).
    pub image_size: usize,
    /// The patch side (conv kernel and stride).
    pub patch_size: usize,
    /// Encoder blocks.
    pub num_layers: usize,
    /// Attention heads; divides `hidden_dim`.
    pub num_heads: usize,
    /// Token width.
    pub hidden_dim: usize,
    /// MLP hidden width.
    pub mlp_dim: usize,
}

/// The layer-norm epsilon of ViT.
const EPS: f64 = 1e-6;

/// TorchVision's `MLPBlock`: Linear, GELU, Dropout, Linear, Dropout;
/// linears xavier-uniform with `normal(std=1e-6)` biases.
fn mlp_block(dim: usize, mlp_dim: usize, rng: &mut Generator) -> Result<Sequential> {
    let lin = |i: usize, o: usize, rng: &mut Generator| -> Result<Linear> {
        let mut l = crate::nn::skip_init(|| Linear::new(i, o, true, rng))?;
        l.weight = xavier_uniform(&[o, i], rng)?;
        l.bias = Some(normal_param(&[o], 1e-6, rng)?);
        Ok(l)
    };
    Ok(Sequential::default()
        .with(lin(dim, mlp_dim, rng)?)
        .with(Lambda::new("gelu", gelu))
        .with(Dropout::new(0.0, 0)?)
        .with(lin(mlp_dim, dim, rng)?)
        .with(Dropout::new(0.0, 0)?))
}

/// TorchVision's `EncoderBlock`: `x = x + attn(ln_1(x)); x + mlp(ln_2(x))`.
fn encoder_block(cfg: &VitConfig, rng: &mut Generator) -> Result<Composite> {
    let d = cfg.hidden_dim;
    let sub = Named::new()
        .with("ln_1", layer_norm(d, EPS)?)
        .with("self_attention", MultiheadAttention::new(d, cfg.num_heads, true, true, rng)?)
        .with("dropout", Dropout::new(0.0, 0)?)
        .with("ln_2", layer_norm(d, EPS)?)
        .with("mlp", mlp_block(d, cfg.mlp_dim, rng)?);
    Ok(Composite::new(sub, |p, input| {
        if input.rank() != 3 {
            return Err(shape_err(
                "vit EncoderBlock",
                format!("Expected (batch_size, seq_length, hidden_dim) got {:?}", input.shape()),
            ));
        }
        let x = p.run("ln_1", input)?;
        let x = p.run("self_attention", &x)?;
        let x = p.run("dropout", &x)?.add(input)?;
        let y = p.run("ln_2", &x)?;
        x.add(&p.run("mlp", &y)?)
    }))
}

/// TorchVision's `Encoder`: position embedding, dropout, blocks, layer norm.
fn encoder(cfg: &VitConfig, seq_length: usize, rng: &mut Generator) -> Result<Composite> {
    let pos = normal_param(&[1, seq_length, cfg.hidden_dim], 0.02, rng)?;
    let mut layers = Named::new();
    for i in 0..cfg.num_layers {
        layers.push(&format!("encoder_layer_{i}"), encoder_block(cfg, rng)?);
    }
    let sub = Named::new()
        .with("dropout", Dropout::new(0.0, 0)?)
        .with("layers", layers)
        .with("ln", layer_norm(cfg.hidden_dim, EPS)?);
    Composite::new(sub, |p, x| {
        let x = x.add(p.get("pos_embedding")?)?;
        let x = p.run("dropout", &x)?;
        let x = p.run("layers", &x)?;
        p.run("ln", &x)
    })
    .param("pos_embedding", pos)
}

/// A ViT with `num_classes` outputs, initialised from `seed` as
/// TorchVision does (trunc-normal patch conv, BERT-style position
/// embedding, zero class token and zero head). Takes `[N, 3, S, S]` with
/// `S = image_size` and gives `[N, num_classes]`.
pub fn vision_transformer(cfg: &VitConfig, num_classes: usize, seed: u64) -> Result<Composite> {
    let VitConfig { image_size, patch_size: p, hidden_dim: d, .. } = *cfg;
    if p == 0 || image_size % p != 0 {
        return Err(arg_err(
            "VisionTransformer",
            format!("Input shape indivisible by patch size! (image_size {image_size}, patch {p})"),
        ));
    }
    let mut rng = Generator::new(seed);
    let std = (1.0 / (3 * p * p) as f64).sqrt();
    let conv_proj = conv(3, d, p, p, 0, 1, true, WeightInit::TruncNormal(std), &mut rng)?;
    let seq_length = (image_size / p).pow(2) + 1;
    let encoder = encoder(cfg, seq_length, &mut rng)?;
    let mut head = crate::nn::skip_init(|| Linear::new(d, num_classes, true, &mut rng))?;
    head.weight = zeros_param(&[num_classes, d])?;
    head.bias = Some(zeros_param(&[num_classes])?);
    let sub = Named::new()
        .with("conv_proj", conv_proj)
        .with("encoder", encoder)
        .with("heads", Named::new().with("head", head));
    Composite::new(sub, move |parts, x| {
        let s = x.shape();
        if s.len() != 4 || s[2] != image_size || s[3] != image_size {
            return Err(shape_err(
                "VisionTransformer",
                format!("expected [N, 3, {image_size}, {image_size}] input, got {s:?}"),
            ));
        }
        let n = s[0] as isize;
        let y = parts.run("conv_proj", x)?;
        let y = y.reshape(&[n, d as isize, -1])?.permute(&[0, 2, 1])?;
        let cls = parts.get("class_token")?.expand(&[n, -1, -1])?;
        let y = Tensor::cat(&[&cls, &y], 1)?;
        let y = parts.run("encoder", &y)?.select(1, 0)?;
        parts.run("heads", &y)
    })
    .param("class_token", Tensor::zeros(&[1, 1, d], DType::F32)?)
}

/// The registered architectures: (patch, layers, heads, hidden, mlp).
fn arch(name: &str) -> Option<[usize; 5]> {
    Some(match name {
        "vit_b_16" => [16, 12, 12, 768, 3072],
        "vit_b_32" => [32, 12, 12, 768, 3072],
        "vit_l_16" => [16, 24, 16, 1024, 4096],
        "vit_l_32" => [32, 24, 16, 1024, 4096],
        "vit_h_14" => [14, 32, 16, 1280, 5120],
        _ => return None,
    })
}

/// The configuration of the registered model `name` for inputs of side
/// `image_size` (TorchVision's `image_size` keyword, 224 by default).
pub fn vit_config(name: &str, image_size: usize) -> Option<VitConfig> {
    let [patch_size, num_layers, num_heads, hidden_dim, mlp_dim] = arch(name)?;
    Some(VitConfig { image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim })
}

/// Builds the registered model `name` from a registry config.
fn build(name: &str, cfg: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
    let arch = vit_config(name, cfg.image_size.unwrap_or(224))
        .ok_or_else(|| ZooError::UnknownModel(name.into()))?;
    Ok(Box::new(vision_transformer(&arch, cfg.num_classes.unwrap_or(1000), cfg.seed)?))
}

super::blocks::name_builders!(build: vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14);

/// A TorchVision-trained `IMAGENET1K_V1` member (crop 224, bilinear).
#[allow(clippy::too_many_arguments)]
fn v1(
    enum_name: &'static str,
    file: &'static str,
    num_params: u64,
    metrics: &'static [(&'static str, f64)],
    gflops: f64,
    file_size_mib: f64,
    resize: usize,
    recipe: &'static str,
) -> Weights {
    Weights {
        enum_name,
        member: "IMAGENET1K_V1",
        file,
        num_params,
        min_size: [224, 224],
        categories: Categories::ImageNet,
        metrics,
        gflops,
        file_size_mib,
        recipe,
        transforms: Transforms::imagenet(resize, 224, Interpolation::Bilinear),
    }
}

/// A SWAG member: `IMAGENET1K_SWAG_E2E_V1` (fine-tuned end to end at
/// `side`) or `IMAGENET1K_SWAG_LINEAR_V1` (linear classifier at 224);
/// bicubic resize to the crop side.
#[allow(clippy::too_many_arguments)]
fn swag(
    enum_name: &'static str,
    e2e: bool,
    file: &'static str,
    num_params: u64,
    side: usize,
    metrics: &'static [(&'static str, f64)],
    gflops: f64,
    file_size_mib: f64,
) -> Weights {
    Weights {
        enum_name,
        member: if e2e { "IMAGENET1K_SWAG_E2E_V1" } else { "IMAGENET1K_SWAG_LINEAR_V1" },
        file,
        num_params,
        min_size: [side, side],
        categories: Categories::ImageNet,
        metrics,
        gflops,
        file_size_mib,
        recipe: if e2e {
            "https://github.com/facebookresearch/SWAG"
        } else {
            "https://github.com/pytorch/vision/pull/5793"
        },
        transforms: Transforms::imagenet(side, side, Interpolation::Bicubic),
    }
}

/// The ViT entries of the registry.
pub(super) fn entries() -> Vec<ModelEntry> {
    let entry = |name, build, weights, default_member| ModelEntry {
        name,
        task: Task::Classification,
        build,
        weights,
        default_member,
    };
    let (b16, b32, l16, l32, h14) = (
        "ViT_B_16_Weights",
        "ViT_B_32_Weights",
        "ViT_L_16_Weights",
        "ViT_L_32_Weights",
        "ViT_H_14_Weights",
    );
    vec![
        entry(
            "vit_b_16",
            vit_b_16 as super::registry::BuildFn,
            vec![
                v1(
                    b16,
                    "vit_b_16-c867db91",
                    86_567_656,
                    &[("acc@1", 81.072), ("acc@5", 95.318)],
                    17.564,
                    330.285,
                    256,
                    "https://github.com/pytorch/vision/tree/main/references/classification#vit_b_16",
                ),
                swag(
                    b16,
                    true,
                    "vit_b_16_swag-9ac1b537",
                    86_859_496,
                    384,
                    &[("acc@1", 85.304), ("acc@5", 97.650)],
                    55.484,
                    331.398,
                ),
                swag(
                    b16,
                    false,
                    "vit_b_16_lc_swag-4e70ced5",
                    86_567_656,
                    224,
                    &[("acc@1", 81.886), ("acc@5", 96.180)],
                    17.564,
                    330.285,
                ),
            ],
            "IMAGENET1K_V1",
        ),
        entry(
            "vit_b_32",
            vit_b_32,
            vec![v1(
                b32,
                "vit_b_32-d86f8d99",
                88_224_232,
                &[("acc@1", 75.912), ("acc@5", 92.466)],
                4.409,
                336.604,
                256,
                "https://github.com/pytorch/vision/tree/main/references/classification#vit_b_32",
            )],
            "IMAGENET1K_V1",
        ),
        entry(
            "vit_l_16",
            vit_l_16,
            vec![
                v1(
                    l16,
                    "vit_l_16-852ce7e3",
                    304_326_632,
                    &[("acc@1", 79.662), ("acc@5", 94.638)],
                    61.555,
                    1161.023,
                    242,
                    "https://github.com/pytorch/vision/tree/main/references/classification#vit_l_16",
                ),
                swag(
                    l16,
                    true,
                    "vit_l_16_swag-4f3808c9",
                    305_174_504,
                    512,
                    &[("acc@1", 88.064), ("acc@5", 98.512)],
                    361.986,
                    1164.258,
                ),
                swag(
                    l16,
                    false,
                    "vit_l_16_lc_swag-4d563306",
                    304_326_632,
                    224,
                    &[("acc@1", 85.146), ("acc@5", 97.422)],
                    61.555,
                    1161.023,
                ),
            ],
            "IMAGENET1K_V1",
        ),
        entry(
            "vit_l_32",
            vit_l_32,
            vec![v1(
                l32,
                "vit_l_32-c7638314",
                306_535_400,
                &[("acc@1", 76.972), ("acc@5", 93.07)],
                15.378,
                1169.449,
                256,
                "https://github.com/pytorch/vision/tree/main/references/classification#vit_l_32",
            )],
            "IMAGENET1K_V1",
        ),
        entry(
            "vit_h_14",
            vit_h_14,
            vec![
                swag(
                    h14,
                    true,
                    "vit_h_14_swag-80465313",
                    633_470_440,
                    518,
                    &[("acc@1", 88.552), ("acc@5", 98.694)],
                    1016.717,
                    2416.643,
                ),
                swag(
                    h14,
                    false,
                    "vit_h_14_lc_swag-c1eb923e",
                    632_045_800,
                    224,
                    &[("acc@1", 85.708), ("acc@5", 97.730)],
                    167.295,
                    2411.209,
                ),
            ],
            "IMAGENET1K_SWAG_E2E_V1",
        ),
    ]
}
