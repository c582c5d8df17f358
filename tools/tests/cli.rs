//! The tools as a user meets them: the built `ir-dump` and `smelt` binaries
//! on real files (happy paths, read back and checked), every kind of bad
//! input (exit 2, exactly one stderr line), and thousands of seeded
//! mutations of a valid `.ir` and a valid `.npy` file (through the library
//! functions the binaries call, and a smaller number through the binaries)
//! that must never panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use smelt_compiler::ir::{self, DType};
use smelt_compiler::{HostTensor, interp, passes};
use smelt_runtime::io::{decode_npy, encode_npy, read_npy, write_npy};
use smelt_tools::ir_dump::{self, Args};
use smelt_tools::run::{self, Given};

const IR_DUMP: &str = env!("CARGO_BIN_EXE_ir-dump");
const SMELT: &str = env!("CARGO_BIN_EXE_smelt");

const LAYERNORM: &str = "\
; Layer norm over the last dim.
func @layernorm(%x: f32[n, 1024], %w: f32[1024], %b: f32[1024]) -> (f32[n, 1024]) {
  %mean = mean(%x) dims=[1] keepdim=true      : f32[n, 1]
  %xc   = sub(%x, %mean)                      : f32[n, 1024]
  %sq   = mul(%xc, %xc)                       : f32[n, 1024]
  %var  = mean(%sq) dims=[1] keepdim=true     : f32[n, 1]
  %ve   = add(%var, 1e-5)                     : f32[n, 1]
  %inv  = rsqrt(%ve)                          : f32[n, 1]
  %y    = mul(%xc, %inv)                      : f32[n, 1024]
  %yw   = mul(%y, %w)                         : f32[n, 1024]
  %out  = add(%yw, %b)                        : f32[n, 1024]
  return %out
}
";

/// Two results, a symbol, a reduction and a broadcast.
const SMALL: &str = "\
func @small(%x: f32[n, 3], %y: f32[3]) -> (f32[n, 3], f32[n]) {
  %s = add(%x, %y)
  %m = sum(%s) dims=[1] keepdim=false
  return %s, %m
}
";

const BF16: &str = "\
func @twice(%x: bf16[4]) -> (bf16[4]) {
  %y = mul(%x, 2)
  return %y
}
";

/// A symbol no input fixes: only `--sym` can.
const IOTA: &str = "\
func @count(%s: f32[]) -> (i64[n], f16[n]) {
  %i = iota shape=[n] dim=0 to=i64 : i64[n]
  %h = cast(%i) to=f16
  return %i, %h
}
";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn exec(bin: &str, args: &[&str]) -> Out {
    let o = Command::new(bin).args(args).output().expect("the binary runs");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ok(bin: &str, args: &[&str]) -> String {
    let o = exec(bin, args);
    assert_eq!(o.code, 0, "{args:?} failed: {}", o.stderr);
    assert_eq!(o.stderr, "", "{args:?}");
    o.stdout
}

/// Exit 2 and exactly one line on stderr, `<tool>: …`, containing `want`.
fn fails(bin: &str, args: &[&str], want: &str) -> String {
    let o = exec(bin, args);
    let tool = if bin == IR_DUMP { "ir-dump: " } else { "smelt: " };
    assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {:?}", o.stderr);
    assert!(o.stderr.starts_with(tool) && o.stderr.ends_with('\n'), "{:?}", o.stderr);
    assert!(o.stderr.contains(want), "{args:?}: want {want:?} in {:?}", o.stderr);
    assert_eq!(o.stdout, "", "{args:?}");
    o.stderr
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

fn npy(dir: &Path, name: &str, t: &HostTensor) -> String {
    let p = dir.join(name);
    write_npy(&p, t).expect("write npy");
    p.display().to_string()
}

fn args_of(extra: &[&str]) -> Args {
    let mut v = vec!["ir-dump", "m.ir"];
    v.extend_from_slice(extra);
    Args::try_parse_from(v).expect("args")
}

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
    // Each dump is a function; together (comments included) they are IR text.
    let m = ir::parse_module(&out.replace("func @layernorm", "func @ln_N")).err();
    assert!(m.is_some(), "same-named funcs must clash, proving several dumps");
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
        &["run", &f, "--input", &xa, "--input", &ya, "--out", &o, "--backend", "cpu"],
        "backend cpu is not available yet (issue: CPU backend)",
    );
    fails(
        SMELT,
        &["run", &f, "--input", &xa, "--input", &ya, "--out", &o, "--backend", "cuda"],
        "not available yet (issue: CUDA backend)",
    );
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

// ------------------------------------------------------- seeded mutations

/// A tiny seeded generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that keep a mutated IR file close to valid, so mutations reach the
/// verifier, the passes and the planner, not just the lexer.
const IR_TOKENS: &[&str] = &[
    "%x",
    "%w",
    "%xc",
    "%mean",
    "0",
    "1",
    "-1",
    "2",
    "1024",
    "n",
    "m",
    "f16",
    "bf16",
    "i64",
    "bool",
    "[",
    "]",
    "(",
    ")",
    ",",
    ":",
    "=",
    "\n",
    " ",
    "dims=[0]",
    "keepdim=false",
    "sum(%x)",
    "max",
    "permute",
    "reshape",
    "shape=[n, -1]",
    "99999999999999999999",
    "1e400",
    "nan",
    "@",
    "{",
    "}",
    "return",
    "func",
    "%",
    "exp(%xc)",
    "cast(%x) to=i8",
    "matmul(%x, %w)",
];

fn mutate_ir(rng: &mut Rng, src: &str) -> String {
    let mut s: Vec<char> = src.chars().collect();
    // Mostly one mutation, so that a fair share stays valid and reaches the passes.
    let count = if rng.below(2) == 0 { 1 } else { 1 + rng.below(3) };
    for _ in 0..count {
        let i = rng.below(s.len() + 1);
        match rng.below(6) {
            0 => {
                let end = (i + 1 + rng.below(12)).min(s.len());
                s.drain(i.min(end)..end);
            }
            1 | 2 => {
                let tok = IR_TOKENS[rng.below(IR_TOKENS.len())];
                s.splice(i..i, tok.chars());
            }
            3 if i < s.len() => {
                let tok: Vec<char> = IR_TOKENS[rng.below(IR_TOKENS.len())].chars().collect();
                let end = (i + tok.len()).min(s.len());
                s.splice(i..end, tok);
            }
            4 => s.truncate(i),
            _ => {
                // Swap two lines.
                let text: String = s.iter().collect();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                s = lines.join("\n").chars().collect();
            }
        }
    }
    s.into_iter().collect()
}

fn mutate_bytes(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut b = src.to_vec();
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(b.len());
        match rng.below(5) {
            // The header is where the structure is: aim there most of the time.
            0 | 1 => {
                let j = rng.below(b.len().min(128));
                b[j] = b"0123456789(),' TF:<>|{}-Lfiub"[rng.below(29)];
            }
            2 => {
                let j = rng.below(b.len());
                b[j] = rng.next() as u8;
            }
            3 => b.truncate(i),
            _ => {
                let n = rng.below(9);
                b.splice(i..i, std::iter::repeat_n(rng.next() as u8, n));
            }
        }
        if b.is_empty() {
            break;
        }
    }
    b
}

/// Runs `f`, turning a panic into a test failure that shows the input.
fn no_panic<T>(what: &str, input: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => panic!("{what} panicked on input:\n{input}"),
    }
}

#[test]
fn thousands_of_mutated_ir_files_never_panic_the_library() {
    let mut rng = Rng(0x1DD0_5EED);
    let variants =
        [args_of(&[]), args_of(&["--after", "all"]), args_of(&["--plan", "--format", "json"])];
    let srcs = [LAYERNORM, SMALL, IOTA];
    let (mut good, mut bad) = (0, 0);
    for i in 0..3000 {
        let src = mutate_ir(&mut rng, srcs[i % srcs.len()]);
        let args = &variants[i % variants.len()];
        match no_panic("ir-dump", &src, || ir_dump::render(&src, "m.ir", args)) {
            Ok(_) => good += 1,
            Err(e) => {
                assert!(!e.0.contains('\n'), "multi-line error {:?} for:\n{src}", e.0);
                assert!(e.0.starts_with("m.ir"), "{:?}", e.0);
                bad += 1;
            }
        }
    }
    assert!(good > 50 && bad > 1000, "good {good}, bad {bad}");
}

#[test]
fn thousands_of_mutated_npy_files_never_panic_the_library() {
    let module = ir::parse_module(SMALL).expect("parse");
    let func = &module.funcs[0];
    let x = encode_npy(&HostTensor::from_f64(DType::F32, &[2, 3], vec![1., 2., 3., 4., 5., 6.]))
        .expect("x");
    let y = HostTensor::from_f64(DType::F32, &[3], vec![0.5, -1., 10.]);
    let syms = Default::default();
    let mut rng = Rng(0x4E9F_5EED);
    let (mut ran, mut bad) = (0, 0);
    for _ in 0..5000 {
        let bytes = mutate_bytes(&mut rng, &x);
        let shown = format!("{bytes:?}");
        let result = no_panic("decode/prepare/run", &shown, || {
            let t = decode_npy(&bytes).map_err(|e| e.to_string())?;
            let given = vec![
                Given { name: "x".into(), file: "x.npy".into(), tensor: t },
                Given { name: "y".into(), file: "y.npy".into(), tensor: y.clone() },
            ];
            let (inputs, b) = run::prepare_inputs(func, given, &syms).map_err(|e| e.0)?;
            interp::run(func, &inputs, &b).map_err(|e| e.to_string())
        });
        match result {
            Ok(outs) => {
                assert_eq!(outs.len(), 2);
                ran += 1;
            }
            Err(e) => {
                assert!(!e.contains('\n'), "{e}");
                bad += 1;
            }
        }
    }
    assert!(ran > 50 && bad > 1000, "ran {ran}, bad {bad}");
}

#[test]
fn mutated_files_through_the_binaries_exit_0_or_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut rng = Rng(0xB14A_5EED);
    let check = |o: &Out, what: &str| {
        assert!(o.code == 0 || o.code == 2, "{what}: exit {} {:?}", o.code, o.stderr);
        assert!(
            !o.stderr.contains("panicked") && !o.stderr.contains("internal error"),
            "{what}: {}",
            o.stderr
        );
        if o.code == 2 {
            assert_eq!(o.stderr.lines().count(), 1, "{what}: {:?}", o.stderr);
        }
    };
    let ir_path: PathBuf = d.join("m.ir");
    let ir = ir_path.display().to_string();
    for i in 0..150 {
        let src = mutate_ir(&mut rng, if i % 2 == 0 { LAYERNORM } else { SMALL });
        std::fs::write(&ir_path, &src).expect("write");
        let flags: &[&str] = match i % 3 {
            0 => &[],
            1 => &["--plan", "--format", "json"],
            _ => &["--after", "all"],
        };
        let mut args = vec![ir.as_str()];
        args.extend_from_slice(flags);
        check(&exec(IR_DUMP, &args), &src);
    }

    let small = write(d, "small.ir", SMALL);
    let y = npy(d, "y.npy", &HostTensor::from_f64(DType::F32, &[3], vec![0.5, -1., 10.]));
    let x = encode_npy(&HostTensor::from_f64(DType::F32, &[2, 3], vec![1., 2., 3., 4., 5., 6.]))
        .expect("x");
    let x_path = d.join("x.npy");
    let (xa, ya, o) =
        (format!("x={}", x_path.display()), format!("y={y}"), d.join("o").display().to_string());
    for _ in 0..150 {
        let bytes = mutate_bytes(&mut rng, &x);
        std::fs::write(&x_path, &bytes).expect("write");
        check(
            &exec(SMELT, &["run", &small, "--input", &xa, "--input", &ya, "--out", &o]),
            &format!("{bytes:?}"),
        );
    }
}
