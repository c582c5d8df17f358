//! Launch shapes: grid and block of a generated kernel, computed per call
//! from the runtime sizes (kernels take sizes as arguments, so a new size
//! changes the launch, never the code).

use cudarc::driver::LaunchConfig;

use super::CudaError;
use crate::backend::cuda::emit::{KernelSource, Template};
use crate::backend::cuda::row::ROW_BLOCK_MAX;
use crate::interp::{Bindings, concrete_shape};
use crate::ir::Shape;

/// Grid and block for one kernel at concrete sizes.
pub fn launch_config(template: &Template, sizes: &LaunchSizes, sm_count: u32) -> LaunchConfig {
    let (grid, block) = match template {
        Template::Elementwise { vector } => {
            let threads = 256u64;
            let per_block = threads * (*vector as u64).max(1);
            let blocks =
                sizes.elements.div_ceil(per_block).clamp(1, u64::from(sm_count.max(1)) * 32);
            (blocks, threads)
        }
        Template::Row { warp_max, .. } if sizes.row_len <= *warp_max => {
            // One warp per row (the kernel takes its warp loop at this row
            // length): eight rows per 256-thread block, fewer warps when
            // there are fewer rows; the blocks grid-stride over row groups.
            let warps = sizes.rows.clamp(1, 8);
            let blocks = sizes.rows.div_ceil(warps).clamp(1, u64::from(sm_count.max(1)) * 32);
            (blocks, warps * 32)
        }
        Template::Row { vector, .. } => {
            // About one vector (or four elements) per thread, a whole number
            // of warps, at most the kernel's launch bound.
            let v = *vector as u64;
            let per = if v > 1 && sizes.row_len % v == 0 { v } else { 4 };
            let threads = sizes.row_len.div_ceil(per).next_power_of_two().clamp(32, ROW_BLOCK_MAX);
            (sizes.rows.clamp(1, i32::MAX as u64), threads)
        }
        Template::Transpose { .. } => {
            // 32 × 8 threads per 32 × 32 tile (four rows each), grid-stride over tiles.
            (sizes.tiles.clamp(1, u64::from(sm_count.max(1)) * 32), 256)
        }
        Template::Cublas | Template::ConvGemm(_) => (1, 32),
    };
    LaunchConfig {
        grid_dim: (grid as u32, 1, 1),
        block_dim: (block as u32, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The runtime sizes a launch shape depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaunchSizes {
    /// Elements of the largest output (elementwise template).
    pub elements: u64,
    /// Rows (row template).
    pub rows: u64,
    /// Elements per row (row template).
    pub row_len: u64,
    /// 32 × 32 tiles, batch included (tiled transpose template).
    pub tiles: u64,
}

fn numel(s: &Shape, b: &Bindings) -> Result<u64, CudaError> {
    let dims = concrete_shape(s, b).map_err(|e| CudaError::Input(e.to_string()))?;
    Ok(dims.iter().map(|&d| d as u64).product())
}

/// The launch sizes of a kernel source at bindings `b`.
pub fn launch_sizes(src: &KernelSource, b: &Bindings) -> Result<LaunchSizes, CudaError> {
    Ok(match &src.template {
        Template::Row { outer, inner, .. } => {
            LaunchSizes { rows: numel(outer, b)?, row_len: numel(inner, b)?, ..Default::default() }
        }
        Template::Transpose { domain, a, b: inner } => {
            let dims = concrete_shape(domain, b).map_err(|e| CudaError::Input(e.to_string()))?;
            let tile = crate::backend::cuda::transpose::TILE as u64;
            let mut tiles = 1u64;
            for (d, &n) in dims.iter().enumerate() {
                let n = n as u64;
                tiles *= if d == *a || d == *inner { n.div_ceil(tile) } else { n };
            }
            LaunchSizes { tiles, ..Default::default() }
        }
        _ => {
            let mut elements = 0;
            for s in &src.output_shapes {
                elements = elements.max(numel(s, b)?);
            }
            LaunchSizes { elements, ..Default::default() }
        }
    })
}
