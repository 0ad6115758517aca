// Our library on the page's WebGPU device.
import { canProfile, createGpu, describeAdapter, loadModel, profileSchedule } from '../../src/index';
import type { LoadEngine } from '../engine';

export const load: LoadEngine = async ({ model: url, input, shape }) => {
  const gpu = await createGpu();
  // gpu.liveBytes is a plain counter that goes down on destroy: watch its writes for the high-water mark.
  let live = gpu.liveBytes;
  let peak = live;
  Object.defineProperty(gpu, 'liveBytes', {
    get: () => live,
    set(bytes: number) {
      live = bytes;
      peak = Math.max(peak, bytes);
    },
  });
  const model = await loadModel(gpu, url);
  const [n, c, h, w] = shape;
  return {
    description: `resnet-webgpu on ${describeAdapter(gpu.adapter)}`,
    run: () => model.run(input, shape),
    memory: () => ({ bytes: peak, measure: 'GPU buffers, gpu.liveBytes high-water mark', breakdown: model.memory() }),
    kernels: () => model.kernelChoices(),
    profile: async () => (canProfile(gpu) ? profileSchedule(gpu, await model.scheduleFor({ n, c, h, w })) : []),
    dispose: () => model.dispose(),
  };
};
