//! The two demo models, as [`Module`]s with PyTorch-style names: a small
//! CNN (`conv` → `bn` → ReLU → 2×2 max pool → `head`) for `[N, 1, 8, 8]`
//! images and a small pre-norm transformer encoder block (`embed`,
//! `ln1` → `attn`, `ln2` → `fc1` → GELU → `fc2`, `ln_f`, mean over the
//! sequence, `head`) for `[N, L]` token ids. Both output `[N, CLASSES]`
//! logits.

use smelt_runtime::Tensor;
use smelt_runtime::functional::{Approximate, gelu, max_pool2d, relu};
use smelt_runtime::nn::{
    BatchNorm2d, Conv2d, Conv2dOptions, Embedding, Kind, LayerNorm, Linear, Module,
    MultiheadAttention, Slot,
};
use smelt_runtime::tensor::{Generator, Result};

use super::data::{CLASSES, IMAGE, SEQ, VOCAB};

/// Channels of the CNN's convolution.
const CHANNELS: usize = 8;
/// The transformer's width.
const WIDTH: usize = 32;

/// Every named tensor of `children`, prefixed with the child's name.
fn named(children: Vec<(&str, &dyn Module)>) -> Vec<(String, Kind, Tensor)> {
    children
        .into_iter()
        .flat_map(|(p, m)| {
            m.named_tensors().into_iter().map(move |(n, k, t)| (format!("{p}.{n}"), k, t))
        })
        .collect()
}

/// Every slot of `children`, prefixed with the child's name.
fn slots<'a>(children: Vec<(&str, &'a mut dyn Module)>) -> Vec<Slot<'a>> {
    children
        .into_iter()
        .flat_map(|(p, m)| {
            let p = p.to_string();
            m.slots().into_iter().map(move |s| Slot { name: format!("{p}.{}", s.name), ..s })
        })
        .collect()
}

/// conv-bn-relu-pool and a linear head.
pub struct Cnn {
    conv: Conv2d,
    bn: BatchNorm2d,
    head: Linear,
    training: bool,
}

impl Cnn {
    /// A model initialised from `rng`.
    pub fn new(rng: &mut Generator) -> Result<Cnn> {
        // No conv bias before a BatchNorm (as torchvision's blocks): BN removes
        // it, so its true gradient is zero and Adam would amplify rounding noise.
        let opts = Conv2dOptions { padding: [1, 1], bias: false, ..Conv2dOptions::default() };
        let half = IMAGE / 2;
        Ok(Cnn {
            conv: Conv2d::new(1, CHANNELS, [3, 3], opts, rng)?,
            bn: BatchNorm2d::new(CHANNELS)?,
            head: Linear::new(CHANNELS * half * half, CLASSES, true, rng)?,
            training: true,
        })
    }
}

impl Module for Cnn {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let h = relu(&self.bn.forward(&self.conv.forward(x)?)?)?;
        let h = max_pool2d(&h, [2, 2], None, [0, 0])?;
        self.head.forward(&h.flatten(1, -1)?)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        named(vec![("conv", &self.conv), ("bn", &self.bn), ("head", &self.head)])
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        slots(vec![("conv", &mut self.conv), ("bn", &mut self.bn), ("head", &mut self.head)])
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
        self.conv.train(mode);
        self.bn.train(mode);
        self.head.train(mode);
    }

    fn is_training(&self) -> bool {
        self.training
    }
}

/// One pre-norm encoder block over token embeddings, mean-pooled, and a head.
pub struct Transformer {
    embed: Embedding,
    ln1: LayerNorm,
    attn: MultiheadAttention,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    ln_f: LayerNorm,
    head: Linear,
    training: bool,
}

impl Transformer {
    /// A model initialised from `rng`.
    pub fn new(rng: &mut Generator) -> Result<Transformer> {
        Ok(Transformer {
            embed: Embedding::new(VOCAB, WIDTH, rng)?,
            ln1: LayerNorm::new(&[WIDTH])?,
            attn: MultiheadAttention::new(WIDTH, 4, true, true, rng)?,
            ln2: LayerNorm::new(&[WIDTH])?,
            fc1: Linear::new(WIDTH, 2 * WIDTH, true, rng)?,
            fc2: Linear::new(2 * WIDTH, WIDTH, true, rng)?,
            ln_f: LayerNorm::new(&[WIDTH])?,
            head: Linear::new(WIDTH, CLASSES, true, rng)?,
            training: true,
        })
    }

    fn children(&self) -> Vec<(&str, &dyn Module)> {
        vec![
            ("embed", &self.embed),
            ("ln1", &self.ln1),
            ("attn", &self.attn),
            ("ln2", &self.ln2),
            ("fc1", &self.fc1),
            ("fc2", &self.fc2),
            ("ln_f", &self.ln_f),
            ("head", &self.head),
        ]
    }
}

impl Module for Transformer {
    fn forward(&mut self, ids: &Tensor) -> Result<Tensor> {
        debug_assert_eq!(ids.shape().get(1), Some(&SEQ));
        let x = self.embed.forward(ids)?;
        let x = x.add(&self.attn.forward(&self.ln1.forward(&x)?)?)?;
        let h = gelu(&self.fc1.forward(&self.ln2.forward(&x)?)?, Approximate::None)?;
        let x = x.add(&self.fc2.forward(&h)?)?;
        let pooled = self.ln_f.forward(&x)?.mean(&[1], false)?;
        self.head.forward(&pooled)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        named(self.children())
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        slots(vec![
            ("embed", &mut self.embed),
            ("ln1", &mut self.ln1),
            ("attn", &mut self.attn),
            ("ln2", &mut self.ln2),
            ("fc1", &mut self.fc1),
            ("fc2", &mut self.fc2),
            ("ln_f", &mut self.ln_f),
            ("head", &mut self.head),
        ])
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
        self.embed.train(mode);
        self.ln1.train(mode);
        self.attn.train(mode);
        self.ln2.train(mode);
        self.fc1.train(mode);
        self.fc2.train(mode);
        self.ln_f.train(mode);
        self.head.train(mode);
    }

    fn is_training(&self) -> bool {
        self.training
    }
}
