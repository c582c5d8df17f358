//! The graph IR: types, the op table, functions as graphs, the text format
//! (printer and parser), JSON, and the verifier. IR.md is the contract.

pub mod graph;
pub mod json;
pub mod lexer;
pub mod op;
pub mod parse;
pub mod print;
pub mod types;
pub mod verify;

pub use graph::{Func, Module, Node, NodeId, Operand, Span};
pub use op::{
    Arity, Binary, Conv2dAttrs, Op, OpClass, OpInfo, OperandType, PoolAttrs, ReduceKind,
    ReshapeDim, Scalar, TypeError, Unary, nchw_of_nhwc, nhwc_of_nchw,
};
pub use parse::{ParseError, parse_func, parse_module};
pub use types::{DType, Dim, Layout, Monomial, Shape, Type, broadcast_shapes, broadcasts_to};
pub use verify::{VerifyError, verify, verify_module};
