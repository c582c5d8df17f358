//! The recorder contract, checked the way a frontend will use it: a tiny
//! tracer turns every recorded op into an IR node (tensors it has not seen
//! become parameters), and the traced function, run by `exec::run_func`,
//! must give exactly the eager result. Covers views, promotion casts,
//! literals, constants and the composites.

mod tensor_common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use smelt_compiler::ir::DType;
use smelt_compiler::ir::{Func, Layout, NodeId, Op, Operand, Shape, Type, verify};
use smelt_runtime::dispatch::{ArgRef, Recorder, with_recorder};
use smelt_runtime::exec::run_func;
use smelt_runtime::functional::{
    Approximate, gelu, layer_norm, linear, scaled_dot_product_attention, softmax,
};
use smelt_runtime::tensor::{Result, Tensor, TensorId};
use tensor_common::data;

#[derive(Default)]
struct Tracer {
    func: RefCell<Option<Func>>,
    values: RefCell<HashMap<TensorId, NodeId>>,
    params: RefCell<Vec<Tensor>>,
}

fn type_of(t: &Tensor) -> Type {
    Type::new(t.dtype(), Shape::of(&t.shape().iter().map(|&d| d as u64).collect::<Vec<_>>()))
}

impl Tracer {
    fn value(&self, t: &Tensor) -> NodeId {
        if let Some(&v) = self.values.borrow().get(&t.id()) {
            return v;
        }
        let mut f = self.func.borrow_mut();
        let f = f.get_or_insert_with(|| Func::new("traced"));
        let n = self.params.borrow().len();
        let p = f.add_param(format!("p{n}"), type_of(t), Layout::RowMajor);
        self.params.borrow_mut().push(t.clone());
        self.values.borrow_mut().insert(t.id(), p);
        p
    }
}

impl Recorder for Tracer {
    fn op(&self, op: &Op, args: &[ArgRef<'_>], out: &Tensor) {
        let operands: Vec<Operand> = args
            .iter()
            .map(|a| match a {
                ArgRef::Tensor(t) => Operand::Value(self.value(t)),
                ArgRef::Lit(s) => Operand::Lit(*s),
            })
            .collect();
        let mut f = self.func.borrow_mut();
        let f = f.get_or_insert_with(|| Func::new("traced"));
        let node = if matches!(op, Op::Const { .. }) {
            f.add_node(op.clone(), operands, type_of(out))
        } else {
            f.add_inferred(op.clone(), operands).expect("a recorded op type-checks")
        };
        assert_eq!(f.ty(node), &type_of(out), "{} infers the type eager gave", op.name());
        self.values.borrow_mut().insert(out.id(), node);
    }

    fn opaque(&self, name: &str, _: &[&Tensor], _: &[&Tensor]) {
        panic!("unexpected graph break {name}");
    }
}

/// Traces `f(inputs)`, replays the trace, and compares with eager.
fn check(what: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) {
    let tracer = Rc::new(Tracer::default());
    for t in inputs {
        tracer.value(t);
    }
    let eager = with_recorder(tracer.clone(), || f(inputs)).unwrap();
    let mut func = tracer.func.borrow_mut().take().unwrap();
    let result = tracer.values.borrow()[&eager.id()];
    func.set_results(vec![result]);
    verify(&func).unwrap_or_else(|e| panic!("{what}: traced function is invalid: {e:?}\n{func}"));
    let params = tracer.params.borrow().clone();
    let replay = run_func(&func, &params).unwrap().remove(0);
    assert_eq!(replay.shape(), eager.shape(), "{what}");
    assert_eq!(replay.dtype(), eager.dtype(), "{what}");
    let (a, b) = (replay.to_f64_vec(), eager.to_f64_vec());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * y.abs().max(1.0),
            "{what}[{i}]: replay {x} vs eager {y}\n{func}"
        );
    }
}

fn t(shape: &[usize], seed: u64) -> Tensor {
    Tensor::from_vec(data(shape.iter().product(), seed), shape).unwrap()
}

#[test]
fn traces_replay_to_the_eager_result() {
    let x = t(&[2, 5, 8], 1);
    check("views", std::slice::from_ref(&x), |i| {
        let a = i[0].transpose(1, 2)?.narrow(2, 1, 3)?; // [2, 8, 3]
        let b = a.reshape(&[2, 24])?.unsqueeze(1)?.expand(&[2, 4, 24])?;
        b.slice(2, 1, 20, 3)?.squeeze(0)?.contiguous()?.mul(2.0)
    });
    let ids = Tensor::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
    check("promotion", &[x.clone(), ids.clone()], |i| {
        let s = i[0].sum(&[1], false)?; // [2, 8]
        let c = i[1].add(1)?.to_dtype(DType::I64)?.unsqueeze(1)?; // [3, 1]
        let z = Tensor::zeros(&[3, 1], DType::F64)?;
        s.narrow(0, 0, 1)?.add(&c)?.add(&z)?.div(3)
    });
    check("arange and where", std::slice::from_ref(&x), |i| {
        let r = Tensor::arange(0.0, 8.0, 1.0, DType::F32)?;
        let m = i[0].gt(&r)?;
        smelt_runtime::tensor::where_cond(&m, &i[0], -1.0)?.argmax(Some(-1), true)
    });
    let (w, b) = (t(&[8], 2), t(&[8], 3));
    check("layer_norm gelu softmax", &[x.clone(), w, b], |i| {
        let y = layer_norm(&i[0], &[8], Some(&i[1]), Some(&i[2]), 1e-5)?;
        softmax(&gelu(&y, Approximate::Tanh)?, -1)?.logsumexp(&[1], false)
    });
    let (wl, bl) = (t(&[6, 8], 4), t(&[6], 5));
    check("linear attention", &[x.clone(), wl, bl], |i| {
        let h = linear(&i[0], &i[1], Some(&i[2]))?; // [2, 5, 6]
        let q = h.reshape(&[2, 5, 2, 3])?.permute(&[0, 2, 1, 3])?;
        scaled_dot_product_attention(&q, &q, &q, None, true, None)
    });
    let g = Tensor::from_vec(vec![0i64, 7, 3, 3], &[2, 1, 2]).unwrap();
    check("gather var", &[x, g], |i| {
        i[0].gather(2, &i[1].expand(&[2, 5, 2])?)?.var(&[1], 1.0, false)
    });
}
