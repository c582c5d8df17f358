//! `smelt run FILE.ir --input NAME=X.npy … --out DIR`: see [`smelt_tools::run`].

use std::process::ExitCode;

use smelt_tools::{cli, run};

fn main() -> ExitCode {
    cli::main_with("smelt", run::execute)
}
