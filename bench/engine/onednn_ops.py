#!/usr/bin/env python3
"""Per-primitive time of one training step inside oneDNN, from ONEDNN_VERBOSE=1.

    /usr/bin/python3 bench/engine/onednn_ops.py build/bin/dml-bench-engine [--arch A] [--bs N] [--size S]
        [--precision bf16|fp32] [--shapes N] [--log FILE]

runs `dml-bench-engine --steps 1 --warmup 1` under ONEDNN_VERBOSE=1 (or reads --log, a saved output of such a run
with --steps 1 --warmup 1) and prints, for the last step only (the first one also creates the primitives), the
milliseconds per implementation (convolutions by propagation kind; matmuls split into backward weights, whose
source is the transposed dy, and backward data), then the N slowest shapes of the backward-data primitives, and the
bench's own per-op profile lines. Times are wall-clock per call: on a shared machine compare runs of the same
minute only.
"""
import argparse
import collections
import os
import subprocess
import sys


def kind(f):
    k = f"{f[3]} {f[4]} {f[5]}"
    if f[3] == "matmul":  # our matmuls: bwd weights reads dyᵀ (a "ba" view of NHWC dy), bwd data reads dy ("ab")
        k = f"matmul {f[4]} " + ("bwd-weights" if "src_bf16::blocked:ba" in f[6] or "src_f32::blocked:ba" in f[6]
                                 else "bwd-data")
    return k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", nargs="?", default="build/bin/dml-bench-engine")
    ap.add_argument("--arch", default="resnet50_frozen_normalize")
    ap.add_argument("--bs", default="16")
    ap.add_argument("--size", default="224")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--shapes", type=int, default=12)
    ap.add_argument("--log")
    a = ap.parse_args()
    if a.log:
        text = open(a.log).read()
    else:
        if not os.access(a.bench, os.X_OK):
            sys.exit(f"onednn_ops.py: {a.bench} is not an executable (build first)")
        cmd = [a.bench, "--arch", a.arch, "--bs", a.bs, "--size", a.size, "--steps", "1", "--warmup", "1",
               "--precision", a.precision, "--optim", "adam", "--profile"]
        r = subprocess.run(cmd, env=dict(os.environ, ONEDNN_VERBOSE="1"), capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"onednn_ops.py: {' '.join(cmd)} exited with {r.returncode}: {r.stderr.strip()[-300:]}")
        text = r.stdout + r.stderr
    ex = [l.strip().split(",") for l in text.splitlines() if l.startswith("onednn_verbose,exec")]
    if not ex or len(ex) % 2:
        sys.exit("onednn_ops.py: expected the exec lines of two equal steps (--steps 1 --warmup 1)")
    last = ex[len(ex) // 2:]
    per = collections.defaultdict(lambda: [0, 0.0])
    shapes = collections.defaultdict(lambda: [0, 0.0])
    for f in last:
        k, t = kind(f), float(f[-1])
        per[k][0] += 1
        per[k][1] += t
        if "backward_data" in k or "bwd-data" in k:
            shapes[(k.split()[1], f[-2])][0] += 1
            shapes[(k.split()[1], f[-2])][1] += t
    total = 0.0
    print("    ms/step calls  primitive")
    for k, (n, t) in sorted(per.items(), key=lambda kv: -kv[1][1]):
        print(f"{t:11.1f} {n:5d}  {k}")
        total += t
    print(f"{total:11.1f}        in oneDNN")
    print("backward data, slowest shapes (convolution: mb/ic/oc/ih/kh/sh...; matmul: M×K:K×N:M×N):")
    for (impl, s), (n, t) in sorted(shapes.items(), key=lambda kv: -kv[1][1])[:a.shapes]:
        print(f"{t:11.2f} {n:5d}  {impl} {s}")
    for l in text.splitlines():
        if l.startswith("  ") and "ms/step" in l or "TFLOP/s" in l:
            print(l)


if __name__ == "__main__":
    main()
