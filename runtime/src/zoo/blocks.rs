//! Building blocks shared by the zoo's families: [`Lambda`] (a
//! parameter-free layer from a function, for activations, pooling and
//! flattening), [`Activation`] (the activations TorchVision's models use),
//! [`Named`] (children with TorchVision's attribute names) and
//! [`conv_norm_act`] (TorchVision's `Conv2dNormActivation`).

use crate::nn::{
    BatchNorm2d, Conv2d, Conv2dOptions, Kind, Module, Sequential, Slot, skipping_init,
};
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// The function of a [`Lambda`].
type LayerFn = Box<dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync>;

/// A layer with no parameters whose forward is a function (`nn.ReLU6`,
/// `nn.Flatten`, `nn.AdaptiveAvgPool2d(1)`, …). It takes an index in a
/// [`Sequential`] without adding tensors, as those layers do in PyTorch.
pub struct Lambda {
    name: &'static str,
    f: LayerFn,
    training: bool,
}

impl Lambda {
    /// A layer called `name` (for messages) applying `f`.
    pub fn new(
        name: &'static str,
        f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Lambda {
        Lambda { name, f: Box::new(f), training: true }
    }

    /// The name given at construction.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Module for Lambda {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        (self.f)(x)
    }

    crate::nn::stateless!();
}

/// The activations of TorchVision's vision models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `x · relu6(x + 3) / 6`.
    Hardswish,
    /// `relu6(x + 3) / 6`.
    Hardsigmoid,
    /// `x · sigmoid(x)`.
    Silu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// Exact (erf) GELU.
    Gelu,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Relu => x.clamp(Some(0.0), None),
            Activation::Relu6 => x.clamp(Some(0.0), Some(6.0)),
            Activation::Hardswish => x.mul(&Activation::Hardsigmoid.apply(x)?),
            Activation::Hardsigmoid => x.add(3.0)?.clamp(Some(0.0), Some(6.0))?.div(6.0),
            Activation::Silu => x.mul(&x.sigmoid()?),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Gelu => crate::functional::gelu(x, crate::functional::Approximate::None),
        }
    }

    /// The activation as a parameter-free layer.
    pub fn layer(self) -> Lambda {
        Lambda::new("activation", move |x| self.apply(x))
    }
}

/// Children with names (TorchVision's attributes: `conv1`, `layer1`,
/// `features`, `classifier`), whose tensors appear as `conv1.weight`, …, in
/// registration order. Forward applies the children in order; a model with
/// another dataflow keeps a `Named` for its tensors and calls
/// [`Named::run`] on the children it needs.
#[derive(Default)]
pub struct Named {
    children: Vec<(String, Box<dyn Module>)>,
    training: bool,
}

impl Named {
    /// No children, in training mode.
    pub fn new() -> Named {
        Named { children: Vec::new(), training: true }
    }

    /// Appends `child` under `name`, builder style.
    pub fn with(mut self, name: &str, child: impl Module + 'static) -> Named {
        self.push(name, child);
        self
    }

    /// Appends `child` under `name`.
    pub fn push(&mut self, name: &str, child: impl Module + 'static) {
        self.children.push((name.to_string(), Box::new(child)));
    }

    /// Appends an already boxed `child` under `name`.
    pub fn push_boxed(&mut self, name: &str, child: Box<dyn Module>) {
        self.children.push((name.to_string(), child));
    }

    /// The child called `name`.
    pub fn child(&mut self, name: &str) -> Result<&mut (dyn Module + 'static)> {
        match self.children.iter_mut().find(|(n, _)| n == name) {
            Some((_, c)) => Ok(c.as_mut()),
            None => Err(arg_err("Named", format!("no child module named {name:?}"))),
        }
    }

    /// Applies the child called `name` to `x`.
    pub fn run(&mut self, name: &str, x: &Tensor) -> Result<Tensor> {
        self.child(name)?.forward(x)
    }

    /// Applies the children called `names` to `x`, in that order.
    pub fn run_seq(&mut self, names: &[&str], x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for n in names {
            y = self.run(n, &y)?;
        }
        Ok(y)
    }
}

impl Module for Named {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for (_, c) in &mut self.children {
            y = c.forward(&y)?;
        }
        Ok(y)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        let each = self.children.iter();
        each.flat_map(|(n, c)| {
            c.named_tensors().into_iter().map(move |(t, k, v)| (format!("{n}.{t}"), k, v))
        })
        .collect()
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        let each = self.children.iter_mut();
        each.flat_map(|(n, c)| {
            let n = n.clone();
            c.slots().into_iter().map(move |s| Slot { name: format!("{n}.{}", s.name), ..s })
        })
        .collect()
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
        for (_, c) in &mut self.children {
            c.train(mode);
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }
}

/// The [`Module`] methods of a model that keeps its children in a
/// `net: Named` field and only writes its own `forward` (expects `Kind`,
/// `Slot`, `Tensor` and `Module` in scope).
macro_rules! delegate_to_net {
    () => {
        fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
            self.net.named_tensors()
        }

        fn slots(&mut self) -> Vec<Slot<'_>> {
            self.net.slots()
        }

        fn train(&mut self, mode: bool) {
            self.net.train(mode);
        }

        fn is_training(&self) -> bool {
            self.net.is_training()
        }
    };
}
pub(crate) use delegate_to_net;

/// TorchVision's `Conv2dNormActivation`: a [`Sequential`] of a bias-free
/// convolution (padding `(k - 1) / 2 · dilation`), a batch norm (eps
/// `bn_eps`) and, unless `act` is `None`, the activation; named `0`, `1`,
/// `2` as in TorchVision's checkpoints.
#[allow(clippy::too_many_arguments)]
pub fn conv_norm_act(
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    dilation: usize,
    act: Option<Activation>,
    bn_eps: f64,
    rng: &mut Generator,
) -> Result<Sequential> {
    let mut bn = BatchNorm2d::new(out_ch)?;
    bn.eps = bn_eps;
    conv_with_norm(in_ch, out_ch, kernel, stride, groups, dilation, act, bn, rng)
}

/// [`conv_norm_act`] with a given batch norm (its eps and momentum set by
/// the caller).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_with_norm(
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    dilation: usize,
    act: Option<Activation>,
    bn: BatchNorm2d,
    rng: &mut Generator,
) -> Result<Sequential> {
    let pad = (kernel - 1) / 2 * dilation;
    let opts = Conv2dOptions {
        stride: [stride, stride],
        padding: [pad, pad],
        dilation: [dilation, dilation],
        groups,
        bias: false,
    };
    let mut s = Sequential::default()
        .with(Conv2d::new(in_ch, out_ch, [kernel, kernel], opts, rng)?)
        .with(bn);
    if let Some(a) = act {
        s.push(a.layer());
    }
    Ok(s)
}

/// A re-initialisation of one parameter (TorchVision's `nn.init` calls in
/// its models' constructors).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Init {
    /// Normal with this standard deviation, redrawn outside `[-bound, bound]`
    /// (`trunc_normal_(std, a=-bound, b=bound)`; `normal_` with an infinite bound).
    Normal { std: f64, bound: f64 },
    /// All zeros (`constant_(0)`).
    Zeros,
}

impl Init {
    /// `kaiming_normal_(w, mode=fan_out, nonlinearity=relu)`: std `√(2/fan_out)`.
    pub(crate) fn kaiming_fan_out(shape: &[usize]) -> Init {
        let fan_out = shape.iter().take(1).chain(shape.iter().skip(2)).product::<usize>();
        Init::Normal { std: (2.0 / fan_out.max(1) as f64).sqrt(), bound: f64::INFINITY }
    }

    /// `kaiming_normal_(w)` (fan_in, leaky_relu a=0): std `√(2/fan_in)`.
    pub(crate) fn kaiming_fan_in(shape: &[usize]) -> Init {
        let fan_in = shape.iter().skip(1).product::<usize>();
        Init::Normal { std: (2.0 / fan_in.max(1) as f64).sqrt(), bound: f64::INFINITY }
    }
}

/// Re-initialises the parameters of `model` for which `rule(name, shape)`
/// gives an [`Init`], drawing from `rng` in registration order. Does nothing
/// under [`crate::nn::skip_init`] (the parameters stay zero).
pub(crate) fn reinit(
    model: &mut dyn Module,
    rng: &mut Generator,
    rule: impl Fn(&str, &[usize]) -> Option<Init>,
) -> Result<()> {
    if skipping_init() {
        return Ok(());
    }
    for slot in model.slots() {
        if slot.kind != Kind::Parameter {
            continue;
        }
        let shape = slot.tensor.shape().to_vec();
        let Some(init) = rule(&slot.name, &shape) else { continue };
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match init {
            Init::Zeros => vec![0.0; n],
            Init::Normal { std, bound } => (0..n)
                .map(|_| {
                    loop {
                        let v = rng.normal() * std;
                        if v.abs() <= bound {
                            break v as f32;
                        }
                    }
                })
                .collect(),
        };
        *slot.tensor = Tensor::from_vec(values, &shape)?
            .to_dtype(slot.tensor.dtype())?
            .requires_grad_(true)?;
    }
    Ok(())
}

/// A bias-free `k`×`k` convolution with padding `k / 2` (the stems and
/// blocks of MNASNet and ShuffleNet).
pub(crate) fn bias_free_conv(
    i: usize,
    o: usize,
    k: usize,
    stride: usize,
    groups: usize,
    rng: &mut Generator,
) -> Result<Conv2d> {
    let opts = Conv2dOptions {
        stride: [stride, stride],
        padding: [k / 2, k / 2],
        groups,
        bias: false,
        ..Conv2dOptions::default()
    };
    Conv2d::new(i, o, [k, k], opts, rng)
}

/// Declares one `BuildFn` per name, each calling `$build("name", cfg)`: a
/// `BuildFn` is a plain function pointer, so a family's per-name builders
/// cannot be closures over the name.
macro_rules! name_builders {
    ($build:ident: $($name:ident),+ $(,)?) => {
        $(
            fn $name(
                cfg: &$crate::zoo::ModelConfig,
            ) -> std::result::Result<Box<dyn $crate::nn::Module>, $crate::zoo::ZooError> {
                $build(stringify!($name), cfg)
            }
        )+
    };
}
pub(crate) use name_builders;
