// The built CLI, run as a user runs it: `node bin/resnet-webgpu.js …`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { readNpy, writeNpy } from '../src/cli/npy';
import { ResNetModel, readWeightsFile } from '../src/node';
import { argmaxRows, compare, ROOT, torchReference, type ReferenceSpec } from './fixtures';
import { testGpu } from './gpu';

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

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // The timeout also checks that the process exits once done (Dawn can keep the event loop alive).
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A JavaScript stack frame (Dawn's own warnings carry C++ "at" lines, which are not ours).
const STACK_LINE = /^\s+at .*\.js:\d+:\d+\)?$/m;

async function inferMatches(spec: ReferenceSpec, ...extra: string[]): Promise<void> {
  const ref = torchReference(spec);
  const out = join(dir, `${spec.arch}-${spec.variant ?? 'v1.5'}.npy`);
  const r = cli('infer', '--model', ref.model, '--input', join(ref.dir, 'input.npy'), '--output', out, ...extra);
  expect(r.stderr).toMatch(/adapter: .+/);
  expect(r.stderr).toMatch(/load \d+\.\d\d s, inference \d+\.\d\d s/);
  expect(r.status).toBe(0);
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
  expect(r.status).toBe(0);
  const report = JSON.parse(r.stdout);
  expect(report).toMatchObject({ arch: 'resnet18', variant: 'v1.5', block: 'basic', layers: [2, 2, 2, 2], classes: 10, inputChannels: 3, parameters: 11_181_642 });

  const model = await ResNetModel.load(await testGpu(), await readWeightsFile(ref.model));
  await model.scheduleFor({ n: 3, h: 64, w: 48, c: 3 });
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
  });
  expect(memory.activationBytes).toBeLessThan(memory.unplannedActivationBytes);

  const text = cli('info', '--model', ref.model);
  expect(text.status).toBe(0);
  expect(text.stdout).toMatch(/^architecture\s+resnet18 \(v1\.5, basic blocks \[2,2,2,2\]\)$/m);
  expect(text.stdout).toMatch(/^parameters\s+11,181,642$/m);
  expect(text.stdout).toMatch(/^memory plan\s+batch 1 at 224x224: activations [\d.]+ MiB in \d+ buffers \([\d.]+ MiB unplanned\)$/m);
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
  for (const [args, message] of cases) {
    const r = cli(...args);
    expect(r.status, args.join(' ')).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.stdout).toBe('');
  }
  // --debug adds the stack (so the check above can tell).
  const debug = cli('--debug', 'info', '-m', input);
  expect(debug.status).toBe(1);
  expect(debug.stderr).toMatch(/^WeightsError: input\.npy: unsupported weights format/m);
  expect(debug.stderr).toMatch(STACK_LINE);
});
