// What `bench/run.mjs` runs: the bench, the adapter-ceiling probe, or one engine of `--runtime node`.
// `self` is the script that was started, which the bench starts again for each Node engine.
// (Static imports: Vite's module runner is closed once run.mjs has this module.)
import { main as bench } from './bench';
import { main as ceiling } from './ceiling';
import { main as nodeEngine } from './node-engine';

export function main(argv: string[], self: string): Promise<number> {
  if (argv[0] === 'ceiling') return ceiling(argv.slice(1));
  if (argv[0] === 'node-engine') return nodeEngine(argv.slice(1));
  return bench(argv, self);
}
