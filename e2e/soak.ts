// Soak and device-loss page: a small seeded ResNet made in the page (nothing to fetch), run many
// times or across a lost device, through the browser library entry. Driven by e2e/soak.spec.ts.
import { createGpu, describeAdapter, ResNetModel, ResnetWebGpuError, type Gpu } from '../src/index';
import { randomInput, smallModel } from '../test/small-model';

const SHAPE = [2, 3, 32, 32];
const IMAGE = { data: Uint8Array.from({ length: 40 * 30 * 4 }, (_, i) => (i * 7) % 256), width: 40, height: 30 };

export interface Counts {
  buffers: number;
  bytes: number;
}

let gpu: Gpu;
let model: ResNetModel;
let expected: Float32Array[];

const counts = (): Counts => ({ buffers: gpu.liveBuffers, bytes: gpu.liveBytes });
const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
// Every tenth call classifies an image: another input shape, so schedules are rebuilt and freed too.
const call = (i: number): Promise<Float32Array> => (i % 10 === 9 ? model.runImages([IMAGE]) : model.run(randomInput(SHAPE, 1), SHAPE));

const soak = {
  /** Device and model, a warm-up, and the reference results (after it: a shape's first run is untuned). */
  async setup(): Promise<Counts & { adapter: string }> {
    gpu ??= await createGpu();
    model = await ResNetModel.load(gpu, smallModel());
    for (let i = 0; i < 20; i++) await call(i);
    expected = [await call(0), await call(9)];
    return { adapter: describeAdapter(gpu.adapter), ...counts() };
  },

  /** `runs` consecutive calls; how many results differed from the reference. */
  async run(runs: number): Promise<Counts & { ms: number; differing: number }> {
    const t = performance.now();
    let differing = 0;
    for (let i = 0; i < runs; i++) if (!same(await call(i), expected[i % 10 === 9 ? 1 : 0])) differing++;
    return { ms: performance.now() - t, differing, ...counts() };
  },

  /**
   * Lose the device twice: between calls, and right after a call's submit. The call in flight
   * must fail with a DeviceLostError, and the next calls recover with the same results.
   */
  async loseDevice(): Promise<{ between: boolean; inFlight: { name: string; code?: string }; after: boolean; generation: number }> {
    gpu.device.destroy();
    await gpu.device.lost;
    const between = same(await call(0), expected[0]);
    const queue = gpu.device.queue;
    const submit = queue.submit.bind(queue);
    queue.submit = (buffers) => {
      submit(buffers);
      gpu.device.destroy();
    };
    const inFlight = await call(0).then(
      () => ({ name: 'none' }),
      (e: Error) => ({ name: e.name, code: e instanceof ResnetWebGpuError ? e.code : undefined }),
    );
    const after = same(await call(0), expected[0]) && same(await call(9), expected[1]);
    return { between, inFlight, after, generation: gpu.generation };
  },

  async dispose(): Promise<Counts> {
    await model.dispose();
    return counts();
  },
};

declare global {
  interface Window {
    soak: typeof soak;
  }
}
window.soak = soak;
