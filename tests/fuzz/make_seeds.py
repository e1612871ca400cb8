#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/<fuzzer>/ (small valid inputs the fuzzers mutate) and copies the
probe's crashing inputs (tests/fixtures/hostile) into tests/fuzz/crashes/<fuzzer>/ as regression files.
Run from the repository root: /usr/bin/python3 tests/fuzz/make_seeds.py"""
import json
import os
import shutil
import struct

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.abspath(__file__))
HOSTILE = os.path.join(ROOT, "..", "fixtures", "hostile")


def out(fuzzer, name, kind="corpus"):
    d = os.path.join(ROOT, kind, fuzzer)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


rng = np.random.default_rng(0)


def record(path, compact=True):
    with h5py.File(path, "w", libver=("earliest", "v108")) as f:
        f.attrs["schema_version"] = np.int32(1)
        f.attrs["seed"] = np.int64(3)
        for k, v in {"status": "finished", "name": "g_s3", "group": "g", "dataset": "synthetic", "project": "p",
                     "arch": "mlp", "loss": "margin", "batch_mining": "distance", "source": "local",
                     "config": '{"lr": 0.001, "n_epochs": 2}', "dml_version": "0.1.0",
                     "created": "2026-01-01T00:00:00Z"}.items():
            f.attrs[k] = v
        for split in ("test", "val"):
            m = f.create_group(f"metrics/{split}")
            m.create_dataset("epoch", data=np.arange(3.0), chunks=(64,), maxshape=(None,))
            d = m.create_dataset("e_recall@1", data=np.array([0.1, 0.2, np.nan]), chunks=(64,), maxshape=(None,))
            d.attrs["definition"] = "e_recall@k v1"
        t = f.create_group("train")
        for c in ("epoch", "loss", "lr", "seconds", "images_per_second"):
            t.create_dataset(c, data=np.arange(3.0) + 1, chunks=(64,), maxshape=(None,))
        for which in ("latest", "best"):
            g = f.create_group(f"embeddings/{which}/test")
            g.create_dataset("embeddings", data=rng.standard_normal((6, 4)).astype("f4"))
            g.create_dataset("labels", data=np.array([0, 0, 1, 1, 2, 2], dtype="i4"))
            if compact:
                g.create_dataset("paths", data=np.array([f"img{i}.jpg" for i in range(6)], dtype=h5py.string_dtype()))


record(out("runrecord", "record_small.h5"))
record(out("runrecord", "record_nopaths.h5"), compact=False)
shutil.copy(os.path.join(HOSTILE, "record_forged.h5"), out("runrecord", "record_forged.h5", "crashes"))

with h5py.File(out("plain", "plain_root.h5"), "w") as f:
    f.create_dataset("embeddings", data=rng.standard_normal((8, 3)).astype("f4"))
    f.create_dataset("labels", data=np.array([0, 0, 1, 1, 2, 2, 3, 3], dtype="i8"))
with h5py.File(out("plain", "plain_group.h5"), "w") as f:
    g = f.create_group("test")
    g.create_dataset("embeddings", data=rng.standard_normal((5, 2)), compression="gzip")
    g.create_dataset("labels", data=np.array([[0], [1], [1], [0], [2]], dtype="i4"))
shutil.copy(out("runrecord", "record_small.h5"), out("plain", "record_small.h5"))
for n in ("plain_wrap.h5", "plain_overflow.h5", "plain_40g.h5", "plain_labels_int64.h5", "plain_f64_range.h5"):
    shutil.copy(os.path.join(HOSTILE, n), out("plain", n, "crashes"))

with h5py.File(out("batch", "batch_small.h5"), "w") as f:
    f.create_dataset("embeddings", data=rng.standard_normal((6, 4)).astype("f4"))
    f.create_dataset("labels", data=np.array([0, 0, 1, 1, 2, 2], dtype="i4"))
    f.create_dataset("tuples", data=np.array([[0, 1, 2], [2, 3, 4], [4, 5, -1]], dtype="i4"))
    f.create_dataset("param/proxies", data=rng.standard_normal((3, 4)).astype("f4"))
for n in ("batch_wrap.h5", "batch_tuples_huge.h5"):
    shutil.copy(os.path.join(HOSTILE, n), out("batch", n, "crashes"))

for n in sorted(os.listdir(HOSTILE)):
    if n.endswith(".safetensors"):
        shutil.copy(os.path.join(HOSTILE, n), out("safetensors", n, "corpus" if n == "st_ok.safetensors" else "crashes"))
hdr = json.dumps({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                  "b": {"dtype": "I64", "shape": [1], "data_offsets": [24, 32]},
                  "__metadata__": {"arch": "resnet18", "epoch": "3"}}).encode()
hdr += b" " * ((8 - len(hdr) % 8) % 8)
with open(out("safetensors", "two_tensors.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + struct.pack("<6f", *range(6)) + struct.pack("<q", 7))

configs = {
    "defaults.json": {"dataset": "fashion_mnist", "lr": 1e-5, "n_epochs": 150, "seed": 0, "evaluation_metrics":
                      ["e_recall@1", "nmi"], "loss": "margin", "batch_mining": "distance", "bs": 112,
                      "fc_lr": -1, "tau": [1000], "gamma": 0.3, "kernels": 6, "no_train_metrics": False},
    "bad_types.json": {"lr": "fast", "n_epochs": [1, 2], "seed": 1e300, "tau": "x"},
    "nan.json": {"lr": "nan", "n_epochs": 2},
}
for n, c in configs.items():
    with open(out("config", n), "w") as f:
        json.dump(c, f)
with open(out("config", "not_object.json"), "w") as f:
    f.write("[1, 2, 3]")

bodies = {
    "data.json": {"data": {"project": {"runs": {"edges": [{"node": {"name": "abc", "displayName": "g_s0",
                  "config": "{\"seed\": {\"value\": 0}}", "summaryMetrics": "{\"e_recall@1\": 0.5}",
                  "updatedAt": "2026-01-01T00:00:00"}}], "pageInfo": {"hasNextPage": False, "endCursor": None}}}}},
    "errors.json": {"errors": [{"message": "project not found"}, "plain string", {"no": "message"}]},
    "neither.json": {"something": 1},
}
for n, b in bodies.items():
    with open(out("graphql", n), "w") as f:
        json.dump(b, f)
with open(out("graphql", "nan.json"), "w") as f:
    f.write('{"data": {"history": ["{\\"loss\\": NaN, \\"x\\": Infinity}"]}}')
with open(out("graphql", "truncated.json"), "w") as f:
    f.write('{"data": {"project": {"runs": {"edg')
