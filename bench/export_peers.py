#!/usr/bin/python3
"""Export a torchvision ResNet state_dict (model.safetensors from scripts/torch_reference.py) for the peers.

Writes into --out:
  model.onnx          torch.onnx.export of the same weights, for onnxruntime-web (static input shape).
  tfjs.safetensors    the same weights as a TF.js converter would ship them: BatchNorm folded into each
                      conv (weight HWIO, plus a bias), fc as [in, out]; names stay torchvision's
                      (`layer1.0.conv1.weight`, `layer1.0.conv1.bias`, ...). bench/engines/tfjs.ts builds
                      the network from these names.
Run with Debian's /usr/bin/python3 (it has torch and onnx).
"""
import argparse
import inspect
import json
import os
import struct
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from torch_reference import save_safetensors  # noqa: E402

NUMPY = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    return {
        name: torch.from_numpy(np.frombuffer(data, NUMPY[h["dtype"]], offset=h["data_offsets"][0], count=int(np.prod(h["shape"]))).reshape(h["shape"]).copy())
        for name, h in header.items()
        if name != "__metadata__"
    }


def folded(conv, bn):
    """Conv weight with BN folded in, as HWIO, and the folded bias."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale[:, None, None, None]
    return weight.permute(2, 3, 1, 0).contiguous(), bn.bias - bn.running_mean * scale


def tfjs_weights(model):
    out = {}

    def put(name, conv, bn):
        out[f"{name}.weight"], out[f"{name}.bias"] = folded(conv, bn)

    put("conv1", model.conv1, model.bn1)
    for li in range(1, 5):
        for bi, block in enumerate(getattr(model, f"layer{li}")):
            prefix = f"layer{li}.{bi}"
            for ci in (1, 2, 3):
                if hasattr(block, f"conv{ci}"):
                    put(f"{prefix}.conv{ci}", getattr(block, f"conv{ci}"), getattr(block, f"bn{ci}"))
            if block.downsample is not None:
                put(f"{prefix}.downsample.0", block.downsample[0], block.downsample[1])
    out["fc.weight"] = model.fc.weight.t().contiguous()
    out["fc.bias"] = model.fc.bias
    return {k: v.detach().float() for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--model", required=True, help="model.safetensors (torchvision state_dict)")
    ap.add_argument("--shape", required=True, help="input shape N,C,H,W")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_safetensors(a.model).items()}
    model = getattr(torchvision.models, a.arch)(weights=None, num_classes=state["fc.bias"].shape[0])
    model.load_state_dict(state)
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    shape = [int(d) for d in a.shape.split(",")]
    with torch.no_grad():
        save_safetensors(tfjs_weights(model), os.path.join(a.out, "tfjs.safetensors"))
        # torch ≥ 2.9 exports through dynamo by default; keep the TorchScript exporter that older ones (Debian's) have.
        legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        torch.onnx.export(model, torch.zeros(shape), os.path.join(a.out, "model.onnx"), input_names=["input"], output_names=["logits"], opset_version=17, **legacy)


if __name__ == "__main__":
    main()
