#!/usr/bin/python3
"""Fashion-MNIST reading helpers and a small PNG sample exporter.

Reading: `load_split("train" | "t10k")` returns (images uint8 [N, 28, 28], labels uint8 [N]) from the
idx-ubyte files (gzipped or not) shipped by Debian's `dataset-fashion-mnist` package
(/usr/share/datasets/fashion-mnist by default, or --data / $FASHION_MNIST_DIR). `load_test()` is the
10,000-image test set in dataset order. Other scripts import these instead of re-parsing the files.

Running it exports the first test image of each class as an 8-bit grayscale PNG named
`<test index, 4 digits>-<label slug>.png` (e.g. `0000-ankle-boot.png`) into the given directory, plus
`samples.json` listing index, label id and label name for each file.
"""
import argparse
import gzip
import json
import os
import struct
import zlib

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def data_dir(path=None):
    return path or os.environ.get("FASHION_MNIST_DIR") or DEFAULT_DIR


def read_idx(path):
    """Parse an idx-ubyte file (optionally gzipped) into a numpy array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file (magic {raw[:4].hex()})")
    shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {data.size} bytes of data for shape {shape}")
    return data.reshape(shape)


def _find(root, name):
    for candidate in (name + ".gz", name):
        p = os.path.join(root, candidate)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{name}(.gz) not found in {root}")


def load_split(kind, root=None):
    """kind is "train" (60,000 images) or "t10k" (10,000): returns (images [N,28,28] uint8, labels [N] uint8)."""
    root = data_dir(root)
    images = read_idx(_find(root, f"{kind}-images-idx3-ubyte"))
    labels = read_idx(_find(root, f"{kind}-labels-idx1-ubyte"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{kind}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def load_test(root=None):
    return load_split("t10k", root)


def slug(label):
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-").replace("--", "-")


def write_png_gray(path, img):
    """Minimal 8-bit grayscale PNG writer (no dependency on PIL)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape
    rows = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="directory to write the PNG files into")
    ap.add_argument("--data", default=None, help=f"directory with the idx-ubyte files (default {DEFAULT_DIR})")
    ap.add_argument("--per-class", type=int, default=1, help="how many test images of each class (first ones)")
    a = ap.parse_args()
    images, labels = load_test(a.data)
    os.makedirs(a.out, exist_ok=True)
    written = []
    for cls, name in enumerate(LABELS):
        for idx in np.flatnonzero(labels == cls)[: a.per_class]:
            fname = f"{idx:04d}-{slug(name)}.png"
            write_png_gray(os.path.join(a.out, fname), images[idx])
            written.append({"file": fname, "index": int(idx), "label": cls, "name": name})
    written.sort(key=lambda r: r["index"])
    with open(os.path.join(a.out, "samples.json"), "w") as f:
        json.dump({"labels": LABELS, "samples": written}, f, indent=1)
    for r in written:
        print(r["file"])


if __name__ == "__main__":
    main()
