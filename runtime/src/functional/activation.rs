//! Activations and softmax, as tensor-op composites.

use crate::tensor::{Result, Tensor};

/// Which GELU formula (`approximate=` in PyTorch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Approximate {
    /// `x/2 * (1 + erf(x/√2))`.
    #[default]
    None,
    /// `x/2 * (1 + tanh(√(2/π) * (x + 0.044715 x³)))`.
    Tanh,
}

/// GELU.
pub fn gelu(x: &Tensor, approximate: Approximate) -> Result<Tensor> {
    x.need_float("gelu")?;
    let inner = match approximate {
        Approximate::None => x.mul(std::f64::consts::FRAC_1_SQRT_2)?.erf()?,
        Approximate::Tanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let cube = x.mul(x)?.mul(x)?;
            x.add(&cube.mul(0.044715)?)?.mul(c)?.tanh()?
        }
    };
    x.mul(0.5)?.mul(&inner.add(1.0)?)
}

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.relu()
}

/// `x * sigmoid(x)` (swish).
pub fn silu(x: &Tensor) -> Result<Tensor> {
    x.mul(&x.sigmoid()?)
}

/// `exp(x) / sum(exp(x))` along `dim`, with the max subtracted first.
pub fn softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    if let Some(a) = crate::amp::autocast_args("softmax", &[Some(x)])? {
        return softmax(a.arg(0)?, dim);
    }
    x.need_float("softmax")?;
    let m = x.max(&[dim], true)?;
    let e = x.sub(&m)?.exp()?;
    e.div(&e.sum(&[dim], true)?)
}

/// `log(softmax(x))` along `dim`, computed as `x - m - log(sum(exp(x - m)))`.
pub fn log_softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    if let Some(a) = crate::amp::autocast_args("log_softmax", &[Some(x)])? {
        return log_softmax(a.arg(0)?, dim);
    }
    x.need_float("log_softmax")?;
    let m = x.max(&[dim], true)?;
    let xm = x.sub(&m)?;
    xm.sub(&xm.exp()?.sum(&[dim], true)?.log()?)
}

/// Dropout (`F.dropout`): in training, each element is zeroed with
/// probability `p` (drawn from `rng`) and the rest scaled by `1/(1-p)`;
/// otherwise the input as it is.
pub fn dropout(
    x: &Tensor,
    p: f64,
    training: bool,
    rng: &mut crate::tensor::Generator,
) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        return Err(crate::tensor::arg_err("dropout", format!("probability {p} is not in [0, 1]")));
    }
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    x.need_float("dropout")?;
    if p == 1.0 {
        return x.mul(0.0);
    }
    let u = Tensor::rand(x.shape(), x.dtype(), rng)?.to_device(x.device())?;
    let keep = u.ge(p)?;
    crate::tensor::where_cond(&keep, &x.mul(1.0 / (1.0 - p))?, 0.0)
}
