#!/usr/bin/python3
"""bench_eval — dml-eval vs the reference's own evaluation path (reference_eval.py: python3-faiss + sklearn +
scipy, spec A10) on Stanford Online Products test size, in the same run, same machine, same thread count.

usage: bench_eval.py BUILD_DIR [--workdir DIR] [--threads 2] [--n 60502 --classes 11316 --dim 128]
Prints wall time and peak RSS of each side, the ratio, and every metric side by side (values must agree:
recall/mAP exactly, NMI/F1 exactly given faiss's identical clustering, the rest to float32 rounding); appends a CSV
row to WORKDIR/bench_eval.csv. Exit 1 when a value disagrees beyond its tolerance."""
import argparse, json, os, subprocess, sys, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = ("e_recall@1 e_recall@2 e_recall@4 nmi f1 mAP_1000 mAP_lim mAP_c dists@intra dists@inter "
        "dists@intra_over_inter rho_spectrum@0 rho_spectrum@-1 rho_spectrum@1 rho_spectrum@2 rho_spectrum@10").split()
# tolerance per key: exact for the ranking and clustering metrics (a float64 mean of identical terms in a
# different order), float32-input rounding for the statistics, TruncatedSVD's float32 precision for rho
TOL = {"e_recall": 0, "nmi": 1e-12, "f1": 1e-12, "mAP": 1e-12, "dists": 1e-6, "rho": 1e-5}


def child(cmd, env, tag, workdir):
    """Run cmd under /usr/bin/time; return (wall s, peak RSS MiB of that process alone, output, CPU s, load avg)."""
    tf = os.path.join(workdir, tag + ".time")
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-o", tf, "-f", "%e %M %U %S", *cmd], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t
    if p.returncode:
        sys.exit(f"bench_eval: {' '.join(cmd)} failed:\n{p.stdout}")
    f = open(tf).read().split()[-4:]
    return wall, float(f[1]) / 1024.0, p.stdout, float(f[2]) + float(f[3]), os.getloadavg()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--workdir", default="/tmp/dml-bench-eval")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=60502)
    ap.add_argument("--classes", type=int, default=11316)
    ap.add_argument("--dim", type=int, default=128)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    data = os.path.join(a.workdir, f"sop_n{a.n}_c{a.classes}_d{a.dim}.h5")
    if not os.path.exists(data):
        subprocess.run([sys.executable, os.path.join(HERE, "make_data.py"), data, "--n", str(a.n), "--classes",
                        str(a.classes), "--dim", str(a.dim)], check=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads))
    cj, pj = os.path.join(a.workdir, "dml.json"), os.path.join(a.workdir, "ref.json")
    dml_cmd = [os.path.join(a.build, "bin", "dml-eval"), data, "--metrics", *KEYS, "--json", cj, "--kmeans-k",
               str(a.classes), "--threads", str(a.threads)]
    # dml-eval before and after the reference: the machine is shared, so the mean of the two brackets the load
    c1 = child(dml_cmd, env, "dml1", a.workdir)
    pr_ = child([sys.executable, os.path.join(HERE, "reference_eval.py"), data, pj, "--kmeans-k", str(a.classes),
                 "--threads", str(a.threads), "--metrics", *KEYS], env, "ref", a.workdir)
    c2 = child(dml_cmd, env, "dml2", a.workdir)
    c_wall, c_rss, c_out = (c1[0] + c2[0]) / 2, max(c1[1], c2[1]), c2[2]
    p_wall, p_rss = pr_[0], pr_[1]
    c = json.load(open(cj))["metrics"]
    pr = json.load(open(pj))
    p = pr["metrics"]
    bad = 0
    print(f"{'metric':24s} {'dml-eval':>22s} {'reference':>22s} {'|diff|':>9s} {'ref s':>8s}")
    for k in KEYS:
        tol = next(v for pre, v in TOL.items() if k.startswith(pre))
        if isinstance(p[k], list):
            diff = float(np.max(np.abs(np.array(c[k]) - np.array(p[k]))))
            cs, ps = f"[{len(c[k])} values]", f"[{len(p[k])} values]"
        else:
            diff = abs(c[k] - p[k])
            cs, ps = f"{c[k]:.15g}", f"{p[k]:.15g}"
        flag = "" if diff <= tol else "  MISMATCH"
        bad += bool(flag)
        print(f"{k:24s} {cs:>22s} {ps:>22s} {diff:9.2g} {pr['seconds'].get(k, 0):8.2f}{flag}")
    print("reference shared stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in pr["seconds"].items() if k not in KEYS))
    print(f"\nn={a.n} d={a.dim} classes={a.classes} threads={a.threads}")
    for tag, r in (("dml-eval #1", c1), ("reference", pr_), ("dml-eval #2", c2)):
        print(f"{tag:11s}: {r[0]:8.2f} s wall, {r[3]:8.2f} s CPU, peak RSS {r[1]:6.0f} MiB, load avg {r[4]:.2f}")
    print(f"[{c_out.strip().splitlines()[-1]}]  reference in-process total {pr['total_seconds']:.2f} s")
    ratio = c_wall / p_wall
    print(f"CPU-time ratio (dml-eval mean / reference) = {(c1[3] + c2[3]) / 2 / pr_[3]:.3f}")
    print(f"wall-time ratio (dml-eval mean / reference) = {ratio:.3f}  (target <= 0.5)   values {'agree' if not bad else 'DISAGREE'}")
    with open(os.path.join(a.workdir, "bench_eval.csv"), "a") as f:
        f.write(f"eval_n{a.n}_c{a.classes}_d{a.dim}_t{a.threads},{c_wall:.3f},{p_wall:.3f},{ratio:.4f},{c_rss:.0f},"
                f"{p_rss:.0f},{bad}\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
