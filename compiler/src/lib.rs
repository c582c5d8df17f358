//! smelt-compiler: the graph IR, the reference interpreter, the pass
//! pipeline, the fusion planner and (later) the backends.
//!
//! Pipeline: text or a traced graph → [`ir`] (parse, verify) → [`passes`]
//! (canonicalize, fold, CSE, DCE, simplify) → [`plan`] (kernels) → a
//! backend, or [`interp`], the f64 oracle every backend is tested against.

pub mod backend;
pub mod interp;
pub mod ir;
pub mod numerics;
pub mod passes;
pub mod plan;
pub mod tensor;

pub use tensor::{Data, HostTensor};
