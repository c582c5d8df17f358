//! `interp::run` as a whole: symbol binding from input shapes and explicit
//! bindings, signature checks on the inputs, the size limit, and a
//! decomposed layer norm against its formula.

use smelt_compiler::HostTensor;
use smelt_compiler::interp::{self, Bindings, InterpError, MAX_ELEMENTS};
use smelt_compiler::ir::{DType, Shape, parse_func};
use smelt_compiler::tensor::Data;

fn tf(d: DType, shape: &[usize], v: &[f64]) -> HostTensor {
    HostTensor::from_f64(d, shape, v.to_vec())
}

fn run(
    src: &str,
    inputs: &[HostTensor],
    extra: &[(&str, u64)],
) -> Result<Vec<HostTensor>, InterpError> {
    let f = parse_func(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let extra: Bindings = extra.iter().map(|&(s, v)| (s.to_string(), v)).collect();
    interp::run(&f, inputs, &extra)
}

fn err(src: &str, inputs: &[HostTensor], extra: &[(&str, u64)]) -> InterpError {
    match run(src, inputs, extra) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e,
    }
}

const ADD: &str =
    "func @f(%a: f32[n, 2], %b: f32[n, 2]) -> (f32[n, 2]) {\n %y = add(%a, %b)\n return %y\n}";

#[test]
fn layernorm_example_matches_its_formula() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/layernorm.ir"))
            .expect("examples/layernorm.ir");
    let n = 3;
    let x: Vec<f64> = (0..n * 1024).map(|i| ((i * 37 % 101) as f64 - 50.0) / 16.0).collect();
    let w: Vec<f64> = (0..1024).map(|i| 1.0 + (i % 7) as f64 / 8.0).collect();
    let b: Vec<f64> = (0..1024).map(|i| (i % 5) as f64 / 4.0 - 0.5).collect();
    let inputs =
        [tf(DType::F32, &[n, 1024], &x), tf(DType::F32, &[1024], &w), tf(DType::F32, &[1024], &b)];
    let out = run(&src, &inputs, &[]).unwrap().remove(0);
    assert_eq!(out.shape, vec![n, 1024]);
    let Data::Float(got) = &out.data else { panic!("f32 result") };
    // Within f32 rounding of the f64 formula (the interpreter rounds each op to f32).
    let x = inputs[0].to_f64_vec();
    for r in 0..n {
        let row = &x[r * 1024..(r + 1) * 1024];
        let mean = row.iter().sum::<f64>() / 1024.0;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 1024.0;
        for c in 0..1024 {
            let want = (row[c] - mean) / (var + 1e-5).sqrt() * w[c] + b[c];
            let g = got[r * 1024 + c];
            assert!((g - want).abs() <= 1e-5 * (1.0 + want.abs()), "[{r}, {c}]: {g} vs {want}");
        }
    }
}

#[test]
fn symbols_bind_from_the_first_input_and_must_agree() {
    let a = tf(DType::F32, &[3, 2], &[1.0; 6]);
    let out = run(ADD, &[a.clone(), a.clone()], &[]).unwrap();
    assert_eq!(out[0].shape, vec![3, 2]);
    let syms =
        interp::bind_symbols(&parse_func(ADD).unwrap(), &[a.clone(), a.clone()], &Bindings::new())
            .unwrap();
    assert_eq!(syms.get("n"), Some(&3));
    // An explicit binding that agrees is fine.
    assert!(run(ADD, &[a.clone(), a.clone()], &[("n", 3)]).is_ok());

    let b = tf(DType::F32, &[4, 2], &[1.0; 8]);
    let e = err(ADD, &[a.clone(), b], &[]);
    assert!(matches!(e, InterpError::SymbolConflict { first: 3, second: 4, .. }), "{e}");
    assert_eq!(e.to_string(), "symbol n is 3 from %a dim 0 but 4 from %b dim 0");
    let e = err(ADD, &[a.clone(), a], &[("n", 5)]);
    assert_eq!(e.to_string(), "symbol n is 3 from %a dim 0 but 5 from the explicit bindings");
}

#[test]
fn symbols_no_input_carries_need_explicit_bindings() {
    let src = "func @f() -> (i64[m]) {\n %y = iota shape=[m] dim=0 to=i64\n return %y\n}";
    let e = err(src, &[], &[]);
    assert!(matches!(e.root(), InterpError::UnboundSymbol { sym } if sym == "m"), "{e}");
    assert!(e.to_string().contains("symbol m is not bound"), "{e}");
    let y = run(src, &[], &[("m", 4)]).unwrap().remove(0);
    assert_eq!(y.data, Data::Int(vec![0, 1, 2, 3]));
    // concrete_shape on its own.
    let shape = Shape(vec![smelt_compiler::ir::Dim::sym("m"), 2.into()]);
    let syms: Bindings = [("m".to_string(), 5)].into_iter().collect();
    assert_eq!(interp::concrete_shape(&shape, &syms).unwrap(), vec![5, 2]);
    assert!(interp::concrete_shape(&shape, &Bindings::new()).is_err());
}

#[test]
fn inputs_are_checked_against_the_signature() {
    let a = tf(DType::F32, &[3, 2], &[1.0; 6]);
    let e = err(ADD, std::slice::from_ref(&a), &[]);
    assert_eq!(e.to_string(), "@f takes 2 input(s), got 1");
    let bf = tf(DType::BF16, &[3, 2], &[1.0; 6]);
    let e = err(ADD, &[a.clone(), bf], &[]);
    assert_eq!(e.to_string(), "input %b: the signature says f32, the input is bf16");
    let flat = tf(DType::F32, &[6], &[1.0; 6]);
    let e = err(ADD, &[a.clone(), flat], &[]);
    assert_eq!(e.to_string(), "input %b: the signature says [n, 2], the input has shape [6]");
    let wide = tf(DType::F32, &[3, 3], &[1.0; 9]);
    let e = err(ADD, &[a, wide], &[]);
    assert!(matches!(e, InterpError::InputShape { .. }), "{e}");
    // A hand-built tensor whose data does not match its shape.
    let broken =
        HostTensor { dtype: DType::F32, shape: vec![3, 2], data: Data::Float(vec![0.0; 5]) };
    let ok = tf(DType::F32, &[3, 2], &[1.0; 6]);
    let e = err(ADD, &[ok, broken], &[]);
    assert!(matches!(e, InterpError::BadTensor { .. }), "{e}");
}

#[test]
fn layouts_do_not_change_values() {
    let src = "func @f(%x: f32[1, 2, 1, 2]{nhwc}) -> (f32[1, 2, 1, 2]) {\n %y = mul(%x, 2.0)\n return %y\n}";
    let y = run(src, &[tf(DType::F32, &[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0])], &[]).unwrap();
    assert_eq!(y[0].data, Data::Float(vec![2.0, 4.0, 6.0, 8.0]));
}

#[test]
fn too_large_tensors_are_refused_before_allocating() {
    let src = "func @f(%x: f32[1]) -> (f32[65536, 4096]) {\n %y = broadcast(%x) shape=[65536, 4096]\n return %y\n}";
    let e = err(src, &[tf(DType::F32, &[1], &[1.0])], &[]);
    assert!(matches!(e.root(), InterpError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("too large for the interpreter"), "{e}");
    // A symbol bound huge: refused, not attempted.
    let src = "func @f() -> (f32[n, n]) {\n %y = iota shape=[n, n] dim=0 to=f32\n return %y\n}";
    let e = err(src, &[], &[("n", 1 << 40)]);
    assert!(matches!(e.root(), InterpError::TooLarge { .. }), "{e}");
    // One element past the limit, from an input's symbol.
    let src = "func @f(%x: f32[n, 0]) -> (i64[n, 2]) {\n %y = iota shape=[n, 2] dim=0 to=i64\n return %y\n}";
    let x = tf(DType::F32, &[MAX_ELEMENTS / 2 + 1, 0], &[]);
    let e = err(src, &[x], &[]);
    assert!(matches!(e.root(), InterpError::TooLarge { .. }), "{e}");
}

#[test]
fn errors_name_the_node() {
    let src = "func @f(%a: i32[2], %b: i32[2]) -> (i32[2]) {\n  %q = div(%a, %b)\n  return %q\n}";
    let a = HostTensor::from_i64(DType::I32, &[2], vec![1, 2]);
    let b = HostTensor::from_i64(DType::I32, &[2], vec![1, 0]);
    let e = err(src, &[a, b], &[]);
    assert_eq!(e.to_string(), "%q = div at 2:3: div: integer division by zero");
}

#[test]
fn results_come_back_in_return_order_params_included() {
    let src =
        "func @f(%x: f32[2]) -> (f32[2], f32[2], f32[2]) {\n %y = neg(%x)\n return %y, %x, %y\n}";
    let r = run(src, &[tf(DType::F32, &[2], &[1.0, -2.0])], &[]).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].data, Data::Float(vec![-1.0, 2.0]));
    assert_eq!(r[1].data, Data::Float(vec![1.0, -2.0]));
    assert_eq!(r[2], r[0]);
}
