#!/usr/bin/python3
"""eval_reference — independent reference values for tests/eval (spec A10), computed with numpy (exact float64 kNN
by full argsort), sklearn (normalized_mutual_info_score, TruncatedSVD) and scipy (cdist 'cosine'), following the
reference code's formulas (Revisit metrics/*.py) and the documented C conventions (windows capped at the N−1
retrievable items; mAP@R / r_precision per Musgrave et al. 2020). If python3-faiss is installed, the faiss k-means
assignment with the reference settings is stored too, so the C test can check that its bridge clusters identically.

Writes tests/fixtures/eval/reference.txt (one `name count v1 v2 ...` per line) and the small HDF5 inputs of the CLI
test (tests/fixtures/eval/cli_*.h5). Run from the repo root: /usr/bin/python3 tests/reference/eval_reference.py"""
import os

import h5py
import numpy as np
from scipy.spatial import distance
from scipy.stats import entropy
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import normalized_mutual_info_score
from sklearn.preprocessing import normalize

VERSION = 1
OUT = "tests/fixtures/eval"
lines = []


def put(name, vals):
    vals = np.atleast_1d(np.asarray(vals, dtype=np.float64))
    lines.append(f"{name} {len(vals)} " + " ".join(repr(float(v)) for v in vals))


def ranking(q, g, metric, drop_self):
    if metric == "l2":
        dist = ((q[:, None, :].astype(np.float64) - g[None, :, :].astype(np.float64)) ** 2).sum(-1)
    else:
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        gn = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        dist = -(qn.astype(np.float64) @ gn.astype(np.float64).T)
    order = np.argsort(dist, axis=1, kind="stable")
    if drop_self:
        order = order[:, 1:]
    return order


def retrieval(order, qlab, glab, norm, rel_n, n_total, prefix, ks):
    """recall@k, mAP family, mAP@R, r_precision on a full ranking (self already dropped)."""
    hits = glab[order] == qlab[:, None]
    nret = order.shape[1]
    for k in ks:
        put(f"{prefix}recall@{k}", np.mean(hits[:, :k].any(axis=1)))
    cum = np.cumsum(hits, axis=1)
    prec = cum / np.arange(1, nret + 1)
    windows = {"mAP_1000": lambda nq: 1000, "mAP_lim": lambda nq: min(1023, n_total), "mAP_c": lambda nq: nq,
               "mAP": lambda nq: n_total}
    for name, w in windows.items():
        ap = [np.sum((prec[i] * hits[i])[:min(w(norm[i]), nret)]) / norm[i] for i in range(len(order)) if norm[i] > 0]
        put(prefix + name, np.mean(ap))
    ok = [i for i in range(len(order)) if rel_n[i] > 0]
    put(prefix + "mAP@R", np.mean([np.sum((prec[i] * hits[i])[:rel_n[i]]) / rel_n[i] for i in ok]))
    put(prefix + "r_precision", np.mean([hits[i, :rel_n[i]].sum() / rel_n[i] for i in ok]))


def dists(F, labels):
    locs = [np.where(labels == lab)[0] for lab in np.unique(labels)]
    v = []
    for loc in locs:
        c = distance.cdist(F[loc], F[loc], "cosine")
        with np.errstate(invalid="ignore", divide="ignore"):
            v.append(np.sum(c) / (len(c) ** 2 - len(c)))
    v = np.array(v)
    maxval = np.max(v[1 - np.isnan(v)])   # the reference's quirk, kept literally
    v[np.isnan(v)] = maxval
    intra = np.mean(v)
    coms = np.array([normalize(np.mean(F[loc], axis=0).reshape(1, -1)).reshape(-1) for loc in locs])
    m = distance.cdist(coms, coms, "cosine")
    inter = np.sum(m) / (len(m) ** 2 - len(m))
    return intra, inter, intra / max(inter, 1e-8)


def rho(F):
    svd = TruncatedSVD(n_components=F.shape[1] - 1, n_iter=7, random_state=42)
    svd.fit(F.astype(np.float64))    # float64 so the reference values carry no float32 SVD noise
    s = svd.singular_values_
    out = {0: s / s.sum()}
    for m in (-1, 1, 2, 3):
        t = s[abs(m) - 1:]
        sn = t / t.sum()
        u = np.ones(len(t)) / len(t)
        out[m] = entropy(sn, u) if m < 0 else entropy(u, sn)
    return s, out


def pairwise_f1(labels, clusters):
    def c2(x):
        return x * (x - 1) / 2.0
    _, a = np.unique(labels, return_counts=True)
    _, b = np.unique(clusters, return_counts=True)
    _, t = np.unique(np.stack([labels, clusters]), axis=1, return_counts=True)
    A, B, T = c2(a).sum(), c2(b).sum(), c2(t).sum()
    P, R = T / A, T / B
    return 2 * P * R / (P + R)


def case(prefix, F, labels, kmeans_k):
    n = len(F)
    _, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    size = counts[inv]
    put(prefix + "embeddings", F.reshape(-1))
    put(prefix + "labels", labels)
    for metric, p in (("l2", "e_"), ("cos", "c_")):
        order = ranking(F, F, metric, True)
        retrieval(order, labels, labels, size, size - 1, n, prefix + p, (1, 2, 4, 8, 16))
    intra, inter, ratio = dists(F, labels)
    put(prefix + "dists@intra", intra)
    put(prefix + "dists@inter", inter)
    put(prefix + "dists@intra_over_inter", ratio)
    s, r = rho(F)
    put(prefix + "singular_values", s)
    for m, v in r.items():
        put(prefix + f"rho_spectrum@{m}", v)
    # NMI / F1 given a fixed assignment: a seeded numpy Lloyd k-means (any partition serves; the C test feeds it in)
    rng = np.random.default_rng(5)
    cent = F[rng.choice(n, kmeans_k, replace=False)].astype(np.float64)
    for _ in range(10):
        assign = np.argmin(((F[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)
        for c in range(kmeans_k):
            if np.any(assign == c):
                cent[c] = F[assign == c].mean(0)
    put(prefix + "fixed_clusters", assign)
    put(prefix + "fixed_nmi", normalized_mutual_info_score(assign, labels))
    put(prefix + "fixed_f1", pairwise_f1(labels, assign))
    try:
        import faiss
    except ImportError:
        return
    km = faiss.Clustering(F.shape[1], kmeans_k)
    km.niter = 20
    km.min_points_per_centroid = 1
    km.max_points_per_centroid = 1000000000
    idx = faiss.IndexFlatL2(F.shape[1])
    km.train(F, idx)
    c = faiss.vector_float_to_array(km.centroids).reshape(kmeans_k, -1)
    ix = faiss.IndexFlatL2(F.shape[1])
    ix.add(c)
    fa = ix.search(F, 1)[1].reshape(-1)
    put(prefix + "faiss_kmeans_k", kmeans_k)
    put(prefix + "faiss_nmi", normalized_mutual_info_score(fa, labels))
    put(prefix + "faiss_f1", pairwise_f1(labels, fa))
    cn = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    Fc = F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    ic = faiss.IndexFlatIP(F.shape[1])
    ic.add(cn.astype(np.float32))
    fc = ic.search(Fc.astype(np.float32), 1)[1].reshape(-1)
    put(prefix + "faiss_c_nmi", normalized_mutual_info_score(fc, labels))
    put(prefix + "faiss_c_f1", pairwise_f1(labels, fc))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(2026)
    # case A: 300 rows, d 8, 40 classes of 2..14 rows, clustered with overlap; labels are arbitrary ints
    sizes = np.full(40, 2)
    while sizes.sum() < 300:
        i = rng.integers(0, 40)
        if sizes[i] < 14:
            sizes[i] += 1
    ids = rng.permutation(1000)[:40] * 3 - 700
    labels = np.repeat(ids, sizes)[rng.permutation(300)].astype(np.int32)
    centres = rng.standard_normal((40, 8))
    lab_index = {l: i for i, l in enumerate(ids)}
    F = (centres[[lab_index[l] for l in labels]] * 1.0 + 0.8 * rng.standard_normal((300, 8)) + 0.3).astype(np.float32)
    case("A.", F, labels, 40)
    # case B: the same rows with two singleton classes at sorted class index 5 and 7 (dists@intra NaN-fill quirk,
    # mAP@R / r_precision leave singletons out)
    uniq = np.unique(labels)
    lb = labels.copy()
    for ci, newlab in ((5, uniq[5]), (7, uniq[7])):
        rows = np.where(labels == uniq[ci])[0]
        lb[rows[1:]] = uniq[0]   # keep one row in the class, move the others to the first class
    assert (lb == uniq[5]).sum() == 1 and (lb == uniq[7]).sum() == 1
    case("B.", F, lb, 40)
    # query/gallery: queries = rows 0..99 of case A, gallery = rows 100..299
    q, g, ql, gl = F[:100], F[100:], labels[:100], labels[100:]
    gcount = np.array([(gl == l).sum() for l in ql])
    for metric, p in (("l2", "e_"), ("cos", "c_")):
        order = ranking(q, g, metric, False)
        retrieval(order, ql, gl, gcount, gcount, len(g), "QG." + p, (1, 2, 4, 8, 16))
    with open(os.path.join(OUT, "reference.txt"), "w") as f:
        f.write(f"# eval_reference.py version {VERSION}; regenerate: /usr/bin/python3 tests/reference/eval_reference.py\n")
        f.write("\n".join(lines) + "\n")
    # CLI inputs: case A as a plain file; broken variants for the error tests
    with h5py.File(os.path.join(OUT, "cli_small.h5"), "w") as f:
        f["embeddings"] = F
        f["labels"] = labels
    with h5py.File(os.path.join(OUT, "cli_bad_shape.h5"), "w") as f:
        f["embeddings"] = F
        f["labels"] = labels[:-1]
    with h5py.File(os.path.join(OUT, "cli_nan.h5"), "w") as f:
        G = F.copy()
        G[7, 3] = np.nan
        f["embeddings"] = G
        f["labels"] = labels
    with h5py.File(os.path.join(OUT, "cli_one_class.h5"), "w") as f:
        f["embeddings"] = F[:20]
        f["labels"] = np.zeros(20, dtype=np.int32)
    with h5py.File(os.path.join(OUT, "cli_no_labels.h5"), "w") as f:
        f["embeddings"] = F
    print(f"wrote {len(lines)} reference entries to {OUT}/reference.txt")


if __name__ == "__main__":
    main()
