//! `torch.nn` modules on the eager [`Tensor`]: layers that own their
//! parameters (leaf tensors that require grad) and buffers, named exactly as
//! PyTorch names them in `state_dict` (`weight`, `bias`, `running_mean`,
//! `num_batches_tracked`, `0.weight` inside a [`Sequential`], …), so a
//! PyTorch checkpoint loads by name.
//!
//! Files: `mod.rs` the [`Module`] trait and state-dict loading, `cast.rs`
//! whole-module dtype and memory-format conversions ([`to_dtype`],
//! [`to_channels_last`]), `init.rs`
//! PyTorch's default initialisations, `linear.rs`, `conv.rs`, `norm.rs`
//! (BatchNorm2d, LayerNorm), `embedding.rs`, `dropout.rs`, `activation.rs`
//! (ReLU, GELU), `attention.rs` (MultiheadAttention), `sequential.rs`.
//!
//! Design choice: `forward` takes `&mut self`. Forward mutates module state
//! in two places (BatchNorm's running statistics in training, Dropout's
//! generator), and `&mut self` keeps that visible in the signature instead
//! of hiding it behind interior mutability. Tensors are immutable values,
//! so "updating" a buffer or loading a parameter replaces the tensor the
//! module holds: anything that kept a clone of the old parameter (an
//! optimizer) must take `parameters()` again after `load_state_dict`.

mod activation;
mod attention;
mod cast;
mod conv;
mod dropout;
mod embedding;
mod init;
mod linear;
mod norm;
mod sequential;

use std::collections::{BTreeMap, BTreeSet};

use crate::tensor::{Device, Result, Tensor, arg_err, shape_err};

pub(crate) use activation::stateless;
pub use activation::{Gelu, Relu};
pub use attention::MultiheadAttention;
pub use cast::{to_channels_last, to_dtype, to_memory_format};
pub use conv::{Conv2d, Conv2dOptions};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use init::{kaiming_uniform, skip_init, skipping_init, uniform, xavier_uniform};
pub use linear::Linear;
pub use norm::{BatchNorm2d, LayerNorm};
pub use sequential::Sequential;

/// Whether a named tensor of a module is a parameter or a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Trained: a leaf tensor that requires grad.
    Parameter,
    /// State that is saved but not trained (running statistics).
    Buffer,
}

/// A mutable handle on one named tensor of a module, for loading.
pub struct Slot<'a> {
    /// The PyTorch name (`"weight"`, `"1.running_var"`).
    pub name: String,
    /// Parameter or buffer.
    pub kind: Kind,
    /// The tensor the module holds.
    pub tensor: &'a mut Tensor,
}

/// What a non-strict [`Module::load_state_dict`] skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Names the module has but the map lacked (kept as they were).
    pub missing_keys: Vec<String>,
    /// Names in the map the module does not have (ignored).
    pub unexpected_keys: Vec<String>,
}

/// A layer (`torch.nn.Module`): a forward function plus named parameters
/// and buffers in PyTorch's registration order.
///
/// ```
/// use smelt_compiler::ir::DType;
/// use smelt_runtime::nn::{Linear, Module, Relu, Sequential};
/// use smelt_runtime::tensor::{Generator, Tensor};
///
/// let mut rng = Generator::new(0);
/// let mut mlp = Sequential::default()
///     .with(Linear::new(4, 8, true, &mut rng)?)
///     .with(Relu::new())
///     .with(Linear::new(8, 2, true, &mut rng)?);
/// let y = mlp.forward(&Tensor::ones(&[3, 4], DType::F32)?)?;
/// y.sum(&[], false)?.backward()?;
/// assert!(mlp.parameters().iter().all(|p| p.grad().is_some()));
/// assert!(mlp.state_dict().contains_key("2.bias"));
/// # Ok::<(), smelt_runtime::TensorError>(())
/// ```
pub trait Module {
    /// Applies the module to `x` (may update buffers in training mode).
    fn forward(&mut self, x: &Tensor) -> Result<Tensor>;

    /// Every named tensor, parameters and buffers, in registration order.
    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)>;

    /// Mutable handles on the same tensors as [`Module::named_tensors`].
    fn slots(&mut self) -> Vec<Slot<'_>>;

    /// Sets training (`true`) or evaluation mode, for this module and its children.
    fn train(&mut self, mode: bool);

    /// True in training mode (the default for a new module).
    fn is_training(&self) -> bool;

    /// Evaluation mode (`module.eval()`).
    fn eval(&mut self) {
        self.train(false);
    }

    /// `(name, parameter)` pairs in PyTorch's order (`named_parameters()`).
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let all = self.named_tensors().into_iter();
        all.filter(|(_, k, _)| *k == Kind::Parameter).map(|(n, _, t)| (n, t)).collect()
    }

    /// The parameters in PyTorch's order (what an optimizer takes).
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Clears every parameter's gradient (`zero_grad(set_to_none=True)`).
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// `(name, buffer)` pairs (`named_buffers()`).
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let all = self.named_tensors().into_iter();
        all.filter(|(_, k, _)| *k == Kind::Buffer).map(|(n, _, t)| (n, t)).collect()
    }

    /// Parameters and buffers by name, detached (`state_dict()`).
    fn state_dict(&self) -> BTreeMap<String, Tensor> {
        self.named_tensors().into_iter().map(|(n, _, t)| (n, t.detach())).collect()
    }

    /// Replaces parameters and buffers with copies of `map`'s tensors (cast
    /// to the module's dtypes). With `strict`, missing or unexpected names
    /// are an error naming them; a shape mismatch is always an error. Nothing
    /// changes when it fails. Loaded parameters are fresh leaves that
    /// require grad.
    fn load_state_dict(
        &mut self,
        map: &BTreeMap<String, Tensor>,
        strict: bool,
    ) -> Result<LoadReport> {
        load_into(self.slots(), map, strict)
    }

    /// Moves every parameter and buffer to `device` (PyTorch's
    /// `module.to(device)`): parameters stay leaves that require grad, and
    /// gradients are not carried over (call it before training).
    fn to_device(&mut self, device: Device) -> Result<()> {
        for s in self.slots() {
            if s.tensor.device() == device {
                continue;
            }
            let moved = crate::autograd::no_grad(|| s.tensor.to_device(device))?;
            *s.tensor = match s.kind {
                Kind::Parameter => moved.requires_grad_(true)?,
                Kind::Buffer => moved,
            };
        }
        Ok(())
    }
}

/// The body of [`Module::load_state_dict`]: check everything, then replace.
fn load_into(
    slots: Vec<Slot<'_>>,
    map: &BTreeMap<String, Tensor>,
    strict: bool,
) -> Result<LoadReport> {
    let own: BTreeSet<&str> = slots.iter().map(|s| s.name.as_str()).collect();
    let report = LoadReport {
        missing_keys: slots
            .iter()
            .filter(|s| !map.contains_key(&s.name))
            .map(|s| s.name.clone())
            .collect(),
        unexpected_keys: map.keys().filter(|k| !own.contains(k.as_str())).cloned().collect(),
    };
    if strict && (!report.missing_keys.is_empty() || !report.unexpected_keys.is_empty()) {
        return Err(arg_err(
            "load_state_dict",
            format!(
                "missing keys {:?}, unexpected keys {:?}",
                report.missing_keys, report.unexpected_keys
            ),
        ));
    }
    let mismatched: Vec<String> = slots
        .iter()
        .filter_map(|s| {
            let v = map.get(&s.name)?;
            (v.shape() != s.tensor.shape()).then(|| {
                format!("{}: checkpoint {:?}, module {:?}", s.name, v.shape(), s.tensor.shape())
            })
        })
        .collect();
    if !mismatched.is_empty() {
        return Err(shape_err("load_state_dict", format!("size mismatch for {mismatched:?}")));
    }
    let mut fresh = Vec::new();
    for s in &slots {
        if let Some(v) = map.get(&s.name) {
            fresh.push(Some(copy_as(v, s.tensor, s.kind)?));
        } else {
            fresh.push(None);
        }
    }
    for (s, f) in slots.into_iter().zip(fresh) {
        if let Some(f) = f {
            *s.tensor = f;
        }
    }
    Ok(report)
}

/// A copy of `v` with its own storage, in `like`'s dtype and on `like`'s
/// device; a leaf that requires grad for a parameter.
fn copy_as(v: &Tensor, like: &Tensor, kind: Kind) -> Result<Tensor> {
    let cast = crate::autograd::no_grad(|| v.to_dtype(like.dtype()))?;
    let t = Tensor::from_bytes(like.dtype(), cast.shape(), &cast.try_to_bytes()?)?
        .to_device(like.device())?;
    match kind {
        Kind::Parameter => t.requires_grad_(true),
        Kind::Buffer => Ok(t),
    }
}

/// Prefixes every name of `tensors` with `prefix.` (child modules).
pub(crate) fn prefixed(
    p: String,
    tensors: Vec<(String, Kind, Tensor)>,
) -> impl Iterator<Item = (String, Kind, Tensor)> {
    tensors.into_iter().map(move |(n, k, t)| (format!("{p}.{n}"), k, t))
}

/// Prefixes every slot name with `prefix.` (child modules).
pub(crate) fn prefixed_slots<'a>(
    p: String,
    slots: Vec<Slot<'a>>,
) -> impl Iterator<Item = Slot<'a>> {
    slots.into_iter().map(move |s| Slot { name: format!("{p}.{}", s.name), ..s })
}

/// `weight` and an optional `bias` as a module lists them (Linear, Conv2d).
pub(crate) fn weight_bias_tensors(
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Vec<(String, Kind, Tensor)> {
    let mut v = vec![("weight".to_string(), Kind::Parameter, weight.clone())];
    if let Some(b) = bias {
        v.push(("bias".to_string(), Kind::Parameter, b.clone()));
    }
    v
}

/// The load slots of `weight` and an optional `bias` (Linear, Conv2d).
pub(crate) fn weight_bias_slots<'a>(
    weight: &'a mut Tensor,
    bias: Option<&'a mut Tensor>,
) -> Vec<Slot<'a>> {
    let mut v = vec![Slot { name: "weight".into(), kind: Kind::Parameter, tensor: weight }];
    if let Some(b) = bias {
        v.push(Slot { name: "bias".into(), kind: Kind::Parameter, tensor: b });
    }
    v
}
