#!/bin/sh
# Package the default model: scripts/train_fashion_mnist.py's output (.cache/default-model, or $1)
# -> weights/fashion-mnist-resnet18/: f16 shards with labels and preprocessing (`resnet-webgpu
# convert`), the training log, then PyTorch's predictions with those same f16 weights and the
# bundled samples (scripts/package_default_model.py). Needs the CLI built (npm run build).
set -eu
cd "$(dirname "$0")/.."
SRC=${1:-.cache/default-model}
OUT=weights/fashion-mnist-resnet18

# The training's mean/std on every channel; 28x28 in, nothing resized or cropped.
PREPROCESS=$(/usr/bin/python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))["input"]
print(json.dumps({"resize": 28, "cropH": 28, "cropW": 28, "mean": [i["mean"]] * 3, "std": [i["std"]] * 3, "grayscale": True}))
' "$SRC/train-log.json")

rm -f "$OUT"/weights-*.bin
node bin/resnet-webgpu.js convert "$SRC/model.safetensors" --out "$OUT" --dtype f16 --shard-bytes 4194304 \
  --labels "$SRC/labels.json" --preprocess "$PREPROCESS"
cp "$SRC/train-log.json" "$OUT/train-log.json"
rm -rf "$OUT/samples"
/usr/bin/python3 scripts/package_default_model.py "$OUT" --f32-predictions "$SRC/predictions.npy"
