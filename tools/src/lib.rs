//! smelt-tools: the command-line tools `ir-dump` and `smelt`, written as a
//! library so their tests can drive the same functions the binaries call.
//!
//! - [`cli`]: what every tool shares: one-line errors with exit status 2,
//!   clap errors cut to one line, a panic hook that reports a bug tidily.
//! - [`ir_dump`]: `ir-dump FILE.ir` (print, `--after`, `--plan`, `--json`).
//! - [`run`]: `smelt run FILE.ir --input NAME=X.npy … --out DIR`.
//! - [`run_cpu`]: `smelt run --backend cpu` (fusion, fallback, `--bench N`).
//! - [`bench`]: `smelt bench --suite fusion [--device cpu|cuda] [--dtype f32|bf16] [--json FILE]`.
//! - [`decode`]: `smelt decode --emissions E.npy --tokens T [--lexicon L] [--lm LM]`.
//! - [`zoo`]: `smelt models`, `smelt classify`, `smelt run-model`.
//! - [`train_demo`]: `smelt train-demo [--model cnn|transformer] [--amp] [--compile] …`.
//! - [`embed`]: `smelt embed [--model-dir DIR] [--json] TEXT...` (MiniLM sentence embeddings).
//!
//! Invariant: no input a user can give (files, flags) makes a tool panic;
//! every failure is a [`cli::CliError`], printed as one line.

pub mod bench;
pub mod cli;
pub mod decode;
pub mod embed;
pub mod ir_dump;
pub mod run;
pub mod run_cpu;
pub mod train_demo;
pub mod zoo;
