#!/usr/bin/python3
"""compare — the engine benchmark: one training step (forward + backward + SGD) in images/s, ours
(dml-bench-engine) and PyTorch's (Debian python3-torch, torchvision models, torch.set_num_threads(2)) on the same
configurations, in the same run, printing the ratio per row.

  /usr/bin/python3 bench/engine/compare.py BUILD/bin/dml-bench-engine [--threads 2] [--repeat 3] [--quick]

Each row is measured --repeat times, alternating ours and PyTorch, and the best rate of each is kept: on a shared
machine a load spike then costs a repeat, not the comparison.
"""
import argparse
import os
import subprocess
import time

import torch
import torchvision

ROWS = [("resnet18", 64, 64), ("resnet50", 64, 64), ("resnet18", 16, 224), ("resnet50", 16, 224)]


def torch_rate(arch, bs, size, steps, warmup):
    m = getattr(torchvision.models, arch)()
    m.fc = torch.nn.Linear(m.fc.in_features, 128)
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=1e-3)
    x = torch.rand(bs, 3, size, size) * 2 - 1
    c = (torch.rand(bs, 128) * 2 - 1) / bs
    for s in range(warmup + steps):
        if s == warmup:
            t0 = time.perf_counter()
        opt.zero_grad()
        m(x).backward(c)
        opt.step()
    return bs * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prog")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 warm-up and 2 timed steps per row")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per row (best kept)")
    ap.add_argument("--rows", default="", help="comma-separated row numbers to run (0-3), default all")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    print("%-9s %5s %5s %12s %12s %7s" % ("arch", "batch", "size", "dml img/s", "torch img/s", "ratio"))
    rows = [ROWS[int(i)] for i in a.rows.split(",")] if a.rows else ROWS
    for arch, bs, size in rows:
        steps = 2 if a.quick else (3 if size > 100 else 5)
        ours = theirs = 0.0
        for _ in range(max(1, a.repeat)):
            out = subprocess.run([a.prog, "--arch", arch, "--bs", str(bs), "--size", str(size), "--steps", str(steps),
                                  "--warmup", "1"], env=env, capture_output=True, text=True, check=True).stdout.split()
            ours = max(ours, float(out[3]))
            theirs = max(theirs, torch_rate(arch, bs, size, steps, 1))
        print("%-9s %5d %5d %12.1f %12.1f %6.2fx" % (arch, bs, size, ours, theirs, ours / theirs), flush=True)


if __name__ == "__main__":
    main()
