//! Swin Transformer v1 and v2 (`torchvision.models.swin_transformer`):
//! swin_t, swin_s, swin_b, swin_v2_t, swin_v2_s, swin_v2_b. A 4×4
//! patchify conv into channels-last tokens, four stages of blocks that
//! alternate plain and shifted window attention (see `swin_attention.rs`),
//! patch merging between stages, then layer norm, global average pooling
//! and a linear head. v2 moves the norms after attention / MLP
//! (res-post-norm), uses scaled cosine attention with a continuous
//! position bias, and normalizes after the merge reduction.
//!
//! State-dict names are TorchVision's: `features.0.0.weight` (patch conv),
//! `features.0.2.weight` (its norm), `features.1.0.norm1.weight`,
//! `features.1.0.attn.relative_position_bias_table`,
//! `features.1.0.attn.relative_position_index` (buffer),
//! `features.1.0.attn.qkv.weight`, `features.1.0.mlp.0.weight`,
//! `features.2.reduction.weight`, `norm.weight`, `head.weight`; v2 adds
//! `attn.logit_scale`, `attn.relative_coords_table`, `attn.cpb_mlp.0.weight`.

use super::blocks::{Lambda, Named};
use super::error::ZooError;
use super::registry::{ModelConfig, ModelEntry, Task};
use super::swin_attention::{INIT, pad_hw, shifted_window_attention, shifted_window_attention_v2};
use super::transformer_parts::{Composite, StochasticDepth, gelu, layer_norm, linear};
use super::weights::{Categories, Interpolation, Transforms, Weights};
use crate::nn::{Conv2d, Conv2dOptions, Dropout, Module, Sequential};
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// The architecture of a Swin Transformer (`SwinTransformer`'s arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct SwinConfig {
    /// The patch side of the first conv (4).
    pub patch_size: usize,
    /// The width of stage 1; doubles at every stage.
    pub embed_dim: usize,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Attention heads per stage.
    pub num_heads: Vec<usize>,
    /// The attention window (7×7 for v1, 8×8 for v2).
    pub window_size: [usize; 2],
    /// The stochastic-depth probability of the last block (linear ramp from 0).
    pub stochastic_depth_prob: f64,
    /// Swin v2 (post-norm blocks, cosine attention, `PatchMergingV2`).
    pub v2: bool,
}

/// `_patch_merging_pad`: pads H and W to even sizes and stacks the four
/// interleaved half-resolution maps on the channels (`[…, H/2, W/2, 4C]`).
pub fn patch_merging_pad(x: &Tensor) -> Result<Tensor> {
    let r = x.rank();
    if r < 3 {
        return Err(arg_err(
            "PatchMerging",
            format!("expected [..., H, W, C], got {:?}", x.shape()),
        ));
    }
    let (h, w) = (x.shape()[r - 3], x.shape()[r - 2]);
    let x = if r == 4 { pad_hw(x, h % 2, w % 2)? } else { x.clone() };
    let (hd, wd) = ((r - 3) as isize, (r - 2) as isize);
    let (h2, w2) = (x.shape()[r - 3] as isize, x.shape()[r - 2] as isize);
    let part =
        |i: isize, j: isize| -> Result<Tensor> { x.slice(hd, i, h2, 2)?.slice(wd, j, w2, 2) };
    Tensor::cat(&[&part(0, 0)?, &part(1, 0)?, &part(0, 1)?, &part(1, 1)?], -1)
}

/// `PatchMerging` (v1: norm then reduction) or `PatchMergingV2`
/// (reduction then norm), `dim` → `2·dim` channels.
fn patch_merging(dim: usize, v2: bool, rng: &mut Generator) -> Result<Composite> {
    let norm_dim = if v2 { 2 * dim } else { 4 * dim };
    let sub = Named::new()
        .with("reduction", linear(4 * dim, 2 * dim, false, INIT, rng)?)
        .with("norm", layer_norm(norm_dim, 1e-5)?);
    Ok(Composite::new(sub, move |p, x| {
        let x = patch_merging_pad(x)?;
        if v2 {
            let y = p.run("reduction", &x)?;
            p.run("norm", &y)
        } else {
            let y = p.run("norm", &x)?;
            p.run("reduction", &y)
        }
    }))
}

/// `SwinTransformerBlock` / `SwinTransformerBlockV2`.
fn block(
    dim: usize,
    heads: usize,
    window: [usize; 2],
    shift: [usize; 2],
    sd: f64,
    v2: bool,
    rng: &mut Generator,
) -> Result<Composite> {
    let attn = if v2 {
        shifted_window_attention_v2(dim, window, shift, heads, rng)?
    } else {
        shifted_window_attention(dim, window, shift, heads, rng)?
    };
    let mlp = Sequential::default()
        .with(linear(dim, 4 * dim, true, INIT, rng)?)
        .with(Lambda::new("gelu", gelu))
        .with(Dropout::new(0.0, 0)?)
        .with(linear(4 * dim, dim, true, INIT, rng)?)
        .with(Dropout::new(0.0, 0)?);
    let sub = Named::new()
        .with("norm1", layer_norm(dim, 1e-5)?)
        .with("attn", attn)
        .with("stochastic_depth", StochasticDepth::new(sd, rng.next_u64())?)
        .with("norm2", layer_norm(dim, 1e-5)?)
        .with("mlp", mlp);
    Ok(Composite::new(sub, move |p, x| {
        // v1 normalizes the branch input, v2 its output.
        let (first, second) = if v2 {
            (["attn", "norm1"], ["mlp", "norm2"])
        } else {
            (["norm1", "attn"], ["norm2", "mlp"])
        };
        let a = p.run(first[0], x)?;
        let a = p.run(first[1], &a)?;
        let x = x.add(&p.run("stochastic_depth", &a)?)?;
        let m = p.run(second[0], &x)?;
        let m = p.run(second[1], &m)?;
        x.add(&p.run("stochastic_depth", &m)?)
    }))
}

/// A Swin Transformer with `num_classes` outputs, initialised from `seed`
/// as TorchVision does (trunc-normal linears, zero biases). Takes
/// `[N, 3, H, W]` (any size the patch conv accepts; windows are padded)
/// and gives `[N, num_classes]`.
pub fn swin_transformer(cfg: &SwinConfig, num_classes: usize, seed: u64) -> Result<Named> {
    if cfg.depths.is_empty() || cfg.depths.len() != cfg.num_heads.len() {
        return Err(arg_err(
            "SwinTransformer",
            format!(
                "depths {:?} and num_heads {:?} must be non-empty and alike",
                cfg.depths, cfg.num_heads
            ),
        ));
    }
    let mut rng = Generator::new(seed);
    let (p, e) = (cfg.patch_size, cfg.embed_dim);
    let opts = Conv2dOptions { stride: [p, p], ..Conv2dOptions::default() };
    let stem = Sequential::default()
        .with(Conv2d::new(3, e, [p, p], opts, &mut rng)?)
        .with(Lambda::new("permute", |x| x.permute(&[0, 2, 3, 1])))
        .with(layer_norm(e, 1e-5)?);
    let mut features = Sequential::default().with(stem);
    let total: usize = cfg.depths.iter().sum();
    let mut id = 0usize;
    for (i, (&depth, &heads)) in cfg.depths.iter().zip(&cfg.num_heads).enumerate() {
        let dim = e << i;
        let mut stage = Sequential::default();
        for j in 0..depth {
            let sd = if total > 1 {
                cfg.stochastic_depth_prob * id as f64 / (total - 1) as f64
            } else {
                0.0
            };
            let shift = if j % 2 == 0 { [0, 0] } else { cfg.window_size.map(|w| w / 2) };
            stage.push(block(dim, heads, cfg.window_size, shift, sd, cfg.v2, &mut rng)?);
            id += 1;
        }
        features.push(stage);
        if i + 1 < cfg.depths.len() {
            features.push(patch_merging(dim, cfg.v2, &mut rng)?);
        }
    }
    let num_features = e << (cfg.depths.len() - 1);
    Ok(Named::new()
        .with("features", features)
        .with("norm", layer_norm(num_features, 1e-5)?)
        .with("permute", Lambda::new("permute", |x| x.permute(&[0, 3, 1, 2])))
        .with("avgpool", Lambda::new("adaptive_avg_pool2d", |x| x.mean(&[2, 3], true)))
        .with("flatten", Lambda::new("flatten", |x| x.flatten(1, -1)))
        .with("head", linear(num_features, num_classes, true, INIT, &mut rng)?))
}

/// The configuration of the registered model `name`.
pub fn swin_config(name: &str) -> Option<SwinConfig> {
    let (v2, size) = match name.strip_prefix("swin_v2_") {
        Some(s) => (true, s),
        None => (false, name.strip_prefix("swin_")?),
    };
    let (embed_dim, depths, num_heads, sd) = match size {
        "t" => (96, vec![2, 2, 6, 2], vec![3, 6, 12, 24], 0.2),
        "s" => (96, vec![2, 2, 18, 2], vec![3, 6, 12, 24], 0.3),
        "b" => (128, vec![2, 2, 18, 2], vec![4, 8, 16, 32], 0.5),
        _ => return None,
    };
    let window_size = if v2 { [8, 8] } else { [7, 7] };
    Some(SwinConfig {
        patch_size: 4,
        embed_dim,
        depths,
        num_heads,
        window_size,
        stochastic_depth_prob: sd,
        v2,
    })
}

/// Builds the registered model `name` from a registry config.
fn build(name: &str, cfg: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
    let arch = swin_config(name).ok_or_else(|| ZooError::UnknownModel(name.into()))?;
    Ok(Box::new(swin_transformer(&arch, cfg.num_classes.unwrap_or(1000), cfg.seed)?))
}

super::blocks::name_builders!(build: swin_t, swin_s, swin_b, swin_v2_t, swin_v2_s, swin_v2_b);

/// The one `IMAGENET1K_V1` member of a Swin weights enum (bicubic).
#[allow(clippy::too_many_arguments)]
fn weights(
    enum_name: &'static str,
    file: &'static str,
    num_params: u64,
    metrics: &'static [(&'static str, f64)],
    gflops: f64,
    file_size_mib: f64,
    resize: usize,
    v2: bool,
) -> Weights {
    let side = if v2 { 256 } else { 224 };
    Weights {
        enum_name,
        member: "IMAGENET1K_V1",
        file,
        num_params,
        min_size: [side, side],
        categories: Categories::ImageNet,
        metrics,
        gflops,
        file_size_mib,
        recipe: if v2 {
            "https://github.com/pytorch/vision/tree/main/references/classification#swintransformer-v2"
        } else {
            "https://github.com/pytorch/vision/tree/main/references/classification#swintransformer"
        },
        transforms: Transforms::imagenet(resize, side, Interpolation::Bicubic),
    }
}

/// The Swin v1 and v2 entries of the registry.
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
            "swin_t",
            swin_t,
            weights(
                "Swin_T_Weights",
                "swin_t-704ceda3",
                28_288_354,
                &[("acc@1", 81.474), ("acc@5", 95.776)],
                4.491,
                108.19,
                232,
                false,
            ),
        ),
        entry(
            "swin_s",
            swin_s,
            weights(
                "Swin_S_Weights",
                "swin_s-5e29d889",
                49_606_258,
                &[("acc@1", 83.196), ("acc@5", 96.360)],
                8.741,
                189.786,
                246,
                false,
            ),
        ),
        entry(
            "swin_b",
            swin_b,
            weights(
                "Swin_B_Weights",
                "swin_b-68c6b09e",
                87_768_224,
                &[("acc@1", 83.582), ("acc@5", 96.640)],
                15.431,
                335.364,
                238,
                false,
            ),
        ),
        entry(
            "swin_v2_t",
            swin_v2_t,
            weights(
                "Swin_V2_T_Weights",
                "swin_v2_t-b137f0e2",
                28_351_570,
                &[("acc@1", 82.072), ("acc@5", 96.132)],
                5.94,
                108.626,
                260,
                true,
            ),
        ),
        entry(
            "swin_v2_s",
            swin_v2_s,
            weights(
                "Swin_V2_S_Weights",
                "swin_v2_s-637d8ceb",
                49_737_442,
                &[("acc@1", 83.712), ("acc@5", 96.816)],
                11.546,
                190.675,
                260,
                true,
            ),
        ),
        entry(
            "swin_v2_b",
            swin_v2_b,
            weights(
                "Swin_V2_B_Weights",
                "swin_v2_b-781e5279",
                87_930_848,
                &[("acc@1", 84.112), ("acc@5", 96.864)],
                20.325,
                336.372,
                272,
                true,
            ),
        ),
    ]
}
