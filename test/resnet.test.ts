// Whole networks against PyTorch: every depth, odd and non-square sizes, both bottleneck
// variants, several class counts, and weights stored as f32, f16 and bf16.
import { expect, test } from 'vitest';
import { CONV_VARIANTS, describeResNet, ResNetModel, readWeightsFile, type ModelOptions } from '../src/node';
import { Conv2dProgram, type Conv2dAttributes } from '../src/kernels/conv2d';
import { GpuWeights, usedTaps } from '../src/model/graph';
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
  // layer4's maps 1×2: its 3×3 convs run cut to the taps that reach them (1×3, and 2×3 strided).
  { arch: 'resnet50', classes: 10, batch: 2, height: 32, width: 64 },
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
      // The first run is untuned; the second runs what the autotune picked meanwhile.
      for (const run of ['untuned', 'tuned']) {
        const logits = await model.run(ref.input.data, ref.input.shape);
        const { maxAbsDiff, maxAbsRef } = compare(logits, ref.logits.data);
        expect(maxAbsDiff, run).toBeLessThanOrEqual(1e-3 * maxAbsRef);
        expect(argmaxRows(logits, spec.classes), run).toEqual(argmaxRows(ref.logits.data, spec.classes));
      }
      expect(model.kernelChoices().layers.every((t) => t.from !== 'untuned')).toBe(true);
    } finally {
      model.dispose();
    }
    expect(gpu.liveBuffers).toBe(buffersBefore);
  });
}

// The autotune may give any layer any variant, or run a 3×3 stride-1 conv as Winograd: each
// variant alone must compute the network, and so must Winograd wherever it applies.
const everywhere: { name: string; options: ModelOptions }[] = [
  ...CONV_VARIANTS.map((kernel) => ({ name: `every conv on the ${kernel} kernel`, options: { kernels: [kernel], winograd: 'never' } as const })),
  ...(['winograd2', 'winograd4'] as const).flatMap((form) =>
    (['register', 'quad', 'quad2x2', 'ksplit'] as const).map((kernel) => ({ name: `every 3×3 stride-1 conv as ${form}, the rest and its GEMM on the ${kernel} kernel`, options: { kernels: [kernel], winograd: form } as const })),
  ),
];
for (const { name, options } of everywhere) {
  test(`resnet50 with ${name} matches PyTorch`, async () => {
    const ref = torchReference(cases[4]);
    const gpu = await testGpu();
    const model = await ResNetModel.load(gpu, await readWeightsFile(ref.model, { variant: cases[4].variant }), ref.model, options);
    try {
      const logits = await model.run(ref.input.data, ref.input.shape);
      const { maxAbsDiff, maxAbsRef } = compare(logits, ref.logits.data);
      expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
      expect(argmaxRows(logits, cases[4].classes)).toEqual(argmaxRows(ref.logits.data, cases[4].classes));
      // ResNet-50 v1: the 3×3 convs of the 16 blocks all have stride 1.
      const [n, c, h, w] = ref.input.shape;
      const steps = (await model.scheduleFor({ n, c, h, w })).spec.steps;
      for (const form of ['winograd2', 'winograd4']) expect(steps.filter((s) => s.program.name === 'winograd_output' && s.program.variant === form).length).toBe(options.winograd === form ? 16 : 0);
    } finally {
      await model.dispose();
    }
  });
}

test('a 3×3 conv keeps one weight form on the GPU: Winograd\'s (16/9 or 36/9 the size) replaces the direct one, and back', async () => {
  const ref = torchReference(cases[4]);
  const gpu = await testGpu();
  const prepared = await readWeightsFile(ref.model, { variant: cases[4].variant });
  const [n, c, h, w] = ref.input.shape;
  const shape = { n, c, h, w };
  const direct = await ResNetModel.load(gpu, prepared, ref.model, { kernels: ['register'], winograd: 'never' });
  const winograd = await ResNetModel.load(gpu, prepared, ref.model, { kernels: ['register'], winograd: 'winograd2' });
  try {
    const before = winograd.memory().weightBytes;
    expect(before).toBe(direct.memory().weightBytes);
    await Promise.all([direct.scheduleFor(shape), winograd.scheduleFor(shape)]);
    // Each of the 16 3×3 convs: 16 instead of 9 mat4x4f blocks per input × output vec4 of channels.
    const blocks = winograd.ops.reduce((sum, op) => sum + (op.op === 'conv' && op.kernel === 3 ? Math.ceil(op.inChannels / 4) * Math.ceil(op.outChannels / 4) : 0), 0);
    expect(winograd.memory().weightBytes - direct.memory().weightBytes).toBe(7 * 64 * blocks);
    expect(direct.memory().weightBytes).toBe(before);
  } finally {
    await Promise.all([direct.dispose(), winograd.dispose()]);
  }
  // And back, as when a later input shape's schedule runs a conv directly again.
  const weights = new GpuWeights(gpu, describeResNet(prepared.config), prepared.tensors);
  await weights.ready;
  const conv = 'layer1.0.conv2';
  const start = weights.bytes;
  // Made from the direct weights, uploaded again for the purpose and freed after.
  weights.release(`${conv}.weight`);
  weights.get(`${conv}.winograd2`);
  expect(weights.bytes - start).toBe(7 * 64 * 16 * 16);
  weights.release(`${conv}.winograd2`);
  weights.get(`${conv}.winograd4`);
  expect(weights.bytes - start).toBe(27 * 64 * 16 * 16);
  weights.release(`${conv}.winograd4`);
  weights.get(`${conv}.weight`);
  expect(weights.bytes).toBe(start);
  weights.destroy();
});

test('a conv on a map smaller than its kernel reach runs cut to the taps that reach it, and holds only those weights', async () => {
  const conv = (kernel: number, stride: number, pad: number): Conv2dAttributes => ({ outChannels: 8, kernelH: kernel, kernelW: kernel, strideH: stride, strideW: stride, pads: [pad, pad, pad, pad], dilationH: 1, dilationW: 1, relu: false, residual: false });
  const map = (h: number, w: number) => ({ n: 1, h, w, c: 8 });
  expect(usedTaps(map(1, 1), conv(3, 1, 1))).toEqual([1, 1, 1, 1]);
  expect(usedTaps(map(1, 2), conv(3, 1, 1))).toEqual([1, 1, 0, 2]);
  expect(usedTaps(map(2, 2), conv(3, 2, 1))).toEqual([1, 2, 1, 2]);
  expect(usedTaps(map(1, 1), conv(7, 2, 3))).toEqual([3, 3, 3, 3]);
  expect(usedTaps(map(2, 2), conv(3, 1, 1))).toBeUndefined();
  expect(usedTaps(map(1, 1), conv(1, 2, 0))).toBeUndefined();

  // ResNet-50 at 32×64: layer4's maps are 1×2, so its 3×3 convs run as 2×3 (layer4.0's, stride 2) and 1×3 (the other two).
  const spec = cases.find((c) => c.height === 32 && c.width === 64)!;
  const ref = torchReference(spec);
  const gpu = await testGpu();
  const model = await ResNetModel.load(gpu, await readWeightsFile(ref.model), ref.model, { winograd: 'never' });
  try {
    const whole = model.memory().weightBytes;
    const steps = (await model.scheduleFor({ n: 2, c: 3, h: 32, w: 64 })).spec.steps;
    const kernel = (label: string): string => {
      const { attrs } = steps.find((s) => s.label === label)!.program as Conv2dProgram;
      return `${attrs.kernelH}x${attrs.kernelW}`;
    };
    expect(['layer4.0.conv2', 'layer4.1.conv2', 'layer4.2.conv2', 'layer3.5.conv2'].map(kernel)).toEqual(['2x3', '1x3', '1x3', '3x3']);
    // 512 × 512 channels: 128 × 128 mat4x4f blocks (64 bytes) per tap; 3 + 6 + 6 taps of 27 fewer.
    expect(whole - model.memory().weightBytes).toBe(15 * 128 * 128 * 64);
    await model.scheduleFor({ n: 1, c: 3, h: 64, w: 64 });
    expect(model.memory().weightBytes).toBe(whole);
  } finally {
    await model.dispose();
  }
});

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
