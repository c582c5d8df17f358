//! Index-driven lowering of one kernel's nodes to C++ statements.
//!
//! A node is evaluated *at an index* (one C++ expression per dim of its
//! shape): elementwise ops map the index through numpy broadcasting (a
//! size-1 operand dim reads index 0), movement ops transform it (permute
//! reorders, slice scales and shifts, reshape re-linearizes, concat and
//! gather branch), and a parameter loads at the row-major offset. Each
//! (node, index) pair becomes one local variable, emitted once per scope, so
//! a value used twice is computed once.
//!
//! Inside a row template the row reductions are block-cooperative and their
//! result is a per-row variable; [`Lowerer::eval`] hands it out only when
//! the index asks for the current row (string-equal coordinates), otherwise
//! it refuses with [`LowerError`] rather than compute a wrong answer. Any
//! other reduction (and matmul, conv, pools) is an inline sequential loop.

use std::collections::{BTreeSet, HashMap};

use crate::ir::{DType, Dim, Func, NodeId, Op, Operand, ReduceKind, Shape};

use super::snippets;

pub mod conv;
mod library;

/// Why a kernel could not be lowered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot lower {what} in kernel {kernel}")]
pub struct LowerError {
    /// The kernel's name.
    pub kernel: String,
    /// What was not supported, with the op and shapes.
    pub what: String,
}

/// A row reduction computed cooperatively by the block: its per-row variable.
#[derive(Clone, Debug)]
pub struct RowValue {
    /// The C++ variable holding the row's result.
    pub var: String,
    /// The index (in the reduction's result shape) that means "this row".
    pub index: Vec<String>,
}

/// Emits statements for one kernel.
pub struct Lowerer<'a> {
    /// The kernel function.
    pub f: &'a Func,
    /// The kernel's name (for errors and table names).
    pub kernel: String,
    /// Symbols the code uses: they become kernel arguments, in this order.
    pub symbols: BTreeSet<String>,
    /// The statements so far.
    pub lines: Vec<String>,
    /// File-scope tables (multi-element constants).
    pub tables: Vec<String>,
    indent: usize,
    scopes: Vec<HashMap<(NodeId, Vec<String>), String>>,
    counter: usize,
    /// Row reductions done by the block, by node.
    pub rows: HashMap<NodeId, RowValue>,
    /// Flat (vectorized) mode: parameter index → per-thread array read at `[v]`.
    pub flat_params: Option<HashMap<usize, String>>,
    /// With `flat_params`: the one index they stand for (None: every index).
    pub flat_index: Option<Vec<String>>,
    /// `--numerics eager`: every arithmetic result and reduction of a
    /// narrow float dtype is rounded to it (IR.md's per-op rounding, what
    /// the interpreter does) instead of once at the store.
    pub eager: bool,
    tables_made: HashMap<NodeId, String>,
}

/// A C++ identifier for a symbol's size argument.
pub fn symbol_arg(s: &str) -> String {
    let clean: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("S_{clean}")
}

impl<'a> Lowerer<'a> {
    /// A lowerer for kernel function `f` named `kernel`.
    pub fn new(f: &'a Func, kernel: &str) -> Lowerer<'a> {
        Lowerer {
            f,
            kernel: kernel.to_string(),
            symbols: BTreeSet::new(),
            lines: Vec::new(),
            tables: Vec::new(),
            indent: 1,
            scopes: vec![HashMap::new()],
            counter: 0,
            rows: HashMap::new(),
            flat_params: None,
            flat_index: None,
            eager: false,
            tables_made: HashMap::new(),
        }
    }

    /// `v` (a value of dtype `d` in its compute type) rounded to `d` when
    /// numerics are eager and `d` is a narrow float; `v` otherwise.
    pub fn round_eager(&self, d: DType, v: &str) -> String {
        if self.eager && matches!(d, DType::F16 | DType::BF16) {
            snippets::load(d, &snippets::store(d, v))
        } else {
            v.to_string()
        }
    }

    /// An error naming this kernel.
    pub fn error(&self, what: impl Into<String>) -> LowerError {
        LowerError { kernel: self.kernel.clone(), what: what.into() }
    }

    /// Appends one statement at the current indentation.
    pub fn line(&mut self, s: impl AsRef<str>) {
        self.lines.push(format!("{}{}", "  ".repeat(self.indent), s.as_ref()));
    }

    /// Opens a `{` block (with a header such as `for (…)`) and a memo scope.
    pub fn open(&mut self, header: impl AsRef<str>) {
        let h = header.as_ref();
        self.line(if h.is_empty() { "{".to_string() } else { format!("{h} {{") });
        self.indent += 1;
        self.scopes.push(HashMap::new());
    }

    /// Closes the innermost block.
    pub fn close(&mut self) {
        self.scopes.pop();
        self.indent -= 1;
        self.line("}");
    }

    /// A fresh variable name.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    /// A dim as a C++ expression (constants inline, symbols as arguments).
    pub fn dim(&mut self, d: &Dim) -> String {
        match d {
            Dim::Const(c) => format!("{c}LL"),
            Dim::Sym(s) => {
                self.symbols.insert(s.clone());
                symbol_arg(s)
            }
        }
    }

    /// The product of some dims (`1LL` for none).
    pub fn product(&mut self, dims: &[Dim]) -> String {
        let parts: Vec<String> = dims.iter().filter(|d| !d.is_one()).map(|d| self.dim(d)).collect();
        match parts.len() {
            0 => "1LL".into(),
            1 => parts[0].clone(),
            _ => format!("({})", parts.join(" * ")),
        }
    }

    /// Row-major offset of `idx` in `shape` (Horner form, skipping zeros).
    pub fn linearize(&mut self, shape: &Shape, idx: &[String]) -> String {
        let mut acc = String::new();
        for (d, i) in shape.dims().iter().zip(idx) {
            if acc.is_empty() {
                acc = i.clone();
                continue;
            }
            let size = self.dim(d);
            acc = if acc == "0" {
                i.clone()
            } else if d.is_one() {
                acc
            } else if i == "0" {
                format!("({acc}) * {size}")
            } else {
                format!("({acc}) * {size} + {i}")
            };
        }
        if acc.is_empty() { "0".into() } else { acc }
    }

    /// Emits the coordinates of row-major offset `flat` in `shape`; size-1
    /// dims are the literal `0`, so broadcasting keeps strings equal.
    pub fn delinearize(&mut self, shape: &Shape, flat: &str) -> Vec<String> {
        let dims = shape.dims();
        let mut coords = vec!["0".to_string(); dims.len()];
        let live: Vec<usize> = (0..dims.len()).filter(|&i| !dims[i].is_one()).collect();
        if live.len() == 1 {
            coords[live[0]] = flat.to_string();
            return coords;
        }
        let t = self.fresh("t");
        self.line(format!("long long {t} = {flat};"));
        for (k, &i) in live.iter().enumerate().rev() {
            let c = self.fresh("c");
            if k == 0 {
                self.line(format!("const long long {c} = {t};"));
            } else {
                let size = self.dim(&dims[i]);
                self.line(format!("const long long {c} = {t} % {size}; {t} /= {size};"));
            }
            coords[i] = c;
        }
        coords
    }

    /// Makes `var` the value of node `n` at `idx` in the current scope: a
    /// later [`Lowerer::eval`] of `n` there reads it instead of computing it
    /// (the tiled transpose hands out its shared-memory tile this way).
    pub fn bind(&mut self, n: NodeId, idx: &[String], var: &str) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert((n, idx.to_vec()), var.to_string());
        }
    }

    fn memo(&self, key: &(NodeId, Vec<String>)) -> Option<String> {
        self.scopes.iter().rev().find_map(|s| s.get(key).cloned())
    }

    fn define(&mut self, key: (NodeId, Vec<String>), ty: &str, expr: String) -> String {
        let v = self.fresh("v");
        self.line(format!("const {ty} {v} = {expr};"));
        if let Some(s) = self.scopes.last_mut() {
            s.insert(key, v.clone());
        }
        v
    }

    /// Index of an operand of shape `op` read by a result of shape `out` at
    /// `idx` under numpy broadcasting (right-aligned; size-1 dims read 0).
    fn broadcast_index(op: &Shape, out: &Shape, idx: &[String]) -> Vec<String> {
        let skip = out.rank() - op.rank().min(out.rank());
        op.dims()
            .iter()
            .enumerate()
            .map(|(j, d)| if d.is_one() { "0".to_string() } else { idx[skip + j].clone() })
            .collect()
    }

    /// An operand's value at the index of its user's result.
    fn operand(
        &mut self,
        o: &Operand,
        d: DType,
        out: &Shape,
        idx: &[String],
    ) -> Result<String, LowerError> {
        match o {
            Operand::Lit(s) => Ok(snippets::literal(*s, d)),
            Operand::Value(v) => {
                let shape = self.f.ty(*v).shape.clone();
                let i = Self::broadcast_index(&shape, out, idx);
                self.eval(*v, &i)
            }
        }
    }

    /// The dtype of a node's value operands (literals take it).
    fn operand_dtype(&self, n: NodeId) -> DType {
        let node = self.f.node(n);
        let skip = usize::from(matches!(node.op, Op::Select));
        node.operands()[skip..]
            .iter()
            .find_map(|o| o.value())
            .map_or(node.ty.dtype, |v| self.f.ty(v).dtype)
    }

    /// The value of node `n` at `idx` (one expression per dim of its shape),
    /// as a C++ expression of its compute type; emits what it needs.
    pub fn eval(&mut self, n: NodeId, idx: &[String]) -> Result<String, LowerError> {
        let key = (n, idx.to_vec());
        if let Some(v) = self.memo(&key) {
            return Ok(v);
        }
        if let Some(row) = self.rows.get(&n) {
            if row.index == idx {
                return Ok(row.var.clone());
            }
            let (want, got) = (row.index.join(", "), idx.join(", "));
            return Err(self.error(format!(
                "a row reduction read at another row ([{got}] instead of [{want}])"
            )));
        }
        let node = self.f.node(n);
        let ty = node.ty.clone();
        let out_d = ty.dtype;
        let ct = snippets::compute_type(out_d);
        let ops: Vec<Operand> = node.operands().to_vec();
        let expr = match &node.op {
            Op::Param { index, .. } => {
                let here = self.flat_index.as_ref().is_none_or(|at| at.as_slice() == idx);
                if let Some(arr) =
                    self.flat_params.as_ref().and_then(|f| f.get(index)).filter(|_| here)
                {
                    snippets::load(out_d, &format!("{arr}[v]"))
                } else {
                    let off = self.linearize(&ty.shape, idx);
                    snippets::load(out_d, &format!("in{index}[{off}]"))
                }
            }
            Op::Unary { kind } => {
                let x = self.operand(&ops[0], out_d, &ty.shape, idx)?;
                self.round_eager(out_d, &snippets::unary(*kind, out_d, &x))
            }
            Op::Binary { kind } => {
                let d = self.operand_dtype(n);
                let a = self.operand(&ops[0], d, &ty.shape, idx)?;
                let b = self.operand(&ops[1], d, &ty.shape, idx)?;
                self.round_eager(out_d, &snippets::binary(*kind, d, &a, &b))
            }
            Op::Select => {
                let c = self.operand(&ops[0], DType::Bool, &ty.shape, idx)?;
                let a = self.operand(&ops[1], out_d, &ty.shape, idx)?;
                let b = self.operand(&ops[2], out_d, &ty.shape, idx)?;
                format!("({c} ? {a} : {b})")
            }
            Op::Cast { to } => {
                let from = self.operand_dtype(n);
                let x = self.operand(&ops[0], from, &ty.shape, idx)?;
                snippets::cast(from, *to, &x)
            }
            Op::Reduce { kind, dims, keepdim } => {
                return self.inline_reduce(n, *kind, dims, *keepdim, idx);
            }
            Op::Reshape { .. } => {
                let src = self.value(&ops, 0)?;
                let src_shape = self.f.ty(src).shape.clone();
                let i = self.reshape_index(&ty.shape, &src_shape, idx);
                self.eval(src, &i)?
            }
            Op::Permute { dims } => {
                let src = self.value(&ops, 0)?;
                let mut i = vec!["0".to_string(); dims.len()];
                for (r, &d) in dims.iter().enumerate() {
                    i[d] = idx[r].clone();
                }
                self.eval(src, &i)?
            }
            Op::Broadcast { .. } => {
                let src = self.value(&ops, 0)?;
                let src_shape = self.f.ty(src).shape.clone();
                let i = Self::broadcast_index(&src_shape, &ty.shape, idx);
                self.eval(src, &i)?
            }
            Op::Slice { starts, steps, .. } => {
                let src = self.value(&ops, 0)?;
                let i: Vec<String> = idx
                    .iter()
                    .zip(starts.iter().zip(steps))
                    .map(|(x, (&s, &st))| match (s, st) {
                        (0, 1) => x.clone(),
                        (s, 1) => format!("({x} + {s}LL)"),
                        (s, st) => format!("({x} * {st}LL + {s}LL)"),
                    })
                    .collect();
                self.eval(src, &i)?
            }
            Op::Concat { axis } => return self.concat(n, *axis, &ops, idx),
            Op::Gather { axis } => {
                let x = self.value(&ops, 0)?;
                let ind = self.value(&ops, 1)?;
                let irank = self.f.ty(ind).shape.rank();
                let ii = self.eval(ind, &idx[*axis..*axis + irank])?;
                let xs = self.f.ty(x).shape.clone();
                let size = self.dim(&xs.dims()[*axis]);
                // Out-of-range indices (an interpreter error) are clamped: never a wild read.
                let at = self.fresh("g");
                self.line(format!(
                    "const long long {at} = {ii} < 0 ? 0 : ({ii} >= {size} ? {size} - 1 : {ii});"
                ));
                let mut i = idx[..*axis].to_vec();
                i.push(at);
                i.extend(idx[*axis + irank..].iter().cloned());
                self.eval(x, &i)?
            }
            Op::Iota { dim, to, .. } => snippets::cast(DType::I64, *to, &idx[*dim]),
            Op::Const { value } => {
                if value.len() == 1 {
                    snippets::literal(value[0], out_d)
                } else {
                    let table = self.table(n, value, out_d);
                    let off = self.linearize(&ty.shape, idx);
                    snippets::table_load(out_d, &format!("{table}[{off}]"))
                }
            }
            Op::Matmul => return self.matmul(n, &ops, idx),
            Op::Conv2d(a) => return self.conv2d(n, a, &ops, idx),
            Op::MaxPool2d(a) => return self.pool(n, a, true, &ops, idx),
            Op::AvgPool2d(a) => return self.pool(n, a, false, &ops, idx),
        };
        Ok(self.define(key, ct, expr))
    }

    fn value(&self, ops: &[Operand], i: usize) -> Result<NodeId, LowerError> {
        ops.get(i)
            .and_then(|o| o.value())
            .ok_or_else(|| self.error(format!("operand {i} is not a value")))
    }

    /// The source index of a reshape: unit dims dropped and inserted when the
    /// shapes are equal apart from them (keeps row coordinates string-equal),
    /// else re-linearized.
    fn reshape_index(&mut self, out: &Shape, src: &Shape, idx: &[String]) -> Vec<String> {
        let live = |s: &Shape| -> Vec<(usize, Dim)> {
            s.dims().iter().cloned().enumerate().filter(|(_, d)| !d.is_one()).collect()
        };
        let (lo, ls) = (live(out), live(src));
        if lo.len() == ls.len() && lo.iter().zip(&ls).all(|(a, b)| a.1 == b.1) {
            let mut i = vec!["0".to_string(); src.rank()];
            for ((o, _), (s, _)) in lo.iter().zip(&ls) {
                i[*s] = idx[*o].clone();
            }
            return i;
        }
        let flat = self.linearize(out, idx);
        self.delinearize(src, &format!("({flat})"))
    }

    fn table(&mut self, n: NodeId, value: &[crate::ir::Scalar], d: DType) -> String {
        if let Some(t) = self.tables_made.get(&n) {
            return t.clone();
        }
        let name = format!("{}_table{}", self.kernel, self.tables_made.len());
        let items: Vec<String> = value.iter().map(|s| snippets::table_item(*s, d).1).collect();
        let elem = snippets::table_item(crate::ir::Scalar::Int(0), d).0;
        self.tables.push(format!(
            "__device__ const {elem} {name}[{}] = {{{}}};",
            items.len(),
            items.join(", ")
        ));
        self.tables_made.insert(n, name.clone());
        name
    }

    fn concat(
        &mut self,
        n: NodeId,
        axis: usize,
        ops: &[Operand],
        idx: &[String],
    ) -> Result<String, LowerError> {
        let ty = self.f.ty(n).clone();
        let ct = snippets::compute_type(ty.dtype);
        let v = self.fresh("v");
        self.line(format!("{ct} {v};"));
        let mut start = String::from("0LL");
        for (k, o) in ops.iter().enumerate() {
            let src = o.value().ok_or_else(|| self.error("concat of a literal"))?;
            let size = self.f.ty(src).shape.dims()[axis].clone();
            let size = self.dim(&size);
            let end = format!("({start} + {size})");
            let header = if k == 0 {
                format!("if ({} < {end})", idx[axis])
            } else if k + 1 == ops.len() {
                "else".to_string()
            } else {
                format!("else if ({} < {end})", idx[axis])
            };
            self.open(header);
            let mut i = idx.to_vec();
            i[axis] = format!("({} - {start})", idx[axis]);
            let x = self.eval(src, &i)?;
            self.line(format!("{v} = {x};"));
            self.close();
            start = end;
        }
        if let Some(s) = self.scopes.last_mut() {
            s.insert((n, idx.to_vec()), v.clone());
        }
        Ok(v)
    }

    /// A reduction evaluated by one thread: nested loops over the reduced dims.
    fn inline_reduce(
        &mut self,
        n: NodeId,
        kind: ReduceKind,
        dims: &[usize],
        keepdim: bool,
        idx: &[String],
    ) -> Result<String, LowerError> {
        let src = self.value(self.f.node(n).operands(), 0)?;
        let src_shape = self.f.ty(src).shape.clone();
        let d = self.f.ty(src).dtype;
        let ct = snippets::compute_type(d);
        let (init, op) = snippets::reduce_init(kind, d);
        let acc = self.fresh("acc");
        let best = self.fresh("best");
        if kind.is_arg() {
            self.line(format!("{ct} {acc} = {init}; long long {best} = -1;"));
        } else {
            self.line(format!("{ct} {acc} = {init};"));
        }
        // The source index: kept dims from idx, reduced dims from loop variables.
        let mut src_idx = Vec::with_capacity(src_shape.rank());
        let mut kept = 0;
        let mut loops = 0;
        let mut arg_var = String::new();
        for (i, dsz) in src_shape.dims().iter().enumerate() {
            if dims.contains(&i) {
                let r = self.fresh("r");
                let size = self.dim(dsz);
                self.open(format!("for (long long {r} = 0; {r} < {size}; ++{r})"));
                loops += 1;
                arg_var = r.clone();
                src_idx.push(r);
                if keepdim {
                    kept += 1;
                }
            } else {
                src_idx.push(idx[kept].clone());
                kept += 1;
            }
        }
        let x = self.eval(src, &src_idx)?;
        if kind.is_arg() {
            let is_max = kind == ReduceKind::Argmax;
            self.line(format!(
                "if (smelt_arg_better({is_max}, {acc}, {best}, {x}, {arg_var})) {{ {acc} = {x}; {best} = {arg_var}; }}"
            ));
        } else {
            self.line(format!("{acc} = {op}()({acc}, {x});"));
        }
        for _ in 0..loops {
            self.close();
        }
        let result = match kind {
            ReduceKind::Argmax | ReduceKind::Argmin => format!("({best} < 0 ? 0LL : {best})"),
            ReduceKind::Mean => {
                let count: Vec<Dim> = dims.iter().map(|&i| src_shape.dims()[i].clone()).collect();
                let count = self.product(&count);
                format!("({acc} / ({ct}){count})")
            }
            _ => acc,
        };
        let out_d = self.f.ty(n).dtype;
        let result = self.round_eager(out_d, &result);
        Ok(self.define((n, idx.to_vec()), snippets::compute_type(out_d), result))
    }
}
