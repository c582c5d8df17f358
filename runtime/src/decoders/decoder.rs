//! The decoder users build: [`ctc_decoder`] with TorchAudio's parameter
//! names and defaults, [`CtcDecoder`] generic over the language model, and
//! [`CtcHypothesis`], the serialisable result.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::arpa::load_arpa;
use super::beam::{Search, SearchParams};
use super::compat::cpp_unordered_map_order;
use super::dict::{Dictionary, Lexicon};
use super::emissions::{Emissions, check_finite};
use super::error::{DecodeError, Result};
use super::lm::{CtcDecoderLm, KenLm, NgramLm, NgramState, ZeroLm};
use super::trie::{Trie, TrieBuilder};

/// Options of [`ctc_decoder`]; `Default` gives TorchAudio's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CtcDecoderOptions {
    /// Hypotheses returned per utterance.
    pub nbest: usize,
    /// Hypotheses kept after each frame.
    pub beam_size: usize,
    /// Tokens tried per frame (best by emission); `None` = all tokens.
    pub beam_size_token: Option<usize>,
    /// Hypotheses scoring below the frame's best minus this are dropped.
    pub beam_threshold: f64,
    /// Weight of the (log10) LM score.
    pub lm_weight: f64,
    /// Added per word.
    pub word_score: f64,
    /// Added per unknown word; `-inf` forbids words outside the lexicon.
    pub unk_score: f64,
    /// Added per frame of silence.
    pub sil_score: f64,
    /// Merge equal hypotheses by log-add instead of max.
    pub log_add: bool,
    /// The CTC blank token.
    pub blank_token: String,
    /// The word boundary / silence token.
    pub sil_token: String,
    /// The unknown word.
    pub unk_word: String,
    /// Lexicon-free decoding with an ARPA LM and no `lm_dict` only: score
    /// token `n` as TorchAudio does, as the `n`-th word of a C++ hash map
    /// (see `compat.rs`), so results equal TorchAudio's. `false` scores each
    /// token as itself, which is what TorchAudio means to do.
    pub torchaudio_token_order: bool,
}

impl Default for CtcDecoderOptions {
    fn default() -> Self {
        CtcDecoderOptions {
            nbest: 1,
            beam_size: 50,
            beam_size_token: None,
            beam_threshold: 50.0,
            lm_weight: 2.0,
            word_score: 0.0,
            unk_score: f64::NEG_INFINITY,
            sil_score: 0.0,
            log_add: false,
            blank_token: "-".into(),
            sil_token: "|".into(),
            unk_word: "<unk>".into(),
            torchaudio_token_order: true,
        }
    }
}

/// One decoded hypothesis, as TorchAudio's `CTCHypothesis` plus the score's parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CtcHypothesis {
    /// Token indices: the best path with repeats collapsed and blanks removed
    /// (for beam search it starts and ends with the silence token).
    pub tokens: Vec<usize>,
    /// Words (empty for lexicon-free decoding).
    pub words: Vec<String>,
    /// Total score: acoustic + lm_weight·LM + word, unknown and silence bonuses.
    pub score: f64,
    /// Sum of the emissions along the path.
    pub am_score: f64,
    /// Unweighted LM score (log10).
    pub lm_score: f64,
    /// Position of each token in the path. Beam search counts TorchAudio's
    /// way: 0 is the start state, so frame `f` is `f + 1`.
    pub timesteps: Vec<usize>,
    /// The per-position token path (start state, one per frame, end), before
    /// collapsing; empty for greedy decoding.
    #[serde(skip)]
    pub path: Vec<u32>,
}

/// Where the LM for [`ctc_decoder`] comes from.
#[derive(Debug, Clone, Default)]
pub enum LmSource<'a> {
    /// No LM ([`ZeroLm`]).
    #[default]
    None,
    /// An ARPA file, plain or `.gz`.
    Arpa(&'a Path),
    /// An already loaded model (to share one model between decoders).
    Loaded(Arc<NgramLm>),
}

/// The LMs [`ctc_decoder`] can build.
#[derive(Debug, Clone)]
pub enum AnyLm {
    /// No LM.
    Zero(ZeroLm),
    /// A KenLM-style n-gram model.
    Ngram(KenLm),
}

/// State of an [`AnyLm`].
#[derive(Debug, Clone, Copy)]
pub enum AnyLmState {
    /// [`ZeroLm`]'s.
    Zero,
    /// [`KenLm`]'s.
    Ngram(NgramState),
}

impl CtcDecoderLm for AnyLm {
    type State = AnyLmState;
    fn start(&self, nothing: bool) -> AnyLmState {
        match self {
            AnyLm::Zero(_) => AnyLmState::Zero,
            AnyLm::Ngram(k) => AnyLmState::Ngram(k.start(nothing)),
        }
    }
    fn score(&self, state: &AnyLmState, index: usize) -> (AnyLmState, f32) {
        match (self, state) {
            (AnyLm::Ngram(k), AnyLmState::Ngram(s)) => {
                let (s, p) = k.score(s, index);
                (AnyLmState::Ngram(s), p)
            }
            _ => (AnyLmState::Zero, 0.0),
        }
    }
    fn finish(&self, state: &AnyLmState) -> (AnyLmState, f32) {
        match (self, state) {
            (AnyLm::Ngram(k), AnyLmState::Ngram(s)) => {
                let (s, p) = k.finish(s);
                (AnyLmState::Ngram(s), p)
            }
            _ => (AnyLmState::Zero, 0.0),
        }
    }
}

/// Builds a decoder from files, as TorchAudio's `ctc_decoder`: `lexicon =
/// None` decodes without a lexicon (the LM then scores tokens); `lm_dict`
/// names the LM's word list (default: the lexicon's words, or the tokens).
pub fn ctc_decoder(
    lexicon: Option<&Path>,
    tokens: &Path,
    lm: LmSource,
    lm_dict: Option<&Path>,
    options: CtcDecoderOptions,
) -> Result<CtcDecoder<AnyLm>> {
    let tokens_dict = Dictionary::load(tokens)?;
    let lexicon = match lexicon {
        Some(p) => {
            let lex = Lexicon::load(p)?;
            lex.check_tokens(&tokens_dict, Some(p))?;
            Some(lex)
        }
        None => None,
    };
    let word_dict = match (lm_dict, &lexicon) {
        (Some(p), _) => Dictionary::load(p)?,
        (None, Some(lex)) => word_dict_from_lexicon(lex, &options.unk_word),
        (None, None) => {
            let mut entries = tokens_dict.entries().to_vec();
            entries.push(options.unk_word.clone());
            if options.torchaudio_token_order && !matches!(lm, LmSource::None) {
                entries = cpp_unordered_map_order(&entries).ok_or_else(|| {
                    DecodeError::Config(
                        "too many tokens to reproduce TorchAudio's token order; \
                         set torchaudio_token_order = false"
                            .into(),
                    )
                })?;
            }
            Dictionary::from_tokens(&entries)?
        }
    };
    let model = match lm {
        LmSource::None => None,
        LmSource::Arpa(p) => Some(Arc::new(load_arpa(p)?)),
        LmSource::Loaded(m) => Some(m),
    };
    let lm = match model {
        None => AnyLm::Zero(ZeroLm),
        Some(m) => AnyLm::Ngram(KenLm::new(m, word_dict.entries())),
    };
    CtcDecoder::new(tokens_dict, lexicon, word_dict, lm, options)
}

/// The word dictionary TorchAudio makes from a lexicon: its words in order,
/// then the unknown word if the lexicon lacks it.
pub fn word_dict_from_lexicon(lexicon: &Lexicon, unk_word: &str) -> Dictionary {
    let mut entries: Vec<&str> = lexicon.words.iter().map(|(w, _)| w.as_str()).collect();
    if !entries.contains(&unk_word) {
        entries.push(unk_word);
    }
    // Lexicon words are unique, so this cannot fail.
    Dictionary::from_tokens(&entries).unwrap_or_default()
}

/// A CTC beam-search decoder over LM `L`.
#[derive(Debug)]
pub struct CtcDecoder<L: CtcDecoderLm> {
    tokens: Dictionary,
    words: Dictionary,
    trie: Option<Trie>,
    lm: L,
    params: SearchParams,
    nbest: usize,
}

impl<L: CtcDecoderLm> CtcDecoder<L> {
    /// A decoder with a custom LM. With a lexicon, `lm` scores indices of
    /// `word_dict`; without, indices of `tokens`.
    pub fn new(
        tokens: Dictionary,
        lexicon: Option<Lexicon>,
        word_dict: Dictionary,
        lm: L,
        options: CtcDecoderOptions,
    ) -> Result<Self> {
        let find = |t: &str, what: &str| {
            tokens.index(t).map(|i| i as u32).ok_or_else(|| {
                DecodeError::Config(format!("the {what} token '{t}' is not among the tokens"))
            })
        };
        let blank = find(&options.blank_token, "blank")?;
        let sil = find(&options.sil_token, "silence")?;
        if options.beam_size == 0 {
            return Err(DecodeError::Config("beam_size must be at least 1".into()));
        }
        if options.beam_threshold.is_nan() || options.lm_weight.is_nan() {
            return Err(DecodeError::Config("beam_threshold and lm_weight must be numbers".into()));
        }
        let unk_word = word_dict.index(&options.unk_word).map_or(-1, |i| i as i32);
        let trie = match &lexicon {
            None => None,
            Some(lex) => {
                lex.check_tokens(&tokens, None)?;
                if unk_word < 0 && options.unk_score > f64::NEG_INFINITY {
                    return Err(DecodeError::Config(format!(
                        "unk_score is finite but the unknown word '{}' is not in the word dictionary",
                        options.unk_word
                    )));
                }
                let start = lm.start(false);
                let mut b = TrieBuilder::new();
                for (word, spellings) in &lex.words {
                    let Some(w) = word_dict.index(word) else {
                        return Err(DecodeError::Config(format!(
                            "lexicon word '{word}' is not in the LM dictionary"
                        )));
                    };
                    let (_, score) = lm.score(&start, w);
                    for sp in spellings {
                        let ids: Vec<u32> =
                            sp.iter().filter_map(|t| tokens.index(t)).map(|i| i as u32).collect();
                        b.insert(&ids, w as i32, score);
                    }
                }
                Some(b.smear())
            }
        };
        let params = SearchParams {
            beam_size: options.beam_size,
            beam_size_token: options.beam_size_token.unwrap_or(tokens.len()),
            beam_threshold: options.beam_threshold,
            lm_weight: options.lm_weight,
            word_score: options.word_score,
            unk_score: options.unk_score,
            sil_score: options.sil_score,
            log_add: options.log_add,
            blank,
            sil,
            unk_word,
        };
        Ok(CtcDecoder { tokens, words: word_dict, trie, lm, params, nbest: options.nbest })
    }

    /// The token dictionary.
    pub fn tokens(&self) -> &Dictionary {
        &self.tokens
    }

    /// The word dictionary (what the LM scores with a lexicon).
    pub fn words(&self) -> &Dictionary {
        &self.words
    }

    /// The language model.
    pub fn lm(&self) -> &L {
        &self.lm
    }

    /// Token strings of `idxs` (TorchAudio's `idxs_to_tokens`).
    pub fn idxs_to_tokens(&self, idxs: &[usize]) -> Vec<&str> {
        idxs.iter().map(|&i| self.tokens.entry(i).unwrap_or("?")).collect()
    }

    /// A hypothesis as text: its words, or without a lexicon its tokens
    /// with the silence token as the word separator.
    pub fn transcript(&self, hyp: &CtcHypothesis) -> String {
        if self.trie.is_some() {
            return hyp.words.join(" ");
        }
        let sil = self.params.sil as usize;
        let mut s = String::new();
        for &t in &hyp.tokens {
            if t == sil {
                s.push(' ');
            } else {
                s.push_str(self.tokens.entry(t).unwrap_or("?"));
            }
        }
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Decodes one utterance `[frames, n_tokens]` into up to `nbest`
    /// hypotheses, best first. `utterance` names it in errors.
    pub fn decode_one(&self, emissions: &[f32], utterance: usize) -> Result<Vec<CtcHypothesis>> {
        let n = self.tokens.len();
        if emissions.len() % n != 0 {
            return Err(DecodeError::Shape(format!(
                "utterance {utterance}: {} values is not a whole number of frames of {n} tokens",
                emissions.len()
            )));
        }
        check_finite(emissions, n, utterance)?;
        let mut search = Search::new(&self.params, self.trie.as_ref(), &self.lm, n);
        for frame in emissions.chunks_exact(n) {
            search.step(frame);
        }
        search.finish();
        Ok(search.finals().take(self.nbest).map(|i| self.hypothesis(&search, i)).collect())
    }

    fn hypothesis(&self, search: &Search<L>, idx: usize) -> CtcHypothesis {
        let h = &search.hyps[idx];
        let (path, words) = search.backtrack(idx);
        let blank = self.params.blank;
        let mut hyp = CtcHypothesis {
            score: h.score,
            am_score: h.am,
            lm_score: h.lm,
            words: words
                .iter()
                .filter(|&&w| w >= 0)
                .map(|&w| self.words.entry(w as usize).unwrap_or("?").to_string())
                .collect(),
            ..CtcHypothesis::default()
        };
        for (i, &t) in path.iter().enumerate() {
            if t != blank && (i == 0 || path[i - 1] != t) {
                hyp.tokens.push(t as usize);
                hyp.timesteps.push(i);
            }
        }
        hyp.path = path;
        hyp
    }

    /// Decodes every utterance of a batch on `threads` threads (0 = all
    /// cores, 1 = this thread). Results are in batch order.
    pub fn decode_batch(
        &self,
        emissions: &Emissions,
        threads: usize,
    ) -> Result<Vec<Vec<CtcHypothesis>>> {
        self.decode_batch_with_progress(emissions, threads, &|| {})
    }

    /// [`CtcDecoder::decode_batch`], calling `done` after each utterance (from
    /// whichever thread decoded it): the hook for a progress bar.
    pub fn decode_batch_with_progress(
        &self,
        emissions: &Emissions,
        threads: usize,
        done: &(dyn Fn() + Sync),
    ) -> Result<Vec<Vec<CtcHypothesis>>> {
        if emissions.n_tokens() != self.tokens.len() {
            return Err(DecodeError::Shape(format!(
                "emissions have {} values per frame but there are {} tokens",
                emissions.n_tokens(),
                self.tokens.len()
            )));
        }
        let one = |i: usize| {
            let r = self.decode_one(emissions.utterance(i), i);
            done();
            r
        };
        if threads == 1 || emissions.len() <= 1 {
            return (0..emissions.len()).map(one).collect();
        }
        use rayon::prelude::*;
        let run = || (0..emissions.len()).into_par_iter().map(one).collect();
        if threads == 0 {
            return run();
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| DecodeError::Config(format!("cannot start {threads} threads: {e}")))?;
        pool.install(run)
    }
}
