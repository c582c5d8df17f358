//! Semantic segmentation (TorchVision's `models/segmentation`): the heads
//! as reusable modules ([`fcn_head`], [`deeplab_head`] with [`Aspp`],
//! [`LrasppHead`]), a [`SegmentationModel`] over any [`Backbone`], and the
//! ResNet builders `fcn_resnet50/101`, `deeplabv3_resnet50/101` (the
//! MobileNetV3 ones are in `segmentation_mobilenet.rs`).
//!
//! `forward` returns the `out` map upsampled bilinearly to the input size
//! (`[N, classes, H, W]`); [`SegmentationModel::forward_maps`] also gives
//! the `aux` map. The auxiliary FCN head is built when `aux_loss` is
//! `Some(true)`, which `get_model` sets with weights (their `num_params`
//! include it).

use super::blocks::{Activation, Lambda, Named, delegate_to_net};
use super::error::ZooError;
use super::registry::{BuildFn, ModelConfig, ModelEntry, Task};
use super::resnet::{ResNet, ResNetSpec};
use super::weights::{Categories, Transforms, Weights};
use crate::functional;
use crate::nn::{
    BatchNorm2d, Conv2d, Conv2dOptions, Dropout, Kind, Module, Sequential, Slot, prefixed,
    prefixed_slots,
};
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// A feature extractor for segmentation: its low-level (`aux` / `low`) and
/// high-level (`out` / `high`) maps, as TorchVision's
/// `IntermediateLayerGetter` returns them.
pub trait Backbone: Module {
    /// `[low, high]` for input `x`.
    fn features(&mut self, x: &Tensor) -> Result<[Tensor; 2]>;
}

impl Backbone for ResNet {
    fn features(&mut self, x: &Tensor) -> Result<[Tensor; 2]> {
        ResNet::features(self, x)
    }
}

/// A bias-free `k×k` convolution with "same" padding at `dilation`.
fn conv(cin: usize, cout: usize, k: usize, dilation: usize, rng: &mut Generator) -> Result<Conv2d> {
    let pad = dilation * (k - 1) / 2;
    let opts = Conv2dOptions {
        padding: [pad; 2],
        dilation: [dilation; 2],
        bias: false,
        ..Conv2dOptions::default()
    };
    Conv2d::new(cin, cout, [k, k], opts, rng)
}

/// A 1×1 convolution with bias (the classifiers).
fn classifier_conv(cin: usize, cout: usize, rng: &mut Generator) -> Result<Conv2d> {
    Conv2d::new(cin, cout, [1, 1], Conv2dOptions::default(), rng)
}

/// TorchVision's `FCNHead(in_channels, channels)`: 3×3 conv to
/// `in_channels / 4`, batch norm, ReLU, dropout 0.1, 1×1 conv.
pub fn fcn_head(
    in_channels: usize,
    channels: usize,
    seed: u64,
    rng: &mut Generator,
) -> Result<Sequential> {
    let inter = in_channels / 4;
    Ok(Sequential::default()
        .with(conv(in_channels, inter, 3, 1, rng)?)
        .with(BatchNorm2d::new(inter)?)
        .with(Activation::Relu.layer())
        .with(Dropout::new(0.1, seed)?)
        .with(classifier_conv(inter, channels, rng)?))
}

/// conv + batch norm + ReLU, as TorchVision's ASPP branches.
fn cbr(conv: Conv2d, out: usize) -> Result<Sequential> {
    Ok(Sequential::default().with(conv).with(BatchNorm2d::new(out)?).with(Activation::Relu.layer()))
}

/// TorchVision's `ASPPPooling`: global average pool, 1×1 conv, batch norm,
/// ReLU, upsampled back to the input's size.
struct AsppPooling {
    net: Sequential,
}

impl Module for AsppPooling {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        let size = [s[s.len() - 2], s[s.len() - 1]];
        functional::interpolate_bilinear(&self.net.forward(x)?, size, false)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        self.net.named_tensors()
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        self.net.slots()
    }

    fn train(&mut self, mode: bool) {
        self.net.train(mode);
    }

    fn is_training(&self) -> bool {
        self.net.is_training()
    }
}

/// TorchVision's `ASPP(in_channels, atrous_rates, out_channels)`: parallel
/// `convs` (1×1, one dilated 3×3 per rate, image pooling) concatenated and
/// `project`ed (1×1 conv, batch norm, ReLU, dropout 0.5).
pub struct Aspp {
    convs: Named,
    project: Sequential,
    branches: usize,
}

impl Aspp {
    /// An ASPP module drawing from `rng` (dropout seeded from `seed`).
    pub fn new(
        in_channels: usize,
        rates: &[usize],
        out_channels: usize,
        seed: u64,
        rng: &mut Generator,
    ) -> Result<Aspp> {
        let mut convs = Named::new();
        convs.push("0", cbr(conv(in_channels, out_channels, 1, 1, rng)?, out_channels)?);
        for (i, &r) in rates.iter().enumerate() {
            let c = cbr(conv(in_channels, out_channels, 3, r, rng)?, out_channels)?;
            convs.push(&(i + 1).to_string(), c);
        }
        let pool = Sequential::default()
            .with(Lambda::new("pool", |x| functional::adaptive_avg_pool2d(x, [1, 1])))
            .with(conv(in_channels, out_channels, 1, 1, rng)?)
            .with(BatchNorm2d::new(out_channels)?)
            .with(Activation::Relu.layer());
        let branches = rates.len() + 2;
        convs.push(&(branches - 1).to_string(), AsppPooling { net: pool });
        let project = cbr(conv(branches * out_channels, out_channels, 1, 1, rng)?, out_channels)?
            .with(Dropout::new(0.5, seed)?);
        Ok(Aspp { convs, project, branches })
    }
}

impl Module for Aspp {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut outs = Vec::with_capacity(self.branches);
        for i in 0..self.branches {
            outs.push(self.convs.run(&i.to_string(), x)?);
        }
        self.project.forward(&Tensor::cat(&outs.iter().collect::<Vec<_>>(), 1)?)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        let c = prefixed("convs".into(), self.convs.named_tensors());
        c.chain(prefixed("project".into(), self.project.named_tensors())).collect()
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        let c = prefixed_slots("convs".into(), self.convs.slots());
        c.chain(prefixed_slots("project".into(), self.project.slots())).collect()
    }

    fn train(&mut self, mode: bool) {
        self.convs.train(mode);
        self.project.train(mode);
    }

    fn is_training(&self) -> bool {
        self.project.is_training()
    }
}

/// TorchVision's `DeepLabHead(in_channels, num_classes, atrous_rates)`:
/// ASPP (256 channels), 3×3 conv, batch norm, ReLU, 1×1 classifier.
pub fn deeplab_head(
    in_channels: usize,
    num_classes: usize,
    rates: &[usize],
    seed: u64,
    rng: &mut Generator,
) -> Result<Sequential> {
    Ok(Sequential::default()
        .with(Aspp::new(in_channels, rates, 256, seed, rng)?)
        .with(conv(256, 256, 3, 1, rng)?)
        .with(BatchNorm2d::new(256)?)
        .with(Activation::Relu.layer())
        .with(classifier_conv(256, num_classes, rng)?))
}

/// TorchVision's `LRASPPHead(low_channels, high_channels, num_classes,
/// inter_channels)`: `cbr` and a sigmoid `scale` gate on the high map,
/// upsampled to the low map and added to `low_classifier(low)`. It takes
/// two maps, so it runs through [`LrasppHead::forward2`].
pub struct LrasppHead {
    net: Named,
}

impl LrasppHead {
    /// The head, drawing from `rng`.
    pub fn new(
        low_channels: usize,
        high_channels: usize,
        num_classes: usize,
        inter_channels: usize,
        rng: &mut Generator,
    ) -> Result<LrasppHead> {
        let cbr = cbr(conv(high_channels, inter_channels, 1, 1, rng)?, inter_channels)?;
        let scale = Sequential::default()
            .with(Lambda::new("pool", |x| functional::adaptive_avg_pool2d(x, [1, 1])))
            .with(conv(high_channels, inter_channels, 1, 1, rng)?)
            .with(Activation::Sigmoid.layer());
        let net = Named::new()
            .with("cbr", cbr)
            .with("scale", scale)
            .with("low_classifier", classifier_conv(low_channels, num_classes, rng)?)
            .with("high_classifier", classifier_conv(inter_channels, num_classes, rng)?);
        Ok(LrasppHead { net })
    }

    /// The class map at the low map's resolution.
    pub fn forward2(&mut self, low: &Tensor, high: &Tensor) -> Result<Tensor> {
        let x = self.net.run("cbr", high)?.mul(&self.net.run("scale", high)?)?;
        let s = low.shape();
        let x = functional::interpolate_bilinear(&x, [s[s.len() - 2], s[s.len() - 1]], false)?;
        self.net.run("low_classifier", low)?.add(&self.net.run("high_classifier", &x)?)
    }
}

impl Module for LrasppHead {
    fn forward(&mut self, _x: &Tensor) -> Result<Tensor> {
        Err(arg_err("LRASPPHead", "takes the low and high maps: call LrasppHead::forward2"))
    }

    delegate_to_net!();
}

/// The `classifier` of a [`SegmentationModel`].
pub enum Classifier {
    /// A head on the high map only (FCN, DeepLabV3).
    High(Box<dyn Module>),
    /// A head on both maps (LR-ASPP).
    LowHigh(LrasppHead),
}

impl Classifier {
    fn module(&self) -> &dyn Module {
        match self {
            Classifier::High(m) => m.as_ref(),
            Classifier::LowHigh(h) => h,
        }
    }

    fn module_mut(&mut self) -> &mut dyn Module {
        match self {
            Classifier::High(m) => m.as_mut(),
            Classifier::LowHigh(h) => h,
        }
    }
}

/// TorchVision's `_SimpleSegmentationModel` (FCN, DeepLabV3) and `LRASPP`:
/// `backbone`, `classifier`, optional `aux_classifier` on the low map.
pub struct SegmentationModel {
    backbone: Box<dyn Backbone>,
    classifier: Classifier,
    aux_classifier: Option<Box<dyn Module>>,
}

impl SegmentationModel {
    /// A model from its parts.
    pub fn new(
        backbone: Box<dyn Backbone>,
        classifier: Classifier,
        aux_classifier: Option<Box<dyn Module>>,
    ) -> SegmentationModel {
        SegmentationModel { backbone, classifier, aux_classifier }
    }

    /// The `out` map and, with an auxiliary classifier, the `aux` map, both
    /// upsampled (bilinear, `align_corners=False`) to the input's size.
    pub fn forward_maps(&mut self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let s = x.shape();
        if s.len() != 4 {
            return Err(arg_err("segmentation", format!("input {s:?} must be [N, 3, H, W]")));
        }
        let size = [s[2], s[3]];
        let [low, high] = self.backbone.features(x)?;
        let out = match &mut self.classifier {
            Classifier::High(m) => m.forward(&high)?,
            Classifier::LowHigh(h) => h.forward2(&low, &high)?,
        };
        let out = functional::interpolate_bilinear(&out, size, false)?;
        let aux = match &mut self.aux_classifier {
            Some(a) => Some(functional::interpolate_bilinear(&a.forward(&low)?, size, false)?),
            None => None,
        };
        Ok((out, aux))
    }
}

impl Module for SegmentationModel {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_maps(x)?.0)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        let mut v: Vec<_> = prefixed("backbone".into(), self.backbone.named_tensors()).collect();
        v.extend(prefixed("classifier".into(), self.classifier.module().named_tensors()));
        if let Some(a) = &self.aux_classifier {
            v.extend(prefixed("aux_classifier".into(), a.named_tensors()));
        }
        v
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        let mut v: Vec<_> = prefixed_slots("backbone".into(), self.backbone.slots()).collect();
        v.extend(prefixed_slots("classifier".into(), self.classifier.module_mut().slots()));
        if let Some(a) = &mut self.aux_classifier {
            v.extend(prefixed_slots("aux_classifier".into(), a.slots()));
        }
        v
    }

    fn train(&mut self, mode: bool) {
        self.backbone.train(mode);
        self.classifier.module_mut().train(mode);
        if let Some(a) = &mut self.aux_classifier {
            a.train(mode);
        }
    }

    fn is_training(&self) -> bool {
        self.backbone.is_training()
    }
}

/// Which head a ResNet segmentation model has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// [`fcn_head`] (FCN).
    Fcn,
    /// [`deeplab_head`] with rates 12, 24, 36 (DeepLabV3).
    DeepLab,
}

/// `_fcn_resnet` / `_deeplabv3_resnet`: a dilated ResNet backbone (output
/// stride 8), the head on layer 4 (2048 channels) and, with `aux_loss`, an
/// FCN head on layer 3 (1024 channels). 21 classes by default.
pub fn resnet_segmentation(
    layers: [usize; 4],
    head: HeadKind,
    config: &ModelConfig,
) -> std::result::Result<SegmentationModel, ZooError> {
    let classes = config.num_classes.unwrap_or(21);
    let seed = config.seed;
    let mut rng = Generator::new(seed);
    let spec = ResNetSpec {
        replace_stride_with_dilation: [false, true, true],
        ..ResNetSpec::new(layers, true)
    };
    let backbone = ResNet::backbone(&spec, &mut rng)?;
    let classifier: Box<dyn Module> = match head {
        HeadKind::Fcn => Box::new(fcn_head(2048, classes, seed.wrapping_add(1), &mut rng)?),
        HeadKind::DeepLab => {
            Box::new(deeplab_head(2048, classes, &[12, 24, 36], seed.wrapping_add(1), &mut rng)?)
        }
    };
    let aux: Option<Box<dyn Module>> = if config.aux_loss == Some(true) {
        Some(Box::new(fcn_head(1024, classes, seed.wrapping_add(2), &mut rng)?))
    } else {
        None
    };
    Ok(SegmentationModel::new(Box::new(backbone), Classifier::High(classifier), aux))
}

macro_rules! builders {
    ($($name:ident => $layers:expr, $head:expr);* $(;)?) => {
        $(
            #[doc = concat!("`torchvision.models.segmentation.", stringify!($name), "`, randomly initialised.")]
            pub fn $name(config: &ModelConfig) -> std::result::Result<Box<dyn Module>, ZooError> {
                Ok(Box::new(resnet_segmentation($layers, $head, config)?))
            }
        )*
    };
}

builders! {
    fcn_resnet50 => [3, 4, 6, 3], HeadKind::Fcn;
    fcn_resnet101 => [3, 4, 23, 3], HeadKind::Fcn;
    deeplabv3_resnet50 => [3, 4, 6, 3], HeadKind::DeepLab;
    deeplabv3_resnet101 => [3, 4, 23, 3], HeadKind::DeepLab;
}

/// The registry entries of the ResNet segmentation models.
pub(super) fn entries() -> Vec<ModelEntry> {
    let e = |name, build: BuildFn, weights: &[Weights]| ModelEntry {
        name,
        task: Task::Segmentation,
        build,
        weights: weights.to_vec(),
        default_member: "COCO_WITH_VOC_LABELS_V1",
    };
    vec![
        e("fcn_resnet50", fcn_resnet50, FCN_RESNET50_WEIGHTS),
        e("fcn_resnet101", fcn_resnet101, FCN_RESNET101_WEIGHTS),
        e("deeplabv3_resnet50", deeplabv3_resnet50, DEEPLABV3_RESNET50_WEIGHTS),
        e("deeplabv3_resnet101", deeplabv3_resnet101, DEEPLABV3_RESNET101_WEIGHTS),
        e(
            "deeplabv3_mobilenet_v3_large",
            super::segmentation_mobilenet::deeplabv3_mobilenet_v3_large,
            DEEPLABV3_MOBILENET_V3_LARGE_WEIGHTS,
        ),
        e(
            "lraspp_mobilenet_v3_large",
            super::segmentation_mobilenet::lraspp_mobilenet_v3_large,
            LRASPP_MOBILENET_V3_LARGE_WEIGHTS,
        ),
    ]
}

// The weights tables (the MobileNetV3 models are built in `segmentation_mobilenet.rs`).

/// `FCN_ResNet50_Weights` (DEFAULT = COCO_WITH_VOC_LABELS_V1).
const FCN_RESNET50_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "FCN_ResNet50_Weights",
    member: "COCO_WITH_VOC_LABELS_V1",
    file: "fcn_resnet50_coco-1167a1af",
    num_params: 35_322_218,
    min_size: [1, 1],
    categories: Categories::Voc,
    metrics: &[("miou", 60.5), ("pixel_acc", 91.4)],
    gflops: 152.717,
    file_size_mib: 135.009,
    recipe: "https://github.com/pytorch/vision/tree/main/references/segmentation#fcn_resnet50",
    transforms: Transforms { resize: 520, crop: None, ..Transforms::IMAGENET },
}];

/// `FCN_ResNet101_Weights` (DEFAULT = COCO_WITH_VOC_LABELS_V1).
const FCN_RESNET101_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "FCN_ResNet101_Weights",
    member: "COCO_WITH_VOC_LABELS_V1",
    file: "fcn_resnet101_coco-7ecb50ca",
    num_params: 54_314_346,
    min_size: [1, 1],
    categories: Categories::Voc,
    metrics: &[("miou", 63.7), ("pixel_acc", 91.9)],
    gflops: 232.738,
    file_size_mib: 207.711,
    recipe: "https://github.com/pytorch/vision/tree/main/references/segmentation#deeplabv3_resnet101",
    transforms: Transforms { resize: 520, crop: None, ..Transforms::IMAGENET },
}];

/// `DeepLabV3_ResNet50_Weights` (DEFAULT = COCO_WITH_VOC_LABELS_V1).
const DEEPLABV3_RESNET50_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "DeepLabV3_ResNet50_Weights",
    member: "COCO_WITH_VOC_LABELS_V1",
    file: "deeplabv3_resnet50_coco-cd0a2569",
    num_params: 42_004_074,
    min_size: [1, 1],
    categories: Categories::Voc,
    metrics: &[("miou", 66.4), ("pixel_acc", 92.4)],
    gflops: 178.722,
    file_size_mib: 160.515,
    recipe: "https://github.com/pytorch/vision/tree/main/references/segmentation#deeplabv3_resnet50",
    transforms: Transforms { resize: 520, crop: None, ..Transforms::IMAGENET },
}];

/// `DeepLabV3_ResNet101_Weights` (DEFAULT = COCO_WITH_VOC_LABELS_V1).
const DEEPLABV3_RESNET101_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "DeepLabV3_ResNet101_Weights",
    member: "COCO_WITH_VOC_LABELS_V1",
    file: "deeplabv3_resnet101_coco-586e9e4e",
    num_params: 60_996_202,
    min_size: [1, 1],
    categories: Categories::Voc,
    metrics: &[("miou", 67.4), ("pixel_acc", 92.4)],
    gflops: 258.743,
    file_size_mib: 233.217,
    recipe: "https://github.com/pytorch/vision/tree/main/references/segmentation#fcn_resnet101",
    transforms: Transforms { resize: 520, crop: None, ..Transforms::IMAGENET },
}];

/// `DeepLabV3_MobileNet_V3_Large_Weights` (DEFAULT = COCO_WITH_VOC_LABELS_V1).
pub(super) const DEEPLABV3_MOBILENET_V3_LARGE_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "DeepLabV3_MobileNet_V3_Large_Weights",
    member: "COCO_WITH_VOC_LABELS_V1",
    file: "deeplabv3_mobilenet_v3_large-fc3c493d",
    num_params: 11_029_328,
    min_size: [1, 1],
    categories: Categories::Voc,
    metrics: &[("miou", 60.3), ("pixel_acc", 91.2)],
    gflops: 10.452,
    file_size_mib: 42.301,
    recipe: "https://github.com/pytorch/vision/tree/main/references/segmentation#deeplabv3_mobilenet_v3_large",
    transforms: Transforms { resize: 520, crop: None, ..Transforms::IMAGENET },
}];

/// `LRASPP_MobileNet_V3_Large_Weights` (DEFAULT = COCO_WITH_VOC_LABELS_V1).
pub(super) const LRASPP_MOBILENET_V3_LARGE_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "LRASPP_MobileNet_V3_Large_Weights",
    member: "COCO_WITH_VOC_LABELS_V1",
    file: "lraspp_mobilenet_v3_large-d234d4ea",
    num_params: 3_221_538,
    min_size: [1, 1],
    categories: Categories::Voc,
    metrics: &[("miou", 57.9), ("pixel_acc", 91.2)],
    gflops: 2.086,
    file_size_mib: 12.49,
    recipe: "https://github.com/pytorch/vision/tree/main/references/segmentation#lraspp_mobilenet_v3_large",
    transforms: Transforms { resize: 520, crop: None, ..Transforms::IMAGENET },
}];
