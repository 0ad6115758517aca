#!/bin/bash
# On the GPU machine (the device tool: no Node, no network), from the repository root, with .gpu/
# carried (node scripts/gpu_pack.mjs made it): unpack, then run the Node bench with the given arguments.
# Writes into $OUT when it is set.
set -euo pipefail
for deb in .gpu/*.deb; do dpkg -x "$deb" /; done
ldconfig
python3 -c "import tarfile; tarfile.open('.gpu/payload.tar.xz').extractall('.gpu')"
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES=$icd; fi
export TORCH_PYTHON="${TORCH_PYTHON:-python3}"
exec .gpu/node .gpu/bench.mjs --runtime node "$@"
