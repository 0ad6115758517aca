import { destroyBuffer, uploadBuffer } from '../src/runtime/buffers';
import type { Gpu } from '../src/runtime/device';
import { roundUp4, type Program } from '../src/runtime/program';
import type { Shape4 } from '../src/runtime/layout';
import { Schedule } from '../src/runtime/scheduler';
import { createNodeGpu } from '../src/node';

let shared: Promise<Gpu> | undefined;
/** One Dawn device for the whole test file. */
export const testGpu = (): Promise<Gpu> => (shared ??= createNodeGpu());

/**
 * Run one program as a one-step graph. `inputs` are bound in order after the uniforms: activation
 * arrays are written into planned buffers (as the model's inputs are), weights are uploaded as
 * their own buffers, exactly as the model does. A `residual` is written into the output's buffer,
 * which the step then overwrites (Step.inPlace). Returns the output's bytes as float32.
 */
export async function runKernel(gpu: Gpu, program: Program, inputs: { activation?: Float32Array; weight?: Float32Array }[], outputBytes: number, residual?: Float32Array): Promise<Float32Array> {
  const tensorBytes = new Map<string, number>([['out', outputBytes]]);
  const feeds: Record<string, Float32Array> = {};
  if (residual) {
    tensorBytes.set('residual', residual.byteLength);
    feeds.residual = residual;
  }
  const weights: GPUBuffer[] = [];
  const bound = inputs.map((input, i) => {
    if (input.activation) {
      tensorBytes.set(`in${i}`, input.activation.byteLength);
      feeds[`in${i}`] = input.activation;
      return `in${i}`;
    }
    const buffer = uploadBuffer(gpu, input.weight!);
    weights.push(buffer);
    return buffer;
  });
  const schedule = await Schedule.create(gpu, { steps: [{ label: program.name, program, inputs: bound, output: 'out', inPlace: residual ? 'residual' : undefined }], tensorBytes, inputs: Object.keys(feeds), outputs: ['out'] });
  try {
    return (await schedule.run(feeds, ['out'])).out;
  } finally {
    schedule.destroy();
    for (const b of weights) destroyBuffer(gpu, b);
  }
}

/** PyTorch's NCHW float32 → the kernels' padded NHWC (the model does this on the GPU: ../src/model/input.ts). */
export function nchwToNhwc4(data: Float32Array, s: Shape4): Float32Array {
  const c4 = roundUp4(s.c);
  const out = new Float32Array(s.n * s.h * s.w * c4);
  for (let n = 0; n < s.n; n++)
    for (let c = 0; c < s.c; c++)
      for (let y = 0; y < s.h; y++)
        for (let x = 0; x < s.w; x++) out[((n * s.h + y) * s.w + x) * c4 + c] = data[((n * s.c + c) * s.h + y) * s.w + x];
  return out;
}

/** Our padded NHWC → NCHW float32. */
export function nhwc4ToNchw(data: Float32Array, s: Shape4): Float32Array {
  const c4 = roundUp4(s.c);
  const out = new Float32Array(s.n * s.c * s.h * s.w);
  for (let n = 0; n < s.n; n++)
    for (let c = 0; c < s.c; c++)
      for (let y = 0; y < s.h; y++)
        for (let x = 0; x < s.w; x++) out[((n * s.c + c) * s.h + y) * s.w + x] = data[((n * s.h + y) * s.w + x) * c4 + c];
  return out;
}
