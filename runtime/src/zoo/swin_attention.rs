//! Swin's shifted-window attention (`ShiftedWindowAttention` of Swin v1
//! and `ShiftedWindowAttentionV2`), and the window operations it is made
//! of: zero padding to whole windows, cyclic shift (`torch.roll`), window
//! partition / reverse, the shifted-window mask, the relative position
//! index and Swin v2's log-spaced relative coordinates table.
//!
//! Inputs are channels-last `[B, H, W, C]`, as in TorchVision.

use smelt_compiler::ir::DType;

use super::blocks::Named;
use super::transformer_parts::{Composite, Parts, WeightInit, linear, trunc_normal_param};
use crate::functional;
use crate::nn::Sequential;
use crate::tensor::{Generator, Result, Tensor, shape_err};

/// The scores added where two tokens of a shifted window come from
/// different regions of the image (TorchVision's `-100.0`).
pub const MASKED: f32 = -100.0;

/// Weight init of every Swin linear: `trunc_normal_(std=0.02)`, bias zeros.
pub(super) const INIT: WeightInit = WeightInit::TruncNormal(0.02);

/// `torch.roll(x, shift, dim)`: element `i` moves to `(i + shift) mod n`.
pub fn roll(x: &Tensor, shift: isize, dim: usize) -> Result<Tensor> {
    let n = x.shape()[dim] as isize;
    let s = if n == 0 { 0 } else { shift.rem_euclid(n) as usize };
    if s == 0 {
        return Ok(x.clone());
    }
    let n = n as usize;
    let (tail, head) = (x.narrow(dim as isize, n - s, s)?, x.narrow(dim as isize, 0, n - s)?);
    Tensor::cat(&[&tail, &head], dim as isize)
}

/// Zero-pads dim `dim` of `x` with `extra` entries at the end.
fn pad_end(x: &Tensor, dim: usize, extra: usize) -> Result<Tensor> {
    if extra == 0 {
        return Ok(x.clone());
    }
    let mut shape = x.shape().to_vec();
    shape[dim] = extra;
    let z = Tensor::zeros(&shape, x.dtype())?;
    Tensor::cat(&[x, &z], dim as isize)
}

/// `F.pad(x, (0, 0, 0, right, 0, bottom))` of a `[B, H, W, C]` tensor.
pub fn pad_hw(x: &Tensor, bottom: usize, right: usize) -> Result<Tensor> {
    pad_end(&pad_end(x, 1, bottom)?, 2, right)
}

/// `[B, H, W, C]` → `[B·nW, wh·ww, C]`: the windows of `window` in
/// row-major window order, tokens row-major inside each. `H` and `W` must
/// be multiples of the window.
pub fn window_partition(x: &Tensor, window: [usize; 2]) -> Result<Tensor> {
    let [b, h, w, c] = dims4("window_partition", x)?;
    let [wh, ww] = window;
    if wh == 0 || ww == 0 || h % wh != 0 || w % ww != 0 {
        return Err(shape_err(
            "window_partition",
            format!("input {:?} is not a whole number of {window:?} windows", x.shape()),
        ));
    }
    let v = [b, h / wh, wh, w / ww, ww, c].map(|d| d as isize);
    let x = x.reshape(&v)?.permute(&[0, 1, 3, 2, 4, 5])?;
    x.reshape(&[(b * (h / wh) * (w / ww)) as isize, (wh * ww) as isize, c as isize])
}

/// The inverse of [`window_partition`]: `[B·nW, wh·ww, C]` → `[B, H, W, C]`.
pub fn window_reverse(x: &Tensor, window: [usize; 2], h: usize, w: usize) -> Result<Tensor> {
    let [wh, ww] = window;
    let s = x.shape();
    let ok = s.len() == 3 && wh * ww == s[1] && h % wh == 0 && w % ww == 0 && wh * ww > 0;
    let nw = if ok { (h / wh) * (w / ww) } else { 0 };
    if !ok || nw == 0 || s[0] % nw != 0 {
        return Err(shape_err(
            "window_reverse",
            format!("windows {s:?} do not tile a {h}x{w} map with {window:?} windows"),
        ));
    }
    let (b, c) = (s[0] / nw, s[2]);
    let v = [b, h / wh, w / ww, wh, ww, c].map(|d| d as isize);
    x.reshape(&v)?
        .permute(&[0, 1, 3, 2, 4, 5])?
        .reshape(&[b as isize, h as isize, w as isize, c as isize])
}

/// The four dims of a `[B, H, W, C]` tensor, or an error naming `op`.
fn dims4(op: &str, x: &Tensor) -> Result<[usize; 4]> {
    match *x.shape() {
        [b, h, w, c] => Ok([b, h, w, c]),
        _ => Err(shape_err(op, format!("expected [B, H, W, C], got {:?}", x.shape()))),
    }
}

/// The mask of shifted-window attention on a `[ph, pw]` (padded) map:
/// `[nW, N, N]` with 0 where tokens `i` and `j` of a window come from the
/// same region of the un-shifted image and [`MASKED`] elsewhere. The
/// regions are TorchVision's slices `[0, -w)`, `[-w, -s)`, `[-s, ∞)` per axis.
pub fn shifted_window_mask(
    pad: [usize; 2],
    window: [usize; 2],
    shift: [usize; 2],
) -> Result<Tensor> {
    let region = |i: usize, n: usize, w: usize, s: usize| -> usize {
        if i < n.saturating_sub(w) {
            0
        } else if i < n.saturating_sub(s) {
            1
        } else {
            2
        }
    };
    let ([ph, pw], [wh, ww]) = (pad, window);
    if wh == 0 || ww == 0 || ph % wh != 0 || pw % ww != 0 {
        return Err(shape_err(
            "shifted_window_mask",
            format!("map {pad:?} is not a whole number of {window:?} windows"),
        ));
    }
    let label = |r: usize, c: usize| 3 * region(r, ph, wh, shift[0]) + region(c, pw, ww, shift[1]);
    let n = wh * ww;
    let mut out = Vec::with_capacity((ph / wh) * (pw / ww) * n * n);
    for wr in 0..ph / wh {
        for wc in 0..pw / ww {
            let labels: Vec<usize> =
                (0..n).map(|t| label(wr * wh + t / ww, wc * ww + t % ww)).collect();
            for &li in &labels {
                out.extend(labels.iter().map(|&lj| if li == lj { 0.0 } else { MASKED }));
            }
        }
    }
    Tensor::from_vec(out, &[(ph / wh) * (pw / ww), n, n])
}

/// `relative_position_index` of a window: entry `(i, j)` (row-major
/// tokens) indexes the `(2wh-1)·(2ww-1)` table by the offset `i - j`.
pub fn relative_position_index(window: [usize; 2]) -> Vec<i64> {
    let [wh, ww] = window.map(|v| v as i64);
    let n = wh * ww;
    let mut v = Vec::with_capacity((n * n) as usize);
    for i in 0..n {
        for j in 0..n {
            let (dh, dw) = (i / ww - j / ww + wh - 1, i % ww - j % ww + ww - 1);
            v.push(dh * (2 * ww - 1) + dw);
        }
    }
    v
}

/// Swin v2's `relative_coords_table` `[1, 2wh-1, 2ww-1, 2]`: the offsets
/// scaled to `[-8, 8]` and mapped by `sign(t) · log2(|t| + 1) / 3`.
pub fn relative_coords_table(window: [usize; 2]) -> Result<Tensor> {
    if window.contains(&0) {
        return Err(shape_err("relative_coords_table", format!("empty window {window:?}")));
    }
    let [wh, ww] = window.map(|v| v as isize);
    let f = |d: isize, w: isize| {
        let t = d as f64 / (w - 1).max(1) as f64 * 8.0;
        (t.signum() * (t.abs() + 1.0).log2() / 3.0) as f32
    };
    let mut v = Vec::new();
    for dh in -(wh - 1)..wh {
        for dw in -(ww - 1)..ww {
            v.push(if dh == 0 { 0.0 } else { f(dh, wh) });
            v.push(if dw == 0 { 0.0 } else { f(dw, ww) });
        }
    }
    Tensor::from_vec(v, &[1, (2 * wh - 1) as usize, (2 * ww - 1) as usize, 2])
}

/// `[N, N]`-indexed bias `[1, heads, N, N]` from a table `[T, heads]`.
fn gather_bias(table: &Tensor, index: &Tensor, n: usize) -> Result<Tensor> {
    let b = table.take(0, index)?;
    b.reshape(&[n as isize, n as isize, -1])?.permute(&[2, 0, 1])?.unsqueeze(0)
}

/// The fixed settings of one shifted-window attention layer.
#[derive(Clone, Copy, Debug)]
struct Setting {
    window: [usize; 2],
    shift: [usize; 2],
    heads: usize,
    v2: bool,
}

/// TorchVision's `shifted_window_attention` on `[B, H, W, C]`, with the
/// layer's `qkv` / `proj` children and its relative position bias.
fn attend(p: &mut Parts, x: &Tensor, bias: &Tensor, s: Setting) -> Result<Tensor> {
    let [_, h, w, c] = dims4("ShiftedWindowAttention", x)?;
    let [wh, ww] = s.window;
    let (pad_r, pad_b) = ((ww - w % ww) % ww, (wh - h % wh) % wh);
    let xp = pad_hw(x, pad_b, pad_r)?;
    let (ph, pw) = (h + pad_b, w + pad_r);
    // A window that covers the whole (padded) map has nothing to shift.
    let shift = [if wh >= ph { 0 } else { s.shift[0] }, if ww >= pw { 0 } else { s.shift[1] }];
    let shifted = shift[0] + shift[1] > 0;
    let xp = if shifted {
        roll(&roll(&xp, -(shift[0] as isize), 1)?, -(shift[1] as isize), 2)?
    } else {
        xp
    };
    let win = window_partition(&xp, s.window)?;
    let (bw, n, d) = (win.shape()[0], wh * ww, c / s.heads);
    let qkv = if s.v2 {
        // Swin v2 has no key bias: the middle third of the qkv bias is zeroed.
        let t = p.sub.child("qkv")?.named_tensors();
        let weight = &t[0].2;
        let bias = match t.get(1) {
            Some((_, _, qb)) => {
                let z = Tensor::zeros(&[c], qb.dtype())?;
                Some(Tensor::cat(&[&qb.narrow(0, 0, c)?, &z, &qb.narrow(0, 2 * c, c)?], 0)?)
            }
            None => None,
        };
        functional::linear(&win, weight, bias.as_ref())?
    } else {
        p.run("qkv", &win)?
    };
    let qkv =
        qkv.reshape(&[bw, n, 3, s.heads, d].map(|v| v as isize))?.permute(&[2, 0, 3, 1, 4])?;
    let (q, k, v) = (qkv.select(0, 0)?, qkv.select(0, 1)?, qkv.select(0, 2)?);
    let mut attn = if s.v2 {
        let qn = functional::normalize(&q, -1, 1e-12)?;
        let kn = functional::normalize(&k, -1, 1e-12)?;
        let scale = p.get("logit_scale")?.clamp(None, Some(100f64.ln()))?.exp()?;
        qn.matmul(&kn.transpose(-2, -1)?)?.mul(&scale)?
    } else {
        q.mul((d as f64).powf(-0.5))?.matmul(&k.transpose(-2, -1)?)?
    };
    attn = attn.add(bias)?;
    if shifted {
        let mask = shifted_window_mask([ph, pw], s.window, shift)?.to_dtype(attn.dtype())?;
        let nw = mask.shape()[0];
        let a5 = attn.reshape(&[
            (bw / nw) as isize,
            nw as isize,
            s.heads as isize,
            n as isize,
            n as isize,
        ])?;
        attn = a5.add(&mask.unsqueeze(1)?.unsqueeze(0)?)?.reshape(&[
            -1,
            s.heads as isize,
            n as isize,
            n as isize,
        ])?;
    }
    let attn = functional::softmax(&attn, -1)?;
    let y = attn.matmul(&v)?.transpose(1, 2)?.reshape(&[bw as isize, n as isize, c as isize])?;
    let y = p.run("proj", &y)?;
    let y = window_reverse(&y, s.window, ph, pw)?;
    let y = if shifted { roll(&roll(&y, shift[0] as isize, 1)?, shift[1] as isize, 2)? } else { y };
    y.narrow(1, 0, h)?.narrow(2, 0, w)?.contiguous()
}

/// An error unless `window` is non-empty and `heads` divides `dim`.
fn check_setting(op: &str, dim: usize, window: [usize; 2], heads: usize) -> Result<()> {
    if window.contains(&0) || heads == 0 || dim % heads != 0 {
        return Err(shape_err(
            op,
            format!("window {window:?} must be non-empty and {heads} heads must divide dim {dim}"),
        ));
    }
    Ok(())
}

/// The relative-position index buffer of `window` (i64 `[N·N]`).
fn index_buffer(window: [usize; 2]) -> Result<Tensor> {
    let idx = relative_position_index(window);
    let len = idx.len();
    Tensor::from_vec(idx, &[len])
}

/// TorchVision's `ShiftedWindowAttention` (Swin v1): tensors
/// `relative_position_bias_table` `[(2wh-1)(2ww-1), heads]`,
/// `relative_position_index` (buffer), `qkv`, `proj`.
pub fn shifted_window_attention(
    dim: usize,
    window: [usize; 2],
    shift: [usize; 2],
    heads: usize,
    rng: &mut Generator,
) -> Result<Composite> {
    check_setting("ShiftedWindowAttention", dim, window, heads)?;
    let sub = Named::new()
        .with("qkv", linear(dim, 3 * dim, true, INIT, rng)?)
        .with("proj", linear(dim, dim, true, INIT, rng)?);
    let t = (2 * window[0] - 1) * (2 * window[1] - 1);
    let table = trunc_normal_param(&[t, heads], 0.02, rng)?;
    let s = Setting { window, shift, heads, v2: false };
    let n = window[0] * window[1];
    Ok(Composite::new(sub, move |p, x| {
        let bias = gather_bias(
            p.get("relative_position_bias_table")?,
            p.get("relative_position_index")?,
            n,
        )?;
        attend(p, x, &bias, s)
    })
    .param("relative_position_bias_table", table)?
    .buffer("relative_position_index", index_buffer(window)?))
}

/// Swin v2's continuous position bias `16 · sigmoid(cpb_mlp(table))`
/// gathered to `[1, heads, N, N]`, from a v2 attention's parts.
pub fn continuous_position_bias(p: &mut Parts, window: [usize; 2]) -> Result<Tensor> {
    let table = p.get("relative_coords_table")?.clone();
    let heads_table = p.run("cpb_mlp", &table)?;
    let heads = heads_table.shape().last().copied().unwrap_or(1);
    let flat = heads_table.reshape(&[-1, heads as isize])?;
    let bias = gather_bias(&flat, p.get("relative_position_index")?, window[0] * window[1])?;
    bias.sigmoid()?.mul(16.0)
}

/// TorchVision's `ShiftedWindowAttentionV2`: tensors `logit_scale`
/// `[heads, 1, 1]`, buffers `relative_coords_table` and
/// `relative_position_index`, then `qkv`, `proj` and `cpb_mlp`
/// (Linear(2, 512), ReLU, Linear(512, heads, no bias)).
pub fn shifted_window_attention_v2(
    dim: usize,
    window: [usize; 2],
    shift: [usize; 2],
    heads: usize,
    rng: &mut Generator,
) -> Result<Composite> {
    check_setting("ShiftedWindowAttentionV2", dim, window, heads)?;
    let cpb = Sequential::default()
        .with(linear(2, 512, true, INIT, rng)?)
        .with(super::blocks::Activation::Relu.layer())
        .with(linear(512, heads, false, INIT, rng)?);
    let sub = Named::new()
        .with("qkv", linear(dim, 3 * dim, true, INIT, rng)?)
        .with("proj", linear(dim, dim, true, INIT, rng)?)
        .with("cpb_mlp", cpb);
    let s = Setting { window, shift, heads, v2: true };
    let logit = Tensor::full(&[heads, 1, 1], DType::F32, 10f64.ln())?;
    Ok(Composite::new(sub, move |p, x| {
        let bias = continuous_position_bias(p, window)?;
        attend(p, x, &bias, s)
    })
    .param("logit_scale", logit)?
    .buffer("relative_coords_table", relative_coords_table(window)?)
    .buffer("relative_position_index", index_buffer(window)?))
}
