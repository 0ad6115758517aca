// Packs the Node bench (`npm run bench -- --runtime node`) for a GPU machine that has no Node and
// no network (the `device` tool's): one bundle of bench/main.ts, Node itself, and the parts of
// `webgpu` and `onnxruntime-web` it loads, xz-compressed into .gpu/ (git-ignored; ~33 MiB), with
// the Vulkan loader's and GLVND's .debs. scripts/gpu_bench.sh unpacks and runs it there.
// Usage: node scripts/gpu_pack.mjs
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.gpu');
const stage = join(out, 'stage');
rmSync(out, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

// The bench's code directly under .gpu/ keeps ROOT (test/fixtures.ts: the bundle's folder's parent) the repository.
await build({
  configFile: false,
  root,
  logLevel: 'warn',
  build: {
    ssr: 'bench/main.ts',
    outDir: stage,
    emptyOutDir: false,
    minify: false,
    // Chunks beside main.mjs, so the engines' code (and the packages only Chromium needs) load when imported.
    rollupOptions: { output: { entryFileNames: 'main.mjs', chunkFileNames: '[name].mjs' } },
  },
  // Everything bundled but the packages that load native code or .wasm beside themselves, and what the Node runtime never loads.
  ssr: { noExternal: true, external: ['webgpu', 'onnxruntime-web', '@playwright/test', 'vite'] },
  resolve: { conditions: ['node'] },
});
writeFileSync(
  join(stage, 'bench.mjs'),
  "import { fileURLToPath } from 'node:url';\nimport { main } from './main.mjs';\nprocess.exitCode = await main(process.argv.slice(2), fileURLToPath(import.meta.url));\n",
);
const copy = (from, to = from) => cpSync(join(root, 'node_modules', from), join(stage, 'node_modules', to), { recursive: true });
for (const f of ['package.json', 'index.js', 'dist/linux-x64/dawn.node']) copy(join('webgpu', f));
// JSEP (WebGPU in Node, see bench/engines/ort.ts); the CPU build stays behind (no ort-wasm there).
for (const f of ['package.json', 'dist/ort.all.bundle.min.mjs', 'dist/ort-wasm-simd-threaded.jsep.mjs', 'dist/ort-wasm-simd-threaded.jsep.wasm']) copy(join('onnxruntime-web', f));
cpSync(process.execPath, join(stage, 'node'));
execFileSync('tar', ['-cJf', join(out, 'payload.tar.xz'), '-C', stage, '.'], { env: { ...process.env, XZ_OPT: '-6 -T0' } });
rmSync(stage, { recursive: true });
// The Vulkan loader, and the GLVND libraries NVIDIA's Vulkan driver (libGLX_nvidia.so.0) loads.
execFileSync('apt-get', ['download', 'libvulkan1', 'libglvnd0', 'libglx0', 'libgl1', 'libegl1', 'libopengl0', 'libgles2'], { cwd: out, stdio: 'inherit' });
console.log(execFileSync('du', ['-sh', out], { encoding: 'utf8' }).trim());
