import { roundUp4 } from './program';

/**
 * Activations live on the GPU as NHWC with the channel axis padded to a multiple of 4 (so every
 * kernel reads vec4), the padding channels held at zero by every kernel. `c` is the logical count.
 */
export interface Shape4 {
  n: number;
  h: number;
  w: number;
  c: number;
}

export const nhwc4Bytes = (s: Shape4): number => s.n * s.h * s.w * roundUp4(s.c) * 4;

/** Per-channel scale and bias as the kernels read them: [2][c padded to 4], padding zero. */
export function packScaleBias(scale: Float32Array, bias: Float32Array): Float32Array {
  const c4 = roundUp4(scale.length);
  const out = new Float32Array(2 * c4);
  out.set(scale, 0);
  out.set(bias, c4);
  return out;
}
