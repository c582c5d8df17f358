//! Channels-last `conv2d(x, w[, bias]) layout=nhwc`: x `[N, H, W, C]`,
//! w `[OC, KH, KW, C/groups]` (PyTorch's channels-last OIHW in memory),
//! bias `[OC]`, result `[N, OH, OW, OC]`, all dense row-major.
//!
//! Why a second kernel: in NHWC every output position is one row of a
//! `[positions, OC]` matrix and every input pixel's channels are contiguous,
//! so a conv is a gemm `cols[P, K] @ wᵀ[K, OC]` over blocks of output
//! positions that may cross images (for a 1×1 stride-1 unpadded conv the
//! input itself is `cols`), and im2col copies whole channel runs instead of
//! gathering single elements. Depthwise convs (one input channel per group)
//! are a direct loop whose inner loop runs over contiguous channels.
//! Summation order per output: bias, then taps in (ky, kx, ic) order, as
//! the NCHW kernel; f16/bf16 widen to f32 and round once at the end.

use gemm::Parallelism;

use super::conv::{ConvShape, FloatKernel, conv_shape, run_float};
use super::typed::{Real, par_chunks};
use super::{Call, LibraryError, Window, dims4};
use crate::ir::{Conv2dAttrs, DType};

/// The sizes of one channels-last conv after validation.
#[derive(Clone, Copy)]
struct Geometry {
    nb: usize,
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

impl Geometry {
    /// Output channels per group.
    fn ocg(&self) -> usize {
        self.oc / self.groups
    }

    /// The contraction length of one group: `KH·KW·C/groups`.
    fn kdim(&self) -> usize {
        self.kh * self.kw * self.icg
    }
}

/// Validates and runs one channels-last conv2d.
pub(super) fn conv2d(
    call: &Call<'_, '_>,
    a: &Conv2dAttrs,
    out: &mut [u8],
    threads: usize,
) -> Result<(), LibraryError> {
    call.arity(2, 3)?;
    let dtype = call.one_dtype(DType::is_float, "float")?;
    let [nb, h, w, c] = dims4(call, "input (NHWC)", call.inputs[0].shape)?;
    let [oc, kh, kw, icg] = dims4(call, "weight (OHWI)", call.inputs[1].shape)?;
    let ConvShape { groups, oh, ow, wy, wx } = conv_shape(call, a, [c, h, w], [oc, icg, kh, kw])?;
    call.out_shape_is(&[nb, oh, ow, oc])?;
    let g = Geometry { nb, c, h, w, oc, icg, groups, kh, kw, oh, ow, wy, wx };
    run_float(call, dtype, out, nb * oh * ow * oc, &Job(&g, threads));
    Ok(())
}

/// The NHWC kernel with its geometry and thread count.
struct Job<'g>(&'g Geometry, usize);

impl FloatKernel for Job<'_> {
    fn run<T: Real>(&self, x: &[T], w: &[T], bias: Option<&[T]>, dst: &mut [T]) {
        run(self.0, x, w, bias, dst, self.1);
    }
}

/// Picks the kernel and spreads the work.
fn run<T: Real>(g: &Geometry, x: &[T], w: &[T], bias: Option<&[T]>, dst: &mut [T], threads: usize) {
    let positions = g.oh * g.ow;
    if positions == 0 || g.oc == 0 || g.nb == 0 {
        return;
    }
    if g.icg == 1 && g.groups > 1 {
        depthwise(g, x, w, bias, dst, threads);
        return;
    }
    let pointwise = g.kh == 1 && g.kw == 1 && (g.wy.s, g.wx.s, g.wy.p, g.wx.p) == (1, 1, 0, 0);
    // Jobs of about BLOCK output positions (rows of `[N·OH·OW, OC]`, across
    // image boundaries): each job's gemm is small enough that its packing
    // buffers and columns stay in cache and come from the heap, not fresh
    // pages. The job count is a multiple of the thread count, so no thread
    // idles through the last round. Too few rows for that (a small batch, a
    // late stage): the jobs run one after another, each gemm spread over
    // the threads instead.
    let total = dst.len() / g.oc;
    let jobs = total.div_ceil(BLOCK).next_multiple_of(threads.max(1));
    let block = total.div_ceil(jobs).next_multiple_of(MICRO_ROWS);
    let job = |j: usize, d: &mut [T], par: Parallelism| {
        let (r0, rows) = (j * block, d.len() / g.oc);
        for group in 0..g.groups {
            let out = &mut d[group * g.ocg()..];
            if pointwise {
                // The input already is the columns matrix `[N·H·W, C]`.
                let data = &x[r0 * g.c + group * g.icg..];
                let lhs = Mat { data, rows, cols: g.icg, rs: g.c };
                gemm_group(g, group, lhs, w, out, par);
            } else {
                let cols = im2col(g, x, group, r0, rows);
                let lhs = Mat { data: &cols, rows, cols: g.kdim(), rs: g.kdim() };
                gemm_group(g, group, lhs, w, out, par);
            }
        }
        add_bias(g, bias, d);
    };
    if threads == 1 || block >= MIN_SPLIT_ROWS {
        par_chunks(dst, block * g.oc, threads, |j, d| job(j, d, Parallelism::None));
    } else {
        job(0, dst, Parallelism::Rayon(threads));
    }
}

/// Output positions per job of the gemm kernels, at most.
const BLOCK: usize = 1024;

/// Rows of the gemm crate's f32 AVX2 microkernel: job sizes are multiples.
const MICRO_ROWS: usize = 16;

/// Fewer rows per thread than this: one gemm over all threads instead.
const MIN_SPLIT_ROWS: usize = 128;

/// A row-major matrix view with a row stride.
#[derive(Clone, Copy)]
struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
}

/// `dst[:, group's OC columns] = lhs @ w[group]ᵀ`, where `dst` starts at the
/// group's first output channel and has row stride OC.
fn gemm_group<T: Real>(
    g: &Geometry,
    group: usize,
    lhs: Mat<'_, T>,
    w: &[T],
    dst: &mut [T],
    par: Parallelism,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, g.ocg());
    let rhs = &w[group * n * k..][..n * k];
    if m == 0 || n == 0 {
        return;
    }
    let reach = |rows: usize, cols: usize, rs: usize| (rows - 1) * rs + cols;
    assert!(
        lhs.data.len() >= reach(m, k, lhs.rs) && dst.len() >= reach(m, n, g.oc),
        "conv gemm bounds"
    );
    if k == 0 {
        dst.chunks_mut(g.oc).take(m).for_each(|r| r[..n].fill(T::ZERO));
        return;
    }
    // SAFETY: the asserts above bound every element the strides reach: lhs
    // rows `rs` apart with `k` columns, rhs = wᵀ (element (kk, j) at
    // `j·k + kk` of the group's `n·k` weights), dst rows `OC` apart with `n`
    // columns; `dst` is borrowed uniquely; T is f32 or f64. `read_dst =
    // false` makes the result `lhs · rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            g.oc as isize,
            false,
            lhs.data.as_ptr(),
            1,
            lhs.rs as isize,
            rhs.as_ptr(),
            k as isize,
            1,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            par,
        );
    }
}

/// Adds the bias to every output position of `dst` (rows of OC).
fn add_bias<T: Real>(g: &Geometry, bias: Option<&[T]>, dst: &mut [T]) {
    if let Some(b) = bias {
        for row in dst.chunks_mut(g.oc) {
            row.iter_mut().zip(b).for_each(|(d, &v)| *d += v);
        }
    }
}

/// The `[rows, KH·KW·icg]` columns matrix of output positions `r0..r0+rows`
/// (counted over the whole batch) for one group: row `(n, oy, ox)` holds,
/// tap by tap, the group's channel run of the input pixel the tap reads
/// (zeros in the padding).
fn im2col<T: Real>(g: &Geometry, x: &[T], group: usize, r0: usize, rows: usize) -> Vec<T> {
    let k = g.kdim();
    let positions = g.oh * g.ow;
    let mut cols = vec![T::ZERO; rows * k];
    for (i, row) in cols.chunks_mut(k).enumerate() {
        let (n, p) = ((r0 + i) / positions, (r0 + i) % positions);
        let (oy, ox) = (p / g.ow, p % g.ow);
        let src = &x[n * g.h * g.w * g.c..][..g.h * g.w * g.c];
        for ky in 0..g.kh {
            let Some(iy) = g.wy.tap(oy, ky, g.h) else { continue };
            for kx in 0..g.kw {
                let Some(ix) = g.wx.tap(ox, kx, g.w) else { continue };
                let from = &src[(iy * g.w + ix) * g.c + group * g.icg..][..g.icg];
                row[(ky * g.kw + kx) * g.icg..][..g.icg].copy_from_slice(from);
            }
        }
    }
    cols
}

/// One input channel per group (channel multiplier `m = OC/groups`): output
/// channel `o` reads input channel `o / m`. One job per output row `(n, oy)`;
/// the inner loop runs over the output channels, contiguous in memory.
fn depthwise<T: Real>(
    g: &Geometry,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    dst: &mut [T],
    threads: usize,
) {
    let taps = g.kh * g.kw;
    let m = g.ocg();
    // Weights tap-major (`[KH·KW, OC]`), so each tap's row is contiguous.
    let mut wt = vec![T::ZERO; taps * g.oc];
    for o in 0..g.oc {
        for t in 0..taps {
            wt[t * g.oc + o] = w[o * taps + t];
        }
    }
    par_chunks(dst, g.ow * g.oc, threads, |j, row| {
        let (n, oy) = (j / g.oh, j % g.oh);
        for (ox, out) in row.chunks_mut(g.oc).enumerate() {
            match bias {
                Some(b) => out.copy_from_slice(b),
                None => out.fill(T::ZERO),
            }
            for ky in 0..g.kh {
                let Some(iy) = g.wy.tap(oy, ky, g.h) else { continue };
                for kx in 0..g.kw {
                    let Some(ix) = g.wx.tap(ox, kx, g.w) else { continue };
                    let pix = &x[((n * g.h + iy) * g.w + ix) * g.c..][..g.c];
                    let tw = &wt[(ky * g.kw + kx) * g.oc..][..g.oc];
                    if m == 1 {
                        for ((o, &t), &v) in out.iter_mut().zip(tw).zip(pix) {
                            *o += t * v;
                        }
                    } else {
                        for (oc, (o, &t)) in out.iter_mut().zip(tw).enumerate() {
                            *o += t * pix[oc / m];
                        }
                    }
                }
            }
        }
    });
}
