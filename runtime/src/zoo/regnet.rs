//! RegNet X and Y (TorchVision's `regnet_x_400mf` … `regnet_x_32gf`,
//! `regnet_y_400mf` … `regnet_y_128gf`): a `stem`, a `trunk_output` of four
//! stages (`block1` … `block4`) of residual bottlenecks (`block1-0`, …;
//! squeeze-excitation in the Y models), global average pool and `fc`.
//! Stage widths and depths come from the quantized linear rule of the
//! paper, computed in f32 as TorchVision computes them with torch.
//! The weights metadata is in `regnet_weights.rs`.

use super::blocks::{Activation, Named, conv_norm_act};
use super::light_init::{ConvInit, InitRule, LinearInit, torchvision_init};
use super::mobile_blocks::{
    Built, SqueezeExcitation, delegate_to_named, make_divisible, pool_flatten,
};
use super::registry::ModelConfig;
use crate::nn::{Linear, Module};
use crate::tensor::{Generator, Result, Tensor};

/// `BlockParams.from_init_params` arguments: depth, w_0, w_a, w_m, group
/// width, and whether blocks have squeeze-excitation (ratio 0.25).
pub(super) struct Design {
    pub(super) depth: usize,
    pub(super) w0: f32,
    pub(super) wa: f32,
    pub(super) wm: f32,
    pub(super) group_width: usize,
    pub(super) se: bool,
}

/// One stage: output width, depth and group width.
struct StageParams {
    width: usize,
    depth: usize,
    group_width: usize,
}

/// The per-stage widths, depths and group widths of `d`.
fn stages(d: &Design) -> Vec<StageParams> {
    let block_widths: Vec<usize> = (0..d.depth)
        .map(|i| {
            let cont = i as f32 * d.wa + d.w0;
            let cap = ((cont / d.w0).ln() / d.wm.ln()).round_ties_even();
            ((d.w0 * d.wm.powf(cap) / 8.0).round_ties_even() * 8.0) as usize
        })
        .collect();
    // A stage starts wherever the width changes.
    let mut starts: Vec<usize> =
        (0..d.depth).filter(|&i| i == 0 || block_widths[i] != block_widths[i - 1]).collect();
    starts.push(d.depth);
    starts
        .windows(2)
        .map(|w| {
            let width = block_widths[w[0]];
            let group_width = d.group_width.min(width);
            let width = make_divisible(width as f64, group_width);
            StageParams { width, depth: w[1] - w[0], group_width }
        })
        .collect()
}

/// `ResBottleneckBlock`: an optional projection `proj` and the bottleneck
/// `f` (1×1 `a`, grouped 3×3 `b`, optional `se`, 1×1 `c`), summed, ReLU.
struct Bottleneck {
    body: Named,
    proj: bool,
}

impl Bottleneck {
    fn new(
        w_in: usize,
        w_out: usize,
        stride: usize,
        group_width: usize,
        se: bool,
        rng: &mut Generator,
    ) -> Result<Bottleneck> {
        let relu = Some(Activation::Relu);
        let mut body = Named::new();
        let proj = w_in != w_out || stride != 1;
        if proj {
            body.push("proj", conv_norm_act(w_in, w_out, 1, stride, 1, 1, None, 1e-5, rng)?);
        }
        let groups = w_out / group_width;
        let mut f = Named::new()
            .with("a", conv_norm_act(w_in, w_out, 1, 1, 1, 1, relu, 1e-5, rng)?)
            .with("b", conv_norm_act(w_out, w_out, 3, stride, groups, 1, relu, 1e-5, rng)?);
        if se {
            let sq = (0.25 * w_in as f64).round_ties_even() as usize;
            f.push(
                "se",
                SqueezeExcitation::new(w_out, sq, Activation::Relu, Activation::Sigmoid, rng)?,
            );
        }
        f.push("c", conv_norm_act(w_out, w_out, 1, 1, 1, 1, None, 1e-5, rng)?);
        body.push("f", f);
        Ok(Bottleneck { body, proj })
    }
}

impl Module for Bottleneck {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let f = self.body.run("f", x)?;
        let short = if self.proj { self.body.run("proj", x)? } else { x.clone() };
        Activation::Relu.apply(&short.add(&f)?)
    }

    delegate_to_named!(body);
}

/// Builds the RegNet of design `d`.
pub(super) fn regnet(d: &Design, cfg: &ModelConfig) -> Built {
    let classes = cfg.num_classes.unwrap_or(1000);
    let rng = &mut Generator::new(cfg.seed);
    let stem = conv_norm_act(3, 32, 3, 2, 1, 1, Some(Activation::Relu), 1e-5, rng)?;
    let mut trunk = Named::new();
    let mut width = 32;
    for (s, p) in stages(d).iter().enumerate() {
        let mut stage = Named::new();
        for i in 0..p.depth {
            let (w_in, stride) = if i == 0 { (width, 2) } else { (p.width, 1) };
            let block = Bottleneck::new(w_in, p.width, stride, p.group_width, d.se, rng)?;
            stage.push(&format!("block{}-{i}", s + 1), block);
        }
        trunk.push(&format!("block{}", s + 1), stage);
        width = p.width;
    }
    let mut model = Named::new()
        .with("stem", stem)
        .with("trunk_output", trunk)
        .with("avgpool", pool_flatten())
        .with("fc", Linear::new(width, classes, true, rng)?);
    let rule = InitRule {
        conv: ConvInit::KaimingNormalFanOut,
        linear: LinearInit::Normal(0.01),
        zero_conv_bias: false,
        normal_std: &[],
    };
    torchvision_init(&mut model, rule, cfg.seed.wrapping_add(2))?;
    Ok(Box::new(model))
}
