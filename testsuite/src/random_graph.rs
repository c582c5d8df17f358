//! A seeded generator of random, valid [`Func`]s for property tests.
//!
//! [`random_func`] builds a function op by op from a broad mix (elementwise
//! with values and literals, select, cast, every reduction with keepdim both
//! ways, reshape with `-1` and symbols, permute, broadcast, slice, concat,
//! gather, iota, const, matmul, occasionally conv2d and the pools). Each
//! proposed op goes through the op table's type rule and is dropped if the
//! rule rejects it, so every generated function verifies by construction.
//!
//! Invariants, beyond verifying:
//! - Deterministic: the same seed gives the same function (rand's `StdRng`,
//!   no hash-map iteration order).
//! - Small: no value has more than [`MAX_ELEMENTS`] elements with every
//!   symbol at [`SYMBOL_ESTIMATE`], so interpreting one is cheap.
//! - Runs without run-time errors on [`crate::inputs::random_inputs`]: gather
//!   indices come from `const`/`iota` in range (never from parameters),
//!   integer `div`/`rem` divide by non-zero literals, integer `pow` has a
//!   small non-negative literal exponent.
//! - Symbols (`n`, `m`) enter through the parameters only.

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use smelt_compiler::ir::{
    Binary, Conv2dAttrs, DType, Dim, Func, Layout, NodeId, Op, Operand, PoolAttrs, ReduceKind,
    ReshapeDim, Scalar, Shape, Type, Unary, broadcast_shapes,
};

/// The most elements any value may have (symbols at [`SYMBOL_ESTIMATE`]).
pub const MAX_ELEMENTS: u64 = 1024;

/// The size assumed for a symbol when bounding element counts.
pub const SYMBOL_ESTIMATE: u64 = 4;

/// The most parameters a generated function takes.
const MAX_PARAMS: usize = 8;

/// Knobs of the generator.
#[derive(Clone, Debug)]
pub struct Config {
    /// Ops attempted (rejected proposals count too), at least 1.
    pub max_ops: usize,
    /// Whether conv2d and the pools may appear.
    pub library: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config { max_ops: 24, library: true }
    }
}

/// A random valid function from `seed`, with the default [`Config`].
pub fn random_func(seed: u64) -> Func {
    random_func_with(seed, &Config::default())
}

/// A random valid function from `seed`.
pub fn random_func_with(seed: u64, cfg: &Config) -> Func {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        f: Func::new(format!("g{seed}")),
        pool: Vec::new(),
    };
    g.signature();
    let max = cfg.max_ops.max(1);
    let attempts = g.rng.random_range(max.div_ceil(4)..=max);
    for _ in 0..attempts {
        g.step(cfg);
    }
    g.finish();
    g.f
}

/// The op kinds the generator proposes, with their weights.
#[derive(Clone, Copy)]
enum Kind {
    Unary,
    Binary,
    Select,
    Cast,
    Reduce,
    Reshape,
    Permute,
    Broadcast,
    Slice,
    Concat,
    Gather,
    Iota,
    Const,
    Matmul,
    Conv,
    Pool,
}

const KINDS: [(Kind, u32); 16] = [
    (Kind::Unary, 14),
    (Kind::Binary, 24),
    (Kind::Select, 5),
    (Kind::Cast, 5),
    (Kind::Reduce, 12),
    (Kind::Reshape, 6),
    (Kind::Permute, 5),
    (Kind::Broadcast, 4),
    (Kind::Slice, 5),
    (Kind::Concat, 4),
    (Kind::Gather, 3),
    (Kind::Iota, 2),
    (Kind::Const, 3),
    (Kind::Matmul, 5),
    (Kind::Conv, 1),
    (Kind::Pool, 1),
];

struct Gen {
    rng: StdRng,
    f: Func,
    /// Every value so far (parameters included), in creation order.
    pool: Vec<NodeId>,
}

fn estimate(shape: &Shape) -> u64 {
    shape.dims().iter().fold(1u64, |acc, d| {
        acc.saturating_mul(match d {
            Dim::Const(c) => *c,
            Dim::Sym(_) => SYMBOL_ESTIMATE,
        })
    })
}

impl Gen {
    fn ty(&self, id: NodeId) -> Type {
        self.f.ty(id).clone()
    }

    /// Adds an op if the type rule accepts it and the result is small.
    fn try_add(&mut self, op: Op, operands: Vec<Operand>) -> Option<NodeId> {
        let ty = self.f.infer_type(&op, &operands, None).ok()?;
        self.push(op, operands, ty)
    }

    fn push(&mut self, op: Op, operands: Vec<Operand>, ty: Type) -> Option<NodeId> {
        if estimate(&ty.shape) > MAX_ELEMENTS {
            return None;
        }
        let id = self.f.add_node(op, operands, ty);
        self.pool.push(id);
        Some(id)
    }

    fn add_const(&mut self, value: Vec<Scalar>, ty: Type) -> Option<NodeId> {
        let op = Op::Const { value };
        let ty = self.f.infer_type(&op, &[], Some(&ty)).ok()?;
        self.push(op, Vec::new(), ty)
    }

    fn param(&mut self, ty: Type) -> Option<NodeId> {
        if self.f.params().len() >= MAX_PARAMS || estimate(&ty.shape) > MAX_ELEMENTS {
            return None;
        }
        let name = format!("p{}", self.f.params().len());
        let id = self.f.add_param(name, ty, Layout::RowMajor);
        self.pool.push(id);
        Some(id)
    }

    /// A value whose type satisfies `pred`, biased toward recent and unused
    /// values so that chains grow deep and few values end up dead.
    fn pick(&mut self, pred: impl Fn(&Type) -> bool) -> Option<NodeId> {
        let cands: Vec<NodeId> =
            self.pool.iter().copied().filter(|&id| pred(self.f.ty(id))).collect();
        if cands.is_empty() {
            return None;
        }
        let unused: Vec<NodeId> = cands
            .iter()
            .copied()
            .filter(|&id| !matches!(self.f.node(id).op, Op::Param { .. }) && !self.f.is_used(id))
            .collect();
        if !unused.is_empty() && self.rng.random_bool(0.4) {
            unused.choose(&mut self.rng).copied()
        } else if self.rng.random_bool(0.5) {
            let tail = &cands[cands.len().saturating_sub(3)..];
            tail.choose(&mut self.rng).copied()
        } else {
            cands.choose(&mut self.rng).copied()
        }
    }

    fn dtype(&mut self) -> DType {
        let r = self.rng.random_range(0..100);
        match r {
            0..55 => DType::F32,
            55..70 => DType::F64,
            70..78 => DType::BF16,
            78..84 => DType::I32,
            84..90 => DType::I64,
            90..93 => DType::I8,
            93..95 => DType::U8,
            95..97 => DType::F16,
            _ => DType::Bool,
        }
    }

    fn signature(&mut self) {
        let rank = match self.rng.random_range(0..100) {
            0..5 => 0,
            5..25 => 1,
            25..70 => 2,
            70..95 => 3,
            _ => 4,
        };
        let mut base: Vec<Dim> = (0..rank)
            .map(|_| {
                Dim::Const(if self.rng.random_bool(0.8) { self.rng.random_range(2..=6) } else { 1 })
            })
            .collect();
        // One or two symbolic dims in about a third of the graphs.
        if rank > 0 && self.rng.random_bool(0.35) {
            let i = self.rng.random_range(0..rank);
            base[i] = Dim::sym("n");
            if rank > 1 && self.rng.random_bool(0.3) {
                let j = (i + 1) % rank;
                base[j] = Dim::sym("m");
            }
        }
        let dtype = self.dtype();
        let n = self.rng.random_range(1..=3);
        for k in 0..n {
            let mut shape = base.clone();
            if k > 0 {
                // Broadcast partners: a suffix, or some dims set to 1.
                if self.rng.random_bool(0.3) && !shape.is_empty() {
                    let drop = self.rng.random_range(0..=shape.len());
                    shape.drain(..drop);
                }
                for d in &mut shape {
                    if self.rng.random_bool(0.2) {
                        *d = Dim::Const(1);
                    }
                }
            }
            let dt = if k > 0 && self.rng.random_bool(0.15) { self.dtype() } else { dtype };
            self.param(Type::new(dt, Shape(shape)));
        }
    }

    fn step(&mut self, cfg: &Config) {
        let total: u32 = KINDS.iter().map(|k| k.1).sum();
        let mut r = self.rng.random_range(0..total);
        let mut kind = Kind::Unary;
        for (k, w) in KINDS {
            if r < w {
                kind = k;
                break;
            }
            r -= w;
        }
        match kind {
            Kind::Unary => self.unary(),
            Kind::Binary => self.binary(),
            Kind::Select => self.select(),
            Kind::Cast => self.cast(),
            Kind::Reduce => self.reduce(),
            Kind::Reshape => self.reshape(),
            Kind::Permute => self.permute(),
            Kind::Broadcast => self.broadcast(),
            Kind::Slice => self.slice(),
            Kind::Concat => self.concat(),
            Kind::Gather => self.gather(),
            Kind::Iota => self.iota(),
            Kind::Const => self.constant(),
            Kind::Matmul => self.matmul(),
            Kind::Conv if cfg.library => self.conv(),
            Kind::Pool if cfg.library => self.pool_op(),
            Kind::Conv | Kind::Pool => self.unary(),
        }
    }

    /// A literal that fits `d`; `nonzero` for integer divisors.
    fn literal(&mut self, d: DType, nonzero: bool) -> Scalar {
        if d == DType::Bool {
            return Scalar::Bool(self.rng.random_bool(0.5));
        }
        if d.is_float() && self.rng.random_bool(0.7) {
            const FLOATS: [f64; 8] = [0.5, 2.0, -1.5, 1e-3, 3.0, -0.25, 0.0, 1.0];
            return Scalar::Float(*FLOATS.choose(&mut self.rng).unwrap_or(&1.0));
        }
        let lo = if d == DType::U8 { 0 } else { -3 };
        loop {
            let v = self.rng.random_range(lo..=5);
            if !nonzero || v != 0 {
                return Scalar::Int(v);
            }
        }
    }

    fn unary(&mut self) {
        let Some(x) = self.pick(|_| true) else { return };
        let d = self.ty(x).dtype;
        let kinds: Vec<Unary> = Unary::ALL.into_iter().filter(|k| k.accepts(d)).collect();
        if let Some(&kind) = kinds.choose(&mut self.rng) {
            self.try_add(Op::Unary { kind }, vec![Operand::Value(x)]);
        }
    }

    fn binary(&mut self) {
        let Some(a) = self.pick(|_| true) else { return };
        let ta = self.ty(a);
        let d = ta.dtype;
        let kinds: Vec<Binary> = Binary::ALL.into_iter().filter(|k| k.accepts(d)).collect();
        let Some(&kind) = kinds.choose(&mut self.rng) else {
            return;
        };
        let int = d.is_int();
        // Integer division and pow by run-time values could divide by zero
        // or overflow: those take a literal right operand.
        let lit_only = int && matches!(kind, Binary::Div | Binary::Rem | Binary::Pow);
        let b = if lit_only {
            let s = if kind == Binary::Pow {
                Scalar::Int(self.rng.random_range(0..=2))
            } else {
                self.literal(d, true)
            };
            Operand::Lit(s)
        } else if self.rng.random_bool(0.3) {
            Operand::Lit(self.literal(d, false))
        } else {
            let partner =
                self.pick(|t| t.dtype == d && broadcast_shapes(&t.shape, &ta.shape).is_some());
            match partner {
                Some(p) => Operand::Value(p),
                None => Operand::Lit(self.literal(d, false)),
            }
        };
        let a = Operand::Value(a);
        // A literal on the left, sometimes (`sub(1.0, %x)`); never a divisor.
        let operands = if matches!(b, Operand::Lit(_)) && !lit_only && self.rng.random_bool(0.3) {
            if int && matches!(kind, Binary::Div | Binary::Rem) { vec![a, b] } else { vec![b, a] }
        } else {
            vec![a, b]
        };
        self.try_add(Op::Binary { kind }, operands);
    }

    fn select(&mut self) {
        let Some(a) = self.pick(|_| true) else { return };
        let ta = self.ty(a);
        let cond = match self
            .pick(|t| t.dtype == DType::Bool && broadcast_shapes(&t.shape, &ta.shape).is_some())
        {
            Some(c) if self.rng.random_bool(0.6) => c,
            _ if ta.dtype.is_numeric() => {
                let lit = self.literal(ta.dtype, false);
                match self.try_add(
                    Op::Binary { kind: Binary::Gt },
                    vec![Operand::Value(a), Operand::Lit(lit)],
                ) {
                    Some(c) => c,
                    None => return,
                }
            }
            _ => return,
        };
        let b = match self
            .pick(|t| t.dtype == ta.dtype && broadcast_shapes(&t.shape, &ta.shape).is_some())
        {
            Some(b) if self.rng.random_bool(0.6) => Operand::Value(b),
            _ => Operand::Lit(self.literal(ta.dtype, false)),
        };
        let (x, y) =
            if self.rng.random_bool(0.5) { (Operand::Value(a), b) } else { (b, Operand::Value(a)) };
        self.try_add(Op::Select, vec![Operand::Value(cond), x, y]);
    }

    fn cast(&mut self) {
        let Some(x) = self.pick(|_| true) else { return };
        let to = self.dtype();
        self.try_add(Op::Cast { to }, vec![Operand::Value(x)]);
    }

    fn reduce(&mut self) {
        let Some(x) = self.pick(|t| t.shape.rank() > 0 && t.dtype != DType::Bool) else {
            return;
        };
        let t = self.ty(x);
        let rank = t.shape.rank();
        let mut kinds: Vec<ReduceKind> = ReduceKind::ALL.to_vec();
        if !t.dtype.is_float() {
            kinds.retain(|k| *k != ReduceKind::Mean);
        }
        let Some(&kind) = kinds.choose(&mut self.rng) else {
            return;
        };
        let mut all: Vec<usize> = (0..rank).collect();
        all.shuffle(&mut self.rng);
        let k = if kind.is_arg() { 1 } else { self.rng.random_range(1..=rank) };
        let mut dims = all[..k].to_vec();
        // Unsorted dims lists are valid too (canonicalize sorts them).
        if self.rng.random_bool(0.7) {
            dims.sort_unstable();
        }
        let keepdim = self.rng.random_bool(0.5);
        self.try_add(Op::Reduce { kind, dims, keepdim }, vec![Operand::Value(x)]);
    }

    fn reshape(&mut self) {
        let Some(x) = self.pick(|_| true) else { return };
        let t = self.ty(x);
        let mut consts = 1u64;
        let mut syms = Vec::new();
        for d in t.shape.dims() {
            match d {
                Dim::Const(c) => consts *= c,
                Dim::Sym(_) => syms.push(d.clone()),
            }
        }
        // Split the constant part into up to three factors.
        let mut factors = Vec::new();
        let mut rest = consts;
        for _ in 0..self.rng.random_range(0..3) {
            let divs: Vec<u64> = (1..=rest).filter(|d| rest % d == 0).collect();
            let Some(&f) = divs.choose(&mut self.rng) else {
                break;
            };
            factors.push(f);
            rest /= f;
        }
        if rest != 1 || (factors.is_empty() && syms.is_empty() && self.rng.random_bool(0.5)) {
            factors.push(rest);
        }
        let mut shape: Vec<ReshapeDim> =
            factors.into_iter().map(|c| ReshapeDim::Dim(Dim::Const(c))).collect();
        for s in syms {
            let at = self.rng.random_range(0..=shape.len());
            shape.insert(at, ReshapeDim::Dim(s));
        }
        if !shape.is_empty() && self.rng.random_bool(0.4) {
            let i = self.rng.random_range(0..shape.len());
            shape[i] = ReshapeDim::Infer;
        }
        self.try_add(Op::Reshape { shape }, vec![Operand::Value(x)]);
    }

    fn permute(&mut self) {
        let Some(x) = self.pick(|t| t.shape.rank() >= 2) else {
            return;
        };
        let mut dims: Vec<usize> = (0..self.ty(x).shape.rank()).collect();
        dims.shuffle(&mut self.rng);
        self.try_add(Op::Permute { dims }, vec![Operand::Value(x)]);
    }

    fn broadcast(&mut self) {
        let Some(x) = self.pick(|t| t.shape.rank() < 4) else {
            return;
        };
        let t = self.ty(x);
        let mut dims: Vec<Dim> = t
            .shape
            .dims()
            .iter()
            .map(|d| {
                if d.is_one() && self.rng.random_bool(0.6) {
                    Dim::Const(self.rng.random_range(2..=4))
                } else {
                    d.clone()
                }
            })
            .collect();
        if self.rng.random_bool(0.5) {
            dims.insert(0, Dim::Const(self.rng.random_range(1..=3)));
        }
        self.try_add(Op::Broadcast { shape: Shape(dims) }, vec![Operand::Value(x)]);
    }

    fn slice(&mut self) {
        let Some(x) = self.pick(|t| t.shape.rank() > 0) else {
            return;
        };
        let t = self.ty(x);
        let (mut starts, mut ends, mut steps) = (Vec::new(), Vec::new(), Vec::new());
        for d in t.shape.dims() {
            match d {
                Dim::Const(0) => {
                    starts.push(0);
                    ends.push(Dim::Const(0));
                    steps.push(1);
                }
                Dim::Const(c) => {
                    let s = self.rng.random_range(0..*c);
                    // An end past the dim is clamped, as in Python.
                    starts.push(s);
                    ends.push(Dim::Const(self.rng.random_range(s + 1..=c + 1)));
                    steps.push(self.rng.random_range(1..=3));
                }
                Dim::Sym(_) => {
                    starts.push(0);
                    ends.push(d.clone());
                    steps.push(1);
                }
            }
        }
        self.try_add(Op::Slice { starts, ends, steps }, vec![Operand::Value(x)]);
    }

    fn concat(&mut self) {
        let Some(a) = self.pick(|t| t.shape.dims().iter().any(|d| d.as_const().is_some())) else {
            return;
        };
        let ta = self.ty(a);
        let axes: Vec<usize> =
            (0..ta.shape.rank()).filter(|&i| ta.shape.dims()[i].as_const().is_some()).collect();
        let Some(&axis) = axes.choose(&mut self.rng) else {
            return;
        };
        let same_but_axis = |t: &Type| {
            t.dtype == ta.dtype
                && t.shape.rank() == ta.shape.rank()
                && t.shape.dims()[axis].as_const().is_some()
                && (0..t.shape.rank()).all(|i| i == axis || t.shape.dims()[i] == ta.shape.dims()[i])
        };
        let mut operands = vec![Operand::Value(a)];
        for _ in 0..self.rng.random_range(1..=2) {
            let b = self.pick(same_but_axis).unwrap_or(a);
            operands.push(Operand::Value(b));
        }
        self.try_add(Op::Concat { axis }, operands);
    }

    /// Indices in range of `size`: a `const` list or an `iota`.
    fn indices(&mut self, size: &Dim) -> Option<NodeId> {
        match size {
            Dim::Const(0) => None,
            Dim::Const(s) => {
                if self.rng.random_bool(0.5) {
                    let k = self.rng.random_range(1..=*s.min(&4));
                    let to = if self.rng.random_bool(0.7) { DType::I64 } else { DType::I32 };
                    self.try_add(Op::Iota { shape: Shape::of(&[k]), dim: 0, to }, vec![])
                } else {
                    let shape: Vec<u64> = if self.rng.random_bool(0.3) {
                        vec![2, 2]
                    } else {
                        vec![self.rng.random_range(1..=4)]
                    };
                    let n: u64 = shape.iter().product();
                    let value =
                        (0..n).map(|_| Scalar::Int(self.rng.random_range(0..*s as i64))).collect();
                    self.add_const(value, Type::new(DType::I64, Shape::of(&shape)))
                }
            }
            Dim::Sym(_) => self.try_add(
                Op::Iota { shape: Shape(vec![size.clone()]), dim: 0, to: DType::I64 },
                vec![],
            ),
        }
    }

    fn gather(&mut self) {
        let Some(x) = self.pick(|t| t.shape.rank() > 0) else {
            return;
        };
        let t = self.ty(x);
        let axis = self.rng.random_range(0..t.shape.rank());
        let Some(idx) = self.indices(&t.shape.dims()[axis].clone()) else {
            return;
        };
        self.try_add(Op::Gather { axis }, vec![Operand::Value(x), Operand::Value(idx)]);
    }

    fn iota(&mut self) {
        let Some(x) = self.pick(|t| t.shape.rank() > 0) else {
            return;
        };
        let shape = self.ty(x).shape;
        let dim = self.rng.random_range(0..shape.rank());
        let to = *[DType::I64, DType::I32, DType::F32, DType::F64]
            .choose(&mut self.rng)
            .unwrap_or(&DType::I64);
        self.try_add(Op::Iota { shape, dim, to }, vec![]);
    }

    fn constant(&mut self) {
        if self.rng.random_bool(0.5) {
            // A splat of an existing value's type (symbolic shapes allowed).
            let Some(x) = self.pick(|_| true) else { return };
            let t = self.ty(x);
            let v = self.literal(t.dtype, false);
            self.add_const(vec![v], t);
        } else {
            let d = self.dtype();
            let shape: Vec<u64> = if self.rng.random_bool(0.5) {
                vec![self.rng.random_range(1..=4)]
            } else {
                vec![2, self.rng.random_range(1..=3)]
            };
            let n: u64 = shape.iter().product();
            let value = (0..n).map(|_| self.literal(d, false)).collect();
            self.add_const(value, Type::new(d, Shape::of(&shape)));
        }
    }

    fn matmul(&mut self) {
        let Some(a) = self.pick(|t| t.dtype.is_numeric() && (1..=3).contains(&t.shape.rank()))
        else {
            return;
        };
        let ta = self.ty(a);
        let rank = ta.shape.rank();
        let k = ta.shape.dims()[rank - 1].clone();
        if rank == 2 && self.rng.random_bool(0.3) {
            // a @ a^T: both operands from the graph.
            if let Some(at) =
                self.try_add(Op::Permute { dims: vec![1, 0] }, vec![Operand::Value(a)])
            {
                self.try_add(Op::Matmul, vec![Operand::Value(a), Operand::Value(at)]);
            }
            return;
        }
        let n = Dim::Const(self.rng.random_range(1..=4));
        let bshape = match self.rng.random_range(0..4) {
            0 => vec![k],
            1 if rank == 3 => vec![ta.shape.dims()[0].clone(), k, n],
            2 if rank >= 2 => vec![Dim::Const(2), Dim::Const(1), k, n],
            _ => vec![k, n],
        };
        let Some(b) = self.param(Type::new(ta.dtype, Shape(bshape))) else {
            return;
        };
        self.try_add(Op::Matmul, vec![Operand::Value(a), Operand::Value(b)]);
    }

    /// A rank-4 float NCHW value with constant C, H, W: one from the graph,
    /// or a fresh parameter.
    fn image(&mut self) -> Option<NodeId> {
        let found = self.pick(|t| {
            t.dtype.is_float()
                && t.shape.rank() == 4
                && t.shape.dims()[1..].iter().all(|d| d.as_const().is_some())
        });
        match found {
            Some(x) if self.rng.random_bool(0.5) => Some(x),
            _ => {
                let dtype = if self.rng.random_bool(0.8) { DType::F32 } else { DType::F64 };
                let c = *[1u64, 2, 4].choose(&mut self.rng)?;
                let shape = Shape::of(&[
                    self.rng.random_range(1..=2),
                    c,
                    self.rng.random_range(3..=6),
                    self.rng.random_range(3..=6),
                ]);
                self.param(Type::new(dtype, shape))
            }
        }
    }

    fn conv(&mut self) {
        let Some(x) = self.image() else { return };
        let tx = self.ty(x);
        let Some(c) = tx.shape.dims()[1].as_const() else {
            return;
        };
        let groups =
            *(1..=c).filter(|g| c % g == 0).collect::<Vec<_>>().choose(&mut self.rng).unwrap_or(&1);
        let oc = groups * self.rng.random_range(1..=2);
        let (kh, kw) = (self.rng.random_range(1..=3), self.rng.random_range(1..=3));
        let Some(w) = self.param(Type::new(tx.dtype, Shape::of(&[oc, c / groups, kh, kw]))) else {
            return;
        };
        let mut operands = vec![Operand::Value(x), Operand::Value(w)];
        if self.rng.random_bool(0.5)
            && let Some(b) = self.param(Type::new(tx.dtype, Shape::of(&[oc])))
        {
            operands.push(Operand::Value(b));
        }
        let attrs = Conv2dAttrs {
            stride: [self.rng.random_range(1..=2), self.rng.random_range(1..=2)],
            padding: [self.rng.random_range(0..=1), self.rng.random_range(0..=1)],
            dilation: [self.rng.random_range(1..=2), 1],
            groups,
            channels_last: false,
        };
        self.try_add(Op::Conv2d(attrs), operands);
    }

    fn pool_op(&mut self) {
        let Some(x) = self.image() else { return };
        let kernel = [self.rng.random_range(1..=3), self.rng.random_range(1..=3)];
        let stride =
            if self.rng.random_bool(0.5) { kernel } else { [1, self.rng.random_range(1..=2)] };
        let padding =
            [self.rng.random_range(0..=kernel[0] / 2), self.rng.random_range(0..=kernel[1] / 2)];
        let avg = self.rng.random_bool(0.5);
        // max_pool2d has no count_include_pad in the text; the parser sets
        // it to true, so the generator must too for round trips to hold.
        let count_include_pad = !avg || self.rng.random_bool(0.5);
        let attrs = PoolAttrs { kernel, stride, padding, count_include_pad, channels_last: false };
        let op = if avg { Op::AvgPool2d(attrs) } else { Op::MaxPool2d(attrs) };
        self.try_add(op, vec![Operand::Value(x)]);
    }

    /// Returns up to four values nothing uses (the newest first), at least
    /// one instruction; rarely a parameter as well.
    fn finish(&mut self) {
        let params = self.f.params().len();
        if self.pool.len() == params {
            // No instruction was accepted: add one that always type-checks.
            let x = self.pool[0];
            let kind = if self.ty(x).dtype == DType::Bool { Unary::Not } else { Unary::Neg };
            if self.try_add(Op::Unary { kind }, vec![Operand::Value(x)]).is_none() {
                self.try_add(Op::Cast { to: DType::F32 }, vec![Operand::Value(x)]);
            }
        }
        let mut results: Vec<NodeId> = self
            .pool
            .iter()
            .rev()
            .copied()
            .filter(|&id| {
                !matches!(self.f.node(id).op, Op::Param { .. }) && self.f.users(id).is_empty()
            })
            .take(4)
            .collect();
        if self.rng.random_bool(0.03) {
            results.push(self.pool[0]);
        }
        self.f.set_results(results);
    }
}
