//! `nn.BatchNorm2d` (running statistics as buffers) and `nn.LayerNorm`.

use smelt_compiler::ir::DType;

use super::{Kind, Module, Slot, init};
use crate::autograd::no_grad;
use crate::functional;
use crate::tensor::{Result, Tensor, shape_err};

/// Batch norm over `[N, C, H, W]` (`torch.nn.BatchNorm2d`, affine, tracking
/// running statistics). Training normalizes with the batch statistics and
/// updates `running_mean`/`running_var` (unbiased batch variance) with
/// `momentum`, or with the cumulative average `1/num_batches_tracked` when
/// `momentum` is `None`; evaluation normalizes with the running statistics.
pub struct BatchNorm2d {
    /// `[C]`, ones.
    pub weight: Tensor,
    /// `[C]`, zeros.
    pub bias: Tensor,
    /// Buffer `[C]`, zeros.
    pub running_mean: Tensor,
    /// Buffer `[C]`, ones.
    pub running_var: Tensor,
    /// Buffer: an i64 scalar counting training forwards.
    pub num_batches_tracked: Tensor,
    /// Added to the variance (default 1e-5).
    pub eps: f64,
    /// Weight of the new batch in the running update (default `Some(0.1)`).
    pub momentum: Option<f64>,
    training: bool,
}

impl BatchNorm2d {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1.
    pub fn new(num_features: usize) -> Result<BatchNorm2d> {
        Ok(BatchNorm2d {
            weight: init::constant(&[num_features], 1.0)?,
            bias: init::constant(&[num_features], 0.0)?,
            running_mean: Tensor::zeros(&[num_features], DType::F32)?,
            running_var: Tensor::ones(&[num_features], DType::F32)?,
            num_batches_tracked: Tensor::scalar(0.0, DType::I64)?,
            eps: 1e-5,
            momentum: Some(0.1),
            training: true,
        })
    }
}

impl Module for BatchNorm2d {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        if x.rank() != 4 {
            return Err(shape_err(
                "BatchNorm2d",
                format!("expected 4D input [N, C, H, W], got {:?}", x.shape()),
            ));
        }
        let factor = if self.training {
            let n = self.num_batches_tracked.item()? + 1.0;
            self.momentum.unwrap_or(1.0 / n)
        } else {
            0.0
        };
        let out = functional::batch_norm(
            x,
            Some(&self.running_mean),
            Some(&self.running_var),
            Some(&self.weight),
            Some(&self.bias),
            self.training,
            factor,
            self.eps,
        )?;
        if let Some((m, v)) = out.running {
            // Checked first, assigned after, so a failure leaves the state as it was.
            let (m, v, n) = no_grad(|| -> Result<(Tensor, Tensor, Tensor)> {
                let n = self.num_batches_tracked.item()? + 1.0;
                Ok((
                    m.detach().to_dtype(self.running_mean.dtype())?,
                    v.detach().to_dtype(self.running_var.dtype())?,
                    Tensor::scalar(n, DType::I64)?.to_device(x.device())?,
                ))
            })?;
            self.running_mean = m;
            self.running_var = v;
            self.num_batches_tracked = n;
        }
        Ok(out.output)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        vec![
            ("weight".into(), Kind::Parameter, self.weight.clone()),
            ("bias".into(), Kind::Parameter, self.bias.clone()),
            ("running_mean".into(), Kind::Buffer, self.running_mean.clone()),
            ("running_var".into(), Kind::Buffer, self.running_var.clone()),
            ("num_batches_tracked".into(), Kind::Buffer, self.num_batches_tracked.clone()),
        ]
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        vec![
            Slot { name: "weight".into(), kind: Kind::Parameter, tensor: &mut self.weight },
            Slot { name: "bias".into(), kind: Kind::Parameter, tensor: &mut self.bias },
            Slot {
                name: "running_mean".into(),
                kind: Kind::Buffer,
                tensor: &mut self.running_mean,
            },
            Slot { name: "running_var".into(), kind: Kind::Buffer, tensor: &mut self.running_var },
            Slot {
                name: "num_batches_tracked".into(),
                kind: Kind::Buffer,
                tensor: &mut self.num_batches_tracked,
            },
        ]
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
    }

    fn is_training(&self) -> bool {
        self.training
    }
}

/// Layer norm over the trailing `normalized_shape` dims (`torch.nn.LayerNorm`,
/// elementwise affine).
pub struct LayerNorm {
    /// The normalized trailing dims.
    pub normalized_shape: Vec<usize>,
    /// `normalized_shape`, ones.
    pub weight: Tensor,
    /// `normalized_shape`, zeros.
    pub bias: Tensor,
    /// Added to the variance (default 1e-5).
    pub eps: f64,
    training: bool,
}

impl LayerNorm {
    /// PyTorch's defaults: eps 1e-5, weight ones, bias zeros.
    pub fn new(normalized_shape: &[usize]) -> Result<LayerNorm> {
        Ok(LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            weight: init::constant(normalized_shape, 1.0)?,
            bias: init::constant(normalized_shape, 0.0)?,
            eps: 1e-5,
            training: true,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let (w, b) = (Some(&self.weight), Some(&self.bias));
        functional::layer_norm(x, &self.normalized_shape, w, b, self.eps)
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        vec![
            ("weight".into(), Kind::Parameter, self.weight.clone()),
            ("bias".into(), Kind::Parameter, self.bias.clone()),
        ]
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        vec![
            Slot { name: "weight".into(), kind: Kind::Parameter, tensor: &mut self.weight },
            Slot { name: "bias".into(), kind: Kind::Parameter, tensor: &mut self.bias },
        ]
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
    }

    fn is_training(&self) -> bool {
        self.training
    }
}
