// Test page script: exposes `window.loadFromWeb`, which loads a model with loadModel (Cache API,
// progress events) and runs one input through it.
import { createGpu, loadModel, type Gpu, type LoadOptions, type LoadProgress } from '../src/index';
import { readNpy } from '../src/cli/npy';

export interface FetchResult {
  progress: LoadProgress[];
  labels?: string[];
  logits: number[];
}

declare global {
  interface Window {
    loadFromWeb(source: string, options: Omit<LoadOptions, 'onProgress'>, inputUrl: string): Promise<FetchResult>;
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
