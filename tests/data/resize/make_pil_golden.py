#!/usr/bin/env python3
"""Writes pil_golden.txt and himtok0_pil256.png: PIL Image.resize outputs that tests/test_io_resize.cpp
must reproduce exactly (mode 'L') or to float32 round-off (mode 'F').

Made with Debian bookworm's python3-pil 9.4.0 and python3-numpy 1.24.2:
    /usr/bin/python3 tests/data/resize/make_pil_golden.py
Inputs are generated here from a fixed LCG, so the file is self-contained.

Format (one token stream per line):
    case MODE FILTER in_h in_w out_h out_w
    in  v...            (row-major; L: ints, F: float32 values printed with %.9g)
    out v...
    nearest_map AXIS_IN AXIS_OUT idx...   (PIL NEAREST source index per output index, one axis)
"""
import os
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
state = 12345


def lcg():
    global state
    state = (state * 1103515245 + 12345) % (1 << 31)
    return state >> 8


FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def u8_image(h, w, kind):
    if kind == "random":
        return np.array([[lcg() % 256 for _ in range(w)] for _ in range(h)], dtype=np.uint8)
    # a binary 0/255 blob: an ellipse plus a bar
    yy, xx = np.mgrid[0:h, 0:w]
    m = ((yy - h * 0.45) / (h * 0.3)) ** 2 + ((xx - w * 0.4) / (w * 0.25)) ** 2 <= 1
    m |= (np.abs(yy - h * 0.7) < max(1, h * 0.05)) & (xx > w * 0.2)
    return (m * 255).astype(np.uint8)


def f_image(h, w):
    return np.array([[(lcg() % 100000) / 100000.0 for _ in range(w)] for _ in range(h)], dtype=np.float32)


lines = []
L_CASES = [
    (5, 7, 13, 3, "random"), (17, 11, 4, 6, "random"), (9, 9, 9, 4, "random"), (3, 2, 32, 31, "random"),
    (40, 30, 7, 11, "random"), (23, 31, 16, 16, "binary"), (23, 31, 50, 70, "binary"), (61, 47, 90, 77, "binary"),
    (6, 8, 6, 8, "random"), (1, 5, 3, 9, "random"), (12, 1, 5, 4, "random"),
]
for (h, w, oh, ow, kind) in L_CASES:
    a = u8_image(h, w, kind)
    for name, flt in FILTERS.items():
        b = np.array(Image.fromarray(a, "L").resize((ow, oh), flt))
        lines.append(f"case L {name} {h} {w} {oh} {ow}")
        lines.append("in " + " ".join(str(int(v)) for v in a.ravel()))
        lines.append("out " + " ".join(str(int(v)) for v in b.ravel()))

F_CASES = [(5, 7, 13, 3), (17, 11, 4, 6), (3, 2, 8, 9), (30, 20, 7, 13)]
for (h, w, oh, ow) in F_CASES:
    a = f_image(h, w)
    for name, flt in FILTERS.items():
        b = np.array(Image.fromarray(a, "F").resize((ow, oh), flt), dtype=np.float32)
        lines.append(f"case F {name} {h} {w} {oh} {ow}")
        lines.append("in " + " ".join("%.9g" % v for v in a.ravel()))
        lines.append("out " + " ".join("%.9g" % v for v in b.ravel()))

# NEAREST index maps for the sizes the official eval uses (256 -> native) and a few awkward ratios.
for (n_in, n_out) in [(256, 480), (256, 854), (256, 910), (256, 1152), (256, 427), (256, 640), (256, 148),
                      (480, 256), (854, 256), (7, 3), (3, 7), (1000, 999)]:
    a = np.arange(n_in, dtype=np.float32)[None, :]
    b = np.array(Image.fromarray(a, "F").resize((n_out, 1), Image.NEAREST))
    lines.append(f"nearest_map {n_in} {n_out} " + " ".join(str(int(v)) for v in b[0]))

with open(os.path.join(HERE, "pil_golden.txt"), "w") as f:
    f.write("# PIL " + Image.__version__ + " Image.resize golden values; see make_pil_golden.py\n")
    f.write("\n".join(lines) + "\n")

# The official target geometry on a real mask: convert('L').resize((256, 256)) (default BICUBIC).
src = os.path.join(HERE, "..", "himtok-examples", "masks", "0.png")
Image.open(src).convert("L").resize((256, 256)).save(os.path.join(HERE, "himtok0_pil256.png"))
