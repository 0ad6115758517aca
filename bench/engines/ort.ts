// onnxruntime-web, two builds. `onnxruntime-web/webgpu` is the import ORT's docs give for WebGPU; in
// this version it is the native WebGPU EP (ort-wasm-simd-threaded.asyncify.wasm), while the default
// import still carries the older JSEP. In Node (bench/node-engine.ts) the native EP crashes dawn.node
// (a segfault right after its device is created), so there WebGPU runs on JSEP (`onnxruntime-web/all`).
// `onnxruntime-web/wasm` is the CPU-only build; in Node it cannot find its .wasm, ORT's Node build can.
import type { LoadEngine } from '../engine';

const IN_NODE = typeof window === 'undefined';

async function importOrt(ep: 'webgpu' | 'wasm') {
  if (ep === 'wasm') return IN_NODE ? { ort: await import('onnxruntime-web'), build: 'wasm EP (onnxruntime-web, its Node build)' } : { ort: await import('onnxruntime-web/wasm'), build: 'wasm EP (onnxruntime-web/wasm)' };
  return IN_NODE ? { ort: await import('onnxruntime-web/all'), build: 'WebGPU EP, JSEP (onnxruntime-web/all)' } : { ort: await import('onnxruntime-web/webgpu'), build: 'WebGPU EP (onnxruntime-web/webgpu)' };
}

const load = (ep: 'webgpu' | 'wasm'): LoadEngine =>
  async ({ model: url, input, shape, threads }) => {
    const { ort, build } = await importOrt(ep);
    // In a page: the .wasm beside ORT's own files (served from node_modules), whatever URL the
    // bundler gave ORT's module. Node finds it beside the module by itself.
    if (!IN_NODE) ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    // wasm: every core (the page is cross-origin isolated, so threads work). webgpu: the GPU does the
    // work, and idle wasm threads would only take CPU from SwiftShader.
    ort.env.wasm.numThreads = ep === 'wasm' ? threads : 1;
    // ORT drops to one thread, with a warning, where the page is not cross-origin isolated: numThreads then says so.
    // The bytes, not the URL: ORT in Node reads a string as a file path. Fetched so in pages too, so
    // both time the same download.
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const session = await ort.InferenceSession.create(new Uint8Array(await response.arrayBuffer()), { executionProviders: [ep] });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, shape) };
    const output = session.outputNames[0];
    return {
      description: `onnxruntime-web ${ort.env.versions.web}, ${build}${ep === 'wasm' ? `, ${ort.env.wasm.numThreads} threads` : ''}`,
      run: async () => {
        const result = (await session.run(feeds))[output];
        const logits = result.data as Float32Array; // outputs default to the CPU: this is the read-back
        result.dispose();
        return logits;
      },
      dispose: () => void session.release(),
    };
  };

export const loadWebGpu = load('webgpu');
export const loadWasm = load('wasm');
