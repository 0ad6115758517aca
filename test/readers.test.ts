// Weights in the forms users have them: each format built from a seeded PyTorch model by
// scripts/weights_reference.py and run against PyTorch's logits; then malformed and malicious
// files of each format, each rejected quickly with a WeightsError naming the file and the tensor.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto, { type onnx as proto } from 'onnx-proto';
import { describe, expect, test } from 'vitest';
import { openWeights, ResNetModel, readWeightsFile, WeightsError, type PreparedWeights, type ResNetConfig } from '../src/node';
import { parsePytorch } from '../src/model/readers/pytorch';
import { readTfjsWeights } from '../src/model/readers/tfjs';
import { FACE_RECOGNITION } from '../src/model/readers/tfjs-models';
import { parseSafetensors } from '../src/model/safetensors';
import { decodeFloats, encodeFloats } from '../src/model/tensors';
import { prepareStateDict } from '../src/model/torchvision';
import { cosine, FACE_API_MANIFEST, FACE_API_MODEL, faceApiReference } from './face-api-fixture';
import { argmaxRows, compare, ROOT } from './fixtures';
import { formatReference, scriptsVersion, type FormatSpec } from './readers-fixture';
import { testGpu } from './gpu';

const { onnx } = onnxProto;
const PYTHON = '/usr/bin/python3';

async function logitsOf(weights: PreparedWeights, input: { data: Float32Array; shape: number[] }): Promise<Float32Array> {
  const gpu = await testGpu();
  const buffersBefore = gpu.liveBuffers;
  const model = await ResNetModel.load(gpu, weights);
  try {
    return await model.run(input.data, input.shape);
  } finally {
    model.dispose();
    expect(gpu.liveBuffers).toBe(buffersBefore);
  }
}

/** Load a format's file, run it, and hold it to the suite's tolerance against PyTorch. */
async function expectMatchesTorch(spec: FormatSpec, config: Partial<ResNetConfig>): Promise<void> {
  const ref = formatReference(spec);
  const weights = await readWeightsFile(ref.file);
  expect(weights.config).toMatchObject(config);
  const logits = await logitsOf(weights, ref.input);
  const { maxAbsDiff, maxAbsRef } = compare(logits, ref.logits);
  expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
  const classes = spec.classes ?? 10;
  expect(argmaxRows(logits, classes)).toEqual(argmaxRows(ref.logits, classes));
}

const resnet18: Partial<ResNetConfig> = { arch: 'resnet18', block: 'basic', layers: [2, 2, 2, 2], numClasses: 10 };

describe('each format matches PyTorch', () => {
  test('torch.save zip archive (torch >= 1.6): resnet18', () => expectMatchesTorch({ model: 'resnet18', format: 'pth' }, resnet18));

  test('torch.save legacy serialisation (_use_new_zipfile_serialization=False): resnet18', () => expectMatchesTorch({ model: 'resnet18', format: 'pth-legacy' }, resnet18));

  test('a training checkpoint {epoch, state_dict under DataParallel names, best_prec1}: CIFAR ResNet-20 with option-A shortcuts', () =>
    expectMatchesTorch(
      { model: 'cifar-resnet20', format: 'pth-checkpoint', height: 32, width: 32 },
      { arch: 'resnet20', layers: [3, 3, 3], widths: [16, 32, 64], stem: { kernel: 3, stride: 1, pad: 1 }, shortcut: 'subsample', shortcutPadding: 'both' },
    ));

  test('Hugging Face ResNetForImageClassification names in safetensors: resnet50', () =>
    expectMatchesTorch({ model: 'resnet50', format: 'hf-safetensors', batch: 1 }, { arch: 'resnet50', block: 'bottleneck', variant: 'v1.5' }));

  test('Hugging Face sharded safetensors (model.safetensors.index.json): resnet18', () => expectMatchesTorch({ model: 'resnet18', format: 'hf-sharded' }, resnet18));

  test('Hugging Face sharded torch.save bins (pytorch_model.bin.index.json): resnet18', () => expectMatchesTorch({ model: 'resnet18', format: 'hf-bin-sharded' }, resnet18));

  test('ONNX as torch.onnx.export writes it in eval mode (BatchNorm folded into Conv): resnet18', () => expectMatchesTorch({ model: 'resnet18', format: 'onnx' }, resnet18));

  test('ONNX with BatchNormalization kept (TrainingMode.PRESERVE, no constant folding): resnet18', () => expectMatchesTorch({ model: 'resnet18', format: 'onnx-unfolded' }, resnet18));

  test('ONNX with every initializer in an external data file: resnet18', () => expectMatchesTorch({ model: 'resnet18', format: 'onnx-external' }, resnet18));

  test('ONNX of the CIFAR ResNet-20: option-A shortcuts as Slice + Pad (its pads computed by constant ops)', () =>
    expectMatchesTorch(
      { model: 'cifar-resnet20', format: 'onnx', height: 32, width: 32 },
      { arch: 'resnet20', layers: [3, 3, 3], stem: { kernel: 3, stride: 1, pad: 1 }, shortcut: 'subsample', shortcutPadding: 'both' },
    ));

  test('ONNX bottleneck blocks: resnet50', () => expectMatchesTorch({ model: 'resnet50', format: 'onnx', batch: 1 }, { arch: 'resnet50', block: 'bottleneck', variant: 'v1.5', numClasses: 10 }));

  test('ONNX pre-activation ResNet v2 (standalone BatchNorm+ReLU kernels), BatchNorm folded where it follows a conv', () =>
    expectMatchesTorch({ model: 'preact-resnet18', format: 'onnx' }, { arch: 'preact-resnet18', preActivation: true }));

  test('ONNX pre-activation ResNet v2, every BatchNormalization kept', () =>
    expectMatchesTorch({ model: 'preact-resnet18', format: 'onnx-unfolded' }, { arch: 'preact-resnet18', preActivation: true }));
});

/** face-api's weights re-encoded as another TF.js dtype, split into shards of `shardBytes`; `read` serves them from memory. */
async function reencodeFaceApi(kind: 'float32' | 'float16' | 'uint16', shardBytes: number): Promise<{ read: (p: string) => Promise<Uint8Array>; manifest: unknown[] }> {
  const original = JSON.parse(readFileSync(FACE_API_MANIFEST, 'utf8')) as { weights: { name: string; shape: number[] }[] }[];
  const decoded = await readTfjsWeights(original, 'manifest', async (p) => new Uint8Array(readFileSync(join(FACE_API_MODEL, p))));
  const parts: Uint8Array[] = [];
  const weights = original[0].weights.map(({ name, shape }) => {
    const data = decoded.get(name)!.data;
    if (kind === 'float32') parts.push(encodeFloats(data, 'f32'));
    if (kind === 'float16') parts.push(encodeFloats(data, 'f16'));
    if (kind === 'float32') return { name, shape, dtype: 'float32' };
    if (kind === 'float16') return { name, shape, dtype: 'float32', quantization: { dtype: 'float16' } };
    let [min, max] = [Infinity, -Infinity];
    for (const v of data) [min, max] = [Math.min(min, v), Math.max(max, v)];
    const scale = (max - min) / 65535 || 1;
    parts.push(new Uint8Array(Uint16Array.from(data, (v) => Math.round((v - min) / scale)).buffer));
    return { name, shape, dtype: 'float32', quantization: { dtype: 'uint16', scale, min } };
  });
  const stream = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  parts.reduce((at, p) => (stream.set(p, at), at + p.byteLength), 0);
  const files = new Map<string, Uint8Array>();
  for (let i = 0; i * shardBytes < stream.byteLength; i++) files.set(`group1-shard${i + 1}of${Math.ceil(stream.byteLength / shardBytes)}.bin`, stream.subarray(i * shardBytes, (i + 1) * shardBytes));
  const manifest = [{ paths: [...files.keys()], weights }];
  const read = async (p: string): Promise<Uint8Array> => {
    if (p === 'model.json') return new TextEncoder().encode(JSON.stringify({ format: 'layers-model', weightsManifest: manifest }));
    const f = files.get(p);
    if (!f) throw new Error(`no such shard ${p}`);
    return f;
  };
  return { read, manifest };
}

test('float32 bytes decode from any view: a pooled Node Buffer, an odd byte offset', () => {
  const values = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 1e3);
  const bytes = encodeFloats(values, 'f32');
  // Small Buffers share one pool ArrayBuffer: its .buffer is not these bytes alone.
  const pooled = Buffer.from(bytes);
  expect(pooled.buffer.byteLength).toBeGreaterThan(bytes.byteLength);
  expect(decodeFloats(pooled, 'f32')).toEqual(values);
  const odd = new Uint8Array(bytes.byteLength + 3);
  odd.set(bytes, 3);
  const decoded = decodeFloats(odd.subarray(3), 'f32');
  expect(decoded).toEqual(values);
  odd[3] ^= 0xff; // a copy, not a view of the input
  expect(decoded).toEqual(values);
});

describe('TF.js', () => {
  test('dequantization as TF.js does it: uint8 and uint16 (q·scale + min), float16, float32; int32 weights skipped', async () => {
    const u16 = new Uint16Array([0, 1, 65535]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]);
    const bytes = [new Uint8Array([0, 1, 255]), new Uint8Array(u16.buffer), new Uint8Array(f16.buffer), encodeFloats(new Float32Array([0.1, -2.5]), 'f32'), new Uint8Array(8)];
    const stream = new Uint8Array(bytes.reduce((a, b) => a + b.byteLength, 0));
    bytes.reduce((at, b) => (stream.set(b, at), at + b.byteLength), 0);
    const manifest = [
      {
        paths: ['a.bin', 'b.bin'],
        weights: [
          { name: 'u8', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'u16', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.001, min: 0.25 } },
          { name: 'f16', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 'f32', shape: [2], dtype: 'float32' },
          { name: 'steps', shape: [2], dtype: 'int32' },
        ],
      },
    ];
    // Two shards, cut inside the float16 tensor.
    const shards = new Map([
      ['a.bin', stream.subarray(0, 11)],
      ['b.bin', stream.subarray(11)],
    ]);
    const tensors = await readTfjsWeights(manifest, 'manifest.json', async (p) => shards.get(p)!);
    expect([...tensors.keys()]).toEqual(['u8', 'u16', 'f16', 'f32']);
    expect([...tensors.get('u8')!.data]).toEqual([-1, -0.5, 126.5]);
    expect(tensors.get('u16')!.data).toEqual(Float32Array.from([0.25, 0.251, 65.785]));
    expect([...tensors.get('f16')!.data]).toEqual([1, -2, 65504, 2 ** -24]);
    expect(tensors.get('f16')!.shape).toEqual([2, 2]);
    expect(tensors.get('f32')!.data).toEqual(Float32Array.from([0.1, -2.5]));
  });

  // uint16 and float32 decode through the same paths (see the dequantization test and face-api's re-encodings).
  for (const quantization of ['uint8', 'float16'] as const) {
    test(`Keras ResNet50 as tfjs-converter writes it (layers model, 4 MB shards), ${quantization}-quantized`, () =>
      expectMatchesTorch(
        { model: 'resnet50', variant: 'v1', format: `tfjs-keras-${quantization}`, batch: 1 },
        { arch: 'resnet50', block: 'bottleneck', variant: 'v1', numClasses: 10 },
      ));
  }

  // face-api's uint8 weights, re-encoded: float32 holds exactly the same values, so the PyTorch
  // rebuild's tolerance applies; float16 and uint16 round them, and the descriptors barely move.
  for (const [kind, shardBytes] of [
    ['float32', 1 << 20],
    ['float16', 1 << 20],
    ['uint16', 999_983],
  ] as const) {
    test(`face-api's weights as ${kind} TF.js shards of ${shardBytes} bytes (model.json) match the PyTorch rebuild`, async () => {
      const ref = faceApiReference();
      const { read, manifest } = await reencodeFaceApi(kind, shardBytes);
      expect((manifest[0] as { paths: string[] }).paths.length).toBeGreaterThan(1);
      const weights = await openWeights('model.json', read);
      expect(weights.config).toEqual(FACE_RECOGNITION);
      const descriptors = await logitsOf(weights, ref.input);
      const { maxAbsDiff, maxAbsRef } = compare(descriptors, ref.descriptors);
      expect(maxAbsDiff).toBeLessThanOrEqual((kind === 'float32' ? 1e-3 : 1e-2) * maxAbsRef);
      for (let i = 0; i < ref.input.shape[0]; i++) expect(cosine(descriptors.subarray(i * 128, (i + 1) * 128), ref.descriptors.subarray(i * 128, (i + 1) * 128))).toBeGreaterThanOrEqual(0.9999);
    });
  }
});

/** The error a promise rejects with, checked to be a WeightsError naming `file` (and `tensor`, when given), within `ms`. */
async function rejects(promise: Promise<unknown>, file: string, tensor: string | undefined, pattern: RegExp, ms = 5000): Promise<WeightsError> {
  const start = performance.now();
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(performance.now() - start).toBeLessThan(ms);
  expect(error).toBeInstanceOf(WeightsError);
  const e = error as WeightsError;
  expect(e.file).toBe(file);
  expect(e.tensor).toBe(tensor);
  expect(e.message).toMatch(pattern);
  return e;
}

describe('bad files are rejected: typed, named, fast', () => {
  const badDir = join(ROOT, '.cache', 'fixtures', `bad-weights-${scriptsVersion('bad_weights.py')}`);
  const bad = (name: string): string => {
    if (!existsSync(join(badDir, 'good.pth'))) execFileSync(PYTHON, [join(ROOT, 'scripts', 'bad_weights.py'), '--out', badDir], { stdio: 'inherit' });
    return join(badDir, name);
  };
  const pth = (name: string, tensor: string | undefined, pattern: RegExp) => rejects(readWeightsFile(bad(name)), name, tensor, pattern);

  describe('torch.save', () => {
    test('strided views and a shared storage are read as torch reads them', () => {
      const tensors = parsePytorch(new Uint8Array(readFileSync(bad('strided.pth'))), 'strided.pth');
      expect(tensors.get('t')).toEqual({ shape: [3, 2], data: Float32Array.from([1, 4, 2, 5, 3, 6]) });
      expect(tensors.get('u')).toEqual({ shape: [2, 2], data: Float32Array.from([6, 7, 8, 9]) });
    });
    test('a pickle calling os.system through GLOBAL + REDUCE', () => pth('forbidden-global.pth', 'w', /global posix\.system is not allowed/));
    test('a pickle calling os.system through STACK_GLOBAL + REDUCE (protocol 4)', () => pth('forbidden-stack-global.pth', 'w', /global posix\.system is not allowed/));
    test('a whole pickled model instead of its state_dict', () => pth('whole-model.pth', undefined, /global torch\.nn\.modules\.container\.Sequential is not allowed/));
    test('a big-endian file', () => pth('big-endian.pth', undefined, /saved big-endian; only little-endian files are read/));
    test('truncated zip archive', () => pth('truncated.pth', undefined, /not a readable zip archive/));
    test('a storage entry shorter than its tensor', () => pth('storage-short.pth', 'w', /zip entry archive\/data\/0 holds 24 bytes, 40 expected/));
    test('a storage claiming gigabytes', () => pth('storage-gigabytes.pth', 'w', /storages claim 4294967296 bytes, the tensors cover 40/));
    test('a view beyond the end of its storage', () => pth('view-beyond-storage.pth', 'w', /elements up to 18 of storage 0, which holds 10/));
    test('many tensors viewing the same storage, to multiply what is decoded', () => pth('repeated-views.pth', 'w31', /the tensors cover 134217728 bytes of 4194304 bytes of storage/));
    test('a storage with no zip entry', () => pth('no-storage-entry.pth', 'w', /storage 0 has no zip entry archive\/data\/0/));
    test('a complex dtype', () => pth('complex-dtype.pth', 'w', /stored as complex64/));
    test('zip bomb: 256 MiB of deflated zeros for a 4 KiB tensor', () => pth('zip-bomb.pth', 'w', /holds 268435456 bytes, 4096 expected/));
    test('zip bomb whose directory lies about the inflated size', () => pth('zip-bomb-lying.pth', 'w', /has 260916 compressed bytes for 4096 bytes of data/));
    test('legacy serialisation truncated inside a storage', () => pth('legacy-truncated.pth', 'w', /40 bytes at offset \d+ run past the end of the file/));
    test('legacy serialisation with a storage claiming 2^40 elements', () => pth('legacy-gigabytes.pth', 'w', /claims 1099511627776 elements, the pickle says 10/));
    test('a real state_dict missing a tensor, with DataParallel names: named as the file names it', async () => {
      const ref = formatReference({ model: 'cifar-resnet20', format: 'pth-checkpoint', height: 32, width: 32 });
      const tensors = parsePytorch(new Uint8Array(readFileSync(ref.file)), 'model.pth.tar');
      tensors.delete('module.layer3.2.bn2.running_var');
      await rejects(Promise.resolve().then(() => prepareStateDict(tensors, 'model.pth.tar')), 'model.pth.tar', 'module.layer3.2.bn2.running_var', /missing \(expected shape \[64\]\)/);
    });
  });

  describe('Hugging Face index', () => {
    const ref = () => formatReference({ model: 'resnet18', format: 'hf-sharded' });
    const withIndex = (edit: (index: { weight_map: Record<string, string> }) => void) => {
      const index = JSON.parse(readFileSync(join(ref().dir, 'model.safetensors.index.json'), 'utf8'));
      edit(index);
      return openWeights('model.safetensors.index.json', async (p) => (p === 'model.safetensors.index.json' ? new TextEncoder().encode(JSON.stringify(index)) : new Uint8Array(readFileSync(join(ref().dir, p)))));
    };
    test('a tensor in another shard than the index says', () =>
      rejects(
        withIndex((i) => (i.weight_map['resnet.encoder.stages.0.layers.0.layer.0.convolution.weight'] = 'model-00002-of-00003.safetensors')),
        'model-00001-of-00003.safetensors',
        'resnet.encoder.stages.0.layers.0.layer.0.convolution.weight',
        /holds a tensor the index \(model\.safetensors\.index\.json\) maps to "model-00002-of-00003\.safetensors"/,
      ));
    test('a shard path leaving the model folder', () =>
      rejects(withIndex((i) => (i.weight_map['classifier.1.bias'] = '../../etc/passwd')), 'model.safetensors.index.json', 'classifier.1.bias', /must be a relative path inside the model folder/));
    test('a tensor the index does not list', () =>
      rejects(
        withIndex((i) => delete i.weight_map['resnet.encoder.stages.3.layers.1.layer.1.normalization.running_var']),
        'model-00003-of-00003.safetensors',
        'resnet.encoder.stages.3.layers.1.layer.1.normalization.running_var',
        /holds a tensor the index \(model\.safetensors\.index\.json\) maps to null/,
      ));
    test('a missing tensor, named as Hugging Face names it', () => {
      const { file } = formatReference({ model: 'resnet50', format: 'hf-safetensors', batch: 1 });
      const tensors = parseSafetensors(new Uint8Array(readFileSync(file)), 'model.safetensors');
      tensors.delete('resnet.encoder.stages.0.layers.0.shortcut.normalization.running_var');
      return rejects(
        Promise.resolve().then(() => prepareStateDict(tensors, 'model.safetensors')),
        'model.safetensors',
        'resnet.encoder.stages.0.layers.0.shortcut.normalization.running_var',
        /missing \(expected shape \[256\]\)/,
      );
    });
  });

  describe('ONNX', () => {
    /** A fixture (resnet18 unless `spec` says) decoded, edited and re-encoded; other files read from the fixture's folder. */
    const edited = (format: 'onnx' | 'onnx-external', edit: (model: proto.ModelProto) => void, extra: Record<string, Uint8Array> = {}, spec: Partial<FormatSpec> = {}) => {
      const { dir } = formatReference({ model: 'resnet18', format, ...spec });
      const model = onnx.ModelProto.decode(readFileSync(join(dir, 'model.onnx')));
      edit(model);
      const bytes = onnx.ModelProto.encode(model).finish();
      return openWeights('model.onnx', async (p) => (p === 'model.onnx' ? bytes : (extra[p] ?? new Uint8Array(readFileSync(join(dir, p))))));
    };
    const graph = (m: proto.ModelProto) => m.graph as proto.GraphProto;
    const initializer = (m: proto.ModelProto, name: string) => graph(m).initializer.find((t) => t.name === name) as proto.TensorProto;

    test('truncated', async () => {
      const { file } = formatReference({ model: 'resnet18', format: 'onnx' });
      const bytes = readFileSync(file);
      await rejects(openWeights('model.onnx', async () => bytes.subarray(0, bytes.length >> 1)), 'model.onnx', undefined, /not a readable ONNX model/);
    });
    test('an initializer whose dims claim 4 TB', () =>
      rejects(
        edited('onnx', (m) => (initializer(m, 'fc.weight').dims = [1_000_000, 1_000_000])),
        'model.onnx',
        'fc.weight',
        /dims \[1000000,1000000\] as FLOAT need 4000000000000 bytes, the data has 20480/,
      ));
    test('an initializer of the wrong dtype', () =>
      rejects(
        edited('onnx', (m) => (initializer(m, 'fc.bias').dataType = onnx.TensorProto.DataType.INT64)),
        'model.onnx',
        'fc.bias',
        /node "\/fc\/Gemm" \(Gemm\) does not fit a ResNet: initializer of type INT64, not a float/,
      ));
    test('a missing initializer', () =>
      rejects(
        edited('onnx', (m) => (graph(m).initializer = graph(m).initializer.filter((t) => t.name !== 'fc.bias'))),
        'model.onnx',
        'fc.bias',
        /node "\/fc\/Gemm" \(Gemm\) does not fit a ResNet: input "fc.bias" is not an initializer/,
      ));
    test('a node that does not fit: a Sigmoid where a block has its ReLU', () =>
      rejects(
        edited('onnx', (m) => (graph(m).node.find((n) => n.name === '/layer2/layer2.0/relu/Relu')!.opType = 'Sigmoid')),
        'model.onnx',
        undefined,
        /node "\/layer2\/layer2\.0\/relu\/Relu" \(Sigmoid\) does not fit a ResNet: expected a Conv or the residual Add/,
      ));
    test('external data beyond the end of its file', async () => {
      const { dir } = formatReference({ model: 'resnet18', format: 'onnx-external' });
      const size = readFileSync(join(dir, 'model.onnx.data')).length;
      await rejects(
        edited('onnx-external', (m) => {
          const offset = initializer(m, 'fc.bias').externalData.find((e) => e.key === 'offset')!;
          offset.value = String(size - 8);
        }),
        'model.onnx.data',
        'fc.bias',
        new RegExp(`bytes \\[${size - 8}, ${size + 32}\\) lie outside the ${size}-byte file`),
      );
    });
    test('a truncated external data file', () =>
      rejects(
        edited('onnx-external', () => undefined, { 'model.onnx.data': new Uint8Array(1000) }),
        'model.onnx.data',
        'fc.weight',
        /bytes \[0, 20480\) lie outside the 1000-byte file/,
      ));
    test('a parameter-free shortcut that is not option A: reflection padding', () =>
      rejects(
        edited(
          'onnx',
          (m) => {
            const mode = graph(m).node.find((n) => n.name === '/layer2/layer2.0/Pad')!.attribute!.find((a) => a.name === 'mode')!;
            mode.s = new TextEncoder().encode('reflect');
          },
          {},
          { model: 'cifar-resnet20', height: 32, width: 32 },
        ),
        'model.onnx',
        undefined,
        /node "\/layer2\/layer2\.0\/Pad" \(Pad\) does not fit a ResNet: Pad mode reflect/,
      ));
  });

  describe('TF.js', () => {
    const manifest = () => JSON.parse(readFileSync(FACE_API_MANIFEST, 'utf8')) as { paths: string[]; weights: { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }[] }[];
    const shard = () => new Uint8Array(readFileSync(join(FACE_API_MODEL, 'face_recognition_model.bin')));
    const open = (json: unknown, bin = shard()) => {
      const reads: string[] = [];
      const result = openWeights('manifest.json', async (p) => {
        reads.push(p);
        return p === 'manifest.json' ? new TextEncoder().encode(JSON.stringify(json)) : bin;
      });
      return { result, reads };
    };
    const last = manifest()[0].weights.at(-1)!.name;

    test('a truncated shard', () => rejects(open(manifest(), shard().subarray(0, 6_000_000)).result, 'manifest.json', 'conv256_down_out/conv2/conv/filters', /needs bytes \[\d+, \d+\) of shards face_recognition_model\.bin, which hold 6000000/));
    test('a shard longer than the weights', () => rejects(open(manifest(), new Uint8Array(shard().length + 4)).result, 'manifest.json', undefined, /hold 6444036 bytes, the manifest's weights 6444032/));
    test('a manifest claiming gigabytes fails before fetching any shard', async () => {
      const m = manifest();
      m[0].weights[0].shape = [65536, 65536, 3, 32];
      const { result, reads } = open(m);
      await rejects(result, 'manifest.json', undefined, /more than any ResNet/);
      expect(reads).toEqual(['manifest.json']);
    });
    test('an unknown quantization dtype', () => {
      const m = manifest();
      m[0].weights[3].quantization = { dtype: 'int4' };
      return rejects(open(m).result, 'manifest.json', 'conv32_down/scale/biases', /quantization dtype int4/);
    });
    test('a string weight', () => {
      const m = manifest();
      m[0].weights[2] = { name: 'labels', shape: [2], dtype: 'string' };
      return rejects(open(m).result, 'manifest.json', 'labels', /dtype string is not read/);
    });
    test('a shard path leaving the model folder', () => {
      const m = manifest();
      m[0].paths = ['../../secret.bin'];
      return rejects(open(m).result, 'manifest.json', undefined, /must be a relative path inside the model folder/);
    });
    test('a missing weight', () => {
      const m = manifest();
      const fc = m[0].weights.pop()!;
      expect(fc.name).toBe(last);
      return rejects(open(m, shard().subarray(0, 6444032 - 128 * 256)).result, 'manifest.json', 'fc', /missing \(expected shape \[256,128\]\)/);
    });
    test('an unexpected weight', () => {
      const m = manifest();
      m[0].weights.push({ name: 'conv512/conv/filters', shape: [1], dtype: 'float32' });
      const bin = new Uint8Array(shard().length + 4);
      bin.set(shard());
      return rejects(open(m, bin).result, 'manifest.json', 'conv512/conv/filters', /unexpected tensor for dlib-face-recognition-v1/);
    });
    test('a weight of the wrong shape', () => {
      const m = manifest();
      m[0].weights.at(-1)!.shape = [128, 256];
      return rejects(open(m).result, 'manifest.json', 'fc', /expected shape \[256,128\] for dlib-face-recognition-v1, got \[128,256\]/);
    });
  });
});
