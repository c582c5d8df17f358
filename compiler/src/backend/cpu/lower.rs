//! The loops of a kernel: a row loop over `[row_lo, row_hi)` (the outer dims,
//! delinearized once per row), then per row each reduction's loop nest over
//! the loop dims (accumulating in registers), then the row-level stores, then
//! one loop nest storing the domain-shaped results. Values are recomputed
//! from the inputs in every nest (see `emit.rs`), so nothing intermediate is
//! written to memory.
//!
//! The innermost loop is vectorized when it walks the domain's last dim: two
//! f32x4 steps per iteration (8 elements in flight), then a scalar tail. The
//! emitter reports [`LowerErr::NoVector`] for anything it cannot do in lanes
//! and the kernel is then lowered again, scalar.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Function, InstBuilder, MemFlags, Value, types};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::JITModule;

use super::emit::{Cls, V, cls};
use super::jit::CompileError;
use super::layout::KernelLayout;
use crate::backend::kernel::KernelFunc;
use crate::ir::{DType, Func, NodeId, Op, ReduceKind};

/// Why one lowering attempt stopped.
#[derive(Debug)]
pub(crate) enum LowerErr {
    /// Vector lanes cannot express something: lower again, scalar.
    NoVector(String),
    /// The kernel cannot be lowered at all.
    Compile(CompileError),
}

/// One index component: a known zero, or an i64 value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Ix {
    /// Index 0 (a size-1 dim).
    Zero,
    /// A run-time index.
    Var(Value),
}

/// The state of one kernel's lowering.
pub(crate) struct Lower<'a> {
    pub kf: &'a KernelFunc,
    pub f: &'a Func,
    pub layout: &'a KernelLayout,
    pub b: FunctionBuilder<'a>,
    pub module: &'a mut JITModule,
    pub eager: bool,
    pub vector: bool,
    /// Base pointer of each node read from memory (parameters, const tables).
    pub bufs: HashMap<NodeId, Value>,
    /// Base pointer of each result.
    pub outs: HashMap<NodeId, Value>,
    /// Dims and strides of each node.
    pub dims: HashMap<NodeId, (Vec<Value>, Vec<Value>)>,
    /// Values computed in the current block, by node and index.
    pub memo: HashMap<(NodeId, Vec<Ix>, Option<Value>), V>,
    /// The index whose 4 lanes a vector covers (`None`: scalar code).
    pub lane: Option<Value>,
    /// The current row's index in the domain (loop dims unset).
    pub row_ix: Vec<Ix>,
    /// Finished reductions of the current row.
    pub reduced: HashMap<NodeId, V>,
    /// Row-level values (functions of the reductions only), computed once per
    /// row before the result loops.
    pub row_memo: HashMap<(NodeId, Vec<Ix>), V>,
    /// Or of the fault codes seen (stored to `*status` at the end).
    pub err: Variable,
    pub helper_refs: HashMap<&'static str, cranelift_codegen::ir::FuncRef>,
    /// This task's row scratch (when the layout keeps nodes there).
    pub scratch: Option<Value>,
    /// Scratch nodes whose row is complete (read them, do not recompute).
    pub scratch_ready: Vec<NodeId>,
    next_var: u32,
}

impl<'a> Lower<'a> {
    pub fn unsupported(&self, op: impl Into<String>) -> LowerErr {
        LowerErr::Compile(CompileError::Unsupported { op: op.into(), kernel: self.kf.name.clone() })
    }

    pub fn new_var(&mut self, ty: types::Type) -> Variable {
        let v = Variable::from_u32(self.next_var);
        self.next_var += 1;
        self.b.declare_var(v, ty);
        v
    }

    pub fn iconst(&mut self, x: i64) -> Value {
        self.b.ins().iconst(types::I64, x)
    }

    /// The value of an index component.
    pub fn ix_val(&mut self, i: Ix) -> Value {
        match i {
            Ix::Zero => self.iconst(0),
            Ix::Var(v) => v,
        }
    }

    /// Switches blocks; values of the previous block are forgotten.
    pub(super) fn switch(&mut self, block: cranelift_codegen::ir::Block) {
        self.b.switch_to_block(block);
        self.memo.clear();
    }

    /// Starts `for (i = lo; i + step <= hi; i += step)`; returns the counter
    /// variable, the index value inside the body, and the blocks to close.
    fn loop_begin(&mut self, lo: Value, hi: Value, step: i64) -> Loop {
        let var = self.new_var(types::I64);
        self.b.def_var(var, lo);
        let header = self.b.create_block();
        let body = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[]);
        self.switch(header);
        let i = self.b.use_var(var);
        let last = self.b.ins().iadd_imm(i, step);
        let go = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, last, hi);
        self.b.ins().brif(go, body, &[], exit, &[]);
        self.switch(body);
        let i = self.b.use_var(var);
        Loop { var, header, exit, step, i }
    }

    fn loop_end(&mut self, l: &Loop) {
        let next = self.b.ins().iadd_imm(l.i, l.step);
        self.b.def_var(l.var, next);
        self.b.ins().jump(l.header, &[]);
        self.switch(l.exit);
    }

    pub(super) fn dim(&self, node: NodeId, d: usize) -> Value {
        self.dims[&node].0[d]
    }
}

struct Loop {
    var: Variable,
    header: cranelift_codegen::ir::Block,
    exit: cranelift_codegen::ir::Block,
    step: i64,
    i: Value,
}

/// What a loop nest's body does at each point.
#[derive(Clone, Copy)]
pub(super) enum Body {
    /// Accumulate reduction `node` into `acc`.
    Reduce(NodeId, Acc),
    /// Store every domain-shaped result.
    Store,
}

/// A reduction's running state.
#[derive(Clone, Copy)]
pub(super) struct Acc {
    pub(super) kind: ReduceKind,
    pub(super) cls: Cls,
    /// The accumulator (scalar).
    pub(super) acc: Variable,
    /// argmax/argmin: the best index, and whether anything was seen.
    pub(super) idx: Variable,
    pub(super) have: Variable,
}

/// Lowers `kf` into `func` (whose signature is already set).
pub(crate) fn lower_kernel(
    module: &mut JITModule,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    kf: &KernelFunc,
    layout: &KernelLayout,
    vector: bool,
    eager: bool,
) -> Result<(), LowerErr> {
    let f = &kf.func;
    // Lanes only pay (and only exist) for f32-computed results and reductions.
    let lane_ok = |d: DType| cls(d) == Cls::F32 && d != DType::F16;
    let vector = vector
        && layout.st.loop_dims.last() == Some(&(layout.st.domain.rank().wrapping_sub(1)))
        && f.results().iter().all(|&r| lane_ok(f.ty(r).dtype))
        && layout.st.reduces.iter().all(|&r| {
            let n = f.node(r);
            let x = n.value_operands().next();
            matches!(n.op, Op::Reduce { kind, .. } if !kind.is_arg())
                && x.is_some_and(|x| lane_ok(f.ty(x).dtype))
        });
    let b = FunctionBuilder::new(func, fctx);
    let mut lw = Lower {
        kf,
        f,
        layout,
        b,
        module,
        eager,
        vector,
        bufs: HashMap::new(),
        outs: HashMap::new(),
        dims: HashMap::new(),
        memo: HashMap::new(),
        lane: None,
        row_ix: Vec::new(),
        reduced: HashMap::new(),
        row_memo: HashMap::new(),
        err: Variable::from_u32(0),
        helper_refs: HashMap::new(),
        scratch: None,
        scratch_ready: Vec::new(),
        next_var: 0,
    };
    lw.err = lw.new_var(types::I64);
    lw.body()?;
    lw.b.seal_all_blocks();
    lw.b.finalize();
    Ok(())
}

impl Lower<'_> {
    fn body(&mut self) -> Result<(), LowerErr> {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.switch(entry);
        let p = self.b.block_params(entry).to_vec();
        let (bufs, sizes, row_lo, row_hi, col_lo, col_hi, status) =
            (p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
        let flags = MemFlags::trusted().with_readonly();
        let n_params = self.f.params().len();
        let n_results = self.f.results().len();
        for (i, &n) in self.layout.slots.clone().iter().enumerate() {
            let v = self.b.ins().load(types::I64, flags, bufs, (i * 8) as i32);
            if (n_params..n_params + n_results).contains(&i) {
                self.outs.insert(n, v);
            } else {
                self.bufs.insert(n, v);
            }
        }
        for &n in &self.layout.sized.clone() {
            let off = self.layout.size_off[&n];
            let rank = self.f.ty(n).shape.rank();
            let mut ds = Vec::with_capacity(rank);
            let mut ss = Vec::with_capacity(rank);
            for k in 0..rank {
                ds.push(self.b.ins().load(types::I64, flags, sizes, ((off + k) * 8) as i32));
            }
            for k in 0..rank {
                let at = ((off + rank + k) * 8) as i32;
                ss.push(self.b.ins().load(types::I64, flags, sizes, at));
            }
            self.dims.insert(n, (ds, ss));
        }
        let zero = self.iconst(0);
        self.b.def_var(self.err, zero);
        if !self.layout.scratch.is_empty() {
            self.scratch = Some(self.b.ins().load(types::I64, flags, status, 8));
        }

        // The row loop.
        let st = self.layout.st.clone();
        let rows = self.loop_begin(row_lo, row_hi, 1);
        let rank = st.domain.rank();
        let mut row_ix = vec![Ix::Zero; rank];
        let mut rest = rows.i;
        for &d in st.outer_dims.iter().rev() {
            if st.domain.0[d].is_one() {
                continue;
            }
            let size = self.dim(st.domain_node, d);
            row_ix[d] = Ix::Var(self.b.ins().urem(rest, size));
            rest = self.b.ins().udiv(rest, size);
        }
        self.row_ix = row_ix.clone();
        self.reduced.clear();
        self.row_memo.clear();
        self.scratch_ready.clear();
        for &r in &st.reduces {
            self.reduction(r, &row_ix, (col_lo, col_hi))?;
        }
        self.row_epilogue()?;
        // Results: row-level ones once per row, domain-shaped ones in a nest.
        let mut full = Vec::new();
        for &r in self.f.results() {
            let shape = &self.f.ty(r).shape;
            if *shape == st.domain {
                full.push(r);
                continue;
            }
            let Some(ix) = self.row_level_index(r) else {
                return Err(self.unsupported(format!(
                    "{} (a result of shape {} in a kernel over {})",
                    self.f.node(r).op.name(),
                    shape,
                    st.domain
                )));
            };
            let v = self.eval(r, &ix)?;
            self.store(r, &ix, v)?;
        }
        if !full.is_empty() {
            let mut ix = row_ix.clone();
            let cols = if st.pointwise() { Some((col_lo, col_hi)) } else { None };
            self.nest(&mut ix, 0, Body::Store, cols, &full)?;
        }
        self.loop_end(&rows);
        let err = self.b.use_var(self.err);
        self.b.ins().store(MemFlags::trusted(), err, status, 0);
        self.b.ins().return_(&[]);
        Ok(())
    }

    /// Computes, once per row, the elementwise ops whose operands are all
    /// reductions, literals or such ops (`rsqrt(var + eps)`), pinned with
    /// [`Lower::materialize`] so that the result loops only broadcast them.
    pub(super) fn row_epilogue(&mut self) -> Result<(), LowerErr> {
        let mut done: Vec<NodeId> = self.layout.st.reduces.clone();
        for n in self.f.program_order() {
            let node = self.f.node(n);
            let elementwise = matches!(
                node.op,
                Op::Unary { .. } | Op::Binary { .. } | Op::Select | Op::Cast { .. }
            );
            if !elementwise || !node.value_operands().all(|v| done.contains(&v)) {
                continue;
            }
            let Some(ix) = self.row_level_index(n) else { continue };
            let mut v = self.eval(n, &ix)?;
            if v.vec {
                continue;
            }
            v.v = self.materialize(v.v);
            self.row_memo.insert((n, ix), v);
            done.push(n);
        }
        Ok(())
    }

    /// The index at which a row-level result is written: the row's index with
    /// the reduced dims zero (keepdim) or dropped; `None` if it is neither.
    pub(super) fn row_level_index(&self, r: NodeId) -> Option<Vec<Ix>> {
        let st = &self.layout.st;
        if st.reduces.is_empty() {
            return None;
        }
        let shape = &self.f.ty(r).shape;
        let d = &st.domain;
        if shape.rank() == d.rank()
            && (0..d.rank()).all(|k| {
                if st.reduced.contains(&k) { shape.0[k].is_one() } else { shape.0[k] == d.0[k] }
            })
        {
            let ix = (0..d.rank())
                .map(|k| if st.reduced.contains(&k) { Ix::Zero } else { self.row_ix[k] })
                .collect();
            return Some(ix);
        }
        let kept: Vec<usize> = (0..d.rank()).filter(|k| !st.reduced.contains(k)).collect();
        if shape.rank() == kept.len() && kept.iter().zip(&shape.0).all(|(&k, s)| *s == d.0[k]) {
            return Some(kept.iter().map(|&k| self.row_ix[k]).collect());
        }
        None
    }

    /// The index a reduction's result has in the current row.
    pub fn reduction_index(&self, r: NodeId) -> Option<Vec<Ix>> {
        let Op::Reduce { keepdim, .. } = &self.f.node(r).op else { return None };
        let st = &self.layout.st;
        let rank = st.domain.rank();
        let ix = (0..rank)
            .filter(|k| *keepdim || !st.reduced.contains(k))
            .map(|k| if st.reduced.contains(&k) { Ix::Zero } else { self.row_ix[k] })
            .collect();
        Some(ix)
    }

    /// A loop nest over the loop dims from `depth` on.
    pub(super) fn nest(
        &mut self,
        ix: &mut Vec<Ix>,
        depth: usize,
        body: Body,
        cols: Option<(Value, Value)>,
        outs: &[NodeId],
    ) -> Result<(), LowerErr> {
        let st = self.layout.st.clone();
        let Some(&d) = st.loop_dims.get(depth) else {
            return self.point(body, ix, outs);
        };
        if st.domain.0[d].is_one() {
            ix[d] = Ix::Zero;
            return self.nest(ix, depth + 1, body, cols, outs);
        }
        let innermost = depth + 1 == st.loop_dims.len();
        let (lo, hi) = match cols {
            Some(c) if innermost => c,
            _ => (self.iconst(0), self.dim(st.domain_node, d)),
        };
        if !innermost {
            let l = self.loop_begin(lo, hi, 1);
            ix[d] = Ix::Var(l.i);
            self.nest(ix, depth + 1, body, cols, outs)?;
            self.loop_end(&l);
            return Ok(());
        }
        let mut start = lo;
        if self.vector {
            // Vector accumulators for a reduction.
            let vaccs = match body {
                Body::Reduce(_, acc) => {
                    let init = self.reduce_init(acc.kind, acc.cls);
                    let initv = self.b.ins().splat(types::F32X4, init.v);
                    let a0 = self.new_var(types::F32X4);
                    let a1 = self.new_var(types::F32X4);
                    self.b.def_var(a0, initv);
                    self.b.def_var(a1, initv);
                    Some([a0, a1])
                }
                Body::Store => None,
            };
            let l = self.loop_begin(lo, hi, 8);
            for u in 0..2 {
                let j = if u == 0 { l.i } else { self.b.ins().iadd_imm(l.i, 4) };
                ix[d] = Ix::Var(j);
                self.lane = Some(j);
                let r = match (body, vaccs) {
                    (Body::Reduce(node, acc), Some(vs)) => {
                        self.accumulate(node, acc, ix, Some(vs[u]))
                    }
                    _ => self.point(body, ix, outs),
                };
                self.lane = None;
                r?;
            }
            self.loop_end(&l);
            start = self.b.use_var(l.var);
            if let (Body::Reduce(_, acc), Some([a0, a1])) = (body, vaccs) {
                let x0 = self.b.use_var(a0);
                let x1 = self.b.use_var(a1);
                let both = self.combine(acc.kind, x0, x1);
                let mut s = self.b.use_var(acc.acc);
                for lane in 0..4u8 {
                    let e = self.b.ins().extractlane(both, lane);
                    s = self.combine(acc.kind, s, e);
                }
                self.b.def_var(acc.acc, s);
            }
        }
        let l = self.loop_begin(start, hi, 1);
        ix[d] = Ix::Var(l.i);
        match body {
            Body::Reduce(node, acc) => self.accumulate(node, acc, ix, None)?,
            Body::Store => self.point(body, ix, outs)?,
        }
        self.loop_end(&l);
        Ok(())
    }

    /// The body at one point (or 4 lanes) of the domain.
    fn point(&mut self, body: Body, ix: &[Ix], outs: &[NodeId]) -> Result<(), LowerErr> {
        match body {
            Body::Reduce(node, acc) => self.accumulate(node, acc, ix, None),
            Body::Store => {
                for &r in outs {
                    let v = self.eval(r, ix)?;
                    self.store(r, ix, v)?;
                }
                Ok(())
            }
        }
    }
}
