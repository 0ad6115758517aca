// The bundled default model (weights/fashion-mnist-resnet18): its index and shards as shipped,
// PyTorch's reference predictions, and the sample images. The CLI runs on it in cli.test.ts.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { decodeImage } from '../src/cli/decode';
import { readFashionMnistTest } from '../src/cli/fashion-mnist';
import { DEFAULT_MODEL } from '../src/cli/models';
import { readWeightsFile, SHARD_FORMAT, type ShardIndex } from '../src/node';
import { ROOT } from './fixtures';

const DIR = join(ROOT, 'weights', 'fashion-mnist-resnet18');
const LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const readJson = (file: string) => JSON.parse(readFileSync(join(DIR, file), 'utf8'));

test('the CLI finds the bundled model in the package', () => {
  expect(DEFAULT_MODEL).toBe(join(DIR, 'model.json'));
});

test('every shard is listed with its size and sha256, holds at most 4 MiB, and every tensor is f16', () => {
  const index: ShardIndex = readJson('model.json');
  expect(index.format).toBe(SHARD_FORMAT);
  for (const shard of index.shards) {
    const bytes = readFileSync(join(DIR, shard.file));
    expect(bytes.byteLength, shard.file).toBe(shard.bytes);
    expect(bytes.byteLength, shard.file).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(createHash('sha256').update(bytes).digest('hex'), shard.file).toBe(shard.sha256);
  }
  // No shard left behind by an earlier packaging.
  expect(readdirSync(DIR).filter((f) => f.endsWith('.bin') && f !== 'torch-predictions.bin')).toEqual(index.shards.map((s) => s.file));
  expect(new Set(Object.values(index.tensors).map((t) => t.dtype))).toEqual(new Set(['f16']));
});

test('it loads as torchvision resnet18 with the Fashion-MNIST labels and the training preprocessing', async () => {
  const weights = await readWeightsFile(join(DIR, 'model.json'));
  expect(weights.config).toMatchObject({ arch: 'resnet18', variant: 'v1.5', numClasses: 10, inputChannels: 3 });
  expect(weights.meta.labels).toEqual(LABELS);
  const pre = weights.meta.preprocess!;
  expect(pre).toMatchObject({ resize: 28, cropH: 28, cropW: 28, grayscale: true });
  // One mean/std for all three channels: the training set's pixel statistics (train-log.json).
  expect(new Set(pre.mean).size).toBe(1);
  expect(new Set(pre.std).size).toBe(1);
  expect(pre.mean[0]).toBeCloseTo(0.286, 3);
  expect(pre.std[0]).toBeCloseTo(0.353, 3);
});

test("PyTorch's predictions: one class a test image, at the accuracy reference.json records", async () => {
  const predictions = readFileSync(join(DIR, 'torch-predictions.bin'));
  const reference = readJson('reference.json');
  const data = await readFashionMnistTest();
  expect(predictions.byteLength).toBe(data.count);
  expect(reference.images).toBe(data.count);
  const correct = data.labels.filter((label, i) => predictions[i] === label).length;
  expect(correct / data.count).toBe(reference.accuracy);
  expect(reference.accuracy).toBeGreaterThanOrEqual(0.9);
});

test('the samples are test images, one per class, named by test index and label', async () => {
  const { samples } = readJson(join('samples', 'samples.json'));
  const data = await readFashionMnistTest();
  expect(samples.map((s: { label: number }) => s.label).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const s of samples as { file: string; index: number; label: number; name: string }[]) {
    expect(s.name).toBe(LABELS[s.label]);
    expect(data.labels[s.index]).toBe(s.label);
    expect(s.file).toMatch(new RegExp(`^${String(s.index).padStart(4, '0')}-[a-z-]+\\.png$`));
    const image = decodeImage(readFileSync(join(DIR, 'samples', s.file)), s.file);
    expect([image.width, image.height]).toEqual([data.size, data.size]);
    const gray = image.data.filter((_, i) => i % 4 === 0);
    expect(Buffer.from(gray).equals(Buffer.from(data.images.subarray(s.index * data.size ** 2, (s.index + 1) * data.size ** 2)))).toBe(true);
  }
});
