import { builtinModules } from 'node:module';
import { defineConfig } from 'vitest/config';
import pkg from './package.json' with { type: 'json' };

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
      // Runtime dependencies stay imports (users' installs or bundlers resolve them); bundled, the
      // CommonJS ones (pngjs, jpeg-js, cli-progress) cannot require() Node's built-ins from an ES module.
      external: [...builtinModules, ...builtinModules.map((m) => `node:${m}`), ...Object.keys(pkg.dependencies).map((d) => new RegExp(`^${d}(/|$)`))],
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
