import { createBuffer, destroyBuffer } from './buffers';
import type { Gpu } from './device';
import type { Schedule } from './scheduler';

export interface StepTiming {
  label: string;
  kernel: string;
  ms: number;
  flops: number;
  gflops: number;
}

export const canProfile = (gpu: Gpu): boolean => gpu.adapter.features.includes('timestamp-query') && gpu.device.features.has('timestamp-query');

/**
 * GPU time of every step of a schedule, from timestamp queries: each step runs in its own compute
 * pass bracketed by two timestamps (so profiled runs are a little slower than plain ones).
 * The inputs are whatever the schedule's buffers hold.
 */
export async function profileSchedule(gpu: Gpu, schedule: Schedule): Promise<StepTiming[]> {
  const { device } = gpu;
  const steps = schedule.spec.steps;
  const count = 2 * steps.length;
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const resolve = createBuffer(gpu, 8 * count, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'timestamps');
  const readback = createBuffer(gpu, 8 * count, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'timestamps readback');
  try {
    const encoder = device.createCommandEncoder();
    schedule.encode(encoder, querySet);
    encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, readback, 0, 8 * count);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const times = new BigInt64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    return steps.map((step, i) => {
      const ms = Number(times[2 * i + 1] - times[2 * i]) / 1e6;
      const { name, variant } = step.program;
      return { label: step.label, kernel: variant ? `${name}[${variant}]` : name, ms, flops: step.program.flops, gflops: ms > 0 ? step.program.flops / ms / 1e6 : 0 };
    });
  } finally {
    querySet.destroy();
    destroyBuffer(gpu, resolve);
    destroyBuffer(gpu, readback);
  }
}
