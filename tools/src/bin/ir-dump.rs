//! `ir-dump FILE.ir [--keep-names] [--after PASS|all] [--plan [--format
//! text|json|dot]] [--json]`: see [`smelt_tools::ir_dump`].

use std::process::ExitCode;

use smelt_tools::{cli, ir_dump};

fn main() -> ExitCode {
    cli::main_with("ir-dump", |args: ir_dump::Args| ir_dump::execute(&args))
}
