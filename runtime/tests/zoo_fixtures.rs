//! The zoo's lightweight models reproduce PyTorch: each fixture of
//! `shared/fixtures/zoo` (seeded TorchVision weights, randomised batch-norm
//! statistics, an input `[2, 3, 96, 96]` and PyTorch's eval-mode logits) is
//! loaded by name into the registry's model, whose logits must match within
//! 1e-4 for NCHW and channels-last input, and within 5e-2 with the model
//! and input cast to bf16 (what `model.to(torch.bfloat16)` does).

use std::path::PathBuf;

use smelt_compiler::ir::DType;
use smelt_runtime::autograd::no_grad;
use smelt_runtime::io::read_npy;
use smelt_runtime::nn::{Kind, Module};
use smelt_runtime::tensor::{MemoryFormat, Tensor};
use smelt_runtime::zoo::{ModelConfig, get_model, load_file};

fn fixture(name: &str, ext: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/zoo")
        .join(format!("{name}.{ext}"))
}

fn npy(name: &str, ext: &str) -> Tensor {
    let p = fixture(name, ext);
    Tensor::from_host(&read_npy(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// The model `name` with the fixture's weights, in eval mode.
fn model(name: &str) -> Box<dyn Module> {
    let mut m = get_model(name, None, &ModelConfig::default()).unwrap();
    load_file(m.as_mut(), &fixture(name, "safetensors")).unwrap();
    m.eval();
    m
}

/// `model.to(dtype)`: every floating tensor (parameters and batch-norm
/// statistics) cast, integer buffers kept.
fn cast(m: &mut dyn Module, dtype: DType) {
    for s in m.slots() {
        if s.tensor.dtype() == DType::F32 {
            let t = s.tensor.detach().to_dtype(dtype).unwrap();
            *s.tensor = if s.kind == Kind::Parameter { t.requires_grad_(true).unwrap() } else { t };
        }
    }
}

fn max_abs_err(got: &Tensor, want: &Tensor) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let g = got.to_dtype(DType::F32).unwrap().to_f64_vec();
    let w = want.to_f64_vec();
    g.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

fn check(name: &str) {
    let (x, want) = (npy(name, "input.npy"), npy(name, "output.npy"));
    let mut m = model(name);
    no_grad(|| {
        let y = m.forward(&x).unwrap();
        let e = max_abs_err(&y, &want);
        eprintln!("{name} nchw max abs err {e:.3e}");
        assert!(e <= 1e-4, "{name} NCHW: max abs error {e}");

        let xc = x.to_memory_format(MemoryFormat::ChannelsLast).unwrap();
        let y = m.forward(&xc).unwrap();
        let e = max_abs_err(&y, &want);
        eprintln!("{name} channels-last max abs err {e:.3e}");
        assert!(e <= 1e-4, "{name} channels-last: max abs error {e}");

        cast(m.as_mut(), DType::BF16);
        let y = m.forward(&x.to_dtype(DType::BF16).unwrap()).unwrap();
        assert_eq!(y.dtype(), DType::BF16);
        let e = max_abs_err(&y, &want);
        eprintln!("{name} bf16 max abs err {e:.3e}");
        assert!(e <= 5e-2, "{name} bf16: max abs error {e}");
    });
}

#[test]
fn squeezenet1_1_matches_pytorch() {
    check("squeezenet1_1");
}

#[test]
fn mnasnet0_5_matches_pytorch() {
    check("mnasnet0_5");
}

#[test]
fn mobilenet_v3_small_matches_pytorch() {
    check("mobilenet_v3_small");
}

#[test]
fn mnasnet0_5_state_dict_numel() {
    let m = get_model("mnasnet0_5", None, &ModelConfig::default()).unwrap();
    let numel: usize = m.state_dict().values().map(|t| t.numel()).sum();
    assert_eq!(numel, 2_239_188);
    let params: usize = m.parameters().iter().map(|t| t.numel()).sum();
    assert_eq!(params, 2_218_512);
}

/// The registry path: `get_model` with a weights name and an explicit
/// file fixes 1000 classes and loads it (same logits).
#[test]
fn get_model_with_weights_loads_the_file() {
    let name = "mnasnet0_5";
    let cfg =
        ModelConfig { weights_path: Some(fixture(name, "safetensors")), ..ModelConfig::default() };
    let mut m = get_model(name, Some("MNASNet0_5_Weights.DEFAULT"), &cfg).unwrap();
    m.eval();
    let y = no_grad(|| m.forward(&npy(name, "input.npy"))).unwrap();
    assert!(max_abs_err(&y, &npy(name, "output.npy")) <= 1e-4);
    let ten = ModelConfig { num_classes: Some(10), ..cfg };
    assert!(get_model(name, Some("DEFAULT"), &ten).is_err(), "10 classes contradict the weights");
}
