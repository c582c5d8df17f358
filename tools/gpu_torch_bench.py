#!/usr/bin/env python3
"""PyTorch eager and torch.compile (Inductor) on BENCHMARKS.md's GPU fusion
workloads, the same byte counts as `smelt bench --suite fusion --device cuda`,
timed with CUDA events, beside a device-to-device copy measured in the same
run. The AdamW step's eager and torch.compile rows update one tensor of 2^26
(the bytes of smelt's 64 x 2^20); its fused-optimizer number uses 64 x 2^20.

Usage: gpu_torch_bench.py [--json PATH] [--iters N] [--budget SECONDS]
torch.compile entries still waiting when the time budget is spent are
reported as skipped, so the whole script stays inside the device time.
"""
import argparse
import json
import math
import sys
import time

ROWS, COLS, ELEMS = 32768, 1024, 1 << 26


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--budget", type=float, default=200.0)
    args = ap.parse_args()
    t_start = time.time()
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - report any import failure
        print(f"torch bench: PyTorch unavailable: {e}", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("torch bench: no CUDA device", file=sys.stderr)
        return 2
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(0)

    def timed(fn, iters):
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(iters):
            fn()
        e.record()
        e.synchronize()
        return s.elapsed_time(e) / iters

    def copy_gbs(nbytes):
        a = torch.empty(nbytes // 2, dtype=torch.uint8, device=dev)
        b = torch.empty_like(a)
        ms = timed(lambda: b.copy_(a), 20)
        return nbytes / (ms * 1e-3) / 1e9

    def gelu(x):
        t = x * 1.7 + 0.3
        return 0.5 * t * (1.0 + torch.erf(t * 0.7071067811865476))

    def layernorm(x, w, b):
        return F.layer_norm(x, (COLS,), w, b, 1e-5)

    def softmax(x):
        return torch.softmax(x, dim=-1)

    def rmsnorm(x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w

    def brln(x, bias, res, w, b):
        return F.layer_norm(x + bias + res, (COLS,), w, b, 1e-5)

    def adamw(p, g, m, v):
        m = m * 0.9 + g * 0.1
        v = v * 0.999 + g * g * 0.001
        p = p - 0.001 * ((m * 10.0) / (torch.sqrt(v * 1000.0) + 1e-8) + 0.01 * p)
        return p, m, v

    # BENCHMARKS.md's AdamW step: 64 tensors of 2^20, as smelt's GPU suite.
    def adamw_multi(ps, gs, ms, vs):
        outs = [adamw(p, g, m, v) for p, g, m, v in zip(ps, gs, ms, vs)]
        return tuple(t for o in outs for t in o)

    workloads = [
        ("pointwise", gelu, [(ELEMS,)], [0], ["f32", "bf16"]),
        ("layernorm", layernorm, [(ROWS, COLS), (COLS,), (COLS,)], [0], ["f32", "bf16"]),
        ("softmax", softmax, [(ROWS, COLS)], [0], ["f32", "bf16"]),
        ("rmsnorm", rmsnorm, [(ROWS, COLS), (COLS,)], [0], ["f32", "bf16"]),
        ("bias+residual+layernorm", brln,
         [(ROWS, COLS), (COLS,), (ROWS, COLS), (COLS,), (COLS,)], [0, 2], ["f32", "bf16"]),
        ("adamw step", adamw_multi, [[(1 << 20,)] * 64] * 4, [0, 1, 2, 3], ["f32", "bf16"]),
    ]
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16}

    def save(rows):
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"device": name, "torch": torch.__version__, "rows": rows}, fh)
    rows = []
    for wname, fn, shapes, counted, dts in workloads:
        for dt in dts:
            d = dtypes[dt]
            def make(s):
                if isinstance(s, list):  # a list of tensors (the AdamW step)
                    return [make(t) for t in s]
                return torch.rand(s, device=dev, dtype=d) * 2 - 1

            def numel(s):
                return sum(numel(t) for t in s) if isinstance(s, list) else math.prod(s)

            ins = [make(s) for s in shapes]
            out = fn(*ins)
            outs = out if isinstance(out, tuple) else (out,)
            esize = outs[0].element_size()
            nbytes = sum(numel(shapes[i]) * esize for i in counted)
            nbytes += sum(o.numel() * o.element_size() for o in outs)
            row = {"workload": wname, "dtype": dt, "bytes": nbytes}
            ms = timed(lambda: fn(*ins), args.iters)
            row["eager_gbs"] = nbytes / (ms * 1e-3) / 1e9
            if wname == "adamw step":
                # PyTorch's own fused AdamW over 64 tensors of 2^20.
                try:
                    ps = [torch.rand(1 << 20, device=dev, dtype=d, requires_grad=True)
                          for _ in range(64)]
                    for q in ps:
                        q.grad = torch.rand_like(q)
                    opt = torch.optim.AdamW(ps, lr=1e-3, fused=True)
                    opt.step()
                    ms_f = timed(opt.step, args.iters)
                    row["fused_adamw_gbs"] = nbytes / (ms_f * 1e-3) / 1e9
                    del ps, opt
                except Exception as e:  # noqa: BLE001
                    row["fused_adamw_error"] = str(e).splitlines()[0]
            if time.time() - t_start < args.budget:
                try:
                    c = torch.compile(fn)
                    c(*ins)
                    ms_c = timed(lambda: c(*ins), args.iters)
                    row["compile_gbs"] = nbytes / (ms_c * 1e-3) / 1e9
                except Exception as e:  # noqa: BLE001
                    row["compile_error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
            else:
                row["compile_error"] = "skipped (time budget)"
            row["copy_gbs"] = copy_gbs(nbytes)
            rows.append(row)
            print(f"{wname:<26} {dt:<5} eager {row['eager_gbs']:7.0f} GB/s  compile "
                  f"{row.get('compile_gbs', float('nan')):7.0f} GB/s  copy {row['copy_gbs']:7.0f}",
                  flush=True)
            del ins, out, outs
            torch.cuda.empty_cache()
            # Written after every row: a run cut short by its time limit
            # (torch.compile of the 64-tensor AdamW step is slow) keeps
            # what it measured.
            save(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
