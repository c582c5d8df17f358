//! `smelt models`, `smelt run-model` and `smelt classify` end to end, on
//! the PyTorch fixture of squeezenet1_1 (../shared/fixtures/zoo).

mod common;

use std::path::PathBuf;

use common::{SMELT, fails, ok};
use smelt_runtime::io::read_npy;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/zoo")
}

fn fixture(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

#[test]
fn models_lists_the_registry_as_json_and_as_a_table() {
    let json: serde_json::Value =
        serde_json::from_str(&ok(SMELT, &["models", "--json"])).expect("one JSON list");
    let list = json.as_array().expect("a list");
    assert_eq!(list.len(), 86);
    let r50 = list.iter().find(|m| m["name"] == "resnet50").expect("resnet50");
    assert_eq!(r50["num_params"], 25_557_032);
    assert_eq!(r50["weights"][0], "ResNet50_Weights.IMAGENET1K_V1");
    let table = ok(SMELT, &["models", "--include", "vgg1?", "--exclude", "*9"]);
    let names: Vec<&str> =
        table.lines().skip(1).map(|l| l.split_whitespace().next().unwrap_or("")).collect();
    assert_eq!(names, ["vgg11", "vgg13", "vgg16"]);
    assert!(table.contains("138,357,544"), "{table}");
}

#[test]
fn run_model_reproduces_pytorch_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let want = read_npy(&fixtures().join("squeezenet1_1.output.npy")).unwrap().to_f64_vec();
    let weights = fixture("squeezenet1_1.safetensors");
    let input = fixture("squeezenet1_1.input.npy");
    for (i, extra) in
        [&[][..], &["--channels-last"], &["--compile"], &["--compile", "--channels-last"]]
            .iter()
            .enumerate()
    {
        let out = dir.path().join(format!("y{i}.npy")).display().to_string();
        let mut args = vec!["run-model", "squeezenet1_1", "--weights", &weights];
        args.extend(["--input", &input, "--out", &out]);
        args.extend(extra.iter());
        ok(SMELT, &args);
        let got = read_npy(std::path::Path::new(&out)).unwrap().to_f64_vec();
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-4, "{extra:?}: max abs error {err}");
    }
}

#[test]
fn run_model_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("y.npy").display().to_string();
    let input = fixture("squeezenet1_1.input.npy");
    let missing = dir.path().join("none.safetensors").display().to_string();
    fails(
        SMELT,
        &["run-model", "squeezenet1_1", "--weights", &missing, "--input", &input, "--out", &out],
        "no weights file",
    );
    fails(SMELT, &["run-model", "nope", "--input", &input, "--out", &out], "Unknown model nope");
    let weights = fixture("squeezenet1_1.safetensors");
    fails(
        SMELT,
        &["run-model", "resnet18", "--weights", &weights, "--input", &input, "--out", &out],
        "conv1.weight",
    );
}

#[test]
fn classify_prints_the_top_five_categories() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("img.png");
    let img =
        image::RgbImage::from_fn(80, 64, |x, y| image::Rgb([(x * 3) as u8, (y * 4) as u8, 90]));
    img.save(&png).unwrap();
    let weights = fixture("squeezenet1_1.safetensors");
    let out = ok(
        SMELT,
        &[
            "classify",
            "--model",
            "squeezenet1_1",
            "--weights",
            &weights,
            &png.display().to_string(),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    let probs: Vec<f64> =
        lines[1..].iter().map(|l| l.split_whitespace().next().unwrap().parse().unwrap()).collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "{out}");
    assert!(lines[1].contains('(') && lines[1].ends_with(')'), "{out}");
}
