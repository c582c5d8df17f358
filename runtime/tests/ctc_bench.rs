//! The decoder benchmark, until `smelt bench --suite decoder` calls it:
//! `cargo test --release -p smelt-runtime --test ctc_bench -- --ignored --nocapture`.
//! Ignored by default: timings in a debug test run mean nothing.

use std::path::PathBuf;

use smelt_runtime::decoders::bench::{BenchOptions, run_dev_suite};

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn decoder_dev_suite() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ctc");
    let report = run_dev_suite(&dir, &BenchOptions::default()).expect("bench");
    println!("{report}");
}
