//! `nn.MultiheadAttention`: packed input projection `in_proj_weight`
//! `[3E, E]` / `in_proj_bias` `[3E]`, output projection `out_proj.weight` /
//! `out_proj.bias`, attention through `F.scaled_dot_product_attention`.
//! Not yet supported: separate k/v dims, per-head
//! (unaveraged) attention weights.

use smelt_compiler::ir::DType;

use super::{Kind, Linear, Module, Slot, init, prefixed, prefixed_slots};
use crate::functional;
use crate::tensor::{Generator, Result, Tensor, arg_err, dtype_err, shape_err};

/// Multi-head attention (`torch.nn.MultiheadAttention`, `dropout=0`,
/// `kdim = vdim = embed_dim`).
pub struct MultiheadAttention {
    /// `E`.
    pub embed_dim: usize,
    /// `H`; divides `E`.
    pub num_heads: usize,
    /// Inputs are `[N, L, E]` when true, `[L, N, E]` when false (PyTorch's default).
    pub batch_first: bool,
    /// `[3E, E]`: the q, k and v projections stacked, xavier-uniform.
    pub in_proj_weight: Tensor,
    /// `[3E]`, zeros; `None` without bias.
    pub in_proj_bias: Option<Tensor>,
    /// The output projection (`out_proj.weight`, `out_proj.bias` zeros).
    pub out_proj: Linear,
    /// Dropout probability on the attention weights in training (default 0).
    pub dropout: f64,
    /// Where the attention-dropout masks are drawn from.
    pub rng: Generator,
    training: bool,
}

impl MultiheadAttention {
    /// A layer initialised as PyTorch's `_reset_parameters`, drawing from `rng`.
    pub fn new(
        embed_dim: usize,
        num_heads: usize,
        bias: bool,
        batch_first: bool,
        rng: &mut Generator,
    ) -> Result<MultiheadAttention> {
        if num_heads == 0 || embed_dim % num_heads != 0 {
            return Err(arg_err(
                "MultiheadAttention",
                format!("embed_dim {embed_dim} must be divisible by num_heads {num_heads}"),
            ));
        }
        let mut out_proj = Linear::new(embed_dim, embed_dim, bias, rng)?;
        if bias {
            out_proj.bias = Some(init::constant(&[embed_dim], 0.0)?);
        }
        Ok(MultiheadAttention {
            embed_dim,
            num_heads,
            batch_first,
            in_proj_weight: init::xavier_uniform(&[3 * embed_dim, embed_dim], rng)?,
            in_proj_bias: if bias { Some(init::constant(&[3 * embed_dim], 0.0)?) } else { None },
            out_proj,
            dropout: 0.0,
            rng: Generator::new(0),
            training: true,
        })
    }

    /// Sets attention dropout (`dropout=p`), masks drawn from
    /// `Generator::new(seed)`; an error outside `[0, 1]`.
    pub fn with_dropout(mut self, p: f64, seed: u64) -> Result<MultiheadAttention> {
        if !(0.0..=1.0).contains(&p) {
            return Err(arg_err("MultiheadAttention", format!("dropout {p} is not in [0, 1]")));
        }
        self.dropout = p;
        self.rng = Generator::new(seed);
        Ok(self)
    }

    /// Attention of `query` over `key`/`value` (`[L, N, E]`, `[N, L, E]` with
    /// `batch_first`, or unbatched `[L, E]`). `key_padding_mask` `[N, S]`
    /// (`[S]` unbatched) and `attn_mask` `[L, S]` or `[N*H, L, S]`: a true
    /// bool entry is *not* attended to; a float entry is added to the scores.
    pub fn attend(
        &mut self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        key_padding_mask: Option<&Tensor>,
        attn_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let masks = [key_padding_mask, attn_mask];
        Ok(self.run(query, key, value, masks, false)?.0)
    }

    /// [`MultiheadAttention::attend`] that also returns the attention
    /// weights averaged over heads (`need_weights=True`,
    /// `average_attn_weights=True`): `[N, L, S]`, `[L, S]` unbatched.
    pub fn attend_with_weights(
        &mut self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        key_padding_mask: Option<&Tensor>,
        attn_mask: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (o, w) = self.run(query, key, value, [key_padding_mask, attn_mask], true)?;
        match w {
            Some(w) => Ok((o, w)),
            None => Err(arg_err("MultiheadAttention", "attention weights were not computed")),
        }
    }

    /// The forward: output and, when `need_weights`, the head-averaged weights.
    fn run(
        &mut self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        [key_padding_mask, attn_mask]: [Option<&Tensor>; 2],
        need_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let op = "MultiheadAttention";
        let r = query.rank();
        let e = self.embed_dim;
        if !(r == 2 || r == 3)
            || key.rank() != r
            || value.rank() != r
            || [query, key, value].iter().any(|t| t.shape()[r - 1] != e)
            || key.shape() != value.shape()
        {
            return Err(shape_err(
                op,
                format!(
                    "query {:?}, key {:?}, value {:?} must be [L, N, {e}] / [N, L, {e}] / [L, {e}] with key and value alike",
                    query.shape(),
                    key.shape(),
                    value.shape()
                ),
            ));
        }
        let to_nle = |t: &Tensor| match (r, self.batch_first) {
            (2, _) => t.unsqueeze(0),
            (_, true) => Ok(t.clone()),
            _ => t.transpose(0, 1),
        };
        let (q, k, v) = (to_nle(query)?, to_nle(key)?, to_nle(value)?);
        if q.shape()[0] != k.shape()[0] {
            return Err(shape_err(
                op,
                format!("query {:?} and key {:?} differ in batch", query.shape(), key.shape()),
            ));
        }
        let (n, l, s, h) = (q.shape()[0], q.shape()[1], k.shape()[1], self.num_heads);
        let d = e / h;
        let heads = |x: &Tensor, i: usize, len: usize| -> Result<Tensor> {
            let w = self.in_proj_weight.narrow(0, i * e, e)?;
            let b = self.in_proj_bias.as_ref().map(|b| b.narrow(0, i * e, e)).transpose()?;
            let y = functional::linear(x, &w, b.as_ref())?;
            y.reshape(&[n as isize, len as isize, h as isize, d as isize])?.permute(&[0, 2, 1, 3])
        };
        let (qh, kh, vh) = (heads(&q, 0, l)?, heads(&k, 1, s)?, heads(&v, 2, s)?);
        let mask = self.mask(key_padding_mask, attn_mask, [n, h, l, s], r == 2, qh.dtype())?;
        let drop = self.training && self.dropout > 0.0;
        let (o, weights) = if need_weights || drop {
            // The same formula as scaled_dot_product_attention, with the
            // softmax kept to be returned.
            let mut scores = qh.matmul(&kh.transpose(-2, -1)?)?.mul(1.0 / (d as f64).sqrt())?;
            if let Some(m) = &mask {
                scores = scores.add(m)?;
            }
            let mut w = functional::softmax(&scores, -1)?;
            if drop {
                w = functional::dropout(&w, self.dropout, true, &mut self.rng)?;
            }
            let avg = w.mean(&[1], false)?;
            (w.matmul(&vh)?, Some(if r == 2 { avg.squeeze(0)? } else { avg }))
        } else {
            let sdpa = functional::scaled_dot_product_attention;
            (sdpa(&qh, &kh, &vh, mask.as_ref(), false, None)?, None)
        };
        let o = o.permute(&[0, 2, 1, 3])?.reshape(&[n as isize, l as isize, e as isize])?;
        let o = self.out_proj.forward(&o)?;
        let o = match (r, self.batch_first) {
            (2, _) => o.squeeze(0)?,
            (_, true) => o,
            _ => o.transpose(0, 1)?,
        };
        Ok((o, weights))
    }

    /// The additive float mask `[N, H, L, S]` (broadcastable) that the two
    /// PyTorch masks amount to, or `None` when neither is given.
    fn mask(
        &self,
        key_padding_mask: Option<&Tensor>,
        attn_mask: Option<&Tensor>,
        [n, h, l, s]: [usize; 4],
        unbatched: bool,
        dt: DType,
    ) -> Result<Option<Tensor>> {
        let op = "MultiheadAttention";
        let mut total: Option<Tensor> = None;
        if let Some(m) = attn_mask {
            let shaped = match m.shape() {
                [ml, ms] if (*ml, *ms) == (l, s) => m.clone(),
                [b, ml, ms] if (*b, *ml, *ms) == (n * h, l, s) => {
                    m.reshape(&[n as isize, h as isize, l as isize, s as isize])?
                }
                other => {
                    return Err(shape_err(
                        op,
                        format!("attn_mask {other:?} must be [{l}, {s}] or [{}, {l}, {s}]", n * h),
                    ));
                }
            };
            total = Some(additive(&shaped, dt)?);
        }
        if let Some(m) = key_padding_mask {
            let want: &[usize] = if unbatched { &[s] } else { &[n, s] };
            if m.shape() != want {
                return Err(shape_err(
                    op,
                    format!("key_padding_mask {:?} must be {want:?}", m.shape()),
                ));
            }
            let kp = additive(&m.reshape(&[n as isize, 1, 1, s as isize])?, dt)?;
            total = Some(match total {
                Some(t) => t.add(&kp)?,
                None => kp,
            });
        }
        Ok(total)
    }
}

/// A mask as scores to add: bool true becomes `-inf` (not attended), a
/// float mask is used as it is.
fn additive(m: &Tensor, dt: DType) -> Result<Tensor> {
    match m.dtype() {
        DType::Bool => {
            Tensor::zeros(m.shape(), dt)?.to_device(m.device())?.masked_fill(m, f64::NEG_INFINITY)
        }
        d if d.is_float() => Ok(m.clone()),
        d => Err(dtype_err("MultiheadAttention", format!("masks must be bool or float, got {d}"))),
    }
}

impl Module for MultiheadAttention {
    /// Self-attention: `attend(x, x, x, None, None)`.
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        self.attend(x, x, x, None, None)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        let mut v = vec![("in_proj_weight".into(), Kind::Parameter, self.in_proj_weight.clone())];
        if let Some(b) = &self.in_proj_bias {
            v.push(("in_proj_bias".into(), Kind::Parameter, b.clone()));
        }
        v.extend(prefixed("out_proj".into(), self.out_proj.named_tensors()));
        v
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        let mut v = vec![Slot {
            name: "in_proj_weight".into(),
            kind: Kind::Parameter,
            tensor: &mut self.in_proj_weight,
        }];
        if let Some(b) = &mut self.in_proj_bias {
            v.push(Slot { name: "in_proj_bias".into(), kind: Kind::Parameter, tensor: b });
        }
        v.extend(prefixed_slots("out_proj".into(), self.out_proj.slots()));
        v
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
        self.out_proj.train(mode);
    }

    fn is_training(&self) -> bool {
        self.training
    }
}
