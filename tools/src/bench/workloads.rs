//! The fusion workloads of BENCHMARKS.md as IR text, one list for every
//! device, with the sizes of each (CPU and GPU differ; the IR does not).
//!
//! Each workload is one function written for a dtype (`f32` or `bf16`: the
//! ops run in that dtype, so a fused kernel computes in f32 and rounds once
//! at its outputs while the unfused run rounds after every op, as eager
//! frameworks do). Sizes are symbols (`n` rows, `s` elements) bound by
//! [`Workload::bindings`] (CPU) and [`Workload::gpu_bindings`] (GPU), so a
//! test can run the same text at a small size.
//! [`Workload::counted`] names the parameters whose bytes count (the table
//! of BENCHMARKS.md; results always count).

use std::fmt::Write;

use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::DType;

/// One benchmark program.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Short name for the table (`layernorm`, …).
    pub name: &'static str,
    /// Its element type.
    pub dtype: DType,
    /// The IR text (one function).
    pub ir: String,
    /// The symbol sizes of the CPU shapes.
    pub bindings: Bindings,
    /// The symbol sizes of the GPU shapes (BENCHMARKS.md's larger ones).
    pub gpu_bindings: Bindings,
    /// The parameters whose bytes are counted (read), besides every result (written).
    pub counted: Vec<String>,
}

/// Rows of the normalization workloads on CPU.
pub const ROWS: u64 = 16384;
/// Their row length.
pub const COLS: u64 = 1024;
/// Elements of the pointwise workload on CPU (2^24).
pub const POINTWISE: u64 = 1 << 24;
/// Tensors in the AdamW step.
pub const ADAM_TENSORS: usize = 64;
/// Elements of each AdamW tensor on CPU (2^16).
pub const ADAM_SIZE: u64 = 1 << 16;
/// Rows of the normalization workloads on GPU.
pub const GPU_ROWS: u64 = 32768;
/// Elements of the pointwise workload on GPU (2^26).
pub const GPU_POINTWISE: u64 = 1 << 26;
/// Elements of each AdamW tensor on GPU (2^20).
pub const GPU_ADAM_SIZE: u64 = 1 << 20;

/// Every fusion workload for `dtype`, in the order of BENCHMARKS.md.
pub fn fusion_suite(dtype: DType) -> Vec<Workload> {
    vec![
        pointwise(dtype),
        layernorm(dtype),
        softmax(dtype),
        rmsnorm(dtype),
        bias_residual_layernorm(dtype),
        adamw(dtype),
    ]
}

fn bind(pairs: &[(&str, u64)]) -> Bindings {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `gelu(x * 1.7 + 0.3)`, erf form, on `[2^24]` (GPU `[2^26]`).
pub fn pointwise(t: DType) -> Workload {
    let ir = format!(
        "; gelu(x * 1.7 + 0.3), erf form: 0.5 u (1 + erf(u / sqrt 2))
func @pointwise(%x: {t}[n]) -> ({t}[n]) {{
  %a = mul(%x, 1.7)
  %u = add(%a, 0.3)
  %s = mul(%u, 0.7071067811865476)
  %e = erf(%s)
  %p = add(%e, 1.0)
  %h = mul(%u, 0.5)
  %y = mul(%h, %p)
  return %y
}}
"
    );
    Workload {
        name: "pointwise",
        dtype: t,
        ir,
        bindings: bind(&[("n", POINTWISE)]),
        gpu_bindings: bind(&[("n", GPU_POINTWISE)]),
        counted: names(&["x"]),
    }
}

/// The layer-norm body over `%h` (already defined), writing `%out`.
fn layer_norm_body(t: DType, h: &str) -> String {
    format!(
        "  %mean = mean(%{h}) dims=[1] keepdim=true
  %hc   = sub(%{h}, %mean)
  %sq   = mul(%hc, %hc)
  %var  = mean(%sq) dims=[1] keepdim=true
  %ve   = add(%var, 1e-5)
  %inv  = rsqrt(%ve)
  %y    = mul(%hc, %inv)
  %yw   = mul(%y, %w)
  %out  = add(%yw, %b)      : {t}[n, {COLS}]
  return %out
"
    )
}

/// Layer norm over the last dim of `[16384, 1024]` (GPU `[32768, 1024]`), with weight and bias.
pub fn layernorm(t: DType) -> Workload {
    let ir = format!(
        "func @layernorm(%x: {t}[n, {COLS}], %w: {t}[{COLS}], %b: {t}[{COLS}]) -> ({t}[n, {COLS}]) {{
{}}}
",
        layer_norm_body(t, "x")
    );
    Workload {
        name: "layernorm",
        dtype: t,
        ir,
        bindings: bind(&[("n", ROWS)]),
        gpu_bindings: bind(&[("n", GPU_ROWS)]),
        counted: names(&["x"]),
    }
}

/// Softmax over the last dim of `[16384, 1024]`.
pub fn softmax(t: DType) -> Workload {
    let ir = format!(
        "func @softmax(%x: {t}[n, {COLS}]) -> ({t}[n, {COLS}]) {{
  %m = max(%x) dims=[1] keepdim=true
  %s = sub(%x, %m)
  %e = exp(%s)
  %z = sum(%e) dims=[1] keepdim=true
  %y = div(%e, %z)
  return %y
}}
"
    );
    Workload {
        name: "softmax",
        dtype: t,
        ir,
        bindings: bind(&[("n", ROWS)]),
        gpu_bindings: bind(&[("n", GPU_ROWS)]),
        counted: names(&["x"]),
    }
}

/// `x * rsqrt(mean(x²) + 1e-6) * w` over `[16384, 1024]`.
pub fn rmsnorm(t: DType) -> Workload {
    let ir = format!(
        "func @rmsnorm(%x: {t}[n, {COLS}], %w: {t}[{COLS}]) -> ({t}[n, {COLS}]) {{
  %sq  = mul(%x, %x)
  %ms  = mean(%sq) dims=[1] keepdim=true
  %me  = add(%ms, 1e-6)
  %r   = rsqrt(%me)
  %y   = mul(%x, %r)
  %out = mul(%y, %w)
  return %out
}}
"
    );
    Workload {
        name: "rmsnorm",
        dtype: t,
        ir,
        bindings: bind(&[("n", ROWS)]),
        gpu_bindings: bind(&[("n", GPU_ROWS)]),
        counted: names(&["x"]),
    }
}

/// `layer_norm(x + bias + r)` over `[16384, 1024]`.
pub fn bias_residual_layernorm(t: DType) -> Workload {
    let ir = format!(
        "func @bias_residual_layernorm(%x: {t}[n, {COLS}], %bias: {t}[{COLS}], %r: {t}[n, {COLS}], %w: {t}[{COLS}], %b: {t}[{COLS}]) -> ({t}[n, {COLS}]) {{
  %xb = add(%x, %bias)
  %h  = add(%xb, %r)
{}}}
",
        layer_norm_body(t, "h")
    );
    Workload {
        name: "bias+residual+layernorm",
        dtype: t,
        ir,
        bindings: bind(&[("n", ROWS)]),
        gpu_bindings: bind(&[("n", GPU_ROWS)]),
        counted: names(&["x", "r"]),
    }
}

/// AdamW hyper-parameters of the step (PyTorch defaults, step 10).
pub mod adam {
    /// Learning rate.
    pub const LR: f64 = 1e-3;
    /// First-moment decay.
    pub const B1: f64 = 0.9;
    /// Second-moment decay.
    pub const B2: f64 = 0.999;
    /// Denominator guard.
    pub const EPS: f64 = 1e-8;
    /// Decoupled weight decay.
    pub const WD: f64 = 0.01;
    /// The step number the bias corrections are for.
    pub const STEP: i32 = 10;
}

/// One AdamW step over 64 tensors of `[2^16]` (GPU `[2^20]`; PyTorch's update):
/// `m = b1 m + (1−b1) g; v = b2 v + (1−b2) g²;
/// p = p − lr (m / bc1) / (sqrt(v / bc2) + eps) − lr wd p`.
pub fn adamw(t: DType) -> Workload {
    use adam::*;
    let bc1 = 1.0 - B1.powi(STEP);
    let bc2 = 1.0 - B2.powi(STEP);
    let mut params = Vec::new();
    let mut results = Vec::new();
    let mut returns = Vec::new();
    let mut body = String::new();
    for i in 0..ADAM_TENSORS {
        for v in ["p", "g", "m", "v"] {
            params.push(format!("%{v}{i}: {t}[s]"));
        }
        results.extend([format!("{t}[s]"), format!("{t}[s]"), format!("{t}[s]")]);
        returns.extend([format!("%pn{i}"), format!("%mn{i}"), format!("%vn{i}")]);
        // Writing into a String cannot fail.
        let _ = write!(
            body,
            "  %ma{i} = mul(%m{i}, {B1:?})
  %ga{i} = mul(%g{i}, {c1:?})
  %mn{i} = add(%ma{i}, %ga{i})
  %va{i} = mul(%v{i}, {B2:?})
  %gq{i} = mul(%g{i}, %g{i})
  %gb{i} = mul(%gq{i}, {c2:?})
  %vn{i} = add(%va{i}, %gb{i})
  %mh{i} = div(%mn{i}, {bc1:?})
  %vh{i} = div(%vn{i}, {bc2:?})
  %sq{i} = sqrt(%vh{i})
  %de{i} = add(%sq{i}, {EPS:?})
  %u{i}  = div(%mh{i}, %de{i})
  %lu{i} = mul(%u{i}, {LR:?})
  %wd{i} = mul(%p{i}, {lw:?})
  %pa{i} = sub(%p{i}, %lu{i})
  %pn{i} = sub(%pa{i}, %wd{i})
",
            c1 = 1.0 - B1,
            c2 = 1.0 - B2,
            lw = LR * WD,
        );
    }
    let ir = format!(
        "; One AdamW step over {ADAM_TENSORS} tensors (lr {LR}, betas ({B1}, {B2}), eps {EPS}, wd {WD}, step {STEP})
func @adamw({}) -> ({}) {{
{body}  return {}
}}
",
        params.join(", "),
        results.join(", "),
        returns.join(", ")
    );
    let mut counted = Vec::new();
    for i in 0..ADAM_TENSORS {
        counted.extend(["p", "g", "m", "v"].map(|v| format!("{v}{i}")));
    }
    Workload {
        name: "adamw step",
        dtype: t,
        ir,
        bindings: bind(&[("s", ADAM_SIZE)]),
        gpu_bindings: bind(&[("s", GPU_ADAM_SIZE)]),
        counted,
    }
}
