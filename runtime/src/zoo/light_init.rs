//! TorchVision's own random initialisation of the lightweight families,
//! applied after a model is built with PyTorch's layer defaults: conv
//! weights kaiming-normal (fan out) or kaiming-uniform, linear weights by
//! the family's rule, conv and linear biases zero (batch norms are already
//! ones and zeros). Layers are recognised by the rank of their `weight`
//! (4: conv, 2: linear). Skipped under [`crate::nn::skip_init`].

use crate::nn::{Module, skipping_init};
use crate::tensor::{Generator, Result, Tensor};

/// How conv weights `[out, in/groups, kh, kw]` are drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ConvInit {
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`:
    /// normal with std `√(2 / (out·kh·kw))` (MNASNet, MobileNet,
    /// EfficientNet, RegNet's `normal_(0, √(2/fan_out))`).
    KaimingNormalFanOut,
    /// `kaiming_uniform_` with its defaults: uniform in `±√(6 / fan_in)`
    /// (SqueezeNet).
    KaimingUniform,
}

/// How linear weights `[out, in]` are drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LinearInit {
    /// `normal_(0, std)` (MobileNet v2/v3, RegNet: 0.01).
    Normal(f64),
    /// `uniform_(±1/√out)` (EfficientNet).
    UniformOut,
    /// `kaiming_uniform_(mode="fan_out", nonlinearity="sigmoid")`:
    /// uniform in `±√(3 / out)` (MNASNet).
    KaimingUniformOutSigmoid,
}

/// One family's rule.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InitRule {
    /// Conv weights.
    pub(crate) conv: ConvInit,
    /// Linear weights (their biases are always zeroed).
    pub(crate) linear: LinearInit,
    /// Whether conv biases are zeroed (RegNet keeps PyTorch's default).
    pub(crate) zero_conv_bias: bool,
    /// Weights drawn from `normal(0, std)` instead (SqueezeNet's final conv).
    pub(crate) normal_std: &'static [(&'static str, f64)],
}

/// Redraws `model`'s conv and linear weights from `seed` by `rule`, as
/// TorchVision's constructors do.
pub(crate) fn torchvision_init(model: &mut dyn Module, rule: InitRule, seed: u64) -> Result<()> {
    let InitRule { conv, linear, zero_conv_bias, normal_std } = rule;
    if skipping_init() {
        return Ok(());
    }
    let rng = &mut Generator::new(seed);
    let mut slots = model.slots();
    let layer_weights: Vec<(String, usize)> = slots
        .iter()
        .filter(|s| s.name.ends_with("weight") && matches!(s.tensor.rank(), 2 | 4))
        .map(|s| (s.name.clone(), s.tensor.rank()))
        .collect();
    for s in &mut slots {
        let shape = s.tensor.shape().to_vec();
        let n: usize = shape.iter().product();
        let values: Vec<f32> = if let Some(prefix) = s.name.strip_suffix("bias") {
            let w = format!("{prefix}weight");
            match layer_weights.iter().find(|(n, _)| *n == w) {
                Some((_, 2)) => vec![0.0; n],
                Some(_) if zero_conv_bias => vec![0.0; n],
                _ => continue,
            }
        } else if let Some(&(_, std)) = normal_std.iter().find(|(w, _)| *w == s.name) {
            (0..n).map(|_| (rng.normal() * std) as f32).collect()
        } else if shape.len() == 4 && s.name.ends_with("weight") {
            let fan_out = (shape[0] * shape[2] * shape[3]) as f64;
            let fan_in = (shape[1] * shape[2] * shape[3]) as f64;
            match conv {
                ConvInit::KaimingNormalFanOut => {
                    let std = (2.0 / fan_out).sqrt();
                    (0..n).map(|_| (rng.normal() * std) as f32).collect()
                }
                ConvInit::KaimingUniform => uniform(n, (6.0 / fan_in).sqrt(), rng),
            }
        } else if shape.len() == 2 && s.name.ends_with("weight") {
            let out = shape[0] as f64;
            match linear {
                LinearInit::Normal(std) => (0..n).map(|_| (rng.normal() * std) as f32).collect(),
                LinearInit::UniformOut => uniform(n, 1.0 / out.sqrt(), rng),
                LinearInit::KaimingUniformOutSigmoid => uniform(n, (3.0 / out).sqrt(), rng),
            }
        } else {
            continue;
        };
        *s.tensor = Tensor::from_vec(values, &shape)?.requires_grad_(true)?;
    }
    Ok(())
}

/// `n` values uniform in `[-bound, bound)`.
fn uniform(n: usize, bound: f64, rng: &mut Generator) -> Vec<f32> {
    (0..n).map(|_| ((rng.uniform_f32() * 2.0 - 1.0) * bound) as f32).collect()
}
