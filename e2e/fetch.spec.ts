import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { expect, test } from '@playwright/test';
import { compare, ROOT, torchReference } from '../test/fixtures';
import { startWebServer } from '../test/hf-server';
import type { LoadProgress } from '../src/index';

const url = (file: string): string => '/' + relative(ROOT, file).split(sep).join('/');

/** Bytes loaded never go back nor pass the total, and end at `total`. */
function expectProgress(events: LoadProgress[], total: number): void {
  expect(events.length).toBeGreaterThan(0);
  events.forEach((e, i) => {
    expect(e.loaded).toBeLessThanOrEqual(e.total);
    if (i) expect(e.loaded).toBeGreaterThanOrEqual(events[i - 1].loaded);
  });
  expect(events.at(-1)).toMatchObject({ loaded: total, total });
}

// The page (the Vite server's origin) loads from a Hub-like server on another port, as a page loads
// from huggingface.co; requests are counted there, so a cache hit cannot be mistaken for one.
test('hf: in the browser: the second load comes from the Cache API with no request, and progress reaches the total', async ({ page }) => {
  const ref = torchReference({ arch: 'resnet18', classes: 10, batch: 1, height: 32, width: 32 });
  const model = readFileSync(ref.model);
  const labels = Array.from({ length: 10 }, (_, i) => `class ${i}`);
  const config = new TextEncoder().encode(JSON.stringify({ id2label: Object.fromEntries(labels.map((l, i) => [i, l])) }));
  const server = await startWebServer();
  try {
    server.add('/owner/resnet/resolve/main/model.safetensors', model, { lfs: true });
    server.add('/owner/resnet/resolve/main/config.json', config);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto('/e2e/fetch.html');
    await page.waitForFunction(() => typeof window.loadFromWeb === 'function');
    const load = () => page.evaluate(([hfHost, input]) => window.loadFromWeb('hf:owner/resnet', { hfHost }, input), [server.url, url(`${ref.dir}/input.npy`)] as const);

    const first = await load();
    expect(server.requests).toContain('/cdn/owner/resnet/resolve/main/model.safetensors');
    expectProgress(first.progress, model.byteLength + config.byteLength);
    const requests = server.requests.length;
    const second = await load();
    expect(server.requests.slice(requests)).toEqual([]);
    expectProgress(second.progress, model.byteLength + config.byteLength);

    for (const result of [first, second]) {
      expect(result.labels).toEqual(labels);
      const { maxAbsDiff, maxAbsRef } = compare(Float32Array.from(result.logits), ref.logits.data);
      expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
    }
    expect(errors).toEqual([]);
  } finally {
    await server.close();
  }
});

test('fetchWeights writes to the Cache API only once its storeAfter gate opens (loadModel: after the first result)', async ({ page }) => {
  const ref = torchReference({ arch: 'resnet18', classes: 10, batch: 1, height: 32, width: 32 });
  await page.goto('/e2e/fetch.html');
  await page.waitForFunction(() => typeof window.cachedAfter === 'function');
  expect(await page.evaluate((model) => window.cachedAfter(model), url(ref.model))).toEqual({ beforeGate: false, afterGate: true });
});
