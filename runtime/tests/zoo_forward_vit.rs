//! Forwards of the transformer-era zoo families on random weights, and
//! their building blocks against hand-worked examples: Swin's cyclic
//! shift, window partition / reverse, shifted-window mask, relative
//! position index, v2's continuous position bias; MaxViT's partitions;
//! stochastic depth. No PyTorch here, so the forward tests check
//! properties a wrong implementation breaks: output shapes, batch rows
//! computed independently, locality of window attention.

use std::collections::BTreeMap;

use smelt_compiler::ir::DType;
use smelt_runtime::nn::Module;
use smelt_runtime::tensor::{Generator, Tensor};
use smelt_runtime::zoo::convnext::{ConvNextConfig, convnext};
use smelt_runtime::zoo::maxvit::{
    MaxVitConfig, maxvit, maxvit_departition, maxvit_partition, maxvit_relative_position_index,
};
use smelt_runtime::zoo::swin::{SwinConfig, patch_merging_pad, swin_transformer};
use smelt_runtime::zoo::swin_attention::{
    MASKED, continuous_position_bias, relative_coords_table, relative_position_index, roll,
    shifted_window_attention, shifted_window_attention_v2, shifted_window_mask, window_partition,
    window_reverse,
};
use smelt_runtime::zoo::transformer_parts::StochasticDepth;
use smelt_runtime::zoo::vit::{VitConfig, vision_transformer};
use smelt_runtime::zoo::{ModelConfig, get_model};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, DType::F32, &mut Generator::new(seed)).unwrap()
}

fn vals(t: &Tensor) -> Vec<f32> {
    t.contiguous().unwrap().to_vec::<f32>().unwrap()
}

fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|v| v as f32).collect::<Vec<f32>>(), shape).unwrap()
}

/// Runs `m` on a batch of two and on each sample alone: the rows must
/// agree (no mixing across the batch in the reshapes / permutes), and the
/// two samples must give different outputs. Returns the batch output.
fn check_batch_rows(m: &mut dyn Module, x: &Tensor, classes: usize) -> Tensor {
    m.eval();
    let y = m.forward(x).unwrap();
    assert_eq!(y.shape(), [2, classes]);
    let all = vals(&y);
    assert!(all.iter().all(|v| v.is_finite()));
    for i in 0..2 {
        let yi = vals(&m.forward(&x.narrow(0, i, 1).unwrap()).unwrap());
        let row = &all[i * classes..(i + 1) * classes];
        let err = yi.iter().zip(row).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < 1e-4, "row {i} differs from its single-sample run by {err}");
    }
    let diff =
        all[..classes].iter().zip(&all[classes..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(diff > 1e-6, "two different inputs gave the same logits");
    y
}

#[test]
fn roll_moves_elements_like_torch_roll() {
    let x = iota(&[5]);
    assert_eq!(vals(&roll(&x, 2, 0).unwrap()), [3.0, 4.0, 0.0, 1.0, 2.0]);
    assert_eq!(vals(&roll(&x, -2, 0).unwrap()), [2.0, 3.0, 4.0, 0.0, 1.0]);
    assert_eq!(vals(&roll(&x, 5, 0).unwrap()), [0.0, 1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn window_partition_orders_windows_and_tokens_row_major_and_reverses() {
    // [1, 4, 4, 1] holding 0..16 row-major; 2x2 windows.
    let x = iota(&[1, 4, 4, 1]);
    let w = window_partition(&x, [2, 2]).unwrap();
    assert_eq!(w.shape(), [4, 4, 1]);
    assert_eq!(
        vals(&w),
        [0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0, 12.0, 13.0, 10.0, 11.0, 14.0, 15.0]
    );
    // Round trip on a batch of 2, non-square windows, several channels.
    let x = randn(&[2, 6, 8, 3], 1);
    let w = window_partition(&x, [3, 4]).unwrap();
    assert_eq!(w.shape(), [2 * 4, 12, 3]);
    assert_eq!(vals(&window_reverse(&w, [3, 4], 6, 8).unwrap()), vals(&x));
    assert!(window_partition(&x, [4, 4]).is_err());
    assert!(window_reverse(&w, [3, 4], 6, 7).is_err());
}

#[test]
fn shifted_window_mask_matches_a_hand_built_example() {
    // 4x4 map, 2x2 windows, shift 1: row regions [0,2) [2,3) [3,4), the
    // same for columns; label = 3·row_region + col_region.
    let m = shifted_window_mask([4, 4], [2, 2], [1, 1]).unwrap();
    assert_eq!(m.shape(), [4, 4, 4]);
    let v = vals(&m);
    let x = MASKED;
    let expect: [[f32; 16]; 4] = [
        // window (0,0): labels 0 0 0 0.
        [0.0; 16],
        // window (0,1): labels 1 2 1 2.
        [0.0, x, 0.0, x, x, 0.0, x, 0.0, 0.0, x, 0.0, x, x, 0.0, x, 0.0],
        // window (1,0): labels 3 3 6 6.
        [0.0, 0.0, x, x, 0.0, 0.0, x, x, x, x, 0.0, 0.0, x, x, 0.0, 0.0],
        // window (1,1): labels 4 5 7 8, all distinct.
        [0.0, x, x, x, x, 0.0, x, x, x, x, 0.0, x, x, x, x, 0.0],
    ];
    for (w, e) in expect.iter().enumerate() {
        assert_eq!(&v[w * 16..(w + 1) * 16], e, "window {w}");
    }
}

#[test]
fn relative_position_index_matches_a_hand_built_example() {
    // 2x2 window: index = (dh + 1) · 3 + (dw + 1).
    assert_eq!(relative_position_index([2, 2]), [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]);
    let m = maxvit_relative_position_index(2).unwrap();
    assert_eq!(m.shape(), [4, 4]);
    assert_eq!(m.to_vec::<i64>().unwrap(), relative_position_index([2, 2]));
    // 7x7: every index in range, the diagonal at the table's centre.
    let idx = relative_position_index([7, 7]);
    assert_eq!(idx.len(), 2401);
    assert!(idx.iter().all(|&i| (0..169).contains(&i)));
    assert!((0..49).all(|i| idx[i * 49 + i] == 84));
}

#[test]
fn swin_v2_continuous_position_bias_shapes_and_values() {
    let t = relative_coords_table([8, 8]).unwrap();
    assert_eq!(t.shape(), [1, 15, 15, 2]);
    let v = vals(&t);
    let edge = 9f32.log2() / 3.0;
    assert!((v[0] + edge).abs() < 1e-6 && (v[1] + edge).abs() < 1e-6, "corner {:?}", &v[..2]);
    let centre = (7 * 15 + 7) * 2;
    assert_eq!(&v[centre..centre + 2], [0.0, 0.0]);
    let last = v.len() - 2;
    assert!((v[last] - edge).abs() < 1e-6 && (v[last + 1] - edge).abs() < 1e-6);
    // The bias of a 3-head layer: [1, 3, 64, 64], 16·sigmoid in (0, 16).
    let mut attn =
        shifted_window_attention_v2(12, [8, 8], [0, 0], 3, &mut Generator::new(3)).unwrap();
    let bias = continuous_position_bias(attn.parts_mut(), [8, 8]).unwrap();
    assert_eq!(bias.shape(), [1, 3, 64, 64]);
    assert!(vals(&bias).iter().all(|&b| b > 0.0 && b < 16.0));
    // Tokens at the same offset share a bias: (0,0)->(0,1) and (3,3)->(3,4).
    let b = vals(&bias);
    assert_eq!(b[1], b[(3 * 8 + 3) * 64 + 3 * 8 + 4]);
    let y = attn.forward(&randn(&[2, 10, 9, 12], 4)).unwrap();
    assert_eq!(y.shape(), [2, 10, 9, 12]);
}

/// Where the attention's output changes when input pixel (0, 0) does.
fn changed_by_corner(shift: [usize; 2]) -> Vec<(usize, usize)> {
    let mut attn = shifted_window_attention(8, [7, 7], shift, 2, &mut Generator::new(5)).unwrap();
    let x = randn(&[1, 14, 14, 8], 6);
    let mut bumped = vals(&x);
    for v in &mut bumped[..8] {
        *v += 1.0;
    }
    let x2 = Tensor::from_vec(bumped, &[1, 14, 14, 8]).unwrap();
    let (a, b) = (vals(&attn.forward(&x).unwrap()), vals(&attn.forward(&x2).unwrap()));
    let mut out = Vec::new();
    for r in 0..14 {
        for c in 0..14 {
            let at = (r * 14 + c) * 8;
            if (0..8).any(|k| a[at + k] != b[at + k]) {
                out.push((r, c));
            }
        }
    }
    out
}

#[test]
fn window_attention_is_local_to_its_window_and_shifted_region() {
    // No shift: pixel (0,0) only reaches window [0,7)x[0,7).
    let plain = changed_by_corner([0, 0]);
    let want: Vec<(usize, usize)> = (0..7).flat_map(|r| (0..7).map(move |c| (r, c))).collect();
    assert_eq!(plain, want);
    // Shift 3: (0,0) is rolled into the bottom-right window, where the mask
    // keeps it with the pixels that came from the same wrapped-around
    // corner: rows and columns [0, 3) of the image.
    let shifted = changed_by_corner([3, 3]);
    let want: Vec<(usize, usize)> = (0..3).flat_map(|r| (0..3).map(move |c| (r, c))).collect();
    assert_eq!(shifted, want);
}

#[test]
fn patch_merging_interleaves_like_torchvision() {
    // [1, 2, 2, 1] = [[0, 1], [2, 3]] → x0 = (0,0), x1 = (1,0), x2 = (0,1), x3 = (1,1).
    let y = patch_merging_pad(&iota(&[1, 2, 2, 1])).unwrap();
    assert_eq!(y.shape(), [1, 1, 1, 4]);
    assert_eq!(vals(&y), [0.0, 2.0, 1.0, 3.0]);
    // Odd sizes are zero-padded.
    let y = patch_merging_pad(&iota(&[1, 3, 3, 1])).unwrap();
    assert_eq!(y.shape(), [1, 2, 2, 4]);
    assert_eq!(&vals(&y)[12..], [8.0, 0.0, 0.0, 0.0]);
}

#[test]
fn maxvit_partition_round_trips() {
    let x = iota(&[1, 1, 4, 4]);
    let p = maxvit_partition(&x, 2).unwrap();
    assert_eq!(p.shape(), [1, 4, 4, 1]);
    assert_eq!(&vals(&p)[..8], [0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]);
    let x = randn(&[2, 3, 6, 6], 7);
    let p = maxvit_partition(&x, 3).unwrap();
    assert_eq!(vals(&maxvit_departition(&p, 3, 2, 2).unwrap()), vals(&x));
}

#[test]
fn stochastic_depth_drops_whole_rows_in_training_only() {
    let x = Tensor::ones(&[2000, 3], DType::F32).unwrap();
    let mut sd = StochasticDepth::new(0.5, 9).unwrap();
    let y = vals(&sd.forward(&x).unwrap());
    let mut dropped = 0;
    for row in y.chunks(3) {
        assert!(row == [0.0; 3] || row == [2.0; 3], "row {row:?}");
        dropped += usize::from(row[0] == 0.0);
    }
    assert!((800..1200).contains(&dropped), "{dropped} of 2000 rows dropped at p = 0.5");
    // Seeded: a fresh module with the same seed draws the same rows.
    let again = vals(&StochasticDepth::new(0.5, 9).unwrap().forward(&x).unwrap());
    assert_eq!(again, y);
    sd.eval();
    assert_eq!(vals(&sd.forward(&x).unwrap()), vals(&x));
    assert!(StochasticDepth::new(1.5, 0).is_err());
}

#[test]
fn convnext_forward() {
    let cfg = ConvNextConfig {
        stages: vec![(8, Some(16), 1), (16, None, 2)],
        stochastic_depth_prob: 0.1,
        layer_scale: 0.5,
    };
    let mut m = convnext(&cfg, 5, 11).unwrap();
    check_batch_rows(&mut m, &randn(&[2, 3, 32, 32], 12), 5);
    // The registered convnext_tiny at 64x64.
    let cfg = ModelConfig { num_classes: Some(7), ..Default::default() };
    let mut m = get_model("convnext_tiny", None, &cfg).unwrap();
    m.eval();
    let y = m.forward(&randn(&[1, 3, 64, 64], 13)).unwrap();
    assert_eq!(y.shape(), [1, 7]);
    assert!(vals(&y).iter().all(|v| v.is_finite()));
}

#[test]
fn vit_forward() {
    let cfg = VitConfig {
        image_size: 32,
        patch_size: 8,
        num_layers: 2,
        num_heads: 2,
        hidden_dim: 16,
        mlp_dim: 32,
    };
    let mut m = vision_transformer(&cfg, 6, 21).unwrap();
    m.eval();
    let x = randn(&[2, 3, 32, 32], 22);
    // TorchVision zero-initialises the head.
    assert!(vals(&m.forward(&x).unwrap()).iter().all(|&v| v == 0.0));
    let mut head = BTreeMap::new();
    head.insert("heads.head.weight".to_string(), randn(&[6, 16], 23));
    head.insert("heads.head.bias".to_string(), randn(&[6], 24));
    let report = m.load_state_dict(&head, false).unwrap();
    assert!(report.unexpected_keys.is_empty());
    check_batch_rows(&mut m, &x, 6);
    // The position embedding fixes the input side.
    assert!(m.forward(&randn(&[1, 3, 40, 40], 25)).is_err());
    assert!(vision_transformer(&VitConfig { image_size: 30, ..cfg }, 6, 0).is_err());
}

#[test]
fn swin_forward() {
    for v2 in [false, true] {
        let cfg = SwinConfig {
            patch_size: 4,
            embed_dim: 8,
            depths: vec![2, 2],
            num_heads: vec![2, 4],
            window_size: [4, 4],
            stochastic_depth_prob: 0.1,
            v2,
        };
        let mut m = swin_transformer(&cfg, 5, 31).unwrap();
        check_batch_rows(&mut m, &randn(&[2, 3, 36, 36], 32), 5);
    }
    // The registered swin_t at 64x64 (windows padded in the last stages).
    let cfg = ModelConfig { num_classes: Some(3), ..Default::default() };
    let mut m = get_model("swin_t", None, &cfg).unwrap();
    m.eval();
    let y = m.forward(&randn(&[1, 3, 64, 64], 33)).unwrap();
    assert_eq!(y.shape(), [1, 3]);
    assert!(vals(&y).iter().all(|v| v.is_finite()));
}

#[test]
fn maxvit_forward() {
    let cfg = MaxVitConfig {
        input_size: 64,
        stem_channels: 8,
        partition_size: 2,
        block_channels: vec![8, 16, 16, 32],
        block_layers: vec![1, 2, 1, 1],
        head_dim: 8,
        stochastic_depth_prob: 0.2,
    };
    let mut m = maxvit(&cfg, 4, 41).unwrap();
    check_batch_rows(&mut m, &randn(&[2, 3, 64, 64], 42), 4);
    // Every block input must be a multiple of the partition size.
    assert!(maxvit(&MaxVitConfig { input_size: 48, ..cfg }, 4, 0).is_err());
}

#[test]
fn conv_kernel_wider_than_the_input() {
    // ConvNeXt's 7x7 depthwise conv (padding 3) on a 2x2 map: every tap of
    // every output that lands inside the input reads it; with all-ones
    // weights each output is the sum of the 4 inputs. Dense (im2col) too.
    use smelt_runtime::functional::{avg_pool2d, conv2d};
    let x =
        Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[1, 2, 2, 2]).unwrap();
    let w = Tensor::ones(&[2, 1, 7, 7], DType::F32).unwrap();
    let y = conv2d(&x, &w, None, [1, 1], [3, 3], [1, 1], 2).unwrap();
    assert_eq!(vals(&y), [10.0, 10.0, 10.0, 10.0, 26.0, 26.0, 26.0, 26.0]);
    let w = Tensor::ones(&[1, 2, 7, 7], DType::F32).unwrap();
    let y = conv2d(&x, &w, None, [1, 1], [3, 3], [1, 1], 1).unwrap();
    assert_eq!(vals(&y), [36.0; 4]);
    // Average pooling with a window wider than the input: 3x3 window,
    // padding 1, on a 1x1 map sees one real value of 9 cells.
    let x = Tensor::from_vec(vec![9.0f32], &[1, 1, 1, 1]).unwrap();
    let y = avg_pool2d(&x, [3, 3], Some([2, 2]), [1, 1], true).unwrap();
    assert_eq!(vals(&y), [1.0]);
}

#[test]
fn registered_models_at_their_weights_input_size() {
    // The sizes TorchVision's weights are evaluated at (MaxViT only takes
    // sides whose block inputs are multiples of 7; ViT only its own side).
    for (name, side) in [("vit_b_32", 224), ("maxvit_t", 224), ("swin_v2_t", 256)] {
        let mut m = get_model(name, None, &ModelConfig::default()).unwrap();
        m.eval();
        let y = m.forward(&randn(&[1, 3, side, side], 51)).unwrap();
        assert_eq!(y.shape(), [1, 1000], "{name}");
        assert!(vals(&y).iter().all(|v| v.is_finite()), "{name}");
    }
    assert!(
        get_model("maxvit_t", None, &ModelConfig { image_size: Some(192), ..Default::default() })
            .is_err()
    );
}

#[test]
fn swin_v2_checkpoint_loads_by_name_through_get_model() {
    // A checkpoint written from one model (parameters and the i64 / f32
    // buffers) loads strictly into a fresh one through get_model's weights path.
    let src =
        get_model("swin_v2_t", None, &ModelConfig { seed: 61, ..Default::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swin_v2_t-b137f0e2.safetensors");
    smelt_runtime::io::state_dict::save_state_dict(&path, &src.state_dict()).unwrap();
    let cfg = ModelConfig { weights_path: Some(path), ..Default::default() };
    let mut m = get_model("swin_v2_t", Some("DEFAULT"), &cfg).unwrap();
    let (a, b) = (src.state_dict(), m.state_dict());
    for key in
        ["features.1.0.attn.qkv.weight", "features.5.3.attn.relative_coords_table", "head.bias"]
    {
        assert_eq!(vals(&a[key]), vals(&b[key]), "{key}");
    }
    let idx = "features.7.1.attn.relative_position_index";
    assert_eq!(b[idx].dtype(), DType::I64);
    assert_eq!(a[idx].to_vec::<i64>().unwrap(), b[idx].to_vec::<i64>().unwrap());
    m.eval();
    let y = m.forward(&randn(&[1, 3, 64, 64], 62)).unwrap();
    assert_eq!(y.shape(), [1, 1000]);
}

#[test]
fn bad_window_settings_are_errors() {
    let mut rng = Generator::new(0);
    assert!(shifted_window_attention(8, [0, 7], [0, 0], 2, &mut rng).is_err());
    assert!(shifted_window_attention(8, [7, 7], [0, 0], 3, &mut rng).is_err());
    assert!(shifted_window_attention_v2(8, [8, 8], [0, 0], 0, &mut rng).is_err());
    assert!(relative_coords_table([0, 8]).is_err());
    assert!(shifted_window_mask([8, 8], [3, 3], [1, 1]).is_err());
}
