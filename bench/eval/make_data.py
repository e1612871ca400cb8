#!/usr/bin/python3
"""make_data — synthetic Stanford Online Products test-size embeddings for the eval benchmark: 60,502 L2-normalised
128-d rows in 11,316 classes (sizes 2..12 like SOP's test split), each class a Gaussian blob around its own random
unit centre (σ chosen so recall@1 lands near a trained model's, ~0.7). Deterministic (seed 0).
usage: make_data.py OUT.h5 [--n 60502 --classes 11316 --dim 128]"""
import argparse

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--n", type=int, default=60502)
ap.add_argument("--classes", type=int, default=11316)
ap.add_argument("--dim", type=int, default=128)
ap.add_argument("--sigma", type=float, default=0.15)
a = ap.parse_args()
rng = np.random.default_rng(0)
sizes = np.full(a.classes, 2)
extra = a.n - sizes.sum()
# spread the remaining rows with a geometric tail, capped at 12 per class
while extra > 0:
    c = rng.integers(0, a.classes, size=extra)
    for i in c:
        if extra and sizes[i] < 12:
            sizes[i] += 1
            extra -= 1
labels = np.repeat(np.arange(a.classes), sizes)
labels = labels[rng.permutation(a.n)]
centres = rng.standard_normal((a.classes, a.dim))
centres /= np.linalg.norm(centres, axis=1, keepdims=True)
emb = centres[labels] + a.sigma * rng.standard_normal((a.n, a.dim))
emb /= np.linalg.norm(emb, axis=1, keepdims=True)
with h5py.File(a.out, "w") as f:
    f["embeddings"] = emb.astype(np.float32)
    f["labels"] = labels.astype(np.int32)
print(f"{a.out}: n={a.n} d={a.dim} classes={a.classes} class sizes {sizes.min()}..{sizes.max()}")
