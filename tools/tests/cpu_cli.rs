//! `smelt run --backend cpu` and `ir-dump --emit clif|asm` as a user meets
//! them: the same results as the interpreter, `--fusion off`, `--bench N`
//! printing its JSON line, and the kernels' Cranelift IR.

mod common;

use common::*;
use smelt_compiler::HostTensor;
use smelt_compiler::ir::DType;
use smelt_runtime::io::read_npy;

#[test]
fn smelt_runs_on_the_cpu_backend_and_benches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let f = write(d, "small.ir", SMALL);
    let x =
        npy(d, "x.npy", &HostTensor::from_f64(DType::F32, &[2, 3], vec![1., 2., 3., 4., 5., 6.]));
    let y = npy(d, "y.npy", &HostTensor::from_f64(DType::F32, &[3], vec![0.5, -1., 10.]));
    let (x_in, y_in) = (format!("x={x}"), format!("y={y}"));
    for fusion in ["on", "off"] {
        let out = d.join(format!("out_{fusion}"));
        let o = out.display().to_string();
        let args =
            ["run", &f, "--backend", "cpu", "--fusion", fusion, "--input", &x_in, "--input", &y_in];
        ok(SMELT, &[&args[..], &["--out", &o]].concat());
        let s = read_npy(&out.join("out0.npy")).expect("out0");
        assert_eq!(s, HostTensor::from_f64(DType::F32, &[2, 3], vec![1.5, 1., 13., 4.5, 4., 16.]));
        let m = read_npy(&out.join("out1.npy")).expect("out1");
        assert_eq!(m, HostTensor::from_f64(DType::F32, &[2], vec![15.5, 24.5]));
        let stdout = ok(SMELT, &[&args[..], &["--out", &o, "--bench", "3"]].concat());
        let json = stdout.lines().last().expect("a JSON line");
        let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
        for key in ["median_ms", "min_ms", "bytes", "gbps", "compile_ms", "kernels"] {
            assert!(v.get(key).is_some(), "{key} missing from {json}");
        }
        assert_eq!(v["bytes"], 4 * (6 + 3 + 6 + 2));
    }
}

#[test]
fn ir_dump_emits_clif_and_asm_per_kernel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "ln.ir", LAYERNORM);
    let clif = ok(IR_DUMP, &[&f, "--emit", "clif"]);
    assert!(clif.starts_with("; kernel normalization_"), "{clif}");
    assert!(clif.contains("function u0:0(i64, i64, i64, i64, i64, i64, i64)"), "{clif}");
    assert!(clif.contains("f32x4"), "the row loops are vectorized");
    assert_eq!(clif, ok(IR_DUMP, &[&f, "--emit", "clif"]), "deterministic");
    let asm = ok(IR_DUMP, &[&f, "--emit", "asm"]);
    assert!(asm.contains("; kernel normalization_") && asm.contains("ret"), "{asm}");
}
