//! Inception v3 (TorchVision's `inception.py`): `Conv2d_1a_3x3` …
//! `Mixed_7c`, the optional `AuxLogits` head and `fc`; also the pieces
//! GoogLeNet shares with it ([`basic_conv`], [`InceptionBlock`],
//! [`transform_input`]).
//!
//! `AuxLogits` is built unless `aux_loss` is `Some(false)`, as TorchVision's
//! builder keeps it by default; its 27,161,264 parameters include it. In
//! training the auxiliary logits come from [`Inception3::forward_aux`];
//! `forward` returns the main logits only.

use super::blocks::{Activation, Init, Lambda, Named, delegate_to_net, reinit};
use super::error::ZooError;
use super::registry::{ModelConfig, ModelEntry, Task};
use super::vgg::pool_flatten;
use super::weights::{Categories, Interpolation, Transforms, Weights};
use crate::functional;
use crate::nn::{BatchNorm2d, Conv2d, Conv2dOptions, Dropout, Kind, Linear, Module, Slot};
use crate::tensor::{Generator, Result, Tensor};

/// TorchVision's `BasicConv2d`: a bias-free convolution (`conv`), a batch
/// norm with eps 0.001 (`bn`) and ReLU.
pub(super) fn basic_conv(
    cin: usize,
    cout: usize,
    kernel: [usize; 2],
    stride: usize,
    padding: [usize; 2],
    rng: &mut Generator,
) -> Result<Named> {
    let opts = Conv2dOptions { stride: [stride; 2], padding, bias: false, ..Default::default() };
    let mut bn = BatchNorm2d::new(cout)?;
    bn.eps = 1e-3;
    Ok(Named::new()
        .with("conv", Conv2d::new(cin, cout, kernel, opts, rng)?)
        .with("bn", bn)
        .with("relu", Activation::Relu.layer()))
}

/// A square [`basic_conv`].
pub(super) fn square(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    rng: &mut Generator,
) -> Result<Named> {
    basic_conv(cin, cout, [k, k], stride, [pad, pad], rng)
}

/// One step of a branch of an [`InceptionBlock`].
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    /// Apply the child of that name.
    Run(&'static str),
    /// `F.avg_pool2d(kernel 3, stride 1, padding 1)`.
    AvgPool3,
    /// `F.max_pool2d(kernel 3, stride 2)`.
    MaxPool3s2,
    /// Apply both children to the current map and concatenate (InceptionE).
    Split(&'static str, &'static str),
}

/// A block of parallel branches whose outputs are concatenated on channels
/// (GoogLeNet's `Inception`, Inception v3's `InceptionA`–`E`); the children
/// keep TorchVision's attribute names.
pub(super) struct InceptionBlock {
    pub(super) net: Named,
    pub(super) branches: Vec<Vec<Step>>,
}

impl Module for InceptionBlock {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut outs = Vec::with_capacity(self.branches.len());
        for branch in &self.branches {
            let mut y = x.clone();
            for step in branch {
                y = match *step {
                    Step::Run(n) => self.net.run(n, &y)?,
                    Step::AvgPool3 => {
                        functional::avg_pool2d(&y, [3, 3], Some([1, 1]), [1, 1], true)?
                    }
                    Step::MaxPool3s2 => functional::max_pool2d(&y, [3, 3], Some([2, 2]), [0, 0])?,
                    Step::Split(a, b) => {
                        let (ya, yb) = (self.net.run(a, &y)?, self.net.run(b, &y)?);
                        Tensor::cat(&[&ya, &yb], 1)?
                    }
                };
            }
            outs.push(y);
        }
        Tensor::cat(&outs.iter().collect::<Vec<_>>(), 1)
    }

    delegate_to_net!();
}

/// Rescales ImageNet-normalised `x` to the `(x - 0.5) / 0.5` normalisation
/// of the ported GoogLeNet / Inception weights (TorchVision's
/// `_transform_input`).
pub(super) fn transform_input(x: &Tensor) -> Result<Tensor> {
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let scale: Vec<f32> = std.iter().map(|s| (f64::from(*s) / 0.5) as f32).collect();
    let shift: Vec<f32> = mean.iter().map(|m| ((f64::from(*m) - 0.5) / 0.5) as f32).collect();
    let scale = Tensor::from_vec(scale, &[1, 3, 1, 1])?.to_dtype(x.dtype())?;
    let shift = Tensor::from_vec(shift, &[1, 3, 1, 1])?.to_dtype(x.dtype())?;
    x.mul(&scale)?.add(&shift)
}

use Step::{AvgPool3, MaxPool3s2, Run, Split};

/// `InceptionA(cin, pool_features)`.
fn block_a(cin: usize, pool: usize, rng: &mut Generator) -> Result<InceptionBlock> {
    let net = Named::new()
        .with("branch1x1", square(cin, 64, 1, 1, 0, rng)?)
        .with("branch5x5_1", square(cin, 48, 1, 1, 0, rng)?)
        .with("branch5x5_2", square(48, 64, 5, 1, 2, rng)?)
        .with("branch3x3dbl_1", square(cin, 64, 1, 1, 0, rng)?)
        .with("branch3x3dbl_2", square(64, 96, 3, 1, 1, rng)?)
        .with("branch3x3dbl_3", square(96, 96, 3, 1, 1, rng)?)
        .with("branch_pool", square(cin, pool, 1, 1, 0, rng)?);
    let branches = vec![
        vec![Run("branch1x1")],
        vec![Run("branch5x5_1"), Run("branch5x5_2")],
        vec![Run("branch3x3dbl_1"), Run("branch3x3dbl_2"), Run("branch3x3dbl_3")],
        vec![AvgPool3, Run("branch_pool")],
    ];
    Ok(InceptionBlock { net, branches })
}

/// `InceptionB(cin)`: the 35→17 reduction.
fn block_b(cin: usize, rng: &mut Generator) -> Result<InceptionBlock> {
    let net = Named::new()
        .with("branch3x3", square(cin, 384, 3, 2, 0, rng)?)
        .with("branch3x3dbl_1", square(cin, 64, 1, 1, 0, rng)?)
        .with("branch3x3dbl_2", square(64, 96, 3, 1, 1, rng)?)
        .with("branch3x3dbl_3", square(96, 96, 3, 2, 0, rng)?);
    let branches = vec![
        vec![Run("branch3x3")],
        vec![Run("branch3x3dbl_1"), Run("branch3x3dbl_2"), Run("branch3x3dbl_3")],
        vec![MaxPool3s2],
    ];
    Ok(InceptionBlock { net, branches })
}

/// A `1×7` (`wide`) or `7×1` basic conv with "same" padding.
fn conv7(cin: usize, cout: usize, wide: bool, rng: &mut Generator) -> Result<Named> {
    if wide {
        basic_conv(cin, cout, [1, 7], 1, [0, 3], rng)
    } else {
        basic_conv(cin, cout, [7, 1], 1, [3, 0], rng)
    }
}

/// `InceptionC(cin, channels_7x7)`: factorised 7×7 convolutions.
fn block_c(cin: usize, c7: usize, rng: &mut Generator) -> Result<InceptionBlock> {
    let net = Named::new()
        .with("branch1x1", square(cin, 192, 1, 1, 0, rng)?)
        .with("branch7x7_1", square(cin, c7, 1, 1, 0, rng)?)
        .with("branch7x7_2", conv7(c7, c7, true, rng)?)
        .with("branch7x7_3", conv7(c7, 192, false, rng)?)
        .with("branch7x7dbl_1", square(cin, c7, 1, 1, 0, rng)?)
        .with("branch7x7dbl_2", conv7(c7, c7, false, rng)?)
        .with("branch7x7dbl_3", conv7(c7, c7, true, rng)?)
        .with("branch7x7dbl_4", conv7(c7, c7, false, rng)?)
        .with("branch7x7dbl_5", conv7(c7, 192, true, rng)?)
        .with("branch_pool", square(cin, 192, 1, 1, 0, rng)?);
    let dbl = ["branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4"];
    let mut dbl: Vec<Step> = dbl.into_iter().map(Run).collect();
    dbl.push(Run("branch7x7dbl_5"));
    let branches = vec![
        vec![Run("branch1x1")],
        vec![Run("branch7x7_1"), Run("branch7x7_2"), Run("branch7x7_3")],
        dbl,
        vec![AvgPool3, Run("branch_pool")],
    ];
    Ok(InceptionBlock { net, branches })
}

/// `InceptionD(cin)`: the 17→8 reduction.
fn block_d(cin: usize, rng: &mut Generator) -> Result<InceptionBlock> {
    let net = Named::new()
        .with("branch3x3_1", square(cin, 192, 1, 1, 0, rng)?)
        .with("branch3x3_2", square(192, 320, 3, 2, 0, rng)?)
        .with("branch7x7x3_1", square(cin, 192, 1, 1, 0, rng)?)
        .with("branch7x7x3_2", conv7(192, 192, true, rng)?)
        .with("branch7x7x3_3", conv7(192, 192, false, rng)?)
        .with("branch7x7x3_4", square(192, 192, 3, 2, 0, rng)?);
    let b7 = ["branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"];
    let branches = vec![
        vec![Run("branch3x3_1"), Run("branch3x3_2")],
        b7.into_iter().map(Run).collect(),
        vec![MaxPool3s2],
    ];
    Ok(InceptionBlock { net, branches })
}

/// `InceptionE(cin)`: expanded filter banks with split 1×3 / 3×1 convolutions.
fn block_e(cin: usize, rng: &mut Generator) -> Result<InceptionBlock> {
    let net = Named::new()
        .with("branch1x1", square(cin, 320, 1, 1, 0, rng)?)
        .with("branch3x3_1", square(cin, 384, 1, 1, 0, rng)?)
        .with("branch3x3_2a", basic_conv(384, 384, [1, 3], 1, [0, 1], rng)?)
        .with("branch3x3_2b", basic_conv(384, 384, [3, 1], 1, [1, 0], rng)?)
        .with("branch3x3dbl_1", square(cin, 448, 1, 1, 0, rng)?)
        .with("branch3x3dbl_2", square(448, 384, 3, 1, 1, rng)?)
        .with("branch3x3dbl_3a", basic_conv(384, 384, [1, 3], 1, [0, 1], rng)?)
        .with("branch3x3dbl_3b", basic_conv(384, 384, [3, 1], 1, [1, 0], rng)?)
        .with("branch_pool", square(cin, 192, 1, 1, 0, rng)?);
    let branches = vec![
        vec![Run("branch1x1")],
        vec![Run("branch3x3_1"), Split("branch3x3_2a", "branch3x3_2b")],
        vec![
            Run("branch3x3dbl_1"),
            Run("branch3x3dbl_2"),
            Split("branch3x3dbl_3a", "branch3x3dbl_3b"),
        ],
        vec![AvgPool3, Run("branch_pool")],
    ];
    Ok(InceptionBlock { net, branches })
}

/// TorchVision's `Inception3`.
pub struct Inception3 {
    net: Named,
    aux: bool,
    transform_input: bool,
}

/// The children before `AuxLogits` taps the 17×17 map.
const TRUNK: &[&str] = &[
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
];

/// The children after it.
const HEAD: &[&str] = &["Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool", "dropout", "fc"];

impl Inception3 {
    /// `Inception3(num_classes, aux_logits, transform_input)`, dropout 0.5
    /// seeded from `seed`.
    pub fn new(
        num_classes: usize,
        aux: bool,
        transform_input: bool,
        seed: u64,
    ) -> Result<Inception3> {
        let mut rng = Generator::new(seed);
        let r = &mut rng;
        let pool =
            || Lambda::new("maxpool", |x| functional::max_pool2d(x, [3, 3], Some([2, 2]), [0, 0]));
        let mut net = Named::new()
            .with("Conv2d_1a_3x3", square(3, 32, 3, 2, 0, r)?)
            .with("Conv2d_2a_3x3", square(32, 32, 3, 1, 0, r)?)
            .with("Conv2d_2b_3x3", square(32, 64, 3, 1, 1, r)?)
            .with("maxpool1", pool())
            .with("Conv2d_3b_1x1", square(64, 80, 1, 1, 0, r)?)
            .with("Conv2d_4a_3x3", square(80, 192, 3, 1, 0, r)?)
            .with("maxpool2", pool())
            .with("Mixed_5b", block_a(192, 32, r)?)
            .with("Mixed_5c", block_a(256, 64, r)?)
            .with("Mixed_5d", block_a(288, 64, r)?)
            .with("Mixed_6a", block_b(288, r)?)
            .with("Mixed_6b", block_c(768, 128, r)?)
            .with("Mixed_6c", block_c(768, 160, r)?)
            .with("Mixed_6d", block_c(768, 160, r)?)
            .with("Mixed_6e", block_c(768, 192, r)?);
        if aux {
            let head = Named::new()
                .with(
                    "pool",
                    Lambda::new("pool", |x| {
                        functional::avg_pool2d(x, [5, 5], Some([3, 3]), [0, 0], true)
                    }),
                )
                .with("conv0", square(768, 128, 1, 1, 0, r)?)
                .with("conv1", square(128, 768, 5, 1, 0, r)?)
                .with("avgpool", pool_flatten([1, 1]))
                .with("fc", Linear::new(768, num_classes, true, r)?);
            net.push("AuxLogits", head);
        }
        net.push("Mixed_7a", block_d(768, r)?);
        net.push("Mixed_7b", block_e(1280, r)?);
        net.push("Mixed_7c", block_e(2048, r)?);
        net.push("avgpool", pool_flatten([1, 1]));
        net.push("dropout", Dropout::new(0.5, seed.wrapping_add(1))?);
        net.push("fc", Linear::new(2048, num_classes, true, r)?);
        // TorchVision's init: conv and linear weights truncated normal in
        // [-2, 2], std 0.1 except the auxiliary head's `conv1` and `fc`.
        reinit(&mut net, r, |name, s| {
            let std = match name {
                "AuxLogits.conv1.conv.weight" => 0.01,
                "AuxLogits.fc.weight" => 0.001,
                _ => 0.1,
            };
            matches!(s.len(), 2 | 4).then_some(Init::Normal { std, bound: 2.0 })
        })?;
        Ok(Inception3 { net, aux, transform_input })
    }

    /// The main logits and, in training with `AuxLogits`, the auxiliary ones.
    pub fn forward_aux(&mut self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let x = if self.transform_input { transform_input(x)? } else { x.clone() };
        let y = self.net.run_seq(TRUNK, &x)?;
        let aux = if self.aux && self.net.is_training() {
            Some(self.net.run("AuxLogits", &y)?)
        } else {
            None
        };
        Ok((self.net.run_seq(HEAD, &y)?, aux))
    }
}

impl Module for Inception3 {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_aux(x)?.0)
    }

    delegate_to_net!();
}

/// `torchvision.models.inception_v3`, randomly initialised (AuxLogits
/// unless `aux_loss == Some(false)`; `transform_input` as configured).
pub fn inception_v3(config: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
    let n = config.num_classes.unwrap_or(1000);
    let aux = config.aux_loss != Some(false);
    let t = config.transform_input.unwrap_or(false);
    Ok(Box::new(Inception3::new(n, aux, t, config.seed)?))
}

/// The registry entry of Inception v3.
pub(super) fn entries() -> Vec<ModelEntry> {
    vec![ModelEntry {
        name: "inception_v3",
        task: Task::Classification,
        build: inception_v3,
        weights: INCEPTION_V3_WEIGHTS.to_vec(),
        default_member: "IMAGENET1K_V1",
    }]
}

/// `Inception_V3_Weights` (DEFAULT = IMAGENET1K_V1).
const INCEPTION_V3_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "Inception_V3_Weights",
    member: "IMAGENET1K_V1",
    file: "inception_v3_google-0cc3c7bd",
    num_params: 27_161_264,
    min_size: [75, 75],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 77.294), ("acc@5", 93.45)],
    gflops: 5.713,
    file_size_mib: 103.903,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#inception-v3",
    transforms: Transforms::imagenet(342, 299, Interpolation::Bilinear),
}];
