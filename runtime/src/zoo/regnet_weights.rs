//! The weights metadata of the RegNet builders (TorchVision's
//! `RegNet_*_Weights` enums: file stems, accuracies, GFLOPS, file sizes,
//! recipes and transforms) and the registry entries.

use super::mobile_blocks::{Built, imagenet_weights};
use super::registry::{ModelConfig, ModelEntry, Task};
use super::regnet::{Design, regnet};
use super::weights::{Interpolation, Transforms, Weights};

/// `(member, file stem, metrics, GFLOPS, MiB, recipe, resize, crop,
/// interpolation)`.
type Member = (
    &'static str,
    &'static str,
    &'static [(&'static str, f64)],
    f64,
    f64,
    &'static str,
    usize,
    usize,
    Interpolation,
);

macro_rules! design {
    ($name:ident, $depth:expr, $w0:expr, $wa:expr, $wm:expr, $gw:expr, $se:expr) => {
        fn $name(cfg: &ModelConfig) -> Built {
            let d = Design { depth: $depth, w0: $w0, wa: $wa, wm: $wm, group_width: $gw, se: $se };
            regnet(&d, cfg)
        }
    };
}

design!(regnet_y_400mf, 16, 48.0, 27.89, 2.09, 8, true);
design!(regnet_y_800mf, 14, 56.0, 38.84, 2.4, 16, true);
design!(regnet_y_1_6gf, 27, 48.0, 20.71, 2.65, 24, true);
design!(regnet_y_3_2gf, 21, 80.0, 42.63, 2.66, 24, true);
design!(regnet_y_8gf, 17, 192.0, 76.82, 2.19, 56, true);
design!(regnet_y_16gf, 18, 200.0, 106.23, 2.48, 112, true);
design!(regnet_y_32gf, 20, 232.0, 115.89, 2.53, 232, true);
design!(regnet_y_128gf, 27, 456.0, 160.83, 2.52, 264, true);
design!(regnet_x_400mf, 22, 24.0, 24.48, 2.54, 16, false);
design!(regnet_x_800mf, 16, 56.0, 35.73, 2.28, 16, false);
design!(regnet_x_1_6gf, 18, 80.0, 34.01, 2.25, 24, false);
design!(regnet_x_3_2gf, 25, 88.0, 26.31, 2.25, 48, false);
design!(regnet_x_8gf, 23, 80.0, 49.56, 2.88, 120, false);
design!(regnet_x_16gf, 22, 216.0, 55.59, 2.1, 128, false);
design!(regnet_x_32gf, 23, 320.0, 69.86, 2.0, 168, false);

/// The entry `name` with weights enum `enum_name`, `num_params`, default
/// `default_member` and `members`.
fn entry(
    name: &'static str,
    build: super::registry::BuildFn,
    enum_name: &'static str,
    num_params: u64,
    default_member: &'static str,
    members: &'static [Member],
) -> ModelEntry {
    let weights: Vec<Weights> = members
        .iter()
        .map(|&(member, file, acc, ops, size, recipe, resize, crop, interp)| {
            let t = Transforms::imagenet(resize, crop, interp);
            imagenet_weights(enum_name, member, file, num_params, 1, acc, ops, size, recipe, t)
        })
        .collect();
    ModelEntry { name, task: Task::Classification, build, weights, default_member }
}

/// The RegNet builders and their weights (one row per member: rustfmt keeps
/// its hands off the table).
#[rustfmt::skip]
pub(super) fn entries() -> Vec<ModelEntry> {
    use Interpolation::{Bicubic, Bilinear};
    vec![
        entry("regnet_y_400mf", regnet_y_400mf, "RegNet_Y_400MF_Weights", 4344144, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_y_400mf-c65dace8", &[("acc@1", 74.046), ("acc@5", 91.716)], 0.402, 16.806, "https://github.com/pytorch/vision/tree/main/references/classification#small-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_y_400mf-e6988f5f", &[("acc@1", 75.804), ("acc@5", 92.742)], 0.402, 16.806, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
        entry("regnet_y_800mf", regnet_y_800mf, "RegNet_Y_800MF_Weights", 6432512, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_y_800mf-1b27b58c", &[("acc@1", 76.42), ("acc@5", 93.136)], 0.834, 24.774, "https://github.com/pytorch/vision/tree/main/references/classification#small-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_y_800mf-58fc7688", &[("acc@1", 78.828), ("acc@5", 94.502)], 0.834, 24.774, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
        entry("regnet_y_1_6gf", regnet_y_1_6gf, "RegNet_Y_1_6GF_Weights", 11202430, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_y_1_6gf-b11a554e", &[("acc@1", 77.95), ("acc@5", 93.966)], 1.612, 43.152, "https://github.com/pytorch/vision/tree/main/references/classification#small-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_y_1_6gf-0d7bc02a", &[("acc@1", 80.876), ("acc@5", 95.444)], 1.612, 43.152, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
        entry("regnet_y_3_2gf", regnet_y_3_2gf, "RegNet_Y_3_2GF_Weights", 19436338, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_y_3_2gf-b5a9779c", &[("acc@1", 78.948), ("acc@5", 94.576)], 3.176, 74.567, "https://github.com/pytorch/vision/tree/main/references/classification#medium-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_y_3_2gf-9180c971", &[("acc@1", 81.982), ("acc@5", 95.972)], 3.176, 74.567, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
        entry("regnet_y_8gf", regnet_y_8gf, "RegNet_Y_8GF_Weights", 39381472, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_y_8gf-d0d0e4a8", &[("acc@1", 80.032), ("acc@5", 95.048)], 8.473, 150.701, "https://github.com/pytorch/vision/tree/main/references/classification#medium-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_y_8gf-dc2b1b54", &[("acc@1", 82.828), ("acc@5", 96.33)], 8.473, 150.701, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
        entry("regnet_y_16gf", regnet_y_16gf, "RegNet_Y_16GF_Weights", 83590140, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_y_16gf-9e6ed7dd", &[("acc@1", 80.424), ("acc@5", 95.24)], 15.912, 319.49, "https://github.com/pytorch/vision/tree/main/references/classification#large-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_y_16gf-3e4a00f9", &[("acc@1", 82.886), ("acc@5", 96.328)], 15.912, 319.49, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
            ("IMAGENET1K_SWAG_E2E_V1", "regnet_y_16gf_swag-43afe44d", &[("acc@1", 86.012), ("acc@5", 98.054)], 46.735, 319.49, "https://github.com/facebookresearch/SWAG", 384, 384, Bicubic),
            ("IMAGENET1K_SWAG_LINEAR_V1", "regnet_y_16gf_lc_swag-f3ec0043", &[("acc@1", 83.976), ("acc@5", 97.244)], 15.912, 319.49, "https://github.com/pytorch/vision/pull/5793", 224, 224, Bicubic),
        ]),
        entry("regnet_y_32gf", regnet_y_32gf, "RegNet_Y_32GF_Weights", 145046770, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_y_32gf-4dee3f7a", &[("acc@1", 80.878), ("acc@5", 95.34)], 32.28, 554.076, "https://github.com/pytorch/vision/tree/main/references/classification#large-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_y_32gf-8db6d4b5", &[("acc@1", 83.368), ("acc@5", 96.498)], 32.28, 554.076, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
            ("IMAGENET1K_SWAG_E2E_V1", "regnet_y_32gf_swag-04fdfa75", &[("acc@1", 86.838), ("acc@5", 98.362)], 94.826, 554.076, "https://github.com/facebookresearch/SWAG", 384, 384, Bicubic),
            ("IMAGENET1K_SWAG_LINEAR_V1", "regnet_y_32gf_lc_swag-e1583746", &[("acc@1", 84.622), ("acc@5", 97.48)], 32.28, 554.076, "https://github.com/pytorch/vision/pull/5793", 224, 224, Bicubic),
        ]),
        entry("regnet_y_128gf", regnet_y_128gf, "RegNet_Y_128GF_Weights", 644812894, "IMAGENET1K_SWAG_E2E_V1", &[
            ("IMAGENET1K_SWAG_E2E_V1", "regnet_y_128gf_swag-c8ce3e52", &[("acc@1", 88.228), ("acc@5", 98.682)], 374.57, 2461.564, "https://github.com/facebookresearch/SWAG", 384, 384, Bicubic),
            ("IMAGENET1K_SWAG_LINEAR_V1", "regnet_y_128gf_lc_swag-cbe8ce12", &[("acc@1", 86.068), ("acc@5", 97.844)], 127.518, 2461.564, "https://github.com/pytorch/vision/pull/5793", 224, 224, Bicubic),
        ]),
        entry("regnet_x_400mf", regnet_x_400mf, "RegNet_X_400MF_Weights", 5495976, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_x_400mf-adf1edd5", &[("acc@1", 72.834), ("acc@5", 90.95)], 0.414, 21.258, "https://github.com/pytorch/vision/tree/main/references/classification#small-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_x_400mf-62229a5f", &[("acc@1", 74.864), ("acc@5", 92.322)], 0.414, 21.257, "https://github.com/pytorch/vision/issues/3995#new-recipe-with-fixres", 232, 224, Bilinear),
        ]),
        entry("regnet_x_800mf", regnet_x_800mf, "RegNet_X_800MF_Weights", 7259656, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_x_800mf-ad17e45c", &[("acc@1", 75.212), ("acc@5", 92.348)], 0.8, 27.945, "https://github.com/pytorch/vision/tree/main/references/classification#small-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_x_800mf-94a99ebd", &[("acc@1", 77.522), ("acc@5", 93.826)], 0.8, 27.945, "https://github.com/pytorch/vision/issues/3995#new-recipe-with-fixres", 232, 224, Bilinear),
        ]),
        entry("regnet_x_1_6gf", regnet_x_1_6gf, "RegNet_X_1_6GF_Weights", 9190136, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_x_1_6gf-e3633e7f", &[("acc@1", 77.04), ("acc@5", 93.44)], 1.603, 35.339, "https://github.com/pytorch/vision/tree/main/references/classification#small-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_x_1_6gf-a12f2b72", &[("acc@1", 79.668), ("acc@5", 94.922)], 1.603, 35.339, "https://github.com/pytorch/vision/issues/3995#new-recipe-with-fixres", 232, 224, Bilinear),
        ]),
        entry("regnet_x_3_2gf", regnet_x_3_2gf, "RegNet_X_3_2GF_Weights", 15296552, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_x_3_2gf-f342aeae", &[("acc@1", 78.364), ("acc@5", 93.992)], 3.177, 58.756, "https://github.com/pytorch/vision/tree/main/references/classification#medium-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_x_3_2gf-7071aa85", &[("acc@1", 81.196), ("acc@5", 95.43)], 3.177, 58.756, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
        entry("regnet_x_8gf", regnet_x_8gf, "RegNet_X_8GF_Weights", 39572648, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_x_8gf-03ceed89", &[("acc@1", 79.344), ("acc@5", 94.686)], 7.995, 151.456, "https://github.com/pytorch/vision/tree/main/references/classification#medium-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_x_8gf-2b70d774", &[("acc@1", 81.682), ("acc@5", 95.678)], 7.995, 151.456, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
        entry("regnet_x_16gf", regnet_x_16gf, "RegNet_X_16GF_Weights", 54278536, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_x_16gf-2007eb11", &[("acc@1", 80.058), ("acc@5", 94.944)], 15.941, 207.627, "https://github.com/pytorch/vision/tree/main/references/classification#medium-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_x_16gf-ba3796d7", &[("acc@1", 82.716), ("acc@5", 96.196)], 15.941, 207.627, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
        entry("regnet_x_32gf", regnet_x_32gf, "RegNet_X_32GF_Weights", 107811560, "IMAGENET1K_V2", &[
            ("IMAGENET1K_V1", "regnet_x_32gf-9d47f8d0", &[("acc@1", 80.622), ("acc@5", 95.248)], 31.736, 412.039, "https://github.com/pytorch/vision/tree/main/references/classification#large-models", 256, 224, Bilinear),
            ("IMAGENET1K_V2", "regnet_x_32gf-6eb8fdc6", &[("acc@1", 83.014), ("acc@5", 96.288)], 31.736, 412.039, "https://github.com/pytorch/vision/issues/3995#new-recipe", 232, 224, Bilinear),
        ]),
    ]
}
