//! The runtime's `Device::Cuda(0)`: host↔device round trips (dtypes,
//! strided and offset views, empty tensors), every op family run on the
//! device against the same op on the CPU, views then ops, broadcasting,
//! literals, mixed-device errors, `run_func` and autograd on device
//! tensors. Without a CUDA device each device test prints
//! `skipped: no CUDA device (<reason>)` and returns; the no-device test
//! checks the error there instead. tools/gpu-check.sh runs this binary on a
//! GPU machine.

use smelt_compiler::ir::{DType, parse_func};
use smelt_runtime::exec::run_func;
use smelt_runtime::functional::{self as F, Approximate};
use smelt_runtime::tensor::{Device, Generator, Tensor, TensorError};

type R<T> = smelt_runtime::tensor::Result<T>;

/// True if the device runs; otherwise prints the skip line.
fn device() -> bool {
    match smelt_runtime::cuda::available() {
        Ok(()) => true,
        Err(e) => {
            println!("skipped: no CUDA device ({e})");
            false
        }
    }
}

/// Seeded normal data of `shape` in `dtype` (positive when `pos`).
fn data(shape: &[usize], dtype: DType, seed: u64, pos: bool) -> Tensor {
    let mut g = Generator::new(seed);
    let t = Tensor::randn(shape, DType::F32, &mut g).unwrap();
    let t = if pos { t.abs().unwrap().add(0.5).unwrap() } else { t };
    t.to_dtype(dtype).unwrap()
}

/// Absolute plus relative tolerance of a dtype.
fn tol(d: DType) -> f64 {
    match d {
        DType::F16 => 1e-2,
        DType::BF16 => 4e-2,
        DType::F32 => 1e-4,
        _ => 0.0,
    }
}

fn close(what: &str, got: &[f64], want: &[f64], t: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= t * (1.0 + w.abs());
        assert!(ok, "{what}: element {i}: cuda {g}, cpu {w} (tolerance {t})");
    }
}

/// Runs `f` on the CPU inputs and on their CUDA copies; the CUDA result
/// must stay on the device and match the CPU's within `t`.
fn same(what: &str, inputs: Vec<Tensor>, t: f64, f: impl Fn(&[Tensor]) -> R<Tensor>) {
    let want = f(&inputs).unwrap_or_else(|e| panic!("{what} on cpu: {e}"));
    let dev: Vec<Tensor> = inputs.iter().map(|x| x.cuda().unwrap()).collect();
    let got = f(&dev).unwrap_or_else(|e| panic!("{what} on cuda: {e}"));
    assert_eq!(got.device(), Device::Cuda(0), "{what}: result left the device");
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    close(what, &got.to_f64_vec(), &want.to_f64_vec(), t);
}

#[test]
fn without_a_device_every_entry_point_says_what_is_missing() {
    let x = Tensor::ones(&[2, 3], DType::F32).unwrap();
    // Device 1 is refused even where device 0 runs.
    let e = x.to_device(Device::Cuda(1)).unwrap_err();
    assert!(e.to_string().contains("cuda:1") && e.to_string().contains("cuda:0 only"), "{e}");
    if let Err(reason) = smelt_runtime::cuda::available() {
        println!("no CUDA device here: {reason}");
        let e = x.to_device(Device::Cuda(0)).unwrap_err();
        assert!(matches!(e, TensorError::DeviceUnavailable { index: 0, .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with("to_device: cuda:0 is not available: no CUDA device"), "{msg}");
        assert!(
            ["libcuda", "device", "NVRTC", "nvrtc"].iter().any(|w| msg.contains(w)),
            "the error names what is missing: {msg}"
        );
        assert!(x.cuda().is_err());
        // A module refuses to move, and keeps what it had.
        use smelt_runtime::nn::{Linear, Module};
        let mut lin = Linear::new(3, 2, true, &mut Generator::new(1)).unwrap();
        let e = lin.to_device(Device::Cuda(0)).unwrap_err();
        assert!(matches!(e, TensorError::DeviceUnavailable { index: 0, .. }), "{e:?}");
        assert!(lin.parameters().iter().all(|p| p.device() == Device::Cpu));
    }
}

#[test]
fn modules_move_to_the_device_and_learn_there() {
    if !device() {
        return;
    }
    use smelt_runtime::nn::{Linear, Module};
    let x = data(&[5, 4], DType::F32, 40, false);
    let run = |dev: bool| -> (Vec<f64>, Vec<Vec<f64>>) {
        let mut lin = Linear::new(4, 3, true, &mut Generator::new(41)).unwrap();
        let xin = if dev {
            lin.to_device(Device::Cuda(0)).unwrap();
            x.cuda().unwrap()
        } else {
            x.clone()
        };
        let want = if dev { Device::Cuda(0) } else { Device::Cpu };
        for p in lin.parameters() {
            assert_eq!(p.device(), want);
            assert!(p.requires_grad(), "a moved parameter still requires grad");
        }
        let y = lin.forward(&xin).unwrap();
        y.mul(&y).unwrap().sum(&[], false).unwrap().backward().unwrap();
        let grads = lin.parameters().iter().map(|p| p.grad().unwrap().to_f64_vec()).collect();
        (y.to_f64_vec(), grads)
    };
    let ((y_cpu, g_cpu), (y_dev, g_dev)) = (run(false), run(true));
    close("Linear forward", &y_dev, &y_cpu, 1e-4);
    for (g, w) in g_dev.iter().zip(&g_cpu) {
        close("Linear grads", g, w, 1e-4);
    }
}

#[test]
fn cuda_autocast_runs_each_policy_in_its_dtype() {
    if !device() {
        return;
    }
    use smelt_runtime::amp::autocast;
    let a = data(&[8, 16], DType::F32, 50, false).cuda().unwrap();
    let b = data(&[16, 4], DType::F32, 51, false).cuda().unwrap();
    let h = data(&[8, 4], DType::F16, 52, false).cuda().unwrap();
    let (mm, sm, sum, mixed) = autocast(Device::Cuda(0), Some(DType::F16), true, true, || {
        // lower: matmul and attention run in f16 (mixed f16/f32 inputs
        // too); fp32_set_opt_dtype: softmax and sum of an f16 input in f32;
        // fp32: logsumexp in f32.
        let mm = a.matmul(&b).unwrap();
        let sm = F::softmax(&mm, -1).unwrap();
        let sum = mm.sum(&[], false).unwrap();
        let lse = mm.logsumexp(&[1], false).unwrap();
        assert_eq!(lse.dtype(), DType::F32, "logsumexp is on the fp32 list");
        let v = a.narrow(1, 0, 4).unwrap();
        let mixed =
            F::scaled_dot_product_attention(&h, &h, &v, None, false, None).map(|t| t.dtype());
        (mm, sm, sum, mixed)
    })
    .unwrap();
    assert_eq!(mm.dtype(), DType::F16, "matmul is on CUDA's lower-precision list");
    assert_eq!(mm.device(), Device::Cuda(0));
    assert_eq!(sm.dtype(), DType::F32, "softmax is on the fp32 list");
    assert_eq!(sum.dtype(), DType::F32, "sum is on the fp32 list");
    assert_eq!(mixed.unwrap(), DType::F16, "sdpa is lowered, whatever its inputs");
    let want = a.cpu().unwrap().matmul(&b.cpu().unwrap()).unwrap();
    close("f16 matmul", &mm.to_f64_vec(), &want.to_f64_vec(), 1e-2);
}

#[test]
fn round_trips_keep_every_dtype_and_view() {
    if !device() {
        return;
    }
    for d in [DType::F32, DType::F16, DType::BF16, DType::I64, DType::Bool, DType::U8, DType::F64] {
        let x = data(&[5, 7], DType::F32, 1, false).mul(3.0).unwrap().to_dtype(d).unwrap();
        let c = x.cuda().unwrap();
        assert_eq!(c.device(), Device::Cuda(0));
        assert_eq!((c.dtype(), c.shape()), (d, x.shape()));
        assert_eq!(c.cpu().unwrap().to_bytes(), x.to_bytes(), "{d}");
        // to_bytes / to_f64_vec / item download too.
        assert_eq!(c.to_bytes(), x.to_bytes(), "{d}");
        // Views of the device tensor, downloaded: transpose, offset
        // slice with a step, expand, narrow at an odd offset.
        type View = fn(&Tensor) -> R<Tensor>;
        let views: Vec<(&str, View)> = vec![
            ("transpose", |t| t.transpose(0, 1)),
            ("slice", |t| t.slice(1, 1, 6, 2)),
            ("narrow", |t| t.narrow(1, 3, 3)),
            ("row", |t| t.narrow(0, 1, 1)),
            ("expand", |t| t.narrow(0, 2, 1)?.expand(&[4, 7])),
            ("reshape", |t| t.reshape(&[7, 5])),
        ];
        for (name, v) in views {
            let want = v(&x).unwrap().to_bytes();
            let got = v(&c).unwrap();
            assert_eq!(got.device(), Device::Cuda(0), "{name}");
            assert_eq!(got.cpu().unwrap().to_bytes(), want, "{d} {name}");
            assert_eq!(got.contiguous().unwrap().to_bytes(), want, "{d} {name} contiguous");
        }
    }
    // A strided CPU view uploads as its elements.
    let x = data(&[4, 6], DType::F32, 2, false);
    let v = x.transpose(0, 1).unwrap().slice(0, 1, 6, 2).unwrap();
    assert_eq!(v.cuda().unwrap().to_f64_vec(), v.to_f64_vec());
    // Empty and rank-0 tensors.
    let e = Tensor::zeros(&[0, 3], DType::F32).unwrap().cuda().unwrap();
    assert_eq!(e.shape(), &[0, 3]);
    assert!(e.to_f64_vec().is_empty());
    assert_eq!(e.add(1.0).unwrap().shape(), &[0, 3]);
    let s = Tensor::scalar(2.5, DType::F32).unwrap().cuda().unwrap();
    assert_eq!(s.item().unwrap(), 2.5);
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![2.5]);
}

#[test]
fn elementwise_ops_match_the_cpu() {
    if !device() {
        return;
    }
    type U = fn(&Tensor) -> R<Tensor>;
    let unary: Vec<(&str, U, bool)> = vec![
        ("neg", Tensor::neg, false),
        ("abs", Tensor::abs, false),
        ("exp", Tensor::exp, false),
        ("log", Tensor::log, true),
        ("sqrt", Tensor::sqrt, true),
        ("rsqrt", Tensor::rsqrt, true),
        ("sin", Tensor::sin, false),
        ("tanh", Tensor::tanh, false),
        ("sigmoid", Tensor::sigmoid, false),
        ("erf", Tensor::erf, false),
        ("relu", Tensor::relu, false),
        ("floor", Tensor::floor, false),
        ("gelu", |t| F::gelu(t, Approximate::None), false),
        ("silu", F::silu, false),
    ];
    for d in [DType::F32, DType::F16, DType::BF16] {
        for (name, f, pos) in &unary {
            same(&format!("{name} {d}"), vec![data(&[3, 50], d, 3, *pos)], tol(d), |x| f(&x[0]));
        }
        type B = fn(&Tensor, &Tensor) -> R<Tensor>;
        let binary: Vec<(&str, B)> = vec![
            ("add", |a, b| a.add(b)),
            ("sub", |a, b| a.sub(b)),
            ("mul", |a, b| a.mul(b)),
            ("div", |a, b| a.div(b)),
            ("maximum", |a, b| a.maximum(b)),
            ("pow", |a, b| a.abs()?.pow(b)),
            ("lt", |a, b| a.lt(b)),
            ("eq", |a, b| a.eq(b)),
        ];
        for (name, f) in &binary {
            let (a, b) = (data(&[4, 33], d, 4, false), data(&[4, 33], d, 5, true));
            same(&format!("{name} {d}"), vec![a, b], tol(d), |x| f(&x[0], &x[1]));
            // Broadcasting [4, 1] against [33].
            let (a, b) = (data(&[4, 1], d, 6, false), data(&[33], d, 7, true));
            same(&format!("{name} {d} broadcast"), vec![a, b], tol(d), |x| f(&x[0], &x[1]));
        }
        // Literals, casts, where, clamp.
        let x = data(&[6, 9], d, 8, false);
        same(&format!("literals {d}"), vec![x.clone()], tol(d), |x| {
            x[0].mul(2.5)?.add(-1.0)?.div(3)
        });
        same(&format!("cast {d}"), vec![x.clone()], tol(d), |x| x[0].to_dtype(DType::F32));
        same(&format!("where {d}"), vec![x.clone()], tol(d), |x| {
            smelt_runtime::tensor::where_cond(&x[0].gt(0.0)?, &x[0], 0.5)
        });
        same(&format!("clamp {d}"), vec![x], tol(d), |x| x[0].clamp(Some(-0.5), Some(0.5)));
    }
    let i = Tensor::arange(-5.0, 20.0, 1.0, DType::I64).unwrap().reshape(&[5, 5]).unwrap();
    same("i64 ops", vec![i], 0.0, |x| x[0].mul(3)?.add(&x[0])?.maximum(4));
}

#[test]
fn reductions_match_the_cpu() {
    if !device() {
        return;
    }
    for d in [DType::F32, DType::F16, DType::BF16] {
        let x = data(&[3, 5, 40], d, 9, false);
        let t = tol(d) * 4.0;
        same(&format!("sum all {d}"), vec![x.clone()], t, |x| x[0].sum(&[], false));
        same(&format!("sum last {d}"), vec![x.clone()], t, |x| x[0].sum(&[-1], false));
        same(&format!("mean mid {d}"), vec![x.clone()], t, |x| x[0].mean(&[1], true));
        same(&format!("max {d}"), vec![x.clone()], t, |x| x[0].max(&[2], false));
        same(&format!("min {d}"), vec![x.clone()], t, |x| x[0].min(&[0, 2], false));
        same(&format!("argmax {d}"), vec![x.clone()], 0.0, |x| x[0].argmax(Some(2), false));
        same(&format!("var {d}"), vec![x], t, |x| x[0].var(&[2], 1.0, false));
    }
    let i = Tensor::arange(0.0, 60.0, 1.0, DType::I64).unwrap().reshape(&[6, 10]).unwrap();
    same("i64 sum", vec![i], 0.0, |x| x[0].sum(&[1], false));
}

#[test]
fn library_ops_and_composites_match_the_cpu() {
    if !device() {
        return;
    }
    for d in [DType::F32, DType::F16, DType::BF16] {
        let t = tol(d) * 4.0;
        let (a, b) = (data(&[17, 33], d, 10, false), data(&[33, 9], d, 11, false));
        same(&format!("matmul {d}"), vec![a, b], t, |x| x[0].matmul(&x[1]));
        let (a, b) = (data(&[2, 5, 8], d, 12, false), data(&[2, 8, 3], d, 13, false));
        same(&format!("bmm {d}"), vec![a, b], t, |x| x[0].matmul(&x[1]));
        let ins = [data(&[2, 3, 9, 9], d, 14, false), data(&[4, 3, 3, 3], d, 15, false)];
        same(&format!("conv2d {d}"), ins.to_vec(), t, |x| {
            F::conv2d(&x[0], &x[1], None, [2, 2], [1, 1], [1, 1], 1)
        });
        let bias = data(&[4], d, 16, false);
        same(&format!("conv2d bias {d}"), vec![ins[0].clone(), ins[1].clone(), bias], t, |x| {
            F::conv2d(&x[0], &x[1], Some(&x[2]), [1, 1], [0, 0], [1, 1], 1)
        });
        let x = data(&[4, 7, 32], d, 17, false);
        same(&format!("softmax {d}"), vec![x.clone()], t, |x| F::softmax(&x[0], -1));
        same(&format!("log_softmax {d}"), vec![x.clone()], t, |x| F::log_softmax(&x[0], 1));
        let (w, b) = (data(&[32], d, 18, false), data(&[32], d, 19, false));
        same(&format!("layer_norm {d}"), vec![x, w, b], t, |x| {
            F::layer_norm(&x[0], &[32], Some(&x[1]), Some(&x[2]), 1e-5)
        });
        let (x, w, b) =
            (data(&[6, 20], d, 20, false), data(&[8, 20], d, 21, false), data(&[8], d, 22, false));
        same(&format!("linear {d}"), vec![x, w, b], t, |x| F::linear(&x[0], &x[1], Some(&x[2])));
        let x = data(&[2, 3, 8, 8], d, 23, false);
        same(&format!("max_pool2d {d}"), vec![x], t, |x| {
            F::max_pool2d(&x[0], [2, 2], Some([2, 2]), [0, 0])
        });
    }
}

#[test]
fn views_then_ops_run_on_the_device() {
    if !device() {
        return;
    }
    let x = data(&[6, 10], DType::F32, 24, false);
    let y = data(&[10, 6], DType::F32, 25, false);
    let t = tol(DType::F32);
    same("transpose add", vec![x.clone(), y.clone()], t, |x| x[0].add(&x[1].transpose(0, 1)?));
    same("slice step mul", vec![x.clone()], t, |x| {
        x[0].slice(1, 1, 10, 3)?.mul(&x[0].slice(1, 0, 9, 3)?)
    });
    same("odd offset", vec![x.clone()], t, |x| x[0].narrow(1, 1, 7)?.exp());
    same("aligned offset", vec![x.clone()], t, |x| x[0].narrow(0, 2, 3)?.sum(&[1], false));
    same("expand", vec![x.clone()], t, |x| x[0].narrow(0, 1, 1)?.expand(&[6, 10])?.add(&x[0]));
    same("permute matmul", vec![x.clone(), y], t, |x| {
        x[0].transpose(0, 1)?.matmul(&x[1].transpose(0, 1)?)
    });
    same("reshape of a transpose", vec![x.clone()], t, |x| {
        x[0].transpose(0, 1)?.reshape(&[5, 12])?.sum(&[0], false)
    });
    same("cat", vec![x.clone()], t, |x| Tensor::cat(&[&x[0], &x[0].neg()?], 1));
    // A rank-0 CPU tensor joins a CUDA op, as in PyTorch.
    same("cpu scalar", vec![x], t, |x| x[0].mul(&Tensor::scalar(3.0, DType::F32)?));
}

#[test]
fn mixed_devices_are_an_error_naming_the_op_and_both() {
    if !device() {
        return;
    }
    let a = Tensor::ones(&[2, 3], DType::F32).unwrap();
    let c = a.cuda().unwrap();
    for e in [c.add(&a).unwrap_err(), a.mul(&c).unwrap_err()] {
        let msg = e.to_string();
        assert!(matches!(e, TensorError::DeviceMismatch { .. }), "{e:?}");
        assert!(
            msg.contains("same device") && msg.contains("cuda:0") && msg.contains("cpu"),
            "{msg}"
        );
    }
    assert!(c.add(&a).unwrap_err().to_string().starts_with("add:"));
}

#[test]
fn run_func_runs_whole_functions_on_the_device() {
    if !device() {
        return;
    }
    let f = parse_func(
        "func @f(%x: f32[n, 4], %y: f32[4]) -> (f32[n]) {\n  %s = add(%x, %y) : f32[n, 4]\n  %r = sum(%s) dims=[1] keepdim=false : f32[n]\n  return %r\n}",
    )
    .unwrap();
    let x = data(&[4, 3], DType::F32, 26, false).transpose(0, 1).unwrap();
    let y = data(&[4], DType::F32, 27, false);
    let want = run_func(&f, &[x.clone(), y.clone()]).unwrap();
    let got = run_func(&f, &[x.cuda().unwrap(), y.cuda().unwrap()]).unwrap();
    assert_eq!(got[0].device(), Device::Cuda(0));
    close("run_func", &got[0].to_f64_vec(), &want[0].to_f64_vec(), 1e-5);
    let e = run_func(&f, &[x.cuda().unwrap(), y]).unwrap_err();
    assert!(matches!(e, TensorError::DeviceMismatch { .. }), "{e:?}");
}

#[test]
fn backward_runs_on_the_device() {
    if !device() {
        return;
    }
    let grads = |dev: bool| -> Vec<Vec<f64>> {
        let put = |t: Tensor| if dev { t.cuda().unwrap() } else { t };
        let x = put(data(&[4, 6], DType::F32, 28, false)).requires_grad_(true).unwrap();
        let w = put(data(&[6, 3], DType::F32, 29, false)).requires_grad_(true).unwrap();
        let y = F::softmax(&x.matmul(&w).unwrap().relu().unwrap(), -1).unwrap();
        let loss = y.mul(&y).unwrap().sum(&[], false).unwrap();
        loss.backward().unwrap();
        let (gx, gw) = (x.grad().unwrap(), w.grad().unwrap());
        let want = if dev { Device::Cuda(0) } else { Device::Cpu };
        assert_eq!((gx.device(), gw.device()), (want, want));
        vec![gx.to_f64_vec(), gw.to_f64_vec()]
    };
    let (cpu, cuda) = (grads(false), grads(true));
    for (g, w) in cuda.iter().zip(&cpu) {
        close("backward", g, w, 1e-4);
    }
}

#[test]
fn a_fused_adam_step_runs_on_the_device() {
    if !device() {
        return;
    }
    use smelt_runtime::optim::{Adam, AdamConfig, Fusion};
    let run = |dev: bool| -> Vec<Vec<f64>> {
        let put = |t: Tensor| if dev { t.cuda().unwrap() } else { t };
        let mut params: Vec<Tensor> = [&[3usize, 5][..], &[7]]
            .iter()
            .enumerate()
            .map(|(i, s)| put(data(s, DType::F32, 40 + i as u64, false)))
            .collect();
        let mut opt = Adam::new(AdamConfig::adamw(1e-2)).unwrap().with_fusion(Fusion::PerDtype);
        for step in 0..3u64 {
            let grads: Vec<Tensor> =
                params.iter().map(|p| put(data(p.shape(), DType::F32, 50 + step, false))).collect();
            params = opt.step(&params, &grads).unwrap();
        }
        let want = if dev { Device::Cuda(0) } else { Device::Cpu };
        assert!(params.iter().all(|p| p.device() == want));
        params.iter().map(Tensor::to_f64_vec).collect()
    };
    let (cpu, cuda) = (run(false), run(true));
    for (g, w) in cuda.iter().zip(&cpu) {
        close("adamw", g, w, 1e-5);
    }
}
