// Loading from the web (loadModel / fetchWeights) against a local server laid out like the Hugging
// Face Hub (test/hf-server.ts): hf: resolution, progress, retries, sha256 checks and clear failures.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetchWeights, loadModel, parseSafetensors, readWeightsFile, writeShards, type LoadProgress, type ResNetModel } from '../src/node';
import { compare, torchReference, type Reference } from './fixtures';
import { weightsError } from './expect-error';
import { testGpu } from './gpu';
import { startWebServer, type WebServer } from './hf-server';

const LABELS = Array.from({ length: 10 }, (_, i) => `class ${i}`);
const CONFIG = new TextEncoder().encode(JSON.stringify({ architectures: ['ResNetForImageClassification'], id2label: Object.fromEntries(LABELS.map((l, i) => [i, l])) }));
let ref: Reference;
let modelBytes: Uint8Array;
let server: WebServer;
/** Our shard format under /shards/: the index and its three shards' sizes. */
let shardBytes: number[];

beforeAll(async () => {
  ref = torchReference({ arch: 'resnet18', classes: 10, batch: 1, height: 32, width: 32 });
  modelBytes = readFileSync(ref.model);
  server = await startWebServer();
  server.add('/owner/resnet/resolve/v1.0/model.safetensors', modelBytes, { lfs: true });
  server.add('/owner/resnet/resolve/v1.0/config.json', CONFIG);
  server.add('/owner/tampered/resolve/main/model.safetensors', modelBytes, { lfs: true, linkedEtag: 'ab'.repeat(32) });
  // A sharded checkpoint only: the probe must move past model.safetensors' 404.
  const names = [...parseSafetensors(modelBytes, 'model.safetensors').keys()];
  server.add('/owner/sharded/resolve/main/model.safetensors.index.json', new TextEncoder().encode(JSON.stringify({ weight_map: Object.fromEntries(names.map((n) => [n, 'model-00001-of-00001.safetensors'])) })));
  server.add('/owner/sharded/resolve/main/model-00001-of-00001.safetensors', modelBytes, { lfs: true });
  const { index, files } = await writeShards(await readWeightsFile(ref.model), { maxShardBytes: Math.ceil(modelBytes.byteLength / 3) });
  const indexJson = new TextEncoder().encode(JSON.stringify(index));
  server.add('/shards/model.json', indexJson);
  for (const [name, bytes] of files) server.add(`/shards/${name}`, bytes);
  shardBytes = [indexJson.byteLength, ...[...files.values()].map((b) => b.byteLength)];
  server.add('/orphan/model.json', indexJson); // its shards are not there
});
afterAll(() => server?.close());

async function expectMatchesTorch(model: ResNetModel): Promise<void> {
  try {
    const { maxAbsDiff, maxAbsRef } = compare(await model.run(ref.input.data, ref.input.shape), ref.logits.data);
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
  } finally {
    model.dispose();
  }
}

/** Progress never goes back, never passes its total, and ends at `total`. */
function expectProgress(events: LoadProgress[], total: number): void {
  expect(events.length).toBeGreaterThan(2);
  events.forEach((e, i) => {
    expect(e.loaded).toBeLessThanOrEqual(e.total);
    if (i) expect(e.loaded).toBeGreaterThanOrEqual(events[i - 1].loaded);
    if (i) expect(e.total).toBeGreaterThanOrEqual(events[i - 1].total);
  });
  expect(events.at(-1)).toMatchObject({ loaded: total, total });
}

const requestsFor = (path: string): number => server.requests.filter((p) => p === path).length;

describe('loading from the web', () => {
  test('hf:owner/repo@revision loads model.safetensors through the CDN redirect, labels from config.json, matching PyTorch', async () => {
    const events: LoadProgress[] = [];
    const model = await loadModel(await testGpu(), 'hf:owner/resnet@v1.0', { hfHost: server.url, onProgress: (e) => events.push({ ...e }) });
    expect(model.meta.labels).toEqual(LABELS);
    await expectMatchesTorch(model);
    expect(requestsFor('/cdn/owner/resnet/resolve/v1.0/model.safetensors')).toBe(1);
    expectProgress(events, modelBytes.byteLength + CONFIG.byteLength);
    // The CDN sends no Content-Length: the size came with the redirect (x-linked-size), before the body.
    expect(events[0]).toMatchObject({ file: 'model.safetensors', total: modelBytes.byteLength });
    expect(events[0].loaded).toBeLessThan(modelBytes.byteLength);
  });

  test('a shard answered once with a 500 and one cut off halfway are fetched again, and the load succeeds', async () => {
    server.failOnce('/shards/weights-001.bin', 'status-500');
    server.failOnce('/shards/weights-002.bin', 'cut');
    const events: LoadProgress[] = [];
    const model = await loadModel(await testGpu(), `${server.url}/shards/model.json`, { onProgress: (e) => events.push({ ...e }) });
    await expectMatchesTorch(model);
    expect([requestsFor('/shards/weights-000.bin'), requestsFor('/shards/weights-001.bin'), requestsFor('/shards/weights-002.bin')]).toEqual([1, 2, 2]);
    expectProgress(events, shardBytes.reduce((a, b) => a + b));
  });

  test('a repository with only model.safetensors.index.json is found after model.safetensors 404s', async () => {
    const { weights, url } = await fetchWeights('hf:owner/sharded', { hfHost: server.url });
    expect(url).toBe(`${server.url}/owner/sharded/resolve/main/model.safetensors.index.json`);
    expect(weights.config).toMatchObject({ arch: 'resnet18', numClasses: 10 });
    expect(requestsFor('/owner/sharded/resolve/main/model.safetensors')).toBe(1);
  });

  test("readWeightsFile (the CLI's --model) takes an http(s) URL too", async () => {
    const weights = await readWeightsFile(`${server.url}/shards/model.json`);
    expect(weights.config).toMatchObject({ arch: 'resnet18', numClasses: 10 });
    expect(weights.tensors.size).toBeGreaterThan(0);
  });

  test("bytes that do not hash to the redirect's x-linked-etag fail with a WeightsError naming the file", async () => {
    const error = await weightsError(loadModel(await testGpu(), 'hf:owner/tampered', { hfHost: server.url }));
    expect(error.file).toBe('model.safetensors');
    expect(error.message).toMatch(/sha256 [0-9a-f]{64} does not match the server's (ab){32} for http:\/\/127\.0\.0\.1:\d+\/owner\/tampered\/resolve\/main\/model\.safetensors/);
  });

  test('a repository that does not exist fails at once, naming it and the files tried', async () => {
    const before = server.requests.length;
    const error = await weightsError(loadModel(await testGpu(), 'hf:owner/missing', { hfHost: server.url }));
    expect(error.message).toBe(`hf:owner/missing: none of model.safetensors, model.safetensors.index.json, pytorch_model.bin is at ${server.url}/owner/missing/resolve/main/ (HTTP 404): check the repository and revision`);
    expect(server.requests.length - before).toBe(3); // one per candidate: a 404 is not retried
  });

  test('a missing shard is a WeightsError naming it and its URL, without retries', async () => {
    const error = await weightsError(loadModel(await testGpu(), `${server.url}/orphan/model.json`));
    expect(error.message).toBe(`weights-000.bin: HTTP 404 Not Found from ${server.url}/orphan/weights-000.bin`);
    expect(requestsFor('/orphan/weights-000.bin')).toBe(1);
  });

  test('with retries: 0 a 500 is final, and names the file and URL', async () => {
    server.failOnce('/orphan/model.json', 'status-500');
    const error = await weightsError(fetchWeights(`${server.url}/orphan/model.json`, { retries: 0 }));
    expect(error.message).toBe(`model.json: HTTP 500 Internal Server Error from ${server.url}/orphan/model.json (1 try)`);
  });
});
