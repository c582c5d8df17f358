//! Host-side orchestration of conv2d as im2col + cuBLAS gemm, as pure
//! functions of the concrete sizes (no device needed, so tests check them
//! against a reference gemm on host data).
//!
//! NCHW (`x [N, C, H, W]`, `w [OC, C/g, KH, KW]`, `out [N, OC, OH, OW]`):
//! the columns of one image are `[G, Kg, P]` (`Kg = C/g·KH·KW` in the
//! weight's `(ic, kh, kw)` order, `P = OH·OW`), so per image and group
//! `out[n, g] (OCg×P) = w[g] (OCg×Kg) · cols[n, g] (Kg×P)`, row-major.
//!
//! NHWC (`x [N, H, W, C]`, `w [OC, KH, KW, C/g]`, `out [N, OH, OW, OC]`):
//! the columns are one row per output position, `[N·P, G, KH, KW, C/g]`,
//! so per group `out[:, g] (N·P×OCg, ld OC) = cols[:, g] (N·P×Kg, ld G·Kg) ·
//! w[g]ᵀ`: the output *is* the gemm's `[positions, OC]` matrix and rows
//! cross images.
//!
//! cuBLAS is column-major: a row-major `C = A·B` is the column-major
//! `Cᵀ = Bᵀ·Aᵀ`, which is how the [`Gemm`]s below are written. Groups batch
//! by stride (one call per chunk, or per image or group when the other
//! stride is not uniform). A 1×1, stride-1, unpadded conv needs no im2col:
//! the input already is the columns matrix. Otherwise the columns go to a
//! scratch buffer, a chunk of images at a time so that it stays under a
//! budget. A bias is broadcast into the output first and the gemms
//! accumulate onto it (bias first, then the taps, as the CPU kernels sum;
//! one rounding for f16/bf16).

use crate::ir::{Conv2dAttrs, DType};

/// The argument names of the generated im2col kernel, in order (after the
/// columns and input pointers); [`ConvChunk::im2col`] holds their values.
pub const IM2COL_ARGS: [&str; 17] = [
    "first", "images", "C", "H", "W", "KH", "KW", "OH", "OW", "SH", "SW", "PH", "PW", "DH", "DW",
    "G", "total",
];

/// The argument names of the generated bias-broadcast kernel (after the
/// output and bias pointers); [`ConvPlan::bias`] holds their values.
pub const BIAS_ARGS: [&str; 3] = ["total", "inner", "channels"];

/// Columns scratch budget: at most this many bytes of im2col columns at a
/// time (at least one image's worth).
pub const SCRATCH_BUDGET_BYTES: usize = 256 << 20;

/// What a conv2d kernel through cuBLAS needs at run time (the template of
/// its [`KernelSource`](super::KernelSource)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvGemm {
    /// The conv's attributes.
    pub attrs: Conv2dAttrs,
    /// The float dtype of every operand.
    pub dtype: DType,
    /// Kernel input index of the conv's input, weight and bias.
    pub inputs: [Option<usize>; 3],
    /// The generated im2col kernel (None for a 1×1, stride-1, unpadded conv).
    pub im2col: Option<String>,
    /// The generated bias kernel (None without a bias).
    pub bias: Option<String>,
}

/// The sizes of one conv2d, in NCHW/OIHW terms whatever its layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub oc: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Channel groups.
    pub groups: usize,
    /// Stride (h, w).
    pub stride: [usize; 2],
    /// Padding (h, w).
    pub padding: [usize; 2],
    /// Dilation (h, w).
    pub dilation: [usize; 2],
    /// `layout=nhwc`.
    pub channels_last: bool,
}

impl ConvGeometry {
    /// The geometry of a conv with attributes `a`, input shape `x` and
    /// weight shape `w` as stored (NHWC/OHWI when `a.channels_last`).
    pub fn new(a: &Conv2dAttrs, x: &[usize], w: &[usize]) -> Result<ConvGeometry, String> {
        let (Ok(x4), Ok(w4)) = (<[usize; 4]>::try_from(x), <[usize; 4]>::try_from(w)) else {
            return Err(format!("conv2d needs rank-4 input and weight, got {x:?} and {w:?}"));
        };
        let ([n, c, h, wd], [oc, icg, kh, kw]) = if a.channels_last {
            ([x4[0], x4[3], x4[1], x4[2]], [w4[0], w4[3], w4[1], w4[2]])
        } else {
            (x4, w4)
        };
        let groups = a.groups as usize;
        if groups == 0 || icg * groups != c || oc % groups != 0 {
            return Err(format!(
                "conv2d input {x:?}, weight {w:?} and groups={} disagree",
                a.groups
            ));
        }
        let u = |v: [u64; 2]| [v[0] as usize, v[1] as usize];
        let (stride, padding, dilation) = (u(a.stride), u(a.padding), u(a.dilation));
        let dim = |size: usize, k: usize, i: usize| -> Result<usize, String> {
            let span = dilation[i] * (k.max(1) - 1) + 1;
            let padded = size + 2 * padding[i];
            if padded < span || stride[i] == 0 {
                return Err(format!("conv2d window {span} exceeds the padded input {padded}"));
            }
            Ok((padded - span) / stride[i] + 1)
        };
        let (oh, ow) = (dim(h, kh, 0)?, dim(wd, kw, 1)?);
        Ok(ConvGeometry {
            n,
            c,
            h,
            w: wd,
            oc,
            kh,
            kw,
            oh,
            ow,
            groups,
            stride,
            padding,
            dilation,
            channels_last: a.channels_last,
        })
    }

    /// Input channels per group.
    pub fn icg(&self) -> usize {
        self.c / self.groups
    }

    /// Output channels per group.
    pub fn ocg(&self) -> usize {
        self.oc / self.groups
    }

    /// The contraction length of one group, `C/g·KH·KW`.
    pub fn kg(&self) -> usize {
        self.icg() * self.kh * self.kw
    }

    /// Output positions per image, `OH·OW`.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// True when the input itself is the columns matrix (1×1 window,
    /// stride 1, no padding): no im2col, no scratch.
    pub fn input_is_columns(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Elements of the columns of one image, `C·KH·KW·OH·OW`.
    pub fn columns_per_image(&self) -> usize {
        self.c * self.kh * self.kw * self.positions()
    }
}

/// Which buffer a gemm operand reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmBuf {
    /// The conv's input (the columns of a 1×1 conv).
    Input,
    /// The conv's weight.
    Weight,
    /// The im2col scratch buffer.
    Columns,
}

/// One operand of a column-major gemm, offsets and strides in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmOperand {
    /// The buffer.
    pub buf: GemmBuf,
    /// First element.
    pub offset: usize,
    /// Leading dimension.
    pub ld: usize,
    /// Elements between consecutive batch entries (0: shared).
    pub stride: usize,
    /// `CUBLAS_OP_T` (else `CUBLAS_OP_N`).
    pub trans: bool,
}

/// One `cublasGemmStridedBatchedEx` call, column-major: for each batch
/// entry `b`, `C_b = op(A_b)·op(B_b) (+ C_b)` with `op(A)` m×k, `op(B)` k×n;
/// C is the conv's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// The contraction length.
    pub k: usize,
    /// The left operand.
    pub a: GemmOperand,
    /// The right operand.
    pub b: GemmOperand,
    /// First element of C in the output.
    pub c_offset: usize,
    /// C's leading dimension.
    pub ldc: usize,
    /// Elements between consecutive C batch entries.
    pub c_stride: usize,
    /// Batch count.
    pub batch: usize,
    /// beta = 1 (accumulate onto the bias already in C) instead of 0.
    pub accumulate: bool,
}

/// A run of images whose columns are built and multiplied together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvChunk {
    /// First image.
    pub first: usize,
    /// Images in the chunk.
    pub images: usize,
    /// The im2col kernel's [`IM2COL_ARGS`] (None: the input is the columns).
    pub im2col: Option<[i64; 17]>,
    /// The gemms, in order.
    pub gemms: Vec<Gemm>,
}

/// Everything the host does for one conv2d at concrete sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvPlan {
    /// The bias kernel's [`BIAS_ARGS`] (None: no bias).
    pub bias: Option<[i64; 3]>,
    /// Elements of the columns scratch buffer (0: none needed).
    pub columns: usize,
    /// The chunks, in order.
    pub chunks: Vec<ConvChunk>,
}

/// The plan for conv `g` (with a bias or not), keeping the columns under
/// `budget` elements when one image fits (else one image at a time).
pub fn conv_plan(g: &ConvGeometry, bias: bool, budget: usize) -> ConvPlan {
    let direct = g.input_is_columns();
    let per_image = g.columns_per_image().max(1);
    let step = if direct || g.n == 0 { g.n.max(1) } else { (budget / per_image).clamp(1, g.n) };
    let mut chunks = Vec::new();
    let mut first = 0;
    while first < g.n {
        let images = step.min(g.n - first);
        chunks.push(chunk(g, first, images, direct, bias));
        first += images;
    }
    let columns = if direct { 0 } else { step.min(g.n) * per_image };
    let bias = bias.then(|| {
        let total = g.n * g.oc * g.positions();
        let inner = if g.channels_last { 1 } else { g.positions() };
        [total as i64, inner as i64, g.oc as i64]
    });
    ConvPlan { bias, columns, chunks }
}

fn chunk(g: &ConvGeometry, first: usize, images: usize, direct: bool, bias: bool) -> ConvChunk {
    let i = |v: usize| v as i64;
    let total = images * g.columns_per_image();
    let im2col = (!direct).then(|| {
        [
            i(first),
            i(images),
            i(g.c),
            i(g.h),
            i(g.w),
            i(g.kh),
            i(g.kw),
            i(g.oh),
            i(g.ow),
            i(g.stride[0]),
            i(g.stride[1]),
            i(g.padding[0]),
            i(g.padding[1]),
            i(g.dilation[0]),
            i(g.dilation[1]),
            i(g.groups),
            i(total),
        ]
    });
    // Columns of the chunk: the scratch from 0, or the input at the chunk's
    // first image (1×1: the input's image stride is C·H·W = C·P).
    let cols = |offset: usize| {
        if direct {
            (GemmBuf::Input, first * g.c * g.h * g.w + offset)
        } else {
            (GemmBuf::Columns, offset)
        }
    };
    let (p, kg, ocg, gs) = (g.positions(), g.kg(), g.ocg(), g.groups);
    let mut gemms = Vec::new();
    if g.channels_last {
        // Cᵀ (OCg × rows, ld OC) = w[g] (OCg × Kg: its row-major Kg-rows read
        // transposed) · colsᵀ (Kg × rows, ld G·Kg); groups by stride.
        let (buf, offset) = cols(0);
        gemms.push(Gemm {
            m: ocg,
            n: images * p,
            k: kg,
            a: GemmOperand {
                buf: GemmBuf::Weight,
                offset: 0,
                ld: kg,
                stride: ocg * kg,
                trans: true,
            },
            b: GemmOperand { buf, offset, ld: gs * kg, stride: kg, trans: false },
            c_offset: first * p * g.oc,
            ldc: g.oc,
            c_stride: ocg,
            batch: gs,
            accumulate: bias,
        });
    } else {
        // Per image and group, out (P × OCg column-major, ld P) = cols
        // (P × Kg, ld P) · w[g] (Kg × OCg, ld Kg). Batch over the longer of
        // images and groups, one call per entry of the other.
        let cols_image = gs * kg * p;
        let entry = |n: usize, grp: usize, batch: usize, by_image: bool| {
            let (buf, offset) = cols(n * cols_image + grp * kg * p);
            Gemm {
                m: p,
                n: ocg,
                k: kg,
                a: GemmOperand {
                    buf,
                    offset,
                    ld: p,
                    stride: if by_image { cols_image } else { kg * p },
                    trans: false,
                },
                b: GemmOperand {
                    buf: GemmBuf::Weight,
                    offset: grp * ocg * kg,
                    ld: kg,
                    stride: if by_image { 0 } else { ocg * kg },
                    trans: false,
                },
                c_offset: ((first + n) * g.oc + grp * ocg) * p,
                ldc: p,
                c_stride: if by_image { g.oc * p } else { ocg * p },
                batch,
                accumulate: bias,
            }
        };
        if gs <= images {
            gemms.extend((0..gs).map(|grp| entry(0, grp, images, true)));
        } else {
            gemms.extend((0..images).map(|n| entry(n, 0, gs, false)));
        }
    }
    ConvChunk { first, images, im2col, gemms }
}

/// The reference semantics of one [`Gemm`] on host data (f64), for tests:
/// exactly what cuBLAS computes from the same parameters.
pub fn reference_gemm(g: &Gemm, a: &[f64], b: &[f64], c: &mut [f64]) {
    for e in 0..g.batch {
        let (ab, bb, cb) =
            (g.a.offset + e * g.a.stride, g.b.offset + e * g.b.stride, g.c_offset + e * g.c_stride);
        for j in 0..g.n {
            for i in 0..g.m {
                let mut s = if g.accumulate { c[cb + i + j * g.ldc] } else { 0.0 };
                for p in 0..g.k {
                    let x = if g.a.trans { a[ab + p + i * g.a.ld] } else { a[ab + i + p * g.a.ld] };
                    let y = if g.b.trans { b[bb + j + p * g.b.ld] } else { b[bb + p + j * g.b.ld] };
                    s += x * y;
                }
                c[cb + i + j * g.ldc] = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostTensor;
    use crate::interp;
    use crate::ir::{DType, parse_func};

    /// What the generated im2col kernel writes (the emulation checks the
    /// kernel itself against the interpreter; this checks the plan).
    fn im2col(g: &ConvGeometry, x: &[f64], first: usize, images: usize) -> Vec<f64> {
        let (icg, p) = (g.icg(), g.positions());
        let mut cols = vec![0.0; images * g.columns_per_image()];
        for nl in 0..images {
            let n = first + nl;
            for c in 0..g.c {
                for kh in 0..g.kh {
                    for kw in 0..g.kw {
                        for oh in 0..g.oh {
                            for ow in 0..g.ow {
                                let ih = (oh * g.stride[0] + kh * g.dilation[0]) as i64
                                    - g.padding[0] as i64;
                                let iw = (ow * g.stride[1] + kw * g.dilation[1]) as i64
                                    - g.padding[1] as i64;
                                if ih < 0 || iw < 0 || ih >= g.h as i64 || iw >= g.w as i64 {
                                    continue;
                                }
                                let (ih, iw) = (ih as usize, iw as usize);
                                let (src, dst) = if g.channels_last {
                                    let (grp, ic) = (c / icg, c % icg);
                                    (
                                        ((n * g.h + ih) * g.w + iw) * g.c + c,
                                        ((((nl * p + oh * g.ow + ow) * g.groups + grp) * g.kh
                                            + kh)
                                            * g.kw
                                            + kw)
                                            * icg
                                            + ic,
                                    )
                                } else {
                                    (
                                        ((n * g.c + c) * g.h + ih) * g.w + iw,
                                        (((nl * g.c + c) * g.kh + kh) * g.kw + kw) * p
                                            + oh * g.ow
                                            + ow,
                                    )
                                };
                                cols[dst] = x[src];
                            }
                        }
                    }
                }
            }
        }
        cols
    }

    /// Runs a plan on host data with the reference gemm.
    fn run_plan(g: &ConvGeometry, plan: &ConvPlan, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NAN; g.n * g.oc * g.positions()];
        if let Some([total, inner, channels]) = plan.bias {
            for (i, o) in out.iter_mut().enumerate().take(total as usize) {
                *o = b[(i / inner as usize) % channels as usize];
            }
        }
        for chunk in &plan.chunks {
            let cols = match chunk.im2col {
                Some(args) => {
                    assert_eq!(args[0] as usize, chunk.first);
                    assert_eq!(args[16] as usize, chunk.images * g.columns_per_image());
                    assert!(args[16] as usize <= plan.columns, "columns overflow the scratch");
                    im2col(g, x, chunk.first, chunk.images)
                }
                None => Vec::new(),
            };
            let pick = |buf: GemmBuf| match buf {
                GemmBuf::Input => x,
                GemmBuf::Weight => w,
                GemmBuf::Columns => cols.as_slice(),
            };
            for gm in &chunk.gemms {
                reference_gemm(gm, pick(gm.a.buf), pick(gm.b.buf), &mut out);
            }
        }
        out
    }

    fn data(len: usize, seed: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 7 + seed * 13) % 23) as f64 - 11.0) / 8.0).collect()
    }

    /// (N, C, H, W, OC, KH, KW, stride, padding, dilation, groups, bias).
    type Case = (usize, usize, usize, usize, usize, usize, usize, u64, u64, u64, u64, bool);

    #[test]
    fn plans_match_the_interpreter_through_a_reference_gemm() {
        let cases: [Case; 8] = [
            (2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, true),
            (3, 6, 9, 8, 4, 3, 2, 2, 1, 1, 2, false),
            (2, 5, 6, 7, 5, 2, 3, 1, 2, 2, 5, true),
            (2, 4, 5, 5, 6, 1, 1, 1, 0, 1, 1, true),
            (3, 6, 4, 3, 9, 1, 1, 1, 0, 1, 3, false),
            (2, 4, 7, 7, 8, 1, 1, 2, 0, 1, 2, true),
            (1, 3, 11, 4, 2, 5, 3, 3, 2, 1, 1, false),
            (4, 8, 5, 6, 8, 3, 3, 1, 1, 1, 8, true),
        ];
        for nhwc in [false, true] {
            for (ci, &(n, c, h, w, oc, kh, kw, s, pd, dl, gr, bias)) in cases.iter().enumerate() {
                let layout = if nhwc { " layout=nhwc" } else { "" };
                let (xs, ws) = if nhwc {
                    (vec![n, h, w, c], vec![oc, kh, kw, c / gr as usize])
                } else {
                    (vec![n, c, h, w], vec![oc, c / gr as usize, kh, kw])
                };
                let ty = |s: &[usize]| {
                    format!(
                        "f64[{}]",
                        s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                    )
                };
                let (bp, bo) = if bias {
                    (", %b: f64[".to_string() + &oc.to_string() + "]", ", %b")
                } else {
                    (String::new(), "")
                };
                let a = Conv2dAttrs {
                    stride: [s, s],
                    padding: [pd, pd],
                    dilation: [dl, dl],
                    groups: gr,
                    channels_last: nhwc,
                };
                let g = ConvGeometry::new(&a, &xs, &ws).unwrap();
                let os = if nhwc { vec![n, g.oh, g.ow, oc] } else { vec![n, oc, g.oh, g.ow] };
                let src = format!(
                    "func @c(%x: {}, %w: {}{bp}) -> ({}) {{\n  %y = conv2d(%x, %w{bo}) stride=[{s}, {s}] padding=[{pd}, {pd}] dilation=[{dl}, {dl}] groups={gr}{layout}\n  return %y\n}}",
                    ty(&xs),
                    ty(&ws),
                    ty(&os)
                );
                let f = parse_func(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
                let (x, wv, b) =
                    (data(xs.iter().product(), 1), data(ws.iter().product(), 2), data(oc, 3));
                let mut inputs = vec![
                    HostTensor::from_f64(DType::F64, &xs, x.clone()),
                    HostTensor::from_f64(DType::F64, &ws, wv.clone()),
                ];
                if bias {
                    inputs.push(HostTensor::from_f64(DType::F64, &[oc], b.clone()));
                }
                let want = interp::run(&f, &inputs, &Default::default()).unwrap()[0].to_f64_vec();
                // A budget of one image, of two, and of everything.
                for budget in [1, g.columns_per_image() * 2, usize::MAX / 2] {
                    let plan = conv_plan(&g, bias, budget);
                    let got = run_plan(&g, &plan, &x, &wv, &b);
                    let err = want.iter().zip(&got).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
                    assert!(err < 1e-9, "case {ci} nhwc={nhwc} budget={budget}: max error {err}");
                    let images: usize = plan.chunks.iter().map(|c| c.images).sum();
                    assert_eq!(images, n, "case {ci}: chunks cover every image once");
                }
            }
        }
    }

    #[test]
    fn one_by_one_convs_read_the_input_and_chunk_under_the_budget() {
        let a = Conv2dAttrs::default();
        let g = ConvGeometry::new(&a, &[4, 8, 5, 5], &[16, 8, 1, 1]).unwrap();
        let plan = conv_plan(&g, false, 10);
        assert_eq!((plan.columns, plan.chunks.len()), (0, 1));
        assert!(plan.chunks[0].im2col.is_none());
        assert_eq!(plan.chunks[0].gemms[0].a.buf, GemmBuf::Input);
        let a = Conv2dAttrs { padding: [1, 1], ..a };
        let g = ConvGeometry::new(&a, &[5, 2, 4, 4], &[3, 2, 3, 3]).unwrap();
        let per = g.columns_per_image();
        let plan = conv_plan(&g, true, per * 2 + 1);
        assert_eq!(plan.columns, per * 2);
        let firsts: Vec<usize> = plan.chunks.iter().map(|c| c.first).collect();
        assert_eq!(firsts, [0, 2, 4]);
        assert!(ConvGeometry::new(&a, &[1, 3, 4, 4], &[3, 2, 3, 3]).is_err());
    }
}
