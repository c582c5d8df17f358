//! Greedy (best path) CTC decoding: the best token of every frame, repeats
//! collapsed, blanks removed.

use super::decoder::CtcHypothesis;
use super::dict::Dictionary;
use super::emissions::{Emissions, check_finite};
use super::error::Result;

/// Greedy-decodes one utterance `[frames, n_tokens]`. `timesteps` are the
/// frames where each kept token starts; `words` split the tokens at `sil`.
pub fn greedy_decode(
    emissions: &[f32],
    n_tokens: usize,
    blank: usize,
    sil: Option<usize>,
    tokens: Option<&Dictionary>,
) -> CtcHypothesis {
    let mut hyp = CtcHypothesis::default();
    let mut prev = usize::MAX;
    let mut word = String::new();
    for (t, frame) in emissions.chunks_exact(n_tokens.max(1)).enumerate() {
        let (best, &lp) = frame
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .unwrap_or((blank, &0.0));
        hyp.score += f64::from(lp);
        if best != blank && best != prev {
            hyp.tokens.push(best);
            hyp.timesteps.push(t);
            if let Some(d) = tokens {
                if Some(best) == sil {
                    if !word.is_empty() {
                        hyp.words.push(std::mem::take(&mut word));
                    }
                } else {
                    word.push_str(d.entry(best).unwrap_or("?"));
                }
            }
        }
        prev = best;
    }
    if !word.is_empty() {
        hyp.words.push(word);
    }
    hyp.am_score = hyp.score;
    hyp
}

/// Greedy-decodes every utterance of a batch, checking values first.
pub fn greedy_decode_batch(
    emissions: &Emissions,
    blank: usize,
    sil: Option<usize>,
    tokens: Option<&Dictionary>,
) -> Result<Vec<CtcHypothesis>> {
    (0..emissions.len())
        .map(|i| {
            let e = emissions.utterance(i);
            check_finite(e, emissions.n_tokens(), i)?;
            Ok(greedy_decode(e, emissions.n_tokens(), blank, sil, tokens))
        })
        .collect()
}
