//! The registry: every model builder with its weights, and TorchVision's
//! lookup API over it (`list_models`, `get_model`, `get_model_builder`,
//! `get_model_weights`, `get_weight`).
//!
//! Each family file exposes `entries() -> Vec<ModelEntry>`; [`registry`]
//! gathers them once.

use std::path::PathBuf;
use std::sync::OnceLock;

use globset::Glob;

use super::error::ZooError;
use super::weights::Weights;
use crate::nn::Module;

/// The model families `list_models(module=…)` filters by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `torchvision.models` (ImageNet classifiers).
    Classification,
    /// `torchvision.models.segmentation`.
    Segmentation,
}

impl Task {
    /// `"classification"` / `"segmentation"`.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Segmentation => "segmentation",
        }
    }
}

/// Options of a build (`get_model(name, weights, **config)`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelConfig {
    /// Output classes; `None` gives the weights' category count or the
    /// architecture's default (1000, or 21 for segmentation).
    pub num_classes: Option<usize>,
    /// Segmentation: build the auxiliary classifier (`None`: TorchVision's
    /// default, on when weights are given).
    pub aux_loss: Option<bool>,
    /// GoogLeNet / Inception v3: rescale ImageNet-normalised inputs to the
    /// `(x - 0.5) / 0.5` normalisation their ported weights were trained
    /// with (`None`: TorchVision's default, on when weights are given).
    pub transform_input: Option<bool>,
    /// Seed of the random initialisation.
    pub seed: u64,
    /// A weights file to load (overrides the lookup in `$SMELT_WEIGHTS_DIR`).
    pub weights_path: Option<PathBuf>,
    /// The input side a model with a fixed input size is built for
    /// (TorchVision's `image_size` of ViT, `input_size` of MaxViT); `None`
    /// gives the weights' `min_size` when weights are given, else 224.
    /// Other models ignore it.
    pub image_size: Option<usize>,
}

/// Builds one model, randomly initialised, from a resolved configuration
/// (`num_classes` and `aux_loss` are already set when `get_model` calls it).
pub type BuildFn = fn(&ModelConfig) -> Result<Box<dyn Module>, ZooError>;

/// One registered model.
#[derive(Clone, Debug)]
pub struct ModelEntry {
    /// The builder name (`"resnet50"`).
    pub name: &'static str,
    /// The family it is listed under.
    pub task: Task,
    /// The builder.
    pub build: BuildFn,
    /// Its weights enum's members; the first is the `DEFAULT` unless
    /// `default_member` says otherwise.
    pub weights: Vec<Weights>,
    /// The member `DEFAULT` aliases (`"IMAGENET1K_V2"` for ResNet-50).
    pub default_member: &'static str,
}

impl ModelEntry {
    /// The weights enum's name (`"ResNet50_Weights"`).
    pub fn weights_enum(&self) -> &'static str {
        self.weights.first().map_or("", |w| w.enum_name)
    }

    /// The recommended weights (`DEFAULT`).
    pub fn default_weights(&self) -> Option<&Weights> {
        self.weights.iter().find(|w| w.member == self.default_member)
    }
}

/// Every registered model, sorted by name.
pub fn registry() -> &'static [ModelEntry] {
    static ALL: OnceLock<Vec<ModelEntry>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<ModelEntry> = Vec::new();
        // Each family registers here.
        all.extend(super::convnext::entries());
        all.extend(super::vit::entries());
        all.extend(super::swin::entries());
        all.extend(super::maxvit::entries());
        all.extend(super::resnet::entries());
        all.extend(super::vgg::entries());
        all.extend(super::alexnet::entries());
        all.extend(super::densenet::entries());
        all.extend(super::googlenet::entries());
        all.extend(super::inception::entries());
        all.extend(super::segmentation::entries());
        all.extend(super::squeezenet::entries());
        all.extend(super::mnasnet::entries());
        all.extend(super::mobilenet_v2::entries());
        all.extend(super::mobilenet_v3::entries());
        all.extend(super::efficientnet::entries());
        all.extend(super::shufflenet::entries());
        all.extend(super::regnet_weights::entries());
        all.sort_by_key(|e| e.name);
        all
    })
}

/// The entry of `name` (lower-cased first, as TorchVision does).
pub fn model_entry(name: &str) -> Result<&'static ModelEntry, ZooError> {
    let lower = name.to_lowercase();
    registry().iter().find(|e| e.name == lower).ok_or_else(|| ZooError::UnknownModel(name.into()))
}

/// `list_models(module, include, exclude)`: sorted names of `task` (all
/// families when `None`), keeping the union of the `include` wildcard
/// matches (all when empty) and then dropping every `exclude` match.
/// Patterns are Unix shell wildcards (`*`, `?`, `[seq]`, `[!seq]`),
/// case-sensitive, as Python's `fnmatch` on POSIX.
pub fn list_models(
    task: Option<Task>,
    include: &[&str],
    exclude: &[&str],
) -> Result<Vec<&'static str>, ZooError> {
    let compile = |pats: &[&str]| -> Result<Vec<globset::GlobMatcher>, ZooError> {
        pats.iter()
            .map(|p| {
                Glob::new(p).map(|g| g.compile_matcher()).map_err(|e| ZooError::Config {
                    model: "list_models".into(),
                    detail: format!("bad pattern {p:?}: {e}"),
                })
            })
            .collect()
    };
    let (inc, exc) = (compile(include)?, compile(exclude)?);
    Ok(registry()
        .iter()
        .filter(|e| task.is_none_or(|t| e.task == t))
        .map(|e| e.name)
        .filter(|n| inc.is_empty() || inc.iter().any(|m| m.is_match(n)))
        .filter(|n| !exc.iter().any(|m| m.is_match(n)))
        .collect())
}

/// `get_model_builder(name)`.
pub fn get_model_builder(name: &str) -> Result<BuildFn, ZooError> {
    Ok(model_entry(name)?.build)
}

/// `get_model_weights(name)`: the members of the model's weights enum.
pub fn get_model_weights(name: &str) -> Result<&'static [Weights], ZooError> {
    Ok(&model_entry(name)?.weights)
}

/// `get_weight("ResNet50_Weights.IMAGENET1K_V2")`; `…_Weights.DEFAULT` is
/// the recommended member. Exactly one dot; an unknown enum or member is an
/// error naming it.
pub fn get_weight(name: &str) -> Result<&'static Weights, ZooError> {
    let Some((enum_name, member)) = name.split_once('.').filter(|(_, m)| !m.contains('.')) else {
        return Err(ZooError::UnknownWeights(format!(
            "Invalid weight name provided: '{name}' (expected Enum.MEMBER)"
        )));
    };
    let entry = registry().iter().find(|e| e.weights_enum() == enum_name).ok_or_else(|| {
        ZooError::UnknownWeights(format!(
            "The weight enum '{enum_name}' for the specific method couldn't be retrieved."
        ))
    })?;
    resolve_member(entry, member)
}

/// The member of `entry`'s enum called `member` (or `DEFAULT`).
fn resolve_member(entry: &'static ModelEntry, member: &str) -> Result<&'static Weights, ZooError> {
    let member = if member == "DEFAULT" { entry.default_member } else { member };
    entry.weights.iter().find(|w| w.member == member).ok_or_else(|| {
        ZooError::UnknownWeights(format!(
            "{}: no member {member:?} (members: {})",
            entry.weights_enum(),
            entry.weights.iter().map(|w| w.member).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The weights `spec` names for `entry`: `"DEFAULT"`, a member
/// (`"IMAGENET1K_V1"`) or a full `Enum.MEMBER` of this model's enum.
pub(crate) fn weights_for(
    entry: &'static ModelEntry,
    spec: &str,
) -> Result<&'static Weights, ZooError> {
    match spec.split_once('.') {
        Some((e, m)) if e == entry.weights_enum() => resolve_member(entry, m),
        Some(_) => Err(ZooError::UnknownWeights(format!(
            "{spec} is not a weights of {} (its enum is {})",
            entry.name,
            entry.weights_enum()
        ))),
        None => resolve_member(entry, spec),
    }
}

/// `get_model(name, weights, config)`: builds the model; with `weights`
/// (`"DEFAULT"`, a member or `Enum.MEMBER`), fixes `num_classes` from the
/// weights' categories (a conflicting value is an error), turns on the
/// auxiliary classifier of segmentation models and GoogLeNet's / Inception
/// v3's `transform_input` as TorchVision does, and
/// loads the weights file (see [`super::load_weights`]).
pub fn get_model(
    name: &str,
    weights: Option<&str>,
    config: &ModelConfig,
) -> Result<Box<dyn Module>, ZooError> {
    let entry = model_entry(name)?;
    let Some(spec) = weights else {
        return (entry.build)(config);
    };
    let w = weights_for(entry, spec)?;
    let classes = w.category_names().len();
    // Weights without categories (feature extractors) leave num_classes alone.
    if classes > 0 && config.num_classes.is_some_and(|n| n != classes) {
        return Err(ZooError::Config {
            model: entry.name.into(),
            detail: format!(
                "num_classes {} conflicts with {} ({classes} categories)",
                config.num_classes.unwrap_or_default(),
                w.full_name()
            ),
        });
    }
    let mut cfg = config.clone();
    if classes > 0 {
        cfg.num_classes = Some(classes);
    }
    // ViT and MaxViT are built for the weights' input side (TorchVision
    // overwrites their `image_size` / `input_size` with `min_size`).
    cfg.image_size.get_or_insert(w.min_size[0]);
    if entry.task == Task::Segmentation && cfg.aux_loss.is_none() {
        cfg.aux_loss = Some(true);
    }
    if cfg.transform_input.is_none() {
        cfg.transform_input = Some(true);
    }
    let mut model = (entry.build)(&cfg)?;
    super::load_weights(model.as_mut(), w, cfg.weights_path.as_deref())?;
    Ok(model)
}
