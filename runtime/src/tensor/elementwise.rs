//! Elementwise ops: every IR unary and binary op, `select` (where), and
//! casts, with PyTorch's type promotion (see `promote.rs`) and numpy
//! broadcasting. Promotion casts are applied (and recorded) as `Op::Cast`
//! before the op, so a trace shows exactly what ran.

use smelt_compiler::ir::{Binary, DType, Op, Scalar, Unary};

use super::promote::{Operand, result_type};
use super::{Result, Tensor, dtype_err, shape_err};
use crate::dispatch::{ArgRef, apply};

/// The right-hand operand of a binary op: a tensor or a Rust literal
/// (`x.add(&y)`, `x.add(2.0)`, `x.mul(3)`).
#[derive(Clone, Copy, Debug)]
pub enum Rhs<'a> {
    /// A tensor.
    Tensor(&'a Tensor),
    /// A literal: it does not raise the dtype within its category.
    Lit(Scalar),
}

impl<'a> From<&'a Tensor> for Rhs<'a> {
    fn from(t: &'a Tensor) -> Self {
        Rhs::Tensor(t)
    }
}

macro_rules! rhs_from {
    ($t:ty, $conv:expr) => {
        impl From<$t> for Rhs<'_> {
            fn from(v: $t) -> Self {
                Rhs::Lit($conv(v))
            }
        }
    };
}
rhs_from!(f64, Scalar::Float);
rhs_from!(f32, |v: f32| Scalar::Float(f64::from(v)));
rhs_from!(i64, Scalar::Int);
rhs_from!(i32, |v: i32| Scalar::Int(i64::from(v)));
rhs_from!(bool, Scalar::Bool);

impl Rhs<'_> {
    fn promo(&self) -> Operand {
        match self {
            Rhs::Tensor(t) => Operand::Tensor(t.dtype(), t.rank()),
            Rhs::Lit(s) => Operand::Lit(*s),
        }
    }
}

/// A literal as a value of dtype `d`, or an error if it does not fit.
fn fit_literal(op: &str, s: Scalar, d: DType) -> Result<Scalar> {
    let out = match (s, d) {
        (Scalar::Bool(b), DType::Bool) => Scalar::Bool(b),
        (s, DType::Bool) => Scalar::Bool(s.as_f64() != 0.0),
        (Scalar::Bool(b), d) if d.is_float() => Scalar::Float(f64::from(u8::from(b))),
        (Scalar::Bool(b), _) => Scalar::Int(i64::from(b)),
        (s, d) if d.is_float() => s,
        (Scalar::Int(i), _) => Scalar::Int(i),
        (Scalar::Float(f), d) => {
            return Err(dtype_err(op, format!("float literal {f} given for a {d} operation")));
        }
    };
    if !out.fits(d) {
        return Err(dtype_err(
            op,
            format!("value {s} cannot be converted to {d} without overflow"),
        ));
    }
    Ok(out)
}

/// The broadcast shape of two shapes, or `None`.
pub(crate) fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = (i + a.len()).checked_sub(rank).map_or(1, |j| a[j]);
        let db = (i + b.len()).checked_sub(rank).map_or(1, |j| b[j]);
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $kind:ident),* $(,)?) => {
        $( $(#[$doc])* pub fn $name(&self) -> Result<Tensor> { self.unary(Unary::$kind) } )*
    };
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident => $kind:ident),* $(,)?) => {
        $( $(#[$doc])*
        pub fn $name<'a>(&self, rhs: impl Into<Rhs<'a>>) -> Result<Tensor> {
            self.binary(Binary::$kind, rhs.into())
        } )*
    };
}

impl Tensor {
    /// This tensor converted to `dtype` (itself when it already is one);
    /// recorded as `Op::Cast`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if self.dtype() == dtype {
            return Ok(self.clone());
        }
        apply(Op::Cast { to: dtype }, &[ArgRef::Tensor(self)])
    }

    /// Applies an IR unary op; integer and bool inputs of float-only ops are
    /// cast to f32 first, and `not` of a non-bool tensor is `x == 0`.
    pub fn unary(&self, kind: Unary) -> Result<Tensor> {
        let d = self.dtype();
        if kind == Unary::Not && d != DType::Bool {
            return self.eq(0);
        }
        if kind.accepts(d) {
            return apply(Op::Unary { kind }, &[ArgRef::Tensor(self)]);
        }
        // Only float-only ops promote integers and bools (as torch.exp does).
        if !d.is_float() && kind.accepts(DType::F32) && !kind.accepts(DType::I64) {
            return self.to_dtype(DType::F32)?.unary(kind);
        }
        Err(dtype_err(
            kind.name(),
            format!("needs {}, got {d}{:?}", kind.requirement(), self.shape()),
        ))
    }

    unary_methods! {
        /// `-x`.
        neg => Neg,
        /// `|x|`.
        abs => Abs,
        /// `e^x`.
        exp => Exp,
        /// `2^x`.
        exp2 => Exp2,
        /// Natural log.
        log => Log,
        /// Base-2 log.
        log2 => Log2,
        /// Square root.
        sqrt => Sqrt,
        /// `1/sqrt(x)`.
        rsqrt => Rsqrt,
        /// `1/x`.
        reciprocal => Recip,
        /// Sine.
        sin => Sin,
        /// Cosine.
        cos => Cos,
        /// Hyperbolic tangent.
        tanh => Tanh,
        /// `1/(1+e^-x)`.
        sigmoid => Sigmoid,
        /// The error function.
        erf => Erf,
        /// Round down.
        floor => Floor,
        /// Round up.
        ceil => Ceil,
        /// Round half to even.
        round => Round,
        /// -1, 0 or 1.
        sign => Sign,
        /// `max(x, 0)`.
        relu => Relu,
        /// Logical not (`x == 0` for non-bool tensors).
        logical_not => Not,
    }

    /// Applies an IR binary op after promoting both operands to their
    /// result type (true division: integer operands divide as f32; `and`/`or`:
    /// operands are compared with 0 first).
    pub fn binary(&self, kind: Binary, rhs: Rhs<'_>) -> Result<Tensor> {
        let name = kind.name();
        let mut dt = result_type(&[Operand::Tensor(self.dtype(), self.rank()), rhs.promo()]);
        if kind == Binary::Div && !dt.is_float() {
            dt = DType::F32;
        }
        if matches!(kind, Binary::And | Binary::Or) {
            dt = DType::Bool;
        }
        if !kind.accepts(dt) {
            return Err(dtype_err(name, format!("needs {}, got {dt}", kind.requirement())));
        }
        let lhs = self.convert(dt)?;
        match rhs {
            Rhs::Tensor(o) => {
                if broadcast(self.shape(), o.shape()).is_none() {
                    return Err(shape_err(
                        name,
                        format!("shapes {:?} and {:?} do not broadcast", self.shape(), o.shape()),
                    ));
                }
                let o = o.convert(dt)?;
                apply(Op::Binary { kind }, &[ArgRef::Tensor(&lhs), ArgRef::Tensor(&o)])
            }
            Rhs::Lit(s) => {
                let s = fit_literal(name, s, dt)?;
                apply(Op::Binary { kind }, &[ArgRef::Tensor(&lhs), ArgRef::Lit(s)])
            }
        }
    }

    /// `to_dtype`, except that and/or convert to bool by comparing with 0.
    fn convert(&self, dt: DType) -> Result<Tensor> {
        if dt == DType::Bool && self.dtype() != DType::Bool {
            return self.ne(0);
        }
        self.to_dtype(dt)
    }

    /// `lit OP self` for a literal on the left (`1 - x`, `1 / x`).
    pub fn binary_lhs_literal(&self, kind: Binary, lit: Scalar) -> Result<Tensor> {
        let name = kind.name();
        let mut dt = result_type(&[Operand::Lit(lit), Operand::Tensor(self.dtype(), self.rank())]);
        if kind == Binary::Div && !dt.is_float() {
            dt = DType::F32;
        }
        if !kind.accepts(dt) {
            return Err(dtype_err(name, format!("needs {}, got {dt}", kind.requirement())));
        }
        let rhs = self.convert(dt)?;
        let s = fit_literal(name, lit, dt)?;
        apply(Op::Binary { kind }, &[ArgRef::Lit(s), ArgRef::Tensor(&rhs)])
    }

    /// `lit - self`.
    pub fn rsub(&self, lit: f64) -> Result<Tensor> {
        self.binary_lhs_literal(Binary::Sub, Scalar::Float(lit))
    }

    /// `lit / self`.
    pub fn rdiv(&self, lit: f64) -> Result<Tensor> {
        self.binary_lhs_literal(Binary::Div, Scalar::Float(lit))
    }

    binary_methods! {
        /// `self + rhs`.
        add => Add,
        /// `self - rhs`.
        sub => Sub,
        /// `self * rhs`.
        mul => Mul,
        /// True division (`torch.div`): integers divide as f32.
        div => Div,
        /// C-style remainder (`torch.fmod`): takes the dividend's sign.
        fmod => Rem,
        /// `self ** rhs`.
        pow => Pow,
        /// Elementwise maximum (NaN propagates).
        maximum => Max,
        /// Elementwise minimum (NaN propagates).
        minimum => Min,
        /// `self == rhs` (bool).
        eq => Eq,
        /// `self != rhs` (bool).
        ne => Ne,
        /// `self < rhs` (bool).
        lt => Lt,
        /// `self <= rhs` (bool).
        le => Le,
        /// `self > rhs` (bool).
        gt => Gt,
        /// `self >= rhs` (bool).
        ge => Ge,
        /// Logical and.
        logical_and => And,
        /// Logical or.
        logical_or => Or,
    }

    /// Integer division truncating toward zero (`torch.div(rounding_mode="trunc")`);
    /// floats divide and truncate.
    pub fn div_trunc<'a>(&self, rhs: impl Into<Rhs<'a>>) -> Result<Tensor> {
        let rhs = rhs.into();
        let dt = result_type(&[Operand::Tensor(self.dtype(), self.rank()), rhs.promo()]);
        if dt.is_float() {
            let q = self.binary(Binary::Div, rhs)?;
            // trunc(q) = sign(q) * floor(|q|)
            return q.sign()?.mul(&q.abs()?.floor()?);
        }
        let lhs = self.to_dtype(dt)?;
        match rhs {
            Rhs::Tensor(o) => {
                let o = o.to_dtype(dt)?;
                apply(Op::Binary { kind: Binary::Div }, &[ArgRef::Tensor(&lhs), ArgRef::Tensor(&o)])
            }
            Rhs::Lit(s) => {
                let s = fit_literal("div", s, dt)?;
                apply(Op::Binary { kind: Binary::Div }, &[ArgRef::Tensor(&lhs), ArgRef::Lit(s)])
            }
        }
    }

    /// Limits values to `[min, max]` (either bound optional; `torch.clamp`).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        let mut y = self.clone();
        if let Some(lo) = min {
            y = y.maximum(lo)?;
        }
        if let Some(hi) = max {
            y = y.minimum(hi)?;
        }
        Ok(y)
    }

    /// `self` where `mask` is true becomes `value` (`masked_fill`).
    pub fn masked_fill<'a>(&self, mask: &Tensor, value: impl Into<Rhs<'a>>) -> Result<Tensor> {
        where_cond(mask, value, self)
    }
}

/// `a` where `cond`, else `b` (`torch.where`), with promotion and broadcasting.
pub fn where_cond<'a, 'b>(
    cond: &Tensor,
    a: impl Into<Rhs<'a>>,
    b: impl Into<Rhs<'b>>,
) -> Result<Tensor> {
    let (a, b) = (a.into(), b.into());
    if cond.dtype() != DType::Bool {
        return Err(dtype_err("where", format!("condition must be bool, got {}", cond.dtype())));
    }
    let mut shape = cond.shape().to_vec();
    for r in [a, b] {
        if let Rhs::Tensor(t) = r {
            shape = broadcast(&shape, t.shape()).ok_or_else(|| {
                shape_err(
                    "where",
                    format!("shapes {:?} and {:?} do not broadcast", shape, t.shape()),
                )
            })?;
        }
    }
    let dt = result_type(&[a.promo(), b.promo()]);
    let conv = |r: Rhs<'_>| -> Result<Option<Tensor>> {
        match r {
            Rhs::Tensor(t) => t.to_dtype(dt).map(Some),
            Rhs::Lit(_) => Ok(None),
        }
    };
    let (ta, tb) = (conv(a)?, conv(b)?);
    fn arg<'t>(r: Rhs<'_>, t: &'t Option<Tensor>, dt: DType) -> Result<ArgRef<'t>> {
        Ok(match (r, t) {
            (_, Some(t)) => ArgRef::Tensor(t),
            (Rhs::Lit(s), None) => ArgRef::Lit(fit_literal("where", s, dt)?),
            (Rhs::Tensor(_), None) => unreachable!("tensors were converted above"),
        })
    }
    let args = [ArgRef::Tensor(cond), arg(a, &ta, dt)?, arg(b, &tb, dt)?];
    if let (ArgRef::Lit(_), ArgRef::Lit(_)) = (args[1], args[2]) {
        // The IR needs one value operand to type literals: broadcast one.
        let full = crate::tensor::Tensor::full(&shape, dt, args[1].lit_value())?
            .to_device(cond.device())?;
        return apply(Op::Select, &[ArgRef::Tensor(cond), ArgRef::Tensor(&full), args[2]]);
    }
    apply(Op::Select, &args)
}

impl ArgRef<'_> {
    /// The literal's value as f64 (0 for tensors).
    fn lit_value(&self) -> f64 {
        match self {
            ArgRef::Lit(s) => s.as_f64(),
            ArgRef::Tensor(_) => 0.0,
        }
    }
}
