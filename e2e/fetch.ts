// Test page script: exposes `window.loadFromWeb`, which loads a model with loadModel (Cache API,
// progress events) and runs one input through it, and `window.cachedAfter`, which shows when
// fetchWeights writes to the Cache API.
import { CACHE_NAME, createGpu, fetchWeights, loadModel, type Gpu, type LoadOptions, type LoadProgress } from '../src/index';
import { readNpy } from '../src/cli/npy';

export interface FetchResult {
  progress: LoadProgress[];
  labels?: string[];
  logits: number[];
}

declare global {
  interface Window {
    loadFromWeb(source: string, options: Omit<LoadOptions, 'onProgress'>, inputUrl: string): Promise<FetchResult>;
    cachedAfter(url: string): Promise<{ beforeGate: boolean; afterGate: boolean }>;
  }
}

let gpu: Promise<Gpu> | undefined;

window.loadFromWeb = async (source, options, inputUrl) => {
  const progress: LoadProgress[] = [];
  const model = await loadModel(await (gpu ??= createGpu()), source, { ...options, onProgress: (p) => progress.push({ ...p }) });
  try {
    const input = readNpy(new Uint8Array(await (await fetch(inputUrl)).arrayBuffer()), inputUrl);
    return { progress, labels: model.meta.labels, logits: Array.from(await model.run(input.data, input.shape)) };
  } finally {
    model.dispose();
  }
};

/** Whether `url` is in the Cache API once fetchWeights has returned, and once its `storeAfter` gate has opened. */
window.cachedAfter = async (url) => {
  const cache = await caches.open(CACHE_NAME);
  const cached = async (): Promise<boolean> => (await cache.match(new URL(url, location.href).href)) !== undefined;
  let open!: () => void;
  await fetchWeights(url, {}, new Promise<void>((resolve) => (open = resolve)));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const beforeGate = await cached();
  open();
  for (let i = 0; i < 100 && !(await cached()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return { beforeGate, afterGate: await cached() };
};
