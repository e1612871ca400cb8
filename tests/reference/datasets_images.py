#!/usr/bin/python3
"""datasets_images — fixtures for tests/datasets/test_images.c, written by Pillow 9.4 + torchvision 0.14 + numpy.
Run from the repo root: /usr/bin/python3 tests/reference/datasets_images.py

tests/fixtures/datasets/:
  img/<name>        odd-sized inputs: colour / gray / progressive / CMYK JPEGs; RGB, RGBA, LA, palette (with
                    transparency), 16-bit gray, 2-bit gray PNGs
  out/<name>.rgb.png  np.array(Image.open(img).convert('RGB')) stored losslessly (the decode reference)
  out/<name>.eval.png Resize(40) -> CenterCrop(32) of that image (one case also Resize(256) -> CenterCrop(224))
  out/<name>.rrc<k>.png F.resized_crop(img, top, left, h, w, [32, 32]) for the boxes in transforms.txt
  out/<name>.<op>.png   F.adjust_brightness/contrast/saturation/hue and rgb_to_grayscale(3) of the eval crop
  transforms.txt    one line per output: "<out file> <kind> <params...>"
  rrc_draws.txt     RandomResizedCrop.get_params with the draws torch made: "W H top left h w n s1 a1 ... ri rj"
  numpy.txt         numpy's unique(round(linspace(0, n-1, m))) and np.random.seed(s); choice(n, m, replace=False)
"""
import math
import os

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

D = "tests/fixtures/datasets"
rng = np.random.default_rng(11)


def synth(w, h, ch):
    y, x = np.mgrid[0:h, 0:w]
    base = [np.sin(x / 5.0 + k) * 70 + np.cos(y / 7.0 - k) * 50 + 128 for k in range(ch)]
    a = np.stack(base, -1) + rng.normal(0, 10, (h, w, ch))
    return np.clip(a, 0, 255).astype(np.uint8)


def main():
    os.makedirs(D + "/img", exist_ok=True)
    os.makedirs(D + "/out", exist_ok=True)
    imgs = {}
    Image.fromarray(synth(97, 61, 3)).save(D + "/img/color.jpg", quality=85)
    Image.fromarray(synth(61, 97, 1)[:, :, 0], "L").save(D + "/img/gray.jpg", quality=90)
    Image.fromarray(synth(80, 120, 3)).save(D + "/img/progressive.jpg", quality=80, progressive=True)
    Image.fromarray(synth(53, 41, 4), "CMYK").save(D + "/img/cmyk.jpg", quality=90)
    Image.fromarray(synth(131, 77, 3)).save(D + "/img/rgb.png")
    Image.fromarray(synth(50, 40, 4), "RGBA").save(D + "/img/rgba.png")
    Image.fromarray(synth(37, 45, 2), "LA").save(D + "/img/la.png")
    p = Image.fromarray(synth(45, 67, 3)).convert("P", palette=Image.ADAPTIVE, colors=60)
    p.info["transparency"] = 3
    p.save(D + "/img/palette.png", transparency=3)
    g16 = (synth(33, 29, 1)[:, :, 0].astype(np.uint16) * 3).astype(np.uint16)  # values 0..765: PIL clips at 255
    Image.fromarray(g16, "I;16").save(D + "/img/gray16.png")
    Image.fromarray((synth(30, 20, 1)[:, :, 0] // 64 * 85).astype(np.uint8), "L").convert("L").save(
        D + "/img/gray2.png", bits=2)
    Image.fromarray(synth(300, 9, 3)).save(D + "/img/wide.png")
    names = sorted(os.listdir(D + "/img"))
    lines = []
    for n in names:
        im = Image.open(D + "/img/" + n).convert("RGB")
        im.save(D + "/out/%s.rgb.png" % n)
        ev = T.Compose([T.Resize(40), T.CenterCrop(32)])(im)
        ev.save(D + "/out/%s.eval.png" % n)
        lines.append("out/%s.eval.png eval %s 40 32" % (n, n))
        W, H = im.size
        boxes = [(0, 0, H, W), (H // 4, W // 3, max(1, H // 2), max(1, W // 3)), (1, 2, min(H - 1, 7), min(W - 2, 5))]
        for k, (t, l, h, w) in enumerate(boxes):
            F.resized_crop(im, t, l, h, w, [32, 32]).save(D + "/out/%s.rrc%d.png" % (n, k))
            lines.append("out/%s.rrc%d.png rrc %s %d %d %d %d 32" % (n, k, n, t, l, h, w))
        if n == "color.jpg":
            T.Compose([T.Resize(256), T.CenterCrop(224)])(im).save(D + "/out/color.jpg.eval224.png")
            lines.append("out/color.jpg.eval224.png eval %s 256 224" % n)
            ops = [("bright", F.adjust_brightness, 1.13), ("bright2", F.adjust_brightness, 0.83),
                   ("contrast", F.adjust_contrast, 0.87), ("contrast2", F.adjust_contrast, 1.19),
                   ("sat", F.adjust_saturation, 1.19), ("sat2", F.adjust_saturation, 0.81),
                   ("hue", F.adjust_hue, -0.13), ("hue2", F.adjust_hue, 0.17)]
            for tag, fn, v in ops:
                fn(ev, v).save(D + "/out/color.jpg.%s.png" % tag)
                lines.append("out/color.jpg.%s.png %s %s %.17g" % (tag, tag.rstrip("2"), n, v))
            F.rgb_to_grayscale(ev, 3).save(D + "/out/color.jpg.gray.png")
            lines.append("out/color.jpg.gray.png gray %s 0" % n)
    with open(D + "/transforms.txt", "w") as f:
        f.write("# written by tests/reference/datasets_images.py with Pillow %s, torchvision %s\n" %
                (Image.__version__, torchvision.__version__))
        f.write("\n".join(lines) + "\n")
    # RandomResizedCrop.get_params, then the same draws replayed from the same seed
    with open(D + "/rrc_draws.txt", "w") as f:
        scale, ratio = (0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0)
        for (W, H) in [(500, 375), (97, 61), (10, 1000), (1000, 9), (224, 224)]:
            img = Image.new("RGB", (W, H))
            for s in range(25):
                torch.manual_seed(s)
                i, j, h, w = T.RandomResizedCrop.get_params(img, list(scale), list(ratio))
                torch.manual_seed(s)
                area = W * H
                log_ratio = torch.log(torch.tensor(ratio))
                draws, ints = [], []
                for _ in range(10):
                    sc = torch.empty(1).uniform_(scale[0], scale[1]).item()
                    ar = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
                    draws.append((sc, ar))
                    ww = int(round(math.sqrt(area * sc * ar)))
                    hh = int(round(math.sqrt(area * sc / ar)))
                    if 0 < ww <= W and 0 < hh <= H:
                        ints = [torch.randint(0, H - hh + 1, size=(1,)).item(), torch.randint(0, W - ww + 1, size=(1,)).item()]
                        break
                f.write("%d %d %d %d %d %d %d %s %s\n" % (W, H, i, j, h, w, len(draws),
                                                        " ".join("%.17g %.17g" % d for d in draws),
                                                        " ".join(str(v) for v in ints)))
    with open(D + "/numpy.txt", "w") as f:
        f.write("# numpy %s\n" % np.__version__)
        for n, m in [(54, 43), (5, 4), (7, 5), (60, 48), (1, 0), (2, 1), (3, 2), (29, 23), (100, 80), (11, 8)]:
            v = np.array(list(set(np.round(np.linspace(0, n - 1, m))))).astype(int)
            f.write("linspace %d %d %s\n" % (n, m, " ".join(str(x) for x in sorted(v))))
        for seed in [0, 1, 3]:
            np.random.seed(seed)
            for n in [30, 7, 45, 12]:
                m = int(n * 0.8)
                f.write("choice %d %d %d %s\n" % (seed, n, m, " ".join(str(x) for x in np.random.choice(n, m, replace=False))))


if __name__ == "__main__":
    main()
