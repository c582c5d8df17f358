//! ShuffleNet v2 (TorchVision's `shufflenet_v2_x0_5`, `x1_0`, `x1_5`,
//! `x2_0`): `conv1`, a 3×3 max pool, three stages (`stage2`–`stage4`) of
//! split / transform / concatenate blocks followed by a two-group channel
//! shuffle, `conv5`, global average pool and `fc`.

use super::blocks::{Activation, Lambda, Named};
use super::mobile_blocks::{Built, delegate_to_named, imagenet_weights, pool_flatten};
use super::registry::{BuildFn, ModelConfig, ModelEntry, Task};
use super::weights::{Interpolation, Transforms};
use crate::functional::max_pool2d;
use crate::nn::{BatchNorm2d, Linear, Module, Sequential};
use crate::tensor::{Generator, Result, Tensor};

use super::blocks::bias_free_conv as conv;

/// `channel_shuffle(x, 2)`: interleaves the two halves of the channels.
fn channel_shuffle(x: &Tensor) -> Result<Tensor> {
    let s = x.shape().to_vec();
    let [n, c, h, w] = [s[0] as isize, s[1] as isize, s[2] as isize, s[3] as isize];
    x.reshape(&[n, 2, c / 2, h, w])?.transpose(1, 2)?.contiguous()?.reshape(&[n, c, h, w])
}

/// ShuffleNet v2's `InvertedResidual`: at stride 1 the input's second half
/// goes through `branch2` and the first half passes; at stride 2 both
/// `branch1` and `branch2` see the whole input. Then the channel shuffle.
struct ShuffleBlock {
    body: Named,
    stride: usize,
}

impl ShuffleBlock {
    fn new(inp: usize, oup: usize, stride: usize, rng: &mut Generator) -> Result<ShuffleBlock> {
        let bf = oup / 2;
        let relu = || Activation::Relu.layer();
        let mut body = Named::new();
        if stride > 1 {
            let b1 = Sequential::default()
                .with(conv(inp, inp, 3, stride, inp, rng)?)
                .with(BatchNorm2d::new(inp)?)
                .with(conv(inp, bf, 1, 1, 1, rng)?)
                .with(BatchNorm2d::new(bf)?)
                .with(relu());
            body.push("branch1", b1);
        }
        let b2_in = if stride > 1 { inp } else { bf };
        let b2 = Sequential::default()
            .with(conv(b2_in, bf, 1, 1, 1, rng)?)
            .with(BatchNorm2d::new(bf)?)
            .with(relu())
            .with(conv(bf, bf, 3, stride, bf, rng)?)
            .with(BatchNorm2d::new(bf)?)
            .with(conv(bf, bf, 1, 1, 1, rng)?)
            .with(BatchNorm2d::new(bf)?)
            .with(relu());
        body.push("branch2", b2);
        Ok(ShuffleBlock { body, stride })
    }
}

impl Module for ShuffleBlock {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let out = if self.stride == 1 {
            let half = x.shape()[1] / 2;
            let (x1, x2) = (x.narrow(1, 0, half)?, x.narrow(1, half, half)?);
            Tensor::cat(&[&x1, &self.body.run("branch2", &x2)?], 1)?
        } else {
            Tensor::cat(&[&self.body.run("branch1", x)?, &self.body.run("branch2", x)?], 1)?
        };
        channel_shuffle(&out)
    }

    delegate_to_named!(body);
}

/// Builds ShuffleNet v2 with stage output channels `ch` (stem, three
/// stages, conv5); every variant repeats the stages 4, 8 and 4 times.
fn shufflenet(ch: [usize; 5], cfg: &ModelConfig) -> Built {
    let classes = cfg.num_classes.unwrap_or(1000);
    let rng = &mut Generator::new(cfg.seed);
    let relu = || Activation::Relu.layer();
    let conv1 = Sequential::default()
        .with(conv(3, ch[0], 3, 2, 1, rng)?)
        .with(BatchNorm2d::new(ch[0])?)
        .with(relu());
    let mut model = Named::new()
        .with("conv1", conv1)
        .with("maxpool", Lambda::new("maxpool", |x| max_pool2d(x, [3, 3], Some([2, 2]), [1, 1])));
    let mut input = ch[0];
    for (s, (name, repeats)) in
        [("stage2", 4), ("stage3", 8), ("stage4", 4)].into_iter().enumerate()
    {
        let out = ch[s + 1];
        let mut stage = Sequential::default().with(ShuffleBlock::new(input, out, 2, rng)?);
        for _ in 1..repeats {
            stage.push(ShuffleBlock::new(out, out, 1, rng)?);
        }
        model.push(name, stage);
        input = out;
    }
    let conv5 = Sequential::default()
        .with(conv(input, ch[4], 1, 1, 1, rng)?)
        .with(BatchNorm2d::new(ch[4])?)
        .with(relu());
    model.push("conv5", conv5);
    model.push("pool", pool_flatten());
    model.push("fc", Linear::new(ch[4], classes, true, rng)?);
    Ok(Box::new(model))
}

fn shufflenet_v2_x0_5(cfg: &ModelConfig) -> Built {
    shufflenet([24, 48, 96, 192, 1024], cfg)
}

fn shufflenet_v2_x1_0(cfg: &ModelConfig) -> Built {
    shufflenet([24, 116, 232, 464, 1024], cfg)
}

fn shufflenet_v2_x1_5(cfg: &ModelConfig) -> Built {
    shufflenet([24, 176, 352, 704, 1024], cfg)
}

fn shufflenet_v2_x2_0(cfg: &ModelConfig) -> Built {
    shufflenet([24, 244, 488, 976, 2048], cfg)
}

const RECIPE_V1: &str = "https://github.com/ericsun99/Shufflenet-v2-Pytorch";
const RECIPE_NEW: &str = "https://github.com/pytorch/vision/pull/5906";

/// `(builder, build, enum, file, num_params, acc, GFLOPS, MiB, recipe, resize)`.
type Row = (
    &'static str,
    BuildFn,
    &'static str,
    &'static str,
    u64,
    &'static [(&'static str, f64)],
    f64,
    f64,
    &'static str,
    usize,
);

/// The ShuffleNet v2 builders and their weights.
pub(super) fn entries() -> Vec<ModelEntry> {
    #[rustfmt::skip]
    let rows: [Row; 4] = [
        ("shufflenet_v2_x0_5", shufflenet_v2_x0_5, "ShuffleNet_V2_X0_5_Weights", "shufflenetv2_x0.5-f707e7126e", 1_366_792, &[("acc@1", 60.552), ("acc@5", 81.746)], 0.04, 5.282, RECIPE_V1, 256),
        ("shufflenet_v2_x1_0", shufflenet_v2_x1_0, "ShuffleNet_V2_X1_0_Weights", "shufflenetv2_x1-5666bf0f80", 2_278_604, &[("acc@1", 69.362), ("acc@5", 88.316)], 0.145, 8.791, RECIPE_V1, 256),
        ("shufflenet_v2_x1_5", shufflenet_v2_x1_5, "ShuffleNet_V2_X1_5_Weights", "shufflenetv2_x1_5-3c479a10", 3_503_624, &[("acc@1", 72.996), ("acc@5", 91.086)], 0.296, 13.557, RECIPE_NEW, 232),
        ("shufflenet_v2_x2_0", shufflenet_v2_x2_0, "ShuffleNet_V2_X2_0_Weights", "shufflenetv2_x2_0-8be3c8ee", 7_393_996, &[("acc@1", 76.230), ("acc@5", 93.006)], 0.583, 28.433, RECIPE_NEW, 232),
    ];
    rows.into_iter()
        .map(|(name, build, e, file, n, acc, ops, size, recipe, resize)| {
            let t = Transforms::imagenet(resize, 224, Interpolation::Bilinear);
            let w = imagenet_weights(e, "IMAGENET1K_V1", file, n, 1, acc, ops, size, recipe, t);
            ModelEntry {
                name,
                task: Task::Classification,
                build,
                weights: vec![w],
                default_member: "IMAGENET1K_V1",
            }
        })
        .collect()
}
