#!/usr/bin/python3
"""bench_torch — a PyTorch point of comparison for bench_criteria: the fixture formulas of
bench/zoo/torch_formulas.py (NOT the reference code: vectorised for triplet/contrastive/snr/softmax/arcface/
softtriplet, per-anchor Python loops for lifted/npair/angular/multisimilarity as the reference also loops, and slow
Python index lists for proxynca/oproxy and the softtriplet mask that the reference builds once), float32 on CPU,
forward + backward, B = 112, D = 128, C = 100 and 11,318. Only the vectorised rows say what torch itself costs.
  /usr/bin/python3 bench/zoo/bench_torch.py [MIN_MS=300] [THREADS=2] [CSV=bench_torch.csv]
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_formulas as zc  # noqa: E402


def main():
    min_ms = float(sys.argv[1]) if len(sys.argv) > 1 else 300
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    csv = sys.argv[3] if len(sys.argv) > 3 else "bench_torch.csv"
    torch.set_default_dtype(torch.float32)
    zc.torch.set_default_dtype(torch.float32)
    B, D = 112, 128
    rng = np.random.RandomState(1)
    x0 = rng.randn(B, D).astype(np.float32)
    x0 /= np.linalg.norm(x0, axis=1, keepdims=True)
    y = [int((i // 2) * 37 % 100) for i in range(B)]
    T = []
    for a in range(B):  # one triplet per anchor, as the distance miner returns
        p = [j for j in range(B) if j != a and y[j] == y[a]][0]
        n = [j for j in range(B) if y[j] != y[a]][rng.randint(0, B - 2)]
        T.append([a, p, n])
    T = np.array(T)
    Tn = np.array([[a, b, -1] for a, b, _ in T])
    q = [int(v) for v in rng.randint(0, B, B)]

    def param(shape, scale):
        return torch.tensor(rng.randn(*shape).astype(np.float32) * scale, requires_grad=True)

    cases = [
        ("triplet", None, lambda x, p: zc.triplet(x, y, T)),
        ("contrastive", None, lambda x, p: zc.contrastive(x, y, T)),
        ("snr", None, lambda x, p: zc.snr(x, y, T, lam=0.0)),
        ("quadruplet", None, lambda x, p: zc.quadruplet(x, y, T, q)),
        ("lifted", None, lambda x, p: zc.lifted(x, y, Tn)),
        ("npair", None, lambda x, p: zc.npair(x, y, Tn)),
        ("angular", None, lambda x, p: zc.angular(x, y, Tn)),
        ("histogram", None, lambda x, p: zc.histogram(x, y)),
        ("multisimilarity", None, lambda x, p: zc.multisimilarity(x, y)),
    ]
    for C in (100, 11318):
        cases += [
            (f"proxynca C={C}", (C, D, 1 / 8), lambda x, p: zc.proxynca(x, y, p)),
            (f"softmax C={C}", (C, D, 0.05), lambda x, p: zc.softmax(x, y, p)),
            (f"arcface C={C}", (C, D, 0.05), lambda x, p: zc.arcface(x, y, p)),
            (f"softtriplet C={C}", (D, 2 * C, 0.01), lambda x, p: zc.softtriplet(x, y, p)),
            (f"oproxy C={C}", (C, D, 1 / 8), lambda x, p: zc.oproxy(x, y, p)),
        ]
    with open(csv, "a") as f:
        f.write("case,B,D,threads,loss_grad_ms\n")
        for name, pshape, fn in cases:
            x = torch.tensor(x0, requires_grad=True)
            p = param(pshape[:2], pshape[2]) if pshape else None
            fn(x, p).backward()  # warm-up
            reps, t0 = 0, time.perf_counter()
            while True:
                x.grad = None
                L = fn(x, p)
                L.backward()
                reps += 1
                el = (time.perf_counter() - t0) * 1e3
                if el >= min_ms or reps >= 2000:
                    break
            print(f"{name:28s} {el / reps:10.3f} ms  (loss {float(L):.5g}, {reps} reps)", flush=True)
            f.write(f"\"{name}\",{B},{D},{torch.get_num_threads()},{el / reps:.4f}\n")


if __name__ == "__main__":
    main()
