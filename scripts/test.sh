#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: the system packages the tests need (as root,
# via apt-get), the npm packages, then typecheck, Vitest (Node + Dawn) and Playwright (Chromium),
# ending with one line of totals.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # chromium: browser tests, and SwiftShader (WebGPU without a GPU) for Dawn in Node too;
  # libvulkan1: the Vulkan loader Dawn opens in Node (Chromium ships its own, not on the search path);
  # torch/torchvision/onnx: reference numerics; libonnx-testdata: ONNX's node tests;
  # dataset-fashion-mnist: the default model's evaluation set.
  apt-get install -y -qq --no-install-recommends \
    chromium libvulkan1 python3-torch python3-torchvision python3-onnx python3-numpy python3-pil \
    libonnx-testdata dataset-fashion-mnist >/dev/null || exit 1
fi

npm ci --no-audit --no-fund || exit 1
mkdir -p .cache
npm run typecheck || exit 1

npx vitest run --reporter=default --reporter=json --outputFile=.cache/vitest.json
unit=$?
PLAYWRIGHT_JSON_OUTPUT_NAME=.cache/playwright.json npx playwright test --reporter=list,json
e2e=$?

node -e '
const fs = require("fs");
const read = (f) => (fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : undefined);
const v = read(".cache/vitest.json"), p = read(".cache/playwright.json");
const passed = (v?.numPassedTests ?? 0) + (p?.stats?.expected ?? 0);
const failed = (v?.numFailedTests ?? 0) + (p?.stats?.unexpected ?? 0) + (p?.stats?.flaky ?? 0);
const skipped = (v?.numPendingTests ?? 0) + (v?.numTodoTests ?? 0) + (p?.stats?.skipped ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
'
[ "$unit" = 0 ] && [ "$e2e" = 0 ]
