//! The parser: IR.md text to a [`Module`].
//!
//! Every instruction is type-checked as it is read (the op table's type rule;
//! a written `: type` must match what the rule gives), so an error names the
//! line and column of the instruction and what was expected. The result still
//! goes through the verifier for the whole-function invariants.

use std::collections::HashMap;
use std::fmt;

use super::graph::{Func, Module, NodeId, Operand, Span};
use super::lexer::{Tok, lex};
use super::op::{Binary, Conv2dAttrs, Op, PoolAttrs, ReduceKind, ReshapeDim, Scalar, Unary};
use super::types::{DType, Dim, Layout, Shape, Type};

/// A parse error: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Where the offending token starts.
    pub span: Span,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.message)
    }
}

impl std::error::Error for ParseError {}

type PResult<T> = Result<T, ParseError>;

/// Parses a whole file (one or more `func`s).
pub fn parse_module(src: &str) -> PResult<Module> {
    let mut p = Parser { toks: lex(src), pos: 0 };
    let mut module = Module::default();
    let mut seen: HashMap<String, Span> = HashMap::new();
    while p.peek() != &Tok::Eof {
        let span = p.span();
        let f = p.func()?;
        if let Some(first) = seen.insert(f.name.clone(), span) {
            return Err(ParseError {
                span,
                message: format!("function @{} is defined twice (first at {first})", f.name),
            });
        }
        module.funcs.push(f);
    }
    if module.funcs.is_empty() {
        return Err(p.err("expected `func`, found end of input (the file holds no function)"));
    }
    Ok(module)
}

/// Parses a file that must hold exactly one function.
pub fn parse_func(src: &str) -> PResult<Func> {
    let mut m = parse_module(src)?;
    if m.funcs.len() != 1 {
        let span = m.funcs[1].span.unwrap_or_default();
        return Err(ParseError {
            span,
            message: format!("expected one function, found {}", m.funcs.len()),
        });
    }
    Ok(m.funcs.remove(0))
}

/// A raw attribute value, interpreted per op.
#[derive(Clone, Debug)]
enum AttrVal {
    Scalar(Scalar),
    Ident(String),
    List(Vec<AttrVal>),
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.pos + k).min(self.toks.len() - 1)].0
    }

    fn span(&self) -> Span {
        self.toks[self.pos].1
    }

    fn bump(&mut self) -> (Tok, Span) {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError { span: self.span(), message: message.into() }
    }

    fn expected(&self, what: &str) -> ParseError {
        self.err(format!("expected {what}, found {}", self.peek().describe()))
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == &Tok::Punct(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, c: char) -> PResult<()> {
        if self.eat_punct(c) { Ok(()) } else { Err(self.expected(&format!("`{c}`"))) }
    }

    fn expect_keyword(&mut self, kw: &str) -> PResult<()> {
        match self.peek() {
            Tok::Ident(s) if s == kw => {
                self.bump();
                Ok(())
            }
            _ => Err(self.expected(&format!("`{kw}`"))),
        }
    }

    fn ident(&mut self, what: &str) -> PResult<String> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn dtype(&mut self) -> PResult<DType> {
        let span = self.span();
        let name = self.ident("a dtype (f64 f32 f16 bf16 i64 i32 i8 u8 bool)")?;
        DType::from_name(&name).ok_or(ParseError {
            span,
            message: format!(
                "unknown dtype `{name}` (expected f64 f32 f16 bf16 i64 i32 i8 u8 bool)"
            ),
        })
    }

    fn dim(&mut self) -> PResult<Dim> {
        match self.peek().clone() {
            Tok::Int(i) if i >= 0 => {
                self.bump();
                Ok(Dim::Const(i as u64))
            }
            Tok::Ident(s) if DType::from_name(&s).is_none() => {
                self.bump();
                Ok(Dim::Sym(s))
            }
            _ => Err(self.expected("a dim (a size ≥ 0 or a symbol)")),
        }
    }

    fn shape(&mut self) -> PResult<Shape> {
        self.expect_punct('[')?;
        let mut dims = Vec::new();
        if !self.eat_punct(']') {
            loop {
                dims.push(self.dim()?);
                if self.eat_punct(']') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        Ok(Shape(dims))
    }

    fn ty(&mut self) -> PResult<Type> {
        let dtype = self.dtype()?;
        let shape = self.shape()?;
        Ok(Type::new(dtype, shape))
    }

    fn layout(&mut self, rank: usize) -> PResult<Layout> {
        if self.peek() != &Tok::Punct('{') || !matches!(self.peek_at(1), Tok::Ident(_)) {
            return Ok(Layout::RowMajor);
        }
        self.bump();
        let span = self.span();
        let kind = self.ident("a layout (`nhwc` or `strides=[…]`)")?;
        let layout = match kind.as_str() {
            "nhwc" => {
                if rank != 4 {
                    return Err(ParseError {
                        span,
                        message: format!("layout nhwc needs a rank-4 NCHW type, got rank {rank}"),
                    });
                }
                Layout::Nhwc
            }
            "strides" => {
                self.expect_punct('=')?;
                let vals = self.int_list("strides")?;
                if vals.len() != rank {
                    return Err(ParseError {
                        span,
                        message: format!("strides= has {} entries for rank {rank}", vals.len()),
                    });
                }
                Layout::Strides(vals)
            }
            other => {
                return Err(ParseError {
                    span,
                    message: format!("unknown layout `{other}` (expected `nhwc` or `strides=[…]`)"),
                });
            }
        };
        self.expect_punct('}')?;
        Ok(layout)
    }

    fn int_list(&mut self, what: &str) -> PResult<Vec<i64>> {
        self.expect_punct('[')?;
        let mut v = Vec::new();
        if !self.eat_punct(']') {
            loop {
                match self.peek().clone() {
                    Tok::Int(i) => {
                        self.bump();
                        v.push(i);
                    }
                    _ => return Err(self.expected(&format!("an integer in {what}"))),
                }
                if self.eat_punct(']') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        Ok(v)
    }

    fn literal(&mut self) -> Option<Scalar> {
        let s = match self.peek().clone() {
            Tok::Int(i) => Scalar::Int(i),
            Tok::Float(f) => Scalar::Float(f),
            Tok::Ident(s) if s == "true" => Scalar::Bool(true),
            Tok::Ident(s) if s == "false" => Scalar::Bool(false),
            Tok::Ident(s) if s == "inf" => Scalar::Float(f64::INFINITY),
            Tok::Ident(s) if s == "nan" => Scalar::Float(f64::NAN),
            Tok::Minus if self.peek_at(1) == &Tok::Ident("inf".into()) => {
                self.bump();
                Scalar::Float(f64::NEG_INFINITY)
            }
            _ => return None,
        };
        self.bump();
        Some(s)
    }

    fn attr_val(&mut self) -> PResult<AttrVal> {
        if self.eat_punct('[') {
            let mut items = Vec::new();
            if !self.eat_punct(']') {
                loop {
                    items.push(self.attr_val()?);
                    if self.eat_punct(']') {
                        break;
                    }
                    self.expect_punct(',')?;
                }
            }
            return Ok(AttrVal::List(items));
        }
        if let Some(s) = self.literal() {
            return Ok(AttrVal::Scalar(s));
        }
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                Ok(AttrVal::Ident(s))
            }
            _ => Err(self.expected("an attribute value")),
        }
    }

    fn func(&mut self) -> PResult<Func> {
        let fspan = self.span();
        self.expect_keyword("func")?;
        let name = match self.peek().clone() {
            Tok::Global(n) => {
                self.bump();
                n
            }
            _ => return Err(self.expected("a function name `@name`")),
        };
        let mut func = Func::new(name);
        func.span = Some(fspan);
        let mut scope: HashMap<String, (NodeId, Span)> = HashMap::new();
        self.expect_punct('(')?;
        if !self.eat_punct(')') {
            loop {
                let span = self.span();
                let pname = match self.peek().clone() {
                    Tok::Value(n) => {
                        self.bump();
                        n
                    }
                    _ => return Err(self.expected("a parameter `%name`")),
                };
                self.expect_punct(':')?;
                let ty = self.ty()?;
                let layout = self.layout(ty.shape.rank())?;
                if let Some((_, first)) = scope.get(&pname) {
                    return Err(ParseError {
                        span,
                        message: format!("parameter %{pname} is defined twice (first at {first})"),
                    });
                }
                let id = func.add_param(pname.clone(), ty, layout);
                func.node_mut(id).span = Some(span);
                scope.insert(pname, (id, span));
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        if self.peek() != &Tok::Arrow {
            return Err(self.expected("`->` and the result types"));
        }
        self.bump();
        self.expect_punct('(')?;
        let mut result_types = Vec::new();
        if !self.eat_punct(')') {
            loop {
                result_types.push((self.ty()?, self.span()));
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        self.expect_punct('{')?;
        loop {
            match self.peek().clone() {
                Tok::Value(_) => self.instruction(&mut func, &mut scope)?,
                Tok::Ident(s) if s == "return" => {
                    let rspan = self.span();
                    self.bump();
                    let mut results = Vec::new();
                    loop {
                        let span = self.span();
                        match self.peek().clone() {
                            Tok::Value(n) => {
                                self.bump();
                                let Some(&(id, _)) = scope.get(&n) else {
                                    return Err(ParseError {
                                        span,
                                        message: format!("undefined value %{n}"),
                                    });
                                };
                                results.push((id, span));
                            }
                            _ => return Err(self.expected("a returned value `%name`")),
                        }
                        if !self.eat_punct(',') {
                            break;
                        }
                    }
                    if results.len() != result_types.len() {
                        return Err(ParseError {
                            span: rspan,
                            message: format!(
                                "return gives {} value(s), the signature declares {}",
                                results.len(),
                                result_types.len()
                            ),
                        });
                    }
                    for (i, ((id, span), (ty, _))) in results.iter().zip(&result_types).enumerate()
                    {
                        if func.ty(*id) != ty {
                            return Err(ParseError {
                                span: *span,
                                message: format!(
                                    "result {i} has type {}, the signature declares {ty}",
                                    func.ty(*id)
                                ),
                            });
                        }
                    }
                    func.set_results(results.into_iter().map(|(id, _)| id).collect());
                    func.return_span = Some(rspan);
                    self.expect_punct('}')?;
                    return Ok(func);
                }
                _ => return Err(self.expected("an instruction `%name = …` or `return`")),
            }
        }
    }

    fn instruction(
        &mut self,
        func: &mut Func,
        scope: &mut HashMap<String, (NodeId, Span)>,
    ) -> PResult<()> {
        let span = self.span();
        let Tok::Value(name) = self.bump().0 else { unreachable!("caller peeked a value") };
        if let Some((_, first)) = scope.get(&name) {
            return Err(ParseError {
                span,
                message: format!("value %{name} is defined twice (first at {first})"),
            });
        }
        self.expect_punct('=')?;
        let op_span = self.span();
        let op_name = self.ident("an op name")?;
        let mut operands = Vec::new();
        if self.eat_punct('(') && !self.eat_punct(')') {
            loop {
                let ospan = self.span();
                if let Tok::Value(v) = self.peek().clone() {
                    self.bump();
                    let Some(&(id, _)) = scope.get(&v) else {
                        return Err(ParseError {
                            span: ospan,
                            message: format!(
                                "undefined value %{v} (values must be defined before use)"
                            ),
                        });
                    };
                    operands.push(Operand::Value(id));
                } else if let Some(s) = self.literal() {
                    operands.push(Operand::Lit(s));
                } else {
                    return Err(self.expected("an operand (`%value` or a literal)"));
                }
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        let mut attrs: Vec<(String, AttrVal, Span)> = Vec::new();
        while let Tok::Ident(key) = self.peek().clone() {
            if self.peek_at(1) != &Tok::Punct('=') {
                break;
            }
            let aspan = self.span();
            self.bump();
            self.bump();
            let val = self.attr_val()?;
            if attrs.iter().any(|(k, _, _)| *k == key) {
                return Err(ParseError {
                    span: aspan,
                    message: format!("attribute {key}= is given twice"),
                });
            }
            attrs.push((key, val, aspan));
        }
        let declared = if self.eat_punct(':') { Some(self.ty()?) } else { None };
        let op = build_op(&op_name, operands.len(), attrs, op_span)?;
        let ty = func.infer_type(&op, &operands, declared.as_ref()).map_err(|e| ParseError {
            span: op_span,
            message: format!("{}: {}", op.name(), e.0),
        })?;
        if let Some(d) = &declared
            && *d != ty
        {
            return Err(ParseError {
                span: op_span,
                message: format!("{}: declared type {d} but the op gives {ty}", op.name()),
            });
        }
        let id = func.add_node(op, operands, ty);
        let node = func.node_mut(id);
        node.name = Some(name.clone());
        node.span = Some(span);
        scope.insert(name, (id, span));
        Ok(())
    }
}

/// Typed access to the attributes of one instruction; reports missing,
/// unknown and ill-typed attributes by name and position.
struct Attrs {
    op: String,
    items: Vec<(String, AttrVal, Span)>,
    at: Span,
}

impl Attrs {
    fn err(&self, span: Span, msg: String) -> ParseError {
        ParseError { span, message: format!("{}: {msg}", self.op) }
    }

    fn take(&mut self, key: &str) -> Option<(AttrVal, Span)> {
        let i = self.items.iter().position(|(k, _, _)| k == key)?;
        let (_, v, s) = self.items.remove(i);
        Some((v, s))
    }

    fn required(&mut self, key: &str, what: &str) -> PResult<(AttrVal, Span)> {
        self.take(key)
            .ok_or_else(|| self.err(self.at, format!("missing attribute {key}= ({what})")))
    }

    fn uint(&self, v: &AttrVal, span: Span, key: &str) -> PResult<u64> {
        match v {
            AttrVal::Scalar(Scalar::Int(i)) if *i >= 0 => Ok(*i as u64),
            _ => Err(self.err(span, format!("{key}= expects an integer ≥ 0"))),
        }
    }

    fn uint_attr(&mut self, key: &str, default: Option<u64>) -> PResult<u64> {
        match self.take(key) {
            Some((v, s)) => self.uint(&v, s, key),
            None => default
                .ok_or_else(|| self.err(self.at, format!("missing attribute {key}= (an integer)"))),
        }
    }

    fn uint_list(&mut self, key: &str) -> PResult<Option<(Vec<u64>, Span)>> {
        let Some((v, s)) = self.take(key) else { return Ok(None) };
        match v {
            AttrVal::List(items) => {
                let vals =
                    items.iter().map(|x| self.uint(x, s, key)).collect::<PResult<Vec<_>>>()?;
                Ok(Some((vals, s)))
            }
            _ => Err(self.err(s, format!("{key}= expects a list of integers `[…]`"))),
        }
    }

    fn pair(&mut self, key: &str, default: Option<[u64; 2]>) -> PResult<[u64; 2]> {
        match self.uint_list(key)? {
            Some((v, s)) => <[u64; 2]>::try_from(v.as_slice())
                .map_err(|_| self.err(s, format!("{key}= expects 2 integers, got {}", v.len()))),
            None => {
                default.ok_or_else(|| self.err(self.at, format!("missing attribute {key}=[…, …]")))
            }
        }
    }

    fn bool_attr(&mut self, key: &str, default: bool) -> PResult<bool> {
        match self.take(key) {
            None => Ok(default),
            Some((AttrVal::Scalar(Scalar::Bool(b)), _)) => Ok(b),
            Some((_, s)) => Err(self.err(s, format!("{key}= expects true or false"))),
        }
    }

    /// `layout=nhwc` (channels-last conv/pool) or `layout=nchw` (the default).
    fn layout_attr(&mut self) -> PResult<bool> {
        match self.take("layout") {
            None => Ok(false),
            Some((AttrVal::Ident(n), _)) if n == "nhwc" => Ok(true),
            Some((AttrVal::Ident(n), _)) if n == "nchw" => Ok(false),
            Some((_, s)) => Err(self.err(s, "layout= expects nhwc or nchw".into())),
        }
    }

    fn dtype_attr(&mut self, key: &str) -> PResult<DType> {
        let (v, s) = self.required(key, "a dtype")?;
        match v {
            AttrVal::Ident(n) => {
                DType::from_name(&n).ok_or_else(|| self.err(s, format!("unknown dtype `{n}`")))
            }
            _ => Err(self.err(s, format!("{key}= expects a dtype"))),
        }
    }

    fn dim(&self, v: &AttrVal, s: Span, key: &str) -> PResult<Dim> {
        match v {
            AttrVal::Scalar(Scalar::Int(i)) if *i >= 0 => Ok(Dim::Const(*i as u64)),
            AttrVal::Ident(n) if DType::from_name(n).is_none() => Ok(Dim::Sym(n.clone())),
            _ => Err(self.err(s, format!("{key}= expects sizes (integers ≥ 0 or symbols)"))),
        }
    }

    fn shape_attr(&mut self, key: &str) -> PResult<Shape> {
        let (v, s) = self.required(key, "a shape `[…]`")?;
        match &v {
            AttrVal::List(items) => {
                Ok(Shape(items.iter().map(|x| self.dim(x, s, key)).collect::<PResult<_>>()?))
            }
            _ => Err(self.err(s, format!("{key}= expects a shape `[…]`"))),
        }
    }

    fn finish(self) -> PResult<()> {
        match self.items.first() {
            Some((k, _, s)) => Err(self.err(*s, format!("unknown attribute {k}="))),
            None => Ok(()),
        }
    }
}

fn build_op(
    name: &str,
    n_operands: usize,
    items: Vec<(String, AttrVal, Span)>,
    at: Span,
) -> PResult<Op> {
    let mut a = Attrs { op: name.to_string(), items, at };
    let reduce = ReduceKind::ALL.into_iter().find(|k| k.name() == name);
    let binary = Binary::ALL.into_iter().find(|k| k.name() == name);
    let op = if let Some(kind) = Unary::ALL.into_iter().find(|k| k.name() == name) {
        Op::Unary { kind }
    } else if let (Some(kind), true) = (binary, reduce.is_none() || n_operands != 1) {
        // `max`/`min` are binary with two operands and reductions with one.
        Op::Binary { kind }
    } else if let Some(kind) = reduce {
        let (dims, _) =
            a.uint_list("dims")?.ok_or_else(|| a.err(at, "missing attribute dims=[…]".into()))?;
        let keepdim = a.bool_attr("keepdim", false)?;
        Op::Reduce { kind, dims: dims.into_iter().map(|d| d as usize).collect(), keepdim }
    } else {
        match name {
            "select" => Op::Select,
            "cast" => Op::Cast { to: a.dtype_attr("to")? },
            "reshape" => {
                let (v, s) = a.required("shape", "a shape `[…]`, one entry may be -1")?;
                let AttrVal::List(items) = v else {
                    return Err(a.err(s, "shape= expects a list `[…]`".into()));
                };
                let shape = items
                    .iter()
                    .map(|x| match x {
                        AttrVal::Scalar(Scalar::Int(-1)) => Ok(ReshapeDim::Infer),
                        _ => a.dim(x, s, "shape").map(ReshapeDim::Dim),
                    })
                    .collect::<PResult<_>>()?;
                Op::Reshape { shape }
            }
            "permute" => {
                let (dims, _) = a
                    .uint_list("dims")?
                    .ok_or_else(|| a.err(at, "missing attribute dims=[…]".into()))?;
                Op::Permute { dims: dims.into_iter().map(|d| d as usize).collect() }
            }
            "broadcast" => Op::Broadcast { shape: a.shape_attr("shape")? },
            "slice" => {
                let (starts, _) = a
                    .uint_list("starts")?
                    .ok_or_else(|| a.err(at, "missing attribute starts=[…]".into()))?;
                let ends = a.shape_attr("ends")?.0;
                let steps = match a.uint_list("steps")? {
                    Some((v, _)) => v,
                    None => vec![1; starts.len()],
                };
                Op::Slice { starts, ends, steps }
            }
            "concat" => Op::Concat { axis: a.uint_attr("axis", None)? as usize },
            "gather" => Op::Gather { axis: a.uint_attr("axis", None)? as usize },
            "iota" => {
                let shape = a.shape_attr("shape")?;
                let dim = a.uint_attr("dim", None)? as usize;
                let given = a.items.iter().any(|(k, _, _)| k == "to");
                let to = if given { a.dtype_attr("to")? } else { DType::I64 };
                Op::Iota { shape, dim, to }
            }
            "const" => {
                let (v, s) = a.required("value", "a literal or a list of literals")?;
                let value = match v {
                    AttrVal::Scalar(x) => vec![x],
                    AttrVal::List(items) => items
                        .into_iter()
                        .map(|x| match x {
                            AttrVal::Scalar(x) => Ok(x),
                            _ => Err(a.err(s, "value= expects literals".into())),
                        })
                        .collect::<PResult<_>>()?,
                    AttrVal::Ident(n) => {
                        return Err(a.err(s, format!("value= expects literals, got `{n}`")));
                    }
                };
                Op::Const { value }
            }
            "matmul" => Op::Matmul,
            "conv2d" => Op::Conv2d(Conv2dAttrs {
                stride: a.pair("stride", Some([1, 1]))?,
                padding: a.pair("padding", Some([0, 0]))?,
                dilation: a.pair("dilation", Some([1, 1]))?,
                groups: a.uint_attr("groups", Some(1))?,
                channels_last: a.layout_attr()?,
            }),
            "max_pool2d" | "avg_pool2d" => {
                let kernel = a.pair("kernel", None)?;
                let pool = PoolAttrs {
                    kernel,
                    stride: a.pair("stride", Some(kernel))?,
                    padding: a.pair("padding", Some([0, 0]))?,
                    count_include_pad: if name == "avg_pool2d" {
                        a.bool_attr("count_include_pad", true)?
                    } else {
                        true
                    },
                    channels_last: a.layout_attr()?,
                };
                if name == "max_pool2d" { Op::MaxPool2d(pool) } else { Op::AvgPool2d(pool) }
            }
            "param" | "func" | "return" => {
                return Err(ParseError { span: at, message: format!("`{name}` is not an op") });
            }
            _ => return Err(ParseError { span: at, message: format!("unknown op `{name}`") }),
        }
    };
    a.finish()?;
    Ok(op)
}
