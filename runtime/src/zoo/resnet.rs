//! The ResNet family (TorchVision's `resnet.py`): ResNet-18/34/50/101/152,
//! ResNeXt (grouped bottlenecks) and Wide ResNet (wider bottlenecks), with
//! TorchVision's state-dict names (`conv1`, `bn1`, `layer1.0.conv1`,
//! `layer1.0.downsample.0`, `fc`). `replace_stride_with_dilation` turns the
//! stride of layer 2–4 into dilation, as the segmentation backbones need;
//! [`ResNet::features`] gives those backbones layer 3 and layer 4.
//!
//! Initialisation is TorchVision's: convolutions kaiming-normal (fan_out,
//! ReLU), batch norms 1 and 0, `fc` PyTorch's default.

use super::blocks::{Activation, Init, Lambda, Named, delegate_to_net, reinit};
use super::error::ZooError;
use super::registry::{BuildFn, ModelConfig, ModelEntry, Task};
use super::resnet_meta as meta;
use super::weights::Weights;
use crate::functional;
use crate::nn::{BatchNorm2d, Conv2d, Conv2dOptions, Kind, Linear, Module, Sequential, Slot};
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// The hyper-parameters of a ResNet (the arguments of TorchVision's `ResNet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResNetSpec {
    /// Blocks in layer 1–4 (`[3, 4, 6, 3]` for ResNet-50).
    pub layers: [usize; 4],
    /// Bottleneck blocks (expansion 4) rather than basic blocks (expansion 1).
    pub bottleneck: bool,
    /// Groups of the 3×3 convolution of a bottleneck (ResNeXt's cardinality).
    pub groups: usize,
    /// Channels per group at base width (64; 128 for Wide ResNet).
    pub width_per_group: usize,
    /// For layer 2, 3, 4: replace the stride by dilation (output stride 8 or 16).
    pub replace_stride_with_dilation: [bool; 3],
}

impl ResNetSpec {
    /// A plain spec: groups 1, width 64, no dilation.
    pub const fn new(layers: [usize; 4], bottleneck: bool) -> ResNetSpec {
        ResNetSpec {
            layers,
            bottleneck,
            groups: 1,
            width_per_group: 64,
            replace_stride_with_dilation: [false; 3],
        }
    }

    /// Output channels of a block of `planes` (`planes · expansion`).
    fn out_channels(&self, planes: usize) -> usize {
        if self.bottleneck { planes * 4 } else { planes }
    }

    /// Channels of layer 4's output (the classifier's input).
    pub fn feature_channels(&self) -> usize {
        self.out_channels(512)
    }
}

/// A bias-free `k×k` convolution with padding `dilation · (k-1)/2`.
fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    groups: usize,
    dilation: usize,
    rng: &mut Generator,
) -> Result<Conv2d> {
    let pad = dilation * (k - 1) / 2;
    let opts = Conv2dOptions {
        stride: [stride, stride],
        padding: [pad, pad],
        dilation: [dilation, dilation],
        groups,
        bias: false,
    };
    Conv2d::new(cin, cout, [k, k], opts, rng)
}

/// A residual block (`BasicBlock` or `Bottleneck`): its convolutions and
/// norms by TorchVision's names, and the optional `downsample` shortcut.
struct Block {
    net: Named,
    bottleneck: bool,
    downsample: bool,
}

impl Block {
    /// The block TorchVision's `_make_layer` makes.
    #[allow(clippy::too_many_arguments)]
    fn new(
        spec: &ResNetSpec,
        inplanes: usize,
        planes: usize,
        stride: usize,
        dilation: usize,
        downsample: bool,
        rng: &mut Generator,
    ) -> Result<Block> {
        let out = spec.out_channels(planes);
        let mut net = Named::new();
        if spec.bottleneck {
            let width = planes * spec.width_per_group / 64 * spec.groups;
            net.push("conv1", conv(inplanes, width, 1, 1, 1, 1, rng)?);
            net.push("bn1", BatchNorm2d::new(width)?);
            net.push("conv2", conv(width, width, 3, stride, spec.groups, dilation, rng)?);
            net.push("bn2", BatchNorm2d::new(width)?);
            net.push("conv3", conv(width, out, 1, 1, 1, 1, rng)?);
            net.push("bn3", BatchNorm2d::new(out)?);
        } else {
            if spec.groups != 1 || spec.width_per_group != 64 {
                return Err(arg_err(
                    "BasicBlock",
                    "only supports groups=1 and base_width=64".to_string(),
                ));
            }
            if dilation > 1 {
                return Err(arg_err("BasicBlock", "Dilation > 1 not supported in BasicBlock"));
            }
            net.push("conv1", conv(inplanes, planes, 3, stride, 1, 1, rng)?);
            net.push("bn1", BatchNorm2d::new(planes)?);
            net.push("conv2", conv(planes, planes, 3, 1, 1, 1, rng)?);
            net.push("bn2", BatchNorm2d::new(planes)?);
        }
        if downsample {
            let sc = Sequential::default()
                .with(conv(inplanes, out, 1, stride, 1, 1, rng)?)
                .with(BatchNorm2d::new(out)?);
            net.push("downsample", sc);
        }
        Ok(Block { net, bottleneck: spec.bottleneck, downsample })
    }
}

impl Module for Block {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let n = &mut self.net;
        let mut y = n.run_seq(&["conv1", "bn1"], x)?.relu()?;
        y = n.run_seq(&["conv2", "bn2"], &y)?;
        if self.bottleneck {
            y = n.run_seq(&["conv3", "bn3"], &y.relu()?)?;
        }
        let identity = if self.downsample { n.run("downsample", x)? } else { x.clone() };
        y.add(&identity)?.relu()
    }

    delegate_to_net!();
}

/// TorchVision's `ResNet`: stem (`conv1`, `bn1`, ReLU, 3×3/2 max pool),
/// `layer1`–`layer4`, global average pool and `fc`. A backbone built by
/// [`ResNet::backbone`] has no `fc` and its forward returns layer 4's map.
pub struct ResNet {
    net: Named,
    has_fc: bool,
}

impl ResNet {
    /// A classifier with `num_classes` outputs, drawing from `rng`.
    pub fn new(spec: &ResNetSpec, num_classes: usize, rng: &mut Generator) -> Result<ResNet> {
        let mut r = ResNet::backbone(spec, rng)?;
        r.net.push("fc", Linear::new(spec.feature_channels(), num_classes, true, rng)?);
        r.has_fc = true;
        Ok(r)
    }

    /// The network without `avgpool` and `fc` (what TorchVision's
    /// `IntermediateLayerGetter` keeps of a segmentation backbone).
    pub fn backbone(spec: &ResNetSpec, rng: &mut Generator) -> Result<ResNet> {
        let mut net = Named::new()
            .with("conv1", conv(3, 64, 7, 2, 1, 1, rng)?)
            .with("bn1", BatchNorm2d::new(64)?)
            .with("relu", Activation::Relu.layer())
            .with(
                "maxpool",
                Lambda::new("maxpool", |x| functional::max_pool2d(x, [3, 3], Some([2, 2]), [1, 1])),
            );
        let (mut inplanes, mut dilation) = (64, 1);
        for (i, planes) in [64, 128, 256, 512].into_iter().enumerate() {
            let mut stride = if i == 0 { 1 } else { 2 };
            let previous = dilation;
            if i > 0 && spec.replace_stride_with_dilation[i - 1] {
                dilation *= stride;
                stride = 1;
            }
            let out = spec.out_channels(planes);
            let down = stride != 1 || inplanes != out;
            let mut layer = Sequential::default();
            layer.push(Block::new(spec, inplanes, planes, stride, previous, down, rng)?);
            for _ in 1..spec.layers[i] {
                layer.push(Block::new(spec, out, planes, 1, dilation, false, rng)?);
            }
            inplanes = out;
            net.push(&format!("layer{}", i + 1), layer);
        }
        reinit(&mut net, rng, |_, s| (s.len() == 4).then(|| Init::kaiming_fan_out(s)))?;
        Ok(ResNet { net, has_fc: false })
    }

    /// Layer 3's and layer 4's outputs (the `aux` and `out` features of
    /// TorchVision's segmentation models).
    pub(crate) fn features(&mut self, x: &Tensor) -> Result<[Tensor; 2]> {
        let stem = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2"];
        let l3 = self.net.run_seq(&stem, x)?;
        let l3 = self.net.run("layer3", &l3)?;
        let l4 = self.net.run("layer4", &l3)?;
        Ok([l3, l4])
    }
}

impl Module for ResNet {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let [_, l4] = self.features(x)?;
        if !self.has_fc {
            return Ok(l4);
        }
        let pooled = l4.mean(&[-2, -1], false)?;
        self.net.run("fc", &pooled)
    }

    delegate_to_net!();
}

/// Builds a classifier from `spec` for `config` (1000 classes by default).
fn build(spec: ResNetSpec, config: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
    let mut rng = Generator::new(config.seed);
    Ok(Box::new(ResNet::new(&spec, config.num_classes.unwrap_or(1000), &mut rng)?))
}

/// A bottleneck spec with ResNeXt's `groups` and `width_per_group`.
const fn grouped(layers: [usize; 4], groups: usize, width_per_group: usize) -> ResNetSpec {
    ResNetSpec { groups, width_per_group, ..ResNetSpec::new(layers, true) }
}

macro_rules! builders {
    ($($name:ident => $spec:expr),* $(,)?) => {
        $(
            #[doc = concat!("`torchvision.models.", stringify!($name), "`, randomly initialised.")]
            pub fn $name(config: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
                build($spec, config)
            }
        )*
    };
}

builders!(
    resnet18 => ResNetSpec::new([2, 2, 2, 2], false),
    resnet34 => ResNetSpec::new([3, 4, 6, 3], false),
    resnet50 => ResNetSpec::new([3, 4, 6, 3], true),
    resnet101 => ResNetSpec::new([3, 4, 23, 3], true),
    resnet152 => ResNetSpec::new([3, 8, 36, 3], true),
    resnext50_32x4d => grouped([3, 4, 6, 3], 32, 4),
    resnext101_32x8d => grouped([3, 4, 23, 3], 32, 8),
    resnext101_64x4d => grouped([3, 4, 23, 3], 64, 4),
    wide_resnet50_2 => grouped([3, 4, 6, 3], 1, 128),
    wide_resnet101_2 => grouped([3, 4, 23, 3], 1, 128),
);

/// The registry entries of the family.
pub(super) fn entries() -> Vec<ModelEntry> {
    let e = |name, build: BuildFn, weights: &[Weights], default_member| ModelEntry {
        name,
        task: Task::Classification,
        build,
        weights: weights.to_vec(),
        default_member,
    };
    vec![
        e("resnet18", resnet18, meta::RESNET18_WEIGHTS, "IMAGENET1K_V1"),
        e("resnet34", resnet34, meta::RESNET34_WEIGHTS, "IMAGENET1K_V1"),
        e("resnet50", resnet50, meta::RESNET50_WEIGHTS, "IMAGENET1K_V2"),
        e("resnet101", resnet101, meta::RESNET101_WEIGHTS, "IMAGENET1K_V2"),
        e("resnet152", resnet152, meta::RESNET152_WEIGHTS, "IMAGENET1K_V2"),
        e("resnext50_32x4d", resnext50_32x4d, meta::RESNEXT50_32X4D_WEIGHTS, "IMAGENET1K_V2"),
        e("resnext101_32x8d", resnext101_32x8d, meta::RESNEXT101_32X8D_WEIGHTS, "IMAGENET1K_V2"),
        e("resnext101_64x4d", resnext101_64x4d, meta::RESNEXT101_64X4D_WEIGHTS, "IMAGENET1K_V1"),
        e("wide_resnet50_2", wide_resnet50_2, meta::WIDE_RESNET50_2_WEIGHTS, "IMAGENET1K_V2"),
        e("wide_resnet101_2", wide_resnet101_2, meta::WIDE_RESNET101_2_WEIGHTS, "IMAGENET1K_V2"),
    ]
}
