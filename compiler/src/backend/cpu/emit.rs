//! Values: the CLIF computing one node at one index of its shape, recursing
//! into its operands (broadcast, permute, reshape, slice, concat and gather
//! become index arithmetic on the operand's index). Results are memoized per
//! block, so a value used twice at the same index is computed once.
//!
//! Compute types ([`Cls`]): f32, f16 and bf16 compute in f32 (rounded at
//! stores and casts, or after every op with `--numerics eager`); f64 in f64;
//! integers in wrapping i64, wrapped to their width after each op; bool as
//! an i8 0/1 (a lane mask i32x4 of 0/-1 in vector code).
//!
//! What is inline CLIF and what is a helper call: arithmetic, comparisons,
//! min/max, abs/neg/sqrt/rsqrt/recip/floor/ceil/round/sign/relu, casts,
//! select, bf16 rounding, and f32 `exp`, `exp2`, `sigmoid`, `tanh`, `erf`,
//! `log`, `log2` (polynomials in `poly.rs`) are inline and vectorized; f32
//! `sin`, `cos`, `pow`, float `rem`, f16 conversions, every f64
//! transcendental and integer `pow` are calls to the helpers in `math.rs`
//! (per lane in vector code).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlags, Value, types};
use cranelift_codegen::ir::{Type as ClType, immediates::Ieee32};

use super::lower::{Ix, Lower, LowerErr};
use super::math::{Sig, helper_sig};
use crate::ir::{DType, NodeId, Op, Operand, Scalar, Shape};
use crate::numerics::int_to_float;
use crate::numerics::round_to;

/// How a dtype is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cls {
    /// f32 (also f16, bf16).
    F32,
    /// f64.
    F64,
    /// i64 (every integer dtype).
    Int,
    /// i8 0/1 (lane masks in vectors).
    Bool,
}

/// The compute class of a dtype.
pub(crate) fn cls(d: DType) -> Cls {
    match d {
        DType::F32 | DType::F16 | DType::BF16 => Cls::F32,
        DType::F64 => Cls::F64,
        DType::Bool => Cls::Bool,
        _ => Cls::Int,
    }
}

/// A computed value: scalar, or 4 lanes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct V {
    pub v: Value,
    pub vec: bool,
    pub cls: Cls,
}

/// Concats of at most this many parts load every part and select (no
/// branches, vectorizable); longer ones branch to the one part in range.
const SELECT_PARTS: usize = 4;

fn no_vec(why: &str) -> LowerErr {
    LowerErr::NoVector(why.to_string())
}

/// The operand index of a broadcast from `to` (the consumer's shape) down to
/// `from` (the operand's): right-aligned, size-1 dims index 0.
pub(crate) fn broadcast_ix(ix: &[Ix], consumer: &Shape, operand: &Shape) -> Vec<Ix> {
    let off = consumer.rank() - operand.rank().min(consumer.rank());
    (0..operand.rank())
        .map(|j| {
            if operand.0[j].is_one() {
                Ix::Zero
            } else {
                ix.get(off + j).copied().unwrap_or(Ix::Zero)
            }
        })
        .collect()
}

impl Lower<'_> {
    /// The value of `node` at index `ix` of its shape.
    pub fn eval(&mut self, node: NodeId, ix: &[Ix]) -> Result<V, LowerErr> {
        let key = (node, ix.to_vec(), self.lane);
        if let Some(v) = self.memo.get(&key) {
            return Ok(*v);
        }
        if let Some(v) = self.row_memo.get(&(node, ix.to_vec())) {
            return Ok(*v);
        }
        if let Some(v) = self.scratch_load(node, ix) {
            self.memo.insert(key, v);
            return Ok(v);
        }
        let n = self.f.node(node);
        let dtype = n.ty.dtype;
        let op = n.op.clone();
        let lane_in =
            |ix: &[Ix], lane: Option<Value>| lane.is_some_and(|l| ix.contains(&Ix::Var(l)));
        let mut arith = true;
        let v = match &op {
            Op::Param { .. } => {
                arith = false;
                self.load(node, ix)?
            }
            Op::Const { value } if value.len() == 1 => self.literal(value[0], dtype),
            Op::Const { .. } => {
                arith = false;
                self.load(node, ix)?
            }
            Op::Unary { kind } => {
                let x = self.operand(node, 0, ix, dtype)?;
                self.unary(*kind, dtype, x)?
            }
            Op::Binary { kind } => {
                let od = self.value_dtype(node, 0);
                let a = self.operand(node, 0, ix, od)?;
                let b = self.operand(node, 1, ix, od)?;
                self.binary(*kind, od, a, b)?
            }
            Op::Select => {
                let c = self.operand(node, 0, ix, DType::Bool)?;
                let a = self.operand(node, 1, ix, dtype)?;
                let b = self.operand(node, 2, ix, dtype)?;
                self.select(c, a, b)?
            }
            Op::Cast { to } => {
                let from = self.value_dtype(node, 0);
                let x = self.operand(node, 0, ix, from)?;
                self.cast(from, *to, x)?
            }
            Op::Reduce { .. } => {
                arith = false;
                let Some(v) = self.reduced.get(&node).copied() else {
                    return Err(self.unsupported("a reduction read before it is computed"));
                };
                if self.reduction_index(node).as_deref() != Some(ix) {
                    return Err(self.unsupported(format!(
                        "{} (its result is read at another row than its own)",
                        op.name()
                    )));
                }
                v
            }
            Op::Broadcast { .. } => {
                arith = false;
                self.operand(node, 0, ix, dtype)?
            }
            Op::Permute { dims } => {
                arith = false;
                let x = self.input(node, 0);
                let mut xi = vec![Ix::Zero; dims.len()];
                for (i, &d) in dims.iter().enumerate() {
                    xi[d] = ix[i];
                }
                let xi = self.normalize(x, xi);
                self.eval(x, &xi)?
            }
            Op::Reshape { .. } => {
                arith = false;
                let x = self.input(node, 0);
                if let Some(map) = unit_dim_map(&self.f.ty(x).shape, &self.f.ty(node).shape) {
                    // Only size-1 dims inserted or removed (the layout
                    // pass's per-channel `[C, 1, 1]` → `[1, 1, 1, C]`, a
                    // keepdim reduction squeezed): each non-1 dim keeps its
                    // index, so no linear index is needed, the lanes stay
                    // vectorized, and a reduction read through it is read
                    // at its own row.
                    let xi = map.iter().map(|m| m.map_or(Ix::Zero, |k| ix[k])).collect();
                    let xi = self.normalize(x, xi);
                    self.eval(x, &xi)?
                } else {
                    if lane_in(ix, self.lane) {
                        return Err(no_vec("reshape index arithmetic"));
                    }
                    let lin = self.linearize(node, ix);
                    let xi = self.delinearize(x, lin);
                    self.eval(x, &xi)?
                }
            }
            Op::Slice { starts, steps, .. } => {
                arith = false;
                let x = self.input(node, 0);
                let mut xi = Vec::with_capacity(ix.len());
                for (k, &i) in ix.iter().enumerate() {
                    let (s, t) = (starts[k] as i64, steps[k] as i64);
                    xi.push(match i {
                        Ix::Zero if s == 0 => Ix::Zero,
                        Ix::Zero => Ix::Var(self.iconst(s)),
                        Ix::Var(v) if s == 0 && t == 1 => Ix::Var(v),
                        Ix::Var(v) if Some(v) == self.lane => {
                            return Err(no_vec("strided slice"));
                        }
                        Ix::Var(v) => {
                            let m = self.b.ins().imul_imm(v, t);
                            Ix::Var(self.b.ins().iadd_imm(m, s))
                        }
                    });
                }
                let xi = self.normalize(x, xi);
                self.eval(x, &xi)?
            }
            Op::Concat { axis } => {
                arith = false;
                if lane_in(&ix[*axis..=*axis], self.lane) {
                    return Err(no_vec("concat along the lane dim"));
                }
                self.concat(node, *axis, ix)?
            }
            Op::Gather { axis } => {
                arith = false;
                if lane_in(ix, self.lane) {
                    return Err(no_vec("gather"));
                }
                self.gather(node, *axis, ix)?
            }
            Op::Iota { dim, to, .. } => {
                if lane_in(&ix[*dim..=*dim], self.lane) {
                    return Err(no_vec("iota along the lane dim"));
                }
                let i = self.ix_val(ix[*dim]);
                let iv = V { v: i, vec: false, cls: Cls::Int };
                self.cast(DType::I64, *to, iv)?
            }
            Op::Matmul | Op::Conv2d(_) | Op::MaxPool2d(_) | Op::AvgPool2d(_) => {
                return Err(self.unsupported(op.name()));
            }
        };
        let v = if arith && self.eager { self.round_to_dtype(dtype, v)? } else { v };
        self.memo.insert(key, v);
        Ok(v)
    }

    /// The `slot`-th operand's node (a value operand).
    fn input(&self, node: NodeId, slot: usize) -> NodeId {
        match self.f.node(node).operands()[slot] {
            Operand::Value(v) => v,
            // Movement ops take values only (the verifier checks it).
            Operand::Lit(_) => node,
        }
    }

    /// The dtype of the value operands of a binary op or cast.
    fn value_dtype(&self, node: NodeId, _slot: usize) -> DType {
        self.f
            .node(node)
            .value_operands()
            .next()
            .map(|v| self.f.ty(v).dtype)
            .unwrap_or(self.f.ty(node).dtype)
    }

    /// Operand `slot` of `node` at the node's index `ix` (broadcast), or a literal of dtype `d`.
    fn operand(&mut self, node: NodeId, slot: usize, ix: &[Ix], d: DType) -> Result<V, LowerErr> {
        match self.f.node(node).operands()[slot] {
            Operand::Lit(s) => Ok(self.literal(s, d)),
            Operand::Value(v) => {
                let xi = broadcast_ix(ix, &self.f.ty(node).shape, &self.f.ty(v).shape);
                let xi = self.normalize(v, xi);
                self.eval(v, &xi)
            }
        }
    }

    /// Index components of size-1 dims become `Zero` (so equal indices compare equal).
    fn normalize(&self, node: NodeId, mut ix: Vec<Ix>) -> Vec<Ix> {
        for (k, d) in self.f.ty(node).shape.0.iter().enumerate() {
            if d.is_one() {
                ix[k] = Ix::Zero;
            }
        }
        ix
    }

    /// Row-major linear index of `ix` in `node`'s shape.
    pub fn linearize(&mut self, node: NodeId, ix: &[Ix]) -> Value {
        // `ix` may be a prefix of the node's index (see `address`); buffers
        // are dense row-major, so the node's last dim has stride 1.
        let rank = self.f.ty(node).shape.rank();
        let mut lin = self.iconst(0);
        for (k, &i) in ix.iter().enumerate() {
            if let Ix::Var(v) = i {
                let m = if k + 1 == rank {
                    v
                } else {
                    let s = self.dims[&node].1[k];
                    self.b.ins().imul(v, s)
                };
                lin = self.b.ins().iadd(lin, m);
            }
        }
        lin
    }

    /// The index in `node`'s shape of a row-major linear index.
    fn delinearize(&mut self, node: NodeId, lin: Value) -> Vec<Ix> {
        let shape = self.f.ty(node).shape.clone();
        let mut ix = vec![Ix::Zero; shape.rank()];
        let mut rest = lin;
        for k in (0..shape.rank()).rev() {
            if shape.0[k].is_one() {
                continue;
            }
            let size = self.dims[&node].0[k];
            if k == 0 {
                ix[k] = Ix::Var(rest);
            } else {
                ix[k] = Ix::Var(self.b.ins().urem(rest, size));
                rest = self.b.ins().udiv(rest, size);
            }
        }
        ix
    }

    fn concat(&mut self, node: NodeId, axis: usize, ix: &[Ix]) -> Result<V, LowerErr> {
        let parts: Vec<NodeId> = self.f.node(node).value_operands().collect();
        if parts.len() > SELECT_PARTS {
            return self.concat_branches(&parts, axis, ix);
        }
        let i = self.ix_val(ix[axis]);
        let mut off = self.iconst(0);
        let mut vals = Vec::new();
        let mut ends = Vec::new();
        for &p in &parts {
            let size = self.dims[&p].0[axis];
            let local = self.b.ins().isub(i, off);
            let last = self.b.ins().iadd_imm(size, -1);
            let hi = self.b.ins().smin(local, last);
            let zero = self.iconst(0);
            let c = self.b.ins().smax(hi, zero);
            let mut xi = ix.to_vec();
            xi[axis] = Ix::Var(c);
            let xi = self.normalize(p, xi);
            vals.push(self.eval(p, &xi)?);
            off = self.b.ins().iadd(off, size);
            ends.push(off);
        }
        let mut acc = *vals.last().ok_or_else(|| self.unsupported("concat of nothing"))?;
        for k in (0..vals.len() - 1).rev() {
            let inside = self.b.ins().icmp(IntCC::SignedLessThan, i, ends[k]);
            let (a, b) = self.unify(vals[k], acc)?;
            acc = V { v: self.b.ins().select(inside, a.v, b.v), vec: a.vec, cls: a.cls };
        }
        Ok(acc)
    }

    /// A concat of many parts: a chain of range tests, each branch
    /// evaluating only the part that holds index `ix[axis]` (the concat
    /// axis is never the lane dim, so the test is uniform across lanes).
    /// Values computed inside a branch do not dominate the code after it,
    /// so the memo is restored after each branch.
    fn concat_branches(&mut self, parts: &[NodeId], axis: usize, ix: &[Ix]) -> Result<V, LowerErr> {
        let i = self.ix_val(ix[axis]);
        let join = self.b.create_block();
        let want_vec = self.lane.is_some();
        let saved = self.memo.clone();
        let mut off = self.iconst(0);
        let mut cls = None;
        for (k, &p) in parts.iter().enumerate() {
            let size = self.dims[&p].0[axis];
            let end = self.b.ins().iadd(off, size);
            let next = if k + 1 < parts.len() {
                let (this, next) = (self.b.create_block(), self.b.create_block());
                let inside = self.b.ins().icmp(IntCC::SignedLessThan, i, end);
                self.b.ins().brif(inside, this, &[], next, &[]);
                self.b.switch_to_block(this);
                Some(next)
            } else {
                None
            };
            let local = self.b.ins().isub(i, off);
            let mut xi = ix.to_vec();
            xi[axis] = Ix::Var(local);
            let xi = self.normalize(p, xi);
            let v = self.eval(p, &xi)?;
            let value = if want_vec { self.widen(v)? } else { v.v };
            if cls.is_none() {
                let ty = self.b.func.dfg.value_type(value);
                self.b.append_block_param(join, ty);
                cls = Some(v.cls);
            }
            self.b.ins().jump(join, &[value.into()]);
            self.memo.clone_from(&saved);
            if let Some(next) = next {
                self.b.switch_to_block(next);
            }
            off = end;
        }
        self.b.switch_to_block(join);
        let cls = cls.ok_or_else(|| self.unsupported("concat of nothing"))?;
        Ok(V { v: self.b.block_params(join)[0], vec: want_vec, cls })
    }

    fn gather(&mut self, node: NodeId, axis: usize, ix: &[Ix]) -> Result<V, LowerErr> {
        let ops: Vec<NodeId> = self.f.node(node).value_operands().collect();
        let (x, idx) = (ops[0], ops[1]);
        let r = self.f.ty(idx).shape.rank();
        let ii = self.normalize(idx, ix[axis..axis + r].to_vec());
        let g = self.eval(idx, &ii)?;
        let size = self.dims[&x].0[axis];
        let ok = self.b.ins().icmp(IntCC::UnsignedLessThan, g.v, size);
        let zero = self.iconst(0);
        let two = self.iconst(2);
        let code = self.b.ins().select(ok, zero, two);
        let e = self.b.use_var(self.err);
        let e = self.b.ins().bor(e, code);
        self.b.def_var(self.err, e);
        let g = self.b.ins().select(ok, g.v, zero);
        let mut xi: Vec<Ix> = ix[..axis].to_vec();
        xi.push(Ix::Var(g));
        xi.extend_from_slice(&ix[axis + r..]);
        let xi = self.normalize(x, xi);
        self.eval(x, &xi)
    }

    // ------------------------------------------------------------ constants

    /// A literal as a value of dtype `d` (rounded as the interpreter does).
    pub fn literal(&mut self, s: Scalar, d: DType) -> V {
        let c = cls(d);
        let f = match s {
            Scalar::Int(i) => int_to_float(i, d),
            s => round_to(d, s.as_f64()),
        };
        let v = match c {
            Cls::F32 => self.b.ins().f32const(f as f32),
            Cls::F64 => self.b.ins().f64const(f),
            Cls::Int => {
                let i = match s {
                    Scalar::Int(i) => i,
                    s => s.as_f64() as i64,
                };
                self.iconst(i)
            }
            Cls::Bool => self.b.ins().iconst(types::I8, i64::from(matches!(s, Scalar::Bool(true)))),
        };
        V { v, vec: false, cls: c }
    }

    /// A float constant of the type of `like` (scalar or vector).
    pub fn fconst(&mut self, like: Value, x: f64) -> Value {
        let ty = self.b.func.dfg.value_type(like);
        match ty {
            types::F64 => self.b.ins().f64const(x),
            types::F32 => self.b.ins().f32const(x as f32),
            _ => {
                let s = self.b.ins().f32const(Ieee32::with_float(x as f32));
                self.b.ins().splat(types::F32X4, s)
            }
        }
    }

    // ------------------------------------------------------------ lanes

    /// A value as 4 lanes (a scalar is splat; a bool becomes a mask).
    pub fn widen(&mut self, x: V) -> Result<Value, LowerErr> {
        if x.vec {
            return Ok(x.v);
        }
        match x.cls {
            Cls::F32 => Ok(self.b.ins().splat(types::F32X4, x.v)),
            Cls::Bool => {
                let m = self.b.ins().bmask(types::I32, x.v);
                Ok(self.b.ins().splat(types::I32X4, m))
            }
            _ => Err(no_vec("an integer or f64 value in lanes")),
        }
    }

    /// Two values made both scalar or both vector.
    pub(super) fn unify(&mut self, a: V, b: V) -> Result<(V, V), LowerErr> {
        if a.vec == b.vec {
            return Ok((a, b));
        }
        let av = self.widen(a)?;
        let bv = self.widen(b)?;
        Ok((V { v: av, vec: true, cls: a.cls }, V { v: bv, vec: true, cls: b.cls }))
    }

    /// `cond ? a : b` for a scalar i8 or a lane mask `cond`.
    pub fn pick(&mut self, cond: Value, a: Value, b: Value) -> Value {
        let ty = self.b.func.dfg.value_type(a);
        if ty.is_vector() {
            let m = self.b.func.dfg.value_type(cond);
            let c = if m == ty {
                cond
            } else {
                self.b.ins().bitcast(
                    ty,
                    MemFlags::new().with_endianness(cranelift_codegen::ir::Endianness::Little),
                    cond,
                )
            };
            self.b.ins().bitselect(c, a, b)
        } else {
            self.b.ins().select(cond, a, b)
        }
    }

    /// Calls helper `name` on scalars, or lane by lane on vectors.
    pub fn call(&mut self, name: &'static str, args: &[Value]) -> Result<Value, LowerErr> {
        let vec = args.iter().any(|&a| self.b.func.dfg.value_type(a).is_vector());
        if !vec {
            return self.call_scalar(name, args);
        }
        let mut out: Option<Value> = None;
        for lane in 0..4u8 {
            let xs: Vec<Value> = args.iter().map(|&a| self.b.ins().extractlane(a, lane)).collect();
            let r = self.call_scalar(name, &xs)?;
            out = Some(match out {
                None => self.b.ins().splat(types::F32X4, r),
                Some(v) => self.b.ins().insertlane(v, r, lane),
            });
        }
        out.ok_or_else(|| no_vec("no lanes"))
    }

    fn call_scalar(&mut self, name: &'static str, args: &[Value]) -> Result<Value, LowerErr> {
        use cranelift_codegen::ir::AbiParam;
        use cranelift_module::{Linkage, Module};
        let fref = match self.helper_refs.get(name) {
            Some(&r) => r,
            None => {
                let sig_kind = helper_sig(name).ok_or_else(|| self.unsupported(name))?;
                let (ps, r): (&[ClType], ClType) = match sig_kind {
                    Sig::F32F32 => (&[types::F32], types::F32),
                    Sig::F32x2F32 => (&[types::F32, types::F32], types::F32),
                    Sig::F64F64 => (&[types::F64], types::F64),
                    Sig::F64x2F64 => (&[types::F64, types::F64], types::F64),
                    Sig::I64x2I64 => (&[types::I64, types::I64], types::I64),
                    Sig::I32F32 => (&[types::I32], types::F32),
                    Sig::F32I32 => (&[types::F32], types::I32),
                    Sig::F64F32 => (&[types::F64], types::F32),
                    Sig::I64F32 => (&[types::I64], types::F32),
                };
                let mut sig = self.module.make_signature();
                sig.params.extend(ps.iter().map(|&t| AbiParam::new(t)));
                sig.returns.push(AbiParam::new(r));
                let id =
                    self.module.declare_function(name, Linkage::Import, &sig).map_err(|e| {
                        LowerErr::Compile(super::jit::CompileError::Codegen {
                            kernel: self.kf.name.clone(),
                            message: e.to_string(),
                        })
                    })?;
                let r = self.module.declare_func_in_func(id, self.b.func);
                self.helper_refs.insert(name, r);
                r
            }
        };
        let inst = self.b.ins().call(fref, args);
        Ok(self.b.inst_results(inst)[0])
    }
}

/// For a reshape from `src` to `dst` that only inserts or removes size-1
/// dims: for each dim of `src`, the `dst` dim holding the same index (`None`
/// for a size-1 source dim). `None` for any other reshape.
fn unit_dim_map(src: &Shape, dst: &Shape) -> Option<Vec<Option<usize>>> {
    let non_one =
        |s: &Shape| -> Vec<usize> { (0..s.rank()).filter(|&k| !s.0[k].is_one()).collect() };
    let (a, b) = (non_one(src), non_one(dst));
    if a.len() != b.len() || a.iter().zip(&b).any(|(&i, &j)| src.0[i] != dst.0[j]) {
        return None;
    }
    let mut map = vec![None; src.rank()];
    for (&i, &j) in a.iter().zip(&b) {
        map[i] = Some(j);
    }
    Some(map)
}
