//! The tiled transpose template: a transpose kernel whose permutation moves
//! the innermost dim reads and writes coalesced through a 32×32 tile of
//! shared memory (33 columns, so the column-wise reads of the tile hit 32
//! different banks).
//!
//! Two dims of the output domain span a tile: `B`, the output's innermost
//! dim, and `A`, the output dim that is the permute source's innermost. A
//! block of 256 threads (32 lanes × 8 rows) walks tiles grid-stride, every
//! other dim of the domain being a batch coordinate of the tile (no limit
//! on their product, unlike `blockIdx.z`). Per tile: lanes along `A` load
//! the permuted value (consecutive source addresses), `__syncthreads`, lanes
//! along `B` evaluate the kernel's epilogue with the permuted value read
//! from the tile and store (consecutive output addresses). Edges are
//! bounds-checked, so no size needs to divide by 32.
//!
//! Kernels the pattern does not fit keep the elementwise template; see
//! [`tiled_transpose`] for which and why.

use crate::backend::kernel::KernelFunc;
use crate::ir::{Dim, NodeId, Op, Shape};
use crate::plan::KernelKind;

use super::emit::{Template, store_output};
use super::lower::{LowerError, Lowerer};
use super::snippets;

/// Tile edge (a warp's width).
pub const TILE: usize = 32;

/// Constant tile dims smaller than this keep the elementwise template: most
/// of a 32×32 tile's threads would idle, and the strided accesses they would
/// fix are few (a symbolic dim is assumed large).
const MIN_TILED_DIM: u64 = 8;

/// The permute a tile stands for, and the two domain dims it spans.
struct TilePlan {
    perm: NodeId,
    /// Output dim that is the permute source's innermost (tile rows on load).
    a: usize,
    /// Output's innermost dim (tile lanes on store).
    b: usize,
}

/// The tiled plan of kernel `k`, or `None` where the elementwise template
/// stays: not a transpose kernel; a permutation that keeps the innermost dim
/// (every access is already coalesced along it); the permute not in the
/// kernel as an `Op::Permute` of the domain's shape; an output of another
/// shape (the tile walks one domain); or a tile dim known to be tiny.
fn tile_plan(k: &KernelFunc) -> Option<TilePlan> {
    if k.kind != KernelKind::Transpose {
        return None;
    }
    let f = &k.func;
    let dims = k.schedule.permutation.as_ref()?;
    let domain = &k.schedule.domain;
    let rank = domain.rank();
    if rank < 2 || dims.len() != rank || dims[rank - 1] == rank - 1 {
        return None;
    }
    let perm = f.node_ids().into_iter().find(|&n| {
        matches!(&f.node(n).op, Op::Permute { dims: d } if d == dims) && f.ty(n).shape == *domain
    })?;
    if f.results().iter().any(|&r| f.ty(r).shape != *domain) {
        return None;
    }
    let a = dims.iter().position(|&d| d == rank - 1)?;
    let b = rank - 1;
    let tiny = |d: &Dim| matches!(d, Dim::Const(c) if *c < MIN_TILED_DIM);
    if tiny(&domain.dims()[a]) || tiny(&domain.dims()[b]) {
        return None;
    }
    Some(TilePlan { perm, a, b })
}

/// Emits kernel `k` with shared-memory tiles when it fits the pattern
/// ([`tile_plan`]); `Ok(None)` (nothing emitted) otherwise.
pub(super) fn tiled_transpose(
    lw: &mut Lowerer<'_>,
    k: &KernelFunc,
) -> Result<Option<Template>, LowerError> {
    let Some(tp) = tile_plan(k) else { return Ok(None) };
    let f = lw.f;
    let domain = k.schedule.domain.clone();
    let rank = domain.rank();
    let batch_dims: Vec<usize> = (0..rank).filter(|&d| d != tp.a && d != tp.b).collect();
    let batch = Shape(batch_dims.iter().map(|&d| domain.dims()[d].clone()).collect());
    let na = lw.dim(&domain.dims()[tp.a]);
    let nb = lw.dim(&domain.dims()[tp.b]);
    let nbatch = lw.product(batch.dims());
    let ct = snippets::compute_type(f.ty(tp.perm).dtype);
    let t = TILE;
    lw.line(format!("__shared__ {ct} smelt_tile[{t}][{t} + 1];"));
    lw.line(format!("const int smelt_tx = threadIdx.x % {t}, smelt_ty = threadIdx.x / {t};"));
    lw.line(format!("const int smelt_tstep = blockDim.x / {t};"));
    lw.line(format!("const long long smelt_na = {na}, smelt_nb = {nb};"));
    lw.line(format!("const long long smelt_ta = (smelt_na + {}) / {t};", t - 1));
    lw.line(format!("const long long smelt_tb = (smelt_nb + {}) / {t};", t - 1));
    lw.line(format!("const long long smelt_tiles = {nbatch} * smelt_ta * smelt_tb;"));
    // The loop bound is the same for the whole block: every thread reaches
    // both barriers the same number of times.
    lw.open("for (long long tile = blockIdx.x; tile < smelt_tiles; tile += gridDim.x)");
    lw.line(format!("const long long smelt_b0 = (tile % smelt_tb) * {t};"));
    lw.line(format!("const long long smelt_a0 = (tile / smelt_tb % smelt_ta) * {t};"));
    let bcoords = if batch.dims().iter().all(Dim::is_one) {
        vec!["0".to_string(); batch.rank()]
    } else {
        lw.line("const long long smelt_bat = tile / smelt_tb / smelt_ta;");
        lw.delinearize(&batch, "smelt_bat")
    };
    let index = |a: &str, b: &str| -> Vec<String> {
        let mut idx = vec!["0".to_string(); rank];
        for (&d, c) in batch_dims.iter().zip(&bcoords) {
            idx[d] = c.clone();
        }
        idx[tp.a] = a.to_string();
        idx[tp.b] = b.to_string();
        idx
    };
    lw.line("// Load: lanes along the source's innermost dim.");
    lw.open(format!("for (int r = smelt_ty; r < {t}; r += smelt_tstep)"));
    lw.line("const long long la = smelt_a0 + smelt_tx, lb = smelt_b0 + r;");
    lw.open("if (la < smelt_na && lb < smelt_nb)");
    let v = lw.eval(tp.perm, &index("la", "lb"))?;
    lw.line(format!("smelt_tile[r][smelt_tx] = {v};"));
    lw.close();
    lw.close();
    lw.line("__syncthreads();");
    lw.line("// Store: lanes along the output's innermost dim.");
    lw.open(format!("for (int r = smelt_ty; r < {t}; r += smelt_tstep)"));
    lw.line("const long long sa = smelt_a0 + r, sb = smelt_b0 + smelt_tx;");
    lw.open("if (sa < smelt_na && sb < smelt_nb)");
    let idx = index("sa", "sb");
    lw.line(format!("const {ct} smelt_t = smelt_tile[smelt_tx][r];"));
    lw.bind(tp.perm, &idx, "smelt_t");
    for (i, &r) in f.results().iter().enumerate() {
        store_output(lw, i, r, &idx)?;
    }
    lw.close();
    lw.close();
    lw.line("// The next tile overwrites this one.");
    lw.line("__syncthreads();");
    lw.close();
    Ok(Some(Template::Transpose { domain, a: tp.a, b: tp.b }))
}
