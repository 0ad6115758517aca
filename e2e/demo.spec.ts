// The demo page (demo/): served by its dev server (`npm start`, started by playwright.config.ts) and
// as a static build (`npm run build:demo`) from a plain file server.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, relative, resolve } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { PNG } from 'pngjs';
import { DEMO_PORT } from '../playwright.config';
import { describeResNet, resnetConfig } from '../src/model/resnet';
import { ROOT } from '../test/fixtures';

const DEV_URL = `http://127.0.0.1:${DEMO_PORT}/`;
const MODEL_DIR = join(ROOT, 'weights', 'fashion-mnist-resnet18');
const SAMPLES: { file: string; name: string }[] = JSON.parse(readFileSync(join(MODEL_DIR, 'samples', 'samples.json'), 'utf8')).samples;

/** Open the page and wait for the default model; page errors and console errors are collected. */
async function open(page: Page, url: string): Promise<string[]> {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await expect(page.locator('#model-info .model-name')).toHaveText('Fashion-MNIST ResNet-18');
  await expect(page.locator('#samples button.sample')).toHaveCount(SAMPLES.length);
  return errors;
}

/** Click a bundled sample and wait for its result (the caption names it once its job has run). */
async function classifySample(page: Page, sample: { file: string }): Promise<string> {
  await page.locator(`#samples button.sample[title$="(${sample.file})"]`).click();
  await expect(page.locator('#preview-caption')).toContainText(sample.file);
  await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
  return (await page.locator('#prediction .label').textContent()) ?? '';
}

/** The page writes '<0.01%' and '>99.99%' for the extremes. */
const parsePercent = (text: string): number => Number(text.replace(/^[<>]|%$/g, ''));

test('every bundled sample gets its label; top-5, latency and per-layer charts render', async ({ page }) => {
  const errors = await open(page, DEV_URL);
  for (const sample of SAMPLES) expect(await classifySample(page, sample), sample.file).toBe(sample.name);

  const top5 = page.locator('#top5 .bar-row');
  await expect(top5).toHaveCount(5);
  const percents = (await top5.locator('.pct').allTextContents()).map(parsePercent);
  expect(percents.every((p) => p >= 0 && p <= 100)).toBe(true);
  expect(percents).toEqual([...percents].sort((a, b) => b - a));
  expect(percents[0]).toBeGreaterThan(50);

  const latency = Object.fromEntries(
    await page.locator('#latency dd').evaluateAll((dds) => dds.map((dd) => [(dd as HTMLElement).dataset.key, dd.firstChild?.textContent ?? ''])),
  );
  for (const key of ['first', 'steady', 'load']) expect(latency[key], key).toMatch(/^\d+(\.\d)? ms$/);
  const timing = `first inference ${latency.first}, steady ${latency.steady}, model load ${latency.load}`;
  test.info().annotations.push({ type: 'demo latency (Fashion-MNIST ResNet-18, 28×28)', description: timing });
  console.log(`demo, default model: ${timing}`);

  // Per-layer times need timestamp queries; the page says so when the adapter has none.
  if ((await page.locator('#adapter').textContent())?.includes('timestamp queries: yes')) {
    // The 1-channel 7×7 stride-2 stem runs as a stride-1 conv over stacked 2×2 blocks: the stacking is a pass of its own.
    const names = [...describeResNet(resnetConfig('resnet18')).map((op) => op.name), 'conv1.stacked', 'softmax'];
    // Every layer once; the chart follows the run order, where a block's shortcut comes just before its sum.
    // A 3×3 stride-1 conv the autotune runs as Winograd adds its input transform and GEMM passes.
    const shown = await page.locator('#layers .layer-row .name').allTextContents();
    const winograd = shown.filter((name) => /\.winograd_(input|gemm)$/.test(name));
    const convs = new Set(describeResNet(resnetConfig('resnet18')).flatMap((op) => (op.op === 'conv' && op.kernel === 3 && op.stride === 1 ? [op.name] : [])));
    for (const name of winograd) expect(convs.has(name.replace(/\.winograd_(input|gemm)$/, '')), name).toBe(true);
    expect(winograd.length % 2).toBe(0);
    expect(shown.filter((name) => !winograd.includes(name)).sort()).toEqual(names.sort());
    const times = (await page.locator('#layers .layer-row .ms').allTextContents()).map(Number);
    expect(times.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
    expect(times.some((t) => t > 0)).toBe(true);
  } else {
    await expect(page.locator('#layers-caption')).toContainText('no timestamp queries');
  }

  // Rendered, not blank: a screenshot of the results holds the image, bars and text in many colours.
  const png = PNG.sync.read(await page.locator('#results').screenshot());
  const colours = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
  expect(colours.size).toBeGreaterThan(50);
  expect(errors).toEqual([]);
});

test('random weights are labelled "not pretrained" and give finite probabilities', async ({ page }) => {
  await open(page, DEV_URL);
  await page.locator('#model-select').selectOption('seeded:resnet18');
  await expect(page.locator('#model-info')).toContainText('not pretrained — for speed only');
  await expect(page.locator('#model-info')).toContainText('input 224×224');
  await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
  await classifySample(page, SAMPLES[0]);
  await expect(page.locator('#prediction')).toContainText('not pretrained — for speed only');
  // Finite probabilities, not NaN: the seeded scales keep activations in range.
  const percents = (await page.locator('#top5 .pct').allTextContents()).map(parsePercent);
  expect(percents).toHaveLength(5);
  expect(percents.every((p) => Number.isFinite(p) && p > 0 && p < 100)).toBe(true);
});

test('bad files show a readable error, and the model in use stays usable', async ({ page }) => {
  await open(page, DEV_URL);
  const error = page.locator('#error');

  await page.locator('#image-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
  await expect(error).toBeVisible();
  await expect(error).toContainText(/^InputError: notes\.txt: not an image this browser can decode/);

  // An index alone cannot reach its shards.
  const index = { name: 'model.json', mimeType: 'application/json', buffer: readFileSync(join(MODEL_DIR, 'model.json')) };
  await page.locator('#weights-file').setInputFiles([index]);
  await expect(error).toContainText(/^WeightsError: weights-000\.bin: not among the dropped files \(model\.json\)\..*together with its shards/);

  const shard = readFileSync(join(MODEL_DIR, 'weights-000.bin'));
  await page.locator('#weights-file').setInputFiles([index, { name: 'weights-000.bin', mimeType: 'application/octet-stream', buffer: shard.subarray(0, 1000) }]);
  await expect(error).toContainText(`WeightsError: weights-000.bin: shard is 1000 bytes, the index (model.json) says ${shard.byteLength}`);

  await page.locator('#weights-file').setInputFiles([{ name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('{"truncated') }]);
  await expect(error).toContainText(/^WeightsError: model\.safetensors/);

  // Failed loads left the default model in place.
  await expect(page.locator('#model-select')).toHaveValue('default');
  expect(await classifySample(page, SAMPLES[1])).toBe(SAMPLES[1].name);
  await expect(error).toBeHidden();
});

test('weights from a URL, and dropped as an index with its shards, load and classify', async ({ page }) => {
  await open(page, DEV_URL);
  const url = `${DEV_URL}models/fashion-mnist-resnet18/model.json`;
  await page.locator('#weights-url').fill(url);
  await page.getByRole('button', { name: 'Load' }).click();
  await expect(page.locator('#model-info .model-name')).toHaveText(url);
  await expect(page.locator('#model-select')).toHaveValue('custom');
  expect(await classifySample(page, SAMPLES[2])).toBe(SAMPLES[2].name);

  const index: { shards: { file: string }[] } = JSON.parse(readFileSync(join(MODEL_DIR, 'model.json'), 'utf8'));
  await page.locator('#weights-file').setInputFiles([join(MODEL_DIR, 'model.json'), ...index.shards.map((s) => join(MODEL_DIR, s.file))]);
  await expect(page.locator('#model-info .model-name')).toHaveText('model.json');
  await expect(page.locator('#model-select option[value="custom"]')).toHaveText('Loaded: model.json');
  expect(await classifySample(page, SAMPLES[4])).toBe(SAMPLES[4].name);
});

test('without WebGPU the page says so', async ({ page }) => {
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
  await page.goto(DEV_URL);
  await expect(page.locator('#error')).toContainText(/^WebGpuUnavailableError: WebGPU is not available/);
});

test.describe('static build', () => {
  let dir = '';
  let server: Server | undefined;
  let url = '';

  test.beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'resnet-webgpu-demo-'));
    execFileSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'demo/vite.config.ts', '--outDir', dir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
    // A sub-folder, as on most static hosts: every URL in the build must be relative.
    const listening = serveStatic(dir, '/some/folder/');
    server = listening;
    await new Promise<void>((done) => listening.listen(0, '127.0.0.1', done));
    url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}/some/folder/`;
  });

  test.afterAll(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('served by a plain file server from a sub-folder, it classifies a sample', async ({ page }) => {
    const errors = await open(page, url);
    expect(await classifySample(page, SAMPLES[3])).toBe(SAMPLES[3].name);
    await expect(page.locator('#top5 .bar-row')).toHaveCount(5);
    expect(errors).toEqual([]);
  });
});

/** Files under `root` at `prefix`, nothing else: no Vite, no fallback to index.html. */
function serveStatic(root: string, prefix: string): Server {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.png': 'image/png' };
  return createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.startsWith(prefix) ? resolve(root, '.' + path.slice(prefix.length - 1).replace(/\/$/, '/index.html')) : '';
    let ok = false;
    try {
      ok = file !== '' && !relative(root, file).startsWith('..') && statSync(file).isFile();
    } catch {
      // missing: 404 below
    }
    if (!ok) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
}
