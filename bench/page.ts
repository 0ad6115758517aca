// Bench page script: `window.runBench` measures one engine (run-engine.ts). Node (bench/bench.ts)
// opens a fresh browser for each engine.
import type { EngineName, PageRequest, PageResult } from './engine';
import { ENGINE_CODE, runEngine } from './run-engine';

declare global {
  interface Window {
    runBench(request: PageRequest): Promise<PageResult>;
    loadEngineCode(engines: EngineName[]): Promise<void>;
  }
}

/** JS heaps and wasm memories of the page and its workers; needs cross-origin isolation. */
async function pageMemory(): Promise<number | undefined> {
  const measure = (performance as Performance & { measureUserAgentSpecificMemory?(): Promise<{ bytes: number }> }).measureUserAgentSpecificMemory;
  return crossOriginIsolated && measure ? (await measure.call(performance)).bytes : undefined;
}

// Imports the engines' code without running anything: the dev server bundles and transforms it on
// first request, work that must not overlap the first engine's timing.
window.loadEngineCode = async (engines) => void (await Promise.all(engines.map((engine) => ENGINE_CODE[engine]())));

window.runBench = (request) => runEngine(request, { bytes: pageMemory, measure: 'page memory (JS heaps + wasm), measureUserAgentSpecificMemory after the runs' });
