import { WeightsError } from '../../runtime/errors';
import type { ReadFile } from '../load';
import { decodeFloats, elementCount, type TensorMap } from '../tensors';

/**
 * TF.js weights: a `model.json` (`weightsManifest` plus a model topology we do not need) or a bare
 * weights manifest (face-api's `*-weights_manifest.json`). Each manifest group lists binary shards
 * that, concatenated, hold its weights back to back in manifest order, each as its dtype or, when
 * quantized, as uint8/uint16 (value = q·scale + min) or float16.
 */

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface ManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };
/** More shard bytes than this is no ResNet's (ResNet-152 is 240 MB as float32). */
const MAX_TOTAL_BYTES = 2 ** 31;

export const isTfjsManifest = (json: unknown): boolean =>
  (typeof json === 'object' && json !== null && Array.isArray((json as { weightsManifest?: unknown }).weightsManifest)) ||
  (Array.isArray(json) && json.length > 0 && Array.isArray((json[0] as ManifestGroup)?.paths) && Array.isArray((json[0] as ManifestGroup)?.weights));

function checkManifest(json: unknown, file: string): ManifestGroup[] {
  const groups = (Array.isArray(json) ? json : (json as { weightsManifest: unknown }).weightsManifest) as ManifestGroup[];
  for (const g of groups) {
    if (!Array.isArray(g?.paths) || !Array.isArray(g.weights)) throw new WeightsError(file, 'a weights manifest group lacks "paths" or "weights"');
    for (const p of g.paths) {
      if (typeof p !== 'string' || /(^|[\\/])\.\.([\\/]|$)|^[\\/]|^[a-z]+:/i.test(p)) throw new WeightsError(file, `shard path ${JSON.stringify(p)} must be a relative path inside the model folder`);
    }
    for (const w of g.weights) {
      const name = typeof w?.name === 'string' ? w.name : undefined;
      if (!name) throw new WeightsError(file, 'a weight without a name');
      if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new WeightsError(file, `shape ${JSON.stringify(w.shape)} is not a list of sizes`, name);
      const q = w.quantization;
      if (q) {
        if (!['uint8', 'uint16', 'float16'].includes(q.dtype)) throw new WeightsError(file, `quantization dtype ${q.dtype} (uint8, uint16 and float16 are read)`, name);
        if (q.dtype !== 'float16' && !(Number.isFinite(q.scale) && Number.isFinite(q.min))) throw new WeightsError(file, `${q.dtype} quantization needs a finite scale and min`, name);
        if (w.dtype !== 'float32' && !(w.dtype === 'int32' && q.dtype !== 'float16')) throw new WeightsError(file, `${w.dtype} quantized as ${q.dtype}`, name);
      } else if (!['float32', 'int32', 'bool'].includes(w.dtype)) throw new WeightsError(file, `dtype ${w.dtype} is not read`, name);
    }
  }
  return groups;
}

/** Read every weight of a TF.js manifest (shards through `read`, relative to the manifest) as float32; integer and boolean weights are skipped. */
export async function readTfjsWeights(json: unknown, file: string, read: ReadFile): Promise<TensorMap> {
  const groups = checkManifest(json, file);
  // Sizes first, so a manifest that claims gigabytes fails before anything is fetched.
  let total = 0;
  for (const g of groups) for (const w of g.weights) total += elementCount(w.shape) * DTYPE_BYTES[w.quantization?.dtype ?? w.dtype];
  if (total > MAX_TOTAL_BYTES) throw new WeightsError(file, `the manifest's weights need ${total} bytes, more than any ResNet`);
  const tensors: TensorMap = new Map();
  for (const g of groups) {
    const shards = await Promise.all(g.paths.map((p) => read(p)));
    const stream = new Uint8Array(shards.reduce((a, s) => a + s.byteLength, 0));
    shards.reduce((at, s) => (stream.set(s, at), at + s.byteLength), 0);
    let offset = 0;
    for (const w of g.weights) {
      const kind = w.quantization?.dtype ?? w.dtype;
      const count = elementCount(w.shape);
      const bytes = count * DTYPE_BYTES[kind];
      if (offset + bytes > stream.byteLength) {
        throw new WeightsError(file, `needs bytes [${offset}, ${offset + bytes}) of shards ${g.paths.join(', ')}, which hold ${stream.byteLength} (truncated or wrong shard)`, w.name);
      }
      if (tensors.has(w.name)) throw new WeightsError(file, 'named twice in the manifest', w.name);
      const raw = stream.subarray(offset, offset + bytes);
      offset += bytes;
      if (w.dtype === 'int32' || w.dtype === 'bool') continue;
      tensors.set(w.name, { shape: w.shape, data: dequantize(raw, kind, count, w.quantization) });
    }
    if (offset !== stream.byteLength) throw new WeightsError(file, `shards ${g.paths.join(', ')} hold ${stream.byteLength} bytes, the manifest's weights ${offset}`);
  }
  return tensors;
}

function dequantize(raw: Uint8Array, kind: string, count: number, q: WeightSpec['quantization']): Float32Array {
  if (kind === 'float32') return decodeFloats(raw, 'f32');
  if (kind === 'float16') return decodeFloats(raw, 'f16');
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(count);
  const { scale, min } = q as { scale: number; min: number };
  if (kind === 'uint8') for (let i = 0; i < count; i++) out[i] = raw[i] * scale + min;
  else for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true) * scale + min;
  return out;
}
