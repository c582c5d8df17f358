//! `nn.Sequential`: children applied in order, named `"0"`, `"1"`, … so
//! their tensors appear as `0.weight`, `1.running_mean`, … in a state dict.

use super::{Kind, Module, Slot, prefixed, prefixed_slots};
use crate::tensor::{Result, Tensor};

/// A chain of modules (`torch.nn.Sequential`).
pub struct Sequential {
    children: Vec<Box<dyn Module>>,
    training: bool,
}

impl Sequential {
    /// A chain of `children` (applied first to last), in training mode.
    pub fn new(children: Vec<Box<dyn Module>>) -> Sequential {
        Sequential { children, training: true }
    }

    /// Appends `child`; it is named by its position.
    pub fn push(&mut self, child: impl Module + 'static) {
        self.children.push(Box::new(child));
    }

    /// Appends `child`, builder style.
    pub fn with(mut self, child: impl Module + 'static) -> Sequential {
        self.push(child);
        self
    }

    /// The number of children.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True when there are no children (forward is then the identity).
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// The child at `index`, if any.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut (dyn Module + 'static)> {
        self.children.get_mut(index).map(|c| c.as_mut())
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::new(Vec::new())
    }
}

impl Module for Sequential {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for c in &mut self.children {
            y = c.forward(&y)?;
        }
        Ok(y)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        let each = self.children.iter().enumerate();
        each.flat_map(|(i, c)| prefixed(i.to_string(), c.named_tensors())).collect()
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        let each = self.children.iter_mut().enumerate();
        each.flat_map(|(i, c)| prefixed_slots(i.to_string(), c.slots())).collect()
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
        for c in &mut self.children {
            c.train(mode);
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }
}
