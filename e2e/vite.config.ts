import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// Dev server for the Playwright pages (started by playwright.config.ts): serves the repository root,
// so e2e/engine.html imports src/ directly and fetches fixtures from /.cache/fixtures.
export default defineConfig({
  root: resolve(import.meta.dirname, '..'),
  // Others edit the working tree while the suite runs: a reload mid-test would kill the page.
  server: { hmr: false, watch: null },
  // Pre-bundle the page's dependencies up front, so a late discovery cannot restart the page.
  optimizeDeps: { entries: ['e2e/engine.html'] },
  // Its own pre-bundle cache, apart from any other dev server on the same tree.
  cacheDir: 'node_modules/.vite-e2e',
  clearScreen: false,
});
