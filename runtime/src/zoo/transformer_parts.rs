//! Pieces shared by the transformer-era families (ConvNeXt, ViT, Swin,
//! MaxViT): [`Composite`] (a module with its own parameters and buffers
//! plus named children and a forward written as a closure, for the many
//! small TorchVision classes whose dataflow is not a chain),
//! [`StochasticDepth`] (re-exported from `mobile_blocks.rs`, which
//! EfficientNet shares), [`LayerNorm2d`] (ConvNeXt's channel layer norm on NCHW), and the
//! initialisers these families use (truncated normal, normal with a std,
//! zeros), which honour [`crate::nn::skipping_init`].

use smelt_compiler::ir::DType;

use super::blocks::Named;
pub use super::mobile_blocks::StochasticDepth;
use crate::functional;
use crate::nn::{Conv2d, Conv2dOptions, Kind, LayerNorm, Linear, Module, Slot, skipping_init};
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// The forward of a [`Composite`].
type CompositeFn = Box<dyn Fn(&mut Parts, &Tensor) -> Result<Tensor> + Send + Sync>;

/// What a [`Composite`]'s forward sees: its own tensors and its children.
pub struct Parts {
    own: Vec<(String, Kind, Tensor)>,
    /// The children, with TorchVision's attribute names.
    pub sub: Named,
    training: bool,
}

impl Parts {
    /// The own parameter or buffer called `name`.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        match self.own.iter().find(|(n, _, _)| n == name) {
            Some((_, _, t)) => Ok(t),
            None => Err(arg_err("Composite", format!("no own tensor named {name:?}"))),
        }
    }

    /// Applies the child called `name`.
    pub fn run(&mut self, name: &str, x: &Tensor) -> Result<Tensor> {
        self.sub.run(name, x)
    }

    /// True in training mode.
    pub fn training(&self) -> bool {
        self.training
    }
}

/// A module made of own tensors (listed first, parameters before buffers,
/// as PyTorch's `state_dict` lists a module's `_parameters`, then its
/// `_buffers`, then its children) and named children, with a forward
/// given as a closure over [`Parts`].
pub struct Composite {
    parts: Parts,
    fwd: CompositeFn,
}

impl Composite {
    /// A module with children `sub` and forward `fwd`.
    pub fn new(
        sub: Named,
        fwd: impl Fn(&mut Parts, &Tensor) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Composite {
        Composite { parts: Parts { own: Vec::new(), sub, training: true }, fwd: Box::new(fwd) }
    }

    /// Adds an own parameter `name` (made a leaf that requires grad).
    pub fn param(mut self, name: &str, t: Tensor) -> Result<Composite> {
        let t = if t.requires_grad() { t } else { t.requires_grad_(true)? };
        let at = self.parts.own.iter().take_while(|(_, k, _)| *k == Kind::Parameter).count();
        self.parts.own.insert(at, (name.to_string(), Kind::Parameter, t));
        Ok(self)
    }

    /// Adds an own buffer `name`.
    pub fn buffer(mut self, name: &str, t: Tensor) -> Composite {
        self.parts.own.push((name.to_string(), Kind::Buffer, t));
        self
    }

    /// The parts the forward sees (for running a piece of it alone).
    pub fn parts_mut(&mut self) -> &mut Parts {
        &mut self.parts
    }

    /// The own tensor `name` (for tests and inspection).
    pub fn own(&self, name: &str) -> Result<&Tensor> {
        self.parts.get(name)
    }
}

impl Module for Composite {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        (self.fwd)(&mut self.parts, x)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        let mut v = self.parts.own.clone();
        v.extend(self.parts.sub.named_tensors());
        v
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        let Parts { own, sub, .. } = &mut self.parts;
        let mut v: Vec<Slot<'_>> =
            own.iter_mut().map(|(n, k, t)| Slot { name: n.clone(), kind: *k, tensor: t }).collect();
        v.extend(sub.slots());
        v
    }

    fn train(&mut self, mode: bool) {
        self.parts.training = mode;
        self.parts.sub.train(mode);
    }

    fn is_training(&self) -> bool {
        self.parts.training
    }
}

/// ConvNeXt's `LayerNorm2d`: a layer norm over the channels of an NCHW
/// tensor (permuted to channels-last, normalized, permuted back). Its
/// tensors are `weight` and `bias`, as the `nn.LayerNorm` it subclasses.
pub struct LayerNorm2d {
    /// The channel layer norm.
    pub inner: LayerNorm,
}

impl LayerNorm2d {
    /// A channel layer norm over `channels` with `eps`.
    pub fn new(channels: usize, eps: f64) -> Result<LayerNorm2d> {
        Ok(LayerNorm2d { inner: layer_norm(channels, eps)? })
    }
}

impl Module for LayerNorm2d {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let y = self.inner.forward(&x.permute(&[0, 2, 3, 1])?)?;
        y.permute(&[0, 3, 1, 2])
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        self.inner.named_tensors()
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        self.inner.slots()
    }

    fn train(&mut self, mode: bool) {
        self.inner.train(mode);
    }

    fn is_training(&self) -> bool {
        self.inner.is_training()
    }
}

/// `nn.LayerNorm(dim, eps=eps)`.
pub fn layer_norm(dim: usize, eps: f64) -> Result<LayerNorm> {
    let mut ln = LayerNorm::new(&[dim])?;
    ln.eps = eps;
    Ok(ln)
}

/// A leaf f32 parameter of zeros (`nn.init.zeros_`).
pub fn zeros_param(shape: &[usize]) -> Result<Tensor> {
    Tensor::zeros(shape, DType::F32)?.requires_grad_(true)
}

/// `nn.init.normal_(t, mean=0, std=std)` as a leaf f32 parameter; zeros
/// under [`crate::nn::skip_init`].
pub fn normal_param(shape: &[usize], std: f64, rng: &mut Generator) -> Result<Tensor> {
    if skipping_init() {
        return zeros_param(shape);
    }
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| (rng.normal() * std) as f32).collect();
    Tensor::from_vec(v, shape)?.requires_grad_(true)
}

/// `nn.init.trunc_normal_(t, std=std)`: normal(0, std) redrawn until it
/// lies in `[-2, 2]` (PyTorch's default bounds are absolute values, not
/// multiples of `std`); zeros under [`crate::nn::skip_init`].
pub fn trunc_normal_param(shape: &[usize], std: f64, rng: &mut Generator) -> Result<Tensor> {
    if !std.is_finite() || std <= 0.0 {
        return Err(arg_err("trunc_normal", format!("std {std} must be finite and > 0")));
    }
    if skipping_init() {
        return zeros_param(shape);
    }
    let n: usize = shape.iter().product();
    let draw = |rng: &mut Generator| loop {
        let v = rng.normal() * std;
        if (-2.0..=2.0).contains(&v) {
            return v as f32;
        }
    };
    let v: Vec<f32> = (0..n).map(|_| draw(rng)).collect();
    Tensor::from_vec(v, shape)?.requires_grad_(true)
}

/// How a family initialises the weight of its `nn.Linear` / `nn.Conv2d`.
#[derive(Clone, Copy, Debug)]
pub enum WeightInit {
    /// `trunc_normal_(std)`, bias zeros (ConvNeXt, Swin).
    TruncNormal(f64),
    /// `normal_(std)`, bias zeros (MaxViT).
    Normal(f64),
}

impl WeightInit {
    /// A weight of `shape` drawn as this rule says.
    pub fn weight(self, shape: &[usize], rng: &mut Generator) -> Result<Tensor> {
        match self {
            WeightInit::TruncNormal(std) => trunc_normal_param(shape, std, rng),
            WeightInit::Normal(std) => normal_param(shape, std, rng),
        }
    }
}

/// `nn.Linear(i, o, bias)` re-initialised by `init` (bias zeros).
pub fn linear(
    i: usize,
    o: usize,
    bias: bool,
    init: WeightInit,
    rng: &mut Generator,
) -> Result<Linear> {
    // Built under skip_init so PyTorch's default draw is not wasted.
    let mut l = crate::nn::skip_init(|| Linear::new(i, o, bias, rng))?;
    l.weight = init.weight(&[o, i], rng)?;
    if bias {
        l.bias = Some(zeros_param(&[o])?);
    }
    Ok(l)
}

/// `nn.Conv2d(i, o, k, stride, padding, groups=groups, bias=bias)`
/// re-initialised by `init` (bias zeros).
#[allow(clippy::too_many_arguments)]
pub fn conv(
    i: usize,
    o: usize,
    k: usize,
    stride: usize,
    padding: usize,
    groups: usize,
    bias: bool,
    init: WeightInit,
    rng: &mut Generator,
) -> Result<Conv2d> {
    let opts = Conv2dOptions {
        stride: [stride, stride],
        padding: [padding, padding],
        dilation: [1, 1],
        groups,
        bias,
    };
    let mut c = crate::nn::skip_init(|| Conv2d::new(i, o, [k, k], opts, rng))?;
    c.weight = init.weight(c.weight.shape(), rng)?;
    if bias {
        c.bias = Some(zeros_param(&[o])?);
    }
    Ok(c)
}

/// The GELU (exact) of the transformer families.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    functional::gelu(x, functional::Approximate::None)
}
