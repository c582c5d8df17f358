//! GoogLeNet (TorchVision's `googlenet.py`): `conv1` … `inception5b`, the
//! optional `aux1` / `aux2` heads and `fc`.
//!
//! TorchVision's weights are loaded into a model with the auxiliary heads,
//! which the builder then drops unless asked to keep them; its documented
//! 6,624,904 parameters are without them. So here the heads are built only
//! when `aux_loss == Some(true)`, and a model without them ignores the
//! `aux1.*` / `aux2.*` tensors of a checkpoint when loading.

use std::collections::BTreeMap;

use super::blocks::{Init, Lambda, Named, delegate_to_net, reinit};
use super::error::ZooError;
use super::inception::{InceptionBlock, Step, square, transform_input};
use super::registry::{ModelConfig, ModelEntry, Task};
use super::vgg::pool_flatten;
use super::weights::{Categories, Transforms, Weights};
use crate::functional;
use crate::nn::{Dropout, Kind, Linear, LoadReport, Module, Sequential, Slot};
use crate::tensor::{Generator, Result, Tensor};

/// A `ceil_mode=True` max pool.
fn pool(k: usize, stride: usize, pad: usize) -> Lambda {
    Lambda::new("maxpool", move |x| {
        functional::max_pool2d_ceil(x, [k, k], Some([stride, stride]), [pad, pad])
    })
}

/// GoogLeNet's `Inception(cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`
/// (its "5×5" branch is a 3×3 convolution, as in TorchVision).
fn inception(c: [usize; 7], rng: &mut Generator) -> Result<InceptionBlock> {
    let [cin, c1, c3r, c3, c5r, c5, pp] = c;
    let net = Named::new()
        .with("branch1", square(cin, c1, 1, 1, 0, rng)?)
        .with(
            "branch2",
            Sequential::default()
                .with(square(cin, c3r, 1, 1, 0, rng)?)
                .with(square(c3r, c3, 3, 1, 1, rng)?),
        )
        .with(
            "branch3",
            Sequential::default()
                .with(square(cin, c5r, 1, 1, 0, rng)?)
                .with(square(c5r, c5, 3, 1, 1, rng)?),
        )
        .with(
            "branch4",
            Sequential::default().with(pool(3, 1, 1)).with(square(cin, pp, 1, 1, 0, rng)?),
        );
    let branches = ["branch1", "branch2", "branch3", "branch4"];
    Ok(InceptionBlock { net, branches: branches.map(|b| vec![Step::Run(b)]).to_vec() })
}

/// `InceptionAux(cin, num_classes)`: 4×4 pool, `conv`, `fc1`, ReLU,
/// dropout 0.7, `fc2`.
fn aux_head(cin: usize, num_classes: usize, seed: u64, rng: &mut Generator) -> Result<Named> {
    Ok(Named::new()
        .with("pool", Lambda::new("pool", |x| functional::adaptive_avg_pool2d(x, [4, 4])))
        .with("conv", square(cin, 128, 1, 1, 0, rng)?)
        .with("flatten", Lambda::new("flatten", |x| x.flatten(1, -1)))
        .with("fc1", Linear::new(2048, 1024, true, rng)?)
        .with("relu", Lambda::new("relu", |x| x.relu()))
        .with("dropout", Dropout::new(0.7, seed)?)
        .with("fc2", Linear::new(1024, num_classes, true, rng)?))
}

/// TorchVision's `GoogLeNet`.
pub struct GoogLeNet {
    net: Named,
    aux: bool,
    transform_input: bool,
}

/// The trunk up to `aux1`'s tap, then to `aux2`'s, then the rest.
const PART1: &[&str] = &[
    "conv1",
    "maxpool1",
    "conv2",
    "conv3",
    "maxpool2",
    "inception3a",
    "inception3b",
    "maxpool3",
    "inception4a",
];
const PART2: &[&str] = &["inception4b", "inception4c", "inception4d"];
const PART3: &[&str] =
    &["inception4e", "maxpool4", "inception5a", "inception5b", "avgpool", "dropout", "fc"];

impl GoogLeNet {
    /// `GoogLeNet(num_classes, aux_logits, transform_input)`, dropout 0.2
    /// (0.7 in the auxiliary heads) seeded from `seed`.
    pub fn new(
        num_classes: usize,
        aux: bool,
        transform_input: bool,
        seed: u64,
    ) -> Result<GoogLeNet> {
        let mut rng = Generator::new(seed);
        let r = &mut rng;
        let mut net = Named::new()
            .with("conv1", square(3, 64, 7, 2, 3, r)?)
            .with("maxpool1", pool(3, 2, 0))
            .with("conv2", square(64, 64, 1, 1, 0, r)?)
            .with("conv3", square(64, 192, 3, 1, 1, r)?)
            .with("maxpool2", pool(3, 2, 0))
            .with("inception3a", inception([192, 64, 96, 128, 16, 32, 32], r)?)
            .with("inception3b", inception([256, 128, 128, 192, 32, 96, 64], r)?)
            .with("maxpool3", pool(3, 2, 0))
            .with("inception4a", inception([480, 192, 96, 208, 16, 48, 64], r)?)
            .with("inception4b", inception([512, 160, 112, 224, 24, 64, 64], r)?)
            .with("inception4c", inception([512, 128, 128, 256, 24, 64, 64], r)?)
            .with("inception4d", inception([512, 112, 144, 288, 32, 64, 64], r)?)
            .with("inception4e", inception([528, 256, 160, 320, 32, 128, 128], r)?)
            .with("maxpool4", pool(2, 2, 0))
            .with("inception5a", inception([832, 256, 160, 320, 32, 128, 128], r)?)
            .with("inception5b", inception([832, 384, 192, 384, 48, 128, 128], r)?);
        if aux {
            net.push("aux1", aux_head(512, num_classes, seed.wrapping_add(2), r)?);
            net.push("aux2", aux_head(528, num_classes, seed.wrapping_add(3), r)?);
        }
        net.push("avgpool", pool_flatten([1, 1]));
        net.push("dropout", Dropout::new(0.2, seed.wrapping_add(1))?);
        net.push("fc", Linear::new(1024, num_classes, true, r)?);
        // TorchVision's init: conv and linear weights truncated N(0, 0.01) in [-2, 2].
        let w = Init::Normal { std: 0.01, bound: 2.0 };
        reinit(&mut net, r, |_, s| matches!(s.len(), 2 | 4).then_some(w))?;
        Ok(GoogLeNet { net, aux, transform_input })
    }

    /// The main logits and, in training with auxiliary heads, `aux2` and
    /// `aux1`'s logits (TorchVision's `GoogLeNetOutputs` order).
    pub fn forward_aux(&mut self, x: &Tensor) -> Result<(Tensor, Option<[Tensor; 2]>)> {
        let x = if self.transform_input { transform_input(x)? } else { x.clone() };
        let with_aux = self.aux && self.net.is_training();
        let y = self.net.run_seq(PART1, &x)?;
        let aux1 = if with_aux { Some(self.net.run("aux1", &y)?) } else { None };
        let y = self.net.run_seq(PART2, &y)?;
        let aux2 = if with_aux { Some(self.net.run("aux2", &y)?) } else { None };
        let out = self.net.run_seq(PART3, &y)?;
        Ok((out, aux2.zip(aux1).map(|(a2, a1)| [a2, a1])))
    }
}

impl Module for GoogLeNet {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_aux(x)?.0)
    }

    delegate_to_net!();

    /// As the default, except that a model without auxiliary heads skips a
    /// checkpoint's `aux1.*` / `aux2.*` tensors (TorchVision's weights have them).
    fn load_state_dict(
        &mut self,
        map: &BTreeMap<String, Tensor>,
        strict: bool,
    ) -> Result<LoadReport> {
        if self.aux {
            return self.net.load_state_dict(map, strict);
        }
        let is_aux = |k: &str| k.starts_with("aux1.") || k.starts_with("aux2.");
        let kept: BTreeMap<String, Tensor> =
            map.iter().filter(|(k, _)| !is_aux(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        self.net.load_state_dict(&kept, strict)
    }
}

/// `torchvision.models.googlenet`, randomly initialised (auxiliary heads
/// only with `aux_loss == Some(true)`; `transform_input` as configured).
pub fn googlenet(config: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
    let n = config.num_classes.unwrap_or(1000);
    let aux = config.aux_loss == Some(true);
    let t = config.transform_input.unwrap_or(false);
    Ok(Box::new(GoogLeNet::new(n, aux, t, config.seed)?))
}

/// The registry entry of GoogLeNet.
pub(super) fn entries() -> Vec<ModelEntry> {
    vec![ModelEntry {
        name: "googlenet",
        task: Task::Classification,
        build: googlenet,
        weights: GOOGLENET_WEIGHTS.to_vec(),
        default_member: "IMAGENET1K_V1",
    }]
}

/// `GoogLeNet_Weights` (DEFAULT = IMAGENET1K_V1).
const GOOGLENET_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "GoogLeNet_Weights",
    member: "IMAGENET1K_V1",
    file: "googlenet-1378be20",
    num_params: 6_624_904,
    min_size: [15, 15],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 69.778), ("acc@5", 89.53)],
    gflops: 1.498,
    file_size_mib: 49.731,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#googlenet",
    transforms: Transforms::IMAGENET,
}];
