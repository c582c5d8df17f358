#!/usr/bin/env bash
# Builds, on this (CPU) machine, everything tools/gpu-check.sh runs on a lent
# GPU machine, and copies it into .gpu/ (git-ignored; the lead carries it
# with `carry: [".gpu"]`): the CUDA differential test binary, the runtime's
# CUDA device tests (cuda_device) and smelt
# (`smelt bench --suite fusion --device cuda` is the GPU benchmark), both
# release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu
mkdir -p .gpu
cargo build --release -p smelt-tools --bin smelt
cp target/release/smelt .gpu/
# A test binary's path comes from cargo's JSON messages.
test_binary() { # crate, test target
  cargo test --release -p "$1" --test "$2" --no-run --message-format=json \
    | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])
' "$2" > .gpu/.test-path
  test -s .gpu/.test-path || { echo "gpu-build: no $2 test binary found" >&2; exit 1; }
  cp "$(cat .gpu/.test-path)" ".gpu/$2"
  rm .gpu/.test-path
}
test_binary smelt-testsuite cuda_differential
# The runtime's Device::Cuda(0) tensors (round trips, eager ops, autograd).
test_binary smelt-runtime cuda_device
# Line tables are dropped to keep the bundle small; the symbol table stays,
# so a panic's backtrace on the GPU machine still names its functions.
strip --strip-debug .gpu/smelt .gpu/cuda_differential .gpu/cuda_device 2>/dev/null || true
ls -l .gpu
echo "bundle: $(du -sm .gpu | cut -f1) MB (must stay under 60)"
test "$(du -sm .gpu | cut -f1)" -lt 60
