import { builtinModules } from 'node:module';
import { defineConfig } from 'vitest/config';

// One config: `vite build` makes the library (browser entry, Node entry, CLI) with WGSL inlined as
// strings; Vitest runs the unit and model tests in Node against Dawn.
export default defineConfig({
  build: {
    target: 'es2022',
    outDir: 'dist',
    sourcemap: true,
    lib: {
      entry: { index: 'src/index.ts', node: 'src/node.ts', cli: 'src/cli/main.ts' },
      formats: ['es'],
    },
    rollupOptions: {
      // Runtime dependencies stay imports: the CommonJS ones (pngjs, jpeg-js, cli-progress) require() Node builtins, which an ES bundle cannot.
      external: [...builtinModules, ...builtinModules.map((m) => `node:${m}`), 'webgpu', 'commander', '@petamoriken/float16', 'cli-progress', 'pngjs', 'jpeg-js'],
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // SwiftShader uses every core; test files in parallel would only fight over them.
    fileParallelism: false,
  },
});
