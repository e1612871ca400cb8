#!/usr/bin/python3
"""engine_images — fixtures for the image decoding/transform test (tests/engine/test_image.c).
Run from the repo root: /usr/bin/python3 tests/reference/engine_images.py

Writes small synthetic images to tests/fixtures/engine/images/<class>/ (a colour JPEG, a grayscale JPEG, an RGBA
PNG, a palette PNG that needs upscaling) and, for each, the reference eval transform computed by PIL +
torchvision 0.14: Resize(256) -> CenterCrop(224) saved losslessly as <name>.crop.png (uint8, before ToTensor),
plus three values of the normalised tensor (ToTensor + Normalize(ImageNet)) in transform_values.txt
("file c y x value")."""
import os

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

D = "tests/fixtures/engine/images"
rng = np.random.default_rng(3)


def synth(w, h, ch):
    y, x = np.mgrid[0:h, 0:w]
    base = [np.sin(x / 7.0 + k) * 60 + np.cos(y / 11.0 - k) * 50 + 128 + (x * y % 17) for k in range(ch)]
    a = np.stack(base, -1) + rng.normal(0, 12, (h, w, ch))
    return np.clip(a, 0, 255).astype(np.uint8)


def main():
    os.makedirs(D + "/a_class", exist_ok=True)
    os.makedirs(D + "/b_class/sub", exist_ok=True)
    imgs = {
        "a_class/color.jpg": Image.fromarray(synth(300, 200, 3)),
        "a_class/gray.JPEG": Image.fromarray(synth(180, 261, 1)[:, :, 0]),
        "b_class/rgba.png": Image.fromarray(synth(257, 300, 4), "RGBA"),
        "b_class/sub/palette.png": Image.fromarray(synth(100, 80, 3)).convert("P", palette=Image.ADAPTIVE),
    }
    for name, im in imgs.items():
        path = os.path.join(D, name)
        if name.lower().endswith((".jpg", ".jpeg")):
            im.save(path, quality=90)
        else:
            im.save(path)
    crop = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    norm = transforms.Compose([transforms.ToTensor(),
                               transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    lines = []
    for name in imgs:
        im = Image.open(os.path.join(D, name)).convert("RGB")  # the reference's loader
        c = crop(im)
        c.save(os.path.join("tests/fixtures/engine", os.path.basename(name) + ".crop.png"))
        t = norm(c)
        for (ch, y, x) in ((0, 0, 0), (1, 100, 57), (2, 223, 223)):
            lines.append("%s %d %d %d %.9g" % (name, ch, y, x, t[ch, y, x].item()))
    with open("tests/fixtures/engine/transform_values.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", len(imgs), "images and their reference crops")


if __name__ == "__main__":
    main()
