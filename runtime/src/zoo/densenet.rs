//! DenseNet-121/161/169/201 (TorchVision's `densenet.py`, DenseNet-BC):
//! `features` (stem, dense blocks of `denselayerN`, transitions, `norm5`)
//! and `classifier`; each dense layer sees the concatenation of every
//! earlier map of its block.

use super::blocks::{Activation, Init, Lambda, Named, delegate_to_net, reinit};
use super::error::ZooError;
use super::registry::{BuildFn, ModelConfig, ModelEntry, Task};
use super::weights::{Categories, Transforms, Weights};
use crate::functional;
use crate::nn::{BatchNorm2d, Conv2d, Conv2dOptions, Kind, Linear, Module, Slot};
use crate::tensor::{Generator, Result, Tensor};

/// A bias-free convolution.
fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    rng: &mut Generator,
) -> Result<Conv2d> {
    let opts =
        Conv2dOptions { stride: [stride; 2], padding: [pad; 2], bias: false, ..Default::default() };
    Conv2d::new(cin, cout, [k, k], opts, rng)
}

/// A dense block (`_DenseBlock`): layer `i` maps the concatenation of the
/// block input and the `i` earlier outputs to `growth_rate` new channels
/// (`norm1, relu1, conv1` 1×1 to `bn_size·growth_rate`, then `norm2,
/// relu2, conv2` 3×3); the block returns everything concatenated.
struct DenseBlock {
    net: Named,
    layers: usize,
}

impl DenseBlock {
    fn new(
        layers: usize,
        cin: usize,
        bn_size: usize,
        growth: usize,
        rng: &mut Generator,
    ) -> Result<DenseBlock> {
        let mut net = Named::new();
        for i in 0..layers {
            let c = cin + i * growth;
            let layer = Named::new()
                .with("norm1", BatchNorm2d::new(c)?)
                .with("relu1", Activation::Relu.layer())
                .with("conv1", conv(c, bn_size * growth, 1, 1, 0, rng)?)
                .with("norm2", BatchNorm2d::new(bn_size * growth)?)
                .with("relu2", Activation::Relu.layer())
                .with("conv2", conv(bn_size * growth, growth, 3, 1, 1, rng)?);
            net.push(&format!("denselayer{}", i + 1), layer);
        }
        Ok(DenseBlock { net, layers })
    }
}

impl Module for DenseBlock {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut all = x.clone();
        for i in 0..self.layers {
            let new = self.net.run(&format!("denselayer{}", i + 1), &all)?;
            all = Tensor::cat(&[&all, &new], 1)?;
        }
        Ok(all)
    }

    delegate_to_net!();
}

/// TorchVision's `DenseNet(growth_rate, block_config, num_init_features)`
/// with `bn_size` 4 and no dropout: a [`Named`] of `features`, the final
/// ReLU + global pool, and `classifier`.
pub fn densenet(
    growth: usize,
    blocks: [usize; 4],
    init_features: usize,
    num_classes: usize,
    seed: u64,
) -> Result<Named> {
    let mut rng = Generator::new(seed);
    let mut features = Named::new()
        .with("conv0", conv(3, init_features, 7, 2, 3, &mut rng)?)
        .with("norm0", BatchNorm2d::new(init_features)?)
        .with("relu0", Activation::Relu.layer())
        .with(
            "pool0",
            Lambda::new("pool0", |x| functional::max_pool2d(x, [3, 3], Some([2, 2]), [1, 1])),
        );
    let mut c = init_features;
    for (i, &n) in blocks.iter().enumerate() {
        features.push(&format!("denseblock{}", i + 1), DenseBlock::new(n, c, 4, growth, &mut rng)?);
        c += n * growth;
        if i + 1 < blocks.len() {
            let t = Named::new()
                .with("norm", BatchNorm2d::new(c)?)
                .with("relu", Activation::Relu.layer())
                .with("conv", conv(c, c / 2, 1, 1, 0, &mut rng)?)
                .with(
                    "pool",
                    Lambda::new("pool", |x| functional::avg_pool2d(x, [2, 2], None, [0, 0], true)),
                );
            features.push(&format!("transition{}", i + 1), t);
            c /= 2;
        }
    }
    features.push("norm5", BatchNorm2d::new(c)?);
    let head = Lambda::new("pool", |x| x.relu()?.mean(&[-2, -1], false));
    let mut net = Named::new()
        .with("features", features)
        .with("pool", head)
        .with("classifier", Linear::new(c, num_classes, true, &mut rng)?);
    // TorchVision's init: convolutions kaiming-normal (fan_in), linear bias 0.
    reinit(&mut net, &mut rng, |name, s| {
        if s.len() == 4 {
            Some(Init::kaiming_fan_in(s))
        } else {
            (name == "classifier.bias").then_some(Init::Zeros)
        }
    })?;
    Ok(net)
}

macro_rules! builders {
    ($($name:ident => $growth:expr, $blocks:expr, $init:expr);* $(;)?) => {
        $(
            #[doc = concat!("`torchvision.models.", stringify!($name), "`, randomly initialised.")]
            pub fn $name(config: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
                let n = config.num_classes.unwrap_or(1000);
                Ok(Box::new(densenet($growth, $blocks, $init, n, config.seed)?))
            }
        )*
    };
}

builders! {
    densenet121 => 32, [6, 12, 24, 16], 64;
    densenet161 => 48, [6, 12, 36, 24], 96;
    densenet169 => 32, [6, 12, 32, 32], 64;
    densenet201 => 32, [6, 12, 48, 32], 64;
}

/// The registry entries of the family.
pub(super) fn entries() -> Vec<ModelEntry> {
    let e = |name, build: BuildFn, weights: &[Weights]| ModelEntry {
        name,
        task: Task::Classification,
        build,
        weights: weights.to_vec(),
        default_member: "IMAGENET1K_V1",
    };
    vec![
        e("densenet121", densenet121, DENSENET121_WEIGHTS),
        e("densenet161", densenet161, DENSENET161_WEIGHTS),
        e("densenet169", densenet169, DENSENET169_WEIGHTS),
        e("densenet201", densenet201, DENSENET201_WEIGHTS),
    ]
}

/// `DenseNet121_Weights` (DEFAULT = IMAGENET1K_V1).
const DENSENET121_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "DenseNet121_Weights",
    member: "IMAGENET1K_V1",
    file: "densenet121-a639ec97",
    num_params: 7_978_856,
    min_size: [29, 29],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 74.434), ("acc@5", 91.972)],
    gflops: 2.834,
    file_size_mib: 30.845,
    recipe: "https://github.com/pytorch/vision/pull/116",
    transforms: Transforms::IMAGENET,
}];

/// `DenseNet161_Weights` (DEFAULT = IMAGENET1K_V1).
const DENSENET161_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "DenseNet161_Weights",
    member: "IMAGENET1K_V1",
    file: "densenet161-8d451a50",
    num_params: 28_681_000,
    min_size: [29, 29],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 77.138), ("acc@5", 93.56)],
    gflops: 7.728,
    file_size_mib: 110.369,
    recipe: "https://github.com/pytorch/vision/pull/116",
    transforms: Transforms::IMAGENET,
}];

/// `DenseNet169_Weights` (DEFAULT = IMAGENET1K_V1).
const DENSENET169_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "DenseNet169_Weights",
    member: "IMAGENET1K_V1",
    file: "densenet169-b2777c0a",
    num_params: 14_149_480,
    min_size: [29, 29],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 75.6), ("acc@5", 92.806)],
    gflops: 3.36,
    file_size_mib: 54.708,
    recipe: "https://github.com/pytorch/vision/pull/116",
    transforms: Transforms::IMAGENET,
}];

/// `DenseNet201_Weights` (DEFAULT = IMAGENET1K_V1).
const DENSENET201_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "DenseNet201_Weights",
    member: "IMAGENET1K_V1",
    file: "densenet201-c1103571",
    num_params: 20_013_928,
    min_size: [29, 29],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 76.896), ("acc@5", 93.37)],
    gflops: 4.291,
    file_size_mib: 77.373,
    recipe: "https://github.com/pytorch/vision/pull/116",
    transforms: Transforms::IMAGENET,
}];
