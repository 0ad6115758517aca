// face-api's pretrained face-recognition ResNet (dlib's, uint8-quantized TF.js shards from the npm
// package) through our TF.js reader and topology, against a float64 PyTorch rebuild of face-api's
// forward pass over the same dequantized weights, on face crops of real photos. (e2e/face-api.spec.ts
// compares with face-api's own TF.js in Chromium.)
import { expect, test } from 'vitest';
import { ResNetModel, readWeightsFile } from '../src/node';
import { FACE_RECOGNITION } from '../src/model/readers/tfjs-models';
import { cosine, FACE_API_MANIFEST, faceApiReference } from './face-api-fixture';
import { compare } from './fixtures';
import { testGpu } from './gpu';

test("face-api's face-recognition ResNet (uint8 TF.js shards) matches a PyTorch rebuild on real face crops", async () => {
  const ref = faceApiReference();
  const weights = await readWeightsFile(FACE_API_MANIFEST);
  expect(weights.config).toEqual(FACE_RECOGNITION);
  const gpu = await testGpu();
  const buffersBefore = gpu.liveBuffers;
  const model = await ResNetModel.load(gpu, weights);
  try {
    // dlib's ResNet-29: 29 convolutions (the stem and two per block).
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
      for (let p = 0; p < 150 * 150; p++) for (let c = 0; c < 3; c++) rgba[4 * p + c] = ref.images.data[(i * 150 * 150 + p) * 3 + c];
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
