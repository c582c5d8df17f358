//! `max_pool2d` and `avg_pool2d`: on NCHW buffers a direct loop over each
//! output plane, planes spread over threads; on channels-last buffers
//! (`layout=nhwc`, `[N, H, W, C]`) a loop over output rows whose inner loop
//! runs over the contiguous channels of each tap's pixel.
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
    let [nb, c, h, w] = if a.channels_last {
        let [nb, h, w, c] = dims4(call, "input (NHWC)", call.inputs[0].shape)?;
        [nb, c, h, w]
    } else {
        dims4(call, "input", call.inputs[0].shape)?
    };
    if (0..2).any(|i| a.padding[i].saturating_mul(2) > a.kernel[i]) {
        return Err(call.err(format!(
            "padding={:?} must be at most half the kernel {:?}",
            a.padding, a.kernel
        )));
    }
    let oh = window_out(call, h, a.kernel[0], a.stride[0], a.padding[0], 1)?;
    let ow = window_out(call, w, a.kernel[1], a.stride[1], a.padding[1], 1)?;
    if a.channels_last {
        call.out_shape_is(&[nb, oh, ow, c])?;
    } else {
        call.out_shape_is(&[nb, c, oh, ow])?;
    }
    let wy = Window::new(call, a.kernel[0], a.stride[0], a.padding[0], 1)?;
    let wx = Window::new(call, a.kernel[1], a.stride[1], a.padding[1], 1)?;
    let p = Pool {
        kind,
        include_pad: a.count_include_pad,
        nhwc: a.channels_last,
        c,
        h,
        w,
        oh,
        ow,
        wy,
        wx,
    };
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
    nhwc: bool,
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    wy: Window,
    wx: Window,
}

impl Pool {
    fn run<T: Real>(&self, x: &[T], dst: &mut [T], threads: usize) {
        if self.nhwc {
            let image = self.h * self.w * self.c;
            par_chunks(dst, self.ow * self.c, threads, |j, d| {
                let (n, oy) = (j / self.oh, j % self.oh);
                self.nhwc_row(&x[n * image..][..image], oy, d)
            });
            return;
        }
        let plane = self.oh * self.ow;
        par_chunks(dst, plane, threads, |j, d| {
            self.plane(&x[j * self.h * self.w..][..self.h * self.w], d)
        });
    }

    /// One output plane from one input plane, tap by tap over whole rows.
    fn plane<T: Real>(&self, src: &[T], dst: &mut [T]) {
        let area = T::from_usize(self.wy.k * self.wx.k);
        // Real (unpadded) elements seen by each output of a row.
        let mut real = vec![0usize; self.ow];
        for (oy, row) in dst.chunks_mut(self.ow).enumerate() {
            row.fill(if self.kind == Kind::Max { T::NEG_INF } else { T::ZERO });
            real.fill(0);
            for ky in 0..self.wy.k {
                let Some(iy) = self.wy.tap(oy, ky, self.h) else { continue };
                let line = &src[iy * self.w..][..self.w];
                for kx in 0..self.wx.k {
                    let r = self.wx.valid_outputs(kx, self.w, self.ow);
                    // A tap outside the input for every output adds nothing.
                    if r.is_empty() {
                        continue;
                    }
                    let first = self.wx.input_of(r.start, kx);
                    let vals = line[first..].iter().step_by(self.wx.s);
                    real[r.clone()].iter_mut().for_each(|c| *c += 1);
                    let out = &mut row[r];
                    match self.kind {
                        Kind::Max => {
                            out.iter_mut().zip(vals).for_each(|(o, &v)| *o = maximum(*o, v))
                        }
                        Kind::Avg => out.iter_mut().zip(vals).for_each(|(o, &v)| *o += v),
                    }
                }
            }
            if self.kind == Kind::Avg {
                for (o, &c) in row.iter_mut().zip(&real) {
                    *o = *o / if self.include_pad { area } else { T::from_usize(c) };
                }
            }
        }
    }
}

impl Pool {
    /// Output row `oy` (`[OW, C]`) of one channels-last image, tap by tap,
    /// each tap's pixel a contiguous run of C channels.
    fn nhwc_row<T: Real>(&self, src: &[T], oy: usize, dst: &mut [T]) {
        let area = T::from_usize(self.wy.k * self.wx.k);
        for (ox, out) in dst.chunks_mut(self.c).enumerate() {
            out.fill(if self.kind == Kind::Max { T::NEG_INF } else { T::ZERO });
            let mut real = 0usize;
            for ky in 0..self.wy.k {
                let Some(iy) = self.wy.tap(oy, ky, self.h) else { continue };
                for kx in 0..self.wx.k {
                    let Some(ix) = self.wx.tap(ox, kx, self.w) else { continue };
                    real += 1;
                    let pix = &src[(iy * self.w + ix) * self.c..][..self.c];
                    match self.kind {
                        Kind::Max => {
                            out.iter_mut().zip(pix).for_each(|(o, &v)| *o = maximum(*o, v))
                        }
                        Kind::Avg => out.iter_mut().zip(pix).for_each(|(o, &v)| *o += v),
                    }
                }
            }
            if self.kind == Kind::Avg {
                let div = if self.include_pad { area } else { T::from_usize(real) };
                out.iter_mut().for_each(|o| *o = *o / div);
            }
        }
    }
}

/// IEEE 754-2019 `maximum`: NaN if either is NaN, and +0 above −0.
/// Written as comparisons and one select (no early returns), so the row
/// loops vectorize.
#[inline]
fn maximum<T: Real>(a: T, b: T) -> T {
    // b larger or NaN; on ties b, unless that would put −0 over +0.
    let take = b > a || b.is_nan() || (b == a && a.is_sign_negative());
    if take && !a.is_nan() { b } else { a }
}
