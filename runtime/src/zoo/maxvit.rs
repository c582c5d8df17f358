//! MaxViT (`torchvision.models.maxvit`): maxvit_t. A two-conv stem, then
//! four blocks of MaxViT layers, each an MBConv (batch-norm inverted
//! bottleneck with squeeze-excitation) followed by window attention
//! (local `P×P` windows) and grid attention (a dilated `P×P` grid), both
//! with a relative position bias; then average pooling, layer norm,
//! linear + tanh, and a bias-free linear head.
//!
//! State-dict names are TorchVision's: `stem.0.0.weight`,
//! `blocks.0.layers.0.layers.MBconv.proj.1.weight`,
//! `blocks.0.layers.0.layers.MBconv.layers.pre_norm.running_mean`,
//! `…MBconv.layers.squeeze_excitation.fc1.weight`,
//! `…window_attention.attn_layer.1.relative_position_bias_table`,
//! `…window_attention.attn_layer.1.relative_position_index` (buffer
//! `[P², P²]`), `…attn_layer.1.to_qkv.weight`, `…mlp_layer.1.weight`,
//! `classifier.2.weight`, `classifier.5.weight`.
//!
//! The model is built for one input size (224 by default; every block's
//! input side must be a multiple of the partition size 7).

use super::blocks::{Activation, Lambda, Named};
use super::error::ZooError;
use super::registry::{ModelConfig, ModelEntry, Task};
use super::transformer_parts::{
    Composite, StochasticDepth, WeightInit, conv, gelu, layer_norm, linear, trunc_normal_param,
};
use super::weights::{Categories, Interpolation, Transforms, Weights};
use crate::functional;
use crate::nn::{BatchNorm2d, Dropout, Module, Sequential};
use crate::tensor::{Generator, Result, Tensor, arg_err, shape_err};

/// The architecture of a MaxViT (`MaxVit`'s arguments; squeeze ratio
/// 0.25, expansion 4 and MLP ratio 4 are fixed as in every TorchVision model).
#[derive(Clone, Debug, PartialEq)]
pub struct MaxVitConfig {
    /// The input side the model is built for.
    pub input_size: usize,
    /// Stem width.
    pub stem_channels: usize,
    /// Window / grid side `P`.
    pub partition_size: usize,
    /// Width of each block.
    pub block_channels: Vec<usize>,
    /// Layers of each block.
    pub block_layers: Vec<usize>,
    /// Width of one attention head.
    pub head_dim: usize,
    /// The stochastic-depth probability of the last layer (linear ramp from 0).
    pub stochastic_depth_prob: f64,
}

/// Every conv and linear: `normal_(std=0.02)`, bias zeros.
const INIT: WeightInit = WeightInit::Normal(0.02);

/// `_get_conv_output_shape` of a 3×3 stride-2 padding-1 conv.
fn halve(s: usize) -> usize {
    (s + 2 - 3) / 2 + 1
}

/// MaxViT's batch norm: eps 1e-3, momentum 0.01.
fn bn(c: usize) -> Result<BatchNorm2d> {
    let mut b = BatchNorm2d::new(c)?;
    b.eps = 1e-3;
    b.momentum = Some(0.01);
    Ok(b)
}

/// `Conv2dNormActivation` with MaxViT's norm and GELU (bias-free conv).
fn conv_bn_gelu(
    i: usize,
    o: usize,
    k: usize,
    stride: usize,
    groups: usize,
    rng: &mut Generator,
) -> Result<Sequential> {
    Ok(Sequential::default()
        .with(conv(i, o, k, stride, (k - 1) / 2, groups, false, INIT, rng)?)
        .with(bn(o)?)
        .with(Lambda::new("gelu", gelu)))
}

/// `SqueezeExcitation(c, squeeze, activation=SiLU)`.
fn squeeze_excitation(c: usize, squeeze: usize, rng: &mut Generator) -> Result<Composite> {
    let sub = Named::new()
        .with("avgpool", Lambda::new("adaptive_avg_pool2d", |x| x.mean(&[2, 3], true)))
        .with("fc1", conv(c, squeeze, 1, 1, 0, 1, true, INIT, rng)?)
        .with("fc2", conv(squeeze, c, 1, 1, 0, 1, true, INIT, rng)?)
        .with("activation", Activation::Silu.layer())
        .with("scale_activation", Activation::Sigmoid.layer());
    Ok(Composite::new(sub, |p, x| {
        let mut s = p.run("avgpool", x)?;
        for name in ["fc1", "activation", "fc2", "scale_activation"] {
            s = p.run(name, &s)?;
        }
        s.mul(x)
    }))
}

/// `MBConv`: `proj(x) + stochastic_depth(layers(x))`.
fn mb_conv(i: usize, o: usize, stride: usize, sd: f64, rng: &mut Generator) -> Result<Composite> {
    let proj: Box<dyn Module> = if stride != 1 || i != o {
        let mut s = Sequential::default();
        if stride == 2 {
            s.push(Lambda::new("avg_pool2d", |x| {
                functional::avg_pool2d(x, [3, 3], Some([2, 2]), [1, 1], true)
            }));
        }
        s.push(conv(i, o, 1, 1, 0, 1, true, INIT, rng)?);
        Box::new(s)
    } else {
        Box::new(Lambda::new("identity", |x| Ok(x.clone())))
    };
    let (mid, sqz) = (4 * o, o / 4);
    let layers = Named::new()
        .with("pre_norm", bn(i)?)
        .with("conv_a", conv_bn_gelu(i, mid, 1, 1, 1, rng)?)
        .with("conv_b", conv_bn_gelu(mid, mid, 3, stride, mid, rng)?)
        .with("squeeze_excitation", squeeze_excitation(mid, sqz, rng)?)
        .with("conv_c", conv(mid, o, 1, 1, 0, 1, true, INIT, rng)?);
    let mut sub = Named::new();
    sub.push_boxed("proj", proj);
    sub.push("stochastic_depth", StochasticDepth::new(sd, rng.next_u64())?);
    sub.push("layers", layers);
    Ok(Composite::new(sub, |p, x| {
        let res = p.run("proj", x)?;
        let y = p.run("layers", x)?;
        res.add(&p.run("stochastic_depth", &y)?)
    }))
}

/// `_get_relative_position_index(s, s)`: `[s², s²]` offsets into the
/// `(2s-1)²` table.
pub fn maxvit_relative_position_index(s: usize) -> Result<Tensor> {
    let idx = super::swin_attention::relative_position_index([s, s]);
    Tensor::from_vec(idx, &[s * s, s * s])
}

/// `RelativePositionalMultiHeadAttention` over `[B, G, P, D]` (attention
/// within each of the `G` groups of `P` tokens). Its softmax scale is
/// `feat_dim^-0.5` (not the head width), applied to the keys, as in TorchVision.
fn rel_pos_attention(
    feat: usize,
    head_dim: usize,
    size: usize,
    rng: &mut Generator,
) -> Result<Composite> {
    if head_dim == 0 || feat % head_dim != 0 {
        return Err(arg_err(
            "MaxVit",
            format!("feat_dim: {feat} must be divisible by head_dim: {head_dim}"),
        ));
    }
    let heads = feat / head_dim;
    let sub = Named::new()
        .with("to_qkv", linear(feat, 3 * feat, true, INIT, rng)?)
        .with("merge", linear(feat, feat, true, INIT, rng)?);
    let table = trunc_normal_param(&[(2 * size - 1) * (2 * size - 1), heads], 0.02, rng)?;
    let scale = (feat as f64).powf(-0.5);
    Ok(Composite::new(sub, move |p, x| {
        let &[b, g, n, d] = x.shape() else {
            return Err(shape_err(
                "MaxVit attention",
                format!("expected [B, G, P, D], got {:?}", x.shape()),
            ));
        };
        let qkv = p.run("to_qkv", x)?;
        let split = |i: usize| -> Result<Tensor> {
            let t = qkv.narrow(-1, i * d, d)?;
            t.reshape(&[b, g, n, heads, head_dim].map(|v| v as isize))?.permute(&[0, 1, 3, 2, 4])
        };
        let (q, k, v) = (split(0)?, split(1)?.mul(scale)?, split(2)?);
        let idx = p.get("relative_position_index")?.reshape(&[-1])?;
        let bias = p.get("relative_position_bias_table")?.take(0, &idx)?;
        let bias =
            bias.reshape(&[n as isize, n as isize, -1])?.permute(&[2, 0, 1])?.unsqueeze(0)?;
        let attn = functional::softmax(&q.matmul(&k.transpose(-2, -1)?)?.add(&bias)?, -1)?;
        let out = attn
            .matmul(&v)?
            .permute(&[0, 1, 3, 2, 4])?
            .reshape(&[b, g, n, d].map(|v| v as isize))?;
        p.run("merge", &out)
    })
    .param("relative_position_bias_table", table)?
    .buffer("relative_position_index", maxvit_relative_position_index(size)?))
}

/// `WindowPartition`: `[B, C, H, W]` → `[B, (H/p)(W/p), p², C]`.
pub fn maxvit_partition(x: &Tensor, p: usize) -> Result<Tensor> {
    let &[b, c, h, w] = x.shape() else {
        return Err(shape_err(
            "WindowPartition",
            format!("expected [B, C, H, W], got {:?}", x.shape()),
        ));
    };
    if p == 0 || h % p != 0 || w % p != 0 {
        return Err(shape_err(
            "WindowPartition",
            format!("{:?} is not a multiple of partition {p}", x.shape()),
        ));
    }
    let y =
        x.reshape(&[b, c, h / p, p, w / p, p].map(|v| v as isize))?.permute(&[0, 2, 4, 3, 5, 1])?;
    y.reshape(&[b, (h / p) * (w / p), p * p, c].map(|v| v as isize))
}

/// `WindowDepartition`: the inverse of [`maxvit_partition`] for an
/// `hp × wp` arrangement of partitions.
pub fn maxvit_departition(x: &Tensor, p: usize, hp: usize, wp: usize) -> Result<Tensor> {
    let &[b, g, pp, c] = x.shape() else {
        return Err(shape_err(
            "WindowDepartition",
            format!("expected [B, G, P², C], got {:?}", x.shape()),
        ));
    };
    if g != hp * wp || pp != p * p {
        return Err(shape_err(
            "WindowDepartition",
            format!("{:?} is not {hp}x{wp} partitions of {p}x{p}", x.shape()),
        ));
    }
    let y = x.reshape(&[b, hp, wp, p, p, c].map(|v| v as isize))?.permute(&[0, 5, 1, 3, 2, 4])?;
    y.reshape(&[b, c, hp * p, wp * p].map(|v| v as isize))
}

/// `PartitionAttentionLayer` (`grid` false: window attention).
fn partition_attention(
    c: usize,
    cfg: &MaxVitConfig,
    grid: usize,
    is_grid: bool,
    sd: f64,
    rng: &mut Generator,
) -> Result<Composite> {
    let ps = cfg.partition_size;
    let n_partitions = grid / ps;
    let p = if is_grid { n_partitions } else { ps };
    let attn = Sequential::default()
        .with(layer_norm(c, 1e-5)?)
        .with(rel_pos_attention(c, cfg.head_dim, ps, rng)?)
        .with(Dropout::new(0.0, 0)?);
    let mlp = Sequential::default()
        .with(layer_norm(c, 1e-5)?)
        .with(linear(c, 4 * c, true, INIT, rng)?)
        .with(Lambda::new("gelu", gelu))
        .with(linear(4 * c, c, true, INIT, rng)?)
        .with(Dropout::new(0.0, 0)?);
    let sub = Named::new()
        .with("attn_layer", attn)
        .with("mlp_layer", mlp)
        .with("stochastic_dropout", StochasticDepth::new(sd, rng.next_u64())?);
    Ok(Composite::new(sub, move |parts, x| {
        let (h, w) =
            (x.shape().get(2).copied().unwrap_or(0), x.shape().get(3).copied().unwrap_or(0));
        if h != grid || w != grid {
            return Err(shape_err(
                "MaxVit",
                format!("expected a {grid}x{grid} map, got {:?}", x.shape()),
            ));
        }
        let mut y = maxvit_partition(x, p)?;
        if is_grid {
            y = y.transpose(-2, -3)?;
        }
        let a = parts.run("attn_layer", &y)?;
        let y = y.add(&parts.run("stochastic_dropout", &a)?)?;
        let m = parts.run("mlp_layer", &y)?;
        let mut y = y.add(&parts.run("stochastic_dropout", &m)?)?;
        if is_grid {
            y = y.transpose(-2, -3)?;
        }
        maxvit_departition(&y, p, grid / p, grid / p)
    }))
}

/// A MaxViT with `num_classes` outputs, initialised from `seed` as
/// TorchVision does. Takes `[N, 3, S, S]` with `S = input_size`.
pub fn maxvit(cfg: &MaxVitConfig, num_classes: usize, seed: u64) -> Result<Named> {
    let ps = cfg.partition_size;
    let n = cfg.block_channels.len();
    if n == 0 || n != cfg.block_layers.len() || ps == 0 {
        return Err(arg_err(
            "MaxVit",
            format!(
                "block_channels {:?} and block_layers {:?} must be non-empty and alike",
                cfg.block_channels, cfg.block_layers
            ),
        ));
    }
    let mut size = halve(cfg.input_size);
    let mut sizes = Vec::new();
    for _ in 0..n {
        size = halve(size);
        sizes.push(size);
    }
    if let Some(bad) = sizes.iter().position(|s| s % ps != 0) {
        return Err(arg_err(
            "MaxVit",
            format!(
                "Input size {} of block {bad} is not divisible by partition size {ps} (block input sizes {sizes:?})",
                sizes[bad]
            ),
        ));
    }
    let mut rng = Generator::new(seed);
    let sc = cfg.stem_channels;
    let stem = Sequential::default()
        .with(conv_bn_gelu(3, sc, 3, 2, 1, &mut rng)?)
        .with(Sequential::default().with(conv(sc, sc, 3, 1, 1, 1, true, INIT, &mut rng)?));
    let total: usize = cfg.block_layers.iter().sum();
    let prob = |i: usize| {
        if total > 1 { cfg.stochastic_depth_prob * i as f64 / (total - 1) as f64 } else { 0.0 }
    };
    let mut blocks = Named::new();
    let (mut id, mut in_c) = (0usize, sc);
    for (b, (&o, &layers)) in cfg.block_channels.iter().zip(&cfg.block_layers).enumerate() {
        let mut list = Named::new();
        for l in 0..layers {
            let (i, stride, sd) =
                (if l == 0 { in_c } else { o }, if l == 0 { 2 } else { 1 }, prob(id));
            let layer = Named::new()
                .with("MBconv", mb_conv(i, o, stride, sd, &mut rng)?)
                .with(
                    "window_attention",
                    partition_attention(o, cfg, sizes[b], false, sd, &mut rng)?,
                )
                .with("grid_attention", partition_attention(o, cfg, sizes[b], true, sd, &mut rng)?);
            list.push(&l.to_string(), Named::new().with("layers", layer));
            id += 1;
        }
        blocks.push(&b.to_string(), Named::new().with("layers", list));
        in_c = o;
    }
    let last = in_c;
    let classifier = Sequential::default()
        .with(Lambda::new("adaptive_avg_pool2d", |x| x.mean(&[2, 3], true)))
        .with(Lambda::new("flatten", |x| x.flatten(1, -1)))
        .with(layer_norm(last, 1e-5)?)
        .with(linear(last, last, true, INIT, &mut rng)?)
        .with(Lambda::new("tanh", |x| x.tanh()))
        .with(linear(last, num_classes, false, INIT, &mut rng)?);
    Ok(Named::new().with("stem", stem).with("blocks", blocks).with("classifier", classifier))
}

/// maxvit_t's configuration for inputs of side `input_size`.
pub fn maxvit_t_config(input_size: usize) -> MaxVitConfig {
    MaxVitConfig {
        input_size,
        stem_channels: 64,
        partition_size: 7,
        block_channels: vec![64, 128, 256, 512],
        block_layers: vec![2, 2, 5, 2],
        head_dim: 32,
        stochastic_depth_prob: 0.2,
    }
}

fn maxvit_t(cfg: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
    let arch = maxvit_t_config(cfg.image_size.unwrap_or(224));
    Ok(Box::new(maxvit(&arch, cfg.num_classes.unwrap_or(1000), cfg.seed)?))
}

/// The MaxViT entry of the registry.
pub(super) fn entries() -> Vec<ModelEntry> {
    vec![ModelEntry {
        name: "maxvit_t",
        task: Task::Classification,
        build: maxvit_t,
        weights: vec![Weights {
            enum_name: "MaxVit_T_Weights",
            member: "IMAGENET1K_V1",
            file: "maxvit_t-bc5ab103",
            num_params: 30_919_624,
            min_size: [224, 224],
            categories: Categories::ImageNet,
            metrics: &[("acc@1", 83.700), ("acc@5", 96.722)],
            gflops: 5.558,
            file_size_mib: 118.769,
            recipe: "https://github.com/pytorch/vision/tree/main/references/classification#maxvit",
            transforms: Transforms::imagenet(224, 224, Interpolation::Bicubic),
        }],
        default_member: "IMAGENET1K_V1",
    }]
}
