import { PreprocessProgram, type PreprocessConfig } from '../kernels/preprocess';
import { destroyBuffer, uniformBuffer, uploadBuffer } from '../runtime/buffers';
import type { Gpu } from '../runtime/device';
import { InputError } from '../runtime/errors';
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
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InputError(`image ${index}: size ${width}×${height} is not a positive whole number of pixels`);
  }
  if (data?.length !== width * height * 4) throw new InputError(`image ${index}: ${width}×${height} RGBA needs ${width * height * 4} bytes, got ${data?.length}`);
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
  const pixels = images.map((img, i) => uploadBuffer(gpu, new Uint32Array(img.data.buffer, img.data.byteOffset, img.width * img.height), `image ${i}`));
  const uniforms = programs.map((p, i) => uniformBuffer(gpu, p.uniforms, `image ${i} params`));
  const bindGroups = programs.map((_, i) =>
    gpu.device.createBindGroup({
      layout: pipelines[i].getBindGroupLayout(0),
      entries: [uniforms[i], pixels[i], output].map((buffer, binding) => ({ binding, resource: { buffer } })),
    }),
  );
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
