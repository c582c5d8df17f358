//! The ONE table of ops: every op of IR.md v0, its attributes, its class,
//! and its type rule (dtype and shape of the result from its operands).
//!
//! Fusion rules, the printer, the parser and the interpreter all read this
//! table; adding an op means adding a variant here and an arm to each of
//! their `match`es (the compiler lists them). A new primitive needs a reason
//! written next to it: composites (softmax, gelu, …) are not ops.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::types::{DType, Dim, Shape, Type, broadcast_shapes, broadcasts_to};

/// Elementwise ops of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // the names are the documentation; see IR.md
pub enum Unary {
    Neg,
    Abs,
    Exp,
    Exp2,
    Log,
    Log2,
    Sqrt,
    Rsqrt,
    Recip,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Erf,
    Floor,
    Ceil,
    /// Half to even.
    Round,
    Sign,
    Relu,
    /// Logical not (bool only).
    Not,
}

impl Unary {
    /// Every unary op.
    pub const ALL: [Unary; 20] = [
        Unary::Neg,
        Unary::Abs,
        Unary::Exp,
        Unary::Exp2,
        Unary::Log,
        Unary::Log2,
        Unary::Sqrt,
        Unary::Rsqrt,
        Unary::Recip,
        Unary::Sin,
        Unary::Cos,
        Unary::Tanh,
        Unary::Sigmoid,
        Unary::Erf,
        Unary::Floor,
        Unary::Ceil,
        Unary::Round,
        Unary::Sign,
        Unary::Relu,
        Unary::Not,
    ];

    /// The op's name in the text format.
    pub fn name(self) -> &'static str {
        match self {
            Unary::Neg => "neg",
            Unary::Abs => "abs",
            Unary::Exp => "exp",
            Unary::Exp2 => "exp2",
            Unary::Log => "log",
            Unary::Log2 => "log2",
            Unary::Sqrt => "sqrt",
            Unary::Rsqrt => "rsqrt",
            Unary::Recip => "recip",
            Unary::Sin => "sin",
            Unary::Cos => "cos",
            Unary::Tanh => "tanh",
            Unary::Sigmoid => "sigmoid",
            Unary::Erf => "erf",
            Unary::Floor => "floor",
            Unary::Ceil => "ceil",
            Unary::Round => "round",
            Unary::Sign => "sign",
            Unary::Relu => "relu",
            Unary::Not => "not",
        }
    }

    /// Which dtypes the op accepts (the result has the operand's dtype).
    pub fn accepts(self, d: DType) -> bool {
        match self {
            Unary::Not => d == DType::Bool,
            Unary::Neg | Unary::Abs | Unary::Sign | Unary::Relu => d.is_numeric(),
            // Rounding is the identity on integers; allowing it saves frontends a case.
            Unary::Floor | Unary::Ceil | Unary::Round => d.is_numeric(),
            _ => d.is_float(),
        }
    }

    /// What [`Unary::accepts`] requires, for error messages.
    pub fn requirement(self) -> &'static str {
        match self {
            Unary::Not => "bool",
            Unary::Neg
            | Unary::Abs
            | Unary::Sign
            | Unary::Relu
            | Unary::Floor
            | Unary::Ceil
            | Unary::Round => "a numeric dtype",
            _ => "a float dtype",
        }
    }
}

/// Elementwise ops of two operands, with numpy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // the names are the documentation; see IR.md
pub enum Binary {
    Add,
    Sub,
    Mul,
    /// Integers truncate toward zero.
    Div,
    /// Integers take the dividend's sign.
    Rem,
    Pow,
    Max,
    Min,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl Binary {
    /// Every binary op.
    pub const ALL: [Binary; 16] = [
        Binary::Add,
        Binary::Sub,
        Binary::Mul,
        Binary::Div,
        Binary::Rem,
        Binary::Pow,
        Binary::Max,
        Binary::Min,
        Binary::Eq,
        Binary::Ne,
        Binary::Lt,
        Binary::Le,
        Binary::Gt,
        Binary::Ge,
        Binary::And,
        Binary::Or,
    ];

    /// The op's name in the text format.
    pub fn name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::Rem => "rem",
            Binary::Pow => "pow",
            Binary::Max => "max",
            Binary::Min => "min",
            Binary::Eq => "eq",
            Binary::Ne => "ne",
            Binary::Lt => "lt",
            Binary::Le => "le",
            Binary::Gt => "gt",
            Binary::Ge => "ge",
            Binary::And => "and",
            Binary::Or => "or",
        }
    }

    /// True for the comparisons, whose result is `bool`.
    pub fn is_comparison(self) -> bool {
        matches!(self, Binary::Eq | Binary::Ne | Binary::Lt | Binary::Le | Binary::Gt | Binary::Ge)
    }

    /// True if `op(a, b) == op(b, a)` for every a, b.
    pub fn is_commutative(self) -> bool {
        matches!(
            self,
            Binary::Add
                | Binary::Mul
                | Binary::Max
                | Binary::Min
                | Binary::Eq
                | Binary::Ne
                | Binary::And
                | Binary::Or
        )
    }

    /// Which operand dtypes the op accepts.
    pub fn accepts(self, d: DType) -> bool {
        match self {
            Binary::And | Binary::Or => d == DType::Bool,
            Binary::Eq | Binary::Ne => true,
            _ => d.is_numeric(),
        }
    }

    /// What [`Binary::accepts`] requires, for error messages.
    pub fn requirement(self) -> &'static str {
        match self {
            Binary::And | Binary::Or => "bool",
            Binary::Eq | Binary::Ne => "any dtype",
            _ => "a numeric dtype",
        }
    }
}

/// Reductions over a list of dims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // the names are the documentation; see IR.md
pub enum ReduceKind {
    Sum,
    Max,
    Min,
    Prod,
    Mean,
    /// First index of the maximum; gives `i64`.
    Argmax,
    /// First index of the minimum; gives `i64`.
    Argmin,
}

impl ReduceKind {
    /// Every reduction.
    pub const ALL: [ReduceKind; 7] = [
        ReduceKind::Sum,
        ReduceKind::Max,
        ReduceKind::Min,
        ReduceKind::Prod,
        ReduceKind::Mean,
        ReduceKind::Argmax,
        ReduceKind::Argmin,
    ];

    /// The op's name in the text format.
    pub fn name(self) -> &'static str {
        match self {
            ReduceKind::Sum => "sum",
            ReduceKind::Max => "max",
            ReduceKind::Min => "min",
            ReduceKind::Prod => "prod",
            ReduceKind::Mean => "mean",
            ReduceKind::Argmax => "argmax",
            ReduceKind::Argmin => "argmin",
        }
    }

    /// True for argmax/argmin, which reduce one dim to an `i64` index.
    pub fn is_arg(self) -> bool {
        matches!(self, ReduceKind::Argmax | ReduceKind::Argmin)
    }
}

/// A scalar literal: an inline operand, or one element of a `const`.
#[derive(Clone, Copy, Debug)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// An integer literal (also valid for float dtypes).
    Int(i64),
    /// A float literal (`1.5`, `1e-5`, `inf`, `nan`).
    Float(f64),
}

impl Scalar {
    /// The value as f64 (bools are 0 and 1).
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => f64::from(u8::from(b)),
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }

    /// True if the literal can stand for a value of dtype `d`: bools only for
    /// `bool`, floats only for float dtypes, integers in range of `d`.
    pub fn fits(self, d: DType) -> bool {
        match (self, d) {
            (Scalar::Bool(_), DType::Bool) => true,
            (Scalar::Bool(_), _) | (_, DType::Bool) => false,
            (Scalar::Float(_), d) => d.is_float(),
            (Scalar::Int(_), d) if d.is_float() => true,
            (Scalar::Int(_), DType::I64) => true,
            (Scalar::Int(i), DType::I32) => i32::try_from(i).is_ok(),
            (Scalar::Int(i), DType::I8) => i8::try_from(i).is_ok(),
            (Scalar::Int(i), DType::U8) => u8::try_from(i).is_ok(),
            (Scalar::Int(_), _) => false,
        }
    }

    /// The literal as it is written in the text format; floats always carry a
    /// `.` or an exponent so that they read back as floats.
    pub fn to_text(self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) if f.is_nan() => "nan".into(),
            Scalar::Float(f) if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.into(),
            Scalar::Float(f) => format!("{f:?}"),
        }
    }
}

// Structural equality: two NaN literals are the same literal, and 0.0 is not
// -0.0. This is what round trips and CSE need (not IEEE comparison).
impl PartialEq for Scalar {
    fn eq(&self, other: &Scalar) -> bool {
        match (self, other) {
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            (Scalar::Int(a), Scalar::Int(b)) => a == b,
            (Scalar::Float(a), Scalar::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Eq for Scalar {}

impl std::hash::Hash for Scalar {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self {
            Scalar::Bool(b) => (0u8, *b).hash(h),
            Scalar::Int(i) => (1u8, *i).hash(h),
            Scalar::Float(f) => (2u8, f.to_bits()).hash(h),
        }
    }
}

// JSON has no NaN or infinity: those travel as the strings "nan", "inf", "-inf".
impl Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Scalar::Bool(b) => s.serialize_bool(b),
            Scalar::Int(i) => s.serialize_i64(i),
            Scalar::Float(f) if f.is_finite() => s.serialize_f64(f),
            Scalar::Float(_) => s.serialize_str(&self.to_text()),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Int(i64),
            Float(f64),
            Text(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Bool(b) => Scalar::Bool(b),
            Raw::Int(i) => Scalar::Int(i),
            Raw::Float(f) => Scalar::Float(f),
            Raw::Text(t) => match t.as_str() {
                "nan" => Scalar::Float(f64::NAN),
                "inf" => Scalar::Float(f64::INFINITY),
                "-inf" => Scalar::Float(f64::NEG_INFINITY),
                _ => return Err(serde::de::Error::custom(format!("not a literal: {t:?}"))),
            },
        })
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// One entry of `reshape`'s `shape=[…]`: a dim, or the single inferred `-1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReshapeDim {
    /// A given size (constant or symbol).
    Dim(Dim),
    /// `-1`: whatever size makes the element counts agree.
    Infer,
}

impl fmt::Display for ReshapeDim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReshapeDim::Dim(d) => write!(f, "{d}"),
            ReshapeDim::Infer => f.write_str("-1"),
        }
    }
}

/// Attributes of `conv2d`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conv2dAttrs {
    /// Step between windows, per spatial dim.
    pub stride: [u64; 2],
    /// Symmetric zero padding, per spatial dim.
    pub padding: [u64; 2],
    /// Spacing between kernel taps, per spatial dim.
    pub dilation: [u64; 2],
    /// Channel groups (input and output channels both divide by it).
    pub groups: u64,
    /// Channels-last operands (`layout=nhwc`, set only by the layout pass):
    /// the input is `[N, H, W, C]`, the weight `[OC, KH, KW, C/groups]` and
    /// the result `[N, OH, OW, OC]`; the bias stays `[OC]`.
    pub channels_last: bool,
}

impl Default for Conv2dAttrs {
    fn default() -> Self {
        Conv2dAttrs {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            channels_last: false,
        }
    }
}

/// Attributes of `max_pool2d` and `avg_pool2d`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolAttrs {
    /// Window size, per spatial dim.
    pub kernel: [u64; 2],
    /// Step between windows (defaults to `kernel`).
    pub stride: [u64; 2],
    /// Padding (−inf for max, zeros for avg), per spatial dim.
    pub padding: [u64; 2],
    /// avg only: whether padded zeros count in the divisor (PyTorch: true).
    /// `max_pool2d` keeps it `true` (the verifier insists, so equal ops print equal).
    pub count_include_pad: bool,
    /// Channels-last operand and result (`layout=nhwc`, set only by the
    /// layout pass): `[N, H, W, C]` in, `[N, OH, OW, C]` out.
    pub channels_last: bool,
}

/// What kind of work an op is; fusion rules are written per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpClass {
    /// A function parameter (not an instruction).
    Param,
    /// One output element from the same-index elements of the operands.
    Elementwise,
    /// Combines elements along dims.
    Reduce,
    /// Moves or selects elements without arithmetic.
    Movement,
    /// Produces data from attributes alone (`const`, `iota`).
    Constant,
    /// A library call (matmul, conv, pools).
    Library,
}

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Fixed(usize),
    /// Between these bounds, inclusive.
    Range(usize, usize),
    /// One or more.
    Variadic,
}

impl Arity {
    /// True if `n` operands are allowed.
    pub fn allows(self, n: usize) -> bool {
        match self {
            Arity::Fixed(k) => n == k,
            Arity::Range(lo, hi) => (lo..=hi).contains(&n),
            Arity::Variadic => n >= 1,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Fixed(k) => write!(f, "{k}"),
            Arity::Range(lo, hi) => write!(f, "{lo} to {hi}"),
            Arity::Variadic => f.write_str("one or more"),
        }
    }
}

/// An op with its attributes. Grouped as IR.md's table groups them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    // --- signature ---
    /// The `index`-th parameter; its name and type come from the signature.
    Param {
        /// Position in the signature.
        index: usize,
        /// Declared memory layout.
        layout: super::types::Layout,
    },

    // --- elementwise ---
    /// A unary op.
    Unary {
        /// Which one.
        kind: Unary,
    },
    /// A binary op (numpy broadcasting).
    Binary {
        /// Which one.
        kind: Binary,
    },
    /// `select(%cond, %a, %b)`: `a` where `cond`, else `b`.
    Select,
    /// `cast(%x) to=dtype`.
    Cast {
        /// Result dtype.
        to: DType,
    },

    // --- reduce ---
    /// A reduction over `dims`.
    Reduce {
        /// Which one.
        kind: ReduceKind,
        /// The reduced dims (sorted by canonicalize).
        dims: Vec<usize>,
        /// Keep reduced dims as size 1.
        keepdim: bool,
    },

    // --- movement ---
    /// Same elements in row-major order, new shape.
    Reshape {
        /// Target shape; at most one `-1`.
        shape: Vec<ReshapeDim>,
    },
    /// Reorders dims: result dim i is operand dim `dims[i]`.
    Permute {
        /// A permutation of `0..rank`.
        dims: Vec<usize>,
    },
    /// Numpy broadcast to `shape`.
    Broadcast {
        /// Target shape.
        shape: Shape,
    },
    /// Strided sub-range per dim, clamped like Python slicing.
    Slice {
        /// First index per dim.
        starts: Vec<u64>,
        /// One past the last index per dim (a symbol: that symbol's size).
        ends: Vec<Dim>,
        /// Positive step per dim.
        steps: Vec<u64>,
    },
    /// Joins operands along `axis`.
    Concat {
        /// The joined dim.
        axis: usize,
    },
    /// numpy `take(x, idx, axis)`.
    Gather {
        /// The indexed dim of `x`.
        axis: usize,
    },

    // --- constants ---
    /// Indices along `dim` of a tensor of `shape`.
    Iota {
        /// Result shape.
        shape: Shape,
        /// The dim whose index is the value.
        dim: usize,
        /// Result dtype.
        to: DType,
    },
    /// Inline data: one value (splat) or one per element. Type from `: type`.
    Const {
        /// The elements, row-major; a single one is broadcast.
        value: Vec<Scalar>,
    },

    // --- library ---
    /// Numpy matmul (batched, broadcast batch dims, 1-D operands promoted).
    Matmul,
    /// 2-D convolution, NCHW logical shapes.
    Conv2d(Conv2dAttrs),
    /// Max pooling (pads with −inf).
    MaxPool2d(PoolAttrs),
    /// Average pooling.
    AvgPool2d(PoolAttrs),
}

/// The static facts about an op.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    /// Name in the text format.
    pub name: &'static str,
    /// Operand count.
    pub arity: Arity,
    /// Class (drives fusion).
    pub class: OpClass,
}

/// The type of one operand, as the type rule sees it.
#[derive(Clone, Copy, Debug)]
pub enum OperandType<'a> {
    /// A value of this type.
    Value(&'a Type),
    /// An inline literal (takes the dtype of the other operand).
    Lit(Scalar),
}

/// Why a type rule rejected an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError(pub String);

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! bail {
    ($($t:tt)*) => { return Err(TypeError(format!($($t)*))) };
}

impl Op {
    /// The op's static facts.
    pub fn info(&self) -> OpInfo {
        let (name, arity, class) = match self {
            Op::Param { .. } => ("param", Arity::Fixed(0), OpClass::Param),
            Op::Unary { kind } => (kind.name(), Arity::Fixed(1), OpClass::Elementwise),
            Op::Binary { kind } => (kind.name(), Arity::Fixed(2), OpClass::Elementwise),
            Op::Select => ("select", Arity::Fixed(3), OpClass::Elementwise),
            Op::Cast { .. } => ("cast", Arity::Fixed(1), OpClass::Elementwise),
            Op::Reduce { kind, .. } => (kind.name(), Arity::Fixed(1), OpClass::Reduce),
            Op::Reshape { .. } => ("reshape", Arity::Fixed(1), OpClass::Movement),
            Op::Permute { .. } => ("permute", Arity::Fixed(1), OpClass::Movement),
            Op::Broadcast { .. } => ("broadcast", Arity::Fixed(1), OpClass::Movement),
            Op::Slice { .. } => ("slice", Arity::Fixed(1), OpClass::Movement),
            Op::Concat { .. } => ("concat", Arity::Variadic, OpClass::Movement),
            Op::Gather { .. } => ("gather", Arity::Fixed(2), OpClass::Movement),
            Op::Iota { .. } => ("iota", Arity::Fixed(0), OpClass::Constant),
            Op::Const { .. } => ("const", Arity::Fixed(0), OpClass::Constant),
            Op::Matmul => ("matmul", Arity::Fixed(2), OpClass::Library),
            Op::Conv2d(_) => ("conv2d", Arity::Range(2, 3), OpClass::Library),
            Op::MaxPool2d(_) => ("max_pool2d", Arity::Fixed(1), OpClass::Library),
            Op::AvgPool2d(_) => ("avg_pool2d", Arity::Fixed(1), OpClass::Library),
        };
        OpInfo { name, arity, class }
    }

    /// The op's name in the text format.
    pub fn name(&self) -> &'static str {
        self.info().name
    }

    /// The op's class.
    pub fn class(&self) -> OpClass {
        self.info().class
    }

    /// True if literal operands are allowed (binary ops and `select`).
    pub fn takes_literals(&self) -> bool {
        matches!(self, Op::Binary { .. } | Op::Select)
    }

    /// The type rule: the result type from the operands' types. `declared` is
    /// the `: type` written in the text, required by `const` and `param`.
    pub fn infer_type(
        &self,
        operands: &[OperandType<'_>],
        declared: Option<&Type>,
    ) -> Result<Type, TypeError> {
        let info = self.info();
        if !info.arity.allows(operands.len()) {
            bail!("takes {} operand(s), got {}", info.arity, operands.len());
        }
        if !self.takes_literals()
            && let Some(i) = operands.iter().position(|o| matches!(o, OperandType::Lit(_)))
        {
            bail!("operand {i} must be a value, not a literal");
        }
        // Every op but binary/select has value operands only (checked above).
        let vals: Vec<&Type> = operands
            .iter()
            .filter_map(|o| match o {
                OperandType::Value(t) => Some(*t),
                OperandType::Lit(_) => None,
            })
            .collect();
        match self {
            Op::Param { .. } => match declared {
                Some(t) => Ok(t.clone()),
                None => bail!("a parameter needs a type"),
            },
            Op::Unary { kind } => {
                let t = vals[0];
                if !kind.accepts(t.dtype) {
                    bail!("needs {}, got {}", kind.requirement(), t.dtype);
                }
                Ok(t.clone())
            }
            Op::Binary { kind } => {
                let (dtype, shape) = elementwise_operands(operands)?;
                if !kind.accepts(dtype) {
                    bail!("needs {}, got {}", kind.requirement(), dtype);
                }
                let dtype = if kind.is_comparison() { DType::Bool } else { dtype };
                Ok(Type::new(dtype, shape))
            }
            Op::Select => {
                match operands[0] {
                    OperandType::Value(t) if t.dtype != DType::Bool => {
                        bail!("condition must be bool, got {}", t.dtype)
                    }
                    OperandType::Lit(s) if !matches!(s, Scalar::Bool(_)) => {
                        bail!("condition must be bool, got literal {s}")
                    }
                    _ => {}
                }
                let (dtype, shape) = elementwise_operands(&operands[1..])?;
                let shape = match operands[0] {
                    OperandType::Value(c) => {
                        broadcast_shapes(&c.shape, &shape).ok_or_else(|| {
                            TypeError(format!(
                                "cannot broadcast condition {} with {}",
                                c.shape, shape
                            ))
                        })?
                    }
                    OperandType::Lit(_) => shape,
                };
                Ok(Type::new(dtype, shape))
            }
            Op::Cast { to } => Ok(Type::new(*to, vals[0].shape.clone())),
            Op::Reduce { kind, dims, keepdim } => reduce_type(*kind, dims, *keepdim, vals[0]),
            Op::Reshape { shape } => reshape_type(shape, vals[0]),
            Op::Permute { dims } => {
                let t = vals[0];
                check_permutation(dims, t.shape.rank())?;
                let shape = dims.iter().map(|&d| t.shape.0[d].clone()).collect();
                Ok(Type::new(t.dtype, Shape(shape)))
            }
            Op::Broadcast { shape } => {
                let t = vals[0];
                if !broadcasts_to(&t.shape, shape) {
                    bail!("cannot broadcast {} to {}", t.shape, shape);
                }
                Ok(Type::new(t.dtype, shape.clone()))
            }
            Op::Slice { starts, ends, steps } => slice_type(starts, ends, steps, vals[0]),
            Op::Concat { axis } => concat_type(*axis, &vals),
            Op::Gather { axis } => {
                let (x, idx) = (vals[0], vals[1]);
                if !idx.dtype.is_int() {
                    bail!("indices must be an integer dtype, got {}", idx.dtype);
                }
                if *axis >= x.shape.rank() {
                    bail!("axis={axis} is out of range for rank {}", x.shape.rank());
                }
                let mut shape = x.shape.0[..*axis].to_vec();
                shape.extend(idx.shape.0.iter().cloned());
                shape.extend(x.shape.0[axis + 1..].iter().cloned());
                Ok(Type::new(x.dtype, Shape(shape)))
            }
            Op::Iota { shape, dim, to } => {
                if *dim >= shape.rank() {
                    bail!("dim={dim} is out of range for rank {}", shape.rank());
                }
                if !to.is_numeric() {
                    bail!("to= must be a numeric dtype, got {to}");
                }
                Ok(Type::new(*to, shape.clone()))
            }
            Op::Const { value } => const_type(value, declared),
            Op::Matmul => matmul_type(vals[0], vals[1]),
            Op::Conv2d(a) => conv2d_type(a, &vals),
            Op::MaxPool2d(a) if !a.count_include_pad => {
                bail!("count_include_pad is an avg_pool2d attribute (max_pool2d keeps it true)")
            }
            Op::MaxPool2d(a) | Op::AvgPool2d(a) => pool_type(a, vals[0]),
        }
    }
}

/// Dtype and broadcast shape of the data operands of a binary op or select;
/// literals take the dtype of the value operands.
fn elementwise_operands(ops: &[OperandType<'_>]) -> Result<(DType, Shape), TypeError> {
    let mut dtype: Option<DType> = None;
    let mut shape = Shape::scalar();
    for o in ops {
        if let OperandType::Value(t) = o {
            match dtype {
                Some(d) if d != t.dtype => {
                    bail!("operands have different dtypes {d} and {} (insert a cast)", t.dtype)
                }
                _ => dtype = Some(t.dtype),
            }
            shape = broadcast_shapes(&shape, &t.shape)
                .ok_or_else(|| TypeError(format!("cannot broadcast {} with {}", shape, t.shape)))?;
        }
    }
    let Some(dtype) = dtype else {
        bail!("needs at least one value operand to give literals a dtype (use a const)")
    };
    for o in ops {
        if let OperandType::Lit(s) = o
            && !s.fits(dtype)
        {
            bail!("literal {s} does not fit dtype {dtype}");
        }
    }
    Ok((dtype, shape))
}

fn reduce_type(
    kind: ReduceKind,
    dims: &[usize],
    keepdim: bool,
    t: &Type,
) -> Result<Type, TypeError> {
    let rank = t.shape.rank();
    if dims.is_empty() {
        bail!("dims=[] is empty (list the reduced dims)");
    }
    for (i, &d) in dims.iter().enumerate() {
        if d >= rank {
            bail!("dim {d} is out of range for rank {rank}");
        }
        if dims[..i].contains(&d) {
            bail!("dim {d} is listed twice");
        }
    }
    if kind.is_arg() && dims.len() != 1 {
        bail!("{} reduces exactly one dim, got {}", kind.name(), dims.len());
    }
    let dtype = match kind {
        ReduceKind::Argmax | ReduceKind::Argmin => {
            if t.dtype == DType::Bool {
                bail!("needs a numeric dtype, got bool");
            }
            DType::I64
        }
        ReduceKind::Mean => {
            if !t.dtype.is_float() {
                bail!("needs a float dtype, got {}", t.dtype);
            }
            t.dtype
        }
        _ => {
            if !t.dtype.is_numeric() {
                bail!("needs a numeric dtype, got {}", t.dtype);
            }
            t.dtype
        }
    };
    let mut shape = Vec::with_capacity(rank);
    for (i, d) in t.shape.0.iter().enumerate() {
        if !dims.contains(&i) {
            shape.push(d.clone());
        } else if keepdim {
            shape.push(Dim::Const(1));
        }
    }
    Ok(Type::new(dtype, Shape(shape)))
}

fn reshape_type(target: &[ReshapeDim], t: &Type) -> Result<Type, TypeError> {
    let infer = target.iter().filter(|d| matches!(d, ReshapeDim::Infer)).count();
    if infer > 1 {
        bail!("shape= has more than one -1");
    }
    let mut known = super::types::Monomial::one();
    for d in target {
        if let ReshapeDim::Dim(d) = d {
            known = known.mul_dim(d);
        }
    }
    let total = t.shape.numel();
    let inferred = if infer == 1 {
        Some(total.div_to_dim(&known).ok_or_else(|| {
            TypeError(format!("cannot infer -1: {} elements over {known}", total))
        })?)
    } else {
        if known != total {
            bail!("cannot reshape {} ({total} elements) to {} elements", t.shape, known);
        }
        None
    };
    let dims = target
        .iter()
        .map(|d| match d {
            ReshapeDim::Dim(d) => d.clone(),
            ReshapeDim::Infer => inferred.clone().unwrap_or(Dim::Const(1)),
        })
        .collect();
    Ok(Type::new(t.dtype, Shape(dims)))
}

/// Checks that `dims` is a permutation of `0..rank`.
pub fn check_permutation(dims: &[usize], rank: usize) -> Result<(), TypeError> {
    if dims.len() != rank {
        bail!("dims= has {} entries for rank {rank}", dims.len());
    }
    let mut seen = vec![false; rank];
    for &d in dims {
        if d >= rank || seen[d] {
            bail!("dims={dims:?} is not a permutation of 0..{rank}");
        }
        seen[d] = true;
    }
    Ok(())
}

fn slice_type(starts: &[u64], ends: &[Dim], steps: &[u64], t: &Type) -> Result<Type, TypeError> {
    let rank = t.shape.rank();
    if starts.len() != rank || ends.len() != rank || steps.len() != rank {
        bail!(
            "starts/ends/steps need {rank} entries each, got {}/{}/{}",
            starts.len(),
            ends.len(),
            steps.len()
        );
    }
    let mut shape = Vec::with_capacity(rank);
    for i in 0..rank {
        if steps[i] == 0 {
            bail!("steps[{i}] is 0 (steps must be positive)");
        }
        let d = match (&t.shape.0[i], &ends[i]) {
            (Dim::Const(size), Dim::Const(end)) => {
                let start = starts[i].min(*size);
                let end = (*end).min(*size);
                Dim::Const(if end > start { (end - start).div_ceil(steps[i]) } else { 0 })
            }
            (Dim::Sym(s), Dim::Sym(e)) if s == e && starts[i] == 0 && steps[i] == 1 => {
                Dim::Sym(s.clone())
            }
            (size, end) => bail!(
                "dim {i} of size {size}: a slice of a symbolic dim must be the whole dim \
                 (starts=0 ends={size} steps=1), got {}:{end}:{}",
                starts[i],
                steps[i]
            ),
        };
        shape.push(d);
    }
    Ok(Type::new(t.dtype, Shape(shape)))
}

fn concat_type(axis: usize, vals: &[&Type]) -> Result<Type, TypeError> {
    let first = vals[0];
    let rank = first.shape.rank();
    if axis >= rank {
        bail!("axis={axis} is out of range for rank {rank}");
    }
    let mut total: Option<u64> = Some(0);
    for (i, t) in vals.iter().enumerate() {
        if t.dtype != first.dtype {
            bail!("operand {i} has dtype {}, operand 0 has {}", t.dtype, first.dtype);
        }
        if t.shape.rank() != rank {
            bail!("operand {i} has rank {}, operand 0 has {rank}", t.shape.rank());
        }
        for d in 0..rank {
            if d != axis && t.shape.0[d] != first.shape.0[d] {
                bail!(
                    "operand {i} has shape {}, operand 0 has {} (only axis {axis} may differ)",
                    t.shape,
                    first.shape
                );
            }
        }
        total = match (total, &t.shape.0[axis]) {
            (Some(acc), Dim::Const(c)) => Some(acc + c),
            _ => None,
        };
    }
    let mut shape = first.shape.clone();
    shape.0[axis] = match total {
        Some(c) => Dim::Const(c),
        None if vals.len() == 1 => first.shape.0[axis].clone(),
        None => bail!("cannot concat along a symbolic dim (the sum has no name)"),
    };
    Ok(Type::new(first.dtype, shape))
}

fn const_type(value: &[Scalar], declared: Option<&Type>) -> Result<Type, TypeError> {
    let Some(t) = declared else { bail!("const needs a type (`: f32[…]`)") };
    if value.is_empty() {
        bail!("value= is empty");
    }
    if value.len() > 1 {
        match t.shape.as_consts() {
            Some(dims) => {
                let n: u64 = dims.iter().product();
                if n != value.len() as u64 {
                    bail!("value= has {} elements, type {} has {n}", value.len(), t);
                }
            }
            None => bail!("a const of symbolic shape {} must be one splatted value", t.shape),
        }
    }
    if let Some(s) = value.iter().find(|s| !s.fits(t.dtype)) {
        bail!("value {s} does not fit dtype {}", t.dtype);
    }
    Ok(t.clone())
}

fn matmul_type(a: &Type, b: &Type) -> Result<Type, TypeError> {
    if a.dtype != b.dtype {
        bail!("operands have different dtypes {} and {}", a.dtype, b.dtype);
    }
    if !a.dtype.is_numeric() {
        bail!("needs a numeric dtype, got {}", a.dtype);
    }
    if a.shape.rank() == 0 || b.shape.rank() == 0 {
        bail!("operands must have rank ≥ 1, got {} and {}", a.shape, b.shape);
    }
    // numpy: a 1-D lhs is [1, K] and a 1-D rhs is [K, 1], removed afterwards.
    let mut sa = a.shape.0.clone();
    let mut sb = b.shape.0.clone();
    let (a1, b1) = (sa.len() == 1, sb.len() == 1);
    if a1 {
        sa.insert(0, Dim::Const(1));
    }
    if b1 {
        sb.push(Dim::Const(1));
    }
    let (m, ka) = (&sa[sa.len() - 2], &sa[sa.len() - 1]);
    let (kb, n) = (&sb[sb.len() - 2], &sb[sb.len() - 1]);
    if ka != kb {
        bail!("contraction dims differ: {} @ {} ({ka} vs {kb})", a.shape, b.shape);
    }
    let batch_a = Shape(sa[..sa.len() - 2].to_vec());
    let batch_b = Shape(sb[..sb.len() - 2].to_vec());
    let batch = broadcast_shapes(&batch_a, &batch_b)
        .ok_or_else(|| TypeError(format!("batch dims {batch_a} and {batch_b} do not broadcast")))?;
    let mut out = batch.0;
    if !a1 {
        out.push(m.clone());
    }
    if !b1 {
        out.push(n.clone());
    }
    Ok(Type::new(a.dtype, Shape(out)))
}

/// One spatial output size: `floor((in + 2p - d(k-1) - 1) / s) + 1`. A
/// symbolic input size only passes through unchanged ("same" convolutions).
fn window_out(what: &str, input: &Dim, k: u64, s: u64, p: u64, d: u64) -> Result<Dim, TypeError> {
    // Attributes come from user text: a huge value is an error, not an overflow.
    let (Some(span), Some(pad2)) =
        (d.checked_mul(k.saturating_sub(1)).and_then(|x| x.checked_add(1)), p.checked_mul(2))
    else {
        bail!("{what}: kernel {k}, dilation {d} or padding {p} is too large")
    };
    match input {
        Dim::Const(i) => {
            let Some(padded) = i.checked_add(pad2) else {
                bail!("{what}: padding {p} is too large")
            };
            if padded < span {
                bail!("{what}: window {span} is larger than the padded input {padded}");
            }
            Ok(Dim::Const((padded - span) / s + 1))
        }
        Dim::Sym(_) if s == 1 && pad2.checked_add(1) == Some(span) => Ok(input.clone()),
        Dim::Sym(name) => bail!(
            "{what}: the output size of symbolic dim {name} is not a dim (only stride 1 with \
             'same' padding keeps it)"
        ),
    }
}

fn check_pair(what: &str, v: [u64; 2], min: u64) -> Result<(), TypeError> {
    if v.iter().any(|&x| x < min) {
        bail!("{what}=[{}, {}] must be ≥ {min}", v[0], v[1]);
    }
    Ok(())
}

fn conv2d_type(a: &Conv2dAttrs, vals: &[&Type]) -> Result<Type, TypeError> {
    let (x, w) = (vals[0], vals[1]);
    if !x.dtype.is_float() || x.dtype != w.dtype {
        bail!("input and weight must share a float dtype, got {} and {}", x.dtype, w.dtype);
    }
    if x.shape.rank() != 4 || w.shape.rank() != 4 {
        bail!("input and weight must be rank 4 (NCHW, OIHW), got {} and {}", x.shape, w.shape);
    }
    // Channels-last: read the dims through the NCHW/OIHW view, so the rules
    // below are written once.
    let (xs, ws) = if a.channels_last {
        (nchw_of_nhwc(&x.shape), nchw_of_nhwc(&w.shape))
    } else {
        (x.shape.clone(), w.shape.clone())
    };
    let (x, w) = (&Type::new(x.dtype, xs), &Type::new(w.dtype, ws));
    check_pair("stride", a.stride, 1)?;
    check_pair("dilation", a.dilation, 1)?;
    if a.groups == 0 {
        bail!("groups=0 must be ≥ 1");
    }
    let (Some(oc), Some(icg), Some(kh), Some(kw)) = (
        w.shape.0[0].as_const(),
        w.shape.0[1].as_const(),
        w.shape.0[2].as_const(),
        w.shape.0[3].as_const(),
    ) else {
        bail!("weight shape {} must be constant", w.shape)
    };
    if kh == 0 || kw == 0 || icg == 0 {
        bail!("weight shape {} has a zero dim", w.shape);
    }
    if icg.checked_mul(a.groups).is_none_or(|c| x.shape.0[1] != Dim::Const(c)) {
        bail!(
            "input has {} channels, weight {} with groups={} needs {}",
            x.shape.0[1],
            w.shape,
            a.groups,
            icg.saturating_mul(a.groups)
        );
    }
    if oc % a.groups != 0 {
        bail!("{oc} output channels do not divide into groups={}", a.groups);
    }
    if let Some(b) = vals.get(2) {
        if b.dtype != x.dtype || b.shape != Shape::of(&[oc]) {
            bail!("bias must be {}[{oc}], got {b}", x.dtype);
        }
    }
    let h = window_out("height", &x.shape.0[2], kh, a.stride[0], a.padding[0], a.dilation[0])?;
    let wd = window_out("width", &x.shape.0[3], kw, a.stride[1], a.padding[1], a.dilation[1])?;
    let out = Shape(vec![x.shape.0[0].clone(), Dim::Const(oc), h, wd]);
    Ok(Type::new(x.dtype, if a.channels_last { nhwc_of_nchw(&out) } else { out }))
}

/// The NCHW view `[N, C, H, W]` of a rank-4 channels-last shape `[N, H, W, C]`.
pub fn nchw_of_nhwc(s: &Shape) -> Shape {
    Shape(vec![s.0[0].clone(), s.0[3].clone(), s.0[1].clone(), s.0[2].clone()])
}

/// The channels-last shape `[N, H, W, C]` of a rank-4 NCHW shape.
pub fn nhwc_of_nchw(s: &Shape) -> Shape {
    Shape(vec![s.0[0].clone(), s.0[2].clone(), s.0[3].clone(), s.0[1].clone()])
}

fn pool_type(a: &PoolAttrs, x: &Type) -> Result<Type, TypeError> {
    if !x.dtype.is_float() {
        bail!("needs a float dtype, got {}", x.dtype);
    }
    if x.shape.rank() != 4 {
        bail!("input must be rank 4 (NCHW), got {}", x.shape);
    }
    let xs = if a.channels_last { nchw_of_nhwc(&x.shape) } else { x.shape.clone() };
    let x = &Type::new(x.dtype, xs);
    check_pair("kernel", a.kernel, 1)?;
    check_pair("stride", a.stride, 1)?;
    for i in 0..2 {
        if a.padding[i] > a.kernel[i] / 2 {
            bail!(
                "padding={:?} must be at most half the kernel {:?} (as PyTorch requires)",
                a.padding,
                a.kernel
            );
        }
    }
    let h = window_out("height", &x.shape.0[2], a.kernel[0], a.stride[0], a.padding[0], 1)?;
    let w = window_out("width", &x.shape.0[3], a.kernel[1], a.stride[1], a.padding[1], 1)?;
    let out = Shape(vec![x.shape.0[0].clone(), x.shape.0[1].clone(), h, w]);
    Ok(Type::new(x.dtype, if a.channels_last { nhwc_of_nchw(&out) } else { out }))
}
