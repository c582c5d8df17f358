//! `to_channels_last`: a module's 4-D parameters and buffers converted to
//! channels-last memory (PyTorch's `model.to(memory_format=torch.channels_last)`).
//!
//! Only where elements live changes, never a value or a shape; parameters
//! stay leaves that require grad. Traced through `frontends::compile`, such
//! weights become `{nhwc}` parameters and the compiler keeps the convs,
//! pools and elementwise ops between them channels-last.

use super::{Kind, Module};
use crate::tensor::{MemoryFormat, Result};

/// Converts every 4-D parameter and buffer of `m` to channels-last memory.
pub fn to_channels_last(m: &mut dyn Module) -> Result<()> {
    for slot in m.slots() {
        let t = &*slot.tensor;
        // A tensor with one channel (or 1×1 spatial) is both layouts at once.
        if t.rank() != 4 || t.is_channels_last() {
            continue;
        }
        let cl = crate::autograd::no_grad(|| t.to_memory_format(MemoryFormat::ChannelsLast))?;
        *slot.tensor = match slot.kind {
            Kind::Parameter => cl.detach().requires_grad_(true)?,
            Kind::Buffer => cl.detach(),
        };
    }
    Ok(())
}
