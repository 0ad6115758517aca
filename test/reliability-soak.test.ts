// Soak: many consecutive inferences of a small model leave GPU buffer count, GPU bytes and the JS
// heap where they started, and every result stays the same. SOAK_RUNS sets the count (default 50;
// docs/reliability.md reports 1000). The browser's twin is e2e/soak.spec.ts.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, test } from 'vitest';
import { createNodeGpu, ResNetModel } from '../src/node';
import { randomInput, smallModel } from './small-model';

const RUNS = Number(process.env.SOAK_RUNS ?? 50);

// A full collection on demand, so heap figures compare live objects rather than garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 2 ** 20;

test(`soak: ${RUNS} consecutive inferences keep GPU buffers, GPU bytes and the JS heap flat`, async () => {
  const gpu = await createNodeGpu();
  const model = await ResNetModel.load(gpu, smallModel());
  const shape = [2, 3, 32, 32];
  const input = randomInput(shape, 1);
  const image = { data: Uint8Array.from({ length: 40 * 30 * 4 }, (_, i) => (i * 7) % 256), width: 40, height: 30 };
  // Every tenth call classifies an image: another input shape, so schedules are rebuilt and freed too.
  const call = (i: number): Promise<Float32Array> => (i % 10 === 9 ? model.runImages([image]) : model.run(input, shape));
  for (let i = 0; i < 20; i++) await call(i); // warm the JIT and the allocator, and tune both shapes, before measuring
  const expected = [await call(0), await call(9)]; // after the warm-up: a shape's first run is untuned

  const measure = () => {
    gc();
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return { buffers: gpu.liveBuffers, bytes: gpu.liveBytes, heapUsed, arrayBuffers };
  };
  const start = measure();
  const t = performance.now();
  let differing = 0;
  for (let i = 0; i < RUNS; i++) {
    const result = await call(i);
    if (Buffer.compare(Buffer.from(result.buffer), Buffer.from(expected[i % 10 === 9 ? 1 : 0].buffer)) !== 0) differing++;
  }
  const ms = performance.now() - t;
  const end = measure();
  await model.dispose();

  const mib = (b: number): string => `${(b / MiB).toFixed(2)} MiB`;
  console.log(
    `soak (node, ${gpu.adapter.description}): ${RUNS} inferences in ${(ms / 1000).toFixed(1)} s; ` +
      `GPU buffers ${start.buffers} -> ${end.buffers}, GPU bytes ${start.bytes} -> ${end.bytes}, ` +
      `JS heap ${mib(start.heapUsed)} -> ${mib(end.heapUsed)}, array buffers ${mib(start.arrayBuffers)} -> ${mib(end.arrayBuffers)}`,
  );
  expect(differing).toBe(0);
  expect([end.buffers, end.bytes]).toEqual([start.buffers, start.bytes]);
  // After a full collection the heap still moves by a few hundred kB (compiled code, feedback), up
  // or down, with no trend over 2500 runs: 1 MiB catches a leak of 1 kB a call at 1000 runs.
  expect(end.heapUsed - start.heapUsed).toBeLessThan(MiB);
  expect(end.arrayBuffers - start.arrayBuffers).toBeLessThan(MiB);
  expect([gpu.liveBuffers, gpu.liveBytes]).toEqual([0, 0]);
});
