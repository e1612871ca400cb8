#!/usr/bin/python3
"""Reads a dml run record with h5py exactly as docs/run-format.md describes it.

Usage:
  /usr/bin/python3 tests/reference/check_runrecord_h5py.py RUN.h5            conformance: layout, dtypes, shapes
  /usr/bin/python3 tests/reference/check_runrecord_h5py.py --sample RUN.h5   also every value of the sample record
                                                                             written by tests/runrecord/test_h5py.c
Exit status 0 = conforms. Needs only h5py and numpy (Debian: python3-h5py), not dml."""
import json
import math
import sys
from urllib.parse import unquote

import h5py
import numpy as np

STATUSES = ("running", "finished", "failed", "interrupted")
STRING_ATTRS = ["dml_version", "status", "created", "finished", "name", "group", "project", "dataset", "arch",
                "loss", "batch_mining", "source", "config"]


def text(v):
    """A string attribute: str in h5py >= 3, bytes in older versions."""
    return v.decode() if isinstance(v, bytes) else v


def is_iso_utc(s):
    return len(s) == 20 and s[4] == "-" and s[7] == "-" and s[10] == "T" and s[13] == ":" and s[16] == ":" and s[19] == "Z"


def conformance(f, path):
    a = f.attrs
    assert a["schema_version"].dtype == np.int32 and int(a["schema_version"]) == 1, "schema_version int32 = 1"
    assert a["seed"].dtype == np.int64, "seed is int64"
    for k in STRING_ATTRS:
        assert isinstance(text(a[k]), str), k
    assert text(a["status"]) in STATUSES, text(a["status"])
    assert is_iso_utc(text(a["created"])), "created"
    fin = text(a["finished"])
    assert (fin == "") == (text(a["status"]) == "running"), "finished is set exactly for a terminal status"
    cfg = json.loads(text(a["config"]))
    if "seed" in cfg:
        assert cfg["seed"] == int(a["seed"]), "config seed"
    series = {}
    for split in f.get("metrics", {}):
        g = f["metrics"][split]
        ep = g["epoch"]
        n = ep.shape[0]
        assert ep.dtype == np.float64 and ep.maxshape == (None,), (split, "epoch extendible float64")
        for name in g:
            d = g[name]
            assert d.dtype == np.float64 and d.shape == (n,) and d.maxshape == (None,), (split, name)
            if name != "epoch":
                series[(unquote(split), unquote(name))] = d[:]
    for split in f.get("metrics_arrays", {}):
        for name, d in f["metrics_arrays"][split].items():
            assert d.dtype == np.float64 and d.ndim == 1, (split, name)
            assert d.attrs["epoch"].dtype == np.int64, (split, name, "epoch attribute")
    t = f["train"]
    n = t["epoch"].shape[0]
    for k in ["epoch", "loss", "lr", "seconds", "images_per_second"]:
        assert t[k].dtype == np.float64 and t[k].shape == (n,), k
    for k in ["loss", "lr", "seconds", "images_per_second"]:
        assert all(math.isfinite(v) for v in t[k][:]), k
    for which in f.get("embeddings", {}):
        assert which in ("latest", "best"), which
        for split, g in f["embeddings"][which].items():
            e = g["embeddings"]
            assert e.dtype == np.float32 and e.ndim == 2, (which, split)
            assert g["labels"].dtype == np.int32 and g["labels"].shape == (e.shape[0],), (which, split, "labels")
            if "paths" in g:
                assert g["paths"].shape == (e.shape[0],) and h5py.check_string_dtype(g["paths"].dtype), (which, split)
    e = f["embeddings/latest/test/embeddings"]
    r1 = f["metrics/test/e_recall@1"][:]
    print(f"{path}: conforms (status {text(a['status'])}, {n} epochs, test epochs {list(f['metrics/test/epoch'][:])}, "
          f"R@1 {r1[-1]:.4f}, embeddings {e.shape}, {len(series)} series)")
    return series


def same(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and np.array_equal(got, want, equal_nan=True)


def sample(f, series):
    """The values written by tests/runrecord/test_h5py.c, compared exactly."""
    a = f.attrs
    want_attrs = {"name": "sample_s7", "group": "Sample ü", "project": "proj", "dataset": "cub200",
                  "arch": "resnet50_frozen_normalize", "loss": "margin", "batch_mining": "distance", "source": "local",
                  "created": "2026-01-02T03:04:05Z", "status": "finished", "wandb_unsent": "1"}
    for k, v in want_attrs.items():
        assert text(a[k]) == v, (k, text(a[k]), v)
    assert int(a["seed"]) == 7
    assert is_iso_utc(text(a["finished"]))
    assert json.loads(text(a["config"])) == {"seed": 7, "lr": 1e-05, "n_epochs": 3}
    nan = float("nan")
    # names on disk are percent-encoded: "a/b%c" -> "a%2Fb%25c", the key "epoch" -> "%65poch"
    g = f["metrics/test"]
    assert sorted(g.keys()) == sorted(["epoch", "e_recall@1", "nmi", "late@1", "a%2Fb%25c", "%65poch"]), sorted(g.keys())
    assert same(g["epoch"][:], [-1, 0, 1, 2])
    assert same(g["e_recall@1"][:], [0.125, 0.25, 0.375, 0.5])
    assert text(g["e_recall@1"].attrs["definition"]) == "e_recall@k/v1"
    assert "definition" not in g["nmi"].attrs
    assert same(g["nmi"][:], [1 / 16, 2 / 16, nan, 4 / 16]), g["nmi"][:]
    assert same(g["late@1"][:], [nan, nan, 0.25, 0.5]), g["late@1"][:]
    assert same(series[("test", "a/b%c")], [3.0] * 4)
    assert same(series[("test", "epoch")], [41, 42, 43, 44])
    assert same(f["metrics/train/epoch"][:], [0, 2]) and same(f["metrics/train/e_recall@1"][:], [0.75, 0.875])
    rho = f["metrics_arrays/test/rho_spectrum@0"]
    assert same(rho[:], [0.5, 0.25, 0.125, 0.125]) and int(rho.attrs["epoch"]) == 2
    assert text(rho.attrs["definition"]) == "rho/v1"
    t = f["train"]
    assert same(t["epoch"][:], [0, 1, 2]) and same(t["loss"][:], [1.0, 0.5, 1.0 / 3.0])
    assert same(t["lr"][:], [1e-5] * 3) and same(t["seconds"][:], [10, 11, 12])
    assert same(t["images_per_second"][:], [100, 200, 300])
    lt = f["embeddings/latest/test"]
    assert same(lt["embeddings"][:], np.arange(15, dtype=np.float32).reshape(5, 3) + 0.5)
    assert same(lt["labels"][:], [0, 1, 0, 1, 0])
    assert list(lt["paths"].asstr()[:]) == ["img/0.jpg", "img/1.jpg", "img/2.jpg", "img/3.jpg", "img/ü4.jpg"]
    bt = f["embeddings/best/test"]
    assert same(bt["embeddings"][:], -np.arange(8, dtype=np.float32).reshape(4, 2))
    assert same(bt["labels"][:], [0, 1, 2, 3]) and "paths" not in bt
    print("sample record: every value as written")


def main():
    args = sys.argv[1:]
    want_sample = "--sample" in args
    args = [x for x in args if x != "--sample"]
    if len(args) != 1:
        sys.exit(__doc__)
    path = args[0]
    with h5py.File(path, "r") as f:
        series = conformance(f, path)
        if want_sample:
            sample(f, series)


if __name__ == "__main__":
    main()
