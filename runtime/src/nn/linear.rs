//! `nn.Linear`: `y = x Wᵀ + b`, parameters `weight` `[out, in]`, `bias` `[out]`.

use super::{Kind, Module, Slot, init};
use crate::functional;
use crate::tensor::{Generator, Result, Tensor};

/// A fully connected layer (`torch.nn.Linear`).
pub struct Linear {
    /// `[out_features, in_features]`, kaiming-uniform(a=√5).
    pub weight: Tensor,
    /// `[out_features]`, uniform in `±1/√in_features`; `None` without bias.
    pub bias: Option<Tensor>,
    training: bool,
}

impl Linear {
    /// A layer initialised as PyTorch's default, drawing from `rng`
    /// (weight first, then bias).
    pub fn new(
        in_features: usize,
        out_features: usize,
        bias: bool,
        rng: &mut Generator,
    ) -> Result<Linear> {
        let weight = init::kaiming_uniform(&[out_features, in_features], rng)?;
        let bias = if bias {
            Some(init::uniform(&[out_features], init::bound_for(in_features), rng)?)
        } else {
            None
        };
        Ok(Linear { weight, bias, training: true })
    }
}

impl Module for Linear {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        functional::linear(x, &self.weight, self.bias.as_ref())
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        super::weight_bias_tensors(&self.weight, self.bias.as_ref())
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        super::weight_bias_slots(&mut self.weight, self.bias.as_mut())
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
    }

    fn is_training(&self) -> bool {
        self.training
    }
}
