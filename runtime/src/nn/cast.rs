//! Whole-module conversions: `module.to(dtype)` and
//! `module.to(memory_format=torch.channels_last)`. Both replace each tensor
//! a module holds through its load slots, so they work on any [`Module`].

use smelt_compiler::ir::DType;

use super::{Kind, Module};
use crate::autograd::no_grad;
use crate::tensor::{MemoryFormat, Result};

/// Casts every floating-point parameter and buffer of `module` to `dtype`
/// (`module.to(torch.bfloat16)`); integer buffers such as
/// `num_batches_tracked` keep their dtype. Parameters stay leaves that
/// require grad.
pub fn to_dtype(module: &mut dyn Module, dtype: DType) -> Result<()> {
    for slot in module.slots() {
        if !slot.tensor.dtype().is_float() || slot.tensor.dtype() == dtype {
            continue;
        }
        let cast = no_grad(|| slot.tensor.to_dtype(dtype))?;
        *slot.tensor = match slot.kind {
            Kind::Parameter => cast.detach().requires_grad_(true)?,
            Kind::Buffer => cast,
        };
    }
    Ok(())
}

/// Lays every 4-D parameter and buffer of `module` out as `format`
/// (`module.to(memory_format=torch.channels_last)`: convolution weights
/// become NHWC in memory, values unchanged); other tensors are untouched.
pub fn to_memory_format(module: &mut dyn Module, format: MemoryFormat) -> Result<()> {
    for slot in module.slots() {
        // A tensor with one channel (or 1×1 spatial) is both layouts at once.
        let already = match format {
            MemoryFormat::ChannelsLast => slot.tensor.is_channels_last(),
            MemoryFormat::Contiguous => slot.tensor.is_contiguous(),
        };
        if slot.tensor.rank() != 4 || already {
            continue;
        }
        let laid = no_grad(|| slot.tensor.to_memory_format(format))?;
        *slot.tensor = match slot.kind {
            Kind::Parameter => laid.detach().requires_grad_(true)?,
            Kind::Buffer => laid,
        };
    }
    Ok(())
}

/// [`to_memory_format`] with channels-last. Traced through
/// `frontends::compile`, such weights become `{nhwc}` parameters and the
/// compiler keeps the convs, pools and elementwise ops between them
/// channels-last.
pub fn to_channels_last(module: &mut dyn Module) -> Result<()> {
    to_memory_format(module, MemoryFormat::ChannelsLast)
}
