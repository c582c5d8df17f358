//! What the CLI tests share: the binaries, IR sources, running a binary and
//! checking its exit status and stderr, writing fixtures, a seeded RNG.

#![allow(dead_code)] // each test file uses a different part

use std::path::Path;
use std::process::Command;

use clap::Parser;
use smelt_compiler::HostTensor;
use smelt_runtime::io::write_npy;
use smelt_tools::ir_dump::Args;

pub const IR_DUMP: &str = env!("CARGO_BIN_EXE_ir-dump");
pub const SMELT: &str = env!("CARGO_BIN_EXE_smelt");

pub const LAYERNORM: &str = "\
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
pub const SMALL: &str = "\
func @small(%x: f32[n, 3], %y: f32[3]) -> (f32[n, 3], f32[n]) {
  %s = add(%x, %y)
  %m = sum(%s) dims=[1] keepdim=false
  return %s, %m
}
";

pub const BF16: &str = "\
func @twice(%x: bf16[4]) -> (bf16[4]) {
  %y = mul(%x, 2)
  return %y
}
";

/// A symbol no input fixes: only `--sym` can.
pub const IOTA: &str = "\
func @count(%s: f32[]) -> (i64[n], f16[n]) {
  %i = iota shape=[n] dim=0 to=i64 : i64[n]
  %h = cast(%i) to=f16
  return %i, %h
}
";

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn exec(bin: &str, args: &[&str]) -> Out {
    let o = Command::new(bin).args(args).output().expect("the binary runs");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn ok(bin: &str, args: &[&str]) -> String {
    let o = exec(bin, args);
    assert_eq!(o.code, 0, "{args:?} failed: {}", o.stderr);
    assert_eq!(o.stderr, "", "{args:?}");
    o.stdout
}

/// Exit 2 and exactly one line on stderr, `<tool>: …`, containing `want`.
pub fn fails(bin: &str, args: &[&str], want: &str) -> String {
    let o = exec(bin, args);
    let tool = if bin == IR_DUMP { "ir-dump: " } else { "smelt: " };
    assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {:?}", o.stderr);
    assert!(o.stderr.starts_with(tool) && o.stderr.ends_with('\n'), "{:?}", o.stderr);
    assert!(o.stderr.contains(want), "{args:?}: want {want:?} in {:?}", o.stderr);
    assert_eq!(o.stdout, "", "{args:?}");
    o.stderr
}

pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

pub fn npy(dir: &Path, name: &str, t: &HostTensor) -> String {
    let p = dir.join(name);
    write_npy(&p, t).expect("write npy");
    p.display().to_string()
}

pub fn args_of(extra: &[&str]) -> Args {
    let mut v = vec!["ir-dump", "m.ir"];
    v.extend_from_slice(extra);
    Args::try_parse_from(v).expect("args")
}

/// A tiny seeded generator (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
