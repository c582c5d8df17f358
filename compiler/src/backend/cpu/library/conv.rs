//! `conv2d(x, w[, bias])`: x `[N, C, H, W]`, w `[OC, C/groups, KH, KW]`,
//! bias `[OC]`, all dense row-major (NCHW/OIHW).
//!
//! Two kernels. One input channel per group (depthwise, with any channel
//! multiplier) is a direct loop: a gemm of inner size KH·KW would be all
//! overhead. Everything else is im2col + gemm per (image, group): the
//! columns matrix `[C/g · KH · KW, OH · OW]` is built in scratch (or is the
//! input itself for a 1×1, stride-1, unpadded conv), and
//! `out[n, group] = w[group] @ cols` lands directly in the output.
//! f16/bf16 widen to f32 and round once at the end. Channels-last
//! (`layout=nhwc`) convs go to [`super::conv_nhwc`].

use gemm::Parallelism;

use super::matmul::gemm_into;
use super::typed::{Real, load, par_chunks, with_output};
use super::{Call, LibraryError, Window, dims4, window_out};
use crate::ir::{Conv2dAttrs, DType};

/// The sizes of one conv after validation.
#[derive(Clone, Copy)]
struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    oc: usize,
    icg: usize,
    groups: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    wy: Window,
    wx: Window,
}

/// Validates and runs one conv2d.
pub(super) fn conv2d(
    call: &Call<'_, '_>,
    a: &Conv2dAttrs,
    out: &mut [u8],
    threads: usize,
) -> Result<(), LibraryError> {
    if a.channels_last {
        return super::conv_nhwc::conv2d(call, a, out, threads);
    }
    call.arity(2, 3)?;
    let dtype = call.one_dtype(DType::is_float, "float")?;
    let [nb, c, h, w] = dims4(call, "input", call.inputs[0].shape)?;
    let [oc, icg, kh, kw] = dims4(call, "weight", call.inputs[1].shape)?;
    let ConvShape { groups, oh, ow, wy, wx } = conv_shape(call, a, [c, h, w], [oc, icg, kh, kw])?;
    call.out_shape_is(&[nb, oc, oh, ow])?;
    let g = Geometry { c, h, w, oc, icg, groups, kh, kw, oh, ow, wy, wx };
    run_float(call, dtype, out, nb * oc * oh * ow, &Job(&g, threads));
    Ok(())
}

/// What both layouts' convs check and derive besides the operand dims.
pub(super) struct ConvShape {
    /// Channel groups.
    pub groups: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// The vertical window.
    pub wy: Window,
    /// The horizontal window.
    pub wx: Window,
}

/// Checks that input channels `c` (of `h × w`), weight dims `oc, icg, kh,
/// kw`, `groups` and the bias agree, and derives the output size and the
/// windows.
pub(super) fn conv_shape(
    call: &Call<'_, '_>,
    a: &Conv2dAttrs,
    [c, h, w]: [usize; 3],
    [oc, icg, kh, kw]: [usize; 4],
) -> Result<ConvShape, LibraryError> {
    let groups = usize::try_from(a.groups).unwrap_or(0);
    if groups == 0 || icg.checked_mul(groups) != Some(c) || oc % groups != 0 {
        return Err(call.err(format!("input, weight and groups={} disagree", a.groups)));
    }
    if call.inputs.get(2).is_some_and(|b| b.shape != [oc]) {
        return Err(call.err(format!("bias must be [{oc}]")));
    }
    Ok(ConvShape {
        groups,
        oh: window_out(call, h, kh as u64, a.stride[0], a.padding[0], a.dilation[0])?,
        ow: window_out(call, w, kw as u64, a.stride[1], a.padding[1], a.dilation[1])?,
        wy: Window::new(call, kh as u64, a.stride[0], a.padding[0], a.dilation[0])?,
        wx: Window::new(call, kw as u64, a.stride[1], a.padding[1], a.dilation[1])?,
    })
}

/// A conv kernel over real element types (input, weight, optional bias,
/// output), so one dispatch serves both layouts.
pub(super) trait FloatKernel {
    /// Runs the kernel in `T`.
    fn run<T: Real>(&self, x: &[T], w: &[T], bias: Option<&[T]>, dst: &mut [T]);
}

/// Loads the call's operands as f64 (an f64 call) or f32 (every other
/// float, widened) and runs `k` into the `len`-element output, rounded once.
pub(super) fn run_float(
    call: &Call<'_, '_>,
    dtype: DType,
    out: &mut [u8],
    len: usize,
    k: &impl FloatKernel,
) {
    fn typed<T: Real>(
        call: &Call<'_, '_>,
        dtype: DType,
        out: &mut [u8],
        len: usize,
        k: &impl FloatKernel,
    ) {
        let (x, w) =
            (load::<T>(dtype, call.inputs[0].bytes), load::<T>(dtype, call.inputs[1].bytes));
        let b = call.inputs.get(2).map(|b| load::<T>(dtype, b.bytes));
        with_output(dtype, out, len, |dst| k.run(&x, &w, b.as_deref(), dst));
    }
    if dtype == DType::F64 {
        typed::<f64>(call, dtype, out, len, k);
    } else {
        typed::<f32>(call, dtype, out, len, k);
    }
}

/// The NCHW kernel with its geometry and thread count.
struct Job<'g>(&'g Geometry, usize);

impl FloatKernel for Job<'_> {
    fn run<T: Real>(&self, x: &[T], w: &[T], bias: Option<&[T]>, dst: &mut [T]) {
        run(self.0, x, w, bias, dst, self.1);
    }
}

/// Picks the kernel and spreads the work.
fn run<T: Real>(g: &Geometry, x: &[T], w: &[T], bias: Option<&[T]>, dst: &mut [T], threads: usize) {
    let plane = g.oh * g.ow;
    if plane == 0 || g.oc == 0 {
        return;
    }
    if g.icg == 1 && g.groups > 1 {
        // Depthwise: one output plane per job.
        par_chunks(dst, plane, threads, |j, d| depthwise_plane(g, x, w, bias, j, d));
        return;
    }
    // One job per (image, group): its output is `oc/groups` whole planes.
    let ocg = g.oc / g.groups;
    let jobs = dst.len() / (ocg * plane);
    if jobs >= threads || threads == 1 {
        par_chunks(dst, ocg * plane, threads, |j, d| {
            group_gemm(g, x, w, bias, j, d, Parallelism::None)
        });
    } else {
        for (j, d) in dst.chunks_mut(ocg * plane).enumerate() {
            group_gemm(g, x, w, bias, j, d, Parallelism::Rayon(threads));
        }
    }
}

/// Output plane `j = n·OC + o` of a conv with one input channel per group.
fn depthwise_plane<T: Real>(
    g: &Geometry,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    j: usize,
    dst: &mut [T],
) {
    let (n, o) = (j / g.oc, j % g.oc);
    let cin = o / (g.oc / g.groups);
    let src = &x[(n * g.c + cin) * g.h * g.w..][..g.h * g.w];
    let taps = &w[o * g.kh * g.kw..][..g.kh * g.kw];
    let b = bias.map_or(T::ZERO, |b| b[o]);
    // Tap by tap over whole output rows (same summation order as the
    // definition: bias, then taps in (ky, kx) order).
    for (oy, row) in dst.chunks_mut(g.ow).enumerate() {
        row.fill(b);
        for ky in 0..g.kh {
            let Some(iy) = g.wy.tap(oy, ky, g.h) else { continue };
            let line = &src[iy * g.w..][..g.w];
            for kx in 0..g.kw {
                let tw = taps[ky * g.kw + kx];
                let r = g.wx.valid_outputs(kx, g.w, g.ow);
                // A tap that misses the input for every output (a kernel
                // wider than the padded input) has no first input.
                if r.is_empty() {
                    continue;
                }
                let first = g.wx.input_of(r.start, kx);
                let out = &mut row[r];
                if g.wx.s == 1 {
                    for (o, &v) in out.iter_mut().zip(&line[first..]) {
                        *o += tw * v;
                    }
                } else {
                    for (o, &v) in out.iter_mut().zip(line[first..].iter().step_by(g.wx.s)) {
                        *o += tw * v;
                    }
                }
            }
        }
    }
}

/// Job `j = n·groups + group`: `dst` (`OC/groups` planes) = w[group] @ cols.
fn group_gemm<T: Real>(
    g: &Geometry,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    j: usize,
    dst: &mut [T],
    par: Parallelism,
) {
    let (n, group) = (j / g.groups, j % g.groups);
    let ocg = g.oc / g.groups;
    let plane = g.oh * g.ow;
    let kdim = g.icg * g.kh * g.kw;
    let src = &x[(n * g.c + group * g.icg) * g.h * g.w..][..g.icg * g.h * g.w];
    let wg = &w[group * ocg * kdim..][..ocg * kdim];
    let pointwise = g.kh == 1 && g.kw == 1 && (g.wy.s, g.wx.s, g.wy.p, g.wx.p) == (1, 1, 0, 0);
    if pointwise {
        // The input planes already are the columns matrix.
        gemm_into(ocg, kdim, plane, wg, src, dst, par);
    } else {
        let cols = im2col(g, src);
        gemm_into(ocg, kdim, plane, wg, &cols, dst, par);
    }
    if let Some(b) = bias {
        for (o, row) in dst.chunks_mut(plane).enumerate() {
            let v = b[group * ocg + o];
            row.iter_mut().for_each(|d| *d += v);
        }
    }
}

/// The `[icg·KH·KW, OH·OW]` columns matrix of one image's group: row
/// `(ic, ky, kx)` holds, for each output position, the input value that tap
/// reads (0 in the padding).
fn im2col<T: Real>(g: &Geometry, src: &[T]) -> Vec<T> {
    let plane = g.oh * g.ow;
    let mut cols = vec![T::ZERO; g.icg * g.kh * g.kw * plane];
    for (r, row) in cols.chunks_mut(plane).enumerate() {
        let (ic, ky, kx) = (r / (g.kh * g.kw), (r / g.kw) % g.kh, r % g.kw);
        let chan = &src[ic * g.h * g.w..][..g.h * g.w];
        let xs = g.wx.valid_outputs(kx, g.w, g.ow);
        if xs.is_empty() {
            continue;
        }
        let first = g.wx.input_of(xs.start, kx);
        for oy in g.wy.valid_outputs(ky, g.h, g.oh) {
            let line = &chan[g.wy.input_of(oy, ky) * g.w..][..g.w];
            let out = &mut row[oy * g.ow..][xs.clone()];
            for (o, &v) in out.iter_mut().zip(line[first..].iter().step_by(g.wx.s)) {
                *o = v;
            }
        }
    }
    cols
}
