//! The zoo fixtures through `compile`: squeezenet1_1, mnasnet0_5 and
//! mobilenet_v3_small (TorchVision weights, eval mode) give PyTorch's
//! logits within 1e-4 when traced and compiled, for NCHW and channels-last
//! input.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use smelt_frontends::compile;
use smelt_runtime::io::read_npy;
use smelt_runtime::nn::Module;
use smelt_runtime::tensor::{MemoryFormat, Tensor, TensorError};
use smelt_runtime::zoo::{ModelConfig, get_model, load_file};

fn fixture(name: &str, ext: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/zoo")
        .join(format!("{name}.{ext}"))
}

fn npy(name: &str, ext: &str) -> Tensor {
    Tensor::from_host(&read_npy(&fixture(name, ext)).unwrap())
}

fn check(name: &str) {
    let mut m = get_model(name, None, &ModelConfig::default()).unwrap();
    load_file(m.as_mut(), &fixture(name, "safetensors")).unwrap();
    m.eval();
    let model: Rc<RefCell<Box<dyn Module>>> = Rc::new(RefCell::new(m));
    let compiled = compile(move |xs: &[Tensor]| {
        let x = xs
            .first()
            .ok_or_else(|| TensorError::Argument { op: "zoo".into(), detail: "no input".into() })?;
        smelt_runtime::autograd::no_grad(|| model.borrow_mut().forward(x)).map(|y| vec![y])
    });
    let (x, want) = (npy(name, "input.npy"), npy(name, "output.npy"));
    let w = want.to_f64_vec();
    for (layout, input) in [
        ("nchw", x.clone()),
        ("channels-last", x.to_memory_format(MemoryFormat::ChannelsLast).unwrap()),
    ] {
        let y = compiled.call(&[input]).unwrap();
        assert_eq!(y[0].shape(), want.shape());
        let err = y[0].to_f64_vec().iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        eprintln!("{name} compiled {layout} max abs err {err:.3e}");
        assert!(err <= 1e-4, "{name} compiled {layout}: max abs error {err}");
    }
    // Both calls ran traced graphs, not the eager fallback.
    let ex = compiled.explain();
    eprintln!("{name}: {ex}");
    assert!(ex.breaks.is_empty(), "{name}: graph breaks {:?}", ex.breaks);
    assert!(!ex.graphs.is_empty(), "{name}: no compiled graph");
}

#[test]
fn squeezenet1_1_compiled_matches_pytorch() {
    check("squeezenet1_1");
}

#[test]
fn mnasnet0_5_compiled_matches_pytorch() {
    check("mnasnet0_5");
}

#[test]
fn mobilenet_v3_small_compiled_matches_pytorch() {
    check("mobilenet_v3_small");
}
