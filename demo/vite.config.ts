import { cpSync, createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

// The demo page: `npm start` serves it (dev), `npm run build:demo` writes a static site to demo/dist.
const ROOT = resolve(import.meta.dirname, '..');
const MODEL_DIR = join(ROOT, 'weights', 'fashion-mnist-resnet18');
/** Where the page finds the default model, relative to itself (see main.ts). */
const MODEL_URL = '/models/fashion-mnist-resnet18/';

const TYPES: Record<string, string> = { '.json': 'application/json', '.png': 'image/png', '.md': 'text/markdown; charset=utf-8' };

/**
 * The default model (index, shards, sample PNGs) at models/fashion-mnist-resnet18/: served from
 * weights/ by the dev server, copied into the static build. Shards resolve relative to the index's
 * URL, so they must keep their names: Vite's hashed assets would not do.
 */
function defaultModel(): Plugin {
  let outDir = '';
  return {
    name: 'resnet-webgpu-default-model',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use(MODEL_URL, (req, res, next) => {
        const file = resolve(MODEL_DIR, '.' + decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
        if (relative(MODEL_DIR, file).startsWith('..')) return next();
        if (!existsSync(file) || !statSync(file).isFile()) {
          res.statusCode = 404;
          return res.end(`${relative(ROOT, file)} not found`);
        }
        res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
        res.setHeader('Content-Length', statSync(file).size);
        createReadStream(file).pipe(res);
      });
    },
    closeBundle() {
      if (!existsSync(join(MODEL_DIR, 'model.json'))) {
        throw new Error(`${relative(ROOT, MODEL_DIR)}${sep}model.json is missing: package the default model first (scripts/package_default_model.sh)`);
      }
      cpSync(MODEL_DIR, join(outDir, ...MODEL_URL.split('/')), { recursive: true });
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  // Relative asset URLs: the build works from any folder of any static server.
  base: './',
  // A missing file is a 404, never index.html (which a page would then fail to parse as JSON).
  appType: 'mpa',
  plugins: [defaultModel()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  // The page imports ../src directly.
  server: {
    fs: { allow: [ROOT] },
    // The e2e suite sets DEMO_NO_RELOAD: others edit the tree while it runs, and a reload would kill the page mid-test.
    ...(process.env.DEMO_NO_RELOAD ? { hmr: false, watch: null } : {}),
  },
  // Pre-bundle the lazily imported weight readers' dependencies up front: discovering them on first
  // use would reload the page.
  optimizeDeps: { entries: ['index.html'], include: ['fflate', 'protobufjs', 'onnx-proto', '@petamoriken/float16'] },
  cacheDir: join(ROOT, 'node_modules', '.vite-demo'),
  clearScreen: false,
});
