//! VGG-11/13/16/19 with and without batch norm (TorchVision's `vgg.py`):
//! `features` (3×3 convolutions and 2×2 max pools, indices as TorchVision's
//! `make_layers`), a 7×7 adaptive average pool and the three-layer
//! `classifier`.
//!
//! Not registered: `VGG16_Weights.IMAGENET1K_FEATURES`, whose categories are
//! `None` (its classifier holds no trained values), which [`Categories`]
//! cannot express yet.

use super::blocks::{Activation, Init, Lambda, Named, reinit};
use super::error::ZooError;
use super::registry::{BuildFn, ModelConfig, ModelEntry, Task};
use super::weights::{Categories, Transforms, Weights};
use crate::functional;
use crate::nn::{BatchNorm2d, Conv2d, Conv2dOptions, Dropout, Linear, Module, Sequential};
use crate::tensor::{Generator, Result};

/// A max pool in a configuration list.
const M: usize = 0;

/// TorchVision's configurations "A", "B", "D", "E" (VGG-11, 13, 16, 19):
/// output channels of each 3×3 convolution, [`M`] for a 2×2 max pool.
const CFG_A: &[usize] = &[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M];
const CFG_B: &[usize] = &[64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M];
const CFG_D: &[usize] =
    &[64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M];
const CFG_E: &[usize] =
    &[64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M];

/// A `Lambda` applying `F.adaptive_avg_pool2d(x, size)` then flattening
/// from dim 1 (TorchVision's `avgpool` + `torch.flatten(x, 1)`).
pub(crate) fn pool_flatten(size: [usize; 2]) -> Lambda {
    Lambda::new("avgpool", move |x| functional::adaptive_avg_pool2d(x, size)?.flatten(1, -1))
}

/// TorchVision's `make_layers(cfg, batch_norm)`.
fn features(cfg: &[usize], batch_norm: bool, rng: &mut Generator) -> Result<Sequential> {
    let mut s = Sequential::default();
    let mut cin = 3;
    for &v in cfg {
        if v == M {
            s.push(Lambda::new("maxpool", |x| functional::max_pool2d(x, [2, 2], None, [0, 0])));
            continue;
        }
        let opts = Conv2dOptions { padding: [1, 1], ..Conv2dOptions::default() };
        s.push(Conv2d::new(cin, v, [3, 3], opts, rng)?);
        if batch_norm {
            s.push(BatchNorm2d::new(v)?);
        }
        s.push(Activation::Relu.layer());
        cin = v;
    }
    Ok(s)
}

/// TorchVision's `VGG(make_layers(cfg, batch_norm), num_classes)`: a
/// [`Named`] of `features`, `avgpool`, `classifier` (dropout 0.5, seeded
/// from `seed`).
pub fn vgg(cfg: &[usize], batch_norm: bool, num_classes: usize, seed: u64) -> Result<Named> {
    let mut rng = Generator::new(seed);
    let features = features(cfg, batch_norm, &mut rng)?;
    let classifier = Sequential::default()
        .with(Linear::new(512 * 7 * 7, 4096, true, &mut rng)?)
        .with(Activation::Relu.layer())
        .with(Dropout::new(0.5, seed.wrapping_add(1))?)
        .with(Linear::new(4096, 4096, true, &mut rng)?)
        .with(Activation::Relu.layer())
        .with(Dropout::new(0.5, seed.wrapping_add(2))?)
        .with(Linear::new(4096, num_classes, true, &mut rng)?);
    let mut net = Named::new()
        .with("features", features)
        .with("avgpool", pool_flatten([7, 7]))
        .with("classifier", classifier);
    // TorchVision's init: convolutions kaiming-normal (fan_out), linear
    // weights N(0, 0.01), every bias 0 (batch norms' already are).
    reinit(&mut net, &mut rng, |name, s| match s.len() {
        4 => Some(Init::kaiming_fan_out(s)),
        2 => Some(Init::Normal { std: 0.01, bound: f64::INFINITY }),
        _ => name.ends_with("bias").then_some(Init::Zeros),
    })?;
    Ok(net)
}

macro_rules! builders {
    ($($name:ident => $cfg:expr, $bn:expr);* $(;)?) => {
        $(
            #[doc = concat!("`torchvision.models.", stringify!($name), "`, randomly initialised.")]
            pub fn $name(config: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
                let n = config.num_classes.unwrap_or(1000);
                Ok(Box::new(vgg($cfg, $bn, n, config.seed)?))
            }
        )*
    };
}

builders! {
    vgg11 => CFG_A, false;
    vgg11_bn => CFG_A, true;
    vgg13 => CFG_B, false;
    vgg13_bn => CFG_B, true;
    vgg16 => CFG_D, false;
    vgg16_bn => CFG_D, true;
    vgg19 => CFG_E, false;
    vgg19_bn => CFG_E, true;
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
        e("vgg11", vgg11, VGG11_WEIGHTS),
        e("vgg11_bn", vgg11_bn, VGG11_BN_WEIGHTS),
        e("vgg13", vgg13, VGG13_WEIGHTS),
        e("vgg13_bn", vgg13_bn, VGG13_BN_WEIGHTS),
        e("vgg16", vgg16, VGG16_WEIGHTS),
        e("vgg16_bn", vgg16_bn, VGG16_BN_WEIGHTS),
        e("vgg19", vgg19, VGG19_WEIGHTS),
        e("vgg19_bn", vgg19_bn, VGG19_BN_WEIGHTS),
    ]
}

/// `VGG11_Weights` (DEFAULT = IMAGENET1K_V1).
const VGG11_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "VGG11_Weights",
    member: "IMAGENET1K_V1",
    file: "vgg11-8a719046",
    num_params: 132_863_336,
    min_size: [32, 32],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 69.02), ("acc@5", 88.628)],
    gflops: 7.609,
    file_size_mib: 506.84,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    transforms: Transforms::IMAGENET,
}];

/// `VGG11_BN_Weights` (DEFAULT = IMAGENET1K_V1).
const VGG11_BN_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "VGG11_BN_Weights",
    member: "IMAGENET1K_V1",
    file: "vgg11_bn-6002323d",
    num_params: 132_868_840,
    min_size: [32, 32],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 70.37), ("acc@5", 89.81)],
    gflops: 7.609,
    file_size_mib: 506.881,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    transforms: Transforms::IMAGENET,
}];

/// `VGG13_Weights` (DEFAULT = IMAGENET1K_V1).
const VGG13_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "VGG13_Weights",
    member: "IMAGENET1K_V1",
    file: "vgg13-19584684",
    num_params: 133_047_848,
    min_size: [32, 32],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 69.928), ("acc@5", 89.246)],
    gflops: 11.308,
    file_size_mib: 507.545,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    transforms: Transforms::IMAGENET,
}];

/// `VGG13_BN_Weights` (DEFAULT = IMAGENET1K_V1).
const VGG13_BN_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "VGG13_BN_Weights",
    member: "IMAGENET1K_V1",
    file: "vgg13_bn-abd245e5",
    num_params: 133_053_736,
    min_size: [32, 32],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 71.586), ("acc@5", 90.374)],
    gflops: 11.308,
    file_size_mib: 507.59,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    transforms: Transforms::IMAGENET,
}];

/// `VGG16_Weights` (DEFAULT = IMAGENET1K_V1).
const VGG16_WEIGHTS: &[Weights] = &[
    Weights {
        enum_name: "VGG16_Weights",
        member: "IMAGENET1K_V1",
        file: "vgg16-397923af",
        num_params: 138_357_544,
        min_size: [32, 32],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 71.592), ("acc@5", 90.382)],
        gflops: 15.47,
        file_size_mib: 527.796,
        recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
        transforms: Transforms::IMAGENET,
    },
    Weights {
        // Ported from amdegroot/ssd.pytorch: only `features` holds valid values
        // (the classifier is NaN), for feature extraction; no categories, and
        // the original input standardisation (mean in [0, 1] units, std 1/255).
        enum_name: "VGG16_Weights",
        member: "IMAGENET1K_FEATURES",
        file: "vgg16_features-amdegroot-88682ab5",
        num_params: 138_357_544,
        min_size: [32, 32],
        categories: Categories::None,
        metrics: &[("acc@1", f64::NAN), ("acc@5", f64::NAN)],
        gflops: 15.47,
        file_size_mib: 527.802,
        recipe: "https://github.com/amdegroot/ssd.pytorch#training-ssd",
        transforms: Transforms {
            mean: [0.48235, 0.45882, 0.40784],
            std: [1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0],
            ..Transforms::IMAGENET
        },
    },
];

/// `VGG16_BN_Weights` (DEFAULT = IMAGENET1K_V1).
const VGG16_BN_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "VGG16_BN_Weights",
    member: "IMAGENET1K_V1",
    file: "vgg16_bn-6c64b313",
    num_params: 138_365_992,
    min_size: [32, 32],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 73.36), ("acc@5", 91.516)],
    gflops: 15.47,
    file_size_mib: 527.866,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    transforms: Transforms::IMAGENET,
}];

/// `VGG19_Weights` (DEFAULT = IMAGENET1K_V1).
const VGG19_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "VGG19_Weights",
    member: "IMAGENET1K_V1",
    file: "vgg19-dcbb9e9d",
    num_params: 143_667_240,
    min_size: [32, 32],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 72.376), ("acc@5", 90.876)],
    gflops: 19.632,
    file_size_mib: 548.051,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    transforms: Transforms::IMAGENET,
}];

/// `VGG19_BN_Weights` (DEFAULT = IMAGENET1K_V1).
const VGG19_BN_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "VGG19_BN_Weights",
    member: "IMAGENET1K_V1",
    file: "vgg19_bn-c79401a0",
    num_params: 143_678_248,
    min_size: [32, 32],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 74.218), ("acc@5", 91.842)],
    gflops: 19.632,
    file_size_mib: 548.143,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    transforms: Transforms::IMAGENET,
}];
