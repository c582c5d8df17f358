//! SqueezeNet 1.0 and 1.1 (TorchVision's `squeezenet1_0`, `squeezenet1_1`):
//! `features` (convolutions, ceil-mode max pools and Fire modules) and a
//! convolutional `classifier` (dropout, 1×1 conv to the classes, ReLU,
//! global average pool), flattened to `[N, classes]`.

use super::blocks::{Activation, Lambda, Named};
use super::light_init::{ConvInit, InitRule, LinearInit, torchvision_init};
use super::mobile_blocks::{Built, delegate_to_named, imagenet_weights, pool_flatten};
use super::registry::{ModelConfig, ModelEntry, Task};
use super::weights::Transforms;
use crate::functional::max_pool2d_ceil;
use crate::nn::{Conv2d, Conv2dOptions, Dropout, Module, Sequential};
use crate::tensor::{Generator, Result, Tensor};

/// A Fire module: a 1×1 `squeeze` conv, then the concatenation of a 1×1
/// (`expand1x1`) and a 3×3 (`expand3x3`) expansion, each followed by ReLU.
struct Fire {
    body: Named,
}

impl Fire {
    fn new(inp: usize, squeeze: usize, e1: usize, e3: usize, rng: &mut Generator) -> Result<Fire> {
        let o = Conv2dOptions::default();
        let o3 = Conv2dOptions { padding: [1, 1], ..o };
        let body = Named::new()
            .with("squeeze", Conv2d::new(inp, squeeze, [1, 1], o, rng)?)
            .with("expand1x1", Conv2d::new(squeeze, e1, [1, 1], o, rng)?)
            .with("expand3x3", Conv2d::new(squeeze, e3, [3, 3], o3, rng)?);
        Ok(Fire { body })
    }
}

impl Module for Fire {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let relu = Activation::Relu;
        let s = relu.apply(&self.body.run("squeeze", x)?)?;
        let a = relu.apply(&self.body.run("expand1x1", &s)?)?;
        let b = relu.apply(&self.body.run("expand3x3", &s)?)?;
        Tensor::cat(&[&a, &b], 1)
    }

    delegate_to_named!(body);
}

/// `nn.MaxPool2d(3, stride=2, ceil_mode=True)`.
fn pool() -> Lambda {
    Lambda::new("max_pool2d", |x| max_pool2d_ceil(x, [3, 3], Some([2, 2]), [0, 0]))
}

/// Builds SqueezeNet `version` ("1_0" or "1_1").
fn squeezenet(version: &str, cfg: &ModelConfig) -> Built {
    let classes = cfg.num_classes.unwrap_or(1000);
    let rng = &mut Generator::new(cfg.seed);
    let s2 = Conv2dOptions { stride: [2, 2], ..Conv2dOptions::default() };
    let relu = || Activation::Relu.layer();
    let mut f = Sequential::default();
    if version == "1_0" {
        f.push(Conv2d::new(3, 96, [7, 7], s2, rng)?);
        f.push(relu());
        f.push(pool());
        f.push(Fire::new(96, 16, 64, 64, rng)?);
        f.push(Fire::new(128, 16, 64, 64, rng)?);
        f.push(Fire::new(128, 32, 128, 128, rng)?);
        f.push(pool());
        f.push(Fire::new(256, 32, 128, 128, rng)?);
        f.push(Fire::new(256, 48, 192, 192, rng)?);
        f.push(Fire::new(384, 48, 192, 192, rng)?);
        f.push(Fire::new(384, 64, 256, 256, rng)?);
        f.push(pool());
        f.push(Fire::new(512, 64, 256, 256, rng)?);
    } else {
        f.push(Conv2d::new(3, 64, [3, 3], s2, rng)?);
        f.push(relu());
        f.push(pool());
        f.push(Fire::new(64, 16, 64, 64, rng)?);
        f.push(Fire::new(128, 16, 64, 64, rng)?);
        f.push(pool());
        f.push(Fire::new(128, 32, 128, 128, rng)?);
        f.push(Fire::new(256, 32, 128, 128, rng)?);
        f.push(pool());
        f.push(Fire::new(256, 48, 192, 192, rng)?);
        f.push(Fire::new(384, 48, 192, 192, rng)?);
        f.push(Fire::new(384, 64, 256, 256, rng)?);
        f.push(Fire::new(512, 64, 256, 256, rng)?);
    }
    let classifier = Sequential::default()
        .with(Dropout::new(0.5, cfg.seed.wrapping_add(1))?)
        .with(Conv2d::new(512, classes, [1, 1], Conv2dOptions::default(), rng)?)
        .with(relu())
        .with(pool_flatten());
    let mut model = Named::new().with("features", f).with("classifier", classifier);
    let rule = InitRule {
        conv: ConvInit::KaimingUniform,
        linear: LinearInit::Normal(0.01),
        zero_conv_bias: true,
        normal_std: &[("classifier.1.weight", 0.01)],
    };
    torchvision_init(&mut model, rule, cfg.seed.wrapping_add(2))?;
    Ok(Box::new(model))
}

fn squeezenet1_0(cfg: &ModelConfig) -> Built {
    squeezenet("1_0", cfg)
}

fn squeezenet1_1(cfg: &ModelConfig) -> Built {
    squeezenet("1_1", cfg)
}

const RECIPE: &str = "https://github.com/pytorch/vision/pull/49#issuecomment-277560717";

/// The SqueezeNet builders and their weights.
pub(super) fn entries() -> Vec<ModelEntry> {
    let t = Transforms::IMAGENET;
    vec![
        ModelEntry {
            name: "squeezenet1_0",
            task: Task::Classification,
            build: squeezenet1_0,
            weights: vec![imagenet_weights(
                "SqueezeNet1_0_Weights",
                "IMAGENET1K_V1",
                "squeezenet1_0-b66bff10",
                1_248_424,
                21,
                &[("acc@1", 58.092), ("acc@5", 80.420)],
                0.819,
                4.778,
                RECIPE,
                t,
            )],
            default_member: "IMAGENET1K_V1",
        },
        ModelEntry {
            name: "squeezenet1_1",
            task: Task::Classification,
            build: squeezenet1_1,
            weights: vec![imagenet_weights(
                "SqueezeNet1_1_Weights",
                "IMAGENET1K_V1",
                "squeezenet1_1-b8a52dc0",
                1_235_496,
                17,
                &[("acc@1", 58.178), ("acc@5", 80.624)],
                0.349,
                4.729,
                RECIPE,
                t,
            )],
            default_member: "IMAGENET1K_V1",
        },
    ]
}
