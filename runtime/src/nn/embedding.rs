//! `nn.Embedding`: a lookup table `weight` `[num_embeddings, embedding_dim]`.

use super::{Kind, Module, Slot, init};
use crate::functional;
use crate::tensor::{Generator, Result, Tensor};

/// Rows of `weight` picked by integer ids (`torch.nn.Embedding`).
pub struct Embedding {
    /// `[num_embeddings, embedding_dim]`, standard normal.
    pub weight: Tensor,
    training: bool,
}

impl Embedding {
    /// A table initialised N(0, 1) from `rng`, as PyTorch's default.
    pub fn new(
        num_embeddings: usize,
        embedding_dim: usize,
        rng: &mut Generator,
    ) -> Result<Embedding> {
        let weight = init::normal(&[num_embeddings, embedding_dim], rng)?;
        Ok(Embedding { weight, training: true })
    }
}

impl Module for Embedding {
    fn forward(&mut self, ids: &Tensor) -> Result<Tensor> {
        functional::embedding(ids, &self.weight)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        vec![("weight".into(), Kind::Parameter, self.weight.clone())]
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        vec![Slot { name: "weight".into(), kind: Kind::Parameter, tensor: &mut self.weight }]
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
    }

    fn is_training(&self) -> bool {
        self.training
    }
}
