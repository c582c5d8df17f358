//! The transformer-era zoo families (convnext, vit, swin, swin_v2, maxvit):
//! parameter counts against ZOO.md's table (TorchVision's `num_params`),
//! TorchVision's state-dict names and shapes (parameters and buffers), and
//! the weights metadata read from TorchVision 0.29.2's model files.

use smelt_compiler::ir::DType;
use smelt_runtime::nn::{Kind, Module, skip_init};
use smelt_runtime::zoo::{
    Interpolation, ModelConfig, get_model_weights, get_weight, list_models, model_entry,
};

/// ZOO.md's `num_params` of each builder's default weights.
const ZOO_MD: &[(&str, u64)] = &[
    ("convnext_tiny", 28_589_128),
    ("convnext_small", 50_223_688),
    ("convnext_base", 88_591_464),
    ("convnext_large", 197_767_336),
    ("vit_b_16", 86_567_656),
    ("vit_b_32", 88_224_232),
    ("vit_l_16", 304_326_632),
    ("vit_l_32", 306_535_400),
    ("vit_h_14", 633_470_440),
    ("swin_t", 28_288_354),
    ("swin_s", 49_606_258),
    ("swin_b", 87_768_224),
    ("swin_v2_t", 28_351_570),
    ("swin_v2_s", 49_737_442),
    ("swin_v2_b", 87_930_848),
    ("maxvit_t", 30_919_624),
];

/// Builds `name` (zero-filled, `skip_init`) as `get_model` does for
/// weights of input side `side` and 1000 classes.
fn build(name: &str, side: usize) -> Box<dyn Module> {
    let entry = model_entry(name).unwrap();
    let cfg = ModelConfig { num_classes: Some(1000), image_size: Some(side), ..Default::default() };
    skip_init(|| (entry.build)(&cfg)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn param_count(m: &dyn Module) -> u64 {
    m.named_parameters().iter().map(|(_, t)| t.numel() as u64).sum()
}

#[test]
fn every_model_matches_zoo_md_and_its_default_weights() {
    let listed = list_models(None, &["convnext_*", "vit_*", "swin_*", "maxvit_*"], &[]).unwrap();
    let want: Vec<&str> = {
        let mut v: Vec<&str> = ZOO_MD.iter().map(|(n, _)| *n).collect();
        v.sort();
        v
    };
    assert_eq!(listed, want);
    for &(name, zoo) in ZOO_MD {
        let entry = model_entry(name).unwrap();
        let w = entry.default_weights().unwrap_or_else(|| panic!("{name}: no DEFAULT"));
        assert_eq!(w.num_params, zoo, "{name}: default weights' num_params");
        let m = build(name, w.min_size[0]);
        assert_eq!(param_count(m.as_ref()), zoo, "{name}: parameters of the built model");
    }
}

#[test]
fn every_weights_member_matches_the_model_built_for_it() {
    // ViT's SWAG members are at other input sides, so they differ in the
    // position embedding; every member must load into the model built at
    // its own min_size.
    for &(name, _) in ZOO_MD {
        for w in get_model_weights(name).unwrap() {
            let m = build(name, w.min_size[0]);
            assert_eq!(param_count(m.as_ref()), w.num_params, "{}", w.full_name());
        }
    }
    // TorchVision's vit_h_14 without weights is built at 224.
    let m = build("vit_h_14", 224);
    assert_eq!(param_count(m.as_ref()), 632_045_800);
}

/// `(name, kind, shape, dtype)` of the state-dict entry `key` of `m`.
fn entry_of(m: &dyn Module, key: &str) -> (Kind, Vec<usize>, DType) {
    let all = m.named_tensors();
    let (_, k, t) = all.iter().find(|(n, _, _)| n == key).unwrap_or_else(|| {
        panic!(
            "no {key}; first names: {:?}",
            &all.iter().map(|x| &x.0).take(12).collect::<Vec<_>>()
        )
    });
    (*k, t.shape().to_vec(), t.dtype())
}

fn check(m: &dyn Module, key: &str, kind: Kind, shape: &[usize], dtype: DType) {
    assert_eq!(entry_of(m, key), (kind, shape.to_vec(), dtype), "{key}");
}

const P: Kind = Kind::Parameter;
const B: Kind = Kind::Buffer;
const F: DType = DType::F32;

#[test]
fn convnext_state_dict_names() {
    let m = build("convnext_tiny", 224);
    let names: Vec<String> = m.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(
        &names[..12],
        [
            "features.0.0.weight",
            "features.0.0.bias",
            "features.0.1.weight",
            "features.0.1.bias",
            "features.1.0.layer_scale",
            "features.1.0.block.0.weight",
            "features.1.0.block.0.bias",
            "features.1.0.block.2.weight",
            "features.1.0.block.2.bias",
            "features.1.0.block.3.weight",
            "features.1.0.block.3.bias",
            "features.1.0.block.5.weight",
        ]
    );
    check(m.as_ref(), "features.0.0.weight", P, &[96, 3, 4, 4], F);
    check(m.as_ref(), "features.1.0.layer_scale", P, &[96, 1, 1], F);
    check(m.as_ref(), "features.1.2.block.0.weight", P, &[96, 1, 7, 7], F);
    check(m.as_ref(), "features.2.0.weight", P, &[96], F);
    check(m.as_ref(), "features.2.1.weight", P, &[192, 96, 2, 2], F);
    check(m.as_ref(), "features.5.8.block.3.weight", P, &[1536, 384], F);
    check(m.as_ref(), "features.7.2.block.5.bias", P, &[768], F);
    check(m.as_ref(), "classifier.0.weight", P, &[768], F);
    check(m.as_ref(), "classifier.2.weight", P, &[1000, 768], F);
    assert!(m.named_buffers().is_empty());
    // layer_scale starts at 1e-6 even under skip_init (it is a constant).
    let ls = m.state_dict()["features.3.1.layer_scale"].to_vec::<f32>().unwrap();
    assert!(ls.iter().all(|&v| v == 1e-6f32));
}

#[test]
fn vit_state_dict_names() {
    let m = build("vit_b_32", 224);
    let names: Vec<String> = m.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    let l0 = "encoder.layers.encoder_layer_0";
    assert_eq!(
        &names[..16],
        [
            "class_token".to_string(),
            "conv_proj.weight".into(),
            "conv_proj.bias".into(),
            "encoder.pos_embedding".into(),
            format!("{l0}.ln_1.weight"),
            format!("{l0}.ln_1.bias"),
            format!("{l0}.self_attention.in_proj_weight"),
            format!("{l0}.self_attention.in_proj_bias"),
            format!("{l0}.self_attention.out_proj.weight"),
            format!("{l0}.self_attention.out_proj.bias"),
            format!("{l0}.ln_2.weight"),
            format!("{l0}.ln_2.bias"),
            format!("{l0}.mlp.0.weight"),
            format!("{l0}.mlp.0.bias"),
            format!("{l0}.mlp.3.weight"),
            format!("{l0}.mlp.3.bias"),
        ]
    );
    assert_eq!(
        names[names.len() - 4..],
        ["encoder.ln.weight", "encoder.ln.bias", "heads.head.weight", "heads.head.bias"]
    );
    check(m.as_ref(), "class_token", P, &[1, 1, 768], F);
    check(m.as_ref(), "conv_proj.weight", P, &[768, 3, 32, 32], F);
    check(m.as_ref(), "encoder.pos_embedding", P, &[1, 50, 768], F);
    check(
        m.as_ref(),
        "encoder.layers.encoder_layer_11.self_attention.in_proj_weight",
        P,
        &[2304, 768],
        F,
    );
    check(m.as_ref(), "encoder.layers.encoder_layer_11.mlp.3.weight", P, &[768, 3072], F);
    assert!(m.named_buffers().is_empty());
    let h = build("vit_h_14", 518);
    check(h.as_ref(), "encoder.pos_embedding", P, &[1, 37 * 37 + 1, 1280], F);
}

#[test]
fn swin_state_dict_names_and_buffers() {
    let m = build("swin_t", 224);
    let names: Vec<String> = m.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    let b = "features.1.0";
    assert_eq!(
        &names[..12],
        [
            "features.0.0.weight".to_string(),
            "features.0.0.bias".into(),
            "features.0.2.weight".into(),
            "features.0.2.bias".into(),
            format!("{b}.norm1.weight"),
            format!("{b}.norm1.bias"),
            format!("{b}.attn.relative_position_bias_table"),
            format!("{b}.attn.relative_position_index"),
            format!("{b}.attn.qkv.weight"),
            format!("{b}.attn.qkv.bias"),
            format!("{b}.attn.proj.weight"),
            format!("{b}.attn.proj.bias"),
        ]
    );
    check(m.as_ref(), "features.1.0.attn.relative_position_bias_table", P, &[169, 3], F);
    check(m.as_ref(), "features.1.1.attn.relative_position_index", B, &[2401], DType::I64);
    check(m.as_ref(), "features.2.reduction.weight", P, &[192, 384], F);
    check(m.as_ref(), "features.2.norm.weight", P, &[384], F);
    check(m.as_ref(), "features.5.5.attn.qkv.weight", P, &[1152, 384], F);
    check(m.as_ref(), "features.7.1.mlp.3.weight", P, &[768, 3072], F);
    check(m.as_ref(), "norm.weight", P, &[768], F);
    check(m.as_ref(), "head.weight", P, &[1000, 768], F);
    // One index buffer per block (2 + 2 + 6 + 2).
    assert_eq!(m.named_buffers().len(), 12);

    let v2 = build("swin_v2_t", 256);
    let a = "features.1.0.attn";
    let names: Vec<String> = v2.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    let at = names.iter().position(|n| n.starts_with(a)).unwrap();
    assert_eq!(
        names[at..at + 8],
        [
            format!("{a}.logit_scale"),
            format!("{a}.relative_coords_table"),
            format!("{a}.relative_position_index"),
            format!("{a}.qkv.weight"),
            format!("{a}.qkv.bias"),
            format!("{a}.proj.weight"),
            format!("{a}.proj.bias"),
            format!("{a}.cpb_mlp.0.weight"),
        ]
    );
    check(v2.as_ref(), &format!("{a}.logit_scale"), P, &[3, 1, 1], F);
    check(v2.as_ref(), &format!("{a}.relative_coords_table"), B, &[1, 15, 15, 2], F);
    check(v2.as_ref(), &format!("{a}.relative_position_index"), B, &[4096], DType::I64);
    check(v2.as_ref(), &format!("{a}.cpb_mlp.0.bias"), P, &[512], F);
    check(v2.as_ref(), &format!("{a}.cpb_mlp.2.weight"), P, &[3, 512], F);
    assert!(!names.contains(&format!("{a}.cpb_mlp.2.bias")));
    check(v2.as_ref(), "features.6.norm.weight", P, &[768], F);
    assert_eq!(v2.named_buffers().len(), 24);
    // logit_scale starts at log(10) (a constant, also under skip_init).
    let ls = v2.state_dict()[&format!("{a}.logit_scale")].to_vec::<f32>().unwrap();
    assert!(ls.iter().all(|&v| (v - 10f32.ln()).abs() < 1e-6));
}

#[test]
fn maxvit_state_dict_names_and_buffers() {
    let m = build("maxvit_t", 224);
    let l = "blocks.0.layers.0.layers";
    check(m.as_ref(), "stem.0.0.weight", P, &[64, 3, 3, 3], F);
    check(m.as_ref(), "stem.0.1.running_var", B, &[64], F);
    check(m.as_ref(), "stem.1.0.bias", P, &[64], F);
    check(m.as_ref(), &format!("{l}.MBconv.proj.1.weight"), P, &[64, 64, 1, 1], F);
    check(
        m.as_ref(),
        &format!("{l}.MBconv.layers.pre_norm.num_batches_tracked"),
        B,
        &[],
        DType::I64,
    );
    check(m.as_ref(), &format!("{l}.MBconv.layers.conv_a.0.weight"), P, &[256, 64, 1, 1], F);
    check(m.as_ref(), &format!("{l}.MBconv.layers.conv_b.0.weight"), P, &[256, 1, 3, 3], F);
    check(
        m.as_ref(),
        &format!("{l}.MBconv.layers.squeeze_excitation.fc1.weight"),
        P,
        &[16, 256, 1, 1],
        F,
    );
    check(m.as_ref(), &format!("{l}.MBconv.layers.conv_c.bias"), P, &[64], F);
    let w = format!("{l}.window_attention");
    check(m.as_ref(), &format!("{w}.attn_layer.0.weight"), P, &[64], F);
    check(m.as_ref(), &format!("{w}.attn_layer.1.relative_position_bias_table"), P, &[169, 2], F);
    check(
        m.as_ref(),
        &format!("{w}.attn_layer.1.relative_position_index"),
        B,
        &[49, 49],
        DType::I64,
    );
    check(m.as_ref(), &format!("{w}.attn_layer.1.to_qkv.weight"), P, &[192, 64], F);
    check(m.as_ref(), &format!("{w}.attn_layer.1.merge.weight"), P, &[64, 64], F);
    check(m.as_ref(), &format!("{w}.mlp_layer.1.weight"), P, &[256, 64], F);
    check(
        m.as_ref(),
        "blocks.2.layers.4.layers.grid_attention.mlp_layer.3.weight",
        P,
        &[256, 1024],
        F,
    );
    check(m.as_ref(), "classifier.2.weight", P, &[512], F);
    check(m.as_ref(), "classifier.3.weight", P, &[512, 512], F);
    check(m.as_ref(), "classifier.5.weight", P, &[1000, 512], F);
    let names: Vec<String> = m.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    assert!(!names.contains(&"classifier.5.bias".to_string()));
    // A stride-1 layer with equal widths has no projection.
    assert!(!names.iter().any(|n| n.starts_with("blocks.0.layers.1.layers.MBconv.proj")));
    // 11 layers × 2 attentions index buffers + BN buffers.
    let idx =
        m.named_buffers().iter().filter(|(n, _)| n.ends_with("relative_position_index")).count();
    assert_eq!(idx, 22);
}

#[test]
fn weights_metadata_follows_torchvision() {
    let w = get_weight("ViT_H_14_Weights.DEFAULT").unwrap();
    assert_eq!(w.member, "IMAGENET1K_SWAG_E2E_V1");
    assert_eq!(w.file, "vit_h_14_swag-80465313");
    assert_eq!(w.min_size, [518, 518]);
    assert_eq!((w.transforms.resize, w.transforms.crop), (518, Some(518)));
    assert_eq!(w.transforms.interpolation, Interpolation::Bicubic);
    assert_eq!((w.gflops, w.file_size_mib), (1016.717, 2416.643));
    assert_eq!(w.metrics, &[("acc@1", 88.552), ("acc@5", 98.694)]);
    assert_eq!(w.recipe, "https://github.com/facebookresearch/SWAG");

    let w = get_weight("ViT_B_16_Weights.IMAGENET1K_SWAG_LINEAR_V1").unwrap();
    assert_eq!((w.num_params, w.min_size, w.transforms.resize), (86_567_656, [224, 224], 224));
    assert_eq!(w.recipe, "https://github.com/pytorch/vision/pull/5793");
    let w = get_weight("ViT_L_16_Weights.DEFAULT").unwrap();
    assert_eq!(
        (w.member, w.transforms.resize, w.transforms.interpolation),
        ("IMAGENET1K_V1", 242, Interpolation::Bilinear)
    );
    assert_eq!(get_model_weights("vit_l_16").unwrap().len(), 3);
    assert_eq!(get_model_weights("vit_b_32").unwrap().len(), 1);

    let w = get_weight("ConvNeXt_Tiny_Weights.DEFAULT").unwrap();
    assert_eq!(
        (w.file, w.min_size, w.transforms.resize, w.transforms.crop),
        ("convnext_tiny-983f1562", [32, 32], 236, Some(224))
    );
    assert_eq!((w.gflops, w.file_size_mib), (4.456, 109.119));

    let w = get_weight("Swin_V2_B_Weights.IMAGENET1K_V1").unwrap();
    assert_eq!((w.min_size, w.transforms.resize, w.transforms.crop), ([256, 256], 272, Some(256)));
    assert_eq!(w.transforms.interpolation, Interpolation::Bicubic);
    assert_eq!(w.metrics, &[("acc@1", 84.112), ("acc@5", 96.864)]);
    let w = get_weight("Swin_S_Weights.IMAGENET1K_V1").unwrap();
    assert_eq!((w.file, w.transforms.resize, w.gflops), ("swin_s-5e29d889", 246, 8.741));

    let w = get_weight("MaxVit_T_Weights.DEFAULT").unwrap();
    assert_eq!(
        (w.file, w.transforms.resize, w.transforms.crop),
        ("maxvit_t-bc5ab103", 224, Some(224))
    );
    assert_eq!((w.gflops, w.file_size_mib), (5.558, 118.769));
    assert!(get_weight("ViT_H_14_Weights.IMAGENET1K_V1").is_err());
}
