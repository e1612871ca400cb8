#!/usr/bin/python3
"""Reads a dml run record with h5py exactly as docs/run-format.md describes it and checks its invariants.
Usage: /usr/bin/python3 tests/reference/check_runrecord_h5py.py RUN.h5   (exit 0 = conforms)"""
import json
import math
import sys

import h5py

path = sys.argv[1]
with h5py.File(path, "r") as f:
    a = f.attrs
    s = lambda k: a[k].decode() if isinstance(a[k], bytes) else a[k]
    assert int(a["schema_version"]) == 1, "schema_version"
    for k in ["dml_version", "status", "created", "finished", "name", "group", "project", "dataset", "arch", "loss",
              "batch_mining", "source", "config"]:
        assert isinstance(s(k), str), k
    assert s("status") in ("running", "finished", "failed", "interrupted"), s("status")
    cfg = json.loads(s("config"))
    assert cfg["seed"] == int(a["seed"]), "config seed"
    for split in f["metrics"]:
        g = f["metrics"][split]
        n = g["epoch"].shape[0]
        for key in g:
            assert g[key].dtype == "float64" and g[key].shape == (n,), (split, key)
    t = f["train"]
    n = t["epoch"].shape[0]
    for k in ["loss", "lr", "seconds", "images_per_second"]:
        assert t[k].shape == (n,), k
        assert all(math.isfinite(v) for v in t[k][:]), k
    e = f["embeddings/latest/test/embeddings"]
    assert e.dtype == "float32" and e.ndim == 2
    assert f["embeddings/latest/test/labels"].shape == (e.shape[0],)
    print(f"{path}: conforms (status {s('status')}, {n} epochs, test epochs {list(f['metrics/test/epoch'][:])}, "
          f"R@1 {list(f['metrics/test/e_recall@1'][:])[-1]:.4f}, embeddings {e.shape})")
