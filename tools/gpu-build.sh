#!/usr/bin/env bash
# Builds, on this (CPU) machine, everything tools/gpu-check.sh runs on a lent
# GPU machine, and copies it into .gpu/ (git-ignored; the lead carries it
# with `carry: [".gpu"]`): the CUDA differential test binary and smelt
# (`smelt bench --suite fusion --device cuda` is the GPU benchmark), both
# release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu
mkdir -p .gpu
cargo build --release -p smelt-tools --bin smelt
cp target/release/smelt .gpu/
# The test binary's path comes from cargo's JSON messages.
cargo test --release -p smelt-testsuite --test cuda_differential --no-run --message-format=json \
  | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "cuda_differential":
        print(m["executable"])
' > .gpu/.test-path
test -s .gpu/.test-path || { echo "gpu-build: no cuda_differential test binary found" >&2; exit 1; }
cp "$(cat .gpu/.test-path)" .gpu/cuda_differential
rm .gpu/.test-path
# Debug info is not needed there; keep the bundle small.
strip .gpu/smelt .gpu/cuda_differential 2>/dev/null || true
ls -l .gpu
echo "bundle: $(du -sm .gpu | cut -f1) MB (must stay under 60)"
test "$(du -sm .gpu | cut -f1)" -lt 60
