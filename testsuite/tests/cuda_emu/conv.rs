//! conv2d and pools for the CUDA tests: cases at awkward sizes (odd H/W,
//! stride 2, padding, dilation, groups, channels not a multiple of 4, NCHW
//! and `layout=nhwc`), and the emulation of a conv through im2col + cuBLAS:
//! the generated bias and im2col kernels run in the emulation, the gemms
//! the host plan describes ([`conv_plan`]) run in `smelt_emu_gemm`.
//! Depthwise convs (conv 2 here) take the direct kernel either way.

use std::collections::HashMap;

use smelt_compiler::backend::cuda::conv_plan::{ConvGemm, ConvGeometry, GemmBuf, conv_plan};
use smelt_compiler::backend::cuda::snippets::{compute_type, load, storage_type, store};
use smelt_compiler::backend::kernel::KernelFunc;
use smelt_compiler::interp::{Bindings, concrete_shape};
use smelt_testsuite::inputs::Sizes;

/// The emulation's columns budget (elements): small, so that most convs
/// run in several chunks of images.
pub const EMU_COLUMNS_BUDGET: usize = 600;

fn dims(s: &[String]) -> String {
    s.join(", ")
}

/// (C, H, W, OC, KH, KW, stride, padding, dilation, groups, bias).
type ConvCase = (u64, u64, u64, u64, u64, u64, [u64; 2], [u64; 2], [u64; 2], u64, bool);

const CONVS: [ConvCase; 9] = [
    (3, 7, 9, 4, 3, 3, [1, 1], [1, 1], [1, 1], 1, true),
    (6, 9, 8, 4, 3, 2, [2, 2], [1, 0], [1, 1], 2, false),
    (5, 6, 7, 5, 2, 3, [1, 2], [2, 1], [2, 1], 5, true),
    (4, 5, 5, 6, 1, 1, [1, 1], [0, 0], [1, 1], 1, true),
    (6, 4, 3, 9, 1, 1, [1, 1], [0, 0], [1, 1], 3, false),
    (6, 7, 7, 8, 1, 1, [2, 2], [0, 0], [1, 1], 2, true),
    (7, 11, 4, 2, 5, 3, [3, 1], [2, 1], [1, 2], 1, false),
    (8, 10, 9, 8, 3, 3, [1, 1], [1, 1], [1, 1], 4, true),
    (3, 13, 13, 10, 4, 4, [2, 2], [1, 1], [1, 1], 1, true),
];

fn window(size: u64, k: u64, s: u64, p: u64, d: u64) -> u64 {
    (size + 2 * p - d * (k - 1) - 1) / s + 1
}

/// conv2d and pool functions (name, source, sizes): every conv of
/// [`CONVS`] and a few pools, NCHW and NHWC, in `dtypes`, with a
/// symbolic batch `N` at 1 and 3.
pub fn conv_cases(dtypes: &[&str]) -> Vec<(String, String, Vec<Sizes>)> {
    let sizes: Vec<Sizes> = [1u64, 3].iter().map(|&n| HashMap::from([("N".into(), n)])).collect();
    let mut out = Vec::new();
    for &d in dtypes {
        for nhwc in [false, true] {
            let lay = if nhwc { " layout=nhwc" } else { "" };
            let l = if nhwc { "nhwc" } else { "nchw" };
            // An NCHW-ordered [n, c, h, w] as the layout's type.
            let t = |n: &str, c: u64, h: u64, w: u64| -> String {
                let v = if nhwc {
                    [n.to_string(), h.to_string(), w.to_string(), c.to_string()]
                } else {
                    [n.to_string(), c.to_string(), h.to_string(), w.to_string()]
                };
                format!("{d}[{}]", dims(&v))
            };
            for (i, &(c, h, w, oc, kh, kw, s, p, dl, g, bias)) in CONVS.iter().enumerate() {
                let (oh, ow) = (window(h, kh, s[0], p[0], dl[0]), window(w, kw, s[1], p[1], dl[1]));
                let wt = t(&oc.to_string(), c / g, kh, kw);
                let (bp, bo) =
                    if bias { (format!(", %b: {d}[{oc}]"), ", %b") } else { (String::new(), "") };
                out.push((
                    format!("conv{i} {l} {d}"),
                    format!(
                        "func @conv(%x: {}, %w: {wt}{bp}) -> ({}) {{\n  %y = conv2d(%x, %w{bo}) stride=[{}, {}] padding=[{}, {}] dilation=[{}, {}] groups={g}{lay}\n  return %y\n}}",
                        t("N", c, h, w),
                        t("N", oc, oh, ow),
                        s[0],
                        s[1],
                        p[0],
                        p[1],
                        dl[0],
                        dl[1]
                    ),
                    sizes.clone(),
                ));
            }
            let (c, h, w) = (5, 7, 6);
            let (ka, kb) = ((3, 2), (2, 3));
            let oa = (window(h, ka.0, 2, 1, 1), window(w, ka.1, 1, 1, 1));
            let ob = (window(h, kb.0, 2, 0, 1), window(w, kb.1, 2, 1, 1));
            out.push((
                format!("pools {l} {d}"),
                format!(
                    "func @pools(%x: {}) -> ({}, {}, {}) {{\n  %a = max_pool2d(%x) kernel=[{}, {}] stride=[2, 1] padding=[1, 1]{lay}\n  %b = avg_pool2d(%x) kernel=[{}, {}] stride=[2, 1] padding=[1, 1] count_include_pad=true{lay}\n  %c = avg_pool2d(%x) kernel=[{}, {}] stride=[2, 2] padding=[0, 1] count_include_pad=false{lay}\n  return %a, %b, %c\n}}",
                    t("N", c, h, w),
                    t("N", c, oa.0, oa.1),
                    t("N", c, oa.0, oa.1),
                    t("N", c, ob.0, ob.1),
                    ka.0,
                    ka.1,
                    ka.0,
                    ka.1,
                    kb.0,
                    kb.1
                ),
                sizes.clone(),
            ));
        }
    }
    out
}

/// The emulation of one conv kernel through im2col + cuBLAS: C++ statements
/// for the body of `run_fN` (`ins`: the kernel inputs' buffer variables,
/// `out`: the output's). Kernels are called as `f{id}::name`.
pub fn emu_conv(
    id: usize,
    kf: &KernelFunc,
    c: &ConvGemm,
    b: &Bindings,
    ins: &[String],
    out: &str,
) -> Result<String, String> {
    let operand = |slot: usize| -> Result<(Vec<usize>, String), String> {
        let i = c.inputs[slot].ok_or_else(|| format!("{}: no operand {slot}", kf.name))?;
        let shape =
            concrete_shape(&kf.func.ty(kf.func.params()[i]).shape, b).map_err(|e| e.to_string())?;
        Ok((shape, ins[i].clone()))
    };
    let ((xs, x), (ws, w)) = (operand(0)?, operand(1)?);
    let g = ConvGeometry::new(&c.attrs, &xs, &ws)?;
    let plan = conv_plan(&g, c.bias.is_some(), EMU_COLUMNS_BUDGET);
    let (t, ct, esize) = (storage_type(c.dtype), compute_type(c.dtype), c.dtype.size_bytes());
    let cols = format!("cols_{out}");
    let mut s = format!("  unsigned char* {cols} = smelt_emu_buf({});\n", plan.columns * esize);
    let launch = |name: &str, total: i64, args: String| {
        let blocks = (total.max(1) as u64).div_ceil(256).clamp(1, 64);
        format!("  smelt_emu_launch({blocks}, 256, false, [&] {{ f{id}::{name}({args}); }});\n")
    };
    let list = |a: &[i64]| a.iter().map(|v| format!(", {v}LL")).collect::<String>();
    if let Some(args) = plan.bias {
        let name = c.bias.as_ref().ok_or("bias without a bias kernel")?;
        let (_, bias) = operand(2)?;
        let a = format!("({t}*){out}, (const {t}*){bias}{}", list(&args));
        s.push_str(&launch(name, args[0], a));
    }
    for chunk in &plan.chunks {
        if let Some(args) = &chunk.im2col {
            let name = c.im2col.as_ref().ok_or("im2col without an im2col kernel")?;
            let a = format!("({t}*){cols}, (const {t}*){x}{}", list(args));
            s.push_str(&launch(name, args[16], a));
        }
        for gm in &chunk.gemms {
            let ptr = |buf: GemmBuf, off: usize| {
                let v = match buf {
                    GemmBuf::Input => &x,
                    GemmBuf::Weight => &w,
                    GemmBuf::Columns => &cols,
                };
                format!("(const {t}*){v} + {off}")
            };
            s.push_str(&format!(
                "  smelt_emu_gemm<{t}>({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, ({t}*){out} + {}, {}, {}, {}, {}, []({t} v) {{ return {}; }}, []({ct} v) {{ return {}; }});\n",
                gm.a.trans,
                gm.b.trans,
                gm.m,
                gm.n,
                gm.k,
                ptr(gm.a.buf, gm.a.offset),
                gm.a.ld,
                gm.a.stride,
                ptr(gm.b.buf, gm.b.offset),
                gm.b.ld,
                gm.b.stride,
                gm.c_offset,
                gm.ldc,
                gm.c_stride,
                gm.batch,
                gm.accumulate,
                load(c.dtype, "v"),
                store(c.dtype, "v"),
            ));
        }
    }
    Ok(s)
}
