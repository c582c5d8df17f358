//! The op → CUDA C++ snippet table (STYLE.md 7) and the shared preamble.
//!
//! Every value is computed in its dtype's *compute type*: `float` for f32,
//! f16 and bf16 (narrow floats are widened on load and rounded once on
//! store, or at an explicit `cast`), `double` for f64, `long long` for every
//! integer dtype (wrapped back to the dtype's width after each op, as the
//! interpreter does) and `bool`. Snippets only combine already-computed
//! operand expressions; index math lives in [`super::emit`].
//!
//! Where the interpreter reports an error (integer division by zero, a
//! negative integer exponent) a kernel cannot; it gives 0 instead. That is
//! the one documented difference from `interp`.

use crate::ir::{Binary, DType, ReduceKind, Scalar, Unary};
use crate::numerics::round_to;

/// The C++ type values of `d` are computed in.
pub fn compute_type(d: DType) -> &'static str {
    match d {
        DType::F64 => "double",
        DType::F32 | DType::F16 | DType::BF16 => "float",
        DType::I64 | DType::I32 | DType::I8 | DType::U8 => "long long",
        DType::Bool => "bool",
    }
}

/// The C++ element type of a buffer of `d` (narrow floats as raw bits).
pub fn storage_type(d: DType) -> &'static str {
    match d {
        DType::F64 => "double",
        DType::F32 => "float",
        DType::F16 | DType::BF16 => "unsigned short",
        DType::I64 => "long long",
        DType::I32 => "int",
        DType::I8 => "signed char",
        DType::U8 | DType::Bool => "unsigned char",
    }
}

/// An unsigned C++ type of `bytes` bytes for vector loads and stores.
pub fn vector_type(bytes: usize) -> &'static str {
    match bytes {
        16 => "uint4",
        8 => "uint2",
        4 => "unsigned int",
        2 => "unsigned short",
        _ => "unsigned char",
    }
}

/// A stored element (`raw`, of storage type) widened to the compute type.
pub fn load(d: DType, raw: &str) -> String {
    match d {
        DType::F32 | DType::F64 => raw.to_string(),
        DType::F16 => format!("smelt_h2f({raw})"),
        DType::BF16 => format!("smelt_bf2f({raw})"),
        DType::I64 => raw.to_string(),
        DType::I32 | DType::I8 | DType::U8 => format!("(long long){raw}"),
        DType::Bool => format!("({raw} != 0)"),
    }
}

/// A computed value narrowed to the storage type (rounding narrow floats once).
pub fn store(d: DType, v: &str) -> String {
    match d {
        DType::F32 | DType::F64 | DType::I64 => v.to_string(),
        DType::F16 => format!("smelt_f2h({v})"),
        DType::BF16 => format!("smelt_f2bf({v})"),
        DType::I32 => format!("(int){v}"),
        DType::I8 => format!("(signed char){v}"),
        DType::U8 => format!("(unsigned char){v}"),
        DType::Bool => format!("(unsigned char)({v} ? 1 : 0)"),
    }
}

/// Wraps an integer result to the width of `d` (identity for other dtypes).
fn wrap(d: DType, v: String) -> String {
    match d {
        DType::I32 => format!("(long long)(int)({v})"),
        DType::I8 => format!("(long long)(signed char)({v})"),
        DType::U8 => format!("(long long)(unsigned char)({v})"),
        _ => v,
    }
}

/// A literal of dtype `d` in its compute type. Float literals are rounded to
/// `d` first, as the interpreter rounds them.
pub fn literal(s: Scalar, d: DType) -> String {
    if d == DType::Bool {
        return if s.as_f64() != 0.0 { "true".into() } else { "false".into() };
    }
    if d.is_int() {
        return match s {
            Scalar::Int(i) => int_literal(i),
            other => int_literal(other.as_f64() as i64),
        };
    }
    let v = match s {
        Scalar::Int(i) => round_to(d, i as f64),
        other => round_to(d, other.as_f64()),
    };
    if d == DType::F64 {
        return if v.is_nan() {
            "__longlong_as_double(0x7ff8000000000000LL)".into()
        } else if v.is_infinite() {
            format!("{}__longlong_as_double(0x7ff0000000000000LL)", if v < 0.0 { "-" } else { "" })
        } else {
            format!("{v:?}")
        };
    }
    let f = v as f32;
    if f.is_nan() {
        "__int_as_float(0x7fc00000)".into()
    } else if f.is_infinite() {
        format!("{}__int_as_float(0x7f800000)", if f < 0.0 { "-" } else { "" })
    } else {
        let t = format!("{f:?}");
        format!("{t}f")
    }
}

/// One element of a constant table: `(C++ element type, initializer)`.
/// Floats are stored as bit patterns, because a `__device__` table must be
/// initialized by constants and `__int_as_float` is not one.
pub fn table_item(s: Scalar, d: DType) -> (&'static str, String) {
    let v = match s {
        Scalar::Int(i) if d.is_float() => round_to(d, i as f64),
        other => round_to(d, other.as_f64()),
    };
    match d {
        DType::F64 => ("unsigned long long", format!("0x{:016x}ull", v.to_bits())),
        DType::F32 => ("unsigned int", format!("0x{:08x}u", (v as f32).to_bits())),
        DType::F16 => ("unsigned short", format!("0x{:04x}", half::f16::from_f64(v).to_bits())),
        DType::BF16 => {
            ("unsigned short", format!("0x{:04x}", crate::numerics::f32_to_bf16_bits(v as f32)))
        }
        DType::Bool => ("unsigned char", if s.as_f64() != 0.0 { "1" } else { "0" }.into()),
        _ => (storage_type(d), literal(s, d)),
    }
}

/// Reads element `raw` of a constant table of dtype `d` (see [`table_item`]).
pub fn table_load(d: DType, raw: &str) -> String {
    match d {
        DType::F64 => format!("__longlong_as_double((long long){raw})"),
        DType::F32 => format!("__uint_as_float({raw})"),
        _ => load(d, raw),
    }
}

/// An `i64` as a C++ literal (`i64::MIN` has no literal of its own).
pub fn int_literal(i: i64) -> String {
    if i == i64::MIN { "(-9223372036854775807LL - 1)".into() } else { format!("{i}LL") }
}

/// Converts a value of compute type for `from` to the compute type for `to`
/// (`cast`): saturating float→int, wrapping int→int, rounding to a narrow
/// float when `to` is f16 or bf16.
pub fn cast(from: DType, to: DType, v: &str) -> String {
    // A narrow float is held in f32 inside a kernel; a cast observes it at
    // its own dtype, as the interpreter does (so an f16/bf16 → f32 upcast is
    // exact, and a float → int cast sees the rounded value).
    let rounded;
    let v = match from {
        DType::F16 if to != from => {
            rounded = format!("smelt_h2f(smelt_f2h({v}))");
            rounded.as_str()
        }
        DType::BF16 if to != from => {
            rounded = format!("smelt_bf2f(smelt_f2bf({v}))");
            rounded.as_str()
        }
        _ => v,
    };
    if to == DType::Bool {
        return format!("({v} != 0)");
    }
    if to.is_int() {
        return if from.is_float() {
            let f = match to {
                DType::I32 => "smelt_f2i32",
                DType::I8 => "smelt_f2i8",
                DType::U8 => "smelt_f2u8",
                _ => "smelt_f2i64",
            };
            format!("{f}((double)({v}))")
        } else {
            wrap(to, format!("(long long)({v})"))
        };
    }
    let ct = compute_type(to);
    let widened = format!("({ct})({v})");
    match to {
        DType::F16 => format!("smelt_h2f(smelt_f2h({widened}))"),
        DType::BF16 => format!("smelt_bf2f(smelt_f2bf({widened}))"),
        _ => widened,
    }
}

/// The one `match` from a unary op to its snippet.
pub fn unary(kind: Unary, d: DType, x: &str) -> String {
    let f32 = compute_type(d) == "float";
    let fname = |single: &str, double: &str| {
        if f32 { format!("{single}({x})") } else { format!("{double}({x})") }
    };
    if d.is_int() {
        return match kind {
            Unary::Neg => wrap(d, format!("smelt_ineg({x})")),
            Unary::Abs => wrap(d, format!("smelt_iabs({x})")),
            Unary::Sign => format!("(long long)(({x} > 0) - ({x} < 0))"),
            Unary::Relu => format!("({x} > 0 ? {x} : 0LL)"),
            // Rounding is the identity on integers; the others refuse ints.
            _ => x.to_string(),
        };
    }
    match kind {
        Unary::Neg => format!("(-{x})"),
        Unary::Abs => fname("fabsf", "fabs"),
        Unary::Exp => fname("expf", "exp"),
        Unary::Exp2 => fname("exp2f", "exp2"),
        Unary::Log => fname("logf", "log"),
        Unary::Log2 => fname("log2f", "log2"),
        Unary::Sqrt => fname("sqrtf", "sqrt"),
        Unary::Rsqrt => fname("rsqrtf", "rsqrt"),
        Unary::Recip => format!("(1 / {x})"),
        Unary::Sin => fname("sinf", "sin"),
        Unary::Cos => fname("cosf", "cos"),
        Unary::Tanh => fname("tanhf", "tanh"),
        Unary::Sigmoid => {
            if f32 {
                format!("(1.0f / (1.0f + expf(-{x})))")
            } else {
                format!("(1.0 / (1.0 + exp(-{x})))")
            }
        }
        Unary::Erf => fname("erff", "erf"),
        Unary::Floor => fname("floorf", "floor"),
        Unary::Ceil => fname("ceilf", "ceil"),
        Unary::Round => fname("rintf", "rint"),
        Unary::Sign => format!("smelt_sign({x})"),
        Unary::Relu => format!("smelt_relu({x})"),
        Unary::Not => format!("(!{x})"),
    }
}

/// The one `match` from a binary op to its snippet; `d` is the operands' dtype.
pub fn binary(kind: Binary, d: DType, a: &str, b: &str) -> String {
    if d.is_int() {
        return match kind {
            Binary::Add => wrap(d, format!("smelt_iadd({a}, {b})")),
            Binary::Sub => wrap(d, format!("smelt_isub({a}, {b})")),
            Binary::Mul => wrap(d, format!("smelt_imul({a}, {b})")),
            Binary::Div => wrap(d, format!("smelt_idiv({a}, {b})")),
            Binary::Rem => wrap(d, format!("smelt_irem({a}, {b})")),
            Binary::Pow => wrap(d, format!("smelt_ipow({a}, {b})")),
            Binary::Max => format!("({a} > {b} ? {a} : {b})"),
            Binary::Min => format!("({a} < {b} ? {a} : {b})"),
            _ => comparison(kind, a, b),
        };
    }
    let f32 = compute_type(d) == "float";
    match kind {
        Binary::Add => format!("({a} + {b})"),
        Binary::Sub => format!("({a} - {b})"),
        Binary::Mul => format!("({a} * {b})"),
        Binary::Div => format!("({a} / {b})"),
        Binary::Rem => format!("{}({a}, {b})", if f32 { "fmodf" } else { "fmod" }),
        Binary::Pow => format!("{}({a}, {b})", if f32 { "powf" } else { "pow" }),
        Binary::Max => format!("smelt_max({a}, {b})"),
        Binary::Min => format!("smelt_min({a}, {b})"),
        Binary::And => format!("({a} && {b})"),
        Binary::Or => format!("({a} || {b})"),
        _ => comparison(kind, a, b),
    }
}

fn comparison(kind: Binary, a: &str, b: &str) -> String {
    let op = match kind {
        Binary::Eq => "==",
        Binary::Ne => "!=",
        Binary::Lt => "<",
        Binary::Le => "<=",
        Binary::Gt => ">",
        _ => ">=",
    };
    format!("({a} {op} {b})")
}

/// A reduction's identity and its combining functor (defined in the
/// preamble), for the accumulation type of `d`.
pub fn reduce_init(kind: ReduceKind, d: DType) -> (String, &'static str) {
    let ct = compute_type(d);
    match kind {
        ReduceKind::Sum | ReduceKind::Mean => (format!("({ct})0"), "SmeltAdd"),
        ReduceKind::Prod => (format!("({ct})1"), "SmeltMul"),
        ReduceKind::Max => (lowest(d), "SmeltMax"),
        ReduceKind::Min => (highest(d), "SmeltMin"),
        // Arg reductions track (value, index) pairs; see the preamble.
        ReduceKind::Argmax | ReduceKind::Argmin => (format!("({ct})0"), "SmeltArg"),
    }
}

fn lowest(d: DType) -> String {
    match compute_type(d) {
        "float" => "-__int_as_float(0x7f800000)".into(),
        "double" => "-__longlong_as_double(0x7ff0000000000000LL)".into(),
        _ => "(-9223372036854775807LL - 1)".into(),
    }
}

fn highest(d: DType) -> String {
    match compute_type(d) {
        "float" => "__int_as_float(0x7f800000)".into(),
        "double" => "__longlong_as_double(0x7ff0000000000000LL)".into(),
        _ => "9223372036854775807LL".into(),
    }
}

/// Helpers every translation unit starts with. Needs no header: NVRTC
/// knows the math functions and intrinsics used here.
pub const PREAMBLE: &str = r#"// ---- smelt preamble: conversions, NaN-aware helpers, block reductions ----
#ifndef SMELT_PREAMBLE
#define SMELT_PREAMBLE
__device__ __forceinline__ float smelt_bf2f(unsigned short b) { return __uint_as_float(((unsigned int)b) << 16); }
// AMP.md's rule, in integer ops so it is bit-exact on every arch: NaN -> 0x7FC0, else round to nearest even.
__device__ __forceinline__ unsigned short smelt_f2bf(float x) {
  unsigned int u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)0x7FC0u;
  return (unsigned short)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float smelt_h2f(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ unsigned short smelt_f2h(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float smelt_max(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fc00000) : ((a > b || (a == b && (__float_as_uint(b) >> 31))) ? a : b); }
__device__ __forceinline__ float smelt_min(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fc00000) : ((a < b || (a == b && (__float_as_uint(a) >> 31))) ? a : b); }
__device__ __forceinline__ double smelt_max(double a, double b) { return (a != a || b != b) ? __longlong_as_double(0x7ff8000000000000LL) : ((a > b || (a == b && (__double_as_longlong(b) < 0))) ? a : b); }
__device__ __forceinline__ double smelt_min(double a, double b) { return (a != a || b != b) ? __longlong_as_double(0x7ff8000000000000LL) : ((a < b || (a == b && (__double_as_longlong(a) < 0))) ? a : b); }
__device__ __forceinline__ long long smelt_max(long long a, long long b) { return a > b ? a : b; }
__device__ __forceinline__ long long smelt_min(long long a, long long b) { return a < b ? a : b; }
__device__ __forceinline__ float smelt_sign(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); }
__device__ __forceinline__ double smelt_sign(double x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x); }
__device__ __forceinline__ float smelt_relu(float x) { return (x > 0.0f || x != x) ? x : 0.0f; }
__device__ __forceinline__ double smelt_relu(double x) { return (x > 0.0 || x != x) ? x : 0.0; }
// Integers wrap (two's complement through unsigned); division by zero gives 0.
__device__ __forceinline__ long long smelt_iadd(long long a, long long b) { return (long long)((unsigned long long)a + (unsigned long long)b); }
__device__ __forceinline__ long long smelt_isub(long long a, long long b) { return (long long)((unsigned long long)a - (unsigned long long)b); }
__device__ __forceinline__ long long smelt_imul(long long a, long long b) { return (long long)((unsigned long long)a * (unsigned long long)b); }
__device__ __forceinline__ long long smelt_ineg(long long a) { return (long long)(0ull - (unsigned long long)a); }
__device__ __forceinline__ long long smelt_iabs(long long a) { return a < 0 ? smelt_ineg(a) : a; }
__device__ __forceinline__ long long smelt_idiv(long long a, long long b) { return b == 0 ? 0 : (b == -1 ? smelt_ineg(a) : a / b); }
__device__ __forceinline__ long long smelt_irem(long long a, long long b) { return (b == 0 || b == -1) ? 0 : a % b; }
__device__ __forceinline__ long long smelt_ipow(long long a, long long e) {
  if (e < 0) return 0;
  long long acc = 1;
  while (e > 0) { if (e & 1) acc = smelt_imul(acc, a); a = smelt_imul(a, a); e >>= 1; }
  return acc;
}
// Float -> int saturates and sends NaN to 0 (Rust's `as`, which the interpreter uses).
__device__ __forceinline__ long long smelt_f2sat(double x, double lo, double hi) { return x != x ? 0 : (x <= lo ? (long long)lo : (x >= hi ? (long long)hi : (long long)x)); }
__device__ __forceinline__ long long smelt_f2i64(double x) { return x != x ? 0 : (x <= -9223372036854775808.0 ? (-9223372036854775807LL - 1) : (x >= 9223372036854775808.0 ? 9223372036854775807LL : (long long)x)); }
__device__ __forceinline__ long long smelt_f2i32(double x) { return smelt_f2sat(x, -2147483648.0, 2147483647.0); }
__device__ __forceinline__ long long smelt_f2i8(double x) { return smelt_f2sat(x, -128.0, 127.0); }
__device__ __forceinline__ long long smelt_f2u8(double x) { return smelt_f2sat(x, 0.0, 255.0); }
struct SmeltAdd { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
                  __device__ __forceinline__ long long operator()(long long a, long long b) const { return smelt_iadd(a, b); } };
struct SmeltMul { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a * b; }
                  __device__ __forceinline__ long long operator()(long long a, long long b) const { return smelt_imul(a, b); } };
struct SmeltMax { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return smelt_max(a, b); } };
struct SmeltMin { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return smelt_min(a, b); } };
// Whether (v, i) replaces the best (bv, bi) of an argmax/argmin: the first
// index of the extreme; a NaN counts as both extremes and the first NaN wins;
// index -1 is "nothing yet".
template <class T> __device__ __forceinline__ bool smelt_arg_better(bool is_max, T bv, long long bi, T v, long long i) {
  if (i < 0) return false;
  if (bi < 0) return true;
  bool bn = bv != bv, vn = v != v;
  if (bn && vn) return i < bi;
  if (bn) return false;
  if (vn) return true;
  if (v == bv) return i < bi;
  return is_max ? v > bv : v < bv;
}
// Warp-wide reduction (one warp per row): a shuffle butterfly, so every
// lane ends with the same value (op is commutative: both lanes of a pair
// combine the same two values). No shared memory, no barrier.
template <class T, class Op> __device__ __forceinline__ T smelt_warp_reduce(T v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <class T> __device__ __forceinline__ void smelt_warp_arg(bool is_max, T& v, long long& i) {
  for (int o = 16; o > 0; o >>= 1) {
    T ov = __shfl_xor_sync(0xffffffffu, v, o);
    long long oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (smelt_arg_better(is_max, v, i, ov, oi)) { v = ov; i = oi; }
  }
}
// Block-wide reduction: warp shuffles, then one partial per warp in shared
// memory, combined by every thread in the same order (deterministic, and the
// result is in every thread). blockDim.x must be a multiple of 32.
template <class T, class Op> __device__ __forceinline__ T smelt_block_reduce(T v, Op op) {
  __shared__ T smelt_partial[32];
  v = smelt_warp_reduce(v, op);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) smelt_partial[warp] = v;
  __syncthreads();
  T r = smelt_partial[0];
  for (int w = 1; w < warps; ++w) r = op(r, smelt_partial[w]);
  return r;
}
template <class T> __device__ __forceinline__ void smelt_block_arg(bool is_max, T& v, long long& i) {
  __shared__ T smelt_arg_v[32];
  __shared__ long long smelt_arg_i[32];
  smelt_warp_arg(is_max, v, i);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) { smelt_arg_v[warp] = v; smelt_arg_i[warp] = i; }
  __syncthreads();
  v = smelt_arg_v[0]; i = smelt_arg_i[0];
  for (int w = 1; w < warps; ++w) if (smelt_arg_better(is_max, v, i, smelt_arg_v[w], smelt_arg_i[w])) { v = smelt_arg_v[w]; i = smelt_arg_i[w]; }
}
#endif
// ---- end of preamble ----
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_rounded_to_their_dtype_and_spell_specials() {
        assert_eq!(literal(Scalar::Float(0.5), DType::F32), "0.5f");
        assert_eq!(literal(Scalar::Int(3), DType::F32), "3.0f");
        assert_eq!(literal(Scalar::Float(1e300), DType::F32), "__int_as_float(0x7f800000)");
        assert_eq!(literal(Scalar::Float(f64::NAN), DType::BF16), "__int_as_float(0x7fc00000)");
        // 1.001 is not a bf16: rounded to 1.0 as the interpreter does.
        assert_eq!(literal(Scalar::Float(1.001), DType::BF16), "1.0f");
        assert_eq!(literal(Scalar::Int(i64::MIN), DType::I64), "(-9223372036854775807LL - 1)");
        assert_eq!(literal(Scalar::Bool(true), DType::Bool), "true");
        assert_eq!(literal(Scalar::Float(0.1), DType::F64), "0.1");
    }

    #[test]
    fn integer_ops_wrap_to_their_width() {
        assert_eq!(
            binary(Binary::Add, DType::I8, "a", "b"),
            "(long long)(signed char)(smelt_iadd(a, b))"
        );
        assert_eq!(binary(Binary::Add, DType::I64, "a", "b"), "smelt_iadd(a, b)");
        assert_eq!(cast(DType::F32, DType::U8, "x"), "smelt_f2u8((double)(x))");
        assert_eq!(cast(DType::F32, DType::BF16, "x"), "smelt_bf2f(smelt_f2bf((float)(x)))");
    }
}
