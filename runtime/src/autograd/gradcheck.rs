//! `gradcheck`: compares the gradients `backward` computes with central
//! finite differences in f64, as `torch.autograd.gradcheck` does. The
//! output is reduced to a scalar with fixed, distinct weights per element
//! (a plain sum would hide a gradient sent to the wrong element).

use smelt_compiler::ir::DType;

use super::no_grad;
use crate::tensor::{Result, Tensor, arg_err, dtype_err};

/// Step and tolerances of [`gradcheck`].
#[derive(Clone, Copy, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance (central differences in f64 carry ~1e-10 of noise).
    pub atol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-6, rtol: 1e-5, atol: 1e-7 }
    }
}

/// The weight of output element `i` (distinct, in [0.5, 1.5)).
fn weight(i: usize) -> f64 {
    0.5 + ((i as f64 + 1.0) * 0.618_033_988_749_895).fract()
}

/// `sum(out * w)` as a tensor (for backward) — the checked scalar.
fn weighted(out: &Tensor) -> Result<Tensor> {
    let w: Vec<f64> = (0..out.numel()).map(weight).collect();
    out.mul(&Tensor::from_vec(w, out.shape())?)?.sum(&[], false)
}

/// Checks the gradient of `f` with respect to every input that requires
/// grad (all f64): `Ok(())` if every element agrees within
/// `atol + rtol * |numeric|`, else an error naming the input, the element
/// and both values.
pub fn gradcheck(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    opts: GradcheckOptions,
) -> Result<()> {
    for (i, x) in inputs.iter().enumerate() {
        if x.requires_grad() && x.dtype() != DType::F64 {
            return Err(dtype_err(
                "gradcheck",
                format!("input {i} is {}{:?}; gradcheck needs f64", x.dtype(), x.shape()),
            ));
        }
    }
    // Fresh leaves, so earlier gradients do not add in.
    let leaves: Vec<Tensor> = inputs
        .iter()
        .map(|x| {
            let leaf = x.detach();
            if x.requires_grad() { leaf.requires_grad_(true) } else { Ok(leaf) }
        })
        .collect::<Result<_>>()?;
    let out = f(&leaves)?;
    if out.dtype() != DType::F64 {
        return Err(dtype_err("gradcheck", format!("output is {}, not f64", out.dtype())));
    }
    weighted(&out)?.backward()?;
    for (i, x) in leaves.iter().enumerate() {
        if !x.requires_grad() {
            continue;
        }
        let analytic = match x.grad() {
            Some(g) => g.to_f64_vec(),
            None => vec![0.0; x.numel()],
        };
        let base = x.to_f64_vec();
        for j in 0..base.len() {
            let at = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                let mut args = leaves.iter().map(Tensor::detach).collect::<Vec<_>>();
                args[i] = Tensor::from_vec(v, x.shape())?;
                no_grad(|| weighted(&f(&args)?)?.item())
            };
            let numeric = (at(opts.eps)? - at(-opts.eps)?) / (2.0 * opts.eps);
            let a = analytic[j];
            // NaN on either side fails too.
            let close = (a - numeric).abs() <= opts.atol + opts.rtol * numeric.abs();
            if !close {
                return Err(arg_err(
                    "gradcheck",
                    format!(
                        "input {i} {:?}, element {j}: analytic {a:e} vs numeric {numeric:e}",
                        x.shape()
                    ),
                ));
            }
        }
    }
    Ok(())
}
