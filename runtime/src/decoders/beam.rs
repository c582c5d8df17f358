//! The beam search itself, frame by frame, for the lexicon decoder and the
//! lexicon-free one. It follows Flashlight Text's `LexiconDecoder` and
//! `LexiconFreeDecoder` step for step, so it finds the same hypotheses with
//! the same scores:
//!
//! - candidates below `best - beam_threshold` are dropped, then candidates
//!   with equal (LM history, trie node, last token, after-blank) merge (max,
//!   or log-add), then the best `beam_size` survive;
//! - an LM "state" is the whole word history, as in Flashlight where a state
//!   is a node of a tree of histories: two hypotheses merge only when they
//!   read the same words. [`Histories`] interns those nodes and caches each
//!   LM score on its edge, so the LM is asked once per (history, word).
//!
//! Where Flashlight's own order is unspecified (ties in score) results may
//! differ; nothing else should.

use super::lm::{CtcDecoderLm, FastMap};
use super::trie::{ROOT, Trie};

/// Search parameters, already resolved to indices.
#[derive(Debug, Clone)]
pub(crate) struct SearchParams {
    pub beam_size: usize,
    pub beam_size_token: usize,
    pub beam_threshold: f64,
    pub lm_weight: f64,
    pub word_score: f64,
    pub unk_score: f64,
    pub sil_score: f64,
    pub log_add: bool,
    pub blank: u32,
    pub sil: u32,
    pub unk_word: i32,
}

/// One hypothesis at one frame. `parent` indexes [`Search::hyps`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hyp {
    pub score: f64,
    pub am: f64,
    pub lm: f64,
    pub hist: u32,
    pub lex: u32,
    pub parent: u32,
    pub token: u32,
    pub word: i32,
    pub prev_blank: bool,
}

/// Interned LM histories with the LM state of each and cached edge scores.
struct Histories<'l, L: CtcDecoderLm> {
    lm: &'l L,
    states: Vec<L::State>,
    edges: FastMap<u64, (u32, f32)>,
}

/// Edge label for `finish` (end of sentence).
const FINISH: u32 = u32::MAX;

impl<'l, L: CtcDecoderLm> Histories<'l, L> {
    fn new(lm: &'l L) -> Self {
        Histories { lm, states: vec![lm.start(false)], edges: FastMap::default() }
    }

    /// The history `node` extended by `label` (or [`FINISH`]) and the LM score of that step.
    #[inline]
    fn child(&mut self, node: u32, label: u32) -> (u32, f32) {
        let key = (u64::from(node) << 32) | u64::from(label);
        if let Some(&hit) = self.edges.get(&key) {
            return hit;
        }
        let parent = &self.states[node as usize];
        let (state, score) = if label == FINISH {
            self.lm.finish(parent)
        } else {
            self.lm.score(parent, label as usize)
        };
        let id = self.states.len() as u32;
        self.states.push(state);
        self.edges.insert(key, (id, score));
        (id, score)
    }
}

/// Per-utterance working memory, reused between frames.
pub(crate) struct Search<'a, L: CtcDecoderLm> {
    p: &'a SearchParams,
    trie: Option<&'a Trie>,
    hist: Histories<'a, L>,
    /// Every frame's surviving hypotheses, back to back.
    pub hyps: Vec<Hyp>,
    /// `frames[t]..frames[t+1]` is frame t's slice of `hyps` (frame 0 is the start).
    pub frames: Vec<usize>,
    cands: Vec<Hyp>,
    best: f64,
    merge: FastMap<u128, u32>,
    /// Score of each merged group's representative (its best member).
    rep_scores: Vec<f64>,
    top: Vec<u32>,
    in_top: Vec<bool>,
}

impl<'a, L: CtcDecoderLm> Search<'a, L> {
    pub fn new(p: &'a SearchParams, trie: Option<&'a Trie>, lm: &'a L, n_tokens: usize) -> Self {
        let start = Hyp {
            score: 0.0,
            am: 0.0,
            lm: 0.0,
            hist: 0,
            lex: ROOT,
            parent: u32::MAX,
            token: p.sil,
            word: -1,
            prev_blank: false,
        };
        Search {
            p,
            trie,
            hist: Histories::new(lm),
            hyps: vec![start],
            frames: vec![0, 1],
            cands: Vec::new(),
            best: f64::NEG_INFINITY,
            merge: FastMap::default(),
            rep_scores: Vec::new(),
            top: Vec::with_capacity(n_tokens),
            in_top: vec![false; n_tokens],
        }
    }

    #[inline]
    fn add(&mut self, h: Hyp) {
        if h.score >= self.best {
            self.best = h.score;
        }
        if h.score >= self.best - self.p.beam_threshold {
            self.cands.push(h);
        }
    }

    /// Picks the frame's `beam_size_token` best tokens (all when not smaller).
    fn select_tokens(&mut self, frame: &[f32]) {
        let n = frame.len();
        self.top.clear();
        self.top.extend(0..n as u32);
        let k = self.p.beam_size_token.min(n);
        if k < n {
            self.top.select_nth_unstable_by(k, |&a, &b| {
                frame[b as usize].total_cmp(&frame[a as usize])
            });
            self.top.truncate(k);
        }
        self.in_top.iter_mut().for_each(|x| *x = false);
        for &t in &self.top {
            self.in_top[t as usize] = true;
        }
    }

    /// One frame of emissions (`frame[n]` = log-prob of token n).
    pub fn step(&mut self, frame: &[f32]) {
        self.select_tokens(frame);
        self.cands.clear();
        self.best = f64::NEG_INFINITY;
        let (a, b) = (self.frames[self.frames.len() - 2], self.frames[self.frames.len() - 1]);
        for pi in a..b {
            let prev = self.hyps[pi];
            match self.trie {
                Some(trie) => self.expand_lexicon(trie, &prev, pi as u32, frame),
                None => self.expand_free(&prev, pi as u32, frame),
            }
        }
        self.store(false);
    }

    fn expand_lexicon(&mut self, trie: &Trie, prev: &Hyp, pi: u32, frame: &[f32]) {
        let p = self.p;
        let lex_max = if prev.lex == ROOT { 0.0f32 } else { trie.max_score(prev.lex) };
        for (n, child) in trie.children(prev.lex) {
            if !self.in_top[n as usize] {
                continue;
            }
            let am = f64::from(frame[n as usize]);
            let mut score = prev.score + am;
            if n == p.sil {
                score += p.sil_score;
            }
            let base = Hyp { am: prev.am + am, parent: pi, token: n, prev_blank: false, ..*prev };
            // A new token, unless it repeats the last one with no blank between.
            if (prev.prev_blank || n != prev.token) && trie.has_children(child) {
                let lm = f64::from(trie.max_score(child) - lex_max);
                self.add(Hyp {
                    score: score + p.lm_weight * lm,
                    lm: prev.lm + lm,
                    lex: child,
                    word: -1,
                    ..base
                });
            }
            // Flashlight completes a word here even after a repeated token;
            // it only refuses to emit a one-token word twice in a row.
            for &label in trie.labels(child) {
                if prev.lex == ROOT && prev.token == n {
                    continue;
                }
                let (h, s) = self.hist.child(prev.hist, label as u32);
                let lm = f64::from(s - lex_max);
                self.add(Hyp {
                    score: score + p.lm_weight * lm + p.word_score,
                    lm: prev.lm + lm,
                    hist: h,
                    lex: ROOT,
                    word: label,
                    ..base
                });
            }
            if trie.labels(child).is_empty() && p.unk_score > f64::NEG_INFINITY {
                let (h, s) = self.hist.child(prev.hist, p.unk_word as u32);
                let lm = f64::from(s - lex_max);
                self.add(Hyp {
                    score: score + p.lm_weight * lm + p.unk_score,
                    lm: prev.lm + lm,
                    hist: h,
                    lex: ROOT,
                    word: p.unk_word,
                    ..base
                });
            }
        }
        // Stay on the same trie node (silence at the root).
        if !prev.prev_blank || prev.lex == ROOT {
            let n = if prev.lex == ROOT { p.sil } else { prev.token };
            let am = f64::from(frame[n as usize]);
            let mut score = prev.score + am;
            if n == p.sil {
                score += p.sil_score;
            }
            self.add(Hyp {
                score,
                am: prev.am + am,
                parent: pi,
                token: n,
                word: -1,
                prev_blank: false,
                ..*prev
            });
        }
        let am = f64::from(frame[p.blank as usize]);
        self.add(Hyp {
            score: prev.score + am,
            am: prev.am + am,
            parent: pi,
            token: p.blank,
            word: -1,
            prev_blank: true,
            ..*prev
        });
    }

    fn expand_free(&mut self, prev: &Hyp, pi: u32, frame: &[f32]) {
        let p = self.p;
        for r in 0..self.top.len() {
            let n = self.top[r];
            let am = f64::from(frame[n as usize]);
            let mut score = prev.score + am;
            if n == p.sil {
                score += p.sil_score;
            }
            let base = Hyp { am: prev.am + am, parent: pi, token: n, word: -1, ..*prev };
            if n != p.blank && (n != prev.token || prev.prev_blank) {
                let (h, s) = self.hist.child(prev.hist, n);
                let lm = f64::from(s);
                self.add(Hyp {
                    score: score + p.lm_weight * lm,
                    lm: prev.lm + lm,
                    hist: h,
                    prev_blank: false,
                    ..base
                });
            } else {
                self.add(Hyp { score, prev_blank: n == p.blank, ..base });
            }
        }
    }

    /// Ends the utterance: adds `</s>`, preferring hypotheses at a word boundary.
    pub fn finish(&mut self) {
        self.cands.clear();
        self.best = f64::NEG_INFINITY;
        let (a, b) = (self.frames[self.frames.len() - 2], self.frames[self.frames.len() - 1]);
        let nice = self.trie.is_some() && self.hyps[a..b].iter().any(|h| h.lex == ROOT);
        for pi in a..b {
            let prev = self.hyps[pi];
            if nice && prev.lex != ROOT {
                continue;
            }
            let (h, s) = self.hist.child(prev.hist, FINISH);
            let lm = f64::from(s);
            self.add(Hyp {
                score: prev.score + self.p.lm_weight * lm,
                lm: prev.lm + lm,
                hist: h,
                parent: pi as u32,
                token: self.p.sil,
                word: -1,
                prev_blank: false,
                ..prev
            });
        }
        self.store(true);
    }

    /// Threshold, merge, prune; appends the survivors as the next frame.
    fn store(&mut self, sorted: bool) {
        let threshold = self.best - self.p.beam_threshold;
        let out_start = self.hyps.len();
        self.merge.clear();
        let rep_scores = &mut self.rep_scores;
        rep_scores.clear();
        for c in &self.cands {
            if c.score < threshold {
                continue;
            }
            let key = (u128::from(c.hist) << 64)
                | (u128::from(c.lex) << 32)
                | (u128::from(c.token) << 1)
                | u128::from(c.prev_blank);
            match self.merge.get(&key) {
                None => {
                    self.merge.insert(key, rep_scores.len() as u32);
                    rep_scores.push(c.score);
                    self.hyps.push(*c);
                }
                Some(&g) => {
                    let g = g as usize;
                    let slot = &mut self.hyps[out_start + g];
                    let merged = if self.p.log_add {
                        let (hi, lo) = if slot.score >= c.score {
                            (slot.score, c.score)
                        } else {
                            (c.score, slot.score)
                        };
                        hi + (lo - hi).exp().ln_1p()
                    } else {
                        slot.score.max(c.score)
                    };
                    if c.score > rep_scores[g] {
                        rep_scores[g] = c.score;
                        *slot = *c;
                    }
                    slot.score = merged;
                }
            }
        }
        let out = &mut self.hyps[out_start..];
        let by_score = |x: &Hyp, y: &Hyp| y.score.total_cmp(&x.score);
        let keep = out.len().min(self.p.beam_size);
        if sorted {
            out.sort_by(by_score);
        } else if out.len() > keep {
            out.select_nth_unstable_by(keep, by_score);
        }
        self.hyps.truncate(out_start + keep);
        self.frames.push(self.hyps.len());
    }

    /// The token and word at each position of the path ending at `final_idx`
    /// (position 0 is the start state, the last is the end-of-sentence step).
    pub fn backtrack(&self, final_idx: usize) -> (Vec<u32>, Vec<i32>) {
        let positions = self.frames.len() - 1;
        let mut tokens = vec![0u32; positions];
        let mut words = vec![-1i32; positions];
        let mut idx = final_idx;
        for pos in (0..positions).rev() {
            let h = &self.hyps[idx];
            tokens[pos] = h.token;
            words[pos] = h.word;
            if pos > 0 {
                idx = h.parent as usize;
            }
        }
        (tokens, words)
    }

    /// Indices (into `hyps`) of the final frame's hypotheses, best first.
    pub fn finals(&self) -> std::ops::Range<usize> {
        self.frames[self.frames.len() - 2]..self.frames[self.frames.len() - 1]
    }
}
