import { expect, test } from '@playwright/test';
import { argmaxRows, compare } from '../test/fixtures';
import { formatReference } from '../test/readers-fixture';
import { runInPage, url } from './engine-page';

// The readers that load their dependencies on first use (fflate for torch.save zips, protobufjs
// for ONNX) and fetch companion files (external data, shards) by URL, in the browser.
for (const format of ['pth', 'pth-legacy', 'onnx-external', 'hf-sharded'] as const) {
  test(`${format} in the browser matches PyTorch (resnet18, 10 classes, batch 2, 64×64)`, async ({ page }) => {
    const ref = formatReference({ model: 'resnet18', format });
    const { result, errors } = await runInPage(page, { model: url(ref.file), input: url(`${ref.dir}/input.npy`) });
    if (!result.ok) throw new Error(`page reported ${result.name}: ${result.message}`);
    expect(errors).toEqual([]);
    const logits = Float32Array.from(result.logits);
    const { maxAbsDiff, maxAbsRef } = compare(logits, ref.logits);
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
    expect(argmaxRows(logits, 10)).toEqual(argmaxRows(ref.logits, 10));
  });
}
