//! BERT's encoder as HuggingFace `transformers` computes it (`BertModel`
//! without the pooler): embeddings (word + token type + absolute position,
//! then layer norm), then post-LN transformer layers (self-attention with
//! the additive padding mask, a GELU MLP), and sentence embeddings (mean
//! pooling over the mask, then L2 normalisation, as sentence-transformers).
//!
//! Everything in [`BertModel::forward`] and [`BertModel::sentence_embedding`]
//! is runtime tensor ops and `functional` composites, with no host-side
//! computation, so a frontend trace sees the whole model as IR ops.
//!
//! Invariants: a [`BertModel`] only exists with every parameter present, of
//! the configured shape and of one float dtype (checked in
//! [`BertModel::from_state_dict`]); linear weights are kept transposed
//! (`[in, out]`, dense), so no matmul copies a transposed view per call.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use smelt_compiler::ir::DType;

use super::{ModelError, Result};
use crate::functional::{Approximate, embedding, gelu, layer_norm, relu, softmax};
use crate::tensor::Tensor;

/// The fields of HuggingFace's `config.json` a BERT encoder needs (other
/// fields are ignored; absent ones take `transformers.BertConfig`'s defaults).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads (must divide `hidden_size`).
    pub num_attention_heads: usize,
    /// Width of the MLP's hidden layer.
    pub intermediate_size: usize,
    /// The MLP activation: `gelu` (erf form), `gelu_new` /
    /// `gelu_pytorch_tanh` (tanh form) or `relu`.
    pub hidden_act: String,
    /// Layer norm epsilon.
    pub layer_norm_eps: f64,
    /// Rows of the word embedding.
    pub vocab_size: usize,
    /// Rows of the position embedding: the longest input.
    pub max_position_embeddings: usize,
    /// Rows of the token type embedding.
    pub type_vocab_size: usize,
    /// Only `absolute` is supported.
    pub position_embedding_type: String,
}

impl Default for BertConfig {
    /// `transformers.BertConfig()` (bert-base-uncased).
    fn default() -> Self {
        BertConfig {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-12,
            vocab_size: 30522,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            position_embedding_type: "absolute".into(),
        }
    }
}

/// The MLP activations HuggingFace names in `hidden_act`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Activation {
    Gelu(Approximate),
    Relu,
}

impl BertConfig {
    /// Reads and checks a HuggingFace `config.json`.
    pub fn from_file(path: &Path) -> Result<BertConfig> {
        let bad = |problem: String| ModelError::Config { path: Some(path.to_owned()), problem };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let cfg: BertConfig = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        cfg.validate().map_err(|e| match e {
            ModelError::Config { problem, .. } => bad(problem),
            other => other,
        })?;
        Ok(cfg)
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Checks that the numbers describe a buildable model.
    pub fn validate(&self) -> Result<()> {
        let bad = |problem: String| Err(ModelError::Config { path: None, problem });
        let sizes = [
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return bad(format!("{name} is 0"));
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            return bad(format!("layer_norm_eps {} is not a finite eps", self.layer_norm_eps));
        }
        if self.position_embedding_type != "absolute" {
            return bad(format!(
                "position_embedding_type '{}' is not supported (only 'absolute')",
                self.position_embedding_type
            ));
        }
        self.activation().map(|_| ())
    }

    fn activation(&self) -> Result<Activation> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::Gelu(Approximate::None)),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::Gelu(Approximate::Tanh)),
            "relu" => Ok(Activation::Relu),
            other => Err(ModelError::Config {
                path: None,
                problem: format!(
                    "hidden_act '{other}' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
                ),
            }),
        }
    }
}

/// A dense layer `x @ W.T + b`, with `W.T` stored dense.
#[derive(Clone, Debug)]
struct Linear {
    /// `[in, out]`.
    weight_t: Tensor,
    /// `[out]`.
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight_t)?.add(&self.bias)?)
    }
}

/// Layer norm's affine parameters.
#[derive(Clone, Debug)]
struct Norm {
    weight: Tensor,
    bias: Tensor,
}

/// One encoder layer (`BertLayer`).
#[derive(Clone, Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    intermediate: Linear,
    output: Linear,
    out_norm: Norm,
}

/// Looks parameters up by name, checking shape and dtype.
struct Params<'a> {
    map: &'a BTreeMap<String, Tensor>,
    /// The dtype every parameter must have (the word embedding's).
    dtype: DType,
}

impl Params<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let expected = format!("{}{shape:?}", self.dtype);
        let t = self.map.get(name).ok_or_else(|| ModelError::Missing {
            name: name.to_owned(),
            expected: expected.clone(),
        })?;
        if t.shape() != shape || t.dtype() != self.dtype {
            return Err(ModelError::Mismatch {
                name: name.to_owned(),
                got: format!("{}{:?}", t.dtype(), t.shape()),
                expected,
            });
        }
        Ok(t.clone())
    }

    fn linear(&self, prefix: &str, inp: usize, out: usize) -> Result<Linear> {
        let w = self.get(&format!("{prefix}.weight"), &[out, inp])?;
        Ok(Linear {
            weight_t: w.transpose(0, 1)?.contiguous()?,
            bias: self.get(&format!("{prefix}.bias"), &[out])?,
        })
    }

    fn norm(&self, prefix: &str, width: usize) -> Result<Norm> {
        Ok(Norm {
            weight: self.get(&format!("{prefix}.weight"), &[width])?,
            bias: self.get(&format!("{prefix}.bias"), &[width])?,
        })
    }
}

/// HuggingFace's `BertModel` (encoder only; the pooler is not used by
/// sentence embeddings and is ignored when present).
#[derive(Clone, Debug)]
pub struct BertModel {
    cfg: BertConfig,
    act: Activation,
    dtype: DType,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

impl BertModel {
    /// Builds the model from a state dict with HuggingFace `BertModel`
    /// names (`embeddings.word_embeddings.weight`,
    /// `encoder.layer.{i}.attention.self.query.weight`, ...). A missing or
    /// misshaped tensor is an error naming it; extra tensors are ignored.
    /// Names prefixed `bert.` (as `BertForMaskedLM` etc. save them) are
    /// accepted too.
    pub fn from_state_dict(cfg: BertConfig, map: &BTreeMap<String, Tensor>) -> Result<BertModel> {
        cfg.validate()?;
        let act = cfg.activation()?;
        const WORD: &str = "embeddings.word_embeddings.weight";
        let stripped: BTreeMap<String, Tensor>;
        let map = if !map.contains_key(WORD) && map.contains_key(&format!("bert.{WORD}")) {
            stripped = map
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("bert.").map(|k| (k.to_owned(), v.clone())))
                .collect();
            &stripped
        } else {
            map
        };
        let dtype = match map.get(WORD) {
            Some(t) if t.dtype().is_float() => t.dtype(),
            Some(t) => {
                return Err(ModelError::Mismatch {
                    name: WORD.into(),
                    got: format!("{}{:?}", t.dtype(), t.shape()),
                    expected: "a float tensor".into(),
                });
            }
            None => DType::F32,
        };
        let p = Params { map, dtype };
        let (h, ffn) = (cfg.hidden_size, cfg.intermediate_size);
        let word = p.get(WORD, &[cfg.vocab_size, h])?;
        let position =
            p.get("embeddings.position_embeddings.weight", &[cfg.max_position_embeddings, h])?;
        let token_type =
            p.get("embeddings.token_type_embeddings.weight", &[cfg.type_vocab_size, h])?;
        let emb_norm = p.norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = format!("encoder.layer.{i}");
            layers.push(Layer {
                query: p.linear(&format!("{l}.attention.self.query"), h, h)?,
                key: p.linear(&format!("{l}.attention.self.key"), h, h)?,
                value: p.linear(&format!("{l}.attention.self.value"), h, h)?,
                attn_out: p.linear(&format!("{l}.attention.output.dense"), h, h)?,
                attn_norm: p.norm(&format!("{l}.attention.output.LayerNorm"), h)?,
                intermediate: p.linear(&format!("{l}.intermediate.dense"), h, ffn)?,
                output: p.linear(&format!("{l}.output.dense"), ffn, h)?,
                out_norm: p.norm(&format!("{l}.output.LayerNorm"), h)?,
            });
        }
        Ok(BertModel { cfg, act, dtype, word, position, token_type, emb_norm, layers })
    }

    /// Reads `config.json` and `model.safetensors` from a HuggingFace
    /// model directory.
    pub fn from_dir(dir: &Path) -> Result<BertModel> {
        let cfg = BertConfig::from_file(&dir.join("config.json"))?;
        let map = crate::io::load_state_dict(&dir.join("model.safetensors"))?;
        BertModel::from_state_dict(cfg, &map)
    }

    /// The configuration.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// The dtype of the weights and of the hidden states.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The last hidden state `[b, s, hidden]` for token ids `[b, s]`
    /// (integers) and an attention mask `[b, s]` (1 = token, 0 = padding;
    /// any dtype), with token type 0 everywhere, exactly as HuggingFace
    /// computes it in this dtype.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (b, s) = self.check_inputs(input_ids, attention_mask)?;
        let h = self.cfg.hidden_size;
        // HF: inputs_embeds + token_type_embeddings(zeros), then + positions.
        let word = embedding(input_ids, &self.word)?;
        let token_type = self.token_type.narrow(0, 0, 1)?;
        let position = self.position.narrow(0, 0, s)?;
        let x = word.add(&token_type)?.add(&position)?;
        let mut x = self.norm(&x, &self.emb_norm)?;
        // HF's extended mask: (1 - mask) * finfo(dtype).min, added to scores.
        let mask = attention_mask.to_dtype(self.dtype)?.reshape(&[b as isize, 1, 1, s as isize])?;
        let additive = mask.rsub(1.0)?.mul(finfo_min(self.dtype))?;
        for layer in &self.layers {
            x = self.layer(&x, &additive, layer)?;
        }
        debug_assert_eq!(x.shape(), &[b, s, h]);
        Ok(x)
    }

    /// Sentence embeddings `[b, hidden]`: the last hidden state averaged over
    /// the tokens the mask keeps, then scaled to unit L2 norm
    /// (sentence-transformers' `Pooling(mean)` + `Normalize`).
    pub fn sentence_embedding(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Tensor> {
        let hidden = self.forward(input_ids, attention_mask)?;
        mean_pool_normalize(&hidden, attention_mask)
    }

    fn check_inputs(&self, ids: &Tensor, mask: &Tensor) -> Result<(usize, usize)> {
        let bad = |m: String| Err(ModelError::Input(format!("bert forward: {m}")));
        if ids.rank() != 2 || !ids.dtype().is_int() {
            return bad(format!(
                "input_ids must be an integer [batch, seq] tensor, got {}{:?}",
                ids.dtype(),
                ids.shape()
            ));
        }
        if mask.shape() != ids.shape() {
            return bad(format!(
                "attention_mask {:?} does not match input_ids {:?}",
                mask.shape(),
                ids.shape()
            ));
        }
        let (b, s) = (ids.shape()[0], ids.shape()[1]);
        if s == 0 || s > self.cfg.max_position_embeddings {
            return bad(format!(
                "sequence length {s} is outside 1..={} (max_position_embeddings)",
                self.cfg.max_position_embeddings
            ));
        }
        Ok((b, s))
    }

    fn norm(&self, x: &Tensor, n: &Norm) -> Result<Tensor> {
        let h = self.cfg.hidden_size;
        Ok(layer_norm(x, &[h], Some(&n.weight), Some(&n.bias), self.cfg.layer_norm_eps)?)
    }

    /// One post-LN layer: `x = LN(x + Attn(x))`, `x = LN(x + MLP(x))`.
    fn layer(&self, x: &Tensor, additive_mask: &Tensor, l: &Layer) -> Result<Tensor> {
        let ctx = self.attention(x, additive_mask, l)?;
        let x = self.norm(&l.attn_out.forward(&ctx)?.add(x)?, &l.attn_norm)?;
        let inner = l.intermediate.forward(&x)?;
        let inner = match self.act {
            Activation::Gelu(approx) => gelu(&inner, approx)?,
            Activation::Relu => relu(&inner)?,
        };
        self.norm(&l.output.forward(&inner)?.add(&x)?, &l.out_norm)
    }

    /// Multi-head self-attention: `softmax(q k^T / √d + mask) v`, heads
    /// merged back to `[b, s, hidden]`.
    fn attention(&self, x: &Tensor, additive_mask: &Tensor, l: &Layer) -> Result<Tensor> {
        let (b, s) = (x.shape()[0] as isize, x.shape()[1] as isize);
        let (heads, d) = (self.cfg.num_attention_heads as isize, self.cfg.head_dim() as isize);
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape(&[b, s, heads, d])?.permute(&[0, 2, 1, 3])?)
        };
        let q = split(l.query.forward(x)?)?;
        let k = split(l.key.forward(x)?)?;
        let v = split(l.value.forward(x)?)?;
        let scores = q.matmul(&k.transpose(-1, -2)?)?.div((d as f64).sqrt())?;
        let probs = softmax(&scores.add(additive_mask)?, -1)?;
        let ctx = probs.matmul(&v)?.permute(&[0, 2, 1, 3])?;
        Ok(ctx.reshape(&[b, s, heads * d])?)
    }
}

/// Mean of `hidden` `[b, s, h]` over the positions `mask` `[b, s]` keeps
/// (the count clamped to 1e-9, as sentence-transformers), then each row
/// divided by its L2 norm clamped to 1e-12 (`F.normalize`).
pub fn mean_pool_normalize(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if hidden.rank() != 3 || mask.shape() != &hidden.shape()[..2] {
        return Err(ModelError::Input(format!(
            "mean pooling: hidden {:?} and mask {:?} are not [b, s, h] and [b, s]",
            hidden.shape(),
            mask.shape()
        )));
    }
    let m = mask.to_dtype(hidden.dtype())?.unsqueeze(-1)?;
    let summed = hidden.mul(&m)?.sum(&[1], false)?;
    let counts = m.sum(&[1], false)?.maximum(1e-9)?;
    let mean = summed.div(&counts)?;
    let norm = mean.mul(&mean)?.sum(&[1], true)?.sqrt()?.maximum(1e-12)?;
    Ok(mean.div(&norm)?)
}

/// `torch.finfo(dtype).min` for the float dtypes.
fn finfo_min(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::MIN,
        DType::F16 => f64::from(half::f16::MIN),
        DType::BF16 => f64::from(half::bf16::MIN),
        _ => f64::from(f32::MIN),
    }
}
