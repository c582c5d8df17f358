//! The generated kernels of conv2d through cuBLAS (see
//! [`conv_plan`](crate::backend::cuda::conv_plan) for the host side): an
//! im2col kernel writing the columns matrix of a chunk of images, and a
//! kernel broadcasting the bias into the output before the gemms
//! accumulate onto it. Both only move stored elements (no arithmetic, so
//! one text serves every float dtype but for the element type), and every
//! size is an argument ([`IM2COL_ARGS`], [`BIAS_ARGS`]): one compile serves
//! every shape of the conv.

use crate::backend::cuda::conv_plan::{BIAS_ARGS, IM2COL_ARGS};
use crate::backend::cuda::snippets;
use crate::ir::DType;

fn args(names: &[&str]) -> String {
    names.iter().map(|a| format!(",\n    const long long {a}")).collect()
}

/// The im2col kernel `name`: columns of images `first..first+images` of `x`
/// (NCHW: `[images, C, KH, KW, OH, OW]`; NHWC: `[images, OH, OW, G, KH,
/// KW, C/G]`), zeros where a tap falls in the padding.
pub fn im2col_kernel(name: &str, d: DType, channels_last: bool) -> String {
    let t = snippets::storage_type(d);
    let (layout, decompose, read) = if channels_last {
        (
            "NHWC: one row per output position, (group, kh, kw, ic) along it",
            "    const long long icg = C / G;
    const long long ic = t % icg; t /= icg;
    const long long kw = t % KW; t /= KW;
    const long long kh = t % KH; t /= KH;
    const long long c = (t % G) * icg + ic; t /= G;
    const long long ow = t % OW; t /= OW;
    const long long oh = t % OH; t /= OH;",
            "x[((n * H + ih) * W + iw) * C + c]",
        )
    } else {
        (
            "NCHW: per image a (C·KH·KW) × (OH·OW) matrix",
            "    const long long ow = t % OW; t /= OW;
    const long long oh = t % OH; t /= OH;
    const long long kw = t % KW; t /= KW;
    const long long kh = t % KH; t /= KH;
    const long long c = t % C; t /= C;",
            "x[((n * C + c) * H + ih) * W + iw]",
        )
    };
    format!(
        "// {name}: conv2d im2col ({layout})
extern \"C\" __global__ void __launch_bounds__(256) {name}(
    {t}* __restrict__ cols,
    const {t}* __restrict__ x{}) {{
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {{
    long long t = i;
{decompose}
    const long long n = first + t;
    const long long ih = oh * SH - PH + kh * DH;
    const long long iw = ow * SW - PW + kw * DW;
    cols[i] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? {read} : ({t})0;
  }}
}}
",
        args(&IM2COL_ARGS)
    )
}

/// The bias kernel `name`: `out[i] = bias[(i / inner) % channels]` (the
/// gemms then add the taps onto it).
pub fn bias_kernel(name: &str, d: DType) -> String {
    let t = snippets::storage_type(d);
    format!(
        "// {name}: conv2d bias broadcast into the output (the gemms accumulate onto it)
extern \"C\" __global__ void __launch_bounds__(256) {name}(
    {t}* __restrict__ out,
    const {t}* __restrict__ bias{}) {{
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {{
    out[i] = bias[(i / inner) % channels];
  }}
}}
",
        args(&BIAS_ARGS)
    )
}
