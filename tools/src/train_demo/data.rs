//! The seeded synthetic tasks, both with [`CLASSES`] classes and learnable
//! in a few dozen steps.
//!
//! - Images: four fixed random `IMAGE`×`IMAGE` prototypes (drawn from the
//!   seed); a sample is its class's prototype plus unit Gaussian noise.
//! - Tokens: sequences of [`SEQ`] ids below [`VOCAB`]; the label is the id
//!   group (`id / (VOCAB / CLASSES)`) that occurs most often, ties to the
//!   lowest group: a counting task that attention and pooling can learn.

use smelt_compiler::ir::DType;
use smelt_runtime::Tensor;
use smelt_runtime::tensor::{Generator, Result};

/// Classes of both tasks.
pub const CLASSES: usize = 4;
/// Image side.
pub const IMAGE: usize = 8;
/// Sequence length.
pub const SEQ: usize = 8;
/// Token vocabulary.
pub const VOCAB: usize = 16;

/// Which task a batch comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `[N, 1, IMAGE, IMAGE]` f32 images.
    Images,
    /// `[N, SEQ]` i64 token ids.
    Tokens,
}

/// A stream of batches, the same for the same seed.
pub struct Batches {
    task: Task,
    batch: usize,
    rng: Generator,
    prototypes: Vec<f32>,
}

impl Batches {
    /// Batches of `batch` samples of `task`, seeded by `seed`.
    pub fn new(task: Task, batch: usize, seed: u64) -> Batches {
        let mut rng = Generator::new(seed ^ 0x5eed_da7a);
        let px = IMAGE * IMAGE;
        let prototypes = (0..CLASSES * px).map(|_| (1.5 * rng.normal()) as f32).collect();
        Batches { task, batch, rng, prototypes }
    }

    /// The next `(inputs, labels)`; labels are i64 `[N]`.
    pub fn next_batch(&mut self) -> Result<(Tensor, Tensor)> {
        let n = self.batch;
        let labels: Vec<i64>;
        let x = match self.task {
            Task::Images => {
                let px = IMAGE * IMAGE;
                labels = (0..n).map(|_| self.rng.below(CLASSES as u64) as i64).collect();
                let mut v = Vec::with_capacity(n * px);
                for &c in &labels {
                    let proto = &self.prototypes[c as usize * px..][..px];
                    v.extend(proto.iter().map(|&p| p + self.rng.normal() as f32));
                }
                Tensor::from_vec(v, &[n, 1, IMAGE, IMAGE])?
            }
            Task::Tokens => {
                let ids: Vec<i64> =
                    (0..n * SEQ).map(|_| self.rng.below(VOCAB as u64) as i64).collect();
                let per = VOCAB / CLASSES;
                labels = ids
                    .chunks(SEQ)
                    .map(|seq| {
                        let mut count = [0usize; CLASSES];
                        for &t in seq {
                            count[t as usize / per] += 1;
                        }
                        // First maximum: ties go to the lowest group.
                        let best = (0..CLASSES).rev().max_by_key(|&c| count[c]).unwrap_or(0);
                        best as i64
                    })
                    .collect();
                Tensor::from_vec(ids, &[n, SEQ])?
            }
        };
        let y = Tensor::from_vec(labels, &[n])?;
        debug_assert_eq!(y.dtype(), DType::I64);
        Ok((x, y))
    }
}
