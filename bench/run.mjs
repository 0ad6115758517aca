// `npm run bench`. Node runs no TypeScript, so Vite's module runner loads bench/bench.ts.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runnerImport } from 'vite';

/** Run the bench with command-line arguments (see `--help`), or with `ceiling` first the adapter-ceiling probe; resolves to the exit code. */
export async function bench(argv) {
  const [file, args] = argv[0] === 'ceiling' ? ['./ceiling.ts', argv.slice(1)] : ['./bench.ts', argv];
  const { module } = await runnerImport(fileURLToPath(new URL(file, import.meta.url)));
  return module.main(args);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await bench(process.argv.slice(2));
