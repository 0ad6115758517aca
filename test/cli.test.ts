// The built CLI, run as a user runs it: `node bin/resnet-webgpu.js …`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { readNpy, writeNpy } from '../src/cli/npy';
import { createNodeGpu, fileTuneCache, ResNetModel, readWeightsFile } from '../src/node';
import { argmaxRows, compare, ROOT, torchReference, type ReferenceSpec } from './fixtures';

const BIN = join(ROOT, 'bin', 'resnet-webgpu.js');
const dir = mkdtempSync(join(tmpdir(), 'resnet-cli-'));

/** dist/ is built from these; rebuild when any is newer than the CLI bundle. */
function distIsStale(): boolean {
  const cli = join(ROOT, 'dist', 'cli.js');
  if (!existsSync(cli)) return true;
  const sources = ['package.json', 'vite.config.ts', 'tsconfig.build.json', ...readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).map((f) => join('src', f))];
  const built = statSync(cli).mtimeMs;
  return sources.some((f) => statSync(join(ROOT, f)).mtimeMs > built);
}

beforeAll(() => {
  if (distIsStale()) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The commands' autotune cache, this file's own: what one command measured, later ones (and the
// model the info test compares against) read, whatever other processes measure meanwhile.
const CACHE_HOME = join(dir, 'cache');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // The timeout also checks that the process exits once done (Dawn can keep the event loop alive).
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000, env: { ...process.env, XDG_CACHE_HOME: CACHE_HOME } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A JavaScript stack frame (Dawn's own warnings carry C++ "at" lines, which are not ours).
const STACK_LINE = /^\s+at .*\.js:\d+:\d+\)?$/m;

/** Each command exits 1 with its message on stderr, nothing on stdout and no stack trace. */
function expectCleanFailures(cases: [string[], RegExp][]): void {
  for (const [args, message] of cases) {
    const r = cli(...args);
    expect(r.status, args.join(' ')).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.stdout).toBe('');
  }
}

async function inferMatches(spec: ReferenceSpec, ...extra: string[]): Promise<void> {
  const ref = torchReference(spec);
  const out = join(dir, `${spec.arch}-${spec.variant ?? 'v1.5'}.npy`);
  const r = cli('infer', '--model', ref.model, '--input', join(ref.dir, 'input.npy'), '--output', out, ...extra);
  expect(r.stderr).toMatch(/adapter: .+/);
  expect(r.stderr).toMatch(/load \d+\.\d\d s, inference \d+\.\d\d s/);
  expect(r.status, r.stderr).toBe(0);
  const logits = readNpy(readFileSync(out), out);
  expect(logits.shape).toEqual([spec.batch, spec.classes]);
  const { maxAbsDiff, maxAbsRef } = compare(logits.data, ref.logits.data);
  expect(maxAbsDiff).toBeLessThanOrEqual(1e-3 * maxAbsRef);
  expect(argmaxRows(logits.data, spec.classes)).toEqual(argmaxRows(ref.logits.data, spec.classes));
}

const RESNET18: ReferenceSpec = { arch: 'resnet18', classes: 10, batch: 2, height: 64, width: 64 };

test('infer writes the logits PyTorch computes', () => inferMatches(RESNET18));

test('infer --variant v1 runs the v1 bottleneck', () => inferMatches({ arch: 'resnet50', classes: 10, batch: 2, height: 72, width: 56, variant: 'v1' }, '--variant', 'v1'));

test('info reports the architecture and the memory plan the model makes', async () => {
  const ref = torchReference(RESNET18);
  const r = cli('info', '--model', ref.model, '--json', '--batch', '3', '--size', '64x48');
  expect(r.stderr).not.toMatch(STACK_LINE);
  expect(r.status, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout);
  expect(report).toMatchObject({ arch: 'resnet18', variant: 'v1.5', block: 'basic', layers: [2, 2, 2, 2], classes: 10, inputChannels: 3, parameters: 11_181_642 });

  // With the command's picks (measured picks vary from run to run, and with them the weight forms).
  const gpu = await createNodeGpu({ tuneCache: fileTuneCache(join(CACHE_HOME, 'resnet-webgpu', 'autotune.json')) });
  const model = await ResNetModel.load(gpu, await readWeightsFile(ref.model));
  await model.scheduleFor({ n: 3, h: 64, w: 48, c: 3 });
  expect(model.kernelChoices().layers.every((t) => t.from !== 'measured')).toBe(true);
  const memory = model.memory();
  model.dispose();
  expect(report.weightBytes).toBe(memory.weightBytes);
  expect(report.memoryPlan).toEqual({
    batch: 3,
    height: 64,
    width: 48,
    activationBytes: memory.activationBytes,
    unplannedActivationBytes: memory.unplannedActivationBytes,
    activationBuffers: memory.activationBuffers,
    largestLivePairBytes: memory.largestLivePairBytes,
    largestLiveBytes: memory.largestLiveBytes,
  });
  expect(memory.activationBytes).toBeLessThan(memory.unplannedActivationBytes);
  expect(memory.activationBytes).toBeGreaterThanOrEqual(memory.largestLiveBytes);
  expect(memory.largestLiveBytes).toBeGreaterThanOrEqual(memory.largestLivePairBytes);
  // Every conv of ResNet-18 (20 with the downsamples) has a pick from the autotune: a direct
  // variant, or Winograd for a 3×3 stride-1 conv.
  expect(report.kernels.layers).toHaveLength(20);
  for (const t of report.kernels.layers) expect(['register', 'quad', 'quad2x2', 'quad4px', 'ksplit', 'ksplit16', 'tiled128', 'tiled64', ...(/k3x3 s1x1/.test(t.shape) ? ['winograd2', 'winograd4'] : [])]).toContain(t.variant);

  const text = cli('info', '--model', ref.model);
  expect(text.status, text.stderr).toBe(0);
  expect(text.stdout).toMatch(/^architecture\s+resnet18 \(v1\.5, basic blocks \[2,2,2,2\]\)$/m);
  expect(text.stdout).toMatch(/^parameters\s+11,181,642$/m);
  expect(text.stdout).toMatch(/^memory plan\s+batch 1 at 224x224: activations [\d.]+ MiB in \d+ buffers \([\d.]+ MiB unplanned; the two largest live at once: [\d.]+ MiB, all live at the fullest step: [\d.]+ MiB\)$/m);
  expect(text.stdout).toMatch(/^conv kernels\s+(\w+ ×\d+(, )?)+ of 20 convs \((\w+ ×\d+(, )?)+; [\d.]+ s\)$/m);
});

test('failures exit non-zero with one message naming the problem, and no stack trace', () => {
  const ref = torchReference(RESNET18);
  const input = join(ref.dir, 'input.npy');
  const gray = join(dir, 'gray.npy');
  writeFileSync(gray, writeNpy(new Float32Array(2 * 64 * 64), [2, 1, 64, 64]));
  const cases: [string[], RegExp][] = [
    [['infer', '-m', join(dir, 'absent.safetensors'), '-i', input, '-o', 'y.npy'], /ENOENT: no such file or directory, open '.*absent\.safetensors'/],
    [['infer', '-m', ref.model, '-i', join(dir, 'absent.npy'), '-o', 'y.npy'], /ENOENT: no such file or directory, open '.*absent\.npy'/],
    [['infer', '-m', ref.model, '-i', join(ROOT, 'package.json'), '-o', 'y.npy'], /package\.json: not a \.npy file/],
    [['infer', '-m', ref.model, '-i', gray, '-o', 'y.npy'], /gray\.npy: shape \[2,1,64,64\] is not \[N, 3, H, W\]/],
    [['infer', '-m', ref.model, '-i', input, '-o', join(dir, 'absent', 'y.npy')], /ENOENT: no such file or directory, access '.*absent'/],
    [['info', '-m', ref.model, '--arch', 'resnet34'], /model\.safetensors: --arch resnet34 expects \[3,4,6,3\] blocks per stage/],
    [['info', '-m', input], /input\.npy: unsupported weights format/],
    [['info', '-m', join(ROOT, 'package.json')], /package\.json: not a resnet-webgpu-shards index/],
    [['info', '-m', ref.model, '--size', '64y48'], /option '-s, --size <HxW>' argument '64y48' is invalid/],
    [['infer', '-m', ref.model, '-i', input], /required option '-o, --output <file.npy>' not specified/],
  ];
  expectCleanFailures(cases);
  // --debug adds the stack (so the check above can tell).
  const debug = cli('--debug', 'info', '-m', input);
  expect(debug.status).toBe(1);
  expect(debug.stderr).toMatch(/^WeightsError: input\.npy: unsupported weights format/m);
  expect(debug.stderr).toMatch(STACK_LINE);
});

// convert, classify and eval. classify and eval default to the bundled model
// (weights/fashion-mnist-resnet18), found relative to the package: cli() runs outside it.

const DEFAULT_DIR = join(ROOT, 'weights', 'fashion-mnist-resnet18');
const FASHION_LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('convert writes a shard index that reads back as the same weights, with labels and preprocessing', async () => {
  const ref = torchReference(RESNET18);
  const labels = join(dir, 'labels.txt');
  writeFileSync(labels, `${FASHION_LABELS.join('\n')}\n`);
  const preprocess = { resize: 32, cropH: 28, cropW: 30, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3], grayscale: false };
  const out = join(dir, 'converted');
  const r = cli('convert', ref.model, '--out', out, '--labels', labels, '--preprocess', JSON.stringify(preprocess), '--shard-bytes', String(1 << 20));
  expect(r.stderr).toMatch(/wrote .*model\.json: resnet18, 62 tensors as f32, 44,726,568 bytes in 43 shards/);
  expect(r.status, r.stderr).toBe(0);
  const original = await readWeightsFile(ref.model);
  const converted = await readWeightsFile(join(out, 'model.json'));
  expect(converted.config).toEqual(original.config);
  expect(converted.meta).toEqual({ labels: FASHION_LABELS, preprocess });
  expect([...converted.tensors.keys()]).toEqual([...original.tensors.keys()]);
  for (const [name, t] of original.tensors) {
    const c = converted.tensors.get(name)!;
    expect(c.shape, name).toEqual(t.shape);
    expect(Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
  }
  const index = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  expect(index.shards.every((s: { bytes: number }) => s.bytes <= 1 << 20)).toBe(true);

  // An index converts too, keeping its meta; f16 rounds every value to the nearest half.
  const half = join(dir, 'converted-f16');
  expect(cli('convert', join(out, 'model.json'), '--out', half, '--dtype', 'f16').status).toBe(0);
  const rounded = await readWeightsFile(join(half, 'model.json'));
  expect(rounded.meta).toEqual(converted.meta);
  for (const [name, t] of original.tensors) {
    const r16 = rounded.tensors.get(name)!.data;
    // Half precision keeps 11 significant bits; 2^-25 is half the smallest subnormal.
    const beyond = t.data.filter((v, i) => !(Math.abs(r16[i] - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25)).length;
    expect(beyond, name).toBe(0);
  }
});

test('classify labels every bundled sample correctly with the bundled model (text and --json)', () => {
  const samples: { file: string; label: number; name: string }[] = JSON.parse(readFileSync(join(DEFAULT_DIR, 'samples', 'samples.json'), 'utf8')).samples;
  expect(samples.map((s) => s.label).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const files = samples.map((s) => join(DEFAULT_DIR, 'samples', s.file));
  const r = cli('classify', '--json', '--top', '3', ...files);
  expect(r.status, r.stderr).toBe(0);
  const results: { file: string; top: { index: number; label: string; probability: number }[]; ms: number }[] = JSON.parse(r.stdout);
  expect(results.map((x) => x.file)).toEqual(files);
  results.forEach((result, i) => {
    expect(Object.keys(result)).toEqual(['file', 'top', 'ms']);
    expect(result.top).toHaveLength(3);
    expect(result.top[0]).toMatchObject({ index: samples[i].label, label: samples[i].name });
    for (const t of result.top) expect(t.label).toBe(FASHION_LABELS[t.index]);
    const p = result.top.map((t) => t.probability);
    expect(p).toEqual([...p].sort((a, b) => b - a));
    expect(p[0]).toBeGreaterThan(0.5);
    expect(p[0] + p[1] + p[2]).toBeLessThanOrEqual(1 + 1e-6);
    expect(result.ms).toBeGreaterThan(0);
  });

  const text = cli('classify', files[0], files[1]);
  expect(text.status, text.stderr).toBe(0);
  for (const i of [0, 1]) {
    expect(text.stdout).toMatch(new RegExp(`^${escapeRegExp(files[i])} \\(\\d+\\.\\d ms\\)\\n\\s+\\d+\\.\\d\\d%  ${escapeRegExp(samples[i].name)}\\n(\\s+\\d+\\.\\d\\d%  .+\\n){4}`, 'm'));
  }
});

test('classify names the classes of an unlabelled 1000-class model by ImageNet', () => {
  const imagenet: string[] = JSON.parse(readFileSync(join(ROOT, 'src', 'model', 'imagenet-labels.json'), 'utf8'));
  expect(imagenet).toHaveLength(1000);
  expect([imagenet[0], imagenet[1], imagenet[285], imagenet[999]]).toEqual(['tench', 'goldfish', 'Egyptian cat', 'toilet tissue']);
  const ref = torchReference({ arch: 'resnet18', classes: 1000, batch: 1, height: 64, width: 64 });
  const sample = join(DEFAULT_DIR, 'samples', readdirSync(join(DEFAULT_DIR, 'samples')).find((f) => f.endsWith('.png'))!);
  const r = cli('classify', '--json', '--model', ref.model, '--top', '4', sample);
  expect(r.status, r.stderr).toBe(0);
  const [result] = JSON.parse(r.stdout);
  expect(result.top).toHaveLength(4);
  for (const t of result.top) expect(t.label).toBe(imagenet[t.index]);
});

test('eval --json: one object with accuracy and agreement with PyTorch on the first 300 test images', () => {
  const r = cli('eval', '--limit', '300', '--batch', '128', '--json');
  expect(r.status, r.stderr).toBe(0);
  // stderr is not a TTY here: no progress bar.
  expect(r.stderr).not.toMatch(/eval \[/);
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  const report = JSON.parse(lines[0]);
  expect(Object.keys(report)).toEqual(['images', 'accuracy', 'agreement', 'ms']);
  expect(report.images).toBe(300);
  expect(report.accuracy).toBeGreaterThanOrEqual(0.9);
  expect(report.agreement).toBeGreaterThanOrEqual(0.99);
  // Both are whole counts of the 300.
  expect(Math.abs(report.accuracy * 300 - Math.round(report.accuracy * 300))).toBeLessThan(1e-9);
  expect(Math.abs(report.agreement * 300 - Math.round(report.agreement * 300))).toBeLessThan(1e-9);
  expect(report.ms).toBeGreaterThan(0);
});

test('classify, eval and convert failures exit 1 with one message and no stack trace', () => {
  const ref = torchReference(RESNET18);
  const imagenetModel = torchReference({ arch: 'resnet18', classes: 1000, batch: 1, height: 64, width: 64 }).model;
  const broken = join(dir, 'broken.png');
  writeFileSync(broken, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('not really a PNG')]));
  const empty = mkdtempSync(join(dir, 'no-data-'));
  const labels = join(dir, 'three-labels.json');
  writeFileSync(labels, JSON.stringify(['a', 'b', 'c']));
  const cases: [string[], RegExp][] = [
    [['classify', join(ROOT, 'package.json')], /package\.json: not a PNG or JPEG image/],
    [['classify', broken], /broken\.png: could not decode the image/],
    [['classify', join(dir, 'absent.png')], /ENOENT: no such file or directory, open '.*absent\.png'/],
    [['classify', '--top', '0', broken], /option '-k, --top <k>' argument '0' is invalid/],
    [['eval', '--data', empty], /t10k-images-idx3-ubyte\(\.gz\) not found in .*no-data-/],
    [['eval', '--model', imagenetModel, '--limit', '1'], /Fashion-MNIST has 10 classes, the model has 1000/],
    [['convert', ref.model, '--out', join(dir, 'c1'), '--labels', labels], /three-labels\.json: 3 labels for a model with 10 classes/],
    [['convert', ref.model, '--out', join(dir, 'c2'), '--preprocess', '{"resize": 28, "cropH": 28, "cropW": 28, "mean": [0, 0, 0], "std": [1, 0, 1]}'], /--preprocess: "std" must be three positive numbers/],
    [['convert', ref.model, '--out', join(dir, 'c3'), '--dtype', 'bf16'], /argument 'bf16' is invalid\. Allowed choices are f32, f16/],
  ];
  expectCleanFailures(cases);
});
