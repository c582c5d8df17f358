//! WordPiece: BERT's subword vocabulary (`vocab.txt`, one token per line,
//! id = line number) and the encoder that turns text into model inputs.
//!
//! Each word from [`basic`](super::basic) is split greedily into the longest
//! vocabulary prefix, then the longest `##`-prefixed continuation, and so on;
//! a word with a part that matches nothing, or longer than
//! [`MAX_WORD_CHARS`] chars, becomes `[UNK]`. Inputs are
//! `[CLS] pieces… [SEP]`, truncated so that the whole fits `max_len`.

use std::collections::HashMap;
use std::path::Path;

use super::TextError;
use super::basic::{normalize, split_words};

/// Words longer than this many chars are `[UNK]` without being split.
pub const MAX_WORD_CHARS: usize = 100;

/// The marker that starts every non-initial piece of a word.
const CONTINUATION: &str = "##";

/// A WordPiece tokenizer: the vocabulary and the ids of BERT's special tokens.
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    tokens: Vec<String>,
    lowercase: bool,
    cls: u32,
    sep: u32,
    pad: u32,
    unk: u32,
}

impl WordPiece {
    /// Reads `vocab.txt`. `lowercase` is true for uncased models (it also
    /// turns on accent stripping, as BERT's tokenizer does).
    pub fn from_vocab_file(path: &Path, lowercase: bool) -> Result<WordPiece, TextError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TextError::Io { path: path.to_owned(), source })?;
        let tokens: Vec<String> = text.lines().map(str::to_owned).collect();
        if u32::try_from(tokens.len()).is_err() {
            return Err(TextError::TooLarge { path: path.to_owned(), len: tokens.len() });
        }
        // A token listed twice keeps its last id, as HuggingFace's loader does.
        let vocab: HashMap<String, u32> =
            tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let id = |token: &'static str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| TextError::MissingToken { path: path.to_owned(), token })
        };
        Ok(WordPiece {
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            pad: id("[PAD]")?,
            unk: id("[UNK]")?,
            vocab,
            tokens,
            lowercase,
        })
    }

    /// Number of lines of the vocabulary (ids are below this).
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// The token an id stands for.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The padding id (`[PAD]`).
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// Ids of the pieces of `text`, without special tokens or truncation.
    pub fn tokenize_ids(&self, text: &str) -> Vec<u32> {
        let normalized = normalize(text, self.lowercase);
        let mut ids = Vec::new();
        let mut candidate = String::new();
        for word in split_words(&normalized) {
            self.push_word(word, &mut candidate, &mut ids);
        }
        ids
    }

    /// The pieces of `text` as strings (for debugging and tests).
    pub fn tokenize(&self, text: &str) -> Vec<&str> {
        self.tokenize_ids(text).into_iter().filter_map(|id| self.id_to_token(id)).collect()
    }

    /// BERT's BasicTokenizer + WordPiece, with `[CLS] ... [SEP]`; truncation at
    /// max_len. The pieces are cut to `max_len - 2` so the result is at most
    /// `max_len` ids; a `max_len` below 2 still keeps `[CLS]` and `[SEP]`.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut pieces = self.tokenize_ids(text);
        pieces.truncate(max_len.saturating_sub(2));
        let mut ids = Vec::with_capacity(pieces.len() + 2);
        ids.push(self.cls);
        ids.extend(pieces);
        ids.push(self.sep);
        ids
    }

    /// Encodes each text (as [`encode`](Self::encode)) and pads all to the
    /// longest with `[PAD]`; returns the padded ids and the attention masks
    /// (1 for real tokens, 0 for padding), one row per text.
    pub fn encode_batch(&self, texts: &[&str], max_len: usize) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let mut rows: Vec<Vec<u32>> = texts.iter().map(|t| self.encode(t, max_len)).collect();
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let masks = rows
            .iter_mut()
            .map(|row| {
                let len = row.len();
                row.resize(width, self.pad);
                let mut mask = vec![1; len];
                mask.resize(width, 0);
                mask
            })
            .collect();
        (rows, masks)
    }

    /// Appends the pieces of one word (greedy longest match), or `[UNK]`.
    fn push_word(&self, word: &str, candidate: &mut String, ids: &mut Vec<u32>) {
        if word.chars().count() > MAX_WORD_CHARS {
            ids.push(self.unk);
            return;
        }
        let first = ids.len();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(CONTINUATION);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(candidate.as_str()) {
                    found = Some(id);
                    break;
                }
                // Shorten by one char, staying on a char boundary.
                end = word[..end].char_indices().next_back().map_or(start, |(i, _)| i);
            }
            let Some(id) = found else {
                ids.truncate(first);
                ids.push(self.unk);
                return;
            };
            ids.push(id);
            start = end;
        }
    }
}
