//! Text to token ids for BERT-family models: [`basic`] (BERT's text
//! normalisation and word/punctuation splitting) and [`wordpiece`] (the
//! WordPiece vocabulary, `[CLS] … [SEP]`, truncation and batch padding).
//!
//! The behaviour is HuggingFace's `BertTokenizerFast` (the `tokenizers`
//! crate's `BertNormalizer` + `BertPreTokenizer` + `WordPiece`), which is what
//! `AutoTokenizer` gives for BERT checkpoints and what produced the MiniLM
//! fixture; it uses the same Unicode category tables (`unicode_categories`).

pub mod basic;
pub mod wordpiece;

use std::path::PathBuf;

pub use wordpiece::WordPiece;

/// Why a tokenizer could not be built; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The vocabulary file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The vocabulary lacks a token the tokenizer needs.
    #[error("{}: the vocabulary has no '{token}' token (needed for BERT inputs)", path.display())]
    MissingToken {
        /// The file.
        path: PathBuf,
        /// The token.
        token: &'static str,
    },
    /// The vocabulary has more entries than a `u32` id can number.
    #[error("{}: {len} vocabulary entries do not fit u32 ids", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// How many lines it has.
        len: usize,
    },
}
