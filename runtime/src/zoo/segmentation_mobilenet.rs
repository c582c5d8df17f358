//! The MobileNetV3-Large segmentation models: `deeplabv3_mobilenet_v3_large`
//! and `lraspp_mobilenet_v3_large`, on the dilated MobileNetV3 features
//! (output stride 16) with the heads of `segmentation.rs`.
//!
//! As TorchVision's `_deeplabv3_mobilenetv3` / `_lraspp_mobilenetv3`: the
//! low map is layer `stage_indices[-4]` (40 channels, stride 8), the high
//! map the last layer (960 channels); the backbone's tensors are named
//! `backbone.<layer>.…` as `IntermediateLayerGetter` names them.
//! LR-ASPP has no auxiliary classifier, so it ignores `aux_loss` (which
//! `get_model` sets for every segmentation model given weights).

use super::error::ZooError;
use super::mobilenet_v3::{V3Features, large_features};
use super::registry::ModelConfig;
use super::segmentation::{
    Backbone, Classifier, LrasppHead, SegmentationModel, deeplab_head, fcn_head,
};
use crate::nn::{Kind, Module, Slot};
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// The dilated MobileNetV3-Large features with the two taps a head reads.
struct MobileBackbone {
    features: V3Features,
    /// Layer indices of the low and the high map.
    taps: [usize; 2],
}

impl MobileBackbone {
    fn new(seed: u64) -> Result<MobileBackbone> {
        let features = large_features(true, seed)?;
        let s = &features.stage_indices;
        if s.len() < 4 {
            return Err(arg_err("mobilenet_v3 backbone", format!("stage indices {s:?}")));
        }
        let taps = [s[s.len() - 4], s[s.len() - 1]];
        Ok(MobileBackbone { features, taps })
    }

    /// Output channels of the low and the high map.
    fn channels(&self) -> [usize; 2] {
        self.taps.map(|t| self.features.channels[t])
    }
}

impl Backbone for MobileBackbone {
    fn features(&mut self, x: &Tensor) -> Result<[Tensor; 2]> {
        let mut maps = self.features.forward_taps(x, &self.taps)?.into_iter();
        match (maps.next(), maps.next()) {
            (Some(low), Some(high)) => Ok([low, high]),
            _ => Err(arg_err("mobilenet_v3 backbone", "the feature taps returned too few maps")),
        }
    }
}

impl Module for MobileBackbone {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(self.features(x)?[1].clone())
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        self.features.named_tensors()
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        self.features.slots()
    }

    fn train(&mut self, mode: bool) {
        self.features.train(mode)
    }

    fn is_training(&self) -> bool {
        self.features.is_training()
    }
}

/// `torchvision.models.segmentation.deeplabv3_mobilenet_v3_large`, randomly
/// initialised: DeepLabHead (rates 12, 24, 36) on the high map and, with
/// `aux_loss`, an FCN head on the low map. 21 classes by default.
pub fn deeplabv3_mobilenet_v3_large(
    config: &ModelConfig,
) -> std::result::Result<Box<dyn Module>, ZooError> {
    let classes = config.num_classes.unwrap_or(21);
    let seed = config.seed;
    let backbone = MobileBackbone::new(seed)?;
    let [low, high] = backbone.channels();
    let mut rng = Generator::new(seed.wrapping_add(3));
    let head = deeplab_head(high, classes, &[12, 24, 36], seed.wrapping_add(1), &mut rng)?;
    let aux: Option<Box<dyn Module>> = if config.aux_loss == Some(true) {
        Some(Box::new(fcn_head(low, classes, seed.wrapping_add(2), &mut rng)?))
    } else {
        None
    };
    Ok(Box::new(SegmentationModel::new(Box::new(backbone), Classifier::High(Box::new(head)), aux)))
}

/// `torchvision.models.segmentation.lraspp_mobilenet_v3_large`, randomly
/// initialised: the LR-ASPP head (128 inner channels) over the low and
/// high maps. 21 classes by default.
pub fn lraspp_mobilenet_v3_large(
    config: &ModelConfig,
) -> std::result::Result<Box<dyn Module>, ZooError> {
    let classes = config.num_classes.unwrap_or(21);
    let backbone = MobileBackbone::new(config.seed)?;
    let [low, high] = backbone.channels();
    let mut rng = Generator::new(config.seed.wrapping_add(3));
    let head = LrasppHead::new(low, high, classes, 128, &mut rng)?;
    Ok(Box::new(SegmentationModel::new(Box::new(backbone), Classifier::LowHigh(head), None)))
}
