import { expect, test, type Page } from '@playwright/test';

const RUNS = Number(process.env.SOAK_RUNS ?? 50);

async function open(page: Page): Promise<string[]> {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/e2e/soak.html');
  await page.waitForFunction(() => typeof window.soak === 'object');
  return errors;
}

// The twin of test/reliability-soak.test.ts in Chromium: the heap is measured through the
// DevTools protocol after a forced full collection.
test(`soak: ${RUNS} consecutive inferences in the browser keep GPU buffers, GPU bytes and the JS heap flat`, async ({ page }) => {
  test.setTimeout(120_000 + RUNS * 500);
  const errors = await open(page);
  const cdp = await page.context().newCDPSession(page);
  const heap = async (): Promise<number> => {
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  const start = await page.evaluate(() => window.soak.setup());
  const heapStart = await heap();
  const end = await page.evaluate((runs) => window.soak.run(runs), RUNS);
  const heapEnd = await heap();
  const freed = await page.evaluate(() => window.soak.dispose());

  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const summary =
    `soak (browser, ${start.adapter}): ${RUNS} inferences in ${(end.ms / 1000).toFixed(1)} s; GPU buffers ${start.buffers} -> ${end.buffers}, ` +
    `GPU bytes ${start.bytes} -> ${end.bytes}, JS heap ${mib(heapStart)} -> ${mib(heapEnd)}`;
  test.info().annotations.push({ type: 'soak', description: summary });
  console.log(summary);
  expect(end.differing).toBe(0);
  expect([end.buffers, end.bytes]).toEqual([start.buffers, start.bytes]);
  // As in Node: no trend, a few hundred kB of noise; 1 MiB catches 1 kB a call at 1000 runs.
  expect(heapEnd - heapStart).toBeLessThan(2 ** 20);
  expect(freed).toEqual({ buffers: 0, bytes: 0 });
  expect(errors).toEqual([]);
});

test('device loss in the browser: the call in flight fails with a DeviceLostError, the next calls recover', async ({ page }) => {
  const errors = await open(page);
  await page.evaluate(() => window.soak.setup());
  const result = await page.evaluate(() => window.soak.loseDevice());
  expect(result).toEqual({ between: true, inFlight: { name: 'DeviceLostError', code: 'device-lost' }, after: true, generation: 3 });
  expect(await page.evaluate(() => window.soak.dispose())).toEqual({ buffers: 0, bytes: 0 });
  expect(errors).toEqual([]);
});
