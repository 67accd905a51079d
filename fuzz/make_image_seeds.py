#!/usr/bin/env python3
"""Writes fuzz/seeds/image/: small images (at most 64x48) in every layout the image reader meets.

Run once with PIL (Debian: python3-pil); the files are committed, so scripts/fuzz.sh needs no PIL.
Small seeds keep fuzz_image fast (each input is decoded three ways under ASan): the code paths of
a 64x48 PNG or JPEG are those of a 4000x3000 one, and the header check against the pixel budget is
exercised by the mutations that enlarge the header. Sources: tests/data (see its SOURCE.txt files).
"""
import io
import os
import struct
import zlib

from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(ROOT, "fuzz", "seeds", "image")


def small(path, size=(64, 48)):
    im = Image.open(os.path.join(DATA, path))
    im.load()
    return im.resize(size, Image.NEAREST)


def save(name, im, **kw):
    buf = io.BytesIO()
    im.save(buf, **kw)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(buf.getvalue())


def png_adam7_gray(im):
    """An 8-bit gray PNG with Adam7 interlacing (PIL cannot write one), filter 0 on every row."""
    w, h = im.size
    px = im.tobytes()
    raw = b""
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)]:
        for y in range(y0, h, dy):
            row = bytes(px[y * w + x] for x in range(x0, w, dx))
            if row:
                raw += b"\0" + row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    os.makedirs(OUT, exist_ok=True)
    pal = small("davis/dogs-jump/00000.png")           # palette PNG, as DAVIS ships masks
    gray = small("himtok-examples/masks/1.png")         # 8-bit gray PNG, as HiMTok ships masks
    rgb = small("himtok-examples/images/0.jpg")          # a photo
    save("palette.png", pal, format="PNG")
    save("palette4.png", pal, format="PNG", bits=4)
    with open(os.path.join(OUT, "gray_interlaced.png"), "wb") as f:
        f.write(png_adam7_gray(gray))
    save("gray.png", gray, format="PNG")
    save("gray_bits1.png", gray.point(lambda v: 255 if v else 0).convert("1"), format="PNG")
    save("gray16.png", gray.convert("I").point(lambda v: v * 257), format="PNG")
    save("gray_alpha.png", Image.merge("LA", (gray, gray)), format="PNG")
    save("rgb.png", rgb, format="PNG")
    save("rgba.png", rgb.convert("RGBA"), format="PNG")
    save("rgb.bmp", rgb, format="BMP")
    save("gray.bmp", gray, format="BMP")
    save("photo.jpg", rgb, format="JPEG", quality=90)
    save("photo_progressive.jpg", rgb, format="JPEG", quality=75, progressive=True)
    save("photo_420.jpg", rgb, format="JPEG", quality=60, subsampling=2)
    save("gray.jpg", gray, format="JPEG", quality=90)
    save("cmyk.jpg", rgb.convert("CMYK"), format="JPEG", quality=90)


if __name__ == "__main__":
    main()
