import { PreprocessProgram, type PreprocessConfig } from '../kernels/preprocess';
import { bindBuffers, destroyBuffer, uniformBuffer, uploadBuffer } from '../runtime/buffers';
import type { Gpu } from '../runtime/device';
import { InputError, typeName } from '../runtime/errors';
import { getPipeline } from '../runtime/pipelines';

/** Decoded pixels, RGBA8 row-major: what a canvas's ImageData and image decoders give. */
export interface RgbaImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/** torchvision's ImageNet evaluation transform: Resize(256), CenterCrop(224), Normalize. */
export const IMAGENET_PREPROCESS: PreprocessConfig = {
  resize: 256,
  cropH: 224,
  cropW: 224,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  grayscale: false,
};

export function checkImage(image: RgbaImage, index: number): void {
  if (typeof image !== 'object' || image === null) throw new InputError(`image ${index}: expected { data, width, height } (RGBA8 pixels, as a canvas's ImageData), got ${typeName(image)}`);
  const { width, height, data } = image;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new InputError(`image ${index}: size ${width}×${height} is not a positive whole number of pixels`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) throw new InputError(`image ${index}: data must be a Uint8Array or Uint8ClampedArray of RGBA bytes, got ${typeName(data)}`);
  if (data.length !== width * height * 4) throw new InputError(`image ${index}: ${width}×${height} RGBA needs ${width * height * 4} bytes, got ${data.length}`);
}

/**
 * The image if its pixels fit in `maxBytes`, else the image shrunk by the smallest whole factor k
 * that fits: each pixel the mean of a k×k block (the edge blocks' partial ones). Preprocessing
 * resizes to a few hundred pixels anyway, so this only changes how the source is sampled.
 */
export function shrinkToFit(image: RgbaImage, maxBytes: number): RgbaImage {
  const { width, height, data } = image;
  let k = 1;
  while (Math.ceil(width / k) * Math.ceil(height / k) * 4 > maxBytes) k++;
  if (k === 1) return image;
  const [w, h] = [Math.ceil(width / k), Math.ceil(height / k)];
  const sums = new Uint32Array(w * 4);
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    sums.fill(0);
    const rows = Math.min(k, height - y * k);
    for (let sy = y * k; sy < y * k + rows; sy++) {
      let i = sy * width * 4;
      for (let x = 0; x < w; x++) {
        let r = 0, g = 0, b = 0, a = 0;
        for (let end = i + Math.min(k, width - x * k) * 4; i < end; i += 4) {
          r += data[i];
          g += data[i + 1];
          b += data[i + 2];
          a += data[i + 3];
        }
        sums[x * 4] += r;
        sums[x * 4 + 1] += g;
        sums[x * 4 + 2] += b;
        sums[x * 4 + 3] += a;
      }
    }
    for (let x = 0; x < w; x++) {
      const count = rows * Math.min(k, width - x * k);
      for (let ch = 0; ch < 4; ch++) out[(y * w + x) * 4 + ch] = Math.round(sums[x * 4 + ch] / count);
    }
  }
  return { data: out, width: w, height: h };
}

/**
 * Upload images and record their preprocessing into `output` (an NHWC vec4 batch, image i at
 * index i), to run in the same submit as the network. `destroy` frees the uploads afterwards.
 */
export async function preprocessImages(
  gpu: Gpu,
  images: RgbaImage[],
  config: PreprocessConfig,
  output: GPUBuffer,
): Promise<{ encode: (encoder: GPUCommandEncoder) => void; destroy: () => void }> {
  images.forEach(checkImage);
  const programs = images.map((img, i) => new PreprocessProgram(img.width, img.height, i, config));
  const pipelines = await Promise.all(programs.map((p) => getPipeline(gpu, p)));
  // One u32 per pixel: a view when the bytes are 4-aligned (a subarray may not be), else a copy.
  const words = (img: RgbaImage): Uint32Array => (img.data.byteOffset % 4 ? new Uint32Array(img.data.slice().buffer) : new Uint32Array(img.data.buffer, img.data.byteOffset, img.width * img.height));
  const pixels = images.map((img, i) => uploadBuffer(gpu, words(img), `image ${i}`));
  const uniforms = programs.map((p, i) => uniformBuffer(gpu, p.uniforms, `image ${i} params`));
  const bindGroups = programs.map((_, i) => bindBuffers(gpu, pipelines[i], [uniforms[i], pixels[i], output]));
  return {
    encode(encoder) {
      const pass = encoder.beginComputePass({ label: 'preprocess' });
      programs.forEach((p, i) => {
        pass.setPipeline(pipelines[i]);
        pass.setBindGroup(0, bindGroups[i]);
        pass.dispatchWorkgroups(...p.workgroups);
      });
      pass.end();
    },
    destroy() {
      for (const b of [...pixels, ...uniforms]) destroyBuffer(gpu, b);
    },
  };
}
