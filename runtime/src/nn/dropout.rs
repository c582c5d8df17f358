//! `nn.Dropout` with its own seeded generator.

use super::{Kind, Module, Slot};
use crate::functional;
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// Zeroes each element with probability `p` in training and scales the rest
/// by `1/(1-p)` (`torch.nn.Dropout`); the identity in evaluation. The masks
/// come from the module's own [`Generator`], so a seed fixes them.
pub struct Dropout {
    /// The drop probability, in `[0, 1]`.
    pub p: f64,
    /// Where the masks are drawn from.
    pub rng: Generator,
    training: bool,
}

impl Dropout {
    /// Dropout with probability `p` (an error outside `[0, 1]`), masks drawn
    /// from `Generator::new(seed)`.
    pub fn new(p: f64, seed: u64) -> Result<Dropout> {
        if !(0.0..=1.0).contains(&p) {
            return Err(arg_err("Dropout", format!("probability {p} is not in [0, 1]")));
        }
        Ok(Dropout { p, rng: Generator::new(seed), training: true })
    }
}

impl Module for Dropout {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        functional::dropout(x, self.p, self.training, &mut self.rng)
    }

    super::activation::stateless!();
}
