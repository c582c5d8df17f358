//! Value types: element dtypes, dims that are constants or symbols, shapes,
//! and the memory layouts a parameter may declare.
//!
//! Invariants: a `Dim::Sym` names a size fixed for one run of a function (the
//! same symbol is the same size everywhere in it); a `Shape` never holds a
//! negative size (the `-1` of `reshape` lives in [`ReshapeDim`], not here).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An element type. Floats are computed in f64 by the interpreter and rounded
/// to their dtype after each op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// IEEE binary64.
    F64,
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16: the top half of an f32.
    BF16,
    /// Signed 64-bit integer.
    I64,
    /// Signed 32-bit integer.
    I32,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 8-bit integer.
    U8,
    /// Boolean (one byte in memory).
    Bool,
}

impl DType {
    /// Every dtype, in the order IR.md lists them.
    pub const ALL: [DType; 9] = [
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::I8,
        DType::U8,
        DType::Bool,
    ];

    /// The name used in the text format (`f32`, `bf16`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::Bool => "bool",
        }
    }

    /// Parses a dtype name of the text format.
    pub fn from_name(s: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == s)
    }

    /// True for f64, f32, f16 and bf16.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F64 | DType::F32 | DType::F16 | DType::BF16)
    }

    /// True for the integer dtypes (not bool).
    pub fn is_int(self) -> bool {
        matches!(self, DType::I64 | DType::I32 | DType::I8 | DType::U8)
    }

    /// True for every dtype arithmetic is defined on (floats and integers).
    pub fn is_numeric(self) -> bool {
        self.is_float() || self.is_int()
    }

    /// Size of one element in bytes.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One dimension of a shape: a constant size or a symbol bound at run time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A size known when the function is compiled.
    Const(u64),
    /// A size known only when the function runs (`n`, `seq`).
    Sym(String),
}

impl Dim {
    /// A symbolic dim.
    pub fn sym(name: &str) -> Dim {
        Dim::Sym(name.to_string())
    }

    /// The constant size, if this dim is constant.
    pub fn as_const(&self) -> Option<u64> {
        match self {
            Dim::Const(c) => Some(*c),
            Dim::Sym(_) => None,
        }
    }

    /// True for the constant 1 (the dim numpy broadcasting stretches).
    pub fn is_one(&self) -> bool {
        matches!(self, Dim::Const(1))
    }
}

impl From<u64> for Dim {
    fn from(c: u64) -> Dim {
        Dim::Const(c)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Const(c) => write!(f, "{c}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// A list of dims; rank 0 is a scalar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// A shape of constant dims.
    pub fn of(dims: &[u64]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::Const(d)).collect())
    }

    /// The rank-0 shape.
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    /// Number of dims.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The dims.
    pub fn dims(&self) -> &[Dim] {
        &self.0
    }

    /// The constant sizes, or `None` if any dim is symbolic.
    pub fn as_consts(&self) -> Option<Vec<u64>> {
        self.0.iter().map(Dim::as_const).collect()
    }

    /// True if no dim is symbolic.
    pub fn is_static(&self) -> bool {
        self.0.iter().all(|d| d.as_const().is_some())
    }

    /// The element count as a symbolic product.
    pub fn numel(&self) -> Monomial {
        let mut m = Monomial::one();
        for d in &self.0 {
            m = m.mul_dim(d);
        }
        m
    }

    /// The symbols this shape mentions, in order of first appearance.
    pub fn symbols(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for d in &self.0 {
            if let Dim::Sym(s) = d
                && !out.contains(&s.as_str())
            {
                out.push(s);
            }
        }
        out
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// Numpy broadcasting of two shapes (aligned at the right; a constant 1
/// stretches). Two different symbols, or a symbol against a constant other
/// than 1, do not broadcast: their sizes are not known to agree.
pub fn broadcast_shapes(a: &Shape, b: &Shape) -> Option<Shape> {
    let rank = a.rank().max(b.rank());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = (i + a.rank()).checked_sub(rank).map(|j| &a.0[j]);
        let db = (i + b.rank()).checked_sub(rank).map(|j| &b.0[j]);
        let d = match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(x), Some(y)) if x.is_one() => y.clone(),
            (Some(x), Some(y)) if y.is_one() => x.clone(),
            _ => return None,
        };
        out.push(d);
    }
    Some(Shape(out))
}

/// True if `from` broadcasts to exactly `to` (numpy rules, one direction).
pub fn broadcasts_to(from: &Shape, to: &Shape) -> bool {
    if from.rank() > to.rank() {
        return false;
    }
    let off = to.rank() - from.rank();
    from.0.iter().zip(&to.0[off..]).all(|(f, t)| f == t || f.is_one())
}

/// A product `coeff * s1 * s2 * …` of a constant and symbols: the element
/// count of a symbolic shape. Used to check `reshape` and infer its `-1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Monomial {
    /// The constant factor.
    pub coeff: u64,
    /// The symbolic factors, sorted (a symbol may repeat).
    pub syms: Vec<String>,
}

impl Monomial {
    /// The product 1.
    pub fn one() -> Monomial {
        Monomial { coeff: 1, syms: Vec::new() }
    }

    /// This product times one dim (saturating on overflow, which no real shape reaches).
    pub fn mul_dim(mut self, d: &Dim) -> Monomial {
        match d {
            Dim::Const(c) => self.coeff = self.coeff.saturating_mul(*c),
            Dim::Sym(s) => {
                let at = self.syms.partition_point(|x| x < s);
                self.syms.insert(at, s.clone());
            }
        }
        self
    }

    /// `self / other` when it is exact and expressible as one dim.
    pub fn div_to_dim(&self, other: &Monomial) -> Option<Dim> {
        if other.coeff == 0 || self.coeff % other.coeff != 0 {
            return None;
        }
        let coeff = self.coeff / other.coeff;
        let mut rest = self.syms.clone();
        for s in &other.syms {
            let at = rest.iter().position(|x| x == s)?;
            rest.remove(at);
        }
        match (coeff, rest.len()) {
            (c, 0) => Some(Dim::Const(c)),
            (1, 1) => Some(Dim::Sym(rest.remove(0))),
            _ => None,
        }
    }
}

impl fmt::Display for Monomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if self.coeff != 1 || self.syms.is_empty() {
            parts.push(self.coeff.to_string());
        }
        parts.extend(self.syms.iter().cloned());
        f.write_str(&parts.join("*"))
    }
}

/// The type of a value: a dtype and a shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Type {
    /// Element type.
    pub dtype: DType,
    /// Logical shape.
    pub shape: Shape,
}

impl Type {
    /// A type from a dtype and a shape.
    pub fn new(dtype: DType, shape: Shape) -> Type {
        Type { dtype, shape }
    }

    /// The rank-0 type of a dtype.
    pub fn scalar(dtype: DType) -> Type {
        Type { dtype, shape: Shape::scalar() }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)
    }
}

/// Where a parameter's elements live in memory. Values inside a function are
/// logical; only parameters declare a layout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Contiguous, last dim fastest (the default; printed as nothing).
    #[default]
    RowMajor,
    /// Channels-last for a rank-4 NCHW logical shape: memory order N, H, W, C.
    Nhwc,
    /// Explicit element strides, one per dim.
    Strides(Vec<i64>),
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layout::RowMajor => Ok(()),
            Layout::Nhwc => f.write_str("{nhwc}"),
            Layout::Strides(s) => {
                let parts: Vec<String> = s.iter().map(i64::to_string).collect();
                write!(f, "{{strides=[{}]}}", parts.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy_and_refuses_unknown_sizes() {
        let a = Shape(vec![Dim::sym("n"), Dim::Const(1)]);
        let b = Shape::of(&[1024]);
        assert_eq!(broadcast_shapes(&a, &b), Some(Shape(vec![Dim::sym("n"), Dim::Const(1024)])));
        assert_eq!(broadcast_shapes(&Shape(vec![Dim::sym("n")]), &Shape::of(&[4])), None);
        assert_eq!(broadcast_shapes(&Shape::of(&[3]), &Shape::of(&[4])), None);
        assert!(broadcasts_to(&Shape::of(&[1024]), &a.clone().with_last(1024)));
    }

    impl Shape {
        fn with_last(mut self, d: u64) -> Shape {
            let n = self.0.len();
            self.0[n - 1] = Dim::Const(d);
            self
        }
    }

    #[test]
    fn monomial_division_infers_reshape_dims() {
        let n = Shape(vec![Dim::sym("n"), Dim::Const(16), Dim::Const(64)]).numel();
        let known = Shape(vec![Dim::sym("n")]).numel();
        assert_eq!(n.div_to_dim(&known), Some(Dim::Const(1024)));
        assert_eq!(n.div_to_dim(&Shape::of(&[1024]).numel()), Some(Dim::sym("n")));
        assert_eq!(n.div_to_dim(&Shape::of(&[3]).numel()), None);
        assert_eq!(n.to_string(), "1024*n");
    }
}
