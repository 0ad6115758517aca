// Fuzzing every weights format: valid small files, mutated by fast-check (bit flips, truncations,
// overwritten bytes and integer fields near the headers, inserted bytes, JSON fields deleted or
// replaced), are opened as users open them (openWeights, then the checks ResNetModel.load makes
// before touching the GPU). Each case must end in a correct load or a ResnetWebGpuError: no other
// exception, no case slower than CASE_LIMIT_MS, no runaway memory. FUZZ_RUNS cases a format
// (default 300), FUZZ_SEED to vary them; the counts are printed.
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkPrepared } from '../src/model/model';
import { describeResNet } from '../src/model/resnet';
import { encodeFloats } from '../src/model/tensors';
import { openWeights, ResnetWebGpuError, WeightsError, writeShards, type LayerOp, type ResNetConfig } from '../src/node';
import { formatReference } from './readers-fixture';
import { random, smallConfig, smallModel } from './small-model';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 1);
/** A case may take this long (parsing a 1 MB file takes a few ms). */
const CASE_LIMIT_MS = 2000;

interface Corpus {
  /** The file openWeights is given; the others are read through it. */
  main: string;
  files: Map<string, Uint8Array>;
}

// ---- Valid small files in each format ----

type Tensor = { dtype: 'F32' | 'F16' | 'BF16' | 'F64' | 'I64'; shape: number[]; data: Float64Array };

function safetensors(tensors: Map<string, Tensor>): Uint8Array {
  const size = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8 };
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = new Uint8Array(t.data.length * size[t.dtype]);
    const view = new DataView(bytes.buffer);
    t.data.forEach((v, i) => {
      if (t.dtype === 'F64') view.setFloat64(8 * i, v, true);
      else if (t.dtype === 'I64') view.setBigInt64(8 * i, BigInt(Math.round(v)), true);
      else if (t.dtype === 'F32') view.setFloat32(4 * i, v, true);
      else if (t.dtype === 'BF16') view.setUint16(2 * i, new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16, true);
    });
    if (t.dtype === 'F16') bytes.set(encodeFloats(Float32Array.from(t.data), 'f16'));
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** A torchvision state_dict (unfolded BatchNorm, num_batches_tracked) for a small ResNet, dtypes mixed. */
function torchvisionStateDict(config: ResNetConfig): Map<string, Tensor> {
  const next = random(3);
  const values = (n: number, lo: number, hi: number): Float64Array => Float64Array.from({ length: n }, () => lo + ((next() + 1) / 2) * (hi - lo));
  const out = new Map<string, Tensor>();
  const dtypes: Tensor['dtype'][] = ['F32', 'F16', 'BF16', 'F64'];
  let i = 0;
  const put = (name: string, shape: number[], lo: number, hi: number): void =>
    void out.set(name, { dtype: dtypes[i++ % dtypes.length], shape, data: values(shape.reduce((a, b) => a * b, 1), lo, hi) });
  for (const op of describeResNet(config)) {
    if (op.op === 'conv') {
      const downsample = op.name.endsWith('.downsample');
      put(downsample ? `${op.name}.0.weight` : `${op.name}.weight`, [op.outChannels, op.inChannels, op.kernel, op.kernel], -0.3, 0.3);
      const bn = downsample ? `${op.name}.1` : op.name.replace(/conv(\d)$/, 'bn$1');
      put(`${bn}.weight`, [op.outChannels], 0.5, 1.5);
      put(`${bn}.bias`, [op.outChannels], -0.1, 0.1);
      put(`${bn}.running_mean`, [op.outChannels], -0.1, 0.1);
      put(`${bn}.running_var`, [op.outChannels], 0.5, 1.5);
      out.set(`${bn}.num_batches_tracked`, { dtype: 'I64', shape: [], data: Float64Array.of(100) });
    } else if (op.op === 'linear') {
      put('fc.weight', [op.outFeatures, op.inFeatures], -0.3, 0.3);
      put('fc.bias', [op.outFeatures], -0.1, 0.1);
    }
  }
  return out;
}

/** Keras's names (conv1, conv{S}_block{B}_{K}, predictions) for a small bottleneck ResNet, as TF.js shards with every quantization. */
function kerasTfjs(): Map<string, Uint8Array> {
  const config = smallConfig({ block: 'bottleneck', variant: 'v1', widths: [2, 2, 4, 4], stemWidth: 4, numClasses: 5 });
  const next = random(5);
  const weights: { name: string; shape: number[]; dtype: string; quantization?: { dtype: string; scale?: number; min?: number } }[] = [];
  const blobs: Uint8Array[] = [];
  const kinds = ['none', 'uint8', 'uint16', 'float16'];
  const put = (name: string, shape: number[], lo: number, hi: number): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = Float32Array.from({ length: n }, () => lo + ((next() + 1) / 2) * (hi - lo));
    const kind = kinds[weights.length % kinds.length];
    if (kind === 'none') {
      weights.push({ name, shape, dtype: 'float32' });
      blobs.push(new Uint8Array(v.buffer));
    } else if (kind === 'float16') {
      weights.push({ name, shape, dtype: 'float32', quantization: { dtype: 'float16' } });
      blobs.push(encodeFloats(v, 'f16'));
    } else {
      const levels = kind === 'uint8' ? 255 : 65535;
      const scale = (hi - lo) / levels;
      const q = (kind === 'uint8' ? Uint8Array : Uint16Array).from(v.map((x) => Math.round((x - lo) / scale)));
      weights.push({ name, shape, dtype: 'float32', quantization: { dtype: kind, scale, min: lo } });
      blobs.push(new Uint8Array(q.buffer));
    }
  };
  const keras = (op: LayerOp): string => {
    const m = /^layer(\d)\.(\d+)\.(?:conv(\d)|downsample)$/.exec(op.name);
    return m ? `conv${+m[1] + 1}_block${+m[2] + 1}_${m[3] ?? 0}` : 'conv1';
  };
  for (const op of describeResNet(config)) {
    if (op.op === 'conv') {
      const layer = keras(op);
      put(`${layer}_conv/kernel`, [op.kernel, op.kernel, op.inChannels, op.outChannels], -0.3, 0.3);
      put(`${layer}_conv/bias`, [op.outChannels], -0.1, 0.1);
      put(`${layer}_bn/gamma`, [op.outChannels], 0.5, 1.5);
      put(`${layer}_bn/beta`, [op.outChannels], -0.1, 0.1);
      put(`${layer}_bn/moving_mean`, [op.outChannels], -0.1, 0.1);
      put(`${layer}_bn/moving_variance`, [op.outChannels], 0.5, 1.5);
    } else if (op.op === 'linear') {
      put('predictions/kernel', [op.inFeatures, op.outFeatures], -0.3, 0.3);
      put('predictions/bias', [op.outFeatures], -0.1, 0.1);
    }
  }
  const stream = concat(blobs);
  const half = Math.ceil(stream.length / 2);
  const paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
  const topology = { model_config: { class_name: 'Functional', config: { name: 'resnet', layers: [{ class_name: 'BatchNormalization', config: { name: 'conv1_bn', epsilon: 1.001e-5 } }] } } };
  const json = { format: 'layers-model', modelTopology: topology, weightsManifest: [{ paths, weights }] };
  return new Map([
    ['model.json', new TextEncoder().encode(JSON.stringify(json))],
    [paths[0], stream.subarray(0, half)],
    [paths[1], stream.subarray(half)],
  ]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** A formatReference fixture (made with PyTorch) as a corpus: its main file and every file beside it but the test's own. */
function pytorchFixture(format: string): Corpus {
  const { dir, file } = formatReference({ model: 'cifar-resnet20', format, height: 32, width: 32 });
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir)) if (!name.endsWith('.npy')) files.set(name, new Uint8Array(readFileSync(join(dir, name))));
  return { main: file.slice(dirname(file).length + 1), files };
}

async function corpora(): Promise<Record<string, Corpus>> {
  const shards = await writeShards(smallModel(), { dtype: 'f16', maxShardBytes: 8192 });
  const state = torchvisionStateDict(smallConfig());
  const names = [...state.keys()];
  const halves = [new Map(names.slice(0, 40).map((n) => [n, state.get(n)!])), new Map(names.slice(40).map((n) => [n, state.get(n)!]))];
  const shardNames = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap = Object.fromEntries(names.map((n, i) => [n, shardNames[i < 40 ? 0 : 1]]));
  return {
    'resnet-webgpu shard index': {
      main: 'model.json',
      files: new Map([['model.json', new TextEncoder().encode(JSON.stringify(shards.index))], ...shards.files]),
    },
    safetensors: { main: 'model.safetensors', files: new Map([['model.safetensors', safetensors(state)]]) },
    'sharded safetensors (weight_map index)': {
      main: 'model.safetensors.index.json',
      files: new Map([
        ['model.safetensors.index.json', new TextEncoder().encode(JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }))],
        [shardNames[0], safetensors(halves[0])],
        [shardNames[1], safetensors(halves[1])],
      ]),
    },
    'torch.save zip (a checkpoint dict)': pytorchFixture('pth-checkpoint'),
    'torch.save legacy': pytorchFixture('pth-legacy'),
    ONNX: pytorchFixture('onnx'),
    'TF.js model.json (quantized shards)': { main: 'model.json', files: kerasTfjs() },
  };
}

// ---- Mutations ----

type Mutation =
  | { kind: 'flip'; file: number; flips: { at: number; bit: number }[] }
  | { kind: 'truncate'; file: number; length: number }
  | { kind: 'overwrite'; file: number; at: number; bytes: Uint8Array }
  | { kind: 'integer'; file: number; at: number; value: bigint; width: 4 | 8 }
  | { kind: 'insert'; file: number; at: number; bytes: Uint8Array }
  | { kind: 'json'; file: number; path: number; replacement: { value: unknown } | 'delete' };

/** A position in a file of `length` bytes, favouring its first and last 4 kB, where the headers and directories are. */
const position = (length: number): fc.Arbitrary<number> =>
  fc.oneof(fc.nat(Math.min(length - 1, 4095)), fc.integer({ min: Math.max(0, length - 4096), max: length - 1 }), fc.nat(length - 1));

// Sizes, counts and offsets at the edges: what a corrupted length field holds.
const INTERESTING = [0n, 1n, 2n, 3n, 4n, 7n, 8n, 255n, 256n, 65535n, 65536n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n];
const JSON_VALUES = [-1, 0, 1, 3, 1e9, 2 ** 53, 1e308, -0.5, '', 'x', '../../etc/passwd', 'F64', 'f16', 'uint8', null, true, [], {}, [1, 2, 3], { dtype: 'F32' }];

function mutations(corpus: Corpus): fc.Arbitrary<Mutation> {
  const files = [...corpus.files.values()];
  const jsonFiles = [...corpus.files.keys()].map((name, i) => (name.endsWith('.json') ? i : -1)).filter((i) => i >= 0);
  const perFile = (file: number): fc.Arbitrary<Mutation> => {
    const n = files[file].length;
    const byteMutations: fc.Arbitrary<Mutation>[] = [
      fc.record({ kind: fc.constant('flip' as const), file: fc.constant(file), flips: fc.array(fc.record({ at: position(n), bit: fc.nat(7) }), { minLength: 1, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('truncate' as const), file: fc.constant(file), length: fc.oneof(fc.nat(n - 1), fc.integer({ min: Math.max(0, n - 64), max: n - 1 })) }),
      fc.record({ kind: fc.constant('overwrite' as const), file: fc.constant(file), at: position(n), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
      fc.record({ kind: fc.constant('integer' as const), file: fc.constant(file), at: position(n), value: fc.constantFrom(...INTERESTING), width: fc.constantFrom(4 as const, 8 as const) }),
      fc.record({ kind: fc.constant('insert' as const), file: fc.constant(file), at: position(n), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    ];
    if (!jsonFiles.includes(file)) return fc.oneof(...byteMutations);
    const json = fc.record({
      kind: fc.constant('json' as const),
      file: fc.constant(file),
      path: fc.nat(),
      replacement: fc.oneof(fc.constant('delete' as const), fc.record({ value: fc.oneof(fc.constantFrom(...JSON_VALUES), fc.jsonValue({ maxDepth: 2 })) })),
    });
    // JSON files: mostly structured mutations (a flipped byte is usually just invalid JSON).
    return fc.oneof({ arbitrary: json, weight: 3 }, { arbitrary: fc.oneof(...byteMutations), weight: 1 });
  };
  // The main file (and JSON indexes) draw most mutations; each other file some.
  return fc.oneof({ arbitrary: perFile(0), weight: 2 }, { arbitrary: fc.nat(files.length - 1).chain(perFile), weight: 1 });
}

/** Every value's path in a JSON tree (objects by key, arrays by index), the root excluded. */
function jsonPaths(value: unknown, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const p = [...path, Array.isArray(value) ? Number(k) : k];
      out.push(p);
      jsonPaths(v, p, out);
    }
  }
  return out;
}

function apply(m: Mutation, bytes: Uint8Array): Uint8Array {
  switch (m.kind) {
    case 'flip': {
      const out = bytes.slice();
      for (const { at, bit } of m.flips) out[at] ^= 1 << bit;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, m.length);
    case 'overwrite': {
      const out = bytes.slice();
      out.set(m.bytes.subarray(0, out.length - m.at), m.at);
      return out;
    }
    case 'integer': {
      const out = bytes.slice();
      const word = new Uint8Array(8);
      new DataView(word.buffer).setBigUint64(0, BigInt.asUintN(64, m.value), true);
      out.set(word.subarray(0, Math.min(m.width, out.length - m.at)), m.at);
      return out;
    }
    case 'insert':
      return concat([bytes.subarray(0, m.at), m.bytes, bytes.subarray(m.at)]);
    case 'json': {
      const root = JSON.parse(new TextDecoder().decode(bytes));
      const paths = jsonPaths(root);
      const path = paths[m.path % paths.length];
      const parent = path.slice(0, -1).reduce((o, k) => o[k], root);
      const key = path[path.length - 1];
      if (m.replacement !== 'delete') parent[key] = m.replacement.value;
      else if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      return new TextEncoder().encode(JSON.stringify(root));
    }
  }
}

// ---- The property ----

type Outcome = 'loaded' | string;

/** Open the corpus as users do; a ResnetWebGpuError is a fine outcome (its code is returned), anything else throws. */
async function open(corpus: Corpus, files: Map<string, Uint8Array>): Promise<Outcome> {
  const read = async (name: string): Promise<Uint8Array> => {
    const bytes = files.get(name);
    if (!bytes) throw new WeightsError(name, 'no such file');
    return bytes;
  };
  try {
    const prepared = await openWeights(corpus.main, read);
    checkPrepared(prepared, corpus.main);
    return 'loaded';
  } catch (e) {
    if (e instanceof ResnetWebGpuError) return e.name;
    throw e;
  }
}

const summary: string[] = [];
let corpus: Record<string, Corpus>;
beforeAll(async () => {
  corpus = await corpora();
});
afterAll(() => console.log(`fuzz (seed ${SEED}, ${RUNS} cases a format):\n  ${summary.join('\n  ')}`));

describe('fuzzing the weight readers', () => {
  const formats = ['resnet-webgpu shard index', 'safetensors', 'sharded safetensors (weight_map index)', 'torch.save zip (a checkpoint dict)', 'torch.save legacy', 'ONNX', 'TF.js model.json (quantized shards)'];

  test.each(formats)('%s: every mutated file loads correctly or fails with a ResnetWebGpuError', async (format) => {
    const c = corpus[format];
    expect(await open(c, c.files)).toBe('loaded');
    const names = [...c.files.keys()];
    const outcomes = new Map<Outcome, number>();
    let slowest = 0;
    const rssBefore = process.resourceUsage().maxRSS;
    await fc.assert(
      fc.asyncProperty(mutations(c), async (m) => {
        const files = new Map(c.files);
        files.set(names[m.file], apply(m, c.files.get(names[m.file])!));
        const t = performance.now();
        const outcome = await open(c, files);
        const ms = performance.now() - t;
        slowest = Math.max(slowest, ms);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        expect(ms, `${m.kind} of ${names[m.file]}`).toBeLessThan(CASE_LIMIT_MS);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // maxRSS is the process's peak (kB): a case that allocated far more than its file would show here.
    const rssGrowth = (process.resourceUsage().maxRSS - rssBefore) / 1024;
    const bytes = [...c.files.values()].reduce((a, f) => a + f.length, 0);
    summary.push(`${format} (${(bytes / 1024).toFixed(0)} kB in ${c.files.size} file${c.files.size > 1 ? 's' : ''}): ${[...outcomes].map(([o, n]) => `${n} ${o}`).join(', ')}; slowest ${slowest.toFixed(0)} ms; peak RSS +${rssGrowth.toFixed(0)} MiB`);
    expect(rssGrowth).toBeLessThan(512);
  });
});
