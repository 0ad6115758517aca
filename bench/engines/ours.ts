// Our library on the page's WebGPU device.
import { canProfile, createGpu, describeAdapter, loadModel, profileSchedule } from '../../src/index';
import type { LoadEngine } from '../engine';

export const load: LoadEngine = async ({ model: url, input, shape }) => {
  const gpu = await createGpu();
  // gpu.liveBytes is a plain counter that goes down on destroy: watch its writes for the high-water
  // marks, the page's and the current run's (an inference's, without the load's and tuning's buffers).
  let live = gpu.liveBytes;
  let peak = live;
  let runPeak = live;
  let lastRunPeak = 0;
  Object.defineProperty(gpu, 'liveBytes', {
    get: () => live,
    set(bytes: number) {
      live = bytes;
      peak = Math.max(peak, bytes);
      runPeak = Math.max(runPeak, bytes);
    },
  });
  const model = await loadModel(gpu, url);
  const [n, c, h, w] = shape;
  return {
    description: `resnet-webgpu on ${describeAdapter(gpu.adapter)}`,
    run: async () => {
      // A run waits for the tuning its predecessor queued: let that finish before the count starts.
      await model.idle();
      runPeak = live;
      const logits = await model.run(input, shape);
      lastRunPeak = runPeak;
      return logits;
    },
    memory: () => ({ bytes: peak, measure: 'GPU buffers, gpu.liveBytes high-water mark', inferenceBytes: lastRunPeak, breakdown: model.memory() }),
    kernels: () => model.kernelChoices(),
    profile: async () => (canProfile(gpu) ? profileSchedule(gpu, await model.scheduleFor({ n, c, h, w })) : []),
    dispose: () => model.dispose(),
  };
};
