//! `max_pool2d` and `avg_pool2d` on NCHW buffers: a direct loop over each
//! output plane, planes spread over threads.
//!
//! Max pads with −inf and propagates NaN (IEEE `maximum`, as the
//! interpreter). Avg pads with zeros; its divisor is the window area, or
//! with `count_include_pad=false` the number of real elements. f16/bf16
//! widen to f32 and round once.

use super::typed::{Real, load, par_chunks, with_output};
use super::{Call, LibraryError, Window, dims4, window_out};
use crate::ir::{DType, PoolAttrs};

/// Which pool.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `max_pool2d`.
    Max,
    /// `avg_pool2d`.
    Avg,
}

/// Validates and runs one pool.
pub(super) fn pool(
    call: &Call<'_, '_>,
    kind: Kind,
    a: &PoolAttrs,
    out: &mut [u8],
    threads: usize,
) -> Result<(), LibraryError> {
    call.arity(1, 1)?;
    let dtype = call.one_dtype(DType::is_float, "float")?;
    let [nb, c, h, w] = dims4(call, "input", call.inputs[0].shape)?;
    if (0..2).any(|i| a.padding[i].saturating_mul(2) > a.kernel[i]) {
        return Err(call.err(format!(
            "padding={:?} must be at most half the kernel {:?}",
            a.padding, a.kernel
        )));
    }
    let oh = window_out(call, h, a.kernel[0], a.stride[0], a.padding[0], 1)?;
    let ow = window_out(call, w, a.kernel[1], a.stride[1], a.padding[1], 1)?;
    call.out_shape_is(&[nb, c, oh, ow])?;
    let wy = Window::new(call, a.kernel[0], a.stride[0], a.padding[0], 1)?;
    let wx = Window::new(call, a.kernel[1], a.stride[1], a.padding[1], 1)?;
    let p = Pool { kind, include_pad: a.count_include_pad, h, w, oh, ow, wy, wx };
    let len = nb * c * oh * ow;
    let bytes = call.inputs[0].bytes;
    if dtype == DType::F64 {
        let x = load::<f64>(dtype, bytes);
        with_output(dtype, out, len, |dst| p.run(&x, dst, threads));
    } else {
        let x = load::<f32>(dtype, bytes);
        with_output(dtype, out, len, |dst| p.run(&x, dst, threads));
    }
    Ok(())
}

/// One validated pool.
struct Pool {
    kind: Kind,
    include_pad: bool,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    wy: Window,
    wx: Window,
}

impl Pool {
    fn run<T: Real>(&self, x: &[T], dst: &mut [T], threads: usize) {
        let plane = self.oh * self.ow;
        par_chunks(dst, plane, threads, |j, d| {
            self.plane(&x[j * self.h * self.w..][..self.h * self.w], d)
        });
    }

    /// One output plane from one input plane.
    fn plane<T: Real>(&self, src: &[T], dst: &mut [T]) {
        let area = T::from_usize(self.wy.k * self.wx.k);
        for (oy, row) in dst.chunks_mut(self.ow).enumerate() {
            for (ox, d) in row.iter_mut().enumerate() {
                let (mut max, mut sum, mut real) = (T::NEG_INF, T::ZERO, 0usize);
                for ky in 0..self.wy.k {
                    let Some(iy) = self.wy.tap(oy, ky, self.h) else { continue };
                    let line = &src[iy * self.w..][..self.w];
                    for kx in 0..self.wx.k {
                        let Some(ix) = self.wx.tap(ox, kx, self.w) else { continue };
                        let v = line[ix];
                        // IEEE `maximum`: NaN sticks once seen, +0 beats −0.
                        let larger = v > max || (v == max && !v.is_sign_negative());
                        if v.is_nan() || (!max.is_nan() && larger) {
                            max = v;
                        }
                        sum += v;
                        real += 1;
                    }
                }
                *d = match self.kind {
                    Kind::Max => max,
                    Kind::Avg if self.include_pad => sum / area,
                    Kind::Avg => sum / T::from_usize(real),
                };
            }
        }
    }
}
