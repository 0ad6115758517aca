import { WeightsError } from '../runtime/errors';
import type { ResNetConfig } from './resnet';
import { DTYPE_BYTES, decodeFloats, elementCount, encodeFloats, type ModelMeta, type PreparedWeights, type TensorMap } from './tensors';

/**
 * The project's weight format (documented in weights/README.md): a JSON index plus shards of
 * bounded size. The shards, concatenated in order, form one byte stream; each tensor is a byte
 * range of that stream, so a tensor may span shards and no shard exceeds the bound.
 */
export const SHARD_FORMAT = 'resnet-webgpu-shards';
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;
/** More bytes than any ResNet's weights (wide_resnet101_2 is 500 MB as float32). */
const MAX_TOTAL_BYTES = 2 ** 31;

export interface ShardIndex {
  format: typeof SHARD_FORMAT;
  version: 1;
  config: ResNetConfig;
  meta: ModelMeta;
  shards: { file: string; bytes: number; sha256: string }[];
  tensors: Record<string, { dtype: 'f32' | 'f16'; shape: number[]; offset: number; bytes: number }>;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export async function writeShards(
  weights: PreparedWeights,
  options: { dtype?: 'f32' | 'f16'; maxShardBytes?: number; prefix?: string } = {},
): Promise<{ index: ShardIndex; files: Map<string, Uint8Array> }> {
  const dtype = options.dtype ?? 'f32';
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_SHARD_BYTES;
  const tensors: ShardIndex['tensors'] = {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of weights.tensors) {
    const bytes = encodeFloats(t.data, dtype);
    tensors[name] = { dtype, shape: t.shape, offset, bytes: bytes.byteLength };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  const stream = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    stream.set(p, at);
    at += p.byteLength;
  }
  const files = new Map<string, Uint8Array>();
  const shards: ShardIndex['shards'] = [];
  for (let start = 0, i = 0; start < stream.byteLength || i === 0; start += maxShardBytes, i++) {
    const bytes = stream.subarray(start, Math.min(start + maxShardBytes, stream.byteLength));
    const file = `${options.prefix ?? 'weights'}-${String(i).padStart(3, '0')}.bin`;
    files.set(file, bytes);
    shards.push({ file, bytes: bytes.byteLength, sha256: await sha256Hex(bytes) });
  }
  return { index: { format: SHARD_FORMAT, version: 1, config: weights.config, meta: weights.meta, shards, tensors }, files };
}

function checkIndex(index: unknown, file: string): ShardIndex {
  const i = index as ShardIndex;
  if (typeof i !== 'object' || i === null || i.format !== SHARD_FORMAT) throw new WeightsError(file, `not a ${SHARD_FORMAT} index (no "format": "${SHARD_FORMAT}")`);
  if (i.version !== 1) throw new WeightsError(file, `index version ${i.version} is not supported (this build reads version 1)`);
  if (!Array.isArray(i.shards) || typeof i.tensors !== 'object' || i.tensors === null || typeof i.config !== 'object' || i.config === null) throw new WeightsError(file, 'index lacks "shards", "tensors" or "config"');
  for (const s of i.shards) {
    if (typeof s?.file !== 'string' || /(^|[\\/])\.\.([\\/]|$)|^[\\/]/.test(s.file)) throw new WeightsError(file, `shard file name ${JSON.stringify(s?.file)} must be a relative path inside the model folder`);
    if (!Number.isSafeInteger(s.bytes) || s.bytes < 0 || !/^[0-9a-f]{64}$/.test(s.sha256)) throw new WeightsError(file, `shard ${s.file} needs a byte count and a sha256`);
  }
  const total = i.shards.reduce((a, s) => a + s.bytes, 0);
  // The byte stream is allocated before the shards are read: a claim past any ResNet's size is refused first.
  if (total > MAX_TOTAL_BYTES) throw new WeightsError(file, `the shards claim ${total} bytes, more than any ResNet needs (${MAX_TOTAL_BYTES})`);
  for (const [name, t] of Object.entries(i.tensors)) {
    if (typeof t !== 'object' || t === null) throw new WeightsError(file, `entry ${JSON.stringify(t)} is not { dtype, shape, offset, bytes }`, name);
    if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new WeightsError(file, `dtype ${t.dtype} is not f32 or f16`, name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new WeightsError(file, `shape ${JSON.stringify(t.shape)} is not a list of sizes`, name);
    if (t.bytes !== elementCount(t.shape) * DTYPE_BYTES[t.dtype]) throw new WeightsError(file, `shape [${t.shape}] as ${t.dtype} needs ${elementCount(t.shape) * DTYPE_BYTES[t.dtype]} bytes, index says ${t.bytes}`, name);
    if (!Number.isInteger(t.offset) || t.offset < 0 || t.offset + t.bytes > total) throw new WeightsError(file, `bytes [${t.offset}, ${t.offset + t.bytes}) lie outside the ${total} shard bytes`, name);
  }
  return i;
}

/** Read a shard index and its shards (through `readShard`, relative to the index), checking each shard's size and sha256. */
export async function readShards(indexJson: unknown, file: string, readShard: (name: string) => Promise<Uint8Array>): Promise<PreparedWeights> {
  const index = checkIndex(indexJson, file);
  const total = index.shards.reduce((a, s) => a + s.bytes, 0);
  const stream = new Uint8Array(total);
  let at = 0;
  for (const shard of index.shards) {
    const bytes = await readShard(shard.file);
    if (bytes.byteLength !== shard.bytes) throw new WeightsError(shard.file, `shard is ${bytes.byteLength} bytes, the index (${file}) says ${shard.bytes}`);
    const digest = await sha256Hex(bytes);
    if (digest !== shard.sha256) throw new WeightsError(shard.file, `sha256 ${digest} does not match the index's ${shard.sha256}: the shard is corrupt or from another model`);
    stream.set(bytes, at);
    at += bytes.byteLength;
  }
  const tensors: TensorMap = new Map();
  for (const [name, t] of Object.entries(index.tensors)) {
    tensors.set(name, { shape: t.shape, data: decodeFloats(stream.subarray(t.offset, t.offset + t.bytes), t.dtype) });
  }
  return { config: index.config, tensors, meta: index.meta ?? {} };
}
