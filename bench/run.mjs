// `npm run bench`. Node runs no TypeScript, so Vite's module runner loads bench/bench.ts.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runnerImport } from 'vite';

/** Run the bench with command-line arguments (see `--help`); resolves to the exit code. */
export async function bench(argv) {
  const { module } = await runnerImport(fileURLToPath(new URL('./bench.ts', import.meta.url)));
  return module.main(argv);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await bench(process.argv.slice(2));
