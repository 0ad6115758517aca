// The autotune: every conv gets a variant (or, for a 3×3 stride-1 conv, Winograd) picked by
// measurement on this adapter, cached per adapter and shape, and every variant computes the same network.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { CONV_VARIANTS, createNodeGpu, fileTuneCache, InputError, ResNetModel, type Gpu, type TuneCache } from '../src/node';
import { convOutputSize, defaultConvVariants, suitsMap, winogradGemmVariant } from '../src/kernels/conv2d';
import { autotune, type Candidate, type ProgramSequence, type Tunable, type Tuning } from '../src/runtime/autotune';
import { canProfile } from '../src/runtime/profiler';
import { bindBuffers, destroyBuffer, storageBuffer } from '../src/runtime/buffers';
import { packUniforms, type Program } from '../src/runtime/program';
import { winogradTiles } from '../src/kernels/winograd';
import { compare } from './fixtures';
import { randomInput, smallModel } from './small-model';

const memoryCache = (): TuneCache & { entries: Map<string, string> } => {
  const entries = new Map<string, string>();
  return { entries, get: (k) => entries.get(k), set: (k, v) => void entries.set(k, v) };
};

const SHAPE = [2, 3, 40, 40];
const input = randomInput(SHAPE, 7);

/** A tuned conv's output pixels (all images'), from its shape key. */
function outputPixels(t: Tuning): number {
  const [n, h, w, , kH, kW, sH, sW, top, left, bottom, right, dH, dW] = /^conv (\d+)x(\d+)x(\d+)x(\d+) → \d+ k(\d+)x(\d+) s(\d+)x(\d+) p(\d+),(\d+),(\d+),(\d+) d(\d+)x(\d+)$/.exec(t.shape)!.slice(1).map(Number);
  return n * convOutputSize(h, kH, sH, top, bottom, dH) * convOutputSize(w, kW, sW, left, right, dW);
}

// Every variant, as on a GPU (a fallback adapter's default is `register` alone: the next test).
const ALL = { kernels: CONV_VARIANTS };

test('each conv shape is measured once, runs its fastest candidate, and a second model reads the picks from the cache', async () => {
  const cache = memoryCache();
  const gpu = await createNodeGpu({ tuneCache: cache });
  const first = await ResNetModel.load(gpu, smallModel(), 'small', ALL);
  const logits = await first.run(input, SHAPE);
  await first.idle(); // the tuning queued behind the first run
  const { layers, tuneMs } = first.kernelChoices();
  // In run order, where a block's shortcut runs just before its sum: compare as sets.
  expect(layers.map((t) => t.label).sort()).toEqual(first.ops.flatMap((op) => (op.op === 'conv' ? [op.name] : [])).sort());
  expect(tuneMs).toBeGreaterThan(0);
  // The first shape measured is measured with every candidate (3×3 stride-1 convs: Winograd too);
  // a candidate is left out of later ones only after it lost by more than 1.5× (PRUNE) on one.
  const measured = layers.filter((t) => t.from === 'measured');
  const winograd = new Set(first.ops.filter((op) => op.op === 'conv' && op.kernel === 3 && op.stride === 1).map((op) => op.name));
  expect(winograd.size).toBeGreaterThan(0);
  // F(4×4) is left out where its GEMM would not do fewer multiply-adds than F(2×2)'s (small maps).
  const rowsPerXi = (t: Tuning, m: 2 | 4): number => {
    const [n, h, w] = /^conv (\d+)x(\d+)x(\d+)x/.exec(t.shape)!.slice(1).map(Number);
    return winogradTiles({ n, h, w, c: 1 }, m, winogradGemmVariant(CONV_VARIANTS)).tilesPad;
  };
  const gemmRows = (t: Tuning, m: 2 | 4): number => rowsPerXi(t, m) * (m + 2) ** 2;
  // quad4px is a candidate on small maps only.
  const direct = (t: Tuning): string[] => CONV_VARIANTS.filter((v) => suitsMap(v, outputPixels(t)));
  const candidates = (t: Tuning): string[] => [...direct(t), ...(winograd.has(t.label) ? ['winograd2', ...(gemmRows(t, 4) < gemmRows(t, 2) ? ['winograd4'] : [])] : [])];
  for (const group of [true, false]) expect(measured.some((t) => winograd.has(t.label) === group && Object.keys(t.ms).length === candidates(t).length)).toBe(true);
  const lost = (v: string): boolean => measured.some((t) => t.ms[v] > 1.5 * Math.min(...Object.values(t.ms)));
  for (const t of measured) for (const v of candidates(t)) if (!(v in t.ms)) expect(lost(v), `${v} left out of ${t.label} unbeaten`).toBe(true);
  for (const t of layers) {
    expect(candidates(t)).toContain(t.variant);
    if (t.from !== 'measured') continue;
    const times = Object.values(t.ms);
    expect(times.every((ms) => Number.isFinite(ms) && ms > 0), JSON.stringify(t.ms)).toBe(true);
    expect(t.ms[t.variant]).toBe(Math.min(...times));
  }
  // Layers of one shape share one decision.
  const byShape = new Map<string, Set<string>>();
  for (const t of layers) byShape.set(t.shape, (byShape.get(t.shape) ?? new Set()).add(t.variant));
  expect([...byShape.values()].every((variants) => variants.size === 1)).toBe(true);
  // A pick per shape.
  expect(cache.entries.size).toBe(new Set(layers.map((t) => t.shape)).size);

  const second = await ResNetModel.load(gpu, smallModel(), 'small', ALL);
  expect(await second.run(input, SHAPE)).toEqual(logits); // both untuned
  await second.idle();
  const again = second.kernelChoices().layers;
  expect(again.map((t) => [t.label, t.variant])).toEqual(layers.map((t) => [t.label, t.variant]));
  expect(again.every((t) => t.from === 'cache')).toBe(true);
  await Promise.all([first.dispose(), second.dispose()]);
});

test("a shape's first run does not wait for the autotune: it runs untuned, and the tuning queued behind it serves the next", async () => {
  const cache = memoryCache();
  const gpu = await createNodeGpu({ tuneCache: cache });
  const model = await ResNetModel.load(gpu, smallModel(), 'small', ALL);
  const untuned = await model.run(input, SHAPE);
  // Untuned means every conv on the first of `kernels`, none as Winograd: bit for bit what a model limited to that computes.
  const plain = await ResNetModel.load(gpu, smallModel(), 'small', { kernels: [CONV_VARIANTS[0]], winograd: 'never' });
  expect(untuned).toEqual(await plain.run(input, SHAPE));
  await model.idle();
  const { layers } = model.kernelChoices();
  expect(layers.some((t) => t.from === 'measured')).toBe(true);
  const tuned = await model.run(input, SHAPE);
  const { maxAbsDiff, maxAbsRef } = compare(tuned, untuned);
  expect(maxAbsDiff, `max|Δ| ${maxAbsDiff} vs max|logit| ${maxAbsRef}`).toBeLessThanOrEqual(1e-4 * maxAbsRef);
  expect(model.kernelChoices().layers).toEqual(layers);

  // Disposed straight after its first run, a model skips the tuning.
  const brief = new Map<string, string>();
  const short = await ResNetModel.load(await createNodeGpu({ tuneCache: { get: (k) => brief.get(k), set: (k, v) => void brief.set(k, v) } }), smallModel());
  await short.run(input, SHAPE);
  await short.dispose();
  expect(brief.size).toBe(0);
  await Promise.all([model.dispose(), plain.dispose()]);
});

test('a shape whose tuning another shape pre-empted, or that was tuned before, tunes before its next run', async () => {
  const model = await ResNetModel.load(await createNodeGpu({ tuneCache: memoryCache() }), smallModel());
  const other = [1, 3, 32, 32];
  const untuned = (): boolean => model.kernelChoices().layers.some((t) => t.from === 'untuned');
  // Both first runs are untuned; the first shape's tuning, queued behind the second run, finds the second shape in place and is skipped.
  await Promise.all([model.run(input, SHAPE), model.run(randomInput(other, 3), other)]);
  await model.idle();
  expect(untuned()).toBe(false);
  for (const shape of [SHAPE, other, SHAPE]) {
    await model.run(input.subarray(0, shape.reduce((a, b) => a * b)), shape);
    expect(untuned(), shape.join('x')).toBe(false);
  }
  await model.dispose();
});

test('a tuning that fails after the first run is done again before the next run, which reports the failure', async () => {
  let broken = true;
  const entries = new Map<string, string>();
  const tuneCache: TuneCache = {
    get: (key) => {
      if (broken) throw new Error('tune cache unreadable');
      return entries.get(key);
    },
    set: (key, value) => void entries.set(key, value),
  };
  const model = await ResNetModel.load(await createNodeGpu({ tuneCache }), smallModel());
  const untuned = await model.run(input, SHAPE);
  await model.idle();
  await expect(model.run(input, SHAPE)).rejects.toThrow(/tune cache unreadable/);
  broken = false;
  const tuned = await model.run(input, SHAPE);
  expect(model.kernelChoices().layers.some((t) => t.from === 'measured')).toBe(true);
  const { maxAbsDiff, maxAbsRef } = compare(tuned, untuned);
  expect(maxAbsDiff).toBeLessThanOrEqual(1e-4 * maxAbsRef);
  await model.dispose();
});

test('by default a fallback adapter measures only barrier-free variants (and Winograd), a GPU ksplit and the tiled ones', async () => {
  const fake = (isFallbackAdapter: boolean, features: string[]) => ({ adapter: { isFallbackAdapter }, device: { features: new Set(features) } }) as unknown as Gpu;
  expect(defaultConvVariants(fake(true, ['subgroups']))).toEqual(['quad2x2', 'quad4px']);
  expect(defaultConvVariants(fake(true, []))).toEqual(['register']);
  expect(defaultConvVariants(fake(false, ['subgroups']))).toEqual(['ksplit', 'ksplit16', 'tiled128', 'tiled64']);
  expect(defaultConvVariants(fake(false, []))).toEqual(['ksplit', 'ksplit16', 'tiled128', 'tiled64']);
  const gpu = await createNodeGpu({ tuneCache: memoryCache() });
  const model = await ResNetModel.load(gpu, smallModel());
  await model.scheduleFor({ n: SHAPE[0], c: SHAPE[1], h: SHAPE[2], w: SHAPE[3] });
  const allowed = [...defaultConvVariants(gpu), 'winograd2', 'winograd4'];
  const { layers } = model.kernelChoices();
  expect(layers.some((t) => t.from === 'measured')).toBe(true);
  for (const t of layers) expect([t.variant, ...Object.keys(t.ms)].filter((v) => !allowed.includes(v)), t.label).toEqual([]);
  // quad4px only where the map is smaller than a quad2x2 tile (28 pixels): here layer3's and layer4's.
  const measured = layers.filter((t) => t.from === 'measured');
  expect(measured.filter((t) => outputPixels(t) < 28).length).toBeGreaterThan(0);
  for (const t of measured) expect('quad4px' in t.ms, `${t.label}: ${outputPixels(t)} pixels`).toBe(outputPixels(t) < 28);
  await model.dispose();
});

// A busy loop of `work` iterations per invocation: candidates whose times differ by far more than
// the pruning thresholds on any adapter.
const BUSY = `struct Params { work: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
  var s = 0.0;
  for (var i = 0u; i < p.work; i++) { s = fma(s, 0.999, sin(f32(i + gid.x))); }
  out[gid.x] = s;
}`;
const busy = (variant: string, work: number, shape: string, groups: number): Program => ({
  name: 'busy', shader: BUSY, constants: {}, uniforms: packUniforms([work]), workgroups: [groups, 1, 1], flops: 64 * groups * work, variant, tuneKey: shape,
});

/** Runs `body` with a `bind` for busy programs (all writing one buffer, freed after). */
async function withBusyBind(gpu: Gpu, body: (bind: Tunable['bind']) => Promise<void>): Promise<void> {
  const out = storageBuffer(gpu, 64 * 16 * 4);
  try {
    await body((_, pipeline, params) => bindBuffers(gpu, pipeline, [params, out]));
  } finally {
    destroyBuffer(gpu, out);
  }
}


test('a step whose candidates were all pruned on other shapes still gets one of them, measured', async () => {
  const gpu = await createNodeGpu({ tuneCache: memoryCache() });
  await withBusyBind(gpu, async (bind) => {
    // On the first (larger) shape, `slow` and `slower` lose by far over 3× and are dropped at once;
    // the second shape has only them, as a 7×7 map has no F(4×4) candidate.
    const { programs, choices } = await autotune(gpu, [
      { label: 'first', candidates: [busy('fast', 1, 'A', 16), busy('slow', 20000, 'A', 16), busy('slower', 40000, 'A', 16)], bind },
      { label: 'second', candidates: [busy('slow', 20000, 'B', 4), busy('slower', 40000, 'B', 4)], bind },
    ]);
    expect(programs.map((p) => p.variant)).toEqual(['fast', 'slow']);
    expect(choices.layers.map((t) => [t.label, t.from, Object.keys(t.ms).sort()])).toEqual([
      ['first', 'measured', ['fast', 'slow', 'slower']],
      ['second', 'measured', ['slow', 'slower']],
    ]);
  });
});

test("a sequence (a Winograd form) that lost on other shapes is still measured where it may win", async () => {
  const gpu = await createNodeGpu({ tuneCache: memoryCache() });
  await withBusyBind(gpu, async (bind) => {
    const form = (variant: string, work: number, shape: string, groups: number): ProgramSequence => ({ variant, parts: [busy(variant, work, shape, groups)], tuneKey: shape });
    // `w2` loses by 8× on A and B (measured in that order: the largest, then the smallest; a direct
    // kernel losing so would be dropped at once), then is the fastest on C, where `w4` is no candidate.
    const { programs, choices } = await autotune<Candidate>(gpu, [
      { label: 'A', candidates: [form('w2', 16000, 'A', 16), form('w4', 4000, 'A', 16), busy('direct', 2000, 'A', 16)], bind },
      { label: 'B', candidates: [form('w2', 16000, 'B', 4), form('w4', 4000, 'B', 4), busy('direct', 2000, 'B', 4)], bind },
      { label: 'C', candidates: [form('w2', 4000, 'C', 8), busy('direct', 12000, 'C', 8)], bind },
    ]);
    const [a, b, c] = choices.layers;
    for (const t of [a, b]) {
      expect(Object.keys(t.ms).sort()).toEqual(['direct', 'w2', 'w4']);
      expect(t.ms.w2, JSON.stringify(t.ms)).toBeGreaterThan(1.5 * Math.min(...Object.values(t.ms)));
    }
    expect([c.from, programs[2].variant, Object.keys(c.ms).sort()]).toEqual(['measured', 'w2', ['direct', 'w2']]);
  });
});

test('candidates are timed by timestamp queries, or by the wall clock where the device has none', async () => {
  const gpu = await createNodeGpu({ tuneCache: memoryCache() });
  expect(canProfile(gpu)).toBe(true);
  const noTimestamps: Gpu = { ...gpu, tuneCache: memoryCache(), adapter: { ...gpu.adapter, features: gpu.adapter.features.filter((f) => f !== 'timestamp-query') } };
  expect(canProfile(noTimestamps)).toBe(false);
  await withBusyBind(gpu, async (bind) => {
    for (const clocked of [gpu, noTimestamps]) {
      // Long enough that the wall clock's latency (a few ms under load) does not blur them.
      const { programs, choices } = await autotune(clocked, [{ label: 'only', candidates: [busy('slow', 20000, 'C', 16), busy('fast', 1, 'C', 16), busy('slower', 40000, 'C', 16)], bind }]);
      expect(programs.map((p) => p.variant)).toEqual(['fast']);
      const { ms } = choices.layers[0];
      expect(Object.keys(ms).sort()).toEqual(['fast', 'slow', 'slower']);
      // Each ranks far behind (their order between them is left to noise: more than 3× the best, they are timed once).
      for (const loser of [ms.slow, ms.slower]) expect(loser, JSON.stringify(ms)).toBeGreaterThan(10 * ms.fast);
    }
  });
});

test('a cached pick that is not among the candidates is measured afresh', async () => {
  const cache = memoryCache();
  const gpu = await createNodeGpu({ tuneCache: cache });
  const shape = { n: SHAPE[0], c: SHAPE[1], h: SHAPE[2], w: SHAPE[3] };
  const model = await ResNetModel.load(gpu, smallModel());
  await model.scheduleFor(shape);
  for (const key of cache.entries.keys()) cache.entries.set(key, 'no-such-kernel');
  const other = await ResNetModel.load(gpu, smallModel());
  await other.scheduleFor(shape);
  expect(other.kernelChoices().layers.some((t) => t.from === 'measured')).toBe(true);
  expect([...cache.entries.values()].every((v) => [...CONV_VARIANTS, 'winograd2', 'winograd4'].includes(v))).toBe(true);
  await Promise.all([model.dispose(), other.dispose()]);
});

test('one variant and no Winograd run without measuring; options.kernels and options.winograd must name known choices', async () => {
  const gpu = await createNodeGpu({ tuneCache: memoryCache() });
  const model = await ResNetModel.load(gpu, smallModel(), 'small', { kernels: ['tiled64'], winograd: 'never' });
  await model.run(input, SHAPE);
  const { layers } = model.kernelChoices();
  expect(layers.map((t) => t.label).sort()).toEqual(model.ops.flatMap((op) => (op.op === 'conv' ? [op.name] : [])).sort());
  expect(layers.every((t) => t.variant === 'tiled64' && t.from === 'only')).toBe(true);
  await model.dispose();
  const empty = ResNetModel.load(gpu, smallModel(), 'small', { kernels: [] });
  await expect(empty).rejects.toThrow(InputError);
  await expect(empty).rejects.toThrow(/options\.kernels must be a non-empty list of register, quad, quad2x2, quad4px, ksplit, ksplit16, tiled128, tiled64; got \[\]/);
  await expect(ResNetModel.load(gpu, smallModel(), 'small', { kernels: ['fast' as never] })).rejects.toThrow(/got \["fast"\]/);
  const noSubgroups = { adapter: { ...gpu.adapter, isFallbackAdapter: true }, device: { features: new Set() } } as unknown as Gpu;
  await expect(ResNetModel.load(noSubgroups, smallModel(), 'small', { kernels: ['quad'] })).rejects.toThrow(/"quad" needs the WebGPU 'subgroups' feature, which this device \(.*\) lacks/);
  await expect(ResNetModel.load(noSubgroups, smallModel(), 'small', { kernels: ['register', 'quad2x2'] })).rejects.toThrow(/"quad2x2" needs the WebGPU 'subgroups' feature/);
  await expect(ResNetModel.load(gpu, smallModel(), 'small', { winograd: 'sometimes' as never })).rejects.toThrow(/options\.winograd must be "measure", "never", "winograd2" or "winograd4"; got "sometimes"/);
});

const dir = mkdtempSync(join(tmpdir(), 'tune-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the Node file cache keeps picks across instances, and treats a damaged file as empty', () => {
  const path = join(dir, 'sub', 'autotune.json');
  fileTuneCache(path).set('a', 'register');
  fileTuneCache(path).set('b', 'tiled64');
  expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ a: 'register', b: 'tiled64' });
  expect(fileTuneCache(path).get('b')).toBe('tiled64');
  writeFileSync(path, '{"a": 3, "b"');
  expect(fileTuneCache(path).get('a')).toBeUndefined();
  writeFileSync(path, '{"a": 3}');
  expect(fileTuneCache(path).get('a')).toBeUndefined();
});
