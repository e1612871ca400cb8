#!/usr/bin/python3
"""optim_sgd — torch.optim.SGD fixture (Debian python3-torch) for tests/train/test_sgd.c.
Run from the repo root: /usr/bin/python3 tests/reference/optim_sgd.py

The optimizer exactly as the reference builds it (main.py: torch.optim.SGD(to_optim, momentum=0.9)) over its
parameter groups: the network ({lr, weight_decay}), last_linear with --fc_lr ({fc_lr, weight_decay}) and a
criterion group ({lr} only: no weight_decay key, so 0), then MultiStepLR(milestones=[3], gamma=0.3) stepped after
every optimizer step. Parameter "e" gets no gradient in steps 0 and 1 (a frozen backbone during --warmup:
grad None, skipped; its momentum buffer starts at its first real step). Weight decay is 0.05 (not the
reference's 4e-4) so that its term is well above float32 rounding. Six steps, float32.
Written: tests/fixtures/train/optim_sgd.safetensors with init.<p>, grad<s>.<p> (zeros where None) and
after<s>.<p> (values after step s), and metadata (torch version, lrs, weight decay, momentum).
"""
import json
import struct

import numpy as np
import torch

OUT = "tests/fixtures/train/optim_sgd.safetensors"
SHAPES = {"a": (4, 3), "b": (5,), "e": (2, 2), "c": (2, 3), "d": (3,)}
LR, FC_LR, CRIT_LR, WD, STEPS = 1e-2, 5e-2, 0.5, 0.05, 6


def save(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy().astype(np.float32))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    g = torch.Generator().manual_seed(7)
    p = {k: torch.nn.Parameter(torch.randn(s, generator=g)) for k, s in SHAPES.items()}
    groups = [{"params": [p["a"], p["b"], p["e"]], "lr": LR, "weight_decay": WD},
              {"params": [p["c"]], "lr": FC_LR, "weight_decay": WD},
              {"params": [p["d"]], "lr": CRIT_LR}]
    opt = torch.optim.SGD(groups, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3], gamma=0.3)
    out = {"init." + k: v.detach().clone() for k, v in p.items()}
    for s in range(STEPS):
        for k, v in p.items():
            if k == "e" and s < 2:
                v.grad = None
                out["grad%d.%s" % (s, k)] = torch.zeros(SHAPES[k])
            else:
                v.grad = torch.randn(SHAPES[k], generator=g)
                out["grad%d.%s" % (s, k)] = v.grad.clone()
        opt.step()
        sched.step()
        for k, v in p.items():
            out["after%d.%s" % (s, k)] = v.detach().clone()
    meta = {"torch": torch.__version__, "lr": repr(LR), "fc_lr": repr(FC_LR), "crit_lr": repr(CRIT_LR),
            "weight_decay": repr(WD), "momentum": "0.9", "milestone": "3", "gamma": "0.3", "steps": str(STEPS),
            "script": "tests/reference/optim_sgd.py v1"}
    save(OUT, out, meta)
    print("wrote %s (%d tensors, torch %s)" % (OUT, len(out), torch.__version__))


if __name__ == "__main__":
    main()
