//! Parameter-free activation modules (`nn.ReLU`, `nn.GELU`), so that a
//! [`super::Sequential`] can hold them.

use super::{Kind, Module, Slot};
use crate::functional::{self, Approximate};
use crate::tensor::{Result, Tensor};

/// `max(x, 0)` (`torch.nn.ReLU`).
pub struct Relu {
    training: bool,
}

impl Relu {
    /// A ReLU module.
    pub fn new() -> Relu {
        Relu { training: true }
    }
}

impl Default for Relu {
    fn default() -> Self {
        Relu::new()
    }
}

/// GELU (`torch.nn.GELU`), exact or tanh-approximated.
pub struct Gelu {
    /// Which GELU formula.
    pub approximate: Approximate,
    training: bool,
}

impl Gelu {
    /// A GELU module.
    pub fn new(approximate: Approximate) -> Gelu {
        Gelu { approximate, training: true }
    }
}

/// The parameter-free parts of [`Module`], shared by the activations.
macro_rules! stateless {
    () => {
        fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
            Vec::new()
        }

        fn slots(&mut self) -> Vec<Slot<'_>> {
            Vec::new()
        }

        fn train(&mut self, mode: bool) {
            self.training = mode;
        }

        fn is_training(&self) -> bool {
            self.training
        }
    };
}
pub(crate) use stateless;

impl Module for Relu {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        functional::relu(x)
    }
    stateless!();
}

impl Module for Gelu {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        functional::gelu(x, self.approximate)
    }
    stateless!();
}
