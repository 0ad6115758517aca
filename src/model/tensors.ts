import { getFloat16 } from '@petamoriken/float16';
import type { PreprocessConfig } from '../kernels/preprocess';
import type { ResNetConfig } from './resnet';

/** A tensor on the CPU, decoded to float32 whatever its stored dtype. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export type TensorMap = Map<string, HostTensor>;

/** What a model needs besides its architecture: how to turn an image into its input, and what its outputs mean. */
export interface ModelMeta {
  labels?: string[];
  preprocess?: PreprocessConfig;
}

/** Weights ready for the engine: BatchNorm folded, named as the layer ops read them (see resnet.ts). */
export interface PreparedWeights {
  config: ResNetConfig;
  tensors: TensorMap;
  meta: ModelMeta;
}

export type StoredDType = 'f32' | 'f16' | 'bf16' | 'f64';

export const DTYPE_BYTES: Record<StoredDType, number> = { f32: 4, f16: 2, bf16: 2, f64: 8 };

export const elementCount = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Whether this host stores numbers little-endian (every browser platform does): float32 bytes then copy as they are. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decode little-endian `bytes` of a floating dtype to float32 (a copy: the result never aliases `bytes`). */
export function decodeFloats(bytes: Uint8Array, dtype: StoredDType): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Whole values only: a byte count that does not fit the dtype is the caller's to report (it names the file and tensor).
  const n = Math.floor(bytes.byteLength / DTYPE_BYTES[dtype]);
  const out = new Float32Array(n);
  // A byte copy is twice as fast as reading floats one by one (~40 ms against ~75 ms for 100 MB).
  // (Not bytes.slice(): on a Node Buffer that is a view, whose .buffer is a shared pool.)
  if (dtype === 'f32' && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, 4 * n));
    return out;
  }
  switch (dtype) {
    case 'f32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'f64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'f16': {
      const table = halfTable();
      for (let i = 0; i < n; i++) out[i] = table[view.getUint16(2 * i, true)];
      break;
    }
    case 'bf16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
  }
  return out;
}

/** Encode float32 values as little-endian f32 or f16 bytes. */
export function encodeFloats(data: Float32Array, dtype: 'f32' | 'f16'): Uint8Array {
  const out = new Uint8Array(data.length * DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  if (dtype === 'f32') for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  else {
    const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < data.length; i++) view.setUint16(2 * i, halfBits(bits[i]), true);
  }
  return out;
}

// @petamoriken/float16's getFloat16/setFloat16 take about 2 µs a value: a minute for ResNet-50.
// Decoding looks each of the 65536 halves up instead, and encoding rounds the float32 bits directly.
let halves: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!halves) {
    halves = new Float32Array(65536);
    const view = new DataView(new Uint16Array(Array.from({ length: 65536 }, (_, i) => i)).buffer);
    for (let i = 0; i < 65536; i++) halves[i] = getFloat16(view, 2 * i, true);
  }
  return halves;
}

/** The f16 bits nearest to the float32 with bits `f` (ties to even; overflow to ±inf; NaN stays NaN). */
function halfBits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exponent = ((f >>> 23) & 0xff) - 127 + 15;
  const mantissa = f & 0x7fffff;
  if (exponent === 128 + 15) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  if (exponent >= 31) return sign | 0x7c00;
  // Normal halves keep 10 of the 23 mantissa bits; subnormals fewer, with the implicit 1 made explicit.
  const shift = exponent > 0 ? 13 : 14 - exponent;
  if (shift > 24) return sign;
  const full = exponent > 0 ? mantissa : mantissa | 0x800000;
  let half = (exponent > 0 ? exponent << 10 : 0) | (full >>> shift);
  const rest = full & ((1 << shift) - 1);
  const midpoint = 1 << (shift - 1);
  // A carry out of the mantissa correctly steps the exponent (up to infinity).
  if (rest > midpoint || (rest === midpoint && half & 1)) half++;
  return sign | half;
}

export function parameterCount(tensors: TensorMap): number {
  let count = 0;
  for (const t of tensors.values()) count += t.data.length;
  return count;
}
