import { expect, test, type Page } from '@playwright/test';
import { argmaxRows, compare, torchReference, type ReferenceSpec } from '../test/fixtures';
import type { EngineResult } from './engine';
import { runInPage, url } from './engine-page';

/** Run a PyTorch fixture in the page and check logits and top-1 against PyTorch's. */
async function expectMatchesTorch(page: Page, spec: ReferenceSpec, repeats = 0): Promise<Extract<EngineResult, { ok: true }>> {
  const ref = torchReference(spec);
  const { result, errors } = await runInPage(page, { model: url(ref.model), input: url(`${ref.dir}/input.npy`), repeats });
  if (!result.ok) throw new Error(`page reported ${result.name}: ${result.message}`);
  expect(errors).toEqual([]);
  expect(result.adapter).not.toBe('unknown adapter');
  test.info().annotations.push({ type: 'adapter', description: result.adapter });
  // The first run (untuned) and, with repeats, the last (what the autotune picked).
  expect(result.lastLogits === undefined).toBe(repeats === 0);
  for (const run of result.lastLogits ? [result.logits, result.lastLogits] : [result.logits]) {
    const logits = Float32Array.from(run);
    const { maxAbsDiff, maxAbsRef } = compare(logits, ref.logits.data);
    expect(maxAbsDiff, `max|Δ| ${maxAbsDiff} vs max|reference| ${maxAbsRef}`).toBeLessThanOrEqual(1e-3 * maxAbsRef);
    expect(argmaxRows(logits, spec.classes)).toEqual(argmaxRows(ref.logits.data, spec.classes));
  }
  return result;
}

test('ResNet-18, 10 classes, batch 2, 64×64 matches PyTorch', async ({ page }) => {
  await expectMatchesTorch(page, { arch: 'resnet18', classes: 10, batch: 2, height: 64, width: 64 });
});

test('ResNet-50, 1000 classes, batch 2, 64×64 matches PyTorch', async ({ page }) => {
  await expectMatchesTorch(page, { arch: 'resnet50', classes: 1000, batch: 2, height: 64, width: 64 });
});

// The ImageNet shape, whose activations are the largest the browser's buffer limits must hold. Its
// timings are reported (annotations and stdout), never asserted: they depend on the machine.
test('ResNet-50, 1000 classes, batch 1, 224×224 matches PyTorch (timings reported)', async ({ page }) => {
  const { ms, adapter } = await expectMatchesTorch(page, { arch: 'resnet50', classes: 1000, batch: 1, height: 224, width: 224 }, 2);
  const f = (x: number) => `${Math.round(x)} ms`;
  const timing = `first run ${f(ms.load + ms.first)} (load+compile ${f(ms.load)}, first inference ${f(ms.first)}); steady state ${ms.steady.map(f).join(', ')}`;
  test.info().annotations.push({ type: 'timing', description: timing });
  console.log(`ResNet-50 224×224 batch 1 on ${adapter}: ${timing}`);
});

test('a missing model URL fails with a WeightsError naming the file', async ({ page }) => {
  test.setTimeout(60_000); // a hang must fail fast, not after the model tests' allowance
  const ref = torchReference({ arch: 'resnet18', classes: 10, batch: 2, height: 64, width: 64 });
  const { result } = await runInPage(page, { model: '/.cache/fixtures/no-such-model.safetensors', input: url(`${ref.dir}/input.npy`) });
  if (result.ok) throw new Error('loading a missing model succeeded');
  expect(result).toMatchObject({ name: 'WeightsError', code: 'bad-weights' });
  expect(result.message).toMatch(/^no-such-model\.safetensors: HTTP 404 .*\/\.cache\/fixtures\/no-such-model\.safetensors$/);
});

// A shader that compiles resolves; one that does not rejects with a GpuError naming the kernel and the line.
test('a kernel compiles, or fails with a GpuError naming it', async ({ page }) => {
  test.setTimeout(60_000);
  await page.goto('/e2e/engine.html');
  await page.waitForFunction(() => typeof window.compileKernel === 'function');
  const good = '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[0] = 1.0; }';
  const bad = '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[0] = nope; }';
  const compile = (name: string, shader: string) => page.evaluate(([n, s]) => window.compileKernel(n, s), [name, shader] as const);
  expect(await compile('good', good)).toBeNull();
  const error = await compile('bad', bad);
  expect(error?.name).toBe('GpuError');
  expect(error?.message).toMatch(/^compiling kernel bad\{\} failed: bad\.wgsl:2:\d+ error: .*nope/);
});
