//! The ops: unary, binary, select and cast on computed values (scalar or
//! 4 lanes), integer wrapping and narrow-float rounding. Which ops are
//! inline and which call helpers is listed in `emit.rs`.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Value, types};

use super::emit::{Cls, V, cls};
use super::lower::{Lower, LowerErr};
use crate::ir::{Binary, DType, Unary};

fn no_vec(why: &str) -> LowerErr {
    LowerErr::NoVector(why.to_string())
}

impl Lower<'_> {
    pub(super) fn unary(&mut self, kind: Unary, d: DType, x: V) -> Result<V, LowerErr> {
        let out = |v: Value| V { v, vec: x.vec, cls: x.cls };
        match x.cls {
            Cls::Bool => {
                let v = if x.vec { self.b.ins().bnot(x.v) } else { self.b.ins().bxor_imm(x.v, 1) };
                Ok(out(v))
            }
            Cls::Int => {
                if x.vec {
                    return Err(no_vec("integer lanes"));
                }
                let a = x.v;
                let v = match kind {
                    Unary::Neg => self.b.ins().ineg(a),
                    Unary::Abs => self.b.ins().iabs(a),
                    Unary::Sign => {
                        let pos = self.b.ins().icmp_imm(IntCC::SignedGreaterThan, a, 0);
                        let neg = self.b.ins().icmp_imm(IntCC::SignedLessThan, a, 0);
                        let one = self.iconst(1);
                        let m1 = self.iconst(-1);
                        let zero = self.iconst(0);
                        let n = self.b.ins().select(neg, m1, zero);
                        self.b.ins().select(pos, one, n)
                    }
                    Unary::Relu => {
                        let zero = self.iconst(0);
                        self.b.ins().smax(a, zero)
                    }
                    Unary::Floor | Unary::Ceil | Unary::Round => a,
                    _ => return Err(self.unsupported(format!("{} on {d}", kind.name()))),
                };
                Ok(self.wrap_int(d, out(v)))
            }
            Cls::F32 | Cls::F64 => {
                let a = x.v;
                let f64_ = x.cls == Cls::F64;
                let v = match kind {
                    Unary::Neg => self.b.ins().fneg(a),
                    Unary::Abs => self.b.ins().fabs(a),
                    Unary::Sqrt => self.b.ins().sqrt(a),
                    Unary::Rsqrt => {
                        let s = self.b.ins().sqrt(a);
                        let one = self.fconst(a, 1.0);
                        self.b.ins().fdiv(one, s)
                    }
                    Unary::Recip => {
                        let one = self.fconst(a, 1.0);
                        self.b.ins().fdiv(one, a)
                    }
                    Unary::Floor => self.b.ins().floor(a),
                    Unary::Ceil => self.b.ins().ceil(a),
                    Unary::Round => self.b.ins().nearest(a),
                    Unary::Relu => {
                        let zero = self.fconst(a, 0.0);
                        let keep = self.b.ins().fcmp(FloatCC::UnorderedOrGreaterThan, a, zero);
                        self.pick(keep, a, zero)
                    }
                    Unary::Sign => {
                        let zero = self.fconst(a, 0.0);
                        let one = self.fconst(a, 1.0);
                        let m1 = self.fconst(a, -1.0);
                        let pos = self.b.ins().fcmp(FloatCC::GreaterThan, a, zero);
                        let neg = self.b.ins().fcmp(FloatCC::LessThan, a, zero);
                        let n = self.pick(neg, m1, a);
                        self.pick(pos, one, n)
                    }
                    Unary::Exp if !f64_ => self.exp_f32(a),
                    Unary::Exp2 if !f64_ => self.exp2_f32(a),
                    Unary::Sigmoid if !f64_ => self.sigmoid_f32(a),
                    Unary::Tanh if !f64_ => self.tanh_f32(a),
                    Unary::Erf if !f64_ => self.erf_f32(a),
                    Unary::Log if !f64_ => self.log_f32(a),
                    Unary::Log2 if !f64_ => self.log2_f32(a),
                    Unary::Sin if !f64_ => self.sincos_f32(a, false)?,
                    Unary::Cos if !f64_ => self.sincos_f32(a, true)?,
                    Unary::Sigmoid => {
                        let n = self.b.ins().fneg(a);
                        let e = self.call("smelt_exp_f64", &[n])?;
                        let one = self.fconst(a, 1.0);
                        let s = self.b.ins().fadd(one, e);
                        self.b.ins().fdiv(one, s)
                    }
                    Unary::Not => return Err(self.unsupported(format!("not on {d}"))),
                    k => {
                        let name =
                            helper_name(k, f64_).ok_or_else(|| self.unsupported(k.name()))?;
                        self.call(name, &[a])?
                    }
                };
                Ok(out(v))
            }
        }
    }

    pub(super) fn binary(&mut self, kind: Binary, d: DType, a: V, b: V) -> Result<V, LowerErr> {
        let (a, b) = self.unify(a, b)?;
        let vec = a.vec;
        let c = a.cls;
        if kind.is_comparison() {
            // Comparisons observe values in their dtype, as casts do.
            let a = self.round_to_dtype(d, a)?;
            let b = self.round_to_dtype(d, b)?;
            let v = match c {
                Cls::F32 | Cls::F64 => {
                    let cc = match kind {
                        Binary::Eq => FloatCC::Equal,
                        Binary::Ne => FloatCC::NotEqual,
                        Binary::Lt => FloatCC::LessThan,
                        Binary::Le => FloatCC::LessThanOrEqual,
                        Binary::Gt => FloatCC::GreaterThan,
                        _ => FloatCC::GreaterThanOrEqual,
                    };
                    self.b.ins().fcmp(cc, a.v, b.v)
                }
                _ => {
                    let cc = match kind {
                        Binary::Eq => IntCC::Equal,
                        Binary::Ne => IntCC::NotEqual,
                        Binary::Lt => IntCC::SignedLessThan,
                        Binary::Le => IntCC::SignedLessThanOrEqual,
                        Binary::Gt => IntCC::SignedGreaterThan,
                        _ => IntCC::SignedGreaterThanOrEqual,
                    };
                    if vec && c == Cls::Int {
                        return Err(no_vec("integer lanes"));
                    }
                    self.b.ins().icmp(cc, a.v, b.v)
                }
            };
            return Ok(V { v, vec, cls: Cls::Bool });
        }
        let out = |v: Value| V { v, vec, cls: c };
        match c {
            Cls::Bool => {
                let v = match kind {
                    Binary::And => self.b.ins().band(a.v, b.v),
                    Binary::Or => self.b.ins().bor(a.v, b.v),
                    _ => return Err(self.unsupported(format!("{} on bool", kind.name()))),
                };
                Ok(out(v))
            }
            Cls::Int => {
                if vec {
                    return Err(no_vec("integer lanes"));
                }
                let (x, y) = (a.v, b.v);
                let v = match kind {
                    Binary::Add => self.b.ins().iadd(x, y),
                    Binary::Sub => self.b.ins().isub(x, y),
                    Binary::Mul => self.b.ins().imul(x, y),
                    Binary::Max => self.b.ins().smax(x, y),
                    Binary::Min => self.b.ins().smin(x, y),
                    Binary::Div | Binary::Rem => {
                        let zero = self.b.ins().icmp_imm(IntCC::Equal, y, 0);
                        self.fault(zero, 1);
                        let one = self.iconst(1);
                        let y1 = self.b.ins().select(zero, one, y);
                        // i64::MIN / -1 traps in hardware; it wraps in the IR.
                        let m1 = self.b.ins().icmp_imm(IntCC::Equal, y1, -1);
                        let y2 = self.b.ins().select(m1, one, y1);
                        if kind == Binary::Div {
                            let q = self.b.ins().sdiv(x, y2);
                            let n = self.b.ins().ineg(x);
                            self.b.ins().select(m1, n, q)
                        } else {
                            let r = self.b.ins().srem(x, y2);
                            let z = self.iconst(0);
                            self.b.ins().select(m1, z, r)
                        }
                    }
                    Binary::Pow => {
                        let neg = self.b.ins().icmp_imm(IntCC::SignedLessThan, y, 0);
                        self.fault(neg, 3);
                        self.call("smelt_ipow", &[x, y])?
                    }
                    _ => return Err(self.unsupported(format!("{} on {d}", kind.name()))),
                };
                Ok(self.wrap_int(d, out(v)))
            }
            Cls::F32 | Cls::F64 => {
                let f64_ = c == Cls::F64;
                let (x, y) = (a.v, b.v);
                let v = match kind {
                    Binary::Add => self.b.ins().fadd(x, y),
                    Binary::Sub => self.b.ins().fsub(x, y),
                    Binary::Mul => self.b.ins().fmul(x, y),
                    Binary::Div => self.b.ins().fdiv(x, y),
                    Binary::Max => self.b.ins().fmax(x, y),
                    Binary::Min => self.b.ins().fmin(x, y),
                    Binary::Rem => {
                        self.call(if f64_ { "smelt_fmod_f64" } else { "smelt_fmod_f32" }, &[x, y])?
                    }
                    Binary::Pow if !f64_ => self.pow_f32(x, y),
                    Binary::Pow => self.call("smelt_pow_f64", &[x, y])?,
                    _ => return Err(self.unsupported(format!("{} on {d}", kind.name()))),
                };
                Ok(out(v))
            }
        }
    }

    /// Records fault `code` where `cond` (a scalar i8) holds.
    fn fault(&mut self, cond: Value, code: i64) {
        let c = self.iconst(code);
        let z = self.iconst(0);
        let v = self.b.ins().select(cond, c, z);
        let e = self.b.use_var(self.err);
        let e = self.b.ins().bor(e, v);
        self.b.def_var(self.err, e);
    }

    pub(super) fn select(&mut self, c: V, a: V, b: V) -> Result<V, LowerErr> {
        let (a, b) = self.unify(a, b)?;
        if a.vec || c.vec {
            let av = self.widen(a)?;
            let bv = self.widen(b)?;
            let cv = self.widen(c)?;
            let v = self.pick(cv, av, bv);
            return Ok(V { v, vec: true, cls: a.cls });
        }
        Ok(V { v: self.b.ins().select(c.v, a.v, b.v), vec: false, cls: a.cls })
    }

    /// Wraps an i64 to the width of integer dtype `d`.
    pub fn wrap_int(&mut self, d: DType, x: V) -> V {
        let v = match d {
            DType::I32 => {
                let r = self.b.ins().ireduce(types::I32, x.v);
                self.b.ins().sextend(types::I64, r)
            }
            DType::I8 => {
                let r = self.b.ins().ireduce(types::I8, x.v);
                self.b.ins().sextend(types::I64, r)
            }
            DType::U8 => {
                let r = self.b.ins().ireduce(types::I8, x.v);
                self.b.ins().uextend(types::I64, r)
            }
            _ => x.v,
        };
        V { v, ..x }
    }

    /// Rounds an f32-computed value to f16/bf16 (other dtypes: unchanged).
    pub fn round_to_dtype(&mut self, d: DType, x: V) -> Result<V, LowerErr> {
        match d {
            DType::BF16 => Ok(V { v: self.round_bf16(x.v), ..x }),
            DType::F16 => Ok(V { v: self.call("smelt_round_f16", &[x.v])?, ..x }),
            _ => Ok(x),
        }
    }

    pub(super) fn cast(&mut self, from: DType, to: DType, x: V) -> Result<V, LowerErr> {
        if from == to {
            return Ok(x);
        }
        // A cast observes the value in its own dtype: a narrow float computed
        // in f32 (fused numerics) is rounded to it first.
        let x = self.round_to_dtype(from, x)?;
        let tc = cls(to);
        let v = match (x.cls, tc) {
            (Cls::F32, Cls::F32) => return self.round_to_dtype(to, x),
            (Cls::F32, Cls::F64) => {
                if x.vec {
                    return Err(no_vec("f64 lanes"));
                }
                self.b.ins().fpromote(types::F64, x.v)
            }
            (Cls::F64, Cls::F32) => match to {
                DType::BF16 => self.call("smelt_f64_to_bf16", &[x.v])?,
                DType::F16 => self.call("smelt_f64_to_f16", &[x.v])?,
                _ => self.b.ins().fdemote(types::F32, x.v),
            },
            (Cls::F32 | Cls::F64, Cls::Int) => {
                if x.vec {
                    return Err(no_vec("integer lanes"));
                }
                match to {
                    DType::I64 => self.b.ins().fcvt_to_sint_sat(types::I64, x.v),
                    DType::U8 => {
                        let r = self.b.ins().fcvt_to_uint_sat(types::I32, x.v);
                        let m = self.b.ins().iconst(types::I32, 255);
                        let r = self.b.ins().umin(r, m);
                        self.b.ins().uextend(types::I64, r)
                    }
                    _ => {
                        let r = self.b.ins().fcvt_to_sint_sat(types::I32, x.v);
                        let r = if to == DType::I8 {
                            let lo = self.b.ins().iconst(types::I32, -128);
                            let hi = self.b.ins().iconst(types::I32, 127);
                            let r = self.b.ins().smax(r, lo);
                            self.b.ins().smin(r, hi)
                        } else {
                            r
                        };
                        self.b.ins().sextend(types::I64, r)
                    }
                }
            }
            (Cls::F32 | Cls::F64, Cls::Bool) => {
                let z = self.fconst(x.v, 0.0);
                self.b.ins().fcmp(FloatCC::NotEqual, x.v, z)
            }
            (Cls::Int, Cls::F32 | Cls::F64) => match to {
                DType::F64 => self.b.ins().fcvt_from_sint(types::F64, x.v),
                DType::F32 => self.b.ins().fcvt_from_sint(types::F32, x.v),
                DType::BF16 => self.call("smelt_i64_to_bf16", &[x.v])?,
                _ => self.call("smelt_i64_to_f16", &[x.v])?,
            },
            (Cls::Int, Cls::Int) => return Ok(self.wrap_int(to, x)),
            (Cls::Int, Cls::Bool) => self.b.ins().icmp_imm(IntCC::NotEqual, x.v, 0),
            (Cls::Bool, Cls::F32 | Cls::F64) if x.vec => {
                let one = self.b.ins().f32const(1.0);
                let one = self.b.ins().splat(types::F32X4, one);
                let zero = self.fconst(one, 0.0);
                self.pick(x.v, one, zero)
            }
            (Cls::Bool, Cls::F32 | Cls::F64) => {
                let w = self.b.ins().uextend(types::I32, x.v);
                let ty = if tc == Cls::F64 { types::F64 } else { types::F32 };
                self.b.ins().fcvt_from_uint(ty, w)
            }
            (Cls::Bool, Cls::Int) => {
                if x.vec {
                    return Err(no_vec("integer lanes"));
                }
                self.b.ins().uextend(types::I64, x.v)
            }
            (Cls::Bool, Cls::Bool) | (Cls::F64, Cls::F64) => x.v,
        };
        Ok(V { v, vec: x.vec, cls: tc })
    }
}

/// The helper computing a transcendental that has no inline version.
fn helper_name(k: Unary, f64_: bool) -> Option<&'static str> {
    Some(match (k, f64_) {
        (Unary::Exp, true) => "smelt_exp_f64",
        (Unary::Exp2, true) => "smelt_exp2_f64",
        (Unary::Tanh, true) => "smelt_tanh_f64",
        (Unary::Erf, true) => "smelt_erf_f64",
        (Unary::Log, true) => "smelt_log_f64",
        (Unary::Log2, true) => "smelt_log2_f64",
        (Unary::Sin, true) => "smelt_sin_f64",
        (Unary::Cos, true) => "smelt_cos_f64",
        (Unary::Exp, false) => "smelt_exp_f32",
        (Unary::Exp2, false) => "smelt_exp2_f32",
        (Unary::Tanh, false) => "smelt_tanh_f32",
        (Unary::Erf, false) => "smelt_erf_f32",
        (Unary::Log, false) => "smelt_log_f32",
        (Unary::Log2, false) => "smelt_log2_f32",
        (Unary::Sin, false) => "smelt_sin_f32",
        (Unary::Cos, false) => "smelt_cos_f32",
        _ => return None,
    })
}
