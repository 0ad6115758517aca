// Weight files: our shard format round-trips and is checked shard by shard; malformed or
// mismatched safetensors are rejected with a WeightsError that names the file and the tensor.
import { f16round } from '@petamoriken/float16';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ResNetModel, readWeightsFile, WeightsError, writeShards, type PreparedWeights, type ShardIndex } from '../src/node';
import { compare, torchReference, type Reference } from './fixtures';
import { weightsError } from './expect-error';
import { testGpu } from './gpu';

const SPEC = { arch: 'resnet18', classes: 10, batch: 2, height: 64, width: 64 };
let ref: Reference;
let prepared: PreparedWeights;
const dir = mkdtempSync(join(tmpdir(), 'resnet-weights-'));

beforeAll(async () => {
  ref = torchReference(SPEC);
  prepared = await readWeightsFile(ref.model);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sameBytes = (a: Float32Array, b: Float32Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** Write an index and its shards into a fresh folder; returns the index path. */
function writeShardDir(name: string, index: ShardIndex, files: Map<string, Uint8Array>): string {
  const folder = join(dir, name);
  mkdirSync(folder);
  for (const [file, bytes] of files) writeFileSync(join(folder, file), bytes);
  writeFileSync(join(folder, 'model.json'), JSON.stringify(index));
  return join(folder, 'model.json');
}

async function logitsOf(weights: PreparedWeights): Promise<Float32Array> {
  const model = await ResNetModel.load(await testGpu(), weights);
  try {
    return await model.run(ref.input.data, ref.input.shape);
  } finally {
    model.dispose();
  }
}

describe('shards', () => {
  // An odd bound, so shard boundaries fall inside tensors and inside float32 values.
  const BOUND = 1_000_003;
  let index: ShardIndex;
  let files: Map<string, Uint8Array>;
  let indexPath: string;

  beforeAll(async () => {
    ({ index, files } = await writeShards(prepared, { maxShardBytes: BOUND }));
    indexPath = writeShardDir('f32', index, files);
  });

  test('round trip: the same tensors, and the same logits as from the safetensors', async () => {
    const read = await readWeightsFile(indexPath);
    expect(read.config).toEqual(prepared.config);
    expect([...read.tensors.keys()]).toEqual([...prepared.tensors.keys()]);
    for (const [name, t] of prepared.tensors) {
      expect(read.tensors.get(name)!.shape, name).toEqual(t.shape);
      expect(sameBytes(read.tensors.get(name)!.data, t.data), name).toBe(true);
    }
    const fromShards = await logitsOf(read);
    expect(sameBytes(fromShards, await logitsOf(prepared))).toBe(true);
    const { maxAbsDiff, maxAbsRef } = compare(fromShards, ref.logits.data);
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
  });

  test('no shard exceeds the bound, and a tensor spans shards', () => {
    const total = Object.values(index.tensors).reduce((a, t) => a + t.bytes, 0);
    expect(index.shards.length).toBe(Math.ceil(total / BOUND));
    index.shards.forEach((shard, i) => {
      const size = statSync(join(dir, 'f32', shard.file)).size;
      expect(size).toBe(shard.bytes);
      // Every shard but the last is filled to the bound.
      expect(size).toBe(i < index.shards.length - 1 ? BOUND : total - BOUND * i);
    });
    const spanning = Object.entries(index.tensors).filter(([, t]) => Math.floor(t.offset / BOUND) !== Math.floor((t.offset + t.bytes - 1) / BOUND));
    expect(spanning.length).toBeGreaterThan(0);
  });

  test('f16 shards hold each value rounded to half precision', async () => {
    // Some real tensors, plus values at the edges of f16: overflow, ties to even, subnormals, −0.
    const edges = [65504, 65519.99, 65520, -1e9, Infinity, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1e-9, -0, 0.1];
    const subset: PreparedWeights = {
      ...prepared,
      tensors: new Map([...prepared.tensors].filter(([name]) => /^(layer1|fc)\./.test(name)).concat([['edges', { shape: [edges.length], data: new Float32Array(edges) }]])),
    };
    const half = await writeShards(subset, { dtype: 'f16', maxShardBytes: 4096 });
    const read = await readWeightsFile(writeShardDir('f16', half.index, half.files));
    for (const [name, t] of subset.tensors) {
      expect(half.index.tensors[name], name).toMatchObject({ dtype: 'f16', bytes: 2 * t.data.length });
      expect(sameBytes(read.tensors.get(name)!.data, t.data.map(f16round)), name).toBe(true);
    }
  });

  test('a corrupt shard is rejected by its sha256, naming the shard', async () => {
    const shard = index.shards[2].file;
    const corrupt = new Map(files);
    const bytes = files.get(shard)!.slice();
    bytes[1234] ^= 1;
    corrupt.set(shard, bytes);
    const e = await weightsError(readWeightsFile(writeShardDir('corrupt', index, corrupt)));
    expect(e.file).toBe(shard);
    expect(e.message).toMatch(/sha256 [0-9a-f]{64} does not match/);
  });

  test('a shard of the wrong size is rejected, naming the shard', async () => {
    const shard = index.shards[1].file;
    const short = new Map(files);
    short.set(shard, files.get(shard)!.subarray(0, BOUND - 1));
    const e = await weightsError(readWeightsFile(writeShardDir('short', index, short)));
    expect(e.file).toBe(shard);
    expect(e.message).toContain(`shard is ${BOUND - 1} bytes`);
  });

  test('an index is checked: tensors inside the shards, exactly those of its architecture', async () => {
    const outside: ShardIndex = structuredClone(index);
    outside.tensors['fc.bias'].offset = BOUND * index.shards.length;
    let e = await weightsError(readWeightsFile(writeShardDir('outside', outside, files)));
    expect(e).toMatchObject({ file: 'model.json', tensor: 'fc.bias' });

    const incomplete: ShardIndex = structuredClone(index);
    delete incomplete.tensors['layer4.1.conv2.scale'];
    const gpu = await testGpu();
    const buffersBefore = gpu.liveBuffers;
    e = await weightsError(ResNetModel.load(gpu, await readWeightsFile(writeShardDir('incomplete', incomplete, files)), 'model.json'));
    expect(e).toMatchObject({ file: 'model.json', tensor: 'layer4.1.conv2.scale' });

    const extra: ShardIndex = structuredClone(index);
    extra.tensors['layer4.2.conv1.scale'] = extra.tensors['layer4.1.conv1.scale'];
    e = await weightsError(ResNetModel.load(gpu, await readWeightsFile(writeShardDir('extra', extra, files)), 'model.json'));
    expect(e).toMatchObject({ file: 'model.json', tensor: 'layer4.2.conv1.scale' });
    expect(gpu.liveBuffers).toBe(buffersBefore);
  });

  test('--arch and --variant may confirm what an index holds, not change it', async () => {
    await expect(readWeightsFile(indexPath, { arch: 'resnet18', variant: 'v1.5' })).resolves.toMatchObject({ config: { arch: 'resnet18' } });
    expect((await weightsError(readWeightsFile(indexPath, { arch: 'resnet34' }))).message).toContain('--arch resnet34');
    expect((await weightsError(readWeightsFile(indexPath, { variant: 'v1' }))).message).toContain('--variant v1');
  });
});

describe('safetensors', () => {
  interface Entry {
    dtype: string;
    shape: number[];
    data_offsets: [number, number];
  }
  interface Raw {
    dtype: string;
    shape: number[];
    bytes: Uint8Array;
  }

  /** The fixture's tensors as stored (torchvision names, num_batches_tracked included). */
  function rawTensors(): Map<string, Raw> {
    const bytes = new Uint8Array(readFileSync(ref.model));
    const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header: Record<string, Entry> = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    const data = bytes.subarray(8 + length);
    const out = new Map<string, Raw>();
    for (const [name, e] of Object.entries(header)) {
      if (name !== '__metadata__') out.set(name, { dtype: e.dtype, shape: e.shape, bytes: data.slice(...e.data_offsets) });
    }
    return out;
  }

  /** Lay tensors out back to back, let `edit` spoil the header, and write the file. */
  function writeSafetensors(name: string, tensors: Map<string, Raw>, edit: (header: Record<string, Entry>) => void = () => {}): { path: string; bytes: Uint8Array } {
    const header: Record<string, Entry> = {};
    let offset = 0;
    for (const [tensor, t] of tensors) {
      header[tensor] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
      offset += t.bytes.byteLength;
    }
    edit(header);
    const json = new TextEncoder().encode(JSON.stringify(header));
    const bytes = new Uint8Array(8 + json.byteLength + offset);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.byteLength), true);
    bytes.set(json, 8);
    let at = 8 + json.byteLength;
    for (const t of tensors.values()) {
      bytes.set(t.bytes, at);
      at += t.bytes.byteLength;
    }
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return { path, bytes };
  }

  async function rejected(name: string, bytes: Uint8Array): Promise<WeightsError> {
    writeFileSync(join(dir, name), bytes);
    const e = await weightsError(readWeightsFile(join(dir, name)));
    expect(e.file).toBe(name);
    expect(e.message).toContain(name);
    return e;
  }

  test('the rewritten fixture itself loads (the cases below differ only by their defect)', async () => {
    const read = await readWeightsFile(writeSafetensors('intact.safetensors', rawTensors()).path);
    for (const [name, t] of prepared.tensors) expect(sameBytes(read.tensors.get(name)!.data, t.data), name).toBe(true);
  });

  test('truncated: the last tensor runs past the end', async () => {
    const { bytes } = writeSafetensors('whole.safetensors', rawTensors());
    const e = await rejected('truncated.safetensors', bytes.subarray(0, bytes.byteLength - 10));
    expect(e.tensor).toBe([...rawTensors().keys()].pop());
    expect(e.message).toMatch(/data_offsets \[\d+, \d+\] lie outside/);
  });

  test('header length beyond the end of the file', async () => {
    const { bytes } = writeSafetensors('whole.safetensors', rawTensors());
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.byteLength), true);
    expect((await rejected('header.safetensors', bytes)).message).toContain(`header claims ${bytes.byteLength} bytes`);
  });

  test('offsets beyond the end of the data', async () => {
    const { bytes } = writeSafetensors('offsets.safetensors', rawTensors(), (h) => (h['layer2.0.bn1.running_mean'].data_offsets[1] += 1 << 30));
    const e = await rejected('offsets.safetensors', bytes);
    expect(e.tensor).toBe('layer2.0.bn1.running_mean');
    expect(e.message).toContain('lie outside');
  });

  test('overlapping tensors', async () => {
    const { bytes } = writeSafetensors('overlap.safetensors', rawTensors(), (h) => (h['layer1.0.bn1.bias'].data_offsets = [...h['layer1.0.bn1.weight'].data_offsets]));
    const e = await rejected('overlap.safetensors', bytes);
    expect(e.tensor).toBe('layer1.0.bn1.bias');
    expect(e.message).toContain('overlaps tensor "layer1.0.bn1.weight"');
  });

  test('a tensor of the wrong shape for the architecture', async () => {
    // Same element count, so only the architecture check can catch it.
    const { bytes } = writeSafetensors('shape.safetensors', rawTensors(), (h) => (h['layer3.1.conv2.weight'].shape = [256, 256, 1, 9]));
    const e = await rejected('shape.safetensors', bytes);
    expect(e.tensor).toBe('layer3.1.conv2.weight');
    expect(e.message).toContain('expected shape [256,256,3,3] for resnet18, got [256,256,1,9]');
  });

  test('a missing tensor', async () => {
    const tensors = rawTensors();
    tensors.delete('layer4.1.bn2.running_var');
    const e = await rejected('missing.safetensors', writeSafetensors('missing.safetensors', tensors).bytes);
    expect(e.tensor).toBe('layer4.1.bn2.running_var');
    expect(e.message).toContain('missing (expected shape [512])');
  });

  test('an unexpected tensor', async () => {
    const tensors = rawTensors();
    tensors.set('layer4.1.se.fc.weight', { dtype: 'F32', shape: [4], bytes: new Uint8Array(16) });
    const e = await rejected('unexpected.safetensors', writeSafetensors('unexpected.safetensors', tensors).bytes);
    expect(e.tensor).toBe('layer4.1.se.fc.weight');
    expect(e.message).toContain('unexpected tensor for resnet18');
  });

  test('--arch naming another architecture than the file holds', async () => {
    await expect(readWeightsFile(ref.model, { arch: 'resnet18' })).resolves.toMatchObject({ config: { arch: 'resnet18' } });
    const e = await weightsError(readWeightsFile(ref.model, { arch: 'resnet34' }));
    expect(e.file).toBe('model.safetensors');
    expect(e.message).toContain('--arch resnet34 expects [3,4,6,3] blocks per stage, the file has basic blocks [2,2,2,2]');
  });
});
