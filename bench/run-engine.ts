// One engine's measurement, the same in a bench page (page.ts) and a Node process (node-engine.ts):
// load it, time its first result and steady runs, and measure memory.
import { readNpy } from '../src/cli/npy';
import type { EngineName, LoadEngine, Memory, PageRequest, PageResult } from './engine';

// Count bytes in GPU buffers whatever engine creates them, before any engine runs: the one memory
// figure every WebGPU engine can be held to (buffers dropped without destroy() stay counted).
let gpuLive = 0;
let gpuPeak = 0;
if (globalThis.GPUDevice) {
  const create = GPUDevice.prototype.createBuffer;
  const destroy = GPUBuffer.prototype.destroy;
  const destroyed = new WeakSet<GPUBuffer>();
  GPUDevice.prototype.createBuffer = function (descriptor) {
    const buffer = create.call(this, descriptor);
    gpuPeak = Math.max(gpuPeak, (gpuLive += buffer.size));
    return buffer;
  };
  GPUBuffer.prototype.destroy = function () {
    if (!destroyed.has(this)) gpuLive -= this.size;
    destroyed.add(this);
    return destroy.call(this);
  };
}

/** Each engine's loader, its code imported on first call. */
export const ENGINE_CODE: Record<EngineName, () => Promise<LoadEngine>> = {
  ours: async () => (await import('./engines/ours')).load,
  'ort-webgpu': async () => (await import('./engines/ort')).loadWebGpu,
  'tfjs-webgpu': async () => (await import('./engines/tfjs')).load,
  'ort-wasm': async () => (await import('./engines/ort')).loadWasm,
};

async function adapterName(): Promise<string> {
  const info = (await navigator.gpu?.requestAdapter())?.info;
  return info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ') : 'no WebGPU adapter';
}

/** What the host can say about its own memory (JS heaps and wasm memories) after the runs. */
export interface HostMemory {
  bytes(): Promise<number | undefined>;
  /** What `bytes` counts, in words for the report. */
  measure: string;
}

export async function runEngine({ engine, model, input: inputUrl, warmup, runs, threads, profile }: PageRequest, host: HostMemory): Promise<PageResult> {
  const response = await fetch(inputUrl);
  if (!response.ok) throw new Error(`${inputUrl}: HTTP ${response.status}`);
  const { data: input, shape } = readNpy(new Uint8Array(await response.arrayBuffer()), inputUrl);
  // The library's code is loaded before the clock starts; its weights, wasm and shaders after.
  const load = await ENGINE_CODE[engine]();
  const start = performance.now();
  const instance = await load({ model, input, shape, threads });
  const logits = await instance.run();
  const firstResultMs = performance.now() - start;
  const warmupMs: number[] = [];
  for (let i = 0; i < warmup; i++) {
    const t = performance.now();
    await instance.run();
    warmupMs.push(performance.now() - t);
  }
  const runsMs: number[] = [];
  let last = logits;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    last = await instance.run();
    runsMs.push(performance.now() - t);
  }
  const steps = profile ? await instance.profile?.() : undefined;
  const pageMemoryBytes = await host.bytes();
  const memory: Memory =
    instance.memory?.() ??
    (engine === 'ort-wasm'
      ? // Wasm memory only grows, so after the runs it holds the peak.
        { bytes: pageMemoryBytes ?? NaN, measure: host.measure }
      : { bytes: gpuPeak, measure: 'GPU buffers, createBuffer/destroy hook high-water mark' });
  const kernels = instance.kernels?.();
  instance.dispose();
  return {
    description: instance.description,
    adapter: await adapterName(),
    firstResultMs,
    warmupMs,
    runsMs,
    logits: Array.from(logits),
    lastLogits: Array.from(last),
    memory,
    gpuBufferPeakBytes: gpuPeak,
    pageMemoryBytes,
    profile: steps,
    kernels,
  };
}
