//! Creation, host conversion, type promotion, errors, devices, the seeded
//! generator, the recorder hook, `run_func` and the kernel cache.

use std::cell::RefCell;
use std::rc::Rc;

use smelt_compiler::ir::{DType, Op, parse_func};
use smelt_runtime::dispatch::{ArgRef, Recorder, with_recorder};
use smelt_runtime::exec::{kernels_compiled, run_func};
use smelt_runtime::functional::softmax;
use smelt_runtime::tensor::{Device, Generator, Tensor, TensorError};

#[test]
fn every_dtype_round_trips_through_bytes_and_vecs() {
    for d in DType::ALL {
        let t = Tensor::arange(0.0, 5.0, 1.0, d).unwrap();
        assert_eq!(t.dtype(), d);
        let want: Vec<f64> = if d == DType::Bool {
            vec![0.0, 1.0, 1.0, 1.0, 1.0]
        } else {
            vec![0.0, 1.0, 2.0, 3.0, 4.0]
        };
        assert_eq!(t.to_f64_vec(), want, "{d}");
        let back = Tensor::from_bytes(d, &[5], &t.to_bytes()).unwrap();
        assert_eq!(back.to_f64_vec(), want);
        assert_eq!(Tensor::from_host(&t.to_host()).to_f64_vec(), want);
    }
    let h = Tensor::from_vec(vec![half::bf16::from_f32(1.5), half::bf16::from_f32(-2.0)], &[2])
        .unwrap();
    assert_eq!(h.to_vec::<half::bf16>().unwrap()[1].to_f32(), -2.0);
    assert!(h.to_vec::<f32>().is_err());
    assert!(matches!(Tensor::from_vec(vec![1.0f32; 5], &[2, 3]), Err(TensorError::Data { .. })));
    assert!(Tensor::from_bytes(DType::F32, &[2], &[0; 7]).is_err());
}

#[test]
fn creation_functions_give_closed_forms() {
    let t = Tensor::full(&[2, 3], DType::F16, 2.5).unwrap();
    assert_eq!(t.to_f64_vec(), vec![2.5; 6]);
    assert_eq!(Tensor::zeros(&[0, 3], DType::F32).unwrap().numel(), 0);
    let a = Tensor::arange(1.0, 2.0, 0.25, DType::F32).unwrap();
    assert_eq!(a.to_f64_vec(), vec![1.0, 1.25, 1.5, 1.75]);
    let a = Tensor::arange(10.0, 0.0, -3.0, DType::I32).unwrap();
    assert_eq!(a.to_vec::<i32>().unwrap(), vec![10, 7, 4, 1]);
    assert!(Tensor::arange(0.0, 1.0, 0.0, DType::F32).is_err());
    let l = Tensor::linspace(0.0, 1.0, 5, DType::F64).unwrap();
    assert_eq!(l.to_f64_vec(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
}

#[test]
fn type_promotion_follows_pytorch() {
    let i32t = Tensor::from_vec(vec![1i32, 2], &[2]).unwrap();
    assert_eq!(i32t.add(1.5).unwrap().dtype(), DType::F32);
    assert_eq!(i32t.add(1).unwrap().dtype(), DType::I32);
    let h = Tensor::ones(&[2], DType::F16).unwrap();
    assert_eq!(h.mul(2.5).unwrap().dtype(), DType::F16);
    assert_eq!(h.add(&Tensor::ones(&[2], DType::BF16).unwrap()).unwrap().dtype(), DType::F32);
    let u8t = Tensor::from_vec(vec![200u8, 1], &[2]).unwrap();
    let i8t = Tensor::from_vec(vec![-1i8, 1], &[2]).unwrap();
    let s = u8t.add(&i8t).unwrap();
    assert_eq!((s.dtype(), s.to_f64_vec()), (DType::I32, vec![199.0, 2.0]));
    let b = Tensor::from_vec(vec![true, false], &[2]).unwrap();
    assert_eq!(b.add(1).unwrap().dtype(), DType::I64);
    // A zero-dim f64 tensor does not raise an f32 tensor, but does raise ints.
    let z = Tensor::scalar(2.0, DType::F64).unwrap();
    assert_eq!(Tensor::ones(&[2], DType::F32).unwrap().mul(&z).unwrap().dtype(), DType::F32);
    assert_eq!(i32t.mul(&z).unwrap().dtype(), DType::F64);
    assert!(i8t.add(1000).is_err());
    assert_eq!(i32t.exp().unwrap().dtype(), DType::F32);
}

#[test]
fn errors_name_the_op_and_both_shapes() {
    let a = Tensor::zeros(&[3], DType::F32).unwrap();
    let b = Tensor::zeros(&[4], DType::F32).unwrap();
    let e = a.add(&b).unwrap_err().to_string();
    assert!(e.contains("add") && e.contains("[3]") && e.contains("[4]"), "{e}");
    let e = a.reshape(&[2, 2]).unwrap_err().to_string();
    assert!(e.contains("reshape") && e.contains("[3]"), "{e}");
    let e = a.sum(&[2], false).unwrap_err().to_string();
    assert!(e.contains("sum") && e.contains("[3]"), "{e}");
    assert!(a.permute(&[0, 0]).is_err());
    assert!(a.expand(&[2, 4]).is_err());
    assert!(a.narrow(0, 2, 2).is_err());
    // Device 1 is never run (tests/cuda_device.rs covers device 0).
    let e = a.to_device(Device::Cuda(1)).unwrap_err();
    assert!(matches!(e, TensorError::DeviceUnavailable { index: 1, .. }));
    assert!(e.to_string().contains("to_device: cuda:1 is not available"), "{e}");
    assert_eq!(a.to_device(Device::Cpu).unwrap().device(), Device::Cpu);
}

#[test]
fn the_generator_is_seeded_and_well_distributed() {
    let a = Tensor::rand(&[1000], DType::F32, &mut Generator::new(7)).unwrap();
    let b = Tensor::rand(&[1000], DType::F32, &mut Generator::new(7)).unwrap();
    let c = Tensor::rand(&[1000], DType::F32, &mut Generator::new(8)).unwrap();
    assert_eq!(a.to_f64_vec(), b.to_f64_vec());
    assert_ne!(a.to_f64_vec(), c.to_f64_vec());
    assert!(a.to_f64_vec().iter().all(|&v| (0.0..1.0).contains(&v)));
    let n = Tensor::randn(&[20000], DType::F64, &mut Generator::new(1)).unwrap();
    let v = n.to_f64_vec();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
    assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    let r = Tensor::randint(-3, 4, &[5000], DType::I64, &mut Generator::new(2)).unwrap();
    let r = r.to_vec::<i64>().unwrap();
    assert!(r.iter().all(|x| (-3..4).contains(x)));
    for k in -3..4 {
        assert!(r.contains(&k));
    }
    assert!(Tensor::randint(3, 3, &[1], DType::I64, &mut Generator::new(2)).is_err());
    assert!(Tensor::rand(&[1], DType::I32, &mut Generator::new(2)).is_err());
}

/// Records op names and operand ids.
#[derive(Default)]
struct Log(RefCell<Vec<String>>);

impl Recorder for Log {
    fn op(&self, op: &Op, args: &[ArgRef<'_>], out: &Tensor) {
        let ids: Vec<String> = args
            .iter()
            .map(|a| match a {
                ArgRef::Tensor(t) => format!("#{}", t.id().0),
                ArgRef::Lit(s) => s.to_text(),
            })
            .collect();
        self.0.borrow_mut().push(format!("{}({})->#{}", op.name(), ids.join(","), out.id().0));
    }
    fn opaque(&self, name: &str, _: &[&Tensor], _: &[&Tensor]) {
        self.0.borrow_mut().push(format!("opaque {name}"));
    }
}

#[test]
fn the_recorder_sees_every_primitive_views_and_casts() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    let i = Tensor::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
    let log = Rc::new(Log::default());
    let y = with_recorder(log.clone(), || {
        let t = x.transpose(0, 1).unwrap();
        let s = softmax(&t, -1).unwrap();
        s.add(&i.unsqueeze(1).unwrap()).unwrap()
    });
    let names: Vec<String> =
        log.0.borrow().iter().map(|s| s.split('(').next().unwrap().to_string()).collect();
    assert_eq!(
        names,
        ["permute", "max", "sub", "exp", "sum", "div", "reshape", "cast", "add"],
        "{:?}",
        log.0.borrow()
    );
    let last = log.0.borrow().last().unwrap().clone();
    assert!(last.ends_with(&format!("->#{}", y.id().0)), "{last}");
    // Nothing is recorded outside the scope.
    x.add(1.0).unwrap();
    assert_eq!(log.0.borrow().len(), 9);
    // Literals are recorded as literals.
    let log2 = Rc::new(Log::default());
    with_recorder(log2.clone(), || x.mul(2.0).unwrap());
    assert_eq!(
        log2.0.borrow()[0],
        format!("mul(#{},2.0)->#{}", x.id().0, log2.0.borrow()[0].rsplit('#').next().unwrap())
    );
}

#[test]
fn repeated_ops_compile_nothing_and_run_func_binds_symbols() {
    let a = Tensor::ones(&[5, 7], DType::F32).unwrap();
    a.mul(&a).unwrap().sum(&[1], false).unwrap();
    let before = kernels_compiled();
    for _ in 0..3 {
        a.mul(&a).unwrap().sum(&[1], false).unwrap();
    }
    // A new size reuses the size-free kernels too.
    let b = Tensor::ones(&[9, 2], DType::F32).unwrap();
    b.mul(&b).unwrap().sum(&[1], false).unwrap();
    assert_eq!(kernels_compiled(), before);

    let f = parse_func(
        "func @f(%x: f32[n, 4], %y: f32[4]) -> (f32[n]) {\n  %s = add(%x, %y) : f32[n, 4]\n  %r = sum(%s) dims=[1] keepdim=false : f32[n]\n  return %r\n}",
    )
    .unwrap();
    for n in [1, 3] {
        let x = Tensor::ones(&[4, n], DType::F32).unwrap().transpose(0, 1).unwrap();
        let y = Tensor::arange(0.0, 4.0, 1.0, DType::F32).unwrap();
        let out = run_func(&f, &[x, y]).unwrap();
        assert_eq!(out[0].to_f64_vec(), vec![10.0; n]);
    }
    let bad = Tensor::ones(&[2, 5], DType::F32).unwrap();
    let y = Tensor::ones(&[4], DType::F32).unwrap();
    assert!(run_func(&f, &[bad, y]).is_err());
}

#[test]
fn literals_reuse_kernels_and_edge_shapes_work() {
    let x = Tensor::ones(&[5], DType::F32).unwrap();
    x.add(1.0).unwrap();
    let before = kernels_compiled();
    for k in 0..4 {
        let y = x.add(k as f64 + 0.5).unwrap();
        assert_eq!(y.to_f64_vec(), vec![k as f64 + 1.5; 5]);
    }
    assert_eq!(kernels_compiled(), before);
    let big = Tensor::from_vec(vec![i64::MAX - 5], &[1]).unwrap();
    assert_eq!(big.add(3).unwrap().to_vec::<i64>().unwrap(), vec![i64::MAX - 2]);
    // Empty and rank-0 tensors.
    let e = Tensor::zeros(&[0, 3], DType::F32).unwrap();
    assert_eq!(e.add(1.0).unwrap().shape(), &[0, 3]);
    assert_eq!(e.sum(&[0], false).unwrap().to_f64_vec(), vec![0.0; 3]);
    assert!(e.max(&[0], false).is_err());
    let s = Tensor::scalar(2.0, DType::F32).unwrap();
    let s2 = s.mul(&s).unwrap();
    assert_eq!((s2.shape(), s2.item().unwrap()), (&[][..], 4.0));
    assert_eq!(s2.sum(&[], true).unwrap().item().unwrap(), 4.0);
    assert_eq!(s.unsqueeze(0).unwrap().shape(), &[1]);
    // Bools do not negate; integers promote for float-only ops.
    let b = Tensor::from_vec(vec![true], &[1]).unwrap();
    assert!(b.neg().is_err());
    assert_eq!(b.logical_not().unwrap().to_vec::<bool>().unwrap(), vec![false]);
    // An expanded, non-contiguous operand is copied before the kernel.
    let col = Tensor::arange(0.0, 3.0, 1.0, DType::F32).unwrap().reshape(&[3, 1]).unwrap();
    let wide = col.expand(&[3, 4]).unwrap();
    let y = wide.transpose(0, 1).unwrap().add(0.0).unwrap();
    assert_eq!(y.to_f64_vec(), [0.0, 1.0, 2.0].repeat(4));
}
