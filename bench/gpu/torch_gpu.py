#!/usr/bin/env python3
"""torch_gpu — the PyTorch side of bench/gpu: images/s of ResNet-50 (the reference's resnet50_frozen_normalize:
batch norm in eval mode with trainable affine, a 128-d linear head, L2-normalised output) for forward + backward
with a fixed upstream gradient and no optimizer step, exactly as dml-bench-gpu times it.

Modes: eager fp32 with PyTorch's defaults (cuDNN may use TF32 for convolutions), eager strict fp32 (TF32 off),
AMP bf16 + channels_last, and torch.compile (defaults). Prints one line per mode:
  torch <mode> bs <B> size <S> img_per_s <x> ms_per_step <y>
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def build(embed_dim):
    m = torchvision.models.resnet50(weights=None)
    m.fc = torch.nn.Linear(2048, embed_dim)
    return m


class Net(torch.nn.Module):
    def __init__(self, embed_dim):
        super().__init__()
        self.m = build(embed_dim)

    def forward(self, x):
        return F.normalize(self.m(x), dim=-1)


def frozen_bn(net):
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.eval()


def run(mode, bs, size, steps, warmup, embed_dim):
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    strict = mode == "eager_fp32_strict"
    torch.backends.cudnn.allow_tf32 = not strict
    torch.backends.cuda.matmul.allow_tf32 = False
    net = Net(embed_dim).cuda()
    net.train()
    frozen_bn(net)
    x = torch.rand(bs, 3, size, size, device="cuda") * 2 - 1
    g = (torch.rand(bs, embed_dim, device="cuda") * 2 - 1) / bs
    amp = mode.startswith("amp_bf16")
    if amp:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fn = torch.compile(net) if mode == "compile" else net

    def step():
        net.zero_grad(set_to_none=False)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            z = fn(x)
        z.float().backward(g)

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    print(f"torch {mode} bs {bs} size {size} img_per_s {bs / dt:.1f} ms_per_step {dt * 1e3:.2f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bs", type=int, default=112)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--embed_dim", type=int, default=128)
    ap.add_argument("--modes", default="eager_fp32,eager_fp32_strict,amp_bf16_channels_last,compile")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_gpu: no CUDA device", file=sys.stderr)
        return 2
    print(f"# torch {torch.__version__} cudnn {torch.backends.cudnn.version()} {torch.cuda.get_device_name(0)}")
    for mode in a.modes.split(","):
        try:
            run(mode, a.bs, a.size, a.steps, a.warmup, a.embed_dim)
        except Exception as e:  # one failed mode (e.g. compile without a C compiler) must not hide the others
            print(f"torch {mode} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
