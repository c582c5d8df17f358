//! `matmul` with numpy semantics: a 1-D lhs is `[1, K]`, a 1-D rhs `[K, 1]`
//! (the added dim dropped from the result); batch dims broadcast.
//!
//! Floats go through the `gemm` crate one batch matrix at a time (f16/bf16
//! widened to f32 first, rounded once at the end); integers use a plain
//! triple loop in wrapping i64. Parallelism: many batches split across
//! scoped threads, each running a single-threaded gemm; few batches run in
//! order with gemm's own parallelism.

use gemm::Parallelism;

use super::typed::{Real, load, load_ints, par_chunks, store_ints, with_output};
use super::{Call, LibraryError};
use crate::ir::DType;

/// The problem after promotion: `batch` matrices of `m × k` @ `k × n`, and
/// for each the index of its lhs and rhs matrix (broadcast repeats them).
struct Problem {
    m: usize,
    k: usize,
    n: usize,
    lhs_mat: Vec<usize>,
    rhs_mat: Vec<usize>,
}

/// Validates and runs one matmul.
pub(super) fn matmul(
    call: &Call<'_, '_>,
    out: &mut [u8],
    threads: usize,
) -> Result<(), LibraryError> {
    call.arity(2, 2)?;
    let dtype = call.one_dtype(DType::is_numeric, "numeric")?;
    let p = problem(call)?;
    let (a, b) = (&call.inputs[0], &call.inputs[1]);
    let len = p.lhs_mat.len() * p.m * p.n;
    match dtype {
        DType::F64 => {
            let (x, y) = (load::<f64>(dtype, a.bytes), load::<f64>(dtype, b.bytes));
            with_output(dtype, out, len, |dst| batched(&p, &x, &y, dst, threads));
        }
        DType::F32 | DType::F16 | DType::BF16 => {
            let (x, y) = (load::<f32>(dtype, a.bytes), load::<f32>(dtype, b.bytes));
            with_output(dtype, out, len, |dst| batched(&p, &x, &y, dst, threads));
        }
        _ => {
            let (x, y) = (load_ints(dtype, a.bytes), load_ints(dtype, b.bytes));
            let mut acc = vec![0i64; len];
            par_chunks(&mut acc, (p.m * p.n).max(1), threads, |bi, dst| {
                int_matmul(
                    &p,
                    &x[p.lhs_mat[bi] * p.m * p.k..],
                    &y[p.rhs_mat[bi] * p.k * p.n..],
                    dst,
                )
            });
            store_ints(dtype, &acc, out);
        }
    }
    Ok(())
}

/// Promotes 1-D operands, checks the contraction and the batch broadcast,
/// and checks the output shape.
fn problem(call: &Call<'_, '_>) -> Result<Problem, LibraryError> {
    let (a, b) = (call.inputs[0].shape, call.inputs[1].shape);
    if a.is_empty() || b.is_empty() {
        return Err(call.err("operands must have rank ≥ 1"));
    }
    let (mut sa, mut sb) = (a.to_vec(), b.to_vec());
    let (a1, b1) = (sa.len() == 1, sb.len() == 1);
    if a1 {
        sa.insert(0, 1);
    }
    if b1 {
        sb.push(1);
    }
    let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (kb, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    if k != kb {
        return Err(call.err(format!("contraction dims differ ({k} vs {kb})")));
    }
    let (ba, bb) = (&sa[..sa.len() - 2], &sb[..sb.len() - 2]);
    let rank = ba.len().max(bb.len());
    let dim = |s: &[usize], i: usize| {
        let lead = rank - s.len();
        if i < lead { 1 } else { s[i - lead] }
    };
    let mut batch = Vec::with_capacity(rank);
    for i in 0..rank {
        let (x, y) = (dim(ba, i), dim(bb, i));
        batch.push(match (x, y) {
            _ if x == y => x,
            (1, _) => y,
            (_, 1) => x,
            _ => return Err(call.err(format!("batch dims {ba:?} and {bb:?} do not broadcast"))),
        });
    }
    let mut shape = batch.clone();
    if !a1 {
        shape.push(m);
    }
    if !b1 {
        shape.push(n);
    }
    call.out_shape_is(&shape)?;
    Ok(Problem {
        m,
        k,
        n,
        lhs_mat: matrix_indices(ba, &batch),
        rhs_mat: matrix_indices(bb, &batch),
    })
}

/// For each batch index of `batch` (row-major), the index of the matrix of
/// an operand whose batch dims are `own` (right-aligned, size-1 dims
/// broadcast).
fn matrix_indices(own: &[usize], batch: &[usize]) -> Vec<usize> {
    let lead = batch.len() - own.len();
    // Row-major strides of `own`, zeroed where it broadcasts.
    let mut strides = vec![0usize; batch.len()];
    let mut s = 1;
    for i in (0..own.len()).rev() {
        strides[lead + i] = if own[i] == 1 { 0 } else { s };
        s *= own[i];
    }
    let total: usize = batch.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; batch.len()];
    for _ in 0..total {
        out.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum());
        for d in (0..batch.len()).rev() {
            idx[d] += 1;
            if idx[d] < batch[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Every batch matrix of a float matmul into `dst` (`batch × m × n`).
fn batched<T: Real>(p: &Problem, x: &[T], y: &[T], dst: &mut [T], threads: usize) {
    let (m, k, n) = (p.m, p.k, p.n);
    if m * n == 0 {
        return;
    }
    let batches = p.lhs_mat.len();
    let one = |bi: usize, d: &mut [T], par: Parallelism| {
        let (lo, ro) = (p.lhs_mat[bi] * m * k, p.rhs_mat[bi] * k * n);
        gemm_into(m, k, n, &x[lo..lo + m * k], &y[ro..ro + k * n], d, par);
    };
    if batches >= threads || threads == 1 {
        par_chunks(dst, m * n, threads, |bi, d| one(bi, d, Parallelism::None));
    } else {
        for (bi, d) in dst.chunks_mut(m * n).enumerate() {
            one(bi, d, Parallelism::Rayon(threads));
        }
    }
}

/// `dst = lhs @ rhs` for dense row-major `m × k`, `k × n`, `m × n` slices.
pub(super) fn gemm_into<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[T],
    rhs: &[T],
    dst: &mut [T],
    par: Parallelism,
) {
    assert!(lhs.len() >= m * k && rhs.len() >= k * n && dst.len() >= m * n, "gemm bounds");
    if k == 0 {
        // An empty contraction is +0 everywhere; gemm is not asked.
        dst[..m * n].fill(T::ZERO);
        return;
    }
    let (k_i, n_i) = (k as isize, n as isize);
    // SAFETY: the slices hold at least the m×k, k×n and m×n elements the
    // strides reach (asserted above); `dst` is borrowed uniquely; T is f32
    // or f64, both of which gemm supports. `read_dst = false` makes the
    // result `beta · lhs · rhs` with beta = 1.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n_i,
            false,
            lhs.as_ptr(),
            1,
            k_i,
            rhs.as_ptr(),
            1,
            n_i,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            par,
        );
    }
}

/// One integer matrix product in wrapping i64 (truncated to the dtype on store).
fn int_matmul(p: &Problem, x: &[i64], y: &[i64], dst: &mut [i64]) {
    let (k, n) = (p.k, p.n);
    for (i, row) in dst.chunks_mut(n).enumerate() {
        row.fill(0);
        for t in 0..k {
            let a = x[i * k + t];
            for (j, o) in row.iter_mut().enumerate() {
                *o = o.wrapping_add(a.wrapping_mul(y[t * n + j]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matrix_indices;

    #[test]
    fn broadcast_batches_repeat_the_size_one_operand() {
        assert_eq!(matrix_indices(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(matrix_indices(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(matrix_indices(&[], &[2]), vec![0, 0]);
        assert_eq!(matrix_indices(&[], &[]), vec![0]);
    }
}
