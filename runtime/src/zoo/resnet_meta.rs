//! Weights metadata of the ResNet family (ResNet, ResNeXt, Wide ResNet):
//! every member of TorchVision's weights enums, with the values of its
//! `meta` (num_params, metrics, `_ops`, `_file_size`, recipe) and transforms.

use super::weights::{Categories, Interpolation, Transforms, Weights};

/// `ResNet18_Weights` (DEFAULT = IMAGENET1K_V1).
pub(super) const RESNET18_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "ResNet18_Weights",
    member: "IMAGENET1K_V1",
    file: "resnet18-f37072fd",
    num_params: 11_689_512,
    min_size: [1, 1],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 69.758), ("acc@5", 89.078)],
    gflops: 1.814,
    file_size_mib: 44.661,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#resnet",
    transforms: Transforms::IMAGENET,
}];

/// `ResNet34_Weights` (DEFAULT = IMAGENET1K_V1).
pub(super) const RESNET34_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "ResNet34_Weights",
    member: "IMAGENET1K_V1",
    file: "resnet34-b627a593",
    num_params: 21_797_672,
    min_size: [1, 1],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 73.314), ("acc@5", 91.42)],
    gflops: 3.664,
    file_size_mib: 83.275,
    recipe: "https://github.com/pytorch/vision/tree/main/references/classification#resnet",
    transforms: Transforms::IMAGENET,
}];

/// `ResNet50_Weights` (DEFAULT = IMAGENET1K_V2).
pub(super) const RESNET50_WEIGHTS: &[Weights] = &[
    Weights {
        enum_name: "ResNet50_Weights",
        member: "IMAGENET1K_V1",
        file: "resnet50-0676ba61",
        num_params: 25_557_032,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 76.13), ("acc@5", 92.862)],
        gflops: 4.089,
        file_size_mib: 97.781,
        recipe: "https://github.com/pytorch/vision/tree/main/references/classification#resnet",
        transforms: Transforms::IMAGENET,
    },
    Weights {
        enum_name: "ResNet50_Weights",
        member: "IMAGENET1K_V2",
        file: "resnet50-11ad3fa6",
        num_params: 25_557_032,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 80.858), ("acc@5", 95.434)],
        gflops: 4.089,
        file_size_mib: 97.79,
        recipe: "https://github.com/pytorch/vision/issues/3995#issuecomment-1013906621",
        transforms: Transforms::imagenet(232, 224, Interpolation::Bilinear),
    },
];

/// `ResNet101_Weights` (DEFAULT = IMAGENET1K_V2).
pub(super) const RESNET101_WEIGHTS: &[Weights] = &[
    Weights {
        enum_name: "ResNet101_Weights",
        member: "IMAGENET1K_V1",
        file: "resnet101-63fe2227",
        num_params: 44_549_160,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 77.374), ("acc@5", 93.546)],
        gflops: 7.801,
        file_size_mib: 170.511,
        recipe: "https://github.com/pytorch/vision/tree/main/references/classification#resnet",
        transforms: Transforms::IMAGENET,
    },
    Weights {
        enum_name: "ResNet101_Weights",
        member: "IMAGENET1K_V2",
        file: "resnet101-cd907fc2",
        num_params: 44_549_160,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 81.886), ("acc@5", 95.78)],
        gflops: 7.801,
        file_size_mib: 170.53,
        recipe: "https://github.com/pytorch/vision/issues/3995#new-recipe",
        transforms: Transforms::imagenet(232, 224, Interpolation::Bilinear),
    },
];

/// `ResNet152_Weights` (DEFAULT = IMAGENET1K_V2).
pub(super) const RESNET152_WEIGHTS: &[Weights] = &[
    Weights {
        enum_name: "ResNet152_Weights",
        member: "IMAGENET1K_V1",
        file: "resnet152-394f9c45",
        num_params: 60_192_808,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 78.312), ("acc@5", 94.046)],
        gflops: 11.514,
        file_size_mib: 230.434,
        recipe: "https://github.com/pytorch/vision/tree/main/references/classification#resnet",
        transforms: Transforms::IMAGENET,
    },
    Weights {
        enum_name: "ResNet152_Weights",
        member: "IMAGENET1K_V2",
        file: "resnet152-f82ba261",
        num_params: 60_192_808,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 82.284), ("acc@5", 96.002)],
        gflops: 11.514,
        file_size_mib: 230.474,
        recipe: "https://github.com/pytorch/vision/issues/3995#new-recipe",
        transforms: Transforms::imagenet(232, 224, Interpolation::Bilinear),
    },
];

/// `ResNeXt50_32X4D_Weights` (DEFAULT = IMAGENET1K_V2).
pub(super) const RESNEXT50_32X4D_WEIGHTS: &[Weights] = &[
    Weights {
        enum_name: "ResNeXt50_32X4D_Weights",
        member: "IMAGENET1K_V1",
        file: "resnext50_32x4d-7cdf4587",
        num_params: 25_028_904,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 77.618), ("acc@5", 93.698)],
        gflops: 4.23,
        file_size_mib: 95.789,
        recipe: "https://github.com/pytorch/vision/tree/main/references/classification#resnext",
        transforms: Transforms::IMAGENET,
    },
    Weights {
        enum_name: "ResNeXt50_32X4D_Weights",
        member: "IMAGENET1K_V2",
        file: "resnext50_32x4d-1a0047aa",
        num_params: 25_028_904,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 81.198), ("acc@5", 95.34)],
        gflops: 4.23,
        file_size_mib: 95.833,
        recipe: "https://github.com/pytorch/vision/issues/3995#new-recipe",
        transforms: Transforms::imagenet(232, 224, Interpolation::Bilinear),
    },
];

/// `ResNeXt101_32X8D_Weights` (DEFAULT = IMAGENET1K_V2).
pub(super) const RESNEXT101_32X8D_WEIGHTS: &[Weights] = &[
    Weights {
        enum_name: "ResNeXt101_32X8D_Weights",
        member: "IMAGENET1K_V1",
        file: "resnext101_32x8d-8ba56ff5",
        num_params: 88_791_336,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 79.312), ("acc@5", 94.526)],
        gflops: 16.414,
        file_size_mib: 339.586,
        recipe: "https://github.com/pytorch/vision/tree/main/references/classification#resnext",
        transforms: Transforms::IMAGENET,
    },
    Weights {
        enum_name: "ResNeXt101_32X8D_Weights",
        member: "IMAGENET1K_V2",
        file: "resnext101_32x8d-110c445d",
        num_params: 88_791_336,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 82.834), ("acc@5", 96.228)],
        gflops: 16.414,
        file_size_mib: 339.673,
        recipe: "https://github.com/pytorch/vision/issues/3995#new-recipe-with-fixres",
        transforms: Transforms::imagenet(232, 224, Interpolation::Bilinear),
    },
];

/// `ResNeXt101_64X4D_Weights` (DEFAULT = IMAGENET1K_V1).
pub(super) const RESNEXT101_64X4D_WEIGHTS: &[Weights] = &[Weights {
    enum_name: "ResNeXt101_64X4D_Weights",
    member: "IMAGENET1K_V1",
    file: "resnext101_64x4d-173b62eb",
    num_params: 83_455_272,
    min_size: [1, 1],
    categories: Categories::ImageNet,
    metrics: &[("acc@1", 83.246), ("acc@5", 96.454)],
    gflops: 15.46,
    file_size_mib: 319.318,
    recipe: "https://github.com/pytorch/vision/pull/5935",
    transforms: Transforms::imagenet(232, 224, Interpolation::Bilinear),
}];

/// `Wide_ResNet50_2_Weights` (DEFAULT = IMAGENET1K_V2).
pub(super) const WIDE_RESNET50_2_WEIGHTS: &[Weights] = &[
    Weights {
        enum_name: "Wide_ResNet50_2_Weights",
        member: "IMAGENET1K_V1",
        file: "wide_resnet50_2-95faca4d",
        num_params: 68_883_240,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 78.468), ("acc@5", 94.086)],
        gflops: 11.398,
        file_size_mib: 131.82,
        recipe: "https://github.com/pytorch/vision/pull/912#issue-445437439",
        transforms: Transforms::IMAGENET,
    },
    Weights {
        enum_name: "Wide_ResNet50_2_Weights",
        member: "IMAGENET1K_V2",
        file: "wide_resnet50_2-9ba9bcbe",
        num_params: 68_883_240,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 81.602), ("acc@5", 95.758)],
        gflops: 11.398,
        file_size_mib: 263.124,
        recipe: "https://github.com/pytorch/vision/issues/3995#new-recipe-with-fixres",
        transforms: Transforms::imagenet(232, 224, Interpolation::Bilinear),
    },
];

/// `Wide_ResNet101_2_Weights` (DEFAULT = IMAGENET1K_V2).
pub(super) const WIDE_RESNET101_2_WEIGHTS: &[Weights] = &[
    Weights {
        enum_name: "Wide_ResNet101_2_Weights",
        member: "IMAGENET1K_V1",
        file: "wide_resnet101_2-32ee1156",
        num_params: 126_886_696,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 78.848), ("acc@5", 94.284)],
        gflops: 22.753,
        file_size_mib: 242.896,
        recipe: "https://github.com/pytorch/vision/pull/912#issue-445437439",
        transforms: Transforms::IMAGENET,
    },
    Weights {
        enum_name: "Wide_ResNet101_2_Weights",
        member: "IMAGENET1K_V2",
        file: "wide_resnet101_2-d733dc28",
        num_params: 126_886_696,
        min_size: [1, 1],
        categories: Categories::ImageNet,
        metrics: &[("acc@1", 82.51), ("acc@5", 96.02)],
        gflops: 22.753,
        file_size_mib: 484.747,
        recipe: "https://github.com/pytorch/vision/issues/3995#new-recipe",
        transforms: Transforms::imagenet(232, 224, Interpolation::Bilinear),
    },
];
