//! The schedulers: each answers "can one kernel run this group?", tried in
//! priority order (library, normalization, reduction, transpose, pointwise),
//! and gives the group's [`KernelKind`] and [`Schedule`].
//!
//! Rules are written per op class ([`OpClass`]), not per op:
//! - library ops run alone (epilogues are separate pointwise kernels in v0);
//! - a group with reductions has one domain `D` (every reduction's input
//!   shape) and one set of reduced dims `R`; every other node is `D`-shaped,
//!   broadcastable to `D`, or has `D` with `R` removed (a `keepdim=false`
//!   result). It is a normalization if a `D`-shaped node consumes a reduced
//!   value (the result is broadcast back), a reduction otherwise;
//! - a transpose is one non-identity permute of a value from outside, with
//!   pointwise ops on its output domain;
//! - pointwise groups hold elementwise ops, broadcasts, constants and unit-dim
//!   reshapes anywhere; other movement ops (reshape, slice, concat, gather)
//!   only read data from outside the group (an indexed load: the backend
//!   does the index math);
//! - a group's outputs have its full domain shape (or the reduced shape, for
//!   reductions and normalizations): a smaller broadcast-only intermediate
//!   needed elsewhere would have to be written at the wrong size.
//!
//! Symbolic dims compare structurally: `n` equals `n`, never `1024`.

use crate::ir::{Dim, Op, OpClass, Shape, broadcast_shapes, broadcasts_to, nchw_of_nhwc};

use super::KernelKind;
use super::schedule::{LibraryDims, Schedule};
use super::segment::Ctx;

/// Which scheduler takes `members` (sorted positions) and how, or why none
/// does. `in_group` says whether a position belongs to the group (members
/// plus nothing else), used to find outputs and outside operands.
pub(crate) fn classify(
    ctx: &Ctx<'_>,
    members: &[usize],
    in_group: &dyn Fn(usize) -> bool,
) -> Result<(KernelKind, Schedule), String> {
    let g = Group { ctx, members, in_group };
    if let Some(&p) = members.iter().find(|&&p| ctx.node(p).op.class() == OpClass::Library) {
        if members.len() > 1 {
            return Err(format!("{} is a library call and runs alone", ctx.describe(p)));
        }
        return Ok((KernelKind::Library, library_schedule(ctx, p)?));
    }
    let reductions: Vec<usize> =
        members.iter().copied().filter(|&p| matches!(ctx.node(p).op, Op::Reduce { .. })).collect();
    if !reductions.is_empty() {
        return g.reduction(&reductions);
    }
    // A permute that keeps the last dim in place reads rows contiguously and
    // fuses like any load (attention's head split); others need the
    // transpose scheduler.
    let permutes: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&p| matches!(&ctx.node(p).op, Op::Permute { dims } if !keeps_rows(dims)))
        .collect();
    match permutes.as_slice() {
        [] => g.pointwise(),
        [p] => g.transpose(*p),
        [p, q, ..] => Err(format!(
            "two permutes ({} and {}) cannot share a transpose kernel",
            ctx.describe(*p),
            ctx.describe(*q)
        )),
    }
}

/// The kind and schedule of a final group. Every group the segmentation
/// builds is valid, so the fallback here is unreachable for the ops of v0
/// (any single op is valid on its own); it stays for ops a later scheduler
/// cannot take.
pub(crate) fn classify_final(ctx: &Ctx<'_>, members: &[usize]) -> (KernelKind, Schedule) {
    let in_group = |p: usize| members.binary_search(&p).is_ok();
    classify(ctx, members, &in_group).unwrap_or_else(|_| {
        let last = members.last().map(|&p| ctx.node(p).ty.shape.clone()).unwrap_or_default();
        (KernelKind::Fallback, Schedule::rows(last))
    })
}

fn is_identity(dims: &[usize]) -> bool {
    dims.iter().enumerate().all(|(i, &d)| i == d)
}

/// True for a permutation that leaves the last dim last.
fn keeps_rows(dims: &[usize]) -> bool {
    dims.last().is_none_or(|&d| d + 1 == dims.len())
}

/// A shape without its size-1 dims.
fn without_ones(s: &Shape) -> Vec<&Dim> {
    s.dims().iter().filter(|d| !d.is_one()).collect()
}

struct Group<'c, 'a> {
    ctx: &'c Ctx<'a>,
    members: &'c [usize],
    in_group: &'c dyn Fn(usize) -> bool,
}

impl Group<'_, '_> {
    fn shape(&self, p: usize) -> &Shape {
        &self.ctx.node(p).ty.shape
    }

    /// True if `p` is a reshape, permute or slice of data from outside the
    /// group: index arithmetic at its consumers' points, so its own shape
    /// need not fit the domain.
    fn is_view(&self, p: usize) -> bool {
        matches!(self.ctx.node(p).op, Op::Reshape { .. } | Op::Permute { .. } | Op::Slice { .. })
            && self.reads_outside_data(p, 0)
    }

    /// True if operand `slot` of `p` is data from outside the group, seen
    /// directly or through movement ops of the group (a reshape of a permute
    /// of a parameter): index arithmetic over loaded data, nothing computed.
    fn reads_outside_data(&self, p: usize, slot: usize) -> bool {
        match self.ctx.operand_pos(p, slot) {
            None => true,
            Some(q) if !(self.in_group)(q) => true,
            Some(q) => match &self.ctx.node(q).op {
                Op::Reshape { .. }
                | Op::Permute { .. }
                | Op::Slice { .. }
                | Op::Broadcast { .. } => self.reads_outside_data(q, 0),
                _ => false,
            },
        }
    }

    /// True if `p` is used outside the group or returned.
    fn is_output(&self, p: usize) -> bool {
        self.ctx.returned[p] || self.ctx.users[p].iter().any(|&u| !(self.in_group)(u))
    }

    /// Members used outside the group or returned.
    fn outputs(&self) -> impl Iterator<Item = usize> + '_ {
        self.members.iter().copied().filter(|&p| self.is_output(p))
    }

    /// Checks movement ops: only broadcasts, unit-dim reshapes and identity
    /// permutes may read a value computed in the group; other movement ops
    /// must load their data from outside (directly or through other movement
    /// ops). `transpose` is the one permute allowed that moves the last dim.
    fn check_movement(&self, transpose: Option<usize>) -> Result<(), String> {
        for &p in self.members {
            let node = self.ctx.node(p);
            let inside_data = match &node.op {
                Op::Reshape { .. } => {
                    let src = self.ctx.operand_pos(p, 0).map(|q| self.shape(q));
                    let unit = src.is_none_or(|s| without_ones(s) == without_ones(&node.ty.shape));
                    !unit && !self.reads_outside_data(p, 0)
                }
                Op::Permute { dims } if !is_identity(dims) => {
                    if !keeps_rows(dims) && transpose != Some(p) {
                        return Err(format!(
                            "{} needs the transpose scheduler",
                            self.ctx.describe(p)
                        ));
                    }
                    !self.reads_outside_data(p, 0)
                }
                Op::Slice { .. } | Op::Gather { .. } => !self.reads_outside_data(p, 0),
                Op::Concat { .. } => {
                    (0..node.operands().len()).any(|s| !self.reads_outside_data(p, s))
                }
                _ => false,
            };
            if inside_data {
                return Err(format!(
                    "{} moves data computed in the kernel (it can only load from outside)",
                    self.ctx.describe(p)
                ));
            }
        }
        Ok(())
    }

    /// Every member broadcasts to `domain`; every output is `domain`-shaped.
    fn check_domain(&self, domain: &Shape) -> Result<(), String> {
        for &p in self.members {
            if !broadcasts_to(self.shape(p), domain) && !self.is_view(p) {
                return Err(format!(
                    "{} : {} does not broadcast to the domain {domain}",
                    self.ctx.describe(p),
                    self.shape(p)
                ));
            }
        }
        for p in self.outputs() {
            if self.shape(p) != domain {
                return Err(self.small_output(p, domain));
            }
        }
        Ok(())
    }

    fn small_output(&self, p: usize, domain: &Shape) -> String {
        format!(
            "{} : {} is needed outside but is smaller than the domain {domain}",
            self.ctx.describe(p),
            self.shape(p)
        )
    }

    fn pointwise(&self) -> Result<(KernelKind, Schedule), String> {
        self.check_movement(None)?;
        let mut domain = Shape::scalar();
        for &p in self.members {
            if broadcasts_to(self.shape(p), &domain) || self.is_view(p) && !self.is_output(p) {
                continue; // the common case, and no allocation
            }
            domain = broadcast_shapes(&domain, self.shape(p)).ok_or_else(|| {
                format!(
                    "{} : {} does not broadcast with {domain}",
                    self.ctx.describe(p),
                    self.shape(p)
                )
            })?;
        }
        self.check_domain(&domain)?;
        Ok((KernelKind::Pointwise, Schedule::rows(domain)))
    }

    fn transpose(&self, perm: usize) -> Result<(KernelKind, Schedule), String> {
        self.check_movement(Some(perm))?;
        let domain = self.shape(perm).clone();
        self.check_domain(&domain)?;
        let mut s = Schedule::rows(domain);
        if let Op::Permute { dims } = &self.ctx.node(perm).op {
            s.permutation = Some(dims.clone());
        }
        Ok((KernelKind::Transpose, s))
    }

    fn reduction(&self, reductions: &[usize]) -> Result<(KernelKind, Schedule), String> {
        let ctx = self.ctx;
        let reduced = |p: usize| -> Option<(Shape, Vec<usize>)> {
            let Op::Reduce { dims, .. } = &ctx.node(p).op else {
                return None;
            };
            let input = ctx.f.ty(ctx.node(p).value_operands().next()?).shape.clone();
            let mut dims = dims.clone();
            dims.sort_unstable();
            dims.dedup();
            Some((input, dims))
        };
        let (domain, rdims) = reduced(reductions[0])
            .ok_or_else(|| format!("{} has no input", ctx.describe(reductions[0])))?;
        for &r in &reductions[1..] {
            let other = reduced(r);
            if other.as_ref() != Some(&(domain.clone(), rdims.clone())) {
                let (s, d) = other.unwrap_or_default();
                return Err(format!(
                    "{} reduces {s} over {d:?}, but {} reduces {domain} over {rdims:?}",
                    ctx.describe(r),
                    ctx.describe(reductions[0])
                ));
            }
        }
        self.check_movement(None)?;
        let keep = Shape(
            domain
                .dims()
                .iter()
                .enumerate()
                .map(|(i, d)| if rdims.contains(&i) { Dim::Const(1) } else { d.clone() })
                .collect(),
        );
        let dropped = Shape(
            domain
                .dims()
                .iter()
                .enumerate()
                .filter(|(i, _)| !rdims.contains(i))
                .map(|(_, d)| d.clone())
                .collect(),
        );
        for &p in self.members {
            let s = self.shape(p);
            if !broadcasts_to(s, &domain) && s != &dropped && !self.is_view(p) {
                return Err(format!(
                    "{} : {s} fits neither the domain {domain} nor the reduced shape {dropped}",
                    ctx.describe(p)
                ));
            }
        }
        for p in self.outputs() {
            let s = self.shape(p);
            if s != &domain && s != &keep && s != &dropped {
                return Err(self.small_output(p, &domain));
            }
        }
        // Depth: reductions in sequence along a path; a domain-shaped node
        // reading a value after a reduction broadcasts it back.
        let mut depth = vec![0usize; self.members.len()];
        let mut after = vec![false; self.members.len()];
        let mut broadcast_back = false;
        for (i, &p) in self.members.iter().enumerate() {
            let is_reduce = matches!(ctx.node(p).op, Op::Reduce { .. });
            for &q in &ctx.producers[p] {
                if let Ok(j) = self.members.binary_search(&q) {
                    depth[i] = depth[i].max(depth[j]);
                    after[i] |= after[j];
                }
            }
            if is_reduce {
                depth[i] += 1;
                after[i] = true;
            } else if after[i] && self.shape(p) == &domain {
                broadcast_back = true;
            }
        }
        let max_depth = depth.into_iter().max().unwrap_or(1);
        let kind = if broadcast_back { KernelKind::Normalization } else { KernelKind::Reduction };
        Ok((kind, Schedule::reducing(domain, rdims, max_depth)))
    }
}

/// The schedule of a library call: the output's domain and the problem sizes.
fn library_schedule(ctx: &Ctx<'_>, p: usize) -> Result<Schedule, String> {
    let node = ctx.node(p);
    let shape_of = |slot: usize| {
        node.operands().get(slot).and_then(|o| o.value()).map(|v| ctx.f.ty(v).shape.clone())
    };
    let bad = || format!("{} has operands of unexpected rank", ctx.describe(p));
    let out = node.ty.shape.clone();
    let dim = |s: &Shape, i: usize| s.dims().get(i).cloned().ok_or_else(bad);
    let lib = match &node.op {
        Op::Matmul => {
            let (a, b) = (shape_of(0).ok_or_else(bad)?, shape_of(1).ok_or_else(bad)?);
            let (ar, br) = (a.rank(), b.rank());
            let (m, k) = match ar {
                0 => return Err(bad()),
                1 => (Dim::Const(1), dim(&a, 0)?),
                _ => (dim(&a, ar - 2)?, dim(&a, ar - 1)?),
            };
            let n = match br {
                0 => return Err(bad()),
                1 => Dim::Const(1),
                _ => dim(&b, br - 1)?,
            };
            let matrix_dims = usize::from(ar > 1) + usize::from(br > 1);
            let batch_rank = out.rank().saturating_sub(matrix_dims);
            let batch = out.dims()[..batch_rank]
                .iter()
                .fold(crate::ir::Monomial::one(), crate::ir::Monomial::mul_dim);
            LibraryDims::Matmul { batch, m, n, k }
        }
        Op::Conv2d(attrs) => {
            let (x, w) = (shape_of(0).ok_or_else(bad)?, shape_of(1).ok_or_else(bad)?);
            // Channels-last: the same sizes, read through the NCHW view.
            let (x, w, out) = if attrs.channels_last {
                (nchw_of_nhwc(&x), nchw_of_nhwc(&w), nchw_of_nhwc(&out))
            } else {
                (x, w, out.clone())
            };
            LibraryDims::Conv2d {
                n: dim(&x, 0)?,
                c: dim(&x, 1)?,
                hw: [dim(&x, 2)?, dim(&x, 3)?],
                oc: dim(&w, 0)?,
                khw: [dim(&w, 2)?, dim(&w, 3)?],
                ohw: [dim(&out, 2)?, dim(&out, 3)?],
                groups: attrs.groups,
            }
        }
        Op::MaxPool2d(attrs) | Op::AvgPool2d(attrs) => {
            let x = shape_of(0).ok_or_else(bad)?;
            let (x, out) = if attrs.channels_last {
                (nchw_of_nhwc(&x), nchw_of_nhwc(&out))
            } else {
                (x, out.clone())
            };
            LibraryDims::Pool {
                n: dim(&x, 0)?,
                c: dim(&x, 1)?,
                hw: [dim(&x, 2)?, dim(&x, 3)?],
                kernel: attrs.kernel,
                ohw: [dim(&out, 2)?, dim(&out, 3)?],
            }
        }
        _ => return Err(format!("{} is not a library call", ctx.describe(p))),
    };
    let mut s = Schedule::rows(out);
    s.library = Some(lib);
    Ok(s)
}
