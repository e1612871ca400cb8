#!/usr/bin/python3
"""compare — the data pipeline side by side with PIL + torchvision (Debian python3-torchvision), in one run, per core:
images/s of the training transform (RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize) and of
the evaluation transform (Resize(256) + CenterCrop(224) + ToTensor + Normalize), each sample read and decoded from
its file (PIL: Image.open(f).convert('RGB'), one torch thread); ours on one thread (dml-bench-data), cold and with a
warm --cache_dir. Both sides run back to back `--repeat` times; the median ratio is reported.

  /usr/bin/python3 bench/data/compare.py BUILD/bin DIR [--repeat 3]
      DIR: a folder of JPEGs, e.g. written by BUILD/bin/make_tree cub DIR 20 25 500 375 0 (500×375, CUB-like)
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


def pil_rate(files, train, passes):
    torch.set_num_threads(1)
    norm = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(0.5), T.ToTensor(), norm]) if train else \
        T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
    t0 = time.perf_counter()
    for _ in range(passes):
        for f in files:
            tf(Image.open(f).convert("RGB"))
    return passes * len(files) / (time.perf_counter() - t0)


def ours(bindir, d, mode, cache):
    cmd = [bindir + "/dml-bench-data", "--images", d, "--mode", mode, "--passes", "2"]
    if cache:
        cmd += ["--cache_dir", cache]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return float(out.stdout.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("images")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(a.images) for f in fs if f.lower().endswith((".jpg", ".png")))
    print("%d images under %s; one core each side; median of %d back-to-back rounds" % (len(files), a.images, a.repeat))
    print("%-6s %12s %12s %8s %14s %8s" % ("", "PIL img/s", "ours img/s", "ratio", "ours warm img/s", "ratio"))
    for mode in ("train", "eval"):
        rp, ro, rw = [], [], []
        with tempfile.TemporaryDirectory() as cache:
            for _ in range(a.repeat):
                rp.append(pil_rate(files, mode == "train", 2))
                ro.append(ours(a.bindir, a.images, mode, None))
                rw.append(ours(a.bindir, a.images, mode, cache))
        p, o, w = statistics.median(rp), statistics.median(ro), statistics.median(rw)
        print("%-6s %12.1f %12.1f %7.2fx %14.1f %7.2fx" % (mode, p, o, o / p, w, w / p))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
