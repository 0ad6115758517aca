#!/usr/bin/python3
"""PyTorch reference for face-api's face-recognition ResNet, from face-api's own TF.js weights.

Reads face-api's weights manifest and shard (uint8-quantized; dequantized as TF.js does:
q * scale + min), rebuilds FaceRecognitionNet.forwardInput (src/faceRecognitionNet/ in the npm
package) in float64 PyTorch, and runs it on face crops of real photos from ../shared/images.
Writes into --out: images.npy (N, 150, 150, 3, RGB values 0..255 as float32: what face-api is
given), input.npy (N, 3, 150, 150: the same, minus face-api's mean colour, / 255) and
descriptors.npy (N, 128). Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MEAN_RGB = [122.782, 117.001, 104.298]
BLOCKS = [("conv32_1", 1), ("conv32_2", 1), ("conv32_3", 1),
          ("conv64_down", 2), ("conv64_1", 1), ("conv64_2", 1), ("conv64_3", 1),
          ("conv128_down", 2), ("conv128_1", 1), ("conv128_2", 1),
          ("conv256_down", 2), ("conv256_1", 1), ("conv256_2", 1), ("conv256_down_out", 2)]
# (image, crop box left, top, right, bottom, horizontal flip): every crop is resized to 150x150.
CROPS = [("astronaut.png", (160, 45, 310, 195), False),
         ("astronaut.png", (140, 25, 330, 215), False),
         ("astronaut.png", (160, 45, 310, 195), True),
         ("chelsea.png", (110, 20, 290, 200), False),
         ("coffee.png", (150, 50, 450, 350), False)]


def load_weights(manifest_path):
    groups = json.load(open(manifest_path))
    weights = {}
    for group in groups:
        data = b"".join(open(os.path.join(os.path.dirname(manifest_path), p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"]))
            q = w.get("quantization")
            if q and q["dtype"] == "uint8":
                raw = np.frombuffer(data, np.uint8, n, offset).astype(np.float64)
                values = (raw * q["scale"] + q["min"]).astype(np.float32)  # TF.js stores float32
                offset += n
            else:
                values = np.frombuffer(data, np.float32, n, offset)
                offset += 4 * n
            weights[w["name"]] = torch.from_numpy(values.reshape(w["shape"]).astype(np.float64))
    return weights


def conv_layer(x, w, prefix, stride, relu, pad):
    filters = w[f"{prefix}/conv/filters"].permute(3, 2, 0, 1)  # HWIO -> OIHW
    out = F.conv2d(x, filters, w[f"{prefix}/conv/bias"], stride=stride, padding=pad)
    out = out * w[f"{prefix}/scale/weights"].view(1, -1, 1, 1) + w[f"{prefix}/scale/biases"].view(1, -1, 1, 1)
    return F.relu(out) if relu else out


def forward(x, w):
    out = conv_layer(x, w, "conv32_down", 2, True, 0)  # TF 'valid'
    out = F.max_pool2d(out, 3, 2)
    for name, stride in BLOCKS:
        if stride == 1:
            h = conv_layer(out, w, f"{name}/conv1", 1, True, 1)  # TF 'same' for 3x3/1
            out = F.relu(conv_layer(h, w, f"{name}/conv2", 1, False, 1) + out)
        else:
            h = conv_layer(out, w, f"{name}/conv1", 2, True, 0)  # 'valid'
            h = conv_layer(h, w, f"{name}/conv2", 1, False, 1)
            pooled = F.avg_pool2d(out, 2, 2)
            # face-api appends a zero row and column when the residual comes out smaller...
            h = F.pad(h, (0, pooled.shape[3] - h.shape[3], 0, pooled.shape[2] - h.shape[2]))
            # ...and zero channels after the pooled input's.
            pooled = F.pad(pooled, (0, 0, 0, 0, 0, h.shape[1] - pooled.shape[1]))
            out = F.relu(pooled + h)
    return out.mean(dim=(2, 3)) @ w["fc"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--manifest", required=True, help="face_recognition_model-weights_manifest.json")
    ap.add_argument("--images", required=True, help="folder holding astronaut.png, chelsea.png, coffee.png")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    crops = []
    for image, box, flip in CROPS:
        im = Image.open(os.path.join(a.images, image)).convert("RGB").crop(box)
        if flip:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        crops.append(np.asarray(im.resize((150, 150), Image.BILINEAR), dtype=np.float32))
    images = np.stack(crops)
    x = (images - np.array(MEAN_RGB, np.float32)) / np.float32(255)
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    with torch.no_grad():
        descriptors = forward(torch.from_numpy(x).double(), load_weights(a.manifest)).float().numpy()
    np.save(os.path.join(a.out, "images.npy"), images)
    np.save(os.path.join(a.out, "input.npy"), x)
    np.save(os.path.join(a.out, "descriptors.npy"), descriptors)


if __name__ == "__main__":
    main()
