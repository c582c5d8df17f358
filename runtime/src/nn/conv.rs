//! `nn.Conv2d`: parameters `weight` `[out, in/groups, kh, kw]` and `bias` `[out]`.

use super::{Kind, Module, Slot, init};
use crate::functional;
use crate::tensor::{Generator, Result, Tensor, arg_err};

/// A 2-D convolution layer (`torch.nn.Conv2d`, zero padding).
pub struct Conv2d {
    /// `[out_channels, in_channels/groups, kh, kw]`, kaiming-uniform(a=√5).
    pub weight: Tensor,
    /// `[out_channels]`, uniform in `±1/√fan_in`; `None` without bias.
    pub bias: Option<Tensor>,
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding `[ph, pw]`.
    pub padding: [usize; 2],
    /// Dilation `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    training: bool,
}

/// The hyper-parameters of a [`Conv2d`] besides the channel counts.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dOptions {
    /// Stride `[sh, sw]` (default 1).
    pub stride: [usize; 2],
    /// Zero padding `[ph, pw]` (default 0).
    pub padding: [usize; 2],
    /// Dilation `[dh, dw]` (default 1).
    pub dilation: [usize; 2],
    /// Channel groups (default 1).
    pub groups: usize,
    /// Whether the layer has a bias (default true).
    pub bias: bool,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, bias: true }
    }
}

impl Conv2d {
    /// A layer initialised as PyTorch's default, drawing from `rng` (weight,
    /// then bias). Errors when the channels do not divide into `groups`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        opts: Conv2dOptions,
        rng: &mut Generator,
    ) -> Result<Conv2d> {
        let g = opts.groups;
        if g == 0 || in_channels % g != 0 || out_channels % g != 0 {
            return Err(arg_err(
                "Conv2d",
                format!(
                    "{in_channels} in and {out_channels} out channels must divide into {g} groups"
                ),
            ));
        }
        let shape = [out_channels, in_channels / g, kernel_size[0], kernel_size[1]];
        let weight = init::kaiming_uniform(&shape, rng)?;
        let bias = if opts.bias {
            Some(init::uniform(&[out_channels], init::bound_for(init::fan_in(&shape)?), rng)?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            stride: opts.stride,
            padding: opts.padding,
            dilation: opts.dilation,
            groups: g,
            training: true,
        })
    }
}

impl Module for Conv2d {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref();
        functional::conv2d(
            x,
            &self.weight,
            b,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )
    }

    fn named_tensors(&self) -> Vec<(String, Kind, Tensor)> {
        super::weight_bias_tensors(&self.weight, self.bias.as_ref())
    }

    fn slots(&mut self) -> Vec<Slot<'_>> {
        super::weight_bias_slots(&mut self.weight, self.bias.as_mut())
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
    }

    fn is_training(&self) -> bool {
        self.training
    }
}
