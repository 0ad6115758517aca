// Whole networks against PyTorch: every depth, odd and non-square sizes, both bottleneck
// variants, several class counts, and weights stored as f32, f16 and bf16.
import { expect, test } from 'vitest';
import { CONV_VARIANTS, ResNetModel, readWeightsFile } from '../src/node';
import { argmaxRows, compare, torchReference, type ReferenceSpec } from './fixtures';
import { testGpu } from './gpu';

interface Case extends ReferenceSpec {
  /** torchvision's parameter count, where it is well known. */
  parameters?: number;
}

// Sizes are small (the suite runs on SwiftShader) but reach every stage with odd and uneven
// spatial sizes; one full 224×224 run covers the default schedule built at load.
const cases: Case[] = [
  { arch: 'resnet18', classes: 10, batch: 2, height: 64, width: 64 },
  { arch: 'resnet18', classes: 1000, batch: 1, height: 224, width: 224, parameters: 11_689_512 },
  { arch: 'resnet34', classes: 37, batch: 2, height: 96, width: 128 },
  { arch: 'resnet50', classes: 1000, batch: 3, height: 80, width: 80, parameters: 25_557_032 },
  { arch: 'resnet50', classes: 10, batch: 2, height: 72, width: 56, variant: 'v1' },
  { arch: 'resnet101', classes: 37, batch: 2, height: 57, width: 57 },
  { arch: 'resnet152', classes: 10, batch: 2, height: 48, width: 64 },
  { arch: 'resnet18', classes: 10, batch: 2, height: 64, width: 64, dtype: 'f16' },
  { arch: 'resnet50', classes: 37, batch: 2, height: 50, width: 66, dtype: 'bf16' },
];

const label = (c: Case): string => `${c.arch} ${c.variant ?? 'v1.5'}, ${c.classes} classes, ${c.batch}×3×${c.height}×${c.width}, ${c.dtype ?? 'f32'} weights`;

for (const spec of cases) {
  test(`${label(spec)} matches PyTorch`, async () => {
    const ref = torchReference(spec);
    const gpu = await testGpu();
    const buffersBefore = gpu.liveBuffers;
    // Safetensors do not record the variant: v1 has to be named, as the CLI's --variant does.
    const model = await ResNetModel.load(gpu, await readWeightsFile(ref.model, { variant: spec.variant }));
    try {
      expect(model.config).toMatchObject({ arch: spec.arch, numClasses: spec.classes, variant: spec.variant ?? 'v1.5' });
      if (spec.parameters) expect(model.parameterCount).toBe(spec.parameters);
      const logits = await model.run(ref.input.data, ref.input.shape);
      const { maxAbsDiff, maxAbsRef } = compare(logits, ref.logits.data);
      expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
      expect(argmaxRows(logits, spec.classes)).toEqual(argmaxRows(ref.logits.data, spec.classes));
    } finally {
      model.dispose();
    }
    expect(gpu.liveBuffers).toBe(buffersBefore);
  });
}

// The autotune may give any layer any variant: each variant alone must compute the network.
for (const kernel of CONV_VARIANTS) {
  test(`resnet50 with every conv on the ${kernel} kernel matches PyTorch`, async () => {
    const ref = torchReference(cases[4]);
    const gpu = await testGpu();
    const model = await ResNetModel.load(gpu, await readWeightsFile(ref.model, { variant: cases[4].variant }), ref.model, { kernels: [kernel] });
    try {
      const logits = await model.run(ref.input.data, ref.input.shape);
      const { maxAbsDiff, maxAbsRef } = compare(logits, ref.logits.data);
      expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
      expect(argmaxRows(logits, cases[4].classes)).toEqual(argmaxRows(ref.logits.data, cases[4].classes));
    } finally {
      await model.dispose();
    }
  });
}

test('probabilities are the softmax of the logits; a disposed model refuses to run', async () => {
  const spec: Case = { arch: 'resnet18', classes: 10, batch: 2, height: 64, width: 64 };
  const ref = torchReference(spec);
  const gpu = await testGpu();
  const buffersBefore = gpu.liveBuffers;
  const model = await ResNetModel.load(gpu, await readWeightsFile(ref.model));
  const probabilities = await model.run(ref.input.data, ref.input.shape, { output: 'probabilities' });
  model.dispose();
  expect(gpu.liveBuffers).toBe(buffersBefore);

  const expected = new Float32Array(ref.logits.data.length);
  for (let r = 0; r < spec.batch; r++) {
    const row = ref.logits.data.subarray(r * spec.classes, (r + 1) * spec.classes);
    const max = Math.max(...row);
    const sum = row.reduce((a, x) => a + Math.exp(x - max), 0);
    row.forEach((x, i) => (expected[r * spec.classes + i] = Math.exp(x - max) / sum));
  }
  const { maxAbsDiff, maxAbsRef } = compare(probabilities, expected);
  expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
  await expect(model.run(ref.input.data, ref.input.shape)).rejects.toMatchObject({ code: 'disposed' });
});
