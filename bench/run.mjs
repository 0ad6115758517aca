// `npm run bench`. Node runs no TypeScript, so a Vite module runner loads bench/main.ts. It stays
// open while the bench runs: engines import their code (ORT's builds) as they load.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createServer, createServerModuleRunner } from 'vite';

const self = fileURLToPath(import.meta.url);

/** Run the bench with command-line arguments (see `--help`), or with `ceiling` first the adapter-ceiling probe; resolves to the exit code. */
export async function bench(argv) {
  const server = await createServer({ configFile: false, logLevel: 'warn', appType: 'custom', server: { middlewareMode: true, hmr: false, ws: false, watch: null } });
  const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
  try {
    return await (await runner.import(fileURLToPath(new URL('./main.ts', import.meta.url)))).main(argv, self);
  } finally {
    await runner.close();
    await server.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await bench(process.argv.slice(2));
