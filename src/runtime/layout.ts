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

/** PyTorch's NCHW float32 → our padded NHWC. */
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

/** Per-channel scale and bias as the kernels read them: [2][c padded to 4], padding zero. */
export function packScaleBias(scale: Float32Array, bias: Float32Array): Float32Array {
  const c4 = roundUp4(scale.length);
  const out = new Float32Array(2 * c4);
  out.set(scale, 0);
  out.set(bias, c4);
  return out;
}
