//! [`SentenceEncoder`]: text in, unit-length sentence embeddings out, as
//! sentence-transformers runs all-MiniLM-L6-v2: WordPiece tokens (truncated
//! at the model's `max_seq_length`), a BERT encoder, mean pooling over the
//! attention mask, L2 normalisation.
//!
//! The model call is a parameter of [`SentenceEncoder::embed_with`], so a
//! caller can swap eager execution for a compiled forward without touching
//! tokenization or batching.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::bert::{BertModel, mean_pool_normalize};
use super::{ModelError, Result};
use crate::hub::minilm_dir;
use crate::tensor::Tensor;
use crate::text::WordPiece;

/// Texts per forward call: bounds padding waste and memory for long lists.
pub const BATCH: usize = 32;

/// A tokenizer and a BERT encoder that turn sentences into embeddings.
#[derive(Clone, Debug)]
pub struct SentenceEncoder {
    tokenizer: WordPiece,
    model: BertModel,
    max_len: usize,
    dir: PathBuf,
}

impl SentenceEncoder {
    /// Loads a sentence-transformers model directory (`config.json`,
    /// `model.safetensors`, `vocab.txt`; `sentence_bert_config.json` and
    /// `tokenizer_config.json` are read when present for the truncation
    /// length and casing).
    pub fn load(dir: &Path) -> Result<SentenceEncoder> {
        let model = BertModel::from_dir(dir)?;
        let lowercase = json_field(&dir.join("tokenizer_config.json"), "do_lower_case")?
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        let tokenizer = WordPiece::from_vocab_file(&dir.join("vocab.txt"), lowercase)?;
        let positions = model.config().max_position_embeddings;
        let max_len = json_field(&dir.join("sentence_bert_config.json"), "max_seq_length")?
            .and_then(|v| v.as_u64())
            .map_or(positions, |n| (n as usize).min(positions));
        Ok(SentenceEncoder { tokenizer, model, max_len, dir: dir.to_owned() })
    }

    /// [`SentenceEncoder::load`] of all-MiniLM-L6-v2 found by
    /// [`minilm_dir`] (the given dir, `$SMELT_MODEL_DIR`, the cache, or
    /// fetched into the cache when `fetch`).
    pub fn minilm(explicit: Option<&Path>, fetch: bool) -> Result<SentenceEncoder> {
        SentenceEncoder::load(&minilm_dir(explicit, fetch)?)
    }

    /// The directory the model came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The encoder.
    pub fn model(&self) -> &BertModel {
        &self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Tokens kept per text, `[CLS]` and `[SEP]` included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Width of an embedding.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    /// Padded token ids (i64) and attention masks (i64), both `[b, s]`.
    pub fn tokenize(&self, texts: &[&str]) -> Result<(Tensor, Tensor)> {
        let (ids, masks) = self.tokenizer.encode_batch(texts, self.max_len);
        let s = ids.first().map_or(0, Vec::len);
        let flat = |rows: Vec<Vec<u32>>| rows.into_iter().flatten().map(i64::from).collect();
        let ids = Tensor::from_vec::<i64>(flat(ids), &[texts.len(), s])?;
        let masks = Tensor::from_vec::<i64>(flat(masks), &[texts.len(), s])?;
        Ok((ids, masks))
    }

    /// Unit-length embeddings of `texts`, in order, run eagerly.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_with(texts, &mut |m, ids, mask| m.forward(ids, mask))
    }

    /// [`SentenceEncoder::embed`] with the encoder call given: `forward`
    /// maps (model, ids `[b, s]`, mask `[b, s]`) to the last hidden state
    /// `[b, s, hidden]` (e.g. a compiled `BertModel::forward`). Texts go in
    /// batches of [`BATCH`].
    pub fn embed_with(
        &self,
        texts: &[&str],
        forward: &mut dyn FnMut(&BertModel, &Tensor, &Tensor) -> Result<Tensor>,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let (ids, mask) = self.tokenize(chunk)?;
            let hidden = forward(&self.model, &ids, &mask)?;
            let emb =
                mean_pool_normalize(&hidden, &mask)?.to_dtype(smelt_compiler::ir::DType::F32)?;
            let values = emb.to_vec::<f32>()?;
            out.extend(values.chunks_exact(self.dim()).map(<[f32]>::to_vec));
        }
        Ok(out)
    }
}

/// `file[key]` of a JSON object file; `None` when the file or key is absent.
fn json_field(path: &Path, key: &str) -> Result<Option<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ModelError::Config { path: Some(path.to_owned()), problem: e.to_string() });
        }
    };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| ModelError::Config { path: Some(path.to_owned()), problem: e.to_string() })?;
    Ok(v.get(key).cloned())
}
