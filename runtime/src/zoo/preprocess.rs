//! Image preprocessing as a weights entry's transforms describe
//! (TorchVision's `ImageClassification`): resize the shorter side with an
//! antialiased filter, center-crop, scale to [0, 1], normalize per channel.
//!
//! The resize is PIL's separable resampling (the filter widened by the
//! downscale factor, weights normalised per output pixel), computed in f32
//! on the whole image; PIL rounds to 8 bits between its two passes, so
//! results differ from TorchVision's PIL path by at most about 1/255 before
//! normalisation.

use std::path::Path;

use super::error::ZooError;
use super::weights::{Interpolation, Transforms};
use crate::tensor::Tensor;

/// A decoded image: `[3, h, w]` f32 values in [0, 1], channel-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `3 * height * width` values, R plane, then G, then B.
    pub data: Vec<f32>,
}

impl Image {
    /// Decodes a PNG or JPEG file into RGB.
    pub fn open(path: &Path) -> Result<Image, ZooError> {
        let img = image::open(path).map_err(|e| ZooError::WeightsFile {
            path: path.to_path_buf(),
            detail: format!("cannot read the image: {e}"),
        })?;
        let rgb = img.to_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let mut data = vec![0f32; 3 * h * w];
        for (i, px) in rgb.pixels().enumerate() {
            for c in 0..3 {
                data[c * h * w + i] = f32::from(px.0[c]) / 255.0;
            }
        }
        Ok(Image { height: h, width: w, data })
    }

    /// This image resized to `height × width`.
    pub fn resize(&self, height: usize, width: usize, interp: Interpolation) -> Image {
        let (h, w) = (self.height, self.width);
        let rows = taps(h, height, interp);
        let cols = taps(w, width, interp);
        let mut data = vec![0f32; 3 * height * width];
        let mut tmp = vec![0f32; h * width];
        for c in 0..3 {
            let plane = &self.data[c * h * w..(c + 1) * h * w];
            // Horizontal pass into tmp [h, width], then vertical.
            for y in 0..h {
                for (x, (start, k)) in cols.iter().enumerate() {
                    let src = &plane[y * w + start..];
                    tmp[y * width + x] = k.iter().zip(src).map(|(a, b)| a * b).sum();
                }
            }
            let out = &mut data[c * height * width..(c + 1) * height * width];
            for (y, (start, k)) in rows.iter().enumerate() {
                for x in 0..width {
                    out[y * width + x] =
                        k.iter().enumerate().map(|(j, a)| a * tmp[(start + j) * width + x]).sum();
                }
            }
        }
        Image { height, width, data }
    }

    /// The central `size × size` region (TorchVision's `center_crop`:
    /// offsets `round((side - size) / 2)`, ties to even); errors when the
    /// image is smaller.
    pub fn center_crop(&self, size: usize) -> Result<Image, ZooError> {
        if self.height < size || self.width < size {
            return Err(ZooError::Config {
                model: "center_crop".into(),
                detail: format!(
                    "image {}x{} is smaller than the crop {size}",
                    self.height, self.width
                ),
            });
        }
        let top = round_half_even_half(self.height - size);
        let left = round_half_even_half(self.width - size);
        let mut data = Vec::with_capacity(3 * size * size);
        for c in 0..3 {
            for y in top..top + size {
                let row = c * self.height * self.width + y * self.width + left;
                data.extend_from_slice(&self.data[row..row + size]);
            }
        }
        Ok(Image { height: size, width: size, data })
    }
}

/// `round(d / 2)` with Python's ties-to-even.
fn round_half_even_half(d: usize) -> usize {
    let half = d / 2;
    if d % 2 == 1 && half % 2 == 1 { half + 1 } else { half }
}

/// The filter of `interp` at distance `x` (in filter units) and its support.
fn filter(interp: Interpolation, x: f32) -> f32 {
    let x = x.abs();
    match interp {
        Interpolation::Bilinear => (1.0 - x).max(0.0),
        // Keys' cubic with a = -0.5, as PIL.
        Interpolation::Bicubic => {
            let a = -0.5;
            if x < 1.0 {
                ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
            } else if x < 2.0 {
                (((x - 5.0) * x + 8.0) * x - 4.0) * a
            } else {
                0.0
            }
        }
    }
}

/// For each output index: the first input index and the normalised weights
/// (PIL's `precompute_coeffs`).
fn taps(input: usize, output: usize, interp: Interpolation) -> Vec<(usize, Vec<f32>)> {
    let support = match interp {
        Interpolation::Bilinear => 1.0,
        Interpolation::Bicubic => 2.0,
    };
    let scale = input as f32 / output as f32;
    let filterscale = scale.max(1.0);
    let support = support * filterscale;
    (0..output)
        .map(|i| {
            let center = (i as f32 + 0.5) * scale;
            let lo = ((center - support + 0.5) as isize).max(0) as usize;
            let hi = ((center + support + 0.5) as isize).min(input as isize) as usize;
            let mut k: Vec<f32> =
                (lo..hi).map(|x| filter(interp, (x as f32 - center + 0.5) / filterscale)).collect();
            let sum: f32 = k.iter().sum();
            if sum != 0.0 {
                k.iter_mut().for_each(|v| *v /= sum);
            }
            (lo, k)
        })
        .collect()
}

/// The size TorchVision's `Resize([s])` gives an `h × w` image: the shorter
/// side becomes `s`, the longer `floor(s · long / short)`.
pub fn resized_size(h: usize, w: usize, s: usize) -> (usize, usize) {
    if w <= h { (s * h / w.max(1), s) } else { (s, s * w / h.max(1)) }
}

/// Applies `t` to `img`: resize, center-crop (when the transforms crop),
/// normalize; returns `[1, 3, H, W]` f32.
pub fn preprocess(img: &Image, t: &Transforms) -> Result<Tensor, ZooError> {
    let (h, w) = resized_size(img.height, img.width, t.resize);
    let mut x = img.resize(h, w, t.interpolation);
    if let Some(c) = t.crop {
        x = x.center_crop(c)?;
    }
    let plane = x.height * x.width;
    for c in 0..3 {
        for v in &mut x.data[c * plane..(c + 1) * plane] {
            *v = (*v - t.mean[c]) / t.std[c];
        }
    }
    Ok(Tensor::from_vec(x.data, &[1, 3, x.height, x.width])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_by_two_widens_the_triangle_filter() {
        // 4 -> 2: scale 2, support 2; output 0 is centred at 1.0 and takes
        // inputs 0, 1, 2 at filter distances 0.25, 0.25, 0.75 (PIL's taps).
        let t = taps(4, 2, Interpolation::Bilinear);
        assert_eq!(t[0].0, 0);
        let want = [3.0 / 7.0, 3.0 / 7.0, 1.0 / 7.0];
        assert_eq!(t[0].1.len(), 3);
        for (k, w) in t[0].1.iter().zip(want) {
            assert!((k - w).abs() < 1e-6, "{:?}", t[0].1);
        }
        // Output 1 is centred at 3.0: inputs 1, 2, 3 (4 is past the edge).
        assert_eq!(t[1].0, 1);
        assert_eq!(t[1].1.len(), 3);
    }

    #[test]
    fn identity_resize_keeps_pixels() {
        let img = Image { height: 3, width: 5, data: (0..45).map(|v| v as f32).collect() };
        let r = img.resize(3, 5, Interpolation::Bilinear);
        assert_eq!(r.data, img.data);
    }

    #[test]
    fn center_crop_rounds_half_to_even() {
        assert_eq!(round_half_even_half(1), 0);
        assert_eq!(round_half_even_half(3), 2);
        assert_eq!(round_half_even_half(5), 2);
        assert_eq!(round_half_even_half(4), 2);
        let img = Image { height: 4, width: 4, data: vec![0.0; 48] };
        assert!(img.center_crop(5).is_err());
    }

    #[test]
    fn resized_size_follows_the_shorter_side() {
        assert_eq!(resized_size(480, 640, 256), (256, 341));
        assert_eq!(resized_size(640, 480, 256), (341, 256));
    }
}
