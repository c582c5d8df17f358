//! The reference interpreter: the oracle every backend is tested against.
//!
//! It evaluates one op at a time on [`HostTensor`]s, computing every float op
//! in f64 and rounding the result to the value's dtype after each op
//! ([`crate::numerics::round_to`]); integers use wrapping i64 arithmetic and
//! are wrapped to their dtype's width. It is meant to be obviously correct,
//! not fast: no fusion, no views, nothing freed early.
//!
//! Invariants: every tensor it returns satisfies [`HostTensor`]'s invariant
//! and has exactly the node's declared type (symbols resolved); no tensor of
//! more than [`MAX_ELEMENTS`] elements is ever allocated; nothing reachable
//! from user input panics (bad inputs, bad graphs and run-time faults such as
//! an integer division by zero are [`InterpError`]s).
//!
//! Files: this one holds the API (symbol binding, `run`, the op dispatch);
//! `elementwise.rs` unary/binary/select/cast, `reduce.rs` reductions,
//! `movement.rs` movement and constant ops, `library.rs` matmul/conv/pools,
//! and `index.rs` the stride arithmetic they share.

mod elementwise;
mod index;
mod library;
mod movement;
mod reduce;

use std::borrow::Cow;
use std::collections::HashMap;

use crate::ir::{Dim, Func, NodeId, Op, Operand, Scalar, Shape, Type, VerifyError, verify};
use crate::tensor::{Data, HostTensor};

/// Symbol name → its size for one run.
pub type Bindings = HashMap<String, u64>;

/// The most elements the interpreter will hold in one tensor (2^27: 1 GiB of
/// f64). Larger tensors are refused before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 27;

/// One operand of an op: a tensor, or an inline literal (binary ops and
/// `select` only), which takes the dtype of the other operands.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// A value.
    Tensor(&'a HostTensor),
    /// An inline scalar literal.
    Lit(Scalar),
}

/// Why the interpreter could not run a function or an op. Each message is one
/// line naming the op or parameter and the shapes or values involved.
#[derive(Debug, thiserror::Error)]
pub enum InterpError {
    /// The function does not verify (its types or structure are broken).
    #[error("the function does not verify: {0}")]
    Verify(#[from] VerifyError),
    /// Wrong number of inputs.
    #[error("@{func} takes {expected} input(s), got {got}")]
    InputCount {
        /// The function.
        func: String,
        /// Parameters in the signature.
        expected: usize,
        /// Inputs given.
        got: usize,
    },
    /// An input's dtype differs from its parameter's.
    #[error("input %{param}: the signature says {expected}, the input is {got}")]
    InputDtype {
        /// The parameter.
        param: String,
        /// Declared dtype.
        expected: crate::ir::DType,
        /// The input's dtype.
        got: crate::ir::DType,
    },
    /// An input's rank or constant dim differs from its parameter's.
    #[error("input %{param}: the signature says {expected}, the input has shape {got:?}")]
    InputShape {
        /// The parameter.
        param: String,
        /// Declared shape.
        expected: Shape,
        /// The input's shape.
        got: Vec<usize>,
    },
    /// A tensor whose data does not match its dtype or shape.
    #[error("{what}: {message}")]
    BadTensor {
        /// The input or op holding it.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// One symbol bound to two different sizes.
    #[error("symbol {sym} is {first} from {first_from} but {second} from {second_from}")]
    SymbolConflict {
        /// The symbol.
        sym: String,
        /// The size it was bound to first.
        first: u64,
        /// Where that came from (`%x dim 0`).
        first_from: String,
        /// The disagreeing size.
        second: u64,
        /// Where that came from.
        second_from: String,
    },
    /// A symbol no input shape (nor the explicit bindings) gives a size to.
    #[error("symbol {sym} is not bound (no input has it; pass its size explicitly)")]
    UnboundSymbol {
        /// The symbol.
        sym: String,
    },
    /// A tensor over [`MAX_ELEMENTS`] elements (or whose size overflows).
    #[error(
        "{what}: shape {shape:?} is too large for the interpreter (limit {MAX_ELEMENTS} elements)"
    )]
    TooLarge {
        /// The op or input.
        what: String,
        /// The shape asked for.
        shape: Vec<u64>,
    },
    /// An integer division or remainder by zero.
    #[error("{op}: integer division by zero")]
    DivisionByZero {
        /// `div` or `rem`.
        op: &'static str,
    },
    /// An integer `pow` with a negative exponent.
    #[error("{op}: integer power with negative exponent {exponent}")]
    NegativeExponent {
        /// `pow`.
        op: &'static str,
        /// The exponent.
        exponent: i64,
    },
    /// A `gather` index outside its dim.
    #[error("{op}: index {index} is out of range for a dim of size {size}")]
    IndexOutOfRange {
        /// `gather`.
        op: &'static str,
        /// The index.
        index: i64,
        /// The size of the indexed dim.
        size: usize,
    },
    /// `max`/`min`/`argmax`/`argmin` over zero elements (no identity).
    #[error("{op}: reduces an empty dim of shape {shape:?} over dims {dims:?} (no identity)")]
    EmptyReduction {
        /// The reduction.
        op: &'static str,
        /// The operand's shape.
        shape: Vec<usize>,
        /// The reduced dims.
        dims: Vec<usize>,
    },
    /// Operands or attributes the op cannot take (a graph that did not verify,
    /// or a direct [`eval_op`] call with mismatched arguments).
    #[error("{op}: {message}")]
    BadOperands {
        /// The op.
        op: &'static str,
        /// What is wrong, with the shapes and dtypes.
        message: String,
    },
    /// An error while evaluating one node of a function.
    #[error("{node}: {source}")]
    AtNode {
        /// The node as printed (`%y`), with its line:col if parsed.
        node: String,
        /// The op's error.
        source: Box<InterpError>,
    },
}

impl InterpError {
    /// The error without the [`InterpError::AtNode`] wrappers.
    pub fn root(&self) -> &InterpError {
        match self {
            InterpError::AtNode { source, .. } => source.root(),
            e => e,
        }
    }
}

type Result<T> = std::result::Result<T, InterpError>;

/// Shorthand for [`InterpError::BadOperands`].
pub(crate) fn bad(op: &'static str, message: impl Into<String>) -> InterpError {
    InterpError::BadOperands { op, message: message.into() }
}

/// A shape with its symbols replaced by their sizes.
pub fn concrete_shape(shape: &Shape, syms: &Bindings) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(shape.rank());
    for d in shape.dims() {
        out.push(concrete_dim(d, syms)?);
    }
    Ok(out)
}

/// One dim's size.
pub(crate) fn concrete_dim(d: &Dim, syms: &Bindings) -> Result<usize> {
    let size = match d {
        Dim::Const(c) => *c,
        Dim::Sym(s) => *syms.get(s).ok_or_else(|| InterpError::UnboundSymbol { sym: s.clone() })?,
    };
    usize::try_from(size)
        .map_err(|_| InterpError::TooLarge { what: format!("dim {d}"), shape: vec![size] })
}

/// Refuses shapes over [`MAX_ELEMENTS`] elements (overflow included).
pub(crate) fn check_size(what: &str, shape: &[usize]) -> Result<()> {
    if shape.contains(&0) {
        return Ok(()); // no elements, however large the other dims
    }
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n {
        Some(n) if n <= MAX_ELEMENTS => Ok(()),
        _ => Err(InterpError::TooLarge {
            what: what.to_string(),
            shape: shape.iter().map(|&d| d as u64).collect(),
        }),
    }
}

/// Checks a tensor's own invariant (data family and length), which a caller
/// building tensors by hand could have broken.
pub(crate) fn check_tensor(what: &str, t: &HostTensor) -> Result<()> {
    let family_ok = match &t.data {
        Data::Float(_) => t.dtype.is_float(),
        Data::Int(_) => t.dtype.is_int(),
        Data::Bool(_) => t.dtype == crate::ir::DType::Bool,
    };
    let n = t.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if !family_ok || n != Some(t.data.len()) {
        return Err(InterpError::BadTensor {
            what: what.to_string(),
            message: format!(
                "holds {} elements of the wrong kind or count for {}{:?}",
                t.data.len(),
                t.dtype,
                t.shape
            ),
        });
    }
    Ok(())
}

/// Binds every symbol of the signature from the inputs' shapes, plus
/// `extra` (for symbols no input carries), and checks the inputs against the
/// signature: their count, dtypes, ranks and constant dims. A symbol is bound
/// by its first occurrence; every other occurrence must agree.
pub fn bind_symbols(func: &Func, inputs: &[HostTensor], extra: &Bindings) -> Result<Bindings> {
    let params = func.params();
    if inputs.len() != params.len() {
        return Err(InterpError::InputCount {
            func: func.name.clone(),
            expected: params.len(),
            got: inputs.len(),
        });
    }
    let mut syms = Bindings::new();
    let mut from: HashMap<String, String> = HashMap::new();
    let mut bind = |sym: &str, size: u64, source: String| -> Result<()> {
        match syms.get(sym) {
            Some(&first) if first != size => Err(InterpError::SymbolConflict {
                sym: sym.to_string(),
                first,
                first_from: from.get(sym).cloned().unwrap_or_default(),
                second: size,
                second_from: source,
            }),
            Some(_) => Ok(()),
            None => {
                syms.insert(sym.to_string(), size);
                from.insert(sym.to_string(), source);
                Ok(())
            }
        }
    };
    for (&p, t) in params.iter().zip(inputs) {
        let node = func.node(p);
        let name = node.name.clone().unwrap_or_else(|| format!("arg{}", p.index()));
        check_tensor(&format!("input %{name}"), t)?;
        if t.dtype != node.ty.dtype {
            return Err(InterpError::InputDtype {
                param: name,
                expected: node.ty.dtype,
                got: t.dtype,
            });
        }
        let shape_err = || InterpError::InputShape {
            param: name.clone(),
            expected: node.ty.shape.clone(),
            got: t.shape.clone(),
        };
        if t.shape.len() != node.ty.shape.rank() {
            return Err(shape_err());
        }
        for (i, (d, &size)) in node.ty.shape.dims().iter().zip(&t.shape).enumerate() {
            match d {
                Dim::Const(c) if *c != size as u64 => return Err(shape_err()),
                Dim::Const(_) => {}
                Dim::Sym(s) => bind(s, size as u64, format!("%{name} dim {i}"))?,
            }
        }
    }
    // Sorted, so that a conflict is reported the same way every run.
    let mut explicit: Vec<(&String, &u64)> = extra.iter().collect();
    explicit.sort();
    for (sym, &size) in explicit {
        bind(sym, size, "the explicit bindings".to_string())?;
    }
    Ok(syms)
}

/// Runs `func` on `inputs` (one per parameter, in order, each of its
/// parameter's dtype; the caller converts, e.g. f32 data for a bf16
/// parameter). `extra` binds symbols no input shape gives. Returns the
/// results in `return` order. Layouts on parameters are ignored: values are
/// logical.
pub fn run(func: &Func, inputs: &[HostTensor], extra: &Bindings) -> Result<Vec<HostTensor>> {
    verify(func)?;
    let syms = bind_symbols(func, inputs, extra)?;
    let names = func.printed_names(true);
    let at = |id: NodeId| {
        let node = func.node(id);
        let name = names.get(&id).cloned().unwrap_or_else(|| id.index().to_string());
        let op = node.op.name();
        move |e: InterpError| {
            let node = match node.span {
                Some(s) => format!("%{name} = {op} at {s}"),
                None => format!("%{name} = {op}"),
            };
            InterpError::AtNode { node, source: Box::new(e) }
        }
    };
    let order = func.program_order();
    // Every shape is resolved and sized before anything is computed, so that
    // an unbound symbol or an oversized tensor fails fast and allocates nothing.
    for &id in func.params().iter().chain(&order) {
        let shape = concrete_shape(&func.node(id).ty.shape, &syms).map_err(at(id))?;
        check_size(func.node(id).op.name(), &shape).map_err(at(id))?;
    }
    let mut values: HashMap<NodeId, Cow<'_, HostTensor>> = HashMap::new();
    for (&p, t) in func.params().iter().zip(inputs) {
        values.insert(p, Cow::Borrowed(t));
    }
    for id in order {
        let node = func.node(id);
        let result = {
            let mut args = Vec::with_capacity(node.operands().len());
            for o in node.operands() {
                args.push(match o {
                    Operand::Value(v) => match values.get(v) {
                        Some(t) => Arg::Tensor(t.as_ref()),
                        None => {
                            return Err(at(id)(bad(node.op.name(), "an operand was not computed")));
                        }
                    },
                    Operand::Lit(s) => Arg::Lit(*s),
                });
            }
            eval_op(&node.op, &args, &node.ty, &syms).map_err(at(id))?
        };
        values.insert(id, Cow::Owned(result));
    }
    func.results()
        .iter()
        .map(|r| match values.get(r) {
            Some(t) => Ok(t.as_ref().clone()),
            None => Err(bad("return", format!("result %{} was not computed", r.index()))),
        })
        .collect()
}

/// The tensor operand `i` (literals are refused earlier for ops that take none).
fn tensor<'a>(op: &'static str, args: &[Arg<'a>], i: usize) -> Result<&'a HostTensor> {
    match args.get(i) {
        Some(Arg::Tensor(t)) => Ok(t),
        Some(Arg::Lit(s)) => Err(bad(op, format!("operand {i} must be a tensor, got literal {s}"))),
        None => Err(bad(op, format!("operand {i} is missing"))),
    }
}

/// `permute` of a host tensor (the CPU backend lays `{nhwc}` inputs out with it).
pub(crate) fn permute_host(t: &HostTensor, dims: &[usize]) -> Result<HostTensor> {
    movement::permute(t, dims)
}

/// `permute` dims from channels-last `[N, H, W, C]` to NCHW.
const TO_NCHW: [usize; 4] = [0, 3, 1, 2];
/// `permute` dims from NCHW to channels-last.
const TO_NHWC: [usize; 4] = [0, 2, 3, 1];

/// Evaluates one op. `out` is the node's IR type; its symbols are resolved
/// with `syms`, it sizes the ops whose shape comes from attributes
/// (`reshape`, `broadcast`, `iota`, `const`), and every result is checked
/// against it.
pub fn eval_op(op: &Op, args: &[Arg<'_>], out: &Type, syms: &Bindings) -> Result<HostTensor> {
    let name = op.name();
    let info = op.info();
    if !info.arity.allows(args.len()) {
        return Err(bad(name, format!("takes {} operand(s), got {}", info.arity, args.len())));
    }
    for (i, a) in args.iter().enumerate() {
        match a {
            Arg::Tensor(t) => check_tensor(&format!("{name} operand {i}"), t)?,
            Arg::Lit(s) if !op.takes_literals() => {
                return Err(bad(name, format!("operand {i} must be a tensor, got literal {s}")));
            }
            Arg::Lit(_) => {}
        }
    }
    let shape = concrete_shape(&out.shape, syms)?;
    check_size(name, &shape)?;
    let t = |i| tensor(name, args, i);
    let result = match op {
        Op::Param { .. } => {
            return Err(bad(name, "a parameter is not evaluated; `run` binds it to its input"));
        }
        Op::Unary { kind } => elementwise::unary(*kind, t(0)?)?,
        Op::Binary { kind } => elementwise::binary(*kind, &args[0], &args[1])?,
        Op::Select => elementwise::select(&args[0], &args[1], &args[2])?,
        Op::Cast { to } => elementwise::cast(t(0)?, *to),
        Op::Reduce { kind, dims, keepdim } => reduce::reduce(*kind, dims, *keepdim, t(0)?)?,
        Op::Reshape { .. } => movement::reshape(t(0)?, &shape)?,
        Op::Permute { dims } => movement::permute(t(0)?, dims)?,
        Op::Broadcast { .. } => movement::broadcast(t(0)?, &shape)?,
        Op::Slice { starts, ends, steps } => {
            let ends = ends.iter().map(|e| concrete_dim(e, syms)).collect::<Result<Vec<_>>>()?;
            movement::slice(t(0)?, starts, &ends, steps)?
        }
        Op::Concat { axis } => {
            let parts = (0..args.len()).map(t).collect::<Result<Vec<_>>>()?;
            movement::concat(&parts, *axis)?
        }
        Op::Gather { axis } => movement::gather(t(0)?, t(1)?, *axis)?,
        Op::Iota { dim, to, .. } => movement::iota(&shape, *dim, *to)?,
        Op::Const { value } => movement::constant(value, out.dtype, &shape)?,
        Op::Matmul => library::matmul(t(0)?, t(1)?)?,
        // Channels-last conv/pool: the NCHW definition between two permutes,
        // which is obviously right and all an oracle needs.
        Op::Conv2d(a) if a.channels_last => {
            let bias = if args.len() > 2 { Some(t(2)?) } else { None };
            let (x, w) = (movement::permute(t(0)?, &TO_NCHW)?, movement::permute(t(1)?, &TO_NCHW)?);
            let plain = crate::ir::Conv2dAttrs { channels_last: false, ..a.clone() };
            movement::permute(&library::conv2d(&x, &w, bias, &plain)?, &TO_NHWC)?
        }
        Op::MaxPool2d(a) | Op::AvgPool2d(a) if a.channels_last => {
            let x = movement::permute(t(0)?, &TO_NCHW)?;
            let plain = crate::ir::PoolAttrs { channels_last: false, ..a.clone() };
            let y = if matches!(op, Op::MaxPool2d(_)) {
                library::max_pool2d(&x, &plain)?
            } else {
                library::avg_pool2d(&x, &plain)?
            };
            movement::permute(&y, &TO_NHWC)?
        }
        Op::Conv2d(a) => {
            let bias = if args.len() > 2 { Some(t(2)?) } else { None };
            library::conv2d(t(0)?, t(1)?, bias, a)?
        }
        Op::MaxPool2d(a) => library::max_pool2d(t(0)?, a)?,
        Op::AvgPool2d(a) => library::avg_pool2d(t(0)?, a)?,
    };
    if result.dtype != out.dtype || result.shape != shape {
        return Err(bad(
            name,
            format!(
                "computed {}{:?} but the node's type is {out} = {}{shape:?}",
                result.dtype, result.shape, out.dtype
            ),
        ));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limit_is_inclusive_and_overflow_safe() {
        assert!(check_size("x", &[MAX_ELEMENTS]).is_ok());
        assert!(check_size("x", &[MAX_ELEMENTS / 2, 2]).is_ok());
        assert!(check_size("x", &[MAX_ELEMENTS + 1]).is_err());
        assert!(check_size("x", &[usize::MAX, 2]).is_err());
        assert!(check_size("x", &[usize::MAX, 2, 0]).is_ok());
        assert!(check_size("x", &[0, 5]).is_ok());
    }
}
