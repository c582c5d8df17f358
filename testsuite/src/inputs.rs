//! Seeded random inputs for any function: one [`HostTensor`] per parameter,
//! with symbols bound to the sizes the caller gives.
//!
//! Invariants: the same function, sizes and seed give the same tensors;
//! every integer parameter used directly as `gather` indices gets values in
//! range of every axis it indexes (out-of-range indices are a run-time
//! error, not something a random input should hit); other integers are small
//! (|v| ≤ 4, or 0..=8 for `u8`) so that integer arithmetic stays far from
//! overflow; floats are uniform in [-3, 3], rounded to their dtype.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use smelt_compiler::HostTensor;
use smelt_compiler::ir::{DType, Dim, Func, Op, Operand, Shape};

/// Symbol name to size, as the interpreter's `Bindings`.
pub type Sizes = HashMap<String, u64>;

/// Binds every symbol the function's signature mentions to `size`.
pub fn bind_all(func: &Func, size: u64) -> Sizes {
    let mut out = Sizes::new();
    for &p in func.params() {
        for s in func.ty(p).shape.symbols() {
            out.insert(s.to_string(), size);
        }
    }
    out
}

/// The concrete sizes of `shape` under `sizes`; `Err` names an unbound symbol.
pub fn concrete(shape: &Shape, sizes: &Sizes) -> Result<Vec<usize>, String> {
    shape
        .dims()
        .iter()
        .map(|d| match d {
            Dim::Const(c) => Ok(*c as usize),
            Dim::Sym(s) => {
                sizes.get(s).map(|&v| v as usize).ok_or_else(|| format!("symbol {s} has no size"))
            }
        })
        .collect()
}

/// For each parameter used directly as the indices of a `gather`, the
/// smallest size of an axis it indexes.
fn index_bounds(func: &Func, sizes: &Sizes) -> HashMap<usize, usize> {
    let mut bounds: HashMap<usize, usize> = HashMap::new();
    for id in func.program_order() {
        let node = func.node(id);
        let Op::Gather { axis } = node.op else {
            continue;
        };
        let (Some(Operand::Value(x)), Some(Operand::Value(idx))) =
            (node.operands().first(), node.operands().get(1))
        else {
            continue;
        };
        let Op::Param { index, .. } = func.node(*idx).op else {
            continue;
        };
        let size = match func.ty(*x).shape.dims().get(axis) {
            Some(Dim::Const(c)) => *c as usize,
            Some(Dim::Sym(s)) => sizes.get(s).map_or(1, |&v| v as usize),
            None => continue,
        };
        let b = bounds.entry(index).or_insert(size);
        *b = (*b).min(size);
    }
    bounds
}

/// One random tensor per parameter of `func`, from `seed`.
pub fn random_inputs(func: &Func, sizes: &Sizes, seed: u64) -> Result<Vec<HostTensor>, String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let bounds = index_bounds(func, sizes);
    let mut out = Vec::with_capacity(func.params().len());
    for (i, &p) in func.params().iter().enumerate() {
        let ty = func.ty(p);
        let shape = concrete(&ty.shape, sizes)?;
        let n: usize = shape.iter().product();
        let t = match ty.dtype {
            d if d.is_float() => HostTensor::from_f64(
                d,
                &shape,
                (0..n).map(|_| rng.random_range(-3.0..3.0)).collect(),
            ),
            DType::Bool => {
                HostTensor::from_bool(&shape, (0..n).map(|_| rng.random_bool(0.5)).collect())
            }
            d => {
                let (lo, hi) = match (bounds.get(&i), d) {
                    (Some(&b), _) => (0, b.max(1) as i64 - 1),
                    (None, DType::U8) => (0, 8),
                    (None, _) => (-4, 4),
                };
                HostTensor::from_i64(d, &shape, (0..n).map(|_| rng.random_range(lo..=hi)).collect())
            }
        };
        out.push(t);
    }
    Ok(out)
}
