//! Property test of views: random shapes, permutations, slices and
//! expands, then random reshapes. Whatever view or copy results must hold
//! the values that index arithmetic on the dense source gives.

use smelt_compiler::ir::DType;
use smelt_runtime::tensor::{Generator, Tensor};

/// Row-major values of `t` computed from its shape/strides/offset over the
/// dense values of its base `src` (which must own its storage from offset 0).
fn by_strides(t: &Tensor, src: &[f64]) -> Vec<f64> {
    let n = t.numel();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut rem = i;
        let mut off = t.offset() as isize;
        for d in (0..t.rank()).rev() {
            off += (rem % t.shape()[d]) as isize * t.strides()[d];
            rem /= t.shape()[d];
        }
        out.push(src[off as usize]);
    }
    out
}

/// A random factorization of `n` into up to 4 dims.
fn factor(n: usize, rng: &mut Generator) -> Vec<usize> {
    let mut dims = Vec::new();
    let mut rest = n;
    for _ in 0..3 {
        let divs: Vec<usize> = (1..=rest).filter(|d| rest % d == 0).collect();
        let d = divs[rng.below(divs.len() as u64) as usize];
        dims.push(d);
        rest /= d;
    }
    dims.push(rest);
    dims
}

#[test]
fn random_views_and_reshapes_hold_the_right_values() {
    let mut rng = Generator::new(99);
    for case in 0..300 {
        let rank = 1 + rng.below(4) as usize;
        let shape: Vec<usize> = (0..rank).map(|_| 1 + rng.below(5) as usize).collect();
        let n: usize = shape.iter().product();
        let base = Tensor::arange(0.0, n as f64, 1.0, DType::F32)
            .unwrap()
            .reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>())
            .unwrap();
        let src = base.to_f64_vec();
        let mut t = base.clone();
        // A random permutation.
        let mut perm: Vec<isize> = (0..rank as isize).collect();
        for i in (1..rank).rev() {
            perm.swap(i, rng.below(i as u64 + 1) as usize);
        }
        t = t.permute(&perm).unwrap();
        // A random slice of one dim.
        let d = rng.below(rank as u64) as usize;
        let len = t.shape()[d] as isize;
        let start = rng.below(len as u64) as isize;
        let step = 1 + rng.below(2) as usize;
        t = t.slice(d as isize, start, len, step).unwrap();
        // Sometimes an expand of a size-1 dim.
        if let Some(k) = t.shape().iter().position(|&s| s == 1)
            && rng.below(2) == 0
        {
            let mut want: Vec<isize> = t.shape().iter().map(|&s| s as isize).collect();
            want[k] = 3;
            t = t.expand(&want).unwrap();
        }
        assert!(t.shares_storage(&base));
        let expect = by_strides(&t, &src);
        assert_eq!(t.to_f64_vec(), expect, "case {case}: {t:?}");
        let target = factor(t.numel(), &mut rng);
        let r = t.reshape(&target.iter().map(|&d| d as isize).collect::<Vec<_>>()).unwrap();
        assert_eq!(r.shape(), &target[..]);
        assert_eq!(r.to_f64_vec(), expect, "case {case}: reshape {t:?} to {target:?} gave {r:?}");
        if r.shares_storage(&base) {
            assert_eq!(by_strides(&r, &src), expect, "case {case}: view strides of {r:?}");
        }
        // And the values survive an op (the dense copy before a kernel).
        assert_eq!(r.add(0.0).unwrap().to_f64_vec(), expect);
    }
}
