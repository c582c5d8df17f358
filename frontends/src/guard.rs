//! Guards: what a compiled graph assumes about its inputs (dtype, rank,
//! device, layout class, and each dim's size unless the dim is symbolic),
//! and checking a call's inputs against them.
//!
//! Invariant: a symbol names one size per call: two dims with the same
//! symbol must agree (Dynamo's duck sizing makes equal sizes share one).

use std::collections::HashMap;
use std::fmt;

use smelt_compiler::ir::{DType, Dim};
use smelt_runtime::{Device, Tensor};

/// Sizes bound to symbols for one call.
pub(crate) type Env = HashMap<String, u64>;

/// What a graph assumes about one input.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InputGuard {
    pub dtype: DType,
    pub device: Device,
    /// Layout class: dense row-major or not.
    pub contiguous: bool,
    /// One per dim: a fixed size or a symbol.
    pub dims: Vec<Dim>,
}

impl InputGuard {
    /// The guard that accepts exactly `t`'s dtype, device, layout and sizes.
    pub fn exact(t: &Tensor) -> InputGuard {
        InputGuard {
            dtype: t.dtype(),
            device: t.device(),
            contiguous: t.is_contiguous(),
            dims: t.shape().iter().map(|&d| Dim::Const(d as u64)).collect(),
        }
    }

    /// True if `t` agrees with everything but the sizes.
    pub fn same_kind(&self, t: &Tensor) -> bool {
        self.dtype == t.dtype()
            && self.device == t.device()
            && self.contiguous == t.is_contiguous()
            && self.dims.len() == t.rank()
    }
}

impl fmt::Display for InputGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(Dim::to_string).collect();
        write!(f, "{}[{}]", self.dtype, dims.join(", "))?;
        if self.device != Device::Cpu {
            write!(f, " on {:?}", self.device)?;
        }
        if !self.contiguous {
            f.write_str(" strided")?;
        }
        Ok(())
    }
}

/// Checks `inputs` against `guards`, binding symbols: the bindings, or the
/// first failed check in words.
pub(crate) fn check(guards: &[InputGuard], inputs: &[Tensor]) -> Result<Env, String> {
    if guards.len() != inputs.len() {
        return Err(format!("{} inputs, the graph takes {}", inputs.len(), guards.len()));
    }
    let mut env = Env::new();
    for (i, (g, t)) in guards.iter().zip(inputs).enumerate() {
        if g.dtype != t.dtype() {
            return Err(format!("input {i} is {}, was {}", t.dtype(), g.dtype));
        }
        if g.device != t.device() {
            return Err(format!("input {i} is on {:?}, was {:?}", t.device(), g.device));
        }
        if g.dims.len() != t.rank() {
            return Err(format!("input {i} has rank {}, was {}", t.rank(), g.dims.len()));
        }
        if g.contiguous != t.is_contiguous() {
            let what = |c: bool| if c { "contiguous" } else { "strided" };
            return Err(format!(
                "input {i} is {}, was {}",
                what(t.is_contiguous()),
                what(g.contiguous)
            ));
        }
        for (d, (gd, &n)) in g.dims.iter().zip(t.shape()).enumerate() {
            let n = n as u64;
            match gd {
                Dim::Const(c) if *c == n => {}
                Dim::Const(c) => return Err(format!("input {i} dim {d} is {n}, was {c}")),
                Dim::Sym(s) => match env.get(s) {
                    Some(&v) if v != n => {
                        return Err(format!("input {i} dim {d} is {n}, but {s} is {v}"));
                    }
                    Some(_) => {}
                    None => {
                        env.insert(s.clone(), n);
                    }
                },
            }
        }
    }
    Ok(env)
}

/// The guards of inputs that a graph with these parameter dims takes
/// (`dims[i]` from parameter i's type).
pub(crate) fn from_dims(inputs: &[Tensor], dims: Vec<Vec<Dim>>) -> Vec<InputGuard> {
    inputs.iter().zip(dims).map(|(t, dims)| InputGuard { dims, ..InputGuard::exact(t) }).collect()
}
