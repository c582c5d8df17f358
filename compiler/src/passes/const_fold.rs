//! `const_fold`: an instruction whose operands are all `const` nodes (or
//! literals) is evaluated by the reference interpreter and becomes a `const`.
//!
//! Two cases fold:
//! - every const operand is a splat and the op is elementwise (or moves
//!   elements without computing: reshape, permute, broadcast, slice): one
//!   element is evaluated and the result is a splat of the node's type. This
//!   works whatever the shapes, symbolic ones included;
//! - otherwise, shapes are static and the result has at most
//!   `MAX_FOLDED_ELEMENTS` elements (and the inputs at most
//!   `MAX_INPUT_ELEMENTS`): constants are inline data, not weights.
//!
//! The interpreter is the oracle, so a folded value is bit for bit what the
//! interpreter computes at run time. An evaluation error (integer division by
//! zero, an index out of range) leaves the node alone: the error belongs to
//! run time, where it is reported with the real inputs.

use crate::interp;
use super::{Pass, PassError};
use crate::ir::{DType, Func, NodeId, Op, OpClass, Operand, Scalar, Type};
use crate::tensor::{Data, HostTensor};
use crate::interp::{Arg, Bindings};

/// The most elements a non-splat folded constant may have.
pub const MAX_FOLDED_ELEMENTS: u64 = 1024;
/// The most elements one operand of a non-splat fold may have (a splat
/// operand is expanded to its full size to be evaluated).
pub const MAX_INPUT_ELEMENTS: u64 = 1 << 16;

/// The constant folding pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConstFold;

impl Pass for ConstFold {
    fn name(&self) -> &'static str {
        "const_fold"
    }

    fn run(&self, f: &mut Func) -> Result<bool, PassError> {
        let mut changed = false;
        // Program order: a folded node is a const by the time its users come.
        for id in f.program_order() {
            if let Some(value) = fold(f, id) {
                f.node_mut(id).op = Op::Const { value };
                f.set_operands(id, Vec::new());
                changed = true;
            }
        }
        Ok(changed)
    }
}

/// An operand known at compile time.
enum Known<'a> {
    Lit(Scalar),
    Const { value: &'a [Scalar], ty: &'a Type },
}

/// The folded value of `id` (a splat or the full row-major data), if it folds.
fn fold(f: &Func, id: NodeId) -> Option<Vec<Scalar>> {
    let node = f.node(id);
    // Params, consts and iotas have no operands: they are leaves already.
    if node.operands().is_empty() {
        return None;
    }
    let known: Vec<Known<'_>> = node
        .operands()
        .iter()
        .map(|o| match *o {
            Operand::Lit(s) => Some(Known::Lit(s)),
            Operand::Value(v) => match &f.node(v).op {
                Op::Const { value } => Some(Known::Const { value, ty: f.ty(v) }),
                _ => None,
            },
        })
        .collect::<Option<_>>()?;
    let all_splats = known.iter().all(|k| match k {
        Known::Lit(_) => true,
        Known::Const { value, .. } => value.len() == 1,
    });
    if all_splats {
        if let Some(v) = fold_splat(&node.op, &known, node.ty.dtype) {
            return Some(vec![v]);
        }
    }
    fold_static(&node.op, &known, &node.ty)
}

/// A splat result from splat operands, for ops where every output element is
/// the same function of the same input elements.
fn fold_splat(op: &Op, known: &[Known<'_>], dtype: DType) -> Option<Scalar> {
    match op {
        Op::Reshape { .. } | Op::Permute { .. } | Op::Broadcast { .. } | Op::Slice { .. } => {
            match known.first()? {
                Known::Const { value, .. } => value.first().copied(),
                Known::Lit(_) => None,
            }
        }
        _ if op.class() == OpClass::Elementwise => {
            let tensors: Vec<Option<HostTensor>> = known
                .iter()
                .map(|k| match k {
                    Known::Lit(_) => Some(None),
                    Known::Const { value, ty } => tensor(value, ty.dtype, &[]).map(Some),
                })
                .collect::<Option<_>>()?;
            let out = eval(op, known, &tensors, &Type::scalar(dtype))?;
            out.into_iter().next()
        }
        _ => None,
    }
}

/// The full result, when every shape is static and small enough.
fn fold_static(op: &Op, known: &[Known<'_>], ty: &Type) -> Option<Vec<Scalar>> {
    let numel = |t: &Type| t.shape.as_consts().map(|d| d.iter().product::<u64>());
    let n = numel(ty)?;
    // A zero-element const would have an empty value= list, which is invalid.
    if n == 0 || n > MAX_FOLDED_ELEMENTS {
        return None;
    }
    let tensors: Vec<Option<HostTensor>> = known
        .iter()
        .map(|k| match k {
            Known::Lit(_) => Some(None),
            Known::Const { value, ty } => {
                let dims = ty.shape.as_consts()?;
                if dims.iter().product::<u64>() > MAX_INPUT_ELEMENTS {
                    return None;
                }
                let dims: Vec<usize> = dims.into_iter().map(|d| d as usize).collect();
                tensor(value, ty.dtype, &dims).map(Some)
            }
        })
        .collect::<Option<_>>()?;
    let mut value = eval(op, known, &tensors, ty)?;
    // All equal (bit for bit): a splat says the same in one element.
    if value.iter().all(|v| *v == value[0]) {
        value.truncate(1);
    }
    Some(value)
}

/// Runs the interpreter on one op; `None` on any evaluation error.
fn eval(
    op: &Op,
    known: &[Known<'_>],
    tensors: &[Option<HostTensor>],
    out: &Type,
) -> Option<Vec<Scalar>> {
    let args: Vec<Arg<'_>> = known
        .iter()
        .zip(tensors)
        .map(|(k, t)| match (k, t) {
            (Known::Lit(s), _) => Some(Arg::Lit(*s)),
            (Known::Const { .. }, Some(t)) => Some(Arg::Tensor(t)),
            (Known::Const { .. }, None) => None,
        })
        .collect::<Option<_>>()?;
    let result = interp::eval_op(op, &args, out, &Bindings::new()).ok()?;
    let want: u64 = out.shape.as_consts()?.iter().product();
    if result.dtype != out.dtype || result.numel() as u64 != want {
        return None; // not what the type says: leave it to run time
    }
    Some(match result.data {
        Data::Float(v) => v.into_iter().map(Scalar::Float).collect(),
        Data::Int(v) => v.into_iter().map(Scalar::Int).collect(),
        Data::Bool(v) => v.into_iter().map(Scalar::Bool).collect(),
    })
}

/// The tensor a `const` of `dtype` with `value` (one per element, or a splat)
/// stands for, at concrete `shape`.
fn tensor(value: &[Scalar], dtype: DType, shape: &[usize]) -> Option<HostTensor> {
    let n: usize = shape.iter().product();
    let at = |i: usize| if value.len() == 1 { value[0] } else { value[i] };
    if value.len() != 1 && value.len() != n {
        return None;
    }
    Some(if dtype.is_float() {
        HostTensor::from_f64(dtype, shape, (0..n).map(|i| at(i).as_f64()).collect())
    } else if dtype.is_int() {
        let ints = (0..n)
            .map(|i| match at(i) {
                Scalar::Int(x) => Some(x),
                _ => None,
            })
            .collect::<Option<_>>()?;
        HostTensor::from_i64(dtype, shape, ints)
    } else {
        let bools = (0..n)
            .map(|i| match at(i) {
                Scalar::Bool(b) => Some(b),
                _ => None,
            })
            .collect::<Option<_>>()?;
        HostTensor::from_bool(shape, bools)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::parse_func;

    fn folded(src: &str) -> (bool, String) {
        let mut f = parse_func(src).unwrap();
        let changed = ConstFold.run(&mut f).unwrap();
        crate::ir::verify(&f).unwrap();
        super::super::Dce.run(&mut f).unwrap();
        (changed, f.to_string())
    }

    fn same(src: &str, want: &str) {
        assert_eq!(folded(src).1, parse_func(want).unwrap().to_string());
    }

    #[test]
    fn splats_fold_through_elementwise_ops_with_symbolic_shapes() {
        same(
            "func @f(%x: f32[n, 4]) -> (f32[n, 4]) {
               %a = const value=2.0 : f32[n, 4]
               %b = const value=3 : f32[]
               %c = mul(%a, %b) : f32[n, 4]
               %d = add(%c, 1.0) : f32[n, 4]
               %r = add(%x, %d) : f32[n, 4]
               return %r }",
            "func @f(%x: f32[n, 4]) -> (f32[n, 4]) {
               %d = const value=7.0 : f32[n, 4]
               %r = add(%x, %d) : f32[n, 4]
               return %r }",
        );
    }

    #[test]
    fn results_are_rounded_to_the_dtype() {
        // 0.1 is not an f32: the interpreter rounds it, so the fold does too.
        let (_, text) = folded(
            "func @f() -> (f32[]) {
               %a = const value=0.1 : f32[]
               %r = neg(%a) : f32[]
               return %r }",
        );
        assert!(text.contains(&format!("value={:?}", -f64::from(0.1f32))), "{text}");
    }

    #[test]
    fn movement_of_a_splat_is_a_splat() {
        same(
            "func @f() -> (f32[n, 4]) {
               %a = const value=1.5 : f32[4]
               %r = broadcast(%a) shape=[n, 4] : f32[n, 4]
               return %r }",
            "func @f() -> (f32[n, 4]) { %r = const value=1.5 : f32[n, 4] return %r }",
        );
    }

    #[test]
    fn small_static_consts_fold_elementwise_and_reductions() {
        same(
            "func @f() -> (i64[3], i64[]) {
               %a = const value=[1, 2, 3] : i64[3]
               %b = const value=[10, 20, 30] : i64[3]
               %c = add(%a, %b) : i64[3]
               %s = sum(%c) dims=[0] keepdim=false : i64[]
               return %c, %s }",
            "func @f() -> (i64[3], i64[]) {
               %c = const value=[11, 22, 33] : i64[3]
               %s = const value=66 : i64[]
               return %c, %s }",
        );
        // Equal elements come back as a splat.
        same(
            "func @f() -> (i64[2]) {
               %a = const value=[1, 2] : i64[2]
               %b = const value=[2, 1] : i64[2]
               %c = add(%a, %b) : i64[2]
               return %c }",
            "func @f() -> (i64[2]) { %c = const value=3 : i64[2] return %c }",
        );
    }

    #[test]
    fn refuses_params_big_results_and_symbolic_non_splats() {
        let cases = [
            // A parameter operand.
            "func @f(%x: f32[4]) -> (f32[4]) { %r = add(%x, 1.0) : f32[4] return %r }",
            // 2048 elements, not a splat.
            "func @f() -> (f32[1024, 2]) {
               %a = const value=[1.0, 2.0] : f32[2]
               %r = broadcast(%a) shape=[1024, 2] : f32[1024, 2]
               return %r }",
            // Non-splat consts under a symbolic result.
            "func @f() -> (f32[n, 2]) {
               %a = const value=[1.0, 2.0] : f32[2]
               %r = broadcast(%a) shape=[n, 2] : f32[n, 2]
               return %r }",
        ];
        for src in cases {
            let f = parse_func(src).unwrap();
            let last = f.program_order()[f.program_order().len() - 1];
            assert_eq!(fold(&f, last), None, "{src}");
        }
    }

    #[test]
    fn an_evaluation_error_leaves_the_node_for_run_time() {
        let (changed, text) = folded(
            "func @f() -> (i32[]) {
               %a = const value=7 : i32[]
               %r = div(%a, 0) : i32[]
               return %r }",
        );
        assert!(!changed);
        assert!(text.contains("div("), "{text}");
    }
}
