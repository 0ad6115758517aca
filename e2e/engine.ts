// Test page script: exposes `window.runEngine`, which runs the browser library entry end to end
// (WebGPU device, model over HTTP, input .npy over HTTP) and reports logits, adapter and timings.
import { createGpu, describeAdapter, loadModel, ResnetWebGpuError, type Gpu } from '../src/index';
import { readNpy } from '../src/cli/npy';
import { getPipeline } from '../src/runtime/pipelines';

export interface EngineRequest {
  /** URL of a .safetensors file or a shard index, relative to the page. */
  model: string;
  /** URL of a float32 NCHW .npy input. */
  input: string;
  /** Runs after the first one, each timed, for the steady state (default 0). */
  repeats?: number;
}

export type EngineResult =
  | {
      ok: true;
      adapter: string;
      /** The first run's (untuned); and with repeats, the last one's (tuned). */
      logits: number[];
      lastLogits?: number[];
      /** Milliseconds. load: fetch + parse + upload + pipeline compile; first: the first inference; steady: each repeat. */
      ms: { load: number; first: number; steady: number[] };
    }
  | { ok: false; name: string; code?: string; message: string };

declare global {
  interface Window {
    runEngine(request: EngineRequest): Promise<EngineResult>;
    /** Compile a kernel (getPipeline): its error's name and message, or null. */
    compileKernel(name: string, shader: string): Promise<{ name: string; message: string } | null>;
  }
}

let gpu: Promise<Gpu> | undefined;

async function fetchNpy(url: string): Promise<{ data: Float32Array; shape: number[] }> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  return readNpy(new Uint8Array(await response.arrayBuffer()), url);
}

window.runEngine = async ({ model: modelUrl, input: inputUrl, repeats = 0 }) => {
  try {
    const device = await (gpu ??= createGpu());
    const input = await fetchNpy(inputUrl);
    const loadStart = performance.now();
    const model = await loadModel(device, modelUrl);
    const firstStart = performance.now();
    try {
      const logits = await model.run(input.data, input.shape);
      const end = performance.now();
      const steady: number[] = [];
      let last: Float32Array | undefined;
      for (let i = 0; i < repeats; i++) {
        const start = performance.now();
        last = await model.run(input.data, input.shape);
        steady.push(performance.now() - start);
      }
      const ms = { load: firstStart - loadStart, first: end - firstStart, steady };
      return { ok: true, adapter: describeAdapter(device.adapter), logits: Array.from(logits), lastLogits: last && Array.from(last), ms };
    } finally {
      model.dispose();
    }
  } catch (e) {
    // Errors cross into the test as data, so their type (name, code) can be checked there.
    const error = e as Error;
    return { ok: false, name: error.name, code: e instanceof ResnetWebGpuError ? e.code : undefined, message: error.message };
  }
};

window.compileKernel = async (name, shader) => {
  try {
    const pipeline = await getPipeline(await (gpu ??= createGpu()), { name, shader, constants: {} });
    pipeline.getBindGroupLayout(0); // a pipeline that compiled is usable
    return null;
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
};
