#!/usr/bin/python3
"""compare — dml-embed against torchvision, whole process, in one run (issue 12, point 7).

Both sides embed the same folder of JPEGs with ResNet-50 + Linear(2048, 128) + L2 normalisation at 224² (the
reference's evaluation transform: Resize(256), CenterCrop(224), ImageNet mean/std), batch 32, random weights
(the speed does not depend on the values), from process start to the written output, on the same threads:
  ours:    dml-embed --precision fp32 | bf16   (its decode workers overlap the network)
  theirs:  a python process: ImageFolder + DataLoader (num_workers 0 and 2, the faster one counts) +
           torchvision resnet50 in eval mode under torch.no_grad(), fp32, and bf16 torch.autocast + channels_last
Reported: images/s of the whole process, the ratios the issue asks for (ours fp32 / torchvision fp32, ours bf16 /
torchvision fp32, ours bf16 / torchvision bf16), peak RSS, and the CPU ISA oneDNN chose.

  /usr/bin/python3 bench/embed/compare.py BUILD/bin [--images N] [--threads 2] [--repeat 2]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

TORCH_SIDE = r"""
import sys, time, torch, torchvision
from torchvision import transforms as T
root, prec, workers, threads, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)
tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
ds = torchvision.datasets.ImageFolder(root, transform=tf)
dl = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=False, num_workers=workers)
net = torchvision.models.resnet50()
net.fc = torch.nn.Linear(2048, 128)
net.eval()
if prec == "bf16":
    net = net.to(memory_format=torch.channels_last)
embs = []
with torch.no_grad():
    for x, _ in dl:
        if prec == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                z = net(x.to(memory_format=torch.channels_last))
        else:
            z = net(x)
        embs.append(torch.nn.functional.normalize(z.float(), dim=-1))
torch.save(torch.cat(embs), out)
"""


def timed(cmd, env):
    """wall seconds, peak RSS (MiB) and output of one child process (its own rusage, through wait4)"""
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        out = log.read()
    if p.returncode:
        sys.exit("compare: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, out[-2000:]))
    return dt, ru.ru_maxrss / 1024.0, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("--images", type=int, default=512, help="images to embed (CUB-like 500×375 JPEGs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="runs per configuration, best kept")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    la = os.getloadavg()
    print("dml-embed vs torchvision, whole process, %d threads, %d images, load %.2f %.2f %.2f, %s UTC" %
          ((a.threads, a.images) + la + (time.strftime("%Y-%m-%d %H:%M", time.gmtime()),)))
    with tempfile.TemporaryDirectory() as tmp:
        classes = 16
        per = (a.images + classes - 1) // classes
        subprocess.run([a.bindir + "/make_tree", "cub", tmp, str(classes), str(per), "500", "375", "1"], check=True)
        root = os.path.join(tmp, "cub200", "images")
        n = sum(len(fs) for _, _, fs in os.walk(root))
        script = os.path.join(tmp, "tv.py")
        with open(script, "w") as f:
            f.write(TORCH_SIDE)
        rows, isa = {}, {}
        for prec in ("fp32", "bf16"):
            best = None
            for _ in range(a.repeat):
                dt, rss, log = timed([a.bindir + "/dml-embed", "--images", root, "--out", os.path.join(tmp, "o.h5"),
                                      "--precision", prec, "--batch", "32"], dict(env, ONEDNN_VERBOSE="0"))
                if best is None or dt < best[0]:
                    best = (dt, rss)
                isa[prec] = [l.split()[2] for l in log.splitlines() if l.startswith("dml-embed: cpu_isa")][0]
            rows["dml " + prec] = best
            best = None
            for workers in (0, 2):
                for _ in range(a.repeat):
                    dt, rss, _ = timed(["/usr/bin/python3", script, root, prec, str(workers), str(a.threads),
                                        os.path.join(tmp, "tv.pt")], env)
                    if best is None or dt < best[0]:
                        best = (dt, rss, workers)
            rows["torchvision " + prec] = best
        print("%-18s %10s %10s %10s" % ("", "seconds", "img/s", "peak MiB"))
        for k, v in rows.items():
            extra = "  (DataLoader num_workers %d)" % v[2] if len(v) > 2 else ""
            print("%-18s %10.2f %10.2f %10.0f%s" % (k, v[0], n / v[0], v[1], extra))
        r = lambda x, y: rows[y][0] / rows[x][0]
        print("ratios: dml fp32 / torchvision fp32 = %.2fx (target 1.5x); dml bf16 / torchvision fp32 = %.2fx "
              "(target 3x); dml bf16 / torchvision bf16+CL = %.2fx" %
              (r("dml fp32", "torchvision fp32"), r("dml bf16", "torchvision fp32"), r("dml bf16", "torchvision bf16")))
        print("oneDNN convolution ISA: fp32 %s, bf16 %s" % (isa["fp32"], isa["bf16"]))
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = [l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")]
    flags = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in cpu]
    print("cpu: %s; %s" % (model[0] if model else "?", ", ".join(flags)))


if __name__ == "__main__":
    main()
