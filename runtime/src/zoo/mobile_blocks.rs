//! Blocks shared by the lightweight families (SqueezeNet, MNASNet,
//! MobileNet v2/v3, EfficientNet, ShuffleNet, RegNet): TorchVision's
//! `_make_divisible` channel rounding, `SqueezeExcitation`, a residual
//! wrapper that keeps its body under TorchVision's attribute name, and the
//! global average pool + flatten every classifier head starts with.

use super::blocks::{Activation, Lambda, Named};
use super::weights::{Categories, Transforms, Weights};
use crate::nn::{BatchNorm2d, Conv2d, Conv2dOptions, Kind, Module, Sequential, Slot};
use crate::tensor::{Generator, Result, Tensor, arg_err, where_cond};

/// Implements the bookkeeping methods of [`Module`] by handing them to a
/// [`Named`] field that holds every child (its tensors, slots and mode).
macro_rules! delegate_to_named {
    ($field:ident) => {
        fn named_tensors(&self) -> Vec<(String, $crate::nn::Kind, $crate::tensor::Tensor)> {
            self.$field.named_tensors()
        }

        fn slots(&mut self) -> Vec<$crate::nn::Slot<'_>> {
            self.$field.slots()
        }

        fn train(&mut self, mode: bool) {
            self.$field.train(mode)
        }

        fn is_training(&self) -> bool {
            self.$field.is_training()
        }
    };
}
pub(crate) use delegate_to_named;

/// TorchVision's `_make_divisible(v, divisor)`: the multiple of `divisor`
/// nearest `v` (at least `divisor`), raised by one step when rounding down
/// lost more than 10%.
pub(crate) fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let new = (((v + d / 2.0) as usize) / divisor * divisor).max(divisor);
    if (new as f64) < 0.9 * v { new + divisor } else { new }
}

/// `adaptive_avg_pool2d(x, 1)` then `flatten(1)`: `[N, C, H, W]` → `[N, C]`.
pub(crate) fn pool_flatten() -> Lambda {
    Lambda::new("avgpool_flatten", |x| x.mean(&[2, 3], false))
}

/// TorchVision's `SqueezeExcitation` (`torchvision.ops`): global average
/// pool, 1×1 conv `fc1` (with bias) to `squeeze` channels, `activation`,
/// 1×1 conv `fc2` back, `scale` activation, times the input. MobileNet v3
/// uses ReLU / hard sigmoid, EfficientNet SiLU / sigmoid.
pub struct SqueezeExcitation {
    body: Named,
    activation: Activation,
    scale: Activation,
}

impl SqueezeExcitation {
    /// A block on `channels` channels squeezing to `squeeze`.
    pub fn new(
        channels: usize,
        squeeze: usize,
        activation: Activation,
        scale: Activation,
        rng: &mut Generator,
    ) -> Result<SqueezeExcitation> {
        let opts = Conv2dOptions::default();
        let body = Named::new()
            .with("fc1", Conv2d::new(channels, squeeze, [1, 1], opts, rng)?)
            .with("fc2", Conv2d::new(squeeze, channels, [1, 1], opts, rng)?);
        Ok(SqueezeExcitation { body, activation, scale })
    }
}

impl Module for SqueezeExcitation {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let s = x.mean(&[2, 3], true)?;
        let s = self.activation.apply(&self.body.run("fc1", &s)?)?;
        let s = self.scale.apply(&self.body.run("fc2", &s)?)?;
        s.mul(x)
    }

    delegate_to_named!(body);
}

/// TorchVision's `StochasticDepth(p, "row")`: in training, each sample of
/// the batch (a whole residual branch) is zeroed with probability `p` and
/// the survivors scaled by `1 / (1 - p)`, the draws coming from the layer's
/// own seeded [`Generator`]; the identity in evaluation or when `p` is 0.
pub struct StochasticDepth {
    /// The drop probability, in `[0, 1]`.
    pub p: f64,
    /// Where the per-row draws come from.
    pub rng: Generator,
    training: bool,
}

impl StochasticDepth {
    /// Row-mode stochastic depth with probability `p` (an error outside
    /// `[0, 1]`), drawing from `Generator::new(seed)`.
    pub fn new(p: f64, seed: u64) -> Result<StochasticDepth> {
        if !(0.0..=1.0).contains(&p) {
            return Err(arg_err(
                "StochasticDepth",
                format!("drop probability {p} is not in [0, 1]"),
            ));
        }
        Ok(StochasticDepth { p, rng: Generator::new(seed), training: true })
    }

    /// Applies it to a residual branch `x` (`[N, …]`).
    pub fn apply(&mut self, x: &Tensor) -> Result<Tensor> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let mut shape = vec![1; x.rank()];
        if let Some(n) = shape.first_mut() {
            *n = x.shape().first().copied().unwrap_or(1);
        }
        let u = Tensor::rand(&shape, x.dtype(), &mut self.rng)?;
        let keep = u.ge(self.p)?;
        // Survivors are scaled so the expectation is unchanged (p < 1 here
        // whenever any row survives).
        let scale = if self.p < 1.0 { 1.0 / (1.0 - self.p) } else { 0.0 };
        let noise = where_cond(&keep, &Tensor::full(&shape, x.dtype(), scale)?, 0.0)?;
        x.mul(&noise)
    }
}

impl Module for StochasticDepth {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        self.apply(x)
    }

    crate::nn::stateless!();
}

/// A block whose body is one child called `name` (`conv` in MobileNet v2,
/// `block` in v3 and EfficientNet, `layers` in MNASNet), plus the input
/// when `skip` (stride 1 and as many channels out as in); with stochastic
/// depth, the body's output passes it before the addition.
pub struct Residual {
    body: Named,
    name: &'static str,
    skip: bool,
    drop: Option<StochasticDepth>,
}

impl Residual {
    /// `body` kept under `name`; adds the input when `skip`.
    pub fn new(name: &'static str, body: impl Module + 'static, skip: bool) -> Residual {
        Residual { body: Named::new().with(name, body), name, skip, drop: None }
    }

    /// The same block with stochastic depth on the residual branch (used
    /// only when the input is added, as TorchVision does).
    pub fn with_drop(mut self, drop: StochasticDepth) -> Residual {
        self.drop = Some(drop);
        self
    }
}

impl Module for Residual {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let y = self.body.run(self.name, x)?;
        if !self.skip {
            return Ok(y);
        }
        let y = match &mut self.drop {
            Some(d) => d.apply(&y)?,
            None => y,
        };
        y.add(x)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        self.body.named_tensors()
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        self.body.slots()
    }

    fn train(&mut self, mode: bool) {
        self.body.train(mode);
        if let Some(d) = &mut self.drop {
            d.train(mode);
        }
    }

    fn is_training(&self) -> bool {
        self.body.is_training()
    }
}

/// One ImageNet-1k weights member: `acc` is `(acc@1, acc@5)`; `file` the
/// URL's file stem; `min_size` square.
#[allow(clippy::too_many_arguments)]
pub(crate) fn imagenet_weights(
    enum_name: &'static str,
    member: &'static str,
    file: &'static str,
    num_params: u64,
    min_size: usize,
    acc: &'static [(&'static str, f64)],
    gflops: f64,
    file_size_mib: f64,
    recipe: &'static str,
    transforms: Transforms,
) -> Weights {
    Weights {
        enum_name,
        member,
        file,
        num_params,
        min_size: [min_size, min_size],
        categories: Categories::ImageNet,
        metrics: acc,
        gflops,
        file_size_mib,
        recipe,
        transforms,
    }
}

/// [`conv_norm_act`](super::blocks::conv_norm_act) whose batch norm also
/// gets a running-statistics `momentum` (MobileNet v3 uses eps 0.001 and
/// momentum 0.01; the momentum matters only in training).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_bn_act(
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    dilation: usize,
    act: Option<Activation>,
    (eps, momentum): (f64, f64),
    rng: &mut Generator,
) -> Result<Sequential> {
    let mut bn = BatchNorm2d::new(out_ch)?;
    bn.eps = eps;
    bn.momentum = Some(momentum);
    super::blocks::conv_with_norm(in_ch, out_ch, kernel, stride, groups, dilation, act, bn, rng)
}

/// What a builder returns.
pub(crate) type Built = std::result::Result<Box<dyn Module>, super::error::ZooError>;
