// onnxruntime-web, two builds. `onnxruntime-web/webgpu` is the import ORT's docs give for WebGPU; in
// this version it is the native WebGPU EP (ort-wasm-simd-threaded.asyncify.wasm), while the default
// `onnxruntime-web` import still carries the older JSEP. `onnxruntime-web/wasm` is the CPU-only build.
import type { LoadEngine } from '../engine';

const load = (ep: 'webgpu' | 'wasm'): LoadEngine =>
  async ({ model: url, input, shape, threads }) => {
    const ort = ep === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
    // The .wasm beside ORT's own files (served from node_modules), whatever URL the bundler gave ORT's module.
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    // wasm: every core (the page is cross-origin isolated, so threads work). webgpu: the GPU does the
    // work, and idle wasm threads would only take CPU from SwiftShader.
    ort.env.wasm.numThreads = ep === 'wasm' ? threads : 1;
    // ORT drops to one thread, with a warning, where the page is not cross-origin isolated: numThreads then says so.
    const session = await ort.InferenceSession.create(url, { executionProviders: [ep] });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, shape) };
    const output = session.outputNames[0];
    return {
      description: `onnxruntime-web ${ort.env.versions.web}, ${ep === 'webgpu' ? 'WebGPU EP (onnxruntime-web/webgpu)' : `wasm EP (onnxruntime-web/wasm), ${ort.env.wasm.numThreads} threads`}`,
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
