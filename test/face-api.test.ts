// face-api's pretrained face-recognition ResNet (dlib's, uint8-quantized TF.js shards from the npm
// package) through our TF.js reader and topology, against a float64 PyTorch rebuild of face-api's
// forward pass over the same dequantized weights, on face crops of real photos. (e2e/face-api.spec.ts
// compares with face-api's own TF.js in Chromium.)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { readNpy } from '../src/cli/npy';
import { ResNetModel, readWeightsFile } from '../src/node';
import { FACE_RECOGNITION } from '../src/model/readers/tfjs-models';
import { compare, ROOT } from './fixtures';
import { testGpu } from './gpu';

const MANIFEST = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'model', 'face_recognition_model-weights_manifest.json');

/** Made by scripts/face_api_reference.py on first use, cached under .cache/fixtures. */
export function faceApiReference(): { dir: string; images: Float32Array; input: { data: Float32Array; shape: number[] }; descriptors: Float32Array } {
  const version = JSON.parse(readFileSync(join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'package.json'), 'utf8')).version;
  const dir = join(ROOT, '.cache', 'fixtures', `face-api-${version}`);
  if (!existsSync(join(dir, 'descriptors.npy'))) {
    // prettier-ignore
    execFileSync('/usr/bin/python3', [join(ROOT, 'scripts', 'face_api_reference.py'),
      '--manifest', MANIFEST, '--images', join(ROOT, '..', 'shared', 'images'), '--out', dir], { stdio: 'inherit' });
  }
  const npy = (f: string) => readNpy(readFileSync(join(dir, f)), f);
  return { dir, images: npy('images.npy').data, input: npy('input.npy'), descriptors: npy('descriptors.npy').data };
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

test("face-api's face-recognition ResNet (uint8 TF.js shards) matches a PyTorch rebuild on real face crops", async () => {
  const ref = faceApiReference();
  const weights = await readWeightsFile(MANIFEST);
  expect(weights.config).toEqual(FACE_RECOGNITION);
  const gpu = await testGpu();
  const buffersBefore = gpu.liveBuffers;
  const model = await ResNetModel.load(gpu, weights);
  try {
    // dlib's ResNet-29: 29 convolutions, 5 328 576 parameters with the (absent, zero) fc bias.
    expect(model.ops.filter((op) => op.op === 'conv')).toHaveLength(29);
    const descriptors = await model.run(ref.input.data, ref.input.shape);
    const n = ref.input.shape[0];
    for (let i = 0; i < n; i++) {
      const ours = descriptors.subarray(i * 128, (i + 1) * 128);
      const theirs = ref.descriptors.subarray(i * 128, (i + 1) * 128);
      expect(cosine(ours, theirs), `crop ${i}`).toBeGreaterThanOrEqual(0.9999);
      const { maxAbsDiff, maxAbsRef } = compare(ours, theirs);
      expect(maxAbsDiff, `crop ${i}`).toBeLessThanOrEqual(1e-3 * maxAbsRef);
    }

    // The same crops as images: the preprocessing face-api's weights record (150×150, mean colour, /255) runs on the GPU.
    const images = Array.from({ length: n }, (_, i) => {
      const rgba = new Uint8Array(150 * 150 * 4).fill(255);
      for (let p = 0; p < 150 * 150; p++) for (let c = 0; c < 3; c++) rgba[4 * p + c] = ref.images[(i * 150 * 150 + p) * 3 + c];
      return { width: 150, height: 150, data: rgba };
    });
    const fromImages = await model.runImages(images);
    const { maxAbsDiff, maxAbsRef } = compare(fromImages, ref.descriptors);
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
  } finally {
    model.dispose();
  }
  expect(gpu.liveBuffers).toBe(buffersBefore);
});
