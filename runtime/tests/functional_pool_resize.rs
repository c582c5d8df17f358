//! `adaptive_avg_pool2d`, `max_pool2d_ceil` and `interpolate_bilinear`
//! against hand-computed values and naive f64 references of PyTorch's
//! rules, plus gradchecks (they are built from differentiable ops).

use smelt_compiler::ir::DType;
use smelt_runtime::autograd::{GradcheckOptions, gradcheck};
use smelt_runtime::functional::{adaptive_avg_pool2d, interpolate_bilinear, max_pool2d_ceil};
use smelt_runtime::tensor::{Generator, Tensor};

fn randn(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
    Tensor::randn(shape, dtype, &mut Generator::new(seed)).unwrap()
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w}");
    }
}

/// PyTorch's adaptive average pool over `[planes, h, w]`, in f64.
fn adaptive_ref(x: &[f64], planes: usize, h: usize, w: usize, oh: usize, ow: usize) -> Vec<f64> {
    let bin = |i: usize, len: usize, out: usize| (i * len / out, ((i + 1) * len).div_ceil(out));
    let mut y = Vec::new();
    for p in 0..planes {
        for i in 0..oh {
            for j in 0..ow {
                let ((h0, h1), (w0, w1)) = (bin(i, h, oh), bin(j, w, ow));
                let mut s = 0.0;
                for r in h0..h1 {
                    for c in w0..w1 {
                        s += x[p * h * w + r * w + c];
                    }
                }
                y.push(s / ((h1 - h0) * (w1 - w0)) as f64);
            }
        }
    }
    y
}

#[test]
fn adaptive_avg_pool_follows_pytorch_bins() {
    // Uneven bins (overlapping), exact tiling, 1×1, and more bins than inputs.
    for (h, w, oh, ow) in [(5, 7, 3, 4), (4, 6, 2, 3), (5, 3, 1, 1), (2, 3, 5, 5), (7, 7, 7, 7)] {
        let x = randn(&[2, 3, h, w], DType::F32, 1);
        let y = adaptive_avg_pool2d(&x, [oh, ow]).unwrap();
        assert_eq!(y.shape(), &[2, 3, oh, ow]);
        let want = adaptive_ref(&x.to_f64_vec(), 6, h, w, oh, ow);
        close(&format!("{h}x{w}->{oh}x{ow}"), &y.to_f64_vec(), &want, 1e-6);
    }
    // A 3-D input and a hand-computed case: bins {0,1},{1,2} of [1, 2, 4].
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 4.0], &[1, 1, 3]).unwrap();
    let y = adaptive_avg_pool2d(&x, [1, 2]).unwrap();
    close("hand", &y.to_f64_vec(), &[1.5, 3.0], 0.0);
    assert!(adaptive_avg_pool2d(&x, [0, 2]).is_err());
    assert!(adaptive_avg_pool2d(&Tensor::ones(&[3, 3], DType::F32).unwrap(), [1, 1]).is_err());
}

#[test]
fn adaptive_avg_pool_gradients() {
    for (h, w, oh, ow) in [(5, 7, 3, 4), (4, 6, 2, 3), (3, 2, 1, 1)] {
        let x = randn(&[1, 2, h, w], DType::F64, 2).requires_grad_(true).unwrap();
        gradcheck(|t| adaptive_avg_pool2d(&t[0], [oh, ow]), &[x], GradcheckOptions::default())
            .unwrap();
    }
}

/// PyTorch's bilinear resize of `[planes, h, w]`, in f64.
fn bilinear_ref(
    x: &[f64],
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    ac: bool,
) -> Vec<f64> {
    let src = |i: usize, len: usize, out: usize| -> (usize, usize, f64) {
        let s = if ac {
            if out > 1 { i as f64 * (len - 1) as f64 / (out - 1) as f64 } else { 0.0 }
        } else {
            ((i as f64 + 0.5) * len as f64 / out as f64 - 0.5).max(0.0)
        };
        let i0 = s.floor() as usize;
        let i1 = (i0 + 1).min(len - 1);
        (i0, i1, s - i0 as f64)
    };
    let mut y = Vec::new();
    for p in 0..planes {
        for i in 0..oh {
            let (r0, r1, a) = src(i, h, oh);
            for j in 0..ow {
                let (c0, c1, b) = src(j, w, ow);
                let at = |r: usize, c: usize| x[p * h * w + r * w + c];
                let top = at(r0, c0) * (1.0 - b) + at(r0, c1) * b;
                let bot = at(r1, c0) * (1.0 - b) + at(r1, c1) * b;
                y.push(top * (1.0 - a) + bot * a);
            }
        }
    }
    y
}

#[test]
fn bilinear_matches_hand_values() {
    let x = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 3.0], &[1, 1, 2, 2]).unwrap();
    let y = interpolate_bilinear(&x, [4, 4], false).unwrap();
    #[rustfmt::skip]
    let want = [
        0.0, 0.25, 0.75, 1.0,
        0.5, 0.75, 1.25, 1.5,
        1.5, 1.75, 2.25, 2.5,
        2.0, 2.25, 2.75, 3.0,
    ];
    close("2x2->4x4", &y.to_f64_vec(), &want, 1e-7);
    let y = interpolate_bilinear(&x, [3, 3], true).unwrap();
    close("align_corners", &y.to_f64_vec(), &[0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0], 1e-7);
}

#[test]
fn bilinear_matches_the_reference() {
    for (h, w, oh, ow) in [(5, 7, 9, 3), (8, 8, 3, 5), (1, 4, 3, 1), (6, 5, 6, 5)] {
        for ac in [false, true] {
            let x = randn(&[2, 2, h, w], DType::F64, 3);
            let y = interpolate_bilinear(&x, [oh, ow], ac).unwrap();
            assert_eq!(y.shape(), &[2, 2, oh, ow]);
            let want = bilinear_ref(&x.to_f64_vec(), 4, h, w, oh, ow, ac);
            close(&format!("{h}x{w}->{oh}x{ow} ac={ac}"), &y.to_f64_vec(), &want, 1e-12);
        }
    }
    assert!(
        interpolate_bilinear(&Tensor::ones(&[2, 2], DType::F32).unwrap(), [3, 3], false).is_err()
    );
}

#[test]
fn bilinear_gradients() {
    let x = randn(&[1, 2, 3, 4], DType::F64, 4).requires_grad_(true).unwrap();
    let opts = GradcheckOptions::default();
    gradcheck(|t| interpolate_bilinear(&t[0], [5, 7], false), std::slice::from_ref(&x), opts)
        .unwrap();
    gradcheck(|t| interpolate_bilinear(&t[0], [2, 3], true), &[x], opts).unwrap();
}

#[test]
fn ceil_mode_max_pool_adds_the_partial_window() {
    // 6×6 arange, 3×3 stride 2: floor mode gives 2×2, ceil mode 3×3 whose
    // last row/column of windows hangs over the edge.
    let x = Tensor::from_vec((0..36).map(|v| v as f32).collect(), &[1, 1, 6, 6]).unwrap();
    let y = max_pool2d_ceil(&x, [3, 3], Some([2, 2]), [0, 0]).unwrap();
    assert_eq!(y.shape(), &[1, 1, 3, 3]);
    close("ceil", &y.to_f64_vec(), &[14.0, 16.0, 17.0, 26.0, 28.0, 29.0, 32.0, 34.0, 35.0], 0.0);
    // A window may not start in the right padding: 5 wide, k 2, s 2, pad 1
    // gives 3 (not 4) windows, as PyTorch.
    let x = Tensor::from_vec((0..25).map(|v| v as f32).collect(), &[1, 1, 5, 5]).unwrap();
    let y = max_pool2d_ceil(&x, [2, 2], Some([2, 2]), [1, 1]).unwrap();
    assert_eq!(y.shape(), &[1, 1, 3, 3]);
    close("pad", &y.to_f64_vec(), &[0.0, 2.0, 4.0, 10.0, 12.0, 14.0, 20.0, 22.0, 24.0], 0.0);
}

#[test]
fn conv_with_dilation_wider_than_the_input() {
    // ASPP's rate-36 convolutions on small maps: only the centre tap lands
    // inside a 3×3 input, so the output is the input times that weight.
    let x = randn(&[1, 2, 3, 3], DType::F32, 5);
    let w = randn(&[1, 2, 3, 3], DType::F32, 6);
    let y = smelt_runtime::functional::conv2d(&x, &w, None, [1, 1], [36, 36], [36, 36], 1).unwrap();
    assert_eq!(y.shape(), &[1, 1, 3, 3]);
    let (xv, wv) = (x.to_f64_vec(), w.to_f64_vec());
    let want: Vec<f64> = (0..9).map(|p| xv[p] * wv[4] + xv[9 + p] * wv[13]).collect();
    close("dilated", &y.to_f64_vec(), &want, 1e-6);
}
