//! Thousands of seeded mutations and truncations of valid `.ir` and `.npy`
//! files, through the library functions the binaries call and (fewer)
//! through the binaries themselves: the answer is success or exit 2 with one
//! stderr line, never a panic.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use common::*;
use smelt_compiler::ir::{self, DType};
use smelt_compiler::{HostTensor, interp};
use smelt_runtime::io::{decode_npy, encode_npy};
use smelt_tools::ir_dump;
use smelt_tools::run::{self, Given};

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
