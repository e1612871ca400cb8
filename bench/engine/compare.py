#!/usr/bin/python3
"""compare — the engine benchmark: one training step (forward + backward + update) in images/s, ours
(dml-bench-engine, --precision fp32 and bf16) and PyTorch's (Debian python3-torch, torchvision models,
torch.set_num_threads(2); fp32 as the reference runs, and bf16 autocast + channels_last, its best CPU setting) on the
same configurations, in the same run, with the ratios, the peak memory (max RSS of each measuring process) and the
instruction set oneDNN chose for our convolutions per row. Inference rows (--infer: the network step of dml-embed,
ResNet-50 at 224², no image decoding) compare against torchvision in eval mode, fp32 and bf16 autocast.

  /usr/bin/python3 bench/engine/compare.py BUILD/bin/dml-bench-engine [--threads 2] [--repeat 3] [--quick]
      [--rows 4,5] [--profile]

A rate is the batch over the fastest timed step of a process (ours and PyTorch's alike, after one warm-up step),
and each row is measured --repeat times, alternating ours and PyTorch, keeping the best of each: the CPU this runs on
is a shared virtual machine whose speed drifts by up to 2× within minutes (measured: the same bf16 step at 687 and
981 ms a minute apart), so a load spike then costs a step or a repeat, not the comparison. The load average is printed before and after.
Every PyTorch measurement runs in its own process (its peak RSS is its own).
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

# (arch, batch, size, optimizer, mode): mode "train" or "infer"
ROWS = [
    ("resnet18", 64, 64, "sgd", "train"),
    ("resnet50", 64, 64, "sgd", "train"),
    ("resnet18", 16, 224, "sgd", "train"),
    ("resnet50", 16, 224, "sgd", "train"),
    ("resnet50_frozen_normalize", 16, 224, "adam", "train"),  # the reference's setting (frozen BN, Adam, 128-d, L2)
    ("resnet50_frozen_normalize", 32, 224, "adam", "train"),
    ("resnet50_frozen_normalize", 32, 224, "adam", "infer"),  # dml-embed's network step
]


def torch_one(arch, bs, size, optim, mode, setting, steps, warmup, lockstep=False):
    """images/s of PyTorch for one row; setting 'fp32' or 'bf16cl' (autocast bf16 + channels_last)"""
    import torch
    import torch.nn.functional as F
    import torchvision
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    base = arch.split("_")[0]
    frozen, normalize = "_frozen" in arch, "_normalize" in arch
    m = getattr(torchvision.models, base)()
    m.fc = torch.nn.Linear(m.fc.in_features, 128)
    m.train(mode == "train")
    if frozen:
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.eval()
    x = torch.rand(bs, 3, size, size) * 2 - 1
    c = (torch.rand(bs, 128) * 2 - 1) / bs
    cl = setting == "bf16cl"
    if cl:
        m = m.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    opt = (torch.optim.Adam(m.parameters(), lr=1e-5, weight_decay=4e-4) if optim == "adam"
           else torch.optim.SGD(m.parameters(), lr=1e-3))

    def fwd():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cl):
            z = m(x)
        z = z.float()
        return F.normalize(z, dim=-1) if normalize else z

    best = None
    for s in range(warmup + steps):
        if lockstep and not sys.stdin.readline():
            sys.exit("--lockstep: standard input closed before step %d" % (s + 1))
        ts = time.perf_counter()
        if mode == "infer":
            with torch.no_grad():
                fwd()
        else:
            opt.zero_grad()
            fwd().backward(c)
            opt.step()
        dt = time.perf_counter() - ts
        if lockstep:
            print("step %d %.3f" % (s, dt * 1e3), flush=True)
        if s >= warmup:
            best = dt if best is None else min(best, dt)
    print("%.3f %.0f" % (bs / best, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


def ours(prog, env, arch, bs, size, optim, mode, prec, steps, profile=False):
    cmd = [prog, "--arch", arch, "--bs", str(bs), "--size", str(size), "--steps", str(steps), "--warmup", "1",
           "--precision", prec, "--optim", optim]
    if mode == "infer":
        cmd.append("--infer")
    if profile:
        cmd.append("--profile")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    out = p.stdout.split()
    kv = dict(zip(out[5::2], out[6::2]))
    return bs * 1e3 / float(kv["best_step_ms"]), float(kv["peak_rss_MiB"]), kv["isa"], p.stderr


def theirs(env, arch, bs, size, optim, mode, setting, steps):
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-one", arch, str(bs), str(size), optim, mode,
                        setting, str(steps)], env=env, capture_output=True, text=True, check=True)
    rate, rss = p.stdout.split()[-2:]
    return float(rate), float(rss)


def lockstep_row(prog, env, arch, bs, size, optim, mode, rounds):
    """The four processes of a row started together, each waiting on its stdin before every step; after one
    warm-up step each, `rounds` rounds give each process a turn of two steps, one process at a time (the order
    reversed every other round, 50 ms apart), and time the second step of a turn (the first warms the caches the
    other processes' turns evicted, as back-to-back training steps are warm), so that all four sample the same
    minutes of the machine. Returns per process (df, db, pf, pb) the timed step of each round (ms) and its final
    line (ours: rss and isa; PyTorch: img/s and rss)."""
    cmds = []
    for prec in ("fp32", "bf16"):
        c = [prog, "--arch", arch, "--bs", str(bs), "--size", str(size), "--steps", str(2 * rounds), "--warmup", "1",
             "--precision", prec, "--optim", optim, "--lockstep"]
        cmds.append(c + (["--infer"] if mode == "infer" else []))
    for setting in ("fp32", "bf16cl"):
        cmds.append([sys.executable, os.path.abspath(__file__), "--torch-one", arch, str(bs), str(size), optim, mode,
                     setting, str(2 * rounds), "lockstep"])
    ps = [subprocess.Popen(c, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for c in cmds]

    def step(p):
        p.stdin.write("\n")
        p.stdin.flush()
        line = p.stdout.readline().split()
        if len(line) != 3 or line[0] != "step":
            raise RuntimeError("lockstep: a process stopped (%s)" % " ".join(p.args[:3]))
        return float(line[2])

    try:
        for p in ps:  # warm-up (primitive creation, first-touch of the arena), one process at a time
            step(p)
        times = [[] for _ in ps]
        for r in range(rounds):
            order = range(len(ps)) if r % 2 == 0 else reversed(range(len(ps)))
            for i in order:
                time.sleep(0.05)
                step(ps[i])
                times[i].append(step(ps[i]))
        finals = []
        for p in ps:
            p.stdin.close()
            out = p.stdout.read()  # not communicate(): it would skip what readline() has buffered
            p.wait()
            if p.returncode:
                raise RuntimeError("lockstep: %s exited %d" % (" ".join(p.args[:3]), p.returncode))
            finals.append(out.strip().splitlines()[-1].split())
    finally:
        for p in ps:
            if p.poll() is None:
                p.kill()
    return times, finals


def load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--torch-one":
        a = sys.argv[2:]
        torch_one(a[0], int(a[1]), int(a[2]), a[3], a[4], a[5], int(a[6]), 1, len(a) > 7 and a[7] == "lockstep")
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("prog")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 warm-up and 2 timed steps per row")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per row (best kept)")
    ap.add_argument("--rows", default="", help="comma-separated row numbers to run (0-%d), default all" % (len(ROWS) - 1))
    ap.add_argument("--profile", action="store_true", help="per-op time breakdown of our bf16 step for each row")
    ap.add_argument("--lockstep", type=int, default=0, metavar="ROUNDS",
                    help="the four processes of a row side by side, stepped in turn for ROUNDS rounds; ratios are "
                         "medians of the rounds' paired step times (min-max printed below the row)")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    print("%s, %d threads, %s" % (load(), a.threads, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())))
    print("%-27s %-5s %3s %4s | %8s %8s | %8s %8s | %6s %6s %6s | %6s %6s %6s %6s | %s" % (
        "arch", "mode", "bs", "size", "dml fp32", "dml bf16", "pt fp32", "pt bf16", "f/f", "b/bcl", "b/f",
        "MiB df", "db", "pf", "pb", "isa (fp32 / bf16)"))
    rows = [ROWS[int(i)] for i in a.rows.split(",")] if a.rows else ROWS
    profiles = []
    for arch, bs, size, optim, mode in rows:
        steps = 2 if a.quick else (3 if size > 100 else 5)
        if a.lockstep:  # rates from each process's fastest round, ratios the medians of the paired rounds
            times, finals = lockstep_row(a.prog, env, arch, bs, size, optim, mode, a.lockstep)
            kv = [dict(zip(f[5::2], f[6::2])) for f in finals[:2]]
            rate = [bs * 1e3 / min(t) for t in times]
            rss = [float(k["peak_rss_MiB"]) for k in kv] + [float(f[-1]) for f in finals[2:]]
            isa = {"fp32": kv[0]["isa"], "bf16": kv[1]["isa"]}
            pair = {"f/f": (2, 0), "b/bcl": (3, 1), "b/f": (2, 1)}  # ratio = time of PyTorch / time of ours
            per = {k: [times[j][r] / times[i][r] for r in range(a.lockstep)] for k, (j, i) in pair.items()}
            ratio = [statistics.median(per[k]) for k in pair]
        else:  # each side's fastest step over `repeat` alternating processes
            best = {k: (0.0, 0.0) for k in ("df", "db", "pf", "pb")}
            isa = {}
            for _ in range(max(1, a.repeat)):
                for prec, key in (("fp32", "df"), ("bf16", "db")):
                    r, rss, isa[prec], _ = ours(a.prog, env, arch, bs, size, optim, mode, prec, steps)
                    best[key] = max(best[key], (r, rss))
                for setting, key in (("fp32", "pf"), ("bf16cl", "pb")):
                    best[key] = max(best[key], theirs(env, arch, bs, size, optim, mode, setting, steps))
            rate, rss = ([best[k][n] for k in ("df", "db", "pf", "pb")] for n in (0, 1))
            ratio = [rate[0] / rate[2], rate[1] / rate[3], rate[1] / rate[2]]
        print("%-27s %-5s %3d %4d | %8.2f %8.2f | %8.2f %8.2f | %5.2fx %5.2fx %5.2fx | %6.0f %6.0f %6.0f %6.0f | %s / %s" % (
            arch, mode, bs, size, *rate, *ratio, *rss, isa["fp32"], isa["bf16"]), flush=True)
        if a.lockstep:
            print("%-27s rounds %d: %s" % ("", a.lockstep, ", ".join(
                "%s %.2f-%.2f" % (k, min(v), max(v)) for k, v in per.items())), flush=True)
        if a.profile:
            profiles.append((arch, mode, bs, size, ours(a.prog, env, arch, bs, size, optim, mode, "bf16", steps, True)[3]))
    print("columns: f/f = dml fp32 / PyTorch fp32; b/bcl = dml bf16 / PyTorch bf16 autocast + channels_last; "
          "b/f = dml bf16 / PyTorch fp32; MiB = peak RSS of the measuring process")
    for arch, mode, bs, size, prof in profiles:
        print("\nper-op time of our bf16 step, %s %s batch %d at %d²:\n%s" % (arch, mode, bs, size, prof.rstrip()))
    print(load())


if __name__ == "__main__":
    main()
