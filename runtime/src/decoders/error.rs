//! The decoders' error type: every failure names what was wrong and where
//! (file and line for text inputs, utterance and frame for emissions).

use std::path::PathBuf;

/// Anything that can go wrong while loading decoder inputs or decoding.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A text file (ARPA, lexicon, tokens) has a malformed line.
    #[error("{path}:{line}: {msg}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 when the problem is the file as a whole).
        line: usize,
        /// What was wrong.
        msg: String,
    },
    /// Emissions hold a value the search cannot use.
    #[error("utterance {utterance}, frame {frame}: {msg}")]
    Emissions {
        /// Index of the utterance in the batch.
        utterance: usize,
        /// Frame within the utterance.
        frame: usize,
        /// What was wrong.
        msg: String,
    },
    /// Emission or length shapes disagree with each other or with the tokens.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Decoder options or names that cannot be used together.
    #[error("invalid decoder configuration: {0}")]
    Config(String),
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, DecodeError>;

impl DecodeError {
    pub(crate) fn parse(path: &std::path::Path, line: usize, msg: impl Into<String>) -> Self {
        DecodeError::Parse { path: path.to_path_buf(), line, msg: msg.into() }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        DecodeError::Io { path: path.to_path_buf(), source }
    }
}
