//! Category names of the label sets ([`super::Categories`]): ImageNet-1k's
//! 1000 names in class-id order (TorchVision's `_IMAGENET_CATEGORIES`,
//! kept as data in `imagenet_categories.txt`, one per line) and Pascal VOC's 21.

use std::sync::OnceLock;

/// The ImageNet-1k class names, index = class id.
pub(crate) fn imagenet() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| include_str!("imagenet_categories.txt").lines().collect())
}

/// The Pascal VOC class names of the segmentation weights.
pub(crate) const VOC: &[&str] = &[
    "__background__",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];
