#!/usr/bin/python3
"""Weights in the forms users have them, with PyTorch's logits, for the reader tests.

Builds a seeded model (as torch_reference.py does: BatchNorm calibrated on random batches, affine
parameters randomised), saves it in one --format, and writes input.npy (float32 NCHW) and
logits.npy (float64 forward, stored float32) beside it, into --out. Models: a torchvision
architecture (resnet18, ...), preact-resnet18 (pre-activation ResNet v2, written here) or
cifar-resnet20 (the common CIFAR ResNet: 3x3 stem, three stages, option-A shortcuts).
Run with Debian's /usr/bin/python3.

Formats (file names in --out):
  pth             model.pth: torch.save(state_dict), zip serialisation
  pth-legacy      model.pth: torch.save(state_dict, _use_new_zipfile_serialization=False)
  pth-checkpoint  model.pth.tar: {"epoch", "state_dict" (DataParallel's module. names), "best_prec1"}
  hf-safetensors  model.safetensors with Hugging Face ResNetForImageClassification names
  hf-sharded      model.safetensors.index.json + model-0000N-of-00003.safetensors, HF names
  hf-bin-sharded  pytorch_model.bin.index.json + pytorch_model-0000N-of-00002.bin, HF names
  onnx            model.onnx: torch.onnx.export in eval mode (BatchNorm folded into Conv)
  onnx-unfolded   model.onnx: TrainingMode.PRESERVE, no constant folding (BatchNormalization kept)
  onnx-external   model.onnx + model.onnx.data: folded, every initializer in the external file
  tfjs-keras-Q    model.json + group1-shardNofM.bin: a TF.js layers model named as Keras's
                  ResNet50/101/152 (v1: --variant v1; conv biases, BatchNorm epsilon 1.001e-5),
                  weights quantized as Q = uint8, uint16, float16 or float32 (none); the logits
                  are those of the dequantized weights
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import calibrate_batchnorm, save_safetensors, seeded_resnet  # noqa: E402


class PreActBlock(nn.Module):
    """He et al. 2016, "Identity Mappings in Deep Residual Networks": BN-ReLU before each conv."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.downsample = nn.Conv2d(inplanes, planes, 1, stride, bias=False) if stride != 1 or inplanes != planes else None

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.downsample(out) if self.downsample is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    def __init__(self, layers, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, inplanes = [], 64
        for stage, (n, planes) in enumerate(zip(layers, [64, 128, 256, 512])):
            for b in range(n):
                blocks.append(PreActBlock(inplanes, planes, 2 if b == 0 and stage > 0 else 1))
                inplanes = planes
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.BatchNorm2d(512)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.blocks(self.maxpool(self.conv1(x)))
        x = F.adaptive_avg_pool2d(F.relu(self.norm(x)), 1)
        return self.fc(torch.flatten(x, 1))


class CifarBlock(nn.Module):
    """The CIFAR ResNet's basic block with option-A shortcuts: every other pixel, zero channels on both sides."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.option_a = stride != 1 or inplanes != planes
        self.pad = (planes - inplanes) // 2

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad)) if self.option_a else x
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    def __init__(self, n, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, inplanes = [], 16
        for stage, planes in enumerate([16, 32, 64]):
            blocks = [CifarBlock(inplanes if b == 0 else planes, planes, 2 if b == 0 and stage > 0 else 1) for b in range(n)]
            inplanes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1)  # the original averages over its 8x8 map: the same, and traceable
        return self.linear(out.view(out.size(0), -1))


def build(name, classes, seed, in_size, variant):
    if name == "preact-resnet18":
        torch.manual_seed(seed)
        return calibrate_batchnorm(PreActResNet([2, 2, 2, 2], classes), seed, in_size)
    if name == "cifar-resnet20":
        torch.manual_seed(seed)
        return calibrate_batchnorm(CifarResNet(3, classes), seed, in_size)
    return seeded_resnet(name, classes, seed, variant, in_size)


# torchvision names -> Hugging Face transformers' ResNetForImageClassification names.
HF_RULES = [
    (r"^conv1\.weight$", "resnet.embedder.embedder.convolution.weight"),
    (r"^bn1\.(\w+)$", r"resnet.embedder.embedder.normalization.\1"),
    (r"^layer(\d+)\.(\d+)\.downsample\.0\.weight$", lambda m: f"resnet.encoder.stages.{int(m[1]) - 1}.layers.{m[2]}.shortcut.convolution.weight"),
    (r"^layer(\d+)\.(\d+)\.downsample\.1\.(\w+)$", lambda m: f"resnet.encoder.stages.{int(m[1]) - 1}.layers.{m[2]}.shortcut.normalization.{m[3]}"),
    (r"^layer(\d+)\.(\d+)\.conv(\d)\.weight$", lambda m: f"resnet.encoder.stages.{int(m[1]) - 1}.layers.{m[2]}.layer.{int(m[3]) - 1}.convolution.weight"),
    (r"^layer(\d+)\.(\d+)\.bn(\d)\.(\w+)$", lambda m: f"resnet.encoder.stages.{int(m[1]) - 1}.layers.{m[2]}.layer.{int(m[3]) - 1}.normalization.{m[4]}"),
    (r"^fc\.(weight|bias)$", r"classifier.1.\1"),
]


def hf_name(name):
    for pattern, repl in HF_RULES:
        if re.match(pattern, name):
            return re.sub(pattern, repl, name)
    raise KeyError(name)


def split(state, parts):
    names = list(state)
    size = -(-len(names) // parts)
    return [{k: state[k] for k in names[i * size:(i + 1) * size]} for i in range(parts)]


KERAS_EPS = 1.001e-5


def keras_names(model):
    """(torchvision conv, Keras layer) pairs of a Keras ResNet v1: conv1_conv, conv{S}_block{B}_{K}_conv (0 = shortcut)."""
    pairs = [("conv1", "conv1")]
    for s, layer in enumerate([model.layer1, model.layer2, model.layer3, model.layer4]):
        for b, block in enumerate(layer):
            prefix = f"conv{s + 2}_block{b + 1}"
            if block.downsample is not None:
                pairs.append((f"layer{s + 1}.{b}.downsample", f"{prefix}_0"))
            pairs += [(f"layer{s + 1}.{b}.conv{k}", f"{prefix}_{k}") for k in (1, 2, 3)]
    return pairs


def quantize(values, dtype):
    """TF.js converter's affine quantization (nudged min) or float16; returns (bytes, quantization, dequantized values)."""
    values = values.astype(np.float32)
    if dtype == "none":
        return values.tobytes(), None, values
    if dtype == "float16":
        half = values.astype(np.float16)
        return half.tobytes(), {"dtype": "float16"}, half.astype(np.float32)
    qtype = {"uint8": np.uint8, "uint16": np.uint16}[dtype]
    levels = np.iinfo(qtype).max
    lo, hi = float(values.min()), float(values.max())
    scale = (hi - lo) / levels if hi > lo else 1.0
    nudged = round(lo / scale) * scale
    q = np.clip(np.round((values - nudged) / scale), 0, levels).astype(qtype)
    return q.tobytes(), {"dtype": dtype, "scale": scale, "min": nudged}, (q.astype(np.float64) * scale + nudged).astype(np.float32)


def save_keras_tfjs(model, quantization, out):
    """Write a Keras-named TF.js layers model and load the weights it holds (dequantized) back into `model`."""
    g = torch.Generator().manual_seed(7)
    state = {k: v.double() for k, v in model.state_dict().items()}
    modules = dict(model.named_modules())
    weights, blobs, layers = [], [], []

    def put(name, array):
        data, q, back = quantize(array, quantization)
        spec = {"name": name, "shape": list(array.shape), "dtype": "float32"}
        if q:
            spec["quantization"] = q
        weights.append(spec)
        blobs.append(data)
        return torch.from_numpy(back.astype(np.float64))

    for conv, keras in keras_names(model):
        weight_key = f"{conv}.0.weight" if conv.endswith("downsample") else f"{conv}.weight"
        bn = f"{conv}.1" if conv.endswith("downsample") else re.sub(r"conv(\d)$", r"bn\1", conv)
        # A Keras conv has a bias; give it one and shift the moving mean by it: the same function.
        bias = 0.1 * torch.randn(state[weight_key].shape[0], generator=g, dtype=torch.float64)
        state[weight_key] = put(f"{keras}_conv/kernel", state[weight_key].permute(2, 3, 1, 0).numpy()).permute(3, 2, 0, 1)
        bias = put(f"{keras}_conv/bias", bias.numpy())
        state[f"{bn}.weight"] = put(f"{keras}_bn/gamma", state[f"{bn}.weight"].numpy())
        state[f"{bn}.bias"] = put(f"{keras}_bn/beta", state[f"{bn}.bias"].numpy())
        state[f"{bn}.running_mean"] = put(f"{keras}_bn/moving_mean", (state[f"{bn}.running_mean"] + bias).numpy()) - bias
        state[f"{bn}.running_var"] = put(f"{keras}_bn/moving_variance", state[f"{bn}.running_var"].numpy())
        modules[bn].eps = KERAS_EPS
        layers += [{"class_name": "Conv2D", "config": {"name": f"{keras}_conv"}}, {"class_name": "BatchNormalization", "config": {"name": f"{keras}_bn", "epsilon": KERAS_EPS}}]
    state["fc.weight"] = put("predictions/kernel", state["fc.weight"].t().numpy()).t()
    state["fc.bias"] = put("predictions/bias", state["fc.bias"].numpy())
    layers.append({"class_name": "Dense", "config": {"name": "predictions", "activation": "softmax"}})
    stream = b"".join(blobs)
    shard = 4 * 2**20  # the converter's default shard size
    paths = [f"group1-shard{i + 1}of{-(-len(stream) // shard)}.bin" for i in range(-(-len(stream) // shard))]
    for i, path in enumerate(paths):
        with open(os.path.join(out, path), "wb") as f:
            f.write(stream[i * shard:(i + 1) * shard])
    topology = {"class_name": "Functional", "config": {"name": "resnet", "layers": layers}, "keras_version": "2.13.1", "backend": "tensorflow"}
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump({"format": "layers-model", "generatedBy": "keras v2.13.1", "convertedBy": "scripts/weights_reference.py",
                   "modelTopology": {"model_config": topology}, "weightsManifest": [{"paths": paths, "weights": weights}]}, f)
    model.double().load_state_dict(state)


def save(model, fmt, x, out):
    state = model.state_dict()
    if fmt == "pth":
        torch.save(state, os.path.join(out, "model.pth"))
    elif fmt == "pth-legacy":
        torch.save(state, os.path.join(out, "model.pth"), _use_new_zipfile_serialization=False)
    elif fmt == "pth-checkpoint":
        wrapped = {f"module.{k}": v for k, v in state.items()}
        torch.save({"epoch": 200, "state_dict": wrapped, "best_prec1": 91.73}, os.path.join(out, "model.pth.tar"))
    elif fmt == "hf-safetensors":
        save_safetensors({hf_name(k): v for k, v in state.items()}, os.path.join(out, "model.safetensors"))
    elif fmt in ("hf-sharded", "hf-bin-sharded"):
        hf = {hf_name(k): v for k, v in state.items()}
        safetensors = fmt == "hf-sharded"
        parts = split(hf, 3 if safetensors else 2)
        weight_map = {}
        for i, part in enumerate(parts):
            shard = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors" if safetensors else f"pytorch_model-{i + 1:05d}-of-{len(parts):05d}.bin"
            if safetensors:
                save_safetensors(part, os.path.join(out, shard))
            else:
                torch.save(part, os.path.join(out, shard))
            weight_map.update({k: shard for k in part})
        total = sum(v.numel() * v.element_size() for v in hf.values())
        index = "model.safetensors.index.json" if safetensors else "pytorch_model.bin.index.json"
        with open(os.path.join(out, index), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    elif fmt in ("onnx", "onnx-external"):
        path = os.path.join(out, "model.onnx")
        torch.onnx.export(model, x, path, input_names=["input"], output_names=["logits"], opset_version=13)
        if fmt == "onnx-external":
            import onnx

            m = onnx.load(path)
            onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    elif fmt == "onnx-unfolded":
        torch.onnx.export(model, x, os.path.join(out, "model.onnx"), input_names=["input"], output_names=["logits"], opset_version=13,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    elif fmt.startswith("tfjs-keras-"):
        save_keras_tfjs(model, fmt[len("tfjs-keras-"):], out)
    else:
        raise SystemExit(f"unknown format {fmt}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--format", required=True)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--variant", default="v1.5", choices=["v1.5", "v1"], help="torchvision models: where bottlenecks stride")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = build(a.model, a.classes, a.seed, min(a.height, a.width, 64), a.variant)
    x = torch.randn(a.batch, 3, a.height, a.width, generator=torch.Generator().manual_seed(a.seed + 2))
    save(model, a.format, x, a.out)
    with torch.no_grad():
        logits = model.double()(x.double()).float()
    np.save(os.path.join(a.out, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(a.out, "logits.npy"), logits.numpy())


if __name__ == "__main__":
    main()
