#!/usr/bin/env bash
# Runs ON a lent GPU machine, from the repo root, with the binaries that
# tools/gpu-build.sh put in .gpu/: (a) at once: every op x dtype, the corpus
# and the random graphs against the interpreter on the GPU; the runtime's
# Device::Cuda(0) tensors against the CPU (cuda_device); and `smelt
# train-demo --device cuda` in f32 and f16 AMP; then (b) `smelt bench
# --suite fusion --device cuda` and (c) PyTorch eager and torch.compile on
# the same workloads, then one table. Logs and JSON go to $OUT (or
# ./gpu-out). At most about 7 minutes in all (usually under 4).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
T0=$(date +%s)
say() { echo "[gpu-check +$(( $(date +%s) - T0 ))s] $*"; }

for f in cuda_differential cuda_device smelt; do
  [ -x ".gpu/$f" ] || { echo "gpu-check: .gpu/$f missing: run tools/gpu-build.sh here first" >&2; exit 1; }
done
nvidia-smi -L 2>&1 | tee "$OUT/device.txt"

# NVRTC (and cuBLAS beside it): prefer the CUDA toolkit's, else any found.
lib=""
# The toolkit's folder first (a whole-disk search takes a while), then anywhere.
cands="$(ls /usr/local/cuda*/lib64/libnvrtc.so* /usr/local/cuda*/targets/*/lib/libnvrtc.so* 2>/dev/null | grep -v builtins)"
[ -n "$cands" ] || cands="$(find /usr/local /usr/lib /opt / -xdev -name 'libnvrtc.so*' 2>/dev/null | grep -v builtins | head -20)"
for cand in $cands; do
  lib="$(dirname "$cand")"
  case "$lib" in /usr/local/cuda*) break ;; esac
done
[ -n "$lib" ] || { echo "gpu-check: no libnvrtc.so* on this machine" >&2; exit 1; }
blas_lib="$(ls "$lib"/libcublas.so* 2>/dev/null | grep -v Lt | head -1)"
[ -n "$blas_lib" ] || blas_lib="$(find "$lib" /usr/local /usr/lib / -xdev -name 'libcublas.so*' 2>/dev/null | grep -v Lt | head -1)"
blas="${blas_lib:+$(dirname "$blas_lib")}"
export LD_LIBRARY_PATH="$lib${blas:+:$blas}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
say "NVRTC from $lib; cuBLAS from ${blas:-?}"
export SMELT_CASES_DIR="$PWD/testsuite/cases"
export SMELT_CACHE_DIR="$OUT/kernel-cache"

# Correctness first, three jobs at once (the GPU and 16 cores have room;
# nothing here is timed): the differential tests, the runtime's device
# tests, and train-demo on cuda:0 in f32, with f16 AMP and compiled.
say "differential tests, runtime device tests and train-demo --device cuda, concurrently"
(timeout 180 .gpu/cuda_differential --nocapture --skip cpu_emulation --skip lowers_and_compiles > "$OUT/tests.log" 2>&1; echo $? > "$OUT/tests.rc") &
(timeout 150 .gpu/cuda_device --nocapture > "$OUT/device_tests.log" 2>&1; echo $? > "$OUT/device_tests.rc") &
(timeout 150 .gpu/smelt train-demo --device cuda --json > "$OUT/train_f32.json" 2> "$OUT/train_f32.err"; echo $? > "$OUT/train_f32.rc") &
(timeout 150 .gpu/smelt train-demo --device cuda --amp --json > "$OUT/train_amp.json" 2> "$OUT/train_amp.err"; echo $? > "$OUT/train_amp.rc") &
(timeout 150 .gpu/smelt train-demo --device cuda --compile --steps 20 --json > "$OUT/train_compiled.json" 2> "$OUT/train_compiled.err"; echo $? > "$OUT/train_compiled.rc") &
wait
tests_rc=$(cat "$OUT/tests.rc"); device_rc=$(cat "$OUT/device_tests.rc")
if grep -q "skipped: no CUDA device" "$OUT/tests.log"; then
  echo "gpu-check: the tests found no CUDA device:"; grep -m1 "skipped: no CUDA device" "$OUT/tests.log"
  tests_rc=99
fi
grep -E "^CUDA device|compared|test result|^test " "$OUT/tests.log" | head -24
say "tests exit $tests_rc (log: $OUT/tests.log)"
if grep -q "skipped: no CUDA device" "$OUT/device_tests.log"; then
  echo "gpu-check: the runtime device tests found no CUDA device:"; grep -m1 "skipped: no CUDA device" "$OUT/device_tests.log"
  device_rc=99
fi
grep -E "test result|^test |panicked" "$OUT/device_tests.log" | head -20
say "runtime device tests exit $device_rc (log: $OUT/device_tests.log)"
train_rc=0
for run in f32 amp compiled; do
  rc=$(cat "$OUT/train_$run.rc")
  [ "$rc" = 0 ] || train_rc=$rc
  echo "train-demo --device cuda ($run): exit $rc; $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("final_loss %.4f, first loss %.4f, %.1f s, skipped %d" % (d["final_loss"], d["losses"][0], d["seconds"], d["skipped_steps"]))' "$OUT/train_$run.json" 2>/dev/null || tail -1 "$OUT/train_$run.err")"
done

say "smelt bench --suite fusion --device cuda"
timeout 90 .gpu/smelt bench --suite fusion --device cuda --reps 30 --json "$OUT/smelt_bench.json" > "$OUT/smelt_bench.log" 2>&1
bench_rc=$?
cat "$OUT/smelt_bench.log"

say "PyTorch eager + torch.compile"
PYTHONUNBUFFERED=1 timeout 150 python3 tools/gpu_torch_bench.py --json "$OUT/torch_bench.json" --budget 100 > "$OUT/torch_bench.log" 2>&1
torch_rc=$?
tail -3 "$OUT/torch_bench.log"

say "summary (tests rc=$tests_rc, device tests rc=$device_rc, train-demo rc=$train_rc, bench rc=$bench_rc, torch rc=$torch_rc)"
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as fh:
            return json.load(fh)
    except Exception:
        return {"rows": []}
s, t = load("smelt_bench.json"), load("torch_bench.json")
tk = {(r["workload"], r["dtype"]): r for r in t.get("rows", [])}
nan = float("nan")
def num(v):
    return nan if v is None else v
print(f"device: {s.get('device', t.get('device', '?'))}; host time per cached launch: "
      f"{num(s.get('launch_us')):.2f} us; per kernel replayed in a CUDA graph: "
      f"{num(s.get('graph_us_per_kernel')):.2f} us")
print(f"{'workload':<26} {'dtype':<5} {'smelt':>7} {'%copy':>6} {'eager':>7} {'compile':>8} {'copy':>7}  (GB/s)")
for r in s.get("rows", []):
    o = tk.get((r["workload"], r["dtype"]), {})
    extra = f"  fused AdamW {o['fused_adamw_gbs']:.0f}" if "fused_adamw_gbs" in o else ""
    print(f"{r['workload']:<26} {r['dtype']:<5} {r['fused_gbps']:7.0f} {100*r['fused_of_copy']:5.1f}% "
          f"{o.get('eager_gbs', nan):7.0f} {o.get('compile_gbs', nan):8.0f} {r['copy_gbps']:7.0f}{extra}")
for e in s.get("errors", []):
    print("smelt error:", e)
PY
say "done"
[ "$tests_rc" = 0 ] && [ "$device_rc" = 0 ] && [ "$train_rc" = 0 ] && [ "$bench_rc" = 0 ]
