//! The zoo registry's API against TorchVision's semantics (ZOO.md):
//! `list_models` wildcards, `get_weight` names and errors, `get_model`
//! lookups, and the weights metadata every entry must carry.

use smelt_runtime::nn;
use smelt_runtime::zoo::{
    self, Categories, ModelConfig, Task, ZooError, get_model, get_model_weights, get_weight,
    list_models, registry,
};

#[test]
fn the_registry_holds_every_model_of_zoo_md() {
    let cls = list_models(Some(Task::Classification), &[], &[]).unwrap();
    let seg = list_models(Some(Task::Segmentation), &[], &[]).unwrap();
    assert_eq!(cls.len(), 80, "{cls:?}");
    assert_eq!(
        seg,
        [
            "deeplabv3_mobilenet_v3_large",
            "deeplabv3_resnet101",
            "deeplabv3_resnet50",
            "fcn_resnet101",
            "fcn_resnet50",
            "lraspp_mobilenet_v3_large"
        ]
    );
    let all = list_models(None, &[], &[]).unwrap();
    assert_eq!(all.len(), 86);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
}

#[test]
fn list_models_uses_case_sensitive_shell_wildcards() {
    let resnets = list_models(None, &["resnet*"], &[]).unwrap();
    assert_eq!(resnets, ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]);
    // Several patterns: the union; then excludes remove.
    let v = list_models(None, &["vgg1?", "alexnet"], &[]).unwrap();
    assert_eq!(v, ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19"]);
    let bn = list_models(None, &["vgg*"], &["*_bn"]).unwrap();
    assert_eq!(bn, ["vgg11", "vgg13", "vgg16", "vgg19"]);
    // `[seq]` and `[!seq]`.
    let sq = list_models(None, &["squeezenet1_[01]"], &[]).unwrap();
    assert_eq!(sq, ["squeezenet1_0", "squeezenet1_1"]);
    let not_ab = list_models(None, &["[!a-r]*"], &[]).unwrap();
    assert!(not_ab.iter().all(|n| n.starts_with(['s', 'v', 'w'])), "{not_ab:?}");
    assert!(list_models(None, &["ResNet*"], &[]).unwrap().is_empty(), "case-sensitive");
    // A segmentation filter with a pattern.
    let seg = list_models(Some(Task::Segmentation), &["*resnet*"], &["fcn*"]).unwrap();
    assert_eq!(seg, ["deeplabv3_resnet101", "deeplabv3_resnet50"]);
}

#[test]
fn get_weight_resolves_members_and_the_default_alias() {
    let w = get_weight("ResNet50_Weights.DEFAULT").unwrap();
    assert_eq!(w.member, "IMAGENET1K_V2");
    assert_eq!(w.num_params, 25_557_032);
    let v1 = get_weight("ResNet50_Weights.IMAGENET1K_V1").unwrap();
    assert_eq!(v1.num_params, 25_557_032);
    assert_ne!(v1.file, w.file);
    assert_eq!(get_model_weights("resnet50").unwrap().len(), 2);
    // The feature-extraction weights: no categories, DEFAULT stays V1.
    let f = get_weight("VGG16_Weights.IMAGENET1K_FEATURES").unwrap();
    assert!(f.category_names().is_empty() && f.metrics[0].1.is_nan());
    assert_eq!(get_weight("VGG16_Weights.DEFAULT").unwrap().member, "IMAGENET1K_V1");
    assert_eq!(w.full_name(), "ResNet50_Weights.IMAGENET1K_V2");
}

#[test]
fn get_weight_errors_name_what_was_wrong() {
    for bad in ["ResNet50_Weights", "ResNet50_Weights.IMAGENET1K_V2.x", "Nope_Weights.DEFAULT"] {
        let e = get_weight(bad).unwrap_err();
        assert!(matches!(e, ZooError::UnknownWeights(_)), "{bad}: {e}");
    }
    let e = get_weight("ResNet50_Weights.NOPE").unwrap_err().to_string();
    assert!(e.contains("NOPE") && e.contains("IMAGENET1K_V1"), "{e}");
}

#[test]
fn get_model_lookups_and_errors() {
    let e = get_model("nope", None, &ModelConfig::default()).err().unwrap();
    assert_eq!(e.to_string(), "Unknown model nope");
    // Names are lower-cased first.
    let m = nn::skip_init(|| get_model("SqueezeNet1_1", None, &ModelConfig::default())).unwrap();
    assert!(m.state_dict().contains_key("features.0.weight"));
    // Weights fix num_classes; a conflicting value is refused.
    let cfg = ModelConfig { num_classes: Some(10), ..ModelConfig::default() };
    let e = get_model("resnet18", Some("DEFAULT"), &cfg).err().unwrap().to_string();
    assert!(e.contains("num_classes 10") && e.contains("ResNet18_Weights.IMAGENET1K_V1"), "{e}");
    // Weights of another model are refused.
    let e = get_model("resnet18", Some("ResNet50_Weights.DEFAULT"), &ModelConfig::default());
    assert!(matches!(e.err().unwrap(), ZooError::UnknownWeights(_)));
}

#[test]
fn a_missing_weights_file_says_where_it_looked_and_how_to_convert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.safetensors");
    let cfg = ModelConfig { weights_path: Some(path.clone()), ..ModelConfig::default() };
    let e = nn::skip_init(|| get_model("squeezenet1_1", Some("DEFAULT"), &cfg)).err().unwrap();
    let msg = e.to_string();
    assert!(matches!(e, ZooError::MissingWeightsFile { .. }), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("save_file") && msg.contains(".pth"), "{msg}");
}

#[test]
fn every_entry_carries_complete_metadata() {
    for e in registry() {
        let d = e.default_weights().unwrap_or_else(|| panic!("{}: no DEFAULT", e.name));
        for w in &e.weights {
            let name = w.full_name();
            assert!(!w.file.is_empty() && w.num_params > 0, "{name}");
            assert!(w.gflops > 0.0 && w.file_size_mib > 0.0, "{name}");
            assert!(!w.metrics.is_empty() && !w.recipe.is_empty(), "{name}");
            let classes = w.category_names().len();
            match (e.task, w.categories) {
                (Task::Classification, Categories::ImageNet) => assert_eq!(classes, 1000),
                (Task::Segmentation, Categories::Voc) => assert_eq!(classes, 21),
                (_, Categories::None) => {
                    assert_eq!(name, "VGG16_Weights.IMAGENET1K_FEATURES");
                    assert_eq!(classes, 0);
                }
                _ => panic!("{name}: categories do not fit the task"),
            }
            assert!(get_weight(&name).is_ok(), "{name} resolves");
        }
        assert_eq!(d.enum_name, e.weights_enum());
        assert!(zoo::model_entry(e.name).is_ok());
    }
}
