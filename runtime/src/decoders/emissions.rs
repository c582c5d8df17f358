//! Views of a batch of emissions (per-frame token log-probabilities) as
//! utterances: packed `[ΣT, N]` with lengths, or padded `[B, T, N]` with
//! optional lengths. Shapes are checked when the view is made; values are
//! checked per utterance when it is decoded.

use super::error::{DecodeError, Result};

/// A batch of utterances over one `f32` slice, row-major, `n_tokens` per frame.
#[derive(Debug, Clone)]
pub struct Emissions<'a> {
    data: &'a [f32],
    n_tokens: usize,
    /// Start frame (row) of each utterance in `data`.
    starts: Vec<usize>,
    lengths: Vec<usize>,
}

impl<'a> Emissions<'a> {
    /// Packed emissions: utterances one after another, `lengths[i]` frames each.
    pub fn packed(data: &'a [f32], n_tokens: usize, lengths: &[usize]) -> Result<Self> {
        if n_tokens == 0 {
            return Err(DecodeError::Shape("emissions have 0 tokens per frame".into()));
        }
        let total: usize = lengths.iter().sum();
        if total.checked_mul(n_tokens) != Some(data.len()) {
            return Err(DecodeError::Shape(format!(
                "packed emissions hold {} values = {} frames of {n_tokens}, but the lengths add up to {total} frames",
                data.len(),
                data.len() as f64 / n_tokens as f64
            )));
        }
        let mut starts = Vec::with_capacity(lengths.len());
        let mut at = 0;
        for &l in lengths {
            starts.push(at);
            at += l;
        }
        Ok(Emissions { data, n_tokens, starts, lengths: lengths.to_vec() })
    }

    /// Padded emissions of shape `[batch, frames, n_tokens]`; `lengths` (each
    /// at most `frames`) default to all `frames`.
    pub fn padded(
        data: &'a [f32],
        batch: usize,
        frames: usize,
        n_tokens: usize,
        lengths: Option<&[usize]>,
    ) -> Result<Self> {
        if n_tokens == 0 {
            return Err(DecodeError::Shape("emissions have 0 tokens per frame".into()));
        }
        let expect = batch.checked_mul(frames).and_then(|x| x.checked_mul(n_tokens));
        if expect != Some(data.len()) {
            return Err(DecodeError::Shape(format!(
                "padded emissions [{batch}, {frames}, {n_tokens}] do not match {} values",
                data.len()
            )));
        }
        let lengths = match lengths {
            None => vec![frames; batch],
            Some(l) if l.len() != batch => {
                return Err(DecodeError::Shape(format!(
                    "{} lengths for a batch of {batch}",
                    l.len()
                )));
            }
            Some(l) => {
                if let Some((i, &bad)) = l.iter().enumerate().find(|(_, x)| **x > frames) {
                    return Err(DecodeError::Shape(format!(
                        "length {bad} of utterance {i} exceeds the {frames} padded frames"
                    )));
                }
                l.to_vec()
            }
        };
        let starts = (0..batch).map(|b| b * frames).collect();
        Ok(Emissions { data, n_tokens, starts, lengths })
    }

    /// Converts lengths from a signed integer array (as read from `.npy`),
    /// refusing negative values.
    pub fn lengths_from_i64(lengths: &[i64]) -> Result<Vec<usize>> {
        lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                usize::try_from(l).map_err(|_| {
                    DecodeError::Shape(format!("length {l} of utterance {i} is negative"))
                })
            })
            .collect()
    }

    /// Number of utterances.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Tokens per frame.
    pub fn n_tokens(&self) -> usize {
        self.n_tokens
    }

    /// Frames of utterance `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn frames(&self, i: usize) -> usize {
        self.lengths[i]
    }

    /// Utterance `i` as `[frames, n_tokens]` row-major.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn utterance(&self, i: usize) -> &'a [f32] {
        let s = self.starts[i] * self.n_tokens;
        &self.data[s..s + self.lengths[i] * self.n_tokens]
    }
}

/// Checks that every value of one utterance is finite.
pub(crate) fn check_finite(data: &[f32], n_tokens: usize, utterance: usize) -> Result<()> {
    if let Some(pos) = data.iter().position(|x| !x.is_finite()) {
        return Err(DecodeError::Emissions {
            utterance,
            frame: pos / n_tokens,
            msg: format!("token {} has the non-finite value {}", pos % n_tokens, data[pos]),
        });
    }
    Ok(())
}
