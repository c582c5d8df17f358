//! smelt-frontends: turning eager programs into IR.
//!
//! Empty for now: tracing (`trace(f, inputs) -> Func`) and `compile(f)` with
//! guards arrive with the runtime/frontend issue. Until then, programs reach
//! the compiler as IR text (`smelt_compiler::ir::parse_module`).
