import { getFloat16, setFloat16 } from '@petamoriken/float16';
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

/** Decode little-endian `bytes` of a floating dtype to float32. */
export function decodeFloats(bytes: Uint8Array, dtype: StoredDType): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  switch (dtype) {
    case 'f32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'f64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'f16':
      for (let i = 0; i < n; i++) out[i] = getFloat16(view, 2 * i, true);
      break;
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
  else for (let i = 0; i < data.length; i++) setFloat16(view, 2 * i, data[i], true);
  return out;
}

export function parameterCount(tensors: TensorMap): number {
  let count = 0;
  for (const t of tensors.values()) count += t.data.length;
  return count;
}
