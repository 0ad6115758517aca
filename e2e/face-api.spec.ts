import { relative, sep } from 'node:path';
import { expect, test } from '@playwright/test';
import { cosine, FACE_API_MODEL, faceApiReference } from '../test/face-api-fixture';
import { compare, ROOT } from '../test/fixtures';
import type { FaceApiResult } from './face-api';

const url = (file: string): string => '/' + relative(ROOT, file).split(sep).join('/');

// The strongest evidence for the readers and topologies: real pretrained weights (face-api's
// uint8-quantized dlib face-recognition ResNet), face crops of real photos, and face-api's own
// TF.js as the reference, all in one headless Chromium page.
test("face-api's face-recognition ResNet: our descriptors match face-api's own TF.js on real face crops", async ({ page }) => {
  const ref = faceApiReference();
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/e2e/face-api.html');
  await page.waitForFunction(() => typeof window.runFaceApi === 'function');
  const result: FaceApiResult = await page.evaluate((r) => window.runFaceApi(r), { modelDir: url(FACE_API_MODEL), images: url(`${ref.dir}/images.npy`) });
  expect(errors).toEqual([]);
  expect(result.tfBackend).toBe('cpu');
  expect(result.ours).toHaveLength(ref.images.shape[0]);
  let worstCosine = 1;
  let worstAbs = 0;
  result.ours.forEach((ours, i) => {
    const theirs = result.faceApi[i];
    const c = cosine(ours, theirs);
    const { maxAbsDiff, maxAbsRef } = compare(Float32Array.from(ours), Float32Array.from(theirs));
    expect(c, `crop ${i}`).toBeGreaterThanOrEqual(0.9999);
    expect(maxAbsDiff, `crop ${i}`).toBeLessThanOrEqual(1e-3 * maxAbsRef);
    worstCosine = Math.min(worstCosine, c);
    worstAbs = Math.max(worstAbs, maxAbsDiff);
  });
  const summary = `${result.ours.length} crops on ${result.adapter}: min cosine similarity ${worstCosine}, max |ours − face-api| ${worstAbs.toExponential(2)}`;
  test.info().annotations.push({ type: 'face-api', description: summary });
  console.log(summary);
});
