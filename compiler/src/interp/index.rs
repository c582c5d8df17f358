//! Index arithmetic on dense row-major tensors: strides, strided views (a base
//! offset plus one stride per result dim, 0 for a broadcast dim) and the flat
//! offsets a view visits.
//!
//! Every movement op and every broadcast of the interpreter is expressed as a
//! view over its operand's row-major data, so this file is the one place where
//! index bugs could hide; it stays deliberately naive (unravel each index).

use crate::tensor::Data;

/// Number of elements of a concrete shape.
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a concrete shape (last dim fastest).
pub(crate) fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

/// The flat offsets the view `(shape, strides, base)` visits, in row-major
/// order of `shape`: element `i` of the view is `base + Σ coord_d * strides[d]`.
pub(crate) fn view_offsets(
    shape: Vec<usize>,
    strides: Vec<usize>,
    base: usize,
) -> impl Iterator<Item = usize> {
    let n = numel(&shape);
    (0..n).map(move |i| {
        let mut rem = i;
        let mut off = base;
        for d in (0..shape.len()).rev() {
            off += (rem % shape[d]) * strides[d];
            rem /= shape[d];
        }
        off
    })
}

/// Numpy broadcasting of two concrete shapes (aligned right; 1 stretches).
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = (i + a.len()).checked_sub(rank).map(|j| a[j]);
        let db = (i + b.len()).checked_sub(rank).map(|j| b[j]);
        out.push(match (da, db) {
            (Some(x), None) | (None, Some(x)) => x,
            (Some(x), Some(y)) if x == y => x,
            (Some(1), Some(y)) => y,
            (Some(x), Some(1)) => x,
            _ => return None,
        });
    }
    Some(out)
}

/// Strides that read a row-major tensor of shape `from` as if it were
/// broadcast to `to` (numpy rules, one direction), or `None` if it is not.
pub(crate) fn broadcast_strides(from: &[usize], to: &[usize]) -> Option<Vec<usize>> {
    let off = to.len().checked_sub(from.len())?;
    let own = row_major_strides(from);
    let mut strides = vec![0; to.len()];
    for (j, &f) in from.iter().enumerate() {
        let t = to[off + j];
        if f == t {
            strides[off + j] = own[j];
        } else if f != 1 {
            return None;
        }
    }
    Some(strides)
}

/// The elements of `data` at `offsets`, in that order (same dtype family).
pub(crate) fn take(data: &Data, offsets: impl Iterator<Item = usize>) -> Data {
    match data {
        Data::Float(v) => Data::Float(offsets.map(|o| v[o]).collect()),
        Data::Int(v) => Data::Int(offsets.map(|o| v[o]).collect()),
        Data::Bool(v) => Data::Bool(offsets.map(|o| v[o]).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_views() {
        assert_eq!(row_major_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(row_major_strides(&[]), Vec::<usize>::new());
        // The transpose of a 2x3 matrix.
        let t: Vec<usize> = view_offsets(vec![3, 2], vec![1, 3], 0).collect();
        assert_eq!(t, vec![0, 3, 1, 4, 2, 5]);
        // A rank-0 view visits its base once; a zero-size view nothing.
        assert_eq!(view_offsets(vec![], vec![], 7).collect::<Vec<_>>(), vec![7]);
        assert_eq!(view_offsets(vec![2, 0], vec![1, 1], 0).count(), 0);
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shape(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shape(&[3], &[4]), None);
        assert_eq!(broadcast_shape(&[0, 1], &[1, 5]), Some(vec![0, 5]));
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), Some(vec![0, 1, 0]));
        assert_eq!(broadcast_strides(&[3], &[3, 2]), None);
        assert_eq!(broadcast_strides(&[2, 3], &[3]), None);
    }
}
