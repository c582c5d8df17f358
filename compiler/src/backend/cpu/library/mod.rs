//! Library ops on CPU buffers: `matmul`, `conv2d`, `max_pool2d`,
//! `avg_pool2d`, called by the executor for `KernelKind::Library` plans.
//!
//! [`run_library`] checks every operand's dtype, shape and byte length
//! against the op's rules before touching memory, so a malformed call is a
//! [`LibraryError`] naming the op and the shapes, never a panic.
//!
//! Numerics: f32 and f64 compute in their own type (matmul and conv through
//! the `gemm` crate); f16 and bf16 widen to f32, accumulate in f32 and round
//! once per output element (bf16 with AMP.md's rule); integer matmul wraps
//! like the interpreter. Layout: every buffer is dense row-major in its
//! shape; conv and pools take NCHW, or NHWC when their `layout=nhwc`
//! attribute says so (the layout pass sets it; the shapes are then the
//! channels-last ones).
//!
//! Files: `typed.rs` (typed views, rounding on store, parallel-for),
//! `matmul.rs`, `conv.rs`, `conv_nhwc.rs`, `pool.rs`.

mod conv;
mod conv_nhwc;
mod matmul;
mod pool;
mod typed;

use super::buffer::{BufMut, BufRef};
use crate::ir::{DType, Op};

/// Why a library call could not run.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The op is not one of the library ops.
    #[error("{op}: not a library op (the CPU library runs matmul, conv2d, max_pool2d, avg_pool2d)")]
    NotLibrary {
        /// The op's name.
        op: &'static str,
    },
    /// Operands or output disagree with the op's rules.
    #[error("{op}: {detail} (operands {operands}; output {output})")]
    Invalid {
        /// The op's name.
        op: &'static str,
        /// What is wrong.
        detail: String,
        /// The operands' dtypes and shapes, e.g. `f32[2, 3], f32[3, 4]`.
        operands: String,
        /// The output's dtype and shape.
        output: String,
    },
}

/// Runs library op `op` on `inputs`, writing `out` (whose dtype and shape
/// must be the op's result type). `threads` bounds the worker threads used
/// (0 and 1 both mean the calling thread only).
pub fn run_library(
    op: &Op,
    inputs: &[BufRef<'_>],
    out: BufMut<'_>,
    threads: usize,
) -> Result<(), LibraryError> {
    let threads = threads.max(1);
    let call = Call { name: op.name(), inputs, out_dtype: out.dtype, out_shape: out.shape };
    call.check_buffers(&out)?;
    match op {
        Op::Matmul => matmul::matmul(&call, out.bytes, threads),
        Op::Conv2d(a) => conv::conv2d(&call, a, out.bytes, threads),
        Op::MaxPool2d(a) => pool::pool(&call, pool::Kind::Max, a, out.bytes, threads),
        Op::AvgPool2d(a) => pool::pool(&call, pool::Kind::Avg, a, out.bytes, threads),
        _ => Err(LibraryError::NotLibrary { op: call.name }),
    }
}

/// One call's operands, for validation and error messages.
pub(super) struct Call<'a, 'b> {
    name: &'static str,
    inputs: &'a [BufRef<'b>],
    out_dtype: DType,
    out_shape: &'a [usize],
}

impl Call<'_, '_> {
    /// An [`LibraryError::Invalid`] carrying this call's shapes.
    fn err(&self, detail: impl Into<String>) -> LibraryError {
        let operands =
            self.inputs.iter().map(|b| describe(b.dtype, b.shape)).collect::<Vec<_>>().join(", ");
        LibraryError::Invalid {
            op: self.name,
            detail: detail.into(),
            operands,
            output: describe(self.out_dtype, self.out_shape),
        }
    }

    /// Each buffer's byte length must be its shape's element count times the
    /// dtype's size: everything after indexes by shape.
    fn check_buffers(&self, out: &BufMut<'_>) -> Result<(), LibraryError> {
        let bad_len = |dtype: DType, shape: &[usize], len: usize| {
            shape
                .iter()
                .try_fold(dtype.size_bytes(), |acc, &d| acc.checked_mul(d))
                .is_none_or(|want| want != len)
        };
        for (i, b) in self.inputs.iter().enumerate() {
            if bad_len(b.dtype, b.shape, b.bytes.len()) {
                return Err(self.err(format!(
                    "operand {i} holds {} bytes, not the size of {}",
                    b.bytes.len(),
                    describe(b.dtype, b.shape)
                )));
            }
        }
        if bad_len(out.dtype, out.shape, out.bytes.len()) {
            return Err(self.err(format!("the output holds {} bytes", out.bytes.len())));
        }
        Ok(())
    }

    /// Exactly `n` operands (or between `n.0` and `n.1`).
    fn arity(&self, lo: usize, hi: usize) -> Result<(), LibraryError> {
        if self.inputs.len() < lo || self.inputs.len() > hi {
            let want = if lo == hi { format!("{lo}") } else { format!("{lo} to {hi}") };
            return Err(self.err(format!("takes {want} operands, got {}", self.inputs.len())));
        }
        Ok(())
    }

    /// All operands and the output share one dtype, for which `ok` holds.
    fn one_dtype(&self, ok: fn(DType) -> bool, kind: &str) -> Result<DType, LibraryError> {
        let d = self.out_dtype;
        if !ok(d) || self.inputs.iter().any(|b| b.dtype != d) {
            return Err(self.err(format!("operands and output must share one {kind} dtype")));
        }
        Ok(d)
    }

    /// The output shape must be `want`.
    fn out_shape_is(&self, want: &[usize]) -> Result<(), LibraryError> {
        if self.out_shape != want {
            return Err(self.err(format!("the output shape should be {want:?}")));
        }
        Ok(())
    }
}

/// `f32[2, 3]`.
fn describe(dtype: DType, shape: &[usize]) -> String {
    let dims = shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    format!("{dtype}[{dims}]")
}

/// The four dims of a rank-4 operand.
fn dims4(call: &Call<'_, '_>, what: &str, shape: &[usize]) -> Result<[usize; 4], LibraryError> {
    <[usize; 4]>::try_from(shape).map_err(|_| call.err(format!("{what} must be rank 4")))
}

/// One spatial output size `(in + 2p − (d(k−1) + 1)) / s + 1`, with checked
/// arithmetic (attributes may be absurd), or an error.
fn window_out(
    call: &Call<'_, '_>,
    input: usize,
    k: u64,
    s: u64,
    p: u64,
    d: u64,
) -> Result<usize, LibraryError> {
    let too_big =
        || call.err(format!("attributes kernel={k} stride={s} padding={p} dilation={d} overflow"));
    if k == 0 || s == 0 || d == 0 {
        return Err(call.err(format!("kernel={k} stride={s} dilation={d} must all be ≥ 1")));
    }
    let span = d.checked_mul(k - 1).and_then(|x| x.checked_add(1)).ok_or_else(too_big)?;
    let padded = p.checked_mul(2).and_then(|x| x.checked_add(input as u64)).ok_or_else(too_big)?;
    if padded < span {
        return Err(call.err(format!("window {span} is larger than the padded input {padded}")));
    }
    usize::try_from((padded - span) / s + 1).map_err(|_| too_big())
}

/// Window attributes converted to `usize` once they are known to be sane
/// (each bounded by the padded input size, which is a real size).
#[derive(Clone, Copy, Debug)]
struct Window {
    k: usize,
    s: usize,
    p: usize,
    d: usize,
}

impl Window {
    /// The input index tap `t` of output `o` reads, or `None` in the padding.
    #[inline]
    fn tap(self, o: usize, t: usize, size: usize) -> Option<usize> {
        (o * self.s + t * self.d).checked_sub(self.p).filter(|&x| x < size)
    }

    /// The outputs `o < outs` for which tap `t` falls inside `0..size`:
    /// `o·s + t·d − p ∈ [0, size)`, solved for `o`. Lets kernels run a
    /// branch-free loop over whole rows instead of testing every tap.
    fn valid_outputs(self, t: usize, size: usize, outs: usize) -> std::ops::Range<usize> {
        let off = t * self.d;
        // o·s ≥ p − off
        let lo = self.p.saturating_sub(off).div_ceil(self.s);
        // o·s ≤ size − 1 + p − off
        let hi = match (size + self.p).checked_sub(off + 1) {
            Some(top) => (top / self.s + 1).min(outs),
            None => 0,
        };
        lo.min(hi)..hi
    }

    /// The input index of output `o` for tap `t`, for `o` in
    /// [`Window::valid_outputs`].
    #[inline]
    fn input_of(self, o: usize, t: usize) -> usize {
        o * self.s + t * self.d - self.p
    }

    /// Builds one from u64 attributes, with an error if any does not fit.
    fn new(call: &Call<'_, '_>, k: u64, s: u64, p: u64, d: u64) -> Result<Window, LibraryError> {
        let c = |v: u64| {
            usize::try_from(v).map_err(|_| call.err(format!("attribute {v} is too large")))
        };
        Ok(Window { k: c(k)?, s: c(s)?, p: c(p)?, d: c(d)? })
    }
}

#[cfg(test)]
mod tests {
    use super::Window;

    #[test]
    fn valid_outputs_are_exactly_the_taps_inside_the_input() {
        for (k, s, p, d) in [(3, 1, 1, 1), (3, 2, 1, 1), (2, 3, 0, 2), (5, 1, 2, 3), (1, 1, 0, 1)] {
            let win = Window { k, s, p, d };
            for size in 1..12 {
                let outs = (size + 2 * p).saturating_sub(d * (k - 1) + 1) / s + 1;
                for t in 0..k {
                    let want: Vec<usize> =
                        (0..outs).filter(|&o| win.tap(o, t, size).is_some()).collect();
                    let got: Vec<usize> = win.valid_outputs(t, size, outs).collect();
                    assert_eq!(got, want, "{win:?} size {size} tap {t}");
                    assert!(got.iter().all(|&o| Some(win.input_of(o, t)) == win.tap(o, t, size)));
                }
            }
        }
    }
}
