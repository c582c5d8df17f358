//! AlexNet (TorchVision's `alexnet.py`, the "one weird trick" variant):
//! `features`, a 6×6 adaptive average pool and `classifier`.

use super::blocks::{Activation, Lambda, Named};
use super::error::ZooError;
use super::registry::{ModelConfig, ModelEntry, Task};
use super::vgg::pool_flatten;
use super::weights::{Categories, Transforms, Weights};
use crate::functional;
use crate::nn::{Conv2d, Conv2dOptions, Dropout, Linear, Module, Sequential};
use crate::tensor::{Generator, Result};

/// A 3×3 stride-2 max pool.
fn maxpool() -> Lambda {
    Lambda::new("maxpool", |x| functional::max_pool2d(x, [3, 3], Some([2, 2]), [0, 0]))
}

/// TorchVision's `AlexNet(num_classes)`, dropout 0.5 seeded from `seed`.
pub fn alexnet_model(num_classes: usize, seed: u64) -> Result<Named> {
    let mut rng = Generator::new(seed);
    let conv = |cin, cout, k, stride, pad, rng: &mut Generator| {
        let opts = Conv2dOptions { stride: [stride; 2], padding: [pad; 2], ..Default::default() };
        Conv2d::new(cin, cout, [k, k], opts, rng)
    };
    let relu = || Activation::Relu.layer();
    let features = Sequential::default()
        .with(conv(3, 64, 11, 4, 2, &mut rng)?)
        .with(relu())
        .with(maxpool())
        .with(conv(64, 192, 5, 1, 2, &mut rng)?)
        .with(relu())
        .with(maxpool())
        .with(conv(192, 384, 3, 1, 1, &mut rng)?)
        .with(relu())
        .with(conv(384, 256, 3, 1, 1, &mut rng)?)
        .with(relu())
        .with(conv(256, 256, 3, 1, 1, &mut rng)?)
        .with(relu())
        .with(maxpool());
    let classifier = Sequential::default()
        .with(Dropout::new(0.5, seed.wrapping_add(1))?)
        .with(Linear::new(256 * 6 * 6, 4096, true, &mut rng)?)
        .with(relu())
        .with(Dropout::new(0.5, seed.wrapping_add(2))?)
        .with(Linear::new(4096, 4096, true, &mut rng)?)
        .with(relu())
        .with(Linear::new(4096, num_classes, true, &mut rng)?);
    Ok(Named::new()
        .with("features", features)
        .with("avgpool", pool_flatten([6, 6]))
        .with("classifier", classifier))
}

/// `torchvision.models.alexnet`, randomly initialised.
pub fn alexnet(config: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
    Ok(Box::new(alexnet_model(config.num_classes.unwrap_or(1000), config.seed)?))
}

/// The registry entry of AlexNet.
pub(super) fn entries() -> Vec<ModelEntry> {
    vec![ModelEntry {
        name: "alexnet",
        task: Task::Classification,
        build: alexnet,
        weights: ALEXNET_WEIGHTS.to_vec(),
        default_member: "IMAGENET1K_V1",
    }]
}

/// `AlexNet_Weights` (DEFAULT = IMAGENET1K_V1).
const ALEXNET_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "AlexNet_Weights",
    member: "IMAGENET1K_V1",
    file: "alexnet-owt-7be5be79",
    num_params: 61_100_840,
    min_size: [63, 63],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 56.522), ("acc@5", 79.066)],
    gflops: 0.714,
    file_size_mib: 233.087,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    transforms: Transforms::IMAGENET,
}];
