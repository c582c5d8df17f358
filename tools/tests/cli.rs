//! The tools as a user meets them: the built `ir-dump` and `smelt` binaries
//! on real files (happy paths, outputs read back and checked) and every kind
//! of bad input (exit 2, exactly one line on stderr). Seeded mutations of
//! valid files are in `mutations.rs`.

mod common;

use common::*;
use smelt_compiler::ir::{self, DType};
use smelt_compiler::{HostTensor, passes};
use smelt_runtime::io::read_npy;

// ---------------------------------------------------------------- ir-dump

#[test]
fn ir_dump_prints_text_that_parses_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "ln.ir", LAYERNORM);
    let out = ok(IR_DUMP, &[&f]);
    let src = ir::parse_module(LAYERNORM).expect("parse");
    assert_eq!(ir::parse_module(&out).expect("output parses"), src);
    assert!(out.contains("%0 = mean(%x) dims=[1] keepdim=true"), "{out}");
    let kept = ok(IR_DUMP, &[&f, "--keep-names"]);
    assert!(kept.contains("%mean = mean(%x)"), "{kept}");
    assert_eq!(ir::parse_module(&kept).expect("kept parses"), src);
}

#[test]
fn ir_dump_after_layout_shows_channels_last_ops_and_counts_transposes() {
    let src = "func @f(%x: f32[1, 3, 5, 5]{nhwc}, %w: f32[4, 3, 3, 3]{nhwc}) -> (f32[1, 4, 3, 3]) {
  %c = conv2d(%x, %w) : f32[1, 4, 3, 3]
  %r = relu(%c) : f32[1, 4, 3, 3]
  return %r
}
";
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "cl.ir", src);
    let out = ok(IR_DUMP, &[&f, "--after", "layout"]);
    assert!(out.starts_with("; layout: 2 ops channels-last, 1 transposes inserted"), "{out}");
    assert!(out.contains("layout=nhwc"), "{out}");
    ir::parse_module(&out).expect("parses");
}

#[test]
fn ir_dump_json_is_the_module() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "ln.ir", LAYERNORM);
    let out = ok(IR_DUMP, &[&f, "--json"]);
    let back = ir::json::from_json(&out).expect("IR JSON");
    assert_eq!(back, ir::parse_module(LAYERNORM).expect("parse"));
}

#[test]
fn ir_dump_after_every_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "ln.ir", LAYERNORM);
    let out = ok(IR_DUMP, &[&f, "--after", "all"]);
    let comments: Vec<&str> = out.lines().filter(|l| l.starts_with("; after ")).collect();
    let names = passes::pass_names();
    assert!(comments.len() >= names.len(), "{out}");
    for (c, n) in comments.iter().zip(&names) {
        assert_eq!(*c, format!("; after {n}"));
    }
    // Each dump is a function that parses.
    for chunk in out.split("; after ").skip(1) {
        let text = chunk.split_once('\n').expect("comment line").1;
        ir::parse_module(text).expect("each dump parses");
    }

    let one = ok(IR_DUMP, &[&f, "--after", names[0]]);
    assert!(!one.contains("; after"), "{one}");
    ir::parse_module(&one).expect("parses");

    let err = fails(IR_DUMP, &[&f, "--after", "nosuchpass"], "unknown pass `nosuchpass`");
    for n in &names {
        assert!(err.contains(n), "{err} lists {n}");
    }
}

#[test]
fn ir_dump_plans_layernorm_as_one_kernel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "ln.ir", LAYERNORM);
    let text = ok(IR_DUMP, &[&f, "--plan"]);
    assert!(text.contains("k0"), "{text}");
    assert_eq!(ok(IR_DUMP, &[&f, "--plan", "--format", "text"]), text);

    let json = ok(IR_DUMP, &[&f, "--plan", "--format", "json"]);
    assert_eq!(json.lines().count(), 1, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["func"], "layernorm");
    let kernels = v["kernels"].as_array().expect("kernels");
    assert_eq!(kernels.len(), 1, "{json}");
    assert_eq!(kernels[0]["name"], "k0");
    assert_eq!(kernels[0]["kind"], "normalization");
    assert_eq!(kernels[0]["inputs"], serde_json::json!(["%x", "%w", "%b"]));
    assert_eq!(kernels[0]["nodes"].as_array().map(Vec::len), Some(9));

    let dot = ok(IR_DUMP, &[&f, "--plan", "--format", "dot"]);
    assert!(dot.trim_start().starts_with("digraph") && dot.trim_end().ends_with('}'), "{dot}");
}

#[test]
fn ir_dump_plan_json_is_one_line_per_function() {
    let dir = tempfile::tempdir().expect("tempdir");
    let two = format!("{LAYERNORM}\n{}", SMALL);
    let f = write(dir.path(), "two.ir", &two);
    let json = ok(IR_DUMP, &[&f, "--plan", "--format", "json"]);
    let funcs: Vec<String> = json
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["func"].to_string()
        })
        .collect();
    assert_eq!(funcs, ["\"layernorm\"", "\"small\""]);
    let kinds = ["pointwise", "reduction", "normalization", "transpose", "library", "fallback"];
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("json");
        for k in v["kernels"].as_array().expect("kernels") {
            assert!(kinds.contains(&k["kind"].as_str().unwrap_or("")), "{l}");
        }
    }
}

#[test]
fn ir_dump_bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let f = write(d, "ln.ir", LAYERNORM);
    let bad = write(
        d,
        "bad.ir",
        "func @f(%x: f32[3], %y: f32[4]) -> (f32[3]) {\n  %z = add(%x, %y)\n  return %z\n}\n",
    );
    let e = fails(IR_DUMP, &[&bad], ":2:");
    assert!(
        e.contains(&format!("ir-dump: {bad}:2:")) && e.contains("cannot broadcast [3] with [4]"),
        "{e}"
    );
    let syntax =
        write(d, "syntax.ir", "func @f(%x: f32[3]) -> (f32[3]) {\n  %y = frobnicate(%x)\n");
    fails(IR_DUMP, &[&syntax], &format!("{syntax}:2:"));
    let binary = d.join("bin.ir");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).expect("write");
    fails(IR_DUMP, &[&binary.display().to_string()], "not UTF-8");
    fails(IR_DUMP, &[&write(d, "empty.ir", "")], "no function");
    fails(IR_DUMP, &["/no/such/file.ir"], "/no/such/file.ir");
    fails(IR_DUMP, &[&d.display().to_string()], &d.display().to_string());
    fails(IR_DUMP, &[], "required");
    fails(IR_DUMP, &[&f, "--bogus"], "--bogus");
    fails(IR_DUMP, &[&f, "--plan", "--format", "xml"], "xml");
    fails(IR_DUMP, &[&f, "--plan", "--json"], "cannot be used");
    fails(IR_DUMP, &[&f, "--after"], "--after");
    let help = exec(IR_DUMP, &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--plan"));
    assert_eq!(exec(IR_DUMP, &["--version"]).code, 0);
}

// ------------------------------------------------------------------ smelt

#[test]
fn smelt_runs_and_writes_npy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let f = write(d, "small.ir", SMALL);
    let x =
        npy(d, "x.npy", &HostTensor::from_f64(DType::F32, &[2, 3], vec![1., 2., 3., 4., 5., 6.]));
    let y = npy(d, "y.npy", &HostTensor::from_f64(DType::F32, &[3], vec![0.5, -1., 10.]));
    let out = d.join("out");
    let o = out.display().to_string();
    let x_in = format!("x={x}");
    let y_in = format!("y={y}");
    let stdout = ok(
        SMELT,
        &["run", &f, "--backend", "interp", "--input", &x_in, "--input", &y_in, "--out", &o],
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{}: f32[2, 3]", out.join("out0.npy").display()),
            format!("{}: f32[2]", out.join("out1.npy").display())
        ]
    );
    let s = read_npy(&out.join("out0.npy")).expect("out0");
    assert_eq!(s, HostTensor::from_f64(DType::F32, &[2, 3], vec![1.5, 1., 13., 4.5, 4., 16.]));
    let m = read_npy(&out.join("out1.npy")).expect("out1");
    assert_eq!(m, HostTensor::from_f64(DType::F32, &[2], vec![15.5, 24.5]));

    // --func picks the function; --sym may confirm what the inputs say.
    let two = write(d, "two.ir", &format!("{LAYERNORM}\n{SMALL}"));
    ok(
        SMELT,
        &[
            "run", &two, "--func", "small", "--sym", "n=2", "--input", &x_in, "--input", &y_in,
            "--out", &o,
        ],
    );
    fails(
        SMELT,
        &["run", &two, "--input", &x_in, "--input", &y_in, "--out", &o],
        "choose one with --func",
    );
    fails(
        SMELT,
        &["run", &two, "--func", "@nope", "--input", &x_in, "--out", &o],
        "no function @nope",
    );
}

#[test]
fn smelt_rounds_f32_for_a_bf16_parameter_and_writes_bf16_as_f32() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let f = write(d, "bf16.ir", BF16);
    // 1 + 2^-8 ties to 1.0; 1 + 3*2^-8 rounds up to 1 + 2^-6 (ties to even).
    let vals = vec![1.0 + 2f64.powi(-8), 1.0 + 3.0 * 2f64.powi(-8), -3.0, 0.1];
    let x = npy(d, "x.npy", &HostTensor::from_f64(DType::F32, &[4], vals.clone()));
    let out = d.join("o");
    let stdout =
        ok(SMELT, &["run", &f, "--input", &format!("x={x}"), "--out", &out.display().to_string()]);
    assert!(stdout.contains("out0.npy: bf16[4]") && stdout.contains("written as f32"), "{stdout}");
    let y = read_npy(&out.join("out0.npy")).expect("out0");
    assert_eq!(y.dtype, DType::F32);
    let want: Vec<f64> =
        vals.iter().map(|&v| 2.0 * smelt_compiler::numerics::round_bf16(v)).collect();
    assert_eq!(y.to_f64_vec(), want);
    assert_eq!(&want[..3], &[2.0, 2.0 + 2f64.powi(-5), -6.0]);

    // f64 is not accepted for bf16, and the message says what is.
    let x64 = npy(d, "x64.npy", &HostTensor::from_f64(DType::F64, &[4], vals));
    let e = fails(
        SMELT,
        &["run", &f, "--input", &format!("x={x64}"), "--out", "o"],
        "expected bf16[4], got f64[4]",
    );
    assert!(e.contains("f32 .npy is also accepted"), "{e}");
}

#[test]
fn smelt_sym_sizes_what_no_input_fixes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let f = write(d, "iota.ir", IOTA);
    let s = npy(d, "s.npy", &HostTensor::from_f64(DType::F32, &[], vec![0.0]));
    let out = d.join("o");
    let o = out.display().to_string();
    let s_in = format!("s={s}");
    let stdout = ok(SMELT, &["run", &f, "--input", &s_in, "--sym", "n=5", "--out", &o]);
    assert!(stdout.contains("out0.npy: i64[5]") && stdout.contains("out1.npy: f16[5]"), "{stdout}");
    assert_eq!(
        read_npy(&out.join("out0.npy")).expect("i"),
        HostTensor::from_i64(DType::I64, &[5], (0..5).collect())
    );
    let h = read_npy(&out.join("out1.npy")).expect("h");
    assert_eq!(h, HostTensor::from_f64(DType::F16, &[5], vec![0., 1., 2., 3., 4.]));

    fails(
        SMELT,
        &["run", &f, "--input", &s_in, "--sym", "q=5", "--out", &o],
        "has no symbol q (n)",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &s_in, "--sym", "n=5", "--sym", "n=6", "--out", &o],
        "given twice",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &s_in, "--sym", "n=-1", "--out", &o],
        "non-negative integer",
    );
    fails(SMELT, &["run", &f, "--input", &s_in, "--sym", "n", "--out", &o], "expected NAME=SIZE");
    // Far too large for the interpreter: refused, not allocated.
    fails(
        SMELT,
        &["run", &f, "--input", &s_in, "--sym", "n=100000000000000", "--out", &o],
        "@count",
    );
}

#[test]
fn smelt_bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let f = write(d, "small.ir", SMALL);
    let x = npy(d, "x.npy", &HostTensor::from_f64(DType::F32, &[2, 3], vec![0.; 6]));
    let x3 = npy(d, "x3.npy", &HostTensor::from_f64(DType::F32, &[3, 3], vec![0.; 9]));
    let x64 = npy(d, "x64.npy", &HostTensor::from_f64(DType::F64, &[2, 3], vec![0.; 6]));
    let xi = npy(d, "xi.npy", &HostTensor::from_i64(DType::I32, &[2, 3], vec![0; 6]));
    let y = npy(d, "y.npy", &HostTensor::from_f64(DType::F32, &[3], vec![0.; 3]));
    let y4 = npy(d, "y4.npy", &HostTensor::from_f64(DType::F32, &[4], vec![0.; 4]));
    let y2d = npy(d, "y2d.npy", &HostTensor::from_f64(DType::F32, &[1, 3], vec![0.; 3]));
    let junk = write(d, "junk.npy", "\u{93}NUMPY junk");
    let mut trunc = std::fs::read(&x).expect("read");
    trunc.truncate(trunc.len() - 3);
    let truncf = d.join("trunc.npy");
    std::fs::write(&truncf, trunc).expect("write");
    let truncf = truncf.display().to_string();
    let o = d.join("o").display().to_string();
    let inp = |n: &str, p: &str| format!("{n}={p}");
    let (xa, ya) = (inp("x", &x), inp("y", &y));

    let e = fails(SMELT, &["run", &f, "--input", &inp("x", &x64), "--input", &ya, "--out", &o], "");
    assert_eq!(e, format!("smelt: input x: expected f32[n, 3], got f64[2, 3] from {x64}\n"));
    fails(
        SMELT,
        &["run", &f, "--input", &inp("x", &xi), "--input", &ya, "--out", &o],
        "got i32[2, 3]",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--input", &inp("y", &y4), "--out", &o],
        "expected f32[3], got f32[4]",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--input", &inp("y", &y2d), "--out", &o],
        "got f32[1, 3]",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &inp("x", &x3), "--input", &ya, "--sym", "n=2", "--out", &o],
        "expected f32[n, 3], got f32[3, 3] from",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &inp("x", &x3), "--input", &ya, "--sym", "n=2", "--out", &o],
        "(n = 2 from --sym)",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &inp("x", &junk), "--input", &ya, "--out", &o],
        "input x: ",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &inp("x", &truncf), "--input", &ya, "--out", &o],
        "needs 24 data bytes",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &inp("x", "/no/such.npy"), "--input", &ya, "--out", &o],
        "/no/such.npy",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--out", &o],
        "missing input for parameter y of @small",
    );
    fails(SMELT, &["run", &f, "--out", &o], "missing inputs for parameters x, y");
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--input", &ya, "--input", &inp("z", &y), "--out", &o],
        "has no parameter z (parameters: x, y)",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--input", &ya, "--input", &inp("x", &x), "--out", &o],
        "input x is given twice",
    );
    fails(SMELT, &["run", &f, "--input", &x, "--out", &o], "expected NAME=FILE.npy");
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--input", &ya, "--out", &o, "--fusion", "off"],
        "--bench, --fallback and --fusion apply to --backend cpu",
    );
    // Without a GPU the CUDA backend says what is missing (with one, it runs).
    if smelt_compiler::backend::cuda::runtime::device_status().is_err() {
        fails(
            SMELT,
            &["run", &f, "--input", &xa, "--input", &ya, "--out", &o, "--backend", "cuda"],
            "no CUDA device",
        );
    }
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--input", &ya, "--out", &o, "--backend", "tpu"],
        "unknown backend",
    );
    fails(SMELT, &["run", &f, "--input", &xa, "--input", &ya], "--out");
    // The output directory cannot be created under a file.
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--input", &ya, "--out", &format!("{x}/sub")],
        "cannot create",
    );
    fails(SMELT, &["run", "/no/such.ir", "--out", &o], "/no/such.ir");
    fails(SMELT, &[], "subcommand");
    fails(SMELT, &["frobnicate"], "frobnicate");
}
