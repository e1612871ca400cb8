#!/usr/bin/python3
"""engine_resnet_parity — PyTorch (Debian python3-torch 1.13 + torchvision) fixtures for the ResNet, GoogLeNet,
BN-Inception and DenseNet-169 parity test (tests/engine/test_resnet_parity.c).
Run from the repo root: /usr/bin/python3 tests/reference/engine_resnet_parity.py

For each case: a ResNet with torchvision's layout and parameter names, at a reduced width (stem N channels
instead of 64; stages N, 2N, 4N, 8N planes), random weights (conv, BN affine and BN running statistics), a
random batch of 2 RGB images at 64x64, an embedding head `last_linear` (feat -> 16), the given pooling,
batch-norm mode and normalisation; PyTorch computes in float64 (from the float32 weights/inputs). Written:
  tests/fixtures/engine/<case>.weights.safetensors  parameters + buffers (torchvision names)
  tests/fixtures/engine/<case>.ref.safetensors      input (2, 3*64*64), c (2, 16), emb (2, 16) = forward,
                                                    grad.<param> = d(sum c*emb)/d param, after.<buffer> = running
                                                    statistics after the training-mode forward
At width 64 the modules below are checked against torchvision.models.resnet18/50, googlenet and densenet169 (same
state_dict keys and shapes, same output), so the reduced-width cases follow torchvision's definition.
Regenerate one case: /usr/bin/python3 tests/reference/engine_resnet_parity.py densenet169_w4
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

OUT = "tests/fixtures/engine"


class Basic(nn.Module):
    expansion = 1

    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        o = self.bn2(self.conv2(o))
        return F.relu(o + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inp != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        o = F.relu(self.bn2(self.conv2(o)))
        o = self.bn3(self.conv3(o))
        return F.relu(o + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, deep, width, embed, pool="avg", normalize=False, head=True):
        super().__init__()
        block, depth = (Bottleneck, [3, 4, 6, 3]) if deep else (Basic, [2, 2, 2, 2])
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        inp = width
        for L in range(4):
            blocks = []
            for k in range(depth[L]):
                blocks.append(block(inp, width << L, 2 if (k == 0 and L > 0) else 1))
                inp = (width << L) * block.expansion
            setattr(self, "layer%d" % (L + 1), nn.Sequential(*blocks))
        self.pool, self.normalize, self.head = pool, normalize, head
        if head:
            self.last_linear = nn.Linear(inp, embed)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        h = self.features(x)
        if self.pool == "avg":
            f = F.adaptive_avg_pool2d(h, 1).flatten(1)
        elif self.pool == "max":
            f = F.adaptive_max_pool2d(h, 1).flatten(1)
        else:
            f = F.adaptive_avg_pool2d(h, 1).flatten(1) + F.adaptive_max_pool2d(h, 1).flatten(1)
        if not self.head:
            return f
        z = self.last_linear(f)
        return F.normalize(z, dim=-1) if self.normalize else z


class BasicConv(nn.Module):
    def __init__(self, cin, cout, k, stride=1, pad=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, pad, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        self.branch1 = BasicConv(cin, c1, 1)
        self.branch2 = nn.Sequential(BasicConv(cin, c3r, 1), BasicConv(c3r, c3, 3, pad=1))
        self.branch3 = nn.Sequential(BasicConv(cin, c5r, 1), BasicConv(c5r, c5, 3, pad=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv(cin, pp, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


GCFG = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64), (480, 192, 96, 208, 16, 48, 64),
        (512, 160, 112, 224, 24, 64, 64), (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
        (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128), (832, 384, 192, 384, 48, 128, 128)]
GNAMES = ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d", "inception4e",
          "inception5a", "inception5b"]


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet (transform_input=True, no aux classifiers, dropout off) at width/64 of its widths."""

    def __init__(self, width, embed, pool="avg", normalize=False, head=True):
        super().__init__()
        s = lambda c: max(1, c * width // 64)
        self.conv1 = BasicConv(3, s(64), 7, 2, 3)
        self.conv2 = BasicConv(s(64), s(64), 1)
        self.conv3 = BasicConv(s(64), s(192), 3, pad=1)
        cin = s(192)
        for name, c in zip(GNAMES, GCFG):
            setattr(self, name, Inception(cin, s(c[1]), s(c[2]), s(c[3]), s(c[4]), s(c[5]), s(c[6])))
            cin = s(c[1]) + s(c[3]) + s(c[5]) + s(c[6])
        self.pool, self.normalize, self.head = pool, normalize, head
        if head:
            self.last_linear = nn.Linear(cin, embed)

    def features(self, x):
        x = torch.cat([x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5, x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                       x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5], 1)
        x = F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.conv3(self.conv2(x)), 3, 2, ceil_mode=True)
        for i, name in enumerate(GNAMES):
            x = getattr(self, name)(x)
            if i == 1:
                x = F.max_pool2d(x, 3, 2, ceil_mode=True)
            if i == 6:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        return x

    forward = ResNet.forward


BCFG = [("3a", 64, 64, 64, 64, 96, 32), ("3b", 64, 64, 96, 64, 96, 64), ("3c", 0, 128, 160, 64, 96, 0),
        ("4a", 224, 64, 96, 96, 128, 128), ("4b", 192, 96, 128, 96, 128, 128), ("4c", 160, 128, 160, 128, 160, 128),
        ("4d", 96, 128, 192, 160, 192, 128), ("4e", 0, 128, 192, 192, 256, 0), ("5a", 352, 192, 320, 160, 224, 128),
        ("5b", 352, 192, 320, 192, 224, 128)]


class BNInception(nn.Module):
    """pretrainedmodels' bninception (layer names and order of Cadene's bninception.py; conv with bias -> BN(eps
    1e-5, momentum 0.9) -> in-place ReLU), features + global average pooling + last_linear, at width/64."""

    def __init__(self, width, embed, pool="avg", normalize=False, head=True):
        super().__init__()
        s = lambda c: max(1, c * width // 64)
        self.units = []

        def unit(name, cin, cout, k, stride=1):
            setattr(self, name, nn.Conv2d(cin, cout, k, stride, k // 2))
            setattr(self, name + "_bn", nn.BatchNorm2d(cout, eps=1e-05, momentum=0.9))
            return name

        self.stem = [unit("conv1_7x7_s2", 3, s(64), 7, 2), unit("conv2_3x3_reduce", s(64), s(64), 1),
                     unit("conv2_3x3", s(64), s(192), 3)]
        cin, self.blocks = s(192), []
        for name, c1, c3r, c3, dr, d, proj in BCFG:
            p = "inception_%s_" % name
            red, st = proj == 0, 2 if proj == 0 else 1
            b = {"red": red, "max": name == "5b"}
            if not red:
                b["1x1"] = unit(p + "1x1", cin, s(c1), 1)
            b["3x3"] = [unit(p + "3x3_reduce", cin, s(c3r), 1), unit(p + "3x3", s(c3r), s(c3), 3, st)]
            b["d"] = [unit(p + "double_3x3_reduce", cin, s(dr), 1), unit(p + "double_3x3_1", s(dr), s(d), 3),
                      unit(p + "double_3x3_2", s(d), s(d), 3, st)]
            if not red:
                b["proj"] = unit(p + "pool_proj", cin, s(proj), 1)
            cin = s(c3) + s(d) + cin if red else s(c1) + s(c3) + s(d) + s(proj)
            self.blocks.append(b)
        self.pool, self.normalize, self.head = pool, normalize, head
        if head:
            self.last_linear = nn.Linear(cin, embed)

    def u(self, name, x):
        return F.relu(getattr(self, name + "_bn")(getattr(self, name)(x)))

    def features(self, x):
        x = F.max_pool2d(self.u(self.stem[0], x), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.u(self.stem[2], self.u(self.stem[1], x)), 3, 2, ceil_mode=True)
        for b in self.blocks:
            out = []
            if not b["red"]:
                out.append(self.u(b["1x1"], x))
            out.append(self.u(b["3x3"][1], self.u(b["3x3"][0], x)))
            out.append(self.u(b["d"][2], self.u(b["d"][1], self.u(b["d"][0], x))))
            if b["red"]:
                out.append(F.max_pool2d(x, 3, 2, ceil_mode=True))
            elif b["max"]:
                out.append(self.u(b["proj"], F.max_pool2d(x, 3, 1, 1, ceil_mode=True)))
            else:
                out.append(self.u(b["proj"], F.avg_pool2d(x, 3, 1, 1, ceil_mode=True, count_include_pad=True)))
            x = torch.cat(out, 1)
        return x

    forward = ResNet.forward


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bottleneck):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bottleneck, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bottleneck)
        self.conv2 = nn.Conv2d(bottleneck, growth, 3, 1, 1, bias=False)

    def forward(self, maps):
        x = torch.cat(maps, 1)
        return self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))


class DenseNet(nn.Module):
    """torchvision's densenet169 (growth 32, blocks 6/12/32/32, 64 stem channels, bn_size 4, no dropout) at
    width/64 of its widths (stem N, growth N/2), names as torchvision's ("features.denseblock1.denselayer1.norm1")."""

    def __init__(self, width, embed, pool="avg", normalize=False, head=True):
        super().__init__()
        s = lambda c: max(1, c * width // 64)
        growth, ch = s(32), s(64)
        self.features = nn.Module()
        f = self.features
        f.conv0 = nn.Conv2d(3, ch, 7, 2, 3, bias=False)
        f.norm0 = nn.BatchNorm2d(ch)
        self.blocks = []
        for b, n in enumerate((6, 12, 32, 32)):
            block = nn.Module()
            for i in range(n):
                block.add_module("denselayer%d" % (i + 1), DenseLayer(ch + i * growth, growth, 4 * growth))
            f.add_module("denseblock%d" % (b + 1), block)
            ch += n * growth
            trans = None
            if b < 3:
                trans = nn.Module()
                trans.norm = nn.BatchNorm2d(ch)
                trans.conv = nn.Conv2d(ch, ch // 2, 1, bias=False)
                f.add_module("transition%d" % (b + 1), trans)
                ch //= 2
            self.blocks.append((block, trans))
        f.norm5 = nn.BatchNorm2d(ch)
        self.pool, self.normalize, self.head = pool, normalize, head
        if head:
            self.last_linear = nn.Linear(ch, embed)

    def features_forward(self, x):
        f = self.features
        x = F.max_pool2d(F.relu(f.norm0(f.conv0(x))), 3, 2, 1)
        for block, trans in self.blocks:
            maps = [x]
            for layer in block.children():
                maps.append(layer(maps))
            x = torch.cat(maps, 1)
            if trans is not None:
                x = F.avg_pool2d(trans.conv(F.relu(trans.norm(x))), 2, 2)
        return F.relu(f.norm5(x))

    def forward(self, x):
        h = self.features_forward(x)
        if self.pool == "avg":
            f = F.adaptive_avg_pool2d(h, 1).flatten(1)
        elif self.pool == "max":
            f = F.adaptive_max_pool2d(h, 1).flatten(1)
        else:
            f = F.adaptive_avg_pool2d(h, 1).flatten(1) + F.adaptive_max_pool2d(h, 1).flatten(1)
        if not self.head:
            return f
        z = self.last_linear(f)
        return F.normalize(z, dim=-1) if self.normalize else z


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))
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


def randomise(m, g):
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() == 1 and name.endswith(".bias") and "_bn." not in name and ".bn" not in name \
                    and not name.startswith("bn") and "downsample" not in name and "last_linear" not in name \
                    and ".norm" not in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)  # conv biases (BN-Inception)
            elif p.dim() == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif ".bn" in name or name.startswith("bn") or "downsample.1" in name or "_bn." in name or ".norm" in name:
                p.copy_((torch.rand(p.shape, generator=g) * 0.5 + 0.75) if name.endswith("weight")
                        else torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) / p.shape[-1] ** 0.5)
        for name, b in m.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 0.5 + 0.75)


def check_against_torchvision():
    g = torch.Generator().manual_seed(0)
    for deep, ctor in ((False, torchvision.models.resnet18), (True, torchvision.models.resnet50)):
        ours, tv = ResNet(deep, 64, 1000, head=False), ctor()
        randomise(ours, g)
        sd = ours.state_dict()
        tv_sd = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
        assert [(k, tuple(v.shape)) for k, v in sd.items()] == [(k, tuple(v.shape)) for k, v in tv_sd.items()], \
            "layout differs from torchvision"
        tv.load_state_dict(sd, strict=False)
        tv.fc = nn.Identity()
        for mode in (False, True):
            ours.train(mode)
            tv.train(mode)
            x = torch.randn(2, 3, 64, 64, generator=g)
            a, b = ours(x), tv(x)
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), "differs from torchvision"
    print("module == torchvision resnet18/50 at width 64 (train and eval mode)")
    ours, tv = GoogLeNet(64, 1000, head=False), torchvision.models.googlenet(aux_logits=False, transform_input=True,
                                                                            init_weights=False)
    randomise(ours, g)
    sd = ours.state_dict()
    tv_sd = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == [(k, tuple(v.shape)) for k, v in tv_sd.items()], \
        "googlenet layout differs from torchvision"
    tv.load_state_dict(sd, strict=False)
    tv.fc = nn.Identity()
    ours.eval()
    tv.eval()  # eval: torchvision's dropout is off
    x = torch.randn(2, 3, 64, 64, generator=g)
    assert torch.allclose(ours(x), tv(x), rtol=1e-5, atol=1e-6), "googlenet differs from torchvision"
    print("module == torchvision googlenet at width 64 (eval mode)")
    ours, tv = DenseNet(64, 1000, head=False), torchvision.models.densenet169()
    randomise(ours, g)
    sd = ours.state_dict()
    tv_sd = {k: v for k, v in tv.state_dict().items() if not k.startswith("classifier.")}
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == [(k, tuple(v.shape)) for k, v in tv_sd.items()], \
        "densenet169 layout differs from torchvision"
    tv.load_state_dict(sd, strict=False)
    tv.classifier = nn.Identity()
    for mode in (False, True):
        ours.train(mode)
        tv.train(mode)
        x = torch.randn(2, 3, 64, 64, generator=g)
        assert torch.allclose(ours(x), tv(x), rtol=1e-5, atol=1e-6), "densenet169 differs from torchvision"
    print("module == torchvision densenet169 at width 64 (train and eval mode)")


CASES = [
    # name, deep, width, pool, normalize, frozen
    ("resnet18_w8", False, 8, "avg", False, False),
    ("resnet50_w4", True, 4, "avg", False, False),
    ("resnet18_w4_frozen_normalize_max", False, 4, "max", True, True),
    ("resnet18_w4_double", False, 4, "double", False, False),
    ("bninception_w4_frozen_double", "bninception", 4, "double", False, True),
    ("googlenet_w8_frozen", "googlenet", 8, "avg", False, True),  # BN in eval: train-mode BN at batch 2 is ill-conditioned here (torch float32 vs float64 differ by 1.6e-2)
    ("densenet169_w4", "densenet", 4, "avg", False, False),
    ("densenet169_w2_frozen_normalize_double", "densenet", 2, "double", True, True),
]


def make(case, seed):
    name, deep, width, pool, normalize, frozen = case
    g = torch.Generator().manual_seed(seed)
    if deep == "googlenet":
        m = GoogLeNet(width, 16, pool, normalize)
    elif deep == "densenet":
        m = DenseNet(width, 16, pool, normalize)
    elif deep == "bninception":
        m = BNInception(width, 16, pool, normalize)
    else:
        m = ResNet(deep, width, 16, pool, normalize)
    randomise(m, g)
    weights = dict(m.state_dict())
    weights = {k: v.clone() for k, v in weights.items() if not k.endswith("num_batches_tracked")}
    m.train()
    if frozen:  # the reference's frozen batch norm: modules in eval mode, affine still trained
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.eval()
    x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    c = torch.rand(2, 16, generator=g) * 2 - 1
    # the reference is computed in float64 from the float32 weights and inputs: our float32 result is then
    # compared with the exact function, not with another float32 rounding of it
    m.double()
    emb = m(x.double())
    c = c.double()
    emb.backward(c)
    ref = {"input": x.reshape(2, -1), "c": c, "emb": emb}
    for k, p in m.named_parameters():
        ref["grad." + k] = p.grad
    for k, b in m.named_buffers():
        if not k.endswith("num_batches_tracked"):
            ref["after." + k] = b
    save_safetensors(os.path.join(OUT, name + ".weights.safetensors"), weights)
    save_safetensors(os.path.join(OUT, name + ".ref.safetensors"), ref)
    print("%s: %d parameters, |emb| max %.3g" % (name, sum(p.numel() for p in m.parameters()), emb.abs().max()))


if __name__ == "__main__":
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    check_against_torchvision()
    import sys
    for i, case in enumerate(CASES):
        if len(sys.argv) < 2 or case[0] in sys.argv[1:]:
            make(case, 100 + i)
