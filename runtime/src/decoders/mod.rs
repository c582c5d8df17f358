//! CTC decoders: greedy decoding and Flashlight Text's beam search (with a
//! lexicon trie, or lexicon-free), fused with KenLM-style n-gram language
//! models read from ARPA files, or with any LM implementing
//! [`CtcDecoderLm`].
//!
//! The beam search reproduces Flashlight Text's `LexiconDecoder` and
//! `LexiconFreeDecoder` (the decoder inside TorchAudio's `ctc_decoder`):
//! same candidates, merging, pruning and final `</s>` step, so the same
//! hypotheses and scores. [`ctc_decoder`] takes TorchAudio's parameter names
//! and defaults. LM scores are log10, as KenLM's.
//!
//! Nothing here panics on bad input: malformed files give a
//! [`DecodeError`] naming file and line, bad emissions one naming the
//! utterance and frame.

mod arpa;
mod beam;
pub mod bench;
mod compat;
mod decoder;
mod dict;
mod emissions;
mod error;
mod greedy;
mod lm;
mod trie;

pub use arpa::{load_arpa, parse_arpa};
pub use decoder::{
    AnyLm, AnyLmState, CtcDecoder, CtcDecoderOptions, CtcHypothesis, LmSource, ctc_decoder,
    word_dict_from_lexicon,
};
pub use dict::{Dictionary, Lexicon};
pub use emissions::Emissions;
pub use error::{DecodeError, Result};
pub use greedy::{greedy_decode, greedy_decode_batch};
pub use lm::{CtcDecoderLm, KenLm, MAX_ORDER, NgramLm, NgramState, ZeroLm};
