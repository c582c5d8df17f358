//! Weights metadata, one [`Weights`] per member of a TorchVision weights
//! enum (`ResNet50_Weights.IMAGENET1K_V2`): what TorchVision's `meta` dict
//! and `transforms` hold.

/// Which label set a weights entry predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Categories {
    /// The 1000 ImageNet-1k classes.
    ImageNet,
    /// The 21 Pascal VOC classes (segmentation weights, `__background__` first).
    Voc,
    /// No label set (TorchVision's `categories: None`: feature-extraction
    /// weights such as `VGG16_Weights.IMAGENET1K_FEATURES`).
    None,
}

/// Resampling used by the resize of the preprocessing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// Bilinear (antialiased, as TorchVision's `antialias=True`).
    Bilinear,
    /// Bicubic.
    Bicubic,
}

/// The preprocessing a weights entry expects (`weights.transforms()`):
/// resize the shorter side, center-crop, scale to [0, 1], normalize.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transforms {
    /// Shorter side after resizing (256 by default).
    pub resize: usize,
    /// Side of the center crop (224 by default); `None` for segmentation (no crop).
    pub crop: Option<usize>,
    /// Per-channel mean subtracted after scaling to [0, 1].
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by.
    pub std: [f32; 3],
    /// Resampling of the resize.
    pub interpolation: Interpolation,
}

impl Transforms {
    /// TorchVision's `ImageClassification(crop_size=224)` defaults.
    pub const IMAGENET: Transforms = Transforms {
        resize: 256,
        crop: Some(224),
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        interpolation: Interpolation::Bilinear,
    };

    /// The ImageNet defaults with another resize and crop.
    pub const fn imagenet(resize: usize, crop: usize, interpolation: Interpolation) -> Transforms {
        Transforms { resize, crop: Some(crop), interpolation, ..Transforms::IMAGENET }
    }
}

/// One weights member and its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    /// The enum (`"ResNet50_Weights"`).
    pub enum_name: &'static str,
    /// The member (`"IMAGENET1K_V2"`).
    pub member: &'static str,
    /// The checkpoint's file stem in TorchVision's URL (`"resnet50-11ad3fa6"`);
    /// smelt looks for `<stem>.safetensors`.
    pub file: &'static str,
    /// Parameters (buffers excluded), exactly as TorchVision documents.
    pub num_params: u64,
    /// The smallest input side the model takes.
    pub min_size: [usize; 2],
    /// The label set.
    pub categories: Categories,
    /// `_metrics` of the weights (`("acc@1", 80.858)`, `("miou", 66.4)`, …).
    pub metrics: &'static [(&'static str, f64)],
    /// `_ops`: GFLOPS at the transforms' crop size.
    pub gflops: f64,
    /// `_file_size`: the checkpoint's size in MiB.
    pub file_size_mib: f64,
    /// Where the training recipe is described.
    pub recipe: &'static str,
    /// The preprocessing.
    pub transforms: Transforms,
}

impl Weights {
    /// `"ResNet50_Weights.IMAGENET1K_V2"`.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.enum_name, self.member)
    }

    /// The category names, index = class id (empty for [`Categories::None`]).
    pub fn category_names(&self) -> &'static [&'static str] {
        match self.categories {
            Categories::ImageNet => super::categories::imagenet(),
            Categories::Voc => super::categories::VOC,
            Categories::None => &[],
        }
    }
}
