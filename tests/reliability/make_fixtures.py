#!/usr/bin/python3
"""Writes the crafted hostile files of tests/fixtures/hostile/ (issue 15): HDF5 files whose headers state sizes
they do not hold, with Debian's python3-h5py. Run from the repository root: /usr/bin/python3 tests/reliability/make_fixtures.py
Every file is a few KB; the C readers must refuse each with one line, never crash or allocate what is claimed."""
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "hostile")
os.makedirs(OUT, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


def record_attrs(f):
    f.attrs["schema_version"] = np.int32(1)
    f.attrs["seed"] = np.int64(0)
    for k, v in {"status": "finished", "name": "forged_s0", "group": "forged", "dataset": "synthetic",
                 "project": "p", "arch": "mlp", "loss": "margin", "batch_mining": "distance", "source": "local",
                 "config": "{}", "dml_version": "0", "created": "2026-01-01T00:00:00Z"}.items():
        f.attrs[k] = v


# 1. plain embeddings (2^20, 2^42) float32 with nothing written: n*d*4+8 wraps to 8 bytes (issue 15 probe)
with h5py.File(path("plain_wrap.h5"), "w") as f:
    f.create_dataset("embeddings", shape=(2**20, 2**42), dtype="f4", chunks=(1, 1024))
    f.create_dataset("labels", shape=(2**20,), dtype="i4", chunks=(1024,))
# 2. (2^31-1, 2^31-1): every dimension under the cap, the byte count overflows 64 bits
with h5py.File(path("plain_overflow.h5"), "w") as f:
    f.create_dataset("embeddings", shape=(2**31 - 1, 2**31 - 1), dtype="f4", chunks=(1, 1024))
    f.create_dataset("labels", shape=(2**31 - 1,), dtype="i4", chunks=(1024,))
# 3. claims 40 GB that the file does not store (aborted in xmalloc before)
with h5py.File(path("plain_40g.h5"), "w") as f:
    f.create_dataset("embeddings", shape=(10**7, 1000), dtype="f4", chunks=(1, 1000))
    f.create_dataset("labels", shape=(10**7,), dtype="i4", chunks=(1024,))
# 4. int64 labels outside int32 (5 classes were clamped to 2)
with h5py.File(path("plain_labels_int64.h5"), "w") as f:
    f.create_dataset("embeddings", data=np.eye(5, 4, dtype="f4"))
    f.create_dataset("labels", data=np.array([0, 1, 2**31, 2**31 + 1, -2**31 - 5], dtype="i8"))
# 5. float64 embeddings above FLT_MAX (were silently clamped to ±FLT_MAX)
with h5py.File(path("plain_f64_range.h5"), "w") as f:
    e = np.ones((4, 2), dtype="f8")
    e[1, 1] = 1e300
    f.create_dataset("embeddings", data=e)
    f.create_dataset("labels", data=np.arange(4, dtype="i4"))
# 6. a run record whose latest test embeddings and a metric series state sizes they do not hold
with h5py.File(path("record_forged.h5"), "w") as f:
    record_attrs(f)
    g = f.create_group("embeddings/latest/test")
    g.create_dataset("embeddings", shape=(2**20, 2**42), dtype="f4", chunks=(1, 1024))
    g.create_dataset("labels", shape=(2**20,), dtype="i4", chunks=(1024,))
    m = f.create_group("metrics/test")
    m.create_dataset("epoch", shape=(2**40,), dtype="f8", chunks=(1024,), maxshape=(None,))
    m.create_dataset("e_recall@1", shape=(2**40,), dtype="f8", chunks=(1024,), maxshape=(None,))
# 7. a criterion batch (embeddings, labels, tuples) with a wrapping embeddings shape
with h5py.File(path("batch_wrap.h5"), "w") as f:
    f.create_dataset("embeddings", shape=(2**20, 2**42), dtype="f4", chunks=(1, 1024))
    f.create_dataset("labels", shape=(2**20,), dtype="i4", chunks=(1024,))
# 8. a criterion batch whose tuples claim 2^40 rows
with h5py.File(path("batch_tuples_huge.h5"), "w") as f:
    f.create_dataset("embeddings", data=np.eye(4, 3, dtype="f4"))
    f.create_dataset("labels", data=np.array([0, 0, 1, 1], dtype="i4"))
    f.create_dataset("tuples", shape=(2**40, 3), dtype="i4", chunks=(1024, 3))
# 9. 100 x 8 finite embeddings near ±3e38 (k-means assigned -1 and dml_metric_nmi crashed), and the same data at
#    a normal scale (×2^-127, exact): every metric is scale invariant, so dml-eval must print the same values
base = np.random.default_rng(15).uniform(-1, 1, (100, 8)).astype("f4")
lab = np.repeat(np.arange(10, dtype="i4"), 10)
for name, e in (("plain_huge_values.h5", base * np.float32(2.0**127)), ("plain_huge_values_scaled.h5", base)):
    with h5py.File(path(name), "w") as f:
        f.create_dataset("embeddings", data=e.astype("f4"))
        f.create_dataset("labels", data=lab)
for n in sorted(os.listdir(OUT)):
    print(n, os.path.getsize(path(n)))


# ---- safetensors: headers that lie (the one reader, common/safetensors.c, must refuse each with one line)
import json
import struct


def st(name, header, data=b"", hl=None):
    js = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path(name), "wb") as f:
        f.write(struct.pack("<Q", len(js) if hl is None else hl))
        f.write(js)
        f.write(data)


w = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
st("st_ok.safetensors", {"w": w, "__metadata__": {"arch": "x"}}, struct.pack("<4f", 1, 2, 3, 4))
st("st_hl_huge.safetensors", {"w": w}, b"\0" * 16, hl=2**63)
st("st_hl_beyond.safetensors", {"w": w}, b"", hl=4096)
st("st_hl_zero.safetensors", b"", b"", hl=0)
st("st_offsets_out.safetensors", {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 2**62]}}, b"\0" * 16)
st("st_offsets_reversed.safetensors", {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 0]}}, b"\0" * 16)
st("st_shape_overflow.safetensors", {"w": {"dtype": "F32", "shape": [2**32, 2**32, 16], "data_offsets": [0, 0]}})
st("st_shape_negative.safetensors", {"w": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 16]}}, b"\0" * 16)
st("st_shape_span.safetensors", {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]}}, b"\0" * 16)
st("st_dtype_unknown.safetensors", {"w": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16)
st("st_duplicate.safetensors", b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4)
st("st_not_object.safetensors", b"[1, 2, 3]")
st("st_bad_json.safetensors", b'{"w": {"dtype": "F32", "shape": [1], "data_off', b"\0" * 4)
st("st_meta_not_string.safetensors", {"__metadata__": {"epoch": 3}})
for n in sorted(os.listdir(OUT)):
    if n.endswith(".safetensors"):
        print(n, os.path.getsize(path(n)))
