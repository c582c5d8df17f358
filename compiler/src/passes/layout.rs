//! `layout`: channels-last (NHWC) layout planning.
//!
//! Given parameters declared `{nhwc}` (images and conv weights in PyTorch's
//! `channels_last` memory format), the pass rewrites the function so that
//! convolutions, pools, the elementwise ops between them (batch-norm
//! arithmetic, activations, residual adds), reductions and channel
//! concatenations all work on channels-last values, and a transpose remains
//! only where an op needs the logical NCHW order (a flatten before the
//! classifier, a returned NCHW image).
//!
//! Representation: values stay logical, as IR.md says, and the choice is
//! written into the graph itself, so it prints, parses and runs everywhere:
//!
//! - a channels-last value is an ordinary value of the permuted shape
//!   `[N, H, W, C]` (its row-major memory is NHWC);
//! - `conv2d`/`max_pool2d`/`avg_pool2d` carry `layout=nhwc`: input
//!   `[N, H, W, C]`, conv weight `[OC, KH, KW, C/g]`, result `[N, OH, OW, C']`;
//! - a `{nhwc}` parameter enters as `permute(%p) dims=[0, 2, 3, 1]`. On the
//!   parameter's own memory that permute is the identity (a relabelling), and
//!   the CPU backend compiles it to nothing ([`physical`]); the interpreter
//!   computes it on logical values, which is equally right;
//! - a per-channel operand (`[C, 1, 1]`, `[1, C, 1, 1]`) becomes a
//!   `reshape` to `[1, 1, 1, C]`: moving size-1 dims moves no data, so the
//!   pass writes a reshape, never a transpose, for it (channel broadcast is
//!   now a last-dim broadcast, which fuses well);
//! - every other change of layout is a `permute` the pass inserted and
//!   counts ([`LayoutReport::transposes`]; [`count_transposes`] recounts them
//!   from any function).
//!
//! A function without `{nhwc}` parameters is left unchanged, and so is one
//! the pass has already rewritten (so the runner's rounds reach a fixpoint).

use std::collections::HashMap;

use super::{Pass, PassError};
use crate::ir::{Dim, Func, Layout, NodeId, Op, Operand, ReshapeDim, Shape, Type};

/// `permute` dims taking a logical NCHW value to its NHWC form.
pub const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
/// `permute` dims taking an NHWC value back to logical NCHW.
pub const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

/// The layout pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayoutPass;

/// What one run of the pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutReport {
    /// Conv, pool, elementwise, reduce and concat nodes now channels-last.
    pub nhwc_ops: usize,
    /// Data-moving permutes the pass inserted (the free relabelling of
    /// `{nhwc}` parameters and size-1 reshapes are not counted).
    pub transposes: usize,
}

impl Pass for LayoutPass {
    fn name(&self) -> &'static str {
        "layout"
    }

    fn run(&self, f: &mut Func) -> Result<bool, PassError> {
        match plan_layout(f)? {
            Some((g, _)) => {
                *f = g;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// True if `f` has a `{nhwc}` parameter and no channels-last op yet: the
/// functions the pass rewrites.
pub fn wants_layout(f: &Func) -> bool {
    let has_nhwc = f.params().iter().any(|&p| is_nhwc_param(f, p));
    let done = f.node_ids().into_iter().any(|n| channels_last_op(&f.node(n).op))
        || f.params().iter().filter(|&&p| is_nhwc_param(f, p)).all(|&p| {
            f.users(p).iter().all(|&(u, _)| is_relabel(f, u)) && !f.results().contains(&p)
        });
    has_nhwc && !done
}

/// The rewritten function and its report, or `None` when the pass leaves
/// `f` as it is (see [`wants_layout`]).
pub fn plan_layout(f: &Func) -> Result<Option<(Func, LayoutReport)>, PassError> {
    if !wants_layout(f) {
        return Ok(None);
    }
    let mut b = Builder { f, g: Func::new(f.name.clone()), vals: HashMap::new(), report: LayoutReport::default() };
    b.g.span = f.span;
    b.g.return_span = f.return_span;
    for &p in f.params() {
        let n = f.node(p);
        let Op::Param { layout, .. } = &n.op else { continue };
        let name = n.name.clone().unwrap_or_else(|| format!("arg{}", p.index()));
        let q = b.g.add_param(name, n.ty.clone(), layout.clone());
        b.vals.insert(p, Val { logical: Some(q), ..Val::default() });
    }
    for id in f.program_order() {
        b.node(id)?;
    }
    let mut results = Vec::new();
    for &r in f.results() {
        results.push(b.logical(r)?);
    }
    b.g.set_results(results);
    Ok(Some((b.g, b.report)))
}

/// The data-moving permutes of `f`: every `permute` except the relabelling
/// of a `{nhwc}` parameter and those that only move size-1 dims.
pub fn count_transposes(f: &Func) -> usize {
    f.node_ids()
        .into_iter()
        .filter(|&n| match &f.node(n).op {
            Op::Permute { dims } => {
                let x = f.node(n).value_operands().next();
                !is_relabel(f, n) && x.is_some_and(|x| !moves_only_ones(&f.ty(x).shape, dims))
            }
            _ => false,
        })
        .count()
}

/// True for a `{nhwc}` parameter.
fn is_nhwc_param(f: &Func, p: NodeId) -> bool {
    matches!(f.node(p).op, Op::Param { layout: Layout::Nhwc, .. })
}

/// True for `permute(%p) dims=[0, 2, 3, 1]` of a `{nhwc}` parameter: the
/// parameter's memory seen as what it is.
pub fn is_relabel(f: &Func, n: NodeId) -> bool {
    match &f.node(n).op {
        Op::Permute { dims } if dims[..] == TO_NHWC => {
            f.node(n).value_operands().next().is_some_and(|p| is_nhwc_param(f, p))
        }
        _ => false,
    }
}

fn channels_last_op(op: &Op) -> bool {
    match op {
        Op::Conv2d(a) => a.channels_last,
        Op::MaxPool2d(a) | Op::AvgPool2d(a) => a.channels_last,
        _ => false,
    }
}

/// True if permuting `shape` by `dims` keeps the order of its non-1 dims
/// (so the permute moves no data and is a reshape).
fn moves_only_ones(shape: &Shape, dims: &[usize]) -> bool {
    let moved: Vec<usize> = dims.iter().copied().filter(|&d| !shape.0[d].is_one()).collect();
    moved.windows(2).all(|w| w[0] < w[1])
}

fn permuted(shape: &Shape, dims: &[usize]) -> Shape {
    Shape(dims.iter().map(|&d| shape.0[d].clone()).collect())
}

/// The two forms a value of the old function may have in the new one.
#[derive(Clone, Copy, Default)]
struct Val {
    /// Its logical value.
    logical: Option<NodeId>,
    /// Its NHWC form (rank-4 values only).
    nhwc: Option<NodeId>,
    /// True if the rewritten node computes the NHWC form (the logical one,
    /// if any, is a transpose of it).
    primary_nhwc: bool,
}

struct Builder<'a> {
    f: &'a Func,
    g: Func,
    vals: HashMap<NodeId, Val>,
    report: LayoutReport,
}

fn internal(message: impl Into<String>) -> PassError {
    PassError::Internal { pass: "layout", message: message.into() }
}

impl Builder<'_> {
    fn add(&mut self, op: Op, operands: Vec<Operand>) -> Result<NodeId, PassError> {
        let what = op.name();
        self.g.add_inferred(op, operands).map_err(|e| internal(format!("{what}: {e}")))
    }

    /// Moves `x` (a node of the new function) by `dims`: a reshape when only
    /// size-1 dims move, else a counted permute.
    fn move_dims(&mut self, x: NodeId, dims: &[usize]) -> Result<NodeId, PassError> {
        let shape = self.g.ty(x).shape.clone();
        if moves_only_ones(&shape, dims) {
            let target = permuted(&shape, dims).0.into_iter().map(ReshapeDim::Dim).collect();
            return self.add(Op::Reshape { shape: target }, vec![Operand::Value(x)]);
        }
        self.report.transposes += 1;
        self.add(Op::Permute { dims: dims.to_vec() }, vec![Operand::Value(x)])
    }

    /// True if `v` (old) is channels-last already or can be at no cost.
    fn nhwc_free(&self, v: NodeId) -> bool {
        self.f.ty(v).shape.rank() == 4
            && (is_nhwc_param(self.f, v) || self.vals.get(&v).is_some_and(|x| x.primary_nhwc))
    }

    /// The NHWC form of rank-4 `v` (old), made once.
    fn nhwc(&mut self, v: NodeId) -> Result<NodeId, PassError> {
        let val = self.vals.get(&v).copied().unwrap_or_default();
        if let Some(n) = val.nhwc {
            return Ok(n);
        }
        let l = val.logical.ok_or_else(|| internal(format!("{v} has no value")))?;
        let n = if is_nhwc_param(self.f, v) {
            // The relabelling: free on the parameter's NHWC memory.
            self.add(Op::Permute { dims: TO_NHWC.to_vec() }, vec![Operand::Value(l)])?
        } else {
            self.move_dims(l, &TO_NHWC)?
        };
        self.vals.entry(v).or_default().nhwc = Some(n);
        Ok(n)
    }

    /// The logical form of `v` (old), made once.
    fn logical(&mut self, v: NodeId) -> Result<NodeId, PassError> {
        let val = self.vals.get(&v).copied().unwrap_or_default();
        if let Some(l) = val.logical {
            return Ok(l);
        }
        let n = val.nhwc.ok_or_else(|| internal(format!("{v} has no value")))?;
        let l = self.move_dims(n, &TO_NCHW)?;
        self.vals.entry(v).or_default().logical = Some(l);
        Ok(l)
    }

    /// An operand of a channels-last elementwise op whose logical result is
    /// rank 4: rank-4 values in NHWC form; lower ranks (numpy-aligned at the
    /// right) first reshaped to rank 4, then moved.
    fn nhwc_operand(&mut self, o: Operand) -> Result<Operand, PassError> {
        let Operand::Value(v) = o else { return Ok(o) };
        let shape = &self.f.ty(v).shape;
        if shape.rank() == 4 {
            return Ok(Operand::Value(self.nhwc(v)?));
        }
        if shape.rank() == 0 {
            return Ok(Operand::Value(self.logical(v)?));
        }
        let mut dims = vec![Dim::Const(1); 4 - shape.rank()];
        dims.extend(shape.0.iter().cloned());
        let padded = Shape(dims);
        let l = self.logical(v)?;
        if moves_only_ones(&padded, &TO_NHWC) {
            // One reshape straight to the NHWC shape (`[C, 1, 1]` →
            // `[1, 1, 1, C]`), which kernels index without arithmetic.
            let target = permuted(&padded, &TO_NHWC).0.into_iter().map(ReshapeDim::Dim).collect();
            return Ok(Operand::Value(self.add(Op::Reshape { shape: target }, vec![Operand::Value(l)])?));
        }
        let target = padded.0.into_iter().map(ReshapeDim::Dim).collect();
        let four = self.add(Op::Reshape { shape: target }, vec![Operand::Value(l)])?;
        Ok(Operand::Value(self.move_dims(four, &TO_NHWC)?))
    }

    fn set(&mut self, old: NodeId, new: NodeId, nhwc: bool) {
        self.g.node_mut(new).name = self.f.node(old).name.clone();
        self.g.node_mut(new).span = self.f.node(old).span;
        let v = if nhwc {
            Val { logical: None, nhwc: Some(new), primary_nhwc: true }
        } else {
            Val { logical: Some(new), nhwc: None, primary_nhwc: false }
        };
        self.vals.insert(old, v);
    }

    /// Rewrites one instruction of the old function.
    fn node(&mut self, id: NodeId) -> Result<(), PassError> {
        let node = self.f.node(id);
        let ops: Vec<Operand> = node.operands().to_vec();
        let values: Vec<NodeId> = node.value_operands().collect();
        let out_rank = node.ty.shape.rank();
        let any_free = values.iter().any(|&v| self.nhwc_free(v));
        match &node.op {
            Op::Conv2d(a) if !a.channels_last && self.nhwc_free(values[0]) => {
                let mut new_ops = vec![
                    Operand::Value(self.nhwc(values[0])?),
                    Operand::Value(self.nhwc(values[1])?),
                ];
                if let Some(&bias) = values.get(2) {
                    new_ops.push(Operand::Value(self.logical(bias)?));
                }
                let op = Op::Conv2d(crate::ir::Conv2dAttrs { channels_last: true, ..a.clone() });
                let n = self.add(op, new_ops)?;
                self.report.nhwc_ops += 1;
                self.set(id, n, true);
            }
            Op::MaxPool2d(a) | Op::AvgPool2d(a) if !a.channels_last && self.nhwc_free(values[0]) => {
                let x = Operand::Value(self.nhwc(values[0])?);
                let attrs = crate::ir::PoolAttrs { channels_last: true, ..a.clone() };
                let op = match node.op {
                    Op::MaxPool2d(_) => Op::MaxPool2d(attrs),
                    _ => Op::AvgPool2d(attrs),
                };
                let n = self.add(op, vec![x])?;
                self.report.nhwc_ops += 1;
                self.set(id, n, true);
            }
            Op::Unary { .. } | Op::Binary { .. } | Op::Select | Op::Cast { .. }
                if out_rank == 4 && any_free =>
            {
                let new_ops = ops.iter().map(|&o| self.nhwc_operand(o)).collect::<Result<_, _>>()?;
                let n = self.add(node.op.clone(), new_ops)?;
                self.report.nhwc_ops += 1;
                self.set(id, n, true);
            }
            Op::Concat { axis } if out_rank == 4 && any_free => {
                let new_ops = values
                    .iter()
                    .map(|&v| self.nhwc(v).map(Operand::Value))
                    .collect::<Result<_, _>>()?;
                let axis = TO_NCHW[*axis];
                let n = self.add(Op::Concat { axis }, new_ops)?;
                self.report.nhwc_ops += 1;
                self.set(id, n, true);
            }
            Op::Reduce { kind, dims, keepdim } if self.nhwc_free(values[0]) => {
                let mut mapped: Vec<usize> = dims.iter().map(|&d| TO_NCHW[d]).collect();
                mapped.sort_unstable();
                // Without keepdim the result is logical only if the kept
                // dims come out in NCHW order (e.g. a global pool to [N, C]).
                let kept_nchw: Vec<usize> = (0..4).filter(|d| !dims.contains(d)).collect();
                let kept_nhwc: Vec<usize> =
                    TO_NHWC.iter().copied().filter(|d| !dims.contains(d)).collect();
                if *keepdim || kept_nchw == kept_nhwc {
                    let x = Operand::Value(self.nhwc(values[0])?);
                    let op = Op::Reduce { kind: *kind, dims: mapped, keepdim: *keepdim };
                    let n = self.add(op, vec![x])?;
                    self.report.nhwc_ops += 1;
                    self.set(id, n, *keepdim);
                } else {
                    self.copy(id)?;
                }
            }
            _ => self.copy(id)?,
        }
        Ok(())
    }

    /// Copies an instruction as it is, on logical operands.
    fn copy(&mut self, id: NodeId) -> Result<(), PassError> {
        let node = self.f.node(id);
        let mut new_ops = Vec::with_capacity(node.operands().len());
        for &o in node.operands() {
            new_ops.push(match o {
                Operand::Value(v) => Operand::Value(self.logical(v)?),
                lit => lit,
            });
        }
        let ty: Type = node.ty.clone();
        let n = self.g.add_node(node.op.clone(), new_ops, ty);
        self.set(id, n, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::parse_func;

    #[test]
    fn functions_without_nhwc_params_are_unchanged() {
        let src = "func @f(%x: f32[1, 3, 5, 5], %w: f32[4, 3, 3, 3]) -> (f32[1, 4, 3, 3]) {
               %y = conv2d(%x, %w) : f32[1, 4, 3, 3]
               %r = relu(%y) : f32[1, 4, 3, 3]
               return %r }";
        let mut f = parse_func(src).unwrap();
        assert!(!LayoutPass.run(&mut f).unwrap());
        assert_eq!(f, parse_func(src).unwrap());
    }

    #[test]
    fn a_conv_chain_keeps_channels_last_and_is_a_fixpoint() {
        let mut f = parse_func(
            "func @f(%x: f32[1, 3, 5, 5]{nhwc}, %w: f32[4, 3, 3, 3]{nhwc}, %s: f32[4, 1, 1]) -> (f32[1, 4, 3, 3]) {
               %y = conv2d(%x, %w) : f32[1, 4, 3, 3]
               %b = mul(%y, %s) : f32[1, 4, 3, 3]
               %r = relu(%b) : f32[1, 4, 3, 3]
               return %r }",
        )
        .unwrap();
        let (g, report) = plan_layout(&f).unwrap().unwrap();
        crate::ir::verify(&g).unwrap();
        assert_eq!(report, LayoutReport { nhwc_ops: 3, transposes: 1 });
        assert_eq!(count_transposes(&g), 1);
        let text = g.to_string();
        assert!(text.contains("layout=nhwc"), "{text}");
        assert!(LayoutPass.run(&mut f).unwrap());
        assert!(!LayoutPass.run(&mut f).unwrap());
    }
}
