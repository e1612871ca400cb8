#!/usr/bin/python3
"""compare — the data pipeline side by side with PIL + torchvision (Debian python3-torchvision), in one run, per core:
images/s of the training transform (RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize) and of
the evaluation transform (Resize(256) + CenterCrop(224) + ToTensor + Normalize), each sample read and decoded from
its file (PIL: Image.open(f).convert('RGB'), one torch thread); ours on one thread (dml-bench-data), cold and with a
warm --cache_dir. Rates are images per CPU-second of the measuring process on both sides (per core; a process
waiting for its turn on a shared core is not charged). Both sides run back to back `--repeat` times; the median of
each is reported, with the four ratios against the targets (2x cold, 5x warm) and the CPU's resampling kernels.

  /usr/bin/python3 bench/data/compare.py BUILD/bin [DIR] [--repeat 3] [--before OLD/bin]
      DIR: a folder of JPEGs; without it, 200 CUB-like 500x375 JPEGs are written to a temporary folder by
           BUILD/bin/make_tree cub TMP 20 10 500 375 0
      --before: also time another build's dml-bench-data in the same rounds (before/after on the same load)
      --kernels avx2|scalar: ours with at most these SIMD kernels (what a CPU without AVX-512 gets)
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from PIL import Image
from torchvision import transforms as T

TARGET = {"none": 2.0, "warm": 5.0}


def pil_rate(files, train, passes):
    torch.set_num_threads(1)
    norm = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(0.5), T.ToTensor(), norm]) if train else \
        T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
    t0 = time.process_time()
    for _ in range(passes):
        for f in files:
            tf(Image.open(f).convert("RGB"))
    return passes * len(files) / (time.process_time() - t0)


def ours(bindir, d, mode, cache, kernels=None):
    """(images/s, kernel set) of bindir's dml-bench-data"""
    cmd = [bindir + "/dml-bench-data", "--images", d, "--mode", mode, "--passes", "2"]
    if kernels:
        cmd += ["--kernels", kernels]
    if cache:
        cmd += ["--cache_dir", cache]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    f = out.stdout.split()
    return float(f[3]), (f[4] if len(f) > 4 else "?")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("images", nargs="?")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", help="another build's bin folder, timed in the same rounds")
    ap.add_argument("--kernels", help="SIMD kernels at most for ours: avx512, avx2 or scalar (default: the best)")
    a = ap.parse_args()
    if a.repeat < 1:
        sys.exit("compare: --repeat must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        images = a.images
        if not images:
            images = os.path.join(tmp, "tree")
            subprocess.run([a.bindir + "/make_tree", "cub", images, "20", "10", "500", "375", "0"], check=True,
                           capture_output=True)
        if not os.path.isdir(images):
            sys.exit("compare: no folder %s" % images)
        files = sorted(os.path.join(r, f) for r, _, fs in os.walk(images) for f in fs
                       if f.lower().endswith((".jpg", ".jpeg", ".png")))
        if not files:
            sys.exit("compare: no .jpg/.png files under %s" % images)
        sides = [("ours", a.bindir)] + ([("before", a.before)] if a.before else [])
        isa = ours(a.bindir, images, "eval", None, a.kernels)[1]
        print("%d images under %s; one core each side (CPU time); median of %d back-to-back rounds; our "
              "resampling kernels: %s" % (len(files), a.images or "make_tree cub (500x375)", a.repeat, isa))
        print("%-6s %10s %8s %12s %8s %12s %8s" % ("", "side", "PIL", "cold", "ratio", "warm cache", "ratio"))
        ratios = {}
        for mode in ("train", "eval"):
            pil, rate = [], {(s, c): [] for s, _ in sides for c in ("none", "warm")}
            for _ in range(a.repeat):
                pil.append(pil_rate(files, mode == "train", 2))
                for s, b in sides:
                    cache = os.path.join(tmp, "cache-%s-%s" % (s, mode))
                    k = a.kernels if s == "ours" else None
                    rate[s, "none"].append(ours(b, images, mode, None, k)[0])
                    rate[s, "warm"].append(ours(b, images, mode, cache, k)[0])
            p = statistics.median(pil)
            for s, _ in sides:
                o, w = statistics.median(rate[s, "none"]), statistics.median(rate[s, "warm"])
                print("%-6s %10s %8.1f %12.1f %7.2fx %12.1f %7.2fx" % (mode, s, p, o, o / p, w, w / p))
                if s == "ours":
                    ratios[mode, "none"], ratios[mode, "warm"] = o / p, w / p
            sys.stdout.flush()
        for (mode, c), r in ratios.items():
            print("%-5s %-4s %6.2fx  target %.0fx  %s" % (mode, "cold" if c == "none" else "warm", r, TARGET[c],
                                                           "met" if r >= TARGET[c] else "NOT met"))


if __name__ == "__main__":
    main()
