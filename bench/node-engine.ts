// One engine in a fresh Node process on Dawn (`npm run bench -- --runtime node`): what a bench
// page is in Chromium. The engines' code is the same; Dawn stands in for navigator.gpu and a small
// file server for the dev server. Runs as `bench/run.mjs node-engine --request JSON --out FILE`.
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { create } from 'webgpu';
// First: it puts Dawn's GPUDevice & co. on globalThis, which run-engine.ts hooks when it loads.
import { createNodeGpu, DAWN_OPTIONS } from '../src/node';
import { ROOT } from '../test/fixtures';
import type { PageRequest } from './engine';
import { runEngine } from './run-engine';

/** navigator.gpu from Dawn: the machine's GPU, else SwiftShader as createNodeGpu finds it. */
async function installNavigatorGpu(): Promise<void> {
  // createNodeGpu settles which adapter this machine has (and points Vulkan at SwiftShader if it must).
  const probe = await createNodeGpu({ tuneCache: { get: () => undefined, set: () => {} } });
  const fallback = probe.adapter.isFallbackAdapter;
  probe.device.destroy();
  const dawn = create(DAWN_OPTIONS);
  const gpu: Pick<GPU, 'requestAdapter' | 'getPreferredCanvasFormat' | 'wgslLanguageFeatures'> = {
    requestAdapter: (options) => dawn.requestAdapter({ ...options, forceFallbackAdapter: fallback || options?.forceFallbackAdapter }),
    getPreferredCanvasFormat: () => 'rgba8unorm',
    wgslLanguageFeatures: dawn.wgslLanguageFeatures,
  };
  // Node 20 has no navigator; later ones have one without gpu.
  (globalThis as { navigator?: object }).navigator ??= {};
  Object.defineProperty(navigator, 'gpu', { value: gpu, configurable: true });
  // The spec's writeBuffer takes an ArrayBuffer with byte offsets too, and ORT passes its (shared)
  // wasm memory so; dawn.node takes unshared typed arrays only.
  const writeBuffer = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset = 0, size?: number) {
    if (ArrayBuffer.isView(data)) return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
    const bytes = new Uint8Array(data, dataOffset, size ?? data.byteLength - dataOffset);
    return writeBuffer.call(this, buffer, offset, data instanceof SharedArrayBuffer ? bytes.slice() : (bytes as Uint8Array<ArrayBuffer>));
  } as typeof writeBuffer;
}

/** The repository's files over HTTP on 127.0.0.1, as the engines fetch them in a page. */
async function serveRoot(): Promise<{ origin: string; close(): void }> {
  const server = createServer((request, response) => {
    const path = join(ROOT, normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://host').pathname)));
    const stat = path.startsWith(ROOT + sep) ? statSync(path, { throwIfNoEntry: false }) : undefined;
    if (!stat?.isFile()) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-length': stat.size });
    createReadStream(path).pipe(response);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { request: { type: 'string' }, out: { type: 'string' } } });
  if (!values.request || !values.out) throw new Error('node-engine needs --request JSON and --out FILE');
  const request = JSON.parse(values.request) as PageRequest;
  const server = await serveRoot();
  try {
    await installNavigatorGpu();
    const result = await runEngine(
      { ...request, model: server.origin + request.model, input: server.origin + request.input },
      // Wasm memories are ArrayBuffers to Node, so this counts them with the JS heap.
      { bytes: async () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers, measure: 'process memory (JS heap + ArrayBuffers, wasm memories included) after the runs' },
    );
    writeFileSync(values.out, JSON.stringify(result));
  } catch (e) {
    // The last line is what the bench reports (Node's own report of an uncaught error would print minified source).
    console.error(`${request.engine}: ${(e as Error).stack ?? e}\n${(e as Error).message.split('\n')[0]}`);
    return 1;
  } finally {
    server.close();
  }
  return 0;
}
