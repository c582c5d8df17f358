//! TEMPORARY stand-in for `crate::interp::eval_op` (helper interp's), with
//! the agreed signature, so const_fold compiles and is tested before the
//! interpreter lands. Deleted before the final commit.
#![allow(missing_docs, dead_code)]

use std::collections::HashMap;

use crate::ir::{Binary, Op, ReduceKind, Scalar, Type, Unary};
use crate::numerics::round_to;
use crate::tensor::{Data, HostTensor, wrap_int};

pub type Bindings = HashMap<String, u64>;

pub enum Arg<'a> {
    Tensor(&'a HostTensor),
    Lit(Scalar),
}

#[derive(Debug)]
pub struct InterpError(pub String);

fn shape(out: &Type) -> Result<Vec<usize>, InterpError> {
    out.shape
        .as_consts()
        .map(|v| v.into_iter().map(|d| d as usize).collect())
        .ok_or(InterpError("sym".into()))
}

fn get(a: &Arg<'_>, i: usize) -> f64 {
    match a {
        Arg::Tensor(t) => t.get_f64(if t.numel() == 1 { 0 } else { i }),
        Arg::Lit(s) => s.as_f64(),
    }
}

pub fn eval_op(
    op: &Op,
    args: &[Arg<'_>],
    out: &Type,
    _syms: &Bindings,
) -> Result<HostTensor, InterpError> {
    let sh = shape(out)?;
    let n: usize = sh.iter().product();
    let d = out.dtype;
    let mut vals = Vec::with_capacity(n);
    match op {
        Op::Reduce { kind: ReduceKind::Sum, .. } => {
            let Arg::Tensor(t) = &args[0] else { return Err(InterpError("lit".into())) };
            vals.push(t.to_f64_vec().iter().sum::<f64>());
        }
        _ => {
            for i in 0..n {
                let a = get(&args[0], i);
                let v = match op {
                    Op::Unary { kind: Unary::Neg } => -a,
                    Op::Unary { kind: Unary::Exp } => a.exp(),
                    Op::Unary { kind: Unary::Sqrt } => a.sqrt(),
                    Op::Cast { .. } if d.is_int() => a.trunc(),
                    Op::Cast { .. } => a,
                    Op::Binary { kind } => {
                        let b = get(&args[1], i);
                        match kind {
                            Binary::Add => a + b,
                            Binary::Sub => a - b,
                            Binary::Mul => a * b,
                            Binary::Div if d.is_int() && b == 0.0 => {
                                return Err(InterpError("division by zero".into()));
                            }
                            Binary::Div if d.is_int() => (a / b).trunc(),
                            Binary::Div => a / b,
                            Binary::Lt => f64::from(u8::from(a < b)),
                            _ => return Err(InterpError("stub".into())),
                        }
                    }
                    _ => return Err(InterpError("stub".into())),
                };
                vals.push(v);
            }
        }
    }
    Ok(if d.is_float() {
        HostTensor::from_f64(d, &sh, vals.into_iter().map(|v| round_to(d, v)).collect())
    } else if d.is_int() {
        HostTensor {
            dtype: d,
            shape: sh,
            data: Data::Int(vals.into_iter().map(|v| wrap_int(d, v as i64)).collect()),
        }
    } else {
        HostTensor::from_bool(&sh, vals.into_iter().map(|v| v != 0.0).collect())
    })
}
