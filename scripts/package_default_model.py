#!/usr/bin/python3
"""PyTorch's side of packaging the default model (scripts/package_default_model.sh runs it).

Reads a resnet-webgpu shard index (model.json + shards, normally f16) and runs the Fashion-MNIST
test set through torchvision's resnet18 holding exactly those stored values: the f16 tensors are
decoded to float32 and each BatchNorm is set to the stored folded affine (weight = scale,
bias = bias, mean 0, var 1, eps 0), so PyTorch computes what the engine computes from the same
bytes. Input as the engine preprocesses a 28x28 gray image: gray -> 3 channels,
x = (v/255 - mean)/std with the index's meta.preprocess mean/std. Writes into the model folder:

  torch-predictions.bin  10,000 bytes: PyTorch's predicted class (0-9) per test image, dataset order
  reference.json         PyTorch's accuracy with these weights, and how many predictions the
                         f16 rounding changed against the float32 model (--f32-predictions)
  samples/               one test image per class as PNG (<index>-<label>.png) + samples.json: the
                         first of each class PyTorch classifies correctly with probability >= 0.9,
                         so a correct engine labels every one the same way
Run with Debian's /usr/bin/python3 (torch + torchvision).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_mnist_samples import LABELS, load_test, slug, write_png_gray  # noqa: E402

SAMPLE_MIN_PROBABILITY = 0.9


def read_index(folder):
    with open(os.path.join(folder, "model.json")) as f:
        index = json.load(f)
    stream = b"".join(open(os.path.join(folder, s["file"]), "rb").read() for s in index["shards"])
    dtypes = {"f32": "<f4", "f16": "<f2"}
    tensors = {}
    for name, t in index["tensors"].items():
        raw = np.frombuffer(stream, dtype=dtypes[t["dtype"]], count=t["bytes"] // (4 if t["dtype"] == "f32" else 2), offset=t["offset"])
        tensors[name] = torch.from_numpy(raw.astype(np.float32).reshape(t["shape"]))
    return index, tensors


def torch_model(index, tensors):
    """torchvision resnet18 computing y = scale * conv(x) + bias with the stored (folded) values."""
    cfg = index["config"]
    if cfg["arch"] != "resnet18" or cfg["variant"] != "v1.5":
        raise SystemExit(f"expected a torchvision resnet18 (v1.5), the index holds {cfg['arch']} {cfg['variant']}")
    model = torchvision.models.resnet18(weights=None, num_classes=cfg["numClasses"]).eval()
    modules = dict(model.named_modules())
    used = set()
    for name in tensors:
        if not name.endswith(".scale"):
            continue
        conv = name[: -len(".scale")]
        if conv.endswith(".downsample"):
            conv_module, bn = modules[conv + ".0"], modules[conv + ".1"]
        else:
            conv_module, bn = modules[conv], modules[conv[:-len("convN")] + "bn" + conv[-1]]
        with torch.no_grad():
            conv_module.weight.copy_(tensors[conv + ".weight"])
            bn.weight.copy_(tensors[conv + ".scale"])
            bn.bias.copy_(tensors[conv + ".bias"])
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
        bn.eps = 0.0
        used.update({conv + ".weight", conv + ".scale", conv + ".bias"})
    with torch.no_grad():
        model.fc.weight.copy_(tensors["fc.weight"])
        model.fc.bias.copy_(tensors["fc.bias"])
    used.update({"fc.weight", "fc.bias"})
    if used != set(tensors):
        raise SystemExit(f"tensors not loaded: {sorted(set(tensors) - used)}")
    return model


@torch.no_grad()
def probabilities(model, images, mean, std, batch=500):
    out = []
    for i in range(0, images.shape[0], batch):
        x = (torch.from_numpy(images[i:i + batch].copy()).float() / 255.0 - mean) / std
        out.append(torch.softmax(model(x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()), 1))
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", help="folder with model.json and its shards; outputs go here too")
    ap.add_argument("--f32-predictions", help="predictions.npy of the float32 model (from training), to count what f16 changed")
    ap.add_argument("--data", default=None, help="directory with the Fashion-MNIST idx files (default: Debian's)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    index, tensors = read_index(a.model_dir)
    pre = index["meta"]["preprocess"]
    if not (pre["grayscale"] and pre["resize"] == pre["cropH"] == pre["cropW"] == 28 and len(set(pre["mean"])) == len(set(pre["std"])) == 1):
        raise SystemExit(f"expected 28x28 grayscale preprocessing with one mean/std, got {pre}")
    images, labels = load_test(a.data)
    probs = probabilities(torch_model(index, tensors), images, pre["mean"][0], pre["std"][0])
    preds = probs.argmax(1).numpy().astype(np.uint8)
    accuracy = float((preds == labels).mean())
    with open(os.path.join(a.model_dir, "torch-predictions.bin"), "wb") as f:
        f.write(preds.tobytes())

    reference = {
        "dataset": "Fashion-MNIST test set (t10k), 10,000 images in dataset order",
        "predictions": "torch-predictions.bin: one byte per image, PyTorch's predicted class id",
        "weights": "model.json as stored (" + ", ".join(sorted({t["dtype"] for t in index["tensors"].values()})) + "), BatchNorm folded",
        "images": int(len(preds)),
        "accuracy": accuracy,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }
    if a.f32_predictions:
        f32 = np.load(a.f32_predictions)
        reference["accuracy_f32"] = float((f32 == labels).mean())
        reference["changed_by_f16"] = int((f32 != preds).sum())
    with open(os.path.join(a.model_dir, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")

    samples_dir = os.path.join(a.model_dir, "samples")
    os.makedirs(samples_dir, exist_ok=True)
    confident = (preds == labels) & (probs.max(1).values.numpy() >= SAMPLE_MIN_PROBABILITY)
    written = []
    for cls, name in enumerate(LABELS):
        candidates = np.flatnonzero((labels == cls) & confident)
        if not len(candidates):
            raise SystemExit(f"no {name} test image is classified correctly with probability >= {SAMPLE_MIN_PROBABILITY}")
        idx = int(candidates[0])
        fname = f"{idx:04d}-{slug(name)}.png"
        write_png_gray(os.path.join(samples_dir, fname), images[idx])
        written.append({"file": fname, "index": idx, "label": cls, "name": name, "torch_probability": round(float(probs[idx, cls]), 4)})
    written.sort(key=lambda r: r["index"])
    with open(os.path.join(samples_dir, "samples.json"), "w") as f:
        json.dump({"labels": LABELS, "samples": written}, f, indent=1)
        f.write("\n")
    print(json.dumps(reference, indent=1))
    print("samples: " + " ".join(r["file"] for r in written))


if __name__ == "__main__":
    main()
