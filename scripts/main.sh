#!/bin/sh
# The main job: on a Debian machine with Node >= 20, install what is missing, build, and classify
# the bundled Fashion-MNIST samples with the bundled model, printing each sample's top classes.
# Without a GPU, Dawn runs on SwiftShader, which ships with Debian's chromium package, through the
# Vulkan loader (libvulkan1): both are installed (apt-get, as root) only when no WebGPU adapter
# can be had otherwise.
set -eu
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*" >&2; }

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null || ! command -v npm >/dev/null; then
  echo "main.sh: needs Node.js >= 20 and npm (found: $(node --version 2>/dev/null || echo no node))" >&2
  exit 1
fi

if [ ! -d node_modules ]; then
  say 'npm ci (its prepare script builds dist/)'
  npm ci --no-audit --no-fund >&2
else
  say 'npm run build'
  npm run build >/dev/null
fi

# Dawn's start-up warnings go to /dev/null: this only asks whether any adapter comes up.
has_adapter() {
  node -e 'import("./dist/node.js").then((m) => m.createNodeGpu()).then(() => process.exit(0), () => process.exit(1))' >/dev/null 2>&1
}
if ! has_adapter; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo 'main.sh: no WebGPU adapter; as root, `apt-get install chromium libvulkan1` provides SwiftShader (a CPU Vulkan driver) and the Vulkan loader' >&2
    exit 1
  fi
  say 'no WebGPU adapter: apt-get install chromium libvulkan1 (SwiftShader and the Vulkan loader)'
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium libvulkan1 >&2
fi

say 'classify weights/fashion-mnist-resnet18/samples/*.png (bundled model)'
node bin/resnet-webgpu.js classify --top 3 weights/fashion-mnist-resnet18/samples/*.png
