#!/usr/bin/python3
"""Reference logits from PyTorch for seeded torchvision ResNet weights.

Writes, into --out: model.safetensors (the state_dict exactly as torchvision names it,
num_batches_tracked included), input.npy (float32 NCHW, already normalised) and logits.npy.
BatchNorm statistics are calibrated on random batches and its affine parameters randomised, so
folding BN is exercised with realistic, non-trivial values. Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import os
import struct

import numpy as np
import torch
import torchvision

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def save_safetensors(state, path):
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        t = t.detach().contiguous().cpu()
        data = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def seeded_resnet(arch, classes, seed, variant="v1.5", in_size=64):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
    if variant == "v1":  # the original paper: stride in the bottleneck's first 1x1
        for layer in (model.layer2, model.layer3, model.layer4):
            block = layer[0]
            block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
    return calibrate_batchnorm(model, seed, in_size)


def calibrate_batchnorm(model, seed, in_size):
    """Running statistics from random batches, random affine parameters; returns the model in eval mode."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration batches
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(4, 3, in_size, in_size))
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--variant", default="v1.5", choices=["v1.5", "v1"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"], help="storage dtype of the float tensors")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = seeded_resnet(a.arch, a.classes, a.seed, a.variant, min(a.height, a.width, 64))
    x = torch.randn(a.batch, 3, a.height, a.width, generator=torch.Generator().manual_seed(a.seed + 2))
    cast = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    state = {k: (v.to(cast) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    model.load_state_dict(state)  # the reference sees exactly the stored (possibly rounded) weights
    with torch.no_grad():
        logits = model.double()(x.double()).float()  # float64 reference, stored as float32
    save_safetensors(state, os.path.join(a.out, "model.safetensors"))
    np.save(os.path.join(a.out, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(a.out, "logits.npy"), logits.numpy())


if __name__ == "__main__":
    main()
