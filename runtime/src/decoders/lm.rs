//! Language models for the beam search: the [`CtcDecoderLm`] trait (the
//! counterpart of TorchAudio's `CTCDecoderLM`), [`ZeroLm`], and [`NgramLm`],
//! a KenLM-compatible back-off n-gram model held in hash tables keyed by
//! packed word-id tuples (the layout of KenLM's "probing" structure).
//!
//! Scores are log10 probabilities, used as they are, like KenLM's. The model
//! reproduces KenLM's arithmetic: f32 probabilities, and back-offs added in
//! order of increasing context length to the longest matching n-gram.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A language model the decoder can query. States are values the decoder
/// stores per hypothesis history; it calls `score` at most once per
/// (history, index) pair, so a state needs no cache of its own.
pub trait CtcDecoderLm: Sync {
    /// What the model remembers of a history.
    type State: Clone + Send;
    /// The state before any word; `start_with_nothing` asks for an empty
    /// context instead of the sentence start.
    fn start(&self, start_with_nothing: bool) -> Self::State;
    /// Extends `state` by entry `index` of the decoder's dictionary (a word
    /// with a lexicon, a token without) and returns the new state and its
    /// log score.
    fn score(&self, state: &Self::State, index: usize) -> (Self::State, f32);
    /// Ends the sentence: the final state and the end-of-sentence score.
    fn finish(&self, state: &Self::State) -> (Self::State, f32);
}

/// The language model that scores everything 0 (acoustic-only decoding).
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroLm;

impl CtcDecoderLm for ZeroLm {
    type State = ();
    fn start(&self, _: bool) -> Self::State {}
    fn score(&self, _: &(), _: usize) -> ((), f32) {
        ((), 0.0)
    }
    fn finish(&self, _: &()) -> ((), f32) {
        ((), 0.0)
    }
}

/// Highest n-gram order [`NgramLm`] supports.
pub const MAX_ORDER: usize = 8;

/// Multiplicative hasher for packed keys: one folded 128-bit multiply, good
/// in both the low bits (bucket) and the high bits (control byte).
#[derive(Default, Clone, Copy)]
pub(crate) struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        let m = u128::from(self.0 ^ x) * 0x9E37_79B9_7F4A_7C15_u128;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
    fn write_u128(&mut self, x: u128) {
        self.write_u64(x as u64);
        self.write_u64((x >> 64) as u64 ^ 0x2545_F491_4F6C_DD1D);
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;

/// Probability and back-off of one n-gram (log10).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry {
    pub prob: f32,
    pub backoff: f32,
}

/// A back-off n-gram model (what KenLM loads from an ARPA file).
#[derive(Debug, Clone)]
pub struct NgramLm {
    pub(crate) order: usize,
    pub(crate) words: Vec<String>,
    pub(crate) vocab: HashMap<String, u32>,
    pub(crate) unigrams: Vec<Entry>,
    /// `tables[k]` holds the (k+2)-grams, keyed by [`NgramLm::pack`].
    pub(crate) tables: Vec<FastMap<u128, Entry>>,
    pub(crate) bits: u32,
    pub(crate) bos: u32,
    pub(crate) eos: u32,
    pub(crate) unk: u32,
}

/// An n-gram context: the most recent words first, each with the back-off
/// of the n-gram made of it and the words after it (as KenLM's `State`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NgramState {
    len: u8,
    words: [u32; MAX_ORDER - 1],
    backoff: [f32; MAX_ORDER - 1],
}

impl NgramState {
    /// The context words, most recent first.
    pub fn words(&self) -> &[u32] {
        &self.words[..self.len as usize]
    }
}

impl NgramLm {
    /// The model's order (3 for a trigram model).
    pub fn order(&self) -> usize {
        self.order
    }

    /// Number of words in the vocabulary, `<s>`, `</s>` and `<unk>` included.
    pub fn vocab_size(&self) -> usize {
        self.words.len()
    }

    /// The id of `word`, or `<unk>`'s id for words the model does not know.
    pub fn word_id(&self, word: &str) -> u32 {
        self.vocab.get(word).copied().unwrap_or(self.unk)
    }

    /// The word with id `id`.
    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }

    /// Id of `</s>`.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// Packs word ids, oldest first, into a table key. Callers guarantee
    /// `order * bits <= 128` (checked when the model is built).
    pub(crate) fn pack(&self, ids: &[u32]) -> u128 {
        ids.iter().fold(0u128, |k, &w| (k << self.bits) | u128::from(w))
    }

    /// The state after `<s>` (or the empty state).
    pub fn begin(&self, start_with_nothing: bool) -> NgramState {
        let mut s = NgramState { len: 0, words: [0; MAX_ORDER - 1], backoff: [0.0; MAX_ORDER - 1] };
        if !start_with_nothing && self.order > 1 {
            s.len = 1;
            s.words[0] = self.bos;
            s.backoff[0] = self.unigrams[self.bos as usize].backoff;
        }
        s
    }

    /// log10 P(word | state) with back-off, and the state after `word`.
    pub fn score_id(&self, state: &NgramState, word: u32) -> (NgramState, f32) {
        let word = if (word as usize) < self.unigrams.len() { word } else { self.unk };
        let uni = self.unigrams[word as usize];
        let mut out =
            NgramState { len: 0, words: [0; MAX_ORDER - 1], backoff: [0.0; MAX_ORDER - 1] };
        let max_ctx = self.order - 1;
        if max_ctx > 0 {
            out.len = 1;
            out.words[0] = word;
            out.backoff[0] = uni.backoff;
        }
        let mut prob = uni.prob;
        // A state from a model of higher order has more context than tables.
        let ctx_len = (state.len as usize).min(self.tables.len());
        let mut matched = 0;
        let mut key = u128::from(word);
        // Longer matches exist only if every shorter one does (ARPA files are
        // closed under suffixes), so stop at the first miss like KenLM does.
        while matched < ctx_len {
            key |= u128::from(state.words[matched]) << (self.bits * (matched as u32 + 1));
            let Some(e) = self.tables[matched].get(&key) else { break };
            prob = e.prob;
            matched += 1;
            if matched < max_ctx {
                out.words[matched] = state.words[matched - 1];
                out.backoff[matched] = e.backoff;
                out.len = matched as u8 + 1;
            }
        }
        for &b in &state.backoff[matched..ctx_len] {
            prob += b;
        }
        (out, prob)
    }
}

/// A word-level [`CtcDecoderLm`] over an [`NgramLm`]: maps the decoder's
/// dictionary (words, or tokens when decoding without a lexicon) to model ids.
#[derive(Debug, Clone)]
pub struct KenLm {
    model: std::sync::Arc<NgramLm>,
    ids: Vec<u32>,
}

impl KenLm {
    /// Binds `model` to a decoder dictionary; entries the model does not know
    /// score as `<unk>`, as in KenLM.
    pub fn new(model: std::sync::Arc<NgramLm>, dictionary: &[String]) -> Self {
        let ids = dictionary.iter().map(|w| model.word_id(w)).collect();
        KenLm { model, ids }
    }

    /// The underlying n-gram model.
    pub fn model(&self) -> &NgramLm {
        &self.model
    }
}

impl CtcDecoderLm for KenLm {
    type State = NgramState;
    fn start(&self, start_with_nothing: bool) -> NgramState {
        self.model.begin(start_with_nothing)
    }
    fn score(&self, state: &NgramState, index: usize) -> (NgramState, f32) {
        let id = self.ids.get(index).copied().unwrap_or(self.model.unk);
        self.model.score_id(state, id)
    }
    fn finish(&self, state: &NgramState) -> (NgramState, f32) {
        self.model.score_id(state, self.model.eos)
    }
}
