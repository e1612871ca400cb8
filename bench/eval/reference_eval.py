#!/usr/bin/python3
"""reference_eval — the reference's own evaluation path (Revisit `evaluation/__init__.py` + `metrics/*.py`, spec
A10), re-typed in the same form for the benchmark: faiss (python3-faiss 1.7.3) for k-means and every kNN search,
sklearn for NMI and TruncatedSVD, scipy cdist for the distance statistics, the reference's Python loops for f1 and
the mAP family. Each metric object does its own work as in the reference (mAP_1000, mAP_lim and mAP_c each run their
own faiss search; each rho_spectrum key its own TruncatedSVD; dists@intra_over_inter recomputes intra and inter).

usage: reference_eval.py DATA.h5 OUT.json --kmeans-k K --threads T [--metrics k1 k2 ...]
Writes {"metrics": {...}, "seconds": {stage: s}, "total_seconds": s}."""
import argparse, json, time

import faiss
import h5py
import numpy as np
from scipy.spatial import distance
from scipy.special import comb
from scipy.stats import entropy
from sklearn import metrics as skm
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

DEFAULT = ("e_recall@1 e_recall@2 e_recall@4 nmi f1 mAP_1000 mAP_lim mAP_c dists@intra dists@inter "
           "dists@intra_over_inter rho_spectrum@0 rho_spectrum@-1 rho_spectrum@1 rho_spectrum@2 rho_spectrum@10").split()


def recall(k_closest_classes, target_labels, k):
    return np.sum([1 for t, r in zip(target_labels, k_closest_classes) if t in r[:k]]) / len(target_labels)


def f1(target_labels, computed_cluster_labels, features, centroids):
    d = np.zeros(len(features))
    for i in range(len(features)):
        d[i] = np.linalg.norm(features[i, :] - centroids[computed_cluster_labels[i], :])
    labels_pred = np.zeros(len(features))
    for i in np.unique(computed_cluster_labels):
        index = np.where(computed_cluster_labels == i)[0]
        ind = np.argmin(d[index])
        cid = index[ind]
        labels_pred[index] = cid
    N = len(target_labels)
    avail_labels = np.unique(target_labels)
    n_labels = len(avail_labels)
    count_cluster = np.zeros(n_labels)
    for i in range(n_labels):
        count_cluster[i] = len(np.where(target_labels == avail_labels[i])[0])
    keys = np.unique(labels_pred)
    num_item = len(keys)
    values = range(num_item)
    item_map = dict()
    for i in range(len(keys)):
        item_map.update([(keys[i], values[i])])
    count_item = np.zeros(num_item)
    for i in range(N):
        index = item_map[labels_pred[i]]
        count_item[index] = count_item[index] + 1
    tp_fp = 0
    for k in range(n_labels):
        if count_cluster[k] > 1:
            tp_fp = tp_fp + comb(count_cluster[k], 2)
    tp = 0
    for k in range(n_labels):
        member = np.where(target_labels == avail_labels[k])[0]
        member_ids = labels_pred[member]
        count = np.zeros(num_item)
        for j in range(len(member)):
            index = item_map[member_ids[j]]
            count[index] = count[index] + 1
        for l in range(num_item):
            if count[l] > 1:
                tp = tp + comb(count[l], 2)
    fp = tp_fp - tp
    count = 0
    for j in range(num_item):
        if count_item[j] > 1:
            count = count + comb(count_item[j], 2)
    fn = count - tp
    P = tp / (tp + fp)
    R = tp / (tp + fn)
    return 2 * P * R / (P + R)


def map_generic(target_labels, features, which):
    labels, freqs = np.unique(target_labels, return_counts=True)
    if which == "mAP_1000":
        R = 1000
    elif which == "mAP_lim":
        R = min(1023, len(features))
    else:
        R = int(np.max(freqs))
    index = faiss.IndexFlatL2(features.shape[-1])
    index.add(features)
    nearest = index.search(features, int(R + 1))[1][:, 1:]
    nn_labels = target_labels.reshape(-1)[nearest]
    out = []
    for label, freq in zip(labels, freqs):
        rows = np.where(target_labels == label)[0]
        for row in rows:
            if which == "mAP_c":
                n_rec = np.arange(1, freq + 1)
                occ = nn_labels[row, :freq] == label
            else:
                n_rec = np.arange(1, R + 1)
                occ = nn_labels[row, :] == label
            cum = np.cumsum(occ)
            out.append(np.sum(cum * occ / n_rec) / freq)
    return np.mean(out)


def dists(features, target_labels, mode):
    locs = [np.where(target_labels == lab)[0] for lab in np.unique(target_labels)]
    intra = inter = None
    if "intra" in mode:
        v = []
        for loc in locs:
            c = distance.cdist(features[loc], features[loc], "cosine")
            v.append(np.sum(c) / (len(c) ** 2 - len(c)))
        v = np.array(v)
        maxval = np.max(v[1 - np.isnan(v)])
        v[np.isnan(v)] = maxval
        v[np.isinf(v)] = maxval
        intra = np.mean(v)
    if "inter" in mode:
        coms = [normalize(np.mean(features[loc], axis=0).reshape(1, -1)).reshape(-1) for loc in locs]
        m = distance.cdist(np.array(coms), np.array(coms), "cosine")
        inter = np.sum(m) / (len(m) ** 2 - len(m))
    if mode == "intra":
        return intra
    if mode == "inter":
        return inter
    return intra / np.clip(inter, 1e-8, None)


def rho(features, mode):
    svd = TruncatedSVD(n_components=features.shape[1] - 1, n_iter=7, random_state=42)
    svd.fit(features)
    s = svd.singular_values_
    if mode != 0:
        s = s[np.abs(mode) - 1:]
    s_norm = s / np.sum(s)
    uniform = np.ones(len(s)) / len(s)
    if mode < 0:
        return entropy(s_norm, uniform)
    if mode > 0:
        return entropy(uniform, s_norm)
    return s_norm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--kmeans-k", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--metrics", nargs="+", default=DEFAULT)
    a = ap.parse_args()
    with h5py.File(a.data, "r") as f:
        features = np.ascontiguousarray(f["embeddings"][...], dtype=np.float32)
        target_labels = f["labels"][...].astype(np.int64)
    faiss.omp_set_num_threads(a.threads)
    names = a.metrics
    secs, res = {}, {}
    t_all = time.perf_counter()
    # shared pre-computations, as evaluation/__init__.py
    need_km = any(n in ("nmi", "f1") for n in names)
    t = time.perf_counter()
    if need_km:
        d = features.shape[-1]
        cluster_idx = faiss.IndexFlatL2(d)
        kmeans = faiss.Clustering(d, a.kmeans_k)
        kmeans.niter = 20
        kmeans.min_points_per_centroid = 1
        kmeans.max_points_per_centroid = 1000000000
        kmeans.train(features, cluster_idx)
        centroids = faiss.vector_float_to_array(kmeans.centroids).reshape(a.kmeans_k, d)
        idx = faiss.IndexFlatL2(d)
        idx.add(centroids)
        _, computed_cluster_labels = idx.search(features, 1)
        secs["kmeans"] = time.perf_counter() - t
    t = time.perf_counter()
    recall_ks = [int(n.split("@")[-1]) for n in names if "recall" in n]
    if recall_ks:
        idx = faiss.IndexFlatL2(features.shape[-1])
        idx.add(features)
        _, k_closest_points = idx.search(features, int(max(recall_ks) + 1))
        k_closest_classes = target_labels.reshape(-1)[k_closest_points[:, 1:]]
        secs["knn_recall"] = time.perf_counter() - t
    for n in names:
        t = time.perf_counter()
        if n.startswith("e_recall@"):
            v = recall(k_closest_classes, target_labels, int(n.split("@")[-1]))
        elif n == "nmi":
            v = skm.normalized_mutual_info_score(computed_cluster_labels.reshape(-1), target_labels.reshape(-1))
        elif n == "f1":
            v = f1(target_labels, computed_cluster_labels.reshape(-1), features, centroids)
        elif n in ("mAP_1000", "mAP_lim", "mAP_c"):
            v = map_generic(target_labels, features, n)
        elif n.startswith("dists@"):
            v = dists(features, target_labels, n.split("@")[1])
        elif n.startswith("rho_spectrum@"):
            v = rho(features, int(n.split("@")[1]))
        else:
            raise SystemExit("reference_eval: unsupported metric " + n)
        secs[n] = time.perf_counter() - t
        res[n] = v.tolist() if isinstance(v, np.ndarray) else float(v)
    total = time.perf_counter() - t_all
    with open(a.out, "w") as f:
        json.dump({"metrics": res, "seconds": secs, "total_seconds": total,
                   "cluster_labels": None}, f, indent=1)
    np.save(a.out + ".clusters.npy", computed_cluster_labels.reshape(-1).astype(np.int64)) if need_km else None


if __name__ == "__main__":
    main()
